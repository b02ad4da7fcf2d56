package weir

/*
#cgo pkg-config: weir
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <weir.h>

// One decider's C side, in C memory: the request and connection Go fills in
// (numbers and C handles only), the reusable decision, the view it is read
// out through and the header array. A Go pointer to a struct full of
// pointers would be checked by cgo on every call and is not allowed to hold
// Go pointers anyway; this struct never holds one after a call returns.
typedef struct {
	weir_request request;
	weir_connection connection;
	weir_decision *decision;
	weir_decision_view view;
	weir_header *headers;
	size_t headers_cap;
	uint64_t table_id;
} go_decider;

// Decides the request g->request on the snapshot, or on the engine's table
// in force when snapshot is 0, and fills g->view. Go has written the
// lengths into g->request and g->headers (C memory); the bytes are Go
// memory without Go pointers, passed as arguments as the cgo pointer rules
// allow: the authority, method, path and scheme as they are, the headers'
// names and values back to back in hbuf. The pointers into Go memory are
// cleared before returning: C may keep no Go pointer after the call.
static weir_result go_decide(uintptr_t gp, uintptr_t engine, uintptr_t snapshot, const char *authority,
                             const char *method, const char *path, const char *scheme, const char *hbuf,
                             uint64_t entropy) {
	go_decider *g = (go_decider *)gp;
	weir_request *r = &g->request;
	r->authority = authority; r->method = method; r->path = path; r->scheme = scheme;
	const char *p = hbuf;
	for (size_t k = 0; k < r->headers_len; k++) {
		g->headers[k].name = p; p += g->headers[k].name_len;
		g->headers[k].value = p; p += g->headers[k].value_len;
	}
	r->headers = r->headers_len ? g->headers : NULL;
	weir_result rc = snapshot
		? weir_snapshot_decide((const weir_snapshot *)snapshot, r, entropy, g->decision, NULL)
		: weir_engine_decide((const weir_engine *)engine, r, entropy, g->decision, NULL);
	r->authority = r->method = r->path = r->scheme = NULL;
	for (size_t k = 0; k < r->headers_len; k++) g->headers[k].name = g->headers[k].value = NULL;
	if (rc != WEIR_RESULT_OK) return rc;
	rc = weir_decision_fill_view(g->decision, &g->view);
	if (rc != WEIR_RESULT_OK) return rc;
	return weir_decision_table_id(g->decision, &g->table_id);
}

// Decides the connection g->connection on the snapshot and fills g->view;
// buf holds the SNI then the host, lens their lengths.
static weir_result go_decide_tcp(uintptr_t gp, uintptr_t snapshot, const char *sni, const char *host,
                                 uint64_t entropy) {
	go_decider *g = (go_decider *)gp;
	weir_connection *c = &g->connection;
	c->sni = sni; c->host = host;
	weir_result rc = weir_snapshot_decide_tcp((const weir_snapshot *)snapshot, c, entropy, g->decision, NULL);
	c->sni = c->host = NULL;
	if (rc != WEIR_RESULT_OK) return rc;
	rc = weir_decision_fill_view(g->decision, &g->view);
	if (rc != WEIR_RESULT_OK) return rc;
	return weir_decision_table_id(g->decision, &g->table_id);
}
// An empty C function: BenchmarkCgoCall measures the cost of a cgo call alone.
static void go_noop(void) {}
*/
import "C"

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Request is the part of an HTTP request Weir decides on.
type Request struct {
	Authority string // Host, as sent
	Method    string
	Path      string // with the query
	Scheme    string // "" means http
	Port      int    // listener port; 0: the authority's
	// Remote is the client's address, from the connection
	// (AddrPortOf(conn.RemoteAddr())); the zero value is unknown.
	Remote  netip.AddrPort
	Headers []Header
	Source  *Source // nil: a sidecar with no namespace or labels
}

// Connection is a TCP or TLS connection for DecideTCP.
type Connection struct {
	Destination netip.AddrPort // the original destination; zero when unknown
	Port        int            // listener port; 0: the destination's
	SNI         string         // TLS server name; "" for plain TCP (only tcp[] rules match)
	Host        string         // the service host connected to, when known
	Remote      netip.AddrPort // the client; zero when unknown
	Source      *Source        // nil: a sidecar with no namespace or labels
}

// Outcome is the kind of answer.
type Outcome int

