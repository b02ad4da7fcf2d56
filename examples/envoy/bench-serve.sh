#!/usr/bin/env bash
# weir serve at scale (a bench, not a test; figures in examples/envoy/BENCH.md):
#   1. push latency, server CPU per push and bytes per push (trimmed for a
#      gateway, a sidecar's near-whole config, the untrimmed text) for 1, 10
#      and 100 gRPC xDS clients at 100 and 5 000 services (serve/examples/xds_load.rs);
#   2. a real Envoy's apply time (two workers) at 1 024 and 10 000 routes
#      (examples/envoy/tests-pkg/examples/serve_apply.rs);
#   3. 1 000 proxies under endpoint churn, 1 % of 10 000 endpoints a second,
#      and the keys that move per change for ring hash and Maglev
#      (serve/examples/churn.rs).
#
#   examples/envoy/bench-serve.sh          # from anywhere; several minutes
#   SERVICES="100" CLIENTS="1,10" examples/envoy/bench-serve.sh   # a quick run
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WORK=$(mktemp -d)
SERVICES=${SERVICES:-"100 5000"}
CLIENTS=${CLIENTS:-"1,10,100"}
CHANGES=${CHANGES:-3}

echo "== building (release)"
cargo build -q --release -p weir-cli --bin weir
cargo build -q --release -p weir-serve --example xds_load --example churn
cargo build -q --release -p weir-benches --example generate
cargo build -q --release -p weir-envoy-tests --example serve_apply
BIN=$ROOT/target/release
gen() { "$BIN/examples/generate" "$@"; }

for n in $SERVICES; do
  echo; echo "== push latency, server CPU and bytes: $n services, $CLIENTS clients"
  mkdir -p "$WORK/mesh-$n"
  gen mesh "$n" > "$WORK/mesh-$n/mesh.yaml"
  "$BIN/examples/xds_load" "$BIN/weir" "$WORK/mesh-$n" "$CLIENTS" "$CHANGES"
done

echo; echo "== a real Envoy applying a push (two workers)"
gen routes 1024 > "$WORK/routes-1024.yaml"
gen routes 10000 > "$WORK/routes-10000.yaml"
"$BIN/examples/serve_apply" "$WORK/routes-1024.yaml" "$WORK/routes-10000.yaml" 2>/dev/null

echo; echo "== endpoint churn: 1 000 proxies, 100 of 10 000 endpoints changing a second"
mkdir -p "$WORK/mesh-churn"
gen mesh 1000 > "$WORK/mesh-churn/mesh.yaml"
"$BIN/examples/churn" "$WORK/mesh-churn" 1000 100
rm -rf "$WORK"
