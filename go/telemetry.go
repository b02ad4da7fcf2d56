package weir

/*
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <weir.h>
*/
import "C"

import (
	"runtime"
	"strings"
	"time"
	"unsafe"
)

// Reporter is Istio's reporter label: which side reports a request.
type Reporter uint32

const (
	// ReporterSource is the client side (outbound sidecar, gateway).
	ReporterSource Reporter = C.WEIR_REPORTER_SOURCE
	// ReporterDestination is the server side (inbound sidecar).
	ReporterDestination Reporter = C.WEIR_REPORTER_DESTINATION
)

// Workload is the workload a proxy runs for: the source_* labels of its
// metrics. Empty fields are "unknown".
type Workload struct{ Name, Namespace, App, Version string }

// Response flags the proxy knows and Weir cannot (Envoy's short names).
const (
	FlagUpstreamConnectionFailure uint32 = C.WEIR_RESPONSE_FLAG_UPSTREAM_CONNECTION_FAILURE       // UF
	FlagUpstreamRequestTimeout    uint32 = C.WEIR_RESPONSE_FLAG_UPSTREAM_REQUEST_TIMEOUT          // UT
	FlagDownstreamTermination     uint32 = C.WEIR_RESPONSE_FLAG_DOWNSTREAM_CONNECTION_TERMINATION // DC
	FlagRateLimited               uint32 = C.WEIR_RESPONSE_FLAG_RATE_LIMITED                      // RL
	FlagRetryLimitExceeded        uint32 = C.WEIR_RESPONSE_FLAG_UPSTREAM_RETRY_LIMIT_EXCEEDED     // URX
)

// RequestEnd is how a request ended, for Engine.Record.
type RequestEnd struct {
	// Status is the upstream's status; 0 when no upstream answered. A local
	// reply (redirect, abort, no route…) is recorded with its own status.
	Status int
	// GRPC marks a gRPC request; GRPCStatus is its grpc-status, -1 for none.
	GRPC       bool
	GRPCStatus int
	// Flags are Flag* or-ed.
	Flags         uint32
	Duration      time.Duration
	RequestBytes  int64
	ResponseBytes int64
}

// MetricsContentType is the content type of Engine.Metrics' text.
const MetricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// SetMetricsSource sets the reporter and source_* labels of the engine's
// metrics (once, at startup).
func (e *Engine) SetMetricsSource(r Reporter, w Workload) error {
	var a cArena
	defer a.free()
	var cw C.weir_workload
	cw.name, cw.name_len = a.str(w.Name)
	cw.namespace_, cw.namespace_len = a.str(w.Namespace)
	cw.app, cw.app_len = a.str(w.App)
	cw.version, cw.version_len = a.str(w.Version)
	err := check("engine_set_metrics_source", C.weir_engine_set_metrics_source(e.p, C.uint32_t(r), &cw))
	runtime.KeepAlive(e)
	return err
}

func cEnd(end *RequestEnd) C.weir_request_end {
	ce := C.weir_request_end{
		status:         C.uint32_t(end.Status),
		grpc_status:    -1,
		protocol:       C.WEIR_PROTOCOL_HTTP,
		flags:          C.uint32_t(end.Flags),
		duration_us:    C.uint64_t(end.Duration / time.Microsecond),
		request_bytes:  C.uint64_t(nonNegative(end.RequestBytes)),
		response_bytes: C.uint64_t(nonNegative(end.ResponseBytes)),
	}
	if end.GRPC {
		ce.protocol = C.WEIR_PROTOCOL_GRPC
		ce.grpc_status = C.int32_t(end.GRPCStatus)
	}
	return ce
}

func nonNegative(n int64) int64 {
	if n < 0 {
		return 0
	}
	return n
}

// Record counts a finished request in the engine's metrics
// (istio_requests_total, istio_request_duration_milliseconds,
// istio_request_bytes, istio_response_bytes) under the labels of d, a
// decision made on s. Lock-free and allocation-free in the engine.
func (e *Engine) Record(s *Snapshot, d *Decision, end RequestEnd) error {
	ce := cEnd(&end)
	err := check("engine_record_outcome", C.weir_engine_record_outcome(e.p, s.p,
		cstr(d.Cluster), C.size_t(len(d.Cluster)), C.uint32_t(d.Outcome), C.uint32_t(d.Status),
		C.bool(d.HasDelay), &ce))
	runtime.KeepAlive(e)
	runtime.KeepAlive(s)
	runtime.KeepAlive(d)
	return err
}

