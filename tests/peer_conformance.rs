//! Gateway API conformance manifests (tests/peers/gateway-api, Apache-2.0; see
//! tests/peers/PROVENANCE.md). The suite generates its CA ConfigMap and certificate Secrets at
//! run time; this test adds equivalents. Every manifest is evaluated under both models: Envoy
//! Gateway, and the Gateway API specification (any other controller).

use lastmile::posture::{self, Edge, Mode, Options, Posture, Trust};
use lastmile::snapshot::{SnapshotBuilder, SourceInfo};
use lastmile::source::manifest::add_text;

const CONF: &str = "tests/peers/gateway-api/conformance";
const EG: &str = "gateway.envoyproxy.io/gatewayclass-controller";
const OTHER: &str = "example.net/conformance-controller";

/// First PEM certificate block in a demo manifest (a real CA certificate).
fn pem_from(file: &str) -> String {
    let text = std::fs::read_to_string(format!("assets/demo/{file}")).unwrap();
    let start = text.find("-----BEGIN CERTIFICATE-----").unwrap();
    let end = text[start..].find("-----END CERTIFICATE-----").unwrap()
        + start
        + "-----END CERTIFICATE-----".len();
    text[start..end]
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// What the conformance suite creates at run time.
fn generated_objects(controller: &str) -> String {
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let ca = indent(&pem_from("20-shop.yaml"));
    let other = indent(&pem_from("30-payments.yaml"));
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{name: conformance}}\nspec: {{controllerName: {controller}}}\n\
---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: tls-checks-ca-certificate, namespace: gateway-conformance-infra}}\ndata:\n  ca.crt: |\n{ca}\n\
---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: mismatch-ca-certificate, namespace: gateway-conformance-infra}}\ndata:\n  ca.crt: |\n{other}\n\
---\napiVersion: v1\nkind: Secret\nmetadata: {{name: tls-checks-client-certificate, namespace: gateway-conformance-infra}}\ntype: kubernetes.io/tls\ndata: {{tls.crt: Y2VydA==, tls.key: a2V5}}\n\
---\napiVersion: v1\nkind: Secret\nmetadata: {{name: tls-validity-checks-certificate, namespace: gateway-conformance-infra}}\ntype: kubernetes.io/tls\ndata: {{tls.crt: Y2VydA==, tls.key: a2V5}}\n\
---\napiVersion: v1\nkind: Secret\nmetadata: {{name: certificate, namespace: gateway-conformance-web-backend}}\ntype: kubernetes.io/tls\ndata: {{tls.crt: Y2VydA==, tls.key: a2V5}}\n"
    )
}

fn evaluate(test: &str, controller: &str) -> Posture {
    let class = |s: String| s.replace("{GATEWAY_CLASS_NAME}", "conformance");
    let base = class(std::fs::read_to_string(format!("{CONF}/base/manifests.yaml")).unwrap());
    let manifest = class(std::fs::read_to_string(format!("{CONF}/tests/{test}")).unwrap());
    let mut b = SnapshotBuilder::new();
    add_text(&mut b, &base, "base/manifests.yaml");
    add_text(&mut b, &generated_objects(controller), "generated");
    add_text(&mut b, &manifest, test);
    let snap = b.build(SourceInfo {
        kind: "files".into(),
        description: test.into(),
    });
    assert!(snap.errors.is_empty(), "{test}: {:?}", snap.errors);
    posture::evaluate(
        &snap,
        "2026-11-22T00:00:00Z".parse().unwrap(),
        &Options::default(),
    )
}

fn both(test: &str, check: impl Fn(&Posture, &str)) {
    for controller in [EG, OTHER] {
        check(&evaluate(test, controller), controller);
    }
}

fn edge<'a>(p: &'a Posture, backend: &str) -> &'a Edge {
    p.edges
        .iter()
        .find(|e| &*e.backend == backend)
        .unwrap_or_else(|| {
            panic!(
                "no edge to {backend}: {:?}",
                p.edges.iter().map(|e| &e.backend).collect::<Vec<_>>()
            )
        })
}

