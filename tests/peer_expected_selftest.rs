//! Self-test for `tests/common/peer_expected.rs`: parses the Envoy Gateway translator golden
//! files copied under `tests/peers/` and checks a handful of facts documented in the peers
//! README / CASES notes. This tests the *expected-output reader*, not lastmile itself.

#[path = "common/peer_expected.rs"]
mod peer_expected;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use peer_expected::*;

fn translator_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/envoy-gateway/translator")
}

fn read(name: &str) -> String {
    let p = translator_dir().join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn case(name: &str) -> ExpectedCase {
    parse_expected(&read(&format!("{name}.out.yaml")))
        .unwrap_or_else(|e| panic!("{name}.out.yaml: {e}"))
}

fn all_out_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(translator_dir())
        .expect("tests/peers/envoy-gateway/translator exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".out.yaml"))
        .collect();
    v.sort();
    v
}

fn stem(p: &Path) -> String {
    p.file_name()
        .unwrap()
        .to_string_lossy()
        .trim_end_matches(".out.yaml")
        .to_string()
}

fn k(gw: &str, name: &str) -> (String, String) {
    (gw.to_string(), name.to_string())
}

fn tls<'a>(c: &'a ExpectedCase, gw: &str, name: &str) -> &'a ExpectedTls {
    match c.destinations.get(&k(gw, name)) {
        Some(ExpectedDest::Tls(t)) => t,
        other => panic!("{gw} {name}: expected TLS, got {other:?}"),
    }
}

fn policy<'a>(c: &'a ExpectedCase, name: &str) -> &'a ExpectedPolicy {
    c.policies
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no policy {name}"))
}

/// (type, status, reason) of one ancestor's conditions.
fn conds(a: &ExpectedAncestor) -> Vec<(&str, &str, &str)> {
    a.conditions
        .iter()
        .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str()))
        .collect()
}

const OK: [(&str, &str, &str); 2] = [
    ("ResolvedRefs", "True", "ResolvedRefs"),
    ("Accepted", "True", "Accepted"),
];
const CTRL: &str = "gateway.envoyproxy.io/gatewayclass-controller";

