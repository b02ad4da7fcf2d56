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

mod api;
mod path_copy;
mod render;
mod view;
pub use api::*;
use path_copy::{copy_short, SHORT_PATH};
use view::{array, write_summary};

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
}
