//! The `weir` binary, run as users run it, on examples/configs.

use std::path::PathBuf;
use std::process::{Command, Output};

fn example_config(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/configs")
        .join(name)
        .display()
        .to_string()
}

fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .output()
        .expect("run weir")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn check_exit_status_and_messages() {
    for bad in [
        "invalid/bad-regex.yaml",
        "invalid/bad-weights.yaml",
        "invalid/malformed.yaml",
        "invalid/unknown-subset.yaml",
    ] {
        let o = weir(&["check", &example_config(bad)]);
        assert_eq!(o.status.code(), Some(1), "{bad}: {}", stdout(&o));
        assert!(stdout(&o).contains("Error ["), "{bad}");
    }
    let o = weir(&["check", &example_config("invalid/bad-regex.yaml")]);
    assert!(
        stdout(&o).contains("(VirtualService default/broken-regex "),
        "{}",
        stdout(&o)
    );
    let o = weir(&["check", &example_config("invalid/shadowed-route.yaml")]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Warning [IST0130]"));
    for good in [
        "fleetman-canary.yaml",
        "fleetman-sticky.yaml",
        "reviews-faults.yaml",
        "ingress-paths.yaml",
        "myapp-ab.yaml",
        "tcp-echo.yaml",
    ] {
        assert_eq!(
            weir(&["check", &example_config(good)]).status.code(),
            Some(0),
            "{good}"
        );
    }
    let o = weir(&["check", "--json", &example_config("invalid/bad-regex.yaml")]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["field"] == "spec.http[0].match[0].uri.regex"
            && d["severity"] == "error"
            && d["resource"]["name"] == "broken-regex"));
}

