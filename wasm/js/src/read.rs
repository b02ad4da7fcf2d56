//! Request objects read in one crossing: `js/pack.js` packs the plain
//! shapes into one string in JS (reading a JS object from Rust crosses into
//! JS for every property, which costs more than the decision), and this
//! parses it. Anything unusual (an unknown field, a value of the wrong
//! type, a lone surrogate) comes back undefined and is left to the JSON
//! reader, which is slower but names the problem exactly.

use wasm_bindgen::prelude::*;
use weir_report::request::{HeadersInput, SourceInput};
use weir_report::RequestInput;

#[wasm_bindgen(module = "/js/pack.js")]
extern "C" {
    fn pack_request(request: &JsValue, memo: &JsValue) -> u32;
    fn take_packed(memo: &JsValue) -> String;
    fn forget(memo: &JsValue);
}

/// What reading a request in one crossing gave.
pub enum Packed {
    /// Not a plain shape: read it with the exact reader.
    Odd,
    /// The same request as the last one packed with this memo.
    Same,
    /// A new request, packed.
    New(String),
}

/// Packs `value`, remembering it in `memo` (an object of the engine's).
pub fn pack(value: &JsValue, memo: &JsValue) -> Packed {
    match pack_request(value, memo) {
        1 => Packed::Same,
        2 => Packed::New(take_packed(memo)),
        _ => Packed::Odd,
    }
}

/// Makes `memo` forget its last request (its Rust side did not keep it).
pub fn forget_last(memo: &JsValue) {
    forget(memo);
}

/// Parses `pack_request`'s tokens: `U` url, `M` method, `P` port, `H`/`V`
/// a header's name and value, `G` gateway, `N` namespace, `I` client
/// address, `C` listener address, `K`/`W` a label's key and value.
pub fn parse(packed: &str) -> Option<RequestInput> {
    let mut input = RequestInput {
        method: None,
        url: String::new(),
        headers: None,
        port: None,
        source: None,
    };
    let mut headers = Vec::new();
    let mut source = SourceInput::default();
    let mut labels = std::collections::BTreeMap::new();
    let mut tokens = packed.split('\0');
    while let Some(token) = tokens.next() {
        let (tag, rest) = token.split_at_checked(1)?;
        let value = rest.to_string();
        match tag {
            "U" => input.url = value,
            "M" => input.method = Some(value),
            "P" => input.port = Some(rest.parse().ok()?),
            "H" => headers.push((value, tokens.next()?.strip_prefix('V')?.to_string())),
            "K" => {
                labels.insert(value, tokens.next()?.strip_prefix('W')?.to_string());
            }
            "G" => source.gateway = Some(value),
            "N" => source.namespace = Some(value),
            "I" => source.ip = Some(value),
            "C" => source.local = Some(value),
            _ => return None,
        }
    }
    if !headers.is_empty() {
        input.headers = Some(HeadersInput::Pairs(headers));
    }
    if !labels.is_empty() {
        source.labels = Some(labels);
    }
    input.source = Some(source);
    Some(input)
}

#[cfg(test)]
mod tests {
    use super::parse;
    use weir_report::request::HeadersInput;

    #[test]
    fn packed_requests_parse() {
        let r = parse(
            "Uhttp://a/b\0MPOST\0P8080\0Hx-a\0V1\0Hx-a\0V2\0Gns/gw\0Nshop\0Kapp\0Wweb\0I10.0.0.1",
        )
        .unwrap();
        assert_eq!(r.url, "http://a/b");
        assert_eq!(r.method.as_deref(), Some("POST"));
        assert_eq!(r.port, Some(8080));
        match r.headers {
            Some(HeadersInput::Pairs(p)) => {
                assert_eq!(p, [("x-a".into(), "1".into()), ("x-a".into(), "2".into())])
            }
            other => panic!("{other:?}"),
        }
        let s = r.source.unwrap();
        assert_eq!(s.gateway.as_deref(), Some("ns/gw"));
        assert_eq!(s.namespace.as_deref(), Some("shop"));
        assert_eq!(s.ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(s.labels.unwrap()["app"], "web");
        for bad in ["", "Xq", "Ua\0Hname", "Ua\0Hn\0Xv", "Ua\0P99999", "Ua\0Kk"] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }
}
