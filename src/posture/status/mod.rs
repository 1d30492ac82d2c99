//! Policy status: what lastmile computes per (policy, ancestor, controller), Envoy Gateway's
//! conflict and truncation passes, and the cross-check against the reported `status.ancestors`.

use super::conflicts::Conflicts;
use super::context::Context;
use super::{AncestorView, ConditionView, Edge, PolicyReport, PolicyRole, Semantics, TargetView};
use crate::model::*;
use foldhash::{HashMap, HashMapExt};
use std::collections::hash_map::Entry;
use std::sync::Arc;

mod read_ahead;

/// Maximum number of ancestors a policy status may hold.
const MAX_ANCESTORS: usize = 16;

/// Builds a computed condition.
pub(crate) fn cond(type_: &str, status: bool, reason: &str, message: &str) -> ConditionView {
    ConditionView {
        type_: shared(type_),
        status: shared(if status { "True" } else { "False" }),
        reason: shared(reason),
        message: shared(message),
        stale: false,
        observed_generation: None,
        last_transition_time: None,
    }
}

/// `text` as a shared string: the few texts that computed conditions repeat (types, statuses,
/// reasons and fixed messages) are held once for the whole program; others are copied. Every
/// recorded condition passes here, so the known texts are found by a `match` (length, then
/// bytes) rather than by hashing.
fn shared(text: &str) -> Arc<str> {
    static HELD: std::sync::LazyLock<[Arc<str>; 12]> =
        std::sync::LazyLock::new(|| KNOWN_TEXTS.map(Arc::from));
    let at = match text {
        "Accepted" => 0,
        "ResolvedRefs" => 1,
        "True" => 2,
        "False" => 3,
        "Aggregated" => 4,
        "Conflicted" => 5,
        "Invalid" => 6,
        "InvalidKind" => 7,
        "NoValidCACertificate" => 8,
        "InvalidCACertificateRef" => 9,
        "Policy has been accepted." => 10,
        "Resolved all the Object references." => 11,
        _ => return text.into(),
    };
    HELD[at].clone()
}

/// The texts [`shared`] holds, in the order of its `match`.
const KNOWN_TEXTS: [&str; 12] = [
    "Accepted",
    "ResolvedRefs",
    "True",
    "False",
    "Aggregated",
    "Conflicted",
    "Invalid",
    "InvalidKind",
    "NoValidCACertificate",
    "InvalidCACertificateRef",
    "Policy has been accepted.",
    "Resolved all the Object references.",
];

#[derive(Debug, Clone)]
pub(crate) struct ComputedAncestor {
    /// Shared with the route or Gateway it comes from.
    pub ancestor_ref: Arc<ParentRef>,
    /// Shared with the Gateway's context.
    pub controller: Arc<str>,
    pub semantics: Semantics,
    pub conditions: Vec<ConditionView>,
}

/// Identifies a policy of the snapshot being evaluated (its address: policies do not move while
/// a snapshot is borrowed), so recording a use builds no key string.
pub(crate) fn pid(p: &BackendTlsPolicy) -> usize {
    std::ptr::from_ref(p) as usize
}

/// A policy's list of computed ancestors longer than this is also indexed (see
/// [`Recorder::long`]): a Service shared through thousands of Gateways would otherwise have
/// every edge go through them all.
const INDEX_ANCESTORS_ABOVE: usize = 8;

/// Positions in a policy's list of computed ancestors by [`ancestor_key`].
type AncestorIndex = HashMap<u64, Vec<u32>>;

fn ancestor_key(ancestor_ref: &ParentRef, controller: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::default().hash_one((ancestor_ref, controller))
}

/// The position in `list` of the entry for (`ancestor_ref`, `controller`), through `index`
/// when the list has one.
fn position_of(
    list: &[ComputedAncestor],
    index: Option<&AncestorIndex>,
    ancestor_ref: &ParentRef,
    controller: &str,
) -> Option<usize> {
    let same =
        |a: &ComputedAncestor| *a.ancestor_ref == *ancestor_ref && &*a.controller == controller;
    match index {
        Some(index) => index
            .get(&ancestor_key(ancestor_ref, controller))?
            .iter()
            .map(|&i| i as usize)
            .find(|&i| same(&list[i])),
        None => list.iter().position(same),
    }
}

