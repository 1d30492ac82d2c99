//! Raising the findings of an evaluation, in groups that the incremental evaluation can raise
//! again on their own: per edge, per Gateway, per route, per policy, then certificates, input
//! errors and what a live cluster adds.

use super::{Finding, Severity, rule};
use crate::model::CertFacts;
use crate::model::{BackendTlsPolicy, Origin, Route};
use crate::posture::context::Context;
use crate::posture::{CaRefState, Edge, Mode, PolicyReport, PolicyRole};
use crate::snapshot::Snapshot;
use std::sync::Arc;

/// Where a finding was raised: its group, the position of what raised it (edge, Gateway, route
/// or policy) and its place among that one's findings. Raising everything in rank order and
/// sorting by [`super::order`] then rank gives the stable order of [`super::sort`], so findings
/// raised again for one route can be put back where a full evaluation would put them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Rank {
    pub group: Group,
    pub at: u32,
    pub seq: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Group {
    Edge,
    Gateway,
    Route,
    Policy,
    Certificate,
    InputError,
    Cluster,
}

/// How many edges ahead [`Collector::edges`] asks for what an edge's findings will read.
const EDGES_AHEAD: usize = 4;

/// Findings raised so far, each with its rank.
pub(crate) struct Collector<'s> {
    snap: &'s Snapshot,
    findings: Vec<Finding>,
    ranks: Vec<Rank>,
    rank: Rank,
    certificates_change_at: Option<i64>,
    /// The object of the last finding and where it was read from.
    last_origin: Option<(Arc<str>, Option<&'s Origin>)>,
    /// Where a subject is written before it is copied into its shared text.
    scratch: String,
    /// Rules by the address and length of their static id (see [`Collector::push`]).
    rules: foldhash::HashMap<(usize, usize), &'static super::RuleInfo>,
}

/// Raised findings in their order, with their ranks.
pub(crate) struct Raised {
    pub findings: Vec<Finding>,
    pub ranks: Vec<Rank>,
    /// When the certificate findings were raised: the second from which they may differ with
    /// the same CA bundles.
    pub certificates_change_at: Option<i64>,
}

impl<'s> Collector<'s> {
    pub fn new(snap: &'s Snapshot) -> Self {
        Collector {
            snap,
            findings: Vec::new(),
            ranks: Vec::new(),
            certificates_change_at: None,
            last_origin: None,
            scratch: String::new(),
            rules: Default::default(),
            rank: Rank {
                group: Group::Edge,
                at: 0,
                seq: 0,
            },
        }
    }

    /// Findings raised from here on are `group`'s, about its item at `at`.
    fn at(&mut self, group: Group, at: usize) {
        self.rank = Rank {
            group,
            at: at as u32,
            seq: 0,
        };
    }

    /// The findings pushed next about `object` are about an object read from `origin`, when
    /// it is known by position: they need not look it up by its text.
    fn read_from(&mut self, object: &Arc<str>, origin: Option<&'s Origin>) {
        let Some(origin) = origin else {
            return;
        };
        if !matches!(&self.last_origin, Some((kept, _)) if Arc::ptr_eq(kept, object)) {
            self.last_origin = Some((object.clone(), Some(origin)));
        }
    }

    fn raise(&mut self, finding: Finding) {
        self.findings.push(finding);
        self.ranks.push(self.rank);
        self.rank.seq += 1;
    }

    fn push(
        &mut self,
        id: &'static str,
        severity: Option<Severity>,
        subject: Arc<str>,
        message: Arc<str>,
        object: Arc<str>,
        edge: Option<usize>,
    ) {
        // A rule is looked up by its id's text once per place that raises it, then by the
        // id's address: hashing an address is cheaper than hashing the text.
        let r = *self
            .rules
            .entry((id.as_ptr() as usize, id.len()))
            .or_insert_with(|| rule(id));
        // Findings about one object come one after another (a route's edges): look its origin
        // up once (unless the caller said where it was read from, see `read_from`).
        let origin = match &self.last_origin {
            Some((kept, origin)) if Arc::ptr_eq(kept, &object) => origin.cloned(),
            _ => {
                let origin = self.snap.origins.get(&*object);
                self.last_origin = Some((object.clone(), origin));
                origin.cloned()
            }
        };
        self.raise(Finding {
            id,
            severity: severity.unwrap_or(r.severity),
            subject,
            message,
            remediation: r.remediation,
            object,
            origin,
            edge,
        });
    }

