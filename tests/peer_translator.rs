//! Envoy Gateway's own translator golden cases (tests/peers/envoy-gateway/translator, Apache-2.0,
//! see tests/peers/PROVENANCE.md) are the oracle: for every route (and policy) destination the
//! TLS on/off, SNI, CA source, system trust, insecureSkipVerify, SANs and client certificate we
//! compute must match the expected IR, and the BackendTLSPolicy conditions we compute must match
//! the expected status per ancestor.

#[path = "common/peer_expected.rs"]
mod peer_expected;

use lastmile::model::SanMatcher;
use lastmile::posture::{self, Edge, Mode, Options, Posture, Trust};
use lastmile::snapshot::{SnapshotBuilder, SourceInfo};
use lastmile::source::manifest::add_text;
use peer_expected::{ExpectedCase, ExpectedDest, ExpectedSan, ExpectedTls, parse_expected};
use std::collections::BTreeSet;
use std::path::Path;

const DIR: &str = "tests/peers/envoy-gateway/translator";

/// Cases that may disagree, with the reason. At most 5 are allowed.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// What the upstream harness adds to every input (peers README §2.2).
fn harness_yaml(input: &str) -> String {
    let proxy_ref = envoy_proxy_for_class(input)
        .map(|(ns, name)| format!("\n    parametersRef: {{group: gateway.envoyproxy.io, kind: EnvoyProxy, name: {name}, namespace: {ns}}}"))
        .unwrap_or_default();
    let mut y = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{name: envoy-gateway-class}}\nspec:\n    controllerName: gateway.envoyproxy.io/gatewayclass-controller{proxy_ref}\n"
    );
    for n in 1..=4 {
        y.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: service-{n}, namespace: default}}\nspec:\n  clusterIP: 1.1.1.1\n  ports:\n  - {{name: http, port: 8080, targetPort: 8080, protocol: TCP}}\n  - {{name: https, port: 8443, targetPort: 8443, protocol: TCP}}\n  - {{name: tcp, port: 8163, targetPort: 8163, protocol: TCP}}\n  - {{name: udp, port: 8162, targetPort: 8162, protocol: UDP}}\n"
        ));
    }
    y.push_str("---\napiVersion: v1\nkind: Service\nmetadata: {name: mirror-service, namespace: default}\nspec:\n  ports:\n  - {name: http, port: 8080, targetPort: 8080}\n");
    y.push_str("---\napiVersion: v1\nkind: Service\nmetadata: {name: otel-collector, namespace: monitoring}\nspec:\n  ports:\n  - {name: grpc, port: 4317, appProtocol: grpc}\n  - {name: zipkin, port: 9411}\n");
    y
}

/// `envoyProxyForGatewayClass` (a single object) becomes the GatewayClass parametersRef.
fn envoy_proxy_for_class(input: &str) -> Option<(String, String)> {
    let v: serde_json::Value = serde_saphyr::from_str(input).ok()?;
    let p = v.get("envoyProxyForGatewayClass")?;
    let ns = p.pointer("/metadata/namespace")?.as_str()?.to_string();
    let name = p.pointer("/metadata/name")?.as_str()?.to_string();
    Some((ns, name))
}

/// Per-case feature flags of the upstream harness (peers README §2.2).
fn options_for(case: &str) -> Options {
    let mut o = Options {
        eg_backend_api: true,
        eg_sds_secret_refs: false,
        eg_version: None,
    };
    match case {
        "sds" | "sds-invalid" => o.eg_sds_secret_refs = true,
        "envoyextensionpolicy-with-extproc-with-backendtlspolicy-per-resource-secret"
        | "envoyextensionpolicy-with-extproc-with-backendtlspolicy-shared-secret" => {
            o.eg_backend_api = false
        }
        _ => {}
    }
    o
}

fn evaluate_case(case: &str) -> Posture {
    let input = std::fs::read_to_string(Path::new(DIR).join(format!("{case}.in.yaml"))).unwrap();
    let base = std::fs::read_to_string(Path::new(DIR).join("base/base.yaml")).unwrap();
    let mut b = SnapshotBuilder::new();
    add_text(&mut b, &base, "base.yaml");
    add_text(&mut b, &harness_yaml(&input), "harness");
    add_text(&mut b, &input, &format!("{case}.in.yaml"));
    let snap = b.build(SourceInfo {
        kind: "files".into(),
        description: case.into(),
    });
    // The input may redefine a harness object (it wins); anything else is a real input error.
    let errors: Vec<_> = snap
        .errors
        .iter()
        .filter(|e| e.origin.file.as_deref() != Some("harness"))
        .collect();
    assert!(errors.is_empty(), "{case}: input errors: {errors:?}");
    posture::evaluate(
        &snap,
        "2026-11-22T00:00:00Z".parse().unwrap(),
        &options_for(case),
    )
}

