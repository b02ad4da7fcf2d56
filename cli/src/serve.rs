//! `weir serve`: a thin front for weir-serve (the xDS server lives there).

use crate::input::KubeArgs;
use crate::Failure;
use std::path::PathBuf;
use std::process::ExitCode;
use weir_core::config::kube::Options;
use weir_serve::state::FilterOptions;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The directory of Istio and Kubernetes YAML to serve (watched).
    dir: PathBuf,
    /// Address of the ADS gRPC server.
    #[arg(long, default_value = "127.0.0.1:18000")]
    listen: std::net::SocketAddr,
    /// The filter's `.wasm` file, as a path on the Envoys' hosts.
    #[arg(long, default_value = "weir_envoy_filter.wasm")]
    wasm: String,
    /// The ECDS resource name (the HttpFilter's name in the bootstrap).
    #[arg(long, default_value = "weir")]
    name: String,
    /// A JSON object of plugin options every proxy gets (a node's
    /// WEIR_PLUGIN metadata overrides them).
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// Print what the node described in NODE.json would receive, and exit.
    #[arg(long, value_name = "NODE.json")]
    dry_run: Option<PathBuf>,
}

pub fn serve(args: ServeArgs, kube: &KubeArgs) -> Result<ExitCode, Failure> {
    let plugin = match &args.plugin {
        None => serde_json::Map::new(),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            match serde_json::from_str(&text) {
                Ok(serde_json::Value::Object(m)) => m,
                Ok(_) => return Err(format!("{}: not a JSON object", p.display()).into()),
                Err(e) => return Err(format!("{}: {e}", p.display()).into()),
            }
        }
    };
    let filter = FilterOptions {
        name: args.name,
        wasm: args.wasm,
        plugin,
        kube: Options {
            cluster_domain: kube.cluster_domain.clone(),
            root_namespace: kube.root_namespace.clone(),
            synthesize_pods: kube.synthesize_pods,
        },
        ..FilterOptions::default()
    };
    if let Some(node) = args.dry_run {
        let out = weir_serve::dry_run(&args.dir, &node, filter).map_err(Failure::Config)?;
        print!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    weir_serve::run(weir_serve::ServeConfig {
        dir: args.dir,
        listen: args.listen,
        filter,
    })?;
    Ok(ExitCode::SUCCESS)
}
