/* Helpers shared by the C tests (ffi/tests/c). */
#ifndef WEIR_TEST_COMMON_H
#define WEIR_TEST_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#include "weir.h"

static atomic_int failures = 0;

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
      failures++;                                                                \
    }                                                                            \
  } while (0)

#define CHECK_RC(call, want)                                                     \
  do {                                                                           \
    weir_result rc_ = (call);                                                    \
    if (rc_ != (want)) {                                                         \
      char msg_[128];                                                            \
      size_t n_ = 0;                                                             \
      weir_error_message(rc_, msg_, sizeof msg_, &n_);                           \
      fprintf(stderr, "%s:%d: %s returned %u (%.*s), want %u\n", __FILE__,       \
              __LINE__, #call, (unsigned)rc_, (int)n_, msg_, (unsigned)(want));  \
      failures++;                                                                \
    }                                                                            \
  } while (0)

#define CHECK_OK(call) CHECK_RC(call, WEIR_RESULT_OK)

/* True when a weir_str equals a C string. */
static inline int str_eq(weir_str s, const char *want) {
  size_t n = strlen(want);
  return s.len == n && memcmp(s.ptr, want, n) == 0;
}

/* True when two borrowed strings hold the same bytes. */
static inline int strs_eq(weir_str a, weir_str b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Reads a whole file; NULL on error. *len_out gets its length. */
static inline char *read_file(const char *path, size_t *len_out) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (!buf) {
    fclose(f);
    return NULL;
  }
  size_t got = fread(buf, 1, (size_t)n, f);
  fclose(f);
  buf[got] = '\0';
  *len_out = got;
  return buf;
}

/* Applies configs_dir/name to engine; returns the weir_result. */
static inline weir_result apply_file(const weir_engine *engine, const char *dir, const char *name,
                                     weir_diagnostics *diags) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t len = 0;
  char *text = read_file(path, &len);
  if (!text) {
    fprintf(stderr, "cannot read %s\n", path);
    failures++;
    return WEIR_RESULT_INVALID_ARGUMENT;
  }
  weir_result rc = weir_engine_apply(engine, name, strlen(name), text, len, diags);
  free(text);
  return rc;
}

/* A request with the common fields set from C strings. */
static inline weir_request make_request(const char *authority, const char *method, const char *path) {
  weir_request r;
  memset(&r, 0, sizeof r);
  r.authority = authority;
  r.authority_len = strlen(authority);
  r.method = method;
  r.method_len = strlen(method);
  r.path = path;
  r.path_len = strlen(path);
  r.scheme = "http";
  r.scheme_len = 4;
  return r;
}

/* Decides and reads everything through weir_decision_fill_view; the view
 * must agree with the summary the decide call wrote. */
static inline weir_result decide_view(const weir_snapshot *s, const weir_request *r, uint64_t entropy,
                                      weir_decision *d, weir_decision_view *v) {
  weir_decision_summary sum;
  weir_result rc = weir_snapshot_decide(s, r, entropy, d, &sum);
  if (rc != WEIR_RESULT_OK) return rc;
  rc = weir_decision_fill_view(d, v);
  if (rc == WEIR_RESULT_OK && (v->outcome != sum.outcome || v->status != sum.status)) {
    fprintf(stderr, "view and summary disagree\n");
    failures++;
  }
  return rc;
}

/* As decide_view, for a connection. */
static inline weir_result decide_tcp_view(const weir_snapshot *s, const weir_connection *c, uint64_t entropy,
                                          weir_decision *d, weir_decision_view *v) {
  weir_decision_summary sum;
  weir_result rc = weir_snapshot_decide_tcp(s, c, entropy, d, &sum);
  if (rc != WEIR_RESULT_OK) return rc;
  rc = weir_decision_fill_view(d, v);
  if (rc == WEIR_RESULT_OK && v->outcome != sum.outcome) {
    fprintf(stderr, "view and summary disagree\n");
    failures++;
  }
  return rc;
}

#endif