/// Merges `conditions` into `list`'s entry for (`ancestor_ref`, `controller`) (found through
/// `index` when the list has one): the first conditions stay unless later ones report an error
/// (an error seen through any edge wins over success). Gives the conditions back when the list
/// has no such entry.
fn merge_into(
    list: &mut [ComputedAncestor],
    index: Option<&AncestorIndex>,
    ancestor_ref: &ParentRef,
    controller: &str,
    conditions: Vec<ConditionView>,
) -> Option<Vec<ConditionView>> {
    match position_of(list, index, ancestor_ref, controller).map(|i| &mut list[i]) {
        Some(a) => {
            if conditions.iter().any(|c| &*c.status == "False") {
                a.conditions = conditions;
            }
            None
        }
        None => Some(conditions),
    }
}

/// Collects what edge evaluation learns about policies, and which routes name a Gateway that
/// is not there.
#[derive(Debug, Default, Clone)]
pub(crate) struct Recorder {
    ancestors: HashMap<usize, Vec<ComputedAncestor>>,
    /// The index of each list in `ancestors` longer than [`INDEX_ANCESTORS_ABOVE`].
    long: HashMap<usize, AncestorIndex>,
    uses: HashMap<(usize, usize), usize>,
    /// Positions of the routes with a Gateway parentRef whose Gateway is missing, in route
    /// order (the only routes with findings of their own: the findings need not look at the
    /// others again).
    missing_gateway: Vec<usize>,
}

impl Recorder {
    /// The route at position `at` names a Gateway that is not in the snapshot.
    pub fn names_missing_gateway(&mut self, at: usize) {
        if self.missing_gateway.last() != Some(&at) {
            self.missing_gateway.push(at);
        }
    }

    /// The routes that name a missing Gateway (see [`Recorder::names_missing_gateway`]), taken
    /// out of the record.
    pub fn take_routes_missing_gateway(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.missing_gateway)
    }

    /// Records one use of `p` through `target` and what it computes for the ancestor (merged as
    /// [`merge_into`] does). The ancestor is copied only when it is new.
    pub fn record(
        &mut self,
        p: &BackendTlsPolicy,
        target: usize,
        ancestor_ref: &Arc<ParentRef>,
        controller: &Arc<str>,
        semantics: Semantics,
        conditions: Vec<ConditionView>,
    ) {
        self.count_use(p, target);
        let policy = pid(p);
        let list = self.ancestors.entry(policy).or_default();
        let index = self.long.get(&policy);
        if let Some(conditions) = merge_into(list, index, ancestor_ref, controller, conditions) {
            list.push(ComputedAncestor {
                ancestor_ref: ancestor_ref.clone(),
                controller: controller.clone(),
                semantics,
                conditions,
            });
            self.pushed(policy);
        }
    }

    fn merge_ancestor(&mut self, policy: usize, mut computed: ComputedAncestor) {
        let list = self.ancestors.entry(policy).or_default();
        let conditions = std::mem::take(&mut computed.conditions);
        let index = self.long.get(&policy);
        if let Some(conditions) = merge_into(
            list,
            index,
            &computed.ancestor_ref,
            &computed.controller,
            conditions,
        ) {
            list.push(ComputedAncestor {
                conditions,
                ..computed
            });
            self.pushed(policy);
        }
    }

    /// An entry was added at the end of `policy`'s list: it is indexed once the list is long
    /// (the whole list the first time).
    fn pushed(&mut self, policy: usize) {
        let list = &self.ancestors[&policy];
        if list.len() <= INDEX_ANCESTORS_ABOVE {
            return;
        }
        let key = |a: &ComputedAncestor| ancestor_key(&a.ancestor_ref, &a.controller);
        match self.long.entry(policy) {
            Entry::Occupied(mut index) => {
                let last = list.len() - 1;
                index
                    .get_mut()
                    .entry(key(&list[last]))
                    .or_default()
                    .push(last as u32);
            }
            Entry::Vacant(slot) => {
                let mut index = AncestorIndex::default();
                for (i, a) in list.iter().enumerate() {
                    index.entry(key(a)).or_default().push(i as u32);
                }
                slot.insert(index);
            }
        }
    }

    /// Adds what `later` recorded, as if its edges had been evaluated after this recorder's:
    /// the result equals recording every edge in order with one recorder.
    pub fn merge(&mut self, later: Recorder) {
        self.missing_gateway.extend(later.missing_gateway);
        self.uses.reserve(later.uses.len());
        for (key, n) in later.uses {
            *self.uses.entry(key).or_default() += n;
        }
        self.ancestors.reserve(later.ancestors.len());
        let mut later_long = later.long;
        for (policy, list) in later.ancestors {
            match self.ancestors.entry(policy) {
                // Most policies are used by the routes of one run only: their list is taken
                // over whole (it was merged as it was recorded, so it holds each ancestor once),
                // with its index when it has one.
                Entry::Vacant(slot) => {
                    slot.insert(list);
                    if let Some(index) = later_long.remove(&policy) {
                        self.long.insert(policy, index);
                    }
                }
                Entry::Occupied(_) => {
                    for computed in list {
                        self.merge_ancestor(policy, computed);
                    }
                }
            }
        }
    }

    pub fn has(&self, p: &BackendTlsPolicy, ancestor_ref: &ParentRef, controller: &str) -> bool {
        let policy = pid(p);
        self.ancestors.get(&policy).is_some_and(|l| {
            position_of(l, self.long.get(&policy), ancestor_ref, controller).is_some()
        })
    }

    pub fn count_use(&mut self, p: &BackendTlsPolicy, target: usize) {
        *self.uses.entry((pid(p), target)).or_default() += 1;
    }

    /// The policies (by [`pid`]) this recorder saw.
    pub fn policies(&self) -> impl Iterator<Item = usize> + '_ {
        self.ancestors
            .keys()
            .copied()
            .chain(self.uses.keys().map(|&(p, _)| p))
    }

    /// Adds what `later` recorded about `policy` only, as [`Self::merge`] would.
    pub fn merge_policy(&mut self, later: &Recorder, policy: usize) {
        for (&(p, t), n) in &later.uses {
            if p == policy {
                *self.uses.entry((p, t)).or_default() += n;
            }
        }
        for computed in later.ancestors.get(&policy).into_iter().flatten() {
            self.merge_ancestor(policy, computed.clone());
        }
    }

    /// What was computed for `policy`'s ancestors.
    pub fn ancestors_of(&self, policy: usize) -> Option<&[ComputedAncestor]> {
        self.ancestors.get(&policy).map(Vec::as_slice)
    }

    pub fn uses(&self) -> &HashMap<(usize, usize), usize> {
        &self.uses
    }
}

