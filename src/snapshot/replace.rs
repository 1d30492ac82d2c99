//! Changing one object of a snapshot in place, for the incremental evaluation: a new version of
//! a route or of a BackendTLSPolicy that keeps its place in the snapshot's order.

use super::{Object, Snapshot};
use crate::model::{BackendTlsPolicy, Origin, Route};
use std::sync::Arc;

/// The object a [`Snapshot::replace`] took out, and where it was.
#[derive(Debug, Clone)]
pub enum Replaced {
    Route {
        position: usize,
        old: Arc<Route>,
    },
    Policy {
        position: usize,
        old: Arc<BackendTlsPolicy>,
    },
}

impl Snapshot {
    /// Whether [`Snapshot::replace`] would take `object` in place (and change nothing else).
    pub fn can_replace(&self, object: &Object) -> bool {
        self.place_of(object).is_some()
    }

    /// The position of the object `object` is a new version of, when it can take its place.
    fn place_of(&self, object: &Object) -> Option<usize> {
        match object {
            Object::Route(new) => {
                let key = |r: &Route| (r.kind, r.meta.namespace.clone(), r.meta.name.clone());
                self.routes.binary_search_by_key(&key(new), |r| key(r)).ok()
            }
            Object::Policy(new) => {
                let key = |p: &BackendTlsPolicy| {
                    (
                        p.meta.creation_timestamp,
                        p.meta.namespace.clone(),
                        p.meta.name.clone(),
                    )
                };
                self.policies
                    .binary_search_by_key(&key(new), |p| key(p))
                    .ok()
            }
            _ => None,
        }
    }

    /// Puts `object` in the place of the object with the same key, when that keeps the
    /// snapshot exactly as [`super::SnapshotBuilder`] would build it with the new version: a
    /// route, or a policy with the same creation time (its place in Envoy Gateway's order).
    /// Anything else (a new or deleted object, another kind, a policy that moves) is given back
    /// unchanged: rebuild the snapshot for it.
    pub fn replace(
        &mut self,
        object: Object,
        origin: Origin,
        raw: Option<Arc<str>>,
    ) -> Result<Replaced, Object> {
        let Some(position) = self.place_of(&object) else {
            return Err(object);
        };
        let replaced = match object {
            Object::Route(new) => {
                let old = std::mem::replace(&mut self.routes[position], new);
                Replaced::Route { position, old }
            }
            Object::Policy(new) => {
                self.unindex_policy_targets(position);
                let old = std::mem::replace(&mut self.policies[position], new);
                self.index_policy_targets(position);
                Replaced::Policy { position, old }
            }
            other => return Err(other),
        };
        let key = match &replaced {
            Replaced::Route { position, .. } => Object::Route(self.routes[*position].clone()),
            Replaced::Policy { position, .. } => Object::Policy(self.policies[*position].clone()),
        }
        .key();
        match raw {
            Some(text) => {
                self.raw.insert(key.clone(), text);
            }
            None => {
                self.raw.remove(&key);
            }
        }
        let by_position = match &replaced {
            Replaced::Route { position, .. } => self.route_origins.get_mut(*position),
            Replaced::Policy { position, .. } => self.policy_origins.get_mut(*position),
        };
        if let Some(kept) = by_position {
            *kept = Some(origin.clone());
        }
        self.origins.insert(key, origin);
        Ok(replaced)
    }

