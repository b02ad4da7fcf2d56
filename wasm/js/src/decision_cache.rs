//! Decisions handed to JS, made once per distinct answer.
//!
//! Building a decision object in JS costs microseconds (dozens of fields
//! and strings crossing into the JS heap), many times the decision itself.
//! A proxy or a simulation sees the same few answers again and again, so
//! each distinct answer is built once, deep-frozen, and handed out again
//! whenever a decision is the same in every field. "The same" is decided
//! exactly, not by a hash alone: the key holds the identity of every table
//! entry the decision points at (route, cluster, endpoint, header edits,
//! mirrors — tables are immutable, and the cache is emptied when the table
//! changes) and the text of every field computed from the request.

use hashbrown::HashMap;
use std::fmt::Write as _;
use wasm_bindgen::{JsCast, JsValue};
use weir_core::balance::hash_policy::RequestHash;
use weir_core::{Decision, Request};

/// Entries kept before the cache starts again (a bound on memory when a
/// config has many endpoints or paths are rewritten per request).
const MAX_ENTRIES: usize = 4096;

/// Frozen decision objects by the exact key of their decision.
#[derive(Debug, Default)]
pub struct DecisionCache {
    entries: HashMap<Box<[u8]>, JsValue>,
    key: Vec<u8>,
}

/// Bytes of `fmt::Write`.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A table entry's identity: its address (pointer-sized: 4 bytes in wasm,
/// which keeps keys short, and so the compare and the hash cheap).
fn address<T>(r: Option<&T>) -> usize {
    r.map_or(0, |r| r as *const T as usize)
}

impl DecisionCache {
    /// Forgets every entry: the table they point into is gone.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The frozen object of `d`, made by `make` the first time it is seen.
    pub fn get_or_make(
        &mut self,
        d: &Decision<'_>,
        req: Option<&Request<'_>>,
        make: impl FnOnce() -> Result<JsValue, JsValue>,
    ) -> Result<JsValue, JsValue> {
        write_key(d, req, &mut self.key);
        if let Some(v) = self.entries.get(&self.key[..]) {
            return Ok(v.clone());
        }
        let value = make()?;
        deep_freeze(&value);
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries
            .insert(self.key.clone().into_boxed_slice(), value.clone());
        Ok(value)
    }
}

/// Every field of `d` that the report shows, as bytes: numbers and the
/// addresses of table entries first (fixed width), then the text derived
/// from the request, each ended by 0xFF (a byte UTF-8 never holds), and
/// the body (any bytes) after its length.
fn write_key(d: &Decision<'_>, req: Option<&Request<'_>>, key: &mut Vec<u8>) {
    key.clear();
    let number = |key: &mut Vec<u8>, n: u64| key.extend_from_slice(&n.to_le_bytes());
    let word = |key: &mut Vec<u8>, n: usize| key.extend_from_slice(&n.to_le_bytes());
    let nanos = |t: Option<std::time::Duration>| t.map_or(u64::MAX, |t| t.as_nanos() as u64);
    // Small numbers together in one word: outcome, status, whether there
    // is a grpc-status and original_destination.
    let small = (d.outcome as u64) << 40
        | u64::from(d.status) << 24
        | u64::from(d.grpc_status.is_some()) << 1
        | u64::from(d.original_destination);
    number(key, small);
    number(key, d.grpc_status.map_or(0, u64::from));
    word(key, address(d.route));
    word(key, address(d.l4_rule));
    word(key, d.destination_index.map_or(usize::MAX, |i| i));
    word(key, address(d.cluster));
    word(key, address(d.endpoint));
    number(key, nanos(d.delay));
    number(key, nanos(d.timeout()));
    word(key, address(Some(d.request_headers)));
    word(key, address(Some(d.response_headers)));
    word(key, d.mirrors.len());
    for m in d.mirrors.iter() {
        word(key, address(Some(m)));
    }
    match &d.hash {
        None => word(key, 0),
        Some(h) => {
            word(key, 1 + address(Some(h.policy)));
            number(key, h.value);
            word(
                key,
                match h.input {
                    RequestHash::Hash(_) => 1,
                    RequestHash::GeneratedCookie { .. } => 2,
                    RequestHash::Missing => 3,
                },
            );
        }
    }
    let _ = write!(Bytes(key), "{}", d.upstream_path);
    key.push(0xFF);
    key.extend_from_slice(d.upstream_authority.unwrap_or("").as_bytes());
    key.push(0xFF);
    if let Some(l) = &d.location {
        let _ = write!(Bytes(key), "{l}");
    }
    key.push(0xFF);
    if let Some(c) = &d.set_cookie {
        let _ = write!(Bytes(key), "{c}");
    }
    key.push(0xFF);
    // The body, any bytes, by its length.
    key.extend_from_slice(&(d.body().len() as u64).to_le_bytes());
    key.extend_from_slice(d.body());
    if let (Some(h), Some(req)) = (&d.hash, req) {
        key.extend_from_slice(weir_report::decision::hash_input(h, req).as_bytes());
    }
    key.push(0xFF);
}

/// Freezes `value` and everything inside it: a shared decision cannot be
/// changed by one caller under another.
fn deep_freeze(value: &JsValue) {
    if !value.is_object() {
        return;
    }
    let object = js_sys::Object::unchecked_from_js_ref(value);
    for inner in js_sys::Object::values(object).iter() {
        deep_freeze(&inner);
    }
    js_sys::Object::freeze(object);
}
