//! Runs the live cluster source for the UI: connects, hands the UI a port-forward factory,
//! evaluates snapshots (and puts changed routes and policies in place in the last one) off the
//! UI task, forwards the results and link states as messages, and rebuilds everything for
//! `:ctx`/`:ns`.

use super::app::{Evaluation, ForwarderHandle, Msg};
use super::rows::RowQuery;
use crate::posture::Incremental;
use crate::source::cluster::{self, Changed, ClusterTarget, LinkState, PortForwarder, Update};
use std::sync::Arc;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::task::AbortHandle;

/// The running cluster source; dropping or restarting it stops every watch.
pub struct LiveCluster {
    target: ClusterTarget,
    /// Engine options for the posture, computed here rather than on the UI task.
    options: crate::posture::Options,
    /// The UI's Backends query: rows are filtered and sorted for it here, off the UI task.
    query: tokio::sync::watch::Receiver<RowQuery>,
    task: Option<AbortHandle>,
    /// Where a panic of the source task is reported (the UI then ends with an error).
    failed: UnboundedSender<String>,
}

impl Drop for LiveCluster {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl LiveCluster {
    pub fn start(
        target: ClusterTarget,
        options: crate::posture::Options,
        query: tokio::sync::watch::Receiver<RowQuery>,
        tx: UnboundedSender<Msg>,
        failed: UnboundedSender<String>,
    ) -> Self {
        let mut me = LiveCluster {
            target,
            options,
            query,
            task: None,
            failed,
        };
        me.restart(tx);
        me
    }

    pub fn switch_context(&mut self, context: String, tx: UnboundedSender<Msg>) {
        self.target.context = Some(context);
        self.restart(tx);
    }

    pub fn rescope(&mut self, namespace: Option<String>, tx: UnboundedSender<Msg>) {
        if self.target.namespace != namespace {
            self.target.namespace = namespace;
            self.restart(tx);
        }
    }

    fn restart(&mut self, tx: UnboundedSender<Msg>) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        let target = self.target.clone();
        let options = self.options.clone();
        let query = self.query.clone();
        let task = async move {
            let conn = match cluster::connect(&target).await {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Msg::Link(LinkState::connect_failed(&target, e)));
                    return;
                }
            };
            if conn.context != "in-cluster" {
                let pf = PortForwarder::new(conn.client.clone());
                let _ = tx.send(Msg::Forwarder(ForwarderHandle(Arc::new(pf))));
            }
            let (utx, mut urx) = unbounded_channel();
            let (resync_tx, resync_rx) = unbounded_channel();
            let source = cluster::run_with_changes(conn, target.namespace.clone(), utx, resync_rx);
            // The posture of a large cluster takes a while: compute it on a blocking thread so
            // the UI keeps answering keys, and skip snapshots that were superseded meanwhile.
            // New versions of routes and policies are put in place in the last one instead.
            let forward = async move {
                let mut engine: Option<Incremental> = None;
                while let Some(u) = urx.recv().await {
                    let mut work = match u {
                        Update::State(s) => {
                            if tx.send(Msg::Link(s)).is_err() {
                                return;
                            }
                            continue;
                        }
                        Update::Snapshot(s) => Work::Snapshot(s, Vec::new()),
                        Update::Changed(c) => Work::Changed(c),
                    };
                    while let Ok(next) = urx.try_recv() {
                        match next {
                            Update::State(s) => {
                                if tx.send(Msg::Link(s)).is_err() {
                                    return;
                                }
                            }
                            Update::Snapshot(s) => work = Work::Snapshot(s, Vec::new()),
                            Update::Changed(c) => work.add(c),
                        }
                    }
                    let (kept, msg) =
                        evaluate_changes(engine.take(), work, options.clone(), query.clone()).await;
                    engine = kept;
                    match msg {
                        Some(msg) => {
                            if tx.send(msg).is_err() {
                                return;
                            }
                        }
                        // A change could not be put in place: ask for a new snapshot.
                        None => {
                            let _ = resync_tx.send(());
                        }
                    }
                }
            };
            // Both in this task: aborting it drops the session and its watchers.
            tokio::select! {
                _ = source => {}
                _ = forward => {}
            }
        };
        self.task = Some(super::spawn_supervised(
            "cluster source",
            task,
            &self.failed,
        ));
    }
}

/// Computes the posture of `snapshot` and its Backends rows for the UI's current query on a
/// blocking thread, so that a long recompute never delays keys or redraws.
pub async fn evaluate_off_ui(
    snapshot: crate::snapshot::Snapshot,
    options: crate::posture::Options,
    query: tokio::sync::watch::Receiver<RowQuery>,
) -> Msg {
    let evaluated = tokio::task::spawn_blocking(move || {
        let p = crate::posture::evaluate(&snapshot, jiff::Timestamp::now(), &options);
        // Read last: a query changed while the posture was computed is the one used.
        let query = query.borrow().clone();
        Box::new(Evaluation::new(snapshot, p, query))
    })
    .await;
    match evaluated {
        Ok(e) => Msg::Evaluated(e),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// What the evaluation thread is handed: a new snapshot (with the changes that came after it),
/// or changes to put in place in the snapshot it has.
enum Work {
    Snapshot(Box<crate::snapshot::Snapshot>, Vec<Changed>),
    Changed(Vec<Changed>),
}

impl Work {
    fn add(&mut self, more: Vec<Changed>) {
        match self {
            Work::Snapshot(_, changes) | Work::Changed(changes) => changes.extend(more),
        }
    }
}

/// Evaluates a new snapshot, or puts changes in place in the snapshot `engine` has and
/// evaluates again what they touch, on a blocking thread; the UI is sent a copy of the
/// snapshot and posture, with its Backends rows. Gives the engine back, and no message when a
/// change could not be put in place (or there is no snapshot to put it in).
async fn evaluate_changes(
    engine: Option<Incremental>,
    work: Work,
    options: crate::posture::Options,
    query: tokio::sync::watch::Receiver<RowQuery>,
) -> (Option<Incremental>, Option<Msg>) {
    let evaluated = tokio::task::spawn_blocking(move || {
        let now = jiff::Timestamp::now();
        let (mut engine, changes) = match (work, engine) {
            (Work::Snapshot(mut snapshot, changes), old) => {
                // Freed before the new one is built: both at once would double the peak.
                drop(old);
                // The changes that came after it are put in the snapshot before it is
                // evaluated, not evaluated again after.
                for c in changes {
                    if let Err(object) = snapshot.replace(c.object, c.origin, c.raw) {
                        tracing::warn!(object = %object.key(), "change not taken in place");
                        return (None, None);
                    }
                }
                (Incremental::new(*snapshot, now, options), Vec::new())
            }
            (Work::Changed(changes), Some(engine)) => (engine, changes),
            (Work::Changed(_), None) => return (None, None),
        };
        let changes = changes
            .into_iter()
            .map(|c| (c.object, c.origin, c.raw))
            .collect();
        if let Err(object) = engine.replace_all(changes, now) {
            tracing::warn!(object = %object.key(), "change not taken in place");
            return (None, None);
        }
        // Read last: a query changed while the posture was computed is the one used.
        let query = query.borrow().clone();
        let evaluation =
            Evaluation::new(engine.snapshot().clone(), engine.posture().clone(), query);
        (Some(engine), Some(Msg::Evaluated(Box::new(evaluation))))
    })
    .await;
    match evaluated {
        Ok(done) => done,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
