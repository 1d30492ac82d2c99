//! The pure core: `Snapshot -> Posture`. No I/O, no clock reads (time is a parameter).
//!
//! For every edge (Gateway parentRef, Route, rule, backendRef) the effective backend TLS mode
//! and why; for every BackendTLSPolicy its computed role beside its reported status; the
//! attachment tree; and findings with severities.

mod cluster;
mod conflicts;
mod context;
mod edge_eval;
mod findings;
mod heuristics;
mod incremental;
mod select;
mod status;
mod tree;
mod trust;

pub use cluster::eg_watched_version;
pub use findings::{Finding, RuleInfo, Severity, probe_findings, rule_catalog};
pub use heuristics::{PortLook, port_look};
pub use incremental::Incremental;
pub use tree::{NodeKind, NodeState, TreeNode, Unbuilt, built_in_full, children_of, edge_children};

use crate::model::{ParentRef, SanMatcher};
use crate::snapshot::{ObjectError, Snapshot, SourceInfo};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Effective mode of an edge. The kebab-case names are part of the JSON contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    TlsVerified,
    TlsUnverified,
    Plaintext,
    PlaintextToTlsPort,
    Passthrough,
    FailClosed,
    FailOpenPlaintext,
    Unresolved,
    Unknown,
}

impl Mode {
    /// Every mode, in the order declared (which [`Posture::mode_counts`] relies on).
    pub const ALL: [Mode; 9] = [
        Mode::TlsVerified,
        Mode::TlsUnverified,
        Mode::Plaintext,
        Mode::PlaintextToTlsPort,
        Mode::Passthrough,
        Mode::FailClosed,
        Mode::FailOpenPlaintext,
        Mode::Unresolved,
        Mode::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::TlsVerified => "tls-verified",
            Mode::TlsUnverified => "tls-unverified",
            Mode::Plaintext => "plaintext",
            Mode::PlaintextToTlsPort => "plaintext-to-tls-port",
            Mode::Passthrough => "passthrough",
            Mode::FailClosed => "fail-closed",
            Mode::FailOpenPlaintext => "fail-open-plaintext",
            Mode::Unresolved => "unresolved",
            Mode::Unknown => "unknown",
        }
    }

    /// A symbol that carries the meaning without colour.
    pub fn symbol(self) -> &'static str {
        match self {
            Mode::TlsVerified => "✔",
            Mode::TlsUnverified => "!",
            Mode::Plaintext => "○",
            Mode::PlaintextToTlsPort => "✘",
            Mode::Passthrough => "⇢",
            Mode::FailClosed => "⊘",
            Mode::FailOpenPlaintext => "‼",
            Mode::Unresolved => "?",
            Mode::Unknown => "·",
        }
    }

    /// Whether the gateway originates TLS to the backend on this edge.
    pub fn is_tls(self) -> bool {
        matches!(self, Mode::TlsVerified | Mode::TlsUnverified)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the server certificate is validated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    System,
    CaRefs,
    None,
}

/// Which rules were used for an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Semantics {
    /// Envoy Gateway (current release), for `gateway.envoyproxy.io/gatewayclass-controller`.
    EnvoyGateway,
    /// The Gateway API specification, for every other controller.
    GatewayApiSpec,
}

impl Semantics {
    pub fn describe(self) -> &'static str {
        match self {
            Semantics::EnvoyGateway => "Envoy Gateway v1.9 semantics",
            Semantics::GatewayApiSpec => "Gateway API v1.5 specification semantics",
        }
    }
}

/// How one CA reference resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaRefState {
    /// `KIND/NS/NAME` (`ClusterTrustBundle/NAME` for the cluster-scoped kind).
    pub reference: String,
    /// `resolved`, `missing`, `no-ca-key`, `no-certificate`, `invalid-kind`, `sds`.
    pub state: &'static str,
    /// The data key the bundle was read from.
    pub key: Option<String>,
    /// Certificates found, with their facts.
    pub certificates: Vec<std::sync::Arc<crate::model::CertFacts>>,
    pub detail: Option<String>,
}

impl CaRefState {
    pub fn resolved(&self) -> bool {
        self.state == "resolved" || self.state == "sds"
    }
}

