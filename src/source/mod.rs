//! Sources produce a [`Snapshot`](crate::snapshot::Snapshot): manifest files, or the embedded demo.

pub mod cluster;
pub mod decode;
pub mod demo;
pub mod manifest;
mod sink;

pub use sink::Decoded;

use crate::snapshot::{Snapshot, SnapshotBuilder, SourceInfo};
use std::path::PathBuf;

pub use manifest::SourceError;

/// Reads manifest paths into a snapshot.
pub fn from_paths(paths: &[PathBuf]) -> Result<Snapshot, SourceError> {
    read_paths(SnapshotBuilder::new(), paths)
}

/// Reads manifest paths into a snapshot for a report: without the objects' text, which only
/// the YAML view shows.
pub fn from_paths_without_text(paths: &[PathBuf]) -> Result<Snapshot, SourceError> {
    read_paths(SnapshotBuilder::without_text(), paths)
}

fn read_paths(mut b: SnapshotBuilder, paths: &[PathBuf]) -> Result<Snapshot, SourceError> {
    manifest::load_paths(&mut b, paths)?;
    let description = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Ok(b.build(SourceInfo {
        kind: "files".into(),
        description,
    }))
}

/// Parses manifest text (for tests and stdin-like callers).
pub fn from_text(text: &str, label: &str) -> Snapshot {
    let mut b = SnapshotBuilder::new();
    manifest::add_text(&mut b, text, label);
    b.build(SourceInfo {
        kind: "files".into(),
        description: label.into(),
    })
}
