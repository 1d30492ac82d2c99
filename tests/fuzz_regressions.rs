//! Replays fuzzing inputs through the fuzz targets' own bodies (`tests/support/fuzz_harness.rs`)
//! on stable Rust: every crash input found so far (`tests/fuzz_corpus/<target>/`, one file per
//! crash, named after what it broke) and the kept seed corpus (`fuzz/corpus/<target>/`).

#[path = "support/objgen.rs"]
mod objgen;

#[path = "support/fuzz_harness.rs"]
mod fuzz_harness;

use std::path::Path;

fn replay(dir: &Path, target: &str, run: fn(&[u8])) -> usize {
    let Ok(entries) = std::fs::read_dir(dir.join(target)) else {
        return 0;
    };
    let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", f.display());
    }
    files.len()
}

#[test]
fn crash_inputs_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus");
    let mut n = 0;
    for (target, run) in fuzz_harness::TARGETS {
        n += replay(&dir, target, *run);
    }
    assert!(n > 0, "no regression inputs under {}", dir.display());
}

#[test]
fn kept_corpus_runs_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (target, run) in fuzz_harness::TARGETS {
        replay(&dir, target, *run);
    }
}

#[test]
fn a_named_object_with_broken_metadata_is_named_in_its_error() {
    // Found by the structure-aware generator: `metadata.generation` of the wrong type made the
    // error say `GRPCRoute/(unnamed)` although the object has a name.
    let text = "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata:\n  \
                name: web\n  namespace: other\n  generation: {x: web}\n";
    let snap = lastmile::source::from_text(text, "r.yaml");
    assert_eq!(snap.errors.len(), 1, "{:?}", snap.errors);
    assert_eq!(snap.errors[0].object, "GRPCRoute/other/web");
    assert!(snap.errors[0].message.starts_with("metadata: "));
}
