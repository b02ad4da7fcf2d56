//! `make install PREFIX=…` (the root Makefile) as a C user runs it, into a
//! fresh prefix: the files and links it lays out, the soname, a filled-in
//! weir.pc; then examples/c built with pkg-config, once linked to
//! libweir.so (the README's command) and once to libweir.a
//! (`pkg-config --static`), and run. `make uninstall` removes it all again.
//!
//! Needs `make`, `cc`, `pkg-config` and `readelf` (binutils); fails, never
//! skips, without them.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::{install_prefix, out_dir, repo_root, run, use_prefix};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The soname ffi/build.rs and the Makefile give: `libweir.so.MAJOR`, or
/// `libweir.so.0.MINOR` before 1.0.
fn soname() -> String {
    let mut parts = VERSION.split('.');
    let (major, minor) = (parts.next().unwrap(), parts.next().unwrap());
    if major == "0" {
        format!("libweir.so.0.{minor}")
    } else {
        format!("libweir.so.{major}")
    }
}

fn pkg_config(prefix: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("pkg-config");
    cmd.args(args).arg("weir");
    use_prefix(&mut cmd, prefix);
    run(cmd, "pkg-config").trim().to_string()
}

/// The dynamic section of an ELF file, as readelf prints it.
fn dynamic_section(file: &Path) -> String {
    let mut cmd = Command::new("readelf");
    cmd.arg("-d").arg(file);
    run(cmd, "readelf -d")
}

#[test]
fn install_lays_out_libraries_links_header_and_pc() {
    let prefix = install_prefix("layout");
    let lib = prefix.join("lib");
    let real = format!("libweir.so.{VERSION}");

    assert!(lib.join("libweir.a").is_file());
    assert!(lib.join(&real).is_file());
    assert_eq!(
        std::fs::read_link(lib.join(soname())).unwrap(),
        PathBuf::from(&real)
    );
    assert_eq!(
        std::fs::read_link(lib.join("libweir.so")).unwrap(),
        PathBuf::from(soname())
    );
    assert!(
        dynamic_section(&lib.join(&real)).contains(&format!("Library soname: [{}]", soname())),
        "no versioned soname in {real}"
    );
    assert_eq!(
        std::fs::read(prefix.join("include/weir.h")).unwrap(),
        std::fs::read(repo_root().join("include/weir.h")).unwrap(),
        "the installed header is include/weir.h"
    );

    let pc = std::fs::read_to_string(lib.join("pkgconfig/weir.pc")).unwrap();
    assert!(!pc.contains('@'), "unfilled placeholder in weir.pc:\n{pc}");
    assert_eq!(pkg_config(&prefix, &["--modversion"]), VERSION);
    assert_eq!(
        pkg_config(&prefix, &["--cflags"]),
        format!("-I{}", prefix.join("include").display())
    );
    assert_eq!(
        pkg_config(&prefix, &["--libs"]),
        format!("-L{} -lweir", lib.display())
    );
    let static_libs = pkg_config(&prefix, &["--static", "--libs"]);
    for l in ["-lweir", "-lpthread", "-ldl", "-lm"] {
        assert!(
            static_libs.split(' ').any(|f| f == l),
            "{l} missing: {static_libs}"
        );
    }
}

/// Routes examples/c/requests.txt with `exe`, returning its output lines.
fn route_requests(exe: &Path, prefix: &Path) -> Vec<String> {
    run_example(
        exe,
        prefix,
        "ingress-paths.yaml",
        "default/gt-gateway",
        "requests.txt",
    )
}

/// Runs examples/c's `exe` on one of examples/configs with a gateway and
/// an input file of examples/c, returning its output lines.
fn run_example(exe: &Path, prefix: &Path, config: &str, gateway: &str, input: &str) -> Vec<String> {
    use std::io::Write;
    let root = repo_root();
    let mut cmd = Command::new(exe);
    cmd.arg(root.join("examples/configs").join(config))
        .arg(gateway)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    use_prefix(&mut cmd, prefix);
    let mut child = cmd.spawn().unwrap();
    let requests = std::fs::read(root.join("examples/c").join(input)).unwrap();
    child.stdin.take().unwrap().write_all(&requests).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{} failed", exe.display());
    let text = String::from_utf8(output.stdout).unwrap();
    text.lines().map(str::to_string).collect()
}

