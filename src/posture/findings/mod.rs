//! Findings: what deserves attention, with a severity and a remediation.

mod collect;
mod sort;

pub(crate) use collect::{Collector, Group, Raised, Rank};
use sort::{ask_for_item, permute};
pub(crate) use sort::{order, sort, sorted_positions};

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

/// Findings raised by the edges, Gateways, routes (those at `routes_missing_gateway` have
/// some, see [`Collector::gateways_and_routes`]), policies, certificates and input errors,
/// sorted (see [`order`]), with where each was raised.
pub(crate) fn collect(
    ctx: &Context,
    edges: &[Edge],
    routes_missing_gateway: &[usize],
    policies: &[PolicyReport],
    now: jiff::Timestamp,
) -> Raised {
    Collector::new(ctx.snap)
        .everything(ctx, edges, routes_missing_gateway, policies, now)
        .sorted()
}

/// The findings of the edges, the Gateways and the routes, to be followed by the policies'
/// ([`Collector::policy`], raised as the reports are made) and [`collect_after_policies`]:
/// they need neither the policy reports nor the tree, so a large evaluation raises them beside
/// those.
pub(crate) fn collect_to_routes<'s>(
    ctx: &Context<'s>,
    edges: &[Edge],
    routes_missing_gateway: &[usize],
) -> Collector<'s> {
    Collector::new(ctx.snap)
        .edges(edges)
        .gateways_and_routes(ctx, routes_missing_gateway)
}

/// The findings of every group after the policies' (see [`collect_to_routes`]).
pub(crate) fn collect_after_policies<'s>(
    ctx: &Context<'s>,
    edges: &[Edge],
    policies: &[PolicyReport],
    now: jiff::Timestamp,
) -> Collector<'s> {
    Collector::new(ctx.snap).after_policies(ctx, edges, policies, now)
}

/// [`collect`] from its parts: [`collect_to_routes`], the policies' findings (in runs of
/// policies, in order) and [`collect_after_policies`].
pub(crate) fn sorted(
    to_routes: Collector,
    policies: Vec<Collector>,
    after_policies: Collector,
) -> Raised {
    let mut later = policies;
    later.push(after_policies);
    Collector::sorted_together(to_routes, later)
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
mod tests;
