//! `weir_decision`: a reusable answer object, its accessors, and its flat C view.

use crate::cast;
use crate::error::weir_result;
use crate::panic;
use crate::slice::{weir_bytes, weir_header, weir_str};
use crate::view::*;
use std::mem::MaybeUninit;
use std::os::raw::c_char;
use std::sync::Arc;
use weir_core::compile::{HeaderOps, RouteDestination};
use weir_core::{Decision, Table};

/// Header edits flattened into reusable arrays.
#[derive(Debug, Default)]
struct OpsBuf {
    set: Vec<weir_header>,
    add: Vec<weir_header>,
    remove: Vec<weir_str>,
}

impl OpsBuf {
    fn fill(&mut self, ops: &HeaderOps) -> weir_header_edits {
        self.set.clear();
        self.add.clear();
        self.remove.clear();
        self.set
            .extend(ops.set.iter().map(|(n, v)| weir_header::new(n, v)));
        self.add
            .extend(ops.add.iter().map(|(n, v)| weir_header::new(n, v)));
        self.remove
            .extend(ops.remove.iter().map(|n| weir_str::new(n)));
        weir_header_edits {
            set: array(&self.set),
            set_len: self.set.len(),
            add: array(&self.add),
            add_len: self.add.len(),
            remove: array(&self.remove),
            remove_len: self.remove.len(),
        }
    }
}

// Parts rendered since the last decide (bits of `weir_decision::ready`).
const PATH: u8 = 1;
const LOCATION: u8 = 2;
const COOKIE: u8 = 4;
const MIRRORS: u8 = 8;
const REQUEST_OPS: u8 = 16;
const RESPONSE_OPS: u8 = 32;

/// A reusable decision: the caller makes one per thread and decides into it
/// again and again.
///
/// Deciding only stores the core's decision (which borrows the snapshot's
/// table) and a copy of the request path; everything else is read on demand
/// by the `weir_decision_*` accessors, which render text (upstream path,
/// location, cookie) and flatten arrays (mirrors, header edits) into buffers
/// the object keeps, at most once per decision. The buffers keep their
/// capacity, so nothing allocates once warm.
///
/// Thread safety: not synchronised; one thread at a time.
pub struct weir_decision {
    /// True when `dec` holds the last decide's answer.
    valid: bool,
    /// [`Table::id`] of the table the last decision was made on.
    table_id: u64,
    /// Which on-demand parts are already rendered for this decision.
    ready: u8,
    /// The last decision. What it borrows is in the table (kept alive by the
    /// caller's snapshot, the documented contract) or in `path` (for the
    /// request's path); its `location` is rendered at decide time and cleared.
    /// `MaybeUninit` because between decisions it may hold stale borrows.
    dec: MaybeUninit<Decision<'static>>,
    /// Room for a copy of the request's path (the decision's upstream path
    /// borrows it): only its capacity is used, its length stays 0, so the
    /// copy costs no length store.
    path: Vec<u8>,
    upstream_path: String,
    location: String,
    set_cookie: String,
    mirrors: Vec<weir_mirror>,
    request_ops: OpsBuf,
    response_ops: OpsBuf,
    /// The table `weir_engine_decide` last decided on, kept so what the
    /// decision borrows outlives later applies.
    table: Option<Arc<Table>>,
}

impl std::fmt::Debug for weir_decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("weir_decision")
            .field("valid", &self.valid)
            .field("decision", &self.get().ok())
            .finish_non_exhaustive()
    }
}

type R<T> = Result<T, weir_result>;

impl weir_decision {
    fn new() -> Self {
        weir_decision {
            valid: false,
            ready: 0,
            dec: MaybeUninit::new(Decision::default()),
            path: Vec::with_capacity(256),
            upstream_path: String::with_capacity(256),
            location: String::with_capacity(256),
            set_cookie: String::with_capacity(64),
            mirrors: Vec::with_capacity(4),
            request_ops: OpsBuf::default(),
            response_ops: OpsBuf::default(),
            table: None,
            table_id: 0,
        }
    }

