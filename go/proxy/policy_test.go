package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// Istio's rate-limit task (local, flattened) for productpage, and a
// Telemetry logging only errors in bookinfo.
const policyConfig = `
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: limit, namespace: bookinfo}
spec:
  workloadSelector: {labels: {app: productpage}}
  configPatches:
  - applyTo: HTTP_FILTER
    patch:
      operation: INSERT_BEFORE
      value:
        name: envoy.filters.http.local_ratelimit
        typed_config:
          "@type": type.googleapis.com/udpa.type.v1.TypedStruct
          type_url: type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
          value:
            stat_prefix: http_local_rate_limiter
            token_bucket: {max_tokens: 5, tokens_per_fill: 5, fill_interval: 60s}
            filter_enabled: {default_value: {numerator: 100, denominator: HUNDRED}}
            filter_enforced: {default_value: {numerator: 100, denominator: HUNDRED}}
            response_headers_to_add: [{append: false, header: {key: x-local-rate-limit, value: "true"}}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: errors, namespace: bookinfo}
spec:
  accessLogging:
  - providers: [{name: envoy}]
    filter: {expression: "response.code >= 400"}
`

// The config's EnvoyFilter limits the proxy (5 a minute, 429 with
// x-local-rate-limit), its Telemetry logs only the refused requests, and
// the -rate-limit / -access-log settings override both.
func TestConfigRateLimitsAndAccessLogPolicy(t *testing.T) {
	c := setupCanary(t)
	if _, err := c.proxy.Engine.Apply("canary.yaml", []byte(canaryConfig+"---\n"+policyConfig)); err != nil {
		t.Fatal(err)
	}
	configLog := &syncBuffer{}
	c.proxy.AccessLog = nil
	c.proxy.ConfigLog = configLog
	c.proxy.Labels = map[string]string{"app": "productpage"}
	if err := c.proxy.RefreshPolicies(); err != nil {
		t.Fatal(err)
	}
	ok, limited := 0, 0
	for i := 0; i < 8; i++ {
		resp := c.get(t, nil)
		switch resp.StatusCode {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
			if got := resp.Header.Get("x-local-rate-limit"); got != "true" {
				t.Errorf("x-local-rate-limit = %q", got)
			}
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if ok != 5 || limited != 3 {
		t.Fatalf("admitted %d, limited %d; want 5 and 3", ok, limited)
	}
	lines := strings.Split(strings.TrimSpace(configLog.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("config log: %d lines, want the 3 refusals:\n%s", len(lines), configLog.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, `" 429 RL `) {
			t.Errorf("line %q: want 429 RL", l)
		}
	}
	metrics, _ := c.scrape(t)
	if !strings.Contains(metrics, `response_code="429",response_flags="RL"`) {
		t.Errorf("no 429 RL series in the metrics:\n%s", metrics)
	}

	// Another workload: no EnvoyFilter applies.
	c.proxy.Labels = map[string]string{"app": "reviews"}
	if err := c.proxy.RefreshPolicies(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		if resp := c.get(t, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("unlimited workload got %d", resp.StatusCode)
		}
	}

	// The flags override: -access-log logs every request.
	c.proxy.AccessLog = c.log
	before := strings.Count(c.log.String(), "\n")
	c.get(t, nil)
	if after := strings.Count(c.log.String(), "\n"); after != before+1 {
		t.Errorf("-access-log wrote %d lines, want 1", after-before)
	}
	if n := len(strings.Split(strings.TrimSpace(configLog.String()), "\n")); n != 3 {
		t.Errorf("config log grew to %d lines with -access-log set", n)
	}
}
