package weir

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var configsDir = filepath.Join("..", "examples", "configs")

func mustEngine(t testing.TB, config string) *Engine {
	t.Helper()
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(configsDir, config))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Apply(config, text); err != nil {
		t.Fatal(err)
	}
	return e
}

// addrPort reads a vector's address ("" is unknown).
func addrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	if s == "" {
		return netip.AddrPort{}
	}
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// render must produce the same lines as render() in ffi/tests/vectors.rs.
func render(d *Decision) string {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "want.%s\t%s\n", k, v) }
	opt := func(ok bool, v string) string {
		if ok {
			return v
		}
		return ""
	}
	line("outcome", d.Outcome.String())
	line("status", strconv.Itoa(d.Status))
	g := ""
	if d.HasGRPCStatus {
		g = strconv.FormatUint(uint64(d.GRPCStatus), 10)
	}
	line("grpc_status", g)
	route := ""
	if d.Matched {
		idx := "-"
		if d.RuleIndex >= 0 {
			idx = strconv.Itoa(d.RuleIndex)
		}
		route = d.RouteNamespace + "/" + d.RouteVirtualService + "/" + idx
	}
	line("route", route)
	line("route_name", d.RouteName)
	line("destination_index", opt(d.DestinationIndex >= 0, strconv.Itoa(d.DestinationIndex)))
	line("cluster", d.Cluster)
	line("endpoint", d.Endpoint)
	line("delay_ns", opt(d.HasDelay, strconv.FormatInt(int64(d.Delay), 10)))
	line("timeout_ns", opt(d.HasTimeout, strconv.FormatInt(int64(d.Timeout), 10)))
	attempts, retryOn := "", ""
	if d.HasRetries {
		attempts, retryOn = strconv.Itoa(d.Retries.Attempts), d.Retries.RetryOn
	}
	line("retry_attempts", attempts)
	line("retry_on", retryOn)
	line("upstream_path", d.UpstreamPath)
	line("upstream_authority", d.UpstreamAuthority)
	line("location", d.Location)
	line("body", string(d.Body))
	line("set_cookie", d.SetCookie)
	for _, m := range d.Mirrors {
		line("mirror", m.Cluster)
	}
	for _, side := range []struct {
		name string
		ops  HeaderOps
	}{{"req", d.RequestHeaders}, {"resp", d.ResponseHeaders}} {
		for _, h := range side.ops.Set {
			line(side.name+"_set", h.Name+"\t"+h.Value)
		}
		for _, h := range side.ops.Add {
			line(side.name+"_add", h.Name+"\t"+h.Value)
		}
		for _, n := range side.ops.Remove {
			line(side.name+"_remove", n)
		}
	}
	return b.String()
}

// TestVectors replays ffi/tests/vectors/decisions.txt: Go must agree with the
// core (and with C) field for field.
func TestVectors(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "ffi", "tests", "vectors", "decisions.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		engine  *Engine
		current string
		kv      = map[string]string{}
		req     Request
		labels  []Header
		want    strings.Builder
		entropy uint64
		cases   int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "want.") {
			want.WriteString(line + "\n")
			continue
		}
		if line == "end" {
			if engine == nil || current != kv["config"] {
				if engine != nil {
					engine.Close()
				}
				engine = mustEngine(t, kv["config"])
				current = kv["config"]
			}
			port, _ := strconv.Atoi(kv["port"])
			// The case's gateway, namespace, labels and local address: a
			// source made for it (a proxy makes one per listener).
			src, err := NewSource(kv["gateway"], kv["namespace"], labels, addrPort(t, kv["local"]))
			if err != nil {
				t.Fatalf("vector %d: %v", cases, err)
			}
			snap := engine.Snapshot()
			var d Decision
			if kv["kind"] == "tcp" {
				d, err = snap.DecideTCP(&Connection{Destination: addrPort(t, kv["destination"]), Port: port, SNI: kv["sni"],
					Host: kv["host"], Remote: addrPort(t, kv["remote"]), Source: src}, entropy)
			} else {
				req.Authority, req.Method, req.Path, req.Scheme = kv["authority"], kv["method"], kv["path"], kv["scheme"]
				req.Port, req.Remote, req.Source = port, addrPort(t, kv["remote"]), src
				d, err = snap.Decide(&req, entropy)
			}
			snap.Close()
			src.Close()
			if err != nil {
				t.Fatalf("vector %d: %v", cases, err)
			}
			if got := render(&d); got != want.String() {
				t.Errorf("vector %d (%s) differs:\n--- want\n%s--- got\n%s", cases, current, want.String(), got)
			}
			cases++
			kv, req, labels, entropy = map[string]string{}, Request{}, nil, 0
			want.Reset()
			continue
		}
		parts := strings.Split(line, "\t")
		switch parts[0] {
		case "header":
			req.Headers = append(req.Headers, Header{parts[1], parts[2]})
		case "label":
			labels = append(labels, Header{parts[1], parts[2]})
		case "entropy":
			entropy, _ = strconv.ParseUint(parts[1], 10, 64)
		default:
			kv[parts[0]] = parts[1]
		}
	}
	if engine != nil {
		engine.Close()
	}
	if cases < 50 {
		t.Fatalf("only %d vectors", cases)
	}
}

