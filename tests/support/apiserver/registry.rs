//! The resource table: which groups, versions and resources the fake server serves, and the
//! discovery documents built from it.

use serde_json::{Value, json};
use std::cmp::Ordering;

use super::ServerConfig;

const NORMAL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const NAMESPACE_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

/// One resource (group + plural), served at one or more versions. Objects are stored per
/// (group, plural), whatever version they were written at.
#[derive(Debug, Clone)]
pub(crate) struct ResourceDef {
    pub group: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    /// Built-in (compiled-in) types: list items carry no kind/apiVersion. CRDs: they do.
    pub builtin: bool,
    pub versions: Vec<&'static str>,
    pub short_names: &'static [&'static str],
    /// Subresources listed in discovery ("status", "portforward").
    pub subresources: &'static [&'static str],
}

impl ResourceDef {
    /// "services" (core) or "backendtlspolicies.gateway.networking.k8s.io".
    pub fn qualified(&self) -> String {
        qualified(self.group, self.plural)
    }

    pub fn serves(&self, version: &str) -> bool {
        self.versions.contains(&version)
    }
}

pub(crate) fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

/// "v1" for core, "group/version" otherwise.
pub(crate) fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// Splits an apiVersion into (group, version).
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Registry {
    pub resources: Vec<ResourceDef>,
}

#[allow(clippy::too_many_arguments)]
fn def(
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    builtin: bool,
    versions: Vec<&'static str>,
    short_names: &'static [&'static str],
    subresources: &'static [&'static str],
) -> ResourceDef {
    ResourceDef {
        group,
        plural,
        kind,
        namespaced,
        builtin,
        versions,
        short_names,
        subresources,
    }
}

impl Registry {
    pub fn new(config: &ServerConfig) -> Registry {
        const GW: &str = "gateway.networking.k8s.io";
        const EG: &str = "gateway.envoyproxy.io";
        const ST: &[&str] = &["status"];
        let mut r = vec![
            def(
                "",
                "namespaces",
                "Namespace",
                false,
                true,
                vec!["v1"],
                &["ns"],
                ST,
            ),
            def(
                "",
                "services",
                "Service",
                true,
                true,
                vec!["v1"],
                &["svc"],
                ST,
            ),
            def(
                "",
                "configmaps",
                "ConfigMap",
                true,
                true,
                vec!["v1"],
                &["cm"],
                &[],
            ),
            def("", "secrets", "Secret", true, true, vec!["v1"], &[], &[]),
            def(
                "",
                "pods",
                "Pod",
                true,
                true,
                vec!["v1"],
                &["po"],
                &["portforward", "status"],
            ),
            def(
                "certificates.k8s.io",
                "clustertrustbundles",
                "ClusterTrustBundle",
                false,
                true,
                vec!["v1beta1"],
                &[],
                &[],
            ),
            def(
                GW,
                "gatewayclasses",
                "GatewayClass",
                false,
                false,
                vec!["v1"],
                &["gc"],
                ST,
            ),
            def(
                GW,
                "gateways",
                "Gateway",
                true,
                false,
                vec!["v1"],
                &["gtw"],
                ST,
            ),
            def(
                GW,
                "httproutes",
                "HTTPRoute",
                true,
                false,
                vec!["v1"],
                &[],
                ST,
            ),
            def(
                GW,
                "grpcroutes",
                "GRPCRoute",
                true,
                false,
                vec!["v1"],
                &[],
                ST,
            ),
            def(
                GW,
                "referencegrants",
                "ReferenceGrant",
                true,
                false,
                vec!["v1", "v1beta1"],
                &["refgrant"],
                &[],
            ),
            def(
                GW,
                "tlsroutes",
                "TLSRoute",
                true,
                false,
                vec!["v1", "v1alpha3", "v1alpha2"],
                &[],
                ST,
            ),
        ];
        let mut btlsp: Vec<&'static str> = config
            .btlsp_versions
            .iter()
            .copied()
            .filter(|v| ["v1", "v1alpha2", "v1alpha3"].contains(v))
            .collect();
        btlsp.sort_by(|a, b| compare_versions(a, b));
        btlsp.dedup();
        if !btlsp.is_empty() {
            r.push(def(
                GW,
                "backendtlspolicies",
                "BackendTLSPolicy",
                true,
                false,
                btlsp,
                &["btlspolicy"],
                ST,
            ));
        }
        if config.envoy_gateway_crds {
            let a = || vec!["v1alpha1"];
            r.push(def(
                EG,
                "backends",
                "Backend",
                true,
                false,
                a(),
                &["be"],
                ST,
            ));
            r.push(def(
                EG,
                "envoyproxies",
                "EnvoyProxy",
                true,
                false,
                a(),
                &[],
                ST,
            ));
            r.push(def(
                EG,
                "securitypolicies",
                "SecurityPolicy",
                true,
                false,
                a(),
                &["sp"],
                ST,
            ));
            r.push(def(
                EG,
                "envoyextensionpolicies",
                "EnvoyExtensionPolicy",
                true,
                false,
                a(),
                &["eep"],
                ST,
            ));
        }
        r.push(def(
            "multicluster.x-k8s.io",
            "serviceimports",
            "ServiceImport",
            true,
            false,
            vec!["v1alpha1"],
            &["svcim"],
            &[],
        ));
        Registry { resources: r }
    }

