//! The API in a real browser (headless Chromium through chromedriver):
//! `wasm/js/test.sh` runs this with wasm-bindgen-test-runner.

#![cfg(target_arch = "wasm32")]

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use weir_js::Engine;

wasm_bindgen_test_configure!(run_in_browser);

const CANARY: &str = include_str!("../../../examples/configs/fleetman-canary.yaml");
const BAD_REGEX: &str = include_str!("../../../examples/configs/invalid/bad-regex.yaml");

fn get(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(v, &key.into()).unwrap()
}

fn request(url: &str) -> JsValue {
    let r = js_sys::Object::new();
    js_sys::Reflect::set(&r, &"url".into(), &url.into()).unwrap();
    r.into()
}

const URL: &str = "http://fleetman-staff-service.default.svc.cluster.local/";

#[wasm_bindgen_test]
fn decides_the_canary_in_the_browser() {
    let e = Engine::new();
    e.apply(CANARY.into()).unwrap();
    let d = e.decide(request(URL), JsValue::from(95u32)).unwrap();
    assert_eq!(get(&d, "outcome").as_string().unwrap(), "route");
    assert_eq!(
        get(&d, "cluster").as_string().unwrap(),
        "outbound|8080|risky-group|fleetman-staff-service.default.svc.cluster.local"
    );
    assert!(get(&d, "status").is_null());
    let s = e.simulate(request(URL), 1000, JsValue::from(3u32)).unwrap();
    let risky = get(
        &get(&s, "destinations"),
        "outbound|8080|risky-group|fleetman-staff-service.default.svc.cluster.local",
    )
    .as_f64()
    .unwrap();
    // Binomial(1000, 0.1): within 5 standard deviations (47).
    assert!((risky - 100.0).abs() < 47.5, "{risky}");
}

#[wasm_bindgen_test]
fn a_rejected_config_throws_and_keeps_the_previous_one() {
    let e = Engine::new();
    e.apply(CANARY.into()).unwrap();
    let err = e.apply(BAD_REGEX.into()).unwrap_err();
    let err: &js_sys::Error = err.dyn_ref().expect("an Error");
    assert_eq!(String::from(err.name()), "WeirConfigError");
    let diagnostics: js_sys::Array = get(err, "diagnostics").dyn_into().unwrap();
    let first = diagnostics.get(0);
    assert_eq!(get(&first, "code").as_string().unwrap(), "IST0106");
    assert_eq!(get(&first, "line").as_f64(), Some(15.0));
    let d = e.decide(request(URL), JsValue::from(0u32)).unwrap();
    assert_eq!(get(&d, "outcome").as_string().unwrap(), "route");
}

#[wasm_bindgen_test]
fn bad_input_throws_errors() {
    let e = Engine::new();
    for bad in [
        JsValue::from(5),
        JsValue::NULL,
        js_sys::Object::new().into(),
    ] {
        let err = e.apply(bad).unwrap_err();
        assert!(err.is_instance_of::<js_sys::Error>());
    }
    let err = e.decide(request("http://"), JsValue::from(0)).unwrap_err();
    let message = String::from(err.dyn_ref::<js_sys::Error>().unwrap().message());
    assert!(message.contains("no host"), "{message}");
    let err = e.decide(request(URL), JsValue::from(-1)).unwrap_err();
    assert!(err.is_instance_of::<js_sys::Error>());
}