    /// Holds `current` (the engine's table in force) for the next decision
    /// and returns it: a new reference only when it is not the one held.
    ///
    /// The `'static` is a lie the caller keeps: the table lives until this
    /// object takes another or is freed, and only its decision borrows it.
    #[inline(always)]
    pub(crate) fn hold_table(&mut self, current: &Arc<Table>) -> &'static Table {
        if !self.table.as_ref().is_some_and(|t| Arc::ptr_eq(t, current)) {
            // The decision borrows the table being released: forget it first.
            self.valid = false;
            self.table = Some(Arc::clone(current));
        }
        // SAFETY: see above; `self.table` is `Some` and keeps the table alive.
        unsafe { cast::unbounded(&**current) }
    }

    /// The table this object holds when its id is `current` (the engine's
    /// [`current_table_id`](weir_core::engine::Engine::current_table_id)):
    /// the engine's table in force, found without loading it. Same lie
    /// about `'static` as [`hold_table`](Self::hold_table).
    #[inline(always)]
    pub(crate) fn held_table(&self, current: u64) -> Option<&'static Table> {
        let held = self.table.as_ref()?;
        // SAFETY: `self.table` keeps the table alive (see `hold_table`).
        (held.id() == current).then(|| unsafe { cast::unbounded(&**held) })
    }

    /// Forgets the last decision and what was rendered of it (a TCP decide
    /// starts here, so a failed one leaves none).
    #[inline(always)]
    pub(crate) fn reset(&mut self) {
        self.valid = false;
        self.ready = 0;
    }

    /// Forgets the last decision after a failed HTTP decide (an error or a
    /// panic; see `http_boundary` in snapshot.rs, the one caller).
    ///
    /// # Safety
    /// `decision` NULL or live.
    #[cold]
    pub(crate) unsafe fn forget_after_failure(decision: *mut weir_decision) {
        if let Some(d) = cast::opt_mut(decision) {
            d.reset();
        }
    }

    /// Copies the request's path into this object and returns the copy, for
    /// the request the next [`decide_with`](Self::decide_with) decision is
    /// made on.
    ///
    /// The `'static` is a lie the caller keeps: the copy lives until the next
    /// `keep_path`, and only the kept decision (same contract) borrows it.
    #[inline(always)]
    pub(crate) fn keep_path(&mut self, path: &str) -> &'static str {
        let n = path.len();
        if n > SHORT_PATH || self.path.capacity() < SHORT_PATH {
            self.keep_long_path(path);
        } else {
            copy_short(&mut self.path, path.as_bytes());
        }
        // SAFETY: the first `n` bytes of the buffer were just written with
        // `path`'s (UTF-8); the buffer does not move until it is next
        // written, at the next decide (which replaces the decision).
        unsafe {
            let bytes = std::slice::from_raw_parts(self.path.as_ptr(), n);
            cast::unbounded(std::str::from_utf8_unchecked(bytes))
        }
    }

    /// [`keep_path`](Self::keep_path) for paths over [`SHORT_PATH`] bytes
    /// (or before the buffer has grown): out of line, with its `memcpy`.
    #[inline(never)]
    fn keep_long_path(&mut self, path: &str) {
        self.path.reserve(path.len().max(SHORT_PATH));
        // SAFETY: the capacity is at least `path.len()` (reserved above, on
        // an empty vector), and the regions do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(path.as_ptr(), self.path.as_mut_ptr(), path.len());
        }
    }

    /// Decides in place: `decide` writes the core's decision straight into
    /// this object (the core's `decide_into`, no copy of the ~450-byte
    /// answer), for a request whose path came from
    /// [`keep_path`](Self::keep_path). Writes the summary to `out`. A redirect's
    /// `Location` (which may borrow the request's authority and scheme) is
    /// rendered now and not kept; CORS headers (which borrow the request's
    /// `Origin`) are not kept either (see ffi/README.md).
    #[inline(always)]
    pub(crate) fn decide_with<'a>(
        &mut self,
        table: &Table,
        decide: impl FnOnce(&mut Decision<'a>) -> Result<(), weir_result>,
        out: Option<&mut weir_decision_summary>,
    ) -> Result<(), weir_result> {
        // SAFETY: only the lifetime changes. What the decision borrows is the
        // table (alive while the caller holds the snapshot, the documented
        // contract), `self.path` (unchanged until the next decide, which
        // resets this object first) and, until cleared below, the request.
        // `dec` was initialised in `new`; `decide` overwrites every field.
        let dec: &mut Decision<'a> = unsafe { &mut *self.dec.as_mut_ptr().cast() };
        // A failed decide writes no summary; the caller's boundary forgets
        // the decision (`valid` false: nothing reads `dec`, and the next
        // decide overwrites whatever in it borrowed this request).
        decide(dec)?;
        // CORS and redirects are rare: test, and write only then.
        if dec.cors.is_some() {
            dec.cors = None;
        }
        let redirect = dec.location.is_some();
        if let Some(out) = out {
            write_summary(out, Self::summary(dec));
        }
        // A new decision: nothing rendered of it yet (adjacent bytes, one store).
        self.table_id = table.id();
        self.valid = true;
        self.ready = 0;
        // Last: it takes `self` whole, so `dec` is not used after it.
        if redirect {
            self.render_location();
        }
        Ok(())
    }

    /// Renders the decision's redirect `Location` (it may borrow the
    /// request's authority and scheme) into `self.location`, and drops it.
    #[cold]
    #[inline(never)]
    fn render_location(&mut self) {
        // SAFETY: as in `decide_with`, which calls this right after deciding.
        let dec: &mut Decision<'_> = unsafe { &mut *self.dec.as_mut_ptr() };
        if let Some(loc) = dec.location.take() {
            self.location.clear();
            // Rendering into a String cannot fail.
            let _ = loc.write_to(&mut self.location);
            self.ready = LOCATION;
        }
    }

    /// The last decision, or `NoDecision`.
    #[inline(always)]
    pub(crate) fn get(&self) -> R<&Decision<'static>> {
        if self.valid {
            // SAFETY: `dec` is always initialised (`new`), and `valid` says
            // what it borrows is alive (the caller's snapshot, see `decide_with`).
            Ok(unsafe { self.dec.assume_init_ref() })
        } else {
            Err(weir_result::NoDecision)
        }
    }

    #[inline(always)]
    fn summary(d: &Decision<'_>) -> weir_decision_summary {
        weir_decision_summary {
            outcome: d.outcome.into(),
            status: d.status,
            has_grpc_status: d.grpc_status.is_some(),
            grpc_status: d.grpc_status.unwrap_or(0),
            cluster: cluster_name(d),
            endpoint: endpoint_address(d),
        }
    }

    fn route_info(d: &Decision<'_>) -> weir_route_info {
        let mut v = weir_route_info {
            has_route: false,
            route_namespace: weir_str::EMPTY,
            route_virtual_service: weir_str::EMPTY,
            route_name: weir_str::EMPTY,
            has_rule_index: false,
            rule_index: 0,
            has_destination: false,
            destination_index: 0,
        };
        if let Some(route) = d.route {
            let rule = &route.rule;
            v.has_route = true;
            v.route_namespace = weir_str::new(&rule.namespace);
            v.route_virtual_service = weir_str::new(&rule.virtual_service);
            v.route_name = weir_str::new(rule.name.as_deref().unwrap_or(""));
            if let Some(i) = rule.index {
                v.has_rule_index = true;
                v.rule_index = i;
            }
        } else if let Some(rule) = d.l4_rule {
            v.has_route = true;
            v.route_namespace = weir_str::new(&rule.namespace);
            v.route_virtual_service = weir_str::new(&rule.virtual_service);
            v.has_rule_index = true;
            v.rule_index = rule.index;
        }
        if let Some(di) = d.destination_index {
            v.has_destination = true;
            v.destination_index = di;
        }
        v
    }

    fn destination_info(d: &Decision<'_>) -> weir_destination_info {
        let mut v = weir_destination_info {
            cluster: weir_str::EMPTY,
            destination_host: weir_str::EMPTY,
            destination_subset: weir_str::EMPTY,
            destination_port: 0,
            endpoint: endpoint_address(d),
            original_destination: d.original_destination,
            has_hash: d.hash.is_some(),
            hash: d.hash.map_or(0, |h| h.value),
        };
        if let Some(c) = d.cluster {
            v.cluster = weir_str::new(&c.name);
            v.destination_host = weir_str::new(&c.host);
            v.destination_subset = weir_str::new(&c.subset);
            v.destination_port = c.port;
        } else if let Some(dest) = d.destination_index.and_then(|i| destinations(d).get(i)) {
            v.destination_host = weir_str::new(&dest.host);
            v.destination_subset = weir_str::new(&dest.subset);
        }
        v
    }

    fn policy(d: &Decision<'_>) -> weir_route_policy {
        let mut v = weir_route_policy {
            has_delay: d.delay.is_some(),
            delay_ns: d.delay.map_or(0, duration_ns),
            has_timeout: false,
            timeout_ns: 0,
            has_retries: false,
            retry_attempts: 0,
            has_retry_per_try_timeout: false,
            retry_per_try_timeout_ns: 0,
            retry_on: weir_str::EMPTY,
            retriable_status_codes: std::ptr::null(),
            retriable_status_codes_len: 0,
        };
        if let Some(t) = d.timeout() {
            v.has_timeout = true;
            v.timeout_ns = duration_ns(t);
        }
        if let Some(r) = d.retries() {
            v.has_retries = true;
            v.retry_attempts = r.attempts;
            if let Some(t) = r.per_try_timeout {
                v.has_retry_per_try_timeout = true;
                v.retry_per_try_timeout_ns = duration_ns(t);
            }
            v.retry_on = weir_str::new(&r.retry_on);
            v.retriable_status_codes = array(&r.retriable_status_codes);
            v.retriable_status_codes_len = r.retriable_status_codes.len();
        }
        v
    }

    /// The upstream path, rendered into this object on first use.
    fn upstream_path(&mut self) -> R<weir_str> {
        // One field copied, not the whole decision.
        let path = self.get()?.upstream_path;
        Ok(match path {
            // The request's path: already copied (`keep_path`) or static.
            weir_core::decision::UpstreamPath::Unchanged(p) => weir_str::new(p),
            rewritten => {
                if self.ready & PATH == 0 {
                    self.upstream_path.clear();
                    let _ = rewritten.write_to(&mut self.upstream_path);
                    self.ready |= PATH;
                }
                weir_str::new(&self.upstream_path)
            }
        })
    }

    /// The redirect's `Location` (rendered at decide time), or empty.
    fn location(&self) -> R<weir_str> {
        self.get()?;
        Ok(if self.ready & LOCATION != 0 {
            weir_str::new(&self.location)
        } else {
            weir_str::EMPTY
        })
    }

    /// The `Set-Cookie` value, rendered on first use, or empty.
    fn set_cookie(&mut self) -> R<weir_str> {
        let Some(c) = self.get()?.set_cookie else {
            return Ok(weir_str::EMPTY);
        };
        if self.ready & COOKIE == 0 {
            self.set_cookie.clear();
            let _ = c.write_to(&mut self.set_cookie);
            self.ready |= COOKIE;
        }
        Ok(weir_str::new(&self.set_cookie))
    }

    /// The mirrors that fire, flattened on first use.
    fn mirrors(&mut self) -> R<&[weir_mirror]> {
        let mirrors = self.get()?.mirrors;
        if self.ready & MIRRORS == 0 {
            self.mirrors.clear();
            self.mirrors.extend(mirrors.iter().map(|m| weir_mirror {
                cluster: weir_str::new(&m.cluster_name),
                host: weir_str::new(&m.host),
                per_million: m.per_million,
            }));
            self.ready |= MIRRORS;
        }
        Ok(&self.mirrors)
    }

    /// Request (`response == false`) or response header edits, flattened on first use.
    fn header_edits(&mut self, response: bool) -> R<weir_header_edits> {
        let d = self.get()?;
        let (bit, ops) = if response {
            (RESPONSE_OPS, d.response_headers)
        } else {
            (REQUEST_OPS, d.request_headers)
        };
        let buf = if response {
            &mut self.response_ops
        } else {
            &mut self.request_ops
        };
        if self.ready & bit == 0 {
            self.ready |= bit;
            if ops.is_empty() {
                // Most routes edit no headers: no buffers to touch.
                buf.set.clear();
                buf.add.clear();
                buf.remove.clear();
                return Ok(weir_header_edits::EMPTY);
            }
            return Ok(buf.fill(ops));
        }
        Ok(weir_header_edits {
            set: array(&buf.set),
            set_len: buf.set.len(),
            add: array(&buf.add),
            add_len: buf.add.len(),
            remove: array(&buf.remove),
            remove_len: buf.remove.len(),
        })
    }

    /// Everything, flat, into `v` (rendering whatever is not yet rendered).
    fn fill_view(&mut self, v: &mut weir_decision_view) -> R<()> {
        let d = self.get()?;
        // Most decisions render nothing: no mirrors, header edits, cookie,
        // redirect or path rewrite. Those parts are written as empty without
        // the on-demand machinery (a third of this function's time).
        if let weir_core::decision::UpstreamPath::Unchanged(path) = d.upstream_path {
            if d.mirrors.is_empty()
                && d.request_headers.is_empty()
                && d.response_headers.is_empty()
                && d.set_cookie.is_none()
                && self.ready & LOCATION == 0
            {
                v.upstream_path = weir_str::new(path);
                v.location = weir_str::EMPTY;
                v.set_cookie = weir_str::EMPTY;
                (v.mirrors, v.mirrors_len) = (std::ptr::null(), 0);
                v.set_header_edits(weir_header_edits::EMPTY, weir_header_edits::EMPTY);
                return self.fill_view_common(v);
            }
        }
        self.fill_view_rendered(v)
    }

    /// `fill_view` for a decision with parts to render.
    #[inline(never)]
    fn fill_view_rendered(&mut self, v: &mut weir_decision_view) -> R<()> {
        // What renders into `self` first; then the decision by reference
        // (a copy of the whole `Decision` would cost more than the rest).
        // Each part goes into `*v` as soon as it is made: held in locals
        // until the end, they were spilled to the stack and copied again.
        v.upstream_path = self.upstream_path()?;
        v.location = self.location()?;
        v.set_cookie = self.set_cookie()?;
        (v.mirrors, v.mirrors_len) = raw(self.mirrors()?);
        let req = self.header_edits(false)?;
        let resp = self.header_edits(true)?;
        v.set_header_edits(req, resp);
        self.fill_view_common(v)
    }

    /// The view's fields that need no rendering.
    #[inline(always)]
    fn fill_view_common(&self, v: &mut weir_decision_view) -> R<()> {
        let d = self.get()?;
        let s = Self::summary(d);
        let r = Self::route_info(d);
        let t = Self::destination_info(d);
        let p = Self::policy(d);
        // Every field of the view is written below or, for the rendered
        // parts (path, location, cookie, mirrors, header edits), by both
        // callers: this pattern stops compiling if the view gains one.
        let _all_fields = |v: weir_decision_view| {
            let weir_decision_view {
                outcome: _,
                status: _,
                has_grpc_status: _,
                grpc_status: _,
                has_route: _,
                route_namespace: _,
                route_virtual_service: _,
                route_name: _,
                has_rule_index: _,
                rule_index: _,
                has_destination: _,
                destination_index: _,
                cluster: _,
                destination_host: _,
                destination_subset: _,
                destination_port: _,
                endpoint: _,
                original_destination: _,
                has_delay: _,
                delay_ns: _,
                has_timeout: _,
                timeout_ns: _,
                has_retries: _,
                retry_attempts: _,
                has_retry_per_try_timeout: _,
                retry_per_try_timeout_ns: _,
                retry_on: _,
                retriable_status_codes: _,
                retriable_status_codes_len: _,
                mirrors: _,
                mirrors_len: _,
                request_headers_set: _,
                request_headers_set_len: _,
                request_headers_add: _,
                request_headers_add_len: _,
                request_headers_remove: _,
                request_headers_remove_len: _,
                response_headers_set: _,
                response_headers_set_len: _,
                response_headers_add: _,
                response_headers_add_len: _,
                response_headers_remove: _,
                response_headers_remove_len: _,
                upstream_path: _,
                path_rewritten: _,
                upstream_authority: _,
                location: _,
                body: _,
                set_cookie: _,
                has_hash: _,
                hash: _,
            } = v;
        };
        // Field by field into `*v`: a struct literal was built on the stack
        // and copied (~450 bytes).
        v.outcome = s.outcome;
        v.status = s.status;
        v.has_grpc_status = s.has_grpc_status;
        v.grpc_status = s.grpc_status;
        v.has_route = r.has_route;
        v.route_namespace = r.route_namespace;
        v.route_virtual_service = r.route_virtual_service;
        v.route_name = r.route_name;
        v.has_rule_index = r.has_rule_index;
        v.rule_index = r.rule_index;
        v.has_destination = r.has_destination;
        v.destination_index = r.destination_index;
        v.cluster = t.cluster;
        v.destination_host = t.destination_host;
        v.destination_subset = t.destination_subset;
        v.destination_port = t.destination_port;
        v.endpoint = t.endpoint;
        v.original_destination = t.original_destination;
        v.has_delay = p.has_delay;
        v.delay_ns = p.delay_ns;
        v.has_timeout = p.has_timeout;
        v.timeout_ns = p.timeout_ns;
        v.has_retries = p.has_retries;
        v.retry_attempts = p.retry_attempts;
        v.has_retry_per_try_timeout = p.has_retry_per_try_timeout;
        v.retry_per_try_timeout_ns = p.retry_per_try_timeout_ns;
        v.retry_on = p.retry_on;
        v.retriable_status_codes = p.retriable_status_codes;
        v.retriable_status_codes_len = p.retriable_status_codes_len;
        v.path_rewritten = d.upstream_path.is_rewritten();
        v.upstream_authority = weir_str::new(d.upstream_authority.unwrap_or(""));
        v.body = weir_bytes::new(d.body());
        v.has_hash = t.has_hash;
        v.hash = t.hash;
        Ok(())
    }
}

