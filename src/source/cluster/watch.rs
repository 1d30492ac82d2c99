//! One watcher per kind (kube-runtime `watcher` + `reflector` stores), and a coordinator that
//! turns store changes into snapshots: bursts are coalesced, 403s become notices and `unknown`
//! edges, a dropped or expired watch re-lists through the watcher, and an API server that goes
//! away is reported as stale until it answers again.

use super::discovery::{Served, Use};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// What a watcher tells the coordinator.
#[derive(Debug)]
pub enum WatchNote {
    /// The initial list (or a re-list) completed.
    Synced(usize),
    /// Objects changed.
    Changed(usize),
    Failed(usize, Failure),
}

/// Why a watcher could not list or watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 403: RBAC denies `verb` on the resource.
    Forbidden {
        verb: &'static str,
        message: String,
    },
    /// 404: the resource is no longer served.
    NotServed(String),
    /// The API server could not be reached, or the stream broke.
    Connection(String),
    /// The watch expired (410) and is re-listing; nothing is lost.
    Expired,
    /// The watch stream broke and is being resumed.
    Dropped,
    /// 429, 503 or 504: the server asks to come back later; retried after its Retry-After.
    Throttled {
        message: String,
        retry_after: Option<Duration>,
    },
    Other(String),
}

/// Retries quickly at first, then every 5 s: a restarted API server is picked up soon.
#[derive(Debug, Clone)]
pub struct QuickBackoff {
    next: Duration,
}

impl Default for QuickBackoff {
    fn default() -> Self {
        QuickBackoff {
            next: Duration::from_millis(200),
        }
    }
}

impl Iterator for QuickBackoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let d = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(5));
        Some(d)
    }
}

impl kube::runtime::utils::Backoff for QuickBackoff {
    fn reset(&mut self) {
        *self = Self::default();
    }
}

fn classify(e: &watcher::Error) -> Failure {
    let (verb, ke) = match e {
        watcher::Error::InitialListFailed(ke) => ("list", ke),
        watcher::Error::WatchStartFailed(ke) => ("watch", ke),
        // A stream that is not a watch (a proxy's error page, garbage): the watcher keeps
        // reading it, so say so instead of taking it for a dropped connection.
        watcher::Error::WatchFailed(kube::Error::SerdeError(e)) => {
            return Failure::Other(format!("malformed watch event: {e}"));
        }
        // A watch stream that broke (proxy timeout, dropped connection) is resumed by the
        // watcher; only a failure to start it again means the server is gone.
        watcher::Error::WatchFailed(ke) if !matches!(ke, kube::Error::Api(_)) => {
            return Failure::Dropped;
        }
        watcher::Error::WatchFailed(ke) => ("watch", ke),
        watcher::Error::WatchError(s) => {
            return match s.code {
                410 => Failure::Expired,
                403 => Failure::Forbidden {
                    verb: "watch",
                    message: s.message.clone(),
                },
                _ => Failure::Other(format!("{} ({})", s.message, s.code)),
            };
        }
        watcher::Error::NoResourceVersion => {
            return Failure::Other("the server sent an object without a resourceVersion".into());
        }
    };
    match ke {
        kube::Error::Api(s) if s.code == 403 => Failure::Forbidden {
            verb,
            message: s.message.clone(),
        },
        kube::Error::Api(s) if s.code == 404 => Failure::NotServed(s.message.clone()),
        kube::Error::Api(s) if s.code == 410 => Failure::Expired,
        kube::Error::Api(s) if matches!(s.code, 429 | 503 | 504) => Failure::Throttled {
            message: format!("{} ({} {})", s.message, s.code, s.reason),
            retry_after: s
                .details
                .as_ref()
                .map(|d| d.retry_after_seconds)
                .filter(|&n| n > 0)
                .map(|n| Duration::from_secs(n.into())),
        },
        kube::Error::Api(s) => Failure::Other(format!("{} ({} {})", s.message, s.code, s.reason)),
        kube::Error::SerdeError(e) => Failure::Other(format!("malformed response: {e}")),
        other => Failure::Connection(other.to_string()),
    }
}

/// Drops what lastmile never needs before it is stored: managed fields, the last-applied
/// annotation (a full copy of the object, Secret data included), and every Secret value that is
/// not certificate material (private keys never stay in memory).
pub fn trim(kind: &str, o: &mut DynamicObject) {
    o.metadata.managed_fields = None;
    if let Some(a) = o.metadata.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    if kind == "Secret"
        && let Some(serde_json::Value::Object(data)) = o.data.get_mut("data")
    {
        let keys: Vec<String> = data.keys().cloned().collect();
        let keep = crate::model::parsed_keys(&keys);
        for (k, v) in data.iter_mut() {
            if !(keep.contains(k) || k == "url") {
                *v = serde_json::Value::String(String::new());
            }
        }
    }
}

/// The API for a kind in `namespace` (or all namespaces).
pub fn api_for(
    client: &kube::Client,
    served: &Served,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match namespace {
        Some(ns) if served.spec.namespaced => {
            Api::namespaced_with(client.clone(), ns, &served.resource)
        }
        _ => Api::all_with(client.clone(), &served.resource),
    }
}

/// Starts a watcher feeding a new store; notes go to `tx` tagged with `id`.
pub fn spawn_watcher(
    tasks: &mut tokio::task::JoinSet<()>,
    api: Api<DynamicObject>,
    served: &Served,
    id: usize,
    tx: UnboundedSender<WatchNote>,
) -> Store<DynamicObject> {
    debug_assert!(served.spec.usage != Use::ProbeOnly);
    let writer = Writer::new(served.resource.clone());
    let store = writer.as_reader();
    let kind = served.spec.kind;
    let stream = watcher(api, watcher::Config::default())
        .modify(move |o| trim(kind, o))
        .reflect(writer);
    tasks.spawn(async move {
        let mut stream = std::pin::pin!(stream.into_stream());
        // Not kube's StreamBackoff: it resets on every Ok item, and the watcher yields Ok(Init)
        // before each re-list, so a list that always failed was retried every 200 ms for ever.
        let mut backoff = QuickBackoff::default();
        while let Some(item) = stream.next().await {
            let (note, pause) = match item {
                Ok(watcher::Event::InitDone) => (WatchNote::Synced(id), None),
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => continue,
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => {
                    (WatchNote::Changed(id), None)
                }
                Err(e) => {
                    tracing::debug!(kind, error = %e, "watch error");
                    let failure = classify(&e);
                    let mut pause = backoff.next().unwrap_or(Duration::from_secs(5));
                    if let Failure::Throttled {
                        retry_after: Some(d),
                        ..
                    } = &failure
                    {
                        pause = pause.max((*d).min(Duration::from_secs(60)));
                    }
                    (WatchNote::Failed(id, failure), Some(pause))
                }
            };
            if pause.is_none() {
                backoff = QuickBackoff::default();
            }
            if tx.send(note).is_err() {
                return;
            }
            if let Some(d) = pause {
                tokio::time::sleep(d).await;
            }
        }
    });
    store
}
