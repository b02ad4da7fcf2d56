/* Replays ffi/tests/vectors/decisions.txt through the C ABI and renders each
 * decision as the canonical want.* lines, twice: through the accessors
 * (weir_decision_cluster, ...) and through the flat view
 * (weir_decision_fill_view); both must equal the core's.
 * Usage: vectors <examples/configs dir> <decisions.txt> */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>

#include "common.h"

#define MAX_PAIRS 32

static const char *OUTCOMES[] = {"route",    "redirect",   "direct_response",     "fault_abort",
                                 "no_route", "no_cluster", "no_healthy_upstream", "overflow"};

typedef struct {
  char *buf;
  size_t len, cap;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (b->len + (size_t)n + 1 > b->cap) {
    b->cap = (b->len + (size_t)n + 1) * 2;
    b->buf = realloc(b->buf, b->cap);
  }
  va_start(ap, fmt);
  vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

static void put_str(sbuf *b, const char *key, weir_str s) { put(b, "want.%s\t%.*s\n", key, (int)s.len, s.ptr); }

static void put_edits(sbuf *b, const char *side, const weir_header_edits *e) {
  for (size_t i = 0; i < e->set_len; i++)
    put(b, "want.%s_set\t%.*s\t%.*s\n", side, (int)e->set[i].name_len, e->set[i].name, (int)e->set[i].value_len,
        e->set[i].value);
  for (size_t i = 0; i < e->add_len; i++)
    put(b, "want.%s_add\t%.*s\t%.*s\n", side, (int)e->add[i].name_len, e->add[i].name, (int)e->add[i].value_len,
        e->add[i].value);
  for (size_t i = 0; i < e->remove_len; i++)
    put(b, "want.%s_remove\t%.*s\n", side, (int)e->remove[i].len, e->remove[i].ptr);
}

/* A string accessor's answer as a weir_str. */
#define GET_STR(fn, d, out)                          \
  do {                                               \
    const char *p_ = NULL;                           \
    size_t n_ = 0;                                   \
    CHECK_OK(fn(d, &p_, &n_));                       \
    CHECK(p_ != NULL);                               \
    (out).ptr = p_;                                  \
    (out).len = n_;                                  \
  } while (0)

/* The decision read through the accessors; same lines as render_view. */
static void render_accessors(sbuf *b, weir_decision *d) {
  weir_decision_summary s;
  weir_route_info r;
  weir_destination_info t;
  weir_route_policy p;
  weir_str cluster, endpoint, path, authority, location, cookie;
  CHECK_OK(weir_decision_get_summary(d, &s));
  CHECK_OK(weir_decision_route_info(d, &r));
  CHECK_OK(weir_decision_destination_info(d, &t));
  CHECK_OK(weir_decision_policy(d, &p));
  GET_STR(weir_decision_cluster, d, cluster);
  GET_STR(weir_decision_endpoint, d, endpoint);
  GET_STR(weir_decision_upstream_path, d, path);
  GET_STR(weir_decision_upstream_authority, d, authority);
  GET_STR(weir_decision_location, d, location);
  GET_STR(weir_decision_set_cookie, d, cookie);
  CHECK(str_eq(cluster, "") || (cluster.len == t.cluster.len && cluster.ptr == t.cluster.ptr));
  CHECK(endpoint.len == t.endpoint.len && (endpoint.len == 0 || endpoint.ptr == t.endpoint.ptr));
  /* A second read gives the same (already rendered) string. */
  weir_str again;
  GET_STR(weir_decision_upstream_path, d, again);
  CHECK(again.ptr == path.ptr && again.len == path.len);
  const uint8_t *body = NULL;
  size_t body_len = 0;
  CHECK_OK(weir_decision_body(d, &body, &body_len));
  const weir_mirror *mirrors = NULL;
  size_t nmirrors = 0;
  CHECK_OK(weir_decision_mirrors(d, &mirrors, &nmirrors));
  weir_header_edits req, resp;
  CHECK_OK(weir_decision_request_headers(d, &req));
  CHECK_OK(weir_decision_response_headers(d, &resp));

  put(b, "want.outcome\t%s\n", OUTCOMES[s.outcome]);
  put(b, "want.status\t%u\n", (unsigned)s.status);
  if (s.has_grpc_status) put(b, "want.grpc_status\t%u\n", (unsigned)s.grpc_status);
  else put(b, "want.grpc_status\t\n");
  if (r.has_route) {
    put(b, "want.route\t%.*s/%.*s/", (int)r.route_namespace.len, r.route_namespace.ptr,
        (int)r.route_virtual_service.len, r.route_virtual_service.ptr);
    if (r.has_rule_index) put(b, "%zu\n", r.rule_index);
    else put(b, "-\n");
  } else {
    put(b, "want.route\t\n");
  }
  put_str(b, "route_name", r.route_name);
  if (r.has_destination) put(b, "want.destination_index\t%zu\n", r.destination_index);
  else put(b, "want.destination_index\t\n");
  put_str(b, "cluster", cluster);
  put_str(b, "endpoint", endpoint);
  if (p.has_delay) put(b, "want.delay_ns\t%" PRIu64 "\n", p.delay_ns);
  else put(b, "want.delay_ns\t\n");
  if (p.has_timeout) put(b, "want.timeout_ns\t%" PRIu64 "\n", p.timeout_ns);
  else put(b, "want.timeout_ns\t\n");
  if (p.has_retries) put(b, "want.retry_attempts\t%u\n", (unsigned)p.retry_attempts);
  else put(b, "want.retry_attempts\t\n");
  put_str(b, "retry_on", p.retry_on);
  put_str(b, "upstream_path", path);
  put_str(b, "upstream_authority", authority);
  put_str(b, "location", location);
  put(b, "want.body\t%.*s\n", (int)body_len, (const char *)body);
  put_str(b, "set_cookie", cookie);
  for (size_t i = 0; i < nmirrors; i++) put_str(b, "mirror", mirrors[i].cluster);
  put_edits(b, "req", &req);
  put_edits(b, "resp", &resp);
}

/* Every pointer the view hands out is a real address, or NULL for an empty
   array: a small dangling value (Rust's pointer for an empty slice) would
   abort Go's stack copier when a binding holds it in a pointer variable. */
static int real_ptr(const void *p) { return (uintptr_t)p >= 4096; }
static int real_str(weir_str s) { return real_ptr(s.ptr); }
static int real_array(const void *p, size_t len) { return len == 0 ? p == NULL : real_ptr(p); }

static int real_headers(const weir_header *h, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!real_ptr(h[i].name) || !real_ptr(h[i].value)) return 0;
  return 1;
}

