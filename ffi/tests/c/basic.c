/* Lifecycle, every example config, diagnostics, misuse, endpoints, stats, TCP.
 * Usage: basic <examples/configs dir> */
#include <stdint.h>

#include "common.h"

static const char *CONFIGS[] = {"fleetman-canary.yaml", "fleetman-sticky.yaml", "ingress-paths.yaml",
                                "myapp-ab.yaml",        "reviews-faults.yaml",  "tcp-echo.yaml"};
static const char *INVALID[] = {"invalid/bad-regex.yaml", "invalid/bad-weights.yaml", "invalid/malformed.yaml",
                                "invalid/shadowed-route.yaml", "invalid/unknown-subset.yaml"};
#define STAFF "fleetman-staff-service.default.svc.cluster.local"

static void test_version_and_messages(void) {
  weir_str v;
  CHECK_OK(weir_version(&v));
  CHECK(v.len > 0 && v.ptr != NULL);
  CHECK_RC(weir_version(NULL), WEIR_RESULT_NULL_PARAMETER);
  char buf[256];
  size_t n = 0;
  for (uint32_t code = 0; code <= 9; code++) {
    CHECK_OK(weir_error_message(code, buf, sizeof buf, &n));
    CHECK(n > 0);
  }
  CHECK_OK(weir_error_message(9999, buf, sizeof buf, &n));
  CHECK(n == strlen("unknown result code") && memcmp(buf, "unknown result code", n) == 0);
  CHECK_OK(weir_error_message(WEIR_RESULT_PANIC, buf, 4, &n)); /* truncated */
  CHECK(n == 4);
  CHECK_RC(weir_error_message(0, NULL, 10, &n), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_error_message(0, buf, sizeof buf, NULL), WEIR_RESULT_NULL_PARAMETER);
}

static void test_every_config(const char *dir) {
  for (size_t i = 0; i < sizeof CONFIGS / sizeof *CONFIGS; i++) {
    weir_engine *e = NULL;
    weir_diagnostics *d = NULL;
    CHECK_OK(weir_engine_new(&e));
    CHECK_OK(weir_diagnostics_new(&d));
    weir_result rc = apply_file(e, dir, CONFIGS[i], d);
    if (rc != WEIR_RESULT_OK) fprintf(stderr, "config %s: rc %u\n", CONFIGS[i], (unsigned)rc);
    CHECK(rc == WEIR_RESULT_OK);
    size_t errors = 99;
    CHECK_OK(weir_diagnostics_error_count(d, &errors));
    CHECK(errors == 0);
    /* The stats list at least one rule per config. */
    const weir_snapshot *s = NULL;
    CHECK_OK(weir_engine_snapshot(e, &s));
    weir_stats *st = NULL;
    CHECK_OK(weir_snapshot_stats(s, &st));
    size_t routes = 0;
    CHECK_OK(weir_stats_route_count(st, &routes));
    CHECK(routes > 0);
    CHECK_OK(weir_stats_free(st));
    CHECK_OK(weir_snapshot_free(s));
    CHECK_OK(weir_diagnostics_free(d));
    CHECK_OK(weir_engine_free(e));
  }
}

static void decide_staff(const weir_engine *e, weir_decision *dec, uint64_t entropy, weir_decision_view *v) {
  const weir_snapshot *s = NULL;
  CHECK_OK(weir_engine_snapshot(e, &s));
  weir_request r = make_request(STAFF, "GET", "/");
  CHECK_OK(decide_view(s, &r, entropy, dec, v));
  CHECK_OK(weir_snapshot_free(s));
}