/// Edges grouped by backend object (`KIND/NS/NAME`, port stripped), built once per evaluation
/// so explaining unattached targets does not scan every edge per target.
pub(crate) struct EdgesByBackend<'a> {
    map: HashMap<&'a str, Vec<&'a Edge>>,
}

/// From this many edges on, [`EdgesByBackend::of_targets`] scans them on several threads.
const EDGES_PER_SCAN: usize = 4_096;

impl<'a> EdgesByBackend<'a> {
    /// `edges` in the posture's order (a subset gives the same answers for the objects all of
    /// whose edges it holds).
    pub fn new(edges: impl IntoIterator<Item = &'a Edge>) -> Self {
        let mut map: HashMap<&str, Vec<&Edge>> = HashMap::new();
        for e in edges {
            map.entry(super::backend_object(&e.backend))
                .or_default()
                .push(e);
        }
        EdgesByBackend { map }
    }

    /// The edges of the objects that targets deciding no edge name (the only ones explained
    /// from their edges, by [`unattached_reason`]), scanned in runs on up to `threads` threads.
    /// A large cluster has tens of thousands of edges and a few thousand such targets: the
    /// other edges are only looked up, not kept.
    fn of_targets(
        ctx: &Context,
        edges: &'a [Edge],
        uses: &HashMap<(usize, usize), usize>,
        threads: usize,
    ) -> Self {
        let mut wanted: foldhash::HashSet<String> = Default::default();
        for p in ctx.snap.policies.iter().filter(|p| !p.legacy_shape) {
            for (i, t) in p.targets.iter().enumerate() {
                if !uses.contains_key(&(pid(p), i)) {
                    let ns = t.namespace.as_deref().unwrap_or(&p.meta.namespace);
                    wanted.insert(cat!(t.kind, "/", ns, "/", t.name));
                }
            }
        }
        if wanted.is_empty() {
            return EdgesByBackend {
                map: HashMap::new(),
            };
        }
        let threads = threads.min(edges.len() / EDGES_PER_SCAN).max(1);
        let scan = |run: &'a [Edge]| {
            let mut map: HashMap<&str, Vec<&Edge>> = HashMap::new();
            for (i, e) in run.iter().enumerate() {
                // Each edge's backend text is a read of its own: asked for a few edges ahead.
                // The line of the edge that holds the backend's address, further ahead.
                if let Some(further) = run.get(i + 2 * BACKENDS_AHEAD) {
                    super::prefetch(&further.backend);
                }
                if let Some(later) = run.get(i + BACKENDS_AHEAD) {
                    super::prefetch(Arc::as_ptr(&later.backend));
                }
                let object = super::backend_object(&e.backend);
                if wanted.contains(object) {
                    map.entry(object).or_default().push(e);
                }
            }
            map
        };
        if threads == 1 {
            return EdgesByBackend { map: scan(edges) };
        }
        let run_length = edges.len().div_ceil(threads);
        let mut runs = super::on_threads(edges.chunks(run_length), &scan).into_iter();
        let mut map = runs.next().unwrap_or_default();
        // Later runs hold later edges: appended, the posture's order is kept.
        for later in runs {
            for (object, list) in later {
                map.entry(object).or_default().extend(list);
            }
        }
        EdgesByBackend { map }
    }

    fn get(&self, object: &str) -> &[&'a Edge] {
        self.map.get(object).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// How many edges ahead [`EdgesByBackend::of_targets`] asks for an edge's backend text.
const BACKENDS_AHEAD: usize = 8;

/// Below this many policies the reports are not split across threads.
pub(crate) const POLICIES_PER_THREAD: usize = 128;

/// What [`report`] reads besides the policy and its computed ancestors.
pub(crate) struct ReportInputs<'a> {
    pub ctx: &'a Context<'a>,
    pub uses: &'a HashMap<(usize, usize), usize>,
    pub conflicts: &'a Conflicts,
    pub by_backend: &'a EdgesByBackend<'a>,
    pub controllers: &'a [&'a str],
}

