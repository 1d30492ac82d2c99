//! Per-edge evaluation: from a backendRef to its effective backend TLS mode and the reasons.

use super::context::{Context, GatewayCtx};
use super::heuristics::{backend_look, port_look_into};
use super::select::{TargetKey, select_both};
use super::status::Recorder;
use super::{Edge, Mode, Semantics, Trust};
use crate::model::*;
use crate::snapshot::ObjectId;
use std::sync::Arc;

mod aux;
mod outcome;
mod read_ahead;
mod slots;
mod texts;

pub(crate) use aux::{aux_edge_bound, aux_edges};
use outcome::{eg_backend_tls_valid, plaintext_outcome, tls_outcome};
use slots::EdgeSink;
use texts::SharedTexts;

/// Where a backendRef sits: which gateway parentRef, route (or policy), rule and index.
struct Site<'r> {
    owner_kind: &'r str,
    owner_group: &'r str,
    owner_ns: &'r str,
    owner_name: &'r str,
    route_kind: Option<RouteKind>,
    /// `KIND/NS/NAME` of the owner.
    owner_key: &'r Arc<str>,
    /// The route's position in the snapshot (`None` for a policy's own backend).
    route_at: Option<usize>,
    parent_ref: &'r Arc<ParentRef>,
    listener: Option<&'r Arc<str>>,
    attached: bool,
    attach_note: Option<&'r str>,
    passthrough: bool,
    terminates_tls: bool,
    rule: usize,
    index: usize,
    via: Option<&'static str>,
}

/// Below this many routes the work is not split across threads.
pub(crate) const ROUTES_PER_THREAD: usize = 256;

/// The routes are cut into runs of at least this many routes (and up to
/// [`super::RUNS_PER_THREAD`] per thread), so that a thread the machine slows down leaves runs
/// to the others.
const ROUTES_PER_RUN: usize = 128;

/// A large snapshot's runs have at most about this many routes: each run records policy use
/// in tables of its own, which would otherwise grow with the cluster (a sixteenth of it) and
/// be read from memory rather than the caches on a large one.
const ROUTES_PER_RUN_AT_MOST: usize = 512;

/// Edges of every route, once per (Gateway parentRef, route, rule, backendRef), in route order,
/// and what `beside` gives: it is done on one of the threads while the others evaluate routes.
/// Large snapshots are split into contiguous runs of routes evaluated on scoped threads; each
/// run records policy use in its own recorder, merged in route order, so the result is the
/// same as one sequential pass.
/// `threads` is an upper bound: small snapshots use fewer. The vector has room for `room_after`
/// more edges.
pub(crate) fn route_edges<B: Send>(
    ctx: &Context,
    rec: &mut Recorder,
    threads: usize,
    room_after: usize,
    beside: impl FnOnce() -> B + Send,
) -> (Vec<Edge>, B) {
    let routes = &ctx.snap.routes;
    let threads = threads.min(routes.len() / ROUTES_PER_THREAD).max(1);
    if threads == 1 {
        let aside = beside();
        return (
            route_run(ctx, routes, rec, edge_bound(routes) + room_after),
            aside,
        );
    }
    // Runs of routes, a few per thread, taken in turn by the threads; each run writes its
    // edges where they end up in the result (room for as many as its routes can have), so the
    // runs' edges are not copied together afterwards. Each run records policy use on its own
    // and the records are merged in run order.
    let runs = runs_of(routes, threads);
    let bounds: Vec<usize> = runs.iter().map(|(_, run)| edge_bound(run)).collect();
    let (edges, records, aside) = slots::in_place(
        &bounds,
        room_after,
        threads,
        SharedTexts::default,
        |i, room, shared| {
            let mut local = Recorder::default();
            let (first, run) = runs[i];
            read_ahead::each_route(ctx, first, run, |at, route| {
                route_into(ctx, route, at, &mut local, room, shared);
            });
            local
        },
        beside,
    );
    for local in records {
        rec.merge(local);
    }
    (edges, aside)
}

