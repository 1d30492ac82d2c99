//! Per-edge evaluation: from a backendRef to its effective backend TLS mode and the reasons.

use super::context::{Context, GatewayCtx};
use super::heuristics::{PortLook, backend_look, port_look_into};
use super::select::{Selected, TargetKey, select};
use super::status::{Recorder, cond};
use super::trust::{ClientCertOutcome, ca_ref_key, client_cert, resolve_cas, tls_params};
use super::{Edge, Mode, Semantics, Trust};
use crate::model::*;
use crate::snapshot::ObjectId;
use std::sync::Arc;

/// Where a backendRef sits: which gateway parentRef, route (or policy), rule and index.
struct Site<'r> {
    owner_kind: &'r str,
    owner_group: &'r str,
    owner_ns: &'r str,
    owner_name: &'r str,
    route_kind: Option<RouteKind>,
    /// `KIND/NS/NAME` of the owner.
    owner_key: &'r Arc<str>,
    parent_ref: &'r ParentRef,
    listener: Option<&'r str>,
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

/// Edges of every route, once per (Gateway parentRef, route, rule, backendRef), in route order.
/// Large snapshots are split into contiguous runs of routes evaluated on scoped threads; each
/// run records policy use in its own recorder, merged in route order, so the result is the
/// same as one sequential pass.
/// `threads` is an upper bound: small snapshots use fewer.
pub(crate) fn route_edges(ctx: &Context, rec: &mut Recorder, threads: usize) -> Vec<Edge> {
    let routes = &ctx.snap.routes;
    let threads = threads.min(routes.len() / ROUTES_PER_THREAD).max(1);
    if threads == 1 {
        return route_run(ctx, routes, rec, edge_bound(routes));
    }
    // The first run's vector becomes the result: it is made large enough for every route's
    // edges, and the later runs are appended to it. Only they are copied (a vector of all the
    // edges beside every run's own was 17 MiB more at the peak at L); capacity never written
    // costs no memory.
    let runs = super::in_runs(routes, threads, |run| {
        let first = std::ptr::eq(run.as_ptr(), routes.as_ptr());
        let mut local = Recorder::default();
        let bound = edge_bound(if first { routes } else { run });
        let edges = route_run(ctx, run, &mut local, bound);
        (edges, local)
    });
    let mut runs = runs.into_iter();
    let (mut edges, first) = runs.next().unwrap_or_default();
    rec.merge(first);
    for (run_edges, local) in runs {
        edges.extend(run_edges);
        rec.merge(local);
    }
    edges
}

/// At least as many edges as `routes` have: every Gateway parentRef times every backendRef
/// (a parentRef whose Gateway is missing has none).
fn edge_bound(routes: &[std::sync::Arc<Route>]) -> usize {
    routes
        .iter()
        .map(|r| {
            let parents = r.parent_refs.iter().filter(|p| p.is_gateway()).count();
            parents * r.rules.iter().map(|x| x.backend_refs.len()).sum::<usize>()
        })
        .sum()
}

fn route_run(
    ctx: &Context,
    routes: &[std::sync::Arc<Route>],
    rec: &mut Recorder,
    bound: usize,
) -> Vec<Edge> {
    let mut edges = Vec::with_capacity(bound);
    let mut shared = SharedTexts::default();
    for route in routes {
        route_into(ctx, route, rec, &mut edges, &mut shared);
    }
    edges
}