// Outcomes, as libweir numbers them.
const (
	OutcomeRoute             Outcome = C.WEIR_OUTCOME_ROUTE
	OutcomeRedirect          Outcome = C.WEIR_OUTCOME_REDIRECT
	OutcomeDirectResponse    Outcome = C.WEIR_OUTCOME_DIRECT_RESPONSE
	OutcomeFaultAbort        Outcome = C.WEIR_OUTCOME_FAULT_ABORT
	OutcomeNoRoute           Outcome = C.WEIR_OUTCOME_NO_ROUTE
	OutcomeNoCluster         Outcome = C.WEIR_OUTCOME_NO_CLUSTER
	OutcomeNoHealthyUpstream Outcome = C.WEIR_OUTCOME_NO_HEALTHY_UPSTREAM
	OutcomeOverflow          Outcome = C.WEIR_OUTCOME_OVERFLOW
)

var outcomeNames = [...]string{"route", "redirect", "direct_response", "fault_abort", "no_route", "no_cluster", "no_healthy_upstream", "overflow"}

func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
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
	Attempts      int
	PerTryTimeout time.Duration // 0: the route timeout
	RetryOn       string
	// RetriableStatusCodes is shared between decisions: read it, do not
	// modify it.
	RetriableStatusCodes []int
}

// Decision is what to do with one request; plain Go values that stay valid
// after the next decision and after the config changes.
type Decision struct {
	Outcome       Outcome
	Status        int    // of a local reply
	GRPCStatus    uint32 // a gRPC fault abort: answer 200 with this grpc-status
	HasGRPCStatus bool
	// The matched rule; RuleIndex is -1 when none or the default route.
	Matched             bool
	RouteNamespace      string
	RouteVirtualService string
	RouteName           string
	RuleIndex           int
	DestinationIndex    int    // -1: none
	Cluster             string // outbound|PORT|SUBSET|HOST
	Host                string
	Subset              string
	Port                int
	Endpoint            string // "ip:port"; "" when none
	Delay               time.Duration
	Timeout             time.Duration // 0: none
	Retries             RetryPolicy
	// The flags, together (a bool between wider fields pads to 8 bytes,
	// and every Decide zeroes and copies the whole struct).
	OriginalDestination bool
	HasDelay            bool
	HasTimeout          bool
	HasRetries          bool
	PathRewritten       bool
	HasHash             bool
	Mirrors             []Mirror
	RequestHeaders      HeaderOps
	ResponseHeaders     HeaderOps
	UpstreamPath        string
	UpstreamAuthority   string // "": keep the request's
	Location            string
	Body                []byte
	SetCookie           string
	Hash                uint64 // the consistent hash the endpoint was picked with (HasHash)
}

// internSlots is the size of a decider's string cache: enough for the
// clusters, endpoints and route names a proxy meets again and again.
const internSlots = 1024

type internEntry struct {
	p  uintptr // the C string's address (a number: it may be freed since)
	id uint64  // the table it was borrowed from; 0: unknown
	s  string
}

type codesEntry struct {
	p     uintptr
	codes []int
}

// decider decides one request at a time: its C side, the request buffer and
// its caches. Deciders are pooled (deciders), so a Decide allocates nothing.
type decider struct {
	c     *C.go_decider
	hbuf  []byte // the request headers' bytes, passed to C (no Go pointers inside)
	names [internSlots]internEntry
	codes [16]codesEntry
	// The previous decision's table and its table-borrowed fields, in
	// read's order.
	lastTable uint64
	last      [8]lastStr
	// The previous request's client address (written in c.request.remote)
	// and headers (their lengths in c.headers, their bytes in hbuf): fill
	// writes them again only when they change.
	lastRemote  netip.AddrPort
	lastHeaders []Header
}

var deciders = sync.Pool{New: func() any { return newDecider() }}

// spareDecider is a decider kept by an engine or snapshot for its
// decisions: taken with one compare-and-swap of a flag and handed back with
// one store (both inlined by the compiler, where swapping a pointer is a
// call with a write barrier), cheaper than the pool, which serves the calls
// that find it taken.
type spareDecider struct {
	d    *decider // set once, before the owner is shared
	busy uint32   // 1 while a call uses d, and for good after release
}

// init gives the spare its decider (from the pool), as its owner is made.
func (s *spareDecider) init() { s.d = fromPool() }

func (s *spareDecider) take() *decider {
	if atomic.CompareAndSwapUint32(&s.busy, 0, 1) {
		return s.d
	}
	return fromPool()
}

func (s *spareDecider) give(d *decider) {
	if d == s.d {
		atomic.StoreUint32(&s.busy, 0)
		return
	}
	toPool(d)
}

