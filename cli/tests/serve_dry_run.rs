//! `weir serve --dry-run NODE.json`: what one Envoy of the fleet would be
//! sent, trimmed as `weir serve` trims it, without serving anything.

use std::path::PathBuf;
use std::process::Command;

fn fleet(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/envoy/fleet")
        .join(path)
        .display()
        .to_string()
}

/// The dry run's text for the node described by `nodes/NODE.json`.
fn dry_run(node: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", &fleet("config"), "--dry-run"])
        .arg(fleet(&format!("nodes/{node}.json")))
        .output()
        .expect("run weir serve --dry-run");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The `resources (N):` list of a dry run.
fn resources(text: &str) -> Vec<&str> {
    text.lines()
        .skip_while(|l| !l.starts_with("resources ("))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect()
}

#[test]
fn a_gateway_is_sent_its_gateway_and_what_it_routes_to() {
    let text = dry_run("ingress");
    assert!(
        text.contains(": gateway in namespace istio-system"),
        "{text}"
    );
    assert!(text.contains("gateways: istio-system/public"), "{text}");
    let mut kept = resources(&text);
    kept.sort_unstable();
    assert_eq!(
        kept,
        [
            "DestinationRule shop/web",
            "Gateway istio-system/public",
            "ServiceEntry shop/web",
            "VirtualService istio-system/shop-public",
        ],
        "{text}"
    );
    assert!(
        text.contains("\"gateway\": \"istio-system/public\""),
        "{text}"
    );
}

#[test]
fn a_sidecar_is_sent_the_mesh_config_without_gateway_only_resources() {
    let text = dry_run("sidecar-a");
    assert!(text.contains(": sidecar in namespace shop"), "{text}");
    let kept = resources(&text);
    assert!(kept.contains(&"VirtualService shop/web"), "{text}");
    assert!(kept.contains(&"DestinationRule shop/web"), "{text}");
    // The gateway and the VirtualService bound only to it stay on the server.
    assert!(!kept.iter().any(|k| k.starts_with("Gateway ")), "{text}");
    assert!(
        !kept.contains(&"VirtualService istio-system/shop-public"),
        "{text}"
    );
    assert!(text.contains("\"source_namespace\": \"shop\""), "{text}");
}

#[test]
fn a_node_file_that_is_not_json_is_a_one_line_error() {
    let dir = std::env::temp_dir().join(format!("weir-dry-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let node = dir.join("node.json");
    std::fs::write(&node, "not json").expect("write node");
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", &fleet("config"), "--dry-run"])
        .arg(&node)
        .output()
        .expect("run weir serve --dry-run");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("node.json"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
