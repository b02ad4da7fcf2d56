//! The compiled, immutable routing table and the hot path on it: [`Table`]
//! (listeners, clusters, endpoint sets), [`Table::decide`] and feedback.
//! Built by [`crate::compile`]; nothing here allocates per decision.

mod decide;
mod decide_tcp;
mod feedback;
mod types;

pub use feedback::{RequestOutcome, Ticket};
pub use types::*;

use std::collections::HashMap;
use std::sync::Arc;

/// L4 match conditions of one `tcp[]`/`tls[]` match block.
#[derive(Debug, Clone, Default)]
pub struct L4Match {
    pub port: Option<u16>,
    pub destination_subnets: Box<[crate::route::Cidr]>,
    pub sni_hosts: Box<[Box<str>]>,
    pub source_labels: Box<[(Box<str>, Box<str>)]>,
    pub source_namespace: Option<Box<str>>,
}

/// One `tcp[]` or `tls[]` rule.
#[derive(Debug)]
pub struct L4Rule {
    pub namespace: Box<str>,
    pub virtual_service: Box<str>,
    pub index: usize,
    /// VS hosts (for mesh connections that name their service).
    pub hosts: Box<[Box<str>]>,
    /// Empty: matches every connection.
    pub matches: Box<[L4Match]>,
    pub destinations: Box<[RouteDestination]>,
    pub choice: crate::balance::weighted::WeightedChoice,
    pub tls: bool,
    pub hits: std::sync::atomic::AtomicU64,
}

/// The routes one listener (the mesh, or one gateway port) serves.
#[derive(Debug, Default)]
///
/// Its parts are `Arc`s so that a reload which changes a few VirtualServices
/// builds a new listener sharing every unchanged virtual host
/// (`crate::engine` incremental apply), instead of copying the mesh.
pub struct Listener {
    pub virtual_hosts: Box<[Arc<VirtualHost>]>,
    /// The virtual hosts' domains, for host selection.
    pub(crate) hosts: Arc<crate::route::host::HostIndex>,
    /// A server with `tls.httpsRedirect`: every request gets a 301 to https.
    pub https_redirect: bool,
    pub tcp: Arc<[L4Rule]>,
    /// Mesh only: each service's ports by protocol, for TCP decisions.
    pub(crate) services: Arc<hashbrown::HashMap<Box<str>, L4Ports>>,
}

/// Everything derived from the routing resources; shared between tables that
/// differ only in endpoints. Its large parts are `Arc`s, shared with the
/// routing an incremental apply derives from it.
#[derive(Debug, Default)]
pub struct Routing {
    /// The sidecar listener as namespaces no `exportTo` names see it.
    pub mesh: Listener,
    /// Namespace → its sidecars' listener, for the namespaces an `exportTo`
    /// of a VirtualService or service names. Empty in most meshes.
    pub(crate) mesh_scoped: Arc<HashMap<Box<str>, Listener>>,
    /// `(namespace/name, port)` → listener.
    pub gateways: Arc<HashMap<(String, u16), Listener>>,
    /// The first server port of each gateway, for requests that give no port.
    pub(crate) gateway_default_port: Arc<HashMap<String, u16>>,
    pub clusters: Arc<[Cluster]>,
    /// Client namespace → (cluster → the one its DestinationRules shape):
    /// the clients that see other rules than the default answer
    /// (istiod's lookup: own namespace, service's, root's). Empty in most
    /// meshes, and then never consulted.
    pub(crate) scoped_clusters: Arc<HashMap<Box<str>, HashMap<u32, u32>>>,
    /// Host → the indexes of its clusters: an endpoint change touches only
    /// those (`Table::with_endpoints`).
    pub(crate) clusters_by_host: Arc<HashMap<Box<str>, Vec<u32>>>,
    /// Cluster name → index (`Table::cluster_index`, once per cluster when
    /// a new table takes over the endpoint state of the previous one).
    pub(crate) cluster_by_name: Arc<HashMap<Box<str>, u32>>,
    /// The latest time (caller's monotonic ms) feedback reported; ejections
    /// end when it passes them.
    pub(crate) clock_ms: std::sync::atomic::AtomicU64,
}

