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


# The labels Weir's filter writes into its metric names
# (`reporter=.=source;.;...;.;istio_requests_total`, wasm/filter/src/telemetry.rs).
ISTIO_LABELS = [
    "reporter", "source_workload", "source_workload_namespace", "source_app", "source_version",
    "destination_service", "destination_service_name", "destination_service_namespace",
    "destination_workload", "destination_workload_namespace", "destination_app",
    "destination_version", "request_protocol", "response_code", "response_flags",
    "grpc_response_status",
]

# Envoy's tag extraction, as Istio's bootstrap does it: the first group is cut
# out of the stat name, the second is the tag's value, so /stats/prometheus
# shows istio_requests_total{reporter="source",...,destination_version="v1",...}.
STATS_CONFIG = {"stats_tags": [
    {"tag_name": name, "regex": "(%s=\\.=(.*?);\\.;)" % name} for name in ISTIO_LABELS
]}

# Weir's route and destination arrive as request headers; this moves them into
# dynamic metadata `weir` (and off the request) for the access log.
HEADER_TO_METADATA = {
    "name": "envoy.filters.http.header_to_metadata",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config",
        "request_rules": [
            {"header": "x-weir-route", "remove": True,
             "on_header_present": {"metadata_namespace": "weir", "key": "route", "type": "STRING"}},
            {"header": "x-weir-destination", "remove": True,
             "on_header_present": {"metadata_namespace": "weir", "key": "destination", "type": "STRING"}},
        ],
    },
}

# Envoy's default access log format, plus Weir's route and destination.
ACCESS_LOG_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
    '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" '
    'route=%DYNAMIC_METADATA(weir:route)% destination=%DYNAMIC_METADATA(weir:destination)%\n'
)


def access_log(path):
    return [{"name": "envoy.access_loggers.file", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": path,
        "log_format": {"text_format_source": {"inline_string": ACCESS_LOG_FORMAT}},
    }}]


def hcm(name, routes, http_filters, log_path=None):
    """The connection manager; with an access log when `log_path` is given
    (the benches run without one)."""
    typed = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name,
    }
    if log_path:
        typed["access_log"] = access_log(log_path)
    typed["route_config"] = {"name": name, "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]}
    typed["http_filters"] = http_filters + [ROUTER]
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": typed}


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
            "stats_config": STATS_CONFIG,
            "static_resources": {"listeners": listeners, "clusters": clusters}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["override_host", "original_dst"], default="override_host")
    ap.add_argument("--wasm", default="target/wasm-build/wasm32-wasip1/wasm-release/weir_envoy_filter.wasm")
    ap.add_argument("--port", type=int, default=10000)
    ap.add_argument("--admin", type=int, default=9901)
    ap.add_argument("--access-log", default="/dev/stdout", help="Envoy's access log file")
    ap.add_argument("istio", nargs="+")
    a = ap.parse_args()
    config = "\n---\n".join(open(f).read() for f in a.istio)
    plugin = {"config": config, "cluster_header": "x-weir-cluster", "default_retries_on_route": True,
              # Istio's standard metrics (source_workload names this proxy) and
              # Weir's route and destination for the access log.
              "telemetry": {"metrics": True, "workload": "weir-demo",
                            "route_header": "x-weir-route", "destination_header": "x-weir-destination"}}
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
    out = bootstrap([listener("weir", a.port, hcm("weir", weir_routes("x-weir-cluster"), [wasm_filter(plugin, a.wasm), HEADER_TO_METADATA], a.access_log))],
                    clusters, a.admin)
    # JSON is YAML: Envoy reads either.
    print("# Generated by examples/envoy/render.py from " + " ".join(a.istio))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
