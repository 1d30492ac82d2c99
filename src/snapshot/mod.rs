//! The immutable, indexed set of objects one evaluation works on.

use crate::model::*;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use foldhash::HashMap as FastMap;

mod lookups;
mod replace;
pub use replace::Replaced;

/// An object (or document) that could not be read. It never hides the other objects.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectError {
    /// `KIND/NS/NAME` when known, else a description of the document.
    pub object: String,
    pub origin: Origin,
    pub message: String,
}

impl ObjectError {
    /// One line naming the object, where it came from and what is wrong.
    pub fn describe(&self) -> String {
        format!("{} ({}): {}", self.object, self.origin, self.message)
    }
}

/// Identifies an object for reference checks (`name` is unused for the referring side).
#[derive(Debug, Clone, Copy)]
pub struct ObjectId<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

/// Where a snapshot came from, for headers and reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceInfo {
    /// `demo`, `files` or `cluster`.
    pub kind: String,
    /// Human description: the file list, or the kube context.
    pub description: String,
}

/// What a live cluster told us beyond its objects.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClusterInfo {
    pub context: String,
    pub server: String,
    /// The watched namespace; `None` = all namespaces.
    pub namespace: Option<String>,
    /// Every version at which the API server serves BackendTLSPolicy (empty: CRD not installed).
    pub btlsp_served: Vec<String>,
    /// Things the user should know (CRDs not installed, permissions missing).
    pub notices: Vec<String>,
    /// Kinds that could not be read, with the reason (`Service` -> "403 …").
    pub unreadable: BTreeMap<String, String>,
}

/// One decoded object, before indexing. Shared, not copied: the live source's store and every
/// snapshot built from it hold the same decoded object.
#[derive(Debug, Clone)]
pub enum Object {
    GatewayClass(Arc<GatewayClass>),
    Gateway(Arc<Gateway>),
    Route(Arc<Route>),
    Policy(Arc<BackendTlsPolicy>),
    ReferenceGrant(Arc<ReferenceGrant>),
    Service(Arc<Service>),
    Backend(Arc<Backend>),
    EnvoyProxy(Arc<EnvoyProxy>),
    CertSource(BundleKind, Arc<CertSource>),
    AuxOwner(Arc<AuxBackendOwner>),
}

impl Object {
    /// `KIND/NS/NAME` (or `KIND/NAME` for cluster-scoped kinds).
    pub fn key(&self) -> String {
        let (kind, meta): (&str, &ObjectMeta) = match self {
            Object::GatewayClass(o) => ("GatewayClass", &o.meta),
            Object::Gateway(o) => ("Gateway", &o.meta),
            Object::Route(o) => (o.kind.as_str(), &o.meta),
            Object::Policy(o) => ("BackendTLSPolicy", &o.meta),
            Object::ReferenceGrant(o) => ("ReferenceGrant", &o.meta),
            Object::Service(o) => (o.kind, &o.meta),
            Object::Backend(o) => ("Backend", &o.meta),
            Object::EnvoyProxy(o) => ("EnvoyProxy", &o.meta),
            Object::CertSource(k, o) => (k.as_str(), &o.meta),
            Object::AuxOwner(o) if o.kind == AuxOwnerKind::EnvoyProxy => {
                return format!(
                    "{}#telemetry",
                    object_key("EnvoyProxy", &o.meta.namespace, &o.meta.name)
                );
            }
            Object::AuxOwner(o) => (o.kind.as_str(), &o.meta),
        };
        object_key(kind, &meta.namespace, &meta.name)
    }
}

/// Where a reference to a CA bundle or client certificate of an object in namespace `ns`
/// points, as the live source reads them: `("ConfigMap" | "Secret", namespace)`; `None` for
/// other kinds.
pub fn bundle_location<'a>(
    r: &'a ObjectRef,
    default_kind: &str,
    ns: &'a str,
) -> Option<(&'static str, &'a str)> {
    let ns = r.namespace.as_deref().unwrap_or(ns);
    match r.kind.as_deref().unwrap_or(default_kind) {
        "ConfigMap" => Some(("ConfigMap", ns)),
        "Secret" => Some(("Secret", ns)),
        _ => None,
    }
}

