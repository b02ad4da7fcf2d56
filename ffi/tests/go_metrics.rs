//! The Go proxy's `/metrics` parsed by Prometheus's own text parser
//! (`github.com/prometheus/common/expfmt`), as a Prometheus server would.
//!
//! The Go module depends on nothing and proxy.golang.org is not reachable,
//! so the parser comes from Debian (`golang-github-prometheus-common-dev`,
//! sources under /usr/share/gocode, which test.sh installs) and the test
//! (go/proxy/expfmt_test.go, build tag `promtext`) runs in GOPATH mode: a
//! GOPATH made here whose `github.com/weir-mesh/weir/go` is the repository's
//! go/, then Debian's. Fails (never skips) when Go or the package is missing.

mod support;

use std::process::Command;
use support::{install_prefix, repo_root, run, use_prefix};

const GOCODE: &str = "/usr/share/gocode";

#[test]
fn prometheus_parses_the_go_proxy_metrics() {
    let expfmt = std::path::Path::new(GOCODE).join("src/github.com/prometheus/common/expfmt");
    assert!(
        expfmt.is_dir(),
        "{} is missing: apt-get install -y golang-github-prometheus-common-dev",
        expfmt.display()
    );
    let prefix = install_prefix("go-metrics");
    let gopath = support::out_dir().join("gopath-metrics");
    let _ = std::fs::remove_dir_all(&gopath);
    let parent = gopath.join("src/github.com/weir-mesh/weir");
    std::fs::create_dir_all(&parent).unwrap();
    std::os::unix::fs::symlink(repo_root().join("go"), parent.join("go")).unwrap();

    let mut test = Command::new("go");
    test.current_dir(parent.join("go"))
        .env("CGO_ENABLED", "1")
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOPATH", format!("{}:{GOCODE}", gopath.display()))
        .env("GOCACHE", support::out_dir().join("gocache-metrics"))
        .args([
            "test",
            "-count=1",
            "-v",
            "-tags",
            "promtext",
            "-run",
            "TestPrometheusParsesTheCanary",
            "./proxy/",
        ]);
    use_prefix(&mut test, &prefix);
    let out = run(test, "go test -tags promtext (GOPATH mode)");
    assert!(
        out.contains("--- PASS: TestPrometheusParsesTheCanary"),
        "the parser test did not run:\n{out}"
    );
}