/// `"<ownerName>/<ownerNamespace>-ca"` -> (namespace, name).
fn ca_owner(ca_name: &str) -> Option<(String, String)> {
    let (name, rest) = ca_name.split_once('/')?;
    Some((rest.strip_suffix("-ca")?.to_string(), name.to_string()))
}

fn compare_tls(e: &Edge, x: &ExpectedTls) -> Vec<String> {
    let mut d = Vec::new();
    if !e.mode.is_tls() {
        d.push(format!("expected TLS, computed {}", e.mode));
        return d;
    }
    if e.sni.as_deref() != x.sni.as_deref() {
        d.push(format!("SNI {:?} != expected {:?}", e.sni, x.sni));
    }
    if e.auto_sni != x.auto_sni {
        d.push(format!("autoSNI {} != expected {}", e.auto_sni, x.auto_sni));
    }
    if e.insecure_skip_verify != x.insecure_skip_verify {
        d.push(format!(
            "insecureSkipVerify {} != expected {}",
            e.insecure_skip_verify, x.insecure_skip_verify
        ));
    }
    let computed_system = e.trust == Trust::System
        || (e.insecure_skip_verify && e.ca_refs.is_empty() && e.ca_ref_states.is_empty());
    if x.use_system_trust_store {
        if !computed_system {
            d.push(format!(
                "expected system trust, computed {:?} {:?}",
                e.trust, e.ca_refs
            ));
        }
    } else if let Some(ca) = &x.ca_name {
        // The IR names the CA after its owner: the policy, or the Backend.
        let owner = ca_owner(ca);
        let by_policy = owner.as_ref().is_some_and(|(ns, name)| {
            e.policy.as_deref() == Some(&format!("{ns}/{name}")) && !e.ca_refs.is_empty()
        });
        let by_backend = owner.as_ref().is_some_and(|(ns, name)| {
            e.backend.starts_with(&format!("Backend/{ns}/{name}")) && !e.ca_refs.is_empty()
        });
        if !(by_policy || by_backend) || computed_system {
            d.push(format!(
                "expected CA {ca}, computed trust {:?} refs {:?} policy {:?}",
                e.trust, e.ca_refs, e.policy
            ));
        }
    }
    let sans: Vec<ExpectedSan> = e
        .sans
        .iter()
        .map(|s| match s {
            SanMatcher::Hostname(h) => ExpectedSan::Hostname(h.clone()),
            SanMatcher::Uri(u) => ExpectedSan::Uri(u.clone()),
        })
        .collect();
    if sans != x.sans {
        d.push(format!("SANs {sans:?} != expected {:?}", x.sans));
    }
    let certs: Vec<String> = e
        .client_cert
        .iter()
        .filter(|c| c.resolved)
        .map(|c| c.secret.clone())
        .collect();
    let expected_certs: Vec<String> = x
        .client_cert_names
        .iter()
        .filter(|n| !n.is_empty())
        .cloned()
        .collect();
    let sds_cert = x.client_cert_names.iter().any(|n| n.is_empty());
    if certs != expected_certs && !(sds_cert && certs.len() == 1) {
        d.push(format!(
            "client certs {certs:?} != expected {:?}",
            x.client_cert_names
        ));
    }
    d
}

