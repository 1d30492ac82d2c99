//! Per-evaluation lookups: each Gateway's class, controller, semantics and EnvoyProxy.

use super::{Options, Semantics};
use crate::model::*;
use crate::snapshot::Snapshot;
use foldhash::{HashMap, HashMapExt};

pub(crate) struct GatewayCtx<'a> {
    pub gateway: &'a Gateway,
    /// `NS/NAME`.
    pub key: String,
    pub class: Option<&'a GatewayClass>,
    /// `None` when the GatewayClass is missing.
    pub semantics: Option<Semantics>,
    /// The EnvoyProxy that parameterises this Gateway (Gateway-level overrides class-level).
    pub proxy: Option<&'a EnvoyProxy>,
    /// The proxy reference could not be resolved (named but not found).
    pub proxy_missing: Option<String>,
}

impl GatewayCtx<'_> {
    pub fn controller(&self) -> &str {
        self.class.map(|c| c.controller_name.as_str()).unwrap_or("")
    }
}

pub(crate) struct Context<'a> {
    pub snap: &'a Snapshot,
    pub opts: &'a Options,
    /// namespace -> name -> context.
    gateways: HashMap<&'a str, HashMap<&'a str, GatewayCtx<'a>>>,
    /// Why Envoy Gateway sees no BackendTLSPolicy at all (version skew), when known.
    pub eg_blind: Option<String>,
}

impl<'a> Context<'a> {
    pub fn new(snap: &'a Snapshot, opts: &'a Options) -> Self {
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
                        key: format!("{}/{}", gw.meta.namespace, gw.meta.name),
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
        }
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
