//! Finding the objects of a snapshot: the indexes built once when it is built (by namespace
//! and name, by policy target, by the namespaces a ReferenceGrant names) and the lookups that
//! use them, so that no evaluation step goes through every object of a kind for each item.

use super::{ObjectId, Snapshot};
use crate::model::*;
use foldhash::HashMap as FastMap;
use std::sync::Arc;

/// `namespace -> name -> position`: looked up with borrowed strings, no key built per lookup.
type ByNsName = FastMap<String, FastMap<String, usize>>;

pub(super) fn insert_ns_name(map: &mut ByNsName, ns: &str, name: &str, i: usize) {
    map.entry(ns.to_string())
        .or_default()
        .insert(name.to_string(), i);
}

pub(super) fn get_ns_name(map: &ByNsName, ns: &str, name: &str) -> Option<usize> {
    map.get(ns).and_then(|m| m.get(name)).copied()
}

#[derive(Debug, Clone, Default)]
pub(super) struct Indexes {
    classes: FastMap<String, usize>,
    gateways: ByNsName,
    services: ByNsName,
    service_imports: ByNsName,
    backends: ByNsName,
    proxies: ByNsName,
    certs: FastMap<BundleKind, ByNsName>,
    /// The ReferenceGrants in a namespace that name a namespace in their `from` list, by
    /// both namespaces: a namespace of shared backends may hold a grant for each of hundreds
    /// of namespaces, and an edge looks only at those for its own.
    grants_by_ns: FastMap<String, FastMap<String, Vec<usize>>>,
    policies_by_ns: FastMap<String, Vec<usize>>,
    /// `namespace -> target name -> (policy position, targetRef position)`, in policy order.
    pub(super) policy_targets: FastMap<String, FastMap<String, Vec<(usize, usize)>>>,
}

impl Snapshot {
    pub(super) fn index(&mut self) {
        let mut idx = Indexes::default();
        for (i, o) in self.gateway_classes.iter().enumerate() {
            idx.classes.insert(o.meta.name.clone(), i);
        }
        for (i, o) in self.gateways.iter().enumerate() {
            insert_ns_name(&mut idx.gateways, &o.meta.namespace, &o.meta.name, i);
        }
        for (i, o) in self.services.iter().enumerate() {
            let map = if o.kind == "ServiceImport" {
                &mut idx.service_imports
            } else {
                &mut idx.services
            };
            insert_ns_name(map, &o.meta.namespace, &o.meta.name, i);
        }
        for (i, o) in self.backends.iter().enumerate() {
            insert_ns_name(&mut idx.backends, &o.meta.namespace, &o.meta.name, i);
        }
        for (i, o) in self.envoy_proxies.iter().enumerate() {
            insert_ns_name(&mut idx.proxies, &o.meta.namespace, &o.meta.name, i);
        }
        for (i, (k, o)) in self.cert_sources.iter().enumerate() {
            insert_ns_name(
                idx.certs.entry(*k).or_default(),
                &o.meta.namespace,
                &o.meta.name,
                i,
            );
        }
        for (i, o) in self.reference_grants.iter().enumerate() {
            let by_from = idx
                .grants_by_ns
                .entry(o.meta.namespace.clone())
                .or_default();
            let mut from: Vec<&str> = o.from.iter().map(|f| f.namespace.as_str()).collect();
            from.sort_unstable();
            from.dedup();
            for ns in from {
                by_from.entry(ns.to_string()).or_default().push(i);
            }
        }
        for (i, o) in self.policies.iter().enumerate() {
            idx.policies_by_ns
                .entry(o.meta.namespace.clone())
                .or_default()
                .push(i);
            let by_name = idx
                .policy_targets
                .entry(o.meta.namespace.clone())
                .or_default();
            for (t, target) in o.targets.iter().enumerate() {
                let list = by_name.entry(target.name.clone()).or_default();
                // One entry per (policy, targetRef): a policy may name the same object twice.
                list.push((i, t));
            }
        }
        self.idx = idx;
    }

    /// The routes of kind `kind` (`HTTPRoute`, …) named `ns/name` (one, unless the input
    /// holds it twice), found by the order the routes are kept in.
    pub fn routes_named(&self, kind: &str, ns: &str, name: &str) -> &[Arc<Route>] {
        let Some(kind) = RouteKind::from_kind(kind) else {
            return &[];
        };
        let key = (kind, ns, name);
        fn of(r: &Route) -> (RouteKind, &str, &str) {
            (r.kind, &r.meta.namespace, &r.meta.name)
        }
        let start = self.routes.partition_point(|r| of(r) < key);
        let len = self.routes[start..].partition_point(|r| of(r) == key);
        &self.routes[start..start + len]
    }

    pub fn gateway_class(&self, name: &str) -> Option<&GatewayClass> {
        self.idx
            .classes
            .get(name)
            .map(|&i| &*self.gateway_classes[i])
    }

    pub fn gateway(&self, ns: &str, name: &str) -> Option<&Gateway> {
        get_ns_name(&self.idx.gateways, ns, name).map(|i| &*self.gateways[i])
    }

    /// A Service (`kind == "Service"`) or ServiceImport.
    pub fn service(&self, kind: &str, ns: &str, name: &str) -> Option<&Service> {
        let map = match kind {
            "Service" => &self.idx.services,
            "ServiceImport" => &self.idx.service_imports,
            _ => return None,
        };
        get_ns_name(map, ns, name).map(|i| &*self.services[i])
    }

    pub fn backend(&self, ns: &str, name: &str) -> Option<&Backend> {
        get_ns_name(&self.idx.backends, ns, name).map(|i| &*self.backends[i])
    }