/// The matched rule's `route[]` list.
fn destinations<'a>(d: &Decision<'a>) -> &'a [RouteDestination] {
    if let Some(route) = d.route {
        route.rule.destinations()
    } else if let Some(rule) = d.l4_rule {
        &rule.destinations
    } else {
        &[]
    }
}

/// Paths up to this long are copied inline by [`copy_short`].
const SHORT_PATH: usize = 64;

/// Copies `src` (at most [`SHORT_PATH`] bytes) to the start of `dst`'s
/// buffer (its capacity is at least that; its length is left as it is),
/// with a few overlapping 16-, 8- or 4-byte moves instead of a call to
/// `memcpy` (measured in benches/ffi.rs).
///
/// The move ending at `n` goes first: the path is read
/// from its start soon after (the core's `?` scan and prefix matches), and
/// a load that finds its bytes in two in-flight stores waits for both to
/// commit, while one inside the last (youngest) store is forwarded from it.
#[inline(always)]
fn copy_short(dst: &mut Vec<u8>, src: &[u8]) {
    let n = src.len();
    assert!(n <= SHORT_PATH && dst.capacity() >= SHORT_PATH);
    let (d, s) = (dst.as_mut_ptr(), src.as_ptr());
    // SAFETY: every move reads within `src` and writes within the first `n`
    // bytes of `dst`'s capacity (checked above); unaligned reads and writes
    // of byte arrays are allowed anywhere in bounds.
    unsafe {
        let move16 = |at: usize| {
            d.add(at)
                .cast::<[u8; 16]>()
                .write_unaligned(s.add(at).cast::<[u8; 16]>().read_unaligned());
        };
        if n >= 16 {
            move16(n - 16);
            for at in [0, 16, 32] {
                if at + 16 < n {
                    move16(at);
                }
            }
        } else if n >= 8 {
            d.add(n - 8)
                .cast::<[u8; 8]>()
                .write_unaligned(s.add(n - 8).cast::<[u8; 8]>().read_unaligned());
            d.cast::<[u8; 8]>()
                .write_unaligned(s.cast::<[u8; 8]>().read_unaligned());
        } else {
            for i in 0..n {
                *d.add(i) = *s.add(i);
            }
        }
    }
}

