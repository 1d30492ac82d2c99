//! Edges of the backends that Envoy Gateway policies (ext-proc, ext-auth, JWT, OIDC) and
//! EnvoyProxy telemetry send traffic to, with the policy in place of the route.

use super::super::context::{Context, GatewayCtx};
use super::super::status::Recorder;
use super::super::{Edge, Semantics};
use super::{SharedTexts, Site, evaluate_into};
use crate::model::*;
use std::sync::Arc;

/// Backends owned by Envoy Gateway policies and EnvoyProxy telemetry.
pub(crate) fn aux_edges(ctx: &Context, rec: &mut Recorder) -> Vec<Edge> {
    let mut edges = Vec::new();
    let mut texts = SharedTexts::default();
    for owner in &ctx.snap.aux_owners {
        let gateways = aux_gateways(ctx, owner);
        let ns = owner.meta.namespace.as_str();
        let ancestor = Arc::new(ParentRef {
            group: Some(EG_GROUP.into()),
            kind: Some(owner.kind.as_str().into()),
            namespace: Some(ns.into()),
            name: owner.meta.name.clone(),
            section_name: None,
            port: None,
        });
        let owner_key: Arc<str> =
            format!("{}/{ns}/{}", owner.kind.as_str(), owner.meta.name).into();
        for gw in gateways {
            if gw.semantics != Some(Semantics::EnvoyGateway) {
                continue;
            }
            for group in &owner.groups {
                for (j, br) in group.refs.iter().enumerate() {
                    let destination = match owner.kind {
                        // Envoy Gateway names telemetry destinations without a backend index.
                        AuxOwnerKind::EnvoyProxy if group.feature == "tracing" => {
                            "tracing/backend/-1".to_string()
                        }
                        AuxOwnerKind::EnvoyProxy => format!(
                            "accesslog_otel_{}_{}/backend/-1",
                            group.index / 100,
                            group.index % 100
                        ),
                        _ => format!(
                            "{}/{ns}/{}/{}/{}/backend/{j}",
                            owner.kind.as_str().to_ascii_lowercase(),
                            owner.meta.name,
                            group.feature,
                            group.index
                        ),
                    };
                    let site = Site {
                        owner_kind: owner.kind.as_str(),
                        owner_group: EG_GROUP,
                        owner_ns: ns,
                        owner_name: &owner.meta.name,
                        route_kind: None,
                        owner_key: &owner_key,
                        route_at: None,
                        parent_ref: &ancestor,
                        listener: None,
                        attached: true,
                        attach_note: None,
                        passthrough: false,
                        terminates_tls: false,
                        rule: group.index,
                        index: j,
                        via: Some(group.feature),
                    };
                    let names = BackendNames::new(br, j, ns, destination.into());
                    evaluate_into(ctx, rec, &mut texts, gw, &site, br, &names, &mut edges);
                }
            }
        }
    }
    edges
}

/// At least as many edges as [`aux_edges`] gives: each owner's backendRefs times the
/// Gateways it applies to.
pub(crate) fn aux_edge_bound(ctx: &Context) -> usize {
    ctx.snap
        .aux_owners
        .iter()
        .map(|owner| {
            let refs: usize = owner.groups.iter().map(|g| g.refs.len()).sum();
            match refs {
                0 => 0,
                _ => refs * aux_gateways(ctx, owner).len(),
            }
        })
        .sum()
}

fn aux_gateways<'c, 'a>(ctx: &'c Context<'a>, owner: &AuxBackendOwner) -> Vec<&'c GatewayCtx<'a>> {
    let mut out: Vec<&GatewayCtx> = Vec::new();
    // Each Gateway once, in the order found (an EnvoyProxy set on a GatewayClass applies to
    // every Gateway of the class: thousands, each checked against the ones before otherwise).
    let mut seen: foldhash::HashSet<*const Gateway> = Default::default();
    let ns = owner.meta.namespace.as_str();
    let mut push = |g: &'c GatewayCtx<'a>| {
        if seen.insert(std::ptr::from_ref(g.gateway)) {
            out.push(g);
        }
    };
    match owner.kind {
        AuxOwnerKind::EnvoyProxy => {
            for g in ctx.gateways() {
                if g.proxy.is_some_and(|p| {
                    p.meta.namespace == owner.meta.namespace && p.meta.name == owner.meta.name
                }) {
                    push(g);
                }
            }
        }
        _ => {
            for t in &owner.target_refs {
                match t.kind.as_str() {
                    "Gateway" => {
                        if let Some(g) = ctx.gateway(ns, &t.name) {
                            push(g);
                        }
                    }
                    kind if RouteKind::from_kind(kind).is_some() => {
                        for r in ctx.snap.routes_named(kind, ns, &t.name) {
                            for pr in r.parent_refs.iter().filter(|p| p.is_gateway()) {
                                if let Some(g) =
                                    ctx.gateway(pr.namespace.as_deref().unwrap_or(ns), &pr.name)
                                {
                                    push(g);
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}
