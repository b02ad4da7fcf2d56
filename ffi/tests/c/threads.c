/* Several threads decide while one thread applies configs (good and bad).
 * Usage: threads <shared/configs dir> */
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
    weir_decision_view v;
    CHECK_OK(weir_snapshot_decide(s, &r, entropy++, dec, &v));
    /* Canary or sticky: routed to a staff pod; myapp: no route for this host. */
    if (v.outcome == WEIR_OUTCOME_ROUTE) {
      CHECK(v.endpoint.len >= 14 && memcmp(v.endpoint.ptr, "10.1.0.", 7) == 0);
      CHECK(v.cluster.len > 0 && memcmp(v.cluster.ptr, "outbound|8080|", 14) == 0);
    } else {
      CHECK(v.outcome == WEIR_OUTCOME_NO_ROUTE && v.status == 404);
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
