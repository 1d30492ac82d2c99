//! Core benchmarks on synthetic clusters (`lastmile::synth`):
//! posture recompute for S/M/L (and 2×L, to show linear growth), an update of one route or one
//! policy in L, and loading L from YAML (parse + index + posture). Frames and UI updates are in
//! `benches/ui.rs`.
//!
//! `cargo bench --bench posture`; targets are in docs/PERFORMANCE.md.

use lastmile::posture::{self, Options};
use lastmile::snapshot::{Snapshot, SnapshotBuilder, SourceInfo};
use lastmile::synth::{self, Size};
use serde_json::Value;
use std::sync::LazyLock;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

fn now() -> jiff::Timestamp {
    "2026-11-22T00:00:00Z".parse().unwrap()
}

fn size(name: &str) -> Size {
    match name {
        "2L" => Size::L.doubled(),
        other => Size::parse(other).expect("S, M, L or 2L"),
    }
}

fn snapshot_of(objects: &[Value]) -> Snapshot {
    let mut b = SnapshotBuilder::new();
    for o in objects {
        lastmile::source::decode::add_value(&mut b, o.clone(), Default::default());
    }
    b.build(SourceInfo::default())
}

static L_OBJECTS: LazyLock<Vec<Value>> = LazyLock::new(|| synth::generate(Size::L, 1));
static L_SNAPSHOT: LazyLock<Snapshot> = LazyLock::new(|| snapshot_of(&L_OBJECTS));

#[divan::bench(args = ["S", "M", "L", "2L"], sample_count = 10)]
fn posture_recompute(bencher: divan::Bencher, name: &str) {
    let snap = if name == "L" {
        L_SNAPSHOT.clone()
    } else {
        snapshot_of(&synth::generate(size(name), 1))
    };
    bencher.bench(|| posture::evaluate(&snap, now(), &Options::default()));
}

/// Objects of L with one of `kind` changed (a new backendRef port or a new policy hostname).
fn l_with_one_change(kind: &str) -> Vec<Value> {
    let mut objects = L_OBJECTS.clone();
    let o = objects
        .iter_mut()
        .find(|o| o["kind"] == kind)
        .expect("kind present");
    match kind {
        "HTTPRoute" => o["spec"]["rules"][0]["backendRefs"][0]["weight"] = 7.into(),
        _ => o["spec"]["validation"]["hostname"] = "changed.example.com".into(),
    }
    objects
}

/// What the live source does when one object changes: rebuild the snapshot from the stored
/// objects and recompute the posture.
#[divan::bench(args = ["HTTPRoute", "BackendTLSPolicy"], sample_count = 10)]
fn update_one_object_in_l(bencher: divan::Bencher, kind: &str) {
    let objects = l_with_one_change(kind);
    bencher.bench(|| {
        let snap = snapshot_of(&objects);
        posture::evaluate(&snap, now(), &Options::default())
    });
}

#[divan::bench(sample_count = 5)]
fn load_l_from_yaml(bencher: divan::Bencher) {
    let yaml = synth::to_yaml(&L_OBJECTS);
    bencher.bench(|| {
        let snap = lastmile::source::from_text(&yaml, "l.yaml");
        posture::evaluate(&snap, now(), &Options::default())
    });
}
