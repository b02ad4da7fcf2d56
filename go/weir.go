package weir

/*
#cgo pkg-config: weir
#include <stdlib.h>
#include <string.h>
#include <weir.h>
*/
import "C"

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// ResultError is a failed C ABI call: its weir_result code and the call.
type ResultError struct {
	Code uint32
	Op   string
}

func (e *ResultError) Error() string {
	var buf [256]C.char
	var n C.size_t
	C.weir_error_message(C.uint32_t(e.Code), &buf[0], C.size_t(len(buf)), &n)
	return fmt.Sprintf("weir: %s: %s (code %d)", e.Op, C.GoStringN(&buf[0], C.int(n)), e.Code)
}

func check(op string, rc C.weir_result) error {
	if rc == C.WEIR_RESULT_OK {
		return nil
	}
	return &ResultError{Code: uint32(rc), Op: op}
}

// Severity of a Diagnostic.
type Severity int

// Severities, as libweir numbers them.
const (
	SeverityError   Severity = C.WEIR_SEVERITY_ERROR
	SeverityWarning Severity = C.WEIR_SEVERITY_WARNING
	SeverityInfo    Severity = C.WEIR_SEVERITY_INFO
)

func (s Severity) String() string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	default:
		return "info"
	}
}

// Diagnostic is one problem found in a config.
type Diagnostic struct {
	Code      string // IST0101, WEIR0001, …
	Severity  Severity
	Kind      string // VirtualService, …
	Namespace string
	Name      string
	Field     string // e.g. spec.http[0].match[0].uri.regex
	Message   string
	File      string // the name given to Apply
	Line      int    // of a syntax error; 0 when unknown
	Column    int
}

func (d Diagnostic) String() string {
	return fmt.Sprintf("%s %s %s %s/%s %s: %s", d.Severity, d.Code, d.Kind, d.Namespace, d.Name, d.Field, d.Message)
}

// ConfigError is returned by Apply when the config had errors; the previous
// table keeps serving.
type ConfigError struct {
	Diagnostics []Diagnostic
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	n := 0
	for _, d := range e.Diagnostics {
		if d.Severity == SeverityError {
			n++
		}
	}
	fmt.Fprintf(&b, "weir: config rejected with %d error(s)", n)
	for _, d := range e.Diagnostics {
		if d.Severity == SeverityError {
			b.WriteString("\n  ")
			b.WriteString(d.String())
		}
	}
	return b.String()
}

// Engine holds the routing table in force. Safe for concurrent use.
type Engine struct {
	p     *C.weir_engine
	once  sync.Once
	spare spareDecider
}

// New makes an engine with an empty table (every request: no route).
func New() (*Engine, error) {
	var p *C.weir_engine
	if err := check("engine_new", C.weir_engine_new(&p)); err != nil {
		return nil, err
	}
	e := &Engine{p: p}
	e.spare.init()
	runtime.SetFinalizer(e, (*Engine).Close)
	return e, nil
}

// Close frees the engine. Snapshots taken from it stay valid until closed.
func (e *Engine) Close() {
	e.once.Do(func() {
		C.weir_engine_free(e.p)
		runtime.SetFinalizer(e, nil)
		e.spare.release()
	})
}

// goStr copies a C string into Go (config-time paths; the per-request path
// uses a decider's cache).
func goStr(s C.weir_str) string {
	if s.len == 0 {
		return ""
	}
	return C.GoStringN(s.ptr, C.int(s.len))
}

// bytesPtr is the first byte of b for C, nil when empty: Go memory with no Go
// pointers in it, which C may read for the length of a call.
func bytesPtr(b []byte) *C.char {
	if len(b) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(&b[0]))
}