/// Where the client certificate presented to the backend comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientCert {
    /// The object that configures it: `Gateway/NS/NAME`, `EnvoyProxy/NS/NAME` or `Backend/NS/NAME`.
    pub source: String,
    /// The Secret, `NS/NAME`.
    pub secret: String,
    pub resolved: bool,
}

/// One edge: (Gateway parentRef, Route, rule, backendRef) — or an Envoy Gateway policy's own
/// backend (ext-proc, ext-auth, telemetry), with the policy in place of the route.
#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    /// `NS/NAME` of the Gateway (shared by its edges).
    pub gateway: Arc<str>,
    pub gateway_class: Arc<str>,
    pub controller: Arc<str>,
    pub semantics: Semantics,
    /// The listener's name (shared by the edges of a route's parentRef).
    pub listener: Option<Arc<str>>,
    /// `KIND/NS/NAME` of the route (or of the owning Envoy Gateway policy for auxiliary backends),
    /// shared by the route's edges.
    pub route: Arc<str>,
    /// The route's position in the snapshot the edge was evaluated from (`None` for an Envoy
    /// Gateway policy's own backend): where its findings find where the route was read from.
    #[serde(skip)]
    pub(crate) route_at: Option<u32>,
    pub rule: usize,
    pub backend_ref: usize,
    /// `KIND/NS/NAME:PORT` (`:PORT` omitted when the ref has no port), shared with the route.
    pub backend: Arc<str>,
    /// For auxiliary backends: `extproc`, `extauth`, `jwt`, `oidc`, `accesslog_otel`, `tracing`.
    pub via: Option<&'static str>,
    pub mode: Mode,
    pub mtls: bool,
    /// `NS/NAME` of the policy that decides this edge (shared with the policy).
    pub policy: Option<Arc<str>>,
    /// Shared with the policy or Backend that sets it.
    pub sni: Option<Arc<str>>,
    /// SNI is taken from each endpoint's hostname (`Backend.spec.tls.autoSNIFromEndpointHostname`).
    pub auto_sni: bool,
    pub trust: Trust,
    /// `KIND/NS/NAME` of each CA reference (shared by the edges of a policy).
    pub ca_refs: Arc<[String]>,
    pub ca_ref_states: Arc<[CaRefState]>,
    /// Shared with the policy that sets them.
    pub sans: Arc<[SanMatcher]>,
    pub client_cert: Option<Arc<ClientCert>>,
    pub insecure_skip_verify: bool,
    /// TLS version bounds (the defaults are held once, not per edge).
    pub min_version: Option<Cow<'static, str>>,
    pub max_version: Option<Cow<'static, str>>,
    pub alpn: Option<Arc<[String]>>,
    /// The route is attached to the Gateway through this parentRef (listener and namespace match).
    pub attached: bool,
    pub weight: i64,
    /// Why the edge has its mode, in the order found (the last one decides; a finding about
    /// the edge shares its text).
    pub reasons: Vec<Arc<str>>,
    /// Envoy Gateway's name for this destination (`httproute/NS/NAME/rule/R/backend/B`),
    /// shared with the route.
    pub key: Arc<str>,
    /// `backendRef INDEX -> BACKEND`, the attachment tree's label (shared with the route).
    #[serde(skip)]
    pub backend_ref_label: Arc<str>,
    /// Port hints that explain the plaintext modes.
    #[serde(skip)]
    pub port_look: Arc<PortLook>,
    #[serde(skip)]
    pub listener_terminates_tls: bool,
    #[serde(skip)]
    pub double_tls: bool,
    #[serde(skip)]
    pub client_cert_warning: Option<Arc<str>>,
    /// A whole-Service policy applies TLS to this port although the port does not look like TLS.
    #[serde(skip)]
    pub broad_policy_note: Option<Arc<str>>,
}

/// A condition as computed or reported, for the policy view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConditionView {
    #[serde(rename = "type")]
    pub type_: Arc<str>,
    pub status: Arc<str>,
    pub reason: Arc<str>,
    pub message: Arc<str>,
    /// `observedGeneration < metadata.generation`.
    pub stale: bool,
    pub observed_generation: Option<i64>,
    pub last_transition_time: Option<jiff::Timestamp>,
}

