//go:build promtext

// The metrics text read back as Prometheus reads it, with the official
// parser (github.com/prometheus/common/expfmt). Built only with -tags
// promtext: the module itself depends on nothing, so ffi/tests/go_metrics.rs
// runs this in GOPATH mode against Debian's golang-github-prometheus-common-dev.

package proxy

import (
	"math"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

func TestPrometheusParsesTheCanary(t *testing.T) {
	c := setupCanary(t)
	for i := 0; i < 100; i++ {
		c.get(t, nil)
	}
	resp, err := http.Get(c.metrics.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("Prometheus's parser refuses the text: %v", err)
	}
	label := func(m *dto.Metric, name string) string {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	total := families["istio_requests_total"]
	if total == nil || total.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("istio_requests_total: %v", total)
	}
	byVersion := map[string]float64{}
	for _, m := range total.GetMetric() {
		if label(m, "destination_service") != "reviews.bookinfo.svc.cluster.local" || label(m, "reporter") != "source" ||
			label(m, "source_app") != "productpage" || label(m, "response_code") != "200" {
			t.Fatalf("labels %v", m.GetLabel())
		}
		byVersion[label(m, "destination_version")] += m.GetCounter().GetValue()
	}
	if byVersion["v1"] != 90 || byVersion["v2"] != 10 || len(byVersion) != 2 {
		t.Fatalf("canary split %v", byVersion)
	}
	for _, name := range []string{"istio_request_duration_milliseconds", "istio_request_bytes", "istio_response_bytes"} {
		f := families[name]
		if f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
			t.Fatalf("%s: %v", name, f)
		}
		var count uint64
		for _, m := range f.GetMetric() {
			h := m.GetHistogram()
			// Istio's 19 bounds, and +Inf as this parser keeps it.
			if len(h.GetBucket()) != 20 || h.GetBucket()[0].GetUpperBound() != 0.5 || h.GetBucket()[18].GetUpperBound() != 3600000 ||
				!math.IsInf(h.GetBucket()[19].GetUpperBound(), 1) {
				t.Fatalf("%s buckets %v", name, h.GetBucket())
			}
			last := h.GetBucket()[19].GetCumulativeCount()
			if last != h.GetSampleCount() {
				t.Fatalf("%s: bucket %d over count %d", name, last, h.GetSampleCount())
			}
			count += h.GetSampleCount()
		}
		if count != 100 {
			t.Fatalf("%s counts %d requests", name, count)
		}
	}
	if f := families["istio_response_bytes"]; f.GetMetric()[0].GetHistogram().GetSampleSum() != 11*90 &&
		f.GetMetric()[0].GetHistogram().GetSampleSum() != 11*10 {
		t.Fatalf("response bytes sum %v", f.GetMetric()[0].GetHistogram().GetSampleSum())
	}
}