/// Edges of every route as [`route_edges`] gives them, with each route's own record of policy
/// use and where its edges end: what the incremental evaluation keeps to evaluate one route
/// again.
pub(crate) fn route_edges_per_route(
    ctx: &Context,
    threads: usize,
) -> (Vec<Edge>, Vec<usize>, Vec<Recorder>) {
    let routes = &ctx.snap.routes;
    let threads = threads.min(routes.len() / ROUTES_PER_THREAD).max(1);
    let runs = super::in_runs(routes, threads, |run| {
        let mut edges = Vec::with_capacity(edge_bound(run));
        let mut shared = SharedTexts::default();
        let mut ends = Vec::with_capacity(run.len());
        let mut records = Vec::with_capacity(run.len());
        for route in run {
            let mut rec = Recorder::default();
            route_into(ctx, route, &mut rec, &mut edges, &mut shared);
            ends.push(edges.len());
            records.push(rec);
        }
        (edges, ends, records)
    });
    let mut all = Vec::with_capacity(edge_bound(routes));
    let mut all_ends = Vec::with_capacity(routes.len());
    let mut all_records = Vec::with_capacity(routes.len());
    for (edges, ends, records) in runs {
        let offset = all.len();
        all.extend(edges);
        all_ends.extend(ends.into_iter().map(|e| e + offset));
        all_records.extend(records);
    }
    (all, all_ends, all_records)
}

/// The edges of one route, evaluated again on their own.
pub(crate) fn one_route(ctx: &Context, route: &Route, rec: &mut Recorder) -> Vec<Edge> {
    let mut edges = Vec::new();
    route_into(ctx, route, rec, &mut edges, &mut SharedTexts::default());
    edges
}

/// Reason texts and port signs already made by a run of routes, and where the next ones are
/// written before they are looked up (a text or port look seen before costs no allocation).
#[derive(Default)]
struct SharedTexts {
    texts: Shared<str>,
    looks: Shared<PortLook>,
    scratch: String,
    look: PortLook,
}

impl SharedTexts {
    /// `text`, shared with the edges that have it already (allocated only the first time).
    fn text(&mut self, text: impl AsRef<str>) -> Arc<str> {
        self.texts.text(text.as_ref())
    }

    /// The text that `write` writes, shared as [`SharedTexts::text`] is.
    fn text_with(&mut self, write: impl FnOnce(&mut String)) -> Arc<str> {
        self.scratch.clear();
        write(&mut self.scratch);
        self.texts.text(&self.scratch)
    }

    /// The concatenation of `parts`, shared as [`SharedTexts::text`] is.
    fn text_of(&mut self, parts: &[&str]) -> Arc<str> {
        self.text_with(|text| {
            for p in parts {
                text.push_str(p);
            }
        })
    }

    /// The port look that `fill` writes, shared with the edges that have the same.
    fn look(&mut self, fill: impl FnOnce(&mut PortLook)) -> Arc<PortLook> {
        self.look.clear();
        fill(&mut self.look);
        match self.looks.0.get(&self.look) {
            Some(kept) => kept.clone(),
            None => {
                let kept = Arc::new(self.look.clone());
                self.looks.0.insert(kept.clone());
                kept
            }
        }
    }
}

/// Appends the edges of `route` to `edges`.
fn route_into(
    ctx: &Context,
    route: &Route,
    rec: &mut Recorder,
    edges: &mut Vec<Edge>,
    shared: &mut SharedTexts,
) {
    // One key for the route's edges on every parentRef (the tree groups them by it).
    let owner_key: Arc<str> = cat!(
        route.kind.as_str(),
        "/",
        route.meta.namespace,
        "/",
        route.meta.name
    )
    .into();
    let lower = route.kind.lower();
    for pr in route.parent_refs.iter().filter(|p| p.is_gateway()) {
        let gw_ns = pr.namespace.as_deref().unwrap_or(&route.meta.namespace);
        let Some(gw) = ctx.gateway(gw_ns, &pr.name) else {
            continue;
        };
        let att = attachment(gw, route, pr);
        for (ri, rule) in route.rules.iter().enumerate() {
            let mut rule_key = itoa::Buffer::new();
            let rule_key = if route.kind.is_http_family() {
                rule_key.format(ri)
            } else {
                "-1"
            };
            for (bi, br) in rule.backend_refs.iter().enumerate() {
                let site = Site {
                    owner_kind: route.kind.as_str(),
                    owner_group: GATEWAY_GROUP,
                    owner_ns: &route.meta.namespace,
                    owner_name: &route.meta.name,
                    route_kind: Some(route.kind),
                    owner_key: &owner_key,
                    parent_ref: pr,
                    listener: att.listener.as_deref(),
                    attached: att.attached,
                    attach_note: att.note.as_deref(),
                    passthrough: att.passthrough,
                    terminates_tls: att.terminates_tls,
                    rule: ri,
                    index: bi,
                    via: None,
                };
                let key = cat!(
                    lower,
                    "/",
                    route.meta.namespace,
                    "/",
                    route.meta.name,
                    "/rule/",
                    rule_key,
                    "/backend/",
                    itoa::Buffer::new().format(bi)
                );
                edges.push(evaluate(ctx, rec, shared, gw, &site, br, key));
            }
        }
    }
}

