//! The filter relies on Envoy clearing the route cache when it edits request
//! headers, which Envoy does only for modules of proxy-wasm ABI 0.2.1 or older
//! (Envoy's changelog: "The route cache will not be cleared by default if the
//! wasm extension modified the request headers and the ABI version of wasm
//! extension is larger then 0.2.1"). An SDK upgrade that moves the ABI must
//! bring back an explicit `clear_route_cache` call (wasm/filter/src/filter.rs).

use weir_envoy_tests::harness::filter_wasm;

/// The `proxy_abi_version_*` names in the module (its exports).
fn abi_versions(module: &[u8]) -> Vec<String> {
    const PREFIX: &[u8] = b"proxy_abi_version_";
    let mut found = Vec::new();
    for start in 0..module.len().saturating_sub(PREFIX.len()) {
        if module[start..].starts_with(PREFIX) {
            let rest = &module[start + PREFIX.len()..];
            let len = rest
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b'_')
                .count();
            let v = String::from_utf8_lossy(&rest[..len]).into_owned();
            if !found.contains(&v) {
                found.push(v);
            }
        }
    }
    found
}

#[test]
fn filter_speaks_proxy_wasm_abi_0_2_1() {
    let module = std::fs::read(filter_wasm()).expect("filter module");
    assert_eq!(abi_versions(&module), ["0_2_1"]);
}

#[test]
fn abi_scan_reads_the_version_suffix() {
    let fake = b"\x00\x17proxy_abi_version_0_2_2\x00\x10other";
    assert_eq!(abi_versions(fake), ["0_2_2"]);
    assert!(abi_versions(b"no marker here").is_empty());
}
