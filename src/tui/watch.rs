//! `--watch`: re-reads manifest files when they change (polling modification times, which works
//! on every filesystem and for editors that replace files) and sends the new snapshot.

use super::app::Msg;
use crate::source;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc::UnboundedSender;

/// Modification times of every file under `paths` (directories recursively).
fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out);
    }
    out.sort();
    out
}

fn walk(p: &Path, out: &mut Vec<(PathBuf, Option<SystemTime>, u64)>) {
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    walk(&e.path(), out);
                }
            }
        }
        Ok(m) => out.push((p.to_path_buf(), m.modified().ok(), m.len())),
        Err(_) => out.push((p.to_path_buf(), None, 0)),
    }
}

/// Polls `paths` every `interval`; on a change, re-reads them and sends the result, evaluated
/// with `options` and its rows ordered for the UI's `query` (off the UI task).
pub async fn watch_files(
    paths: Vec<PathBuf>,
    interval: Duration,
    tx: UnboundedSender<Msg>,
    options: crate::posture::Options,
    query: tokio::sync::watch::Receiver<super::rows::RowQuery>,
) {
    let mut last = fingerprint(&paths);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let paths2 = paths.clone();
        let Ok(now) = tokio::task::spawn_blocking(move || fingerprint(&paths2)).await else {
            return;
        };
        if now == last {
            continue;
        }
        last = now;
        tracing::info!("source files changed; re-reading");
        let paths2 = paths.clone();
        let result = tokio::task::spawn_blocking(move || source::from_paths(&paths2)).await;
        let msg = match result {
            Ok(Ok(snapshot)) => {
                super::live::evaluate_off_ui(snapshot, options.clone(), query.clone()).await
            }
            Ok(Err(e)) => Msg::SourceError(e.to_string()),
            Err(e) => Msg::SourceError(format!("reading the source failed: {e}")),
        };
        if tx.send(msg).is_err() {
            return;
        }
    }
}
