//! WATCH: a chunked stream of newline-terminated JSON events.

use bytes::Bytes;
use futures::SinkExt;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::watch as signal;

use super::list::present;
use super::registry::ResourceDef;
use super::response::{Body, invalid_list_options, status_body, status_error};
use super::select::Selectors;
use super::store::{EventType, StoredEvent};
use super::{Shared, lock};

pub(crate) struct WatchRequest {
    pub def: ResourceDef,
    /// "v1" or "group/version" as requested.
    pub gv: String,
    pub namespace: Option<String>,
    pub selectors: Selectors,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub bookmarks: bool,
    pub timeout: Option<Duration>,
    pub send_initial_events: Option<bool>,
    /// Accept asked for PartialObjectMetadata.
    pub meta_only: bool,
}

struct Filter {
    def: ResourceDef,
    gv: String,
    namespace: Option<String>,
    selectors: Selectors,
    meta_only: bool,
    /// Events at or below this resourceVersion are not sent.
    min_rv: u64,
}

impl Filter {
    fn in_scope(&self, obj: &Value) -> bool {
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
        self.namespace.as_deref().is_none_or(|want| want == ns) && self.selectors.matches(obj)
    }

    /// The event a watcher with this filter sees for a stored event (selector transitions turn
    /// MODIFIED into ADDED or DELETED, as kube-apiserver's watch cache does).
    fn line(&self, ev: &StoredEvent) -> Option<Bytes> {
        if ev.rv <= self.min_rv {
            return None;
        }
        let now = self.in_scope(&ev.object);
        let before = ev.prev.as_ref().is_some_and(|p| self.in_scope(p));
        let kind = match (ev.kind, before, now) {
            (EventType::Added, _, true) => EventType::Added,
            (EventType::Modified, true, true) => EventType::Modified,
            (EventType::Modified, false, true) => EventType::Added,
            (EventType::Modified, true, false) => EventType::Deleted,
            (EventType::Deleted, true, _) => EventType::Deleted,
            _ => return None,
        };
        Some(self.render(kind.as_str(), &ev.object))
    }

    fn render(&self, kind: &str, obj: &Value) -> Bytes {
        let object = present(&self.def, &self.gv, obj, true, self.meta_only);
        line(&json!({"type": kind, "object": object}))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let (kind, api_version) = if self.meta_only {
            ("PartialObjectMetadata", "meta.k8s.io/v1")
        } else {
            (self.def.kind, self.gv.as_str())
        };
        let mut metadata = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": kind, "apiVersion": api_version, "metadata": metadata});
        line(&json!({"type": "BOOKMARK", "object": object}))
    }
}

fn line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

/// Answers a watch request: an error response, or 200 with a streaming body.
pub(crate) fn watch(
    shared: &Arc<Shared>,
    mut shutdown: signal::Receiver<bool>,
    w: WatchRequest,
) -> Response<Body> {
    let rvm = w
        .resource_version_match
        .as_deref()
        .filter(|s| !s.is_empty());
    match (w.send_initial_events, rvm) {
        (Some(_), Some("NotOlderThan")) if !w.bookmarks => {
            return invalid_list_options(
                "allowWatchBookmarks: Forbidden: sendInitialEvents requires setting \
                 allowWatchBookmarks to true",
            );
        }
        (Some(_), Some("NotOlderThan")) => {}
        (Some(_), _) => {
            return invalid_list_options(
                "resourceVersionMatch: Forbidden: sendInitialEvents is forbidden for watch unless \
                 resourceVersionMatch is set to NotOlderThan",
            );
        }
        (None, Some(_)) => {
            return invalid_list_options(
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch \
                 unless sendInitialEvents is provided",
            );
        }
        (None, None) => {}
    }
    let rv_param = w.resource_version.as_deref().unwrap_or("");
    let from: Option<u64> = match rv_param {
        "" | "0" => None,
        s => match s.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return status_error(
                    400,
                    "BadRequest",
                    &format!("invalid resource version: {s:?}"),
                    None,
                );
            }
        },
    };
    let mut filter = Filter {
        def: w.def.clone(),
        gv: w.gv.clone(),
        namespace: w.namespace.clone(),
        selectors: w.selectors.clone(),
        meta_only: w.meta_only,
        min_rv: 0,
    };

    let mut first: Vec<Bytes> = Vec::new();
    let events = {
        let mut store = lock(&shared.store);
        let current = store.rv;
        let initial = w.send_initial_events == Some(true) || from.is_none();
        if initial && w.send_initial_events != Some(false) {
            for obj in store.snapshot(&w.def, current).values() {
                if filter.in_scope(obj) {
                    first.push(filter.render("ADDED", obj));
                }
            }
            if w.send_initial_events == Some(true) {
                first.push(filter.bookmark(current, true));
            }
            filter.min_rv = current;
            Some(store.subscribe(&w.def))
        } else {
            let from = from.unwrap_or(current);
            if from < store.oldest {
                let status = status_body(
                    410,
                    "Expired",
                    &format!("too old resource version: {from} ({})", store.oldest),
                    None,
                );
                first.push(line(&json!({"type": "ERROR", "object": status})));
                None
            } else {
                for ev in store.events_after(&w.def, from) {
                    first.extend(filter.line(&ev));
                }
                // Live events come after `current`; a future `from` holds them back until then.
                filter.min_rv = from.max(current);
                Some(store.subscribe(&w.def))
            }
        }
    };
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(64);
    let shared = shared.clone();
    let interval = shared.config.bookmark_interval;
    let bookmarks = w.bookmarks;
    let timeout = w.timeout.unwrap_or(Duration::from_secs(1800));
    tokio::spawn(async move {
        for chunk in first {
            if tx.send(Ok(Frame::data(chunk))).await.is_err() {
                return;
            }
        }
        let Some(mut events) = events else {
            return; // 410: the ERROR event ends the stream.
        };
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(ev) => {
                        if let Some(l) = filter.line(&ev)
                            && tx.send(Ok(Frame::data(l))).await.is_err()
                        {
                            return;
                        }
                    }
                    None => {
                        // drop_watches(): end the body with an error, so hyper closes the
                        // connection without the terminating chunk.
                        let _ = tx.send(Err(std::io::Error::other("watch dropped"))).await;
                        return;
                    }
                },
                _ = ticker.tick(), if bookmarks => {
                    // Everything up to `rv` is in the channel once the store lock is held.
                    let (rv, pending, dropped) = {
                        let store = lock(&shared.store);
                        let mut pending = Vec::new();
                        let dropped = loop {
                            match events.try_recv() {
                                Ok(ev) => pending.push(ev),
                                Err(TryRecvError::Empty) => break false,
                                Err(TryRecvError::Disconnected) => break true,
                            }
                        };
                        (store.rv, pending, dropped)
                    };
                    for ev in pending {
                        if let Some(l) = filter.line(&ev)
                            && tx.send(Ok(Frame::data(l))).await.is_err()
                        {
                            return;
                        }
                    }
                    if dropped {
                        let _ = tx.send(Err(std::io::Error::other("watch dropped"))).await;
                        return;
                    }
                    if tx.send(Ok(Frame::data(filter.bookmark(rv, false)))).await.is_err() {
                        return;
                    }
                }
                _ = &mut deadline => return,
                _ = super::stopped(&mut shutdown) => return,
            }
        }
    });
    let body = BodyExt::boxed_unsync(StreamBody::new(rx));
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .expect("watch response")
}
