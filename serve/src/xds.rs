//! The ADS server (state of the world) for the one ECDS type Weir serves.
//!
//! xDS as `envoy/api/envoy/service/discovery/v3/discovery.proto` defines it:
//! a request with an empty `response_nonce` subscribes; one carrying the
//! nonce of our last response ACKs it (no `error_detail`) or NACKs it; a
//! nonce that is not the last one sent is stale and ignored. Each stream has
//! its own task, so a client that floods requests or never reads stalls only
//! itself: its responses wait on a channel of two, and new snapshots
//! overwrite older ones (a watch channel) instead of queueing. A stream
//! that sends more than [`REQUESTS_PER_SECOND`] is read no faster than that
//! (HTTP/2 flow control then holds its sender back), so a flood costs the
//! server a bounded share of its CPU.

use crate::node::NodeIdentity;
use crate::state::{Snapshot, TYPED_EXTENSION_CONFIG};
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryService;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

/// The most requests a stream has read per second. An Envoy sends one per
/// subscription and one ACK per push: a handful a second at most.
pub const REQUESTS_PER_SECOND: u32 = 200;
/// The most NACKs and ACKs kept in [`Stats`]' logs.
const LOG_LIMIT: usize = 100_000;

/// Counters of what the server saw, for logs and tests.
#[derive(Debug, Default)]
pub struct Stats {
    pub streams: AtomicU64,
    pub open_streams: AtomicU64,
    pub responses: AtomicU64,
    pub response_bytes: AtomicU64,
    pub acks: AtomicU64,
    pub nacks: AtomicU64,
    pub stale: AtomicU64,
    pub unknown_types: AtomicU64,
    /// Times a stream over [`REQUESTS_PER_SECOND`] was made to wait.
    pub throttled: AtomicU64,
    /// `(node id, version, error message)` of every NACK.
    pub nack_log: Mutex<Vec<(String, String, String)>>,
    /// `(node id, version)` of every ACK.
    pub ack_log: Mutex<Vec<(String, String)>>,
}

impl Stats {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Versions each node has ACKed, latest last.
    pub fn acked(&self, node: &str) -> Vec<String> {
        self.ack_log
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|(n, _)| n == node)
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The ADS service.
#[derive(Debug, Clone)]
pub struct Ads {
    snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    stats: Arc<Stats>,
    closing: watch::Receiver<bool>,
}

impl Ads {
    /// `closing` turning true ends every stream (the server stops).
    pub fn new(
        snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
        stats: Arc<Stats>,
        closing: watch::Receiver<bool>,
    ) -> Ads {
        Ads {
            snapshots,
            stats,
            closing,
        }
    }
}

type DeltaStream = Pin<Box<dyn Stream<Item = Result<DeltaDiscoveryResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AggregatedDiscoveryService for Ads {
    type StreamAggregatedResourcesStream = ReceiverStream<Result<DiscoveryResponse, Status>>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let (tx, rx) = mpsc::channel(2);
        let stream = AdsStream {
            inbound: request.into_inner(),
            tx,
            snapshots: self.snapshots.clone(),
            stats: self.stats.clone(),
            closing: self.closing.clone(),
            node: None,
            names: Vec::new(),
            subscribed: false,
            nonce: 0,
            last_nonce: String::new(),
            sent: None,
            nacked: None,
            window_start: Instant::now(),
            window_requests: 0,
            logged_unknown_type: false,
        };
        Stats::bump(&self.stats.streams);
        tokio::spawn(stream.run());
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type DeltaAggregatedResourcesStream = DeltaStream;

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Err(Status::unimplemented(
            "weir serve speaks state-of-the-world ADS only (api_type: GRPC)",
        ))
    }
}

/// One client stream's state.
struct AdsStream {
    inbound: Streaming<DiscoveryRequest>,
    tx: mpsc::Sender<Result<DiscoveryResponse, Status>>,
    snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    stats: Arc<Stats>,
    closing: watch::Receiver<bool>,
    node: Option<NodeIdentity>,
    /// The resource names subscribed to.
    names: Vec<String>,
    subscribed: bool,
    nonce: u64,
    last_nonce: String,
    /// The version of the last response sent.
    sent: Option<String>,
    /// The version last NACKed (logged once, never sent again).
    nacked: Option<String>,
    /// The requests read in the current second.
    window_start: Instant,
    window_requests: u32,
    logged_unknown_type: bool,
}

impl AdsStream {
    async fn run(mut self) {
        Stats::bump(&self.stats.open_streams);
        loop {
            tokio::select! {
                msg = self.inbound.message() => match msg {
                    Ok(Some(req)) => {
                        self.throttle().await;
                        if !self.on_request(req).await {
                            break;
                        }
                    }
                    Ok(None) | Err(_) => break,
                },
                changed = self.snapshots.changed(), if self.subscribed => {
                    if changed.is_err() || !self.push(false).await {
                        break;
                    }
                }
                // Only ever turns true: the server stops.
                _ = self.closing.changed() => break,
            }
        }
        self.stats.open_streams.fetch_sub(1, Ordering::Relaxed);
    }

