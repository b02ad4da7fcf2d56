//! Request objects read in one crossing, without copying: `js/encode.js`
//! writes the plain shapes into a scratch area of the wasm memory (reading
//! a JS object from Rust crosses into JS for every property, which costs
//! more than the decision), and this parses them in place into the core's
//! borrowed [`Request`]. Anything unusual (an unknown field, a value of the
//! wrong type, text that is not ASCII, a request that fails a check) is
//! left to the exact reader, which is slower but names the problem.

use std::borrow::Cow;
use wasm_bindgen::prelude::*;
use weir_core::request::{Headers, Request, Source};
use weir_report::request::{check_header, check_method, gateway_of, optional_address, split_url};

#[wasm_bindgen(module = "/js/encode.js")]
extern "C" {
    fn encode_request(
        request: &JsValue,
        entropy: &JsValue,
        memo: &JsValue,
        ptr: *mut u8,
        cap: usize,
    ) -> i32;
}

/// Bytes a request may take in the scratch area; a bigger one is read by
/// the exact reader.
const SCRATCH: usize = 16 << 10;

/// Where `js/encode.js` puts the entropy (8 bytes, little endian), the byte
/// saying it did (1) or left it to [`crate::entropy_of`] (0), and where the
/// request's tokens start.
const ENTROPY: usize = 0;
const ENTROPY_SET: usize = 8;
const TOKENS: usize = 16;

/// Source labels a request may have on this path.
const MAX_LABELS: usize = 16;

/// Where `js/encode.js` writes requests: the scratch area and the memory
/// it is in (the JS side keeps its view of the memory's bytes).
#[derive(Debug)]
pub struct Encoder {
    scratch: Box<[u8]>,
    memo: JsValue,
}

impl Default for Encoder {
    fn default() -> Self {
        let memo = js_sys::Object::new();
        // Setting a property on a new plain object cannot fail.
        let _ = js_sys::Reflect::set(&memo, &"memory".into(), &wasm_bindgen::memory());
        Encoder {
            scratch: vec![0; SCRATCH].into_boxed_slice(),
            memo: memo.into(),
        }
    }
}

impl Encoder {
    /// Writes `value` and `entropy` into the scratch area and runs `f` with
    /// the request it reads as and the entropy (`None` when JS left it to
    /// [`crate::entropy_of`]); `None` when `value` is for the exact reader.
    pub fn with_request<R>(
        &mut self,
        value: &JsValue,
        entropy: &JsValue,
        f: impl FnOnce(&Request<'_>, Option<u64>) -> R,
    ) -> Option<R> {
        let n = encode_request(
            value,
            entropy,
            &self.memo,
            self.scratch.as_mut_ptr(),
            SCRATCH - TOKENS,
        );
        let n = usize::try_from(n).ok()?;
        let bytes = self.scratch.get(TOKENS..TOKENS.checked_add(n)?)?;
        let entropy = (self.scratch[ENTROPY_SET] == 1).then(|| {
            let mut le = [0; 8];
            le.copy_from_slice(&self.scratch[ENTROPY..ENTROPY + 8]);
            u64::from_le_bytes(le)
        });
        with_encoded(bytes, |req| f(req, entropy))
    }
}

/// The tokens of an encoded request, borrowed from its bytes.
struct Tokens<'a> {
    /// Borrowed from the URL but for a scheme with capitals and a path that
    /// is empty or starts with `?` (as the exact reader reads them).
    scheme: Cow<'a, str>,
    authority: &'a str,
    path: Cow<'a, str>,
    method: &'a str,
    port: u16,
    /// The `H`/`V` tokens, back to back (`js/encode.js` writes them so).
    headers: EncodedHeaders<'a>,
    gateway: Option<&'a str>,
    namespace: &'a str,
    ip: Option<&'a str>,
    local: Option<&'a str>,
    labels: [(&'a str, &'a str); MAX_LABELS],
    label_count: usize,
}

