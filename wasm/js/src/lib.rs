//! Weir for JavaScript (package `weir-js`): the core behind a wasm-bindgen
//! API for Node and browsers. Every answer is a plain object in the shape
//! `weir … --json` prints ([`weir_report`]), typed in TypeScript from the
//! Rust definitions. Bad input of any kind is a thrown `Error` with a
//! message, and a rejected config leaves the engine serving the previous one.

mod decision_cache;
mod read;

use decision_cache::DecisionCache;
use serde::Serialize;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use weir_core::config::Loaded;
use weir_core::Request;
use weir_report::locate::Origins;
use weir_report::{
    diagnostic, routes, simulation, trace, ConnectionInput, DecisionReport, OwnedConnection,
    OwnedRequest, RequestInput,
};

/// The file name diagnostics give to the text passed in.
const INPUT_NAME: &str = "<input>";

/// The most text `check` and `apply` take, in UTF-16 units (a browser tab
/// would otherwise hang on a mistaken paste of a huge file).
pub const MAX_INPUT: u32 = 64 << 20;

/// The most decisions one `simulate` makes.
pub const MAX_SIMULATE: u32 = 10_000_000;

/// A decision with the rule trace that led to it.
#[derive(Debug, Serialize, tsify::Tsify)]
pub struct Explanation {
    pub decision: DecisionReport,
    pub trace: trace::Trace,
}

#[wasm_bindgen(typescript_custom_section)]
const WEIR_CONFIG_ERROR: &str = r#"
/** What `apply` throws for a rejected config: an `Error` named
 * `WeirConfigError` carrying every diagnostic (errors and warnings). */
export interface WeirConfigError extends Error {
  name: "WeirConfigError";
  diagnostics: DiagnosticReport[];
}
"#;

/// Turns a Rust panic into a thrown `Error` with the panic's message (the
/// wasm build aborts on panic; without this JS would see only
/// `unreachable`). No input is meant to reach one.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        wasm_bindgen::throw_str(&format!("weir: internal error: {info}"))
    }));
}

/// Weir's version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

fn error(message: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&format!("weir: {message}")).into()
}

/// The value as JS sees it, with `null` for absent fields and plain
/// objects for maps (as `JSON.parse` of the CLI's output would give).
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(error)
}

/// `value` as text: a string of well-formed UTF-16 (no lone surrogates)
/// no longer than [`MAX_INPUT`].
fn text_of(what: &str, value: &JsValue) -> Result<String, JsValue> {
    let Some(s) = value.dyn_ref::<js_sys::JsString>() else {
        return Err(error(format!(
            "{what}: expected a string, got {}",
            type_name(value)
        )));
    };
    if s.length() > MAX_INPUT {
        return Err(error(format!(
            "{what}: {} UTF-16 units is more than the {MAX_INPUT} accepted",
            s.length()
        )));
    }
    if !s.is_valid_utf16() {
        return Err(error(format!(
            "{what}: the string holds a lone UTF-16 surrogate (not valid Unicode)"
        )));
    }
    Ok(String::from(s))
}

fn type_name(value: &JsValue) -> String {
    if value.is_null() {
        "null".into()
    } else if value.is_array() {
        "an array".into()
    } else {
        value.js_typeof().as_string().unwrap_or_default()
    }
}

/// Reads a request or connection object through JSON (the exact reader:
/// unknown fields and lone surrogates are named).
fn input_of<T: serde::de::DeserializeOwned>(what: &str, value: JsValue) -> Result<T, JsValue> {
    if !value.is_object() || value.is_array() {
        return Err(error(format!(
            "{what}: expected an object, got {}",
            type_name(&value)
        )));
    }
    // Through JSON, where unknown fields are refused (serde-wasm-bindgen
    // reads only the fields it knows).
    let json = js_sys::JSON::stringify(&value).map_err(|_| {
        error(format!(
            "{what}: not representable as JSON (a BigInt inside?)"
        ))
    })?;
    // JSON.stringify writes a lone surrogate as an escape, which the
    // parser refuses (it would otherwise be replaced silently).
    serde_json::from_str(&String::from(json)).map_err(|e| {
        let e = e.to_string();
        // (JSON.stringify writes no other bad escape.)
        if e.contains("surrogate") || e.contains("escape") {
            error(format!(
                "{what}: a string holds a lone UTF-16 surrogate (not valid Unicode)"
            ))
        } else {
            error(format!("{what}: {e}"))
        }
    })
}