static int real_strs(const weir_str *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!real_str(s[i])) return 0;
  return 1;
}

static void check_view_pointers(const weir_decision_view *v) {
  CHECK(real_str(v->route_namespace) && real_str(v->route_virtual_service) && real_str(v->route_name));
  CHECK(real_str(v->cluster) && real_str(v->destination_host) && real_str(v->destination_subset));
  CHECK(real_str(v->endpoint) && real_str(v->retry_on) && real_str(v->upstream_path));
  CHECK(real_str(v->upstream_authority) && real_str(v->location) && real_str(v->set_cookie));
  CHECK(real_ptr(v->body.ptr));
  CHECK(real_array(v->retriable_status_codes, v->retriable_status_codes_len));
  CHECK(real_array(v->mirrors, v->mirrors_len));
  CHECK(real_array(v->request_headers_set, v->request_headers_set_len));
  CHECK(real_array(v->request_headers_add, v->request_headers_add_len));
  CHECK(real_array(v->request_headers_remove, v->request_headers_remove_len));
  CHECK(real_array(v->response_headers_set, v->response_headers_set_len));
  CHECK(real_array(v->response_headers_add, v->response_headers_add_len));
  CHECK(real_array(v->response_headers_remove, v->response_headers_remove_len));
  CHECK(real_headers(v->request_headers_set, v->request_headers_set_len));
  CHECK(real_headers(v->request_headers_add, v->request_headers_add_len));
  CHECK(real_strs(v->request_headers_remove, v->request_headers_remove_len));
  CHECK(real_headers(v->response_headers_set, v->response_headers_set_len));
  CHECK(real_headers(v->response_headers_add, v->response_headers_add_len));
  CHECK(real_strs(v->response_headers_remove, v->response_headers_remove_len));
  for (size_t i = 0; i < v->mirrors_len; i++) CHECK(real_str(v->mirrors[i].cluster) && real_str(v->mirrors[i].host));
}

