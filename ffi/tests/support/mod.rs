//! Shared by the tests that build and run C and Go code against libweir.a.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (the workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The static library cargo built for this test run: it sits in the same
/// `deps` directory as the test binary (the library target is built with all
/// its crate types, staticlib included).
pub fn libweir_a() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for dir in [deps.to_path_buf(), deps.parent().unwrap().to_path_buf()] {
        let a = dir.join("libweir.a");
        if a.exists() {
            return a;
        }
    }
    panic!(
        "libweir.a not found next to {} (run through `cargo test -p weir-ffi`)",
        exe.display()
    );
}

/// A scratch directory for build products, under the target directory.
pub fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("weir-ffi");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The flags that link libweir.a into a C program.
pub fn link_flags() -> Vec<String> {
    vec![
        libweir_a().display().to_string(),
        "-lpthread".into(),
        "-ldl".into(),
        "-lm".into(),
    ]
}

/// Compiles `srcs` into `exe` with warnings as errors (and sanitizers).
pub fn gcc(srcs: &[&Path], exe: &Path, sanitize: bool) {
    let mut cmd = Command::new("gcc");
    cmd.args(["-std=c11", "-g", "-O1", "-Wall", "-Wextra", "-Werror"]);
    if sanitize {
        cmd.args([
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=undefined",
        ]);
    }
    cmd.arg("-I").arg(repo_root().join("include"));
    cmd.args(srcs);
    cmd.arg("-o").arg(exe);
    cmd.args(link_flags());
    let out = cmd
        .output()
        .expect("gcc must be installed (apt-get install gcc)");
    assert!(
        out.status.success(),
        "gcc failed for {}:\n{}",
        exe.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cmd`, failing the test with its output when it fails.
pub fn run(mut cmd: Command, what: &str) -> String {
    // Rust's runtime keeps some process-lifetime allocations (thread-locals of
    // the main thread, the live-handle set): not leaks of the caller's.
    cmd.env(
        "ASAN_OPTIONS",
        "detect_leaks=1:abort_on_error=0:halt_on_error=1",
    );
    cmd.env(
        "LSAN_OPTIONS",
        format!(
            "suppressions={}",
            repo_root().join("ffi/tests/c/lsan.supp").display()
        ),
    );
    cmd.env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    eprint!("{stdout}");
    stdout
}

/// Installs what this test run built (libweir.a, libweir.so, weir.h, weir.pc)
/// into a fresh prefix under the target directory with the root Makefile's
/// `make install`, as a user would, and returns the prefix. `LIBWEIR_DIR`
/// points make at this run's libraries: a second cargo build from inside
/// `cargo test` would wait on the build lock.
pub fn install_prefix(tag: &str) -> PathBuf {
    let prefix = out_dir().join(format!("prefix-{tag}"));
    let _ = std::fs::remove_dir_all(&prefix);
    let lib_dir = libweir_a().parent().unwrap().to_path_buf();
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(repo_root())
        .arg("--no-print-directory")
        .arg("install")
        .arg(format!("LIBWEIR_DIR={}", lib_dir.display()))
        .arg(format!("PREFIX={}", prefix.display()));
    run(cmd, "make install");
    prefix
}

/// `cmd` set to find the libweir installed under `prefix`, as the docs tell
/// users to: pkg-config reads its weir.pc, the loader its libweir.so.
pub fn use_prefix(cmd: &mut Command, prefix: &Path) {
    cmd.env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .env("LD_LIBRARY_PATH", prefix.join("lib"));
}