/// Computes every policy's report, with the snapshot's `conflicts` ([`Conflicts::new`]).
/// `threads` is an upper bound: few policies use fewer.
pub(crate) fn policy_reports(
    ctx: &Context,
    edges: &[Edge],
    rec: Recorder,
    conflicts: &Conflicts,
    threads: usize,
) -> Vec<PolicyReport> {
    policy_reports_then(ctx, edges, rec, conflicts, threads, || (), |_, _, _, _| ()).0
}

/// [`policy_reports`], each report handed to `then` (with the policy's position, the policy
/// and a state) as soon as it is made: on the thread that made it, while what it was made
/// from is still in that core's caches (on a large cluster it would not be by the time every
/// report is made). The reports are made in runs, each with its own state from `start`; the
/// states are given back in the runs' order, so a state that collects what `then` makes holds
/// it in policy order, run after run.
pub(crate) fn policy_reports_then<S: Send>(
    ctx: &Context,
    edges: &[Edge],
    rec: Recorder,
    conflicts: &Conflicts,
    threads: usize,
    start: impl Fn() -> S + Sync,
    then: impl Fn(usize, &BackendTlsPolicy, &PolicyReport, &mut S) + Sync,
) -> (Vec<PolicyReport>, Vec<S>) {
    let snap = ctx.snap;
    let Recorder {
        mut ancestors,
        uses,
        missing_gateway: _,
        long: _,
    } = rec;
    for (loser, winner) in conflicts.pairs() {
        let list = conflicts.loser_ancestors(
            loser,
            ancestors
                .get(&winner)
                .map(Vec::as_slice)
                .unwrap_or_default(),
        );
        ancestors.insert(loser, list);
    }
    let controllers = ctx.modelled_controllers();
    let by_backend = EdgesByBackend::of_targets(ctx, edges, &uses, threads);
    let inputs = ReportInputs {
        ctx,
        uses: &uses,
        conflicts,
        by_backend: &by_backend,
        controllers: &controllers,
    };
    let mut work: Vec<read_ahead::Work> = snap
        .policies
        .iter()
        .enumerate()
        .map(|(i, p)| (i, &**p, ancestors.remove(&pid(p)).unwrap_or_default()))
        .collect();
    let threads = threads.min(work.len() / POLICIES_PER_THREAD).max(1);
    let runs = super::in_runs_mut(&mut work, threads, |run| {
        let mut state = start();
        let reports = read_ahead::each_policy(run, |(i, p, c)| {
            let made = report(&inputs, p, std::mem::take(c));
            then(*i, p, &made, &mut state);
            made
        });
        (reports, state)
    });
    let mut reports = Vec::with_capacity(snap.policies.len());
    let mut states = Vec::with_capacity(runs.len());
    for (run, state) in runs {
        reports.extend(run);
        states.push(state);
    }
    (reports, states)
}

