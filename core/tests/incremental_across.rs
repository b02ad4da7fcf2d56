//! Incremental apply (issue 20, item 3) with diagnostics across resources,
//! `exportTo` views and endpoint overrides in play: every step compared with
//! a fresh engine's whole apply after the same overrides (outcome, every
//! diagnostic, table dump with every mesh view, decisions from clients in
//! several namespaces), and the plain edits among them shown to take the
//! fast path.

mod incremental;

use incremental::*;
use weir_core::compile::EndpointSpec;
use weir_core::config::Loaded;
use weir_core::Engine;

/// A seeded random series of VS edits mixed with changes that make and
/// clear diagnostics across resources (IST0109 host conflicts, IST0140,
/// missing subsets, missing gateways), `exportTo` views, a namespace's own
/// VirtualService and endpoint overrides, each compared with a whole
/// apply (after the same overrides). The plain edits made while those are
/// in force must still go the fast way.
#[test]
fn cross_resource_changes_match_a_whole_apply() {
    let mut state: u64 = 0xc0ff_ee00_5eed_0002;
    let mut next_random = move |n: u64| {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n) as usize
    };
    let engine = Engine::new();
    let mut mesh = Mesh::new();
    let mut overrides: Overrides = Vec::new();
    engine
        .apply(Loaded::from_source("mesh.yaml", &mesh.text()))
        .expect("base config");
    // Fast steps: all, with views, with overrides, with IST0109/IST0140 in force.
    let (mut fast, mut with_views, mut with_overrides, mut with_across) = (0, 0, 0, 0);
    let mut with_scoped_clusters = 0;
    for round in 0..150 {
        let what = format!("round {round}");
        let mut next = mesh.clone();
        let i = next_random(COUNT as u64);
        let s = &mut next.services[i];
        match next_random(13) {
            0..=2 => {
                let w = next_random(101) as u32;
                s.weights = (w, 100 - w);
            }
            3 => s.prefix_subset = ["v1", "v2", "v3"][next_random(3)].into(),
            4 => s.alias = [None, Some((i + 1) % COUNT)][next_random(2)],
            5 => s.export_to = ["", "'.'", "team", "other", "'*'"][next_random(5)],
            6 => s.gateways = ["", "mesh", "mesh, edge", "mesh, nope"][next_random(4)],
            7 => s.short_split = !s.short_split,
            8 => next.edge_without_subset = !next.edge_without_subset,
            9 => next.private_override = !next.private_override,
            12 => next.other_rule = !next.other_rule,
            10 => {
                s.extra = [
                    "",
                    "    mirror: {host: late.example.com}\n",
                    "    timeout: 5s\n",
                ][next_random(3)]
                .into()
            }
            _ => {
                let host = ["svc-2.team.svc.cluster.local", "late.example.com"][next_random(2)];
                let endpoints = (0..1 + next_random(3))
                    .map(|e| EndpointSpec {
                        address: format!("10.7.{round}.{e}"),
                        labels: [("version".to_string(), format!("v{}", 1 + e % 2))].into(),
                        ..EndpointSpec::default()
                    })
                    .collect();
                overrides.push((host.to_string(), endpoints));
                let (host, endpoints) = overrides.last().expect("pushed");
                engine.set_endpoints(host, endpoints).expect("endpoints");
                let (fresh, got) = fresh(&mesh.text(), &overrides);
                assert!(got.0, "{what}: the mesh in force is rejected");
                same_tables(&engine, &fresh, &what);
                continue;
            }
        }
        let views = engine.table().mesh_views().len() > 1;
        let scoped = {
            let table = engine.table();
            let mut names: Vec<&str> = table.clusters().iter().map(|c| &*c.name).collect();
            let all = names.len();
            names.sort_unstable();
            names.dedup();
            names.len() < all
        };
        let text = next.text();
        if step(&engine, &next, &overrides, &what) {
            fast += 1;
            with_views += usize::from(views);
            with_overrides += usize::from(!overrides.is_empty());
            with_scoped_clusters += usize::from(scoped);
            let (_, (_, diagnostics)) = fresh(&text, &overrides);
            with_across += usize::from(
                diagnostics
                    .iter()
                    .any(|d| d.contains("IST0109") || d.contains("IST0140")),
            );
        }
        if accepted(&next, &overrides) {
            mesh = next;
        }
    }
    eprintln!("fast {fast}, with views {with_views}, with overrides {with_overrides}, with IST0109/IST0140 {with_across}, with scoped clusters {with_scoped_clusters}");
    // The series is fixed by its seed.
    assert!(fast >= 20, "only {fast} incremental applies");
    assert!(with_views >= 5, "only {with_views} with exportTo views");
    assert!(
        with_overrides >= 5,
        "only {with_overrides} after set_endpoints"
    );
    assert!(with_across >= 5, "only {with_across} with IST0109/IST0140");
    assert!(
        with_scoped_clusters >= 5,
        "only {with_scoped_clusters} with scoped clusters"
    );
}

/// IST0140 made and cleared by fast steps: the gateway's route to svc-0
/// names no subset, and svc-0's split names its host as written in its
/// hosts (an IST0140) or short (none); the clusters stay the same.
#[test]
fn ingress_subset_warnings_follow_fast_steps() {
    let engine = Engine::new();
    let mut mesh = Mesh::new();
    mesh.edge_without_subset = true;
    let none = Vec::new();
    let ist0140 = |mesh: &Mesh| {
        let (_, (ok, diagnostics)) = fresh(&mesh.text(), &none);
        assert!(ok);
        diagnostics.iter().filter(|d| d.contains("IST0140")).count()
    };
    engine
        .apply(Loaded::from_source("mesh.yaml", &mesh.text()))
        .expect("base config");
    assert_eq!(ist0140(&mesh), 1);
    for (round, short) in [true, false, true].into_iter().enumerate() {
        mesh.services[0].short_split = short;
        let what = format!("svc-0 split short: {short}");
        assert!(step(&engine, &mesh, &none, &what), "{what}: not fast");
        assert_eq!(ist0140(&mesh), usize::from(!short), "round {round}");
    }
}