#[test]
fn example_builds_with_pkg_config_against_the_prefix_and_routes() {
    let prefix = install_prefix("example");
    let root = repo_root();
    let shared = out_dir().join("weir-route-pkg");
    let static_ = out_dir().join("weir-route-pkg-static");
    for exe in [&shared, &static_] {
        let _ = std::fs::remove_file(exe);
    }

    // The README's line, through a shell as a user types it.
    let mut cc = Command::new("sh");
    cc.arg("-c")
        .arg("cc examples/c/route.c $(pkg-config --cflags --libs weir) -o \"$1\"")
        .arg("sh")
        .arg(&shared)
        .current_dir(&root);
    use_prefix(&mut cc, &prefix);
    run(cc, "cc $(pkg-config --cflags --libs weir)");
    assert!(
        dynamic_section(&shared).contains(&format!("Shared library: [{}]", soname())),
        "weir-route does not load libweir by its soname"
    );

    // examples/c's Makefile, static: libweir.a plus Libs.private.
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(root.join("examples/c"))
        .arg("--no-print-directory")
        .arg(format!("OUT_STATIC={}", static_.display()))
        .arg(static_.display().to_string());
    use_prefix(&mut make, &prefix);
    run(make, "make weir-route-static");
    assert!(
        !dynamic_section(&static_).contains("libweir"),
        "the static build still loads libweir.so"
    );

    let lines = route_requests(&shared, &prefix);
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(
        lines[0].starts_with("route 0 cluster=outbound|8081||member.default.svc.cluster.local"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("route 0 cluster=outbound|8081||member"),
        "{lines:?}"
    );
    assert_eq!(
        lines[2],
        "redirect 301 path=/assets location=http://shop.example.com/assets"
    );
    assert!(
        lines[3].contains("cluster=outbound|9000||bk-gateway.default.svc.cluster.local"),
        "{lines:?}"
    );
    assert!(lines[3].contains("timeout_ms=3000"), "{lines:?}");
    assert_eq!(lines[4], "no_route 404");
    assert_eq!(
        route_requests(&static_, &prefix),
        lines,
        "static and shared differ"
    );
    // The TCP call: the gateway's port 31400 to the echo service, another closed.
    let tcp = run_example(
        &shared,
        &prefix,
        "tcp-echo.yaml",
        "istioinaction/echo-tcp-gateway",
        "tcp-connections.txt",
    );
    assert_eq!(tcp.len(), 2, "{tcp:?}");
    assert!(
        tcp[0].starts_with("route cluster=outbound|2701||tcp-echo.istioinaction.svc.cluster.local endpoint=10.5.0."),
        "{tcp:?}"
    );
    assert_eq!(tcp[1], "no_route");
}

#[test]
fn uninstall_removes_what_install_put() {
    let prefix = install_prefix("uninstall");
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(repo_root())
        .arg("--no-print-directory")
        .arg("uninstall")
        .arg(format!("PREFIX={}", prefix.display()));
    run(cmd, "make uninstall");
    let mut left = Vec::new();
    let mut dirs = vec![prefix.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                dirs.push(path);
            } else {
                left.push(path);
            }
        }
    }
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn relative_prefix_is_refused_with_a_message() {
    let out = Command::new("make")
        .arg("-C")
        .arg(repo_root())
        .arg("--no-print-directory")
        .arg("install")
        .arg("PREFIX=relative/dir")
        .arg("LIBWEIR_DIR=/nonexistent")
        .output()
        .expect("make must be installed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("PREFIX must be an absolute path, got 'relative/dir'"),
        "{stderr}"
    );
    assert!(!repo_root().join("relative").exists());
}
