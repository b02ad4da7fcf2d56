package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	weir "github.com/weir-mesh/weir/go"
)

// MetricsHandler serves the engine's metrics in the Prometheus text format
// (mount it on /metrics).
func MetricsHandler(e *weir.Engine) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		text, err := e.Metrics()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("content-type", weir.MetricsContentType)
		_, _ = w.Write(text)
	})
}

// observed is one request as the proxy answers it: the status and bytes
// the client got, the flags only the proxy knows, for the metrics and the
// access log.
type observed struct {
	http.ResponseWriter
	r        *http.Request
	start    time.Time
	status   int
	bytes    int64
	flags    uint32
	upstream string
}

func (o *observed) WriteHeader(code int) {
	if o.status == 0 {
		o.status = code
	}
	o.ResponseWriter.WriteHeader(code)
}

func (o *observed) Write(b []byte) (int, error) {
	if o.status == 0 {
		o.status = http.StatusOK
	}
	n, err := o.ResponseWriter.Write(b)
	o.bytes += int64(n)
	return n, err
}

// Flush keeps streaming responses streaming through the wrapper.
func (o *observed) Flush() {
	if f, ok := o.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (p *Proxy) observe(w http.ResponseWriter, r *http.Request) *observed {
	return &observed{ResponseWriter: w, r: r, start: time.Now()}
}

// setRequestID gives a request without x-request-id the decision's id
// (weir.RequestID of its entropy); an existing one is kept.
func setRequestID(r *http.Request, entropy uint64) {
	if r.Header.Get(weir.RequestIDHeader) == "" {
		r.Header.Set(weir.RequestIDHeader, weir.RequestID(entropy))
	}
}

// requestBytes is what Envoy counts as request bytes: headers and body.
func requestBytes(r *http.Request) int64 {
	n := int64(len(r.Method) + len(r.URL.RequestURI()) + len(r.Proto) + 4)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += int64(len(k) + len(v) + 4)
		}
	}
	if r.ContentLength > 0 {
		n += r.ContentLength
	}
	return n
}

// finish records the request in the engine's metrics and writes its
// access log line.
func (o *observed) finish(p *Proxy, snap *weir.Snapshot, d *weir.Decision) {
	duration := time.Since(o.start)
	status := o.status
	if status == 0 {
		status = http.StatusOK
	}
	end := weir.RequestEnd{
		Status:        status,
		Flags:         o.flags,
		Duration:      duration,
		RequestBytes:  requestBytes(o.r),
		ResponseBytes: o.bytes,
		GRPCStatus:    -1,
	}
	if strings.HasPrefix(o.r.Header.Get("content-type"), "application/grpc") {
		end.GRPC = true
		if g, err := strconv.Atoi(o.Header().Get("grpc-status")); err == nil {
			end.GRPCStatus = g
		}
	}
	if o.flags&weir.FlagUpstreamConnectionFailure != 0 {
		end.Status = 0
	}
	_ = p.Engine.Record(snap, d, end)
	if out := p.accessLogFor(o, d, status, duration); out != nil {
		p.writeAccessLog(out, o, d, status, duration)
	}
}

// policies are what the config in force says beyond routing, for this proxy.
type policies struct {
	logs       *weir.AccessLogPolicy
	logsOn     bool
	rateLimits *weir.LocalRateLimits
}

// RefreshPolicies reads the config's Telemetry access logging and
// EnvoyFilter local rate limits for Namespace and Labels; call it after
// each Apply (rate limit buckets start full again, as Envoy's do on a new
// config). The flags' settings (AccessLog, RateLimiter) override them.
func (p *Proxy) RefreshPolicies() error {
	logs, err := p.Engine.AccessLogPolicy(p.Namespace)
	if err != nil {
		return err
	}
	limits, err := p.Engine.LocalRateLimits(p.Namespace, p.Labels)
	if err != nil {
		return err
	}
	_, on := logs.Configured()
	if limits.Empty() {
		limits = nil
	}
	p.policies.Store(&policies{logs: logs, logsOn: on, rateLimits: limits})
	return nil
}

// accessLogFor is where this request's line goes: AccessLog (the flag:
// every request), else ConfigLog when the config's Telemetry logs it.
func (p *Proxy) accessLogFor(o *observed, d *weir.Decision, status int, duration time.Duration) io.Writer {
	if p.AccessLog != nil {
		return p.AccessLog
	}
	pol := p.policies.Load()
	if p.ConfigLog == nil || pol == nil || !pol.logsOn {
		return nil
	}
	grpc := -1
	if g, err := strconv.Atoi(o.Header().Get("grpc-status")); err == nil {
		grpc = g
	}
	logged := pol.logs.Logs(&weir.LogRequest{
		Method: o.r.Method, Authority: o.r.Host, Path: o.r.URL.RequestURI(), Header: o.r.Header,
		Code: status, Flags: o.flags, Outcome: d.Outcome, Delayed: d.HasDelay, GRPCStatus: grpc,
		Duration: duration, RequestBytes: requestBytes(o.r), ResponseBytes: o.bytes,
	})
	if !logged {
		return nil
	}
	return p.ConfigLog
}