/// At least as many edges as `routes` have: every Gateway parentRef times every backendRef
/// (a parentRef whose Gateway is missing has none), as each route counted them when decoded.
fn edge_bound(routes: &[std::sync::Arc<Route>]) -> usize {
    routes.iter().map(|r| r.edge_names.edge_bound).sum()
}

fn route_run(
    ctx: &Context,
    routes: &[std::sync::Arc<Route>],
    rec: &mut Recorder,
    bound: usize,
) -> Vec<Edge> {
    let mut edges = Vec::with_capacity(bound);
    let mut shared = SharedTexts::default();
    read_ahead::each_route(ctx, 0, routes, |at, route| {
        route_into(ctx, route, at, rec, &mut edges, &mut shared);
    });
    edges
}

/// Runs of `routes` for `threads` threads to take in turn: [`super::RUNS_PER_THREAD`] per
/// thread, or more of at most about [`ROUTES_PER_RUN_AT_MOST`] routes, each of at least
/// [`ROUTES_PER_RUN`] routes. Each with the position of its first route.
fn runs_of(routes: &[Arc<Route>], threads: usize) -> Vec<(usize, &[Arc<Route>])> {
    let runs = (threads * super::RUNS_PER_THREAD)
        .max(routes.len() / ROUTES_PER_RUN_AT_MOST)
        .min(routes.len() / ROUTES_PER_RUN)
        .max(threads);
    let length = routes.len().div_ceil(runs).max(1);
    (0..).step_by(length).zip(routes.chunks(length)).collect()
}

/// Edges of every route as [`route_edges`] gives them, with each route's own record of policy
/// use and where its edges end: what the incremental evaluation keeps to evaluate one route
/// again; and what `beside` gives, done as [`route_edges`] does. Large snapshots are evaluated
/// in runs as [`route_edges`] does. The vector has room for `room_after` more edges.
pub(crate) fn route_edges_per_route<B: Send>(
    ctx: &Context,
    threads: usize,
    room_after: usize,
    beside: impl FnOnce() -> B + Send,
) -> (Vec<Edge>, Vec<usize>, Vec<Recorder>, B) {
    let routes = &ctx.snap.routes;
    let threads = threads.min(routes.len() / ROUTES_PER_THREAD).max(1);
    if threads == 1 {
        let aside = beside();
        let mut edges = Vec::with_capacity(edge_bound(routes) + room_after);
        let (ends, records) = per_route(ctx, 0, routes, &mut edges, &mut SharedTexts::default());
        return (edges, ends, records, aside);
    }
    let runs = runs_of(routes, threads);
    let bounds: Vec<usize> = runs.iter().map(|(_, run)| edge_bound(run)).collect();
    let (edges, done, aside) = slots::in_place(
        &bounds,
        room_after,
        threads,
        SharedTexts::default,
        |i, room, shared| {
            let (first, run) = runs[i];
            per_route(ctx, first, run, room, shared)
        },
        beside,
    );
    // Each run's ends count its own edges: they are shifted by the edges of the runs before.
    let mut all_ends = Vec::with_capacity(routes.len());
    let mut all_records = Vec::with_capacity(routes.len());
    let mut offset = 0;
    for (ends, records) in done {
        let written = ends.last().copied().unwrap_or(0);
        all_ends.extend(ends.into_iter().map(|e| e + offset));
        all_records.extend(records);
        offset += written;
    }
    (edges, all_ends, all_records, aside)
}

/// Evaluates `routes` (the first at position `first` in the snapshot) into `edges`, each route
/// with a record of its own; returns where each route's edges end (counted in `edges`) and
/// the records.
fn per_route(
    ctx: &Context,
    first: usize,
    routes: &[Arc<Route>],
    edges: &mut dyn EdgeSink,
    shared: &mut SharedTexts,
) -> (Vec<usize>, Vec<Recorder>) {
    let mut ends = Vec::with_capacity(routes.len());
    let mut records = Vec::with_capacity(routes.len());
    read_ahead::each_route(ctx, first, routes, |at, route| {
        let mut rec = Recorder::default();
        route_into(ctx, route, at, &mut rec, edges, shared);
        ends.push(edges.written());
        records.push(rec);
    });
    (ends, records)
}