/// Entropy for the random choices: a BigInt in 0..2^64, or a safe
/// non-negative integer number.
fn entropy_of(value: &JsValue) -> Result<u64, JsValue> {
    // A number first: one crossing into JS for the common case.
    match value.as_f64() {
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 => Ok(n as u64),
        Some(n) => Err(error(format!(
            "entropy: {n} is not a safe non-negative integer (use a BigInt)"
        ))),
        None => match value.dyn_ref::<js_sys::BigInt>() {
            Some(b) => {
                u64::try_from(b.clone()).map_err(|_| error("entropy: a BigInt outside 0..2^64"))
            }
            None if value.is_undefined() => Ok(0),
            None => Err(error(format!(
                "entropy: expected a BigInt or a number, got {}",
                type_name(value)
            ))),
        },
    }
}

/// Validates `text` (YAML or JSON, any number of documents) as `weir check`
/// does; the diagnostics carry the line of the field they are about.
#[wasm_bindgen(unchecked_return_type = "DiagnosticReport[]")]
pub fn check(
    #[wasm_bindgen(unchecked_param_type = "string")] text: JsValue,
) -> Result<JsValue, JsValue> {
    let text = text_of("check", &text)?;
    let loaded = Loaded::from_source(INPUT_NAME, &text);
    let mut list = loaded.diagnostics.clone();
    weir_core::validate::validate(&loaded.config, &mut list);
    let origins = Origins::for_diagnostics(&loaded.config, &list);
    to_js(&diagnostic::located(
        &list,
        &origins,
        &[(INPUT_NAME, text.as_str())],
    ))
}

/// An engine: the config in force and its compiled table.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Engine {
    engine: weir_core::Engine,
    decisions: RefCell<DecisionCache>,
    /// Where `decide` has JS write a request for reading in place.
    encoder: RefCell<read::Encoder>,
}

/// A request read once, for deciding many times (`decidePrepared`): the
/// object form is read and checked on every `decide`, which costs more
/// than the decision.
#[wasm_bindgen]
#[derive(Debug)]
pub struct PreparedRequest {
    owned: OwnedRequest,
}

