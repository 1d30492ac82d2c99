//! The live cluster source: a kube client from the kubeconfig, discovery of the served kinds,
//! a watcher per kind, and a coordinator that sends a new snapshot when objects change.
//!
//! Read-only: the only verbs used are get, list and watch (and the port-forward a probe asks for).

mod changes;
mod config;
pub mod discovery;
mod portforward;
mod publish;
mod watch;

pub use changes::Changed;
pub use config::{ClusterTarget, Connection, connect, context_names};
pub use portforward::PortForwarder;
pub use watch::trim;

use crate::snapshot::{ClusterInfo, Snapshot, SnapshotBuilder, SourceInfo};
use changes::Pending;
use discovery::{Discovered, Served, Use};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::time::Instant;
use watch::{Failure, Store, WatchNote};

/// Where the link to the API server stands, for the header.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Building the client or running discovery; `error` is the last failure.
    Connecting {
        error: Option<String>,
    },
    /// Listing every kind for the first time.
    Syncing,
    Live,
    /// The API server stopped answering at `since`; the last data stays on screen.
    Stale {
        since: jiff::Timestamp,
        error: String,
    },
}

/// What the header shows about the link.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkState {
    pub context: String,
    pub server: String,
    pub namespace: Option<String>,
    pub phase: Phase,
}

impl LinkState {
    /// The client could not be built for `target` (kubeconfig, context or auth plugin error).
    pub fn connect_failed(target: &ClusterTarget, error: String) -> Self {
        LinkState {
            context: target.context.clone().unwrap_or_default(),
            server: String::new(),
            namespace: target.namespace.clone(),
            phase: Phase::Connecting { error: Some(error) },
        }
    }
}

/// What the source sends.
#[derive(Debug)]
pub enum Update {
    State(LinkState),
    Snapshot(Box<Snapshot>),
    /// New versions of routes and policies that the last snapshot sent holds, in the order
    /// they came (only from [`run_with_changes`]): put them in place in that snapshot.
    Changed(Vec<Changed>),
}

/// How long to wait for the first complete list of every kind before showing what is there.
const FIRST_SYNC_LIMIT: Duration = Duration::from_secs(20);
/// Changes closer together than this become one recompute.
const COALESCE: Duration = Duration::from_millis(80);

/// Connects and streams updates until `out` is closed. A kubeconfig error ends it with a
/// `Connecting { error }` state; an unreachable API server is retried with backoff.
pub async fn run(target: ClusterTarget, out: UnboundedSender<Update>) {
    match connect(&target).await {
        Ok(conn) => run_with(conn, target.namespace.clone(), out).await,
        Err(e) => {
            let _ = out.send(Update::State(LinkState::connect_failed(&target, e)));
        }
    }
}

/// Like [`run`] with a client already built.
pub async fn run_with(conn: Connection, namespace: Option<String>, out: UnboundedSender<Update>) {
    run_session(conn, namespace, out, Reading::Live, None).await
}

/// [`run_with`], sending new versions of routes and policies as [`Update::Changed`] instead of
/// a new snapshot. A message on `resync` asks for a new snapshot (when a change could not be
/// put in place).
pub async fn run_with_changes(
    conn: Connection,
    namespace: Option<String>,
    out: UnboundedSender<Update>,
    resync: UnboundedReceiver<()>,
) {
    run_session(conn, namespace, out, Reading::Live, Some(resync)).await
}

/// How long a session reads and what it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// List, then watch for ever; objects keep their text (the YAML view shows it).
    Live,
    /// Stop after the first snapshot, moving the decoded objects into it instead of copying.
    Once {
        /// Keep each object's text ([`Snapshot::raw`]); a report never shows it.
        text: bool,
    },
}

