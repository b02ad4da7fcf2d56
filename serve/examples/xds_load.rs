//! Load on `weir serve` from many xDS clients (a bench, not a test; run by
//! examples/envoy/bench-serve.sh, figures in examples/envoy/BENCH.md).
//!
//! `xds_load WEIR_BIN DIR CLIENTS,… CHANGES`: DIR holds a generated mesh
//! (`generate mesh N`); this adds ten ingress Gateways, each routing ten of
//! the mesh's hosts, and a marker service every proxy receives (mesh and
//! gateways), starts `WEIR_BIN serve DIR` as its own process, connects
//! CLIENTS gRPC clients (one in ten a gateway, the rest sidecars with their
//! own app label, so renderings are not shared), then changes the marker
//! CHANGES times and prints, per client count: push latency (from the
//! file's rename to each client's receipt) p50 and max, server CPU per
//! push (its /proc utime+stime), and bytes per push for a sidecar and a
//! gateway against an untrimmed resource (every document).

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use envoy_types::pb::google::protobuf::{value::Kind, Struct, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use weir_serve::source::{documents, read_files, to_config_text};
use weir_serve::state::TYPED_EXTENSION_CONFIG;

const GATEWAYS: usize = 10;

fn string(s: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.into())),
    }
}

fn node(i: usize) -> (Node, bool) {
    let gateway = i % 10 == 9;
    let (id, ns, labels) = if gateway {
        (
            format!("router~127.0.0.1~gw-{i}.istio-system~istio-system.svc.cluster.local"),
            "istio-system".to_string(),
            ("istio", format!("gw-{}", (i / 10) % GATEWAYS)),
        )
    } else {
        (
            format!("sidecar~127.0.0.1~app-{i}.bench~bench.svc.cluster.local"),
            "bench".to_string(),
            ("app", format!("app-{i}")),
        )
    };
    let label_struct = Struct {
        fields: [(labels.0.to_string(), string(&labels.1))]
            .into_iter()
            .collect(),
    };
    let metadata = Struct {
        fields: [
            ("NAMESPACE".to_string(), string(&ns)),
            (
                "LABELS".to_string(),
                Value {
                    kind: Some(Kind::StructValue(label_struct)),
                },
            ),
        ]
        .into_iter()
        .collect(),
    };
    let node = Node {
        id,
        cluster: "bench".into(),
        metadata: Some(metadata),
        ..Node::default()
    };
    (node, gateway)
}

/// Ten Gateways (selector `istio: gw-K`), each with a VirtualService
/// routing ten mesh hosts.
fn gateways_yaml(hosts: &[String]) -> String {
    let mut y = String::new();
    for k in 0..GATEWAYS {
        y.push_str(&format!(
            "---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: gw-{k}, namespace: istio-system}}\n\
             spec:\n  selector: {{istio: gw-{k}}}\n  servers: [{{port: {{number: 80, name: http, protocol: HTTP}}, hosts: [\"*\"]}}]\n\
             ---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: gw-{k}, namespace: istio-system}}\n\
             spec:\n  hosts: [\"gw-{k}.example.com\"]\n  gateways: [gw-{k}]\n  http:\n"
        ));
        for (j, h) in hosts.iter().skip(k * 10).take(10).enumerate() {
            y.push_str(&format!(
                "  - match: [{{uri: {{prefix: /s{j}/}}}}]\n    route: [{{destination: {{host: {h}}}}}]\n"
            ));
        }
    }
    y
}

