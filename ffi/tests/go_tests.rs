//! Runs `go test -race ./...` in examples/go against this run's libweir.a:
//! the cgo binding, the vectors replayed in Go, and weir-proxy end to end
//! against real HTTP upstreams. Fails (never skips) when `go` is missing.

mod support;

use std::process::Command;
use support::{libweir_a, repo_root, run};

fn go() -> Command {
    let root = repo_root();
    // Go's build cache does not track headers outside the package: a define
    // naming the header's contents makes a changed weir.h rebuild the cgo code.
    let header = std::fs::read(root.join("include/weir.h")).expect("include/weir.h");
    let stamp = header.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut cmd = Command::new("go");
    cmd.current_dir(root.join("examples/go"))
        .env("CGO_ENABLED", "1")
        .env(
            "CGO_CFLAGS",
            format!(
                "-I{} -DWEIR_H_STAMP={stamp:x}",
                root.join("include").display()
            ),
        )
        .env(
            "CGO_LDFLAGS",
            format!("{} -lpthread -ldl -lm", libweir_a().display()),
        )
        // Standard library only: no module downloads, ever.
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off");
    cmd
}

#[test]
fn go_tests_pass_with_race_detector() {
    match Command::new("go").arg("version").output() {
        Ok(o) if o.status.success() => {}
        _ => panic!("`go` is required for the Go binding tests (apt-get install -y golang-go)"),
    }
    let mut cmd = go();
    cmd.args(["test", "-race", "-count=1", "./..."]);
    let out = run(cmd, "go test -race ./...");
    assert!(out.contains("ok  \texample.com/weir\t"), "{out}");
    assert!(out.contains("ok  \texample.com/weir/proxy\t"), "{out}");
}
