//! Istio's protocol selection decides which routes apply on a port: `http[]`
//! on HTTP-family ports, `tcp[]`/`tls[]` on the others, with Istio's default
//! TCP proxy for a service port no rule matches.

use std::net::SocketAddr;
use weir_core::request::{Connection, Request, Source};
use weir_core::{Engine, Outcome};

const CONFIG: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  selector: {app: db}
  ports:
  - {name: http-admin, port: 80, targetPort: 8080}
  - {name: tcp-sql, port: 5432}
  - {name: web, port: 81, appProtocol: tcp}
---
apiVersion: v1
kind: Service
metadata: {name: cache, namespace: shop}
spec:
  selector: {app: cache}
  ports: [{name: redis, port: 6379}]
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: shop, labels: {app: db}}
status: {phase: Running, podIP: 10.1.0.1, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: cache-0, namespace: shop, labels: {app: cache}}
status: {phase: Running, podIP: 10.1.0.2, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy, namespace: shop}
spec:
  hosts: [legacy.example.com]
  ports: [{number: 9000, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 10.2.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: shop}
spec:
  hosts: [db]
  http:
  - route: [{destination: {host: db, port: {number: 80}}}]
  tcp:
  - match: [{port: 5432}]
    route: [{destination: {host: cache, port: {number: 6379}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: legacy, namespace: shop}
spec:
  hosts: [legacy.example.com]
  http:
  - route: [{destination: {host: legacy.example.com}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ["*"]
  - port: {number: 443, name: tls, protocol: HTTPS}
    tls: {mode: PASSTHROUGH}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge, namespace: shop}
spec:
  hosts: ["*"]
  gateways: [edge]
  http:
  - route: [{destination: {host: db, port: {number: 80}}}]
"#;

fn engine() -> Engine {
    let e = Engine::new();
    e.apply_str(CONFIG).unwrap_or_else(|err| panic!("{err}"));
    e
}

#[test]
fn http_routes_apply_only_on_http_ports() {
    let e = engine();
    let t = e.snapshot();
    let mesh = Source {
        namespace: "shop",
        ..Source::MESH
    };
    let edge = Source {
        gateway: Some("shop/edge"),
        ..Source::MESH
    };
    // (source, authority, port, outcome, cluster)
    let cases: [(&Source, &str, u16, Outcome, Option<&str>); 8] = [
        (
            &mesh,
            "db",
            80,
            Outcome::Route,
            Some("outbound|80||db.shop.svc.cluster.local"),
        ),
        (
            &mesh,
            "db:80",
            0,
            Outcome::Route,
            Some("outbound|80||db.shop.svc.cluster.local"),
        ),
        (&mesh, "db", 5432, Outcome::NoRoute, None),
        (&mesh, "db:81", 0, Outcome::NoRoute, None), // appProtocol tcp
        (&mesh, "legacy.example.com", 9000, Outcome::NoRoute, None), // ServiceEntry TCP port
        (&mesh, "legacy.example.com", 0, Outcome::NoRoute, None), // its only port is TCP
        (
            &edge,
            "x.example.com",
            8080,
            Outcome::Route,
            Some("outbound|80||db.shop.svc.cluster.local"),
        ),
        (&edge, "x.example.com", 31400, Outcome::NoRoute, None), // TCP server
    ];
    for (source, authority, port, outcome, cluster) in cases {
        let req = Request {
            source,
            port,
            ..Request::get(authority, "/")
        };
        let d = t.decide(&req, 0);
        assert_eq!(d.outcome, outcome, "{authority} port {port}");
        assert_eq!(
            d.cluster.map(|c| &*c.name),
            cluster,
            "{authority} port {port}"
        );
    }
    // TLS passthrough server: no HTTP routes either.
    let req = Request {
        source: &edge,
        port: 443,
        ..Request::get("x.example.com", "/")
    };
    assert_eq!(t.decide(&req, 0).outcome, Outcome::NoRoute);
}

/// (host, port, outcome, cluster, endpoint)
type TcpCase = (
    &'static str,
    u16,
    Outcome,
    Option<&'static str>,
    Option<&'static str>,
);

#[test]
fn tcp_routes_apply_only_on_tcp_ports_and_services_get_a_default() {
    let e = engine();
    let t = e.snapshot();
    let mesh = Source {
        namespace: "shop",
        ..Source::MESH
    };
    let dst: SocketAddr = "10.96.0.10:5432".parse().unwrap();
    let cases: [TcpCase; 5] = [
        // The VirtualService's tcp rule.
        (
            "db.shop.svc.cluster.local",
            5432,
            Outcome::Route,
            Some("outbound|6379||cache.shop.svc.cluster.local"),
            Some("10.1.0.2:6379"),
        ),
        // HTTP port: tcp[] rules do not apply.
        (
            "db.shop.svc.cluster.local",
            80,
            Outcome::NoRoute,
            None,
            None,
        ),
        // A TCP port no rule matches: Istio's default TCP proxy to the service.
        (
            "db.shop.svc.cluster.local",
            81,
            Outcome::Route,
            Some("outbound|81||db.shop.svc.cluster.local"),
            Some("10.1.0.1:81"),
        ),
        (
            "cache.shop.svc.cluster.local",
            6379,
            Outcome::Route,
            Some("outbound|6379||cache.shop.svc.cluster.local"),
            Some("10.1.0.2:6379"),
        ),
        (
            "legacy.example.com",
            9000,
            Outcome::Route,
            Some("outbound|9000||legacy.example.com"),
            Some("10.2.0.1:9000"),
        ),
    ];
    for (host, port, outcome, cluster, endpoint) in cases {
        let conn = Connection {
            destination: Some(dst),
            port,
            host: Some(host),
            source: &mesh,
            ..Default::default()
        };
        let d = t.decide_tcp(&conn, 0);
        assert_eq!(d.outcome, outcome, "{host}:{port}");
        assert_eq!(d.cluster.map(|c| &*c.name), cluster, "{host}:{port}");
        assert_eq!(d.endpoint.map(|e| &*e.address), endpoint, "{host}:{port}");
    }
}
