//! Weir's network filter in a real Envoy: each connection's `tcp_proxy`
//! cluster is Weir's decision (TCP and TLS routes, weights, SNI, the source
//! and destination match fields), made when the connection opens.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use weir_envoy_tests::harness::{filter_wasm, free_port, scratch_dir, Envoy};

/// A TCP upstream: greets each connection with its name and a newline, then
/// echoes what it receives.
struct Echo {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Echo {
    fn start(name: &'static str) -> Echo {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind echo");
        let port = listener.local_addr().expect("addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::Relaxed);
                thread::spawn(move || {
                    let mut conn = conn;
                    if conn.write_all(format!("{name}\n").as_bytes()).is_err() {
                        return;
                    }
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 || conn.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Echo { port, accepted }
    }
}

/// Connects, sends `first` (if any) and reads the upstream's greeting line:
/// `""` when Envoy closed the connection without one.
fn greeting(ip: &str, port: u16, first: &[u8]) -> (String, Option<TcpStream>) {
    let mut conn = match TcpStream::connect((ip, port)) {
        Ok(c) => c,
        Err(e) => panic!("connect {ip}:{port}: {e}"),
    };
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    if !first.is_empty() {
        conn.write_all(first).expect("write first bytes");
    }
    let mut line = String::new();
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    match reader.read_line(&mut line) {
        Ok(_) if line.ends_with('\n') => {
            line.pop();
            (line, Some(conn))
        }
        _ => (String::new(), None),
    }
}

/// A TLS 1.2-style ClientHello, with `sni` in a server_name extension: all
/// `tls_inspector` needs to read the SNI (no handshake follows).
fn client_hello(sni: Option<&str>) -> Vec<u8> {
    let mut ext = Vec::new();
    if let Some(name) = sni {
        let n = name.len() as u16;
        ext.extend_from_slice(&[0x00, 0x00]); // server_name
        ext.extend_from_slice(&(n + 5).to_be_bytes());
        ext.extend_from_slice(&(n + 3).to_be_bytes());
        ext.push(0); // host_name
        ext.extend_from_slice(&n.to_be_bytes());
        ext.extend_from_slice(name.as_bytes());
    }
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x2f, 0x13, 0x01]); // cipher suites
    body.extend_from_slice(&[0x01, 0x00]); // compression: null
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![0x01, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

const ECHO: &str = "echo.ns.svc.cluster.local";

/// The Istio config: a gateway with a TCP server (weighted split) and a TLS
/// passthrough server (by SNI), and mesh `tcp[]` rules on each L4 match field.
fn istio(v1: &Echo, v2: &Echo, weight_v1: u32) -> String {
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: ns}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 31400, name: tcp, protocol: TCP}}
    hosts: ["*"]
  - port: {{number: 443, name: tls, protocol: TLS}}
    tls: {{mode: PASSTHROUGH}}
    hosts: [a.example.com, b.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: split, namespace: ns}}
spec:
  hosts: ["*"]
  gateways: [gw]
  tcp:
  - match: [{{port: 31400}}]
    route:
    - {{destination: {{host: {ECHO}, subset: v1, port: {{number: 2701}}}}, weight: {weight_v1}}}
    - {{destination: {{host: {ECHO}, subset: v2, port: {{number: 2701}}}}, weight: {weight_v2}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: by-sni, namespace: ns}}
spec:
  hosts: [a.example.com, b.example.com]
  gateways: [gw]
  tls:
  - match: [{{port: 443, sniHosts: [a.example.com]}}]
    route: [{{destination: {{host: {ECHO}, subset: v1, port: {{number: 2701}}}}}}]
  - match: [{{port: 443, sniHosts: [b.example.com]}}]
    route: [{{destination: {{host: {ECHO}, subset: v2, port: {{number: 2701}}}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: mesh, namespace: ns}}
spec:
  hosts: [{ECHO}]
  tcp:
  - match: [{{port: 2701, sourceLabels: {{app: canary}}}}]
    route: [{{destination: {{host: {ECHO}, subset: v2}}}}]
  - match: [{{port: 2701, sourceNamespace: batch}}]
    route: [{{destination: {{host: {ECHO}, subset: v2}}}}]
  - match: [{{port: 2701, destinationSubnets: [127.0.0.2/32]}}]
    route: [{{destination: {{host: {ECHO}, subset: v2}}}}]
  - route: [{{destination: {{host: {ECHO}, subset: v1}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: echo, namespace: ns}}
spec:
  host: {ECHO}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: echo, namespace: ns}}
spec:
  hosts: [{ECHO}]
  location: MESH_INTERNAL
  ports: [{{number: 2701, name: tcp, protocol: TCP}}]
  resolution: STATIC
  endpoints:
  - {{address: 127.0.0.1, ports: {{tcp: {p1}}}, labels: {{version: v1}}}}
  - {{address: 127.0.0.1, ports: {{tcp: {p2}}}, labels: {{version: v2}}}}
"#,
        weight_v2 = 100 - weight_v1,
        p1 = v1.port,
        p2 = v2.port,
    )
}

/// `base` with the fields of `extra` set over it (JSON objects).
fn merged(mut base: serde_json::Value, extra: &serde_json::Value) -> serde_json::Value {
    if let (Some(o), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    base
}

/// One listener: Weir's network filter (plugin `plugin`, merged over the
/// Istio config) before `tcp_proxy`; `tls` adds `tls_inspector`. JSON, which
/// Envoy reads as YAML.
fn listener(
    name: &str,
    ip: &str,
    port: u16,
    config: &str,
    plugin: serde_json::Value,
    tls: bool,
) -> serde_json::Value {
    let p = merged(
        serde_json::json!({"config": config, "filter": "network"}),
        &plugin,
    );
    let wasm = serde_json::json!({
        "name": "envoy.filters.network.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm",
            "config": {
                "name": "weir",
                "root_id": "weir",
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": p.to_string()},
                "vm_config": {
                    "vm_id": format!("weir-{name}"),
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": filter_wasm().display().to_string()}},
                },
            },
        },
    });
    // `cluster` is used only when Weir sets none: it has no endpoints.
    let tcp_proxy = serde_json::json!({
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": name,
            "cluster": "weir_unrouted",
        },
    });
    let mut l = serde_json::json!({
        "name": name,
        "address": {"socket_address": {"address": ip, "port_value": port}},
        "filter_chains": [{"filters": [wasm, tcp_proxy]}],
    });
    if tls {
        l["listener_filters"] = serde_json::json!([{
            "name": "envoy.filters.listener.tls_inspector",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"},
        }]);
    }
    l
}