/// One `(ancestor, controller)` of a policy: what was reported, what lastmile computes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AncestorView {
    /// `KIND/NS/NAME[/SECTION]`.
    pub ancestor: String,
    pub controller: Arc<str>,
    /// Reported conditions (empty when the controller wrote none for this ancestor).
    pub conditions: Vec<ConditionView>,
    /// What lastmile computes for this ancestor (empty when it computes none).
    pub computed: Vec<ConditionView>,
    pub reported: bool,
    pub matches: bool,
    #[serde(skip)]
    pub ancestor_ref: Arc<ParentRef>,
}

/// Per-target outcome of a policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetView {
    /// `KIND/NAME[:SECTION]`.
    pub target: String,
    /// `winner`, `conflicted`, `shadowed`, `unattached`, `invalid`.
    pub role: &'static str,
    pub detail: String,
    /// Number of edges this target decides.
    pub edges: usize,
}

/// Computed role of a policy overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyRole {
    Winner,
    Conflicted,
    Unattached,
    Invalid,
    Partial,
}

impl PolicyRole {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyRole::Winner => "winner",
            PolicyRole::Conflicted => "conflicted",
            PolicyRole::Unattached => "unattached",
            PolicyRole::Invalid => "invalid",
            PolicyRole::Partial => "partial",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    /// `NS/NAME` (shared with the edges the policy decides).
    pub policy: Arc<str>,
    pub api_version: String,
    pub role: PolicyRole,
    pub targets: Vec<TargetView>,
    pub ancestors: Vec<AncestorView>,
    pub reported_matches_computed: bool,
    pub generation: Option<i64>,
    pub problems: Vec<String>,
    pub hostname: Arc<str>,
    pub ca_refs: Arc<[CaRefState]>,
    pub well_known: Option<String>,
}

/// Engine settings that a cluster would tell us (Envoy Gateway feature flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `extensionApis.enableBackend` in the Envoy Gateway configuration.
    pub eg_backend_api: bool,
    /// Envoy Gateway SDS secret references feature flag.
    pub eg_sds_secret_refs: bool,
    /// The Envoy Gateway release (major, minor), when known: decides which BackendTLSPolicy
    /// version it reads.
    pub eg_version: Option<(u32, u32)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            eg_backend_api: true,
            eg_sds_secret_refs: false,
            eg_version: None,
        }
    }
}

/// Everything lastmile computes from a snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct Posture {
    pub source: SourceInfo,
    pub evaluated_at: jiff::Timestamp,
    pub edges: Vec<Edge>,
    pub policies: Vec<PolicyReport>,
    pub findings: Vec<Finding>,
    pub errors: Vec<ObjectError>,
    /// The attachment tree (empty from [`evaluate_for_report`]).
    pub tree: Vec<TreeNode>,
    /// Probe results by edge index, when probes were run (I/O outside the pure core).
    #[serde(skip)]
    pub probes: std::collections::BTreeMap<usize, crate::probe::ProbeReport>,
}

impl Posture {
    /// Adds probe results and the findings they raise, keeping findings severity-ordered.
    /// Findings of an earlier probe of the same edges are replaced; other edges' stay.
    pub fn add_probes(
        &mut self,
        probes: std::collections::BTreeMap<usize, crate::probe::ProbeReport>,
        now: jiff::Timestamp,
    ) {
        if probes.is_empty() {
            return;
        }
        self.findings.retain(|f| {
            !(f.edge.is_some_and(|i| probes.contains_key(&i))
                && (f.id.starts_with("probe-")
                    || (f.id.starts_with("certificate-")
                        && f.message.starts_with("backend certificate"))))
        });
        let new = probe_findings(&self.edges, &probes, now);
        // One probe finishing among tens of thousands of findings: insert in place rather than
        // sort everything again (the same order: after the equal findings already there).
        if new.len() <= 16 {
            for f in new {
                let at = self
                    .findings
                    .partition_point(|x| findings::order(x, &f).is_le());
                self.findings.insert(at, f);
            }
        } else {
            self.findings.extend(new);
            findings::sort(&mut self.findings);
        }
        self.probes.extend(probes);
    }

    /// Number of edges per mode, in [`Mode::ALL`] order (one pass over the edges).
    pub fn mode_counts(&self) -> Vec<(Mode, usize)> {
        let mut counts = [0usize; Mode::ALL.len()];
        for e in &self.edges {
            // `Mode::ALL` lists the modes in their declared order.
            counts[e.mode as usize] += 1;
        }
        Mode::ALL.into_iter().zip(counts).collect()
    }
}