/// README §2.5 "IR destinations" column: (case, TLS settings, plaintext settings).
/// Counted per (xdsIR gateway, setting name); the proxy service cluster is excluded.
/// Where the README counted repeated occurrences of the same setting name (a policy backend
/// attached to every route of a gateway), the unique count is used and the row says so.
const DEST_COUNTS: &[(&str, usize, usize)] = &[
    (
        "backend-system-truststore-btlsp-override-per-resource-secret",
        2,
        0,
    ),
    (
        "backend-system-truststore-btlsp-override-shared-secret",
        2,
        0,
    ),
    ("backend-system-truststore-per-resource-secret", 1, 0),
    ("backend-system-truststore-shared-secret", 1, 0),
    ("backend-tls-auto-host-sni", 1, 0),
    ("backend-tls-settings-invalid", 0, 1),
    ("backend-tls-settings", 8, 0),
    ("backend-with-auto-san-sni", 4, 0),
    ("backend-with-skip-tls-verify", 1, 0),
    ("backendtlspolicy-across-ns", 0, 1),
    ("backendtlspolicy-ca-clustertrustbundle", 1, 0),
    ("backendtlspolicy-ca-only-fallback-first-key", 1, 0),
    ("backendtlspolicy-ca-only-fallback-tlscrt", 1, 0),
    ("backendtlspolicy-ca-only-invalid", 0, 0),
    ("backendtlspolicy-ca-only-prioritize-cacrt", 1, 0),
    ("backendtlspolicy-ca-only-secret", 1, 0),
    ("backendtlspolicy-ca-only", 1, 0),
    ("backendtlspolicy-conflict", 2, 0),
    ("backendtlspolicy-default-ns-targetrefs", 4, 0),
    ("backendtlspolicy-default-ns", 2, 1),
    ("backendtlspolicy-invalid-ca", 0, 0),
    ("backendtlspolicy-multiple-targets", 2, 0),
    ("backendtlspolicy-not-conflict-service", 2, 0),
    ("backendtlspolicy-not-conflict", 2, 0),
    ("backendtlspolicy-serviceimport-target", 2, 0),
    ("backendtlspolicy-status-conditions-truncated", 18, 0),
    ("backendtlspolicy-subjectaltnames", 1, 0),
    ("backendtlspolicy-system-truststore", 1, 0),
    ("backendtlspolicy-wildcard-older-than-sectioned", 2, 0),
    // README says 4 TLS: it counts every IR route occurrence of a policy backend shared by several routes.
    (
        "envoyextensionpolicy-with-extproc-with-backendtlspolicy-per-resource-secret",
        2,
        2,
    ),
    // README says 4 TLS: it counts every IR route occurrence of a policy backend shared by several routes.
    (
        "envoyextensionpolicy-with-extproc-with-backendtlspolicy-shared-secret",
        2,
        2,
    ),
    // README says 2 TLS: it counts every IR route occurrence of a policy backend shared by several routes.
    (
        "envoyextensionpolicy-with-extproc-with-backendtlspolicy",
        1,
        2,
    ),
    (
        "envoyextensionpolicy-with-extproc-with-multiple-backendrefs",
        2,
        4,
    ),
    ("envoyextensionpolicy-with-extproc-with-retries", 2, 4),
    (
        "envoyextensionpolicy-with-extproc-with-traffic-features",
        2,
        4,
    ),
    ("envoyproxy-otel-backend-custom-ca", 2, 0),
    ("envoyproxy-otel-backend-tls-per-resource-secret", 2, 0),
    ("envoyproxy-otel-backend-tls", 2, 0),
    ("envoyproxy-otel-backendtlspolicy", 2, 0),
    ("envoyproxy-priority-backend", 2, 4),
    ("envoyproxy-tls-settings-invalid-ns", 0, 0),
    ("envoyproxy-tls-settings-invalid", 0, 0),
    ("envoyproxy-tls-settings", 2, 0),
    ("gateway-tls-frontend-backend", 1, 2),
    ("httproute-dynamic-resolver-host-rewriting", 1, 3),
    ("httproute-dynamic-resolver", 2, 0),
    (
        "httproute-rule-with-non-service-backends-and-websocket-app-protocols",
        1,
        2,
    ),
    ("httproute-with-tls-and-http", 1, 1),
    ("sds-disabled", 0, 0),
    ("sds-invalid", 0, 0),
    ("sds", 1, 0),
    // README says 2 TLS: it counts every IR route occurrence of a policy backend shared by several routes.
    ("securitypolicy-with-extauth-backend", 1, 6),
    ("securitypolicy-with-extauth-with-backendtlspolicy", 2, 2),
    ("securitypolicy-with-jwt-backendcluster", 1, 1),
    ("securitypolicy-with-jwt-serviceimport", 1, 1),
    ("securitypolicy-with-oidc-backendcluster", 1, 1),
    ("securitypolicy-with-oidc-serviceimport", 1, 1),
    ("tcproute-with-backendtlspolicy", 1, 0),
    ("httproute-rule-with-service-websocket-app-protocols", 0, 4),
    (
        "httproute-rule-with-non-service-backends-and-app-protocols",
        0,
        3,
    ),
    ("httproute-attaching-to-gateway", 0, 1),
    ("httproute-rule-with-multiple-backends-and-weights", 0, 3),
    ("grpcroute-with-header-match", 0, 1),
    ("tcproute-with-backend", 0, 1),
    (
        "httproute-attaching-to-listener-with-backend-backendref",
        0,
        2,
    ),
];

// ---------------------------------------------------------------------------------------
// every file

#[test]
fn parses_every_out_yaml() {
    let files = all_out_files();
    assert_eq!(files.len(), 65, "expected 65 translator golden outputs");
    let mut errors = Vec::new();
    for p in &files {
        let text = std::fs::read_to_string(p).unwrap();
        if let Err(e) = parse_expected(&text) {
            errors.push(format!("{}: {e}", stem(p)));
        }
    }
    assert!(errors.is_empty(), "parse failures:\n{}", errors.join("\n"));
}

