package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	weir "github.com/weir-mesh/weir/go"
)

const config = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: services, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local, shadow.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local]
  http:
  - name: abort
    match: [{uri: {prefix: /abort}}]
    fault: {abort: {percentage: {value: 100}, httpStatus: 418}}
    route: [{destination: {host: web.default.svc.cluster.local}}]
  - name: delay
    match: [{uri: {prefix: /delay}}]
    fault: {delay: {percentage: {value: 100}, fixedDelay: 200ms}}
    route: [{destination: {host: web.default.svc.cluster.local}}]
  - name: redirect
    match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, authority: example.org}
  - name: direct
    match: [{uri: {exact: /direct}}]
    directResponse: {status: 201, body: {string: "hello from weir"}}
  - name: rewrite
    match: [{uri: {prefix: /v1/}}]
    rewrite: {uri: /api/}
    headers:
      request: {set: {x-weir: "yes"}, remove: [x-drop]}
      response: {add: {x-resp: "r"}}
    route: [{destination: {host: web.default.svc.cluster.local}}]
  - name: timeout
    match: [{uri: {prefix: /slow}}]
    timeout: 100ms
    retries: {attempts: 0}
    route: [{destination: {host: web.default.svc.cluster.local}}]
  - name: retry
    match: [{uri: {prefix: /flaky}}]
    retries: {attempts: 3, retryOn: 5xx}
    route: [{destination: {host: web.default.svc.cluster.local}}]
  - name: mirror
    match: [{uri: {prefix: /mirror}}]
    mirror: {host: shadow.default.svc.cluster.local}
    mirrorPercentage: {value: 100}
    route: [{destination: {host: web.default.svc.cluster.local}}]
  - name: default
    route: [{destination: {host: web.default.svc.cluster.local}}]
`

type upstream struct {
	srv     *httptest.Server
	mu      sync.Mutex
	seen    []*http.Request
	flaky   int32
	gotHost chan string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{gotHost: make(chan string, 16)}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Clone(r.Context()))
		u.mu.Unlock()
		select {
		case u.gotHost <- r.Host:
		default:
		}
		switch {
		case strings.HasPrefix(r.URL.Path, "/slow"):
			time.Sleep(500 * time.Millisecond)
		case strings.HasPrefix(r.URL.Path, "/flaky"):
			if atomic.AddInt32(&u.flaky, 1) <= 2 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		w.Header().Set("x-upstream-path", r.URL.RequestURI())
		w.Header().Set("x-upstream-weir", r.Header.Get("x-weir"))
		w.Header().Set("x-upstream-drop", r.Header.Get("x-drop"))
		_, _ = io.WriteString(w, "upstream ok")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func endpointOf(t *testing.T, u *upstream) weir.Endpoint {
	host, port, err := net.SplitHostPort(u.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return weir.Endpoint{Address: host, Port: p}
}

func setup(t *testing.T) (*httptest.Server, *upstream, *upstream, *sync.WaitGroup) {
	engine, err := weir.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Close)
	if _, err := engine.Apply("proxy-test.yaml", []byte(config)); err != nil {
		t.Fatal(err)
	}
	web, shadow := newUpstream(t), newUpstream(t)
	if err := engine.SetEndpoints("web.default.svc.cluster.local", []weir.Endpoint{endpointOf(t, web)}); err != nil {
		t.Fatal(err)
	}
	if err := engine.SetEndpoints("shadow.default.svc.cluster.local", []weir.Endpoint{endpointOf(t, shadow)}); err != nil {
		t.Fatal(err)
	}
	wg := &sync.WaitGroup{}
	p := &Proxy{Engine: engine, Namespace: "default", MirrorWG: wg}
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	return front, web, shadow, wg
}

func get(t *testing.T, front *httptest.Server, path string, header map[string]string) (*http.Response, string) {
	req, _ := http.NewRequest("GET", front.URL+path, nil)
	req.Host = "web.default.svc.cluster.local"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestProxyCarriesOutDecisions(t *testing.T) {
	front, web, shadow, wg := setup(t)

	resp, body := get(t, front, "/plain?q=1", nil)
	if resp.StatusCode != 200 || body != "upstream ok" || resp.Header.Get("x-upstream-path") != "/plain?q=1" {
		t.Fatalf("plain: %d %q %v", resp.StatusCode, body, resp.Header)
	}

	resp, _ = get(t, front, "/abort", nil)
	if resp.StatusCode != 418 {
		t.Fatalf("abort: %d", resp.StatusCode)
	}

	start := time.Now()
	resp, _ = get(t, front, "/delay", nil)
	if resp.StatusCode != 200 || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("delay: %d after %v", resp.StatusCode, time.Since(start))
	}

	resp, _ = get(t, front, "/old/x?a=b", nil)
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "http://example.org/new?a=b" {
		t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	resp, body = get(t, front, "/direct", nil)
	if resp.StatusCode != 201 || body != "hello from weir" {
		t.Fatalf("direct: %d %q", resp.StatusCode, body)
	}

	resp, _ = get(t, front, "/v1/users?id=3", map[string]string{"x-drop": "secret"})
	if resp.StatusCode != 200 || resp.Header.Get("x-upstream-path") != "/api/users?id=3" ||
		resp.Header.Get("x-upstream-weir") != "yes" || resp.Header.Get("x-upstream-drop") != "" ||
		resp.Header.Get("x-resp") != "r" {
		t.Fatalf("rewrite/headers: %d %v", resp.StatusCode, resp.Header)
	}

	start = time.Now()
	resp, _ = get(t, front, "/slow", nil)
	if resp.StatusCode != 504 || time.Since(start) > 450*time.Millisecond {
		t.Fatalf("timeout: %d after %v", resp.StatusCode, time.Since(start))
	}

	resp, body = get(t, front, "/flaky", nil)
	if resp.StatusCode != 200 || body != "upstream ok" || atomic.LoadInt32(&web.flaky) != 3 {
		t.Fatalf("retries: %d %q after %d tries", resp.StatusCode, body, web.flaky)
	}

	resp, _ = get(t, front, "/mirror/m", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("mirror: %d", resp.StatusCode)
	}
	wg.Wait()
	shadow.mu.Lock()
	n := len(shadow.seen)
	var host, path string
	if n > 0 {
		host, path = shadow.seen[0].Host, shadow.seen[0].URL.Path
	}
	shadow.mu.Unlock()
	if n != 1 || host != "web.default.svc.cluster.local-shadow" || path != "/mirror/m" {
		t.Fatalf("mirror: %d copies, host %q path %q", n, host, path)
	}

	req, _ := http.NewRequest("GET", front.URL+"/", nil)
	req.Host = "unknown.example.com"
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 404 {
		t.Fatalf("no route: %d", r2.StatusCode)
	}
}

func TestProxyUnderConcurrentLoadAndReload(t *testing.T) {
	front, _, _, _ := setup(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				resp, body := get(t, front, "/plain", nil)
				if resp.StatusCode != 200 || body != "upstream ok" {
					t.Errorf("%d %q", resp.StatusCode, body)
					return
				}
			}
		}()
	}
	wg.Wait()
}
