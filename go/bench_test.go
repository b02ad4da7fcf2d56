package weir

import (
	"net/netip"
	"strings"
	"testing"
)

// baseline is a plain-Go router for the same fleetman canary: first-match
// host + prefix routing and a weighted pick (entropy % total weight, Envoy's
// rule), then a round-robin endpoint. It is what a hand-written Go proxy
// would do, without Istio's semantics (no validation, no hashing, no faults).
type baselineDest struct {
	cluster   string
	weight    uint64
	endpoints []string
}

type baselineRoute struct {
	host   string
	prefix string
	dests  []baselineDest
	total  uint64
}

type baseline struct {
	routes []baselineRoute
	rr     uint64
}

func newBaseline() *baseline {
	host := "fleetman-staff-service.default.svc.cluster.local"
	b := &baseline{routes: []baselineRoute{{
		host:   host,
		prefix: "/",
		dests: []baselineDest{
			{cluster: "outbound|8080|safe-group|" + host, weight: 90, endpoints: []string{"10.1.0.11:8080", "10.1.0.12:8080"}},
			{cluster: "outbound|8080|risky-group|" + host, weight: 10, endpoints: []string{"10.1.0.21:8080"}},
		},
	}}}
	for i := range b.routes {
		for _, d := range b.routes[i].dests {
			b.routes[i].total += d.weight
		}
	}
	return b
}

func (b *baseline) decide(host, path string, entropy uint64) (string, string, bool) {
	for i := range b.routes {
		r := &b.routes[i]
		if r.host != host || !strings.HasPrefix(path, r.prefix) {
			continue
		}
		v := entropy % r.total
		for _, d := range r.dests {
			if v < d.weight {
				b.rr++
				return d.cluster, d.endpoints[b.rr%uint64(len(d.endpoints))], true
			}
			v -= d.weight
		}
	}
	return "", "", false
}

func TestBaselineAgreesOnClusters(t *testing.T) {
	e := mustEngine(t, "fleetman-canary.yaml")
	defer e.Close()
	b := newBaseline()
	src, err := NewSource("", "default", nil, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r := &Request{Authority: "fleetman-staff-service.default.svc.cluster.local", Method: "GET", Path: "/api/staff?page=2", Source: src}
	for i := uint64(0); i < 1000; i++ {
		d, err := e.Decide(r, i)
		cluster, _, ok := b.decide(r.Authority, r.Path, i)
		if err != nil || !ok || d.Cluster != cluster {
			t.Fatalf("entropy %d: weir %q, baseline %q (%v)", i, d.Cluster, cluster, err)
		}
	}
}

// BenchmarkDecide is Decide through cgo on the fleetman canary, with the
// client's address and two headers, as a proxy calls it: on the engine held
// by the proxy (weir_engine_decide), into a reused Decision, on a held
// snapshot, and with a snapshot taken and released per request.
func BenchmarkDecide(b *testing.B) {
	e := mustEngine(b, "fleetman-canary.yaml")
	defer e.Close()
	src, err := NewSource("", "default", nil, netip.AddrPort{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	r := &Request{Authority: "fleetman-staff-service.default.svc.cluster.local", Method: "GET", Path: "/api/staff?page=2",
		Remote: netip.MustParseAddrPort("10.1.2.3:54321"), Source: src, Headers: []Header{{"user-agent", "bench/1"}, {"accept", "*/*"}}}
	// routed takes the endpoint, not the Decision: handing the Decision to
	// b.Fatal would move it to the heap and bill the benchmark for that.
	routed := func(b *testing.B, endpoint string, err error) {
		if err != nil || endpoint == "" {
			b.Fatalf("not routed: %q %v", endpoint, err)
		}
	}
	b.Run("engine", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			d, err := e.Decide(r, uint64(i))
			routed(b, d.Endpoint, err)
		}
	})
	b.Run("engine_into", func(b *testing.B) {
		var d Decision
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			err := e.DecideInto(r, uint64(i), &d)
			routed(b, d.Endpoint, err)
		}
	})
	// A proxy copying its headers from net/http: strings at other
	// addresses on every request, which the decider copies again (the
	// runs above send the same strings, which it finds in place).
	fresh := make([]Request, 64)
	for i := range fresh {
		fresh[i] = *r
		fresh[i].Headers = []Header{{string([]byte("user-agent")), string([]byte("bench/1"))}, {string([]byte("accept")), string([]byte("*/*"))}}
	}
	b.Run("engine_fresh_headers", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			d, err := e.Decide(&fresh[i&63], uint64(i))
			routed(b, d.Endpoint, err)
		}
	})
	b.Run("held_snapshot", func(b *testing.B) {
		s := e.Snapshot()
		defer s.Close()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			d, err := s.Decide(r, uint64(i))
			routed(b, d.Endpoint, err)
		}
	})
	b.Run("snapshot_per_request", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			s := e.Snapshot()
			d, err := s.Decide(r, uint64(i))
			s.Close()
			routed(b, d.Endpoint, err)
		}
	})
}

// BenchmarkCgoCall is one cgo call to an empty C function: what any cgo
// binding pays per request before doing anything.
func BenchmarkCgoCall(b *testing.B) {
	for i := 0; i < b.N; i++ {
		cgoNoop()
	}
}

func BenchmarkDecideBaselineGo(b *testing.B) {
	base := newBaseline()
	host, path := "fleetman-staff-service.default.svc.cluster.local", "/api/staff?page=2"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, ep, ok := base.decide(host, path, uint64(i))
		if !ok || ep == "" {
			b.Fatal("no route")
		}
	}
}