/// The object part of an edge's backend, `KIND/NS/NAME[:PORT]` without `:PORT` (names hold no
/// `:`).
pub(crate) fn backend_object(backend: &str) -> &str {
    match backend.bytes().position(|b| b == b':') {
        Some(at) => &backend[..at],
        None => backend,
    }
}

/// `f` of contiguous runs of `items` (which it may change, to move parts out of them), the
/// results in the runs' order; with one thread, `f(items)` on this one. The items are cut
/// into a few runs per thread, taken in turn (see [`in_turns`]).
fn in_runs_mut<T: Send, R: Send>(
    items: &mut [T],
    threads: usize,
    f: impl Fn(&mut [T]) -> R + Sync,
) -> Vec<R> {
    if threads <= 1 || items.len() < 2 {
        return vec![f(items)];
    }
    let runs = (threads * RUNS_PER_THREAD).min(items.len());
    let chunk = items.len().div_ceil(runs);
    in_turns(
        items.chunks_mut(chunk).collect(),
        threads,
        || (),
        |_, run, _| f(run),
    )
}

/// How many runs per thread the work taken in turn is cut into (see [`in_turns`]).
const RUNS_PER_THREAD: usize = 8;

/// `f` of each of `runs` (with its position), the runs taken in turn by `threads` scoped
/// threads, each thread with its own `state()`; the results in the runs' order. A thread that
/// the machine slows down (a shared VM's cores do not run at one speed) takes fewer runs
/// instead of making the others wait for its half.
fn in_turns<C: Send, S, R: Send>(
    runs: Vec<C>,
    threads: usize,
    state: impl Fn() -> S + Sync,
    f: impl Fn(usize, C, &mut S) -> R + Sync,
) -> Vec<R> {
    in_turns_beside(runs, threads, state, f, || ()).0
}

/// [`in_turns`], with `beside` done by the first thread before it takes runs (the others
/// take runs meanwhile, so it costs the phase only its share of the threads' time).
fn in_turns_beside<C: Send, S, R: Send, B: Send>(
    runs: Vec<C>,
    threads: usize,
    state: impl Fn() -> S + Sync,
    f: impl Fn(usize, C, &mut S) -> R + Sync,
    beside: impl FnOnce() -> B + Send,
) -> (Vec<R>, B) {
    let runs: Vec<Mutex<Option<C>>> = runs.into_iter().map(|r| Mutex::new(Some(r))).collect();
    let next = AtomicUsize::new(0);
    let beside = Mutex::new(Some(beside));
    let take_runs = |thread: usize| {
        let aside = match thread {
            0 => beside
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .map(|beside| beside()),
            _ => None,
        };
        let mut state = state();
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(run) = runs.get(i) else {
                return (aside, done);
            };
            let run = run
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .expect("each run is taken once");
            done.push((i, f(i, run, &mut state)));
        }
    };
    let mut aside = None;
    let mut done: Vec<(usize, R)> = Vec::with_capacity(runs.len());
    for (thread_aside, thread_done) in on_threads(0..threads.max(1), &take_runs) {
        aside = aside.or(thread_aside);
        done.extend(thread_done);
    }
    done.sort_unstable_by_key(|(i, _)| *i);
    let results = done.into_iter().map(|(_, result)| result).collect();
    (
        results,
        aside.expect("the first thread does what is beside"),
    )
}

/// `f` of each run on its own scoped thread, the results in the runs' order.
fn on_threads<C: Send, R: Send>(
    runs: impl Iterator<Item = C>,
    f: &(impl Fn(C) -> R + Sync),
) -> Vec<R> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = runs.map(|run| scope.spawn(move || f(run))).collect();
        handles.into_iter().map(joined).collect()
    })
}

/// From this many edges on, the reports, findings and the tree are built on two threads.
pub(crate) const PARALLEL_EDGES: usize = 2_000;

/// Computes the posture of `snapshot` at time `now`.
/// Large snapshots are evaluated on up to one thread per core; the result does not depend on it.
pub fn evaluate(snapshot: &Snapshot, now: jiff::Timestamp, options: &Options) -> Posture {
    evaluate_on(snapshot, now, options, cores(), Parts::All)
}

