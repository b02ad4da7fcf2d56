//! The borrowed request and connection views C hands to `weir_snapshot_decide*`.

use crate::address::weir_address;
use crate::cast;
use crate::error::weir_result;
use crate::slice::weir_header;
use crate::source::weir_source;
use std::cell::Cell;
use std::os::raw::c_char;
use weir_core::request::Headers;

/// One HTTP request, borrowed for the duration of a decide call only.
///
/// Every string is `ptr + len` UTF-8, not NUL-terminated; `(NULL, 0)` is empty.
/// A zero-initialised struct is a valid (empty) request.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_request {
    /// `:authority` / `Host`, as sent (a port may follow).
    pub authority: *const c_char,
    /// Length of `authority`.
    pub authority_len: usize,
    /// `:method` (`GET`, …).
    pub method: *const c_char,
    /// Length of `method`.
    pub method_len: usize,
    /// `:path`, with the query string.
    pub path: *const c_char,
    /// Length of `path`.
    pub path_len: usize,
    /// `:scheme` (`http` or `https`); empty means `http`.
    pub scheme: *const c_char,
    /// Length of `scheme`.
    pub scheme_len: usize,
    /// The listener port the request arrived on; 0 when unknown (the port in
    /// `authority`, if any, stands in).
    pub port: u16,
    /// The client's address (the TCP peer, or the trusted client address);
    /// all-zero when unknown. Binary, as the proxy has it: nothing is parsed
    /// per request (`weir_address_parse` converts text once).
    pub remote: weir_address,
    /// Request headers as received (names compared case-insensitively; a value
    /// that is not UTF-8 is treated as absent). The array's pointer and
    /// length are checked on every call; its entries' pointers and lengths
    /// the first time the decision reads a header (a header match, a hash on
    /// a header or cookie, CORS): a decision that reads none never looks at
    /// them, which keeps a request's cost independent of its header count.
    pub headers: *const weir_header,
    /// Number of headers.
    pub headers_len: usize,
    /// Who sends the request (gateway, client namespace and labels, local
    /// address): a `weir_source` made once per listener with
    /// `weir_source_new`, alive for the call; NULL for a sidecar with no
    /// namespace or labels (Istio's `mesh`).
    pub source: *const weir_source,
}

/// One TCP or TLS connection, borrowed for the duration of a decide call only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_connection {
    /// The original destination (`ip:port`); all-zero when unknown.
    pub destination: weir_address,
    /// The listener port; 0 uses the destination's port.
    pub port: u16,
    /// TLS SNI; empty for plain TCP (then only `tcp[]` rules match).
    pub sni: *const c_char,
    /// Length of `sni`.
    pub sni_len: usize,
    /// The service host the client connected to, when known; empty skips
    /// the VirtualService host check.
    pub host: *const c_char,
    /// Length of `host`.
    pub host_len: usize,
    /// The client's address; all-zero when unknown.
    pub remote: weir_address,
    /// Who opened the connection, as `weir_request.source` (its local
    /// address is not used here); NULL for a sidecar (`mesh`).
    pub source: *const weir_source,
}

/// The request's headers as the core reads them, straight from the caller's
/// `weir_header` array.
///
/// The array itself (`headers`, `headers_len`) is checked before deciding;
/// its entries (each name's and value's pointer and length) the first time
/// the decision reads a header. Most decisions read none (only header
/// matches, hashing on a header or cookie, and CORS do), and checking every
/// entry up front cost ~0.5 ns a header: +5 ns over the Rust API on a
/// request with a dozen headers (benches/ffi.rs). A bad entry, once seen,
/// fails the decide with its error ([`verdict`](Self::verdict)).
#[derive(Debug)]
pub(crate) struct CHeaders<'r> {
    /// The request, whose header array passed `cast::try_slice`.
    request: &'r weir_request,
    /// `None` until the entries are checked, then `Ok` or the first bad
    /// entry's error (as `cast::try_chars` gives it).
    checked: Cell<Option<Result<(), weir_result>>>,
}

impl<'r> CHeaders<'r> {
    /// The view of `r`'s header array, whose pointer and length are checked
    /// here; its entries are not read yet.
    ///
    /// # Safety
    /// `r.headers` valid for `r.headers_len` headers whose non-NULL pointers
    /// are valid for their lengths, unchanged while the result is used.
    #[inline(always)]
    pub(crate) unsafe fn new(r: &'r weir_request) -> Result<Self, weir_result> {
        cast::try_slice(r.headers, r.headers_len)?;
        Ok(CHeaders {
            request: r,
            checked: Cell::new(None),
        })
    }

