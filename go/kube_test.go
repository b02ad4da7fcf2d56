package weir

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBookinfoClusterDump applies a cluster dump (Services, EndpointSlices,
// Pods as `kubectl get -o yaml` prints them) with the Istio config on top,
// and decides through cgo: reviews splits 90/10 over the ready pods of v1
// and v2, the terminating v2 pod and v3 get nothing, and jason goes to v3.
func TestBookinfoClusterDump(t *testing.T) {
	var dump []string
	for _, f := range []string{"cluster.yaml", "istio.yaml"} {
		text, err := os.ReadFile(filepath.Join(configsDir, "bookinfo", f))
		if err != nil {
			t.Fatal(err)
		}
		dump = append(dump, string(text))
	}
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Apply("bookinfo", []byte(strings.Join(dump, "\n---\n"))); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource("", "default", []Header{{"app", "productpage"}}, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r := &Request{Authority: "reviews:9080", Method: "GET", Path: "/reviews/0", Source: src}
	counts := map[string]int{}
	const n = 2000
	var d Decision
	for i := uint64(0); i < n; i++ {
		if err := e.DecideInto(r, i*0x9E3779B97F4A7C15, &d); err != nil {
			t.Fatal(err)
		}
		if d.Outcome != OutcomeRoute {
			t.Fatalf("entropy %d: %v (%d)", i, d.Outcome, d.Status)
		}
		counts[d.Subset+" "+d.Endpoint]++
	}
	v1 := counts["v1 10.44.1.14:9080"] + counts["v1 10.44.1.15:9080"]
	v2 := counts["v2 10.44.1.16:9080"]
	if v1+v2 != n {
		t.Fatalf("endpoints outside the ready v1/v2 pods: %v", counts)
	}
	// 90/10 over n draws: v2 ~ Binomial(n, 0.1), sd = sqrt(n*0.09) ~ 13.4;
	// 6 sd either side.
	if v2 < n/10-80 || v2 > n/10+80 {
		t.Fatalf("v2 got %d of %d, want about %d: %v", v2, n, n/10, counts)
	}
	if counts["v1 10.44.1.14:9080"] == 0 || counts["v1 10.44.1.15:9080"] == 0 {
		t.Fatalf("both v1 replicas should serve: %v", counts)
	}
	r.Headers = []Header{{"end-user", "jason"}}
	if err := e.DecideInto(r, 1, &d); err != nil {
		t.Fatal(err)
	}
	if d.Subset != "v3" || d.Endpoint != "10.44.1.17:9080" {
		t.Fatalf("jason: subset %q endpoint %q, want v3 on 10.44.1.17:9080", d.Subset, d.Endpoint)
	}
}
