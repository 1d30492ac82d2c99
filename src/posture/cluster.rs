//! What a live cluster adds to the evaluation: BackendTLSPolicy versions a controller cannot
//! see (silent plaintext), kinds RBAC would not let us read (edges become `unknown`), and
//! notices such as CRDs that are not installed.

use super::findings::{Finding, rule};
use super::{Edge, Mode, Options, Semantics};
use crate::snapshot::Snapshot;

/// The BackendTLSPolicy version an Envoy Gateway release reads.
pub fn eg_watched_version(version: (u32, u32)) -> &'static str {
    match version {
        (1, 0) | (0, _) => "v1alpha2",
        (1, minor) if minor <= 5 => "v1alpha3",
        _ => "v1",
    }
}

/// Why Envoy Gateway cannot see any BackendTLSPolicy, when the served versions and its
/// release are both known (`backend-tls-semantics.md` §5.9).
pub(crate) fn eg_blindness(snap: &Snapshot, opts: &Options) -> Option<String> {
    let cluster = snap.cluster.as_ref()?;
    let (major, minor) = opts.eg_version?;
    let watched = eg_watched_version((major, minor));
    if cluster.btlsp_served.iter().any(|v| v == watched) || cluster.btlsp_served.is_empty() {
        return None;
    }
    Some(format!(
        "Envoy Gateway v{major}.{minor} reads BackendTLSPolicy {watched}, which this cluster does not serve (served: {}): it ignores every policy",
        cluster.btlsp_served.join(", ")
    ))
}

/// Edges that depend on objects RBAC would not let us read become `unknown`, with the reason.
pub(crate) fn mark_unreadable(snap: &Snapshot, edges: &mut [Edge]) {
    let Some(cluster) = &snap.cluster else {
        return;
    };
    if cluster.unreadable.is_empty() {
        return;
    }
    let policy_block = snap.unreadable("BackendTLSPolicy");
    for e in edges.iter_mut() {
        let (kind, ns) = backend_kind_ns(&e.backend);
        let why = if e.mode == Mode::Unresolved
            && let Some(w) = snap.unreadable_in(kind, ns)
        {
            Some(format!(
                "{kind}s in namespace {ns} could not be read ({w}): whether {} exists is unknown",
                e.backend
            ))
        } else if let Some(w) = policy_block
            .filter(|_| !matches!(e.mode, Mode::Unresolved | Mode::Passthrough | Mode::Unknown))
        {
            Some(format!(
                "BackendTLSPolicies could not be read ({w}): whether a policy turns on TLS for this backend is unknown"
            ))
        } else {
            e.ca_ref_states
                .iter()
                .filter(|s| s.state == "missing")
                .find_map(|s| {
                    let (k, n) = backend_kind_ns(&s.reference);
                    snap.unreadable_in(k, n).map(|w| {
                        format!(
                            "{} could not be read ({w}): the CA bundle is unknown",
                            s.reference
                        )
                    })
                })
        };
        if let Some(why) = why {
            e.mode = Mode::Unknown;
            e.reasons.push(why.into());
        }
    }
}

/// `KIND/NS/NAME[:PORT]` -> (KIND, NS).
fn backend_kind_ns(key: &str) -> (&str, &str) {
    let mut parts = key.splitn(3, '/');
    let kind = parts.next().unwrap_or("");
    let ns = parts.next().unwrap_or("");
    (kind, ns)
}