/// The edges of the route at position `at` of the snapshot, evaluated again on their own.
pub(crate) fn one_route(ctx: &Context, at: usize, rec: &mut Recorder) -> Vec<Edge> {
    let mut edges = Vec::new();
    let route = &ctx.snap.routes[at];
    read_ahead::ask_for_reads(ctx, route);
    route_into(ctx, route, at, rec, &mut edges, &mut SharedTexts::default());
    edges
}

/// Appends the edges of `route`, at position `at` of the snapshot, to `edges`.
fn route_into(
    ctx: &Context,
    route: &Route,
    at: usize,
    rec: &mut Recorder,
    edges: &mut dyn EdgeSink,
    shared: &mut SharedTexts,
) {
    // One key for the route's edges on every parentRef (the tree groups them by it), and one
    // set of names per backendRef, made when the route was decoded.
    let names = &route.edge_names;
    shared.forget_if_many();
    for pr in route.parent_refs.iter().filter(|p| p.is_gateway()) {
        let gw_ns = pr.namespace.as_deref().unwrap_or(&route.meta.namespace);
        let Some(gw) = ctx.gateway(gw_ns, &pr.name) else {
            rec.names_missing_gateway(at);
            continue;
        };
        let att = attachment(gw, route, pr);
        for (ri, (rule, rule_names)) in route.rules.iter().zip(&names.backends).enumerate() {
            for (bi, (br, br_names)) in rule.backend_refs.iter().zip(rule_names).enumerate() {
                let site = Site {
                    owner_kind: route.kind.as_str(),
                    owner_group: GATEWAY_GROUP,
                    owner_ns: &route.meta.namespace,
                    owner_name: &route.meta.name,
                    route_kind: Some(route.kind),
                    owner_key: &names.route,
                    route_at: Some(at),
                    parent_ref: pr,
                    listener: att.listener.as_ref(),
                    attached: att.attached,
                    attach_note: att.note.as_deref(),
                    passthrough: att.passthrough,
                    terminates_tls: att.terminates_tls,
                    rule: ri,
                    index: bi,
                    via: None,
                };
                evaluate_into(ctx, rec, shared, gw, &site, br, br_names, edges);
            }
        }
    }
}

struct Attachment {
    /// Shared by the edges of the parentRef.
    listener: Option<Arc<str>>,
    attached: bool,
    note: Option<String>,
    passthrough: bool,
    terminates_tls: bool,
}

