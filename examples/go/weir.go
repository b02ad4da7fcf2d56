// Package weir is a Go binding of Weir's C ABI (include/weir.h, libweir.a):
// Istio routing decisions inside a Go proxy.
//
// Build with cgo pointing at the header and the static library:
//
//	CGO_CFLAGS="-I$REPO/include" CGO_LDFLAGS="$REPO/target/release/libweir.a -lpthread -ldl -lm" go build ./...
//
// An Engine holds the routing table in force; Apply swaps in a new config
// (a rejected one keeps the old table and returns a *ConfigError carrying the
// diagnostics). Decide takes a Request and returns a Decision: plain Go values
// copied out of Weir, safe to keep.
package weir

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -lpthread -ldl -lm
#include <stdlib.h>
#include <string.h>
#include "weir.h"

// Go may not pass Go memory that holds Go pointers to C, so the request's
// strings travel as one byte buffer plus lengths, and the weir_request and
// its header array are built here, on the C stack. A cgo call costs far more
// than a C call, so one call decides and fills the whole flat view
// (weir_decision_fill_view) instead of calling each accessor.
#define GO_MAX_PAIRS 64

// Points f[0..n) into the buffer at *p, lengths from lens[*i], and moves both
// past them.
static void unpack_fields(const char **f, size_t n, const char **p, const size_t *lens, size_t *i) {
	for (size_t k = 0; k < n; k++, (*i)++) { f[k] = *p; *p += lens[*i]; }
}

// Fills pairs[0..n) from the buffer at *p, lengths from lens[*i], and moves
// both past them.
static void unpack_pairs(weir_header *pairs, size_t n, const char **p, const size_t *lens, size_t *i) {
	for (size_t k = 0; k < n; k++, *i += 2) {
		pairs[k].name = *p; pairs[k].name_len = lens[*i]; *p += lens[*i];
		pairs[k].value = *p; pairs[k].value_len = lens[*i + 1]; *p += lens[*i + 1];
	}
}

static weir_result go_decide(const weir_snapshot *snap, uintptr_t src, const char *buf,
                             const size_t *lens, size_t nheaders, uint16_t port, uint64_t entropy,
                             weir_decision *d, weir_decision_view *view) {
	weir_header headers[GO_MAX_PAIRS];
	if (nheaders > GO_MAX_PAIRS) nheaders = GO_MAX_PAIRS;
	const char *p = buf;
	const char *f[5];
	size_t i = 0;
	unpack_fields(f, 5, &p, lens, &i);
	unpack_pairs(headers, nheaders, &p, lens, &i);
	weir_request r;
	memset(&r, 0, sizeof r);
	r.authority = f[0]; r.authority_len = lens[0];
	r.method = f[1]; r.method_len = lens[1];
	r.path = f[2]; r.path_len = lens[2];
	r.scheme = f[3]; r.scheme_len = lens[3];
	r.port = port;
	r.headers = headers; r.headers_len = nheaders;
	r.source = (const weir_source *)src;
	// Go has the client address as text (http.Request.RemoteAddr).
	weir_result rc = weir_address_parse(f[4], lens[4], &r.remote);
	if (rc != WEIR_RESULT_OK) return rc;
	rc = weir_snapshot_decide(snap, &r, entropy, d, NULL);
	if (rc != WEIR_RESULT_OK) return rc;
	return weir_decision_fill_view(d, view);
}

static weir_result go_decide_tcp(const weir_snapshot *snap, uintptr_t src, const char *buf,
                                 const size_t *lens, uint16_t port, uint64_t entropy, weir_decision *d,
                                 weir_decision_view *view) {
	weir_connection c;
	memset(&c, 0, sizeof c);
	const char *p = buf;
	const char *f[4];
	size_t i = 0;
	unpack_fields(f, 4, &p, lens, &i);
	weir_result rc = weir_address_parse(f[0], lens[0], &c.destination);
	if (rc != WEIR_RESULT_OK) return rc;
	c.sni = f[1]; c.sni_len = lens[1];
	c.host = f[2]; c.host_len = lens[2];
	rc = weir_address_parse(f[3], lens[3], &c.remote);
	if (rc != WEIR_RESULT_OK) return rc;
	c.port = port;
	c.source = (const weir_source *)src;
	rc = weir_snapshot_decide_tcp(snap, &c, entropy, d, NULL);
	if (rc != WEIR_RESULT_OK) return rc;
	return weir_decision_fill_view(d, view);
}

