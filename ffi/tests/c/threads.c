/* Several threads decide while one thread applies configs (good and bad).
 * Usage: threads <examples/configs dir> */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "common.h"

#define STAFF "fleetman-staff-service.default.svc.cluster.local"
#define DECIDERS 4

static weir_engine *engine;
static atomic_int stop;
static atomic_long decided;

static void *decider(void *arg) {
  uintptr_t id = (uintptr_t)arg;
  weir_decision *dec = NULL;
  CHECK_OK(weir_decision_new(&dec));
  weir_request r = make_request(STAFF, "GET", "/api");
  weir_header hdr = {"x-myval", 7, "thread", 6};
  r.headers = &hdr;
  r.headers_len = 1;
  uint64_t entropy = id * 1000003u;
  long n = 0;
  while (!atomic_load(&stop) || n < 1000) {
    const weir_snapshot *s = NULL;
    CHECK_OK(weir_engine_snapshot(engine, &s));
    weir_decision_summary sum;
    CHECK_OK(weir_snapshot_decide(s, &r, entropy++, dec, &sum));
    /* Canary or sticky: routed to a staff pod; myapp: no route for this host. */
    if (sum.outcome == WEIR_OUTCOME_ROUTE) {
      const char *p = NULL;
      size_t len = 0;
      CHECK_OK(weir_decision_endpoint(dec, &p, &len));
      CHECK(len >= 14 && memcmp(p, "10.1.0.", 7) == 0);
      CHECK_OK(weir_decision_cluster(dec, &p, &len));
      CHECK(len > 0 && memcmp(p, "outbound|8080|", 14) == 0);
      CHECK_OK(weir_decision_upstream_path(dec, &p, &len));
      CHECK(len == 4 && memcmp(p, "/api", 4) == 0);
    } else {
      CHECK(sum.outcome == WEIR_OUTCOME_NO_ROUTE && sum.status == 404);
    }
    CHECK_OK(weir_snapshot_free(s));
    n++;
  }
  atomic_fetch_add(&decided, n);
  CHECK_OK(weir_decision_free(dec));
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CONFIGS_DIR\n", argv[0]);
    return 2;
  }
  CHECK_OK(weir_engine_new(&engine));
  CHECK_OK(apply_file(engine, argv[1], "fleetman-canary.yaml", NULL));
  pthread_t threads[DECIDERS];
  for (uintptr_t i = 0; i < DECIDERS; i++) pthread_create(&threads[i], NULL, decider, (void *)i);
  const char *cycle[] = {"fleetman-sticky.yaml", "invalid/bad-regex.yaml", "myapp-ab.yaml", "fleetman-canary.yaml"};
  weir_diagnostics *d = NULL;
  CHECK_OK(weir_diagnostics_new(&d));
  for (int round = 0; round < 40; round++) {
    const char *name = cycle[round % 4];
    weir_result rc = apply_file(engine, argv[1], name, d);
    CHECK(rc == (round % 4 == 1 ? WEIR_RESULT_CONFIG_REJECTED : WEIR_RESULT_OK));
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < DECIDERS; i++) pthread_join(threads[i], NULL);
  CHECK_OK(weir_diagnostics_free(d));
  CHECK_OK(weir_engine_free(engine));
  if (failures) {
    fprintf(stderr, "threads: %d failure(s)\n", atomic_load(&failures));
    return 1;
  }
  printf("threads: ok (%ld decisions during 40 applies)\n", atomic_load(&decided));
  return 0;
}
