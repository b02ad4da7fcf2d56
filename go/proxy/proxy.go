// Package proxy is a reverse proxy (net/http/httputil) that routes every
// request by Weir's decision and carries out its actions: abort, delay,
// header edits, rewrite, redirect, direct response, timeout, retries, mirror.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	weir "github.com/weir-mesh/weir/go"
)

// Proxy is an http.Handler routing by an Engine's decisions.
type Proxy struct {
	Engine *weir.Engine
	// Gateway is the gateway listener ("namespace/name") this proxy plays;
	// empty for a sidecar in Namespace.
	Gateway   string
	Namespace string
	// Port is the listener port passed to Weir (0: the Host header's).
	Port int
	// Transport to upstreams (http.DefaultTransport when nil).
	Transport http.RoundTripper
	// Entropy returns the entropy for one request (random when nil).
	Entropy func(*http.Request) uint64
	// DryRun answers every request with its decision (text) instead of
	// carrying it out: for trying a config without upstreams.
	DryRun bool
	// MirrorWG, when set, tracks mirror requests in flight (tests wait on it).
	MirrorWG *sync.WaitGroup
	// AccessLog, when set, gets one line per request in Envoy's default
	// format (JSON with AccessLogJSON); see telemetry.go.
	AccessLog     io.Writer
	AccessLogJSON bool
	// RateLimiter, when set, refuses requests over its rate with 429 and
	// x-local-rate-limit: true, before deciding (Envoy's local_ratelimit).
	RateLimiter *weir.RateLimiter
	// Labels are the workload's pod labels (EnvoyFilter workloadSelector).
	Labels map[string]string
	// ConfigLog gets the access log lines the config's Telemetry asks for
	// when AccessLog is nil (Istio's envoy provider writes to stdout).
	ConfigLog io.Writer

	rng entropySource
	// The config's Telemetry and EnvoyFilter policies (RefreshPolicies).
	policies atomic.Pointer[policies]

	// Weir sources made once from Gateway and Namespace: the listener's,
	// and the sidecar's that mirrors are decided with.
	sourcesOnce sync.Once
	listener    *weir.Source
	sidecar     *weir.Source
	sourcesErr  error
}

func (p *Proxy) sources() (listener, sidecar *weir.Source, err error) {
	p.sourcesOnce.Do(func() {
		p.listener, p.sourcesErr = weir.NewSource(p.Gateway, p.Namespace, nil, netip.AddrPort{})
		if p.sourcesErr == nil {
			p.sidecar, p.sourcesErr = weir.NewSource("", p.Namespace, nil, netip.AddrPort{})
		}
	})
	return p.listener, p.sidecar, p.sourcesErr
}

func (p *Proxy) entropy(r *http.Request) uint64 {
	if p.Entropy != nil {
		return p.Entropy(r)
	}
	return p.rng.next()
}

// entropySource is the random entropy of decisions when the caller gives
// none: seeded on first use, safe for concurrent handlers.
type entropySource struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func (s *entropySource) next() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rng == nil {
		s.rng = rand.New(rand.NewSource(time.Now().UnixNano()))
	}
	return s.rng.Uint64()
}

func (p *Proxy) transport() http.RoundTripper {
	if p.Transport != nil {
		return p.Transport
	}
	return http.DefaultTransport
}

func weirRequest(r *http.Request, source *weir.Source, port int) *weir.Request {
	wr := &weir.Request{
		Authority: r.Host,
		Method:    r.Method,
		Path:      r.URL.RequestURI(),
		Scheme:    "http",
		Port:      port,
		Source:    source,
	}
	// net/http gives the client address as text; a proxy holding the
	// net.Conn would pass weir.AddrPortOf(conn.RemoteAddr()) instead.
	if remote, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		wr.Remote = remote
	}
	if r.TLS != nil {
		wr.Scheme = "https"
	}
	for name, values := range r.Header {
		for _, v := range values {
			wr.Headers = append(wr.Headers, weir.Header{Name: name, Value: v})
		}
	}
	return wr
}

