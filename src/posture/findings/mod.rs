//! Findings: what deserves attention, with a severity and a remediation.

mod collect;

pub(crate) use collect::{Collector, Group, Raised, Rank};

use super::context::Context;
use super::{Edge, Mode, PolicyReport};
use crate::model::CertFacts;
use crate::model::Origin;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// Severity names follow kubescape; thresholds for certificate facts follow testssl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Rule id (see [`rule_catalog`]).
    pub id: &'static str,
    pub severity: Severity,
    /// What the finding is about: an edge (`ROUTE -> BACKEND via GATEWAY`) or an object (`KIND/NS/NAME`).
    pub subject: Arc<str>,
    /// Shared with the edge's reason when it is the same text.
    pub message: Arc<str>,
    pub remediation: &'static str,
    /// The object to open for this finding (`KIND/NS/NAME`), shared with the edges of a route.
    pub object: Arc<str>,
    /// Where that object was read from, when known.
    pub origin: Option<Origin>,
    /// Index into `Posture.edges` when the finding is about an edge.
    pub edge: Option<usize>,
}

/// A rule: id, default severity, one-line name and the remediation text.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RuleInfo {
    pub id: &'static str,
    pub severity: Severity,
    pub name: &'static str,
    pub remediation: &'static str,
}

const RULES: &[RuleInfo] = &[
    RuleInfo {
        id: "fail-open-plaintext",
        severity: Severity::Critical,
        name: "A policy intends TLS but the gateway sends plaintext",
        remediation: "Rewrite the BackendTLSPolicy in the v1 shape (spec.targetRefs, spec.validation) and apply it with the Gateway API v1.4+ CRDs your controller watches. Until then the backend receives plaintext although a policy exists.",
    },
    RuleInfo {
        id: "plaintext-to-tls-port",
        severity: Severity::High,
        name: "Plaintext sent to a port that looks like TLS",
        remediation: "Add a BackendTLSPolicy targeting the Service port (sectionName = the port name) with the backend's CA (validation.caCertificateRefs) or wellKnownCACertificates: System and validation.hostname set to the name in the backend certificate. If the port really is plaintext, rename it and drop appProtocol https.",
    },
    RuleInfo {
        id: "tls-unverified",
        severity: Severity::High,
        name: "TLS without certificate verification",
        remediation: "Remove tls.insecureSkipVerify from the Envoy Gateway Backend and give it a CA (tls.caCertificateRefs or a BackendTLSPolicy with validation.caCertificateRefs). A BackendTLSPolicy cannot turn verification back on while insecureSkipVerify is set.",
    },
    RuleInfo {
        id: "fail-closed",
        severity: Severity::High,
        name: "TLS is required but cannot be set up: requests fail",
        remediation: "Fix what the reasons name: create the missing CA ConfigMap/Secret (key ca.crt) in the policy's namespace, correct the reference kind, or fix the client-certificate Secret. The gateway answers HTTP 500 until then.",
    },
    RuleInfo {
        id: "unresolved-backend",
        severity: Severity::High,
        name: "The backendRef itself is invalid",
        remediation: "Create the referenced Service/Backend, correct the port, or add a ReferenceGrant in the backend's namespace allowing the route's namespace and kind.",
    },
    RuleInfo {
        id: "double-tls",
        severity: Severity::High,
        name: "TLS wrapped around a passthrough TLS stream",
        remediation: "Remove the BackendTLSPolicy (or Backend TLS) from backends of TLSRoutes on Passthrough listeners, or switch the listener to Terminate.",
    },
    RuleInfo {
        id: "mtls-client-certificate-missing",
        severity: Severity::High,
        name: "mTLS intended but no client certificate is sent",
        remediation: "Fix Gateway spec.tls.backend.clientCertificateRef: it must name a kubernetes.io/tls Secret (group \"\", kind Secret) that exists; across namespaces add a ReferenceGrant from the Gateway.",
    },
    RuleInfo {
        id: "gateway-client-certificate-invalid",
        severity: Severity::High,
        name: "Gateway client certificate reference is invalid",
        remediation: "Gateway spec.tls.backend.clientCertificateRef must name an existing kubernetes.io/tls Secret (group \"\", kind Secret) holding tls.crt and tls.key; a Secret in another namespace needs a ReferenceGrant from the Gateway. Until fixed the Gateway reports ResolvedRefs=False and sends no client certificate.",
    },
    RuleInfo {
        id: "certificate-expired",
        severity: Severity::Critical,
        name: "A CA certificate has expired",
        remediation: "Replace the expired certificate in the CA bundle; backends whose chains end at it can no longer be verified.",
    },
    RuleInfo {
        id: "certificate-expiring",
        severity: Severity::High,
        name: "A CA certificate expires soon",
        remediation: "Rotate the CA bundle before the certificate expires (add the new CA next to the old one first, then re-issue backend certificates).",
    },
    RuleInfo {
        id: "certificate-weak",
        severity: Severity::Medium,
        name: "A CA certificate uses a weak key or signature",
        remediation: "Re-issue the CA with RSA >= 2048 or ECDSA and a SHA-256 (or better) signature.",
    },
    RuleInfo {
        id: "ca-not-a-ca",
        severity: Severity::Low,
        name: "A CA bundle holds a certificate that is not a CA",
        remediation: "Put the issuing CA certificate in the bundle instead of a leaf certificate; pinning a leaf breaks on every rotation.",
    },
    RuleInfo {
        id: "policy-status-mismatch",
        severity: Severity::Medium,
        name: "Reported policy status disagrees with the computed result",
        remediation: "Trust the computed result and the edge modes. Check whether the controller has reconciled since the last change (observedGeneration), and look at the controller's logs.",
    },
    RuleInfo {
        id: "policy-status-stale",
        severity: Severity::Low,
        name: "Policy status is stale",
        remediation: "The controller has not processed the latest spec (observedGeneration < generation). Check that it is running and watching this API version.",
    },
    RuleInfo {
        id: "policy-conflicted",
        severity: Severity::Medium,
        name: "Policy loses a conflict",
        remediation: "Two policies target the same Service port; the oldest (then alphabetical) wins. Delete or retarget the losing policy so the intended one applies.",
    },
    RuleInfo {
        id: "policy-unattached",
        severity: Severity::Medium,
        name: "Policy applies to nothing",
        remediation: "Fix targetRefs: the policy must be in the Service's namespace, sectionName must be a port *name* (not a number), group must be \"\" for Services.",
    },
    RuleInfo {
        id: "policy-multiple-targets",
        severity: Severity::Low,
        name: "Policy has several targetRefs",
        remediation: "Gateway API v1.4.1+ says implementations SHOULD NOT support more than one targetRef, and status cannot say which target is broken. Split it into one policy per target.",
    },
    RuleInfo {
        id: "tls-to-plain-port",
        severity: Severity::Medium,
        name: "TLS sent to a port that looks plaintext",
        remediation: "Check that the port serves TLS. A whole-Service policy covers every port; use sectionName to limit it to the TLS port.",
    },
    RuleInfo {
        id: "policy-covers-all-ports",
        severity: Severity::Info,
        name: "A whole-Service policy turns on TLS for every port",
        remediation: "Make sure every port of the Service serves TLS, or add sectionName (the port name) to the policy's targetRef so only the TLS port is covered.",
    },
    RuleInfo {
        id: "plaintext-behind-tls-listener",
        severity: Severity::Medium,
        name: "TLS ends at the gateway; the backend hop is plaintext",
        remediation: "If the backend hop crosses an untrusted network, serve TLS on the backend and add a BackendTLSPolicy.",
    },
    RuleInfo {
        id: "route-not-attached",
        severity: Severity::Medium,
        name: "Route does not attach to its Gateway",
        remediation: "Match the parentRef sectionName to a listener name, the listener protocol to the route kind, and allowedRoutes to the route's namespace.",
    },
    RuleInfo {
        id: "route-parent-missing",
        severity: Severity::Medium,
        name: "Route refers to a Gateway that does not exist",
        remediation: "Correct the parentRef name/namespace or create the Gateway.",
    },
    RuleInfo {
        id: "plaintext-backend",
        severity: Severity::Info,
        name: "Plaintext backend",
        remediation: "Nothing to do if the backend hop is trusted; otherwise serve TLS on the backend and add a BackendTLSPolicy.",
    },
    RuleInfo {
        id: "unknown-backend",
        severity: Severity::Info,
        name: "Backend TLS not computed",
        remediation: "lastmile does not model this backend kind or controller; check the implementation's documentation for how it talks to this backend.",
    },
    RuleInfo {
        id: "probe-untrusted",
        severity: Severity::High,
        name: "The backend's certificate would not pass the gateway's validation",
        remediation: "Compare the presented chain and names with the policy: put the CA that issued the backend certificate in validation.caCertificateRefs, and set validation.hostname (or subjectAltNames) to a name the certificate carries. Until then requests fail at the TLS handshake (503).",
    },
    RuleInfo {
        id: "probe-not-tls",
        severity: Severity::High,
        name: "TLS is intended but the backend does not speak TLS",
        remediation: "The port serves plaintext: either serve TLS on it, or remove the policy (and point the route at the plaintext port).",
    },
    RuleInfo {
        id: "probe-plaintext-port-speaks-tls",
        severity: Severity::High,
        name: "The gateway sends plaintext to a backend that speaks TLS",
        remediation: "Add a BackendTLSPolicy for this port with the backend's CA and hostname: the backend answers plaintext requests with errors (400 Bad Request, resets).",
    },
    RuleInfo {
        id: "probe-mtls-required",
        severity: Severity::High,
        name: "The backend requires a client certificate the gateway does not send",
        remediation: "Configure a client certificate (Gateway spec.tls.backend.clientCertificateRef, EnvoyProxy backendTLS or Backend tls.clientCertificateRef) issued by a CA the backend trusts.",
    },
    RuleInfo {
        id: "probe-unreachable",
        severity: Severity::Medium,
        name: "The backend could not be probed",
        remediation: "Check that the address is reachable from where lastmile runs (Service DNS only resolves inside the cluster) and that the backend is up.",
    },
    RuleInfo {
        id: "probe-legacy-tls",
        severity: Severity::Low,
        name: "The backend still accepts TLS 1.0/1.1 or weak TLS 1.2 suites",
        remediation: "Disable TLS 1.0/1.1, CBC and static-RSA suites on the backend; gateways negotiate TLS 1.2+ with AEAD suites anyway.",
    },
    RuleInfo {
        id: "btlsp-version-skew",
        severity: Severity::High,
        name: "BackendTLSPolicy is not served at the version the controller reads",
        remediation: "Install Gateway API CRDs that serve the BackendTLSPolicy version your controller reads (Envoy Gateway v1.6+: v1 from Gateway API v1.4+; v1.1–v1.5: v1alpha3 from Gateway API v1.1–v1.3), then restart the controller: it checks the served versions only at start-up.",
    },
    RuleInfo {
        id: "cluster-unreadable",
        severity: Severity::Medium,
        name: "Objects could not be read from the cluster",
        remediation: "Grant get, list and watch on the resource to the identity lastmile runs as (docs/SECURITY.md has a ClusterRole), or use a context that has them. Edges that depend on it show unknown until then.",
    },
    RuleInfo {
        id: "cluster-notice",
        severity: Severity::Info,
        name: "Cluster notice",
        remediation: "Informational: a CRD that is not installed or a feature the cluster does not serve. Install the CRD if you expect those objects.",
    },
    RuleInfo {
        id: "input-error",
        severity: Severity::High,
        name: "An object could not be read",
        remediation: "Fix the object named in the message; the rest of the input was evaluated without it.",
    },
];

