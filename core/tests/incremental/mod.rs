//! The test mesh of the incremental-apply tests and the checks that an
//! apply matches a fresh engine's whole apply.
#![allow(dead_code)] // each test file uses a part

use std::fmt::Write as _;
use weir_core::compile::EndpointSpec;
use weir_core::config::Loaded;
use weir_core::request::Source;
use weir_core::table::ClusterChoice;
use weir_core::{Engine, Request, Table};

/// One service of the test mesh: a ServiceEntry, a DestinationRule with
/// two subsets and a VirtualService (a prefix rule, then a split).
#[derive(Clone)]
pub struct Service {
    pub prefix: String,
    pub weights: (u32, u32),
    /// Extra lines in the split rule (fault, headers…), indented 4.
    pub extra: String,
    /// The subset the prefix rule sends to.
    pub prefix_subset: String,
    pub v2_label: String,
    pub endpoints: u8,
    /// Port the split names (`None`: the service's only port).
    pub port: Option<u32>,
    /// A second host, another service's (an IST0109 conflict with it).
    pub alias: Option<usize>,
    /// The VirtualService's `exportTo` list, as written (empty: none).
    pub export_to: &'static str,
    /// The VirtualService's `gateways` list, as written (empty: none).
    pub gateways: &'static str,
    /// The routes name its host short (`svc-N`): the same clusters, but
    /// IST0140 compares hosts as written.
    pub short_split: bool,
}

impl Default for Service {
    fn default() -> Self {
        Service {
            prefix: "/api/v2".into(),
            weights: (90, 10),
            extra: String::new(),
            prefix_subset: "v2".into(),
            v2_label: "v2".into(),
            endpoints: 4,
            port: None,
            alias: None,
            export_to: "",
            gateways: "",
            short_split: false,
        }
    }
}

#[derive(Clone)]
pub struct Mesh {
    pub services: Vec<Service>,
    /// A ServiceEntry with no VirtualService of its own, added at the end.
    pub extra_service: bool,
    /// The gateway's VirtualService names no subset of svc-0 (IST0140
    /// against the VirtualServices that split svc-0 by subsets).
    pub edge_without_subset: bool,
    /// A VirtualService private to namespace `team` taking svc-1's host
    /// there (a view of its own, and an IST0109 conflict).
    pub private_override: bool,
    /// A DestinationRule of namespace `other` for svc-2 (its clients see
    /// other clusters for it: scoped clusters). Its balancer is RANDOM: a
    /// round robin's cursor lives on across tables, so engines that decided
    /// different requests before would pick differently.
    pub other_rule: bool,
}

pub const COUNT: usize = 6;

impl Mesh {
    pub fn new() -> Mesh {
        Mesh {
            services: vec![Service::default(); COUNT],
            extra_service: false,
            edge_without_subset: false,
            private_override: false,
            other_rule: false,
        }
    }

