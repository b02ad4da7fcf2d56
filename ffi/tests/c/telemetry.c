/* Metrics through the C ABI: a known sequence of decisions and finishes, the
 * Prometheus text read back exactly, a short buffer refused with the size
 * needed, request ids, and the rate limiter from several threads.
 * Usage: telemetry <examples/configs dir> */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common.h"

#define STAFF "fleetman-staff-service.default.svc.cluster.local"

/* The value of the sample line that starts with `series` followed by a space; -1 if absent. */
static double sample(const char *text, const char *series) {
  size_t n = strlen(series);
  for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, series, n) == 0 && line[n] == ' ') return strtod(line + n + 1, NULL);
  }
  return -1;
}

static void test_metrics(const char *dir) {
  weir_engine *e = NULL;
  weir_decision *dec = NULL;
  CHECK_OK(weir_engine_new(&e));
  CHECK_OK(weir_decision_new(&dec));
  CHECK_OK(apply_file(e, dir, "fleetman-canary.yaml", NULL));
  weir_workload w = {"webapp", 6, "default", 7, NULL, 0, "v1", 2};
  CHECK_OK(weir_engine_set_metrics_source(e, WEIR_REPORTER_SOURCE, &w));

  /* Nothing decided yet: nothing to record. */
  weir_request_end end = {200, -1, WEIR_PROTOCOL_HTTP, 0, 2500, 10, 300};
  CHECK_RC(weir_engine_record(e, dec, &end), WEIR_RESULT_NO_DECISION);

  weir_request r = make_request(STAFF, "GET", "/");
  for (uint64_t entropy = 0; entropy < 100; entropy++) {
    weir_decision_summary sum;
    CHECK_OK(weir_engine_decide(e, &r, entropy, dec, &sum));
    end.status = entropy == 3 ? 0 : 200; /* one connection failure */
    CHECK_OK(weir_engine_record(e, dec, &end));
  }

  /* The same through the copy of a decision a binding keeps (Go): the
   * cluster by name on the snapshot. 5 ms delayed, 200: series "DI". */
  const weir_snapshot *snap = NULL;
  CHECK_OK(weir_engine_snapshot(e, &snap));
  const char *risky = "outbound|8080|risky-group|" STAFF;
  end.status = 200;
  for (int i = 0; i < 7; i++)
    CHECK_OK(weir_engine_record_outcome(e, snap, risky, strlen(risky), WEIR_OUTCOME_ROUTE, 0, true, &end));
  /* A local reply: its own status, whatever the end says. */
  CHECK_OK(weir_engine_record_outcome(e, snap, NULL, 0, WEIR_OUTCOME_NO_ROUTE, 404, false, &end));
  CHECK_RC(weir_engine_record_outcome(e, snap, NULL, 0, 99, 404, false, &end), WEIR_RESULT_INVALID_ARGUMENT);
  CHECK_OK(weir_snapshot_free(snap));

  size_t needed = 0;
  CHECK_RC(weir_engine_metrics(e, NULL, 0, &needed), WEIR_RESULT_BUFFER_TOO_SMALL);
  CHECK(needed > 1000);
  char *small = malloc(needed - 1);
  memset(small, '#', needed - 1);
  size_t got = 0;
  CHECK_RC(weir_engine_metrics(e, small, needed - 1, &got), WEIR_RESULT_BUFFER_TOO_SMALL);
  CHECK(got == needed);
  for (size_t i = 0; i < needed - 1; i++) CHECK(small[i] == '#');
  free(small);

  char *text = malloc(needed + 1);
  CHECK_OK(weir_engine_metrics(e, text, needed, &got));
  CHECK(got == needed);
  text[got] = '\0';
#define LABELS(version, code, flags)                                                                            \
  "reporter=\"source\",source_workload=\"webapp\",source_workload_namespace=\"default\",source_app=\"unknown\","  \
  "source_version=\"v1\",destination_service=\"" STAFF "\",destination_service_name=\"fleetman-staff-service\","  \
  "destination_service_namespace=\"default\",destination_workload=\"unknown\","                                  \
  "destination_workload_namespace=\"default\",destination_app=\"unknown\",destination_version=\"" version "\","  \
  "request_protocol=\"http\",response_code=\"" code "\",response_flags=\"" flags "\",grpc_response_status=\"\""
  CHECK(sample(text, "istio_requests_total{" LABELS("safe", "200", "-") "}") == 89);
  CHECK(sample(text, "istio_requests_total{" LABELS("safe", "503", "UF") "}") == 1);
  CHECK(sample(text, "istio_requests_total{" LABELS("risky", "200", "-") "}") == 10);
  /* 2.5 ms: within le=5, not le=1. */
  CHECK(sample(text, "istio_request_duration_milliseconds_bucket{" LABELS("risky", "200", "-") ",le=\"1\"}") == 0);
  CHECK(sample(text, "istio_request_duration_milliseconds_bucket{" LABELS("risky", "200", "-") ",le=\"5\"}") == 10);
  CHECK(sample(text, "istio_request_duration_milliseconds_sum{" LABELS("risky", "200", "-") "}") == 25);
  CHECK(sample(text, "istio_response_bytes_sum{" LABELS("safe", "200", "-") "}") == 89 * 300);
  CHECK(sample(text, "istio_request_bytes_bucket{" LABELS("safe", "200", "-") ",le=\"10\"}") == 89);
  CHECK(sample(text, "istio_requests_total{" LABELS("risky", "200", "DI") "}") == 7);
  CHECK(strstr(text, "response_code=\"404\",response_flags=\"NR\",grpc_response_status=\"\"} 1\n") != NULL);
  if (failures) fprintf(stderr, "%s", text);
  free(text);

  /* TCP counters through the same engine. */
  CHECK_OK(apply_file(e, dir, "tcp-echo.yaml", NULL));
  weir_source *gw = NULL;
  const char *gw_name = "istioinaction/echo-tcp-gateway";
  CHECK_OK(weir_source_new(gw_name, strlen(gw_name), NULL, 0, NULL, 0, NULL, &gw));
  weir_connection c;
  memset(&c, 0, sizeof c);
  c.port = 31400;
  c.source = gw;
  const weir_snapshot *s = NULL;
  CHECK_OK(weir_engine_snapshot(e, &s));
  weir_decision_summary sum;
  CHECK_OK(weir_snapshot_decide_tcp(s, &c, 1, dec, &sum));
  CHECK_OK(weir_engine_record_tcp_open(e, dec));
  CHECK_OK(weir_engine_record_tcp_close(e, dec, 1234, 56));
  CHECK(sum.outcome == WEIR_OUTCOME_ROUTE);
  CHECK_OK(weir_snapshot_free(s));
  CHECK_OK(weir_source_free(gw));
  CHECK_RC(weir_engine_metrics(e, NULL, 0, &needed), WEIR_RESULT_BUFFER_TOO_SMALL);
  text = malloc(needed + 1);
  CHECK_OK(weir_engine_metrics(e, text, needed, &got));
  text[got] = '\0';
  CHECK(strstr(text, "# TYPE istio_tcp_sent_bytes_total counter\n") != NULL);
  CHECK(strstr(text, "\"} 1234\n") != NULL);
  free(text);

  CHECK_RC(weir_engine_metrics(NULL, NULL, 0, &needed), WEIR_RESULT_NULL_PARAMETER);
  CHECK_RC(weir_engine_metrics(e, NULL, 10, &needed), WEIR_RESULT_NULL_PARAMETER);
  CHECK_OK(weir_decision_free(dec));
  CHECK_OK(weir_engine_free(e));
}

