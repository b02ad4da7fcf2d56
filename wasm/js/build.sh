#!/usr/bin/env bash
# Builds the npm packages of weir-js: wasm/js/pkg/node (--target nodejs) and
# wasm/js/pkg/web (--target web, ES module for browsers), each with its
# TypeScript declarations generated from the Rust.
#
#   wasm/js/build.sh            # both
#   wasm/js/build.sh node|web   # one
#   wasm/js/build.sh --wasm-bindgen-version   # the wasm-bindgen-cli version it needs
#
# Needs the wasm32-unknown-unknown target and wasm-bindgen-cli at the version
# of the wasm-bindgen crate in Cargo.lock (./test.sh --install puts both in).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
if [ "${1:-}" = "--wasm-bindgen-version" ]; then
  echo "$want"
  exit 0
fi
targets=("${@:-node web}")
read -r -a targets <<<"${targets[*]}"

have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
if [ "$have" != "$want" ]; then
  echo "wasm-bindgen-cli $want is needed (found: ${have:-none}): cargo install wasm-bindgen-cli --version $want" >&2
  exit 2
fi

cargo build -q -p weir-js --target wasm32-unknown-unknown --profile wasm-js
wasm="${CARGO_TARGET_DIR:-$root/target}/wasm32-unknown-unknown/wasm-js/weir_js.wasm"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

for t in "${targets[@]}"; do
  case "$t" in
    node) target=nodejs; strip=(); extra='"main": "weir_js.js",' ;;
    # A browser downloads the .wasm: function names (a quarter of a megabyte,
    # for stack traces only) and the producers note are left out.
    web) target=web; strip=(--remove-name-section --remove-producers-section); extra='"type": "module", "module": "weir_js.js", "sideEffects": ["./snippets/*"],' ;;
    *) echo "usage: build.sh [node|web]..." >&2; exit 2 ;;
  esac
  out="wasm/js/pkg/$t"
  rm -rf "$out"
  wasm-bindgen --target "$target" "${strip[@]}" --out-dir "$out" "$wasm"
  cat >"$out/package.json" <<JSON
{
  "name": "weir-js",
  "version": "$version",
  "description": "Istio traffic management decided in-process: check, apply, decide, explain and simulate",
  "license": "Apache-2.0",
  "repository": "https://github.com/weir-mesh/weir",
  $extra
  "types": "weir_js.d.ts",
  "files": ["weir_js.js", "weir_js.d.ts", "weir_js_bg.wasm", "weir_js_bg.wasm.d.ts", "snippets/"]
}
JSON
  echo "built $out ($(wc -c <"$out/weir_js_bg.wasm") bytes of wasm, $(gzip -9c "$out/weir_js_bg.wasm" | wc -c) gzipped)"
done