/// Keeps each distinct value once, shared by the edges that have it. Most edges give one of a
/// few reasons ("no BackendTLSPolicy and no Backend TLS: plaintext to the backend") and port
/// signs ("port name https, port 443"): at L, 41,500 reasons are 8,200 texts and 30,000 port
/// looks a few dozen; sharing them saves about 6 MiB.
struct Shared<T: ?Sized>(foldhash::HashSet<Arc<T>>);

impl<T: ?Sized> Default for Shared<T> {
    fn default() -> Self {
        Shared(Default::default())
    }
}

impl Shared<str> {
    fn text(&mut self, text: &str) -> Arc<str> {
        match self.0.get(text) {
            Some(kept) => kept.clone(),
            None => {
                let kept: Arc<str> = text.into();
                self.0.insert(kept.clone());
                kept
            }
        }
    }
}

/// Backends owned by Envoy Gateway policies and EnvoyProxy telemetry.
pub(crate) fn aux_edges(ctx: &Context, rec: &mut Recorder) -> Vec<Edge> {
    let mut edges = Vec::new();
    let mut texts = SharedTexts::default();
    for owner in &ctx.snap.aux_owners {
        let gateways = aux_gateways(ctx, owner);
        let ns = owner.meta.namespace.as_str();
        let ancestor = ParentRef {
            group: Some(EG_GROUP.into()),
            kind: Some(owner.kind.as_str().into()),
            namespace: Some(ns.into()),
            name: owner.meta.name.clone(),
            section_name: None,
            port: None,
        };
        let owner_key: Arc<str> =
            format!("{}/{ns}/{}", owner.kind.as_str(), owner.meta.name).into();
        for gw in gateways {
            if gw.semantics != Some(Semantics::EnvoyGateway) {
                continue;
            }
            for group in &owner.groups {
                for (j, br) in group.refs.iter().enumerate() {
                    let key = match owner.kind {
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
                    edges.push(evaluate(ctx, rec, &mut texts, gw, &site, br, key));
                }
            }
        }
    }
    edges
}

fn aux_gateways<'c, 'a>(ctx: &'c Context<'a>, owner: &AuxBackendOwner) -> Vec<&'c GatewayCtx<'a>> {
    let mut out: Vec<&GatewayCtx> = Vec::new();
    let ns = owner.meta.namespace.as_str();
    let mut push = |g: &'c GatewayCtx<'a>| {
        if !out.iter().any(|x| std::ptr::eq(x.gateway, g.gateway)) {
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
                        for r in ctx.snap.routes.iter().filter(|r| {
                            r.kind.as_str() == kind
                                && r.meta.namespace == ns
                                && r.meta.name == t.name
                        }) {
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

struct Attachment {
    listener: Option<String>,
    attached: bool,
    note: Option<String>,
    passthrough: bool,
    terminates_tls: bool,
}

/// Which listener(s) a parentRef selects and whether the route attaches.
fn attachment(gw: &GatewayCtx, route: &Route, pr: &ParentRef) -> Attachment {
    let g = gw.gateway;
    let kind = route.kind.as_str();
    let mut candidates: Vec<&Listener> = g.listeners.iter().collect();
    let mut note = None;
    if let Some(section) = &pr.section_name {
        candidates.retain(|l| &l.name == section);
        if candidates.is_empty() {
            note = Some(format!(
                "Gateway {}/{} has no listener named {section}: the route is not attached (NoMatchingParent)",
                g.meta.namespace, g.meta.name
            ));
        }
    }
    if let Some(port) = pr.port {
        candidates.retain(|l| l.port == Some(port));
    }
    if note.is_none() && !candidates.iter().any(|l| l.accepts_kind(kind)) {
        note = Some(format!(
            "no listener of Gateway {}/{} accepts {kind} (protocols: {})",
            g.meta.namespace,
            g.meta.name,
            candidates
                .iter()
                .map(|l| l.protocol.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // The candidates narrowed in place: those that accept the kind, then the namespace.
    let mut ns_ok = candidates;
    ns_ok.retain(|l| l.accepts_kind(kind));
    ns_ok.retain(|l| {
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
        ([only], _) => Some(only.name.clone()),
        (_, Some(s)) => Some(s.clone()),
        _ => None,
    };
    Attachment {
        listener,
        attached: !ns_ok.is_empty(),
        passthrough: route.kind == RouteKind::Tls
            && !ns_ok.is_empty()
            && ns_ok.iter().all(|l| l.is_passthrough()),
        terminates_tls: ns_ok.iter().any(|l| l.terminates_tls()),
        note,
    }
}

/// What a backendRef resolved to.
enum Target<'a> {
    Service(&'a Service, &'a ServicePort),
    Backend(&'a Backend),
}

/// A fresh edge for `br`, named `key` (Envoy Gateway's name for the destination).
fn new_edge(
    texts: &mut SharedTexts,
    gw: &GatewayCtx,
    site: &Site,
    br: &BackendRef,
    key: String,
) -> Edge {
    let ns = br.namespace.as_deref().unwrap_or(site.owner_ns);
    let kind = br.kind();
    let backend = match br.port {
        Some(p) => cat!(
            kind,
            "/",
            ns,
            "/",
            br.name,
            ":",
            itoa::Buffer::new().format(p)
        ),
        None => cat!(kind, "/", ns, "/", br.name),
    };
    let mut reasons = Vec::new();
    if let Some(n) = site.attach_note {
        reasons.push(texts.text(n));
    }
    Edge {
        gateway: gw.key.clone(),
        gateway_class: gw.class_name.clone(),
        controller: gw.controller.clone(),
        semantics: gw.semantics.unwrap_or(Semantics::GatewayApiSpec),
        listener: site.listener.map(str::to_string),
        route: site.owner_key.clone(),
        rule: site.rule,
        backend_ref: site.index,
        backend,
        via: site.via,
        mode: Mode::Unknown,
        mtls: false,
        policy: None,
        sni: None,
        auto_sni: false,
        trust: Trust::None,
        ca_refs: Arc::default(),
        ca_ref_states: Arc::default(),
        sans: vec![],
        client_cert: None,
        insecure_skip_verify: false,
        min_version: None,
        max_version: None,
        alpn: None,
        attached: site.attached,
        weight: br.weight.unwrap_or(1),
        reasons,
        key,
        // No signs until the backend is resolved (shared: many edges end before that).
        port_look: texts.look(|_| {}),
        listener_terminates_tls: site.terminates_tls,
        double_tls: false,
        client_cert_warning: None,
        broad_policy_note: None,
    }
}

/// `e` with `mode`, decided by `reason` (its last reason).
fn done(texts: &mut SharedTexts, e: Edge, mode: Mode, reason: impl AsRef<str>) -> Edge {
    let reason = texts.text(reason);
    decided(e, mode, reason)
}

/// [`done`] with a reason already shared.
fn decided(mut e: Edge, mode: Mode, reason: Arc<str>) -> Edge {
    e.mode = mode;
    e.reasons.push(reason);
    e
}

fn evaluate(
    ctx: &Context,
    rec: &mut Recorder,
    texts: &mut SharedTexts,
    gw: &GatewayCtx,
    site: &Site,
    br: &BackendRef,
    key: String,
) -> Edge {
    let mut e = new_edge(texts, gw, site, br, key);
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
            e.port_look = texts.look(|look| port_look_into(sp, &svc.meta.annotations, look));
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
    let visible = select(snap, semantics, &key, |p| {
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
        // The policy the controller would take if it saw every version and shape.
        let would_be = select(snap, semantics, &key, |_| true);
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

/// No policy and no Backend TLS: plaintext, one of its variants, or passthrough.
fn plaintext_outcome(
    texts: &mut SharedTexts,
    mut e: Edge,
    site: &Site,
    would_be: Option<Selected>,
    blind: Option<&str>,
) -> Edge {
    if let (Some(w), Some(why)) = (&would_be, blind)
        && !w.policy.legacy_shape
    {
        let key = w.policy.key();
        let reason = texts.text_of(&[
            "policy ",
            &key,
            " targets this backend, but ",
            why,
            ": traffic is plaintext",
        ]);
        e.policy = Some(key);
        return decided(e, Mode::FailOpenPlaintext, reason);
    }
    if let Some(w) = would_be {
        let key = w.policy.key();
        let reason = texts.text_of(&[
            "policy ",
            &key,
            " is written as ",
            w.policy.version.api_version(),
            " in the Gateway API v1.0 shape (spec.targetRef/spec.tls); current controllers watch BackendTLSPolicy v1 only, so it is ignored and traffic is plaintext",
        ]);
        e.policy = Some(key);
        return decided(e, Mode::FailOpenPlaintext, reason);
    }
    if site.passthrough {
        return done(
            texts,
            e,
            Mode::Passthrough,
            "TLSRoute on a Passthrough listener: the client's TLS session reaches the backend untouched",
        );
    }
    if e.port_look.looks_tls() {
        let reason = texts.text_of(&[
            "no BackendTLSPolicy and no Backend TLS: the gateway sends plaintext to a port that looks like TLS (",
            &e.port_look.tls,
            "); HTTP backends answer 400 Bad Request, gRPC/h2 backends reset (503)",
        ]);
        return decided(e, Mode::PlaintextToTlsPort, reason);
    }
    let reason = texts.text_with(|reason| {
        reason.push_str("no BackendTLSPolicy and no Backend TLS: plaintext to the backend");
        if !e.port_look.maybe_tls.is_empty() {
            reason.push_str(" (the port may serve TLS: ");
            reason.push_str(&e.port_look.maybe_tls);
            reason.push(')');
        }
        if site.terminates_tls {
            reason.push_str("; TLS from the client ends at the gateway");
        }
    });
    decided(e, Mode::Plaintext, reason)
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

/// Envoy Gateway's check of a Backend's `spec.tls` block.
fn eg_backend_tls_valid(ctx: &Context, b: &Backend, t: &BackendTlsSettings) -> Result<(), String> {
    let insecure = t.insecure_skip_verify.unwrap_or(false);
    let has_ca = !t.ca_certificate_refs.is_empty();
    let has_wk = t.well_known_ca_certificates.is_some();
    if has_ca && has_wk {
        return Err("spec.tls sets both caCertificateRefs and wellKnownCACertificates".into());
    }
    if insecure && (has_ca || has_wk) {
        return Err("spec.tls sets insecureSkipVerify together with a CA".into());
    }
    if t.sni.is_some() && t.auto_sni_from_endpoint_hostname == Some(true) {
        return Err("spec.tls sets both sni and autoSNIFromEndpointHostname".into());
    }
    if !insecure && !has_ca && !has_wk {
        // Valid only when a policy with CA settings covers the Backend (matched by name only).
        let ports: Vec<String> = b
            .endpoints
            .iter()
            .filter_map(|e| e.port())
            .map(|p| p.to_string())
            .collect();
        let covered = ctx
            .snap
            .policies
            .iter()
            .filter(|p| !p.legacy_shape)
            .any(|p| {
                let has_trust = !p.ca_refs.is_empty() || p.well_known.is_some();
                let targets: Vec<&PolicyTarget> = p
                    .targets
                    .iter()
                    .filter(|t| t.kind == "Backend" && t.name == b.meta.name)
                    .collect();
                has_trust
                    && (targets.iter().any(|t| t.section_name.is_none())
                        || (!targets.is_empty()
                            && !ports.is_empty()
                            && ports.iter().all(|port| {
                                targets
                                    .iter()
                                    .any(|t| t.section_name.as_deref() == Some(port))
                            })))
            });
        if !covered {
            return Err("spec.tls must specify either caCertificateRefs or wellKnownCACertificates when insecureSkipVerify is unset or false, and no BackendTLSPolicy supplies a CA".into());
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn tls_outcome(
    ctx: &Context,
    rec: &mut Recorder,
    texts: &mut SharedTexts,
    gw: &GatewayCtx,
    site: &Site,
    mut e: Edge,
    semantics: Semantics,
    chosen: Option<Selected>,
    backend: Option<&Backend>,
    backend_tls: Option<&BackendTlsSettings>,
) -> Edge {
    let snap = ctx.snap;
    let sds = ctx.opts.eg_sds_secret_refs;
    let ancestor = match semantics {
        Semantics::EnvoyGateway => site.parent_ref,
        Semantics::GatewayApiSpec => &gw.ancestor_ref,
    };
    let controller: &str = &gw.controller;
    let mut trust = Trust::None;
    let mut sni = None;
    let mut sans = Vec::new();
    if let Some(sel) = chosen {
        let p = sel.policy;
        let policy_key = p.key();
        e.policy = Some(policy_key.clone());
        let target = &p.targets[sel.target_index];
        let how = match &target.section_name {
            Some(s) => texts.text_of(&[
                "policy ",
                &policy_key,
                " targets ",
                &target.kind,
                " ",
                &target.name,
                " section ",
                s,
            ]),
            None => texts.text_of(&[
                "policy ",
                &policy_key,
                " targets the whole ",
                &target.kind,
                " ",
                &target.name,
            ]),
        };
        e.reasons.push(how);
        // Validate the policy as the implementation does.
        let mut error: Option<(String, Option<&'static str>, String)> = None;
        if !p.problems.is_empty() {
            error = Some(("Invalid".into(), None, p.problems.join("; ")));
        }
        if error.is_none()
            && let Some(w) = &p.well_known
            && w != "System"
        {
            error = Some(match semantics {
                Semantics::EnvoyGateway => (
                    "NoValidCACertificate".into(),
                    Some("InvalidKind"),
                    format!("unsupported wellKnownCACertificates {w}"),
                ),
                Semantics::GatewayApiSpec => (
                    "Invalid".into(),
                    None,
                    format!("unsupported wellKnownCACertificates {w}"),
                ),
            });
        }
        let cas = ctx.policy_cas(p, semantics);
        if error.is_none()
            && let Some(cas) = cas
        {
            let res = &cas.resolution;
            e.ca_ref_states = res.states.clone();
            if let Some(err) = &res.error {
                error = Some((
                    err.accepted_reason.into(),
                    err.resolved_reason,
                    err.message.clone(),
                ));
            } else if let Some((reason, msg)) = &res.partial {
                rec.record(
                    p,
                    sel.target_index,
                    ancestor,
                    controller,
                    semantics,
                    vec![
                        cond("Accepted", true, "Accepted", "Policy has been accepted."),
                        cond("ResolvedRefs", false, reason, msg),
                    ],
                );
                let reason =
                    texts.text_of(&["some CA references of ", &policy_key, " are invalid: ", msg]);
                e.reasons.push(reason);
            }
        }
        if let Some((accepted_reason, resolved_reason, msg)) = error {
            let mut conds = vec![cond("Accepted", false, &accepted_reason, &msg)];
            if let Some(r) = resolved_reason {
                conds.push(cond("ResolvedRefs", false, r, &msg));
            }
            rec.record(p, sel.target_index, ancestor, controller, semantics, conds);
            e.ca_refs = cas.map(|c| c.keys.clone()).unwrap_or_default();
            let effect = match (
                semantics,
                site.route_kind.is_none_or(RouteKind::is_http_family),
            ) {
                (Semantics::EnvoyGateway, true) => {
                    "requests get HTTP 500 (route ResolvedRefs=False/InvalidBackendTLS)"
                }
                (_, true) => "requests get HTTP 5xx",
                (_, false) => "connections are reset",
            };
            return done(
                texts,
                e,
                Mode::FailClosed,
                format!(
                    "policy {} is invalid ({accepted_reason}: {msg}); TLS cannot be set up and {effect}",
                    policy_key
                ),
            );
        }
        if !rec.has(p, ancestor, controller) {
            rec.record(
                p,
                sel.target_index,
                ancestor,
                controller,
                semantics,
                vec![
                    cond(
                        "ResolvedRefs",
                        true,
                        "ResolvedRefs",
                        "Resolved all the Object references.",
                    ),
                    cond("Accepted", true, "Accepted", "Policy has been accepted."),
                ],
            );
        } else {
            rec.count_use(p, sel.target_index);
        }
        if target.section_name.is_none()
            && target.kind == "Service"
            && let Some(svc) = snap.service(&target.kind, &p.meta.namespace, &target.name)
            && svc.ports.len() > 1
            && !e.port_look.looks_tls()
        {
            let port = e.backend.rsplit(':').next().unwrap_or_default().to_string();
            e.broad_policy_note = Some(format!(
                "policy {} covers every port of Service {}, including port {port}, which does not look like TLS: make sure it serves TLS, or give the policy a sectionName",
                policy_key, target.name
            ));
            e.reasons
                .push(texts.text(e.broad_policy_note.as_deref().unwrap_or_default()));
        }
        sni = Some(p.hostname.clone()).filter(|h| !h.is_empty());
        sans = p.sans.clone();
        if p.well_known.is_some() {
            trust = Trust::System;
            e.ca_ref_states = Arc::default();
        } else {
            trust = Trust::CaRefs;
            e.ca_refs = cas.map(|c| c.keys.clone()).unwrap_or_default();
        }
    }
    // Envoy Gateway Backend TLS, merged under the policy (the policy wins, except insecureSkipVerify).
    let mut insecure = false;
    if let (Some(b), Some(t)) = (backend, backend_tls) {
        insecure = t.insecure_skip_verify.unwrap_or(false);
        if sni.is_none() {
            sni = t.sni.clone();
            e.auto_sni = t.auto_sni_from_endpoint_hostname.unwrap_or(false);
        }
        if trust == Trust::None {
            if t.well_known_ca_certificates.as_deref() == Some("System") {
                trust = Trust::System;
            } else if t.well_known_ca_certificates.is_some() {
                return done(
                    texts,
                    e,
                    Mode::FailClosed,
                    format!(
                        "Backend {}/{} has unsupported wellKnownCACertificates",
                        b.meta.namespace, b.meta.name
                    ),
                );
            } else if !t.ca_certificate_refs.is_empty() {
                let res = resolve_cas(
                    snap,
                    semantics,
                    &b.meta.namespace,
                    &t.ca_certificate_refs,
                    sds,
                );
                e.ca_ref_states = res.states;
                e.ca_refs = t
                    .ca_certificate_refs
                    .iter()
                    .map(|r| ca_ref_key(r, &b.meta.namespace))
                    .collect();
                if let Some(err) = res.error {
                    return done(
                        texts,
                        e,
                        Mode::FailClosed,
                        format!(
                            "Backend {}/{} CA cannot be loaded: {}; requests get HTTP 500",
                            b.meta.namespace, b.meta.name, err.message
                        ),
                    );
                }
                trust = Trust::CaRefs;
            }
        }
        if chosen.is_none() {
            let reason = texts.text_of(&[
                "Backend ",
                &b.meta.namespace,
                "/",
                &b.meta.name,
                " sets spec.tls",
            ]);
            e.reasons.push(reason);
        }
    }
    // Telemetry sinks take their SNI from a Backend's single FQDN endpoint.
    if sni.is_none()
        && site.owner_kind == "EnvoyProxy"
        && let Some(b) = backend
        && let [only] = b.endpoints.as_slice()
        && let Some(f) = &only.fqdn
    {
        sni = Some(f.hostname.clone());
    }
    e.sni = sni;
    e.sans = sans;
    e.insecure_skip_verify = insecure;
    if !insecure && trust == Trust::None {
        return done(
            texts,
            e,
            Mode::FailClosed,
            "TLS is required but no CA and no system trust is configured; requests get HTTP 500",
        );
    }
    e.trust = if insecure { Trust::None } else { trust };
    if let Some(missing) = &gw.proxy_missing {
        let reason = texts.text_of(&[
            missing,
            " is referenced but not found: its backendTLS settings do not apply",
        ]);
        e.reasons.push(reason);
    }
    let (min, max, alpn) = tls_params(gw, backend, semantics);
    (e.min_version, e.max_version, e.alpn) = (min, max, alpn);
    match client_cert(snap, gw, backend, semantics, sds) {
        ClientCertOutcome::None => {}
        ClientCertOutcome::Present(cc) => e.client_cert = Some(cc),
        ClientCertOutcome::Fatal(cc, why) => {
            e.client_cert = Some(cc);
            return done(
                texts,
                e,
                Mode::FailClosed,
                format!(
                    "client certificate cannot be loaded: {why} (route ResolvedRefs=False/InvalidBackendTLS); requests get HTTP 500 although the policy reports Accepted"
                ),
            );
        }
        ClientCertOutcome::Dropped(cc, why) => {
            e.client_cert_warning = Some(format!(
                "mTLS intended by {} but no client certificate is sent: {why}",
                cc.source
            ));
            e.reasons
                .push(texts.text(e.client_cert_warning.as_deref().unwrap_or_default()));
            e.client_cert = Some(cc);
        }
    }
    e.mtls = e.client_cert.as_ref().is_some_and(|c| c.resolved);
    if site.passthrough {
        e.double_tls = true;
        e.reasons.push(texts.text("TLSRoute on a Passthrough listener: the gateway wraps the client's TLS in a second TLS session; the backend will most likely reject it"));
    }
    if !e.port_look.plain.is_empty() && e.port_look.tls.is_empty() {
        let reason = texts.text_of(&[
            "TLS is sent to a port that looks plaintext (",
            &e.port_look.plain,
            "): expect a handshake failure (503) unless it serves TLS",
        ]);
        e.reasons.push(reason);
    }
    if e.sni.is_none() && !e.auto_sni && site.route_kind.is_none_or(RouteKind::is_http_family) {
        e.reasons.push(texts.text("no SNI configured: Envoy sends the client's Host header as SNI and checks the certificate against it"));
    }
    if insecure {
        let what = match &e.policy {
            Some(p) => format!(" even though policy {p} is accepted"),
            None => String::new(),
        };
        return done(
            texts,
            e,
            Mode::TlsUnverified,
            format!(
                "Backend sets tls.insecureSkipVerify: the server certificate is not verified{what}"
            ),
        );
    }
    let why = texts.text_with(|why| {
        why.push_str("TLS verified against ");
        match e.trust {
            Trust::System => why.push_str("the system trust store"),
            _ => push_joined(why, e.ca_refs.iter().map(String::as_str)),
        }
        if !e.sans.is_empty() {
            why.push_str(" for SANs ");
            push_joined(why, e.sans.iter().map(|s| s.value()));
        } else if let Some(sni) = &e.sni {
            why.push_str(" for ");
            why.push_str(sni);
        }
        if e.mtls {
            why.push_str(", presenting the client certificate from ");
            why.push_str(e.client_cert.as_ref().map_or("", |c| c.source.as_str()));
        }
    });
    decided(e, Mode::TlsVerified, why)
}

/// Appends `items` to `text`, separated by `, `.
fn push_joined<'a>(text: &mut String, items: impl Iterator<Item = &'a str>) {
    for (i, item) in items.enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        text.push_str(item);
    }
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