/// Parses `js/encode.js`'s tokens, each ended by NUL: `U` the URL, split
/// by [`weir_report::request::split_url`] as the exact reader splits it,
/// `M` method,
/// `P` port, `H`/`V` a header's name and value, `G` gateway, `N`
/// namespace, `I` client address, `C` listener address, `K`/`W` a label's
/// key and value. `None` for anything else.
fn tokens(bytes: &[u8]) -> Option<Tokens<'_>> {
    let text = std::str::from_utf8(bytes).ok()?.strip_suffix('\0')?;
    let mut t = Tokens {
        scheme: Cow::Borrowed(""),
        authority: "",
        path: Cow::Borrowed(""),
        method: "GET",
        port: 0,
        headers: EncodedHeaders(""),
        gateway: None,
        namespace: "",
        ip: None,
        local: None,
        labels: [("", ""); MAX_LABELS],
        label_count: 0,
    };
    let mut parts = text.split('\0');
    let mut has_url = false;
    // Where the header tokens start and end, as offsets in `text`.
    let mut header_span: Option<(usize, usize)> = None;
    while let Some(token) = parts.next() {
        let (tag, value) = token.split_at_checked(1)?;
        let start = token.as_ptr() as usize - text.as_ptr() as usize;
        match tag {
            "U" if !has_url => {
                (t.scheme, t.authority, t.path) = split_url(value).ok()?;
                has_url = true;
            }
            "M" => t.method = value,
            "P" => t.port = value.parse().ok()?,
            "H" => {
                let v = parts.next()?.strip_prefix('V')?;
                check_header(value, v).ok()?;
                let end = v.as_ptr() as usize + v.len() - text.as_ptr() as usize;
                header_span = match header_span {
                    None => Some((start, end)),
                    // Next to the previous header, or not read here.
                    Some((first, last)) if last + 1 == start => Some((first, end)),
                    Some(_) => return None,
                };
            }
            "K" => {
                let v = parts.next()?.strip_prefix('W')?;
                *t.labels.get_mut(t.label_count)? = (value, v);
                t.label_count += 1;
            }
            "G" => t.gateway = Some(value),
            "N" => t.namespace = value,
            "I" => t.ip = Some(value),
            "C" => t.local = Some(value),
            _ => return None,
        }
    }
    if let Some((first, last)) = header_span {
        t.headers = EncodedHeaders(&text[first..last]);
    }
    has_url.then_some(t)
}

/// The header tokens of an encoded request (`Hname`, `Vvalue`, … joined
/// by NUL), read where they are: no list is built for a request.
#[derive(Debug, Clone, Copy)]
struct EncodedHeaders<'a>(&'a str);

impl<'a> EncodedHeaders<'a> {
    /// The (name, value) pairs, in order.
    fn pairs(self) -> impl Iterator<Item = (&'a str, &'a str)> {
        let mut tokens = self.0.split('\0');
        std::iter::from_fn(move || {
            let name = tokens.next()?.get(1..)?;
            Some((name, tokens.next()?.get(1..)?))
        })
    }
}

impl Headers for EncodedHeaders<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.pairs()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    fn for_each(&self, name: &str, f: &mut dyn FnMut(&str)) {
        for (n, v) in self.pairs() {
            if n.eq_ignore_ascii_case(name) {
                f(v);
            }
        }
    }
}