/* Same order and forms as render() in ffi/tests/vectors.rs. */
static void render_view(sbuf *b, const weir_decision_view *v) {
  check_view_pointers(v);
  put(b, "want.outcome\t%s\n", OUTCOMES[v->outcome]);
  put(b, "want.status\t%u\n", (unsigned)v->status);
  if (v->has_grpc_status) put(b, "want.grpc_status\t%u\n", (unsigned)v->grpc_status);
  else put(b, "want.grpc_status\t\n");
  if (v->has_route) {
    put(b, "want.route\t%.*s/%.*s/", (int)v->route_namespace.len, v->route_namespace.ptr,
        (int)v->route_virtual_service.len, v->route_virtual_service.ptr);
    if (v->has_rule_index) put(b, "%zu\n", v->rule_index);
    else put(b, "-\n");
  } else {
    put(b, "want.route\t\n");
  }
  put_str(b, "route_name", v->route_name);
  if (v->has_destination) put(b, "want.destination_index\t%zu\n", v->destination_index);
  else put(b, "want.destination_index\t\n");
  put_str(b, "cluster", v->cluster);
  put_str(b, "endpoint", v->endpoint);
  if (v->has_delay) put(b, "want.delay_ns\t%" PRIu64 "\n", v->delay_ns);
  else put(b, "want.delay_ns\t\n");
  if (v->has_timeout) put(b, "want.timeout_ns\t%" PRIu64 "\n", v->timeout_ns);
  else put(b, "want.timeout_ns\t\n");
  if (v->has_retries) put(b, "want.retry_attempts\t%u\n", (unsigned)v->retry_attempts);
  else put(b, "want.retry_attempts\t\n");
  put_str(b, "retry_on", v->retry_on);
  put_str(b, "upstream_path", v->upstream_path);
  put_str(b, "upstream_authority", v->upstream_authority);
  put_str(b, "location", v->location);
  put(b, "want.body\t%.*s\n", (int)v->body.len, (const char *)v->body.ptr);
  put_str(b, "set_cookie", v->set_cookie);
  for (size_t i = 0; i < v->mirrors_len; i++) put_str(b, "mirror", v->mirrors[i].cluster);
  const char *side[2] = {"req", "resp"};
  const weir_header *sets[2] = {v->request_headers_set, v->response_headers_set};
  const weir_header *adds[2] = {v->request_headers_add, v->response_headers_add};
  const weir_str *removes[2] = {v->request_headers_remove, v->response_headers_remove};
  size_t nset[2] = {v->request_headers_set_len, v->response_headers_set_len};
  size_t nadd[2] = {v->request_headers_add_len, v->response_headers_add_len};
  size_t nrem[2] = {v->request_headers_remove_len, v->response_headers_remove_len};
  for (int s = 0; s < 2; s++) {
    for (size_t i = 0; i < nset[s]; i++)
      put(b, "want.%s_set\t%.*s\t%.*s\n", side[s], (int)sets[s][i].name_len, sets[s][i].name,
          (int)sets[s][i].value_len, sets[s][i].value);
    for (size_t i = 0; i < nadd[s]; i++)
      put(b, "want.%s_add\t%.*s\t%.*s\n", side[s], (int)adds[s][i].name_len, adds[s][i].name,
          (int)adds[s][i].value_len, adds[s][i].value);
    for (size_t i = 0; i < nrem[s]; i++)
      put(b, "want.%s_remove\t%.*s\n", side[s], (int)removes[s][i].len, removes[s][i].ptr);
  }
}

typedef struct {
  const char *k[24];
  const char *v[24];
  int n;
  weir_header headers[MAX_PAIRS], labels[MAX_PAIRS];
  size_t nheaders, nlabels;
  uint64_t entropy;
  int tcp;
} kase;

static const char *get(const kase *c, const char *key) {
  for (int i = 0; i < c->n; i++)
    if (strcmp(c->k[i], key) == 0) return c->v[i];
  return "";
}

#define SET(field, key)                 \
  do {                                  \
    const char *s_ = get(&c, key);      \
    field = s_;                         \
    field##_len = strlen(s_);           \
  } while (0)

