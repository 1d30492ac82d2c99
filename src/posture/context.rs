//! Per-evaluation lookups: each Gateway's class, controller, semantics and EnvoyProxy.

use super::trust::{CaResolution, ca_ref_key, resolve_cas};
use super::{Options, Semantics};
use crate::model::*;
use crate::snapshot::Snapshot;
use foldhash::{HashMap, HashMapExt};
use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock};

pub(crate) struct GatewayCtx<'a> {
    pub gateway: &'a Gateway,
    /// `NS/NAME`.
    pub key: Arc<str>,
    /// The GatewayClass name and its controller (empty when the class is missing), shared by
    /// every edge of this Gateway.
    pub class_name: Arc<str>,
    pub controller: Arc<str>,
    /// The Gateway as a policy ancestor, as the Gateway API specification names it.
    pub ancestor_ref: Arc<ParentRef>,
    /// The names of the Gateway's listeners, in order, shared by the edges through them.
    pub listener_names: Vec<Arc<str>>,
    pub class: Option<&'a GatewayClass>,
    /// `None` when the GatewayClass is missing.
    pub semantics: Option<Semantics>,
    /// The EnvoyProxy that parameterises this Gateway (Gateway-level overrides class-level).
    pub proxy: Option<&'a EnvoyProxy>,
    /// The proxy reference could not be resolved (named but not found).
    pub proxy_missing: Option<String>,
}

pub(crate) struct Context<'a> {
    pub snap: &'a Snapshot,
    pub opts: &'a Options,
    /// namespace -> name -> context.
    gateways: HashMap<&'a str, HashMap<&'a str, GatewayCtx<'a>>>,
    /// Why Envoy Gateway sees no BackendTLSPolicy at all (version skew), when known.
    pub eg_blind: Option<String>,
    /// The CA references of each policy that has them, resolved on first use.
    policy_cas: Cas<'a>,
    /// The positions of the policies (in the current shape) with a `Backend` targetRef, by a
    /// hash of that target's name: built on first use (see
    /// [`Context::policies_naming_backend`]). Holds no borrow, which would tie the context's
    /// lifetime down.
    backend_targets: OnceLock<HashMap<u64, Vec<usize>>>,
    /// The positions of the Services (and ServiceImports) by a hash of their kind and name,
    /// in any namespace: built on first use (see [`Context::services_named`]).
    services_by_name: OnceLock<HashMap<u64, Vec<usize>>>,
}

/// The CA references of each policy that has them (by [`super::status::pid`]), resolved on
/// first use under each semantics: every edge of a policy shares one resolution. The
/// incremental evaluation keeps it from one update to the next.
#[derive(Default)]
pub(crate) struct PolicyCasCache(HashMap<usize, [OnceLock<PolicyCas>; 2]>);

impl PolicyCasCache {
    /// Slots for every policy of `snap` that has CA references.
    pub fn new(snap: &Snapshot) -> Self {
        let mut cache = PolicyCasCache::default();
        // Room for them all at once: growing the table step by step moves every slot each time.
        cache.0.reserve(
            snap.policies
                .iter()
                .filter(|p| !p.ca_refs.is_empty())
                .count(),
        );
        for p in &snap.policies {
            cache.insert(p);
        }
        cache
    }

    /// An empty slot for `p` (a new policy, or a new version of one).
    pub fn insert(&mut self, p: &BackendTlsPolicy) {
        if !p.ca_refs.is_empty() {
            self.0.insert(super::status::pid(p), Default::default());
        }
    }

    /// Forgets the policy `pid`.
    pub fn remove(&mut self, pid: usize) {
        self.0.remove(&pid);
    }
}

/// A cache of the evaluation's own, or one kept across evaluations.
enum Cas<'a> {
    Own(PolicyCasCache),
    Kept(&'a PolicyCasCache),
}

impl std::ops::Deref for Cas<'_> {
    type Target = PolicyCasCache;
    fn deref(&self) -> &PolicyCasCache {
        match self {
            Cas::Own(c) => c,
            Cas::Kept(c) => c,
        }
    }
}

/// A policy's CA references as resolved under one semantics.
pub(crate) struct PolicyCas {
    pub resolution: CaResolution,
    /// `KIND/NS/NAME` of each reference.
    pub keys: Arc<[String]>,
}

impl<'a> Context<'a> {
    pub fn new(snap: &'a Snapshot, opts: &'a Options) -> Self {
        Self::with(snap, opts, Cas::Own(PolicyCasCache::new(snap)))
    }