/// Every rule lastmile can report, for SARIF and documentation.
pub fn rule_catalog() -> &'static [RuleInfo] {
    RULES
}

pub(crate) fn rule(id: &str) -> &'static RuleInfo {
    static BY_ID: std::sync::LazyLock<foldhash::HashMap<&'static str, &'static RuleInfo>> =
        std::sync::LazyLock::new(|| RULES.iter().map(|r| (r.id, r)).collect());
    BY_ID.get(id).expect("rule id is in the catalog")
}

/// The order findings are shown and reported in: most severe first, then rule id, then subject.
/// Stable, so findings that compare equal keep the order they were raised in.
pub(crate) fn sort(findings: &mut [Finding]) {
    // A finding is large: sort their positions (stably, so ties keep their order) and move each
    // finding once, rather than moving findings at every step of the sort. The moves follow
    // the permutation's cycles in place: no second array of findings (5 MiB at L, at the
    // moment the posture's heap peaks).
    let at = sorted_positions(findings.iter(), |_, _| std::cmp::Ordering::Equal);
    let ahead = ask_for_item(findings);
    permute(at, |a, b| findings.swap(a, b), ahead);
}

/// The positions of `findings` in [`order`], ties broken by `tie` (of two positions) and then
/// by position. Findings are first put in buckets of equal severity and rule by counting (a
/// large snapshot has tens of thousands of findings but a few dozen buckets), then each bucket
/// is sorted by subject: findings are raised in route order, so a bucket is mostly in order
/// already and the stable sort runs through it in a few passes.
pub(crate) fn sorted_positions<'f>(
    findings: impl Iterator<Item = &'f Finding> + Clone,
    tie: impl Fn(usize, usize) -> std::cmp::Ordering,
) -> Vec<u32> {
    /// What the sort reads of a finding, read once in order (a finding is large: reading it
    /// again at every comparison, in bucket order, goes to memory for most of them).
    #[derive(Clone, Copy)]
    struct Key<'f> {
        subject: &'f str,
        /// The low bits of the address of the finding's object text (the findings of a
        /// route's edges share it): only where runs of one object end depends on it.
        object: u32,
        at: u32,
    }
    // Buckets are found by the rule id's address (ids are static texts: hashing an address is
    // cheaper than hashing the text, and consecutive findings mostly share their rule), then
    // ids written at two addresses are put in one bucket by their text.
    let mut bucket_at: foldhash::HashMap<(Severity, usize, usize), u32> = Default::default();
    let mut keys: Vec<(Severity, &str)> = Vec::new();
    let mut last: Option<((Severity, usize, usize), u32)> = None;
    let buckets: Vec<u32> = findings
        .clone()
        .map(|f| {
            let at = (f.severity, f.id.as_ptr() as usize, f.id.len());
            if let Some((kept, b)) = last
                && kept == at
            {
                return b;
            }
            let b = *bucket_at.entry(at).or_insert_with(|| {
                let b = keys
                    .iter()
                    .position(|&k| k == (f.severity, f.id))
                    .unwrap_or_else(|| {
                        keys.push((f.severity, f.id));
                        keys.len() - 1
                    });
                b as u32
            });
            last = Some((at, b));
            b
        })
        .collect();
    let mut counts = vec![0u32; keys.len()];
    for &b in &buckets {
        counts[b as usize] += 1;
    }
    // Where each bucket starts, the buckets in order (most severe first, then rule id).
    let mut in_order: Vec<usize> = (0..keys.len()).collect();
    in_order.sort_by(|&a, &b| keys[b].0.cmp(&keys[a].0).then(keys[a].1.cmp(keys[b].1)));
    let mut start = vec![0u32; keys.len()];
    let mut ranges = Vec::with_capacity(keys.len());
    let mut next = 0u32;
    for b in in_order {
        start[b] = next;
        ranges.push(next as usize..(next + counts[b]) as usize);
        next += counts[b];
    }
    // The findings read a second time, in order, each key put in its bucket.
    let mut sorted: Vec<Key> = vec![
        Key {
            subject: "",
            object: 0,
            at: 0,
        };
        buckets.len()
    ];
    for (i, (f, b)) in findings.zip(buckets).enumerate() {
        let slot = &mut start[b as usize];
        sorted[*slot as usize] = Key {
            subject: &f.subject,
            object: f.object.as_ptr() as usize as u32,
            at: i as u32,
        };
        *slot += 1;
    }
    let cmp = |a: &Key, b: &Key| {
        // The findings of one edge share their subject: equal without reading it.
        let by_subject = if std::ptr::eq(a.subject, b.subject) {
            std::cmp::Ordering::Equal
        } else {
            a.subject.cmp(b.subject)
        };
        by_subject.then_with(|| tie(a.at as usize, b.at as usize))
    };
    for range in ranges {
        let bucket = &mut sorted[range];
        // The findings of one object (a route's edges) come one after another, and objects
        // mostly in the order of their subjects: put each object's run in order first, and the
        // stable sort then finds the bucket nearly in order and runs through it in one pass. A
        // stable sort of a run keeps equal findings in their order: the result is the same
        // (and where the runs end changes only how much work that takes).
        let mut start = 0;
        while start < bucket.len() {
            let object = bucket[start].object;
            let end = start
                + bucket[start..]
                    .iter()
                    .take_while(|k| k.object == object)
                    .count();
            if end - start > 1 {
                bucket[start..end].sort_by(cmp);
            }
            start = end;
        }
        sort_runs(bucket, |k| k.subject.as_ptr(), cmp);
    }
    sorted.into_iter().map(|k| k.at).collect()
}