static weir_result go_source_new(const char *buf, const size_t *lens, size_t nlabels, weir_source **out) {
	weir_header labels[GO_MAX_PAIRS];
	if (nlabels > GO_MAX_PAIRS) nlabels = GO_MAX_PAIRS;
	const char *p = buf;
	const char *f[3];
	size_t i = 0;
	unpack_fields(f, 3, &p, lens, &i);
	unpack_pairs(labels, nlabels, &p, lens, &i);
	weir_address local;
	weir_result rc = weir_address_parse(f[2], lens[2], &local);
	if (rc != WEIR_RESULT_OK) return rc;
	return weir_source_new(f[0], lens[0], f[1], lens[1], labels, nlabels, &local, out);
}

static weir_result go_apply(const weir_engine *e, const char *name, size_t name_len, const char *text,
                            size_t text_len, weir_diagnostics *d) {
	return weir_engine_apply(e, name, name_len, text, text_len, d);
}

static const weir_mirror *mirror_at(const weir_mirror *m, size_t i) { return &m[i]; }
static const weir_header *header_at(const weir_header *h, size_t i) { return &h[i]; }
static const weir_str *str_at(const weir_str *s, size_t i) { return &s[i]; }
static uint16_t u16_at(const uint16_t *s, size_t i) { return s[i]; }
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// ResultError is a failed C ABI call: its weir_result code and message.
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

const (
	SeverityError Severity = iota
	SeverityWarning
	SeverityInfo
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
	Code      string
	Severity  Severity
	Kind      string
	Namespace string
	Name      string
	Field     string // e.g. spec.http[0].match[0].uri.regex
	Message   string
	File      string
	Line      int
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
	p    *C.weir_engine
	once sync.Once
}

// New makes an engine with an empty table (every request: no route).
func New() (*Engine, error) {
	var p *C.weir_engine
	if err := check("engine_new", C.weir_engine_new(&p)); err != nil {
		return nil, err
	}
	e := &Engine{p: p}
	runtime.SetFinalizer(e, (*Engine).Close)
	return e, nil
}

// Close frees the engine. Snapshots taken from it stay valid until closed.
func (e *Engine) Close() {
	e.once.Do(func() {
		C.weir_engine_free(e.p)
		runtime.SetFinalizer(e, nil)
	})
}

func goStr(s C.weir_str) string {
	if s.len == 0 {
		return ""
	}
	return C.GoStringN(s.ptr, C.int(s.len))
}