    /// A context whose policies' CA resolutions are kept in `cas` (which must have a slot for
    /// every policy of `snap` with CA references, and hold only resolutions made against the
    /// CA bundles of `snap`).
    pub fn with_cas(snap: &'a Snapshot, opts: &'a Options, cas: &'a PolicyCasCache) -> Self {
        Self::with(snap, opts, Cas::Kept(cas))
    }

    fn with(snap: &'a Snapshot, opts: &'a Options, policy_cas: Cas<'a>) -> Self {
        let mut gateways: HashMap<&str, HashMap<&str, GatewayCtx>> = HashMap::new();
        for gw in &snap.gateways {
            let class = snap.gateway_class(&gw.class_name);
            let semantics = class.map(|c| {
                if c.controller_name == EG_CONTROLLER {
                    Semantics::EnvoyGateway
                } else {
                    Semantics::GatewayApiSpec
                }
            });
            let mut proxy = None;
            let mut proxy_missing = None;
            if semantics == Some(Semantics::EnvoyGateway) {
                let gw_ref = gw
                    .infrastructure_parameters_ref
                    .as_ref()
                    .filter(|r| r.kind.as_deref() == Some("EnvoyProxy"));
                let class_ref = class
                    .and_then(|c| c.parameters_ref.as_ref())
                    .filter(|r| r.kind.as_deref() == Some("EnvoyProxy"));
                if let Some(r) = gw_ref {
                    proxy = snap.envoy_proxy(&gw.meta.namespace, &r.name);
                    if proxy.is_none() {
                        proxy_missing =
                            Some(format!("EnvoyProxy {}/{}", gw.meta.namespace, r.name));
                    }
                }
                if proxy.is_none()
                    && let Some(r) = class_ref
                {
                    let ns = r.namespace.as_deref().unwrap_or_default();
                    proxy = snap.envoy_proxy(ns, &r.name);
                    if proxy.is_none() && proxy_missing.is_none() {
                        proxy_missing = Some(format!("EnvoyProxy {ns}/{}", r.name));
                    }
                }
            }
            gateways
                .entry(gw.meta.namespace.as_str())
                .or_default()
                .insert(
                    gw.meta.name.as_str(),
                    GatewayCtx {
                        gateway: gw,
                        key: format!("{}/{}", gw.meta.namespace, gw.meta.name).into(),
                        class_name: gw.class_name.as_str().into(),
                        controller: class.map_or("", |c| c.controller_name.as_str()).into(),
                        ancestor_ref: Arc::new(ParentRef {
                            group: Some(GATEWAY_GROUP.into()),
                            kind: Some("Gateway".into()),
                            namespace: Some(gw.meta.namespace.clone()),
                            name: gw.meta.name.clone(),
                            section_name: None,
                            port: None,
                        }),
                        listener_names: gw
                            .listeners
                            .iter()
                            .map(|l| Arc::from(l.name.as_str()))
                            .collect(),
                        class,
                        semantics,
                        proxy,
                        proxy_missing,
                    },
                );
        }
        Context {
            snap,
            opts,
            gateways,
            eg_blind: super::cluster::eg_blindness(snap, opts),
            policy_cas,
            backend_targets: OnceLock::new(),
            services_by_name: OnceLock::new(),
        }
    }