    /// Waits out the rest of the second once this stream has sent
    /// [`REQUESTS_PER_SECOND`] in it.
    async fn throttle(&mut self) {
        const WINDOW: Duration = Duration::from_secs(1);
        if self.window_start.elapsed() >= WINDOW {
            self.window_start = Instant::now();
            self.window_requests = 0;
        }
        self.window_requests += 1;
        if self.window_requests > REQUESTS_PER_SECOND {
            Stats::bump(&self.stats.throttled);
            tokio::time::sleep(WINDOW.saturating_sub(self.window_start.elapsed())).await;
            self.window_start = Instant::now();
            self.window_requests = 1;
        }
    }

    fn node_id(&self) -> &str {
        self.node.as_ref().map_or("?", |n| n.id.as_str())
    }

    /// Handles one request; false ends the stream.
    async fn on_request(&mut self, req: DiscoveryRequest) -> bool {
        if self.node.is_none() {
            // Only the first request must carry the node (xDS allows the
            // rest to omit it).
            let node = req.node.as_ref().map(NodeIdentity::from_node);
            self.node = Some(node.unwrap_or_else(anonymous_node));
        }
        if req.type_url != TYPED_EXTENSION_CONFIG {
            Stats::bump(&self.stats.unknown_types);
            if !std::mem::replace(&mut self.logged_unknown_type, true) {
                eprintln!(
                    "weir serve: node {} asked for type {:?}; only {TYPED_EXTENSION_CONFIG} is served",
                    self.node_id(),
                    req.type_url
                );
            }
            return true;
        }
        if !req.response_nonce.is_empty() && req.response_nonce != self.last_nonce {
            Stats::bump(&self.stats.stale);
            return true;
        }
        if let Some(err) = &req.error_detail {
            Stats::bump(&self.stats.nacks);
            let rejected = self.sent.clone().unwrap_or_default();
            if self.nacked.as_ref() != Some(&rejected) {
                eprintln!(
                    "weir serve: NACK from node {} for version {rejected} (Envoy keeps {:?}): {}",
                    self.node_id(),
                    req.version_info,
                    err.message
                );
                if let Ok(mut l) = self.stats.nack_log.lock() {
                    if l.len() < LOG_LIMIT {
                        l.push((
                            self.node_id().to_string(),
                            rejected.clone(),
                            err.message.clone(),
                        ));
                    }
                }
                self.nacked = Some(rejected);
            }
            return true;
        }
        if !req.response_nonce.is_empty() {
            Stats::bump(&self.stats.acks);
            if let Ok(mut l) = self.stats.ack_log.lock() {
                if l.len() < LOG_LIMIT {
                    l.push((self.node_id().to_string(), req.version_info.clone()));
                }
            }
            if req.resource_names == self.names {
                return true;
            }
        }
        // A subscription, or a change of the names subscribed to.
        self.names = req.resource_names;
        self.subscribed = true;
        self.push(true).await
    }

    /// Sends the current resource if it differs from the last one sent (or
    /// `force`: a new subscription is always answered); false when the
    /// client is gone.
    async fn push(&mut self, force: bool) -> bool {
        let snapshot = self.snapshots.borrow_and_update().clone();
        let Some(snapshot) = snapshot else {
            return true; // nothing accepted yet: the Envoy waits
        };
        let Some(node) = &self.node else { return true };
        let rendered = snapshot.render(node);
        if !force && self.sent.as_ref() == Some(&rendered.version) {
            return true; // a change that does not concern this proxy
        }
        if self.nacked.as_ref() == Some(&rendered.version) {
            return true;
        }
        let name = &snapshot.options.name;
        let wants = self.names.is_empty() || self.names.iter().any(|n| n == name);
        self.nonce += 1;
        self.last_nonce = self.nonce.to_string();
        let resources = if wants {
            vec![rendered.resource.clone()]
        } else {
            Vec::new()
        };
        let bytes: usize = resources.iter().map(|r| r.value.len()).sum();
        let response = DiscoveryResponse {
            version_info: rendered.version.clone(),
            resources,
            type_url: TYPED_EXTENSION_CONFIG.into(),
            nonce: self.last_nonce.clone(),
            ..DiscoveryResponse::default()
        };
        self.sent = Some(rendered.version.clone());
        Stats::bump(&self.stats.responses);
        self.stats
            .response_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        self.tx.send(Ok(response)).await.is_ok()
    }
}

/// The identity of a client that sent no node: a sidecar in `default`.
fn anonymous_node() -> NodeIdentity {
    NodeIdentity {
        id: String::new(),
        role: crate::node::Role::Sidecar,
        namespace: "default".into(),
        labels: Default::default(),
        plugin: Default::default(),
    }
}
