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

fn address<T>(r: Option<&T>) -> u64 {
    r.map_or(0, |r| r as *const T as usize as u64)
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
    let nanos = |t: Option<std::time::Duration>| t.map_or(u64::MAX, |t| t.as_nanos() as u64);
    number(key, d.outcome as u64);
    number(key, u64::from(d.status));
    number(key, d.grpc_status.map_or(u64::MAX, u64::from));
    number(key, address(d.route));
    number(key, address(d.l4_rule));
    number(key, d.destination_index.map_or(u64::MAX, |i| i as u64));
    number(key, address(d.cluster));
    number(key, address(d.endpoint));
    number(key, u64::from(d.original_destination));
    number(key, nanos(d.delay));
    number(key, nanos(d.timeout()));
    number(key, address(Some(d.request_headers)));
    number(key, address(Some(d.response_headers)));
    number(key, d.mirrors.len() as u64);
    for m in d.mirrors.iter() {
        number(key, address(Some(m)));
    }
    match &d.hash {
        None => number(key, 0),
        Some(h) => {
            number(key, 1 + address(Some(h.policy)));
            number(key, h.value);
            number(
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
