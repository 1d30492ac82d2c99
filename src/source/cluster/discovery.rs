//! Which of the kinds lastmile reads the API server serves, and at which version.
//!
//! One targeted discovery request per group version (not a crawl of every group). Each kind is
//! read through exactly one served version; for BackendTLSPolicy the preference is v1, then
//! v1alpha3, then v1alpha2 (the same objects are served at every version, so reading two would
//! count each policy twice). Every served BackendTLSPolicy version is recorded, because a
//! controller that watches a version the CRD does not serve ignores every policy.

use futures::future::join_all;
use kube::Client;
use kube::core::{ApiResource, GroupVersionKind};
use std::collections::{BTreeMap, BTreeSet};

/// How lastmile uses a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Read every object (in scope).
    All,
    /// Read only namespaces that hold referenced CA bundles or client certificates.
    Referenced,
    /// Never listed; discovered for the port-forward probe.
    ProbeOnly,
}

/// A kind lastmile reads.
#[derive(Debug)]
pub struct KindSpec {
    pub group: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    /// Versions in order of preference.
    pub versions: &'static [&'static str],
    pub namespaced: bool,
    pub usage: Use,
}

const GW: &str = "gateway.networking.k8s.io";
const EG: &str = "gateway.envoyproxy.io";

macro_rules! kind {
    ($g:expr, $k:literal, $p:literal, [$($v:literal),+], $ns:expr, $u:ident) => {
        KindSpec { group: $g, kind: $k, plural: $p, versions: &[$($v),+], namespaced: $ns, usage: Use::$u }
    };
}

/// Every kind lastmile reads from a cluster.
pub const KINDS: &[KindSpec] = &[
    kind!(
        GW,
        "GatewayClass",
        "gatewayclasses",
        ["v1", "v1beta1"],
        false,
        All
    ),
    kind!(GW, "Gateway", "gateways", ["v1", "v1beta1"], true, All),
    kind!(GW, "HTTPRoute", "httproutes", ["v1", "v1beta1"], true, All),
    kind!(GW, "GRPCRoute", "grpcroutes", ["v1", "v1alpha2"], true, All),
    kind!(
        GW,
        "TLSRoute",
        "tlsroutes",
        ["v1", "v1alpha3", "v1alpha2"],
        true,
        All
    ),
    kind!(
        GW,
        "ReferenceGrant",
        "referencegrants",
        ["v1", "v1beta1"],
        true,
        All
    ),
    kind!(
        GW,
        "BackendTLSPolicy",
        "backendtlspolicies",
        ["v1", "v1alpha3", "v1alpha2"],
        true,
        All
    ),
    kind!("", "Service", "services", ["v1"], true, All),
    kind!(
        "multicluster.x-k8s.io",
        "ServiceImport",
        "serviceimports",
        ["v1alpha1"],
        true,
        All
    ),
    kind!(EG, "Backend", "backends", ["v1alpha1"], true, All),
    kind!(EG, "EnvoyProxy", "envoyproxies", ["v1alpha1"], true, All),
    kind!(
        EG,
        "SecurityPolicy",
        "securitypolicies",
        ["v1alpha1"],
        true,
        All
    ),
    kind!(
        EG,
        "EnvoyExtensionPolicy",
        "envoyextensionpolicies",
        ["v1alpha1"],
        true,
        All
    ),
    kind!(
        "certificates.k8s.io",
        "ClusterTrustBundle",
        "clustertrustbundles",
        ["v1", "v1beta1", "v1alpha1"],
        false,
        All
    ),
    kind!("", "ConfigMap", "configmaps", ["v1"], true, Referenced),
    kind!("", "Secret", "secrets", ["v1"], true, Referenced),
    kind!("", "Pod", "pods", ["v1"], true, ProbeOnly),
];

/// A kind the server serves, and the version lastmile reads it at.
#[derive(Debug, Clone)]
pub struct Served {
    pub spec: &'static KindSpec,
    pub resource: ApiResource,
    /// The server allows `list` and `watch` (per discovery; RBAC is separate).
    pub watchable: bool,
}

/// The discovery result.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    pub served: Vec<Served>,
    /// Every version at which BackendTLSPolicy is served.
    pub btlsp_versions: Vec<String>,
    /// Kinds not served, as notices for the user.
    pub notices: Vec<String>,
    /// `/version` of the server, e.g. `v1.33.0`.
    pub server_version: Option<String>,
}

impl Discovered {
    pub fn get(&self, kind: &str) -> Option<&Served> {
        self.served.iter().find(|s| s.spec.kind == kind)
    }
}

