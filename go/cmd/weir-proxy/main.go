// Command weir-proxy is an HTTP reverse proxy that routes by Istio config:
// every request is decided by Weir (route, weighted subset, endpoint) and
// the route's actions are carried out (faults, redirects, rewrites, header
// edits, direct responses, timeouts, retries, mirrors).
//
//	go run ./cmd/weir-proxy -config ../examples/configs/fleetman-canary.yaml -dry-run
//	curl -H 'Host: fleetman-staff-service.default.svc.cluster.local:8080' localhost:8080/
//
// -dry-run answers each request with its decision (outcome, route, cluster,
// endpoint) instead of forwarding it, for trying a config whose endpoints
// are not reachable from here.
//
// -tcp-listen adds a TCP listener decided by Weir's tcp[] rules (tls[]
// rules by SNI with -tcp-tls, for TLS passthrough) as the listener port
// -tcp-port, and piped to the endpoint Weir picks:
//
//	go run ./cmd/weir-proxy -config ../examples/configs/tcp-echo.yaml \
//	    -gateway istioinaction/echo-tcp-gateway -tcp-listen 127.0.0.1:31400 -tcp-port 31400
//
// -config may be given several times (files, or directories of *.yaml,
// *.yml and *.json); they are applied as one config. SIGHUP re-reads them:
// a config that fails validation is refused with its diagnostics and the
// proxy keeps serving the previous one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	weir "github.com/weir-mesh/weir/go"
	"github.com/weir-mesh/weir/go/proxy"
)

// configFlag collects repeated -config values.
type configFlag []string

func (c *configFlag) String() string     { return strings.Join(*c, ",") }
func (c *configFlag) Set(v string) error { *c = append(*c, v); return nil }

// options are the command line, parsed.
type options struct {
	configs   []string
	listen    string
	gateway   string
	namespace string
	port      int
	dryRun    bool
	tcpListen string
	tcpPort   int
	tcpTLS    bool
	telemetry telemetryOptions
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var configs configFlag
	fs := flag.NewFlagSet("weir-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&configs, "config", "Istio config file or directory (repeatable)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&o.gateway, "gateway", "", "play this gateway (NAMESPACE/NAME); empty: a sidecar")
	fs.StringVar(&o.namespace, "namespace", "default", "the sidecar's namespace")
	fs.IntVar(&o.port, "port", 0, "listener port Weir decides for (0: the Host header's, or 80)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "answer each request with its decision instead of forwarding it")
	fs.StringVar(&o.tcpListen, "tcp-listen", "", "also accept TCP connections here, routed by tcp[] (or tls[]) rules")
	fs.IntVar(&o.tcpPort, "tcp-port", 0, "listener port Weir decides TCP connections for (0: the local port)")
	fs.BoolVar(&o.tcpTLS, "tcp-tls", false, "read the SNI of TLS connections on -tcp-listen (passthrough: tls[] rules)")
	o.telemetry.register(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (configs go in -config)", fs.Arg(0))
	}
	if len(configs) == 0 {
		return o, errors.New("-config is required")
	}
	o.configs = configs
	return o, nil
}

// readConfigs concatenates the config files as one YAML stream, in the
// order given (a directory's files sorted by name), and names the source
// for diagnostics.
func readConfigs(paths []string) (name string, config []byte, err error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return "", nil, err
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return "", nil, err
		}
		var inDir []string
		for _, e := range entries {
			switch filepath.Ext(e.Name()) {
			case ".yaml", ".yml", ".json":
				if !e.IsDir() {
					inDir = append(inDir, filepath.Join(p, e.Name()))
				}
			}
		}
		sort.Strings(inDir)
		files = append(files, inDir...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", nil, err
		}
		config = append(config, "\n---\n"...)
		config = append(config, b...)
	}
	return strings.Join(files, ","), config, nil
}

// apply loads the configs into the engine, printing warnings; an error
// leaves the engine's table as it was.
func apply(e *weir.Engine, paths []string, log io.Writer) error {
	name, config, err := readConfigs(paths)
	if err != nil {
		return err
	}
	diags, err := e.Apply(name, config)
	for _, d := range diags {
		if d.Severity != weir.SeverityError {
			fmt.Fprintln(log, d.String())
		}
	}
	return err
}

// run serves until ctx ends; each value on reload re-reads the configs.
// ready, when set, receives the listening address.
func run(ctx context.Context, o options, reload <-chan struct{}, log io.Writer, ready chan<- net.Addr) error {
	engine, err := weir.New()
	if err != nil {
		return err
	}
	defer engine.Close()
	if err := apply(engine, o.configs, log); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	px := &proxy.Proxy{Engine: engine, Gateway: o.gateway, Namespace: o.namespace, Port: o.port, DryRun: o.dryRun}
	stopTelemetry, err := startTelemetry(o.telemetry, o.namespace, engine, px, log)
	defer stopTelemetry()
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           px,
		ReadHeaderTimeout: 10 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(log, "weir-proxy (libweir %s) listening on %s\n", weir.Version(), ln.Addr())
	if o.tcpListen != "" {
		tln, err := net.Listen("tcp", o.tcpListen)
		if err != nil {
			srv.Close()
			return err
		}
		defer tln.Close()
		tcp := &proxy.TCP{Engine: engine, Gateway: o.gateway, Namespace: o.namespace, Port: o.tcpPort, TLS: o.tcpTLS, Log: log}
		go func() { served <- tcp.Serve(tln) }()
		fmt.Fprintf(log, "weir-proxy TCP listening on %s\n", tln.Addr())
	}
	if ready != nil {
		ready <- ln.Addr()
	}
	for {
		select {
		case <-reload:
			if err := apply(engine, o.configs, log); err != nil {
				fmt.Fprintf(log, "reload refused, still serving the previous config: %v\n", err)
			} else if err := px.RefreshPolicies(); err != nil {
				fmt.Fprintf(log, "reloaded; telemetry and rate limit policies not refreshed: %v\n", err)
			} else {
				fmt.Fprintln(log, "reloaded")
			}
		case err := <-served:
			return err
		case <-ctx.Done():
			shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(shutdown)
		}
	}
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "weir-proxy:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{})
	go func() {
		for range hup {
			reload <- struct{}{}
		}
	}()
	if err := run(ctx, o, reload, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "weir-proxy:", err)
		os.Exit(1)
	}
}