async fn run_session(
    conn: Connection,
    namespace: Option<String>,
    out: UnboundedSender<Update>,
    reading: Reading,
    resync: Option<UnboundedReceiver<()>>,
) {
    let state = |phase| {
        Update::State(LinkState {
            context: conn.context.clone(),
            server: conn.server.clone(),
            namespace: namespace.clone(),
            phase,
        })
    };
    if out.send(state(Phase::Connecting { error: None })).is_err() {
        return;
    }
    let mut backoff = watch::QuickBackoff::default();
    let discovered = loop {
        match discovery::discover(&conn.client).await {
            Ok(d) => break d,
            Err(e) => {
                tracing::warn!(error = %e, "discovery failed");
                let phase = Phase::Connecting {
                    error: Some(describe_kube_error(&e)),
                };
                if out.send(state(phase)).is_err() {
                    return;
                }
                tokio::time::sleep(backoff.next().unwrap_or(Duration::from_secs(5))).await;
            }
        }
    };
    let mut session = Session::new(conn, namespace, discovered, out, reading);
    session.resync = resync;
    session.run().await;
}

/// Reads the cluster once (for `lastmile check`): the first complete snapshot, without the
/// objects' text ([`Snapshot::raw`] is empty), which a report never shows.
pub async fn snapshot_once(
    conn: Connection,
    namespace: Option<String>,
    limit: Duration,
) -> Result<Snapshot, String> {
    read_once(conn, namespace, limit, false).await
}

/// [`snapshot_once`] keeping each object's text, as the live source does (for the YAML view).
pub async fn snapshot_once_with_text(
    conn: Connection,
    namespace: Option<String>,
    limit: Duration,
) -> Result<Snapshot, String> {
    read_once(conn, namespace, limit, true).await
}

async fn read_once(
    conn: Connection,
    namespace: Option<String>,
    limit: Duration,
    text: bool,
) -> Result<Snapshot, String> {
    let (tx, mut rx) = unbounded_channel();
    let task = tokio::spawn(run_session(
        conn,
        namespace,
        tx,
        Reading::Once { text },
        None,
    ));
    let mut last_error = None;
    let result = tokio::time::timeout(limit, async {
        while let Some(u) = rx.recv().await {
            match u {
                Update::Snapshot(s) => return Ok(*s),
                Update::State(LinkState {
                    phase: Phase::Connecting { error: Some(e) },
                    ..
                }) => last_error = Some(e),
                Update::State(_) | Update::Changed(_) => {}
            }
        }
        Err("the cluster source stopped".to_string())
    })
    .await;
    task.abort();
    match result {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no complete read of the cluster within {} s{}",
            limit.as_secs(),
            last_error.map(|e| format!(": {e}")).unwrap_or_default()
        )),
    }
}

fn describe_kube_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({} {})", s.message, s.code, s.reason),
        other => other.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Status {
    Pending,
    Synced,
    Failed(Failure),
}

struct Watched {
    served: Served,
    /// `None`: all namespaces (or a cluster-scoped kind).
    namespace: Option<String>,
    store: Store,
    status: Status,
    /// Listed once: keeps its data even when the watch later fails.
    listed: bool,
}

struct Session {
    conn: Connection,
    namespace: Option<String>,
    discovered: Discovered,
    out: UnboundedSender<Update>,
    tasks: tokio::task::JoinSet<()>,
    watched: Vec<Watched>,
    cert_namespaces: BTreeSet<(&'static str, String)>,
    notes_tx: UnboundedSender<WatchNote>,
    notes_rx: tokio::sync::mpsc::UnboundedReceiver<WatchNote>,
    phase: Phase,
    dirty: Option<Instant>,
    /// What changed since the last update sent.
    pending: Pending,
    /// Asks for a new snapshot; `None` when changes are always sent as snapshots.
    resync: Option<UnboundedReceiver<()>>,
    first_sent: bool,
    /// Only the first snapshot is wanted (`lastmile check`), or every one.
    reading: Reading,
    started: Instant,
}

impl Session {
    fn new(
        conn: Connection,
        namespace: Option<String>,
        discovered: Discovered,
        out: UnboundedSender<Update>,
        reading: Reading,
    ) -> Self {
        let (notes_tx, notes_rx) = unbounded_channel();
        let mut s = Session {
            conn,
            namespace,
            discovered,
            out,
            tasks: tokio::task::JoinSet::new(),
            watched: vec![],
            cert_namespaces: BTreeSet::new(),
            notes_tx,
            notes_rx,
            phase: Phase::Syncing,
            dirty: None,
            pending: Pending::Everything,
            resync: None,
            first_sent: false,
            // Set before the first watcher starts: it decides whether they keep objects' text.
            reading,
            started: Instant::now(),
        };
        let main: Vec<Served> = s
            .discovered
            .served
            .iter()
            .filter(|x| x.spec.usage == Use::All && x.watchable)
            .cloned()
            .collect();
        for served in main {
            // Routes in the scoped namespace attach to Gateways anywhere: those (and the
            // EnvoyProxies that parameterise them) are read from every namespace.
            let ns = match served.spec.kind {
                "Gateway" | "EnvoyProxy" => None,
                _ => s.namespace.clone(),
            };
            s.watch(served, ns);
        }
        s
    }