/// Asks the server which kinds it serves.
pub async fn discover(client: &Client) -> Result<Discovered, kube::Error> {
    let groups = client.list_api_groups().await?;
    let offered: BTreeMap<String, BTreeSet<String>> = groups
        .groups
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                g.versions.iter().map(|v| v.version.clone()).collect(),
            )
        })
        .collect();
    // Group versions worth asking about: those that could serve one of our kinds.
    let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
    wanted.insert((String::new(), "v1".into()));
    for k in KINDS.iter().filter(|k| !k.group.is_empty()) {
        if let Some(vs) = offered.get(k.group) {
            for v in k.versions.iter().filter(|v| vs.contains(**v)) {
                wanted.insert((k.group.to_string(), v.to_string()));
            }
        }
    }
    let lists = join_all(wanted.iter().map(|(g, v)| {
        let client = client.clone();
        async move {
            let r = if g.is_empty() {
                client.list_core_api_resources(v).await
            } else {
                client.list_api_group_resources(&format!("{g}/{v}")).await
            };
            ((g.clone(), v.clone()), r)
        }
    }))
    .await;
    let mut resources: BTreeMap<
        (String, String),
        Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource>,
    > = BTreeMap::new();
    for (gv, r) in lists {
        match r {
            Ok(list) => {
                resources.insert(gv, list.resources);
            }
            // A group version that vanished between the two calls is simply not served.
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let version = client.apiserver_version().await.ok().map(|v| v.git_version);
    Ok(resolve(&resources, version))
}

fn resolve(
    resources: &BTreeMap<
        (String, String),
        Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource>,
    >,
    server_version: Option<String>,
) -> Discovered {
    let mut out = Discovered {
        server_version,
        ..Default::default()
    };
    let find = |g: &str, v: &str, plural: &str| {
        resources
            .get(&(g.to_string(), v.to_string()))
            .and_then(|rs| rs.iter().find(|r| r.name == plural))
    };
    for spec in KINDS {
        let served_versions: Vec<&str> = spec
            .versions
            .iter()
            .copied()
            .filter(|v| find(spec.group, v, spec.plural).is_some())
            .collect();
        if spec.kind == "BackendTLSPolicy" {
            out.btlsp_versions = served_versions.iter().map(|v| v.to_string()).collect();
        }
        let Some(version) = served_versions.first() else {
            if let Some(n) = missing_notice(spec.kind) {
                out.notices.push(n.to_string());
            }
            continue;
        };
        let r = find(spec.group, version, spec.plural).expect("filtered above");
        let gvk = GroupVersionKind::gvk(spec.group, version, spec.kind);
        out.served.push(Served {
            spec,
            resource: ApiResource::from_gvk_with_plural(&gvk, spec.plural),
            watchable: r.verbs.iter().any(|v| v == "list") && r.verbs.iter().any(|v| v == "watch"),
        });
    }
    out.notices.dedup();
    let eg_missing: Vec<&str> = [
        "Backend",
        "EnvoyProxy",
        "SecurityPolicy",
        "EnvoyExtensionPolicy",
    ]
    .into_iter()
    .filter(|k| out.get(k).is_none())
    .collect();
    if eg_missing.len() == 4 {
        out.notices.retain(|n| !n.starts_with("Envoy Gateway"));
        out.notices.push(
            "Envoy Gateway CRDs not installed (Backend, EnvoyProxy, SecurityPolicy, EnvoyExtensionPolicy): Backend refs cannot be resolved".into(),
        );
    }
    out
}

fn missing_notice(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "BackendTLSPolicy" => {
            "BackendTLSPolicy CRD not installed: no policy can turn on backend TLS (Service backends are plaintext)"
        }
        "Backend" => "Envoy Gateway Backend CRD not installed: Backend refs cannot be resolved",
        "EnvoyProxy" => {
            "Envoy Gateway EnvoyProxy CRD not installed: proxy-wide backend client certificates and telemetry backends are not read"
        }
        "SecurityPolicy" => {
            "Envoy Gateway SecurityPolicy CRD not installed: ext-auth, JWKS and OIDC backends are not read"
        }
        "EnvoyExtensionPolicy" => {
            "Envoy Gateway EnvoyExtensionPolicy CRD not installed: ext-proc backends are not read"
        }
        "GatewayClass" | "Gateway" | "HTTPRoute" => {
            "Gateway API CRDs not installed: there are no Gateways or routes to evaluate"
        }
        "GRPCRoute" => "GRPCRoute CRD not installed: gRPC routes are not read",
        "TLSRoute" => "TLSRoute CRD not installed: TLS routes are not read",
        "ReferenceGrant" => {
            "ReferenceGrant CRD not installed: cross-namespace backend references cannot be permitted"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource;

    fn res(name: &str) -> APIResource {
        APIResource {
            name: name.into(),
            verbs: vec!["get".into(), "list".into(), "watch".into()],
            ..Default::default()
        }
    }

    #[test]
    fn btlsp_is_read_through_one_version_preferring_v1() {
        let mut m = BTreeMap::new();
        m.insert(
            (GW.to_string(), "v1".to_string()),
            vec![res("backendtlspolicies")],
        );
        m.insert(
            (GW.to_string(), "v1alpha3".to_string()),
            vec![res("backendtlspolicies")],
        );
        let d = resolve(&m, None);
        assert_eq!(d.btlsp_versions, ["v1", "v1alpha3"]);
        let served: Vec<_> = d
            .served
            .iter()
            .filter(|s| s.spec.kind == "BackendTLSPolicy")
            .collect();
        assert_eq!(served.len(), 1);
        assert_eq!(served[0].resource.version, "v1");
    }

    #[test]
    fn missing_crds_are_notices() {
        let d = resolve(&BTreeMap::new(), None);
        assert!(
            d.notices
                .iter()
                .any(|n| n.contains("BackendTLSPolicy CRD not installed"))
        );
        assert!(
            d.notices
                .iter()
                .any(|n| n.contains("Backend refs cannot be resolved"))
        );
        assert_eq!(
            d.notices
                .iter()
                .filter(|n| n.contains("Gateway API CRDs"))
                .count(),
            1
        );
    }
}