    /// Positions of the policies with a targetRef in namespace `ns` naming `name`, in policy
    /// order (repeated for a policy that names it twice).
    pub fn policy_positions_named<'a>(
        &'a self,
        ns: &str,
        name: &str,
    ) -> impl Iterator<Item = usize> + 'a {
        self.targets_named(ns, name).map(|&(p, _)| p)
    }

    /// Removes the policy at `position` from the target index.
    fn unindex_policy_targets(&mut self, position: usize) {
        let p = &self.policies[position];
        let Some(by_name) = self.idx.policy_targets.get_mut(&p.meta.namespace) else {
            return;
        };
        for t in &p.targets {
            if let Some(list) = by_name.get_mut(&t.name) {
                list.retain(|&(i, _)| i != position);
                if list.is_empty() {
                    by_name.remove(&t.name);
                }
            }
        }
    }

    /// Adds the policy at `position` to the target index, each entry where the full index
    /// would have it (policy order, then targetRef order).
    fn index_policy_targets(&mut self, position: usize) {
        let p = &self.policies[position];
        let by_name = self
            .idx
            .policy_targets
            .entry(p.meta.namespace.clone())
            .or_default();
        for (t, target) in p.targets.iter().enumerate() {
            let list = by_name.entry(target.name.clone()).or_default();
            let at = list.partition_point(|&entry| entry < (position, t));
            list.insert(at, (position, t));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{SnapshotBuilder, SourceInfo};
    use serde_json::json;

    fn build(objects: &[serde_json::Value]) -> Snapshot {
        let mut b = SnapshotBuilder::new();
        for o in objects {
            crate::source::decode::add_value(&mut b, o.clone(), Origin::default());
        }
        b.build(SourceInfo::default())
    }

    fn decoded(o: &serde_json::Value) -> Object {
        let mut b = SnapshotBuilder::without_text();
        crate::source::decode::add_value(&mut b, o.clone(), Origin::default());
        b.objects.pop().expect("one object").1
    }

    fn policy(name: &str, targets: &[&str], created: &str) -> serde_json::Value {
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
            "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
            "spec": {"targetRefs": targets.iter().map(|t| json!({"group": "", "kind": "Service", "name": t})).collect::<Vec<_>>(),
                     "validation": {"wellKnownCACertificates": "System", "hostname": "a.example.com"}}})
    }

    /// A policy that now names other targets is found through them, in the order a rebuilt
    /// snapshot gives, and no longer through the targets it dropped.
    #[test]
    fn a_replaced_policy_is_indexed_as_a_rebuild_would() {
        let t0 = "2026-01-01T00:00:00Z";
        let t1 = "2026-01-02T00:00:00Z";
        let before = [
            policy("a", &["s1", "s2"], t0),
            policy("b", &["s2"], t1),
            policy("c", &["s3"], t1),
        ];
        let mut after = before.clone();
        after[0] = policy("a", &["s3", "s1"], t0);
        let mut snap = build(&before);
        let replaced = snap.replace(decoded(&after[0]), Origin::default(), None);
        assert!(matches!(replaced, Ok(Replaced::Policy { position: 0, .. })));
        let rebuilt = build(&after);
        let names = |s: &Snapshot, target: &str| -> Vec<(String, usize)> {
            s.policy_targets_named("ns", target)
                .map(|(p, t)| (p.meta.name.clone(), t))
                .collect()
        };
        for target in ["s1", "s2", "s3"] {
            assert_eq!(names(&snap, target), names(&rebuilt, target), "{target}");
        }
        assert_eq!(
            names(&snap, "s3"),
            [("a".to_string(), 0), ("c".to_string(), 0)]
        );
        assert_eq!(names(&snap, "s2"), [("b".to_string(), 0)]);
    }

    /// What cannot keep its place is given back: a policy created at another time, an object
    /// the snapshot does not have, another kind.
    #[test]
    fn what_would_move_is_given_back() {
        let mut snap = build(&[policy("a", &["s1"], "2026-01-01T00:00:00Z")]);
        let moved = decoded(&policy("a", &["s1"], "2026-03-01T00:00:00Z"));
        assert!(snap.replace(moved, Origin::default(), None).is_err());
        let new = decoded(&policy("z", &["s1"], "2026-01-01T00:00:00Z"));
        assert!(snap.replace(new, Origin::default(), None).is_err());
        let svc = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "s1", "namespace": "ns"}, "spec": {"ports": [{"port": 443}]}});
        assert!(
            snap.replace(decoded(&svc), Origin::default(), None)
                .is_err()
        );
    }

    fn route(kind: &str, ns: &str, name: &str, weight: u32) -> serde_json::Value {
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
            "metadata": {"name": name, "namespace": ns},
            "spec": {"parentRefs": [{"name": "gw"}],
                     "rules": [{"backendRefs": [{"name": "svc", "port": 80, "weight": weight}]}]}})
    }

    /// A route is found by its kind, namespace and name (not by another kind's route of that
    /// name, nor in another namespace), and after it is replaced, its new version is.
    #[test]
    fn routes_are_found_by_kind_namespace_and_name() {
        let objects = [
            route("HTTPRoute", "b", "web", 1),
            route("GRPCRoute", "a", "web", 1),
            route("HTTPRoute", "a", "web", 1),
            route("HTTPRoute", "a", "api", 1),
            route("TLSRoute", "a", "web", 1),
        ];
        let mut snap = build(&objects);
        let found = |s: &Snapshot, kind: &str, ns: &str, name: &str| -> Vec<(String, String)> {
            s.routes_named(kind, ns, name)
                .iter()
                .map(|r| {
                    (
                        r.kind.as_str().to_string(),
                        format!("{}/{}", r.meta.namespace, r.meta.name),
                    )
                })
                .collect()
        };
        assert_eq!(
            found(&snap, "HTTPRoute", "a", "web"),
            [("HTTPRoute".to_string(), "a/web".to_string())]
        );
        assert_eq!(
            found(&snap, "GRPCRoute", "a", "web"),
            [("GRPCRoute".to_string(), "a/web".to_string())]
        );
        assert_eq!(found(&snap, "HTTPRoute", "b", "web").len(), 1);
        assert!(found(&snap, "HTTPRoute", "c", "web").is_empty());
        assert!(found(&snap, "TCPRoute", "a", "web").is_empty());
        assert!(found(&snap, "UDPRoute", "a", "web").is_empty());
        assert!(found(&snap, "Service", "a", "web").is_empty());
        let replaced = snap.replace(
            decoded(&route("HTTPRoute", "a", "web", 7)),
            Origin::default(),
            None,
        );
        assert!(matches!(replaced, Ok(Replaced::Route { .. })));
        let [r] = snap.routes_named("HTTPRoute", "a", "web") else {
            panic!("one route a/web");
        };
        assert_eq!(r.rules[0].backend_refs[0].weight, Some(7));
    }
}
