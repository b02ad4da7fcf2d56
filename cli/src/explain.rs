//! `weir explain`: one request's decision, with the trace of the routes
//! it passed over.

use super::*;

/// Splits trailing `METHOD URL` off the positional arguments.
pub(crate) fn split_request_args(args: &[String]) -> Result<(Vec<String>, String, String), String> {
    if args.len() < 3 {
        return Err("expected FILES... METHOD URL".into());
    }
    let n = args.len();
    Ok((
        args[..n - 2].to_vec(),
        args[n - 2].clone(),
        args[n - 1].clone(),
    ))
}

/// The request the arguments describe: `url` with `headers` (from
/// --requests) and the -H headers, as the client and listener say.
pub(crate) fn owned_request(
    method: &str,
    url: &str,
    headers: Vec<(String, String)>,
    args: &RequestArgs,
) -> Result<OwnedRequest, String> {
    let mut all = headers;
    for h in &args.headers {
        let (n, v) = h
            .split_once(':')
            .ok_or_else(|| format!("header {h:?} is not `name: value`"))?;
        all.push((n.trim().to_string(), v.trim().to_string()));
    }
    let labels = args
        .source_labels
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("--source-labels: {p:?} is not k=v"))
        })
        .collect::<Result<_, _>>()?;
    let port = if args.port == 0 { 80 } else { args.port };
    let input = RequestInput {
        method: Some(method.to_string()),
        url: url.to_string(),
        headers: Some(HeadersInput::Pairs(all)),
        port: Some(args.port),
        source: Some(SourceInput {
            gateway: args.gateway.clone(),
            namespace: Some(args.source_namespace.clone()),
            labels: Some(labels),
            ip: args.source_ip.clone(),
            // Generated hash cookies hash the listener's address.
            local: Some(format!("127.0.0.1:{port}")),
        }),
    };
    OwnedRequest::new(&input).map_err(|e| match &args.source_ip {
        Some(ip) if e.starts_with("source ip") => {
            format!("--source-ip {ip:?} is not an IP address")
        }
        _ => e,
    })
}

pub(crate) fn explain(args: ExplainArgs) -> Result<ExitCode, Failure> {
    if let Some(path) = &args.requests {
        let (engine, _) = engine(&args.args)?;
        let table = engine.table();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", i + 1))?;
            let method = v["method"].as_str().unwrap_or("GET");
            let url = v["url"]
                .as_str()
                .ok_or_else(|| format!("{path}:{}: missing \"url\"", i + 1))?;
            let headers = v["headers"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            (
                                k.to_ascii_lowercase(),
                                v.as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let entropy = v["entropy"].as_u64().unwrap_or(args.entropy);
            let owned = owned_request(method, url, headers, &args.request)?;
            let out = owned.with(|req| {
                serde_json::to_string(&DecisionReport::new(&table.decide(req, entropy), Some(req)))
                    .unwrap_or_default()
            });
            println!("{out}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (files, method, url) = split_request_args(&args.args)?;
    let (engine, _) = engine(&files)?;
    let table = engine.table();
    let owned = owned_request(&method, &url, Vec::new(), &args.request)?;
    owned.with(|req| {
        let d = table.decide(req, args.entropy);
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&DecisionReport::new(&d, Some(req)))
                    .unwrap_or_default()
            );
        } else {
            print_trace(&table, req);
            print_decision(&d, req);
        }
    });
    Ok(ExitCode::SUCCESS)
}

/// Which virtual host and which rules were looked at, and why each was skipped.
pub(crate) fn print_trace(table: &Table, req: &Request<'_>) {
    let t = weir_report::trace::trace(table, req);
    let Some(vhost) = &t.virtual_host else {
        println!("{}: no virtual host for {:?}", t.listener, req.authority);
        return;
    };
    println!("{}: virtual host {vhost:?}", t.listener);
    if let Some(port) = t.opaque_port {
        println!(
            "  port {port} of this service is not HTTP (Istio's protocol selection): its http routes do not apply"
        );
        return;
    }
    for step in &t.steps {
        match &step.mismatch {
            None => println!("  {}: matched", step.rule),
            Some(field) => println!("  {}: skipped ({field} does not match)", step.rule),
        }
    }
}

pub(crate) fn print_decision(d: &Decision<'_>, req: &Request<'_>) {
    println!(
        "outcome: {}{}",
        d.outcome,
        if d.status != 0 {
            format!(" ({})", d.status)
        } else {
            String::new()
        }
    );
    if let Some(c) = d.cluster {
        println!("cluster: {}", c.name);
        println!("lb: {}", c.policy.lb.as_str());
    }
    if let Some(h) = &d.hash {
        println!(
            "hash: {} = {} -> {}",
            weir_report::decision::hash_policy(h.policy),
            weir_report::decision::hash_input(h, req),
            h.value
        );
    }
    if let Some(e) = d.endpoint {
        println!(
            "endpoint: {}{}",
            e.address,
            endpoint_origin(&e.pod, &e.source)
        );
    }
    if d.original_destination {
        println!("endpoint: original destination (PASSTHROUGH)");
    }
    if d.upstream_path.is_rewritten() {
        println!("upstream path: {}", d.upstream_path);
    }
    if let Some(a) = d.upstream_authority {
        println!("upstream authority: {a}");
    }
    if let Some(l) = &d.location {
        println!("location: {l}");
    }
    if let Some(t) = d.delay {
        println!("fault delay: {t:?}");
    }
    if let Some(t) = d.timeout() {
        println!("timeout: {t:?}");
    }
    for m in d.mirrors.iter() {
        println!("mirror: {}", m.cluster_name);
    }
    if let Some(c) = &d.set_cookie {
        println!("set-cookie: {c}");
    }
    for (dir, ops) in [
        ("request", d.request_headers),
        ("response", d.response_headers),
    ] {
        for (k, v) in ops.set.iter() {
            println!("{dir} header set: {k}: {v}");
        }
        for (k, v) in ops.add.iter() {
            println!("{dir} header add: {k}: {v}");
        }
        for k in ops.remove.iter() {
            println!("{dir} header remove: {k}");
        }
    }
}
