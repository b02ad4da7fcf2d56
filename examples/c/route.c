/* weir-route: loads an Istio config and routes requests read from stdin.
 *
 *   ./weir-route CONFIG [GATEWAY] < requests
 *
 * Each input line is `METHOD URL [header: value]...`, e.g.
 *   GET http://reviews.shop.svc.cluster.local/reviews/1 end-user:jason
 * or a TCP (or, with an SNI, TLS) connection to a listener port:
 *   TCP 31400 [SNI]
 * GATEWAY (`namespace/name`) routes as that gateway's listener; without it,
 * as a sidecar in namespace `default`. One line of output per request. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir.h"

static const char *OUTCOMES[] = {"route",    "redirect",   "direct_response",     "fault_abort",
                                 "no_route", "no_cluster", "no_healthy_upstream", "overflow"};

static int fail(const char *what, weir_result rc) {
  char msg[256];
  size_t n = 0;
  weir_error_message(rc, msg, sizeof msg, &n);
  fprintf(stderr, "%s: %.*s\n", what, (int)n, msg);
  return 1;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  *len = fread(buf, 1, (size_t)n, f);
  fclose(f);
  return buf;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CONFIG [GATEWAY] < requests\n", argv[0]);
    return 2;
  }
  const char *gateway = argc > 2 ? argv[2] : "";
  size_t len = 0;
  char *text = slurp(argv[1], &len);
  if (!text) {
    perror(argv[1]);
    return 1;
  }
  weir_engine *engine = NULL;
  weir_diagnostics *diags = NULL;
  weir_decision *decision = NULL;
  weir_engine_new(&engine);
  weir_diagnostics_new(&diags);
  weir_decision_new(&decision);
  /* Who sends the requests: the gateway listener (or a sidecar) for clients
     in namespace "default". Made once, used by every request. */
  weir_source *source = NULL;
  weir_result rc = weir_source_new(gateway, strlen(gateway), "default", 7, NULL, 0, NULL, &source);
  if (rc != WEIR_RESULT_OK) return fail("source", rc);
  rc = weir_engine_apply(engine, argv[1], strlen(argv[1]), text, len, diags);
  free(text);
  size_t count = 0;
  weir_diagnostics_count(diags, &count);
  for (size_t i = 0; i < count; i++) {
    weir_diagnostic d;
    weir_diagnostics_get(diags, i, &d);
    fprintf(stderr, "%s %.*s %.*s %.*s/%.*s %.*s: %.*s\n", d.severity == WEIR_SEVERITY_ERROR ? "error" : "warning",
            (int)d.code.len, d.code.ptr, (int)d.resource_kind.len, d.resource_kind.ptr,
            (int)d.resource_namespace.len, d.resource_namespace.ptr, (int)d.resource_name.len,
            d.resource_name.ptr, (int)d.field.len, d.field.ptr, (int)d.message.len, d.message.ptr);
  }
  if (rc != WEIR_RESULT_OK) return fail("apply", rc);

  char line[8192];
  weir_decision_summary sum;
  uint64_t entropy = 0x9e3779b97f4a7c15u;
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\r\n")] = '\0';
    char *method = strtok(line, " ");
    char *url = strtok(NULL, " ");
    if (!method || !url) continue;
    if (strcmp(method, "TCP") == 0) {
      /* A connection: decided by tcp[] (or, with an SNI, tls[]) rules once,
         when it opens. Unknown addresses stay zero. */
      const char *sni = strtok(NULL, " ");
      weir_connection conn;
      memset(&conn, 0, sizeof conn);
      conn.port = (uint16_t)strtoul(url, NULL, 10);
      conn.sni = sni;
      conn.sni_len = sni ? strlen(sni) : 0;
      conn.source = source;
      entropy = entropy * 6364136223846793005u + 1442695040888963407u;
      const weir_snapshot *snap = NULL;
      weir_engine_snapshot(engine, &snap);
      rc = weir_snapshot_decide_tcp(snap, &conn, entropy >> 1, decision, &sum);
      weir_snapshot_free(snap);
      if (rc != WEIR_RESULT_OK) {
        fail("decide_tcp", rc);
        continue;
      }
      printf("%s", OUTCOMES[sum.outcome]);
      if (sum.cluster.len) printf(" cluster=%.*s", (int)sum.cluster.len, sum.cluster.ptr);
      if (sum.endpoint.len) printf(" endpoint=%.*s", (int)sum.endpoint.len, sum.endpoint.ptr);
      printf("\n");
      continue;
    }
    weir_header headers[32];
    size_t nheaders = 0;
    for (char *h = strtok(NULL, " "); h && nheaders < 32; h = strtok(NULL, " ")) {
      char *colon = strchr(h, ':');
      if (!colon) continue;
      headers[nheaders++] = (weir_header){h, (size_t)(colon - h), colon + 1, strlen(colon + 1)};
    }
    const char *scheme = "http";
    char *rest = url;
    char *sep = strstr(url, "://");
    if (sep) {
      *sep = '\0';
      scheme = url;
      rest = sep + 3;
    }
    char *slash = strchr(rest, '/');
    char path_root[] = "/";
    char *path = path_root;
    size_t authority_len = strlen(rest);
    if (slash) {
      authority_len = (size_t)(slash - rest);
      path = slash;
    }
    weir_request req;
    memset(&req, 0, sizeof req);
    req.authority = rest;
    req.authority_len = authority_len;
    req.method = method;
    req.method_len = strlen(method);
    req.path = path;
    req.path_len = strlen(path);
    req.scheme = scheme;
    req.scheme_len = strlen(scheme);
    req.source = source;
    req.headers = headers;
    req.headers_len = nheaders;

    const weir_snapshot *snap = NULL;
    weir_engine_snapshot(engine, &snap);
    entropy = entropy * 6364136223846793005u + 1442695040888963407u;
    rc = weir_snapshot_decide(snap, &req, entropy >> 1, decision, &sum);
    if (rc != WEIR_RESULT_OK) {
      weir_snapshot_free(snap);
      fail("decide", rc);
      continue;
    }
    /* Deciding stored the answer; read only the parts this tool prints. */
    printf("%s %u", OUTCOMES[sum.outcome], (unsigned)sum.status);
    if (sum.cluster.len) printf(" cluster=%.*s", (int)sum.cluster.len, sum.cluster.ptr);
    if (sum.endpoint.len) printf(" endpoint=%.*s", (int)sum.endpoint.len, sum.endpoint.ptr);
    const char *s = NULL;
    size_t n = 0;
    bool rewritten = false;
    weir_decision_path_rewritten(decision, &rewritten);
    if (rewritten) {
      weir_decision_upstream_path(decision, &s, &n);
      printf(" path=%.*s", (int)n, s);
    }
    if (sum.outcome == WEIR_OUTCOME_REDIRECT) {
      weir_decision_location(decision, &s, &n);
      printf(" location=%.*s", (int)n, s);
    }
    weir_route_policy pol;
    weir_decision_policy(decision, &pol);
    if (pol.has_delay) printf(" delay_ms=%" PRIu64, pol.delay_ns / 1000000);
    if (pol.has_timeout) printf(" timeout_ms=%" PRIu64, pol.timeout_ns / 1000000);
    const weir_mirror *mirrors = NULL;
    size_t nmirrors = 0;
    weir_decision_mirrors(decision, &mirrors, &nmirrors);
    for (size_t i = 0; i < nmirrors; i++) printf(" mirror=%.*s", (int)mirrors[i].cluster.len, mirrors[i].cluster.ptr);
    printf("\n");
    weir_snapshot_free(snap);
  }
  weir_source_free(source);
  weir_decision_free(decision);
  weir_diagnostics_free(diags);
  weir_engine_free(engine);
  return 0;
}