/// Writes `s` to `out` as three 16-byte stores on x86-64.
///
/// The summary is read right after the decide returns. A caller that copies
/// one of its `weir_str`s with a 16-byte load (as compilers do for a
/// 16-byte struct) would otherwise read two 8-byte stores still in flight,
/// which defeats store-to-load forwarding and stalls (perf on
/// benches/ffi.rs: ~3 ns per decide). Each 16-byte store covers whole
/// fields, so loads of single fields forward from it too.
#[inline(always)]
fn write_summary(out: &mut weir_decision_summary, s: weir_decision_summary) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_set_epi64x, _mm_storeu_si128};
        use std::mem::{offset_of, size_of};
        type S = weir_decision_summary;
        const _: () = assert!(
            size_of::<S>() == 48
                && offset_of!(S, outcome) == 0
                && offset_of!(S, status) == 4
                && offset_of!(S, has_grpc_status) == 6
                && offset_of!(S, grpc_status) == 8
                && offset_of!(S, cluster) == 16
                && offset_of!(S, endpoint) == 32
        );
        // Little-endian packing of the first 16 bytes (padding written as 0).
        let head =
            (s.outcome as u64) | u64::from(s.status) << 32 | u64::from(s.has_grpc_status) << 48;
        // Pointers go through integers here; exposing their provenance keeps
        // them valid for Rust readers of the summary (C readers are outside
        // Rust's rules).
        let word = |p: *const c_char| p.expose_provenance() as i64;
        let p = std::ptr::from_mut(out).cast::<__m128i>();
        // SAFETY: `out` is valid for 48 bytes (the size asserted above);
        // SSE2 is part of the x86-64 baseline; unaligned stores are allowed.
        unsafe {
            _mm_storeu_si128(p, _mm_set_epi64x(i64::from(s.grpc_status), head as i64));
            _mm_storeu_si128(
                p.add(1),
                _mm_set_epi64x(s.cluster.len as i64, word(s.cluster.ptr)),
            );
            _mm_storeu_si128(
                p.add(2),
                _mm_set_epi64x(s.endpoint.len as i64, word(s.endpoint.ptr)),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        *out = s;
    }
}