// Apply validates, compiles and publishes config (YAML or JSON, one or more
// documents) named name in diagnostics. It returns the warnings of an
// applied config, or a *ConfigError with every problem; a rejected config
// changes nothing.
func (e *Engine) Apply(name string, config []byte) ([]Diagnostic, error) {
	var d *C.weir_diagnostics
	if err := check("diagnostics_new", C.weir_diagnostics_new(&d)); err != nil {
		return nil, err
	}
	defer C.weir_diagnostics_free(d)
	nameBytes := []byte(name)
	rc := C.weir_engine_apply(e.p, bytesPtr(nameBytes), C.size_t(len(nameBytes)),
		bytesPtr(config), C.size_t(len(config)), d)
	runtime.KeepAlive(e)
	runtime.KeepAlive(nameBytes)
	runtime.KeepAlive(config)
	var n C.size_t
	C.weir_diagnostics_count(d, &n)
	diags := make([]Diagnostic, 0, int(n))
	for i := C.size_t(0); i < n; i++ {
		var g C.weir_diagnostic
		if C.weir_diagnostics_get(d, i, &g) != C.WEIR_RESULT_OK {
			continue
		}
		diags = append(diags, Diagnostic{
			Code: goStr(g.code), Severity: Severity(g.severity), Kind: goStr(g.resource_kind),
			Namespace: goStr(g.resource_namespace), Name: goStr(g.resource_name), Field: goStr(g.field),
			Message: goStr(g.message), File: goStr(g.file), Line: int(g.line), Column: int(g.column),
		})
	}
	if rc == C.WEIR_RESULT_CONFIG_REJECTED {
		return diags, &ConfigError{Diagnostics: diags}
	}
	return diags, check("engine_apply", rc)
}

// cArena holds copies of Go strings in C memory for a call that takes arrays
// of string pairs (labels, endpoints): Go may not store Go pointers in C
// memory, so the bytes themselves move over. Config-time paths only.
type cArena struct{ blocks []unsafe.Pointer }

func (a *cArena) alloc(n int) unsafe.Pointer {
	p := C.calloc(1, C.size_t(n))
	a.blocks = append(a.blocks, p)
	return p
}

func (a *cArena) str(s string) (*C.char, C.size_t) {
	if s == "" {
		return nil, 0
	}
	p := a.alloc(len(s))
	copy(unsafe.Slice((*byte)(p), len(s)), s)
	return (*C.char)(p), C.size_t(len(s))
}

// pairs copies name/value pairs into a C weir_header array.
func (a *cArena) pairs(hs []Header) (*C.weir_header, C.size_t) {
	if len(hs) == 0 {
		return nil, 0
	}
	arr := (*C.weir_header)(a.alloc(len(hs) * int(unsafe.Sizeof(C.weir_header{}))))
	out := unsafe.Slice(arr, len(hs))
	for i, h := range hs {
		out[i].name, out[i].name_len = a.str(h.Name)
		out[i].value, out[i].value_len = a.str(h.Value)
	}
	return arr, C.size_t(len(hs))
}

func (a *cArena) free() {
	for _, p := range a.blocks {
		C.free(p)
	}
}

// SetCompileBudget sets the most bytes the engine's endpoint sets and
// balancer tables may take (4 GiB by default): an Apply over it fails with a
// *ConfigError holding a WEIR0011 diagnostic, a SetEndpoints over it with a
// *ResultError; either way the table in force stays.
func (e *Engine) SetCompileBudget(bytes uint64) error {
	err := check("engine_set_compile_budget", C.weir_engine_set_compile_budget(e.p, C.size_t(bytes)))
	runtime.KeepAlive(e)
	return err
}

// Endpoint is one backend for SetEndpoints.
type Endpoint struct {
	Address  string // IP
	Port     int    // 0: the service's target port
	Labels   map[string]string
	Weight   int
	Locality string // region/zone/subzone
}

// SetEndpoints replaces the endpoints of service host (FQDN or short name in
// namespace default); the override survives later Apply calls.
func (e *Engine) SetEndpoints(host string, endpoints []Endpoint) error {
	var a cArena
	defer a.free()
	var eps *C.weir_endpoint
	if len(endpoints) > 0 {
		eps = (*C.weir_endpoint)(a.alloc(len(endpoints) * int(unsafe.Sizeof(C.weir_endpoint{}))))
	}
	arr := unsafe.Slice(eps, len(endpoints))
	for i, ep := range endpoints {
		arr[i].address, arr[i].address_len = a.str(ep.Address)
		arr[i].port = C.uint32_t(ep.Port)
		arr[i].weight = C.uint32_t(ep.Weight)
		arr[i].locality, arr[i].locality_len = a.str(ep.Locality)
		labels := make([]Header, 0, len(ep.Labels))
		for k, v := range ep.Labels {
			labels = append(labels, Header{k, v})
		}
		arr[i].labels, arr[i].labels_len = a.pairs(labels)
	}
	h, hl := a.str(host)
	err := check("engine_set_endpoints", C.weir_engine_set_endpoints(e.p, h, hl, eps, C.size_t(len(endpoints))))
	runtime.KeepAlive(e)
	return err
}

