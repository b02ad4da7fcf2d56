package weir

/*
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <weir.h>
*/
import "C"

import (
	"net/http"
	"runtime"
	"strings"
	"time"
	"unsafe"
)

// AccessLogPolicy is the Telemetry API's accessLogging for a proxy's
// namespace (its namespace's Telemetry, else the root namespace's), as the
// engine's config says when checked. Safe for concurrent use.
type AccessLogPolicy struct {
	p *C.weir_access_log
	e *Engine
}

// AccessLogPolicy reads the access-log policy for a proxy in namespace;
// it follows every later Apply.
func (e *Engine) AccessLogPolicy(namespace string) (*AccessLogPolicy, error) {
	var p *C.weir_access_log
	rc := C.weir_access_log_new(e.p, nil, nil, C.WEIR_ACCESS_LOG_TEXT, cstr(namespace), C.size_t(len(namespace)), &p)
	runtime.KeepAlive(namespace)
	if err := check("access_log_new", rc); err != nil {
		return nil, err
	}
	a := &AccessLogPolicy{p: p, e: e}
	runtime.SetFinalizer(a, func(a *AccessLogPolicy) { C.weir_access_log_free(a.p) })
	return a, nil
}

// LogRequest is what a Telemetry filter expression reads of a finished request.
type LogRequest struct {
	Method, Authority, Path string
	Header                  http.Header
	Code                    int
	// Flags are the proxy's (Flag*); the decision's come from Outcome and Delayed.
	Flags         uint32
	Outcome       Outcome
	Delayed       bool
	GRPCStatus    int // -1 for none
	Duration      time.Duration
	RequestBytes  int64
	ResponseBytes int64
}

// headerBlock is h as HTTP/1 header lines, how the C ABI takes headers here.
func headerBlock(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\r\n")
		}
	}
	return b.String()
}

// Logs says whether the policy in force logs r (no Telemetry applies: every request).
func (a *AccessLogPolicy) Logs(r *LogRequest) bool {
	var logged C.bool
	h := headerBlock(r.Header)
	nonNeg := func(n int64) C.uint64_t {
		if n < 0 {
			return 0
		}
		return C.uint64_t(n)
	}
	rc := C.weir_access_log_check(a.p, cstr(r.Method), C.size_t(len(r.Method)), cstr(r.Authority), C.size_t(len(r.Authority)),
		cstr(r.Path), C.size_t(len(r.Path)), cstr(h), C.size_t(len(h)), C.uint32_t(r.Code), C.uint32_t(r.Flags),
		C.uint32_t(r.Outcome), C.bool(r.Delayed), C.int32_t(r.GRPCStatus), C.uint64_t(r.Duration/time.Millisecond),
		nonNeg(r.RequestBytes), nonNeg(r.ResponseBytes), &logged)
	runtime.KeepAlive(r)
	runtime.KeepAlive(h)
	runtime.KeepAlive(a)
	return rc == C.WEIR_RESULT_OK && bool(logged)
}

// LocalRateLimits are the EnvoyFilter local rate limits (Istio's
// rate-limit task) that apply to one proxy, with their token buckets.
// Make new ones after each Apply. Safe for concurrent use.
type LocalRateLimits struct {
	p *C.weir_local_rate_limiter
}

// LocalRateLimits reads the local rate limits for a proxy in namespace
// with pod labels from the config in force; buckets start full.
func (e *Engine) LocalRateLimits(namespace string, labels map[string]string) (*LocalRateLimits, error) {
	pairs := make([]C.weir_header, 0, len(labels))
	var keep []*C.char
	for k, v := range labels {
		ck, cv := C.CString(k), C.CString(v)
		keep = append(keep, ck, cv)
		pairs = append(pairs, C.weir_header{name: ck, name_len: C.size_t(len(k)), value: cv, value_len: C.size_t(len(v))})
	}
	defer func() {
		for _, p := range keep {
			C.free(unsafe.Pointer(p))
		}
	}()
	var cpairs *C.weir_header
	if len(pairs) > 0 {
		// The pairs hold C pointers only: a Go array of them may go to C.
		cpairs = &pairs[0]
	}
	var p *C.weir_local_rate_limiter
	rc := C.weir_local_rate_limiter_new(e.p, cstr(namespace), C.size_t(len(namespace)), cpairs, C.size_t(len(pairs)),
		C.uint64_t(monoMillis(time.Now())), &p)
	runtime.KeepAlive(namespace)
	runtime.KeepAlive(e)
	if err := check("local_rate_limiter_new", rc); err != nil {
		return nil, err
	}
	l := &LocalRateLimits{p: p}
	runtime.SetFinalizer(l, func(l *LocalRateLimits) { C.weir_local_rate_limiter_free(l.p) })
	return l, nil
}

// Empty is true when no EnvoyFilter limits this proxy.
func (l *LocalRateLimits) Empty() bool {
	var empty C.bool
	C.weir_local_rate_limiter_is_empty(l.p, &empty)
	runtime.KeepAlive(l)
	return bool(empty)
}

// RateLimitVerdict is a refused request's answer.
type RateLimitVerdict struct {
	Limited bool
	Status  int
	// Header are the EnvoyFilter's response_headers_to_add.
	Header [][2]string
}

// Check gives the verdict on a request that matched route (Weir's
// http[].name, "" for none) at now; entropy draws filter_enabled and
// filter_enforced. A refusal counts in e's metrics when e is not nil.
func (l *LocalRateLimits) Check(e *Engine, route, path, authority, method string, header http.Header, entropy uint64, now time.Time) RateLimitVerdict {
	var v C.weir_rate_limit_verdict
	var ep *C.weir_engine
	if e != nil {
		ep = e.p
	}
	h := headerBlock(header)
	C.weir_local_rate_limiter_check(l.p, ep, cstr(route), C.size_t(len(route)), cstr(path), C.size_t(len(path)),
		cstr(authority), C.size_t(len(authority)), cstr(method), C.size_t(len(method)), cstr(h), C.size_t(len(h)),
		C.uint64_t(entropy), C.uint64_t(monoMillis(now)), &v)
	runtime.KeepAlive(route)
	runtime.KeepAlive(path)
	runtime.KeepAlive(authority)
	runtime.KeepAlive(method)
	runtime.KeepAlive(h)
	out := RateLimitVerdict{Limited: bool(v.limited), Status: int(v.status)}
	if v.limited && v.headers_len > 0 {
		hs := unsafe.Slice(v.headers, int(v.headers_len))
		for _, p := range hs {
			out.Header = append(out.Header, [2]string{C.GoStringN(p.name, C.int(p.name_len)), C.GoStringN(p.value, C.int(p.value_len))})
		}
	}
	runtime.KeepAlive(l)
	runtime.KeepAlive(e)
	return out
}

// Configured says whether a Telemetry's accessLogging applies to the
// namespace in the config in force, and whether it turns logs on.
func (a *AccessLogPolicy) Configured() (configured, enabled bool) {
	var c, en C.bool
	C.weir_access_log_policy(a.p, &c, &en)
	runtime.KeepAlive(a)
	return bool(c), bool(en)
}