/// Runs `f` with the request `bytes` encode, checked as the exact reader
/// checks it ([`weir_report::OwnedRequest::new`]); `None` when they do not
/// parse or the request fails a check (the exact reader then says why).
fn with_encoded<R>(bytes: &[u8], f: impl FnOnce(&Request<'_>) -> R) -> Option<R> {
    let t = tokens(bytes)?;
    check_method(t.method).ok()?;
    let source = Source {
        gateway: gateway_of(t.gateway),
        local: optional_address("source local", t.local).ok()?,
        namespace: t.namespace,
        labels: &t.labels[..t.label_count],
    };
    Some(f(&Request {
        authority: t.authority,
        method: t.method,
        path: &t.path,
        scheme: &t.scheme,
        port: t.port,
        remote: optional_address("source ip", t.ip).ok()?,
        source: &source,
        headers: &t.headers,
    }))
}

#[cfg(test)]
mod tests {
    use super::with_encoded;

    /// The parts of the request `bytes` encode, as text.
    fn read(bytes: &[u8]) -> Option<String> {
        with_encoded(bytes, |r| {
            let mut headers = Vec::new();
            r.headers
                .for_each("x-a", &mut |v| headers.push(v.to_string()));
            format!(
                "{} {} {} {} {} {:?} {:?} {} {:?} {:?} {:?}",
                r.method,
                r.scheme,
                r.authority,
                r.path,
                r.port,
                r.remote,
                r.source.gateway,
                r.source.namespace,
                r.source.labels,
                r.source.local,
                headers,
            )
        })
    }

    #[test]
    fn encoded_requests_parse() {
        let got = read(
            b"Uhttp://a/b\0MPOST\0P8080\0Hx-a\0V1\0Hx-a\0V2\0Gns/gw\0Nshop\0Kapp\0Wweb\0I10.0.0.1\0",
        );
        assert_eq!(
            got.as_deref(),
            Some(
                "POST http a /b 8080 Some(10.0.0.1:0) Some(\"ns/gw\") shop [(\"app\", \"web\")] None [\"1\", \"2\"]"
            )
        );
        // Defaults and a gateway of `mesh`; the URL split as split_url
        // splits it (scheme in lowercase, a query alone after a '/').
        assert_eq!(
            read(b"UHTTPS://h?q\0Gmesh\0").as_deref(),
            Some("GET https h /?q 0 None None  [] None []")
        );
        assert_eq!(
            read("Uh://caf\u{e9}.example/\u{e9}#f\0".as_bytes()).as_deref(),
            Some("GET h caf\u{e9}.example /\u{e9} 0 None None  [] None []")
        );
    }

    #[test]
    fn what_the_exact_reader_must_read_is_refused() {
        for bad in [
            &b""[..],
            b"Uhttp://a/",               // no final NUL
            b"Xq\0",                     // unknown tag
            b"Mget\0",                   // no URL
            b"Uhttp://a/\0Uhttp://b/\0", // two URLs
            b"Uhttp:///x\0",             // no host
            b"U1http://a/\0",            // not a scheme
            b"Uhttp://a/ b\0",           // a space in the URL
            b"Uh://a\0Hname\0",          // a header without its value
            b"Uh://a\0Hn\0Xv\0",         // … or with another tag
            b"Uh://a\0P99999\0",         // a port out of range
            b"Uh://a\0Kk\0",             // a label without its value
            b"Uh://a\0MGE T\0",          // a method that is not a token
            b"Uh://a\0H\0V1\0",          // an empty header name
            b"Uh://a\0Hx\0V1\r\0",       // CR in a value
            b"Uh://a\0Inot-an-ip\0",     // a bad address
            b"Uh://a\0Cnope\0",
            b"Uh://\xff\0", // not UTF-8
        ] {
            assert!(read(bad).is_none(), "{:?}", String::from_utf8_lossy(bad));
        }
        let labels = |n| -> Vec<u8> { (0..n).flat_map(|_| *b"Kk\0Wv\0").collect() };
        let url = &b"Uh://a/\0"[..];
        assert!(read(&[url, &labels(17)].concat()).is_none(), "17 labels");
        assert!(read(&[url, &labels(16)].concat()).is_some(), "16 labels");
        // Headers apart from one another are not written by encode.js.
        assert!(read(&[url, b"Hx-a\0V1\0MGET\0Hx-a\0V2\0"].concat()).is_none());
    }
}
