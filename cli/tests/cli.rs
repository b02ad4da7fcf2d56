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
        assert!(stdout(&o).contains("error["), "{bad}");
    }
    let o = weir(&["check", &example_config("invalid/bad-regex.yaml")]);
    assert!(
        stdout(&o).contains("VirtualService default/broken-regex spec.http[0].match[0].uri.regex"),
        "{}",
        stdout(&o)
    );
    let o = weir(&["check", &example_config("invalid/shadowed-route.yaml")]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("warning[IST0130]"));
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
