//! Builds the C tests in tests/c with `gcc -Wall -Wextra -Werror` and
//! AddressSanitizer + UBSan against the static libweir.a, and runs them.
//!
//! `cargo test -p weir-ffi` builds the library target (staticlib included)
//! into the same `deps` directory as this test binary, so that is where the
//! archive is looked for: no second cargo invocation, no build-lock waits.

mod support;

use std::path::Path;
use support::{gcc, repo_root, run};

fn c_test(name: &str, args: &[&Path]) {
    let root = repo_root();
    let src = root.join("ffi/tests/c").join(format!("{name}.c"));
    let exe = support::out_dir().join(name);
    gcc(&[&src], &exe, true);
    let mut cmd = std::process::Command::new(&exe);
    cmd.args(args);
    run(cmd, name);
}

#[test]
fn c_basic() {
    let root = repo_root();
    c_test("basic", &[&root.join("examples/configs")]);
}

#[test]
fn c_threads() {
    let root = repo_root();
    c_test("threads", &[&root.join("examples/configs")]);
}

#[test]
fn c_vectors() {
    let root = repo_root();
    c_test(
        "vectors",
        &[
            &root.join("examples/configs"),
            &root.join("ffi/tests/vectors/decisions.txt"),
        ],
    );
}

/// examples/c: `make` with the test's libweir.a, then route requests from stdin.
#[test]
fn c_example_routes_stdin() {
    use std::io::Write;
    let root = repo_root();
    let out = support::out_dir().join("weir-route");
    let _ = std::fs::remove_file(&out);
    let status = std::process::Command::new("make")
        .arg("-C")
        .arg(root.join("examples/c"))
        .arg(format!("WEIR_LIB={}", support::libweir_a().display()))
        .arg(format!("OUT={}", out.display()))
        .arg(out.display().to_string())
        .status()
        .expect("make must be installed");
    assert!(status.success());
    let mut child = std::process::Command::new(&out)
        .arg(root.join("examples/configs/ingress-paths.yaml"))
        .arg("default/gt-gateway")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let requests = std::fs::read(root.join("examples/c/requests.txt")).unwrap();
    child.stdin.take().unwrap().write_all(&requests).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[0].starts_with("route 0 cluster=outbound|8081||member.default.svc.cluster.local"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("route 0 cluster=outbound|8081||member"),
        "{text}"
    );
    assert_eq!(
        lines[2], "redirect 301 path=/assets location=http://shop.example.com/assets",
        "{text}"
    );
    assert!(
        lines[3].contains("cluster=outbound|9000||bk-gateway.default.svc.cluster.local"),
        "{text}"
    );
    assert!(lines[3].contains("timeout_ms=3000"), "{text}");
    assert_eq!(lines[4], "no_route 404", "{text}");
}