/// [`evaluate`] without the attachment tree, which no report format contains: for
/// `lastmile check`, which then spends neither the time nor the memory on it.
pub fn evaluate_for_report(
    snapshot: &Snapshot,
    now: jiff::Timestamp,
    options: &Options,
) -> Posture {
    evaluate_on(snapshot, now, options, cores(), Parts::WithoutTree)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// What [`evaluate_on`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parts {
    All,
    WithoutTree,
}

/// [`evaluate`] on at most `threads` threads.
fn evaluate_on(
    snapshot: &Snapshot,
    now: jiff::Timestamp,
    options: &Options,
    threads: usize,
    parts: Parts,
) -> Posture {
    let ctx = context::Context::new(snapshot, options);
    let mut recorder = status::Recorder::default();
    // Envoy Gateway's conflict pass and the edges of the backends its policies own read only
    // the snapshot: they are done beside the routes, with room left for those edges after
    // the routes' (a large vector grown afterwards is copied whole).
    let aux_bound = edge_eval::aux_edge_bound(&ctx);
    let (mut edges, (conflicts, aux, aux_record)) =
        edge_eval::route_edges(&ctx, &mut recorder, threads, aux_bound, || {
            let mut aux_record = status::Recorder::default();
            let aux = edge_eval::aux_edges(&ctx, &mut aux_record);
            (conflicts::Conflicts::new(snapshot), aux, aux_record)
        });
    // After the routes' records, as one pass would have recorded them.
    recorder.merge(aux_record);
    edges.extend(aux);
    edge_eval::mark_failed_rules(&mut edges);
    cluster::mark_unreadable(snapshot, &mut edges);
    let (policies, raised, tree) =
        reports_findings_and_tree(&ctx, &edges, recorder, &conflicts, now, threads, parts);
    Posture::of(snapshot, now, edges, policies, raised.findings, tree)
}

impl Posture {
    /// The posture of `snapshot` from its parts, without probe results.
    fn of(
        snapshot: &Snapshot,
        now: jiff::Timestamp,
        edges: Vec<Edge>,
        policies: Vec<PolicyReport>,
        findings: Vec<Finding>,
        tree: Vec<TreeNode>,
    ) -> Self {
        Posture {
            source: snapshot.source.clone(),
            evaluated_at: now,
            edges,
            policies,
            findings,
            errors: snapshot.errors.clone(),
            tree,
            probes: Default::default(),
        }
    }
}

/// The policy reports, the sorted findings (with where each was raised) and the tree. On a large
/// snapshot each policy's findings are raised as its report is made (on the thread that makes
/// it, which still has what the report is made of in its caches), then the other findings and
/// the tree, which only read the edges and reports, are built on two threads: one raises the
/// rest of the findings (the certificates' and after) then builds the tree, the other raises
/// the edges', the Gateways' and the routes' findings and sorts them all.
fn reports_findings_and_tree(
    ctx: &context::Context,
    edges: &[Edge],
    mut recorder: status::Recorder,
    conflicts: &conflicts::Conflicts,
    now: jiff::Timestamp,
    threads: usize,
    parts: Parts,
) -> (Vec<PolicyReport>, findings::Raised, Vec<TreeNode>) {
    let tree = |policies: &[PolicyReport]| match parts {
        Parts::All => tree::build(ctx, edges, policies),
        Parts::WithoutTree => Vec::new(),
    };
    let routes_missing_gateway = recorder.take_routes_missing_gateway();
    let routes_missing_gateway = &routes_missing_gateway[..];
    if threads <= 1 || edges.len() < PARALLEL_EDGES {
        let policies = status::policy_reports(ctx, edges, recorder, conflicts, threads);
        let raised = findings::collect(ctx, edges, routes_missing_gateway, &policies, now);
        let tree = tree(&policies);
        return (policies, raised, tree);
    }
    let (policies, policy_findings) = status::policy_reports_then(
        ctx,
        edges,
        recorder,
        conflicts,
        threads,
        || findings::Collector::new(ctx.snap),
        |i, p, report, raised| raised.policy(i, p, report),
    );
    // One thread raises the findings after the policies' and hands them over, then builds
    // the tree; the other raises the findings up to the routes' meanwhile (the longer of the
    // two), then sorts them all.
    let (send, rest) = std::sync::mpsc::sync_channel(1);
    let reports = &policies;
    let (tree, raised) = on_two_threads(
        move || {
            // The receiver waits below until this is sent (or this thread panics).
            let _ = send.send(findings::collect_after_policies(ctx, edges, reports, now));
            tree(reports)
        },
        move || {
            let first = findings::collect_to_routes(ctx, edges, routes_missing_gateway);
            // Nothing is received only when the other thread panicked, which is passed on.
            rest.recv()
                .map(|rest| findings::sorted(first, policy_findings, rest))
        },
    );
    let raised = raised.expect("the rest of the findings are sent first");
    (policies, raised, tree)
}