static void test_invalid_configs(const char *dir) {
  weir_engine *e = NULL;
  weir_diagnostics *d = NULL;
  weir_decision *dec = NULL;
  weir_decision_view v;
  CHECK_OK(weir_engine_new(&e));
  CHECK_OK(weir_diagnostics_new(&d));
  CHECK_OK(weir_decision_new(&dec));
  CHECK_OK(apply_file(e, dir, "fleetman-canary.yaml", d));

  /* bad-regex: rejected with the field path; the old table keeps serving. */
  CHECK_RC(apply_file(e, dir, "invalid/bad-regex.yaml", d), WEIR_RESULT_CONFIG_REJECTED);
  size_t count = 0, found = 0;
  CHECK_OK(weir_diagnostics_count(d, &count));
  CHECK(count > 0);
  for (size_t i = 0; i < count; i++) {
    weir_diagnostic diag;
    CHECK_OK(weir_diagnostics_get(d, i, &diag));
    CHECK(diag.code.len > 0 && diag.message.len > 0);
    if (str_eq(diag.field, "spec.http[0].match[0].uri.regex") && diag.severity == WEIR_SEVERITY_ERROR) {
      found++;
      CHECK(str_eq(diag.resource_kind, "VirtualService"));
      CHECK(str_eq(diag.resource_namespace, "default"));
      CHECK(str_eq(diag.resource_name, "broken-regex"));
      CHECK(diag.file.len == 0 || str_eq(diag.file, "invalid/bad-regex.yaml"));
    }
  }
  CHECK(found == 1);
  weir_diagnostic dummy;
  CHECK_RC(weir_diagnostics_get(d, count, &dummy), WEIR_RESULT_INDEX_OUT_OF_RANGE);
  decide_staff(e, dec, 95, &v);
  CHECK(v.outcome == WEIR_OUTCOME_ROUTE);
  CHECK(str_eq(v.cluster, "outbound|8080|risky-group|" STAFF));
  CHECK(str_eq(v.endpoint, "10.1.0.21:8080"));

  /* Every invalid config is either rejected or applied with diagnostics. */
  for (size_t i = 0; i < sizeof INVALID / sizeof *INVALID; i++) {
    weir_result rc = apply_file(e, dir, INVALID[i], d);
    CHECK(rc == WEIR_RESULT_OK || rc == WEIR_RESULT_CONFIG_REJECTED);
    CHECK_OK(weir_diagnostics_count(d, &count));
    if (count == 0) fprintf(stderr, "%s: no diagnostics\n", INVALID[i]);
    CHECK(count > 0);
  }
  /* Apply without a diagnostics object. */
  CHECK_RC(apply_file(e, dir, "invalid/bad-regex.yaml", NULL), WEIR_RESULT_CONFIG_REJECTED);
  /* Over the compile budget: refused with WEIR0011, the old table stays. */
  CHECK_OK(apply_file(e, dir, "fleetman-canary.yaml", d));
  CHECK_RC(weir_engine_set_compile_budget(NULL, 1), WEIR_RESULT_NULL_PARAMETER);
  CHECK_OK(weir_engine_set_compile_budget(e, 1));
  CHECK_RC(apply_file(e, dir, "fleetman-sticky.yaml", d), WEIR_RESULT_CONFIG_REJECTED);
  CHECK_OK(weir_diagnostics_count(d, &count));
  found = 0;
  for (size_t i = 0; i < count; i++) {
    weir_diagnostic diag;
    CHECK_OK(weir_diagnostics_get(d, i, &diag));
    if (str_eq(diag.code, "WEIR0011") && diag.severity == WEIR_SEVERITY_ERROR) found++;
  }
  CHECK(found == 1);
  decide_staff(e, dec, 95, &v);
  CHECK(str_eq(v.cluster, "outbound|8080|risky-group|" STAFF));
  CHECK_OK(weir_engine_set_compile_budget(e, (size_t)64 << 20));
  CHECK_OK(apply_file(e, dir, "fleetman-sticky.yaml", d));
  /* JSON input. */
  const char *json = "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"VirtualService\","
                     "\"metadata\":{\"name\":\"j\",\"namespace\":\"default\"},"
                     "\"spec\":{\"hosts\":[\"j.example.com\"],\"http\":[{\"directResponse\":{\"status\":418,"
                     "\"body\":{\"string\":\"teapot\"}}}]}}";
  CHECK_OK(weir_engine_apply(e, NULL, 0, json, strlen(json), d));
  const weir_snapshot *s = NULL;
  CHECK_OK(weir_engine_snapshot(e, &s));
  weir_request r = make_request("j.example.com", "GET", "/");
  CHECK_OK(decide_view(s, &r, 0, dec, &v));
  CHECK(v.outcome == WEIR_OUTCOME_DIRECT_RESPONSE);
  CHECK(v.status == 418);
  CHECK(v.body.len == 6 && memcmp(v.body.ptr, "teapot", 6) == 0);
  CHECK_OK(weir_snapshot_free(s));

  CHECK_OK(weir_decision_free(dec));
  CHECK_OK(weir_diagnostics_free(d));
  CHECK_OK(weir_engine_free(e));
}

/* Every accessor answers NO_DECISION (and writes nothing). */
static void check_no_decision(weir_decision *dec) {
  const char *p = "untouched";
  size_t n = 42;
  weir_decision_view v;
  weir_decision_summary sum;
  weir_route_info ri;
  weir_destination_info di;
  weir_route_policy pol;
  weir_header_edits ed;
  bool b = false;
  const uint8_t *body = NULL;
  const weir_mirror *m = NULL;
  CHECK_RC(weir_decision_fill_view(dec, &v), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_decision_get_summary(dec, &sum), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_decision_cluster(dec, &p, &n), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_decision_endpoint(dec, &p, &n), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_decision_upstream_path(dec, &p, &n), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_decision_upstream_authority(dec, &p, &n), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_decision_location(dec, &p, &n), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_decision_set_cookie(dec, &p, &n), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_decision_route_info(dec, &ri), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_decision_destination_info(dec, &di), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_decision_policy(dec, &pol), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_decision_path_rewritten(dec, &b), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_decision_body(dec, &body, &n), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_decision_mirrors(dec, &m, &n), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_decision_request_headers(dec, &ed), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_decision_response_headers(dec, &ed), WEIR_RESULT_NO_DECISION);
  CHECK(strcmp(p, "untouched") == 0 && n == 42 && body == NULL && m == NULL);
}

