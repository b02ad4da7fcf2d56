//! `weir`: check Istio configs, show the compiled routes, explain and
//! simulate routing decisions.

mod explain;
mod input;

/// mimalloc, not glibc malloc: a 50 000-service load makes millions of small
/// allocations, and glibc spent a third of it returning pages to the kernel
/// and faulting them back in (`weir check --timing`, `weir serve`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod serve;
mod simulate;
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
        Command::Explain(args) => explain::explain(args),
        Command::Serve(args) => serve::serve(args, &cli.kube),
        Command::Simulate(args) => simulate::simulate(args),
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
