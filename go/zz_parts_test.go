package weir

import (
	"net/netip"
	"testing"
)

func BenchmarkParts(b *testing.B) {
	e := mustEngine(b, "fleetman-canary.yaml")
	defer e.Close()
	src, _ := NewSource("", "default", nil, netip.AddrPort{})
	defer src.Close()
	r := &Request{Authority: "fleetman-staff-service.default.svc.cluster.local", Method: "GET", Path: "/api/staff?page=2",
		Remote: netip.MustParseAddrPort("10.1.2.3:54321"), Source: src, Headers: []Header{{"user-agent", "bench/1"}, {"accept", "*/*"}}}
	d := e.spare.take()
	var out Decision
	if err := d.decide(e, nil, r, 1, &out); err != nil {
		b.Fatal(err)
	}
	b.Run("fill", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			d.fill(r)
		}
	})
	b.Run("read", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			d.read(&out, r.Path)
		}
	})
	b.Run("decide", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			d.decide(e, nil, r, uint64(i), &out)
		}
	})
}
