//! Incremental apply (issue 20, item 3): a config that differs from the one
//! in force in a few VirtualServices is applied by recompiling only what
//! they reach. Proven equivalent to a whole apply: for every step of a
//! table of changes and of a seeded random series, an engine that applied
//! the previous config and then this one (incrementally where it can)
//! agrees with a fresh engine applying this one from scratch on the
//! outcome, every diagnostic, the route table dump and the decisions for a
//! set of requests; a rejected change leaves the previous table serving.
//! Whether the step took the incremental path is asserted too (its table
//! shares the clusters of the table before), so the cases that should be
//! fast are.

mod incremental;

use incremental::*;
use weir_core::config::Loaded;
use weir_core::Engine;

/// A table of changes, each applied on top of the previous row's config;
/// `incremental` says which path the row must take.
#[test]
fn incremental_apply_matches_a_whole_apply() {
    type Edit = fn(&mut Mesh);
    let rows: &[(&str, Edit, bool)] = &[
        ("identical config", |_| {}, true),
        (
            "VS weights edited",
            |m| m.services[1].weights = (50, 50),
            true,
        ),
        (
            "VS prefix edited",
            |m| m.services[2].prefix = "/beta".into(),
            true,
        ),
        (
            "VS gains a fault and header edits",
            |m| {
                m.services[3].extra = "    fault: {delay: {fixedDelay: 2s, percentage: {value: 100}}}\n    headers: {request: {set: {x-canary: 'yes'}}}\n".into()
            },
            true,
        ),
        (
            "two VSs edited at once",
            |m| {
                m.services[0].weights = (1, 99);
                m.services[4].prefix = "/api".into();
            },
            true,
        ),
        (
            "VS weights that do not sum to 100 (a warning)",
            |m| m.services[5].weights = (60, 30),
            true,
        ),
        (
            "VS edit that shadows its split (a warning; its subset clusters would go)",
            |m| m.services[5].prefix = "/".into(),
            false,
        ),
        (
            "VS names a subset nothing defines (rejected)",
            |m| m.services[1].prefix_subset = "v3".into(),
            false,
        ),
        (
            "back to a valid subset",
            |m| m.services[1].prefix_subset = "v1".into(),
            true,
        ),
        (
            "VS names a port the service lacks (rejected)",
            |m| m.services[2].port = Some(8080),
            false,
        ),
        (
            "VS stops naming subset v2 (its cluster would go)",
            |m| {
                m.services[4].prefix_subset = "v1".into();
                m.services[4].weights = (100, 0);
            },
            true,
        ),
        (
            "DR subset labels edited",
            |m| m.services[0].v2_label = "v2b".into(),
            false,
        ),
        (
            "SE endpoints changed",
            |m| m.services[3].endpoints = 6,
            false,
        ),
        ("a resource added", |m| m.extra_service = true, false),
        ("a resource removed", |m| m.extra_service = false, false),
        (
            "VS with an invalid regex (rejected)",
            |m| m.services[5].prefix = "x}\n    - uri: {regex: '('}".into(),
            false,
        ),
        (
            "VS unshadows its split (needs clusters the table lacks)",
            |m| m.services[5].prefix = "/api/v2".into(),
            false,
        ),
        (
            "VS weights edited again",
            |m| m.services[5].weights = (10, 90),
            true,
        ),
        (
            "VS exported to its namespace only (a view of its own)",
            |m| m.services[2].export_to = "'.'",
            false,
        ),
        (
            "that VS edited (its view rebuilt)",
            |m| m.services[2].weights = (30, 70),
            true,
        ),
        (
            "another VS edited beside the view",
            |m| m.services[3].weights = (40, 60),
            true,
        ),
    ];
    let engine = Engine::new();
    let mut mesh = Mesh::new();
    engine
        .apply(Loaded::from_source("mesh.yaml", &mesh.text()))
        .expect("base config");
    for (what, edit, incremental) in rows {
        let mut next = mesh.clone();
        edit(&mut next);
        let shared = step(&engine, &next, &Vec::new(), what);
        assert_eq!(shared, *incremental, "{what}: incremental path taken");
        if accepted(&next, &Vec::new()) {
            mesh = next;
        }
    }
}

/// A seeded random series of VS edits (and a few of other kinds), each
/// compared with a whole apply.
#[test]
fn random_changes_match_a_whole_apply() {
    let mut state: u64 = 0x5eed_1234_abcd_0001;
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
    engine
        .apply(Loaded::from_source("mesh.yaml", &mesh.text()))
        .expect("base config");
    let mut incremental = 0;
    for round in 0..60 {
        let mut next = mesh.clone();
        let i = next_random(COUNT as u64);
        let s = &mut next.services[i];
        match next_random(8) {
            0 | 1 => {
                let w = next_random(101) as u32;
                s.weights = (w, 100 - w);
            }
            2 => s.prefix = ["/api/v2", "/beta", "/", "/api"][next_random(4)].into(),
            3 => s.prefix_subset = ["v1", "v2", "v3"][next_random(3)].into(),
            4 => {
                s.extra = [
                    "",
                    "    timeout: 5s\n",
                    "    retries: {attempts: 2, perTryTimeout: 1s}\n",
                    "    mirror: {host: svc-0.team.svc.cluster.local, subset: v1}\n",
                ][next_random(4)]
                .into()
            }
            5 => s.endpoints = 2 + next_random(4) as u8,
            6 => s.v2_label = ["v2", "v2b"][next_random(2)].into(),
            _ => next.extra_service = !next.extra_service,
        }
        let what = format!("round {round}");
        if step(&engine, &next, &Vec::new(), &what) {
            incremental += 1;
        }
        if accepted(&next, &Vec::new()) {
            mesh = next;
        }
    }
    // The series is fixed by its seed: most of its VS edits go the fast way.
    assert!(incremental >= 15, "only {incremental} incremental applies");
}