/// Which listener(s) a parentRef selects and whether the route attaches.
fn attachment(gw: &GatewayCtx, route: &Route, pr: &ParentRef) -> Attachment {
    let g = gw.gateway;
    let kind = route.kind.as_str();
    // Each listener with its shared name.
    let mut candidates: Vec<(&Listener, &Arc<str>)> =
        g.listeners.iter().zip(&gw.listener_names).collect();
    let mut note = None;
    if let Some(section) = &pr.section_name {
        candidates.retain(|(l, _)| &l.name == section);
        if candidates.is_empty() {
            note = Some(format!(
                "Gateway {}/{} has no listener named {section}: the route is not attached (NoMatchingParent)",
                g.meta.namespace, g.meta.name
            ));
        }
    }
    if let Some(port) = pr.port {
        candidates.retain(|(l, _)| l.port == Some(port));
    }
    if note.is_none() && !candidates.iter().any(|(l, _)| l.accepts_kind(kind)) {
        note = Some(format!(
            "no listener of Gateway {}/{} accepts {kind} (protocols: {})",
            g.meta.namespace,
            g.meta.name,
            candidates
                .iter()
                .map(|(l, _)| l.protocol.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // The candidates narrowed in place: those that accept the kind, then the namespace.
    let mut ns_ok = candidates;
    ns_ok.retain(|(l, _)| l.accepts_kind(kind));
    ns_ok.retain(|(l, _)| {
        let from = l
            .allowed_routes
            .as_ref()
            .and_then(|a| a.namespaces.as_ref())
            .and_then(|n| n.from.as_deref())
            .unwrap_or("Same");
        from != "Same" || route.meta.namespace == g.meta.namespace
    });
    if note.is_none() && ns_ok.is_empty() {
        note = Some(format!(
            "listeners of Gateway {}/{} only allow routes from their own namespace (allowedRoutes Same)",
            g.meta.namespace, g.meta.name
        ));
    }
    let listener = match (ns_ok.as_slice(), &pr.section_name) {
        ([(_, name)], _) => Some(Arc::clone(name)),
        (_, Some(s)) => Some(s.as_str().into()),
        _ => None,
    };
    Attachment {
        listener,
        attached: !ns_ok.is_empty(),
        passthrough: route.kind == RouteKind::Tls
            && !ns_ok.is_empty()
            && ns_ok.iter().all(|(l, _)| l.is_passthrough()),
        terminates_tls: ns_ok.iter().any(|(l, _)| l.terminates_tls()),
        note,
    }
}

/// What a backendRef resolved to.
enum Target<'a> {
    Service(&'a Service, &'a ServicePort),
    Backend(&'a Backend),
}

/// A fresh edge for `br`, with its `names`.
fn new_edge(
    texts: &mut SharedTexts,
    gw: &GatewayCtx,
    site: &Site,
    br: &BackendRef,
    names: &BackendNames,
) -> Edge {
    let mut reasons = Vec::new();
    if let Some(n) = site.attach_note {
        reasons.push(texts.text(n));
    }
    Edge {
        gateway: gw.key.clone(),
        gateway_class: gw.class_name.clone(),
        controller: gw.controller.clone(),
        semantics: gw.semantics.unwrap_or(Semantics::GatewayApiSpec),
        listener: site.listener.cloned(),
        route: site.owner_key.clone(),
        route_at: site.route_at.map(|at| at as u32),
        rule: site.rule,
        backend_ref: site.index,
        backend: names.target.clone(),
        via: site.via,
        mode: Mode::Unknown,
        mtls: false,
        policy: None,
        sni: None,
        auto_sni: false,
        trust: Trust::None,
        ca_refs: texts.empty().ca_refs.clone(),
        ca_ref_states: texts.empty().ca_ref_states.clone(),
        sans: texts.empty().sans.clone(),
        client_cert: None,
        insecure_skip_verify: false,
        min_version: None,
        max_version: None,
        alpn: None,
        attached: site.attached,
        weight: br.weight.unwrap_or(1),
        reasons,
        key: names.destination.clone(),
        backend_ref_label: names.label.clone(),
        // No signs until the backend is resolved (shared: many edges end before that).
        port_look: texts.no_look(),
        listener_terminates_tls: site.terminates_tls,
        double_tls: false,
        client_cert_warning: None,
        broad_policy_note: None,
    }
}

/// Gives `e` its `mode`, decided by `reason` (its last reason).
fn done(texts: &mut SharedTexts, e: &mut Edge, mode: Mode, reason: impl AsRef<str>) {
    let reason = texts.text(reason);
    decided(e, mode, reason)
}

/// [`done`] with a reason already shared.
fn decided(e: &mut Edge, mode: Mode, reason: Arc<str>) {
    e.mode = mode;
    e.reasons.push(reason);
}

/// Appends the edge of `br` to `edges`, evaluated where it lies (an edge is large: it is not
/// moved from step to step).
#[allow(clippy::too_many_arguments)]
fn evaluate_into(
    ctx: &Context,
    rec: &mut Recorder,
    texts: &mut SharedTexts,
    gw: &GatewayCtx,
    site: &Site,
    br: &BackendRef,
    names: &BackendNames,
    edges: &mut dyn EdgeSink,
) {
    let e = edges.push_edge(new_edge(texts, gw, site, br, names));
    let Some(semantics) = gw.semantics else {
        return done(
            texts,
            e,
            Mode::Unknown,
            format!(
                "GatewayClass {} not found: no known controller programs this Gateway",
                gw.gateway.class_name
            ),
        );
    };
    let snap = ctx.snap;
    let ns = br.namespace.as_deref().unwrap_or(site.owner_ns);
    let (group, kind) = (br.group(), br.kind());
    let supported = match semantics {
        Semantics::EnvoyGateway => matches!(
            (group, kind),
            ("", "Service") | ("multicluster.x-k8s.io", "ServiceImport") | (EG_GROUP, "Backend")
        ),
        Semantics::GatewayApiSpec => matches!((group, kind), ("", "Service")),
    };
    if !supported {
        if semantics == Semantics::GatewayApiSpec && group == EG_GROUP {
            return done(
                texts,
                e,
                Mode::Unresolved,
                format!(
                    "{kind} is an Envoy Gateway kind; controller {} does not support it (InvalidKind)",
                    gw.controller
                ),
            );
        }
        let g = if group.is_empty() {
            String::new()
        } else {
            format!(" ({group})")
        };
        return done(
            texts,
            e,
            Mode::Unknown,
            format!(
                "backend kind {kind}{g} is not modelled by lastmile; its TLS cannot be computed"
            ),
        );
    }
    // EnvoyProxy is infrastructure configuration: its telemetry sinks need no ReferenceGrant.
    if ns != site.owner_ns
        && site.owner_kind != "EnvoyProxy"
        && !snap.reference_permitted(
            ObjectId {
                group: site.owner_group,
                kind: site.owner_kind,
                namespace: site.owner_ns,
                name: site.owner_name,
            },
            ObjectId {
                group,
                kind,
                namespace: ns,
                name: &br.name,
            },
        )
    {
        return done(
            texts,
            e,
            Mode::Unresolved,
            format!(
                "no ReferenceGrant in namespace {ns} lets {} from namespace {} refer to {kind} {} (RefNotPermitted): requests get HTTP 500",
                site.owner_kind, site.owner_ns, br.name
            ),
        );
    }
    let target = match kind {
        "Backend" => {
            if !ctx.opts.eg_backend_api {
                return done(
                    texts,
                    e,
                    Mode::Unresolved,
                    "the Envoy Gateway Backend API is disabled (extensionApis.enableBackend): Backend references are invalid",
                );
            }
            match snap.backend(ns, &br.name) {
                Some(b) => {
                    if let Err(why) = eg_backend_endpoints_valid(b, site.route_kind.is_some()) {
                        return done(
                            texts,
                            e,
                            Mode::Unresolved,
                            format!("Backend {ns}/{} is not usable: {why}", br.name),
                        );
                    }
                    Target::Backend(b)
                }
                None => {
                    return done(
                        texts,
                        e,
                        Mode::Unresolved,
                        format!("Backend {ns}/{} not found (BackendNotFound)", br.name),
                    );
                }
            }
        }
        _ => {
            let Some(svc) = snap.service(kind, ns, &br.name) else {
                return done(
                    texts,
                    e,
                    Mode::Unresolved,
                    format!("{kind} {ns}/{} not found (BackendNotFound)", br.name),
                );
            };
            let Some(port) = br.port else {
                return done(
                    texts,
                    e,
                    Mode::Unresolved,
                    format!(
                        "backendRef to {kind} {} has no port (a port is required)",
                        br.name
                    ),
                );
            };
            let Some(sp) = svc.port(port) else {
                let known: Vec<String> = svc
                    .ports
                    .iter()
                    .filter_map(|p| p.port)
                    .map(|p| p.to_string())
                    .collect();
                return done(
                    texts,
                    e,
                    Mode::Unresolved,
                    format!(
                        "{kind} {ns}/{} has no port {port} (ports: {})",
                        br.name,
                        known.join(", ")
                    ),
                );
            };
            Target::Service(svc, sp)
        }
    };
    let (key, backend) = match &target {
        Target::Service(svc, sp) => {
            e.port_look = texts.look_for(std::ptr::from_ref(*sp) as usize, |look| {
                port_look_into(sp, &svc.meta.annotations, look)
            });
            (
                TargetKey {
                    group,
                    kind,
                    name: &br.name,
                    namespace: ns,
                    section: sp.name.as_deref().map(Into::into),
                },
                None,
            )
        }
        Target::Backend(b) => {
            e.port_look = texts.look(|look| *look = backend_look(b, br.port));
            (
                TargetKey {
                    group,
                    kind,
                    name: &br.name,
                    namespace: ns,
                    section: br.port.map(|p| p.to_string().into()),
                },
                Some(*b),
            )
        }
    };
    if br.weight == Some(0) {
        e.reasons
            .push(texts.text("weight 0: this backend receives no traffic"));
    }
    // Policies a controller can see: current Gateway API releases serve BackendTLSPolicy v1;
    // an object in the Gateway API v1.0 shape comes from a v1alpha2-only CRD that they do not watch.
    // A controller that reads a BackendTLSPolicy version the cluster does not serve sees none.
    let blind = ctx
        .eg_blind
        .as_deref()
        .filter(|_| semantics == Semantics::EnvoyGateway);
    // With the policy the controller would take if it saw every version and shape (found in
    // the same pass).
    let (visible, would_be) = select_both(snap, semantics, &key, |p| {
        !p.legacy_shape && blind.is_none()
    });
    let backend_tls = backend
        .and_then(|b| b.tls.as_ref())
        .filter(|_| semantics == Semantics::EnvoyGateway);

    // Envoy Gateway validates the Backend's own TLS block when it validates the backendRef.
    if let (Some(b), Some(t)) = (backend, backend_tls)
        && let Err(why) = eg_backend_tls_valid(ctx, b, t)
    {
        return done(
            texts,
            e,
            Mode::FailClosed,
            format!(
                "Backend {}/{} is invalid: {why} (route ResolvedRefs=False/InvalidBackendRef): requests get HTTP 500",
                b.meta.namespace, b.meta.name
            ),
        );
    }

    if visible.is_none() && backend_tls.is_none() {
        return plaintext_outcome(texts, e, site, would_be, blind);
    }
    tls_outcome(
        ctx,
        rec,
        texts,
        gw,
        site,
        e,
        semantics,
        visible,
        backend,
        backend_tls,
    )
}

/// Envoy Gateway's endpoint checks for Backends referenced from routes (Kubernetes infrastructure).
/// Unix sockets are only refused for route backends (policy backends such as ext-auth may use them).
fn eg_backend_endpoints_valid(b: &Backend, from_route: bool) -> Result<(), String> {
    for ep in &b.endpoints {
        if from_route && ep.unix.is_some() {
            return Err("unix domain sockets are not supported in backend references (UnsupportedAddressType)".into());
        }
        if let Some(ip) = &ep.ip
            && ip
                .hostname
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_loopback())
        {
            return Err(format!(
                "IP address {} in the loopback range is only supported with the Host infrastructure (Backend Accepted=False)",
                ip.hostname
            ));
        }
        if let Some(f) = &ep.fqdn
            && !f.hostname.contains('.')
        {
            return Err(format!(
                "hostname {} should be a domain with at least two segments separated by dots (Backend Accepted=False)",
                f.hostname
            ));
        }
    }
    Ok(())
}

/// Envoy Gateway answers a whole HTTP rule with 500 when one of its backends fails TLS setup;
/// the other backends of that rule are told so.
pub(crate) fn mark_failed_rules(edges: &mut [Edge]) {
    // (gateway, route, rule) -> the first backendRef of that rule that failed.
    let mut failed: foldhash::HashMap<(&str, &str, usize), usize> = foldhash::HashMap::default();
    for e in edges.iter() {
        if e.mode == Mode::FailClosed
            && e.semantics == Semantics::EnvoyGateway
            && e.via.is_none()
            && (e.route.starts_with("HTTPRoute/") || e.route.starts_with("GRPCRoute/"))
        {
            failed
                .entry((&*e.gateway, &*e.route, e.rule))
                .or_insert(e.backend_ref);
        }
    }
    if failed.is_empty() {
        return;
    }
    let notes: Vec<(usize, String)> = edges
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let &bad = failed.get(&(&*e.gateway, &*e.route, e.rule))?;
            (bad != e.backend_ref).then(|| (i, format!("rule {} is answered with HTTP 500 as a whole because backendRef {bad} cannot set up TLS", e.rule)))
        })
        .collect();
    for (i, note) in notes {
        edges[i].reasons.push(note.into());
    }
}
