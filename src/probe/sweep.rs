//! Probing many edges at once: a global concurrency limit plus at most two probes per address,
//! so one backend and its sidecar are never hammered.

use super::{ProbeReport, ProbeRequest, probe};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Runs `requests` with at most `concurrency` in flight (2 per address) and calls `done` for
/// each result as it arrives. A probe that panicked re-raises its panic here (a silently lost
/// result would leave its edge "probing" for ever); dropping the future cancels every probe.
pub async fn sweep<K: Send + 'static>(
    requests: Vec<(K, ProbeRequest)>,
    concurrency: usize,
    mut done: impl FnMut(K, ProbeReport),
) {
    let global = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut per_address: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let mut set = tokio::task::JoinSet::new();
    for (key, req) in requests {
        let local = per_address
            .entry(req.address.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(2)))
            .clone();
        let global = global.clone();
        set.spawn(async move {
            let _l = local.acquire_owned().await;
            let _g = global.acquire_owned().await;
            let report = probe(&req).await;
            (key, report)
        });
    }
    while let Some(r) = set.join_next().await {
        match r {
            Ok((key, report)) => done(key, report),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
}
