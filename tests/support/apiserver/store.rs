//! Objects, the resourceVersion counter, the event history and the open watches.

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::registry::ResourceDef;

/// (namespace, name); namespace is "" for cluster-scoped objects.
pub(crate) type Key = (String, String);
/// (group, plural).
pub(crate) type ResKey = (&'static str, &'static str);

pub(crate) const FIRST_RESOURCE_VERSION: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub(crate) struct StoredEvent {
    pub rv: u64,
    pub kind: EventType,
    pub res: ResKey,
    pub key: Key,
    /// The object after the change; for DELETED, its last state with the deletion's resourceVersion.
    pub object: Arc<Value>,
    /// The object before the change (None for ADDED).
    pub prev: Option<Arc<Value>>,
}

struct Watcher {
    res: ResKey,
    tx: UnboundedSender<Arc<StoredEvent>>,
}

pub(crate) struct Store {
    /// The last resourceVersion handed out.
    pub rv: u64,
    /// The history holds every event with rv > oldest; older resourceVersions are expired.
    pub oldest: u64,
    objects: HashMap<ResKey, BTreeMap<Key, Arc<Value>>>,
    history: Vec<Arc<StoredEvent>>,
    watchers: Vec<Watcher>,
    uids: u64,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            rv: FIRST_RESOURCE_VERSION,
            oldest: FIRST_RESOURCE_VERSION,
            objects: HashMap::new(),
            history: Vec::new(),
            watchers: Vec::new(),
            uids: 0,
        }
    }
}

fn res_key(def: &ResourceDef) -> ResKey {
    (def.group, def.plural)
}

fn now_timestamp() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl Store {
    fn emit(&mut self, ev: StoredEvent) {
        let ev = Arc::new(ev);
        self.watchers
            .retain(|w| w.res != ev.res || w.tx.send(ev.clone()).is_ok());
        self.history.push(ev);
    }

    /// Creates or replaces an object; returns its new resourceVersion.
    pub fn apply(&mut self, def: &ResourceDef, mut obj: Value) -> u64 {
        if !obj["metadata"].is_object() {
            panic!("{} without metadata: {obj}", def.kind);
        }
        let meta = obj["metadata"].as_object_mut().expect("metadata object");
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{} without metadata.name", def.kind))
            .to_string();
        let namespace = if def.namespaced {
            let ns = meta
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("default")
                .to_string();
            meta.insert("namespace".into(), json!(ns));
            ns
        } else {
            meta.remove("namespace");
            String::new()
        };
        let key = (namespace, name);
        let res = res_key(def);
        let prev = self.objects.get(&res).and_then(|m| m.get(&key)).cloned();
        self.rv += 1;
        let rv = self.rv;
        let prev_meta = prev.as_ref().map(|p| &p["metadata"]);
        let inherited = |field: &str| {
            prev_meta
                .and_then(|m| m.get(field))
                .filter(|v| !v.is_null())
                .cloned()
        };
        if meta.get("uid").and_then(Value::as_str).is_none() {
            let uid = inherited("uid").unwrap_or_else(|| {
                self.uids += 1;
                json!(format!("00000000-0000-4000-8000-{:012x}", self.uids))
            });
            meta.insert("uid".into(), uid);
        }
        if meta.get("creationTimestamp").is_none_or(|v| v.is_null()) {
            let ts = inherited("creationTimestamp").unwrap_or_else(|| json!(now_timestamp()));
            meta.insert("creationTimestamp".into(), ts);
        }
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        // Custom resources always have a generation; built-in ConfigMaps, Secrets, Services
        // and Namespaces have none unless the caller gave one.
        if meta.get("generation").is_none_or(|v| v.is_null()) {
            let prev_gen = inherited("generation").and_then(|g| g.as_i64());
            let generation = match (&prev, prev_gen) {
                (Some(p), Some(g)) => {
                    if p.get("spec") != obj.get("spec") {
                        Some(g + 1)
                    } else {
                        Some(g)
                    }
                }
                _ if !def.builtin => Some(1),
                _ => None,
            };
            if let Some(g) = generation {
                obj["metadata"]["generation"] = json!(g);
            }
        }
        let object = Arc::new(obj);
        self.objects
            .entry(res)
            .or_default()
            .insert(key.clone(), object.clone());
        let kind = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.emit(StoredEvent {
            rv,
            kind,
            res,
            key,
            object,
            prev,
        });
        rv
    }

    pub fn delete(&mut self, def: &ResourceDef, namespace: &str, name: &str) -> bool {
        let res = res_key(def);
        let ns = if def.namespaced { namespace } else { "" };
        let key = (ns.to_string(), name.to_string());
        let Some(prev) = self.objects.get_mut(&res).and_then(|m| m.remove(&key)) else {
            return false;
        };
        self.rv += 1;
        let mut gone = (*prev).clone();
        gone["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.emit(StoredEvent {
            rv: self.rv,
            kind: EventType::Deleted,
            res,
            key,
            object: Arc::new(gone),
            prev: Some(prev),
        });
        true
    }

    pub fn get(&self, def: &ResourceDef, namespace: &str, name: &str) -> Option<Arc<Value>> {
        let ns = if def.namespaced { namespace } else { "" };
        self.objects
            .get(&res_key(def))
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
            .cloned()
    }

    /// The objects of a resource as they were at resourceVersion `at` (oldest <= at <= rv).
    pub fn snapshot(&self, def: &ResourceDef, at: u64) -> BTreeMap<Key, Arc<Value>> {
        let res = res_key(def);
        let mut objects = self.objects.get(&res).cloned().unwrap_or_default();
        for ev in self.history.iter().rev().take_while(|e| e.rv > at) {
            if ev.res != res {
                continue;
            }
            match &ev.prev {
                Some(p) => {
                    objects.insert(ev.key.clone(), p.clone());
                }
                None => {
                    objects.remove(&ev.key);
                }
            }
        }
        objects
    }

    /// Every event of the resource after resourceVersion `after` (which must be >= oldest).
    pub fn events_after(&self, def: &ResourceDef, after: u64) -> Vec<Arc<StoredEvent>> {
        let res = res_key(def);
        let start = self.history.partition_point(|e| e.rv <= after);
        self.history[start..]
            .iter()
            .filter(|e| e.res == res)
            .cloned()
            .collect()
    }

    /// Live events of the resource from now on; the channel closes on `drop_watchers`.
    pub fn subscribe(&mut self, def: &ResourceDef) -> UnboundedReceiver<Arc<StoredEvent>> {
        let (tx, rx) = unbounded_channel();
        self.watchers.push(Watcher {
            res: res_key(def),
            tx,
        });
        rx
    }

    pub fn drop_watchers(&mut self) {
        self.watchers.clear();
    }

    pub fn compact(&mut self) {
        self.history.clear();
        self.oldest = self.rv;
    }
}