    pub fn by_kind(&self, group: &str, kind: &str) -> Option<&ResourceDef> {
        self.resources
            .iter()
            .find(|d| d.group == group && d.kind == kind)
    }

    pub fn by_plural(&self, group: &str, plural: &str) -> Option<&ResourceDef> {
        self.resources
            .iter()
            .find(|d| d.group == group && d.plural == plural)
    }

    /// The resource served at `group/version` under `plural`, if any.
    pub fn served(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceDef> {
        self.by_plural(group, plural).filter(|d| d.serves(version))
    }

    /// Groups (without core) in registry order, each with its versions, preferred first.
    pub fn groups(&self) -> Vec<(&'static str, Vec<&'static str>)> {
        let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
        for d in self.resources.iter().filter(|d| !d.group.is_empty()) {
            let idx = match out.iter().position(|(g, _)| *g == d.group) {
                Some(i) => i,
                None => {
                    out.push((d.group, Vec::new()));
                    out.len() - 1
                }
            };
            for v in &d.versions {
                if !out[idx].1.contains(v) {
                    out[idx].1.push(v);
                }
            }
        }
        for (_, versions) in &mut out {
            versions.sort_by(|a, b| compare_versions(a, b));
        }
        out
    }

    pub fn group_version_served(&self, group: &str, version: &str) -> bool {
        self.resources
            .iter()
            .any(|d| d.group == group && d.serves(version))
    }

    /// `GET /apis`.
    pub fn api_group_list(&self) -> Value {
        let groups: Vec<Value> = self
            .groups()
            .into_iter()
            .map(|(g, versions)| api_group(g, &versions))
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `GET /apis/GROUP`.
    pub fn api_group(&self, group: &str) -> Option<Value> {
        self.groups()
            .into_iter()
            .find(|(g, _)| *g == group)
            .map(|(g, versions)| {
                let mut v = api_group(g, &versions);
                let obj = v.as_object_mut().expect("object");
                let mut out = serde_json::Map::new();
                out.insert("kind".into(), json!("APIGroup"));
                out.insert("apiVersion".into(), json!("v1"));
                out.append(obj);
                Value::Object(out)
            })
    }

    /// `GET /api/v1` or `GET /apis/GROUP/VERSION`.
    pub fn api_resource_list(&self, group: &str, version: &str) -> Option<Value> {
        if !self.group_version_served(group, version) {
            return None;
        }
        let mut resources = Vec::new();
        for d in self
            .resources
            .iter()
            .filter(|d| d.group == group && d.serves(version))
        {
            let verbs: &[&str] = if d.plural == "namespaces" {
                NAMESPACE_VERBS
            } else {
                NORMAL_VERBS
            };
            let mut r = json!({
                "name": d.plural,
                "singularName": d.kind.to_ascii_lowercase(),
                "namespaced": d.namespaced,
                "kind": d.kind,
                "verbs": verbs,
            });
            if !d.short_names.is_empty() {
                r["shortNames"] = json!(d.short_names);
            }
            resources.push(r);
            for sub in d.subresources {
                let (kind, verbs): (&str, &[&str]) = match *sub {
                    "portforward" => ("PodPortForwardOptions", &["create", "get"]),
                    _ => (d.kind, STATUS_VERBS),
                };
                resources.push(json!({
                    "name": format!("{}/{}", d.plural, sub),
                    "singularName": "",
                    "namespaced": d.namespaced,
                    "kind": kind,
                    "verbs": verbs,
                }));
            }
        }
        Some(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version(group, version),
            "resources": resources,
        }))
    }
}

fn api_group(group: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": vs, "preferredVersion": preferred})
}

/// Kubernetes version priority: GA > beta > alpha, then higher numbers first. `Less` = higher
/// priority (so sorting puts the preferred version first).
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    fn key(v: &str) -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let major: u64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((3, major, 0));
        }
        let (level, num) = if let Some(n) = tail.strip_prefix("beta") {
            (2, n)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (1, n)
        } else {
            return None;
        };
        Some((level, major, num.parse().ok()?))
    }
    match (key(a), key(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}