/// Sorts `items` by `cmp` stably, as `sort_by` does, for items mostly in order already: a few
/// runs in order one after another, whose ranges do not overlap. The findings of one rule are
/// raised route after route, and the snapshot orders routes by kind, then name: a bucket is a
/// run for each kind of route, the kinds in another order than their texts. Such runs are
/// put in order by moving them, without comparing the items again (which reads their
/// subjects, a cache miss each on a large cluster). The runs are found in one pass that asks
/// for the texts `text` points to a few items ahead; other orders are sorted by `sort_by`.
fn sort_runs<T: Copy>(
    items: &mut [T],
    text: impl Fn(&T) -> *const u8,
    cmp: impl Fn(&T, &T) -> std::cmp::Ordering,
) {
    use std::cmp::Ordering::{Greater, Less};
    /// More runs than this are left to `sort_by`.
    const MOST_RUNS: usize = 16;
    let mut starts = vec![0];
    for i in 1..items.len() {
        if let Some(later) = items.get(i + TEXTS_AHEAD) {
            super::prefetch(text(later));
        }
        if cmp(&items[i - 1], &items[i]) == Greater {
            if starts.len() == MOST_RUNS {
                items.sort_by(cmp);
                return;
            }
            starts.push(i);
        }
    }
    if starts.len() == 1 {
        return;
    }
    let mut runs: Vec<std::ops::Range<usize>> = starts
        .iter()
        .zip(starts.iter().skip(1).chain([&items.len()]))
        .map(|(&start, &end)| start..end)
        .collect();
    runs.sort_by(|a, b| cmp(&items[a.start], &items[b.start]));
    // Each run's last item before the next run's first: no item of one run falls among
    // another's, and no two runs hold equal items (whose order a stable sort keeps).
    let apart = runs
        .windows(2)
        .all(|w| cmp(&items[w[0].end - 1], &items[w[1].start]) == Less);
    if !apart {
        items.sort_by(cmp);
        return;
    }
    let in_order: Vec<T> = runs.into_iter().flat_map(|r| items[r].to_vec()).collect();
    items.copy_from_slice(&in_order);
}

