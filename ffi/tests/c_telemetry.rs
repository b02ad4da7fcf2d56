//! Builds ffi/tests/c/telemetry.c (gcc -Wall -Wextra -Werror, ASan + UBSan)
//! against the static libweir.a and runs it: metrics, request ids and the
//! rate limiter through the C ABI.

mod support;

use support::{gcc, repo_root, run};

#[test]
fn c_telemetry() {
    let root = repo_root();
    let src = root.join("ffi/tests/c/telemetry.c");
    let exe = support::out_dir().join("telemetry");
    gcc(&[&src], &exe, true);
    let mut cmd = std::process::Command::new(&exe);
    cmd.arg(root.join("examples/configs"));
    let out = run(cmd, "telemetry");
    assert!(out.contains("telemetry: ok"), "{out}");
}

/// ffi/tests/c/access_log.c: the access-log callback, its lines and the
/// Telemetry policy it follows.
#[test]
fn c_access_log() {
    let root = repo_root();
    let src = root.join("ffi/tests/c/access_log.c");
    let exe = support::out_dir().join("access_log");
    gcc(&[&src], &exe, true);
    let out = run(std::process::Command::new(&exe), "access_log");
    assert!(out.contains("access_log: ok"), "{out}");
}
