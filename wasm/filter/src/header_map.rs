//! The request's headers in one host call, read where Envoy wrote them.
//!
//! The SDK's `hostcalls::get_map_bytes` copies every name and value into a
//! `String` and a `Vec` of its own (two allocations a header, on every
//! request); this keeps the one buffer Envoy fills and indexes into it.
//! The buffer's layout is the proxy-wasm ABI 0.2.1 header-map serialization:
//! a `u32` count, then a `u32` name length and value length per pair, then
//! each name and value followed by a NUL (all little-endian).

use weir_core::Headers;

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)] // the host call: the SDK does not expose the raw buffer
mod host {
    use super::{index, HeaderMap};
    use proxy_wasm::types::{MapType, Status};

    #[link(wasm_import_module = "env")]
    extern "C" {
        // Same import as the SDK's; plain integers here so an unexpected status
        // from the host is a value, not an invalid enum.
        fn proxy_get_header_map_pairs(
            map_type: u32,
            return_map_data: *mut *mut u8,
            return_map_size: *mut usize,
        ) -> u32;
    }

    impl HeaderMap {
        /// Reads `map` (one host call). A buffer that does not parse is an error
        /// (`ParseFailure`), never a panic.
        pub(crate) fn read(map: MapType) -> Result<HeaderMap, Status> {
            let mut data: *mut u8 = std::ptr::null_mut();
            let mut size: usize = 0;
            // SAFETY: the host writes a pointer and a size; the pointer came from
            // the SDK's `proxy_on_memory_allocate` (a `Box<[u8]>` of `size`
            // bytes handed over with `Box::into_raw`), so it is ours to own.
            let buf = unsafe {
                if proxy_get_header_map_pairs(map as u32, &mut data, &mut size) != Status::Ok as u32
                {
                    return Err(Status::InternalFailure);
                }
                if data.is_null() {
                    return Ok(HeaderMap::default());
                }
                Box::from_raw(std::ptr::slice_from_raw_parts_mut(data, size))
            };
            let pairs = index(&buf).ok_or(Status::ParseFailure)?;
            Ok(HeaderMap { buf, pairs })
        }
    }
}

/// Where one name or value sits in the buffer.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

/// A header map as Envoy serialized it, with an index of its pairs.
#[derive(Debug, Default)]
pub(crate) struct HeaderMap {
    buf: Box<[u8]>,
    pairs: Vec<(Span, Span)>,
}

impl HeaderMap {
    /// The pairs in Envoy's order; names that are not UTF-8 are skipped.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.pairs.iter().filter_map(|(n, v)| {
            let name = std::str::from_utf8(self.bytes(*n)).ok()?;
            Some((name, self.bytes(*v)))
        })
    }

    /// Number of pairs.
    pub(crate) fn len(&self) -> usize {
        self.pairs.len()
    }

    fn bytes(&self, s: Span) -> &[u8] {
        let start = s.start as usize;
        self.buf.get(start..start + s.len as usize).unwrap_or(&[])
    }
}

/// The spans of every pair, or `None` when the buffer is malformed.
fn index(buf: &[u8]) -> Option<Vec<(Span, Span)>> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(buf.get(at..at + 4)?.try_into().ok()?))
    };
    let count = word(0)? as usize;
    let mut sizes = 4usize;
    let mut data = sizes.checked_add(count.checked_mul(8)?)?;
    let mut pairs = Vec::with_capacity(count.min(buf.len() / 10));
    let mut span = |len: u32| -> Option<Span> {
        let start = data;
        data = data.checked_add(len as usize)?.checked_add(1)?; // the NUL
        (data <= buf.len()).then_some(Span {
            start: u32::try_from(start).ok()?,
            len,
        })
    };
    for _ in 0..count {
        let (name_len, value_len) = (word(sizes)?, word(sizes + 4)?);
        sizes += 8;
        let name = span(name_len)?;
        let value = span(value_len)?;
        pairs.push((name, value));
    }
    Some(pairs)
}

impl Headers for HeaderMap {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    fn for_each(&self, name: &str, f: &mut dyn FnMut(&str)) {
        for (n, v) in self.iter() {
            if n.eq_ignore_ascii_case(name) {
                if let Ok(v) = std::str::from_utf8(v) {
                    f(v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serializes pairs the way Envoy does (proxy-wasm ABI 0.2.1).
    fn serialize(pairs: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
        for (n, v) in pairs {
            out.extend((n.len() as u32).to_le_bytes());
            out.extend((v.len() as u32).to_le_bytes());
        }
        for (n, v) in pairs {
            out.extend(n.as_bytes());
            out.push(0);
            out.extend(*v);
            out.push(0);
        }
        out
    }

    fn map(buf: Vec<u8>) -> Option<HeaderMap> {
        let pairs = index(&buf)?;
        Some(HeaderMap {
            buf: buf.into_boxed_slice(),
            pairs,
        })
    }

    #[test]
    fn reads_pairs_in_place() {
        let pairs: [(&str, &[u8]); 4] = [
            (":authority", b"canary.test"),
            (":path", b"/a?b=c"),
            ("x-empty", b""),
            ("x-bin", b"\xff\xfe"),
        ];
        let m = map(serialize(&pairs)).expect("parses");
        assert_eq!(m.len(), 4);
        let got: Vec<(&str, &[u8])> = m.iter().collect();
        assert_eq!(got, pairs);
        assert_eq!(m.get(":AUTHORITY"), Some("canary.test"));
        assert_eq!(m.get("x-empty"), Some(""));
        assert_eq!(m.get("x-bin"), None, "not UTF-8: absent");
        assert_eq!(m.get("missing"), None);
    }

    #[test]
    fn malformed_buffers_are_refused() {
        let good = serialize(&[("a", b"1"), ("bb", b"22")]);
        assert!(map(good.clone()).is_some());
        for cut in 0..good.len() {
            assert!(map(good[..cut].to_vec()).is_none(), "cut at {cut}");
        }
        let mut huge = good.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(map(huge).is_none());
        assert!(map(serialize(&[])).is_some_and(|m| m.len() == 0));
    }
}
