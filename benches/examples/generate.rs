//! Writes a generated config to stdout, for timing the CLI on it:
//! `cargo run -p weir-benches --example generate -- mesh 5000 > mesh.yaml`
//! (`mesh`: ServiceEntry + DestinationRule + VirtualService per service;
//! `kube`: a cluster dump with 10 pods per Service, plus the Istio configs;
//! `routes`: one host with N prefix rules, the route-match benches' table).

use std::io::Write as _;
use weir_benches::cluster::{cluster_dump, mesh_config};
use weir_benches::{route_table_yaml, UriKind};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1_000);
    let text = match args.first().map(String::as_str) {
        Some("kube") => cluster_dump(n, 10),
        Some("mesh") | None => mesh_config(n),
        Some("routes") => route_table_yaml(n, UriKind::Prefix),
        Some(other) => {
            eprintln!("generate: unknown shape {other:?} (mesh, kube or routes)");
            std::process::exit(2);
        }
    };
    std::io::stdout().write_all(text.as_bytes()).unwrap();
}
