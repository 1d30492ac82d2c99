//! One watcher per kind (kube-runtime's `watcher` for the list/watch state machine), feeding a
//! store of decoded objects, and a coordinator that turns store changes into snapshots: bursts
//! are coalesced, 403s become notices and `unknown` edges, a dropped or expired watch re-lists
//! through the watcher, and an API server that goes away is reported as stale until it answers
//! again.
//!
//! Each object is converted as it arrives (trimmed, decoded, kept as compact JSON text) and the
//! `DynamicObject` dropped: no full copy of the object stays beside the snapshot, and an object
//! whose resourceVersion has not changed is never decoded again.

use super::discovery::{Served, Use};
use crate::model::Origin;
use crate::source::decode::Decoded;
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// What a watcher tells the coordinator.
#[derive(Debug)]
pub enum WatchNote {
    /// The initial list (or a re-list) completed.
    Synced(usize),
    /// Objects were added or deleted (or came back unchanged).
    Changed(usize),
    /// An object has a new version: the entry it had, and the new one.
    Modified(usize, Arc<Entry>, Arc<Entry>),
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

/// The codes with which the API server asks to come back later: 429 TooManyRequests (its
/// priority and fairness), 503 and 504.
pub(super) const THROTTLED_CODES: [u16; 3] = [429, 503, 504];

/// Whether the API server answered `e`'s request with a Status asking to come back later, and
/// the wait its Retry-After asks for when it sent one.
pub(super) fn throttled(e: &kube::Error) -> Option<Option<Duration>> {
    match e {
        kube::Error::Api(s) if THROTTLED_CODES.contains(&s.code) => Some(
            s.details
                .as_ref()
                .map(|d| d.retry_after_seconds)
                .filter(|&n| n > 0)
                .map(|n| Duration::from_secs(n.into())),
        ),
        _ => None,
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
        kube::Error::Api(s) if THROTTLED_CODES.contains(&s.code) => Failure::Throttled {
            message: format!("{} ({} {})", s.message, s.code, s.reason),
            retry_after: throttled(ke).flatten(),
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

/// One object as the store keeps it.
#[derive(Debug)]
pub struct Entry {
    resource_version: Option<String>,
    pub decoded: Decoded,
}

/// The objects of one watched kind, keyed by `NS/NAME`.
#[derive(Debug, Default)]
pub struct KindStore {
    objects: BTreeMap<String, Arc<Entry>>,
    /// A (re-)list in progress: replaces `objects` when complete, so the last data stays visible
    /// meanwhile.
    relist: Option<BTreeMap<String, Arc<Entry>>>,
}

/// A store shared by the watcher task (writer) and the coordinator (reader).
#[derive(Debug, Clone, Default)]
pub struct Store(Arc<Mutex<KindStore>>);

impl Store {
    fn lock(&self) -> std::sync::MutexGuard<'_, KindStore> {
        // A panic while holding the lock cannot leave the map half-written in a way that matters.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The objects as last listed and watched (cheap: the entries are shared).
    pub fn state(&self) -> Vec<Arc<Entry>> {
        self.lock().objects.values().cloned().collect()
    }

    /// Empties the store, handing its entries over.
    pub fn take(&self) -> Vec<Arc<Entry>> {
        std::mem::take(&mut self.lock().objects)
            .into_values()
            .collect()
    }

    /// The entry already decoded for `key` at `resource_version`, if any.
    fn cached(&self, key: &str, resource_version: Option<&str>) -> Option<Arc<Entry>> {
        let rv = resource_version?;
        let s = self.lock();
        let found = s
            .relist
            .as_ref()
            .and_then(|r| r.get(key))
            .or_else(|| s.objects.get(key))?;
        (found.resource_version.as_deref() == Some(rv)).then(|| found.clone())
    }

    /// Stores `entry`; gives the entry it replaces (when not listing).
    fn apply(&self, key: String, entry: Arc<Entry>, listing: bool) -> Option<Arc<Entry>> {
        let mut s = self.lock();
        match (&mut s.relist, listing) {
            (Some(r), true) => {
                r.insert(key, entry);
                None
            }
            _ => s.objects.insert(key, entry),
        }
    }
}

fn object_key(o: &DynamicObject) -> String {
    format!(
        "{}/{}",
        o.metadata.namespace.as_deref().unwrap_or_default(),
        o.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Turns one listed or watched object into a store entry: trimmed, `apiVersion` and `kind`
/// first (as `kubectl` prints them), decoded, and kept as compact text unless `textless`. The
/// object is consumed.
fn convert(served: &Served, mut o: DynamicObject, origin: &Origin, textless: bool) -> Entry {
    trim(served.spec.kind, &mut o);
    let resource_version = o.metadata.resource_version.clone();
    let mut m = serde_json::Map::new();
    m.insert(
        "apiVersion".into(),
        served.resource.api_version.clone().into(),
    );
    m.insert("kind".into(), served.resource.kind.clone().into());
    match serde_json::to_value(&o.metadata) {
        Ok(meta) => {
            m.insert("metadata".into(), meta);
        }
        Err(e) => tracing::warn!(error = %e, "metadata not serialisable"),
    }
    match o.data.take() {
        serde_json::Value::Object(data) => {
            for (k, v) in data {
                if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    m.insert(k, v);
                }
            }
        }
        serde_json::Value::Null => {}
        // Not logged: it may be a Secret's.
        _ => tracing::warn!(kind = served.spec.kind, "object data not a mapping"),
    }
    drop(o);
    Entry {
        resource_version,
        decoded: if textless {
            Decoded::without_text(serde_json::Value::Object(m), origin.clone())
        } else {
            Decoded::new(serde_json::Value::Object(m), origin.clone())
        },
    }
}

/// Starts a watcher feeding a new store; notes go to `tx` tagged with `id`. `textless`: the
/// objects' text is not kept (a report never shows it).
pub fn spawn_watcher(
    tasks: &mut tokio::task::JoinSet<()>,
    api: Api<DynamicObject>,
    served: &Served,
    origin: Origin,
    id: usize,
    tx: UnboundedSender<WatchNote>,
    textless: bool,
) -> Store {
    debug_assert!(served.spec.usage != Use::ProbeOnly);
    let store = Store::default();
    let writer = store.clone();
    let served = served.clone();
    let kind = served.spec.kind;
    let stream = watcher(api, watcher::Config::default());
    tasks.spawn(async move {
        let mut stream = std::pin::pin!(stream);
        // Not kube's StreamBackoff: it resets on every Ok item, and the watcher yields Ok(Init)
        // before each re-list, so a list that always failed was retried every 200 ms for ever.
        let mut backoff = QuickBackoff::default();
        // Keeps an arriving object: decoded again only when its resourceVersion is new.
        let keep = |o: DynamicObject, listing: bool| {
            let key = object_key(&o);
            let entry = writer
                .cached(&key, o.metadata.resource_version.as_deref())
                .unwrap_or_else(|| Arc::new(convert(&served, o, &origin, textless)));
            let new = entry.clone();
            writer.apply(key, entry, listing).map(|old| (old, new))
        };
        while let Some(item) = stream.next().await {
            let (note, pause) = match item {
                Ok(watcher::Event::Init) => {
                    writer.lock().relist = Some(BTreeMap::new());
                    continue;
                }
                Ok(watcher::Event::InitApply(o)) => {
                    keep(o, true);
                    continue;
                }
                Ok(watcher::Event::InitDone) => {
                    let mut s = writer.lock();
                    if let Some(listed) = s.relist.take() {
                        s.objects = listed;
                    }
                    (WatchNote::Synced(id), None)
                }
                Ok(watcher::Event::Apply(o)) => match keep(o, false) {
                    Some((old, new)) if !Arc::ptr_eq(&old, &new) => {
                        (WatchNote::Modified(id, old, new), None)
                    }
                    _ => (WatchNote::Changed(id), None),
                },
                Ok(watcher::Event::Delete(o)) => {
                    writer.lock().objects.remove(&object_key(&o));
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