    pub fn host(i: usize) -> String {
        format!("svc-{i}.team.svc.cluster.local")
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.services.iter().enumerate() {
            let host = Mesh::host(i);
            let _ = write!(
                out,
                "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: svc-{i}, namespace: team}}\nspec:\n  hosts: [{host}]\n  location: MESH_INTERNAL\n  ports: [{{number: 80, name: http, protocol: HTTP}}]\n  resolution: STATIC\n  endpoints:\n"
            );
            for e in 0..s.endpoints {
                let version = if e % 2 == 0 { "v1" } else { "v2" };
                let _ = writeln!(
                    out,
                    "  - {{address: 10.0.{i}.{e}, labels: {{version: {version}}}}}"
                );
            }
            let port = s
                .port
                .map(|p| format!(", port: {{number: {p}}}"))
                .unwrap_or_default();
            let hosts = match s.alias {
                Some(j) => format!("{host}, {}", Mesh::host(j)),
                None => host.clone(),
            };
            let split_host = if s.short_split {
                format!("svc-{i}")
            } else {
                host.clone()
            };
            let mut lists = String::new();
            if !s.export_to.is_empty() {
                let _ = writeln!(lists, "  exportTo: [{}]", s.export_to);
            }
            if !s.gateways.is_empty() {
                let _ = writeln!(lists, "  gateways: [{}]", s.gateways);
            }
            let _ = write!(
                out,
                "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: svc-{i}, namespace: team}}\nspec:\n  host: {host}\n  subsets:\n  - {{name: v1, labels: {{version: v1}}}}\n  - {{name: v2, labels: {{version: {v2}}}}}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: svc-{i}, namespace: team}}\nspec:\n  hosts: [{hosts}]\n{lists}  http:\n  - match: [{{uri: {{prefix: {prefix}}}}}]\n    route: [{{destination: {{host: {split_host}, subset: {ps}}}}}]\n  - route:\n    - {{destination: {{host: {split_host}, subset: v1{port}}}, weight: {w1}}}\n    - {{destination: {{host: {split_host}, subset: v2{port}}}, weight: {w2}}}\n{extra}",
                v2 = s.v2_label,
                prefix = s.prefix,
                ps = s.prefix_subset,
                w1 = s.weights.0,
                w2 = s.weights.1,
                extra = s.extra,
            );
        }
        // A wildcard VirtualService covering a service that has none, and
        // a gateway with a VirtualService bound to it.
        out.push_str(
            "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: wild, namespace: team}\nspec:\n  hosts: [a.wild.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n  endpoints: [{address: 10.9.0.1}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: wild, namespace: team}\nspec:\n  hosts: ['*.wild.example.com']\n  http:\n  - route: [{destination: {host: a.wild.example.com}}]\n    timeout: 3s\n---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: edge, namespace: team}\nspec:\n  selector: {istio: ingressgateway}\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: edge, namespace: team}\nspec:\n  hosts: ['*']\n  gateways: [edge]\n  http:\n",
        );
        let edge_subset = if self.edge_without_subset {
            ""
        } else {
            ", subset: v1"
        };
        let _ = writeln!(
            out,
            "  - route: [{{destination: {{host: svc-0.team.svc.cluster.local{edge_subset}}}}}]"
        );
        if self.private_override {
            out.push_str("---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: private, namespace: team}\nspec:\n  hosts: [svc-1.team.svc.cluster.local]\n  exportTo: ['.']\n  http:\n  - route: [{destination: {host: svc-1.team.svc.cluster.local, subset: v1}}]\n");
        }
        if self.other_rule {
            out.push_str("---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: svc-2-other, namespace: other}\nspec:\n  host: svc-2.team.svc.cluster.local\n  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n  subsets:\n  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v1}}\n");
        }
        if self.extra_service {
            out.push_str("---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: late, namespace: team}\nspec:\n  hosts: [late.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n  endpoints: [{address: 10.8.0.1}]\n");
        }
        out
    }
}

/// The table as text: every listener's virtual hosts and routes (cluster
/// ids resolved to names, which need not be the same numbers), every
/// cluster with its policy and endpoints.
pub fn dump(table: &Table) -> String {
    let name = |choice: &ClusterChoice| match choice {
        ClusterChoice::Fixed(id) => table.clusters()[*id as usize].name.to_string(),
        ClusterChoice::ByPort(list) => list
            .iter()
            .map(|(p, id)| format!("{p}:{}", table.clusters()[*id as usize].name))
            .collect::<Vec<_>>()
            .join(","),
        ClusterChoice::Missing(name) => format!("missing {name}"),
    };
    let mut out = String::new();
    let mut listeners: Vec<(String, &weir_core::table::Listener)> = table
        .mesh_views()
        .into_iter()
        .map(|(view, l)| (format!("mesh view {view:?}"), l))
        .collect();
    for (g, port, l) in table.gateways() {
        listeners.push((format!("{g}:{port}"), l));
    }
    for (listener_name, l) in listeners {
        let _ = writeln!(
            out,
            "listener {listener_name} redirect={}",
            l.https_redirect
        );
        for vh in l.virtual_hosts.iter() {
            let _ = writeln!(
                out,
                " vhost {} opaque={:?}/{}",
                vh.domain, vh.opaque_ports, vh.opaque_only
            );
            for r in vh.routes.iter() {
                let rule = &r.rule;
                let _ = writeln!(
                    out,
                    "  route {:?} {:?} {:?} match={:?} catch_all={} timeout={:?} fault={:?} retries={:?} rewrite={:?} mirrors={:?}",
                    r.virtual_service(),
                    rule.index,
                    rule.name,
                    r.matcher,
                    r.catch_all,
                    rule.timeout,
                    rule.fault,
                    rule.retries,
                    rule.rewrite_uri,
                    rule.mirrors.iter().map(|m| (&m.cluster_name, m.per_million)).collect::<Vec<_>>(),
                );
                for d in rule.destinations() {
                    let _ = writeln!(
                        out,
                        "   -> {} {} {} w={} req={:?} resp={:?}",
                        d.host,
                        d.subset,
                        name(&d.cluster),
                        d.weight,
                        d.request_headers,
                        d.response_headers
                    );
                }
            }
        }
        let _ = writeln!(out, " tcp rules {}", l.tcp.len());
    }
    let mut clusters: Vec<String> = table
        .clusters()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let endpoints: Vec<&str> = table.endpoints(i).iter().map(|e| &*e.address).collect();
            format!("cluster {} {:?} {:?}", c.name, c.policy, endpoints)
        })
        .collect();
    clusters.sort();
    for c in clusters {
        out.push_str(&c);
        out.push('\n');
    }
    out
}