/// Clusters named as Weir names them, each with its one upstream; the
/// fallback with no endpoints; one ORIGINAL_DST cluster.
fn clusters(v1: &Echo, v2: &Echo) -> serde_json::Value {
    let cluster = |name: String, port: u16| {
        serde_json::json!({
            "name": name,
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
            ]}]},
        })
    };
    serde_json::json!([
        cluster(format!("outbound|2701|v1|{ECHO}"), v1.port),
        cluster(format!("outbound|2701|v2|{ECHO}"), v2.port),
        {"name": "weir_unrouted", "type": "STATIC", "connect_timeout": "1s",
         "load_assignment": {"cluster_name": "weir_unrouted", "endpoints": []}},
        {"name": "weir_original_dst", "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED", "connect_timeout": "1s"},
    ])
}

fn admin(port: u16) -> serde_json::Value {
    serde_json::json!({"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}})
}

struct Fixture {
    envoy: Envoy,
    v1: Echo,
    v2: Echo,
    /// Listener ports: gateway TCP, gateway TLS, and the mesh listeners.
    tcp: u16,
    tls: u16,
    canary: u16,
    batch: u16,
    plain: u16,
    original_dst: u16,
    unknown_port: u16,
    /// The gateway TCP listener with a config whose route names a host
    /// nothing defines (a warning at config time, no cluster at run time).
    missing: u16,
}

fn start(name: &str) -> Fixture {
    let (v1, v2) = (Echo::start("v1"), Echo::start("v2"));
    let config = istio(&v1, &v2, 70);
    let missing_config = config
        .replace(
            &format!("    - {{destination: {{host: {ECHO}, subset: v1,"),
            "    - {destination: {host: nowhere.ns.svc.cluster.local,",
        )
        .replace(
            &format!("    - {{destination: {{host: {ECHO}, subset: v2,"),
            "    - {destination: {host: nowhere.ns.svc.cluster.local,",
        );
    assert_ne!(missing_config, config);
    let (admin_port, tcp, tls, canary, batch, plain, original_dst, unknown_port, missing) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let gateway = |port: u16| serde_json::json!({"gateway": "ns/gw", "port": port});
    let (gw_tcp, gw_other, gw_tls) = (gateway(31400), gateway(31401), gateway(443));
    let mesh = |extra: serde_json::Value| {
        merged(
            serde_json::json!({"port": 2701, "source_namespace": "ns"}),
            &extra,
        )
    };
    let listeners = [
        listener("gw_tcp", "127.0.0.1", tcp, &config, gw_tcp.clone(), false),
        listener("gw_tls", "127.0.0.1", tls, &config, gw_tls, true),
        listener(
            "gw_other",
            "127.0.0.1",
            unknown_port,
            &config,
            gw_other,
            false,
        ),
        listener(
            "gw_missing",
            "127.0.0.1",
            missing,
            &missing_config,
            gw_tcp.clone(),
            false,
        ),
        listener(
            "canary",
            "127.0.0.1",
            canary,
            &config,
            mesh(serde_json::json!({"source_labels": {"app": "canary"}})),
            false,
        ),
        listener(
            "batch",
            "127.0.0.1",
            batch,
            &config,
            mesh(serde_json::json!({"source_namespace": "batch"})),
            false,
        ),
        listener(
            "plain",
            "127.0.0.1",
            plain,
            &config,
            mesh(serde_json::json!({})),
            false,
        ),
        // The same port on 127.0.0.2: the destinationSubnets rule.
        listener(
            "subnet",
            "127.0.0.2",
            plain,
            &config,
            mesh(serde_json::json!({})),
            false,
        ),
        listener(
            "odst",
            "127.0.0.1",
            original_dst,
            &config,
            mesh(
                serde_json::json!({"source_labels": {"app": "canary"}, "upstream": "original_dst", "original_dst_cluster": "weir_original_dst"}),
            ),
            false,
        ),
    ];
    let yaml = serde_json::json!({
        "admin": admin(admin_port),
        "static_resources": {"listeners": listeners, "clusters": clusters(&v1, &v2)},
    })
    .to_string();
    let dir = scratch_dir(name);
    let envoy = Envoy::start(&dir, &yaml, admin_port);
    Fixture {
        envoy,
        v1,
        v2,
        tcp,
        tls,
        canary,
        batch,
        plain,
        original_dst,
        unknown_port,
        missing,
    }
}

/// A Weir counter as Envoy reports it (proxy-wasm metrics, summed over VMs).
fn weir_stat(envoy: &Envoy, name: &str) -> u64 {
    // Envoy puts proxy-wasm metrics under `wasmcustom.`.
    envoy.stat(&format!("wasmcustom.{name}"))
}

#[test]
fn each_match_field_picks_its_upstream() {
    let f = start("tcp-match");
    let cases = [
        ("sourceLabels", "127.0.0.1", f.canary, "v2"),
        ("sourceNamespace", "127.0.0.1", f.batch, "v2"),
        ("destinationSubnets", "127.0.0.2", f.plain, "v2"),
        (
            "no match field: the default rule",
            "127.0.0.1",
            f.plain,
            "v1",
        ),
        (
            "original_dst: the endpoint Weir chose",
            "127.0.0.1",
            f.original_dst,
            "v2",
        ),
    ];
    for (what, ip, port, want) in cases {
        for _ in 0..5 {
            let (got, conn) = greeting(ip, port, b"");
            assert_eq!(got, want, "{what}\n{}", f.envoy.log());
            // The connection is carried end to end: it echoes.
            let mut conn = conn.expect("open");
            conn.write_all(b"ping\n").expect("write");
            let mut echoed = [0u8; 5];
            conn.read_exact(&mut echoed).expect("echo");
            assert_eq!(&echoed, b"ping\n", "{what}");
        }
    }
    assert_eq!(
        weir_stat(&f.envoy, "weir_tcp_routed"),
        25,
        "{}",
        f.envoy.log()
    );
}

#[test]
fn gateway_weights_hold() {
    let f = start("tcp-weights");
    const N: usize = 400;
    let mut v1 = 0;
    for _ in 0..N {
        let (got, _) = greeting("127.0.0.1", f.tcp, b"");
        match got.as_str() {
            "v1" => v1 += 1,
            "v2" => {}
            other => panic!("unexpected greeting {other:?}\n{}", f.envoy.log()),
        }
    }
    // 70/30 over N connections: mean 0.7 N, sd sqrt(N 0.7 0.3) ≈ 9.2 at
    // N = 400; five standard deviations either side.
    let sd = (N as f64 * 0.7 * 0.3).sqrt();
    let low = (N as f64 * 0.7 - 5.0 * sd) as usize;
    let high = (N as f64 * 0.7 + 5.0 * sd) as usize;
    assert!(
        (low..=high).contains(&v1),
        "v1 got {v1} of {N}, want {low}..={high}"
    );
    assert_eq!(
        f.v1.accepted.load(Ordering::Relaxed) + f.v2.accepted.load(Ordering::Relaxed),
        N
    );
}

#[test]
fn tls_routes_by_sni_and_closes_without_one() {
    let f = start("tcp-sni");
    for (sni, want) in [
        ("a.example.com", "v1"),
        ("b.example.com", "v2"),
        ("a.example.com", "v1"),
    ] {
        let (got, _) = greeting("127.0.0.1", f.tls, &client_hello(Some(sni)));
        assert_eq!(got, want, "SNI {sni}\n{}", f.envoy.log());
    }
    // No SNI, an SNI no route names: closed by Weir, counted, logged once.
    let before = (
        f.v1.accepted.load(Ordering::Relaxed),
        f.v2.accepted.load(Ordering::Relaxed),
    );
    for hello in [
        client_hello(None),
        client_hello(Some("c.example.com")),
        client_hello(None),
    ] {
        let (got, conn) = greeting("127.0.0.1", f.tls, &hello);
        assert_eq!(got, "", "closed");
        assert!(conn.is_none());
    }
    let after = (
        f.v1.accepted.load(Ordering::Relaxed),
        f.v2.accepted.load(Ordering::Relaxed),
    );
    assert_eq!(before, after, "no upstream saw the unrouted connections");
    assert_eq!(weir_stat(&f.envoy, "weir_tcp_closed_no_route"), 3);
    let log = f.envoy.log();
    // Once per VM, and there is one VM per worker (two).
    let logged = log.matches("weir: closing connection: no_route").count();
    assert!(
        (1..=2).contains(&logged),
        "logged {logged} times, once per VM:\n{log}"
    );
}

#[test]
fn unknown_port_is_closed_and_client_bytes_do_not_steer() {
    let f = start("tcp-steer");
    // The plain mesh listener defaults to v1; whatever the client sends
    // first (steering headers, a PROXY protocol line) changes nothing.
    let attempts: [&[u8]; 3] = [
        b"GET / HTTP/1.1\r\nhost: x\r\nx-weir-cluster: outbound|2701|v2|echo.ns.svc.cluster.local\r\n\r\n",
        b"PROXY TCP4 127.0.0.2 127.0.0.2 1 2701\r\n",
        &[0u8; 64],
    ];
    for first in attempts {
        let (got, _) = greeting("127.0.0.1", f.plain, first);
        assert_eq!(got, "v1", "{:?}", String::from_utf8_lossy(first));
    }
    // A gateway listener on a port no server of the gateway has: closed,
    // before any upstream is dialled.
    let before = f.v1.accepted.load(Ordering::Relaxed) + f.v2.accepted.load(Ordering::Relaxed);
    for _ in 0..3 {
        let (got, conn) = greeting("127.0.0.1", f.unknown_port, b"hello\n");
        assert_eq!(got, "", "closed");
        assert!(conn.is_none());
    }
    let after = f.v1.accepted.load(Ordering::Relaxed) + f.v2.accepted.load(Ordering::Relaxed);
    assert_eq!(after, before, "no upstream saw the unrouted connections");
    assert_eq!(weir_stat(&f.envoy, "weir_tcp_closed_no_route"), 3);
    // A route to a host nothing defines: closed as no_cluster.
    for _ in 0..2 {
        assert_eq!(greeting("127.0.0.1", f.missing, b"").0, "", "closed");
    }
    assert_eq!(weir_stat(&f.envoy, "weir_tcp_closed_no_cluster"), 2);
    let after_missing =
        f.v1.accepted.load(Ordering::Relaxed) + f.v2.accepted.load(Ordering::Relaxed);
    assert_eq!(after_missing, before);
    assert_eq!(weir_stat(&f.envoy, "weir_tcp_routed"), 3);
}

/// The listener comes from a file Envoy watches (filesystem LDS): a new
/// Weir config applies to new connections, and an open one keeps its
/// upstream and keeps working.
#[test]
fn config_change_applies_to_new_connections_while_open_ones_continue() {
    let (v1, v2) = (Echo::start("v1"), Echo::start("v2"));
    let (admin_port, port) = (free_port(), free_port());
    let dir = scratch_dir("tcp-reload");
    let write_lds = |weight_v1: u32| {
        let mut l = listener(
            "gw_tcp",
            "127.0.0.1",
            port,
            &istio(&v1, &v2, weight_v1),
            serde_json::json!({"gateway": "ns/gw", "port": 31400}),
            false,
        );
        l["@type"] = "type.googleapis.com/envoy.config.listener.v3.Listener".into();
        let tmp = dir.join("lds.json.tmp");
        std::fs::write(&tmp, serde_json::json!({"resources": [l]}).to_string()).expect("write lds");
        std::fs::rename(&tmp, dir.join("lds.json")).expect("rename lds");
    };
    write_lds(100);
    let yaml = serde_json::json!({
        "node": {"id": "weir-test", "cluster": "weir-test"},
        "admin": admin(admin_port),
        "dynamic_resources": {"lds_config": {
            "resource_api_version": "V3",
            "path_config_source": {
                "path": dir.join("lds.json").display().to_string(),
                "watched_directory": {"path": dir.display().to_string()},
            },
        }},
        "static_resources": {"clusters": clusters(&v1, &v2)},
    })
    .to_string();
    let envoy = Envoy::start_with(&dir, &yaml, admin_port, 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    // The listener comes up once Envoy has read the LDS file.
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "no listener\n{}", envoy.log());
        thread::sleep(Duration::from_millis(100));
    }
    let (first, open) = loop {
        let (got, conn) = greeting("127.0.0.1", port, b"");
        if !got.is_empty() || Instant::now() > deadline {
            break (got, conn);
        }
        thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(first, "v1", "{}", envoy.log());
    let mut open = open.expect("open connection");
    write_lds(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (got, _) = greeting("127.0.0.1", port, b"");
        if got == "v2" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new config never took effect\n{}",
            envoy.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
    // Every new connection now goes to v2.
    for _ in 0..20 {
        assert_eq!(greeting("127.0.0.1", port, b"").0, "v2");
    }
    // The connection opened under the old config still reaches v1.
    open.write_all(b"still here\n")
        .expect("write on the old connection");
    let mut echoed = [0u8; 11];
    open.read_exact(&mut echoed)
        .expect("echo on the old connection");
    assert_eq!(&echoed, b"still here\n");
    let _ = open.shutdown(Shutdown::Both);
}

/// examples/envoy's TCP bootstrap (render_tcp.py over istio/tcp-echo.yaml),
/// rendered on free ports: the 80/20 split and the SNI routes as the demo
/// shows them; the committed envoy-tcp.yaml is that renderer's output.
#[test]
fn bundled_tcp_example_routes() {
    let root = weir_envoy_tests::harness::repo_root();
    let render = |args: &[String]| {
        let out = std::process::Command::new("python3")
            .arg(root.join("examples/envoy/render_tcp.py"))
            .args(args)
            .output()
            .expect("run render_tcp.py");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let committed = std::fs::read_to_string(root.join("examples/envoy/envoy-tcp.yaml"))
        .expect("envoy-tcp.yaml");
    assert_eq!(
        render(&[]),
        committed,
        "envoy-tcp.yaml is stale: rerun examples/envoy/render_tcp.py"
    );

    let (v1, v2) = (Echo::start("echo-v1"), Echo::start("echo-v2"));
    let (admin_port, tcp, tls) = (free_port(), free_port(), free_port());
    let args = [
        format!("--wasm={}", filter_wasm().display()),
        format!("--admin={admin_port}"),
        format!("--tcp-port={tcp}"),
        format!("--tls-port={tls}"),
        format!("--v1={}", v1.port),
        format!("--v2={}", v2.port),
    ];
    let envoy = Envoy::start(&scratch_dir("tcp-example"), &render(&args), admin_port);
    const N: usize = 300;
    let mut on_v1 = 0;
    for _ in 0..N {
        match greeting("127.0.0.1", tcp, b"").0.as_str() {
            "echo-v1" => on_v1 += 1,
            "echo-v2" => {}
            other => panic!("greeting {other:?}\n{}", envoy.log()),
        }
    }
    // 80/20: five standard deviations of the binomial either side.
    let sd = (N as f64 * 0.8 * 0.2).sqrt();
    let (low, high) = (
        (N as f64 * 0.8 - 5.0 * sd) as usize,
        (N as f64 * 0.8 + 5.0 * sd) as usize,
    );
    assert!(
        (low..=high).contains(&on_v1),
        "echo-v1 {on_v1} of {N}, want {low}..={high}"
    );
    for (sni, want) in [
        ("echo-a.example.com", "echo-v1"),
        ("echo-b.example.com", "echo-v2"),
    ] {
        assert_eq!(
            greeting("127.0.0.1", tls, &client_hello(Some(sni))).0,
            want,
            "{sni}"
        );
    }
}
