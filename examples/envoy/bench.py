#!/usr/bin/env python3
"""Overhead and scale benchmark of Weir in Envoy (run by bench.sh).

Front Envoy: --concurrency 1 pinned to CPU 0. wrk and the backend Envoy
(direct_response upstreams) on CPU 1. For each scenario and variant: rps,
p50/p99 latency from wrk, and front Envoy CPU per request
((utime+stime) from /proc/PID/stat / requests). Medians over REPS runs,
variants interleaved so drift on a noisy host hits all alike.
"""
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

OUT = sys.argv[1]
ENVOY = sys.argv[2]
DURATION = int(os.environ.get("DURATION", "5"))
REPS = int(os.environ.get("REPS", "3"))
CONNS = int(os.environ.get("CONNS", "16"))
HZ = os.sysconf("SC_CLK_TCK")

SCENARIOS = [
    ("canary", 10001, "fleetman-staff-service.default.svc.cluster.local:8080", "/"),
    ("prefix1024", 10011, "bench.test", "/p1023/x"),
    ("regex1024", 10021, "bench.test", "/r1023/abc"),
]
# ONLY=regex1024 (comma-separated) runs a subset.
if os.environ.get("ONLY"):
    SCENARIOS = [s for s in SCENARIOS if s[0] in os.environ["ONLY"].split(",")]
VARIANTS = [("native", 0), ("noop", 1), ("weir", 2)]


def start(cfg, cpu, admin, log):
    p = subprocess.Popen(["taskset", "-c", str(cpu), ENVOY, "-c", cfg, "--concurrency", "1",
                          "--use-dynamic-base-id", "-l", "warning"], stdout=subprocess.DEVNULL,
                         stderr=open(log, "w"))
    for _ in range(300):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1).status == 200:
                return p
        except Exception:
            time.sleep(0.2)
    sys.exit(f"envoy {cfg} did not start; see {log}")


def cpu_ticks(pid):
    # The envoy process itself (taskset exec()s it).
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(port, host, path, duration):
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{CONNS}", f"-d{duration}s", "--latency",
                          "-H", f"Host: {host}", f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    parse = lambda s: ms(*re.match(r"([\d.]+)(\w+)", s).groups())
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "reqs": reqs,
            "p50": parse(lat["50"]), "p99": parse(lat["99"]), "errors": int(non2xx.group(1)) if non2xx else 0}


def main():
    backend = start(f"{OUT}/backend.yaml", 1, 9911, f"{OUT}/backend.log")
    front = start(f"{OUT}/front.yaml", 0, 9910, f"{OUT}/front.log")
    try:
        for name, base, host, path in SCENARIOS:
            for v, off in VARIANTS:
                req = urllib.request.Request(f"http://127.0.0.1:{base + off}{path}", headers={"host": host})
                body = urllib.request.urlopen(req, timeout=5).read().decode().strip()
                print(f"check {name}/{v}: {body}", file=sys.stderr)
        for name, base, host, path in SCENARIOS:  # warm-up
            for v, off in VARIANTS:
                wrk(base + off, host, path, 1)
        results = {}
        for rep in range(REPS):
            for name, base, host, path in SCENARIOS:
                for v, off in VARIANTS:
                    t0, w0 = cpu_ticks(front.pid), time.monotonic()
                    r = wrk(base + off, host, path, DURATION)
                    ticks, wall = cpu_ticks(front.pid) - t0, time.monotonic() - w0
                    r["cpu_us"] = ticks / HZ * 1e6 / max(r["reqs"], 1)
                    # Front Envoy's share of its CPU: near 100 % = Envoy is the limit.
                    r["busy"] = 100.0 * ticks / HZ / wall
                    results.setdefault((name, v), []).append(r)
                    print(f"rep {rep} {name:10} {v:6} {r['rps']:8.0f} rps p50 {r['p50']:.2f} ms "
                          f"p99 {r['p99']:.2f} ms cpu/req {r['cpu_us']:.1f} us envoy busy {r['busy']:.0f}% "
                          f"load {os.getloadavg()[0]:.1f} errors {r['errors']}", file=sys.stderr)
        print("| scenario | variant | rps | p50 ms | p99 ms | Envoy CPU/req µs | Envoy busy | rps vs native "
              "(median of per-rep ratios; min–max) | CPU/req vs noop |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, *_ in SCENARIOS:
            keys = ("rps", "p50", "p99", "cpu_us", "busy")
            med = {v: {k: statistics.median(r[k] for r in results[(name, v)]) for k in keys}
                   for v, _ in VARIANTS}
            for v, _ in VARIANTS:
                m = med[v]
                # Variants of one rep ran back to back: their ratio sees the same host load.
                ratios = [a["rps"] / n["rps"] for a, n in zip(results[(name, v)], results[(name, "native")])]
                print(f"| {name} | {v} | {m['rps']:.0f} | {m['p50']:.2f} | {m['p99']:.2f} | {m['cpu_us']:.1f} | "
                      f"{m['busy']:.0f} % | {statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f}) | "
                      f"{m['cpu_us'] - med['noop']['cpu_us']:+.1f} µs |")
        errs = sum(r["errors"] for rs in results.values() for r in rs)
        print(f"\nnon-2xx responses over all runs: {errs}; {REPS} reps × {DURATION} s, wrk -t1 -c{CONNS}")
    finally:
        front.terminate()
        backend.terminate()


if __name__ == "__main__":
    main()
