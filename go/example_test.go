package weir_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	weir "github.com/weir-mesh/weir/go"
)

// canary is the fleetman canary: 90 % of requests to version=safe, 10 % to
// version=risky, over endpoints a ServiceEntry supplies.
const canary = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: staff, namespace: default}
spec:
  hosts: [staff.default.svc.cluster.local]
  http:
  - route:
    - {destination: {host: staff.default.svc.cluster.local, subset: safe}, weight: 90}
    - {destination: {host: staff.default.svc.cluster.local, subset: risky}, weight: 10}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: staff, namespace: default}
spec:
  host: staff.default.svc.cluster.local
  subsets: [{name: safe, labels: {version: safe}}, {name: risky, labels: {version: risky}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: staff, namespace: default}
spec:
  hosts: [staff.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 10.1.0.11, labels: {version: safe}}
  - {address: 10.1.0.21, labels: {version: risky}}
`

// Apply a config, then decide requests on it. The entropy picks the subset
// as Envoy does (entropy % 100 < 90: the first destination).
func ExampleEngine_Decide() {
	engine, err := weir.New()
	if err != nil {
		panic(err)
	}
	defer engine.Close()
	if _, err := engine.Apply("canary.yaml", []byte(canary)); err != nil {
		panic(err)
	}
	for _, entropy := range []uint64{7, 95} {
		d, err := engine.Decide(&weir.Request{
			Authority: "staff.default.svc.cluster.local",
			Method:    "GET",
			Path:      "/",
			Remote:    netip.MustParseAddrPort("10.2.0.5:41234"),
		}, entropy)
		if err != nil {
			panic(err)
		}
		fmt.Println(d.Outcome, d.Cluster, d.Endpoint)
	}
	// Output:
	// route outbound|80|safe|staff.default.svc.cluster.local 10.1.0.11:80
	// route outbound|80|risky|staff.default.svc.cluster.local 10.1.0.21:80
}

// A config that fails validation is refused whole, with diagnostics naming
// the resource and field; the engine keeps the table it had.
func ExampleConfigError() {
	engine, err := weir.New()
	if err != nil {
		panic(err)
	}
	defer engine.Close()
	if _, err := engine.Apply("canary.yaml", []byte(canary)); err != nil {
		panic(err)
	}
	typo := strings.Replace(canary, "subset: risky}", "subset: riskyy}", 1)
	_, err = engine.Apply("typo.yaml", []byte(typo))
	var rejected *weir.ConfigError
	if errors.As(err, &rejected) {
		for _, d := range rejected.Diagnostics {
			fmt.Println(d.Code, d.Kind, d.Namespace+"/"+d.Name, d.Field)
		}
	}
	d, _ := engine.Decide(&weir.Request{Authority: "staff.default.svc.cluster.local", Method: "GET", Path: "/"}, 95)
	fmt.Println("still serving:", d.Cluster)
	// Output:
	// IST0101 VirtualService default/staff spec.http[0].route[1].destination.subset
	// still serving: outbound|80|risky|staff.default.svc.cluster.local
}

// A proxy makes one Source per listener: here the ingress gateway's. The
// client address comes from the connection, not from text.
func ExampleNewSource() {
	engine, err := weir.New()
	if err != nil {
		panic(err)
	}
	defer engine.Close()
	if _, err := engine.Apply("gateway.yaml", []byte(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["shop.example.com"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/web]
  http:
  - match: [{uri: {prefix: /old}}]
    redirect: {uri: /new}
`)); err != nil {
		panic(err)
	}
	gateway, err := weir.NewSource("istio-system/web", "istio-system", nil, netip.MustParseAddrPort("10.0.0.1:80"))
	if err != nil {
		panic(err)
	}
	defer gateway.Close()
	d, err := engine.Decide(&weir.Request{Authority: "shop.example.com", Method: "GET", Path: "/old/cart",
		Source: gateway}, 0)
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Outcome, d.Status, d.Location)
	// Output:
	// redirect 301 http://shop.example.com/new
}

// Decide a TCP connection to a gateway's TCP port: tcp[] rules match the
// listener port (and destination subnets, source labels and namespace).
func ExampleEngine_DecideTCP() {
	e, err := weir.New()
	if err != nil {
		panic(err)
	}
	defer e.Close()
	config := `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: db}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 5432, name: tcp, protocol: TCP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: postgres, namespace: db}
spec:
  hosts: ["*"]
  gateways: [edge]
  tcp:
  - match: [{port: 5432}]
    route: [{destination: {host: pg.db.svc.cluster.local, port: {number: 5432}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: pg, namespace: db}
spec:
  hosts: [pg.db.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 10.2.0.5}]
`
	if _, err := e.Apply("tcp.yaml", []byte(config)); err != nil {
		panic(err)
	}
	gateway, err := weir.NewSource("db/edge", "", nil, netip.AddrPort{})
	if err != nil {
		panic(err)
	}
	defer gateway.Close()
	d, err := e.DecideTCP(&weir.Connection{Port: 5432, Source: gateway}, 1)
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Outcome == weir.OutcomeRoute, d.Cluster, d.Endpoint)
	// Output: true outbound|5432||pg.db.svc.cluster.local 10.2.0.5:5432
}
