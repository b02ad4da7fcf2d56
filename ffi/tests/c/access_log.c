/* Access logs through the C ABI: the callback gets Envoy-format (or JSON)
 * lines for the requests the Telemetry API's accessLogging logs, and the
 * policy follows the config in force. */
#include <stdbool.h>
#include <stdint.h>

#include "common.h"

static const char *CONFIG =
    "apiVersion: networking.istio.io/v1\n"
    "kind: ServiceEntry\n"
    "metadata: {name: reviews, namespace: shop}\n"
    "spec:\n"
    "  hosts: [reviews.shop.svc.cluster.local]\n"
    "  ports: [{number: 9080, name: http, protocol: HTTP}]\n"
    "  resolution: STATIC\n"
    "  endpoints: [{address: 10.0.0.7}]\n"
    "---\n"
    "apiVersion: telemetry.istio.io/v1\n"
    "kind: Telemetry\n"
    "metadata: {name: errors, namespace: shop}\n"
    "spec:\n"
    "  accessLogging:\n"
    "  - providers: [{name: envoy}]\n"
    "    filter: {expression: \"response.code >= 400 || request.headers['x-debug'] == '1'\"}\n";

static const char *OFF =
    "apiVersion: telemetry.istio.io/v1\n"
    "kind: Telemetry\n"
    "metadata: {name: errors, namespace: shop}\n"
    "spec: {accessLogging: [{disabled: true}]}\n";

typedef struct {
  int calls;
  char last[1024];
} sink;

static void on_log(void *user_data, const weir_access_log_entry *entry) {
  sink *s = user_data;
  s->calls++;
  size_t n = entry->line.len < sizeof s->last - 1 ? entry->line.len : sizeof s->last - 1;
  memcpy(s->last, entry->line.ptr, n);
  s->last[n] = 0;
  CHECK(entry->request != NULL);
}

#define S(x) x, strlen(x)

static weir_access_log_request request(uint32_t code, const weir_header *headers, size_t headers_len) {
  weir_access_log_request r;
  memset(&r, 0, sizeof r);
  r.start_ms = 1700000000123ULL;
  r.method = "GET";
  r.method_len = 3;
  r.path = "/reviews/1";
  r.path_len = strlen(r.path);
  r.protocol = "HTTP/1.1";
  r.protocol_len = 8;
  r.authority = "reviews:9080";
  r.authority_len = strlen(r.authority);
  r.request_id = "req-1";
  r.request_id_len = 5;
  r.upstream_host = "10.0.0.7:9080";
  r.upstream_host_len = strlen(r.upstream_host);
  r.upstream_cluster = "outbound|9080||reviews.shop.svc.cluster.local";
  r.upstream_cluster_len = strlen(r.upstream_cluster);
  r.route_name = "shop/reviews/0";
  r.route_name_len = strlen(r.route_name);
  r.headers = headers;
  r.headers_len = headers_len;
  r.response_code = code;
  r.outcome = WEIR_OUTCOME_ROUTE;
  r.grpc_status = -1;
  r.bytes_sent = 321;
  r.duration_ms = 12;
  return r;
}

/* Istio's local rate limit recipe (flattened): 3 tokens a minute for every
 * request of productpage, 429 with x-local-rate-limit: true. */
static const char *LIMIT =
    "apiVersion: networking.istio.io/v1alpha3\n"
    "kind: EnvoyFilter\n"
    "metadata: {name: limit, namespace: shop}\n"
    "spec:\n"
    "  workloadSelector: {labels: {app: productpage}}\n"
    "  configPatches:\n"
    "  - applyTo: HTTP_FILTER\n"
    "    patch:\n"
    "      operation: INSERT_BEFORE\n"
    "      value:\n"
    "        name: envoy.filters.http.local_ratelimit\n"
    "        typed_config:\n"
    "          '@type': type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit\n"
    "          stat_prefix: limit\n"
    "          token_bucket: {max_tokens: 3, tokens_per_fill: 3, fill_interval: 60s}\n"
    "          filter_enabled: {default_value: {numerator: 100, denominator: HUNDRED}}\n"
    "          filter_enforced: {default_value: {numerator: 100, denominator: HUNDRED}}\n"
    "          response_headers_to_add: [{header: {key: x-local-rate-limit, value: 'true'}}]\n";