/// What a table decides for a few requests to every service.
pub fn decisions(table: &Table) -> Vec<String> {
    let mut hosts: Vec<String> = (0..COUNT).map(Mesh::host).collect();
    hosts.extend(
        [
            "a.wild.example.com",
            "late.example.com",
            "nowhere.example.com",
        ]
        .map(String::from),
    );
    let mut out = Vec::new();
    // Clients in namespaces with views of their own and without.
    let sources = ["", "team", "other"].map(|namespace| Source {
        namespace,
        ..Source::MESH
    });
    for (host, source) in hosts
        .iter()
        .flat_map(|h| sources.iter().map(move |s| (h, s)))
    {
        for path in ["/", "/api/v2/x", "/api/v3", "/beta"] {
            for entropy in [0u64, 7, 42, 95, 1 << 40] {
                let request = Request {
                    source,
                    ..Request::get(host, path)
                };
                let d = table.decide(&request, entropy);
                out.push(format!(
                    "{host}{path}@{}#{entropy}: {:?} {} route={:?} cluster={:?} endpoint={:?} delay={:?} headers={:?}",
                    source.namespace,
                    d.outcome,
                    d.status,
                    d.route.map(|r| (r.virtual_service(), r.rule.index)),
                    d.cluster.map(|c| &c.name),
                    d.endpoint.map(|e| &e.address),
                    d.delay,
                    d.request_headers,
                ));
            }
        }
    }
    out
}

/// The outcome of an apply: accepted or not, with every diagnostic.
pub fn outcome(
    result: Result<Vec<weir_core::Diagnostic>, weir_core::Rejected>,
) -> (bool, Vec<String>) {
    match result {
        Ok(d) => (true, d.iter().map(|d| format!("{d:?}")).collect()),
        Err(r) => (
            false,
            r.diagnostics.iter().map(|d| format!("{d:?}")).collect(),
        ),
    }
}

/// Endpoints set by `set_endpoints`, in the order they were set.
pub type Overrides = Vec<(String, Vec<EndpointSpec>)>;

/// A fresh engine given `overrides` and then `text`, applied whole.
pub fn fresh(text: &str, overrides: &Overrides) -> (Engine, (bool, Vec<String>)) {
    let engine = Engine::new();
    for (host, endpoints) in overrides {
        engine.set_endpoints(host, endpoints).expect("endpoints");
    }
    let got = outcome(engine.apply(Loaded::from_source("mesh.yaml", text)));
    (engine, got)
}

/// Checks that `engine`'s table is `fresh`'s: dump and decisions.
pub fn same_tables(engine: &Engine, fresh: &Engine, what: &str) {
    let (after, want) = (engine.table(), fresh.table());
    assert_eq!(dump(&after), dump(&want), "{what}: route table dump");
    assert_eq!(decisions(&after), decisions(&want), "{what}: decisions");
}

/// Applies `next` to `engine` (serving `engine`'s config, with
/// `overrides` set) and checks it against a fresh engine's whole apply of
/// `next` after the same overrides; returns whether the table in force
/// shares the clusters of the one before (incremental).
pub fn step(engine: &Engine, next: &Mesh, overrides: &Overrides, what: &str) -> bool {
    let text = next.text();
    let before = engine.table();
    let got = outcome(engine.apply(Loaded::from_source("mesh.yaml", &text)));
    let (fresh, want) = fresh(&text, overrides);
    assert_eq!(got, want, "{what}: outcome and diagnostics");
    let after = engine.table();
    if got.0 {
        same_tables(engine, &fresh, what);
        assert_ne!(after.id(), before.id(), "{what}: not published");
    } else {
        assert_eq!(
            after.id(),
            before.id(),
            "{what}: a rejected config was published"
        );
    }
    got.0 && std::ptr::eq(after.clusters().as_ptr(), before.clusters().as_ptr())
}

/// True when a fresh engine accepts `mesh` (after `overrides`).
pub fn accepted(mesh: &Mesh, overrides: &Overrides) -> bool {
    fresh(&mesh.text(), overrides).1 .0
}
