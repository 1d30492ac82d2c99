//! Changes the live source hands over as objects rather than as a new snapshot: new versions
//! of routes and BackendTLSPolicies, which the incremental evaluation puts in place.

use super::watch::Entry;
use crate::model::Origin;
use crate::snapshot::Object;
use std::sync::Arc;

/// A new version of an object that the last snapshot sent holds, which a snapshot can take in
/// place (see `Snapshot::replace`).
#[derive(Debug, Clone)]
pub struct Changed {
    pub object: Object,
    pub origin: Origin,
    /// The object as read, as compact JSON text (for the YAML view).
    pub raw: Option<Arc<str>>,
}

/// What changed since the last update was sent.
#[derive(Debug, Default)]
pub(super) enum Pending {
    #[default]
    Nothing,
    /// Only new versions of objects that can be put in place, in the order they came.
    Objects(Vec<Arc<Entry>>),
    /// Anything else: a new snapshot is needed.
    Everything,
}

impl Pending {
    pub fn everything(&mut self) {
        *self = Pending::Everything;
    }

    /// The object `old` became `new`.
    pub fn modified(&mut self, old: &Entry, new: Arc<Entry>) {
        match self {
            Pending::Everything => {}
            _ if !in_place(old, &new) => self.everything(),
            Pending::Nothing => *self = Pending::Objects(vec![new]),
            Pending::Objects(list) => list.push(new),
        }
    }
}

/// Both versions are one route of the same kind, or one policy created at the same time (its
/// place in Envoy Gateway's order): a snapshot holding `old` can take `new` in its place.
fn in_place(old: &Entry, new: &Entry) -> bool {
    match (old.decoded.only_object(), new.decoded.only_object()) {
        (Some((Object::Route(a), _)), Some((Object::Route(b), _))) => a.kind == b.kind,
        (Some((Object::Policy(a), _)), Some((Object::Policy(b), _))) => {
            a.meta.creation_timestamp == b.meta.creation_timestamp
        }
        _ => false,
    }
}

/// The objects of `entries`, as read from `origin`.
pub(super) fn changed(entries: &[Arc<Entry>], origin: &Origin) -> Vec<Changed> {
    entries
        .iter()
        .filter_map(|e| e.decoded.only_object())
        .map(|(object, raw)| Changed {
            object,
            origin: origin.clone(),
            raw,
        })
        .collect()
}