// configRateLimited answers 429 (or the EnvoyFilter's status) when the
// config's local rate limits refuse the request; never with a RateLimiter
// (the flag's) set.
func (p *Proxy) configRateLimited(o *observed, r *http.Request, d *weir.Decision, entropy uint64) bool {
	if p.RateLimiter != nil {
		return false
	}
	pol := p.policies.Load()
	if pol == nil || pol.rateLimits == nil {
		return false
	}
	v := pol.rateLimits.Check(p.Engine, d.RouteName, r.URL.RequestURI(), r.Host, r.Method, r.Header, entropy, time.Now())
	if !v.Limited {
		return false
	}
	o.flags |= weir.FlagRateLimited
	for _, h := range v.Header {
		o.Header().Set(h[0], h[1])
	}
	http.Error(o, "local_rate_limited", v.Status)
	return true
}

// accessLogMu keeps lines whole when handlers log at once.
var accessLogMu sync.Mutex

// writeAccessLog writes one line in Envoy's default access log format
// (source/common/formatter/substitution_format_string.cc, DefaultFormat),
// or as one JSON object with the same fields when AccessLogJSON is set.
func (p *Proxy) writeAccessLog(out io.Writer, o *observed, d *weir.Decision, status int, duration time.Duration) {
	r := o.r
	path := r.Header.Get("x-envoy-original-path")
	if path == "" {
		path = r.URL.RequestURI()
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	fields := []struct{ key, value string }{
		{"start_time", o.start.UTC().Format("2006-01-02T15:04:05.000Z")},
		{"method", r.Method},
		{"path", path},
		{"protocol", r.Proto},
		{"response_code", strconv.Itoa(status)},
		{"response_flags", weir.ResponseFlags(d, o.flags)},
		{"bytes_received", strconv.FormatInt(nonNegative(r.ContentLength), 10)},
		{"bytes_sent", strconv.FormatInt(o.bytes, 10)},
		{"duration", strconv.FormatInt(int64(duration/time.Millisecond), 10)},
		{"upstream_service_time", "-"},
		{"x_forwarded_for", dash(r.Header.Get("x-forwarded-for"))},
		{"user_agent", dash(r.Header.Get("user-agent"))},
		{"request_id", dash(r.Header.Get(weir.RequestIDHeader))},
		{"authority", dash(r.Host)},
		{"upstream_host", dash(o.upstream)},
		{"upstream_cluster", dash(d.Cluster)},
		{"route_name", dash(routeName(d))},
	}
	var line string
	if p.AccessLogJSON {
		var b strings.Builder
		b.WriteByte('{')
		for i, f := range fields {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%q", f.key, f.value)
		}
		b.WriteString("}\n")
		line = b.String()
	} else {
		v := func(i int) string { return fields[i].value }
		line = fmt.Sprintf("[%s] \"%s %s %s\" %s %s %s %s %s %s \"%s\" \"%s\" \"%s\" \"%s\" \"%s\" %s %s\n",
			v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7), v(8), v(9), v(10), v(11), v(12), v(13), v(14), v(15), v(16))
	}
	accessLogMu.Lock()
	defer accessLogMu.Unlock()
	_, _ = io.WriteString(out, line)
}

func nonNegative(n int64) int64 {
	if n < 0 {
		return 0
	}
	return n
}

// routeName is Weir's name for the matched route: namespace/VirtualService
// and http[] index (and name), as in the dynamic metadata of the filter.
func routeName(d *weir.Decision) string {
	if !d.Matched {
		return ""
	}
	name := fmt.Sprintf("%s/%s/%d", d.RouteNamespace, d.RouteVirtualService, d.RuleIndex)
	if d.RouteName != "" {
		name += "/" + d.RouteName
	}
	return name
}

// rateLimited answers a request the local rate limit refuses, as Envoy's
// local_ratelimit filter does in Istio's recipe: 429, x-local-rate-limit.
func (o *observed) rateLimited() {
	o.flags |= weir.FlagRateLimited
	o.Header().Set("x-local-rate-limit", "true")
	http.Error(o, "local_rate_limited", http.StatusTooManyRequests)
}
