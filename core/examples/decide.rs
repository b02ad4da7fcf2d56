//! The README's Rust example: apply a bundled config, decide one request, print the cluster.
//!
//!     cargo run -p weir-core --example decide

use weir_core::{Engine, Request};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/configs/fleetman-canary.yaml"
    );
    let engine = Engine::new();
    engine.apply_str(&std::fs::read_to_string(config)?)?;
    let table = engine.snapshot();
    let host = "fleetman-staff-service.default.svc.cluster.local";
    let d = table.decide(&Request::get(host, "/"), 7);
    let cluster = d.cluster.ok_or("the canary routes every request")?;
    println!("{}", cluster.name);
    Ok(())
}