// Metrics is the engine's metrics in the Prometheus text format.
func (e *Engine) Metrics() ([]byte, error) {
	var needed C.size_t
	buf := make([]byte, 64<<10)
	for {
		rc := C.weir_engine_metrics(e.p, bytesPtr(buf), C.size_t(len(buf)), &needed)
		runtime.KeepAlive(e)
		if rc == C.WEIR_RESULT_OK {
			return buf[:needed], nil
		}
		if rc != C.WEIR_RESULT_BUFFER_TOO_SMALL {
			return nil, check("engine_metrics", rc)
		}
		// Room for series added meanwhile.
		buf = make([]byte, int(needed)+int(needed)/8+1024)
	}
}

// RequestIDHeader is the header a request id travels in.
const RequestIDHeader = "x-request-id"

// RequestID is the x-request-id a request without one gets: a UUID v4 made
// from the decision's entropy (same entropy, same id).
func RequestID(entropy uint64) string {
	var out [C.WEIR_REQUEST_ID_LEN]byte
	C.weir_request_id(C.uint64_t(entropy), (*C.char)(unsafe.Pointer(&out[0])))
	return string(out[:])
}

// RateLimiter is a local rate limit token bucket (Envoy's local_ratelimit
// token_bucket): lock-free, safe for concurrent use.
type RateLimiter struct {
	p *C.weir_rate_limiter
}

// NewRateLimiter makes a full bucket of maxTokens, refilled with
// tokensPerFill every fillInterval.
func NewRateLimiter(maxTokens, tokensPerFill uint32, fillInterval time.Duration) (*RateLimiter, error) {
	var p *C.weir_rate_limiter
	ms := uint64(fillInterval / time.Millisecond)
	if err := check("rate_limiter_new", C.weir_rate_limiter_new(C.uint32_t(maxTokens), C.uint32_t(tokensPerFill),
		C.uint64_t(ms), C.uint64_t(monoMillis(time.Now())), &p)); err != nil {
		return nil, err
	}
	l := &RateLimiter{p: p}
	runtime.SetFinalizer(l, func(l *RateLimiter) { C.weir_rate_limiter_free(l.p) })
	return l, nil
}

// Allow takes a token at now; false means refuse the request (429 with
// x-local-rate-limit: true). A refusal is counted in e's metrics when e is
// not nil.
func (l *RateLimiter) Allow(e *Engine, now time.Time) bool {
	var ok C.bool
	var ep *C.weir_engine
	if e != nil {
		ep = e.p
	}
	C.weir_rate_limiter_take(l.p, ep, C.uint64_t(monoMillis(now)), &ok)
	runtime.KeepAlive(l)
	runtime.KeepAlive(e)
	return bool(ok)
}

// ResponseFlags renders a decision's and the proxy's flags as Envoy prints
// them (%RESPONSE_FLAGS%): "-" for none.
func ResponseFlags(d *Decision, flags uint32) string {
	var names []string
	add := func(on bool, name string) {
		if on {
			names = append(names, name)
		}
	}
	// Envoy's order (source/common/stream_info/utility.cc).
	add(d.Outcome == OutcomeNoHealthyUpstream, "UH")
	add(flags&FlagUpstreamConnectionFailure != 0, "UF")
	add(d.Outcome == OutcomeOverflow, "UO")
	add(d.Outcome == OutcomeNoRoute, "NR")
	add(flags&FlagUpstreamRequestTimeout != 0, "UT")
	add(flags&FlagDownstreamTermination != 0, "DC")
	add(d.HasDelay, "DI")
	add(d.Outcome == OutcomeFaultAbort, "FI")
	add(flags&FlagRateLimited != 0, "RL")
	add(d.Outcome == OutcomeNoCluster, "NC")
	add(flags&FlagRetryLimitExceeded != 0, "URX")
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ",")
}
