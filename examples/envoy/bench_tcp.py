#!/usr/bin/env python3
"""Envoy CPU per new TCP connection: Weir's network filter in front of
tcp_proxy against the same tcp_proxy with a fixed cluster, in one Envoy and
one run.

    bench_tcp.py ENVOY WASM [--conns 2000] [--reps 5]

One front Envoy (`--concurrency 1`) has two listeners to the same echo
upstream: **fixed** (tcp_proxy `cluster: echo`) and **weir** (Weir's network
filter as gateway istioinaction/echo-gateway of istio/tcp-echo.yaml, then
tcp_proxy; the filter names the cluster). Per rep and variant (interleaved),
the client opens `--conns` connections one after another, reads the
upstream's greeting and closes. "Envoy CPU/conn" is the front Envoy's
utime+stime (/proc/PID/stat) over the phase divided by the connections.
Prints a markdown table: medians over the reps, and the difference.
Not a test: run by hand (examples/envoy/bench-tcp.sh), results in BENCH.md.
"""
import argparse
import json
import os
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import render_tcp  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def echo_upstream(port):
    class H(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.sendall(b"echo\n")
            while self.request.recv(4096):
                pass

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", port), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def connect_many(port, n):
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            data = b""
            while b"\n" not in data:
                chunk = s.recv(64)
                if not chunk:
                    raise RuntimeError(f"port {port}: closed without a greeting")
                data += chunk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("envoy")
    ap.add_argument("wasm")
    ap.add_argument("--conns", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    upstream, admin, fixed, weir = free_port(), free_port(), free_port(), free_port()
    echo_upstream(upstream)
    config = open(os.path.join(HERE, "istio/tcp-echo.yaml")).read()
    weir_listener = render_tcp.listener("weir", weir, 31400, config, a.wasm, False)
    fixed_listener = {"name": "fixed", "address": {"socket_address": {"address": "127.0.0.1", "port_value": fixed}},
                      "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                          "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                          "stat_prefix": "fixed", "cluster": f"outbound|2701|v1|{render_tcp.HOST}"}}]}]}
    clusters = [render_tcp.cluster(f"outbound|2701|{s}|{render_tcp.HOST}", upstream) for s in ("v1", "v2")]
    clusters.append({"name": "weir_unrouted", "type": "STATIC", "connect_timeout": "1s",
                     "load_assignment": {"cluster_name": "weir_unrouted", "endpoints": []}})
    boot = {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
            "static_resources": {"listeners": [fixed_listener, weir_listener], "clusters": clusters}}
    work = tempfile.mkdtemp()
    with open(os.path.join(work, "envoy.yaml"), "w") as f:
        json.dump(boot, f)
    log = open(os.path.join(work, "envoy.log"), "w")
    envoy = subprocess.Popen([a.envoy, "-c", os.path.join(work, "envoy.yaml"), "--concurrency", "1",
                              "--use-dynamic-base-id", "-l", "warning"], stdout=log, stderr=log)
    try:
        for _ in range(300):
            try:
                connect_many(weir, 1)
                connect_many(fixed, 1)
                break
            except OSError:
                time.sleep(0.1)
        for port in (fixed, weir):  # warm-up
            connect_many(port, 200)
        per_conn = {"fixed": [], "weir": []}
        for _ in range(a.reps):
            for name, port in (("fixed", fixed), ("weir", weir)):
                before = cpu_seconds(envoy.pid)
                connect_many(port, a.conns)
                per_conn[name].append((cpu_seconds(envoy.pid) - before) / a.conns * 1e6)
        f, w = statistics.median(per_conn["fixed"]), statistics.median(per_conn["weir"])
        print(f"Envoy CPU per new connection, {a.reps} reps x {a.conns} connections, medians (logs in {work}):\n")
        print("| listener | Envoy CPU/conn (µs) | reps (µs) |")
        print("|---|---|---|")
        for label, key in (("tcp_proxy, fixed cluster", "fixed"), ("Weir network filter + tcp_proxy", "weir")):
            reps = ", ".join(f"{v:.1f}" for v in per_conn[key])
            print(f"| {label} | {statistics.median(per_conn[key]):.1f} | {reps} |")
        print(f"\nWeir adds {w - f:+.1f} µs of Envoy CPU per connection ({w / f:.2f}x).")
    finally:
        envoy.kill()
        envoy.wait()


if __name__ == "__main__":
    main()
