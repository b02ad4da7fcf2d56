//! Runs `go vet ./...` and `go test -race ./...` in go/ (the module
//! github.com/weir-mesh/weir/go) as a Go user would: against a libweir
//! installed with `make install` into a fresh prefix and found through
//! `#cgo pkg-config: weir`. Covers the cgo binding, the vectors replayed in
//! Go, the godoc examples, and weir-proxy end to end against real HTTP
//! upstreams. Fails (never skips) when `go` or `pkg-config` is missing.

mod support;

use std::path::Path;
use std::process::Command;
use support::{install_prefix, repo_root, run, use_prefix};

fn go(prefix: &Path) -> Command {
    let root = repo_root();
    // Go's build cache keys cgo packages on pkg-config's output, not on the
    // installed header's contents: a define naming the header's hash makes a
    // changed weir.h rebuild the cgo code.
    let header = std::fs::read(root.join("include/weir.h")).expect("include/weir.h");
    let stamp = header.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut cmd = Command::new("go");
    cmd.current_dir(root.join("go"))
        .env("CGO_ENABLED", "1")
        .env("CGO_CFLAGS", format!("-O2 -g -DWEIR_H_STAMP={stamp:x}"))
        // Standard library only: no module downloads, ever.
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off");
    use_prefix(&mut cmd, prefix);
    cmd
}

fn require_go() {
    match Command::new("go").arg("version").output() {
        Ok(o) if o.status.success() => {}
        _ => panic!("`go` is required for the Go binding tests (apt-get install -y golang-go)"),
    }
}

#[test]
fn go_vet_and_tests_pass_with_race_detector() {
    require_go();
    let prefix = install_prefix("go");

    let mut vet = go(&prefix);
    vet.args(["vet", "./..."]);
    run(vet, "go vet ./...");

    let mut test = go(&prefix);
    test.args(["test", "-race", "-count=1", "-v", "./..."]);
    let out = run(test, "go test -race ./...");
    for pkg in [
        "github.com/weir-mesh/weir/go",
        "github.com/weir-mesh/weir/go/proxy",
        "github.com/weir-mesh/weir/go/cmd/weir-proxy",
    ] {
        assert!(
            out.contains(&format!("ok  \t{pkg}\t")),
            "{pkg} not ok:\n{out}"
        );
    }
    // The godoc examples ran and their Output: comments matched.
    assert!(
        out.contains("--- PASS: Example"),
        "no godoc example ran:\n{out}"
    );
    assert!(!out.contains("--- SKIP"), "a Go test skipped:\n{out}");
}