// Apply validates, compiles and publishes config (YAML or JSON) named name.
// It returns the warnings of an applied config, or a *ConfigError.
func (e *Engine) Apply(name string, config []byte) ([]Diagnostic, error) {
	var d *C.weir_diagnostics
	if err := check("diagnostics_new", C.weir_diagnostics_new(&d)); err != nil {
		return nil, err
	}
	defer C.weir_diagnostics_free(d)
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var text *C.char
	if len(config) > 0 {
		text = (*C.char)(C.CBytes(config))
		defer C.free(unsafe.Pointer(text))
	}
	rc := C.go_apply(e.p, cname, C.size_t(len(name)), text, C.size_t(len(config)), d)
	runtime.KeepAlive(e)
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

// Endpoint is one backend for SetEndpoints.
type Endpoint struct {
	Address  string // IP
	Port     int    // 0: the service's target port
	Labels   map[string]string
	Weight   int
	Locality string
}

// SetEndpoints replaces the endpoints of service host (FQDN or short name in
// namespace default); the override survives later Apply calls.
func (e *Engine) SetEndpoints(host string, endpoints []Endpoint) error {
	var frees []unsafe.Pointer
	defer func() {
		for _, p := range frees {
			C.free(p)
		}
	}()
	cstr := func(s string) (*C.char, C.size_t) {
		p := C.CString(s)
		frees = append(frees, unsafe.Pointer(p))
		return p, C.size_t(len(s))
	}
	var eps *C.weir_endpoint
	if len(endpoints) > 0 {
		eps = (*C.weir_endpoint)(C.calloc(C.size_t(len(endpoints)), C.size_t(unsafe.Sizeof(C.weir_endpoint{}))))
		frees = append(frees, unsafe.Pointer(eps))
	}
	arr := unsafe.Slice(eps, len(endpoints))
	for i, ep := range endpoints {
		arr[i].address, arr[i].address_len = cstr(ep.Address)
		arr[i].port = C.uint32_t(ep.Port)
		arr[i].weight = C.uint32_t(ep.Weight)
		arr[i].locality, arr[i].locality_len = cstr(ep.Locality)
		if len(ep.Labels) > 0 {
			labels := (*C.weir_header)(C.calloc(C.size_t(len(ep.Labels)), C.size_t(unsafe.Sizeof(C.weir_header{}))))
			frees = append(frees, unsafe.Pointer(labels))
			ls := unsafe.Slice(labels, len(ep.Labels))
			j := 0
			for k, v := range ep.Labels {
				ls[j].name, ls[j].name_len = cstr(k)
				ls[j].value, ls[j].value_len = cstr(v)
				j++
			}
			arr[i].labels, arr[i].labels_len = labels, C.size_t(len(ep.Labels))
		}
	}
	h, hl := cstr(host)
	err := check("engine_set_endpoints", C.weir_engine_set_endpoints(e.p, h, hl, eps, C.size_t(len(endpoints))))
	runtime.KeepAlive(e)
	return err
}

// Snapshot is the table in force when taken; it does not change. Safe for
// concurrent use. Close it when done (a finalizer is a backstop).
type Snapshot struct {
	p    *C.weir_snapshot
	once sync.Once
}

// Snapshot takes the table in force (lock-free).
func (e *Engine) Snapshot() *Snapshot {
	var p *C.weir_snapshot
	C.weir_engine_snapshot(e.p, &p)
	runtime.KeepAlive(e)
	s := &Snapshot{p: p}
	runtime.SetFinalizer(s, (*Snapshot).Close)
	return s
}

// Close releases the snapshot.
func (s *Snapshot) Close() {
	s.once.Do(func() {
		C.weir_snapshot_free(s.p)
		runtime.SetFinalizer(s, nil)
	})
}

// Header is a name/value pair.
type Header struct{ Name, Value string }

// Source is who sends requests: the gateway listener (or a sidecar) and the
// client workload's namespace, labels and local address. A proxy makes one
// per listener with NewSource and uses it for every request (Weir checks it
// once). A nil *Source is a sidecar with no namespace or labels (mesh).
type Source struct {
	p    *C.weir_source
	once sync.Once
}

// NewSource makes a Source. gateway is "namespace/name", or "" for a
// sidecar; local is the "ip:port" connections arrive on, or "".
func NewSource(gateway, namespace string, labels []Header, local string) (*Source, error) {
	if len(labels) > 64 {
		return nil, errors.New("weir: more than 64 labels")
	}
	sc := scratches.Get().(*scratch)
	defer scratches.Put(sc)
	sc.buf, sc.lens = sc.buf[:0], sc.lens[:0]
	sc.add(gateway)
	sc.add(namespace)
	sc.add(local)
	sc.addPairs(labels)
	buf, lens := sc.ptrs()
	var p *C.weir_source
	if err := check("source_new", C.go_source_new(buf, lens, C.size_t(len(labels)), &p)); err != nil {
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

// handle is the source for C, 0 for a nil *Source. As an integer: cgo
// checks a pointer argument for Go pointers (an allocation per call), and
// this one is C memory.
func (s *Source) handle() C.uintptr_t {
	if s == nil {
		return 0
	}
	return C.uintptr_t(uintptr(unsafe.Pointer(s.p)))
}

// Request is the part of an HTTP request Weir decides on.
type Request struct {
	Authority string // Host, as sent
	Method    string
	Path      string // with the query
	Scheme    string // "" means http
	Port      int    // listener port; 0: the authority's
	Remote    string // client "ip:port"
	Headers   []Header
	Source    *Source // nil: a sidecar with no namespace or labels
}

// Connection is a TCP/TLS connection for DecideTCP.
type Connection struct {
	Destination string // "ip:port"
	Port        int
	SNI         string
	Host        string
	Remote      string
	Source      *Source // nil: a sidecar with no namespace or labels
}

// Outcome is the kind of answer.
type Outcome int

const (
	OutcomeRoute Outcome = iota
	OutcomeRedirect
	OutcomeDirectResponse
	OutcomeFaultAbort
	OutcomeNoRoute
	OutcomeNoCluster
	OutcomeNoHealthyUpstream
	OutcomeOverflow
)

var outcomeNames = [...]string{"route", "redirect", "direct_response", "fault_abort", "no_route", "no_cluster", "no_healthy_upstream", "overflow"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// IsLocalReply is true when the proxy answers itself instead of forwarding.
func (o Outcome) IsLocalReply() bool { return o != OutcomeRoute }

// Mirror is a cluster the request is copied to.
type Mirror struct {
	Cluster    string
	Host       string
	PerMillion uint32
}

// HeaderOps are header edits: remove, then set, then add.
type HeaderOps struct {
	Set    []Header
	Add    []Header
	Remove []string
}

// RetryPolicy of the matched route (Istio's defaults filled in).
type RetryPolicy struct {
	Attempts             int
	PerTryTimeout        time.Duration // 0: the route timeout
	RetryOn              string
	RetriableStatusCodes []int
}

// Decision is what to do with one request; plain Go values.
type Decision struct {
	Outcome    Outcome
	Status     int
	GRPCStatus *uint32
	// The matched rule; RuleIndex is -1 when none or the default route.
	Matched             bool
	RouteNamespace      string
	RouteVirtualService string
	RouteName           string
	RuleIndex           int
	DestinationIndex    int // -1: none
	Cluster             string
	Host                string
	Subset              string
	Port                int
	Endpoint            string // "ip:port"
	OriginalDestination bool
	Delay               time.Duration
	Timeout             time.Duration // 0: none
	Retries             *RetryPolicy
	Mirrors             []Mirror
	RequestHeaders      HeaderOps
	ResponseHeaders     HeaderOps
	UpstreamPath        string
	PathRewritten       bool
	UpstreamAuthority   string // "": keep the request's
	Location            string
	Body                []byte
	SetCookie           string
	Hash                *uint64
	HasDelay            bool
	HasTimeout          bool
}

// decisionBox owns one reusable weir_decision (not for concurrent use), so a
// Decide allocates nothing on the C side.
type decisionBox struct{ p *C.weir_decision }

var decisions = sync.Pool{New: func() any {
	b := &decisionBox{}
	C.weir_decision_new(&b.p)
	runtime.SetFinalizer(b, func(b *decisionBox) { C.weir_decision_free(b.p) })
	return b
}}

// scratch is a reusable request buffer. The view lives in C memory: a Go
// pointer to a struct full of pointers would make cgo scan it on every call.
type scratch struct {
	buf  []byte
	lens []C.size_t
	view *C.weir_decision_view
}

var scratches = sync.Pool{New: func() any {
	s := &scratch{buf: make([]byte, 0, 1024), lens: make([]C.size_t, 0, 32),
		view: (*C.weir_decision_view)(C.calloc(1, C.size_t(unsafe.Sizeof(C.weir_decision_view{}))))}
	runtime.SetFinalizer(s, func(s *scratch) { C.free(unsafe.Pointer(s.view)) })
	return s
}}

func (s *scratch) add(v string) {
	s.buf = append(s.buf, v...)
	s.lens = append(s.lens, C.size_t(len(v)))
}

func (s *scratch) addPairs(pairs []Header) {
	for _, h := range pairs {
		s.add(h.Name)
		s.add(h.Value)
	}
}

func (s *scratch) ptrs() (*C.char, *C.size_t) {
	if len(s.buf) == 0 {
		s.buf = append(s.buf, 0)
		s.buf = s.buf[:0]
	}
	return (*C.char)(unsafe.Pointer(&s.buf[:1][0])), &s.lens[0]
}

// Decide decides on this snapshot. entropy drives every random choice: the
// same table, request and entropy give the same decision (in Rust, C and Go).
func (s *Snapshot) Decide(r *Request, entropy uint64) (Decision, error) {
	d, _, err := s.decide(r, entropy, false)
	return d, err
}

// Ticket is a request in flight (least request, pool limits, outlier detection).
type Ticket struct{ t C.weir_ticket }

// DecideTracked decides and, for a routed request, begins feedback: call
// Finish with the upstream status when the request ends, on the same snapshot.
func (s *Snapshot) DecideTracked(r *Request, entropy uint64) (Decision, *Ticket, error) {
	return s.decide(r, entropy, true)
}

// Finish ends a tracked request with the upstream status (0: connect failure).
func (s *Snapshot) Finish(t *Ticket, status int, now time.Time) error {
	if t == nil {
		return nil
	}
	err := check("feedback_finish", C.weir_feedback_finish(s.p, &t.t, C.uint32_t(status), C.uint64_t(monoMillis(now))))
	runtime.KeepAlive(s)
	return err
}

var start = time.Now()

func monoMillis(t time.Time) uint64 {
	if t.IsZero() {
		t = time.Now()
	}
	return uint64(t.Sub(start)/time.Millisecond) + 1
}

func (s *Snapshot) decide(r *Request, entropy uint64, track bool) (Decision, *Ticket, error) {
	sc := scratches.Get().(*scratch)
	defer scratches.Put(sc)
	sc.buf, sc.lens = sc.buf[:0], sc.lens[:0]
	sc.add(r.Authority)
	sc.add(r.Method)
	sc.add(r.Path)
	sc.add(r.Scheme)
	sc.add(r.Remote)
	sc.addPairs(r.Headers)
	if len(r.Headers) > 64 {
		return Decision{}, nil, errors.New("weir: more than 64 headers")
	}
	box := decisions.Get().(*decisionBox)
	defer decisions.Put(box)
	buf, lens := sc.ptrs()
	rc := C.go_decide(s.p, r.Source.handle(), buf, lens, C.size_t(len(r.Headers)),
		C.uint16_t(r.Port), C.uint64_t(entropy), box.p, sc.view)
	runtime.KeepAlive(r.Source)
	if err := check("snapshot_decide", rc); err != nil {
		return Decision{}, nil, err
	}
	d := fromView(sc.view)
	var t *Ticket
	if track && d.Outcome == OutcomeRoute {
		t = &Ticket{}
		if err := check("feedback_begin", C.weir_feedback_begin(s.p, box.p, &t.t)); err != nil {
			return d, nil, err
		}
	}
	runtime.KeepAlive(s)
	return d, t, nil
}

// DecideTCP decides for a TCP/TLS connection.
func (s *Snapshot) DecideTCP(c *Connection, entropy uint64) (Decision, error) {
	sc := scratches.Get().(*scratch)
	defer scratches.Put(sc)
	sc.buf, sc.lens = sc.buf[:0], sc.lens[:0]
	for _, v := range []string{c.Destination, c.SNI, c.Host, c.Remote} {
		sc.add(v)
	}
	box := decisions.Get().(*decisionBox)
	defer decisions.Put(box)
	buf, lens := sc.ptrs()
	rc := C.go_decide_tcp(s.p, c.Source.handle(), buf, lens, C.uint16_t(c.Port), C.uint64_t(entropy), box.p, sc.view)
	runtime.KeepAlive(c.Source)
	if err := check("snapshot_decide_tcp", rc); err != nil {
		return Decision{}, err
	}
	d := fromView(sc.view)
	runtime.KeepAlive(s)
	return d, nil
}

// Decide takes a snapshot, decides and releases it.
func (e *Engine) Decide(r *Request, entropy uint64) (Decision, error) {
	s := e.Snapshot()
	defer s.Close()
	return s.Decide(r, entropy)
}

func headerOps(set *C.weir_header, nset C.size_t, add *C.weir_header, nadd C.size_t, rem *C.weir_str, nrem C.size_t) HeaderOps {
	var ops HeaderOps
	for i := C.size_t(0); i < nset; i++ {
		h := C.header_at(set, i)
		ops.Set = append(ops.Set, Header{C.GoStringN(h.name, C.int(h.name_len)), C.GoStringN(h.value, C.int(h.value_len))})
	}
	for i := C.size_t(0); i < nadd; i++ {
		h := C.header_at(add, i)
		ops.Add = append(ops.Add, Header{C.GoStringN(h.name, C.int(h.name_len)), C.GoStringN(h.value, C.int(h.value_len))})
	}
	for i := C.size_t(0); i < nrem; i++ {
		ops.Remove = append(ops.Remove, goStr(*C.str_at(rem, i)))
	}
	return ops
}

func fromView(v *C.weir_decision_view) Decision {
	d := Decision{
		Outcome:             Outcome(v.outcome),
		Status:              int(v.status),
		Matched:             bool(v.has_route),
		RouteNamespace:      goStr(v.route_namespace),
		RouteVirtualService: goStr(v.route_virtual_service),
		RouteName:           goStr(v.route_name),
		RuleIndex:           -1,
		DestinationIndex:    -1,
		Cluster:             goStr(v.cluster),
		Host:                goStr(v.destination_host),
		Subset:              goStr(v.destination_subset),
		Port:                int(v.destination_port),
		Endpoint:            goStr(v.endpoint),
		OriginalDestination: bool(v.original_destination),
		HasDelay:            bool(v.has_delay),
		Delay:               time.Duration(v.delay_ns),
		HasTimeout:          bool(v.has_timeout),
		Timeout:             time.Duration(v.timeout_ns),
		UpstreamPath:        goStr(v.upstream_path),
		PathRewritten:       bool(v.path_rewritten),
		UpstreamAuthority:   goStr(v.upstream_authority),
		Location:            goStr(v.location),
		SetCookie:           goStr(v.set_cookie),
	}
	if v.has_grpc_status {
		g := uint32(v.grpc_status)
		d.GRPCStatus = &g
	}
	if v.has_rule_index {
		d.RuleIndex = int(v.rule_index)
	}
	if v.has_destination {
		d.DestinationIndex = int(v.destination_index)
	}
	if v.has_retries {
		rp := &RetryPolicy{Attempts: int(v.retry_attempts), RetryOn: goStr(v.retry_on)}
		if v.has_retry_per_try_timeout {
			rp.PerTryTimeout = time.Duration(v.retry_per_try_timeout_ns)
		}
		for i := C.size_t(0); i < v.retriable_status_codes_len; i++ {
			rp.RetriableStatusCodes = append(rp.RetriableStatusCodes, int(C.u16_at(v.retriable_status_codes, i)))
		}
		d.Retries = rp
	}
	if v.body.len > 0 {
		d.Body = C.GoBytes(unsafe.Pointer(v.body.ptr), C.int(v.body.len))
	}
	if v.has_hash {
		h := uint64(v.hash)
		d.Hash = &h
	}
	for i := C.size_t(0); i < v.mirrors_len; i++ {
		m := C.mirror_at(v.mirrors, i)
		d.Mirrors = append(d.Mirrors, Mirror{Cluster: goStr(m.cluster), Host: goStr(m.host), PerMillion: uint32(m.per_million)})
	}
	d.RequestHeaders = headerOps(v.request_headers_set, v.request_headers_set_len, v.request_headers_add,
		v.request_headers_add_len, v.request_headers_remove, v.request_headers_remove_len)
	d.ResponseHeaders = headerOps(v.response_headers_set, v.response_headers_set_len, v.response_headers_add,
		v.response_headers_add_len, v.response_headers_remove, v.response_headers_remove_len)
	return d
}

// Version is libweir's version.
func Version() string {
	var s C.weir_str
	C.weir_version(&s)
	return goStr(s)
}