    fn watch(&mut self, served: Served, namespace: Option<String>) {
        let api = watch::api_for(&self.conn.client, &served, namespace.as_deref());
        let id = self.watched.len();
        let origin = self.origin();
        let store = watch::spawn_watcher(
            &mut self.tasks,
            api,
            &served,
            origin,
            id,
            self.notes_tx.clone(),
            // Read once for a report: the objects' text is never shown.
            self.reading == Reading::Once { text: false },
        );
        self.watched.push(Watched {
            served,
            namespace,
            store,
            status: Status::Pending,
            listed: false,
        });
    }

    fn send_state(&self) -> bool {
        self.out
            .send(Update::State(LinkState {
                context: self.conn.context.clone(),
                server: self.conn.server.clone(),
                namespace: self.namespace.clone(),
                phase: self.phase.clone(),
            }))
            .is_ok()
    }

    async fn run(mut self) {
        if !self.send_state() {
            return;
        }
        let mut health = tokio::time::interval(Duration::from_secs(1));
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                note = self.notes_rx.recv() => {
                    let Some(note) = note else { return };
                    self.on_note(note);
                }
                _ = tokio::time::sleep_until(deadline) => {}
                asked = async {
                    match &mut self.resync {
                        Some(r) => r.recv().await,
                        None => std::future::pending().await,
                    }
                } => match asked {
                    Some(()) => {
                        self.pending.everything();
                        self.dirty.get_or_insert(Instant::now());
                    }
                    None => self.resync = None,
                },
                _ = health.tick(), if matches!(self.phase, Phase::Stale { .. }) => {
                    if self.conn.client.apiserver_version().await.is_ok() {
                        tracing::info!("API server answers again");
                        self.phase = if self.first_sent { Phase::Live } else { Phase::Syncing };
                        if !self.send_state() {
                            return;
                        }
                    }
                }
            }
            if !self.maybe_publish() {
                return;
            }
        }
    }

    fn next_deadline(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let first = (!self.first_sent).then_some(self.started + FIRST_SYNC_LIMIT);
        let coalesce = self.dirty.map(|t| t + COALESCE);
        [Some(far), first, coalesce]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(far)
    }

    fn on_note(&mut self, note: WatchNote) {
        tracing::trace!(?note, "watch note");
        let now = Instant::now();
        // Data arriving means the server is back.
        if matches!(note, WatchNote::Synced(_) | WatchNote::Changed(_))
            && matches!(self.phase, Phase::Stale { .. })
        {
            tracing::info!("API server answers again");
            self.phase = if self.first_sent {
                Phase::Live
            } else {
                Phase::Syncing
            };
            self.send_state();
        }
        match note {
            WatchNote::Synced(id) => {
                let w = &mut self.watched[id];
                w.status = Status::Synced;
                w.listed = true;
                self.dirty.get_or_insert(now);
                self.pending.everything();
            }
            WatchNote::Changed(id) => {
                self.watched[id].status = Status::Synced;
                self.dirty.get_or_insert(now);
                self.pending.everything();
            }
            WatchNote::Modified(id, old, new) => {
                self.watched[id].status = Status::Synced;
                self.dirty.get_or_insert(now);
                if self.resync.is_some() {
                    self.pending.modified(&old, new);
                } else {
                    self.pending.everything();
                }
            }
            WatchNote::Failed(id, f @ (Failure::Expired | Failure::Dropped)) => {
                tracing::debug!(
                    kind = self.watched[id].served.spec.kind,
                    ?f,
                    "watch resumes"
                );
            }
            WatchNote::Failed(id, f) => {
                if let Failure::Connection(e) = &f
                    && !matches!(self.phase, Phase::Stale { .. })
                {
                    tracing::warn!(error = %e, "lost the API server");
                    self.phase = Phase::Stale {
                        since: jiff::Timestamp::now(),
                        error: e.clone(),
                    };
                    self.send_state();
                }
                let w = &mut self.watched[id];
                let changed = w.status != Status::Failed(f.clone());
                if !matches!(f, Failure::Connection(_)) || !w.listed {
                    w.status = Status::Failed(f);
                }
                if changed && !matches!(w.status, Status::Pending) {
                    self.dirty.get_or_insert(now);
                    self.pending.everything();
                }
            }
        }
    }

    /// A kind is settled when listed, or when it failed for a reason retrying will not fix soon.
    fn settled(&self) -> bool {
        self.watched.iter().all(|w| match &w.status {
            Status::Synced => true,
            Status::Failed(
                Failure::Forbidden { .. } | Failure::NotServed(_) | Failure::Other(_),
            ) => true,
            Status::Failed(_) | Status::Pending => w.listed,
        })
    }

    /// Builds and sends a snapshot when something changed and every kind has been read.
    fn maybe_publish(&mut self) -> bool {
        let now = Instant::now();
        let overdue = !self.first_sent && now >= self.started + FIRST_SYNC_LIMIT;
        let Some(since) = self.dirty else {
            return true;
        };
        if now < since + COALESCE && !overdue {
            return true;
        }
        if !self.settled() && !overdue {
            return true;
        }
        // Only new versions of routes and policies: sent as they are, for the receiver to put
        // in place, unless a policy now names a CA bundle in a namespace not read yet.
        if self.first_sent
            && matches!(self.phase, Phase::Live)
            && let Pending::Objects(entries) = &self.pending
            && self.reads_bundles_of(entries)
        {
            let changed = changes::changed(entries, &self.origin());
            tracing::debug!(objects = changed.len(), "changes sent");
            self.pending = Pending::Nothing;
            self.dirty = None;
            return self.out.send(Update::Changed(changed)).is_ok();
        }
        // Read the namespaces holding referenced CA bundles and client certificates; wait for
        // them before showing a snapshot that would call those references missing.
        let (config_maps, secrets) = self.referenced_cert_namespaces();
        let mut started_new = false;
        for (kind, set) in [("ConfigMap", config_maps), ("Secret", secrets)] {
            for ns in set {
                if let Some(scope) = &self.namespace
                    && scope != &ns
                {
                    continue;
                }
                if self.cert_namespaces.insert((kind, ns.clone()))
                    && let Some(served) = self.discovered.get(kind).cloned()
                {
                    self.watch(served, Some(ns));
                    started_new = true;
                }
            }
        }
        if started_new && !overdue {
            return true;
        }
        let once = matches!(self.reading, Reading::Once { .. });
        let snapshot = self.build(once);
        tracing::debug!(objects = snapshot.object_count(), "snapshot built");
        self.dirty = None;
        self.pending = Pending::Nothing;
        if !self.first_sent || matches!(self.phase, Phase::Syncing) {
            self.first_sent = true;
            if !matches!(self.phase, Phase::Stale { .. }) {
                self.phase = Phase::Live;
            }
            if !self.send_state() {
                return false;
            }
        }
        // A one-shot session has handed its objects over: it ends here.
        self.out.send(Update::Snapshot(Box::new(snapshot))).is_ok() && !once
    }

    /// Where the objects of this session were read from.
    fn origin(&self) -> crate::model::Origin {
        crate::model::Origin {
            file: Some(format!("context {}", self.conn.context).into()),
            line: None,
        }
    }
}
