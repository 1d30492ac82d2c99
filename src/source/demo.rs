//! The embedded demo cluster (`--demo`): the manifests under `assets/demo/`, compiled in.

use super::manifest::add_text;
use crate::snapshot::{Snapshot, SnapshotBuilder, SourceInfo};

include!(concat!(env!("OUT_DIR"), "/demo_files.rs"));

/// The demo manifests as `(file name, text)`.
pub fn files() -> &'static [(&'static str, &'static str)] {
    DEMO_FILES
}

/// Builds the demo snapshot.
pub fn snapshot() -> Snapshot {
    let mut b = SnapshotBuilder::new();
    for (name, text) in DEMO_FILES {
        add_text(&mut b, text, &format!("demo/{name}"));
    }
    b.build(SourceInfo {
        kind: "demo".into(),
        description: "embedded demo cluster".into(),
    })
}