func applyOps(h http.Header, ops weir.HeaderOps) {
	for _, n := range ops.Remove {
		h.Del(n)
	}
	for _, kv := range ops.Set {
		h.Set(kv.Name, kv.Value)
	}
	for _, kv := range ops.Add {
		h.Add(kv.Name, kv.Value)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ServeHTTP decides and acts.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	obs := p.observe(w, r) // telemetry: status, bytes, flags
	w = obs
	listener, _, err := p.sources()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	snap := p.Engine.Snapshot()
	defer snap.Close()
	if p.RateLimiter != nil && !p.RateLimiter.Allow(p.Engine, time.Now()) {
		obs.rateLimited()
		obs.finish(p, snap, &weir.Decision{})
		return
	}
	entropy := p.entropy(r)
	d, ticket, err := snap.DecideTracked(weirRequest(r, listener, p.Port), entropy)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	setRequestID(r, entropy)
	defer obs.finish(p, snap, &d)
	if p.configRateLimited(obs, r, &d, entropy) {
		return
	}
	if p.DryRun {
		writeDecision(w, &d)
		return
	}
	if d.HasDelay {
		if sleep(r.Context(), d.Delay) != nil {
			return
		}
	}
	switch d.Outcome {
	case weir.OutcomeRoute:
	case weir.OutcomeRedirect:
		w.Header().Set("Location", d.Location)
		w.WriteHeader(d.Status)
		return
	case weir.OutcomeDirectResponse:
		applyOps(w.Header(), d.ResponseHeaders)
		w.WriteHeader(d.Status)
		_, _ = w.Write(d.Body)
		return
	case weir.OutcomeFaultAbort:
		if d.HasGRPCStatus {
			w.Header().Set("content-type", "application/grpc")
			w.Header().Set("grpc-status", strconv.FormatUint(uint64(d.GRPCStatus), 10))
			w.WriteHeader(http.StatusOK)
			return
		}
		http.Error(w, "fault filter abort", d.Status)
		return
	default: // no route, no cluster, no healthy upstream, overflow
		http.Error(w, d.Outcome.String(), d.Status)
		return
	}
	if d.Endpoint == "" {
		http.Error(w, "no endpoint (original destination unsupported)", http.StatusBadGateway)
		return
	}

	// The body is kept for retries and mirrors (small bodies in this example).
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(r.Body, 8<<20))
	}
	for _, m := range d.Mirrors {
		p.mirror(r, body, m, &d)
	}

	ctx := r.Context()
	if d.HasTimeout && d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	status := 0
	rp := &httputil.ReverseProxy{
		Director: func(out *http.Request) {
			out.URL.Scheme = "http"
			out.URL.Host = d.Endpoint
			if u, err := out.URL.Parse(d.UpstreamPath); err == nil {
				out.URL.Path, out.URL.RawPath, out.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
			}
			if d.UpstreamAuthority != "" {
				out.Host = d.UpstreamAuthority
			}
			applyOps(out.Header, d.RequestHeaders)
		},
		Transport: &retrying{next: p.transport(), body: body, policy: retryPolicy(&d)},
		ModifyResponse: func(resp *http.Response) error {
			status = resp.StatusCode
			obs.upstream = d.Endpoint
			applyOps(resp.Header, d.ResponseHeaders)
			if d.SetCookie != "" {
				resp.Header.Add("Set-Cookie", d.SetCookie)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			if errors.Is(err, context.DeadlineExceeded) {
				obs.flags |= weir.FlagUpstreamRequestTimeout
				http.Error(w, "upstream request timeout", http.StatusGatewayTimeout)
				return
			}
			obs.flags |= weir.FlagUpstreamConnectionFailure
			http.Error(w, "upstream connect error: "+err.Error(), http.StatusServiceUnavailable)
		},
	}
	rp.ServeHTTP(w, r.WithContext(ctx))
	_ = snap.Finish(ticket, status, time.Now())
}