/// The compiled, immutable routing table. Cheap to share (`Arc`) and to
/// decide on from many threads at once.
#[derive(Debug, Default)]
pub struct Table {
    /// This table's [`id`](Table::id).
    pub(crate) id: u64,
    pub(crate) routing: Arc<Routing>,
    /// Shared whole by the tables an incremental apply derives (copied
    /// only when an endpoint change replaces some).
    pub(crate) sets: Arc<[Arc<EndpointSet>]>,
    /// What `sets` are estimated to take (the compile budget): endpoint updates
    /// are held to the compile budget too.
    pub(crate) sets_bytes: usize,
}

/// The next [`Table::id`]; 0 is the empty default table's.
static NEXT_TABLE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A table id never handed out before in this process.
pub(crate) fn new_table_id() -> u64 {
    NEXT_TABLE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Table {
    /// A number no other table built in this process has (0 for
    /// `Table::default()`). A table is immutable, so two decisions made on
    /// tables with the same non-zero id borrow the same bytes: the C ABI
    /// hands it out so a binding can reuse strings it copied without
    /// comparing them again.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// An empty table (every request: no route) with an id of its own.
    pub fn empty() -> Table {
        Table {
            id: new_table_id(),
            ..Table::default()
        }
    }

    /// The clusters, in index order.
    pub fn clusters(&self) -> &[Cluster] {
        &self.routing.clusters
    }

    /// True when some cluster routes to `host`.
    pub fn has_clusters_for(&self, host: &str) -> bool {
        self.routing.clusters_by_host.contains_key(host)
    }

    /// The endpoints of cluster `index`.
    pub fn endpoints(&self, index: usize) -> &[Endpoint] {
        self.sets
            .get(index)
            .map(|s| &s.endpoints[..])
            .unwrap_or(&[])
    }

    /// The endpoint set of cluster `index`.
    pub fn endpoint_set(&self, index: usize) -> Option<&EndpointSet> {
        self.sets.get(index).map(|s| &**s)
    }

    /// The cluster with this name.
    pub fn cluster_index(&self, name: &str) -> Option<usize> {
        self.routing.cluster_by_name.get(name).map(|&i| i as usize)
    }

    /// The mesh (sidecar) listener, as namespaces no `exportTo` names see it.
    pub fn mesh(&self) -> &Listener {
        &self.routing.mesh
    }

    /// Every view of the mesh: the public one (`None`), then one per
    /// namespace an `exportTo` names, sorted by namespace.
    pub fn mesh_views(&self) -> Vec<(Option<&str>, &Listener)> {
        let routing = &*self.routing;
        let mut scoped: Vec<(Option<&str>, &Listener)> = routing
            .mesh_scoped
            .iter()
            .map(|(ns, l)| (Some(&**ns), l))
            .collect();
        scoped.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = vec![(None, &routing.mesh)];
        out.extend(scoped);
        out
    }

    /// The sidecar listener of a client in `namespace` (`exportTo` applied).
    #[inline]
    pub fn mesh_for(&self, namespace: &str) -> &Listener {
        let routing = &*self.routing;
        if routing.mesh_scoped.is_empty() {
            return &routing.mesh;
        }
        routing.mesh_scoped.get(namespace).unwrap_or(&routing.mesh)
    }

    /// Gateway listeners, sorted by gateway and port.
    pub fn gateways(&self) -> Vec<(&str, u16, &Listener)> {
        let mut v: Vec<_> = self
            .routing
            .gateways
            .iter()
            .map(|((g, p), l)| (g.as_str(), *p, l))
            .collect();
        v.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        v
    }
}

/// The ports of one service, split by the kind of route that applies.
#[derive(Debug, Default, Clone)]
pub struct L4Ports {
    /// HTTP-family ports: a connection there is routed by `http[]`, not `tcp[]`.
    pub http: Box<[u16]>,
    /// Other ports and their default cluster (`outbound|PORT||HOST`).
    pub opaque: Box<[(u16, u32)]>,
}