// fromPool and toPool are the spare's slow paths, out of line so that take
// and give inline.
//
//go:noinline
func fromPool() *decider { return deciders.Get().(*decider) }

//go:noinline
func toPool(d *decider) { deciders.Put(d) }

// release hands the spare back to the pool, when its owner closes; it is
// not used again.
func (s *spareDecider) release() {
	if atomic.CompareAndSwapUint32(&s.busy, 0, 1) {
		deciders.Put(s.d)
	}
}

func newDecider() *decider {
	d := &decider{hbuf: make([]byte, 0, 512)}
	d.c = (*C.go_decider)(C.calloc(1, C.size_t(unsafe.Sizeof(C.go_decider{}))))
	if C.weir_decision_new(&d.c.decision) != C.WEIR_RESULT_OK {
		panic("weir: weir_decision_new failed")
	}
	runtime.SetFinalizer(d, (*decider).free)
	return d
}

func (d *decider) free() {
	C.weir_decision_free(d.c.decision)
	C.free(unsafe.Pointer(d.c.headers))
	C.free(unsafe.Pointer(d.c))
}

// str is the C string s as a Go string: the cached one when the slot for
// its address holds the same bytes, else a new copy (which takes the slot).
func (d *decider) str(s C.weir_str) string {
	if s.len == 0 {
		return ""
	}
	return d.strOf(s, 0)
}

// tableStr is str for a view field that borrows the decision's table
// (weir_decision_table_id lists them): a slot filled from the same address
// of the same table holds the same bytes, as tables are immutable and their
// ids never reused, so it is reused without comparing them.
//
//go:noinline
func (d *decider) tableStr(s C.weir_str) string {
	id := uint64(d.c.table_id)
	e := &d.names[slot(uintptr(unsafe.Pointer(s.ptr)), int(s.len))]
	if e.p == uintptr(unsafe.Pointer(s.ptr)) && e.id == id && len(e.s) == int(s.len) && id != 0 {
		return e.s
	}
	return d.strOf(s, id)
}

// lastStr is one table-borrowed view field as the previous decision had it:
// most requests a decider serves get the same route, cluster and endpoint
// strings, found here with one compare instead of a hash and a slot.
type lastStr struct {
	c C.weir_str
	s string
}

// get is the field s as a Go string; same says the table is the previous
// decision's (its bytes at the same address are then the same).
func (l *lastStr) get(d *decider, s C.weir_str, same bool) string {
	if same && l.c == s {
		return l.s
	}
	l.c, l.s = s, d.tableStr(s)
	return l.s
}

// slot is the names index for the string at p, n bytes long.
func slot(p uintptr, n int) uint64 { return (uint64(p) ^ uint64(n)<<48) * 0x9E3779B97F4A7C15 >> 54 }

// strOf copies s (or finds its copy) into its slot, tagged with table id.
//
//go:noinline
func (d *decider) strOf(s C.weir_str, id uint64) string {
	n := int(s.len)
	if n == 0 {
		return ""
	}
	p := uintptr(unsafe.Pointer(s.ptr))
	e := &d.names[slot(p, n)]
	b := unsafe.Slice((*byte)(unsafe.Pointer(s.ptr)), n)
	if e.p != p || e.s != string(b) {
		e.p, e.s = p, string(b)
	}
	e.id = id
	return e.s
}

func (d *decider) retriableCodes(p *C.uint16_t, n C.size_t) []int {
	if n == 0 {
		return nil
	}
	src := unsafe.Slice((*uint16)(unsafe.Pointer(p)), int(n))
	e := &d.codes[(uint64(uintptr(unsafe.Pointer(p)))*0x9E3779B97F4A7C15)>>60]
	if e.p == uintptr(unsafe.Pointer(p)) && len(e.codes) == len(src) {
		same := true
		for i, c := range src {
			same = same && e.codes[i] == int(c)
		}
		if same {
			return e.codes
		}
	}
	codes := make([]int, len(src))
	for i, c := range src {
		codes[i] = int(c)
	}
	e.p, e.codes = uintptr(unsafe.Pointer(p)), codes[:len(codes):len(codes)]
	return e.codes
}

// cstr is s's bytes for C, NULL when s is empty. Passing it as a cgo
// argument is allowed: string bytes hold no Go pointers.
func cstr(s string) *C.char {
	if len(s) == 0 {
		return nil
	}
	return *(**C.char)(unsafe.Pointer(&s))
}