/// The chosen cluster's name, or empty.
#[inline(always)]
fn cluster_name(d: &Decision<'_>) -> weir_str {
    opt_str(d.cluster.map(|c| &*c.name))
}

/// The chosen endpoint's `ip:port`, or empty.
#[inline(always)]
fn endpoint_address(d: &Decision<'_>) -> weir_str {
    opt_str(d.endpoint.map(|e| &*e.address))
}

#[inline(always)]
fn opt_str(s: Option<&str>) -> weir_str {
    // One test for both kinds of empty (`weir_str::new` makes it `EMPTY`).
    weir_str::new(s.unwrap_or(""))
}

fn raw<T>(v: &[T]) -> (*const T, usize) {
    (array(v), v.len())
}

/// An array's first element, or NULL when it is empty: `(NULL, 0)` is the
/// ABI's empty array. Rust's dangling pointer for an empty slice (its
/// alignment, e.g. `0x8`) must not reach C or Go: Go's stack copier aborts
/// on such a value in a pointer variable.
fn array<T>(v: &[T]) -> *const T {
    if v.is_empty() {
        std::ptr::null()
    } else {
        v.as_ptr()
    }
}

fn duration_ns(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Writes `s` to a `(ptr, len)` out-pair, both checked before either is written.
///
/// # Safety
/// As `cast::try_out`.
#[inline(always)]
unsafe fn put_str(s: weir_str, out: *mut *const c_char, out_len: *mut usize) -> R<()> {
    let out = cast::try_out(out)?;
    let out_len = cast::try_out(out_len)?;
    *out = s.ptr;
    *out_len = s.len;
    Ok(())
}

/// Writes an array to a `(ptr, len)` out-pair, both checked before either is written.
///
/// # Safety
/// As `cast::try_out`.
#[inline(always)]
unsafe fn put_array<T>(
    ptr: *const T,
    len: usize,
    out: *mut *const T,
    out_len: *mut usize,
) -> R<()> {
    let out = cast::try_out(out)?;
    let out_len = cast::try_out(out_len)?;
    *out = ptr;
    *out_len = len;
    Ok(())
}

/// Creates a reusable decision object and writes it to `*out`. Make one per
/// thread (or per connection) and reuse it. Free it with `weir_decision_free`.
///
/// # Safety
/// `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_new(out: *mut *mut weir_decision) -> weir_result {
    panic::boundary(|| {
        let out = cast::try_out(out)?;
        *out = cast::new_handle(weir_decision::new());
        Ok(())
    })
}

