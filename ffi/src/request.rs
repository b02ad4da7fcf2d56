//! The borrowed request and connection views C hands to `weir_snapshot_decide*`.

use crate::address::weir_address;
use crate::cast;
use crate::error::weir_result;
use crate::slice::weir_header;
use crate::source::weir_source;
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
    /// that is not UTF-8 is treated as absent).
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

/// A `weir_request` whose header array [`check`](Self::check) has accepted,
/// read as the request's headers: the core reads them in the caller's own
/// struct, so handing them over stores nothing.
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct CheckedHeaders(weir_request);

impl CheckedHeaders {
    /// Checks every header's pointers and lengths (not their UTF-8).
    ///
    /// # Safety
    /// `r.headers` valid for `r.headers_len` headers whose non-NULL pointers
    /// are valid for their lengths, and unchanged while the result is used.
    #[inline(always)]
    pub(crate) unsafe fn check(r: &weir_request) -> Result<&Self, weir_result> {
        let list = cast::try_slice(r.headers, r.headers_len)?;
        // A plain loop, a branch per header: shorter hot code than an
        // unrolled branch-free pass (benches/ffi.rs, `paired`). A bad pair
        // is found again in order, for its error.
        for h in list {
            if cast::bad_pair(h.name, h.name_len) | cast::bad_pair(h.value, h.value_len) {
                return Err(first_bad_header(list));
            }
        }
        // SAFETY: `CheckedHeaders` is a transparent wrapper of `weir_request`.
        Ok(unsafe { &*std::ptr::from_ref(r).cast::<Self>() })
    }

    fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        // SAFETY: the array and every pointer/length pair in it were checked
        // in `check` (`checked_slice` takes `(NULL, 0)` as empty).
        let list = unsafe { cast::checked_slice(self.0.headers, self.0.headers_len) };
        list.iter().map(|h| unsafe {
            (
                cast::checked_slice(h.name.cast::<u8>(), h.name_len),
                cast::checked_slice(h.value.cast::<u8>(), h.value_len),
            )
        })
    }
}

/// The error `cast::try_chars` gives for the first bad name or value.
///
/// # Safety
/// As [`CheckedHeaders::check`].
#[cold]
#[inline(never)]
unsafe fn first_bad_header(list: &[weir_header]) -> weir_result {
    for h in list {
        if let Err(e) =
            cast::try_chars(h.name, h.name_len).and_then(|_| cast::try_chars(h.value, h.value_len))
        {
            return e;
        }
    }
    // Not reached: the caller saw a bad pair.
    weir_result::InvalidArgument
}

impl Headers for CheckedHeaders {
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
/// As [`CHeaders::new`]. The `'static` is a lie the caller must keep: the
/// scratch is cleared before the call that filled it returns.
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

    /// The header array is checked in one pass; a bad pair gives the error
    /// the first bad name or value gives, in order.
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
            let got = unsafe { CheckedHeaders::check(&r) }.map(|h| h.pairs().count());
            assert_eq!(got, want, "{list:?}");
        }
    }
}
