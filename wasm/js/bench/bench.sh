#!/usr/bin/env bash
# The weir-js budgets: builds the packages, generates the 1 024-route table
# and runs bench.mjs. WEIR_BENCH_QUICK=1 for a short run (CI).
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
wasm/js/build.sh >/dev/null
table="${CARGO_TARGET_DIR:-$root/target}/routes-1024.yaml"
cargo run -q --release -p weir-benches --example generate -- routes 1024 >"$table"
node wasm/js/bench/bench.mjs "$table"