/* NULL handles and NULL out-pointers give NULL_PARAMETER and write nothing. */
static void check_null_outs(weir_decision *dec) {
  const char *p = "untouched";
  size_t n = 42;
  weir_decision_summary sum;
  weir_header_edits ed;
  CHECK_RC(weir_decision_get_summary(NULL, &sum), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_get_summary(dec, NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_cluster(NULL, &p, &n), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_cluster(dec, NULL, &n), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_cluster(dec, &p, NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_endpoint(dec, &p, NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_endpoint(dec, NULL, &n), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_upstream_path(NULL, &p, &n), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_upstream_path(dec, &p, NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_set_cookie(dec, NULL, &n), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_location(dec, NULL, &n), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_upstream_authority(dec, NULL, &n), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_body(dec, NULL, &n), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_mirrors(dec, NULL, &n), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_route_info(dec, NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_destination_info(dec, NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_policy(dec, NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_path_rewritten(dec, NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_request_headers(dec, NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_response_headers(NULL, &ed), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_fill_view(dec, NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK(strcmp(p, "untouched") == 0 && n == 42);
}

static void test_misuse(const char *dir) {
  weir_engine *e = NULL;
  weir_diagnostics *d = NULL;
  weir_decision *dec = NULL;
  weir_decision_view v;
  const weir_snapshot *s = NULL;

  CHECK_RC(weir_engine_new(NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_new(NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_diagnostics_new(NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK_OK(weir_engine_new(&e));
  CHECK_OK(weir_diagnostics_new(&d));
  CHECK_OK(weir_decision_new(&dec));

  /* No decision yet: every accessor says so. */
  check_no_decision(dec);
  CHECK_RC(weir_decision_fill_view(NULL, &v), WEIR_RESULT_NULL_PARAMETER);

  /* Apply: NULL handle, NULL with a length, invalid UTF-8, too large, empty. */
  CHECK_RC(weir_engine_apply(NULL, NULL, 0, "", 0, d), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_engine_apply(e, NULL, 0, NULL, 5, d), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_engine_apply(e, NULL, 3, "", 0, d), WEIR_RESULT_NULL_PARAMETER);
  const char bad_utf8[] = "kind: \xff\xfe\n";
  CHECK_RC(weir_engine_apply(e, NULL, 0, bad_utf8, sizeof bad_utf8 - 1, d), WEIR_RESULT_INVALID_UTF8);
  CHECK_RC(weir_engine_apply(e, NULL, 0, "x", (size_t)WEIR_MAX_CONFIG_BYTES + 1, d), WEIR_RESULT_INPUT_TOO_LARGE);
  CHECK_RC(weir_engine_apply(e, NULL, 0, "x", SIZE_MAX, d), WEIR_RESULT_INPUT_TOO_LARGE);
  CHECK_OK(weir_engine_apply(e, NULL, 0, NULL, 0, d)); /* empty config: no routes */
  CHECK_OK(apply_file(e, dir, "fleetman-canary.yaml", d));

  /* Snapshot and decide with NULLs. */
  CHECK_RC(weir_engine_snapshot(NULL, &s), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_engine_snapshot(e, NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK_OK(weir_engine_snapshot(e, &s));
  weir_request r = make_request(STAFF, "GET", "/");
  CHECK_RC(decide_view(NULL, &r, 0, dec, &v), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(decide_view(s, NULL, 0, dec, &v), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(decide_view(s, &r, 0, NULL, &v), WEIR_RESULT_NULL_PARAMETER);
  weir_decision_summary sum;
  CHECK_RC(weir_snapshot_decide(NULL, &r, 0, dec, &sum), WEIR_RESULT_NULL_PARAMETER);
  CHECK_OK(weir_snapshot_decide(s, &r, 0, dec, NULL)); /* summary optional */
  CHECK_OK(weir_decision_fill_view(dec, &v));
  CHECK(v.outcome == WEIR_OUTCOME_ROUTE);
  check_null_outs(dec);
  /* The lazy path: summary from decide, strings from the accessors. */
  memset(&sum, 0xff, sizeof sum);
  CHECK_OK(weir_snapshot_decide(s, &r, 95, dec, &sum));
  CHECK(sum.outcome == WEIR_OUTCOME_ROUTE && sum.status == 0 && !sum.has_grpc_status);
  CHECK(str_eq(sum.cluster, "outbound|8080|risky-group|" STAFF));
  CHECK(str_eq(sum.endpoint, "10.1.0.21:8080"));
  const char *p = NULL;
  size_t plen = 0;
  CHECK_OK(weir_decision_cluster(dec, &p, &plen));
  CHECK(plen == strlen("outbound|8080|risky-group|" STAFF) && memcmp(p, "outbound|8080|risky-group|" STAFF, plen) == 0);
  CHECK_OK(weir_decision_endpoint(dec, &p, &plen));
  CHECK(plen == strlen("10.1.0.21:8080") && memcmp(p, "10.1.0.21:8080", plen) == 0);
  CHECK_OK(weir_decision_upstream_path(dec, &p, &plen));
  CHECK(plen == 1 && p[0] == '/');
  bool rewritten = true;
  CHECK_OK(weir_decision_path_rewritten(dec, &rewritten));
  CHECK(!rewritten);
  CHECK_OK(weir_decision_location(dec, &p, &plen));
  CHECK(plen == 0 && p != NULL);
  weir_decision_summary again;
  CHECK_OK(weir_decision_get_summary(dec, &again));
  CHECK(again.outcome == sum.outcome && again.status == sum.status);
  /* The request's buffers may go away after the call: the path was copied. */
  char path_copy[] = "/copied?x=1";
  weir_request rc_req = r;
  rc_req.path = path_copy;
  rc_req.path_len = strlen(path_copy);
  CHECK_OK(weir_snapshot_decide(s, &rc_req, 0, dec, &sum));
  memset(path_copy, 'z', sizeof path_copy - 1);
  CHECK_OK(weir_decision_upstream_path(dec, &p, &plen));
  CHECK(plen == 11 && memcmp(p, "/copied?x=1", 11) == 0);

  /* NULL with a length in every kind of field. */
  weir_request bad = r;
  bad.path = NULL;
  CHECK_RC(decide_view(s, &bad, 0, dec, &v), WEIR_RESULT_NULL_PARAMETER);
  check_no_decision(dec); /* failed decide clears it */
  bad = r;
  bad.headers = NULL;
  bad.headers_len = 2;
  CHECK_RC(decide_view(s, &bad, 0, dec, &v), WEIR_RESULT_NULL_PARAMETER);
  /* A bad header entry is checked when the decision first reads a header.
     The canary's routes read none (no header match, hash or CORS), so the
     entries are not looked at; reviews-faults.yaml's are (feedback test). */
  weir_header h = {NULL, 3, "v", 1};
  bad = r;
  bad.headers = &h;
  bad.headers_len = 1;
  CHECK_OK(decide_view(s, &bad, 0, dec, &v));
  weir_source *bad_src = NULL;
  CHECK_RC(weir_source_new(NULL, 0, NULL, 0, &h, 1, NULL, &bad_src), WEIR_RESULT_NULL_PARAMETER);
  CHECK(bad_src == NULL);

  /* Invalid UTF-8: rejected in the request line, ignored in a header value. */
  bad = r;
  bad.path = "/\xc3\x28";
  bad.path_len = 3;
  CHECK_RC(decide_view(s, &bad, 0, dec, &v), WEIR_RESULT_INVALID_UTF8);
  weir_header hv = {"x-myval", 7, "\xff\xff", 2};
  bad = r;
  bad.headers = &hv;
  bad.headers_len = 1;
  CHECK_OK(decide_view(s, &bad, 0, dec, &v));
  weir_header lb = {"app", 3, "\xff", 1};
  CHECK_RC(weir_source_new(NULL, 0, NULL, 0, &lb, 1, NULL, &bad_src), WEIR_RESULT_INVALID_UTF8);
  CHECK(bad_src == NULL);

  /* Addresses: text that does not parse, and binary ones of no known family. */
  weir_address addr = {WEIR_ADDRESS_IPV4, 9, {9}};
  const weir_address untouched = addr;
  CHECK_RC(weir_address_parse("not-an-ip", 9, &addr), WEIR_RESULT_INVALID_ARGUMENT);
  CHECK_RC(weir_address_parse("10.0.0.1:99999", 14, &addr), WEIR_RESULT_INVALID_ARGUMENT);
  CHECK_RC(weir_address_parse("\xff", 1, &addr), WEIR_RESULT_INVALID_UTF8);
  CHECK_RC(weir_address_parse(NULL, 3, &addr), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_address_parse("10.0.0.1", 8, NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK(memcmp(&addr, &untouched, sizeof addr) == 0); /* out-params only on success */
  CHECK_OK(weir_address_parse("10.0.0.1", 8, &addr));
  CHECK(addr.family == WEIR_ADDRESS_IPV4 && addr.port == 0 && addr.ip[0] == 10 && addr.ip[3] == 1);
  bad = r;
  bad.remote = addr;
  CHECK_OK(decide_view(s, &bad, 0, dec, &v));
  CHECK_OK(weir_address_parse("[::1]:80", 8, &bad.remote));
  CHECK(bad.remote.family == WEIR_ADDRESS_IPV6 && bad.remote.port == 80 && bad.remote.ip[15] == 1);
  CHECK_OK(decide_view(s, &bad, 0, dec, &v));
  CHECK_OK(weir_address_parse(NULL, 0, &bad.remote));
  CHECK(bad.remote.family == WEIR_ADDRESS_NONE);
  bad.remote.family = 5;
  CHECK_RC(decide_view(s, &bad, 0, dec, &v), WEIR_RESULT_INVALID_ARGUMENT);

  /* Huge inputs: lengths past PTRDIFF_MAX, and real megabyte strings. */
  bad = r;
  bad.path_len = SIZE_MAX;
  CHECK_RC(decide_view(s, &bad, 0, dec, &v), WEIR_RESULT_INVALID_ARGUMENT);
  bad = r;
  bad.headers = &h;
  bad.headers_len = SIZE_MAX / 2;
  CHECK_RC(decide_view(s, &bad, 0, dec, &v), WEIR_RESULT_INVALID_ARGUMENT);
  size_t big = 4u << 20;
  char *huge = malloc(big);
  memset(huge, 'a', big);
  huge[0] = '/';
  bad = r;
  bad.path = huge;
  bad.path_len = big;
  CHECK_OK(decide_view(s, &bad, 0, dec, &v));
  CHECK(v.outcome == WEIR_OUTCOME_ROUTE && v.upstream_path.len == big);
  bad = r;
  bad.authority = huge;
  bad.authority_len = big;
  CHECK_OK(decide_view(s, &bad, 0, dec, &v));
  CHECK(v.outcome == WEIR_OUTCOME_NO_ROUTE && v.status == 404);
  /* A large config that is not YAML: rejected with a diagnostic, old table kept. */
  CHECK_RC(weir_engine_apply(e, NULL, 0, huge, big, d), WEIR_RESULT_CONFIG_REJECTED);
  free(huge);
  CHECK_OK(weir_snapshot_free(s));
  decide_staff(e, dec, 0, &v);
  CHECK(v.outcome == WEIR_OUTCOME_ROUTE);

  /* Set endpoints: bad inputs. */
  weir_endpoint ep;
  memset(&ep, 0, sizeof ep);
  ep.address = "nope";
  ep.address_len = 4;
  CHECK_RC(weir_engine_set_endpoints(e, STAFF, strlen(STAFF), &ep, 1), WEIR_RESULT_INVALID_ARGUMENT);
  CHECK_RC(weir_engine_set_endpoints(e, STAFF, strlen(STAFF), NULL, 1), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_engine_set_endpoints(NULL, STAFF, strlen(STAFF), NULL, 0), WEIR_RESULT_NULL_PARAMETER);

  /* Index out of range and NULL out-pointers. */
  size_t n = 0;
  CHECK_RC(weir_diagnostics_count(d, NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_diagnostics_count(NULL, &n), WEIR_RESULT_NULL_PARAMETER);

  /* Frees: NULL is a no-op, a second free is detected. */
  CHECK_OK(weir_engine_free(NULL));
  CHECK_OK(weir_decision_free(NULL));
  CHECK_OK(weir_diagnostics_free(NULL));
  CHECK_OK(weir_stats_free(NULL));
  CHECK_OK(weir_snapshot_free(NULL));
  CHECK_OK(weir_decision_free(dec));
  CHECK_RC(weir_decision_free(dec), WEIR_RESULT_INVALID_HANDLE);
  CHECK_OK(weir_diagnostics_free(d));
  CHECK_RC(weir_diagnostics_free(d), WEIR_RESULT_INVALID_HANDLE);
  CHECK_OK(weir_engine_free(e));
  CHECK_RC(weir_engine_free(e), WEIR_RESULT_INVALID_HANDLE);
  int on_stack = 0;
  CHECK_RC(weir_engine_free((weir_engine *)&on_stack), WEIR_RESULT_INVALID_HANDLE);
}

static void test_endpoints_stats_tcp(const char *dir) {
  weir_engine *e = NULL;
  weir_decision *dec = NULL;
  weir_decision_view v;
  CHECK_OK(weir_engine_new(&e));
  CHECK_OK(weir_decision_new(&dec));
  CHECK_OK(apply_file(e, dir, "fleetman-canary.yaml", NULL));

  /* Replace the staff pods: safe on 127.0.0.1:18001, risky on 127.0.0.1:18002. */
  weir_header safe = {"version", 7, "safe", 4}, risky = {"version", 7, "risky", 5};
  weir_endpoint eps[2];
  memset(eps, 0, sizeof eps);
  eps[0].address = "127.0.0.1";
  eps[0].address_len = 9;
  eps[0].port = 18001;
  eps[0].labels = &safe;
  eps[0].labels_len = 1;
  eps[1] = eps[0];
  eps[1].port = 18002;
  eps[1].labels = &risky;
  CHECK_OK(weir_engine_set_endpoints(e, STAFF, strlen(STAFF), eps, 2));
  for (uint64_t i = 0; i < 100; i++) {
    decide_staff(e, dec, i, &v);
    CHECK(v.outcome == WEIR_OUTCOME_ROUTE);
    CHECK(str_eq(v.endpoint, i < 90 ? "127.0.0.1:18001" : "127.0.0.1:18002"));
    CHECK(v.has_route && str_eq(v.route_namespace, "default") && v.has_rule_index && v.rule_index == 0);
    CHECK(v.has_destination && v.destination_index == (i < 90 ? 0u : 1u));
    CHECK(str_eq(v.destination_host, STAFF) && v.destination_port == 8080);
    CHECK(v.has_retries && v.retry_attempts == 2 && !v.has_timeout);
  }
  /* Stats: 100 hits on the rule, 90/10 on the destinations. */
  const weir_snapshot *s = NULL;
  CHECK_OK(weir_engine_snapshot(e, &s));
  weir_stats *st = NULL;
  CHECK_OK(weir_snapshot_stats(s, &st));
  CHECK_OK(weir_snapshot_free(s)); /* stats keep their own reference */
  size_t routes = 0;
  CHECK_OK(weir_stats_route_count(st, &routes));
  CHECK(routes == 1);
  weir_route_stat rs;
  CHECK_OK(weir_stats_route(st, 0, &rs));
  CHECK(rs.kind == WEIR_RULE_KIND_HTTP && rs.hits == 100 && rs.destinations_len == 2);
  CHECK(str_eq(rs.virtual_service, "a-set-of-routing-rules-we-can-call-this-anything"));
  weir_destination_stat ds;
  CHECK_OK(weir_stats_destination(st, 0, 0, &ds));
  CHECK(ds.hits == 90 && ds.weight == 90 && str_eq(ds.subset, "safe-group"));
  CHECK(str_eq(ds.cluster, "outbound|8080|safe-group|" STAFF));
  CHECK_OK(weir_stats_destination(st, 0, 1, &ds));
  CHECK(ds.hits == 10);
  CHECK_RC(weir_stats_destination(st, 0, 2, &ds), WEIR_RESULT_INDEX_OUT_OF_RANGE);
  CHECK_RC(weir_stats_route(st, 1, &rs), WEIR_RESULT_INDEX_OUT_OF_RANGE);
  CHECK_OK(weir_stats_free(st));
  CHECK_RC(weir_stats_free(st), WEIR_RESULT_INVALID_HANDLE);

  /* TCP through a gateway. */
  CHECK_OK(apply_file(e, dir, "tcp-echo.yaml", NULL));
  CHECK_OK(weir_engine_snapshot(e, &s));
  weir_connection c;
  memset(&c, 0, sizeof c);
  c.port = 31400;
  weir_source *gw = NULL;
  const char *gw_name = "istioinaction/echo-tcp-gateway";
  CHECK_OK(weir_source_new(gw_name, strlen(gw_name), NULL, 0, NULL, 0, NULL, &gw));
  c.source = gw;
  CHECK_OK(decide_tcp_view(s, &c, 1, dec, &v));
  CHECK(v.outcome == WEIR_OUTCOME_ROUTE);
  CHECK(str_eq(v.cluster, "outbound|2701||tcp-echo.istioinaction.svc.cluster.local"));
  CHECK(v.endpoint.len > 0 && !v.has_retries);
  c.port = 1;
  CHECK_OK(decide_tcp_view(s, &c, 1, dec, &v));
  CHECK(v.outcome == WEIR_OUTCOME_NO_ROUTE);
  c.sni = NULL;
  c.sni_len = 1;
  CHECK_RC(decide_tcp_view(s, &c, 1, dec, &v), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(decide_tcp_view(s, NULL, 1, dec, &v), WEIR_RESULT_NULL_PARAMETER);
  CHECK_OK(weir_snapshot_free(s));
  CHECK_OK(weir_source_free(gw));

  CHECK_OK(weir_decision_free(dec));
  CHECK_OK(weir_engine_free(e));
}

static void test_feedback(const char *dir) {
  weir_engine *e = NULL;
  weir_decision *dec = NULL;
  weir_decision_view v;
  weir_ticket t;
  memset(&t, 0, sizeof t);
  CHECK_OK(weir_engine_new(&e));
  CHECK_OK(weir_decision_new(&dec));
  CHECK_OK(apply_file(e, dir, "reviews-faults.yaml", NULL));
  const weir_snapshot *s = NULL;
  CHECK_OK(weir_engine_snapshot(e, &s));
  CHECK_RC(weir_feedback_begin(s, dec, &t), WEIR_RESULT_NO_DECISION);
  CHECK_RC(weir_feedback_finish(s, &t, 200, 1), WEIR_RESULT_INVALID_HANDLE); /* zeroed */
  weir_request r = make_request("reviews.shop.svc.cluster.local", "GET", "/");
  weir_source *shop = NULL;
  CHECK_OK(weir_source_new(NULL, 0, "shop", 4, NULL, 0, NULL, &shop));
  r.source = shop;
  /* Outlier detection (consecutive5xxErrors: 5): five 503s eject the endpoint. */
  CHECK_OK(decide_view(s, &r, 1, dec, &v));
  CHECK(v.outcome == WEIR_OUTCOME_ROUTE);
  char ejected[64];
  snprintf(ejected, sizeof ejected, "%.*s", (int)v.endpoint.len, v.endpoint.ptr);
  for (int i = 0; i < 5; i++) {
    CHECK_OK(weir_feedback_begin(s, dec, &t));
    CHECK_OK(weir_feedback_finish(s, &t, 503, 1000));
  }
  CHECK_RC(weir_feedback_finish(s, &t, 503, 1000), WEIR_RESULT_INVALID_HANDLE); /* finished twice */
  for (uint64_t i = 0; i < 200; i++) {
    CHECK_OK(decide_view(s, &r, i, dec, &v));
    CHECK(v.outcome == WEIR_OUTCOME_ROUTE && !str_eq(v.endpoint, ejected));
  }
  /* A connect failure (status 0) counts as a gateway error. */
  CHECK_OK(weir_feedback_begin(s, dec, &t));
  CHECK_OK(weir_feedback_finish(s, &t, 0, 1001));
  CHECK_RC(weir_feedback_begin(NULL, dec, &t), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_feedback_begin(s, dec, NULL), WEIR_RESULT_NULL_PARAMETER);

  /* This config matches on end-user, so deciding reads the headers and
     checks every entry: a bad one fails the call, writes no summary and
     leaves no decision. */
  weir_header hs[2] = {{"end-user", 8, "jason", 5}, {"x-bad", 5, NULL, 4}};
  weir_request bad = r;
  bad.headers = hs;
  bad.headers_len = 2;
  weir_decision_summary sum, before;
  memset(&sum, 0xab, sizeof sum);
  before = sum;
  CHECK_RC(weir_snapshot_decide(s, &bad, 0, dec, &sum), WEIR_RESULT_NULL_PARAMETER);
  CHECK(memcmp(&sum, &before, sizeof sum) == 0);
  check_no_decision(dec);
  hs[1].value = "v";
  hs[1].value_len = SIZE_MAX;
  CHECK_RC(weir_snapshot_decide(s, &bad, 0, dec, &sum), WEIR_RESULT_INVALID_ARGUMENT);
  check_no_decision(dec);
  hs[1].value_len = 1;
  CHECK_OK(decide_view(s, &bad, 0, dec, &v));
  CHECK(v.outcome == WEIR_OUTCOME_ROUTE && str_eq(v.destination_subset, "v2"));
  CHECK_OK(weir_snapshot_free(s));
  CHECK_OK(weir_source_free(shop));
  CHECK_OK(weir_decision_free(dec));
  CHECK_OK(weir_engine_free(e));
}

/* weir_engine_decide agrees with deciding on a snapshot, and its answer
   outlives an apply that replaces the table (ASan sees any use after free). */
static void test_engine_decide(const char *dir) {
  weir_engine *e = NULL;
  weir_decision *a = NULL, *b = NULL;
  CHECK_OK(weir_engine_new(&e));
  CHECK_OK(weir_decision_new(&a));
  CHECK_OK(weir_decision_new(&b));
  CHECK_OK(apply_file(e, dir, "fleetman-canary.yaml", NULL));
  weir_request r = make_request(STAFF, "GET", "/api?x=1");
  weir_decision_summary sa, sb;
  CHECK_RC(weir_engine_decide(NULL, &r, 0, a, &sa), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_engine_decide(e, NULL, 0, a, &sa), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_engine_decide(e, &r, 0, NULL, &sa), WEIR_RESULT_NULL_PARAMETER);
  /* The source as a handle; a sidecar with no namespace needs none (NULL). */
  weir_source *src = NULL;
  CHECK_RC(weir_source_new(NULL, 0, "default", 7, NULL, 0, NULL, NULL), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_source_new(NULL, 0, "\xff", 1, NULL, 0, NULL, &src), WEIR_RESULT_INVALID_UTF8);
  CHECK_RC(weir_source_new(NULL, 0, NULL, 3, NULL, 0, NULL, &src), WEIR_RESULT_NULL_PARAMETER);
  weir_address bad_local = {7, 80, {10, 0, 0, 1}}; /* no such family */
  CHECK_RC(weir_source_new(NULL, 0, "default", 7, NULL, 0, &bad_local, &src), WEIR_RESULT_INVALID_ARGUMENT);
  CHECK(src == NULL);
  CHECK_OK(weir_source_new(NULL, 0, "default", 7, NULL, 0, NULL, &src));
  weir_request rs = r;
  rs.source = src;
  for (uint64_t entropy = 0; entropy < 200; entropy++) {
    const weir_snapshot *s = NULL;
    CHECK_OK(weir_engine_snapshot(e, &s));
    CHECK_OK(weir_engine_decide(e, &rs, entropy, a, &sa));
    CHECK_OK(weir_snapshot_decide(s, &rs, entropy, b, &sb));
    CHECK(sa.outcome == sb.outcome && sa.status == sb.status);
    CHECK(strs_eq(sa.cluster, sb.cluster));
    CHECK(strs_eq(sa.endpoint, sb.endpoint));
    CHECK_OK(weir_snapshot_free(s));
  }
  CHECK_OK(weir_engine_decide(e, &r, 95, a, &sa));
  CHECK(str_eq(sa.cluster, "outbound|8080|risky-group|" STAFF));
  /* Table ids: the same for decisions on one table, new for every table made
   * (an apply, an endpoint change), and errors without a decision. */
  uint64_t id_a = 0, id_b = 0, id_c = 0;
  CHECK_OK(weir_engine_decide(e, &r, 3, b, &sb));
  CHECK_OK(weir_decision_table_id(a, &id_a));
  CHECK_OK(weir_decision_table_id(b, &id_b));
  CHECK(id_a != 0 && id_a == id_b);
  CHECK_RC(weir_decision_table_id(NULL, &id_c), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_decision_table_id(a, NULL), WEIR_RESULT_NULL_PARAMETER);
  weir_decision *fresh = NULL;
  CHECK_OK(weir_decision_new(&fresh));
  CHECK_RC(weir_decision_table_id(fresh, &id_c), WEIR_RESULT_NO_DECISION);
  CHECK_OK(weir_decision_free(fresh));
  /* Replace the table: the old one now lives only in `a`. */
  CHECK_OK(apply_file(e, dir, "ingress-paths.yaml", NULL));
  const char *p = NULL;
  size_t n = 0;
  CHECK_OK(weir_decision_cluster(a, &p, &n));
  CHECK(n == strlen("outbound|8080|risky-group|" STAFF) && memcmp(p, "outbound|8080|risky-group|" STAFF, n) == 0);
  CHECK_OK(weir_decision_upstream_path(a, &p, &n));
  CHECK(n == 8 && memcmp(p, "/api?x=1", 8) == 0);
  /* The next decide uses the new table, which does not know the host. */
  CHECK_OK(weir_engine_decide(e, &r, 95, a, &sa));
  CHECK(sa.outcome == WEIR_OUTCOME_NO_ROUTE && sa.status == 404 && sa.cluster.len == 0);
  CHECK_OK(weir_decision_table_id(a, &id_c));
  CHECK(id_c != 0 && id_c != id_a);
  /* An endpoint change makes a new table too; `b` keeps its older decision. */
  weir_endpoint one;
  memset(&one, 0, sizeof one);
  one.address = "10.9.9.9";
  one.address_len = 8;
  CHECK_OK(weir_engine_set_endpoints(e, STAFF, strlen(STAFF), &one, 1));
  CHECK_OK(weir_engine_decide(e, &r, 3, a, &sa));
  uint64_t id_d = 0;
  CHECK_OK(weir_decision_table_id(a, &id_d));
  CHECK(id_d != 0 && id_d != id_c && id_d != id_a);
  CHECK_OK(weir_decision_table_id(b, &id_b));
  CHECK(id_b == id_a);
  CHECK_OK(weir_source_free(src));
  CHECK_RC(weir_source_free(src), WEIR_RESULT_INVALID_HANDLE);
  CHECK_OK(weir_source_free(NULL));
  CHECK_OK(weir_decision_free(a));
  CHECK_OK(weir_decision_free(b));
  CHECK_OK(weir_engine_free(e));
}

/* The cluster dump and the Istio configs of bookinfo in one stream (as `kubectl get ... -o yaml`
 * and `kubectl apply -f` print them): reviews splits 90/10 over the v1 and v2 pods the
 * EndpointSlices list, jason goes to the v3 pod, and the terminating v2 pod gets nothing. */
#define REVIEWS "reviews.default.svc.cluster.local"
static void test_kubernetes_dump(const char *dir) {
  char path[4096];
  size_t cluster_len = 0, istio_len = 0;
  snprintf(path, sizeof path, "%s/bookinfo/cluster.yaml", dir);
  char *cluster = read_file(path, &cluster_len);
  snprintf(path, sizeof path, "%s/bookinfo/istio.yaml", dir);
  char *istio = read_file(path, &istio_len);
  CHECK(cluster != NULL && istio != NULL);
  if (!cluster || !istio) {
    free(cluster);
    free(istio);
    return;
  }
  size_t len = cluster_len + 5 + istio_len;
  char *both = malloc(len + 1);
  CHECK(both != NULL);
  if (!both) return;
  memcpy(both, cluster, cluster_len);
  memcpy(both + cluster_len, "\n---\n", 5);
  memcpy(both + cluster_len + 5, istio, istio_len);
  weir_engine *e = NULL;
  weir_diagnostics *d = NULL;
  weir_decision *dec = NULL;
  weir_source *src = NULL;
  CHECK_OK(weir_engine_new(&e));
  CHECK_OK(weir_diagnostics_new(&d));
  CHECK_OK(weir_decision_new(&dec));
  CHECK_OK(weir_engine_apply(e, "bookinfo", 8, both, len, d));
  /* The dump is clean: no errors, no warnings; one info (WEIR0105) on the
     ingress gateway's status port, which no Gateway listens on. */
  size_t count = 99, errors = 99;
  CHECK_OK(weir_diagnostics_count(d, &count));
  CHECK_OK(weir_diagnostics_error_count(d, &errors));
  CHECK(errors == 0);
  for (size_t i = 0; i < count; i++) {
    weir_diagnostic diag;
    CHECK_OK(weir_diagnostics_get(d, i, &diag));
    CHECK(diag.severity == WEIR_SEVERITY_INFO);
    CHECK(str_eq(diag.code, "WEIR0105"));
  }
  CHECK(count == 1);
  CHECK_OK(weir_source_new(NULL, 0, "default", 7, NULL, 0, NULL, &src));
  weir_request r = make_request("reviews:9080", "GET", "/reviews/0");
  r.source = src;
  const weir_snapshot *s = NULL;
  CHECK_OK(weir_engine_snapshot(e, &s));
  weir_decision_summary sum;
  size_t v1 = 0, v2 = 0;
  for (uint64_t entropy = 0; entropy < 200; entropy++) {
    CHECK_OK(weir_snapshot_decide(s, &r, entropy, dec, &sum));
    CHECK(sum.outcome == WEIR_OUTCOME_ROUTE);
    if (entropy % 100 < 90) {
      CHECK(str_eq(sum.cluster, "outbound|9080|v1|" REVIEWS));
      CHECK(str_eq(sum.endpoint, "10.44.1.14:9080") || str_eq(sum.endpoint, "10.44.1.15:9080"));
      v1++;
    } else {
      CHECK(str_eq(sum.cluster, "outbound|9080|v2|" REVIEWS));
      CHECK(str_eq(sum.endpoint, "10.44.1.16:9080")); /* never the terminating 10.44.1.18 */
      v2++;
    }
  }
  CHECK(v1 == 180 && v2 == 20);
  weir_header jason = {"end-user", 8, "jason", 5};
  r.headers = &jason;
  r.headers_len = 1;
  CHECK_OK(weir_snapshot_decide(s, &r, 0, dec, &sum));
  CHECK(str_eq(sum.cluster, "outbound|9080|v3|" REVIEWS));
  CHECK(str_eq(sum.endpoint, "10.44.1.17:9080"));
  CHECK_OK(weir_snapshot_free(s));
  /* A Service whose port is declared twice is rejected, naming the field; the table stays. */
  const char *bad = "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: default}\n"
                    "spec: {ports: [{name: http, port: 9080}, {name: http, port: 9080}]}\n";
  CHECK_RC(weir_engine_apply(e, "bad", 3, bad, strlen(bad), d), WEIR_RESULT_CONFIG_REJECTED);
  int named = 0;
  CHECK_OK(weir_diagnostics_count(d, &count));
  for (size_t i = 0; i < count; i++) {
    weir_diagnostic diag;
    CHECK_OK(weir_diagnostics_get(d, i, &diag));
    named |= str_eq(diag.code, "WEIR0102") && str_eq(diag.resource_kind, "Service") &&
             str_eq(diag.resource_name, "reviews") && diag.field.len > 0;
  }
  CHECK(named);
  CHECK_OK(weir_engine_decide(e, &r, 0, dec, &sum));
  CHECK(str_eq(sum.endpoint, "10.44.1.17:9080"));
  CHECK_OK(weir_source_free(src));
  CHECK_OK(weir_decision_free(dec));
  CHECK_OK(weir_diagnostics_free(d));
  CHECK_OK(weir_engine_free(e));
  free(both);
  free(cluster);
  free(istio);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CONFIGS_DIR\n", argv[0]);
    return 2;
  }
  test_version_and_messages();
  test_every_config(argv[1]);
  test_invalid_configs(argv[1]);
  test_misuse(argv[1]);
  test_endpoints_stats_tcp(argv[1]);
  test_feedback(argv[1]);
  test_engine_decide(argv[1]);
  test_kubernetes_dump(argv[1]);
  if (failures) {
    fprintf(stderr, "basic: %d failure(s)\n", atomic_load(&failures));
    return 1;
  }
  printf("basic: ok\n");
  return 0;
}
