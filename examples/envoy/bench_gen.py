#!/usr/bin/env python3
"""Generates the benchmark's Envoy configs: `bench_gen.py WASM OUTDIR`.

OUTDIR/backend.yaml: the upstreams (Envoy direct_response listeners, 18181-18183).
OUTDIR/front.yaml:   one Envoy, three scenarios x three variants, one listener each:

  scenario      native (router only)   noop (wasm noop + router)   weir (Weir decides)
  canary        10001                  10002                       10003
  prefix1024    10011                  10012                       10013
  regex1024     10021                  10022                       10023

Native and noop get Envoy's own route table for the scenario (weighted_clusters
90/10; 1 024 prefix routes; 1 024 safe_regex routes); weir gets the same table
as Istio resources and Envoy only follows the cluster Weir names.
"""
import json
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from render import ISTIO_DEFAULT_RETRY, ROUTER, hcm, listener, static_cluster, wasm_filter, weir_routes  # noqa: E402

N = 1024
CANARY_SAFE = "outbound|8080|safe-group|fleetman-staff-service.default.svc.cluster.local"
CANARY_RISKY = "outbound|8080|risky-group|fleetman-staff-service.default.svc.cluster.local"
BENCH = "outbound|80||bench.test"


def canary_istio():
    return open(__import__("os").path.join(__import__("os").path.dirname(__file__), "istio/fleetman-canary.yaml")).read() \
        .replace("ports: {http: 18081}", "ports: {http: 18181}") \
        .replace("ports: {http: 18082}", "ports: {http: 18182}") \
        .replace("ports: {http: 18083}", "ports: {http: 18183}")


def table_istio(kind):
    routes = []
    for i in range(N):
        m = {"prefix": f"/p{i}/"} if kind == "prefix" else {"regex": f"/r{i}/[a-z]+"}
        routes.append({"match": [{"uri": m}], "route": [{"destination": {"host": "bench.test"}}]})
    docs = [
        {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
         "metadata": {"name": "bench", "namespace": "default"},
         "spec": {"hosts": ["bench.test"], "location": "MESH_INTERNAL",
                  "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}], "resolution": "STATIC",
                  "endpoints": [{"address": "127.0.0.1", "ports": {"http": 18181 + k}} for k in range(3)]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
         "metadata": {"name": "bench", "namespace": "default"},
         "spec": {"hosts": ["bench.test"], "http": routes}},
    ]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})


def native_routes(scenario):
    # Istio's default retries are on every route istiod writes: the native
    # table gets them too (Weir's route carries the same, see render.py).
    if scenario == "canary":
        return [{"match": {"prefix": "/"}, "route": {"timeout": "0s", "retry_policy": ISTIO_DEFAULT_RETRY,
                                                     "weighted_clusters": {"clusters": [
            {"name": CANARY_SAFE, "weight": 90}, {"name": CANARY_RISKY, "weight": 10}]}}}]
    routes = []
    for i in range(N):
        m = {"prefix": f"/p{i}/"} if scenario == "prefix1024" else {"safe_regex": {"regex": f"/r{i}/[a-z]+"}}
        routes.append({"match": m, "route": {"cluster": BENCH, "timeout": "0s", "retry_policy": ISTIO_DEFAULT_RETRY}})
    return routes


def main():
    wasm, out = sys.argv[1], sys.argv[2]
    backend = {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9911}}},
               "static_resources": {"listeners": [
                   listener(f"b{p}", p, hcm(f"b{p}", [{"match": {"prefix": "/"}, "direct_response": {
                       "status": 200, "body": {"inline_string": f"upstream {p}\n"}}}], [])) for p in (18181, 18182, 18183)
               ], "clusters": []}}
    json.dump(backend, open(f"{out}/backend.yaml", "w"), indent=1)
    istio = {"canary": canary_istio(), "prefix1024": table_istio("prefix"), "regex1024": table_istio("regex")}
    listeners = []
    for k, scenario in enumerate(["canary", "prefix1024", "regex1024"]):
        base = 10001 + 10 * k
        listeners.append(listener(f"{scenario}-native", base, hcm(f"{scenario}_native", native_routes(scenario), [])))
        listeners.append(listener(f"{scenario}-noop", base + 1, hcm(
            f"{scenario}_noop", native_routes(scenario), [wasm_filter({"noop": True}, wasm)])))
        listeners.append(listener(f"{scenario}-weir", base + 2, hcm(
            f"{scenario}_weir", weir_routes("x-weir-cluster"), [wasm_filter({"config": istio[scenario], "default_retries_on_route": True}, wasm)])))
    clusters = [static_cluster(CANARY_SAFE, [18181, 18182], "x-weir-endpoint"),
                static_cluster(CANARY_RISKY, [18183], "x-weir-endpoint"),
                static_cluster(BENCH, [18181, 18182, 18183], "x-weir-endpoint")]
    front = {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9910}}},
             "static_resources": {"listeners": listeners, "clusters": clusters}}
    json.dump(front, open(f"{out}/front.yaml", "w"), indent=1)


if __name__ == "__main__":
    main()
