//! Runs the live cluster source for the UI: connects, hands the UI a port-forward factory,
//! forwards snapshots and link states as messages, and rebuilds everything for `:ctx`/`:ns`.

use super::app::{Evaluation, ForwarderHandle, Msg};
use super::rows::RowQuery;
use crate::source::cluster::{self, ClusterTarget, LinkState, PortForwarder, Update};
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
            let source = cluster::run_with(conn, target.namespace.clone(), utx);
            // The posture of a large cluster takes a while: compute it on a blocking thread so
            // the UI keeps answering keys, and skip snapshots that were superseded meanwhile.
            let forward = async move {
                while let Some(mut u) = urx.recv().await {
                    while let Update::Snapshot(_) = u {
                        match urx.try_recv() {
                            Ok(next @ Update::Snapshot(_)) => u = next,
                            Ok(Update::State(s)) => {
                                if tx.send(Msg::Link(s)).is_err() {
                                    return;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                    let msg = match u {
                        Update::State(s) => Msg::Link(s),
                        Update::Snapshot(s) => {
                            evaluate_off_ui(*s, options.clone(), query.clone()).await
                        }
                    };
                    if tx.send(msg).is_err() {
                        return;
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