/// For [`permute`]: asks for the item at a position of `items` (each of whose cache lines).
pub(super) fn ask_for_item<T>(items: &[T]) -> impl Fn(usize) + use<T> {
    let base = items.as_ptr();
    move |at| {
        let item = base.wrapping_add(at).cast::<u8>();
        let mut offset = 0;
        while offset < size_of::<T>() {
            super::prefetch(item.wrapping_add(offset));
            offset += 64;
        }
        super::prefetch(item.wrapping_add(size_of::<T>().saturating_sub(1)));
    }
}

/// How many items ahead [`sort_runs`] and [`permute`] ask for what they will read.
const TEXTS_AHEAD: usize = 8;

fn edge_subject(e: &Edge) -> String {
    let mut subject = String::new();
    write_edge_subject(&mut subject, e);
    subject
}

/// Appends what a finding about `e` is about to `text`: `ROUTE -> BACKEND via Gateway GATEWAY`.
fn write_edge_subject(text: &mut String, e: &Edge) {
    for part in [&*e.route, " -> ", &e.backend, " via Gateway ", &e.gateway] {
        text.push_str(part);
    }
}

/// Moves position `at[k]` to position `k` for every k, by following the permutation's cycles
/// with `swap`. `ahead(p)` is told the positions a cycle will swap a few swaps before they
/// are: the items are large and far apart in memory, and each swap would otherwise wait for
/// its item to arrive before the next is asked for.
fn permute(mut at: Vec<u32>, mut swap: impl FnMut(usize, usize), ahead: impl Fn(usize)) {
    // Position k receives the item at `at[k]`; a placed position is marked `at[k] == k`.
    for start in 0..at.len() {
        let mut k = start;
        // Walks the cycle TEXTS_AHEAD positions ahead of `k`, over positions not yet placed
        // (their `at` unchanged), until it comes round to `start`.
        let mut lead = start;
        for _ in 0..TEXTS_AHEAD {
            lead = at[lead] as usize;
            if lead == start {
                break;
            }
            ahead(lead);
        }
        loop {
            let from = at[k] as usize;
            at[k] = k as u32;
            if from == start {
                break;
            }
            if lead != start {
                lead = at[lead] as usize;
                ahead(lead);
            }
            swap(k, from);
            k = from;
        }
    }
}

