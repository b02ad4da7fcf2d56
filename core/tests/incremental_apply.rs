//! Incremental apply (issue 20, item 3): a config that differs from the one
//! in force in a few VirtualServices is applied by recompiling only what
//! they reach. Proven equivalent to a whole apply: for every step of a
//! table of changes and of a seeded random series, an engine that applied
//! the previous config and then this one (incrementally where it can)
//! agrees with a fresh engine applying this one from scratch on the
//! outcome, every diagnostic, the route table dump and the decisions for a
//! set of requests; a rejected change leaves the previous table serving.
//! Whether the step took the incremental path is asserted too (its table
//! shares the clusters of the table before), so the cases that should be
//! fast are.

use std::fmt::Write as _;
use weir_core::config::Loaded;
use weir_core::table::ClusterChoice;
use weir_core::{Engine, Request, Table};

/// One service of the test mesh: a ServiceEntry, a DestinationRule with
/// two subsets and a VirtualService (a prefix rule, then a split).
#[derive(Clone)]
struct Service {
    prefix: String,
    weights: (u32, u32),
    /// Extra lines in the split rule (fault, headers…), indented 4.
    extra: String,
    /// The subset the prefix rule sends to.
    prefix_subset: String,
    v2_label: String,
    endpoints: u8,
    /// Port the split names (`None`: the service's only port).
    port: Option<u32>,
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
        }
    }
}

#[derive(Clone)]
struct Mesh {
    services: Vec<Service>,
    /// A ServiceEntry with no VirtualService of its own, added at the end.
    extra_service: bool,
}

const COUNT: usize = 6;

impl Mesh {
    fn new() -> Mesh {
        Mesh {
            services: vec![Service::default(); COUNT],
            extra_service: false,
        }
    }

    fn host(i: usize) -> String {
        format!("svc-{i}.team.svc.cluster.local")
    }

    fn text(&self) -> String {
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
            let _ = write!(
                out,
                "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: svc-{i}, namespace: team}}\nspec:\n  host: {host}\n  subsets:\n  - {{name: v1, labels: {{version: v1}}}}\n  - {{name: v2, labels: {{version: {v2}}}}}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: svc-{i}, namespace: team}}\nspec:\n  hosts: [{host}]\n  http:\n  - match: [{{uri: {{prefix: {prefix}}}}}]\n    route: [{{destination: {{host: {host}, subset: {ps}}}}}]\n  - route:\n    - {{destination: {{host: {host}, subset: v1{port}}}, weight: {w1}}}\n    - {{destination: {{host: {host}, subset: v2{port}}}, weight: {w2}}}\n{extra}",
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
            "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: wild, namespace: team}\nspec:\n  hosts: [a.wild.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n  endpoints: [{address: 10.9.0.1}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: wild, namespace: team}\nspec:\n  hosts: ['*.wild.example.com']\n  http:\n  - route: [{destination: {host: a.wild.example.com}}]\n    timeout: 3s\n---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: edge, namespace: team}\nspec:\n  selector: {istio: ingressgateway}\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: edge, namespace: team}\nspec:\n  hosts: ['*']\n  gateways: [edge]\n  http:\n  - route: [{destination: {host: svc-0.team.svc.cluster.local, subset: v1}}]\n",
        );
        if self.extra_service {
            out.push_str("---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: late, namespace: team}\nspec:\n  hosts: [late.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n  endpoints: [{address: 10.8.0.1}]\n");
        }
        out
    }
}