/// Frees a decision object. NULL is a no-op; freeing twice gives
/// `WEIR_RESULT_INVALID_HANDLE`. Strings and arrays read from it become invalid.
///
/// # Safety
/// `decision` NULL or from `weir_decision_new`, not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_free(decision: *mut weir_decision) -> weir_result {
    panic::boundary(|| cast::free_handle(decision))
}

/// Copies the outcome and status of the last decision made into `decision`
/// (the same summary the decide call wrote) to `*out`.
///
/// Every `weir_decision_*` accessor returns `WEIR_RESULT_NO_DECISION` when
/// the object holds no decision (none made yet, or the last decide failed),
/// and `WEIR_RESULT_NULL_PARAMETER` for a NULL argument.
///
/// # Safety
/// `decision` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_get_summary(
    decision: *const weir_decision,
    out: *mut weir_decision_summary,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?;
        let out = cast::try_out(out)?;
        *out = weir_decision::summary(d.get()?);
        Ok(())
    })
}

/// The chosen destination's cluster, `outbound|PORT|SUBSET|HOST`, into
/// `*out`/`*out_len` (not NUL-terminated; empty when none). Borrowed from the
/// snapshot: valid while the caller holds it and until the next decide into
/// (or free of) `decision`.
///
/// # Safety
/// `decision` live; `out` and `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_cluster(
    decision: *const weir_decision,
    out: *mut *const c_char,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?.get()?;
        put_str(cluster_name(d), out, out_len)
    })
}