// Snapshot is the table in force when taken; it does not change. Safe for
// concurrent use. Close it when done (a finalizer is a backstop).
type Snapshot struct {
	p     *C.weir_snapshot
	once  sync.Once
	spare spareDecider
}

// Snapshot takes the table in force (lock-free).
func (e *Engine) Snapshot() *Snapshot {
	var p *C.weir_snapshot
	C.weir_engine_snapshot(e.p, &p)
	runtime.KeepAlive(e)
	s := &Snapshot{p: p}
	s.spare.init()
	runtime.SetFinalizer(s, (*Snapshot).Close)
	return s
}

// Close releases the snapshot.
func (s *Snapshot) Close() {
	s.once.Do(func() {
		C.weir_snapshot_free(s.p)
		runtime.SetFinalizer(s, nil)
		s.spare.release()
	})
}

// Header is a name/value pair: a request header, a label, a header edit.
type Header struct{ Name, Value string }

// setAddress writes addr into *a as a weir_address (all zero when addr is
// not valid), in place: the per-request path writes straight into C memory.
// An IPv4-mapped IPv6 address is taken as the IPv4 address it carries, as
// the sockets of a dual-stack listener report IPv4 clients.
func setAddress(a *C.weir_address, addr netip.AddrPort) {
	ip := addr.Addr()
	ip16 := (*[16]byte)(unsafe.Pointer(&a.ip))
	switch {
	case ip.Is4() || ip.Is4In6():
		a.family = C.WEIR_ADDRESS_IPV4
		*ip16 = [16]byte{}
		v4 := ip.Unmap().As4()
		copy(ip16[:4], v4[:])
	case ip.Is6():
		a.family = C.WEIR_ADDRESS_IPV6
		*ip16 = ip.As16()
	default:
		*a = C.weir_address{}
		return
	}
	a.port = C.uint16_t(addr.Port())
}

// AddrPortOf is the IP address and port of a TCP or UDP net.Addr (what a
// net.Conn's RemoteAddr and LocalAddr return), without formatting or
// parsing text; the zero AddrPort (unknown) for any other kind of address.
func AddrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

// Source is who sends requests: the gateway listener (or a sidecar) and the
// client workload's namespace, labels and local address. A proxy makes one
// per listener with NewSource and uses it for every request (Weir checks it
// once). A nil *Source is a sidecar with no namespace or labels (mesh).
type Source struct {
	p    *C.weir_source
	once sync.Once
}

// NewSource makes a Source. gateway is "namespace/name", or "" for a
// sidecar; local is the address the listener accepts connections on (the
// zero AddrPort when unknown).
func NewSource(gateway, namespace string, labels []Header, local netip.AddrPort) (*Source, error) {
	var a cArena
	defer a.free()
	g, gl := a.str(gateway)
	n, nl := a.str(namespace)
	ls, lsl := a.pairs(labels)
	addr := (*C.weir_address)(a.alloc(int(unsafe.Sizeof(C.weir_address{}))))
	setAddress(addr, local)
	var p *C.weir_source
	if err := check("source_new", C.weir_source_new(g, gl, n, nl, ls, lsl, addr, &p)); err != nil {
		return nil, err
	}
	s := &Source{p: p}
	runtime.SetFinalizer(s, (*Source).Close)
	return s, nil
}

// Close frees the source; no Decide may be using it.
func (s *Source) Close() {
	s.once.Do(func() {
		C.weir_source_free(s.p)
		runtime.SetFinalizer(s, nil)
	})
}

// handle is the source for C, NULL for a nil *Source.
func (s *Source) handle() *C.weir_source {
	if s == nil {
		return nil
	}
	return s.p
}

// Version is libweir's version.
func Version() string {
	var s C.weir_str
	C.weir_version(&s)
	return goStr(s)
}