#[test]
fn explain_json_has_the_decision_fields() {
    let o = weir(&[
        "explain",
        &example_config("reviews-faults.yaml"),
        "--json",
        "--source-namespace",
        "shop",
        "-H",
        "end-user: jason",
        "GET",
        "http://ratings:9080/r?user=ann",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["outcome"], "route");
    assert_eq!(
        v["cluster"],
        "outbound|9080|v1|ratings.shop.svc.cluster.local"
    );
    assert_eq!(v["destination"]["subset"], "v1");
    assert_eq!(v["delay_ms"], 7000);
    assert_eq!(v["route"]["virtual_service"], "shop/ratings");
    assert_eq!(v["retries"]["attempts"], 2);
    assert!(v["endpoint"].as_str().unwrap().starts_with("10.4.0."));
    assert_eq!(v["hash"]["policy"], "query parameter user");
    for key in [
        "status",
        "upstream_path",
        "upstream_authority",
        "location",
        "request_headers",
        "response_headers",
        "timeout_ms",
        "mirrors",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    // The text form explains which rules were skipped and why.
    let o = weir(&[
        "explain",
        &example_config("reviews-faults.yaml"),
        "GET",
        "http://ratings.shop/r",
    ]);
    let text = stdout(&o);
    assert!(
        text.contains("shop/ratings http[0].match[0]: skipped (headers does not match)"),
        "{text}"
    );
    assert!(text.contains("shop/ratings http[1]: matched"), "{text}");
}

#[test]
fn explain_requests_file_gives_one_json_line_per_request() {
    let dir = std::env::temp_dir().join(format!("weir-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("requests.jsonl");
    std::fs::write(
        &file,
        r#"{"method":"GET","url":"http://shop.example.com/static/v1/a.js","entropy":1}
{"method":"GET","url":"http://nope.example.com/","entropy":2}
{"method":"POST","url":"http://shop.example.com/login","headers":{"X-A":"b"}}
"#,
    )
    .unwrap();
    let o = weir(&[
        "explain",
        &example_config("ingress-paths.yaml"),
        "--gateway",
        "default/gt-gateway",
        "--requests",
        file.to_str().unwrap(),
    ]);
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["outcome"], "redirect");
    assert_eq!(lines[0]["status"], 301);
    assert_eq!(lines[0]["location"], "http://shop.example.com/assets");
    assert_eq!(lines[1]["outcome"], "no_route");
    assert_eq!(lines[1]["status"], 404);
    assert_eq!(
        lines[2]["cluster"],
        "outbound|8081||member.default.svc.cluster.local"
    );
}

#[test]
fn simulate_shows_the_90_10_split_and_key_movement() {
    let o = weir(&[
        "simulate",
        &example_config("fleetman-canary.yaml"),
        "-n",
        "20000",
        "GET",
        "http://fleetman-staff-service.default.svc.cluster.local/",
    ]);
    let text = stdout(&o);
    let count = |needle: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {text}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let risky = count("outbound|8080|risky-group|");
    // 10 % of 20 000 = 2 000; sd ≈ 42; bound at 5 sd.
    assert!((1788..=2212).contains(&risky), "risky {risky}");
    assert!(text.contains("decisions/s"));
    let o = weir(&[
        "simulate",
        &example_config("fleetman-sticky.yaml"),
        "-n",
        "2000",
        "-H",
        "x-myval: k",
        "--remove-endpoint",
        "10.1.0.12:8080",
        "GET",
        "http://fleetman-staff-service/",
    ]);
    let text = stdout(&o);
    assert!(text.contains("removing 10.1.0.12:8080"), "{text}");
    let moved_line = text
        .lines()
        .find(|l| l.contains("keys that moved"))
        .unwrap();
    let on_removed: u64 = text
        .lines()
        .find(|l| l.contains("keys that were on"))
        .and_then(|l| l.split(": ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let moved: u64 = moved_line
        .split(": ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // Every key on the removed endpoint moves; others may move too (ring re-scaling).
    assert!(on_removed > 0 && moved >= on_removed, "{text}");
}

#[test]
fn routes_lists_every_listener() {
    let o = weir(&["routes", &example_config("ingress-paths.yaml")]);
    let text = stdout(&o);
    assert!(text.contains("LISTENER default/gt-gateway:80"), "{text}");
    assert!(text.contains("outbound|8081||member.default.svc.cluster.local"));
    assert!(text.contains("redirect 301"));
    assert!(text.contains("LISTENER mesh"));
}

/// `weir ARGS` with `input` on standard input.
fn weir_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run weir");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version_names_the_package_version() {
    let o = weir(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o).trim(),
        format!("weir {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_reads_standard_input_as_kubectl_pipes_it() {
    let canary = std::fs::read_to_string(example_config("fleetman-canary.yaml")).unwrap();
    let o = weir_stdin(&["check", "-"], &canary);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("3 resource(s), 0 error(s)"),
        "{}",
        stdout(&o)
    );

    // kubectl get -o yaml prints a List.
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n{}",
        canary
            .split("\n---\n")
            .map(|doc| {
                let body: Vec<&str> = doc.lines().filter(|l| !l.starts_with('#')).collect();
                format!("- {}\n", body.join("\n  "))
            })
            .collect::<String>()
    );
    let o = weir_stdin(&["check", "-"], &list);
    assert!(
        stdout(&o).contains("3 resource(s), 0 error(s)"),
        "{list}\n{}",
        stdout(&o)
    );

    // Stdin that is not YAML: the error names <stdin> and its line; exit 1 (config).
    let o = weir_stdin(&["check", "-"], "hosts: [web\n  http:\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("Error [WEIR0001] (<stdin>:"),
        "{}",
        stdout(&o)
    );

    // explain and simulate take stdin too.
    let o = weir_stdin(
        &[
            "simulate",
            "-",
            "-n",
            "100",
            "GET",
            "http://fleetman-staff-service.default.svc.cluster.local/",
        ],
        &canary,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("safe-group"), "{}", stdout(&o));
}

#[test]
fn a_directory_argument_reads_every_config_below_it() {
    let dir = std::env::temp_dir().join(format!("weir-cli-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    let canary = std::fs::read_to_string(example_config("fleetman-canary.yaml")).unwrap();
    let docs: Vec<&str> = canary.split("\n---\n").collect();
    std::fs::write(dir.join("vs.yaml"), docs[0]).unwrap();
    std::fs::write(dir.join("nested/dr.yml"), docs[1]).unwrap();
    std::fs::write(dir.join("nested/se.yaml"), docs[2]).unwrap();
    std::fs::write(dir.join("README.txt"), "not a config: [").unwrap();
    let o = weir(&["check", &dir.display().to_string()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("3 resource(s), 0 error(s)"),
        "{}",
        stdout(&o)
    );
    // The bundled examples, as a directory: the invalid ones make it exit 1.
    let o = weir(&["check", &example_config("invalid")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("invalid/malformed.yaml:"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn exit_status_says_usage_or_config_in_one_line() {
    let empty = std::env::temp_dir().join(format!("weir-cli-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let url = "http://fleetman-staff-service.default.svc.cluster.local/";
    let cases: [(&[&str], i32, &str); 6] = [
        (
            &["check", "/no/such.yaml"],
            2,
            "weir: /no/such.yaml: no such file or directory",
        ),
        (
            &["check", &empty.display().to_string()],
            2,
            "no *.yaml, *.yml or *.json files",
        ),
        (&["check"], 2, "no config files given"),
        (
            &["explain", "/no/such.yaml", "GET", url],
            2,
            "/no/such.yaml",
        ),
        (&["frobnicate"], 2, "unrecognized subcommand"),
        (
            &["routes", &example_config("invalid/bad-regex.yaml")],
            1,
            "weir: config rejected",
        ),
    ];
    for (args, code, want) in cases {
        let o = weir(args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{err}"
        );
        if code == 2 && args[0] != "frobnicate" {
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        }
    }
}

#[test]
fn colour_only_on_a_terminal_or_when_asked() {
    let bad = example_config("invalid/bad-regex.yaml");
    // A pipe is not a terminal: plain text, even with a colour-friendly TERM.
    let o = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["check", &bad])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(!stdout(&o).contains('\x1b'), "{}", stdout(&o));
    let o = weir(&["check", "--color", "always", &bad]);
    assert!(
        stdout(&o).contains("\x1b[1;31mError\x1b[0m [IST0106]"),
        "{}",
        stdout(&o)
    );
    let o = weir(&["check", "--color", "never", &bad]);
    assert!(!stdout(&o).contains('\x1b'));
}

#[test]
fn completions_are_generated_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _weir"),
        ("zsh", "#compdef weir"),
        ("fish", "complete -c weir"),
    ] {
        let o = weir(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let script = stdout(&o);
        assert!(script.contains(marker), "{shell}: {script}");
        for sub in ["check", "routes", "explain", "simulate"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
}

#[test]
fn istio_severity_reports_what_istioctl_analyze_would() {
    let config = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: r\n  namespace: ns\nspec:\n  hosts: [r.example.com]\n  http:\n  - route:\n    - destination:\n        host: missing.example.com\n";
    let weir_default = weir_stdin(&["check", "-"], config);
    assert_eq!(
        weir_default.status.code(),
        Some(0),
        "{}",
        stdout(&weir_default)
    );
    assert!(
        stdout(&weir_default).contains("Warning [IST0101]"),
        "{}",
        stdout(&weir_default)
    );
    let istio = weir_stdin(&["check", "--istio-severity", "-"], config);
    assert_eq!(istio.status.code(), Some(1), "{}", stdout(&istio));
    assert!(
        stdout(&istio).contains("Error [IST0101]"),
        "{}",
        stdout(&istio)
    );
}

#[test]
fn check_prints_file_line_and_field_as_istioctl_analyze_does() {
    let bad = example_config("invalid/bad-regex.yaml");
    let text = std::fs::read_to_string(&bad).unwrap();
    let line = text.lines().position(|l| l.contains("regex:")).unwrap() + 1;
    let column = text.lines().nth(line - 1).unwrap().find("regex:").unwrap() + 1;
    let o = weir(&["check", &bad]);
    let want = format!(
        "Error [IST0106] (VirtualService default/broken-regex {bad}:{line} spec.http[0].match[0].uri.regex) "
    );
    assert!(
        stdout(&o).lines().any(|l| l.starts_with(&want)),
        "want a line starting {want:?} in\n{}",
        stdout(&o)
    );
    // Compiler style on request: file:line:column first.
    let o = weir(&["check", "--output", "compact", &bad]);
    let want = format!(
        "error[IST0106] {bad}:{line}:{column} VirtualService default/broken-regex spec.http[0].match[0].uri.regex: "
    );
    assert!(
        stdout(&o).lines().any(|l| l.starts_with(&want)),
        "want a line starting {want:?} in\n{}",
        stdout(&o)
    );
    // JSON carries the same place: file, line, column and path.
    let o = weir(&["check", "--json", &bad]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let d = v
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "IST0106")
        .expect("IST0106");
    assert_eq!(d["file"], bad.as_str());
    assert_eq!(d["line"], line);
    assert_eq!(d["column"], column);
    assert_eq!(d["field"], "spec.http[0].match[0].uri.regex");
}
