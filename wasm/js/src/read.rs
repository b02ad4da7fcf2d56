//! Request objects read from JS field by field: the quick way in for the
//! common shapes. Anything unusual (an unknown field, a value of the wrong
//! type, a string that may hold a lone surrogate) is left to the JSON
//! reader, which is slower but names the problem exactly.

use js_sys::{Array, JsString, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use weir_report::request::{HeadersInput, SourceInput};
use weir_report::RequestInput;

/// The property names read, made once (a JS string per call otherwise).
struct Names {
    method: JsValue,
    url: JsValue,
    headers: JsValue,
    port: JsValue,
    source: JsValue,
    gateway: JsValue,
    namespace: JsValue,
    labels: JsValue,
    ip: JsValue,
    local: JsValue,
}

thread_local! {
    static NAMES: Names = Names {
        method: "method".into(),
        url: "url".into(),
        headers: "headers".into(),
        port: "port".into(),
        source: "source".into(),
        gateway: "gateway".into(),
        namespace: "namespace".into(),
        labels: "labels".into(),
        ip: "ip".into(),
        local: "local".into(),
    };
}

fn plain_object(v: &JsValue) -> Option<&Object> {
    (v.is_object() && !v.is_array()).then(|| v.unchecked_ref::<Object>())
}

/// A string known to be well-formed: U+FFFD may stand for a lone
/// surrogate replaced on the way in, so such strings take the exact path.
fn text(v: &JsValue) -> Option<String> {
    let s = v.dyn_ref::<JsString>()?;
    let s = String::from(s);
    (!s.contains('\u{FFFD}')).then_some(s)
}

/// An optional string field: `Some(None)` when absent.
fn optional_text(o: &Object, name: &JsValue) -> Option<Option<String>> {
    let v = Reflect::get(o, name).ok()?;
    if v.is_undefined() {
        Some(None)
    } else {
        text(&v).map(Some)
    }
}

/// `{name: value}` or `[[name, value]…]` of strings.
fn pairs(v: &JsValue) -> Option<Vec<(String, String)>> {
    let entries: Array = if v.is_array() {
        v.clone().unchecked_into()
    } else {
        Object::entries(plain_object(v)?)
    };
    let mut out = Vec::with_capacity(entries.length() as usize);
    for entry in entries.iter() {
        let pair = entry.dyn_ref::<Array>().filter(|p| p.length() == 2)?;
        out.push((text(&pair.get(0))?, text(&pair.get(1))?));
    }
    Some(out)
}

/// Whether `o` has exactly `present` own properties (none unknown).
fn no_other_fields(o: &Object, present: usize) -> bool {
    Object::keys(o).length() as usize == present
}

fn source(v: &JsValue, n: &Names) -> Option<SourceInput> {
    let o = plain_object(v)?;
    let gateway = optional_text(o, &n.gateway)?;
    let namespace = optional_text(o, &n.namespace)?;
    let ip = optional_text(o, &n.ip)?;
    let local = optional_text(o, &n.local)?;
    let labels_value = Reflect::get(o, &n.labels).ok()?;
    let labels = if labels_value.is_undefined() {
        None
    } else {
        Some(pairs(&labels_value)?.into_iter().collect())
    };
    let present = [
        gateway.is_some(),
        namespace.is_some(),
        ip.is_some(),
        local.is_some(),
        labels.is_some(),
    ]
    .iter()
    .filter(|p| **p)
    .count();
    no_other_fields(o, present).then_some(SourceInput {
        gateway,
        namespace,
        labels,
        ip,
        local,
    })
}

/// The request `value` describes, when it has one of the plain shapes;
/// `None` sends it to the exact reader.
pub fn request(value: &JsValue) -> Option<RequestInput> {
    let o = plain_object(value)?;
    NAMES.with(|n| {
        let url = text(&Reflect::get(o, &n.url).ok()?)?;
        let method = optional_text(o, &n.method)?;
        let port_value = Reflect::get(o, &n.port).ok()?;
        let port = if port_value.is_undefined() {
            None
        } else {
            let p = port_value.as_f64()?;
            ((0.0..=65535.0).contains(&p) && p.fract() == 0.0).then_some(p as u16)?;
            Some(p as u16)
        };
        let headers_value = Reflect::get(o, &n.headers).ok()?;
        let headers = if headers_value.is_undefined() {
            None
        } else {
            Some(HeadersInput::Pairs(pairs(&headers_value)?))
        };
        let source_value = Reflect::get(o, &n.source).ok()?;
        let source = if source_value.is_undefined() {
            None
        } else {
            Some(source(&source_value, n)?)
        };
        let present = 1 + [
            method.is_some(),
            port.is_some(),
            headers.is_some(),
            source.is_some(),
        ]
        .iter()
        .filter(|p| **p)
        .count();
        no_other_fields(o, present).then_some(RequestInput {
            method,
            url,
            headers,
            port,
            source,
        })
    })
}