/// The ancestors computed for `p` from what the edges recorded (`recorded(pid)` gives the
/// merged record of a policy), with the conflict pass applied: for the incremental evaluation,
/// which merges the records of the policies it recomputes only.
pub(crate) fn computed_ancestors<'r>(
    p: &BackendTlsPolicy,
    conflicts: &Conflicts,
    recorded: impl Fn(usize) -> Option<&'r [ComputedAncestor]>,
) -> Vec<ComputedAncestor> {
    match conflicts.winner_of(pid(p)) {
        Some(winner) => conflicts.loser_ancestors(pid(p), recorded(winner).unwrap_or_default()),
        None => recorded(pid(p)).map(<[_]>::to_vec).unwrap_or_default(),
    }
}

/// One policy's report from its computed ancestors (moved in, not copied).
pub(crate) fn report(
    inputs: &ReportInputs,
    p: &BackendTlsPolicy,
    mut computed: Vec<ComputedAncestor>,
) -> PolicyReport {
    let ctx = inputs.ctx;
    truncate(&mut computed);
    let conflicted = inputs.conflicts.lost(pid(p));
    let targets = target_views(ctx, p, inputs.uses, conflicted, inputs.by_backend);
    let used = targets.iter().any(|t| t.role == "winner");
    let invalid = computed.iter().any(|a| {
        a.conditions
            .iter()
            .any(|c| &*c.type_ == "Accepted" && &*c.status == "False" && &*c.reason != "Conflicted")
    });
    let eg_computed = computed
        .iter()
        .any(|a| a.semantics == Semantics::EnvoyGateway);
    let ancestors = reconcile(p, computed, inputs.controllers);
    let reported_matches_computed = ancestors.iter().all(|a| a.matches);
    let role = if invalid {
        PolicyRole::Invalid
    } else if conflicted.is_some() && !used {
        PolicyRole::Conflicted
    } else if used && targets.iter().all(|t| t.role == "winner") {
        PolicyRole::Winner
    } else if used {
        PolicyRole::Partial
    } else {
        PolicyRole::Unattached
    };
    let ca_refs = if p.ca_refs.is_empty() {
        Arc::default()
    } else {
        let semantics = if p
            .ancestors
            .iter()
            .any(|a| &*a.controller_name != EG_CONTROLLER)
            && !eg_computed
        {
            Semantics::GatewayApiSpec
        } else {
            Semantics::EnvoyGateway
        };
        ctx.policy_cas(p, semantics)
            .map(|c| c.resolution.states.clone())
            .unwrap_or_default()
    };
    PolicyReport {
        policy: p.key.clone(),
        api_version: p.version.api_version().to_string(),
        role,
        targets,
        ancestors,
        reported_matches_computed,
        generation: p.meta.generation,
        problems: p.problems.clone(),
        hostname: p.hostname.clone(),
        ca_refs,
        well_known: p.well_known.clone(),
    }
}

/// Envoy Gateway keeps at most 16 ancestors: negative-polarity entries first, then by name,
/// and marks the last kept entry `Aggregated`.
fn truncate(list: &mut Vec<ComputedAncestor>) {
    if list.len() <= MAX_ANCESTORS {
        return;
    }
    let name_key = |a: &ComputedAncestor| {
        (
            !a.conditions.iter().any(|c| &*c.status == "False"),
            a.ancestor_ref.namespace.clone().unwrap_or_default(),
            a.ancestor_ref.name.clone(),
            a.ancestor_ref.section_name.clone().unwrap_or_default(),
        )
    };
    list.sort_by_key(name_key);
    list.truncate(MAX_ANCESTORS);
    if let Some(last) = list.last_mut() {
        last.conditions.push(cond(
            "Aggregated",
            true,
            "Aggregated",
            "Ancestors have been aggregated because the number of policy ancestors exceeds 16.",
        ));
    }
}