static void test_rate_limits(void) {
  weir_engine *e = NULL;
  CHECK_OK(weir_engine_new(&e));
  CHECK_OK(weir_engine_apply(e, S("limit.yaml"), S(LIMIT), NULL));
  weir_header labels[] = {{S("app"), S("productpage")}};
  weir_local_rate_limiter *l = NULL, *none = NULL;
  CHECK_OK(weir_local_rate_limiter_new(e, S("shop"), labels, 1, 1000, &l));
  CHECK_OK(weir_local_rate_limiter_new(e, S("shop"), NULL, 0, 1000, &none));
  bool empty = true;
  CHECK_OK(weir_local_rate_limiter_is_empty(l, &empty));
  CHECK(!empty);
  CHECK_OK(weir_local_rate_limiter_is_empty(none, &empty));
  CHECK(empty);
  int admitted = 0, refused = 0;
  for (uint64_t i = 0; i < 5; i++) {
    weir_rate_limit_verdict v;
    CHECK_OK(weir_local_rate_limiter_check(l, e, NULL, 0, S("/"), S("productpage"), S("GET"), NULL, 0, i, 1000 + i, &v));
    if (!v.limited) {
      admitted++;
      continue;
    }
    refused++;
    CHECK(v.status == 429);
    CHECK(v.headers_len == 1);
    if (v.headers_len == 1) {
      CHECK(v.headers[0].name_len == 18 && memcmp(v.headers[0].name, "x-local-rate-limit", 18) == 0);
      CHECK(v.headers[0].value_len == 4 && memcmp(v.headers[0].value, "true", 4) == 0);
    }
  }
  CHECK(admitted == 3 && refused == 2);
  /* A minute later: refilled. */
  weir_rate_limit_verdict v;
  CHECK_OK(weir_local_rate_limiter_check(l, e, NULL, 0, S("/"), S("productpage"), S("GET"), NULL, 0, 9, 61000, &v));
  CHECK(!v.limited);
  CHECK_OK(weir_local_rate_limiter_free(l));
  CHECK_OK(weir_local_rate_limiter_free(none));
  CHECK_OK(weir_local_rate_limiter_free(NULL));
  CHECK_OK(weir_engine_free(e));
}

