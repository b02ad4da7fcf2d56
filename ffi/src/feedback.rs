//! `weir_ticket`: a request in flight, for least request, connection-pool
//! limits and outlier detection.

use crate::cast;
use crate::decision::weir_decision;
use crate::error::weir_result;
use crate::panic;
use crate::snapshot::weir_snapshot;
use std::mem::{align_of, size_of};
use weir_core::compile::{RequestOutcome, Ticket};
use weir_core::Table;

const BEGUN: u64 = 0x7765_6972_7469_636b; // "weirtick"

/// A request in flight, from `weir_feedback_begin` to `weir_feedback_finish`.
///
/// Caller-allocated (on the stack or inside the proxy's request state, so
/// feedback allocates nothing); its contents are private to Weir. It borrows
/// the snapshot the decision was made on: hold that snapshot until finish.
/// A zeroed ticket is empty; finishing an empty (or already finished) ticket
/// gives `WEIR_RESULT_INVALID_HANDLE`. Do not copy a begun ticket.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_ticket {
    /// Private: whether the ticket is begun.
    pub state: u64,
    /// Private storage.
    pub storage: [u64; 4],
}

const _: () = assert!(size_of::<Ticket<'static>>() <= size_of::<[u64; 4]>());
const _: () = assert!(align_of::<Ticket<'static>>() <= align_of::<[u64; 4]>());

/// Marks the request `decision` (the last decision made into it, on
/// `snapshot`) as started: counts it against its cluster's connection-pool
/// limits and its endpoint's active requests (least request). Writes the
/// ticket to `*out`. Allocation-free and thread-safe (atomics).
///
/// `WEIR_RESULT_NO_DECISION` when `decision` holds none.
///
/// # Safety
/// `snapshot` live and the one `decision` was made on; `decision` live;
/// `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_feedback_begin(
    snapshot: *const weir_snapshot,
    decision: *const weir_decision,
    out: *mut weir_ticket,
) -> weir_result {
    panic::boundary(|| {
        let table: &Table = cast::arc_ref(snapshot)?;
        let d = cast::try_ref(decision)?;
        let out = cast::try_out(out)?;
        let last = d.get()?;
        let ticket: Ticket<'_> = table.begin(last);
        let mut t = weir_ticket {
            state: BEGUN,
            storage: [0; 4],
        };
        // SAFETY: size and alignment checked above; the bytes are only ever
        // read back as the same type by `weir_feedback_finish`.
        std::ptr::write(t.storage.as_mut_ptr().cast::<Ticket<'_>>(), ticket);
        *out = t;
        Ok(())
    })
}

/// Marks the request of `ticket` as ended at `now_ms` (the caller's monotonic
/// clock, milliseconds) with upstream `status`, or 0 when no connection could
/// be made; runs outlier detection (consecutive 5xx / gateway errors eject the
/// endpoint). Empties the ticket. Allocation-free and thread-safe.
///
/// # Safety
/// `snapshot` live and the one the ticket was begun on; `ticket` a ticket
/// from `weir_feedback_begin` (or zeroed).
#[no_mangle]
pub unsafe extern "C" fn weir_feedback_finish(
    snapshot: *const weir_snapshot,
    ticket: *mut weir_ticket,
    status: u32,
    now_ms: u64,
) -> weir_result {
    panic::boundary(|| {
        let table: &Table = cast::arc_ref(snapshot)?;
        let t = cast::try_mut(ticket)?;
        if t.state != BEGUN {
            return Err(weir_result::InvalidHandle);
        }
        t.state = 0;
        // SAFETY: written by `weir_feedback_begin` as a `Ticket` (state says so).
        let ticket: Ticket<'_> = std::ptr::read(t.storage.as_ptr().cast::<Ticket<'_>>());
        let outcome = match u16::try_from(status) {
            Ok(0) | Err(_) => RequestOutcome::ConnectFailure,
            Ok(s) => RequestOutcome::Status(s),
        };
        table.finish(ticket, outcome, now_ms);
        Ok(())
    })
}