fn target_views(
    ctx: &Context,
    p: &BackendTlsPolicy,
    uses: &HashMap<(usize, usize), usize>,
    conflicted: Option<&(String, Vec<String>)>,
    edges: &EdgesByBackend,
) -> Vec<TargetView> {
    p.targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let n = uses.get(&(pid(p), i)).copied().unwrap_or(0);
            let target = t.display();
            let (role, detail) = if p.legacy_shape {
                ("unattached", "written in the Gateway API v1.0 shape (v1alpha2 targetRef/tls): current controllers do not watch it".to_string())
            } else if n > 0 {
                ("winner", cat!("decides ", itoa::Buffer::new().format(n), if n == 1 { " edge" } else { " edges" }))
            } else if let Some((winner, _)) = conflicted.filter(|(_, keys)| keys.contains(&target)) {
                ("conflicted", cat!(winner, " is older (or first by name) and claims the same target"))
            } else {
                ("unattached", unattached_reason(ctx, p, t, edges))
            };
            TargetView { target, role, detail, edges: n }
        })
        .collect()
}

/// Explains why a target decides no edge.
fn unattached_reason(
    ctx: &Context,
    p: &BackendTlsPolicy,
    t: &PolicyTarget,
    edges: &EdgesByBackend,
) -> String {
    let snap = ctx.snap;
    let ns = t.namespace.as_deref().unwrap_or(&p.meta.namespace);
    if t.namespace
        .as_deref()
        .is_some_and(|n| n != p.meta.namespace)
    {
        return format!(
            "targets namespace {ns}, but a policy only applies to targets in its own namespace ({})",
            p.meta.namespace
        );
    }
    if t.group == "core" {
        return "group is written as \"core\": Envoy Gateway compares the group literally and only matches \"\"".into();
    }
    match t.kind.as_str() {
        "Service" | "ServiceImport" => {
            let Some(svc) = snap.service(&t.kind, ns, &t.name) else {
                let elsewhere: Vec<String> = ctx
                    .services_named(&t.kind, &t.name)
                    .map(|s| s.meta.namespace.clone())
                    .collect();
                return if elsewhere.is_empty() {
                    format!("{} {ns}/{} does not exist", t.kind, t.name)
                } else {
                    format!(
                        "no {} {} in namespace {ns} (one exists in {}): a policy must live in its target's namespace",
                        t.kind,
                        t.name,
                        elsewhere.join(", ")
                    )
                };
            };
            if let Some(section) = &t.section_name
                && !svc
                    .ports
                    .iter()
                    .any(|sp| sp.name.as_deref() == Some(section))
            {
                let names: Vec<String> = svc
                    .ports
                    .iter()
                    .map(|sp| match (&sp.name, sp.port) {
                        (Some(n), Some(port)) => format!("{n} ({port})"),
                        (None, Some(port)) => format!("unnamed ({port})"),
                        _ => "?".into(),
                    })
                    .collect();
                return format!(
                    "sectionName {section} matches no port name of {} {ns}/{} (ports: {}); sectionName is a port name, not a number",
                    t.kind,
                    t.name,
                    names.join(", ")
                );
            }
        }
        "Backend" => {
            if snap.backend(ns, &t.name).is_none() {
                return format!("Backend {ns}/{} does not exist", t.name);
            }
            if let Some(section) = &t.section_name {
                let with_port = format!("Backend/{ns}/{}:{section}", t.name);
                let referenced_with_port = edges
                    .get(&format!("Backend/{ns}/{}", t.name))
                    .iter()
                    .any(|e| *e.backend == *with_port);
                if !referenced_with_port {
                    return format!(
                        "sectionName {section} only matches backendRefs that give port {section}; the routes reference Backend {} without it",
                        t.name
                    );
                }
            }
        }
        other => return format!("target kind {other} is not a backend lastmile models"),
    }
    let target_prefix = format!("{}/{ns}/{}", t.kind, t.name);
    let referenced = edges.get(&target_prefix);
    if referenced.is_empty() {
        return format!("no route of a known Gateway references {target_prefix}");
    }
    if let Some(e) = referenced
        .iter()
        .find(|e| e.policy.is_some() && e.policy.as_deref() != Some(&*p.key))
    {
        return format!(
            "shadowed: {} decides {} on this target",
            e.policy.as_deref().unwrap_or(""),
            e.backend
        );
    }
    if referenced.iter().all(|e| e.mode == super::Mode::Unresolved) {
        return "every backendRef to this target is invalid (see the edges), so the policy is never evaluated".into();
    }
    "not selected for any edge".into()
}

