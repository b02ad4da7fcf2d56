//! Builds the C tests in tests/c with `gcc -Wall -Wextra -Werror` and
//! AddressSanitizer + UBSan against the static libweir.a, and runs them.
//!
//! examples/c, built against an installed libweir, is tests/install.rs.
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