// writeDecision answers with the decision as "field: value" lines.
func writeDecision(w http.ResponseWriter, d *weir.Decision) {
	w.Header().Set("content-type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "outcome: %s\n", d.Outcome)
	if d.Outcome.IsLocalReply() {
		fmt.Fprintf(w, "status: %d\n", d.Status)
	}
	if d.Matched {
		fmt.Fprintf(w, "route: %s/%s rule %d %s\n", d.RouteNamespace, d.RouteVirtualService, d.RuleIndex, d.RouteName)
	}
	if d.Cluster != "" {
		fmt.Fprintf(w, "cluster: %s\n", d.Cluster)
	}
	if d.Endpoint != "" {
		fmt.Fprintf(w, "endpoint: %s\n", d.Endpoint)
	}
	if d.Outcome == weir.OutcomeRoute {
		fmt.Fprintf(w, "upstream path: %s\n", d.UpstreamPath)
	}
	if d.Location != "" {
		fmt.Fprintf(w, "location: %s\n", d.Location)
	}
}

// mirror copies the request to the mirror's service, fire and forget, with
// the Host suffixed "-shadow" as Envoy does. The mirror's endpoint comes from
// a decision on the mirror's host.
func (p *Proxy) mirror(r *http.Request, body []byte, m weir.Mirror, d *weir.Decision) {
	port := 0
	if parts := strings.Split(m.Cluster, "|"); len(parts) == 4 {
		port, _ = strconv.Atoi(parts[1])
	}
	_, sidecar, err := p.sources()
	if err != nil {
		return
	}
	md, err := p.Engine.Decide(&weir.Request{Authority: m.Host, Method: r.Method, Path: d.UpstreamPath,
		Port: port, Source: sidecar}, p.entropy(r))
	if err != nil || md.Endpoint == "" {
		return
	}
	out, err := http.NewRequest(r.Method, "http://"+md.Endpoint+d.UpstreamPath, bytes.NewReader(body))
	if err != nil {
		return
	}
	out.Header = r.Header.Clone()
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	out.Host = host + "-shadow"
	if p.MirrorWG != nil {
		p.MirrorWG.Add(1)
	}
	go func() {
		if p.MirrorWG != nil {
			defer p.MirrorWG.Done()
		}
		resp, err := p.transport().RoundTrip(out)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
}

// retryPolicy is the decision's retry policy, nil when the route has none.
func retryPolicy(d *weir.Decision) *weir.RetryPolicy {
	if !d.HasRetries {
		return nil
	}
	policy := d.Retries
	return &policy
}

// retrying retries per the route's policy: connect failures, 5xx and the
// retriable status codes, as named in retry_on.
type retrying struct {
	next   http.RoundTripper
	body   []byte
	policy *weir.RetryPolicy
}

func (t *retrying) retriable(resp *http.Response, err error) bool {
	if t.policy == nil {
		return false
	}
	on := "," + t.policy.RetryOn + ","
	if err != nil {
		return strings.Contains(on, ",connect-failure,") || strings.Contains(on, ",reset,") || strings.Contains(on, ",5xx,")
	}
	if resp.StatusCode >= 500 && strings.Contains(on, ",5xx,") {
		return true
	}
	if resp.StatusCode >= 502 && resp.StatusCode <= 504 && strings.Contains(on, ",gateway-error,") {
		return true
	}
	if strings.Contains(on, ",retriable-status-codes,") {
		for _, c := range t.policy.RetriableStatusCodes {
			if c == resp.StatusCode {
				return true
			}
		}
	}
	return false
}

func (t *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	attempts := 0
	if t.policy != nil {
		attempts = t.policy.Attempts
	}
	for try := 0; ; try++ {
		r := req
		if try > 0 || req.Body != nil {
			r = req.Clone(req.Context())
			r.Body = io.NopCloser(bytes.NewReader(t.body))
			r.ContentLength = int64(len(t.body))
		}
		ctx := req.Context()
		var cancel context.CancelFunc = func() {}
		if t.policy != nil && t.policy.PerTryTimeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, t.policy.PerTryTimeout)
			r = r.WithContext(ctx)
		}
		resp, err := t.next.RoundTrip(r)
		if try >= attempts || !t.retriable(resp, err) || req.Context().Err() != nil {
			if err != nil {
				cancel()
				return nil, err
			}
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
			return resp, nil
		}
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		cancel()
	}
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
