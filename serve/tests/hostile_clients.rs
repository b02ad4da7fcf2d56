//! Malformed and hostile xDS clients against a real `weir serve` (in
//! process, gRPC over 127.0.0.1): a bad nonce, an unknown type URL, a flood
//! of requests, a stream that never reads, idle and garbage TCP connections.
//! None crashes the server, and a well-behaved client keeps getting every
//! change within a second while they run.

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use envoy_types::pb::google::protobuf::{value::Kind, Struct, Value};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::Streaming;
use weir_serve::state::{FilterOptions, TYPED_EXTENSION_CONFIG};
use weir_serve::{ServeConfig, Server};

/// Services in the served config: enough that one push (~100 KB) is larger
/// than the never-reading client's HTTP/2 stream window.
const SERVICES: usize = 300;
/// A change must reach a well-behaved client within this, hostile clients
/// or not (the bound for a fleet).
const PUSH_BOUND: Duration = Duration::from_secs(1);

/// The mesh config; `generation` is set as a response header on svc-0's
/// route, so each generation is a different config.
fn mesh(generation: u32) -> String {
    let mut y = String::new();
    for i in 0..SERVICES {
        let (a, b) = (i / 250, i % 250);
        y.push_str(&format!(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: svc-{i}, namespace: mesh}}\n\
             spec:\n  hosts: [svc-{i}.mesh.test]\n  location: MESH_INTERNAL\n  resolution: STATIC\n\
             \x20 ports: [{{number: 80, name: http, protocol: HTTP}}]\n\
             \x20 endpoints: [{{address: 10.1.{a}.{b}, ports: {{http: 8080}}}}]\n---\n\
             apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: svc-{i}, namespace: mesh}}\n\
             spec:\n  hosts: [svc-{i}.mesh.test]\n  http:\n  - match: [{{uri: {{prefix: /api/v{i}}}}}]\n\
             \x20   headers: {{response: {{set: {{x-generation: \"{g}\"}}}}}}\n\
             \x20   route: [{{destination: {{host: svc-{i}.mesh.test}}}}]\n---\n",
            g = if i == 0 { generation } else { 0 },
        ));
    }
    y
}

struct Fixture {
    dir: PathBuf,
    server: Server,
}

impl Fixture {
    fn start(name: &str) -> Fixture {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("config dir");
        std::fs::write(dir.join("mesh.yaml"), mesh(1)).expect("write config");
        let server = Server::start(ServeConfig {
            dir: dir.clone(),
            listen: ([127, 0, 0, 1], 0).into(),
            filter: FilterOptions {
                wasm: "/weir.wasm".into(),
                ..FilterOptions::default()
            },
        })
        .expect("weir serve starts");
        assert!(
            server.store.current().is_some(),
            "the first config was rejected"
        );
        Fixture { dir, server }
    }

    /// Writes generation `g` (renamed into place, as a sync tool would).
    fn change(&self, g: u32) {
        let tmp = self.dir.join(".mesh.yaml.tmp");
        std::fs::write(&tmp, mesh(g)).expect("write");
        std::fs::rename(&tmp, self.dir.join("mesh.yaml")).expect("rename");
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr
    }
}

fn node(id: &str) -> Node {
    let ns = Value {
        kind: Some(Kind::StringValue("mesh".into())),
    };
    Node {
        id: id.into(),
        cluster: "test".into(),
        metadata: Some(Struct {
            fields: [("NAMESPACE".to_string(), ns)].into_iter().collect(),
        }),
        ..Node::default()
    }
}

fn subscribe(id: &str) -> DiscoveryRequest {
    DiscoveryRequest {
        node: Some(node(id)),
        type_url: TYPED_EXTENSION_CONFIG.into(),
        resource_names: vec!["weir".into()],
        ..DiscoveryRequest::default()
    }
}

fn ack(r: &DiscoveryResponse) -> DiscoveryRequest {
    DiscoveryRequest {
        version_info: r.version_info.clone(),
        response_nonce: r.nonce.clone(),
        type_url: TYPED_EXTENSION_CONFIG.into(),
        resource_names: vec!["weir".into()],
        ..DiscoveryRequest::default()
    }
}

/// One ADS stream: its request sender and response stream.
struct Ads {
    tx: mpsc::Sender<DiscoveryRequest>,
    rx: Streaming<DiscoveryResponse>,
}

async fn channel(addr: SocketAddr, stream_window: Option<u32>) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .initial_stream_window_size(stream_window)
        .connect()
        .await
        .expect("connect")
}

async fn open(channel: Channel) -> Ads {
    let (tx, rx) = mpsc::channel(1024);
    let mut client = AggregatedDiscoveryServiceClient::new(channel);
    let rx = client
        .stream_aggregated_resources(ReceiverStream::new(rx))
        .await
        .expect("stream opens")
        .into_inner();
    Ads { tx, rx }
}

impl Ads {
    async fn send(&self, r: DiscoveryRequest) {
        self.tx.send(r).await.expect("stream open");
    }

    /// The next response, failing after `limit`.
    async fn next(&mut self, limit: Duration, what: &str) -> DiscoveryResponse {
        match tokio::time::timeout(limit, self.rx.message()).await {
            Ok(Ok(Some(r))) => r,
            Ok(other) => panic!("{what}: the stream ended: {other:?}"),
            Err(_) => panic!("{what}: no response within {limit:?}"),
        }
    }
}

/// A well-behaved client: subscribed and ACKing.
async fn good_client(addr: SocketAddr, id: &str) -> (Ads, DiscoveryResponse) {
    let mut ads = open(channel(addr, None).await).await;
    ads.send(subscribe(id)).await;
    let first = ads.next(Duration::from_secs(5), "first response").await;
    assert_eq!(first.resources.len(), 1, "one TypedExtensionConfig");
    ads.send(ack(&first)).await;
    (ads, first)
}

/// Makes `changes` changes, each awaited on `good` (and ACKed); the
/// slowest push and the last version.
async fn changes_reach(
    fx: &Fixture,
    good: &mut Ads,
    from: u32,
    changes: u32,
) -> (Duration, String) {
    let mut slowest = Duration::ZERO;
    let mut version = String::new();
    for g in from..from + changes {
        let start = Instant::now();
        fx.change(g);
        let r = good
            .next(PUSH_BOUND * 5, &format!("the push of generation {g}"))
            .await;
        let took = start.elapsed();
        slowest = slowest.max(took);
        assert!(
            took < PUSH_BOUND,
            "generation {g} took {took:?} to reach a well-behaved client"
        );
        good.send(ack(&r)).await;
        version = r.version_info;
    }
    (slowest, version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_nonce_or_unknown_type_is_ignored_and_the_stream_keeps_working() {
    let fx = Fixture::start("nonce");
    let stats = fx.server.stats.clone();
    let (mut ads, first) = good_client(
        fx.addr(),
        "sidecar~127.0.0.1~odd-1.mesh~mesh.svc.cluster.local",
    )
    .await;
    // Rows: a request the server must ignore, and the counter that says so.
    let rows: [(&str, DiscoveryRequest, &std::sync::atomic::AtomicU64); 3] = [
        (
            "an ACK of a nonce never sent",
            DiscoveryRequest {
                response_nonce: "no-such-nonce".into(),
                ..ack(&first)
            },
            &stats.stale,
        ),
        (
            "a NACK of a nonce never sent",
            DiscoveryRequest {
                response_nonce: "12345".into(),
                error_detail: Some(RpcStatus {
                    code: 3,
                    message: "forged".into(),
                    details: Vec::new(),
                }),
                ..ack(&first)
            },
            &stats.stale,
        ),
        (
            "a subscription to an unknown type",
            DiscoveryRequest {
                type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster".into(),
                resource_names: Vec::new(),
                ..DiscoveryRequest::default()
            },
            &stats.unknown_types,
        ),
    ];
    for (what, request, counter) in rows {
        let before = counter.load(Ordering::Relaxed);
        ads.send(request).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while counter.load(Ordering::Relaxed) == before {
            assert!(Instant::now() < deadline, "{what} was not seen");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Nothing is sent in answer.
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(200), ads.rx.message()).await {
            panic!("{what} was answered: {r:?}");
        }
    }
    assert!(
        stats.nack_log.lock().expect("log").is_empty(),
        "a forged NACK was logged as the node's"
    );
    // The stream still gets changes.
    changes_reach(&fx, &mut ads, 2, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_neither_crash_the_server_nor_slow_the_others() {
    let fx = Fixture::start("hostile");
    let addr = fx.addr();
    let stats = fx.server.stats.clone();
    let (mut good, first) =
        good_client(addr, "sidecar~127.0.0.1~good-1.mesh~mesh.svc.cluster.local").await;
    assert!(
        first.resources[0].value.len() > 65_535,
        "a push ({} bytes) must exceed the never-reader's window for the test to mean anything",
        first.resources[0].value.len()
    );
    let (baseline, _) = changes_reach(&fx, &mut good, 2, 3).await;

    // 1. A stream that reads its first response, then never again, on a
    //    connection with a small HTTP/2 window: the server's sends to it
    //    block, and only that stream's task waits.
    let mut stuck = open(channel(addr, Some(65_535)).await).await;
    stuck
        .send(subscribe(
            "sidecar~127.0.0.1~stuck-1.mesh~mesh.svc.cluster.local",
        ))
        .await;
    let _ = stuck
        .next(Duration::from_secs(5), "the stuck client's first")
        .await;

    // 2. A flood: requests as fast as the connection takes them, every kind
    //    of wrong (stale nonces, forged NACKs, unknown types, names
    //    changing, which makes the server answer each one).
    let flood_stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = flood_stop.clone();
        tokio::spawn(async move {
            let ads = open(channel(addr, None).await).await;
            ads.send(subscribe(
                "sidecar~127.0.0.1~flood-1.mesh~mesh.svc.cluster.local",
            ))
            .await;
            // Its responses are read and dropped, so the flood is not
            // throttled by its own window.
            let answered = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let mut rx = ads.rx;
            let counted = answered.clone();
            let reader = tokio::spawn(async move {
                while let Ok(Some(_)) = rx.message().await {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            });
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let r = match sent % 4 {
                    0 => DiscoveryRequest {
                        response_nonce: format!("stale-{sent}"),
                        type_url: TYPED_EXTENSION_CONFIG.into(),
                        ..DiscoveryRequest::default()
                    },
                    1 => DiscoveryRequest {
                        response_nonce: "forged".into(),
                        type_url: TYPED_EXTENSION_CONFIG.into(),
                        error_detail: Some(RpcStatus {
                            code: 13,
                            message: "x".repeat(1000),
                            details: Vec::new(),
                        }),
                        ..DiscoveryRequest::default()
                    },
                    2 => DiscoveryRequest {
                        type_url: format!("type.googleapis.com/unknown.Type{sent}"),
                        ..DiscoveryRequest::default()
                    },
                    _ => DiscoveryRequest {
                        type_url: TYPED_EXTENSION_CONFIG.into(),
                        resource_names: vec![format!("name-{sent}")],
                        ..DiscoveryRequest::default()
                    },
                };
                if ads.tx.send(r).await.is_err() {
                    break;
                }
                sent += 1;
            }
            // Not waiting for the server to read the backlog (at the
            // throttled rate): the connection is simply dropped.
            reader.abort();
            (sent, answered.load(Ordering::Relaxed))
        })
    };

    // 3. TCP connections that never speak HTTP/2, and one that sends
    //    garbage; none is read from again.
    let idle: Vec<TcpStream> = (0..50)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    assert_eq!(idle.len(), 50, "idle connections refused");
    let mut garbage = TcpStream::connect(addr).expect("connect");
    let _ = garbage.write_all(&[0xde; 4096]);

    // Meanwhile a well-behaved client gets every change within the bound.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stale_before = stats.stale.load(Ordering::Relaxed);
    let (hostile, current) = changes_reach(&fx, &mut good, 10, 10).await;
    assert!(
        stats.stale.load(Ordering::Relaxed) > stale_before + 50,
        "the flood did not reach the server while the changes were pushed"
    );
    flood_stop.store(true, Ordering::Relaxed);
    let (flooded, answered) = flood.await.expect("flood task");
    eprintln!(
        "slowest push: {baseline:?} alone, {hostile:?} beside the hostile clients \
         ({flooded} flood requests, {answered} answered, {} stale)",
        stats.stale.load(Ordering::Relaxed)
    );
    assert!(flooded > 1_000, "the flood sent only {flooded} requests");
    // It was read no faster than the per-stream budget (plus the requests
    // buffered on the way: the HTTP/2 window and the client's channel).
    assert!(
        stats.throttled.load(Ordering::Relaxed) > 0,
        "the flood was never throttled"
    );
    // Forged NACKs name a nonce never sent: none is logged as the node's.
    assert!(
        stats.nack_log.lock().expect("log").is_empty(),
        "forged NACKs were logged"
    );

    // The stuck client, reading again, gets what was queued (two sends at
    // most, plus one in the window) and then the current version: the ten
    // changes did not pile up.
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(500), stuck.rx.message()).await {
            Ok(Ok(Some(r))) => got.push(r.version_info),
            Ok(other) => panic!("the stuck stream ended: {other:?}"),
            Err(_) => break,
        }
    }
    assert!(
        !got.is_empty() && got.len() < 10,
        "the stuck client got {} responses for 10 changes",
        got.len()
    );
    assert_eq!(
        got.last(),
        Some(&current),
        "the stuck client did not end on the current version"
    );
    // The server is whole: a new client connects and subscribes.
    let (_fresh, r) =
        good_client(addr, "sidecar~127.0.0.1~late-1.mesh~mesh.svc.cluster.local").await;
    assert!(!r.version_info.is_empty());
    drop((idle, garbage));
}
