//! `weir serve`: an xDS server (ADS, state of the world) that delivers the
//! Weir proxy-wasm filter's configuration to a fleet of Envoys through ECDS
//! (`envoy.config.core.v3.TypedExtensionConfig`), trimmed per proxy.
//!
//! - [`source`] reads the directory (Istio and Kubernetes YAML);
//! - [`watch`] reloads it on change: validated whole, published if accepted;
//! - [`state`] holds the accepted snapshot and renders it per proxy;
//! - [`trim`] picks what each proxy receives; [`node`] says who it is;
//! - [`endpoints`] tells endpoint-only changes apart;
//! - [`xds`] speaks ADS to the Envoys.

pub mod endpoints;
pub mod node;
pub mod source;
pub mod state;
pub mod trim;
pub mod watch;
pub mod xds;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryServiceServer;
use state::{FilterOptions, Offered, Store};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use xds::{Ads, Stats};

/// How long open streams get to close after [`Server::stop`].
const STOP_GRACE: Duration = Duration::from_millis(500);

/// Everything `weir serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The directory of YAML served.
    pub dir: PathBuf,
    /// Where the gRPC server listens.
    pub listen: SocketAddr,
    pub filter: FilterOptions,
}

/// A running server: its own tokio runtime, the watcher and the gRPC
/// listener. Stops on [`Server::stop`] or drop.
#[derive(Debug)]
pub struct Server {
    /// The address bound (the port is known when `listen` asked for 0).
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    pub store: Arc<Store>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _watcher: watch::DirWatcher,
}

impl Server {
    /// Loads the directory, starts watching it and serving ADS.
    ///
    /// The first config may be rejected: the server then serves nothing
    /// until a good one is written (the Envoys wait for their filter).
    ///
    /// # Errors
    /// The address cannot be bound or the directory cannot be watched.
    pub fn start(config: ServeConfig) -> Result<Server, String> {
        let store = Arc::new(Store::new(config.filter.clone()));
        if let Offered::Rejected(_) = watch::reload(&config.dir, &store) {
            eprintln!("weir serve: no config to serve yet");
        }
        let watcher = watch::DirWatcher::start(config.dir.clone(), store.clone())?;
        let std_listener = std::net::TcpListener::bind(config.listen)
            .map_err(|e| format!("listen on {}: {e}", config.listen))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| e.to_string())?;
        let addr = std_listener.local_addr().map_err(|e| e.to_string())?;
        let stats = Arc::new(Stats::default());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        // Told to every stream on stop: tonic's graceful shutdown waits for
        // open streams, and an ADS stream never ends on its own.
        let (closing_tx, closing) = tokio::sync::watch::channel(false);
        let ads = Ads::new(store.subscribe(), stats.clone(), closing.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("weir-serve")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let thread = std::thread::Builder::new()
            .name("weir-serve-grpc".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("weir serve: {e}");
                            return;
                        }
                    };
                    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                    let service = AggregatedDiscoveryServiceServer::new(ads)
                        .max_decoding_message_size(4 << 20);
                    let mut cut = closing;
                    let serving = tonic::transport::Server::builder()
                        .tcp_nodelay(true)
                        // A peer that stops answering pings is dropped.
                        .http2_keepalive_interval(Some(Duration::from_secs(10)))
                        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
                        .max_concurrent_streams(Some(16))
                        .add_service(service)
                        .serve_with_incoming_shutdown(incoming, async move {
                            let _ = stopped.await;
                            let _ = closing_tx.send(true);
                        });
                    // Streams get STOP_GRACE to close after the stop; what
                    // is still open then is cut with the runtime.
                    let result = tokio::select! {
                        r = serving => r,
                        _ = async {
                            let _ = cut.wait_for(|c| *c).await;
                            tokio::time::sleep(STOP_GRACE).await;
                        } => Ok(()),
                    };
                    if let Err(e) = result {
                        eprintln!("weir serve: gRPC server: {e}");
                    }
                });
                // Streams still open are cut here, as a process exit would.
                runtime.shutdown_timeout(Duration::from_millis(200));
            })
            .map_err(|e| e.to_string())?;
        eprintln!(
            "weir serve: serving {} on {addr} (ADS, ECDS resource {:?})",
            config.dir.display(),
            config.filter.name
        );
        Ok(Server {
            addr,
            stats,
            store,
            shutdown: Some(shutdown),
            thread: Some(thread),
            _watcher: watcher,
        })
    }

    /// Stops serving: the listener closes and every stream ends.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Serves until SIGINT or SIGTERM.
///
/// # Errors
/// As [`Server::start`].
pub fn run(config: ServeConfig) -> Result<(), String> {
    let server = Server::start(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        Ok::<(), String>(())
    })?;
    eprintln!("weir serve: stopping");
    server.stop();
    Ok(())
}

/// What `node` would receive from `dir`, as text: the resources kept and
/// the plugin configuration (`weir serve --dry-run NODE.json`).
///
/// # Errors
/// An unreadable node file or directory, or a rejected config (with its
/// diagnostics).
pub fn dry_run(dir: &Path, node_file: &Path, filter: FilterOptions) -> Result<String, String> {
    let text =
        std::fs::read_to_string(node_file).map_err(|e| format!("{}: {e}", node_file.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", node_file.display()))?;
    let node = node::NodeIdentity::from_json(&value)
        .map_err(|e| format!("{}: {e}", node_file.display()))?;
    let docs = source::read_files(dir)
        .and_then(|f| source::documents(&f))
        .map_err(|e| e.to_string())?;
    let store = Store::new(filter);
    if let Offered::Rejected(diags) = store.offer(docs) {
        let lines: Vec<String> = diags.iter().map(|d| format!("  {d}")).collect();
        return Err(format!("config rejected:\n{}", lines.join("\n")));
    }
    let snapshot = store.current().ok_or("config rejected")?;
    let r = snapshot.render(&node);
    let role = match node.role {
        node::Role::Gateway => "gateway",
        node::Role::Sidecar => "sidecar",
    };
    let mut out = format!(
        "node {:?}: {role} in namespace {}, version {}\n",
        node.id, node.namespace, r.version
    );
    if node.role == node::Role::Gateway {
        out.push_str(&format!("gateways: {}\n", r.gateways.join(", ")));
    }
    out.push_str(&format!("resources ({}):\n", r.kept.len()));
    for k in &r.kept {
        out.push_str(&format!("  {k}\n"));
    }
    out.push_str(&format!(
        "bytes: {} (TypedExtensionConfig)\nplugin configuration:\n",
        r.resource.value.len()
    ));
    let mut plugin: serde_json::Value = serde_json::from_str(&r.plugin_json).unwrap_or_default();
    // The resources are listed above; their text would drown the options.
    if let Some(c) = plugin.get_mut("config") {
        let n = c.as_str().map_or(0, str::len);
        *c = serde_json::Value::String(format!("<{n} bytes: the resources above>"));
    }
    out.push_str(&serde_json::to_string_pretty(&plugin).unwrap_or_default());
    out.push('\n');
    Ok(out)
}