// fill writes r's lengths, numbers and handles into the decider's C
// request and packs the header bytes into hbuf.
func (d *decider) fill(r *Request) {
	q := &d.c.request
	q.authority_len = C.size_t(len(r.Authority))
	q.method_len = C.size_t(len(r.Method))
	q.path_len = C.size_t(len(r.Path))
	q.scheme_len = C.size_t(len(r.Scheme))
	q.headers_len = C.size_t(len(r.Headers))
	q.port = C.uint16_t(r.Port)
	if r.Remote != d.lastRemote {
		setAddress(&q.remote, r.Remote)
		d.lastRemote = r.Remote
	}
	q.source = r.Source.handle()
	if d.sameHeaders(r.Headers) {
		return
	}
	d.hbuf = d.hbuf[:0]
	d.lastHeaders = append(d.lastHeaders[:0], r.Headers...)
	if len(r.Headers) == 0 {
		return
	}
	if n := len(r.Headers); n > int(d.c.headers_cap) {
		p := C.realloc(unsafe.Pointer(d.c.headers), C.size_t(n)*C.size_t(unsafe.Sizeof(C.weir_header{})))
		if p == nil {
			panic("weir: out of memory")
		}
		d.c.headers, d.c.headers_cap = (*C.weir_header)(p), C.size_t(n)
	}
	hs := unsafe.Slice(d.c.headers, len(r.Headers))
	n := 0
	for i, h := range r.Headers {
		hs[i].name_len, hs[i].value_len = C.size_t(len(h.Name)), C.size_t(len(h.Value))
		n += len(h.Name) + len(h.Value)
	}
	if n > cap(d.hbuf) {
		d.hbuf = make([]byte, 0, 2*n)
	}
	// One bounds check and no growth test per copy (append had both).
	buf, at := d.hbuf[:n], 0
	for _, h := range r.Headers {
		at += copy(buf[at:], h.Name)
		at += copy(buf[at:], h.Value)
	}
	d.hbuf = buf
}

// sameHeaders is true when hs are the strings the previous request's
// headers were (the same bytes at the same addresses, kept alive by
// lastHeaders, so not freed and reused since): their lengths in C and their
// bytes in hbuf are then already in place. A proxy sending the same header
// strings (constants, interned names) skips the copy; other strings are
// copied, not compared.
func (d *decider) sameHeaders(hs []Header) bool {
	if len(hs) != len(d.lastHeaders) {
		return false
	}
	for i := range hs {
		h, l := &hs[i], &d.lastHeaders[i]
		if len(h.Name) != len(l.Name) || len(h.Value) != len(l.Value) ||
			stringData(h.Name) != stringData(l.Name) || stringData(h.Value) != stringData(l.Value) {
			return false
		}
	}
	return true
}

// stringData is the address of s's bytes (unsafe.StringData, Go 1.20).
func stringData(s string) uintptr { return *(*uintptr)(unsafe.Pointer(&s)) }

// hbufPtr is the header bytes for C, NULL when there are none.
func (d *decider) hbufPtr() *C.char {
	if len(d.hbuf) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(&d.hbuf[0]))
}

// cgoNoop is one cgo call doing nothing, the floor under any cgo binding's
// per-request cost (BenchmarkCgoCall).
func cgoNoop() { C.go_noop() }

// ErrPort is returned for a Request or Connection port outside 0..65535.
var ErrPort = errors.New("weir: port out of range")

func (d *decider) decide(engine *Engine, snap *Snapshot, r *Request, entropy uint64, out *Decision) error {
	if r.Port < 0 || r.Port > 65535 {
		return ErrPort
	}
	d.fill(r)
	var e, s uintptr
	if snap != nil {
		s = uintptr(unsafe.Pointer(snap.p))
	} else {
		e = uintptr(unsafe.Pointer(engine.p))
	}
	rc := C.go_decide(C.uintptr_t(uintptr(unsafe.Pointer(d.c))), C.uintptr_t(e), C.uintptr_t(s),
		cstr(r.Authority), cstr(r.Method), cstr(r.Path), cstr(r.Scheme), d.hbufPtr(), C.uint64_t(entropy))
	runtime.KeepAlive(r)
	d.c.request.source = nil
	runtime.KeepAlive(engine)
	runtime.KeepAlive(snap)
	runtime.KeepAlive(r.Source)
	if err := check("decide", rc); err != nil {
		return err
	}
	d.read(out, r.Path)
	return nil
}