/// Findings raised by the edges, policies, certificates and input errors, sorted (see
/// [`order`]), with where each was raised.
pub(crate) fn collect(
    ctx: &Context,
    edges: &[Edge],
    policies: &[PolicyReport],
    now: jiff::Timestamp,
) -> Raised {
    Collector::new(ctx.snap)
        .everything(ctx, edges, policies, now)
        .sorted()
}

/// The findings of the edges, the Gateways and the routes, to be followed by
/// [`collect_after_routes`]: they need neither the policy reports nor the tree, so a large
/// evaluation raises them beside those.
pub(crate) fn collect_to_routes<'s>(ctx: &Context<'s>, edges: &[Edge]) -> Collector<'s> {
    Collector::new(ctx.snap)
        .edges(edges)
        .gateways_and_routes(ctx)
}

/// The findings of every group after the routes' (see [`collect_to_routes`]).
pub(crate) fn collect_after_routes<'s>(
    ctx: &Context<'s>,
    edges: &[Edge],
    policies: &[PolicyReport],
    now: jiff::Timestamp,
) -> Collector<'s> {
    Collector::new(ctx.snap).after_routes(ctx, edges, policies, now)
}

/// [`collect`] from its two parts.
pub(crate) fn sorted(first: Collector, rest: Collector) -> Raised {
    Collector::sorted_together(first, vec![rest])
}