/// `KIND/NS/NAME`, or `KIND/NAME` when `ns` is empty.
pub fn object_key(kind: &str, ns: &str, name: &str) -> String {
    if ns.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}/{ns}/{name}")
    }
}

/// Collects decoded objects and errors, then freezes them into a [`Snapshot`].
#[derive(Debug, Default)]
pub struct SnapshotBuilder {
    /// `(KIND/NS/NAME, object, origin)`, in the order read.
    objects: Vec<(String, Object, Origin)>,
    raw: BTreeMap<String, Arc<str>>,
    errors: Vec<ObjectError>,
    ignored: BTreeMap<String, usize>,
    cluster: Option<ClusterInfo>,
    /// Objects are not kept as text ([`Snapshot::raw`] stays empty).
    textless: bool,
}

impl SnapshotBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder for a report: the objects' text (for the YAML view) is not produced or kept.
    pub fn without_text() -> Self {
        SnapshotBuilder {
            textless: true,
            ..Self::default()
        }
    }

    /// Whether pushed objects come with their text.
    pub fn keeps_text(&self) -> bool {
        !self.textless
    }

    /// Adds a decoded object; `raw` is the object as read, as compact JSON text (Secret values
    /// already redacted), for the YAML view.
    pub fn push(&mut self, object: Object, origin: Origin, raw: Option<Arc<str>>) {
        self.push_keyed(object.key(), object, origin, raw);
    }

    /// [`Self::push`] with the object's key (`object.key()`) already known.
    pub fn push_keyed(
        &mut self,
        key: String,
        object: Object,
        origin: Origin,
        raw: Option<Arc<str>>,
    ) {
        debug_assert_eq!(key, object.key());
        if let Some(raw) = raw {
            self.raw.insert(key.clone(), raw);
        }
        self.objects.push((key, object, origin));
    }

    pub fn error(&mut self, error: ObjectError) {
        self.errors.push(error);
    }

    /// Counts an object of a kind lastmile does not use.
    pub fn ignore(&mut self, kind: &str) {
        *self.ignored.entry(kind.to_string()).or_default() += 1;
    }

    /// Records what the live cluster reported (served versions, notices, unreadable kinds).
    pub fn cluster(&mut self, info: ClusterInfo) {
        self.cluster = Some(info);
    }

    pub fn build(self, source: SourceInfo) -> Snapshot {
        let mut s = Snapshot {
            source,
            cluster: self.cluster,
            errors: self.errors,
            ignored: self.ignored,
            raw: self.raw,
            ..Default::default()
        };
        // Later definitions of the same object replace earlier ones (like `kubectl apply`),
        // but the duplicate is reported so nobody is surprised.
        let mut objects = Vec::with_capacity(self.objects.len());
        s.origins.reserve(self.objects.len());
        for (key, obj, origin) in self.objects.into_iter().rev() {
            match s.origins.entry(key) {
                std::collections::hash_map::Entry::Occupied(later) => {
                    s.errors.push(ObjectError {
                        object: later.key().clone(),
                        message: format!(
                            "defined more than once; the definition at {} is used",
                            later.get()
                        ),
                        origin,
                    });
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(origin);
                    objects.push(obj);
                }
            }
        }
        objects.reverse();
        for obj in objects {
            match obj {
                Object::GatewayClass(o) => s.gateway_classes.push(o),
                Object::Gateway(o) => s.gateways.push(o),
                Object::Route(o) => s.routes.push(o),
                Object::Policy(o) => s.policies.push(o),
                Object::ReferenceGrant(o) => s.reference_grants.push(o),
                Object::Service(o) => s.services.push(o),
                Object::Backend(o) => s.backends.push(o),
                Object::EnvoyProxy(o) => s.envoy_proxies.push(o),
                Object::CertSource(k, o) => s.cert_sources.push((k, o)),
                Object::AuxOwner(o) => s.aux_owners.push(o),
            }
        }
        let by_ns_name = |m: &ObjectMeta| (m.namespace.clone(), m.name.clone());
        s.gateway_classes.sort_by_key(|o| by_ns_name(&o.meta));
        s.gateways.sort_by_key(|o| by_ns_name(&o.meta));
        s.routes.sort_by(|a, b| {
            (a.kind, &a.meta.namespace, &a.meta.name).cmp(&(
                b.kind,
                &b.meta.namespace,
                &b.meta.name,
            ))
        });
        s.reference_grants.sort_by_key(|o| by_ns_name(&o.meta));
        s.services.sort_by(|a, b| {
            (a.kind, &a.meta.namespace, &a.meta.name).cmp(&(
                b.kind,
                &b.meta.namespace,
                &b.meta.name,
            ))
        });
        s.backends.sort_by_key(|o| by_ns_name(&o.meta));
        s.envoy_proxies.sort_by_key(|o| by_ns_name(&o.meta));
        s.cert_sources.sort_by(|a, b| {
            (a.0, &a.1.meta.namespace, &a.1.meta.name).cmp(&(
                b.0,
                &b.1.meta.namespace,
                &b.1.meta.name,
            ))
        });
        s.aux_owners.sort_by(|a, b| {
            (a.kind, &a.meta.namespace, &a.meta.name).cmp(&(
                b.kind,
                &b.meta.namespace,
                &b.meta.name,
            ))
        });
        // Envoy Gateway's order: oldest first, then namespace, then name.
        s.policies.sort_by(|a, b| {
            (a.meta.creation_timestamp, &a.meta.namespace, &a.meta.name).cmp(&(
                b.meta.creation_timestamp,
                &b.meta.namespace,
                &b.meta.name,
            ))
        });
        s.index();
        s.origins_by_position();
        s
    }
}