/* The vector's address text, parsed as a proxy would once per connection. */
#define ADDRESS(field, key)                                        \
  do {                                                             \
    const char *s_ = get(&c, key);                                 \
    CHECK_OK(weir_address_parse(s_, strlen(s_), &(field)));        \
  } while (0)

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s CONFIGS_DIR VECTORS\n", argv[0]);
    return 2;
  }
  size_t len = 0;
  char *text = read_file(argv[2], &len);
  if (!text) {
    fprintf(stderr, "cannot read %s\n", argv[2]);
    return 2;
  }
  weir_engine *engine = NULL;
  weir_decision *dec = NULL;
  CHECK_OK(weir_decision_new(&dec));
  char current[256] = "";
  kase c;
  memset(&c, 0, sizeof c);
  sbuf want = {0}, got = {0};
  int cases = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#') continue;
    if (strncmp(line, "want.", 5) == 0) {
      put(&want, "%s\n", line);
      continue;
    }
    if (strcmp(line, "end") == 0) {
      const char *config = get(&c, "config");
      if (!engine || strcmp(current, config) != 0) {
        weir_engine_free(engine);
        CHECK_OK(weir_engine_new(&engine));
        CHECK_OK(apply_file(engine, argv[1], config, NULL));
        snprintf(current, sizeof current, "%s", config);
      }
      const weir_snapshot *s = NULL;
      CHECK_OK(weir_engine_snapshot(engine, &s));
      weir_decision_view v;
      weir_decision_summary sum;
      c.tcp = strcmp(get(&c, "kind"), "tcp") == 0;
      /* The vector's gateway, namespace, labels and local address: a source
         made for this case (a proxy makes one per listener). */
      const char *gateway = get(&c, "gateway"), *ns = get(&c, "namespace");
      weir_source *src = NULL;
      weir_address local_address;
      ADDRESS(local_address, "local");
      CHECK_OK(weir_source_new(gateway, strlen(gateway), ns, strlen(ns), c.labels, c.nlabels, &local_address,
                               &src));
      weir_result rc;
      if (c.tcp) {
        weir_connection conn;
        memset(&conn, 0, sizeof conn);
        ADDRESS(conn.destination, "destination");
        SET(conn.sni, "sni");
        SET(conn.host, "host");
        ADDRESS(conn.remote, "remote");
        conn.port = (uint16_t)atoi(get(&c, "port"));
        conn.source = src;
        rc = weir_snapshot_decide_tcp(s, &conn, c.entropy, dec, &sum);
      } else {
        weir_request r;
        memset(&r, 0, sizeof r);
        SET(r.authority, "authority");
        SET(r.method, "method");
        SET(r.path, "path");
        SET(r.scheme, "scheme");
        ADDRESS(r.remote, "remote");
        r.port = (uint16_t)atoi(get(&c, "port"));
        r.headers = c.headers;
        r.headers_len = c.nheaders;
        r.source = src;
        rc = weir_snapshot_decide(s, &r, c.entropy, dec, &sum);
      }
      CHECK_OK(weir_source_free(src));
      CHECK_OK(rc);
      for (int way = 0; way < 2 && rc == WEIR_RESULT_OK; way++) {
        got.len = 0;
        if (way == 0) {
          render_accessors(&got, dec);
        } else {
          CHECK_OK(weir_decision_fill_view(dec, &v));
          CHECK(v.outcome == sum.outcome && v.status == sum.status);
          /* The summary's cluster and endpoint are the view's, same bytes. */
          CHECK(strs_eq(sum.cluster, v.cluster));
          CHECK(strs_eq(sum.endpoint, v.endpoint));
          render_view(&got, &v);
        }
        if (got.len != want.len || memcmp(got.buf, want.buf, want.len) != 0) {
          fprintf(stderr, "vector %d (%s) differs (%s).\n--- want\n%.*s--- got\n%.*s", cases, config,
                  way == 0 ? "accessors" : "view", (int)want.len, want.buf, (int)got.len, got.buf);
          failures++;
        }
      }
      CHECK_OK(weir_snapshot_free(s));
      cases++;
      memset(&c, 0, sizeof c);
      want.len = 0;
      continue;
    }
    /* key \t value [\t value2] */
    char *tab = strchr(line, '\t');
    if (!tab) {
      fprintf(stderr, "bad line: %s\n", line);
      return 2;
    }
    *tab = '\0';
    char *val = tab + 1;
    if (strcmp(line, "header") == 0 || strcmp(line, "label") == 0) {
      char *tab2 = strchr(val, '\t');
      if (!tab2) return 2;
      *tab2 = '\0';
      weir_header h = {val, strlen(val), tab2 + 1, strlen(tab2 + 1)};
      if (line[0] == 'h' && c.nheaders < MAX_PAIRS) c.headers[c.nheaders++] = h;
      if (line[0] == 'l' && c.nlabels < MAX_PAIRS) c.labels[c.nlabels++] = h;
    } else if (strcmp(line, "entropy") == 0) {
      c.entropy = strtoull(val, NULL, 10);
    } else if (c.n < 24) {
      c.k[c.n] = line;
      c.v[c.n] = val;
      c.n++;
    }
  }
  weir_engine_free(engine);
  weir_decision_free(dec);
  free(want.buf);
  free(got.buf);
  free(text);
  CHECK(cases >= 50);
  if (failures) {
    fprintf(stderr, "vectors: %d failure(s)\n", atomic_load(&failures));
    return 1;
  }
  printf("vectors: ok (%d cases)\n", cases);
  return 0;
}
