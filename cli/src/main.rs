//! `weir`: check Istio configs, show the compiled routes, explain and
//! simulate routing decisions.

mod input;

/// mimalloc, not glibc malloc: a 50 000-service load makes millions of small
/// allocations, and glibc spent a third of it returning pages to the kernel
/// and faulting them back in (`weir check --timing`, `weir serve`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod serve;
mod style;

use clap::{Args, CommandFactory, Parser, Subcommand};
use std::process::ExitCode;
use std::time::Instant;
use weir_core::balance::splitmix64;
use weir_core::compile::EndpointSpec;
use weir_core::request::Request;
use weir_core::validate::has_errors;
use weir_core::{Decision, Engine, Table};
use weir_report::locate::{locate_diagnostics, Origins};
use weir_report::request::{HeadersInput, SourceInput};
use weir_report::{DecisionReport, DiagnosticReport, OwnedRequest, RequestInput, RouteTable};

#[derive(Parser, Debug)]
#[command(
    name = "weir",
    version,
    about = "Istio traffic management, decided in-process",
    after_help = "Inputs: files, directories (every *.yaml, *.yml and *.json below them) or - for \
                  standard input, e.g. `kubectl get vs,dr,gw,se -A -o yaml | weir check -`.\n\
                  Exit status: 0 ok, 1 the config has errors (rejected), 2 usage (bad arguments, \
                  unreadable input)."
)]
struct Cli {
    /// Colour the output: auto (only on a terminal, and not with NO_COLOR), always, never.
    #[arg(long, global = true, value_enum, default_value_t = style::When::Auto)]
    color: style::When,
    #[command(flatten)]
    kube: input::KubeArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate configs like `istioctl analyze`; exit status 1 on errors.
    Check {
        files: Vec<String>,
        /// Print diagnostics as JSON (with file, line, column and field path).
        #[arg(long)]
        json: bool,
        /// How each diagnostic is printed: as `istioctl analyze` does, or
        /// compiler style (`file:line:column` first).
        #[arg(long, value_enum, default_value_t = style::Output::Istio)]
        output: style::Output,
        /// Also compile, and print how long load, validate and compile took
        /// (on standard error).
        #[arg(long)]
        timing: bool,
        /// Report the severities `istioctl analyze` gives where Weir's differ
        /// on purpose (an unknown host or gateway selector is an error there);
        /// the exit status follows them.
        #[arg(long)]
        istio_severity: bool,
    },
    /// Print the compiled route table, like `istioctl proxy-config routes`.
    Routes {
        files: Vec<String>,
        /// Only this gateway's listeners (`namespace/name`); `mesh` for sidecars.
        #[arg(long)]
        gateway: Option<String>,
    },
    /// Decide one request (or JSON lines from --requests) and explain why.
    Explain(ExplainArgs),
    /// Run N decisions and print the distribution over destinations and endpoints.
    Simulate(SimulateArgs),
    /// Serve the directory's config to Envoys over xDS (ADS, ECDS), trimmed per proxy.
    Serve(serve::ServeArgs),
    /// Print a shell completion script: `weir completions bash > /etc/bash_completion.d/weir`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Args, Debug)]
struct RequestArgs {
    /// Decide as this gateway (`namespace/name`); default: a sidecar (mesh).
    #[arg(long)]
    gateway: Option<String>,
    /// Listener port (default: the URL's port, or the gateway's first).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Client address (`ip` or `ip:port`).
    #[arg(long)]
    source_ip: Option<String>,
    /// Client workload namespace.
    #[arg(long, default_value = "")]
    source_namespace: String,
    /// Client workload labels, `k=v,k=v`.
    #[arg(long, default_value = "")]
    source_labels: String,
    /// Header `name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
}

#[derive(Args, Debug)]
struct ExplainArgs {
    /// Config files, then METHOD and URL (unless --requests).
    #[arg(required = true)]
    args: Vec<String>,
    #[command(flatten)]
    request: RequestArgs,
    /// Entropy for the random choices.
    #[arg(long, default_value_t = 0)]
    entropy: u64,
    /// Print the decision as JSON.
    #[arg(long)]
    json: bool,
    /// JSON lines `{"method","url","headers":{..},"entropy":N}`; one JSON decision per line out.
    #[arg(long)]
    requests: Option<String>,
}

#[derive(Args, Debug)]
struct SimulateArgs {
    /// Config files, then METHOD and URL.
    #[arg(required = true)]
    args: Vec<String>,
    /// Number of decisions.
    #[arg(short = 'n', default_value_t = 10_000)]
    n: u64,
    #[command(flatten)]
    request: RequestArgs,
    /// Seed for the entropy sequence.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also show how many hash keys move when this endpoint (`ip:port`) is removed.
    #[arg(long)]
    remove_endpoint: Option<String>,
}

/// Why a command failed; the exit status tells scripts which.
#[derive(Debug)]
enum Failure {
    /// Bad arguments or unreadable input: exit status 2.
    Usage(String),
    /// The config was rejected: exit status 1.
    Config(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Usage(message)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(Failure::Usage(e)) => {
            eprintln!("weir: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Config(e)) => {
            eprintln!("weir: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let colour = cli.color.enabled();
    input::set_kube_options(&cli.kube);
    match cli.command {
        Command::Check {
            files,
            json,
            output,
            timing,
            istio_severity,
        } => check(&files, json, output, timing, istio_severity, colour),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "weir", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Routes { files, gateway } => {
            let (engine, _) = engine(&files)?;
            let report = weir_report::routes::route_table(&engine.table(), gateway.as_deref());
            print_routes(&report);
            print_clusters(&report);
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain(args) => explain(args),
        Command::Serve(args) => serve::serve(args, &cli.kube),
        Command::Simulate(args) => simulate(args),
    }
}

fn check(
    files: &[String],
    as_json: bool,
    output: style::Output,
    timing: bool,
    istio_severity: bool,
    colour: bool,
) -> Result<ExitCode, Failure> {
    let start = std::time::Instant::now();
    let mut sources = Vec::new();
    let loaded = input::load_keeping_text(files, &mut sources)?;
    let load_time = start.elapsed();
    let mut diagnostics = loaded.diagnostics.clone();
    let start = std::time::Instant::now();
    // As an apply does it: the registry validation builds is compiled with.
    let validated = weir_core::validate::validate_for_compile(&loaded.config, &mut diagnostics);
    let validate_time = start.elapsed();
    if timing {
        let start = std::time::Instant::now();
        let compiled = (!has_errors(&diagnostics)).then(|| {
            weir_core::compile::compile_validated(
                &loaded.config,
                validated,
                &Default::default(),
                None,
            )
        });
        let compile_time = start.elapsed();
        eprintln!(
            "timing: load {load_time:.2?}, validate {validate_time:.2?}, {}",
            match &compiled {
                Some(Ok(t)) => format!(
                    "compile {compile_time:.2?} ({} clusters)",
                    t.clusters().len()
                ),
                Some(Err(e)) => format!("compile failed after {compile_time:.2?}: {e}"),
                None => "compile skipped (errors)".into(),
            }
        );
        std::mem::forget(compiled); // as `loaded` below
    }
    let texts: Vec<(&str, &str)> = sources
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    let origins = Origins::for_diagnostics(&loaded.config, &diagnostics);
    locate_diagnostics(&mut diagnostics, &origins, &texts);
    if istio_severity {
        for d in &mut diagnostics {
            d.severity = d.istio_severity();
        }
    }
    if as_json {
        let list: Vec<_> = diagnostics.iter().map(DiagnosticReport::new).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
    } else {
        for d in &diagnostics {
            println!("{}", style::diagnostic(d, output, colour));
        }
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        let c = &loaded.config;
        let resources = c.virtual_services.len()
            + c.destination_rules.len()
            + c.gateways.len()
            + c.service_entries.len()
            + c.workload_entries.len()
            + c.kube.len();
        println!(
            "{} resource(s), {} error(s), {} warning(s){}",
            resources,
            errors,
            diagnostics.len() - errors,
            if errors == 0 {
                ": config applies"
            } else {
                ": config rejected"
            }
        );
    }
    let code = if has_errors(&diagnostics) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    // The process ends here: freeing a 50 000-service config piece by
    // piece would take a tenth of the run, for memory the exit returns.
    std::mem::forget(loaded);
    Ok(code)
}

/// Loads and applies configs; warnings go to stderr.
fn engine(files: &[String]) -> Result<(Engine, usize), Failure> {
    let engine = Engine::new();
    match engine.apply(input::load(files)?) {
        Ok(warnings) => {
            for w in &warnings {
                eprintln!("{w}");
            }
            Ok((engine, warnings.len()))
        }
        Err(e) => Err(Failure::Config(e.to_string())),
    }
}

/// Splits trailing `METHOD URL` off the positional arguments.
fn split_request_args(args: &[String]) -> Result<(Vec<String>, String, String), String> {
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
fn owned_request(
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

fn explain(args: ExplainArgs) -> Result<ExitCode, Failure> {
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
fn print_trace(table: &Table, req: &Request<'_>) {
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

fn print_decision(d: &Decision<'_>, req: &Request<'_>) {
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

fn simulate(args: SimulateArgs) -> Result<ExitCode, Failure> {
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
fn disruption(
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
            labels: (&e.labels).into(),
            weight: e.weight,
            locality: e.locality.clone(),
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
fn keyed(o: &OwnedRequest, key: &str) -> OwnedRequest {
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

/// ` (pod ns/name, EndpointSlice ns/name)`: where an endpoint came from.
fn endpoint_origin(pod: &str, source: &str) -> String {
    let parts: Vec<String> = [
        (!pod.is_empty()).then(|| format!("pod {pod}")),
        (!source.is_empty()).then(|| source.to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// Prints every cluster's endpoints and where they came from (which
/// EndpointSlice, which pod).
fn print_clusters(report: &RouteTable) {
    println!("CLUSTERS");
    println!("  {:<60} {:<14} ENDPOINTS", "CLUSTER", "LB");
    for c in &report.clusters {
        println!("  {:<60} {:<14} {}", c.name, c.lb, c.endpoints.len());
        for e in &c.endpoints {
            let origin = endpoint_origin(&e.pod, &e.source);
            println!("      {}{origin}", e.address);
        }
    }
}

/// Prints every listener's virtual hosts and routes.
fn print_routes(report: &RouteTable) {
    for listener in &report.listeners {
        println!(
            "LISTENER {}{}",
            listener.name,
            if listener.https_redirect {
                " (https redirect)"
            } else {
                ""
            }
        );
        println!(
            "  {:<50} {:<40} {:<45} ACTION",
            "DOMAIN", "MATCH", "VIRTUAL SERVICE"
        );
        for r in &listener.http {
            println!(
                "  {:<50} {:<40} {:<45} {}",
                r.domain, r.matcher, r.rule, r.action
            );
        }
        for r in &listener.tcp {
            println!(
                "  {:<50} {:<40} {:<45} {}",
                format!("({})", r.kind),
                format!("{} match block(s)", r.match_blocks),
                r.rule,
                r.destinations.join(", ")
            );
        }
    }
}