/// Immutable set of objects plus lookup indexes. Build it with [`SnapshotBuilder`].
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub source: SourceInfo,
    /// Set when the snapshot comes from a live cluster.
    pub cluster: Option<ClusterInfo>,
    pub gateway_classes: Vec<Arc<GatewayClass>>,
    pub gateways: Vec<Arc<Gateway>>,
    pub routes: Vec<Arc<Route>>,
    /// Sorted as Envoy Gateway sorts them: creationTimestamp, namespace, name.
    pub policies: Vec<Arc<BackendTlsPolicy>>,
    pub reference_grants: Vec<Arc<ReferenceGrant>>,
    /// Services and ServiceImports.
    pub services: Vec<Arc<Service>>,
    pub backends: Vec<Arc<Backend>>,
    pub envoy_proxies: Vec<Arc<EnvoyProxy>>,
    pub cert_sources: Vec<(BundleKind, Arc<CertSource>)>,
    pub aux_owners: Vec<Arc<AuxBackendOwner>>,
    pub errors: Vec<ObjectError>,
    /// Objects of kinds lastmile does not use, counted per kind.
    pub ignored: BTreeMap<String, usize>,
    /// The objects as read (Secret values redacted), keyed by `KIND/NS/NAME`, as compact JSON
    /// text: one copy each, parsed only when a view shows it ([`Snapshot::raw_value`]).
    pub raw: BTreeMap<String, Arc<str>>,
    /// Where each object (by `KIND/NS/NAME`) was read from.
    pub origins: FastMap<String, Origin>,
    /// Where each route and each policy was read from, by position (what `origins` holds
    /// for them): the findings of a large cluster ask for one per route and per policy, and a
    /// position is found at once where a text is hashed and compared.
    route_origins: Vec<Option<Origin>>,
    policy_origins: Vec<Option<Origin>>,
    idx: lookups::Indexes,
}

impl Snapshot {
    /// Where the route at position `at` was read from.
    pub fn route_origin(&self, at: usize) -> Option<&Origin> {
        self.route_origins.get(at).and_then(Option::as_ref)
    }