/// Asks the processor to bring the memory at `p` into its caches, without waiting for it.
pub(crate) fn prefetch<T: ?Sized>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing into the program, cannot fault whatever
    // the address, and SSE (which has the instruction) is part of every x86-64 processor.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Asks for the item of `items` at `at` (each of its cache lines), when there is one: for a
/// pass over a long list of large items (the edges, 408 bytes each) that does enough with each
/// to fall behind the processor's own reading ahead, which then waits for memory on a large
/// cluster.
pub(crate) fn ask_for_later<T>(items: &[T], at: usize) {
    if let Some(item) = items.get(at) {
        prefetch_all(item);
    }
}

/// Asks for each cache line of the value at `p` (see [`prefetch`]).
pub(crate) fn prefetch_all<T>(p: *const T) {
    let bytes = p.cast::<u8>();
    let mut offset = 0;
    while offset < size_of::<T>() {
        prefetch(bytes.wrapping_add(offset));
        offset += 64;
    }
    prefetch(bytes.wrapping_add(size_of::<T>().saturating_sub(1)));
}

/// Asks for what `items` from position `from` on will be read for: `stages[k]` of the item at
/// `from + k` (the chain of reads of an item one link further for each item ahead, see
/// `edge_eval/read_ahead.rs`). Items past the end are left out.
pub(crate) fn ask_ahead<T, A: Fn(&T)>(items: &[T], from: usize, stages: &[A]) {
    for (ahead, ask) in stages.iter().enumerate() {
        if let Some(later) = items.get(from + ahead) {
            ask(later);
        }
    }
}

/// `a` and `b`, each on a scoped thread of its own while this one waits for both. A thread
/// started while this one goes on working is put on this one's core, and waits there until
/// the scheduler next balances the cores (up to 4 ms later, seen at twice the L benchmark's
/// size); this one waiting leaves the core to the first thread, and the second goes to the
/// idle one.
fn on_two_threads<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    std::thread::scope(|scope| {
        let a = scope.spawn(a);
        let b = scope.spawn(b);
        (joined(a), joined(b))
    })
}