    /// `Err` when a read of the headers found a bad entry: the decision made
    /// is then not kept. `Ok` when every entry passed or none was read.
    #[inline(always)]
    pub(crate) fn verdict(&self) -> Result<(), weir_result> {
        self.checked.get().unwrap_or(Ok(()))
    }

    /// Every entry as `(name, value)` bytes, or nothing after a bad entry
    /// (the decide then fails; see [`verdict`](Self::verdict)).
    fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        // SAFETY: `new` checked the array's pointer and length.
        let list = unsafe { cast::checked_slice(self.request.headers, self.request.headers_len) };
        let checked = match self.checked.get() {
            Some(checked) => checked,
            None => {
                // SAFETY: `new`'s contract.
                let checked = unsafe { check_entries(list) };
                self.checked.set(Some(checked));
                checked
            }
        };
        let list = if checked.is_ok() { list } else { &[] };
        list.iter().map(|h| unsafe {
            // SAFETY: every entry passed `check_entries`
            // (`checked_slice` takes `(NULL, 0)` as empty).
            (
                cast::checked_slice(h.name.cast::<u8>(), h.name_len),
                cast::checked_slice(h.value.cast::<u8>(), h.value_len),
            )
        })
    }
}

/// Checks every entry's pointers and lengths (not their UTF-8): the error
/// `cast::try_chars` gives for the first bad name or value, in order.
///
/// # Safety
/// As [`CHeaders::new`].
#[inline(never)]
unsafe fn check_entries(list: &[weir_header]) -> Result<(), weir_result> {
    for h in list {
        cast::try_chars(h.name, h.name_len)?;
        cast::try_chars(h.value, h.value_len)?;
    }
    Ok(())
}

impl Headers for CHeaders<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.pairs()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .find_map(|(_, v)| cast::utf8(v))
    }

    fn for_each(&self, name: &str, f: &mut dyn FnMut(&str)) {
        for (n, v) in self.pairs() {
            if n.eq_ignore_ascii_case(name.as_bytes()) {
                if let Some(v) = cast::utf8(v) {
                    f(v);
                }
            }
        }
    }
}

/// Fills `scratch` with the labels as `&str` pairs (strict UTF-8).
///
/// # Safety
/// `p` valid for `len` labels whose non-NULL pointers are valid for their
/// lengths. The `'static` is a lie the caller must keep: the scratch is
/// cleared before the call that filled it returns.
pub(crate) unsafe fn labels_into(
    p: *const weir_header,
    len: usize,
    scratch: &mut Vec<(&'static str, &'static str)>,
) -> Result<(), weir_result> {
    scratch.clear();
    for l in cast::try_slice(p, len)? {
        let n: &'static str = cast::try_str(l.name, l.name_len)?;
        let v: &'static str = cast::try_str(l.value, l.value_len)?;
        scratch.push((n, v));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr;

    /// The entries are checked on the first read, not before; a bad entry
    /// gives the error the first bad name or value gives, in order, and
    /// hides every header.
    #[test]
    fn bad_header_pairs_give_the_first_error() {
        let ok = weir_header::new("accept", "*/*");
        let empty = weir_header {
            name: ptr::null(),
            name_len: 0,
            value: ptr::null(),
            value_len: 0,
        };
        let null_value = weir_header {
            value: ptr::null(),
            value_len: 3,
            ..ok
        };
        let huge_name = weir_header {
            name_len: usize::MAX,
            ..ok
        };
        let cases: [(&[weir_header], Result<usize, weir_result>); 6] = [
            (&[], Ok(0)),
            (&[ok, empty], Ok(2)),
            (&[null_value], Err(weir_result::NullParameter)),
            (&[huge_name], Err(weir_result::InvalidArgument)),
            (
                &[ok, huge_name, null_value],
                Err(weir_result::InvalidArgument),
            ),
            (
                &[ok, null_value, huge_name],
                Err(weir_result::NullParameter),
            ),
        ];
        for (list, want) in cases {
            // SAFETY: every non-NULL pointer is valid for its length, except
            // the huge lengths, which are refused before anything is read.
            // All-zero is a valid (empty) `weir_request`.
            let r = weir_request {
                headers: list.as_ptr(),
                headers_len: list.len(),
                ..unsafe { std::mem::zeroed() }
            };
            let h = unsafe { CHeaders::new(&r) }.expect("a valid array");
            assert_eq!(h.verdict(), Ok(()), "not read yet: {list:?}");
            let n = h.pairs().count();
            assert_eq!(h.verdict().map(|()| n), want, "{list:?}");
            let accept = h.get("accept");
            assert_eq!(accept.is_some(), want.is_ok() && !list.is_empty());
            assert_eq!(h.verdict().map(|()| n), want, "read twice: {list:?}");
        }
    }
}