static void test_request_id(void) {
  char a[WEIR_REQUEST_ID_LEN], b[WEIR_REQUEST_ID_LEN];
  CHECK_OK(weir_request_id(42, a));
  CHECK_OK(weir_request_id(42, b));
  CHECK(memcmp(a, b, WEIR_REQUEST_ID_LEN) == 0);
  CHECK(a[8] == '-' && a[13] == '-' && a[14] == '4' && a[18] == '-' && a[23] == '-');
  CHECK_OK(weir_request_id(43, b));
  CHECK(memcmp(a, b, WEIR_REQUEST_ID_LEN) != 0);
  CHECK_RC(weir_request_id(1, NULL), WEIR_RESULT_NULL_PARAMETER);
}

typedef struct {
  weir_rate_limiter *limiter;
  const weir_engine *engine;
  atomic_int admitted;
} limit_state;

static void *take_many(void *arg) {
  limit_state *st = arg;
  for (int i = 0; i < 5000; i++) {
    bool ok = false;
    if (weir_rate_limiter_take(st->limiter, st->engine, 1000, &ok) != WEIR_RESULT_OK) failures++;
    if (ok) st->admitted++;
  }
  return NULL;
}

static void test_rate_limiter(void) {
  weir_engine *e = NULL;
  CHECK_OK(weir_engine_new(&e));
  limit_state st = {NULL, e, 0};
  CHECK_RC(weir_rate_limiter_new(4, 4, 0, 0, &st.limiter), WEIR_RESULT_INVALID_ARGUMENT);
  CHECK_OK(weir_rate_limiter_new(500, 100, 60000, 0, &st.limiter));
  pthread_t threads[8];
  for (int i = 0; i < 8; i++) pthread_create(&threads[i], NULL, take_many, &st);
  for (int i = 0; i < 8; i++) pthread_join(threads[i], NULL);
  CHECK(st.admitted == 500);
  /* One interval later: exactly tokens_per_fill more. */
  int more = 0;
  for (int i = 0; i < 200; i++) {
    bool ok = false;
    CHECK_OK(weir_rate_limiter_take(st.limiter, NULL, 61000, &ok));
    more += ok;
  }
  CHECK(more == 100);
  size_t needed = 0;
  CHECK_RC(weir_engine_metrics(e, NULL, 0, &needed), WEIR_RESULT_BUFFER_TOO_SMALL);
  char *text = malloc(needed + 1);
  size_t got = 0;
  CHECK_OK(weir_engine_metrics(e, text, needed, &got));
  text[got] = '\0';
  CHECK(sample(text, "weir_rate_limited_total") == 8 * 5000 - 500);
  free(text);
  CHECK_OK(weir_rate_limiter_free(st.limiter));
  CHECK_OK(weir_rate_limiter_free(NULL));
  CHECK_OK(weir_engine_free(e));
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: telemetry <configs dir>\n");
    return 2;
  }
  test_metrics(argv[1]);
  test_request_id();
  test_rate_limiter();
  if (failures) {
    fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  printf("telemetry: ok\n");
  return 0;
}
