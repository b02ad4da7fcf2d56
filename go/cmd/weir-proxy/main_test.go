package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is the proxy's log, read by the test while the proxy writes.
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

// upstream answers with its name.
func upstream(t *testing.T, name string) (host, port string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s x-via=%s", name, r.URL.Path, r.Header.Get("x-via"))
	}))
	t.Cleanup(srv.Close)
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// services is a ServiceEntry with one endpoint per version, at the
// upstreams, and subsets for them.
func services(host, portA, portB string) string {
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: %[1]s, ports: {http: %[2]s}, labels: {version: a}}
  - {address: %[1]s, ports: {http: %[3]s}, labels: {version: b}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: default}
spec:
  host: shop.default.svc.cluster.local
  subsets: [{name: a, labels: {version: a}}, {name: b, labels: {version: b}}]
`, host, portA, portB)
}

// routeTo sends everything to one subset, with a request header edit.
func routeTo(subset string) string {
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.default.svc.cluster.local]
  http:
  - headers: {request: {set: {x-via: weir}}}
    route: [{destination: {host: shop.default.svc.cluster.local, subset: %s}}]
`, subset)
}

const badVirtualService = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.default.svc.cluster.local]
  http:
  - route: [{destination: {host: shop.default.svc.cluster.local, subset: nope}}]
`

func write(t *testing.T, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fetch(t *testing.T, addr net.Addr) string {
	req, _ := http.NewRequest("GET", "http://"+addr.String()+"/items", nil)
	req.Host = "shop.default.svc.cluster.local"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, body)
}

// The command serves a directory of configs, forwards by them, reloads on
// request, refuses a bad reload with its diagnostics and keeps serving.
func TestServesReloadsAndRefusesBadConfig(t *testing.T) {
	host, portA := upstream(t, "a")
	_, portB := upstream(t, "b")
	dir := t.TempDir()
	write(t, filepath.Join(dir, "services.yaml"), services(host, portA, portB))
	write(t, filepath.Join(dir, "routes.yaml"), routeTo("a"))

	o, err := parseFlags([]string{"-config", dir, "-listen", "127.0.0.1:0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan struct{})
	ready := make(chan net.Addr, 1)
	log := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, reload, log, ready) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}

	if got := fetch(t, addr); got != "200 a /items x-via=weir" {
		t.Fatalf("before reload: %q", got)
	}

	write(t, filepath.Join(dir, "routes.yaml"), routeTo("b"))
	reload <- struct{}{}
	waitFor(t, log, "reloaded")
	if got := fetch(t, addr); got != "200 b /items x-via=weir" {
		t.Fatalf("after reload: %q", got)
	}

	write(t, filepath.Join(dir, "routes.yaml"), badVirtualService)
	reload <- struct{}{}
	waitFor(t, log, "reload refused")
	if !strings.Contains(log.String(), "VirtualService default/shop") || !strings.Contains(log.String(), "nope") {
		t.Fatalf("the refusal does not name the resource and subset:\n%s", log.String())
	}
	if got := fetch(t, addr); got != "200 b /items x-via=weir" {
		t.Fatalf("after a refused reload: %q", got)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func waitFor(t *testing.T, log *syncBuffer, text string) {
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q:\n%s", text, log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A config rejected at start stops the command with the diagnostics.
func TestRejectedConfigAtStartIsAnError(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "bad.yaml"), badVirtualService)
	o, err := parseFlags([]string{"-config", filepath.Join(dir, "bad.yaml"), "-listen", "127.0.0.1:0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), o, nil, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "VirtualService default/shop") {
		t.Fatalf("want a rejection naming VirtualService default/shop, got %v", err)
	}
}

func TestFlags(t *testing.T) {
	if _, err := parseFlags(nil, io.Discard); err == nil || !strings.Contains(err.Error(), "-config is required") {
		t.Fatalf("no -config: %v", err)
	}
	o, err := parseFlags([]string{"-config", "a.yaml", "-config", "b", "-gateway", "istio-system/gw", "-port", "443", "-dry-run"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.configs, " ") != "a.yaml b" || o.gateway != "istio-system/gw" || o.port != 443 || !o.dryRun {
		t.Fatalf("parsed %+v", o)
	}
}

// The README's command: the bundled canary with -dry-run answers with the
// decision, 90/10 over the two subsets.
func TestDryRunOnTheBundledCanary(t *testing.T) {
	o, err := parseFlags([]string{"-config", filepath.Join("..", "..", "..", "examples", "configs", "fleetman-canary.yaml"),
		"-listen", "127.0.0.1:0", "-dry-run"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, nil, io.Discard, ready) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	const n = 400
	safe, risky := 0, 0
	for i := 0; i < n; i++ {
		req, _ := http.NewRequest("GET", "http://"+addr.String()+"/", nil)
		req.Host = "fleetman-staff-service.default.svc.cluster.local:8080"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case strings.Contains(string(body), "cluster: outbound|8080|safe-group|fleetman-staff-service.default.svc.cluster.local\nendpoint: 10.1.0.1"):
			safe++
		case strings.Contains(string(body), "cluster: outbound|8080|risky-group|fleetman-staff-service.default.svc.cluster.local\nendpoint: 10.1.0.2"):
			risky++
		default:
			t.Fatalf("unexpected answer %d:\n%s", resp.StatusCode, body)
		}
	}
	// Random entropy: 10 % of 400 is 40, standard deviation 6; 5 sigma bounds.
	if risky < 10 || risky > 70 || safe+risky != n {
		t.Fatalf("safe %d, risky %d of %d", safe, risky, n)
	}
}

// -tcp-listen routes connections by tcp[] rules to the endpoint Weir picks.
func TestTCPListener(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, "echo-upstream\n")
			c.Close()
		}
	}()
	host, port, _ := net.SplitHostPort(up.Addr().String())
	dir := t.TempDir()
	write(t, filepath.Join(dir, "tcp.yaml"), fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: default}
spec:
  hosts: [db.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: %s, ports: {tcp: %s}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: default}
spec:
  hosts: [db.default.svc.cluster.local]
  tcp:
  - match: [{port: 5432}]
    route: [{destination: {host: db.default.svc.cluster.local}}]
`, host, port))
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpAddr := free.Addr().String()
	free.Close()
	o, err := parseFlags([]string{"-config", dir, "-listen", "127.0.0.1:0", "-tcp-listen", tcpAddr, "-tcp-port", "5432"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &syncBuffer{}
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, make(chan struct{}), log, ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	waitFor(t, log, "TCP listening")
	c, err := net.Dial("tcp", tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "echo-upstream\n" {
		t.Fatalf("got %q, %v\n%s", got, err, log.String())
	}
}