int main(void) {
  test_rate_limits();
  weir_engine *e = NULL;
  CHECK_OK(weir_engine_new(&e));
  CHECK_OK(weir_engine_apply(e, S("config.yaml"), S(CONFIG), NULL));

  sink text = {0}, json = {0}, other = {0};
  weir_access_log *log = NULL, *log_json = NULL, *log_other = NULL;
  CHECK_OK(weir_access_log_new(e, on_log, &text, WEIR_ACCESS_LOG_TEXT, S("shop"), &log));
  CHECK_OK(weir_access_log_new(e, on_log, &json, WEIR_ACCESS_LOG_JSON, S("shop"), &log_json));
  CHECK_OK(weir_access_log_new(e, on_log, &other, WEIR_ACCESS_LOG_TEXT, S("default"), &log_other));
  CHECK_RC(weir_access_log_new(NULL, on_log, NULL, WEIR_ACCESS_LOG_TEXT, S("shop"), &log), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_access_log_new(e, on_log, NULL, 7, S("shop"), &log), WEIR_RESULT_INVALID_ARGUMENT);

  /* shop's Telemetry logs errors and x-debug requests only. */
  bool logged = true;
  weir_access_log_request ok = request(200, NULL, 0);
  CHECK_OK(weir_access_log_write(log, &ok, &logged));
  CHECK(!logged);
  CHECK(text.calls == 0);

  weir_access_log_request fail = request(503, NULL, 0);
  fail.response_flags = WEIR_RESPONSE_FLAG_UPSTREAM_CONNECTION_FAILURE;
  CHECK_OK(weir_access_log_write(log, &fail, &logged));
  CHECK(logged);
  CHECK(text.calls == 1);
  const char *want =
      "[2023-11-14T22:13:20.123Z] \"GET /reviews/1 HTTP/1.1\" 503 UF 0 321 12 - \"-\" \"-\" \"req-1\" "
      "\"reviews:9080\" \"10.0.0.7:9080\" outbound|9080||reviews.shop.svc.cluster.local shop/reviews/0\n";
  if (strcmp(text.last, want) != 0) {
    fprintf(stderr, "line:\n%s\nwant:\n%s\n", text.last, want);
    failures++;
  }

  weir_header debug[] = {{S("X-Debug"), S("1")}};
  weir_access_log_request dbg = request(200, debug, 1);
  CHECK_OK(weir_access_log_write(log, &dbg, &logged));
  CHECK(logged && text.calls == 2);

  /* A local reply's flags come from its outcome. */
  weir_access_log_request nr = request(404, NULL, 0);
  nr.outcome = WEIR_OUTCOME_NO_ROUTE;
  CHECK_OK(weir_access_log_write(log_json, &nr, NULL));
  CHECK(json.calls == 1);
  CHECK(strstr(json.last, "\"response_code\":\"404\"") != NULL);
  CHECK(strstr(json.last, "\"response_flags\":\"NR\"") != NULL);
  CHECK(strstr(json.last, "\"route_name\":\"shop/reviews/0\"") != NULL);
  CHECK(json.last[0] == '{' && json.last[strlen(json.last) - 1] == '\n');
  nr.outcome = 99;
  CHECK_RC(weir_access_log_write(log_json, &nr, NULL), WEIR_RESULT_INVALID_ARGUMENT);

  /* The check alone (bindings that write their own lines), no callback. */
  weir_access_log *quiet = NULL;
  CHECK_OK(weir_access_log_new(e, NULL, NULL, WEIR_ACCESS_LOG_TEXT, S("shop"), &quiet));
  const char *hdrs = "user-agent: go\r\nx-debug: 1\r\n";
  CHECK_OK(weir_access_log_check(quiet, S("GET"), S("reviews"), S("/"), S(hdrs), 200, 0, WEIR_OUTCOME_ROUTE, false, -1, 1, 0, 0, &logged));
  CHECK(logged);
  CHECK_OK(weir_access_log_check(quiet, S("GET"), S("reviews"), S("/"), NULL, 0, 200, 0, WEIR_OUTCOME_ROUTE, false, -1, 1, 0, 0, &logged));
  CHECK(!logged);
  CHECK_OK(weir_access_log_write(quiet, &fail, &logged));
  CHECK(logged);
  bool configured = false, enabled = false;
  CHECK_OK(weir_access_log_policy(quiet, &configured, &enabled));
  CHECK(configured && enabled);
  CHECK_OK(weir_access_log_policy(log_other, &configured, &enabled));
  CHECK(!configured && !enabled);
  CHECK_OK(weir_access_log_free(quiet));

  /* No Telemetry for `default` (none in the root namespace): everything is logged. */
  CHECK_OK(weir_access_log_write(log_other, &ok, &logged));
  CHECK(logged && other.calls == 1);

  /* A new config turns shop's logs off; a rejected one changes nothing. */
  CHECK_RC(weir_engine_apply(e, S("bad.yaml"), S("kind: VirtualService\napiVersion: networking.istio.io/v1\nmetadata: {name: x}\nspec: {hosts: [1]}\n"), NULL),
           WEIR_RESULT_CONFIG_REJECTED);
  CHECK_OK(weir_access_log_write(log, &fail, &logged));
  CHECK(logged && text.calls == 3);
  CHECK_OK(weir_engine_apply(e, S("off.yaml"), S(OFF), NULL));
  CHECK_OK(weir_access_log_write(log, &fail, &logged));
  CHECK(!logged && text.calls == 3);

  CHECK_OK(weir_access_log_free(log));
  CHECK_OK(weir_access_log_free(log_json));
  CHECK_OK(weir_access_log_free(log_other));
  CHECK_OK(weir_access_log_free(NULL));
  CHECK_OK(weir_engine_free(e));
  if (failures) {
    fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  printf("access_log: ok\n");
  return 0;
}