/// The findings order: most severe first, then rule id, then subject (ties keep their order).
pub(crate) fn order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    b.severity
        .cmp(&a.severity)
        .then_with(|| a.id.cmp(b.id))
        .then_with(|| a.subject.cmp(&b.subject))
}

/// Writes the Accepted and ResolvedRefs conditions of `conds` (`TYPE=STATUS/REASON`, space
/// separated, or `nothing`) to `out`.
fn write_summary(out: &mut String, conds: &[super::ConditionView]) {
    let mut first = true;
    for c in conds
        .iter()
        .filter(|c| &*c.type_ == "Accepted" || &*c.type_ == "ResolvedRefs")
    {
        if !first {
            out.push(' ');
        }
        first = false;
        for part in [&*c.type_, "=", &c.status, "/", &c.reason] {
            out.push_str(part);
        }
    }
    if conds.is_empty() {
        out.push_str("nothing");
    }
}

/// The first second (since the epoch) at which [`cert_issues`] of `c` may say something else
/// than at `now`: when the days left before `not_after` go down by one. `None` when they never
/// will (no end date, or already expired).
pub(crate) fn cert_issues_change_at(c: &CertFacts, now: jiff::Timestamp) -> Option<i64> {
    let left = c.not_after?.as_second() - now.as_second();
    match left {
        ..=0 => None,
        // Expired from `not_after` itself on.
        1..86_400 => Some(now.as_second() + left),
        _ => Some(now.as_second() + left % 86_400 + 1),
    }
}