    pub fn envoy_proxy(&self, ns: &str, name: &str) -> Option<&EnvoyProxy> {
        get_ns_name(&self.idx.proxies, ns, name).map(|i| &*self.envoy_proxies[i])
    }

    pub fn cert_source(&self, kind: BundleKind, ns: &str, name: &str) -> Option<&CertSource> {
        let ns = if kind == BundleKind::ClusterTrustBundle {
            ""
        } else {
            ns
        };
        self.idx
            .certs
            .get(&kind)
            .and_then(|m| get_ns_name(m, ns, name))
            .map(|i| &*self.cert_sources[i].1)
    }

    /// `(policy, targetRef index)` for every targetRef in namespace `ns` naming `name`, in
    /// Envoy Gateway's policy order (kind, group and section are for the caller to check).
    pub fn policy_targets_named<'a>(
        &'a self,
        ns: &str,
        name: &str,
    ) -> impl Iterator<Item = (&'a BackendTlsPolicy, usize)> + 'a {
        self.targets_named(ns, name)
            .map(|&(p, t)| (&*self.policies[p], t))
    }

    /// `(policy position, targetRef index)` for every targetRef in `ns` naming `name`.
    pub(super) fn targets_named<'a>(
        &'a self,
        ns: &str,
        name: &str,
    ) -> impl Iterator<Item = &'a (usize, usize)> + use<'a> {
        self.idx
            .policy_targets
            .get(ns)
            .and_then(|m| m.get(name))
            .into_iter()
            .flatten()
    }

    /// The ReferenceGrants in namespace `ns` that name namespace `from_ns` in their `from`
    /// list, in snapshot order.
    pub fn grants_in_from<'a>(
        &'a self,
        ns: &str,
        from_ns: &str,
    ) -> impl Iterator<Item = &'a ReferenceGrant> + 'a {
        self.idx
            .grants_by_ns
            .get(ns)
            .and_then(|by_from| by_from.get(from_ns))
            .into_iter()
            .flatten()
            .map(|&i| &*self.reference_grants[i])
    }

    /// Policies in `ns`, in Envoy Gateway's order.
    pub fn policies_in<'a>(&'a self, ns: &str) -> impl Iterator<Item = &'a BackendTlsPolicy> + 'a {
        self.idx
            .policies_by_ns
            .get(ns)
            .into_iter()
            .flatten()
            .map(|&i| &*self.policies[i])
    }

    /// Whether `from` may refer to `to`: same namespace, or a ReferenceGrant in `to`'s namespace.
    pub fn reference_permitted(&self, from: ObjectId<'_>, to: ObjectId<'_>) -> bool {
        from.namespace == to.namespace
            || self.grants_in_from(to.namespace, from.namespace).any(|g| {
                g.permits(
                    from.group,
                    from.kind,
                    from.namespace,
                    to.group,
                    to.kind,
                    to.name,
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grant(name: &str, from: &[(&str, &str)], to_kind: &str) -> serde_json::Value {
        let from: Vec<_> = from
            .iter()
            .map(|(kind, ns)| json!({"group": "gateway.networking.k8s.io", "kind": kind, "namespace": ns}))
            .collect();
        json!({"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
            "metadata": {"name": name, "namespace": "shared"},
            "spec": {"from": from, "to": [{"group": "", "kind": to_kind}]}})
    }

    /// A namespace of shared Services with a grant per namespace that uses them: a route is let
    /// in by the grant that names its own namespace and kind, and by no other.
    #[test]
    fn references_are_permitted_by_the_grants_naming_their_namespace() {
        let mut b = crate::snapshot::SnapshotBuilder::new();
        let mut objects: Vec<serde_json::Value> = (0..50)
            .map(|i| {
                grant(
                    &format!("g{i}"),
                    &[("HTTPRoute", &format!("team-{i}"))],
                    "Service",
                )
            })
            .collect();
        objects.push(grant(
            "both",
            &[("GRPCRoute", "a"), ("HTTPRoute", "b")],
            "Service",
        ));
        objects.push(grant("backends", &[("HTTPRoute", "a")], "Backend"));
        for o in objects {
            crate::source::decode::add_value(&mut b, o, Default::default());
        }
        let snap = b.build(Default::default());
        assert!(snap.errors.is_empty(), "{:?}", snap.errors);
        let permitted = |kind: &str, ns: &str, to_kind: &str| {
            let from = ObjectId {
                group: "gateway.networking.k8s.io",
                kind,
                namespace: ns,
                name: "r",
            };
            let to = ObjectId {
                group: if to_kind == "Backend" {
                    "gateway.envoyproxy.io"
                } else {
                    ""
                },
                kind: to_kind,
                namespace: "shared",
                name: "svc",
            };
            snap.reference_permitted(from, to)
        };
        assert!(permitted("HTTPRoute", "team-7", "Service"));
        assert!(permitted("HTTPRoute", "team-49", "Service"));
        assert!(!permitted("GRPCRoute", "team-7", "Service"));
        assert!(!permitted("HTTPRoute", "team-50", "Service"));
        assert!(permitted("GRPCRoute", "a", "Service"));
        assert!(!permitted("HTTPRoute", "a", "Service"));
        assert!(permitted("HTTPRoute", "b", "Service"));
        assert!(!permitted("HTTPRoute", "b", "Backend"));
        assert!(permitted("HTTPRoute", "shared", "Backend"));
        let names: Vec<&str> = snap
            .grants_in_from("shared", "a")
            .map(|g| g.meta.name.as_str())
            .collect();
        assert_eq!(names, ["backends", "both"]);
    }
}