    /// Every group, in rank order: what [`super::collect`] returns, with the ranks.
    pub fn everything(
        self,
        ctx: &Context,
        edges: &[Edge],
        routes_missing_gateway: &[usize],
        policies: &[PolicyReport],
        now: jiff::Timestamp,
    ) -> Self {
        self.edges(edges)
            .after_edges(ctx, edges, routes_missing_gateway, policies, now)
    }

    /// The first group: the edges' findings, which read nothing but the edges.
    pub fn edges(mut self, edges: &[Edge]) -> Self {
        // About one finding per edge and per policy at most in practice (32,000 at L): room
        // for them up front, rather than copying them as the vectors double. This collector is
        // the one the later groups' findings are added to.
        let expected = edges.len() + self.snap.policies.len();
        self.findings.reserve(expected);
        self.ranks.reserve(expected);
        for (i, e) in edges.iter().enumerate() {
            // What a later edge's findings read from elsewhere (its reasons, its backend's and
            // route's texts, its port look) is asked for while this one's are raised.
            // The edge itself further ahead, and what it points to once it is there.
            crate::posture::ask_for_later(edges, i + 2 * EDGES_AHEAD);
            if let Some(ahead) = edges.get(i + EDGES_AHEAD) {
                crate::posture::prefetch(ahead.reasons.as_ptr());
                crate::posture::prefetch(Arc::as_ptr(&ahead.backend));
                crate::posture::prefetch(Arc::as_ptr(&ahead.route));
                crate::posture::prefetch(Arc::as_ptr(&ahead.port_look));
            }
            self.edge(i, e);
        }
        self
    }

    /// The groups after the edges' (raised by [`Collector::edges`], here or on another
    /// thread), in rank order.
    pub fn after_edges(
        self,
        ctx: &Context,
        edges: &[Edge],
        routes_missing_gateway: &[usize],
        policies: &[PolicyReport],
        now: jiff::Timestamp,
    ) -> Self {
        self.gateways_and_routes(ctx, routes_missing_gateway)
            .policies(ctx, policies)
            .after_policies(ctx, edges, policies, now)
    }

    /// The Gateways' and the routes' findings (the groups right after the edges'). Only the
    /// routes at `routes_missing_gateway` (that name a Gateway that is not there, as the
    /// evaluation of the edges noted) have any.
    pub fn gateways_and_routes(mut self, ctx: &Context, routes_missing_gateway: &[usize]) -> Self {
        self.gateways(ctx);
        for &i in routes_missing_gateway {
            self.route(ctx, i, &ctx.snap.routes[i]);
        }
        self
    }

    /// The policies' findings (the group after the routes'), from their reports.
    pub fn policies(mut self, ctx: &Context, policies: &[PolicyReport]) -> Self {
        self.findings.reserve(policies.len());
        self.ranks.reserve(policies.len());
        for (i, (p, report)) in ctx.snap.policies.iter().zip(policies).enumerate() {
            self.policy(i, p, report);
        }
        self
    }

    /// The groups after the policies' (the certificates', input errors and what a live
    /// cluster adds), in rank order.
    pub fn after_policies(
        mut self,
        ctx: &Context,
        edges: &[Edge],
        policies: &[PolicyReport],
        now: jiff::Timestamp,
    ) -> Self {
        self.certificates(policies, edges.iter().map(|e| &*e.ca_ref_states), now);
        self.input_errors();
        self.cluster(ctx, edges);
        self
    }

