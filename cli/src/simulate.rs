//! `weir simulate`: many requests' decisions, their spread over the
//! destinations, and what an endpoint change would disrupt.

use super::*;
use crate::explain::{owned_request, split_request_args};

pub(crate) fn simulate(args: SimulateArgs) -> Result<ExitCode, Failure> {
    let (files, method, url) = split_request_args(&args.args)?;
    let (engine, _) = engine(&files)?;
    let table = engine.table();
    let owned = owned_request(&method, &url, Vec::new(), &args.request)?;
    let n = args.n.max(1);
    // Timed pass: decisions only.
    let elapsed = owned.with(|req| {
        let mut state = args.seed;
        let start = Instant::now();
        let mut sink = 0u64;
        for _ in 0..n {
            let d = table.decide(req, splitmix64(&mut state));
            sink = sink.wrapping_add(d.outcome as u64);
        }
        std::hint::black_box(sink);
        start.elapsed()
    });
    // Counting pass (same entropy sequence).
    let counts = owned.with(|req| weir_report::simulation::simulate(&table, req, n, args.seed));
    println!("{n} decisions for {method} {url}");
    let pct = |c: u64| 100.0 * c as f64 / n as f64;
    println!("outcomes:");
    for (k, c) in &counts.outcomes {
        println!("  {k:<40} {c:>10} {:>7.2}%", pct(*c));
    }
    println!("destinations:");
    for (k, c) in &counts.destinations {
        println!("  {k:<60} {c:>10} {:>7.2}%", pct(*c));
    }
    println!("endpoints:");
    for (k, c) in &counts.endpoints {
        println!("  {k:<60} {c:>10} {:>7.2}%", pct(*c));
    }
    let per_sec = n as f64 / elapsed.as_secs_f64().max(1e-9);
    println!(
        "speed: {:.0} decisions/s ({:.1} ns per decision)",
        per_sec,
        1e9 / per_sec
    );
    if let Some(addr) = &args.remove_endpoint {
        disruption(&engine, &files, &owned, addr, n, args.seed)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// How many hash keys change endpoint when `addr` leaves its host's endpoints.
pub(crate) fn disruption(
    engine: &Engine,
    files: &[String],
    owned: &OwnedRequest,
    addr: &str,
    n: u64,
    seed: u64,
) -> Result<(), String> {
    let picks = |table: &Table| -> (Vec<Option<String>>, String) {
        let mut out = Vec::new();
        let mut host = String::new();
        let mut state = seed;
        for i in 0..n {
            let keyed = keyed(owned, &format!("key-{i}"));
            out.push(keyed.with(|req| {
                let d = table.decide(req, splitmix64(&mut state));
                if let Some(c) = d.cluster {
                    host = c.host.to_string();
                }
                d.endpoint.map(|e| e.address.to_string())
            }));
        }
        (out, host)
    };
    let (before, host) = picks(&engine.table());
    let ip = addr
        .rsplit_once(':')
        .map_or(addr, |(ip, _)| ip)
        .trim_matches(['[', ']']);
    let loaded = input::load(files)?;
    let registry = weir_core::config::registry::Registry::build(&loaded.config);
    let service = registry
        .find(&host)
        .ok_or_else(|| format!("no service {host:?} in the config"))?;
    let remaining: Vec<EndpointSpec> = service
        .endpoints
        .iter()
        .filter(|e| e.address != ip)
        .map(|e| EndpointSpec {
            address: e.address.clone(),
            port: None,
            labels: (&*e.labels).into(),
            weight: e.weight,
            locality: e.locality.to_string(),
        })
        .collect();
    if remaining.len() == service.endpoints.len() {
        return Err(format!("endpoint {addr} is not one of {host}'s endpoints"));
    }
    engine
        .set_endpoints(&host, &remaining)
        .map_err(|e| e.to_string())?;
    let (after, _) = picks(&engine.table());
    let on_removed = before.iter().filter(|e| e.as_deref() == Some(addr)).count();
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    println!("removing {addr} from {host}:");
    println!("  keys that were on {addr}: {on_removed} (they must move)");
    println!(
        "  keys that moved: {moved} of {n} ({:.2}%); {} of them were on other endpoints",
        100.0 * moved as f64 / n as f64,
        moved - on_removed.min(moved)
    );
    Ok(())
}

/// The request with `key` wherever a hash policy may read it: every header
/// given with -H gets the key as its value, and `?key=` is added to the query.
pub(crate) fn keyed(o: &OwnedRequest, key: &str) -> OwnedRequest {
    let sep = if o.path.contains('?') { '&' } else { '?' };
    OwnedRequest {
        method: o.method.clone(),
        scheme: o.scheme.clone(),
        authority: o.authority.clone(),
        path: format!("{}{sep}key={key}", o.path),
        headers: o
            .headers
            .iter()
            .map(|(n, _)| (n.clone(), key.to_string()))
            .collect(),
        port: o.port,
        source: o.source.clone(),
    }
}