    /// The Services (or ServiceImports: `kind`) named `name` in every namespace, in snapshot
    /// order: where a policy's target may be meant to be when it is not in the policy's own
    /// namespace. Indexed on first use, so that each such target does not go through every
    /// Service (a cluster where many policies target Services that are gone would otherwise
    /// pay for as many passes over all of them).
    pub fn services_named<'k>(
        &self,
        kind: &'k str,
        name: &'k str,
    ) -> impl Iterator<Item = &'a Service> + use<'a, '_, 'k> {
        let hash =
            |kind: &str, name: &str| foldhash::fast::FixedState::default().hash_one((kind, name));
        let snap = self.snap;
        let by_name = self.services_by_name.get_or_init(|| {
            let mut by_name: HashMap<u64, Vec<usize>> = HashMap::new();
            for (i, s) in snap.services.iter().enumerate() {
                by_name
                    .entry(hash(s.kind, &s.meta.name))
                    .or_default()
                    .push(i);
            }
            by_name
        });
        by_name
            .get(&hash(kind, name))
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(move |&i| &*snap.services[i])
            .filter(move |s| s.kind == kind && s.meta.name == name)
    }

    /// The policies in the current shape (in snapshot order, each once) that may have a
    /// targetRef of kind `Backend` named `name`, in any namespace (a few others may come with
    /// them: the caller checks the targets): what Envoy Gateway looks at when a Backend's
    /// `spec.tls` names no CA. Indexed on first use, so that each such edge does not go through
    /// every policy.
    pub fn policies_naming_backend(
        &self,
        name: &str,
    ) -> impl Iterator<Item = &'a BackendTlsPolicy> + use<'a, '_> {
        let hash = |name: &str| foldhash::fast::FixedState::default().hash_one(name);
        let snap = self.snap;
        let by_name = self.backend_targets.get_or_init(|| {
            let mut by_name: HashMap<u64, Vec<usize>> = HashMap::new();
            for (i, p) in snap.policies.iter().enumerate() {
                if p.legacy_shape {
                    continue;
                }
                let mut names: Vec<u64> = p
                    .targets
                    .iter()
                    .filter(|t| t.kind == "Backend")
                    .map(|t| hash(&t.name))
                    .collect();
                names.sort_unstable();
                names.dedup();
                for n in names {
                    by_name.entry(n).or_default().push(i);
                }
            }
            by_name
        });
        by_name
            .get(&hash(name))
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(move |&i| &*snap.policies[i])
    }

    /// `p`'s CA references resolved the way `semantics` does (`None` when it has none).
    pub fn policy_cas(&self, p: &BackendTlsPolicy, semantics: Semantics) -> Option<&PolicyCas> {
        let slot = match semantics {
            Semantics::EnvoyGateway => 0,
            Semantics::GatewayApiSpec => 1,
        };
        let cell = &self.policy_cas.0.get(&super::status::pid(p))?[slot];
        Some(cell.get_or_init(|| {
            PolicyCas {
                resolution: resolve_cas(
                    self.snap,
                    semantics,
                    &p.meta.namespace,
                    &p.ca_refs,
                    self.opts.eg_sds_secret_refs,
                ),
                keys: p
                    .ca_refs
                    .iter()
                    .map(|r| ca_ref_key(r, &p.meta.namespace))
                    .collect(),
            }
        }))
    }

    pub fn gateway(&self, ns: &str, name: &str) -> Option<&GatewayCtx<'a>> {
        self.gateways.get(ns).and_then(|m| m.get(name))
    }

    /// Gateways in snapshot order.
    pub fn gateways(&self) -> impl Iterator<Item = &GatewayCtx<'a>> {
        self.snap
            .gateways
            .iter()
            .filter_map(|g| self.gateway(&g.meta.namespace, &g.meta.name))
    }

    /// Controllers of the Gateways in the snapshot (whose status lastmile can cross-check).
    pub fn modelled_controllers(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .gateways
            .values()
            .flat_map(HashMap::values)
            .filter_map(|g| g.class.map(|c| c.controller_name.as_str()))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(kind: &str, ns: &str, name: &str) -> serde_json::Value {
        let group = if kind == "ServiceImport" {
            "multicluster.x-k8s.io/v1alpha1"
        } else {
            "v1"
        };
        json!({"apiVersion": group, "kind": kind, "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": "https", "port": 443}]}})
    }

    /// The Services of one name are found in every namespace that has one, in snapshot order,
    /// and not ServiceImports or Services of another name.
    #[test]
    fn services_of_one_name_are_found_in_every_namespace() {
        let mut b = crate::snapshot::SnapshotBuilder::new();
        for o in [
            service("Service", "c", "shop"),
            service("Service", "a", "shop"),
            service("ServiceImport", "b", "shop"),
            service("Service", "a", "cart"),
            service("Service", "b", "shopping"),
        ] {
            crate::source::decode::add_value(&mut b, o, Default::default());
        }
        let snap = b.build(Default::default());
        assert!(snap.errors.is_empty(), "{:?}", snap.errors);
        let opts = Options::default();
        let ctx = Context::new(&snap, &opts);
        let namespaces = |kind: &str, name: &str| -> Vec<String> {
            ctx.services_named(kind, name)
                .map(|s| s.meta.namespace.clone())
                .collect()
        };
        assert_eq!(namespaces("Service", "shop"), ["a", "c"]);
        assert_eq!(namespaces("ServiceImport", "shop"), ["b"]);
        assert_eq!(namespaces("Service", "cart"), ["a"]);
        assert!(namespaces("Service", "gone").is_empty());
    }
}
