//! Shared inputs for the benches: generated route tables and the quick mode.

pub mod cluster;

use criterion::Criterion;
use std::time::Duration;

/// Criterion settings: `WEIR_BENCH_QUICK=1` (CI) keeps every bench to a few
/// samples so benches build and run without taking minutes.
pub fn criterion() -> Criterion {
    if std::env::var_os("WEIR_BENCH_QUICK").is_some() {
        Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(20))
            .measurement_time(Duration::from_millis(100))
    } else {
        Criterion::default()
    }
}

/// The kind of uri match in a generated table.
#[derive(Debug, Clone, Copy)]
pub enum UriKind {
    Prefix,
    Exact,
    Regex,
}

/// A mesh VirtualService with `n` rules on one host, rule `i` matching
/// `/api/v1/svc{i}/…` by `kind`, plus the ServiceEntry it routes to.
pub fn route_table_yaml(n: usize, kind: UriKind) -> String {
    let mut y = String::from(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: svc, namespace: default}\nspec:\n  hosts: [svc.default.svc.cluster.local]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: big, namespace: default}\nspec:\n  hosts: [svc.default.svc.cluster.local]\n  http:\n",
    );
    for i in 0..n {
        let m = match kind {
            UriKind::Prefix => format!("prefix: /api/v1/svc{i}/"),
            UriKind::Exact => format!("exact: /api/v1/svc{i}/items"),
            UriKind::Regex => format!("regex: \"/api/v1/svc{i}/[^/]+/items\""),
        };
        y.push_str(&format!(
            "  - match: [{{uri: {{{m}}}}}]\n    route: [{{destination: {{host: svc.default.svc.cluster.local}}}}]\n"
        ));
    }
    y
}

/// A path the last generated rule matches.
pub fn last_route_path(n: usize, kind: UriKind) -> String {
    match kind {
        UriKind::Prefix => format!("/api/v1/svc{}/items", n - 1),
        UriKind::Exact => format!("/api/v1/svc{}/items", n - 1),
        UriKind::Regex => format!("/api/v1/svc{}/x/items", n - 1),
    }
}