    /// Where the BackendTLSPolicy at position `at` was read from.
    pub fn policy_origin(&self, at: usize) -> Option<&Origin> {
        self.policy_origins.get(at).and_then(Option::as_ref)
    }

    /// Fills [`Snapshot::route_origin`] and [`Snapshot::policy_origin`] from `origins`.
    fn origins_by_position(&mut self) {
        let origin = |key: &str| self.origins.get(key).cloned();
        self.route_origins = self.routes.iter().map(|r| origin(r.key())).collect();
        self.policy_origins = self
            .policies
            .iter()
            .map(|p| {
                origin(&object_key(
                    "BackendTLSPolicy",
                    &p.meta.namespace,
                    &p.meta.name,
                ))
            })
            .collect();
    }

    /// Why objects of `kind` could not be read from the cluster, if they could not.
    pub fn unreadable(&self, kind: &str) -> Option<&str> {
        self.cluster
            .as_ref()
            .and_then(|c| c.unreadable.get(kind))
            .map(String::as_str)
    }

    /// Namespaces holding the ConfigMaps and Secrets that objects refer to as CA bundles or
    /// client certificates: a live source reads only these, not every Secret in the cluster.
    pub fn referenced_cert_namespaces(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut config_maps = BTreeSet::new();
        let mut secrets = BTreeSet::new();
        let mut note = |r: &ObjectRef, default_kind: &str, ns: &str| match bundle_location(
            r,
            default_kind,
            ns,
        ) {
            Some(("ConfigMap", ns)) => config_maps.insert(ns.to_string()),
            Some((_, ns)) => secrets.insert(ns.to_string()),
            None => false,
        };
        for p in &self.policies {
            for r in &p.ca_refs {
                note(r, "ConfigMap", &p.meta.namespace);
            }
        }
        for b in &self.backends {
            if let Some(t) = &b.tls {
                for r in &t.ca_certificate_refs {
                    note(r, "ConfigMap", &b.meta.namespace);
                }
                if let Some(r) = &t.client.client_certificate_ref {
                    note(r, "Secret", &b.meta.namespace);
                }
            }
        }
        for g in &self.gateways {
            if let Some(Some(r)) = &g.backend_client_cert {
                note(r, "Secret", &g.meta.namespace);
            }
        }
        for p in &self.envoy_proxies {
            if let Some(r) = p
                .backend_tls
                .as_ref()
                .and_then(|t| t.client_certificate_ref.as_ref())
            {
                note(r, "Secret", &p.meta.namespace);
            }
        }
        (config_maps, secrets)
    }

    /// Why objects of `kind` in namespace `ns` could not be read (all of the kind, or that
    /// namespace's), if they could not.
    pub fn unreadable_in(&self, kind: &str, ns: &str) -> Option<String> {
        let c = self.cluster.as_ref()?;
        if let Some(why) = c
            .unreadable
            .get(kind)
            .or_else(|| c.unreadable.get(&format!("{kind}/{ns}")))
        {
            return Some(why.clone());
        }
        match &c.namespace {
            Some(scope) if scope != ns && !matches!(kind, "Gateway" | "EnvoyProxy") => Some(
                format!("outside the watched namespace {scope}; run with -A or :ns all to read it"),
            ),
            _ => None,
        }
    }

    /// The object `key` (`KIND/NS/NAME`) as read, parsed from its stored text (keys in the order
    /// read).
    pub fn raw_value(&self, key: &str) -> Option<Result<Value, serde_json::Error>> {
        self.raw.get(key).map(|text| serde_json::from_str(text))
    }

    /// Number of objects (excluding errors and ignored kinds).
    pub fn object_count(&self) -> usize {
        self.gateway_classes.len()
            + self.gateways.len()
            + self.routes.len()
            + self.policies.len()
            + self.reference_grants.len()
            + self.services.len()
            + self.backends.len()
            + self.envoy_proxies.len()
            + self.cert_sources.len()
            + self.aux_owners.len()
    }
}