/// The table as text: every listener's virtual hosts and routes (cluster
/// ids resolved to names, which need not be the same numbers), every
/// cluster with its policy and endpoints.
fn dump(table: &Table) -> String {
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
    let mut listeners = vec![("mesh".to_string(), table.mesh())];
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
fn decisions(table: &Table) -> Vec<String> {
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
    for host in &hosts {
        for path in ["/", "/api/v2/x", "/api/v3", "/beta"] {
            for entropy in [0u64, 7, 42, 95, 1 << 40] {
                let d = table.decide(&Request::get(host, path), entropy);
                out.push(format!(
                    "{host}{path}#{entropy}: {:?} {} route={:?} cluster={:?} endpoint={:?} delay={:?} headers={:?}",
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
fn outcome(result: Result<Vec<weir_core::Diagnostic>, weir_core::Rejected>) -> (bool, Vec<String>) {
    match result {
        Ok(d) => (true, d.iter().map(|d| format!("{d:?}")).collect()),
        Err(r) => (
            false,
            r.diagnostics.iter().map(|d| format!("{d:?}")).collect(),
        ),
    }
}

/// Applies `next` to `engine` (serving `engine`'s config) and checks it
/// against a fresh engine's whole apply of `next`; returns whether the
/// table in force shares the clusters of the one before (incremental).
fn step(engine: &Engine, next: &Mesh, what: &str) -> bool {
    let text = next.text();
    let before = engine.table();
    let got = outcome(engine.apply(Loaded::from_source("mesh.yaml", &text)));
    let fresh = Engine::new();
    let want = outcome(fresh.apply(Loaded::from_source("mesh.yaml", &text)));
    assert_eq!(got, want, "{what}: outcome and diagnostics");
    let after = engine.table();
    if got.0 {
        assert_eq!(
            dump(&after),
            dump(&fresh.table()),
            "{what}: route table dump"
        );
        assert_eq!(
            decisions(&after),
            decisions(&fresh.table()),
            "{what}: decisions"
        );
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

/// A table of changes, each applied on top of the previous row's config;
/// `incremental` says which path the row must take.
#[test]
fn incremental_apply_matches_a_whole_apply() {
    type Edit = fn(&mut Mesh);
    let rows: &[(&str, Edit, bool)] = &[
        ("identical config", |_| {}, true),
        (
            "VS weights edited",
            |m| m.services[1].weights = (50, 50),
            true,
        ),
        (
            "VS prefix edited",
            |m| m.services[2].prefix = "/beta".into(),
            true,
        ),
        (
            "VS gains a fault and header edits",
            |m| {
                m.services[3].extra = "    fault: {delay: {fixedDelay: 2s, percentage: {value: 100}}}\n    headers: {request: {set: {x-canary: 'yes'}}}\n".into()
            },
            true,
        ),
        (
            "two VSs edited at once",
            |m| {
                m.services[0].weights = (1, 99);
                m.services[4].prefix = "/api".into();
            },
            true,
        ),
        (
            "VS weights that do not sum to 100 (a warning)",
            |m| m.services[5].weights = (60, 30),
            true,
        ),
        (
            "VS edit that shadows its split (a warning; its subset clusters would go)",
            |m| m.services[5].prefix = "/".into(),
            false,
        ),
        (
            "VS names a subset nothing defines (rejected)",
            |m| m.services[1].prefix_subset = "v3".into(),
            false,
        ),
        (
            "back to a valid subset",
            |m| m.services[1].prefix_subset = "v1".into(),
            true,
        ),
        (
            "VS names a port the service lacks (rejected)",
            |m| m.services[2].port = Some(8080),
            false,
        ),
        (
            "VS stops naming subset v2 (its cluster would go)",
            |m| {
                m.services[4].prefix_subset = "v1".into();
                m.services[4].weights = (100, 0);
            },
            true,
        ),
        (
            "DR subset labels edited",
            |m| m.services[0].v2_label = "v2b".into(),
            false,
        ),
        (
            "SE endpoints changed",
            |m| m.services[3].endpoints = 6,
            false,
        ),
        ("a resource added", |m| m.extra_service = true, false),
        ("a resource removed", |m| m.extra_service = false, false),
        (
            "VS with an invalid regex (rejected)",
            |m| m.services[5].prefix = "x}\n    - uri: {regex: '('}".into(),
            false,
        ),
        (
            "VS unshadows its split (needs clusters the table lacks)",
            |m| m.services[5].prefix = "/api/v2".into(),
            false,
        ),
        (
            "VS weights edited again",
            |m| m.services[5].weights = (10, 90),
            true,
        ),
    ];
    let engine = Engine::new();
    let mut mesh = Mesh::new();
    engine
        .apply(Loaded::from_source("mesh.yaml", &mesh.text()))
        .expect("base config");
    for (what, edit, incremental) in rows {
        let mut next = mesh.clone();
        edit(&mut next);
        let shared = step(&engine, &next, what);
        assert_eq!(shared, *incremental, "{what}: incremental path taken");
        let accepted = outcome(Engine::new().apply(Loaded::from_source("m", &next.text()))).0;
        if accepted {
            mesh = next;
        }
    }
}

/// A seeded random series of VS edits (and a few of other kinds), each
/// compared with a whole apply.
#[test]
fn random_changes_match_a_whole_apply() {
    let mut state: u64 = 0x5eed_1234_abcd_0001;
    let mut next_random = move |n: u64| {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n) as usize
    };
    let engine = Engine::new();
    let mut mesh = Mesh::new();
    engine
        .apply(Loaded::from_source("mesh.yaml", &mesh.text()))
        .expect("base config");
    let mut incremental = 0;
    for round in 0..60 {
        let mut next = mesh.clone();
        let i = next_random(COUNT as u64);
        let s = &mut next.services[i];
        match next_random(8) {
            0 | 1 => {
                let w = next_random(101) as u32;
                s.weights = (w, 100 - w);
            }
            2 => s.prefix = ["/api/v2", "/beta", "/", "/api"][next_random(4)].into(),
            3 => s.prefix_subset = ["v1", "v2", "v3"][next_random(3)].into(),
            4 => {
                s.extra = [
                    "",
                    "    timeout: 5s\n",
                    "    retries: {attempts: 2, perTryTimeout: 1s}\n",
                    "    mirror: {host: svc-0.team.svc.cluster.local, subset: v1}\n",
                ][next_random(4)]
                .into()
            }
            5 => s.endpoints = 2 + next_random(4) as u8,
            6 => s.v2_label = ["v2", "v2b"][next_random(2)].into(),
            _ => next.extra_service = !next.extra_service,
        }
        let what = format!("round {round}");
        if step(&engine, &next, &what) {
            incremental += 1;
        }
        if outcome(Engine::new().apply(Loaded::from_source("m", &next.text()))).0 {
            mesh = next;
        }
    }
    // The series is fixed by its seed: most of its VS edits go the fast way.
    assert!(incremental >= 15, "only {incremental} incremental applies");
}