/// Computed `(type, status, reason)` of a policy on its (single) ancestor.
fn computed(p: &Posture, policy: &str) -> Vec<(String, String, String)> {
    let r = p
        .policies
        .iter()
        .find(|r| &*r.policy == policy)
        .unwrap_or_else(|| panic!("no policy {policy}"));
    let mut v: Vec<_> = r
        .ancestors
        .iter()
        .flat_map(|a| a.computed.iter())
        .map(|c| {
            (
                c.type_.to_string(),
                c.status.to_string(),
                c.reason.to_string(),
            )
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

fn t(a: &str, b: &str, c: &str) -> (String, String, String) {
    (a.into(), b.into(), c.into())
}

const NS: &str = "gateway-conformance-infra";

#[test]
fn valid_policy_is_verified_tls_and_mismatches_are_only_visible_to_a_probe() {
    both("backendtlspolicy.yaml", |p, ctl| {
        let e = edge(p, &format!("Service/{NS}/backendtlspolicy-test:443"));
        assert_eq!(e.mode, Mode::TlsVerified, "{ctl}");
        assert_eq!(e.sni.as_deref(), Some("abc.example.com"));
        assert_eq!(e.trust, Trust::CaRefs);
        assert_eq!(
            *e.ca_refs,
            [format!("ConfigMap/{NS}/tls-checks-ca-certificate")]
        );
        // Host and CA mismatches are Accepted: only a handshake shows them.
        for (svc, policy) in [
            ("backendtlspolicy-host-mismatch-test", "host-mismatch"),
            ("backendtlspolicy-cert-mismatch-test", "cert-mismatch"),
        ] {
            assert_eq!(
                edge(p, &format!("Service/{NS}/{svc}:443")).mode,
                Mode::TlsVerified,
                "{ctl} {svc}"
            );
            assert_eq!(
                computed(p, &format!("{NS}/{policy}")),
                vec![
                    t("Accepted", "True", "Accepted"),
                    t("ResolvedRefs", "True", "ResolvedRefs")
                ]
            );
        }
        assert_eq!(
            computed(p, &format!("{NS}/normative-test")),
            vec![
                t("Accepted", "True", "Accepted"),
                t("ResolvedRefs", "True", "ResolvedRefs")
            ]
        );
    });
}

#[test]
fn invalid_kind_fails_closed() {
    both("backendtlspolicy-invalid-kind.yaml", |p, ctl| {
        assert_eq!(
            edge(
                p,
                &format!("Service/{NS}/backendtlspolicy-invalid-kind-test:443")
            )
            .mode,
            Mode::FailClosed,
            "{ctl}"
        );
        assert_eq!(
            computed(p, &format!("{NS}/invalid-kind")),
            vec![
                t("Accepted", "False", "NoValidCACertificate"),
                t("ResolvedRefs", "False", "InvalidKind")
            ],
            "{ctl}"
        );
    });
}

#[test]
fn missing_or_malformed_ca_fails_closed() {
    both(
        "backendtlspolicy-invalid-ca-certificate-ref.yaml",
        |p, ctl| {
            for (svc, policy) in [
                (
                    "backendtlspolicy-nonexistent-ca-certificate-ref-test",
                    "nonexistent-ca-certificate-ref",
                ),
                (
                    "backendtlspolicy-malformed-ca-certificate-ref-test",
                    "malformed-ca-certificate-ref",
                ),
            ] {
                assert_eq!(
                    edge(p, &format!("Service/{NS}/{svc}:443")).mode,
                    Mode::FailClosed,
                    "{ctl} {svc}"
                );
                assert_eq!(
                    computed(p, &format!("{NS}/{policy}")),
                    vec![
                        t("Accepted", "False", "NoValidCACertificate"),
                        t("ResolvedRefs", "False", "InvalidCACertificateRef")
                    ],
                    "{ctl} {policy}"
                );
            }
        },
    );
}

#[test]
fn conflicts_resolve_to_the_first_policy_and_sectioned_beats_whole_service() {
    both("backendtlspolicy-conflict-resolution.yaml", |p, ctl| {
        for (winner, loser) in [
            (
                "conflicted-without-section-name-1",
                "conflicted-without-section-name-2",
            ),
            (
                "conflicted-with-section-name-1",
                "conflicted-with-section-name-2",
            ),
        ] {
            assert_eq!(
                computed(p, &format!("{NS}/{winner}")),
                vec![
                    t("Accepted", "True", "Accepted"),
                    t("ResolvedRefs", "True", "ResolvedRefs")
                ],
                "{ctl}"
            );
            assert_eq!(
                computed(p, &format!("{NS}/{loser}")),
                vec![t("Accepted", "False", "Conflicted")],
                "{ctl}"
            );
        }
        let e = edge(
            p,
            &format!("Service/{NS}/backendtlspolicy-conflicted-without-section-name-test:443"),
        );
        assert_eq!(
            e.sni.as_deref(),
            Some("other.example.com"),
            "{ctl}: the -1 policy wins"
        );
        let sectioned = edge(
            p,
            &format!("Service/{NS}/backendtlspolicy-not-conflicted-test:443"),
        );
        assert_eq!(
            sectioned.policy.as_deref(),
            Some(format!("{NS}/not-conflicted-with-section-name").as_str()),
            "{ctl}"
        );
        assert_eq!(sectioned.sni.as_deref(), Some("other.example.com"));
        let whole = edge(
            p,
            &format!("Service/{NS}/backendtlspolicy-not-conflicted-test:8443"),
        );
        assert_eq!(
            whole.policy.as_deref(),
            Some(format!("{NS}/not-conflicted-without-section-name").as_str()),
            "{ctl}"
        );
        assert_eq!(whole.sni.as_deref(), Some("abc.example.com"));
        for pol in [
            "not-conflicted-with-section-name",
            "not-conflicted-without-section-name",
        ] {
            assert_eq!(
                computed(p, &format!("{NS}/{pol}")),
                vec![
                    t("Accepted", "True", "Accepted"),
                    t("ResolvedRefs", "True", "ResolvedRefs")
                ]
            );
        }
    });
}

#[test]
fn gateway_client_certificate_makes_mutual_tls() {
    both("gateway-tls-backend-client-certificate.yaml", |p, ctl| {
        let e = edge(
            p,
            &format!("Service/{NS}/tls-backend-with-client-cert-validation:443"),
        );
        assert_eq!(e.mode, Mode::TlsVerified, "{ctl}");
        assert!(e.mtls, "{ctl}");
        let cc = e.client_cert.as_ref().unwrap();
        assert_eq!(cc.secret, format!("{NS}/tls-checks-client-certificate"));
        assert_eq!(
            cc.source,
            format!("Gateway/{NS}/gateway-tls-backend-client-certificate")
        );
    });
}

#[test]
fn invalid_gateway_client_certificates_are_reported_per_gateway() {
    both(
        "gateway-invalid-tls-backend-configuration.yaml",
        |p, ctl| {
            let finding = |gw: &str| {
                p.findings
                    .iter()
                    .find(|f| {
                        f.id == "gateway-client-certificate-invalid"
                            && *f.subject == format!("Gateway/{NS}/{gw}")
                    })
                    .unwrap_or_else(|| panic!("{ctl}: no finding for {gw}"))
                    .message
                    .clone()
            };
            for gw in [
                "gateway-client-certificate-nonexistent-secret",
                "gateway-client-certificate-unsupported-group",
                "gateway-client-certificate-unsupported-kind",
                "gateway-client-certificate-malformed-secret",
            ] {
                assert!(
                    finding(gw).contains("InvalidClientCertificateRef"),
                    "{ctl} {gw}: {}",
                    finding(gw)
                );
            }
            assert!(
                finding("gateway-client-certificate-missing-reference-grant")
                    .contains("RefNotPermitted")
            );
        },
    );
}

#[test]
fn subject_alt_names_replace_the_hostname_check() {
    both("backendtlspolicy-san.yaml", |p, ctl| {
        let e = edge(
            p,
            &format!("Service/{NS}/backendtlspolicy-multiple-sans-test:443"),
        );
        assert_eq!(e.mode, Mode::TlsVerified, "{ctl}");
        assert_eq!(e.sans.len(), 2);
        assert_eq!(e.sni.as_deref(), Some("abc.example.com"));
        let uri = edge(
            p,
            &format!("Service/{NS}/backendtlspolicy-san-uri-test:443"),
        );
        assert_eq!(
            uri.sans.iter().map(|s| s.value()).collect::<Vec<_>>(),
            vec!["spiffe://abc.example.com/test-identity"]
        );
    });
}

#[test]
fn grpc_routes_get_backend_tls() {
    both("backendtlspolicy-grpcroute.yaml", |p, ctl| {
        let e = edge(p, &format!("Service/{NS}/backendtlspolicy-grpc-test:443"));
        assert!(e.route.starts_with("GRPCRoute/"));
        assert_eq!(e.mode, Mode::TlsVerified, "{ctl}");
    });
}

#[test]
fn tls_route_on_terminate_listener_re_encrypts() {
    both("backendtlspolicy-tlsroute-terminate.yaml", |p, ctl| {
        let e = edge(p, &format!("Service/{NS}/btls-terminate-tls-backend:8443"));
        assert_eq!(
            e.mode,
            Mode::TlsVerified,
            "{ctl}: re-encrypt, not passthrough"
        );
        assert_eq!(e.sni.as_deref(), Some("abc.example.com"));
    });
}

#[test]
fn h2c_and_websocket_app_protocols_stay_plaintext() {
    for test in [
        "httproute-backend-protocol-h2c.yaml",
        "httproute-backend-protocol-websocket.yaml",
    ] {
        both(test, |p, ctl| {
            assert!(!p.edges.is_empty(), "{test}");
            for e in &p.edges {
                assert_eq!(e.mode, Mode::Plaintext, "{ctl} {test} {}", e.backend);
            }
        });
    }
}