func (d *decider) decideTCP(snap *Snapshot, c *Connection, entropy uint64, out *Decision) error {
	if c.Port < 0 || c.Port > 65535 {
		return ErrPort
	}
	q := &d.c.connection
	q.sni_len, q.host_len = C.size_t(len(c.SNI)), C.size_t(len(c.Host))
	setAddress(&q.destination, c.Destination)
	q.port = C.uint16_t(c.Port)
	setAddress(&q.remote, c.Remote)
	q.source = c.Source.handle()
	rc := C.go_decide_tcp(C.uintptr_t(uintptr(unsafe.Pointer(d.c))), C.uintptr_t(uintptr(unsafe.Pointer(snap.p))),
		cstr(c.SNI), cstr(c.Host), C.uint64_t(entropy))
	q.source = nil
	runtime.KeepAlive(c)
	runtime.KeepAlive(snap)
	runtime.KeepAlive(c.Source)
	if err := check("decide_tcp", rc); err != nil {
		return err
	}
	d.read(out, "")
	return nil
}

func (d *decider) headers(dst []Header, p *C.weir_header, n C.size_t) []Header {
	dst = dst[:0]
	for _, h := range unsafe.Slice(p, int(n)) {
		dst = append(dst, Header{d.str(C.weir_str{h.name, h.name_len}), d.str(C.weir_str{h.value, h.value_len})})
	}
	return dst
}

func (d *decider) strs(dst []string, p *C.weir_str, n C.size_t) []string {
	dst = dst[:0]
	for _, s := range unsafe.Slice(p, int(n)) {
		dst = append(dst, d.str(s))
	}
	return dst
}

// read copies the view into out, reusing out's slices. path is the request's
// path: the upstream path when it was not rewritten.
func (d *decider) read(out *Decision, path string) {
	v := &d.c.view
	same := uint64(d.c.table_id) == d.lastTable && d.lastTable != 0
	d.lastTable = uint64(d.c.table_id)
	last := &d.last
	out.Outcome = Outcome(v.outcome)
	out.Status = int(v.status)
	out.HasGRPCStatus, out.GRPCStatus = bool(v.has_grpc_status), uint32(v.grpc_status)
	out.Matched = bool(v.has_route)
	out.RouteNamespace = last[0].get(d, v.route_namespace, same)
	out.RouteVirtualService = last[1].get(d, v.route_virtual_service, same)
	out.RouteName = last[2].get(d, v.route_name, same)
	out.RuleIndex, out.DestinationIndex = -1, -1
	if v.has_rule_index {
		out.RuleIndex = int(v.rule_index)
	}
	if v.has_destination {
		out.DestinationIndex = int(v.destination_index)
	}
	out.Cluster = last[3].get(d, v.cluster, same)
	out.Host = last[4].get(d, v.destination_host, same)
	out.Subset = last[5].get(d, v.destination_subset, same)
	out.Port = int(v.destination_port)
	out.Endpoint = last[6].get(d, v.endpoint, same)
	out.OriginalDestination = bool(v.original_destination)
	out.HasDelay, out.Delay = bool(v.has_delay), time.Duration(v.delay_ns)
	out.HasTimeout, out.Timeout = bool(v.has_timeout), time.Duration(v.timeout_ns)
	out.HasRetries = bool(v.has_retries)
	out.Retries = RetryPolicy{}
	if out.HasRetries {
		out.Retries.Attempts = int(v.retry_attempts)
		out.Retries.RetryOn = last[7].get(d, v.retry_on, same)
		if v.has_retry_per_try_timeout {
			out.Retries.PerTryTimeout = time.Duration(v.retry_per_try_timeout_ns)
		}
		out.Retries.RetriableStatusCodes = d.retriableCodes(v.retriable_status_codes, v.retriable_status_codes_len)
	}
	out.Mirrors = out.Mirrors[:0]
	for _, m := range unsafe.Slice(v.mirrors, int(v.mirrors_len)) {
		out.Mirrors = append(out.Mirrors, Mirror{Cluster: d.str(m.cluster), Host: d.str(m.host), PerMillion: uint32(m.per_million)})
	}
	rq, rs := &out.RequestHeaders, &out.ResponseHeaders
	// Most routes edit no headers: one test for all six lists.
	if v.request_headers_set_len|v.request_headers_add_len|v.request_headers_remove_len|
		v.response_headers_set_len|v.response_headers_add_len|v.response_headers_remove_len == 0 {
		rq.Set, rq.Add, rq.Remove = rq.Set[:0], rq.Add[:0], rq.Remove[:0]
		rs.Set, rs.Add, rs.Remove = rs.Set[:0], rs.Add[:0], rs.Remove[:0]
	} else {
		rq.Set = d.headers(rq.Set, v.request_headers_set, v.request_headers_set_len)
		rq.Add = d.headers(rq.Add, v.request_headers_add, v.request_headers_add_len)
		rq.Remove = d.strs(rq.Remove, v.request_headers_remove, v.request_headers_remove_len)
		rs.Set = d.headers(rs.Set, v.response_headers_set, v.response_headers_set_len)
		rs.Add = d.headers(rs.Add, v.response_headers_add, v.response_headers_add_len)
		rs.Remove = d.strs(rs.Remove, v.response_headers_remove, v.response_headers_remove_len)
	}
	out.PathRewritten = bool(v.path_rewritten)
	if !out.PathRewritten && path != "" && int(v.upstream_path.len) == len(path) {
		out.UpstreamPath = path // the request's own: no copy
	} else {
		out.UpstreamPath = d.str(v.upstream_path)
	}
	out.UpstreamAuthority = d.str(v.upstream_authority)
	out.Location = d.str(v.location)
	out.Body = out.Body[:0]
	if v.body.len > 0 {
		out.Body = append(out.Body, unsafe.Slice((*byte)(unsafe.Pointer(v.body.ptr)), int(v.body.len))...)
	}
	out.SetCookie = d.str(v.set_cookie)
	out.HasHash, out.Hash = bool(v.has_hash), uint64(v.hash)
}