/// Compares one case; returns the list of disagreements.
fn compare_case(p: &Posture, x: &ExpectedCase) -> Vec<String> {
    let mut diffs = Vec::new();
    for ((gw, name), dest) in &x.destinations {
        let Some(e) = p
            .edges
            .iter()
            .find(|e| &*e.gateway == gw.as_str() && &*e.key == name.as_str())
        else {
            diffs.push(format!("{gw} {name}: no computed edge"));
            continue;
        };
        let d = match dest {
            ExpectedDest::Plaintext => {
                if matches!(
                    e.mode,
                    Mode::Plaintext | Mode::PlaintextToTlsPort | Mode::Passthrough
                ) {
                    vec![]
                } else {
                    vec![format!(
                        "expected plaintext, computed {} ({:?})",
                        e.mode, e.reasons
                    )]
                }
            }
            ExpectedDest::Tls(t) => compare_tls(e, t),
        };
        diffs.extend(d.into_iter().map(|m| format!("{gw} {name}: {m}")));
    }
    // Rules answered with a 500 must have a broken backend; broken backends must be in such rules.
    for (gw, prefix) in &x.failed_rules {
        let rule_edges: Vec<&Edge> = p
            .edges
            .iter()
            .filter(|e| {
                &*e.gateway == gw.as_str() && e.key.starts_with(&format!("{prefix}/backend/"))
            })
            .collect();
        if !rule_edges
            .iter()
            .any(|e| matches!(e.mode, Mode::FailClosed | Mode::Unresolved))
        {
            diffs.push(format!(
                "{gw} {prefix}: expected a failed rule, computed {:?}",
                rule_edges.iter().map(|e| e.mode).collect::<Vec<_>>()
            ));
        }
    }
    for e in p
        .edges
        .iter()
        .filter(|e| matches!(e.mode, Mode::FailClosed | Mode::Unresolved) && e.attached)
    {
        let prefix = e
            .key
            .rsplit_once("/backend/")
            .map(|(a, _)| a.to_string())
            .unwrap_or_default();
        let known_dest = x
            .destinations
            .contains_key(&(e.gateway.to_string(), e.key.to_string()));
        if !x
            .failed_rules
            .contains(&(e.gateway.to_string(), prefix.clone()))
            && known_dest
        {
            diffs.push(format!(
                "{} {}: computed {} but the IR routes traffic to it",
                e.gateway, e.key, e.mode
            ));
        }
    }
    // Policy conditions per ancestor: (ancestor, controller, {(type, status, reason)}).
    type Anc = (String, String, BTreeSet<(String, String, String)>);
    for xp in &x.policies {
        let key = format!("{}/{}", xp.namespace, xp.name);
        let expected: BTreeSet<Anc> = xp
            .ancestors
            .iter()
            .map(|a| {
                let kind = a.kind.clone().unwrap_or_else(|| "Gateway".into());
                let ns = a.namespace.clone().unwrap_or_default();
                let sect = a
                    .section_name
                    .clone()
                    .map(|s| format!("/{s}"))
                    .unwrap_or_default();
                let conds = a
                    .conditions
                    .iter()
                    .map(|c| {
                        (
                            c.type_.to_string(),
                            c.status.to_string(),
                            c.reason.to_string(),
                        )
                    })
                    .collect();
                (
                    format!("{kind}/{ns}/{}{sect}", a.name),
                    a.controller.clone(),
                    conds,
                )
            })
            .collect();
        let computed: BTreeSet<Anc> = p
            .policies
            .iter()
            .filter(|r| *r.policy == *key)
            .flat_map(|r| r.ancestors.iter())
            .filter(|a| !a.computed.is_empty())
            .map(|a| {
                let r = &a.ancestor_ref;
                let kind = r.kind.clone().unwrap_or_else(|| "Gateway".into());
                let ns = r.namespace.clone().unwrap_or_default();
                let sect = r
                    .section_name
                    .clone()
                    .map(|s| format!("/{s}"))
                    .unwrap_or_default();
                let conds = a
                    .computed
                    .iter()
                    .map(|c| {
                        (
                            c.type_.to_string(),
                            c.status.to_string(),
                            c.reason.to_string(),
                        )
                    })
                    .collect();
                (
                    format!("{kind}/{ns}/{}{sect}", r.name),
                    a.controller.to_string(),
                    conds,
                )
            })
            .collect();
        if expected != computed {
            let missing: Vec<_> = expected.difference(&computed).collect();
            let extra: Vec<_> = computed.difference(&expected).collect();
            diffs.push(format!("policy {key}: expected but not computed {missing:?}; computed but not expected {extra:?}"));
        }
    }
    diffs
}

fn cases() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .into_string()
                .ok()?
                .strip_suffix(".in.yaml")
                .map(str::to_string)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn envoy_gateway_translator_cases_agree() {
    let all = cases();
    assert!(
        all.len() >= 65,
        "expected the 65 translator pairs, found {}",
        all.len()
    );
    let mut agree = 0;
    let mut failures = Vec::new();
    for case in &all {
        let out = std::fs::read_to_string(Path::new(DIR).join(format!("{case}.out.yaml"))).unwrap();
        let expected = parse_expected(&out).unwrap_or_else(|e| panic!("{case}: {e}"));
        let posture = evaluate_case(case);
        let diffs = compare_case(&posture, &expected);
        if diffs.is_empty() {
            agree += 1;
        } else {
            failures.push((case.clone(), diffs));
        }
    }
    println!("{agree}/{} cases agree", all.len());
    for (case, diffs) in &failures {
        let known = KNOWN_DIFFERENCES.iter().find(|(c, _)| c == case);
        println!(
            "  {case}{}:",
            known
                .map(|(_, why)| format!(" (known: {why})"))
                .unwrap_or_default()
        );
        for d in diffs {
            println!("    {d}");
        }
    }
    assert!(
        KNOWN_DIFFERENCES.len() <= 5,
        "at most 5 known differences are allowed"
    );
    let unexpected: Vec<&str> = failures
        .iter()
        .map(|(c, _)| c.as_str())
        .filter(|c| !KNOWN_DIFFERENCES.iter().any(|(k, _)| k == c))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} cases disagree with Envoy Gateway: {unexpected:?}",
        unexpected.len()
    );
}
