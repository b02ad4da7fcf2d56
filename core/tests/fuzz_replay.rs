//! Replays the fuzz seeds and every committed crash input (fuzz/seeds,
//! fuzz/crashes) through the fuzzed pipeline: none may panic.

use std::path::PathBuf;

#[test]
fn fuzz_inputs_replay_without_panic() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for dir in ["seeds", "crashes"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).expect("read fuzz input");
            weir_core::fuzzing::pipeline(&data);
            replayed += 1;
        }
    }
    assert!(replayed >= 10, "only {replayed} fuzz inputs found");
}