/// The chosen endpoint, `ip:port` (`[v6]:port`), into `*out`/`*out_len`
/// (empty when none: no route, PASSTHROUGH, no healthy endpoint). Lifetime as
/// `weir_decision_cluster`.
///
/// # Safety
/// `decision` live; `out` and `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_endpoint(
    decision: *const weir_decision,
    out: *mut *const c_char,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?.get()?;
        put_str(endpoint_address(d), out, out_len)
    })
}

/// The matched rule and chosen destination index into `*out`.
///
/// # Safety
/// `decision` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_route_info(
    decision: *const weir_decision,
    out: *mut weir_route_info,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?;
        let out = cast::try_out(out)?;
        *out = weir_decision::route_info(d.get()?);
        Ok(())
    })
}

/// Cluster, host, subset, port, endpoint and hash of the destination into `*out`.
///
/// # Safety
/// `decision` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_destination_info(
    decision: *const weir_decision,
    out: *mut weir_destination_info,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?;
        let out = cast::try_out(out)?;
        *out = weir_decision::destination_info(d.get()?);
        Ok(())
    })
}

/// Fault delay, route timeout and retry policy into `*out`.
///
/// # Safety
/// `decision` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_policy(
    decision: *const weir_decision,
    out: *mut weir_route_policy,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?;
        let out = cast::try_out(out)?;
        *out = weir_decision::policy(d.get()?);
        Ok(())
    })
}

/// Writes to `*out` whether the upstream path differs from the request's by a
/// rewrite (when false, forward the request's `:path` as is).
///
/// # Safety
/// `decision` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_path_rewritten(
    decision: *const weir_decision,
    out: *mut bool,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?;
        let out = cast::try_out(out)?;
        *out = d.get()?.upstream_path.is_rewritten();
        Ok(())
    })
}

/// The path to send upstream (with query), after any rewrite; for a redirect,
/// the redirect's path; empty for TCP. A rewritten path is rendered into
/// `decision` on the first call after a decide (a matching `uriRegexRewrite`
/// allocates); later calls return the same string. Valid until the next
/// decide into (or free of) `decision`, while the caller holds the snapshot.
///
/// # Safety
/// `decision` live and not in use by another thread; `out`, `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_upstream_path(
    decision: *mut weir_decision,
    out: *mut *const c_char,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_mut(decision)?;
        put_str(d.upstream_path()?, out, out_len)
    })
}

/// The authority to send upstream when rewritten; empty keeps the request's.
/// Lifetime as `weir_decision_cluster`.
///
/// # Safety
/// `decision` live; `out` and `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_upstream_authority(
    decision: *const weir_decision,
    out: *mut *const c_char,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?.get()?;
        put_str(opt_str(d.upstream_authority), out, out_len)
    })
}