/// Normalised identity of an ancestor for matching computed against reported entries.
fn same_ancestor(computed: &ParentRef, reported: &ParentRef, semantics: Semantics) -> bool {
    fn g(r: &ParentRef) -> &str {
        r.group.as_deref().unwrap_or(GATEWAY_GROUP)
    }
    fn k(r: &ParentRef) -> &str {
        r.kind.as_deref().unwrap_or("Gateway")
    }
    g(computed) == g(reported)
        && k(computed) == k(reported)
        && computed.name == reported.name
        && (computed.namespace.is_none()
            || reported.namespace.is_none()
            || computed.namespace == reported.namespace)
        && (semantics != Semantics::EnvoyGateway || computed.section_name == reported.section_name)
}

fn view_of(c: &Condition, generation: Option<i64>) -> ConditionView {
    ConditionView {
        type_: c.type_.clone(),
        status: c.status.clone(),
        reason: c.reason.clone(),
        message: c.message.clone(),
        stale: matches!((c.observed_generation, generation), (Some(o), Some(g)) if o < g),
        observed_generation: c.observed_generation,
        last_transition_time: c.last_transition_time,
    }
}

/// Pairs reported ancestors with computed ones.
fn reconcile(
    p: &BackendTlsPolicy,
    mut computed: Vec<ComputedAncestor>,
    controllers: &[&str],
) -> Vec<AncestorView> {
    let default_ns = p.meta.namespace.as_str();
    let mut out = Vec::new();
    let mut used = vec![false; computed.len()];
    for rep in &p.ancestors {
        let idx = computed.iter().enumerate().position(|(i, c)| {
            !used[i]
                && c.controller == rep.controller_name
                && same_ancestor(&c.ancestor_ref, &rep.ancestor_ref, c.semantics)
        });
        let conditions: Vec<ConditionView> = rep
            .conditions
            .iter()
            .map(|c| view_of(c, p.meta.generation))
            .collect();
        let (computed_conds, matches) = match idx {
            Some(i) => {
                used[i] = true;
                let m = conditions_agree(&computed[i].conditions, &conditions);
                (std::mem::take(&mut computed[i].conditions), m)
            }
            // A controller lastmile does not model may report what it likes; an entry of a
            // modelled controller that lastmile does not compute is a disagreement.
            None => (vec![], !controllers.contains(&&*rep.controller_name)),
        };
        out.push(AncestorView {
            ancestor: rep.ancestor_ref.display(default_ns),
            controller: rep.controller_name.clone(),
            conditions,
            computed: computed_conds,
            reported: true,
            matches,
            ancestor_ref: rep.ancestor_ref.clone(),
        });
    }
    for (c, used) in computed.into_iter().zip(used) {
        if !used {
            out.push(AncestorView {
                ancestor: c.ancestor_ref.display(default_ns),
                controller: c.controller,
                conditions: vec![],
                computed: c.conditions,
                reported: false,
                matches: false,
                ancestor_ref: c.ancestor_ref,
            });
        }
    }
    out
}