    /// The findings of the edge at position `i`.
    pub fn edge(&mut self, i: usize, e: &Edge) {
        self.at(Group::Edge, i);
        let origin = e
            .route_at
            .and_then(|at| self.snap.route_origin(at as usize));
        self.read_from(&e.route, origin);
        let last = || e.reasons.last().cloned().unwrap_or_default();
        // Made once (in the collector's scratch text), shared by the edge's findings.
        let mut subject = None::<Arc<str>>;
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut subject_of = |e: &Edge| -> Arc<str> {
            subject
                .get_or_insert_with(|| {
                    scratch.clear();
                    super::write_edge_subject(&mut scratch, e);
                    scratch.as_str().into()
                })
                .clone()
        };
        let id = match e.mode {
            Mode::FailOpenPlaintext => Some("fail-open-plaintext"),
            Mode::PlaintextToTlsPort => Some("plaintext-to-tls-port"),
            Mode::TlsUnverified => Some("tls-unverified"),
            Mode::FailClosed => Some("fail-closed"),
            Mode::Unresolved => Some("unresolved-backend"),
            Mode::Unknown => Some("unknown-backend"),
            Mode::Plaintext if e.listener_terminates_tls => Some("plaintext-behind-tls-listener"),
            Mode::Plaintext => Some("plaintext-backend"),
            Mode::TlsVerified | Mode::Passthrough => None,
        };
        if let Some(id) = id {
            self.push(id, None, subject_of(e), last(), e.route.clone(), Some(i));
        }
        if e.double_tls {
            self.push(
                "double-tls",
                None,
                subject_of(e),
                "the gateway originates TLS towards the backend of a passthrough TLSRoute".into(),
                e.route.clone(),
                Some(i),
            );
        }
        if let Some(note) = &e.broad_policy_note
            && e.mode.is_tls()
        {
            self.push(
                "policy-covers-all-ports",
                None,
                subject_of(e),
                note.clone(),
                e.route.clone(),
                Some(i),
            );
        }
        if let Some(w) = &e.client_cert_warning {
            self.push(
                "mtls-client-certificate-missing",
                None,
                subject_of(e),
                w.clone(),
                cat!("Gateway/", e.gateway).into(),
                Some(i),
            );
        }
        if e.mode.is_tls() && !e.port_look.plain.is_empty() && e.port_look.tls.is_empty() {
            self.push(
                "tls-to-plain-port",
                None,
                subject_of(e),
                cat!(
                    "TLS to a port that looks plaintext (",
                    e.port_look.plain,
                    ")"
                )
                .into(),
                e.route.clone(),
                Some(i),
            );
        }
        if !e.attached && e.via.is_none() {
            self.push(
                "route-not-attached",
                None,
                subject_of(e),
                e.reasons.first().cloned().unwrap_or_default(),
                e.route.clone(),
                Some(i),
            );
        }
        self.scratch = scratch;
    }

    /// Gateways whose backend client certificate is dropped.
    pub fn gateways(&mut self, ctx: &Context) {
        for (i, gw) in ctx.gateways().enumerate() {
            self.at(Group::Gateway, i);
            if let crate::posture::trust::ClientCertOutcome::Dropped(cc, why) =
                crate::posture::trust::client_cert(
                    ctx.snap,
                    gw,
                    None,
                    crate::posture::Semantics::GatewayApiSpec,
                    ctx.opts.eg_sds_secret_refs,
                )
            {
                let key: Arc<str> = format!("Gateway/{}", gw.key).into();
                self.push(
                    "gateway-client-certificate-invalid",
                    None,
                    key.clone(),
                    format!("{} ({}): {why}", cc.secret, cc.source).into(),
                    key,
                    None,
                );
            }
        }
    }

    /// The route at position `i` names a Gateway that does not exist.
    pub fn route(&mut self, ctx: &Context, i: usize, route: &Route) {
        self.at(Group::Route, i);
        for pr in route.parent_refs.iter().filter(|p| p.is_gateway()) {
            let ns = pr.namespace.as_deref().unwrap_or(&route.meta.namespace);
            if ctx.gateway(ns, &pr.name).is_none() {
                let key = route.key().clone();
                self.read_from(&key, self.snap.route_origin(i));
                self.push(
                    "route-parent-missing",
                    None,
                    key.clone(),
                    format!("parentRef Gateway {ns}/{} does not exist", pr.name).into(),
                    key,
                    None,
                );
            }
        }
    }