/// The redirect's `Location`, for `WEIR_OUTCOME_REDIRECT`; else empty.
/// Lifetime as `weir_decision_upstream_path`.
///
/// # Safety
/// `decision` live; `out` and `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_location(
    decision: *const weir_decision,
    out: *mut *const c_char,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?;
        put_str(d.location()?, out, out_len)
    })
}

/// A `Set-Cookie` value the response must carry (consistent hashing on a
/// cookie with a ttl), or empty; rendered on the first call after a decide.
/// Lifetime as `weir_decision_upstream_path`.
///
/// # Safety
/// `decision` live and not in use by another thread; `out`, `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_set_cookie(
    decision: *mut weir_decision,
    out: *mut *const c_char,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_mut(decision)?;
        put_str(d.set_cookie()?, out, out_len)
    })
}

/// The direct response's body, for `WEIR_OUTCOME_DIRECT_RESPONSE`; else
/// empty. Lifetime as `weir_decision_cluster`.
///
/// # Safety
/// `decision` live; `out` and `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_body(
    decision: *const weir_decision,
    out: *mut *const u8,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?.get()?;
        let b = weir_bytes::new(d.body());
        put_array(b.ptr, b.len, out, out_len)
    })
}

/// The mirrors that fire for this request, in configuration order, into
/// `*out` (`*out_len` of them), flattened into `decision` on the first call
/// after a decide. Lifetime as `weir_decision_upstream_path`.
///
/// # Safety
/// `decision` live and not in use by another thread; `out`, `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_mirrors(
    decision: *mut weir_decision,
    out: *mut *const weir_mirror,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_mut(decision)?;
        let (p, n) = raw(d.mirrors()?);
        put_array(p, n, out, out_len)
    })
}

/// The request header edits into `*out`, flattened into `decision` on the
/// first call after a decide. Lifetime as `weir_decision_upstream_path`.
///
/// # Safety
/// `decision` live and not in use by another thread; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_request_headers(
    decision: *mut weir_decision,
    out: *mut weir_header_edits,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_mut(decision)?;
        let out = cast::try_out(out)?;
        *out = d.header_edits(false)?;
        Ok(())
    })
}

/// The response header edits into `*out`, as `weir_decision_request_headers`.
///
/// # Safety
/// `decision` live and not in use by another thread; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_response_headers(
    decision: *mut weir_decision,
    out: *mut weir_header_edits,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_mut(decision)?;
        let out = cast::try_out(out)?;
        *out = d.header_edits(true)?;
        Ok(())
    })
}

/// Fills `*out` with every field of the last decision made into `decision`
/// (rendering what the accessors would), in one call: for bindings where each
/// call is expensive (cgo). See `weir_decision_view` for how long its
/// pointers live.
///
/// # Safety
/// `decision` live and not in use by another thread; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_fill_view(
    decision: *mut weir_decision,
    out: *mut weir_decision_view,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_mut(decision)?;
        let out = cast::try_out(out)?;
        d.fill_view(out)
    })
}

/// Writes to `*out` the id of the table the last decision made into
/// `decision` was decided on: a number no other table in this process has
/// had or will have (0: an engine's initial empty table). While that table
/// lives it does not change, so a view field that borrows it holds the same
/// bytes whenever the id and the pointer are the same: `route_namespace`,
/// `route_virtual_service`, `route_name`, `cluster`, `destination_host`,
/// `destination_subset`, `endpoint` and `retry_on`. A binding that copies
/// those strings (cgo) may then reuse its copy without comparing bytes.
///
/// # Safety
/// `decision` live and not in use by another thread; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_table_id(
    decision: *const weir_decision,
    out: *mut u64,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?;
        let out = cast::try_out(out)?;
        d.get()?;
        *out = d.table_id;
        Ok(())
    })
}

#[cfg(test)]
mod copy_tests {
    use super::*;

    /// Every length up to [`SHORT_PATH`], each byte distinct from its neighbours.
    #[test]
    fn copy_short_copies_every_length() {
        let src: Vec<u8> = (0..SHORT_PATH as u8)
            .map(|b| b.wrapping_mul(7) ^ 0x5a)
            .collect();
        for n in 0..=SHORT_PATH {
            let mut dst = Vec::with_capacity(SHORT_PATH + 8);
            copy_short(&mut dst, &src[..n]);
            // SAFETY: `copy_short` wrote the first `n` bytes of the buffer.
            let copied = unsafe { std::slice::from_raw_parts(dst.as_ptr(), n) };
            assert_eq!(copied, &src[..n], "len {n}");
            assert!(dst.is_empty(), "the length is left as it is");
        }
    }
}
