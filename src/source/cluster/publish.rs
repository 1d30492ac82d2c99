//! What a session publishes: the snapshot built from its stores (with what the cluster did
//! not let it read), and whether the objects that changed can be sent as they are.

use super::discovery::Served;
use super::{
    ClusterInfo, Failure, Session, Snapshot, SnapshotBuilder, SourceInfo, Status, Use, watch,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

impl Session {
    /// The namespaces whose ConfigMaps and Secrets the referring kinds name, from those kinds
    /// alone (a few thousand objects, not the whole snapshot).
    pub(super) fn referenced_cert_namespaces(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut b = SnapshotBuilder::new();
        let origin = self.origin();
        for w in &self.watched {
            if matches!(
                w.served.spec.kind,
                "BackendTLSPolicy" | "Backend" | "Gateway" | "EnvoyProxy"
            ) {
                for entry in w.store.state() {
                    entry.decoded.replay(&mut b, &origin);
                }
            }
        }
        b.build(SourceInfo::default()).referenced_cert_namespaces()
    }

    /// Whether the namespaces of the CA bundles that the policies among `entries` name are
    /// read already (or out of the namespace scope, as in [`Self::maybe_publish`]).
    pub(super) fn reads_bundles_of(&self, entries: &[Arc<watch::Entry>]) -> bool {
        entries
            .iter()
            .filter_map(|e| match e.decoded.only_object() {
                Some((crate::snapshot::Object::Policy(p), _)) => Some(p),
                _ => None,
            })
            .all(|p| {
                p.ca_refs.iter().all(|r| {
                    match crate::snapshot::bundle_location(r, "ConfigMap", &p.meta.namespace) {
                        None => true,
                        Some((kind, ns)) => {
                            self.namespace.as_deref().is_some_and(|scope| scope != ns)
                                || self.cert_namespaces.contains(&(kind, ns.to_string()))
                        }
                    }
                })
            })
    }

    /// `take`: move the objects out of the stores (they are left empty) instead of copying.
    pub(super) fn build(&self, take: bool) -> Snapshot {
        let mut b = SnapshotBuilder::new();
        let origin = self.origin();
        let mut unreadable = BTreeMap::new();
        let mut notices = self.discovered.notices.clone();
        for w in &self.watched {
            let spec = w.served.spec;
            let key = match (&w.namespace, spec.usage) {
                (Some(ns), Use::Referenced) => format!("{}/{ns}", spec.kind),
                _ => spec.kind.to_string(),
            };
            match &w.status {
                Status::Failed(Failure::Forbidden { verb, message }) if !w.listed => {
                    unreadable.insert(
                        key,
                        format!("403 Forbidden: cannot {verb} {}", resource_name(&w.served)),
                    );
                    notices.push(format!(
                        "no permission to {verb} {}: {message}",
                        resource_name(&w.served)
                    ));
                }
                Status::Failed(Failure::Forbidden { verb, message }) => notices.push(format!(
                    "no permission to {verb} {} ({message}): shown as last listed, not updated",
                    resource_name(&w.served)
                )),
                Status::Failed(Failure::NotServed(m)) => {
                    unreadable.insert(key, format!("no longer served: {m}"));
                }
                Status::Failed(Failure::Other(m)) if !w.listed => {
                    unreadable.insert(key, m.clone());
                }
                Status::Failed(Failure::Throttled { message, .. }) if !w.listed => {
                    unreadable.insert(key, format!("{message}; retrying"));
                }
                Status::Failed(Failure::Other(m) | Failure::Throttled { message: m, .. }) => {
                    notices.push(format!(
                        "cannot watch {} ({m}): shown as last listed, not updated",
                        resource_name(&w.served)
                    ))
                }
                Status::Pending | Status::Failed(_) if !w.listed => {
                    unreadable.insert(key, "not listed yet".into());
                }
                _ => {}
            }
            // Decoded when they arrived: only copied (or moved) here.
            if take {
                for entry in w.store.take() {
                    match Arc::try_unwrap(entry) {
                        Ok(entry) => entry.decoded.into_builder(&mut b, &origin),
                        Err(shared) => shared.decoded.replay(&mut b, &origin),
                    }
                }
            } else {
                for entry in w.store.state() {
                    entry.decoded.replay(&mut b, &origin);
                }
            }
        }
        notices.sort();
        notices.dedup();
        b.cluster(ClusterInfo {
            context: self.conn.context.clone(),
            server: self.conn.server.clone(),
            namespace: self.namespace.clone(),
            btlsp_served: self.discovered.btlsp_versions.clone(),
            notices,
            unreadable,
        });
        b.build(SourceInfo {
            kind: "cluster".into(),
            description: format!("context {} ({})", self.conn.context, self.conn.server),
        })
    }
}

/// `services` or `backendtlspolicies.gateway.networking.k8s.io`, as kubectl names them.
fn resource_name(s: &Served) -> String {
    if s.resource.group.is_empty() {
        s.resource.plural.clone()
    } else {
        format!("{}.{}", s.resource.plural, s.resource.group)
    }
}