    /// The findings of the policy at position `i`, from its report.
    pub fn policy(&mut self, i: usize, p: &BackendTlsPolicy, report: &PolicyReport) {
        self.at(Group::Policy, i);
        let key: Arc<str> = cat!("BackendTLSPolicy/", report.policy).into();
        self.read_from(&key, self.snap.policy_origin(i));
        match report.role {
            PolicyRole::Conflicted => {
                let detail = report
                    .targets
                    .iter()
                    .find(|t| t.role == "conflicted")
                    .map(|t| t.detail.clone())
                    .unwrap_or_default();
                self.push(
                    "policy-conflicted",
                    None,
                    key.clone(),
                    format!("{} loses: {detail}", report.policy).into(),
                    key.clone(),
                    None,
                );
            }
            PolicyRole::Unattached if !p.legacy_shape => {
                let detail: Vec<String> = report
                    .targets
                    .iter()
                    .map(|t| format!("{}: {}", t.target, t.detail))
                    .collect();
                let sev = if detail
                    .iter()
                    .all(|d| d.contains("no route of a known Gateway"))
                {
                    Some(Severity::Low)
                } else {
                    None
                };
                self.push(
                    "policy-unattached",
                    sev,
                    key.clone(),
                    format!(
                        "{} applies to no edge ({})",
                        report.policy,
                        detail.join("; ")
                    )
                    .into(),
                    key.clone(),
                    None,
                );
            }
            PolicyRole::Partial => {
                for t in report.targets.iter().filter(|t| t.role != "winner") {
                    self.push(
                        "policy-unattached",
                        Some(Severity::Low),
                        key.clone(),
                        format!(
                            "target {} of {} applies to nothing: {}",
                            t.target, report.policy, t.detail
                        )
                        .into(),
                        key.clone(),
                        None,
                    );
                }
            }
            _ => {}
        }
        if p.targets.len() > 1 {
            self.push(
                "policy-multiple-targets",
                None,
                key.clone(),
                cat!(
                    report.policy,
                    " has ",
                    itoa::Buffer::new().format(p.targets.len()),
                    " targetRefs"
                )
                .into(),
                key.clone(),
                None,
            );
        }
        if !p.ancestors.is_empty() && !report.reported_matches_computed {
            // `ANCESTOR (CONTROLLER): reported …, computed …` for each ancestor that differs,
            // `; `-separated, written in one text.
            let mut diffs = String::with_capacity(256);
            for a in report.ancestors.iter().filter(|a| !a.matches) {
                if !diffs.is_empty() {
                    diffs.push_str("; ");
                }
                for part in [&*a.ancestor, " (", &a.controller, "): reported "] {
                    diffs.push_str(part);
                }
                super::write_summary(&mut diffs, &a.conditions);
                diffs.push_str(", computed ");
                super::write_summary(&mut diffs, &a.computed);
            }
            self.push(
                "policy-status-mismatch",
                None,
                key.clone(),
                diffs.into(),
                key.clone(),
                None,
            );
        }
        let stale: Vec<&str> = report
            .ancestors
            .iter()
            .filter(|a| a.conditions.iter().any(|c| c.stale))
            .map(|a| a.ancestor.as_str())
            .collect();
        if !stale.is_empty() {
            let observed = report
                .ancestors
                .iter()
                .flat_map(|a| a.conditions.iter())
                .filter_map(|c| c.observed_generation)
                .min()
                .unwrap_or_default();
            self.push(
                "policy-status-stale",
                None,
                key.clone(),
                format!(
                    "status for {} reflects generation {observed}, the policy is at generation {}",
                    stale.join(", "),
                    report.generation.unwrap_or_default()
                )
                .into(),
                key.clone(),
                None,
            );
        }
    }

