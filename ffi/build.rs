//! Gives the shared library a versioned soname on ELF targets, so programs
//! linked against `libweir.so` record `libweir.so.ABI` (`make install` puts
//! the links in place: libweir.so → libweir.so.ABI → libweir.so.VERSION).
//!
//! ABI is the major version, or `0.MINOR` before 1.0: Cargo's semver rules
//! let a 0.x minor release break compatibility, so 0.1 and 0.2 must not share
//! a soname (cargo-c names 0.x libraries the same way). The root Makefile
//! computes the same name.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let elf = matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly" | "illumos"
    );
    if !elf {
        return;
    }
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap();
    let abi = if major == "0" {
        format!("0.{minor}")
    } else {
        major
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libweir.so.{abi}");
}
