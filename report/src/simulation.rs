//! N decisions of one request, counted by outcome, destination and
//! endpoint (`weir simulate`, the playground's chart).

use serde::Serialize;
use std::collections::BTreeMap;
use weir_core::balance::splitmix64;
use weir_core::{Request, Table};

/// How N decisions of one request fell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct Simulation {
    pub n: u64,
    /// The seed of the entropy sequence (splitmix64).
    pub seed: u64,
    /// Count per outcome (`route`, `fault_abort`, …).
    pub outcomes: BTreeMap<String, u64>,
    /// Count per cluster.
    pub destinations: BTreeMap<String, u64>,
    /// Count per endpoint (`ip:port`, with ` (pod ns/name)` when known).
    pub endpoints: BTreeMap<String, u64>,
}

/// Decides `req` `n` times on `table` with entropy drawn from `seed`.
pub fn simulate(table: &Table, req: &Request<'_>, n: u64, seed: u64) -> Simulation {
    let mut out = Simulation {
        n,
        seed,
        outcomes: BTreeMap::new(),
        destinations: BTreeMap::new(),
        endpoints: BTreeMap::new(),
    };
    let mut state = seed;
    for _ in 0..n {
        let d = table.decide(req, splitmix64(&mut state));
        *out.outcomes
            .entry(d.outcome.as_str().to_string())
            .or_default() += 1;
        if let Some(c) = d.cluster {
            *out.destinations.entry(c.name.to_string()).or_default() += 1;
        }
        if let Some(e) = d.endpoint {
            let key = match &*e.pod {
                "" => e.address.to_string(),
                pod => format!("{} (pod {pod})", e.address),
            };
            *out.endpoints.entry(key).or_default() += 1;
        }
    }
    out
}
