#!/usr/bin/env python3
"""Renders an Envoy bootstrap that runs Weir's proxy-wasm filter.

    render.py [--mode override_host|original_dst] [--wasm PATH] [--port 10000]
              [--admin 9901] ISTIO.yaml... > envoy.yaml

The Istio files are embedded in the plugin configuration (the `config` field).
Clusters are named exactly like Istio's (`outbound|PORT|SUBSET|HOST`) and list
the demo's loopback upstreams (examples/envoy/upstream.py, ports 18081-18094).
"""
import argparse
import json

# The demo's Istio clusters and their loopback endpoints (see istio/*.yaml).
CLUSTERS = {
    "outbound|8080|safe-group|fleetman-staff-service.default.svc.cluster.local": [18081, 18082],
    "outbound|8080|risky-group|fleetman-staff-service.default.svc.cluster.local": [18083],
    "outbound|9080|v1|reviews.shop.svc.cluster.local": [18091, 18092],
    "outbound|9080|v2|reviews.shop.svc.cluster.local": [18093],
    "outbound|9080|v3|reviews.shop.svc.cluster.local": [18094],
    "outbound|9080|v1|ratings.shop.svc.cluster.local": [18091, 18092],
}

ROUND_ROBIN = {
    "typed_extension_config": {
        "name": "envoy.load_balancing_policies.round_robin",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin"},
    }
}


def static_cluster(name, ports, endpoint_header=None):
    c = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": p}}}} for p in ports
            ]}],
        },
    }
    if endpoint_header:
        # Weir names the endpoint; Envoy keeps health, pools and stats, and
        # falls back to round robin when the header is absent or stale.
        c["load_balancing_policy"] = {"policies": [{
            "typed_extension_config": {
                "name": "envoy.load_balancing_policies.override_host",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.load_balancing_policies.override_host.v3.OverrideHost",
                    "override_host_sources": [{"header": endpoint_header}],
                    "fallback_policy": {"policies": [ROUND_ROBIN]},
                },
            }
        }]}
    return c


def wasm_filter(plugin, wasm):
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "weir",
                "root_id": "weir",
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": json.dumps(plugin)},
                "vm_config": {"vm_id": "weir", "runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": wasm}}},
            },
        },
    }


ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


def hcm(name, routes, http_filters):
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": name,
            "route_config": {"name": name, "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]},
            "http_filters": http_filters + [ROUTER],
        },
    }


# What istiod puts on every route of a VirtualService without `retries`
# (pilot/pkg/networking/core/route/retry/retry.go): 2 attempts, these
# conditions, no retriable status codes, skip hosts already tried.
ISTIO_DEFAULT_RETRY = {
    "retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
    "num_retries": 2,
    "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}],
    "host_selection_retry_max_attempts": 5,
}


def weir_routes(cluster_header):
    # Weir decides; Envoy's route only reads the cluster Weir named. Istio's
    # default route timeout is "disabled": Weir sets x-envoy-upstream-rq-timeout-ms
    # when a VirtualService asks for one. The route carries Istio's default
    # retries (the plugin says so with `default_retries_on_route`); Weir sends
    # x-envoy-retry-* headers only for rules with other retries.
    return [
        {"match": {"prefix": "/", "headers": [{"name": cluster_header, "present_match": True}]},
         "route": {"cluster_header": cluster_header, "timeout": "0s", "retry_policy": ISTIO_DEFAULT_RETRY}},
        {"match": {"prefix": "/"}, "direct_response": {"status": 500, "body": {"inline_string": "weir: no decision\n"}}},
    ]


def listener(name, port, hcm_filter):
    return {"name": name,
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [hcm_filter]}]}


def bootstrap(listeners, clusters, admin):
    return {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
            "static_resources": {"listeners": listeners, "clusters": clusters}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["override_host", "original_dst"], default="override_host")
    ap.add_argument("--wasm", default="target/wasm-build/wasm32-wasip1/wasm-release/weir_envoy_filter.wasm")
    ap.add_argument("--port", type=int, default=10000)
    ap.add_argument("--admin", type=int, default=9901)
    ap.add_argument("istio", nargs="+")
    a = ap.parse_args()
    config = "\n---\n".join(open(f).read() for f in a.istio)
    plugin = {"config": config, "cluster_header": "x-weir-cluster", "default_retries_on_route": True}
    if a.mode == "override_host":
        plugin["endpoint_header"] = "x-weir-endpoint"
        clusters = [static_cluster(n, p, "x-weir-endpoint") for n, p in CLUSTERS.items()]
    else:
        # Every request goes to one ORIGINAL_DST cluster; Weir names the exact
        # ip:port in x-envoy-original-dst-host. Mirrors still need the shadow's
        # Istio-named cluster, so those stay as plain STATIC clusters.
        plugin.update({"upstream": "original_dst", "original_dst_cluster": "weir_original_dst"})
        clusters = [{"name": "weir_original_dst", "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED",
                     "connect_timeout": "1s", "original_dst_lb_config": {"use_http_header": True}}]
        clusters += [static_cluster(n, p) for n, p in CLUSTERS.items()]
    out = bootstrap([listener("weir", a.port, hcm("weir", weir_routes("x-weir-cluster"), [wasm_filter(plugin, a.wasm)]))],
                    clusters, a.admin)
    # JSON is YAML: Envoy reads either.
    print("# Generated by examples/envoy/render.py from " + " ".join(a.istio))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
