//! `weir_source`: who sends the requests (gateway, namespace, labels, local
//! address), checked once and reused for every request from it.
//!
//! A sidecar's or a gateway's source is the same for all its requests;
//! handing it over once saves checking four fields on every decide.

use crate::address::weir_address;
use crate::cast;
use crate::error::weir_result;
use crate::panic;
use crate::request::labels_into;
use crate::slice::weir_header;
use std::os::raw::c_char;
use weir_core::request::Source;

/// A request source, owned by Weir (`weir_source_new`, `weir_source_free`).
///
/// Thread safety: immutable; may be used by any number of threads at once.
pub struct weir_source {
    /// What requests borrow: points into the fields below (boxes and a
    /// vector buffer, which do not move when this object does), hence the
    /// `'static`, shortened to `&self` by [`view`](Self::view).
    view: Source<'static>,
    _gateway: Box<str>,
    _namespace: Box<str>,
    _labels: Vec<(Box<str>, Box<str>)>,
    _label_refs: Vec<(&'static str, &'static str)>,
}

impl std::fmt::Debug for weir_source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("weir_source")
            .field("view", &self.view)
            .finish_non_exhaustive()
    }
}

impl weir_source {
    /// The core's source, borrowed by each request (nothing copied).
    #[inline(always)]
    pub(crate) fn view(&self) -> &Source<'_> {
        &self.view
    }
}

/// Makes a request source (gateway `namespace/name` or empty for a sidecar;
/// the client workload's namespace and labels; the local address the
/// listener accepts on, NULL when unknown) and writes it to `*out`.
/// Requests and connections point at it with their `source` field.
///
/// Everything is copied: nothing is retained from the arguments.
///
/// Errors: `WEIR_RESULT_NULL_PARAMETER`, `WEIR_RESULT_INVALID_UTF8`,
/// `WEIR_RESULT_INVALID_ARGUMENT` (an address of unknown family).
///
/// # Safety
/// Each `(ptr, len)` valid or `(NULL, 0)`; `local_address` NULL or valid;
/// `out` writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn weir_source_new(
    gateway: *const c_char,
    gateway_len: usize,
    source_namespace: *const c_char,
    source_namespace_len: usize,
    source_labels: *const weir_header,
    source_labels_len: usize,
    local_address: *const weir_address,
    out: *mut *mut weir_source,
) -> weir_result {
    panic::boundary(|| {
        let out = cast::try_out(out)?;
        let gateway = cast::try_str(gateway, gateway_len)?;
        let namespace = cast::try_str(source_namespace, source_namespace_len)?;
        let local = match cast::opt_ref(local_address) {
            Some(address) => address.to_socket_addr()?,
            None => None,
        };
        let mut pairs = Vec::new();
        labels_into(source_labels, source_labels_len, &mut pairs)?;
        let owned: Vec<(Box<str>, Box<str>)> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let gateway: Box<str> = gateway.into();
        let namespace: Box<str> = namespace.into();
        // SAFETY (every `as_static` and the labels' slice): the boxes and the
        // vector are owned by the same object, never mutated or dropped
        // before it, and moving the object does not move their heap data.
        let label_refs: Vec<(&'static str, &'static str)> = owned
            .iter()
            .map(|(k, v)| unsafe { (as_static(k), as_static(v)) })
            .collect();
        let view = Source {
            gateway: (!gateway.is_empty()).then(|| unsafe { as_static(&gateway) }),
            local,
            namespace: unsafe { as_static(&namespace) },
            labels: unsafe { cast::unbounded(&label_refs[..]) },
        };
        *out = cast::new_handle(weir_source {
            view,
            _gateway: gateway,
            _namespace: namespace,
            _labels: owned,
            _label_refs: label_refs,
        });
        Ok(())
    })
}

/// `s` as `'static`.
///
/// # Safety
/// `s` must outlive every use of the result (see `weir_source_new`).
unsafe fn as_static(s: &str) -> &'static str {
    cast::unbounded(s)
}

/// Frees a source. NULL is a no-op; freeing twice gives
/// `WEIR_RESULT_INVALID_HANDLE`. No decide may be using it.
///
/// # Safety
/// `source` NULL or from `weir_source_new`.
#[no_mangle]
pub unsafe extern "C" fn weir_source_free(source: *mut weir_source) -> weir_result {
    panic::boundary(|| cast::free_handle(source))
}
