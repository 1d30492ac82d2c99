//! docs/SECURITY.md's ClusterRoles grant only reads (get, list, watch; create only on
//! pods/portforward) and cover every resource lastmile's discovery table reads.

use lastmile::source::cluster::discovery::{KINDS, Use};
use serde_json::Value;
use std::collections::BTreeSet;

/// The YAML of the fenced block that holds the ClusterRoles.
fn cluster_role_yaml() -> String {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/SECURITY.md"),
    )
    .unwrap();
    let mut blocks = doc
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap());
    blocks
        .find(|b| b.contains("kind: ClusterRole"))
        .expect("SECURITY.md has a ```yaml block with a ClusterRole")
        .to_string()
}

/// (group, resource, verb) for every rule of every ClusterRole.
fn grants() -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let yaml = cluster_role_yaml();
    let mut roles = 0;
    for doc in yaml.split("\n---\n") {
        let v: Value = serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
        assert_eq!(v["apiVersion"], "rbac.authorization.k8s.io/v1", "{v}");
        assert_eq!(v["kind"], "ClusterRole", "{v}");
        roles += 1;
        for rule in v["rules"].as_array().expect("rules") {
            let list = |k: &str| -> Vec<String> {
                rule[k]
                    .as_array()
                    .unwrap_or_else(|| panic!("{k} in {rule}"))
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .collect()
            };
            assert!(rule.get("nonResourceURLs").is_none(), "{rule}");
            assert!(rule.get("resourceNames").is_none(), "{rule}");
            for g in list("apiGroups") {
                for r in list("resources") {
                    for verb in list("verbs") {
                        out.insert((g.clone(), r.clone(), verb));
                    }
                }
            }
        }
    }
    assert!(roles >= 1);
    out
}

#[test]
fn the_cluster_roles_grant_only_reads() {
    for (g, r, verb) in grants() {
        assert!(
            g != "*" && r != "*" && verb != "*",
            "wildcard: {g} {r} {verb}"
        );
        let ok = match verb.as_str() {
            "get" | "list" | "watch" => true,
            "create" => g.is_empty() && r == "pods/portforward",
            _ => false,
        };
        assert!(ok, "{verb} on {r} ({g:?}) is not a read");
        assert!(
            !r.contains('/') || r == "pods/portforward",
            "subresource {r} is not read by lastmile"
        );
    }
}

#[test]
fn the_cluster_roles_cover_every_kind_lastmile_reads() {
    let grants = grants();
    let has = |g: &str, r: &str, verb: &str| {
        grants.contains(&(g.to_string(), r.to_string(), verb.to_string()))
    };
    for k in KINDS {
        let verbs: &[&str] = match k.usage {
            Use::All | Use::Referenced => &["list", "watch"],
            // The port-forward probe resolves a Service's ready pod.
            Use::ProbeOnly => &["get", "list"],
        };
        for verb in verbs {
            assert!(
                has(k.group, k.plural, verb),
                "SECURITY.md's ClusterRole lacks {verb} on {} ({:?})",
                k.plural,
                k.group
            );
        }
    }
    // The probe: the Service is read by name, then the pod's port-forward is opened.
    assert!(has("", "services", "get"));
    assert!(has("", "pods/portforward", "create"));
    // Nothing granted that lastmile does not read.
    let known: BTreeSet<(String, String)> = KINDS
        .iter()
        .map(|k| (k.group.to_string(), k.plural.to_string()))
        .chain([(String::new(), "pods/portforward".to_string())])
        .collect();
    for (g, r, _) in &grants {
        assert!(
            known.contains(&(g.clone(), r.clone())),
            "{r} ({g:?}) is granted but lastmile never reads it"
        );
    }
}
