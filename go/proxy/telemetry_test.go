package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	weir "github.com/weir-mesh/weir/go"
)

// A 90/10 canary of reviews between subsets v1 and v2.
const canaryConfig = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews.bookinfo.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews.bookinfo.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews.bookinfo.svc.cluster.local]
  http:
  - route:
    - {destination: {host: reviews.bookinfo.svc.cluster.local, subset: v1}, weight: 90}
    - {destination: {host: reviews.bookinfo.svc.cluster.local, subset: v2}, weight: 10}
`

// syncBuffer is an io.Writer tests read back while handlers write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type canary struct {
	front, metrics *httptest.Server
	v1, v2         *upstream
	proxy          *Proxy
	log            *syncBuffer
}

// setupCanary serves the canary with entropy 0, 1, 2… per request (so 100
// requests split exactly 90/10) and the metrics on their own server.
func setupCanary(t *testing.T) *canary {
	engine, err := weir.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Close)
	if _, err := engine.Apply("canary.yaml", []byte(canaryConfig)); err != nil {
		t.Fatal(err)
	}
	if err := engine.SetMetricsSource(weir.ReporterSource, weir.Workload{Name: "productpage-v1", Namespace: "bookinfo", App: "productpage", Version: "v1"}); err != nil {
		t.Fatal(err)
	}
	c := &canary{v1: newUpstream(t), v2: newUpstream(t), log: &syncBuffer{}}
	e1, e2 := endpointOf(t, c.v1), endpointOf(t, c.v2)
	e1.Labels = map[string]string{"version": "v1"}
	e2.Labels = map[string]string{"version": "v2"}
	if err := engine.SetEndpoints("reviews.bookinfo.svc.cluster.local", []weir.Endpoint{e1, e2}); err != nil {
		t.Fatal(err)
	}
	var n uint64
	c.proxy = &Proxy{Engine: engine, Namespace: "bookinfo", AccessLog: c.log,
		Entropy: func(*http.Request) uint64 { return atomic.AddUint64(&n, 1) - 1 }}
	c.front = httptest.NewServer(c.proxy)
	t.Cleanup(c.front.Close)
	c.metrics = httptest.NewServer(MetricsHandler(engine))
	t.Cleanup(c.metrics.Close)
	return c
}

func (c *canary) get(t *testing.T, header map[string]string) *http.Response {
	req, _ := http.NewRequest("GET", c.front.URL+"/reviews/1", nil)
	req.Host = "reviews.bookinfo.svc.cluster.local:9080"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (c *canary) scrape(t *testing.T) (string, string) {
	resp, err := http.Get(c.metrics.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.Header.Get("content-type")
}

func canaryLabels(version, code, flags string) string {
	return `reporter="source",source_workload="productpage-v1",source_workload_namespace="bookinfo",` +
		`source_app="productpage",source_version="v1",destination_service="reviews.bookinfo.svc.cluster.local",` +
		`destination_service_name="reviews",destination_service_namespace="bookinfo",destination_workload="unknown",` +
		`destination_workload_namespace="bookinfo",destination_app="unknown",destination_version="` + version + `",` +
		`request_protocol="http",response_code="` + code + `",response_flags="` + flags + `",grpc_response_status=""`
}

func TestCanaryMetricsRequestIDsAndAccessLog(t *testing.T) {
	c := setupCanary(t)
	for i := 0; i < 100; i++ {
		if resp := c.get(t, nil); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	c.get(t, map[string]string{"x-request-id": "kept-id"}) // entropy 100: v1
	text, ctype := c.scrape(t)
	if ctype != weir.MetricsContentType {
		t.Fatalf("content type %q", ctype)
	}
	for _, want := range []string{
		"istio_requests_total{" + canaryLabels("v1", "200", "-") + "} 91\n",
		"istio_requests_total{" + canaryLabels("v2", "200", "-") + "} 10\n",
		"istio_request_duration_milliseconds_count{" + canaryLabels("v2", "200", "-") + "} 10\n",
		"istio_response_bytes_bucket{" + canaryLabels("v2", "200", "-") + `,le="10"} 0` + "\n",
		"istio_response_bytes_bucket{" + canaryLabels("v2", "200", "-") + `,le="25"} 10` + "\n",
		"istio_response_bytes_sum{" + canaryLabels("v2", "200", "-") + "} 110\n",
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("metrics lack %q:\n%s", want, text)
		}
	}
	// Request ids: the decision's for requests without one, kept otherwise.
	seen := map[string]bool{}
	for _, u := range []*upstream{c.v1, c.v2} {
		u.mu.Lock()
		for _, r := range u.seen {
			seen[r.Header.Get("x-request-id")] = true
		}
		u.mu.Unlock()
	}
	for _, want := range []string{weir.RequestID(0), weir.RequestID(95), weir.RequestID(99), "kept-id"} {
		if !seen[want] {
			t.Fatalf("upstreams did not see x-request-id %q", want)
		}
	}
	if weir.RequestID(100) == "" || seen[weir.RequestID(100)] {
		t.Fatalf("the client's id was replaced")
	}
	// One access log line per request, in Envoy's default format.
	lines := strings.Split(strings.TrimSuffix(c.log.String(), "\n"), "\n")
	if len(lines) != 101 {
		t.Fatalf("%d access log lines", len(lines))
	}
	line := regexp.MustCompile(`^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET /reviews/1 HTTP/1\.1" 200 - 0 11 \d+ - "-" "Go-http-client/1\.1" "([0-9a-f-]{36}|kept-id)" "reviews\.bookinfo\.svc\.cluster\.local:9080" "127\.0\.0\.1:\d+" outbound\|9080\|v[12]\|reviews\.bookinfo\.svc\.cluster\.local bookinfo/reviews/0$`)
	for _, l := range lines {
		if !line.MatchString(l) {
			t.Fatalf("access log line %q", l)
		}
	}
	if !strings.Contains(lines[100], `"kept-id"`) || !strings.Contains(lines[0], `"`+weir.RequestID(0)+`"`) {
		t.Fatalf("request ids in the log: %q, %q", lines[0], lines[100])
	}
}