// Decide decides r on the table in force (weir_engine_decide: no snapshot to
// take or release). entropy drives every random choice: the same table,
// request and entropy give the same decision (in Rust, C and Go).
// Allocation-free for a decision without mirrors, header edits or body.
func (e *Engine) Decide(r *Request, entropy uint64) (out Decision, err error) {
	err = e.DecideInto(r, entropy, &out)
	return
}

// DecideInto is Decide into *out, reusing its slices (Mirrors, header edits,
// Body): allocation-free once out has served similar decisions.
func (e *Engine) DecideInto(r *Request, entropy uint64, out *Decision) error {
	d := e.spare.take()
	err := d.decide(e, nil, r, entropy, out)
	e.spare.give(d)
	return err
}

// Decide decides r on this snapshot, as Engine.Decide.
func (s *Snapshot) Decide(r *Request, entropy uint64) (Decision, error) {
	var out Decision
	err := s.DecideInto(r, entropy, &out)
	return out, err
}

// DecideInto is Decide into *out, reusing its slices.
func (s *Snapshot) DecideInto(r *Request, entropy uint64, out *Decision) error {
	d := s.spare.take()
	err := d.decide(nil, s, r, entropy, out)
	s.spare.give(d)
	return err
}

// Ticket is a request in flight (least request, pool limits, outlier
// detection), from DecideTracked to Finish.
type Ticket struct{ t C.weir_ticket }

// DecideTracked decides and, for a routed request, begins feedback: call
// Finish with the upstream status when the request ends, on the same
// snapshot. The ticket is nil when the request is not routed.
func (s *Snapshot) DecideTracked(r *Request, entropy uint64) (Decision, *Ticket, error) {
	var out Decision
	d := s.spare.take()
	defer s.spare.give(d)
	if err := d.decide(nil, s, r, entropy, &out); err != nil {
		return out, nil, err
	}
	if out.Outcome != OutcomeRoute {
		return out, nil, nil
	}
	t := &Ticket{}
	err := check("feedback_begin", C.weir_feedback_begin(s.p, d.c.decision, &t.t))
	runtime.KeepAlive(s)
	if err != nil {
		return out, nil, err
	}
	return out, t, nil
}

// Finish ends a tracked request with the upstream status (0: no connection
// could be made) at now; it runs outlier detection.
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

// DecideTCP decides for a TCP or TLS connection on this snapshot: tcp[]
// rules, or tls[] ones when SNI is set. No matching rule gives OutcomeNoRoute.
func (s *Snapshot) DecideTCP(c *Connection, entropy uint64) (Decision, error) {
	var out Decision
	d := s.spare.take()
	err := d.decideTCP(s, c, entropy, &out)
	s.spare.give(d)
	return out, err
}

// DecideTCP decides for a connection on the table in force (a snapshot is
// taken and released around the call: once per connection).
func (e *Engine) DecideTCP(c *Connection, entropy uint64) (Decision, error) {
	s := e.Snapshot()
	defer s.Close()
	return s.DecideTCP(c, entropy)
}
