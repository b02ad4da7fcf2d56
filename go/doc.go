// Package weir decides, inside a Go proxy, what Istio would make Envoy do
// with each request: the route, the weighted destination subset, the
// endpoint and the route's actions, from the VirtualService, DestinationRule,
// Gateway and ServiceEntry configs you already kubectl apply.
//
// It binds Weir's C ABI (libweir, include/weir.h in the repository) with cgo
// and finds the library through pkg-config. Install it first, from the
// repository root:
//
//	make install PREFIX=$HOME/.local
//	export PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig LD_LIBRARY_PATH=$HOME/.local/lib
//
// then import the package (its name is weir):
//
//	import weir "github.com/weir-mesh/weir/go"
//
// An Engine holds the routing table in force. Apply swaps in a new config;
// a rejected one keeps the old table and returns a *ConfigError with the
// diagnostics. Engine.Decide decides on the table in force and returns a
// Decision of plain Go values.
//
// # The per-request path
//
// A proxy makes a Source once per listener (who sends the requests: the
// gateway, the client namespace and labels, the local address) and passes the
// client address as a netip.AddrPort taken from the connection
// (AddrPortOf(conn.RemoteAddr())), never as text. Decide then costs one cgo
// call into weir_engine_decide and allocates nothing once warm: the
// authority, method and path go to C as they are (Go memory without Go
// pointers, as the cgo pointer rules allow), the headers through one reused
// buffer, and the strings of the answer (cluster, endpoint, route names) are
// Go strings cached per C string, compared byte for byte before reuse.
// DecideInto reuses a caller's Decision, slices included.
//
// # The proxy
//
// Package proxy (github.com/weir-mesh/weir/go/proxy) is an http.Handler that
// carries out the decisions, and cmd/weir-proxy runs it:
//
//	go run ./cmd/weir-proxy -config ../examples/configs/fleetman-canary.yaml
//
// TCP and TLS connections are decided once, when they open, with
// Engine.DecideTCP (tcp[] rules, or tls[] rules by SNI); proxy.TCP forwards
// them (weir-proxy -tcp-listen).
//
// Snapshot pins one table, for a request whose end is reported back
// (DecideTracked, Finish: least request, outlier detection) or for several
// decisions that must see the same config.
//
// # Telemetry
//
// Engine.Record counts a finished request in Istio's standard metrics
// (istio_requests_total, istio_request_duration_milliseconds,
// istio_request_bytes, istio_response_bytes) under the decision's labels;
// Engine.Metrics renders them as Prometheus text (weir-proxy
// -metrics-listen serves it on /metrics). A request without x-request-id
// gets RequestID(entropy), a UUID v4 of the decision's entropy; one that
// has it keeps it. RateLimiter is Envoy's local_ratelimit token bucket.
//
// The same table, request and entropy give the same decision in Go, C and
// Rust: entropy drives every random choice (weights, fault and mirror
// percentages, random and least-request picks).
package weir