func TestAccessLogJSON(t *testing.T) {
	c := setupCanary(t)
	c.proxy.AccessLogJSON = true
	c.get(t, nil)
	want := `"response_code":"200","response_flags":"-","bytes_received":"0","bytes_sent":"11"`
	if l := c.log.String(); !strings.HasPrefix(l, `{"start_time":`) || !strings.Contains(l, want) ||
		!strings.Contains(l, `"upstream_cluster":"outbound|9080|v1|reviews.bookinfo.svc.cluster.local"`) {
		t.Fatalf("json line %q", l)
	}
}

func TestLocalRateLimit(t *testing.T) {
	c := setupCanary(t)
	limiter, err := weir.NewRateLimiter(3, 3, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c.proxy.RateLimiter = limiter
	codes := map[int]int{}
	for i := 0; i < 5; i++ {
		resp := c.get(t, nil)
		codes[resp.StatusCode]++
		if resp.StatusCode == 429 && resp.Header.Get("x-local-rate-limit") != "true" {
			t.Fatalf("429 without x-local-rate-limit: %v", resp.Header)
		}
	}
	if codes[200] != 3 || codes[429] != 2 {
		t.Fatalf("codes %v", codes)
	}
	text, _ := c.scrape(t)
	if !strings.Contains(text, "weir_rate_limited_total 2\n") ||
		!strings.Contains(text, `response_code="429",response_flags="RL",grpc_response_status=""} 2`+"\n") {
		t.Fatalf("rate limit metrics:\n%s", text)
	}
	if n := strings.Count(c.log.String(), `" 429 RL `); n != 2 {
		t.Fatalf("%d RL lines in\n%s", n, c.log.String())
	}
}

func TestConnectFailureIsUF(t *testing.T) {
	c := setupCanary(t)
	c.v1.srv.Close()
	c.v2.srv.Close()
	if resp := c.get(t, nil); resp.StatusCode != 503 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	text, _ := c.scrape(t)
	if !strings.Contains(text, "istio_requests_total{"+canaryLabels("v1", "503", "UF")+"} 1\n") {
		t.Fatalf("no UF series:\n%s", text)
	}
}