func TestApplyRejectsWithDiagnostics(t *testing.T) {
	e := mustEngine(t, "fleetman-canary.yaml")
	defer e.Close()
	text, _ := os.ReadFile(filepath.Join(configsDir, "invalid", "bad-regex.yaml"))
	_, err := e.Apply("bad-regex.yaml", text)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError, got %v", err)
	}
	found := false
	for _, d := range ce.Diagnostics {
		if d.Field == "spec.http[0].match[0].uri.regex" && d.Severity == SeverityError && d.Name == "broken-regex" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no regex diagnostic in %v", ce)
	}
	// The old table keeps serving.
	d, err := e.Decide(&Request{Authority: "fleetman-staff-service.default.svc.cluster.local", Method: "GET", Path: "/"}, 95)
	if err != nil || d.Outcome != OutcomeRoute || d.Subset != "risky-group" {
		t.Fatalf("old table not serving: %+v %v", d, err)
	}
	if Version() == "" {
		t.Fatal("no version")
	}
	// Misuse surfaces as ResultError, not a crash.
	_, err = e.Decide(&Request{Authority: "x", Path: "\xff"}, 0)
	var re *ResultError
	if !errors.As(err, &re) || re.Code != 2 {
		t.Fatalf("want invalid UTF-8, got %v", err)
	}
}

func TestCompileBudget(t *testing.T) {
	e := mustEngine(t, "fleetman-canary.yaml")
	defer e.Close()
	text, err := os.ReadFile(filepath.Join(configsDir, "fleetman-canary.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetCompileBudget(1); err != nil {
		t.Fatal(err)
	}
	_, err = e.Apply("fleetman-canary.yaml", text)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError over a 1-byte budget, got %v", err)
	}
	found := false
	for _, d := range ce.Diagnostics {
		if d.Code == "WEIR0011" && d.Severity == SeverityError && strings.Contains(d.Message, "compile budget") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no WEIR0011 in %v", ce)
	}
	// The table applied before the budget keeps serving; a budget that fits applies.
	d, err := e.Decide(&Request{Authority: "fleetman-staff-service.default.svc.cluster.local", Method: "GET", Path: "/"}, 95)
	if err != nil || d.Outcome != OutcomeRoute {
		t.Fatalf("old table not serving: %+v %v", d, err)
	}
	if err := e.SetCompileBudget(64 << 20); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Apply("fleetman-canary.yaml", text); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentDecideAndApply(t *testing.T) {
	e := mustEngine(t, "fleetman-canary.yaml")
	defer e.Close()
	canary, _ := os.ReadFile(filepath.Join(configsDir, "fleetman-canary.yaml"))
	sticky, _ := os.ReadFile(filepath.Join(configsDir, "fleetman-sticky.yaml"))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := &Request{Authority: "fleetman-staff-service.default.svc.cluster.local", Method: "GET", Path: "/",
				Headers: []Header{{"x-myval", "v"}}}
			for i := uint64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d, err := e.Decide(r, i)
				if err != nil || d.Outcome != OutcomeRoute || !strings.HasPrefix(d.Endpoint, "10.1.0.") {
					t.Errorf("decision %+v %v", d, err)
					return
				}
			}
		}(g)
	}
	for i := 0; i < 20; i++ {
		cfg := canary
		if i%2 == 1 {
			cfg = sticky
		}
		if _, err := e.Apply("cfg", cfg); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

// The decider writes a request's headers and client address again only
// when they change: a Request reused with a changed header value, a header
// added or removed, or another address, is decided on what it now holds.
func TestRequestChangedBetweenDecisionsIsReadAgain(t *testing.T) {
	e := mustEngine(t, "reviews-faults.yaml")
	defer e.Close()
	src, err := NewSource("", "shop", nil, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r := &Request{Authority: "reviews", Method: "GET", Path: "/", Source: src, Headers: []Header{{"end-user", "jason"}}}
	jason, other := "outbound|9080|v2|reviews.shop.svc.cluster.local", "outbound|9080|v1|reviews.shop.svc.cluster.local"
	steps := []struct {
		change func()
		want   string
	}{
		{func() {}, jason},
		{func() {}, jason},
		{func() { r.Headers[0].Value = "jasun" }, other}, // same length
		{func() { r.Headers[0].Value = "bob" }, other},
		{func() { r.Headers[0].Value = string([]byte("jason")) }, jason}, // same bytes, another string
		{func() { r.Headers = r.Headers[:0] }, other},
		{func() { r.Headers = append(r.Headers, Header{"end-user", "jason"}) }, jason},
		{func() { r.Headers = []Header{{"x-other", "1"}, {"end-user", "jason"}} }, jason},
		{func() { r.Headers[1].Name = "end-usr" }, other},
	}
	var d Decision
	for i, s := range steps {
		s.change()
		if err := e.DecideInto(r, 1, &d); err != nil || d.Cluster != s.want {
			t.Fatalf("step %d (%v): %q, want %q (%v)", i, r.Headers, d.Cluster, s.want, err)
		}
	}
}

func TestClientAddressChangedBetweenDecisionsIsReadAgain(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Apply("ip-hash.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}, {address: 10.0.0.3}, {address: 10.0.0.4}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: default}
spec:
  host: web.example.com
  trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true}}}
`)); err != nil {
		t.Fatal(err)
	}
	r := &Request{Authority: "web.example.com", Method: "GET", Path: "/"}
	a, b := netip.MustParseAddrPort("10.9.0.1:1000"), netip.MustParseAddrPort("[fd00::7]:2000")
	hashes := map[netip.Addr]uint64{}
	var d Decision
	for i, remote := range []netip.AddrPort{a, a, b, a, b, b, a} {
		r.Remote = remote
		if err := e.DecideInto(r, uint64(i), &d); err != nil || !d.HasHash {
			t.Fatalf("step %d: %+v %v", i, d, err)
		}
		if h, ok := hashes[remote.Addr()]; ok && h != d.Hash {
			t.Fatalf("step %d: %v hashed to %x, before to %x", i, remote, d.Hash, h)
		}
		hashes[remote.Addr()] = d.Hash
	}
	if hashes[a.Addr()] == hashes[b.Addr()] {
		t.Fatalf("two addresses, one hash: %x", hashes[a.Addr()])
	}
}