#[wasm_bindgen]
impl PreparedRequest {
    /// Reads and checks `request` as `decide` does.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "RequestInput")] request: JsValue,
    ) -> Result<PreparedRequest, JsValue> {
        Ok(PreparedRequest {
            owned: owned_request(request)?,
        })
    }
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl Engine {
    /// An engine with no config: every request is `no_route`.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Engine {
        Engine {
            engine: weir_core::Engine::new(),
            decisions: RefCell::default(),
            encoder: RefCell::default(),
        }
    }

    /// Validates, compiles and puts `text` in force; returns its warnings.
    /// A config with errors throws a `WeirConfigError` carrying every
    /// diagnostic, and the previous config keeps serving.
    #[wasm_bindgen(unchecked_return_type = "DiagnosticReport[]")]
    pub fn apply(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] text: JsValue,
    ) -> Result<JsValue, JsValue> {
        let text = text_of("apply", &text)?;
        let loaded = Loaded::from_source(INPUT_NAME, &text);
        // Taken now: the engine keeps the config.
        let origins = Origins::of(&loaded.config);
        let sources = [(INPUT_NAME, text.as_str())];
        match self.engine.apply(loaded) {
            Ok(warnings) => {
                self.decisions.borrow_mut().clear();
                to_js(&diagnostic::located(&warnings, &origins, &sources))
            }
            Err(rejected) => {
                let list = diagnostic::located(&rejected.diagnostics, &origins, &sources);
                let errors = list.iter().filter(|d| d.is_error()).count();
                let first = list
                    .iter()
                    .find(|d| d.is_error())
                    .map(|d| format!(": {}", d.message))
                    .unwrap_or_default();
                let e = js_sys::Error::new(&format!(
                    "weir: config rejected with {errors} error(s){first}"
                ));
                e.set_name("WeirConfigError");
                js_sys::Reflect::set(&e, &"diagnostics".into(), &to_js(&list)?)?;
                Err(e.into())
            }
        }
    }

    /// Decides an HTTP request: `{method, url, headers, port, source}`.
    /// `entropy` (BigInt or number) drives every random choice: the same
    /// config, request and entropy give the same decision in Rust, C, Go
    /// and JS. Decisions are frozen, and equal ones may be the same object.
    #[wasm_bindgen(unchecked_return_type = "DecisionReport")]
    pub fn decide(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RequestInput")] request: JsValue,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] entropy: JsValue,
    ) -> Result<JsValue, JsValue> {
        let read = self
            .encoder
            .borrow_mut()
            .with_request(&request, &entropy, |req, encoded| {
                let entropy = match encoded {
                    Some(e) => e,
                    None => entropy_of(&entropy)?,
                };
                self.decide_request(req, entropy)
            });
        match read {
            Some(decision) => decision,
            None => self.decide_owned(&owned_request(request)?, &entropy),
        }
    }

    /// `decide` for a request read once: what a proxy or a loop calls.
    #[wasm_bindgen(js_name = decidePrepared, unchecked_return_type = "DecisionReport")]
    pub fn decide_prepared(
        &self,
        request: &PreparedRequest,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] entropy: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.decide_owned(&request.owned, &entropy)
    }

    /// Decides a TCP or TLS connection: `{destination, port, sni, host, source}`.
    #[wasm_bindgen(js_name = decideTcp, unchecked_return_type = "DecisionReport")]
    pub fn decide_tcp(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ConnectionInput")] connection: JsValue,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] entropy: JsValue,
    ) -> Result<JsValue, JsValue> {
        let input: ConnectionInput = input_of("connection", connection)?;
        let owned = OwnedConnection::new(&input).map_err(|e| error(format!("connection: {e}")))?;
        let entropy = entropy_of(&entropy)?;
        let table = self.engine.table();
        owned.with(|c| {
            let d = table.decide_tcp(c, entropy);
            self.decisions
                .borrow_mut()
                .get_or_make(&d, None, || to_js(&DecisionReport::new(&d, None)))
        })
    }

    /// The decision and the rules looked at on the way (`weir explain`).
    #[wasm_bindgen(unchecked_return_type = "Explanation")]
    pub fn explain(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RequestInput")] request: JsValue,
        #[wasm_bindgen(unchecked_param_type = "bigint | number")] entropy: JsValue,
    ) -> Result<JsValue, JsValue> {
        let owned = owned_request(request)?;
        let entropy = entropy_of(&entropy)?;
        let table = self.engine.table();
        to_js(&owned.with(|req| Explanation {
            decision: DecisionReport::new(&table.decide(req, entropy), Some(req)),
            trace: trace::trace(&table, req),
        }))
    }

    /// The compiled listeners, routes and clusters (`weir routes`).
    #[wasm_bindgen(unchecked_return_type = "RouteTable")]
    pub fn routes(&self) -> Result<JsValue, JsValue> {
        to_js(&routes::route_table(&self.engine.table(), None))
    }

    /// `n` decisions of `request` with entropy drawn from `seed` (default
    /// 0), counted by outcome, destination and endpoint.
    #[wasm_bindgen(unchecked_return_type = "Simulation")]
    pub fn simulate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RequestInput")] request: JsValue,
        n: u32,
        #[wasm_bindgen(unchecked_param_type = "bigint | number | undefined")] seed: JsValue,
    ) -> Result<JsValue, JsValue> {
        if n == 0 || n > MAX_SIMULATE {
            return Err(error(format!("simulate: n must be 1..={MAX_SIMULATE}")));
        }
        let owned = owned_request(request)?;
        let seed = entropy_of(&seed)?;
        let table = self.engine.table();
        to_js(&owned.with(|req| simulation::simulate(&table, req, u64::from(n), seed)))
    }
}

impl Engine {
    fn decide_owned(&self, owned: &OwnedRequest, entropy: &JsValue) -> Result<JsValue, JsValue> {
        let entropy = entropy_of(entropy)?;
        owned.with(|req| self.decide_request(req, entropy))
    }

    fn decide_request(&self, req: &Request<'_>, entropy: u64) -> Result<JsValue, JsValue> {
        let table = self.engine.table();
        let d = table.decide(req, entropy);
        self.decisions
            .borrow_mut()
            .get_or_make(&d, Some(req), || to_js(&DecisionReport::new(&d, Some(req))))
    }
}

/// Reads `value` with the exact (JSON) reader, which names any problem.
fn owned_request(value: JsValue) -> Result<OwnedRequest, JsValue> {
    let input: RequestInput = input_of("request", value)?;
    OwnedRequest::new(&input).map_err(|e| error(format!("request: {e}")))
}