#[test]
fn destination_counts_match_readme_index() {
    let files: BTreeSet<String> = all_out_files().iter().map(|p| stem(p)).collect();
    let listed: BTreeSet<String> = DEST_COUNTS.iter().map(|r| r.0.to_string()).collect();
    assert_eq!(files, listed, "README index and copied files disagree");
    let mut bad = Vec::new();
    for &(name, want_tls, want_plain) in DEST_COUNTS {
        let c = case(name);
        let n_tls = c
            .destinations
            .values()
            .filter(|d| matches!(d, ExpectedDest::Tls(_)))
            .count();
        let n_plain = c.destinations.len() - n_tls;
        if (n_tls, n_plain) != (want_tls, want_plain) {
            bad.push(format!(
                "{name}: got {n_tls} TLS / {n_plain} plaintext, table says {want_tls} / {want_plain}"
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Independent generic walk: every `destination.settings[]` anywhere under a gateway's xdsIR
/// (except the proxy service cluster) must be found by `parse_expected`'s explicit path list.
#[test]
fn explicit_paths_cover_every_destination_setting() {
    fn walk(
        v: &serde_json::Value,
        gw: &str,
        under_dest: bool,
        out: &mut BTreeSet<(String, String)>,
    ) {
        match v {
            serde_json::Value::Object(m) => {
                for (key, x) in m {
                    if key == "settings" && under_dest {
                        for s in x.as_array().into_iter().flatten() {
                            out.insert(k(gw, s["name"].as_str().unwrap()));
                        }
                    }
                    walk(x, gw, key == "destination", out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, gw, false, out)),
            _ => {}
        }
    }
    for p in all_out_files() {
        let text = std::fs::read_to_string(&p).unwrap();
        let root: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let mut generic = BTreeSet::new();
        for (gw, ir) in root["xdsIR"].as_object().into_iter().flatten() {
            walk(ir, gw, false, &mut generic);
        }
        let parsed: BTreeSet<_> = parse_expected(&text)
            .unwrap()
            .destinations
            .into_keys()
            .collect();
        assert_eq!(generic, parsed, "{}", stem(&p));
    }
}

#[test]
fn failed_rules_over_all_cases() {
    let gw1 = "envoy-gateway/gateway-1";
    let btls = "envoy-gateway/gateway-btls";
    let tlsgw = "envoy-gateway/gateway-tls";
    let mut want: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    let mut add = |case: &str, gw: &str, rule: &str| {
        want.entry(case.to_string())
            .or_default()
            .insert(k(gw, rule));
    };
    add(
        "backend-tls-settings-invalid",
        gw1,
        "httproute/default/httproute-1/rule/0",
    );
    add(
        "backend-tls-settings",
        gw1,
        "httproute/default/httproute-5/rule/0",
    );
    add(
        "backend-tls-settings",
        gw1,
        "httproute/default/httproute-6/rule/0",
    );
    add(
        "backendtlspolicy-ca-only-invalid",
        btls,
        "httproute/envoy-gateway/httproute-btls/rule/0",
    );
    add(
        "backendtlspolicy-invalid-ca",
        btls,
        "httproute/envoy-gateway/httproute-btls/rule/0",
    );
    for i in 1..=18 {
        add(
            "backendtlspolicy-status-conditions-truncated",
            &format!("envoy-gateway/gateway-{i}"),
            "httproute/envoy-gateway/httproute-2/rule/0",
        );
    }
    for c in [
        "envoyproxy-tls-settings-invalid",
        "envoyproxy-tls-settings-invalid-ns",
    ] {
        add(c, tlsgw, "httproute/envoy-gateway/httproute-tls/rule/0");
        // TCP: destination kept, but without settings.
        add(c, tlsgw, "tcproute/envoy-gateway/envoy-gateway/rule/-1");
    }
    // Non-TLS failures (BackendNotFound etc.) are also listed.
    for r in [1, 4, 5] {
        add(
            "httproute-attaching-to-listener-with-backend-backendref",
            gw1,
            &format!("httproute/default/httproute-{r}/rule/0"),
        );
    }
    add("sds-disabled", gw1, "httproute/default/httproute-1/rule/0");
    for r in 0..4 {
        add(
            "sds-invalid",
            gw1,
            &format!("httproute/default/httproute-1/rule/{r}"),
        );
    }
    add(
        "securitypolicy-with-extauth-backend",
        "default/gateway-1",
        "httproute/default/httproute-4/rule/0",
    );

    let mut bad = Vec::new();
    for p in all_out_files() {
        let name = stem(&p);
        let got = case(&name).failed_rules;
        let exp = want.get(&name).cloned().unwrap_or_default();
        if got != exp {
            bad.push(format!("{name}: got {got:?}, want {exp:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// ---------------------------------------------------------------------------------------
// individual cases (CASES.md)

#[test]
fn ca_only() {
    let c = case("backendtlspolicy-ca-only");
    assert_eq!(c.destinations.len(), 1);
    let (key, dest) = c.destinations.iter().next().unwrap();
    assert_eq!(key.0, "envoy-gateway/gateway-btls");
    let ExpectedDest::Tls(t) = dest else {
        panic!("expected TLS: {dest:?}")
    };
    assert_eq!(t.sni.as_deref(), Some("example.com"));
    assert_eq!(t.ca_name.as_deref(), Some("policy-btls/backends-ca"));
    assert!(!t.use_system_trust_store && !t.insecure_skip_verify && !t.auto_sni && !t.ca_sds);
    assert!(t.sans.is_empty() && t.client_cert_names.is_empty());
    // The CA PEM is the ConfigMap backends/ca-cmap `ca.crt` from the input.
    let input: serde_json::Value =
        serde_saphyr::from_str(&read("backendtlspolicy-ca-only.in.yaml")).unwrap();
    let cm = input["configMaps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metadata"]["name"] == "ca-cmap")
        .unwrap();
    let pem = cm["data"]["ca.crt"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(t.ca_pem.as_deref(), Some(pem));
    assert!(c.failed_rules.is_empty());
    let p = policy(&c, "policy-btls");
    assert_eq!(p.namespace, "backends");
    assert_eq!(p.ancestors.len(), 1);
    let a = &p.ancestors[0];
    assert_eq!(
        (
            a.group.as_deref(),
            a.kind.as_deref(),
            a.namespace.as_deref(),
            a.name.as_str(),
            a.section_name.as_deref()
        ),
        (
            None,
            None,
            Some("envoy-gateway"),
            "gateway-btls",
            Some("http")
        )
    );
    assert_eq!(a.controller, CTRL);
    assert_eq!(conds(a), OK);
}

#[test]
fn system_truststore() {
    let c = case("backendtlspolicy-system-truststore");
    let t = match c.destinations.values().next() {
        Some(ExpectedDest::Tls(t)) => t,
        other => panic!("{other:?}"),
    };
    assert!(t.use_system_trust_store);
    assert_eq!(t.ca_name.as_deref(), Some("system_ca_certificates"));
    assert_eq!(t.ca_pem, None);
}

#[test]
fn skip_tls_verify() {
    let c = case("backend-with-skip-tls-verify");
    assert_eq!(c.destinations.len(), 1);
    let ExpectedDest::Tls(t) = c.destinations.values().next().unwrap() else {
        panic!()
    };
    assert!(t.insecure_skip_verify);
    // CA and SNI are still emitted alongside skip-verify.
    assert_eq!(t.sni.as_deref(), Some("example.com"));
    assert_eq!(t.ca_name.as_deref(), Some("policy-btls/backends-ca"));
    assert!(t.ca_pem.is_some());
}

#[test]
fn conflict() {
    let c = case("backendtlspolicy-conflict");
    assert_eq!(c.destinations.len(), 2);
    for d in c.destinations.values() {
        let ExpectedDest::Tls(t) = d else {
            panic!("{d:?}")
        };
        assert_eq!(t.ca_name.as_deref(), Some("policy-btls1/envoy-gateway-ca"));
        assert_eq!(t.sni.as_deref(), Some("example.com"));
    }
    assert_eq!(conds(&policy(&c, "policy-btls1").ancestors[0]), OK);
    let p2 = policy(&c, "policy-btls2");
    assert_eq!(p2.ancestors.len(), 1);
    assert_eq!(p2.ancestors[0].name, "gateway-btls");
    assert_eq!(p2.ancestors[0].section_name.as_deref(), Some("http"));
    assert_eq!(
        conds(&p2.ancestors[0]),
        [("Accepted", "False", "Conflicted")]
    );
    assert_eq!(
        p2.ancestors[0].conditions[0].message,
        "Policy conflicts with BackendTLSPolicy envoy-gateway/policy-btls1."
    );
}

#[test]
fn invalid_ca() {
    let c = case("backendtlspolicy-invalid-ca");
    assert!(c.destinations.is_empty());
    assert_eq!(
        c.failed_rules,
        BTreeSet::from([k(
            "envoy-gateway/gateway-btls",
            "httproute/envoy-gateway/httproute-btls/rule/0"
        )])
    );
    assert_eq!(
        conds(&policy(&c, "policy-btls").ancestors[0]),
        [
            ("Accepted", "False", "NoValidCACertificate"),
            ("ResolvedRefs", "False", "InvalidCACertificateRef")
        ]
    );
    assert_eq!(
        conds(&policy(&c, "policy-invalid-kind").ancestors[0]),
        [
            ("Accepted", "False", "NoValidCACertificate"),
            ("ResolvedRefs", "False", "InvalidKind")
        ]
    );
}

#[test]
fn across_ns_no_status_and_plaintext() {
    let c = case("backendtlspolicy-across-ns");
    assert_eq!(c.destinations.len(), 1);
    assert!(
        c.destinations
            .values()
            .all(|d| *d == ExpectedDest::Plaintext)
    );
    let p = policy(&c, "policy-btls");
    assert_eq!(p.namespace, "policies");
    // Echoed as `status: {ancestors: null}`.
    assert!(p.ancestors.is_empty());
}

#[test]
fn backend_tls_settings() {
    let c = case("backend-tls-settings");
    let r8 = tls(
        &c,
        "envoy-gateway/gateway-2-with-backend-tls",
        "httproute/envoy-gateway/httproute-8-gateway-backend-tls-precedence/rule/0/backend/0",
    );
    assert_eq!(r8.client_cert_names, ["envoy-gateway/gateway-client-auth"]);
    assert_eq!(r8.sni.as_deref(), Some("example.com"));
    assert!(r8.use_system_trust_store);
    let r2 = tls(
        &c,
        "envoy-gateway/gateway-1",
        "httproute/default/httproute-2/rule/0/backend/0",
    );
    assert_eq!(r2.sni, None);
    assert_eq!(r2.ca_name.as_deref(), Some("backend-2/default-ca"));
    assert_eq!(r2.client_cert_names, ["envoy-gateway-system/client-auth"]);
    let r7 = tls(
        &c,
        "envoy-gateway/gateway-1",
        "httproute/envoy-gateway/httproute-7-override-client-tls-settings/rule/0/backend/0",
    );
    assert_eq!(r7.client_cert_names, ["envoy-gateway/client-auth-override"]);
    let r10 = tls(
        &c,
        "envoy-gateway/gateway-3-without-backend-tls",
        "httproute/envoy-gateway/httproute-10-no-client-tls-settings/rule/0/backend/0",
    );
    assert!(r10.client_cert_names.is_empty());
    assert!(policy(&c, "policy-btls-for-backend-6").ancestors.is_empty());
    let a = &policy(&c, "policy-btls-for-backend-8").ancestors[0];
    assert_eq!(
        (a.name.as_str(), a.section_name.as_deref()),
        ("gateway-2-with-backend-tls", None)
    );
}

#[test]
fn status_conditions_truncated() {
    let c = case("backendtlspolicy-status-conditions-truncated");
    for name in ["policy-btls", "policy-btls-invalid"] {
        let p = policy(&c, name);
        assert_eq!(p.ancestors.len(), 16, "{name}");
        let names: Vec<&str> = p.ancestors.iter().map(|a| a.name.as_str()).collect();
        let mut want: Vec<String> = (1..=18).map(|i| format!("gateway-{i}")).collect();
        want.sort(); // string order: gateway-1, gateway-10, ..., gateway-18, gateway-2, ...
        want.truncate(16);
        assert_eq!(names, want, "{name}");
        let last = p.ancestors.last().unwrap();
        assert_eq!(last.name, "gateway-7");
        assert!(
            conds(last).contains(&("Aggregated", "True", "Aggregated")),
            "{name}: {:?}",
            conds(last)
        );
        for a in &p.ancestors[..15] {
            assert!(
                !conds(a).iter().any(|c| c.0 == "Aggregated"),
                "{name} {}",
                a.name
            );
        }
    }
    let n_tls = c
        .destinations
        .values()
        .filter(|d| matches!(d, ExpectedDest::Tls(_)))
        .count();
    assert_eq!(n_tls, 18);
    assert_eq!(c.failed_rules.len(), 18);
}

#[test]
fn subject_alt_names_in_order() {
    let c = case("backendtlspolicy-subjectaltnames");
    let ExpectedDest::Tls(t) = c.destinations.values().next().unwrap() else {
        panic!()
    };
    assert_eq!(
        t.sans,
        [
            ExpectedSan::Uri("spiffe://cluster.local/ns/istio-demo/sa/echo-v1".into()),
            ExpectedSan::Hostname("subdomain.secondexample.com".into()),
        ]
    );
}

#[test]
fn auto_san_sni_drops_untyped_san() {
    let c = case("backend-with-auto-san-sni");
    let mut with_btlsp = 0;
    for t in c.destinations.values() {
        let ExpectedDest::Tls(t) = t else { panic!() };
        if t.ca_name.as_deref() == Some("policy-btls/backends-ca") {
            with_btlsp += 1;
            assert_eq!(t.sni.as_deref(), Some("example.com"));
            assert_eq!(t.sans.len(), 1);
            assert!(matches!(t.sans[0], ExpectedSan::Uri(_)));
        }
    }
    assert_eq!(with_btlsp, 2);
}

#[test]
fn auto_host_sni() {
    let c = case("backend-tls-auto-host-sni");
    let ExpectedDest::Tls(t) = c.destinations.values().next().unwrap() else {
        panic!()
    };
    assert!(t.auto_sni);
    assert_eq!(t.sni, None);
    assert_eq!(t.ca_name.as_deref(), Some("backend-1/backends-ca"));
}

#[test]
fn sds() {
    let c = case("sds");
    let ExpectedDest::Tls(t) = c.destinations.values().next().unwrap() else {
        panic!()
    };
    assert!(t.ca_sds);
    assert_eq!(t.ca_pem, None);
    assert_eq!(t.ca_name.as_deref(), Some("policy-btls/default-ca"));
    assert_eq!(t.client_cert_names, [""]);
}

#[test]
fn tcp_destination_tls_and_failure() {
    let c = case("tcproute-with-backendtlspolicy");
    let t = tls(
        &c,
        "envoy-gateway/gateway-1",
        "tcproute/default/tcproute-1/rule/-1/backend/0",
    );
    assert!(t.use_system_trust_store);
    assert_eq!(t.client_cert_names, ["envoy-gateway-system/client-auth"]);
    assert!(!t.sans.is_empty());
    let c = case("envoyproxy-tls-settings-invalid");
    assert!(c.destinations.is_empty());
    assert!(c.failed_rules.contains(&k(
        "envoy-gateway/gateway-tls",
        "tcproute/envoy-gateway/envoy-gateway/rule/-1"
    )));
}

#[test]
fn extproc_policy_backends_and_policy_ancestors() {
    let c = case("envoyextensionpolicy-with-extproc-with-backendtlspolicy");
    let t = tls(
        &c,
        "default/gateway-1",
        "envoyextensionpolicy/default/policy-for-gateway/extproc/0/backend/0",
    );
    assert_eq!(t.sni.as_deref(), Some("grpc-backend"));
    assert_eq!(
        t.ca_name.as_deref(),
        Some("policy-btls-grpc/envoy-gateway-ca")
    );
    // httproute-1 is directResponse 500 but keeps its destination: not a backend failure.
    assert!(c.failed_rules.is_empty());
    assert_eq!(
        c.destinations.get(&k(
            "default/gateway-1",
            "httproute/default/httproute-1/rule/0/backend/0"
        )),
        Some(&ExpectedDest::Plaintext)
    );
    let a = &policy(&c, "policy-btls-grpc").ancestors[0];
    assert_eq!(
        (
            a.group.as_deref(),
            a.kind.as_deref(),
            a.namespace.as_deref(),
            a.name.as_str(),
            a.section_name.as_deref()
        ),
        (
            Some("gateway.envoyproxy.io"),
            Some("EnvoyExtensionPolicy"),
            Some("default"),
            "policy-for-gateway",
            None
        )
    );
    assert_eq!(conds(a), OK);
}

#[test]
fn telemetry_and_security_destinations() {
    let c = case("envoyproxy-otel-backendtlspolicy");
    let gw = "envoy-gateway/gateway-1";
    tls(&c, gw, "accesslog_otel_0_0/backend/-1");
    tls(&c, gw, "tracing/backend/-1");
    assert_eq!(
        policy(&c, "otel-tls").ancestors[0].kind.as_deref(),
        Some("EnvoyProxy")
    );

    let c = case("securitypolicy-with-jwt-backendcluster");
    assert!(c.destinations.keys().any(|(_, n)| n.contains("/jwt/")));
    let c = case("securitypolicy-with-oidc-backendcluster");
    assert!(c.destinations.keys().any(|(_, n)| n.contains("/oidc/")));
    let c = case("securitypolicy-with-extauth-with-backendtlspolicy");
    assert!(c.destinations.keys().any(|(_, n)| n.contains("/extauth/")));
}