/// The result of a scoped thread, its panic passed on.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::SnapshotBuilder;

    /// The count per mode is the number of edges in each, in `Mode::ALL` order (which is the
    /// declared order the count is kept by).
    #[test]
    fn mode_counts_count_each_mode() {
        let snap = crate::source::demo::snapshot();
        let now: jiff::Timestamp = "2026-11-22T00:00:00Z".parse().unwrap();
        let p = evaluate(&snap, now, &Options::default());
        let counts = p.mode_counts();
        assert_eq!(counts.len(), Mode::ALL.len());
        for (i, (m, n)) in counts.iter().enumerate() {
            assert_eq!(*m, Mode::ALL[i]);
            assert_eq!(*n, p.edges.iter().filter(|e| e.mode == *m).count(), "{m:?}");
        }
        assert!(counts.iter().filter(|(_, n)| *n > 0).count() >= 3);
    }

    /// `lastmile check` evaluates without the tree; everything else is the same, and a source
    /// read without the objects' text gives the same posture.
    #[test]
    fn a_report_evaluation_is_the_full_one_without_the_tree() {
        let text = crate::synth::to_yaml(&crate::synth::generate(crate::synth::Size::S, 3));
        let dir = std::env::temp_dir().join(format!("lastmile-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("s.yaml");
        std::fs::write(&file, text).unwrap();
        let with_text = crate::source::from_paths(std::slice::from_ref(&file)).unwrap();
        let textless = crate::source::from_paths_without_text(&[file]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!with_text.raw.is_empty() && textless.raw.is_empty());
        let now: jiff::Timestamp = "2026-11-22T00:00:00Z".parse().unwrap();
        let opts = Options::default();
        let mut full = evaluate(&with_text, now, &opts);
        let report = evaluate_for_report(&textless, now, &opts);
        assert!(!full.tree.is_empty() && report.tree.is_empty());
        full.tree.clear();
        assert_eq!(
            serde_json::to_string(&full).unwrap(),
            serde_json::to_string(&report).unwrap()
        );
    }

    /// The synthetic M cluster and the time it is evaluated at.
    fn synthetic_m() -> (Snapshot, jiff::Timestamp) {
        let mut b = SnapshotBuilder::new();
        for o in crate::synth::generate(crate::synth::Size::M, 7) {
            crate::source::decode::add_value(&mut b, o, Default::default());
        }
        let now = "2026-11-22T00:00:00Z".parse().unwrap();
        (b.build(SourceInfo::default()), now)
    }

    /// Edges with the same reason hold one copy of its text, and those with the same port signs
    /// one copy of them (evaluated on one thread: each thread keeps its own copies).
    #[test]
    fn identical_reasons_and_port_looks_are_shared() {
        let (snap, now) = synthetic_m();
        let p = evaluate_on(&snap, now, &Options::default(), 1, Parts::WithoutTree);
        let mut first: std::collections::HashMap<&str, &Arc<str>> = Default::default();
        let mut shared = 0;
        for r in p.edges.iter().flat_map(|e| &e.reasons) {
            let kept = *first.entry(&**r).or_insert(r);
            assert!(Arc::ptr_eq(kept, r), "{r} is held twice");
            shared += usize::from(!std::ptr::eq(kept, r));
        }
        assert!(shared > p.edges.len() / 2, "only {shared} reasons repeat");
        let mut first: Vec<&Arc<PortLook>> = Vec::new();
        for look in p.edges.iter().map(|e| &e.port_look) {
            match first.iter().find(|kept| ***kept == *look) {
                Some(kept) => assert!(Arc::ptr_eq(kept, look), "{look:?} is held twice"),
                None => first.push(look),
            }
        }
        assert!(first.len() < 100, "{} port looks", first.len());
    }

    /// An edge's empty lists (no CA references, no SANs) are its thread's own, not the one
    /// static empty list of the process whose reference count every edge on every core would
    /// change.
    #[test]
    fn empty_lists_of_edges_are_not_the_process_wide_one() {
        let (snap, now) = synthetic_m();
        let p = evaluate_on(&snap, now, &Options::default(), 2, Parts::WithoutTree);
        let statics = (
            Arc::<[String]>::default(),
            Arc::<[CaRefState]>::default(),
            Arc::<[SanMatcher]>::default(),
        );
        let plain = p.edges.iter().filter(|e| e.sans.is_empty()).count();
        assert!(plain > p.edges.len() / 2, "most edges of M have no SANs");
        for e in &p.edges {
            assert!(!Arc::ptr_eq(&e.ca_refs, &statics.0), "{} ca_refs", e.key);
            assert!(
                !Arc::ptr_eq(&e.ca_ref_states, &statics.1),
                "{} states",
                e.key
            );
            assert!(!Arc::ptr_eq(&e.sans, &statics.2), "{} sans", e.key);
        }
    }

    /// Splitting routes across threads (with per-thread policy recorders merged afterwards)
    /// and building findings beside the tree give exactly the sequential result.
    #[test]
    fn threaded_evaluation_equals_sequential() {
        let (snap, now) = synthetic_m();
        let opts = Options::default();
        let one = serde_json::to_string(&evaluate_on(&snap, now, &opts, 1, Parts::All)).unwrap();
        let three = evaluate_on(&snap, now, &opts, 3, Parts::All);
        assert!(
            snap.routes.len() / edge_eval::ROUTES_PER_THREAD >= 3,
            "M has enough routes for three runs"
        );
        assert!(snap.policies.len() / status::POLICIES_PER_THREAD >= 3);
        assert!(three.edges.len() >= PARALLEL_EDGES);
        assert_eq!(one, serde_json::to_string(&three).unwrap());
    }
}