/// Certificate facts that deserve a finding at `now`.
pub fn cert_issues(c: &CertFacts, now: jiff::Timestamp) -> Vec<(&'static str, Severity, String)> {
    let mut out = Vec::new();
    if let Some(na) = c.not_after {
        let days = (na.as_second() - now.as_second()) / 86_400;
        if na <= now {
            out.push((
                "certificate-expired",
                Severity::Critical,
                format!("expired on {}", na.strftime("%Y-%m-%d")),
            ));
        } else if days < 30 {
            out.push((
                "certificate-expiring",
                Severity::High,
                format!("expires in {days} days ({})", na.strftime("%Y-%m-%d")),
            ));
        } else if days < 60 {
            out.push((
                "certificate-expiring",
                Severity::Medium,
                format!("expires in {days} days ({})", na.strftime("%Y-%m-%d")),
            ));
        }
    }
    let sig = c.signature_algorithm.to_ascii_lowercase();
    if sig.contains("md5") {
        out.push((
            "certificate-weak",
            Severity::Critical,
            format!("signed with {}", c.signature_algorithm),
        ));
    } else if sig.contains("sha1") {
        out.push((
            "certificate-weak",
            Severity::Medium,
            format!("signed with {}", c.signature_algorithm),
        ));
    }
    if c.key == "RSA" && c.key_bits.is_some_and(|b| b < 2048) {
        out.push((
            "certificate-weak",
            Severity::High,
            format!("RSA key of {} bits", c.key_bits.unwrap_or_default()),
        ));
    }
    if !c.is_ca {
        out.push((
            "ca-not-a-ca",
            Severity::Low,
            "not a CA certificate (basicConstraints CA:FALSE or absent)".into(),
        ));
    }
    out
}