/// Notices, unreadable kinds and BackendTLSPolicy version skew as findings.
pub(crate) fn findings(
    snap: &Snapshot,
    edges: &[Edge],
    blind: Option<&str>,
    opts: &Options,
) -> Vec<Finding> {
    let Some(cluster) = &snap.cluster else {
        return vec![];
    };
    let mut out = Vec::new();
    let mut push = |id: &str, subject: String, message: String| {
        let r = rule(id);
        let subject: std::sync::Arc<str> = subject.into();
        out.push(Finding {
            id: r.id,
            severity: r.severity,
            subject: subject.clone(),
            message: message.into(),
            remediation: r.remediation,
            object: subject,
            origin: None,
            edge: None,
        });
    };
    // A cluster where a kind cannot be read in each of hundreds of namespaces has as many
    // entries, mostly with one of a few texts: the edges are counted once per text, and only
    // the unknown ones are read (found once, and only when something is unreadable: this runs
    // on every incremental update).
    let mut unknown: Option<Vec<&Edge>> = None;
    let mut affected_by: std::collections::HashMap<&str, usize> = Default::default();
    for (kind, why) in &cluster.unreadable {
        let affected = match affected_by.get(why.as_str()) {
            Some(&n) => n,
            None => {
                let unknown = unknown.get_or_insert_with(|| {
                    edges.iter().filter(|e| e.mode == Mode::Unknown).collect()
                });
                let n = unknown
                    .iter()
                    .filter(|e| e.reasons.iter().any(|r| r.contains(why.as_str())))
                    .count();
                affected_by.insert(why.as_str(), n);
                n
            }
        };
        push(
            "cluster-unreadable",
            kind.clone(),
            format!("{kind} could not be read: {why}; {affected} edge(s) show unknown"),
        );
    }
    for n in &cluster.notices {
        push("cluster-notice", "cluster".into(), n.clone());
    }
    let eg_edges = edges.iter().any(|e| e.semantics == Semantics::EnvoyGateway);
    if let Some(b) = blind {
        push(
            "btlsp-version-skew",
            "CustomResourceDefinition/backendtlspolicies.gateway.networking.k8s.io".into(),
            format!(
                "{b}; {} polic(ies) are present but have no effect",
                snap.policies.len()
            ),
        );
    } else if opts.eg_version.is_none()
        && !snap.policies.is_empty()
        && !cluster.btlsp_served.is_empty()
        && !cluster.btlsp_served.iter().any(|v| v == "v1")
    {
        push(
            "btlsp-version-skew",
            "CustomResourceDefinition/backendtlspolicies.gateway.networking.k8s.io".into(),
            format!(
                "BackendTLSPolicy is served only as {}: controllers that read v1 (Envoy Gateway v1.6+{}) ignore every policy and send plaintext; Envoy Gateway v1.1–v1.5 read v1alpha3. Pass --envoy-gateway-version to evaluate edges with your release",
                cluster.btlsp_served.join(", "),
                if eg_edges {
                    ", which programs Gateways here"
                } else {
                    ""
                }
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::snapshot::{ClusterInfo, SnapshotBuilder};
    use serde_json::json;

    /// Services cannot be read in any of hundreds of namespaces: each namespace is reported
    /// once, with the edges that show unknown because of it (counted once per reason text).
    #[test]
    fn unreadable_namespaces_each_count_the_edges_they_hide() {
        let mut b = SnapshotBuilder::new();
        let class = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
            "metadata": {"name": "eg"}, "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"}});
        let gateway = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "infra"},
            "spec": {"gatewayClassName": "eg", "listeners": [{"name": "http", "protocol": "HTTP", "port": 80,
                "allowedRoutes": {"namespaces": {"from": "All"}}}]}});
        let route = |name: &str| {
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "metadata": {"name": name, "namespace": "ns-0"},
                "spec": {"parentRefs": [{"name": "gw", "namespace": "infra"}],
                    "rules": [{"backendRefs": [{"name": "hidden", "port": 443}]}]}})
        };
        for o in [class, gateway, route("a"), route("b")] {
            crate::source::decode::add_value(&mut b, o, Default::default());
        }
        let why = "403 Forbidden: cannot list services";
        let namespaces = 300;
        b.cluster(ClusterInfo {
            unreadable: (0..namespaces)
                .map(|i| (format!("Service/ns-{i}"), why.to_string()))
                .collect(),
            ..Default::default()
        });
        let snap = b.build(Default::default());
        let now = "2026-11-22T00:00:00Z".parse().unwrap();
        let p = crate::posture::evaluate(&snap, now, &Default::default());
        assert!(
            p.edges
                .iter()
                .all(|e| e.mode == crate::posture::Mode::Unknown)
        );
        let unreadable: Vec<&str> = p
            .findings
            .iter()
            .filter(|f| f.id == "cluster-unreadable")
            .map(|f| &*f.message)
            .collect();
        assert_eq!(unreadable.len(), namespaces);
        let expected = format!("could not be read: {why}; 2 edge(s) show unknown");
        assert!(
            unreadable.iter().all(|m| m.ends_with(&expected)),
            "{:?}",
            unreadable.first()
        );
    }
}