    /// Certificates of every CA bundle that a policy or Backend uses: the policies' CA states
    /// and `lists`, those the edges hold (in any order, each once or more).
    ///
    /// A certificate is raised once per bundle reference, in the order of the references, then
    /// of its position in the bundle: the same order whatever order the lists come in, so the
    /// incremental evaluation can raise them from the lists it keeps. Notes the second from
    /// which they may say something else with the same lists (see
    /// [`super::cert_issues_change_at`]).
    pub fn certificates<'l>(
        &mut self,
        policies: &'l [PolicyReport],
        lists: impl Iterator<Item = &'l [CaRefState]>,
        now: jiff::Timestamp,
    ) {
        self.at(Group::Certificate, 0);
        // (reference, serial) -> (position in the bundle, certificate)
        let mut certs: foldhash::HashMap<(&str, &str), (usize, &CertFacts)> =
            foldhash::HashMap::default();
        // Edges of a policy share its CA states: each list is read once.
        let mut read: foldhash::HashSet<usize> = foldhash::HashSet::default();
        let lists = policies
            .iter()
            .map(|p| &*p.ca_refs)
            .chain(lists)
            .filter(|list| !list.is_empty() && read.insert(list.as_ptr() as usize));
        for state in lists.flatten() {
            for (at, c) in state.certificates.iter().enumerate() {
                certs
                    .entry((&state.reference, &c.serial))
                    .and_modify(|(first, _)| *first = (*first).min(at))
                    .or_insert((at, c));
            }
        }
        let mut certs: Vec<((&str, usize, &str), &CertFacts)> = certs
            .into_iter()
            .map(|((reference, serial), (at, c))| ((reference, at, serial), c))
            .collect();
        certs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut reference: Option<Arc<str>> = None;
        let mut change_at: Option<i64> = None;
        for ((name, _, _), c) in certs {
            if let Some(at) = super::cert_issues_change_at(c, now) {
                change_at = Some(change_at.map_or(at, |t| t.min(at)));
            }
            let reference = match &reference {
                Some(r) if &**r == name => r.clone(),
                _ => reference.insert(name.into()).clone(),
            };
            for (id, sev, msg) in super::cert_issues(c, now) {
                let message = format!("{}: {msg}", crate::sanitize::clean(&c.subject));
                self.push(
                    id,
                    Some(sev),
                    reference.clone(),
                    message.into(),
                    reference.clone(),
                    None,
                );
            }
        }
        self.certificates_change_at = change_at;
    }

    /// Objects that could not be read.
    pub fn input_errors(&mut self) {
        self.at(Group::InputError, 0);
        for err in &self.snap.errors {
            let r = rule("input-error");
            self.raise(Finding {
                id: r.id,
                severity: r.severity,
                subject: err.object.as_str().into(),
                message: format!("{} ({})", err.message, err.origin).into(),
                remediation: r.remediation,
                object: err.object.as_str().into(),
                // The object is not in the snapshot; its document's position is in the error.
                origin: Some(err.origin.clone()),
                edge: None,
            });
        }
    }

    /// What a live cluster adds (notices, unreadable kinds, version skew).
    pub fn cluster(&mut self, ctx: &Context, edges: &[Edge]) {
        self.at(Group::Cluster, 0);
        for f in
            crate::posture::cluster::findings(ctx.snap, edges, ctx.eg_blind.as_deref(), ctx.opts)
        {
            self.raise(f);
        }
    }

    /// The findings in their order (see [`Rank`]), with their ranks.
    pub fn sorted(self) -> Raised {
        Collector::sorted_together(self, Vec::new())
    }

    /// The findings of `first` and of `later` (each raised in later groups than the one
    /// before) in their order, with their ranks: [`Collector::sorted`] of all of them. Their
    /// order is found before they are put in one list, then each finding is moved once, in
    /// place: no second list of findings (5 MiB at L, at the moment the posture's heap peaks).
    pub fn sorted_together(first: Collector<'s>, later: Vec<Collector<'s>>) -> Raised {
        let parts: Vec<&Collector> = std::iter::once(&first).chain(&later).collect();
        // Where each part's findings start among all of them.
        let starts: Vec<usize> = parts
            .iter()
            .scan(0, |next, p| {
                let start = *next;
                *next += p.findings.len();
                Some(start)
            })
            .collect();
        let rank = |g: usize| {
            let part = starts.partition_point(|&s| s <= g) - 1;
            parts[part].ranks[g - starts[part]]
        };
        let at = super::sorted_positions(parts.iter().flat_map(|p| &p.findings), |a, b| {
            rank(a).cmp(&rank(b))
        });
        let mut all = first;
        for mut part in later {
            // A large list grows where it is: the allocator extends it in place.
            all.findings.append(&mut part.findings);
            all.ranks.append(&mut part.ranks);
            all.certificates_change_at = all.certificates_change_at.or(part.certificates_change_at);
        }
        let (findings, ranks) = (&mut all.findings, &mut all.ranks);
        let ahead = super::ask_for_item(findings);
        super::permute(
            at,
            |a, b| {
                findings.swap(a, b);
                ranks.swap(a, b);
            },
            ahead,
        );
        Raised {
            findings: all.findings,
            ranks: all.ranks,
            certificates_change_at: all.certificates_change_at,
        }
    }
}
