//! The loader's fast YAML reader against serde_yaml_ng on the generated
//! meshes, cluster dumps and route tables the benchmarks load: it must take
//! them (or the benchmarks measure the slow path) and read them the same.

use weir_benches::cluster::{cluster_dump, mesh_config, service_update};
use weir_benches::{route_table_yaml, UriKind};
use weir_core::fuzzing::yaml_both_ways;

fn check(name: &str, text: &str) {
    let (fast, reference) = yaml_both_ways(text);
    let fast = fast.unwrap_or_else(|| panic!("{name}: the fast reader fell back"));
    let reference = reference.unwrap_or_else(|e| panic!("{name}: serde_yaml_ng: {e}"));
    assert_eq!(fast.len(), reference.len(), "{name}: document count");
    for (i, (a, b)) in fast.iter().zip(&reference).enumerate() {
        assert_eq!(a, b, "{name}: document {i}");
    }
}

#[test]
fn generated_configs_read_the_same_both_ways() {
    check("mesh 200", &mesh_config(200));
    check("cluster dump 50x10", &cluster_dump(50, 10));
    check("service update", &service_update(3, 10, 2));
    check("prefix routes", &route_table_yaml(200, UriKind::Prefix));
    check("regex routes", &route_table_yaml(200, UriKind::Regex));
}

/// The loaded config (resources, fingerprints, diagnostics) is the same
/// from the fast reader's nodes as from serde_yaml_ng's values (a tab in a
/// leading comment sends the stream to serde_yaml_ng).
#[test]
fn generated_configs_load_the_same_both_ways() {
    use weir_benches::cluster::mesh_config_with_errors;
    use weir_core::config::Loaded;
    for (name, text) in [
        ("mesh 200", mesh_config(200)),
        ("mesh 200 with errors", mesh_config_with_errors(200)),
        ("cluster dump 50x10", cluster_dump(50, 10)),
    ] {
        let fast = Loaded::from_source("g.yaml", &text);
        let values = Loaded::from_source("g.yaml", &format!("# a\ttab\n{text}"));
        assert_eq!(format!("{fast:?}"), format!("{values:?}"), "{name}");
        if name.contains("errors") {
            assert!(
                fast.diagnostics.len() >= 200,
                "{name}: {}",
                fast.diagnostics.len()
            );
        }
    }
}