/// Computed and reported agree when `Accepted` (and `ResolvedRefs`, if both have it) carry the
/// same status and reason.
fn conditions_agree(computed: &[ConditionView], reported: &[ConditionView]) -> bool {
    ["Accepted", "ResolvedRefs"].iter().all(|t| {
        let c = computed.iter().find(|c| &*c.type_ == *t);
        let r = reported.iter().find(|c| &*c.type_ == *t);
        match (c, r) {
            (Some(c), Some(r)) => c.status == r.status && c.reason == r.reason,
            (Some(c), None) => *t != "Accepted" || c.status.is_empty(),
            (None, Some(r)) => *t != "Accepted" || r.status.is_empty(),
            (None, None) => true,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each known text is found by the `match` at its own place (a text listed in one but not
    /// the other, or out of order, would come back as another text), and is held once.
    #[test]
    fn known_condition_texts_are_held_once() {
        for text in KNOWN_TEXTS {
            let (a, b) = (shared(text), shared(text));
            assert_eq!(&*a, text);
            assert!(Arc::ptr_eq(&a, &b), "{text} is copied");
        }
        let (a, b) = (shared("SomethingElse"), shared("SomethingElse"));
        assert_eq!(&*a, "SomethingElse");
        assert!(!Arc::ptr_eq(&a, &b));
    }

    /// A policy decoded from a minimal manifest, for the recorder tests.
    fn a_policy() -> BackendTlsPolicy {
        let mut b = crate::snapshot::SnapshotBuilder::new();
        crate::source::decode::add_value(
            &mut b,
            serde_json::json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
                "metadata": {"name": "p", "namespace": "app"},
                "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "x"}],
                         "validation": {"wellKnownCACertificates": "System", "hostname": "x.example.com"}}}),
            Default::default(),
        );
        let snap = b.build(Default::default());
        (*snap.policies[0]).clone()
    }

    /// One use of a policy through Gateway `gw` of `controller`, accepted or not.
    type Use = (usize, usize, bool);

    /// What recording `uses` in order leaves for the policy: each (ancestor, controller) once,
    /// in the order first seen, with the first conditions unless a later use reported False.
    fn expected(uses: &[Use]) -> Vec<(String, String, String)> {
        let mut out: Vec<(String, String, String)> = Vec::new();
        for &(gw, controller, ok) in uses {
            let (name, c) = (format!("gw-{gw}"), format!("controller-{controller}"));
            let status = if ok { "True" } else { "False" }.to_string();
            match out.iter_mut().find(|(n, k, _)| *n == name && *k == c) {
                Some(entry) if !ok => entry.2 = status,
                Some(_) => {}
                None => out.push((name, c, status)),
            }
        }
        out
    }

    fn record_all(rec: &mut Recorder, p: &BackendTlsPolicy, uses: &[Use]) {
        for &(gw, controller, ok) in uses {
            let ancestor = Arc::new(ParentRef {
                name: format!("gw-{gw}"),
                namespace: Some("infra".into()),
                ..Default::default()
            });
            let controller: Arc<str> = format!("controller-{controller}").into();
            let condition = ConditionView {
                type_: "Accepted".into(),
                status: if ok { "True" } else { "False" }.into(),
                reason: "r".into(),
                message: "m".into(),
                stale: false,
                observed_generation: None,
                last_transition_time: None,
            };
            rec.record(
                p,
                0,
                &ancestor,
                &controller,
                Semantics::EnvoyGateway,
                vec![condition],
            );
        }
    }

    fn listed(rec: &Recorder, p: &BackendTlsPolicy) -> Vec<(String, String, String)> {
        rec.ancestors_of(pid(p))
            .unwrap_or_default()
            .iter()
            .map(|a| {
                (
                    a.ancestor_ref.name.clone(),
                    a.controller.to_string(),
                    a.conditions[0].status.to_string(),
                )
            })
            .collect()
    }

    /// A policy used through many Gateways (more than are looked up one by one): recording in
    /// one recorder, or in two merged in order, keeps each ancestor once in first-seen order,
    /// with an error from any use winning, and every recorded ancestor is found by `has`.
    #[test]
    fn many_ancestors_are_merged_as_few_are() {
        let p = a_policy();
        let mut rng = crate::synth::Rng(7);
        let uses: Vec<Use> = (0..2_000)
            .map(|_| (rng.below(60), rng.below(2), !rng.chance(3)))
            .collect();
        let want = expected(&uses);
        assert!(want.len() > 100, "{}", want.len());
        let mut one = Recorder::default();
        record_all(&mut one, &p, &uses);
        assert_eq!(listed(&one, &p), want);
        for split in [0, 5, 700, 1_999] {
            let (mut first, mut later) = (Recorder::default(), Recorder::default());
            record_all(&mut first, &p, &uses[..split]);
            record_all(&mut later, &p, &uses[split..]);
            first.merge(later);
            assert_eq!(listed(&first, &p), want, "split at {split}");
            // Recorded after the merge: still found through the merged index.
            record_all(
                &mut first,
                &p,
                &[(61, 0, false), (61, 0, true), (3, 1, false)],
            );
            let mut more = uses.clone();
            more.extend([(61, 0, false), (61, 0, true), (3, 1, false)]);
            assert_eq!(listed(&first, &p), expected(&more), "split at {split}");
        }
        for (gw, controller) in [(0, 0), (59, 1), (61, 0)] {
            let ancestor = ParentRef {
                name: format!("gw-{gw}"),
                namespace: Some("infra".into()),
                ..Default::default()
            };
            let seen = uses.iter().any(|&(g, c, _)| (g, c) == (gw, controller));
            assert_eq!(
                one.has(&p, &ancestor, &format!("controller-{controller}")),
                seen
            );
        }
    }
}