/// The marker every proxy receives; `g` changes its response header.
fn marker_yaml(g: u32) -> String {
    let gws: Vec<String> = (0..GATEWAYS)
        .map(|k| format!("istio-system/gw-{k}"))
        .collect();
    format!(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: marker, namespace: bench}}\n\
         spec:\n  hosts: [marker.bench.test]\n  location: MESH_INTERNAL\n  resolution: STATIC\n\
         \x20 ports: [{{number: 80, name: http, protocol: HTTP}}]\n  endpoints: [{{address: 10.255.0.1}}]\n---\n\
         apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: marker, namespace: bench}}\n\
         spec:\n  hosts: [marker.bench.test]\n  gateways: [mesh, {}]\n  http:\n\
         \x20 - headers: {{response: {{set: {{x-generation: \"{g}\"}}}}}}\n\
         \x20   route: [{{destination: {{host: marker.bench.test}}}}]\n",
        gws.join(", ")
    )
}

fn write_marker(dir: &Path, g: u32) {
    let tmp = dir.join(".marker.yaml.tmp");
    std::fs::write(&tmp, marker_yaml(g)).expect("write marker");
    std::fs::rename(&tmp, dir.join("marker.yaml")).expect("rename marker");
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat(5), counted from the state (field 3) here.
    (ticks(11) + ticks(12)) / 100.0
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_serve(weir: &Path, dir: &Path, port: u16) -> Serve {
    let child = Command::new(weir)
        .args(["serve"])
        .arg(dir)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--wasm",
            "/weir.wasm",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn weir serve");
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "weir serve did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Serve(child)
}

/// A connected client: its request sender and the receipts of responses.
struct Client {
    gateway: bool,
    tx: mpsc::Sender<DiscoveryRequest>,
    /// (when received, resource bytes, version)
    got: mpsc::UnboundedReceiver<(Instant, usize, String)>,
}

async fn connect(port: u16, i: usize) -> Client {
    let (node, gateway) = node(i);
    let mut ads = AggregatedDiscoveryServiceClient::connect(format!("http://127.0.0.1:{port}"))
        .await
        .expect("connect")
        .max_decoding_message_size(64 << 20);
    let (tx, rx) = mpsc::channel(16);
    tx.send(DiscoveryRequest {
        node: Some(node),
        type_url: TYPED_EXTENSION_CONFIG.into(),
        resource_names: vec!["weir".into()],
        ..DiscoveryRequest::default()
    })
    .await
    .expect("subscribe");
    let mut stream = ads
        .stream_aggregated_resources(ReceiverStream::new(rx))
        .await
        .expect("stream")
        .into_inner();
    let (got_tx, got) = mpsc::unbounded_channel();
    let acks = tx.clone();
    tokio::spawn(async move {
        while let Ok(Some(r)) = stream.message().await {
            let r: DiscoveryResponse = r;
            let bytes = r.resources.iter().map(|a| a.value.len()).sum();
            let _ = got_tx.send((Instant::now(), bytes, r.version_info.clone()));
            let _ = acks
                .send(DiscoveryRequest {
                    version_info: r.version_info,
                    response_nonce: r.nonce,
                    type_url: TYPED_EXTENSION_CONFIG.into(),
                    resource_names: vec!["weir".into()],
                    ..DiscoveryRequest::default()
                })
                .await;
        }
    });
    Client { gateway, tx, got }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 4 {
        eprintln!("usage: xds_load WEIR_BIN DIR CLIENTS,… CHANGES");
        std::process::exit(2);
    }
    let (weir, dir) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]));
    let counts: Vec<usize> = args[2].split(',').filter_map(|c| c.parse().ok()).collect();
    let changes: u32 = args[3].parse().expect("CHANGES");

    // The mesh's hosts, for the gateways' routes (without a previous run's files).
    let _ = std::fs::remove_file(dir.join("gateways.yaml"));
    let _ = std::fs::remove_file(dir.join("marker.yaml"));
    let mesh = documents(&read_files(&dir).expect("read dir")).expect("parse dir");
    let hosts: Vec<String> = mesh
        .iter()
        .filter(|d| d.kind == "ServiceEntry")
        .filter_map(|d| d.spec()["hosts"][0].as_str().map(str::to_string))
        .collect();
    std::fs::write(dir.join("gateways.yaml"), gateways_yaml(&hosts)).expect("gateways");
    write_marker(&dir, 0);
    let all = documents(&read_files(&dir).expect("read dir")).expect("parse dir");
    let all_refs: Vec<_> = all.iter().collect();
    let untrimmed_config = to_config_text(&all_refs).len();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let started = Instant::now();
    let serve = start_serve(&weir, &dir, port);
    let pid = serve.0.id();
    let startup = started.elapsed();
    println!(
        "services {}: {} documents, {} bytes of config text untrimmed; weir serve listening after {:.0?}",
        hosts.len(),
        all.len(),
        untrimmed_config,
        startup
    );
    println!("| clients | push p50 | push max | server CPU / push | sidecar bytes | gateway bytes | untrimmed bytes |");
    println!("|---|---|---|---|---|---|---|");
    let mut generation = 1;
    for &n in &counts {
        let mut clients = Vec::with_capacity(n);
        for i in 0..n {
            clients.push(connect(port, i).await);
        }
        // First responses (the subscription).
        let mut sizes = (0usize, 0usize);
        for c in &mut clients {
            let (_, bytes, _) = tokio::time::timeout(Duration::from_secs(120), c.got.recv())
                .await
                .expect("a first response within 120 s")
                .expect("stream open");
            if c.gateway {
                sizes.1 = bytes;
            } else {
                sizes.0 = bytes;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let cpu_before = cpu_seconds(pid);
        let mut latencies = Vec::new();
        for _ in 0..changes {
            let t0 = Instant::now();
            write_marker(&dir, generation);
            generation += 1;
            for c in &mut clients {
                let (at, _, _) = tokio::time::timeout(Duration::from_secs(120), c.got.recv())
                    .await
                    .expect("a push within 120 s")
                    .expect("stream open");
                latencies.push(at - t0);
            }
            // Let the ACKs land before the next change.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let cpu = (cpu_seconds(pid) - cpu_before) / f64::from(changes.max(1));
        latencies.sort();
        println!(
            "| {n} | {:.0} ms | {:.0} ms | {:.1} ms | {} | {} | ≥ {} |",
            percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
            percentile(&latencies, 1.0).as_secs_f64() * 1000.0,
            cpu * 1000.0,
            sizes.0,
            if n >= 10 {
                sizes.1.to_string()
            } else {
                "-".into()
            },
            untrimmed_config,
        );
        for c in clients {
            drop(c.tx);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    drop(serve);
}
