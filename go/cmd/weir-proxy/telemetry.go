package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	weir "github.com/weir-mesh/weir/go"
	"github.com/weir-mesh/weir/go/proxy"
)

// telemetryOptions are the flags for metrics, access logs and rate limits.
type telemetryOptions struct {
	metricsListen string
	accessLog     string
	accessLogJSON bool
	workload      weir.Workload
	reporter      string
	rateLimit     string
	labels        string
}

func (t *telemetryOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&t.metricsListen, "metrics-listen", "", "serve Istio's metrics (Prometheus text) on http://ADDR/metrics and /stats/prometheus")
	fs.StringVar(&t.accessLog, "access-log", "", "write an access log line per request (Envoy's default format) to this file, - for stderr")
	fs.BoolVar(&t.accessLogJSON, "access-log-json", false, "access log lines as JSON")
	fs.StringVar(&t.workload.Name, "workload", "", "source_workload of the metrics")
	fs.StringVar(&t.workload.Namespace, "workload-namespace", "", "source_workload_namespace (default: -namespace)")
	fs.StringVar(&t.workload.App, "app", "", "source_app of the metrics")
	fs.StringVar(&t.workload.Version, "version", "", "source_version of the metrics")
	fs.StringVar(&t.reporter, "reporter", "source", "reporter label: source or destination")
	fs.StringVar(&t.rateLimit, "rate-limit", "", "local rate limit MAX_TOKENS/TOKENS_PER_FILL/FILL_INTERVAL (e.g. 10/10/1s): over it, 429; overrides the config's EnvoyFilter local rate limits")
	fs.StringVar(&t.labels, "labels", "", "the workload's pod labels K=V,K=V (EnvoyFilter workloadSelector)")
}

// startTelemetry sets up px and the engine from t; stop ends the metrics
// listener and closes the access log.
func startTelemetry(t telemetryOptions, namespace string, engine *weir.Engine, px *proxy.Proxy, log io.Writer) (stop func(), err error) {
	var closers []func()
	stop = func() {
		for _, c := range closers {
			c()
		}
	}
	reporter := weir.ReporterSource
	switch t.reporter {
	case "source":
	case "destination":
		reporter = weir.ReporterDestination
	default:
		return stop, fmt.Errorf("-reporter %q: want source or destination", t.reporter)
	}
	if t.workload.Namespace == "" {
		t.workload.Namespace = namespace
	}
	if err := engine.SetMetricsSource(reporter, t.workload); err != nil {
		return stop, err
	}
	if t.rateLimit != "" {
		var max, fill uint32
		var interval string
		if _, err := fmt.Sscanf(t.rateLimit, "%d/%d/%s", &max, &fill, &interval); err != nil {
			return stop, fmt.Errorf("-rate-limit %q: want MAX_TOKENS/TOKENS_PER_FILL/FILL_INTERVAL", t.rateLimit)
		}
		d, err := time.ParseDuration(interval)
		if err != nil || d < time.Millisecond {
			return stop, fmt.Errorf("-rate-limit %q: fill interval %q is not a duration of 1ms or more", t.rateLimit, interval)
		}
		if px.RateLimiter, err = weir.NewRateLimiter(max, fill, d); err != nil {
			return stop, err
		}
	}
	switch t.accessLog {
	case "":
	case "-":
		px.AccessLog = os.Stderr
	default:
		f, err := os.OpenFile(t.accessLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return stop, err
		}
		closers = append(closers, func() { f.Close() })
		px.AccessLog = f
	}
	px.AccessLogJSON = t.accessLogJSON
	if px.AccessLog == nil {
		// -access-log overrides; without it the config's Telemetry decides,
		// writing to stdout as Istio's envoy provider does.
		px.ConfigLog = os.Stdout
	}
	if t.labels != "" {
		px.Labels = map[string]string{}
		for _, kv := range strings.Split(t.labels, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return stop, fmt.Errorf("-labels %q: want K=V,K=V", t.labels)
			}
			px.Labels[k] = v
		}
	}
	if err := px.RefreshPolicies(); err != nil {
		return stop, err
	}
	if t.metricsListen != "" {
		ln, err := net.Listen("tcp", t.metricsListen)
		if err != nil {
			return stop, err
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", proxy.MetricsHandler(engine))
		mux.Handle("/stats/prometheus", proxy.MetricsHandler(engine))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		closers = append(closers, func() { srv.Close() })
		fmt.Fprintf(log, "weir-proxy metrics on http://%s/metrics\n", ln.Addr())
	}
	return stop, nil
}