/// Findings from probe results (`edge index -> report`), at time `now`.
pub fn probe_findings(
    edges: &[Edge],
    probes: &std::collections::BTreeMap<usize, crate::probe::ProbeReport>,
    now: jiff::Timestamp,
) -> Vec<Finding> {
    use crate::probe::Failure;
    let mut out = Vec::new();
    for (&i, r) in probes {
        let Some(e) = edges.get(i) else { continue };
        let mut push = |id: &'static str, severity: Option<Severity>, message: String| {
            let rule = rule(id);
            out.push(Finding {
                id,
                severity: severity.unwrap_or(rule.severity),
                subject: edge_subject(e).into(),
                message: message.into(),
                remediation: rule.remediation,
                object: e.route.clone(),
                origin: None,
                edge: Some(i),
            });
        };
        let tls_intended = e.mode.is_tls() || e.mode == Mode::FailClosed;
        let speaks_tls = r.version.is_some() || !r.chain.is_empty();
        match &r.failure {
            Some(Failure::NotTls { what }) if tls_intended => {
                push("probe-not-tls", None, format!("{}: {what}", r.address))
            }
            Some(Failure::MtlsRequired) if !e.mtls => push(
                "probe-mtls-required",
                None,
                format!(
                    "{} requests a client certificate{}",
                    r.address,
                    if r.client_ca_hints.is_empty() {
                        String::new()
                    } else {
                        format!(" from {}", r.client_ca_hints.join("; "))
                    }
                ),
            ),
            Some(
                f @ (Failure::ConnectRefused { .. }
                | Failure::ConnectError { .. }
                | Failure::Timeout { .. }),
            ) => push(
                "probe-unreachable",
                None,
                format!("{}: {}", r.address, f.describe()),
            ),
            _ => {}
        }
        if matches!(e.mode, Mode::Plaintext | Mode::PlaintextToTlsPort) && speaks_tls {
            push(
                "probe-plaintext-port-speaks-tls",
                None,
                format!(
                    "{} completed a TLS handshake ({}), but the gateway sends plaintext",
                    r.address,
                    r.version.clone().unwrap_or_else(|| "TLS".into())
                ),
            );
        }
        if tls_intended
            && let Some(v) = &r.verdict
            && v.verdict != "trusted"
        {
            let note = if e.mode == Mode::TlsUnverified {
                " (verification is off on this edge; this is what it would say if it were on)"
            } else {
                ""
            };
            push(
                "probe-untrusted",
                if e.mode == Mode::TlsUnverified {
                    Some(Severity::Medium)
                } else {
                    None
                },
                format!("{}{note}", v.summary),
            );
        }
        if let Some(leaf) = r.chain.first() {
            for (id, sev, msg) in cert_issues(&leaf.facts, now) {
                if id != "ca-not-a-ca" {
                    push(
                        id,
                        Some(sev),
                        format!(
                            "backend certificate {}: {msg}",
                            crate::sanitize::clean(&leaf.subject)
                        ),
                    );
                }
            }
        }
        if let Some(l) = &r.legacy
            && (l.tls1_0 || l.tls1_1 || l.weak_tls1_2)
        {
            let mut what = Vec::new();
            if l.tls1_0 {
                what.push("TLS 1.0");
            }
            if l.tls1_1 {
                what.push("TLS 1.1");
            }
            if l.weak_tls1_2 {
                what.push("weak TLS 1.2 suites");
            }
            push(
                "probe-legacy-tls",
                None,
                format!("{} accepts {}", r.address, what.join(", ")),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Certificate findings are the same up to the second before the change time, and differ
    /// from it on (the days left go down), for a certificate far from and near its end.
    #[test]
    fn certificate_findings_change_when_announced() {
        let base: jiff::Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        for days_left in [90.6, 59.25, 29.99, 0.5] {
            let not_after = base
                .checked_add(jiff::SignedDuration::from_secs_f64(days_left * 86_400.0))
                .unwrap();
            let cert = CertFacts {
                not_after: Some(not_after),
                is_ca: true,
                ..Default::default()
            };
            let at = |s: i64| jiff::Timestamp::from_second(s).unwrap();
            let change = cert_issues_change_at(&cert, base).expect("not expired");
            assert!(change > base.as_second());
            assert_eq!(cert_issues(&cert, at(change - 1)), cert_issues(&cert, base));
            let next_day = cert_issues_change_at(&cert, at(change)).map_or(0, |t| t - change);
            assert!(
                next_day == 86_400 || days_left < 1.0,
                "{days_left}: {next_day}"
            );
            if days_left < 60.0 {
                assert_ne!(cert_issues(&cert, at(change)), cert_issues(&cert, base));
            }
        }
    }

    #[test]
    fn every_rule_id_is_unique() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    /// Sorting by position gives the order of a stable sort of the findings themselves: by
    /// severity, rule and subject, and findings that compare equal keep the order they came in.
    #[test]
    fn sort_runs_is_a_stable_sort() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        // Items are (value, position): compared by value only, so ties show whether their
        // order was kept. Inputs are runs in order put one after another in any order: runs
        // apart (moved into place), runs that overlap or tie (sorted), and more runs than are
        // moved.
        let runs = prop::collection::vec(
            (0u8..40, 0u8..12)
                .prop_map(|(from, n)| (from..from.saturating_add(n)).collect::<Vec<u8>>()),
            0..20,
        );
        let cmp = |a: &(u8, usize), b: &(u8, usize)| a.0.cmp(&b.0);
        TestRunner::new(Config::with_cases(2_000))
            .run(&runs, |runs| {
                let mut items: Vec<(u8, usize)> = runs
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, v)| (v, i))
                    .collect();
                let mut expected = items.clone();
                expected.sort_by(cmp);
                sort_runs(&mut items, |_| std::ptr::null(), cmp);
                prop_assert_eq!(items, expected);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn sort_is_the_stable_order() {
        let ids = ["plaintext-backend", "tls-unverified", "fail-closed"];
        // Runs of findings share their object, as a route's edges' findings do (each run is
        // put in order before the bucket is sorted).
        let objects: Vec<Arc<str>> = (0..14).map(|o| Arc::from(format!("o{o}"))).collect();
        let mut findings: Vec<Finding> = (0..200u32)
            .map(|i| {
                let id = ids[(i * 7 % 3) as usize];
                Finding {
                    id,
                    severity: rule(id).severity,
                    // Few subjects: equal ones share runs of an object too.
                    subject: format!("subject {}", (i * 13 % 17) / 3).into(),
                    // Tells apart findings that compare equal.
                    message: i.to_string().into(),
                    remediation: "",
                    object: objects[(i / 15) as usize].clone(),
                    origin: None,
                    edge: Some(i as usize),
                }
            })
            .collect();
        let mut expected = findings.clone();
        expected.sort_by(order);
        sort(&mut findings);
        let key = |f: &Finding| (f.id, f.subject.clone(), f.message.clone());
        assert_eq!(
            findings.iter().map(key).collect::<Vec<_>>(),
            expected.iter().map(key).collect::<Vec<_>>()
        );
        assert!(findings.windows(2).any(|w| order(&w[0], &w[1]).is_eq()));
    }
}
