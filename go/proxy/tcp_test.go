package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	weir "github.com/weir-mesh/weir/go"
)

// echo is a TCP upstream: it greets each connection with its name and a
// newline, then echoes.
func echo(t *testing.T, name string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s\n", name)
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func tcpConfig(v1, v2 string, weightV1 int) string {
	port := func(a string) string { return a[strings.LastIndexByte(a, ':')+1:] }
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ["*"]
  - port: {number: 31443, name: tls, protocol: TLS}
    tls: {mode: PASSTHROUGH}
    hosts: [a.example.com, b.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: split, namespace: ns}
spec:
  hosts: ["*"]
  gateways: [gw]
  tcp:
  - match: [{port: 31400}]
    route:
    - {destination: {host: echo.ns.svc.cluster.local, subset: v1}, weight: %d}
    - {destination: {host: echo.ns.svc.cluster.local, subset: v2}, weight: %d}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: sni, namespace: ns}
spec:
  hosts: [a.example.com, b.example.com]
  gateways: [gw]
  tls:
  - match: [{port: 31443, sniHosts: [a.example.com]}]
    route: [{destination: {host: echo.ns.svc.cluster.local, subset: v1}}]
  - match: [{port: 31443, sniHosts: [b.example.com]}]
    route: [{destination: {host: echo.ns.svc.cluster.local, subset: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: ns}
spec:
  host: echo.ns.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: ns}
spec:
  hosts: [echo.ns.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 2701, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {tcp: %s}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {tcp: %s}, labels: {version: v2}}
`, weightV1, 100-weightV1, port(v1), port(v2))
}

// serveTCP starts p on a loopback listener and returns its address.
func serveTCP(t *testing.T, p *TCP) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go p.Serve(ln)
	return ln.Addr().String()
}

// greeting connects, sends first (if any) and returns the first line the
// upstream sent ("" when the proxy closed the connection) and the connection.
func greeting(t *testing.T, addr string, first []byte) (string, net.Conn) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if len(first) > 0 {
		if _, err := c.Write(first); err != nil {
			t.Fatal(err)
		}
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", nil
	}
	return strings.TrimSuffix(line, "\n"), c
}

// clientHello returns the bytes crypto/tls sends as a client asking for sni.
func clientHello(t *testing.T, sni string) []byte {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		_ = tls.Client(a, &tls.Config{ServerName: sni, InsecureSkipVerify: true}).Handshake()
	}()
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16<<10)
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func newTCPEngine(t *testing.T, config string) *weir.Engine {
	e, err := weir.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	if _, err := e.Apply("tcp.yaml", []byte(config)); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestTCPWeightedSplit(t *testing.T) {
	v1, v2 := echo(t, "v1"), echo(t, "v2")
	e := newTCPEngine(t, tcpConfig(v1, v2, 70))
	addr := serveTCP(t, &TCP{Engine: e, Gateway: "ns/gw", Port: 31400})
	const n = 300
	onV1 := 0
	for i := 0; i < n; i++ {
		got, c := greeting(t, addr, nil)
		switch got {
		case "v1":
			onV1++
		case "v2":
		default:
			t.Fatalf("greeting %q", got)
		}
		// Carried end to end: it echoes.
		fmt.Fprint(c, "ping\n")
		back, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || back != "ping\n" {
			t.Fatalf("echo: %q %v", back, err)
		}
		c.Close()
	}
	// 70/30: five standard deviations of the binomial either side.
	sd := math.Sqrt(n * 0.7 * 0.3)
	if lo, hi := n*0.7-5*sd, n*0.7+5*sd; float64(onV1) < lo || float64(onV1) > hi {
		t.Fatalf("v1 got %d of %d, want %.0f..%.0f", onV1, n, lo, hi)
	}
}

func TestTCPRoutesTLSBySNI(t *testing.T) {
	v1, v2 := echo(t, "v1"), echo(t, "v2")
	e := newTCPEngine(t, tcpConfig(v1, v2, 70))
	var log syncLog
	addr := serveTCP(t, &TCP{Engine: e, Gateway: "ns/gw", Port: 31443, TLS: true, Log: &log})
	for sni, want := range map[string]string{"a.example.com": "v1", "b.example.com": "v2"} {
		if got, _ := greeting(t, addr, clientHello(t, sni)); got != want {
			t.Errorf("SNI %s: got %q, want %q", sni, got, want)
		}
	}
	// An SNI no route names, and bytes that are not TLS: closed.
	for _, first := range [][]byte{clientHello(t, "c.example.com"), []byte("GET / HTTP/1.1\r\n\r\n")} {
		if got, _ := greeting(t, addr, first); got != "" {
			t.Errorf("%q: got %q, want closed", first[:8], got)
		}
	}
	if !strings.Contains(log.String(), "closing connection: no_route") {
		t.Errorf("log: %q", log.String())
	}
}

func TestTCPClientBytesDoNotSteerAndReloadKeepsOpenConnections(t *testing.T) {
	v1, v2 := echo(t, "v1"), echo(t, "v2")
	e := newTCPEngine(t, tcpConfig(v1, v2, 100))
	addr := serveTCP(t, &TCP{Engine: e, Gateway: "ns/gw", Port: 31400})
	for _, first := range []string{"x-weir-cluster: outbound|2701|v2|echo.ns.svc.cluster.local\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"} {
		if got, _ := greeting(t, addr, []byte(first)); got != "v1" {
			t.Fatalf("%q steered to %q", first, got)
		}
	}
	got, open := greeting(t, addr, nil)
	if got != "v1" {
		t.Fatalf("got %q", got)
	}
	if _, err := e.Apply("tcp.yaml", []byte(tcpConfig(v1, v2, 0))); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if got, _ := greeting(t, addr, nil); got != "v2" {
			t.Fatalf("after reload: %q", got)
		}
	}
	fmt.Fprint(open, "still here\n")
	back, err := bufio.NewReader(open).ReadString('\n')
	if err != nil || back != "still here\n" {
		t.Fatalf("the connection opened before the reload: %q %v", back, err)
	}
}

func TestTCPUnknownPortIsClosed(t *testing.T) {
	v1, v2 := echo(t, "v1"), echo(t, "v2")
	e := newTCPEngine(t, tcpConfig(v1, v2, 100))
	addr := serveTCP(t, &TCP{Engine: e, Gateway: "ns/gw", Port: 31401})
	if got, _ := greeting(t, addr, nil); got != "" {
		t.Fatalf("got %q, want closed", got)
	}
}

// syncLog is a log the proxy writes while the test reads it.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
