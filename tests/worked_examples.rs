//! The worked examples of `backend-tls-semantics.md` §7, encoded as manifests, checked against
//! what lastmile computes for the current Envoy Gateway release (the "EG v1.9" column).
//!
//! Every example uses GatewayClass `eg` (Envoy Gateway's controller) and Gateway `infra/gw`
//! with an HTTP listener `http` that allows routes from all namespaces; TLS listeners are added
//! where an example needs them. Namespaces are `app` unless the example says otherwise.

use lastmile::posture::{self, Edge, Mode, PolicyReport, PolicyRole, Posture, Severity, Trust};

/// A real CA certificate (the demo's `storefront-ca`, valid 2026-01-01 .. 2036-01-01).
const PEM: &str = "-----BEGIN CERTIFICATE-----
MIIB9jCCAZygAwIBAgIUW+SROtXH9YN99fTO6ttvwKMh8cgwCgYIKoZIzj0EAwIw
WTELMAkGA1UEBhMCVVMxFzAVBgNVBAoMDkV4YW1wbGUgUmV0YWlsMRYwFAYDVQQL
DA1TaG9wIFBsYXRmb3JtMRkwFwYDVQQDDBBTaG9wIEludGVybmFsIENBMB4XDTI2
MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAwMFowWTELMAkGA1UEBhMCVVMxFzAVBgNV
BAoMDkV4YW1wbGUgUmV0YWlsMRYwFAYDVQQLDA1TaG9wIFBsYXRmb3JtMRkwFwYD
VQQDDBBTaG9wIEludGVybmFsIENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
ERk4FOOUV+bFFOh6pvR6kimw6QtpugW65kxxBFaYIKZ7o28dL1EYHYeLXbGQmH1K
abo2Ksy/KqyVULEoUNhTxaNCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8E
BAMCAYYwHQYDVR0OBBYEFOrH5DPCn8n5v3lUNAbD3UJyIyrbMAoGCCqGSM49BAMC
A0gAMEUCIQDqsY8Gt9Cn+P568IzvyqvjMQoMYATaHi7MPr9j2Op2GAIgMZIUYeBA
ir+f83dfXybDAUwqHZlyPAr/8CS1EyggPTc=
-----END CERTIFICATE-----
";

const EG_CONTROLLER: &str = "gateway.envoyproxy.io/gatewayclass-controller";
const GW_ANCESTOR: &str = "Gateway/infra/gw";
const T0: &str = "2026-01-01T10:00:00Z";

// ---------------------------------------------------------------------------------------------
// Manifest builders
// ---------------------------------------------------------------------------------------------

const CLASS: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
";

/// GatewayClass `eg` whose `parametersRef` names EnvoyProxy `infra/proxy-config`.
const CLASS_WITH_PROXY: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
  parametersRef: {group: gateway.envoyproxy.io, kind: EnvoyProxy, name: proxy-config, namespace: infra}
";

/// Gateway `infra/gw`: listener `http` (HTTP/80, routes from All), then `extra_listeners`
/// (YAML list items indented by two spaces), with `extra_spec` (spec fields, indented by two).
fn gateway_with(extra_spec: &str, extra_listeners: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: infra}}
spec:
  gatewayClassName: eg
{extra_spec}  listeners:
  - name: http
    protocol: HTTP
    port: 80
    allowedRoutes: {{namespaces: {{from: All}}}}
{extra_listeners}"
    )
}

fn gateway() -> String {
    gateway_with("", "")
}

/// ConfigMap `ns/name` holding the real PEM certificate under `key`.
fn ca_configmap(ns: &str, name: &str, key: &str) -> String {
    let body: String = PEM.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  {key}: |\n{body}"
    )
}

/// A kubernetes.io/tls Secret usable as a client certificate.
fn tls_secret(ns: &str, name: &str) -> String {
    let crt: String = PEM.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{crt}  tls.key: |\n    -----BEGIN PRIVATE KEY-----\n    AAAA\n    -----END PRIVATE KEY-----\n"
    )
}

/// A `gateway.networking.k8s.io/v1` BackendTLSPolicy; `targets` and `validation` are YAML flow values.
fn policy(ns: &str, name: &str, created: &str, targets: &str, validation: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata:
  name: {name}
  namespace: {ns}
  creationTimestamp: '{created}'
spec:
  targetRefs: {targets}
  validation: {validation}
"
    )
}

const SHOP_TARGET: &str = r#"[{group: "", kind: Service, name: shop}]"#;
const SHOP_CA_VALIDATION: &str =
    r#"{caCertificateRefs: [{group: "", kind: ConfigMap, name: shop-ca}], hostname: shop.app.svc}"#;

/// §7.1 `p-all`: whole Service `shop`, CA `shop-ca`, hostname `shop.app.svc`.
fn p_all() -> String {
    policy("app", "p-all", T0, SHOP_TARGET, SHOP_CA_VALIDATION)
}

/// §7.1 Service `app/shop` with ports `https` (443, appProtocol https) and `metrics` (9090).
const SHOP_SERVICE: &str = "apiVersion: v1
kind: Service
metadata: {name: shop, namespace: app}
spec:
  selector: {app: shop}
  ports:
  - {name: https, port: 443, targetPort: 8443, appProtocol: https}
  - {name: metrics, port: 9090, targetPort: 9090}
";

/// §7.1 HTTPRoute `app/shop`: rule 0 -> shop:443, rule 1 -> shop:9090.
const SHOP_ROUTE: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: app}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{name: shop, port: 443}]
  - matches: [{path: {type: PathPrefix, value: /metrics}}]
    backendRefs: [{name: shop, port: 9090}]
";

const SHOP_443: &str = "Service/app/shop:443";
const SHOP_9090: &str = "Service/app/shop:9090";

/// §7.1 baseline (class, gateway, Service, CA ConfigMap, route) plus `extra` documents.
fn baseline(extra: &[String]) -> Posture {
    let mut docs = vec![
        CLASS.to_string(),
        gateway(),
        SHOP_SERVICE.to_string(),
        ca_configmap("app", "shop-ca", "ca.crt"),
        SHOP_ROUTE.to_string(),
    ];
    docs.extend(extra.iter().cloned());
    run(&docs)
}

/// Parses the documents (which must all decode) and evaluates them.
fn run(docs: &[String]) -> Posture {
    let yaml = docs
        .iter()
        .map(|d| d.trim_end())
        .collect::<Vec<_>>()
        .join("\n---\n");
    let snap = lastmile::source::from_text(&yaml, "example.yaml");
    assert!(snap.errors.is_empty(), "manifest errors: {:?}", snap.errors);
    posture::evaluate(
        &snap,
        "2026-11-22T00:00:00Z".parse().unwrap(),
        &posture::Options::default(),
    )
}

// ---------------------------------------------------------------------------------------------
// Lookups and assertions
// ---------------------------------------------------------------------------------------------

/// The one edge to `backend` (`KIND/NS/NAME[:PORT]`).
fn edge<'a>(p: &'a Posture, backend: &str) -> &'a Edge {
    let found: Vec<&Edge> = p.edges.iter().filter(|e| &*e.backend == backend).collect();
    match found.as_slice() {
        [only] => only,
        _ => panic!(
            "expected exactly one edge to {backend}, found {}; edges: {:?}",
            found.len(),
            p.edges
                .iter()
                .map(|e| (&e.route, &e.backend, e.mode))
                .collect::<Vec<_>>()
        ),
    }
}

fn assert_mode(p: &Posture, backend: &str, mode: Mode) {
    let e = edge(p, backend);
    assert_eq!(e.mode, mode, "{backend}: reasons {:?}", e.reasons);
}

fn report<'a>(p: &'a Posture, policy: &str) -> &'a PolicyReport {
    p.policies
        .iter()
        .find(|r| &*r.policy == policy)
        .unwrap_or_else(|| {
            panic!(
                "no policy {policy}; have {:?}",
                p.policies.iter().map(|r| &r.policy).collect::<Vec<_>>()
            )
        })
}

/// The computed conditions of `policy` for ancestor `infra/gw` (EG controller), as
/// `(type, status, reason)` sorted by type; asserts the ancestor is the only one.
fn computed(p: &Posture, policy: &str) -> Vec<(String, String, String)> {
    let r = report(p, policy);
    let ancestors: Vec<&str> = r.ancestors.iter().map(|a| a.ancestor.as_str()).collect();
    assert_eq!(ancestors, vec![GW_ANCESTOR], "{policy}: ancestors");
    let a = &r.ancestors[0];
    assert_eq!(&*a.controller, EG_CONTROLLER, "{policy}: controller");
    let mut v: Vec<(String, String, String)> = a
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
    v.sort();
    v
}

fn assert_conditions(p: &Posture, policy: &str, expected: &[(&str, &str, &str)]) {
    let mut want: Vec<(String, String, String)> = expected
        .iter()
        .map(|(t, s, r)| (t.to_string(), s.to_string(), r.to_string()))
        .collect();
    want.sort();
    assert_eq!(
        computed(p, policy),
        want,
        "{policy}: computed conditions for {GW_ANCESTOR}"
    );
}

const ACCEPTED: &[(&str, &str, &str)] = &[
    ("Accepted", "True", "Accepted"),
    ("ResolvedRefs", "True", "ResolvedRefs"),
];

/// Asserts the policy applies to no edge, has no computed ancestor, and that its (single)
/// target explains why with `detail_contains`.
fn assert_unattached(p: &Posture, policy: &str, detail_contains: &str) {
    let r = report(p, policy);
    assert_eq!(r.role, PolicyRole::Unattached, "{policy}: role");
    assert!(
        r.ancestors.is_empty(),
        "{policy}: expected no ancestor, got {:?}",
        r.ancestors
    );
    assert_eq!(r.targets.len(), 1, "{policy}: targets");
    let t = &r.targets[0];
    assert_eq!(t.role, "unattached", "{policy}: target role");
    assert_eq!(t.edges, 0, "{policy}: target edges");
    assert!(
        t.detail.contains(detail_contains),
        "{policy}: target detail {:?} should contain {detail_contains:?}",
        t.detail
    );
    // An ignored policy is only ever named on the fail-open edges it should have protected.
    assert!(
        p.edges
            .iter()
            .all(|e| e.policy.as_deref() != Some(policy) || e.mode == Mode::FailOpenPlaintext),
        "{policy} decides no edge"
    );
}

/// A finding with `id` whose subject or message mentions `about`.
fn has_finding(p: &Posture, id: &str, about: &str) -> bool {
    p.findings
        .iter()
        .any(|f| f.id == id && (f.subject.contains(about) || f.message.contains(about)))
}

fn assert_tls_verified(p: &Posture, backend: &str, policy: &str, sni: &str, trust: Trust) {
    let e = edge(p, backend);
    assert_eq!(
        e.mode,
        Mode::TlsVerified,
        "{backend}: reasons {:?}",
        e.reasons
    );
    assert_eq!(
        e.policy.as_deref(),
        Some(policy),
        "{backend}: deciding policy"
    );
    assert_eq!(e.sni.as_deref(), Some(sni), "{backend}: SNI");
    assert_eq!(e.trust, trust, "{backend}: trust");
    assert!(!e.insecure_skip_verify, "{backend}: verification on");
}

// ---------------------------------------------------------------------------------------------
// §7.2 Policy variants (baseline Service shop, route to ports 443 and 9090)
// ---------------------------------------------------------------------------------------------

#[test]
fn a_no_policy_port_443_is_plaintext_to_tls_port() {
    let p = baseline(&[]);
    assert_mode(&p, SHOP_443, Mode::PlaintextToTlsPort);
    assert_mode(&p, SHOP_9090, Mode::Plaintext);
    for b in [SHOP_443, SHOP_9090] {
        let e = edge(&p, b);
        assert_eq!(e.policy, None);
        assert_eq!(e.sni, None);
        assert_eq!(e.trust, Trust::None);
    }
    // The 443 edge names the signs that the port serves TLS.
    let why = edge(&p, SHOP_443).reasons.join(" ");
    assert!(
        why.contains("port 443") && why.contains("appProtocol https"),
        "{why}"
    );
    assert!(has_finding(&p, "plaintext-to-tls-port", SHOP_443));
    assert!(!has_finding(&p, "plaintext-to-tls-port", SHOP_9090));
    assert!(p.policies.is_empty());
}

#[test]
fn b_whole_service_policy_verifies_both_ports() {
    let p = baseline(&[p_all()]);
    for b in [SHOP_443, SHOP_9090] {
        assert_tls_verified(&p, b, "app/p-all", "shop.app.svc", Trust::CaRefs);
        let e = edge(&p, b);
        assert_eq!(*e.ca_refs, ["ConfigMap/app/shop-ca"]);
        assert!(!e.mtls);
        assert_eq!(e.client_cert, None);
    }
    // The metrics port gets TLS only because the policy covers the whole Service: say so.
    let why = edge(&p, SHOP_9090).reasons.join(" ");
    assert!(why.contains("targets the whole Service shop"), "{why}");
    let r = report(&p, "app/p-all");
    assert_eq!(r.role, PolicyRole::Winner);
    assert_eq!(r.targets[0].edges, 2);
    assert_conditions(&p, "app/p-all", ACCEPTED);
    assert!(
        !p.findings.iter().any(|f| f.severity >= Severity::High),
        "{:?}",
        p.findings
    );
}

#[test]
fn b_whole_service_policy_notes_that_other_ports_must_serve_tls() {
    let p = baseline(&[p_all()]);
    let idx = p
        .edges
        .iter()
        .position(|e| &*e.backend == SHOP_9090)
        .expect("edge to port 9090");
    assert!(
        p.findings
            .iter()
            .any(|f| f.edge == Some(idx) && f.id == "policy-covers-all-ports"),
        "no note on {SHOP_9090}, which gets TLS only because the policy covers every port: {:?}",
        p.findings
    );
    let on_443 = p
        .edges
        .iter()
        .position(|e| &*e.backend == SHOP_443)
        .expect("edge to port 443");
    assert!(
        !p.findings
            .iter()
            .any(|f| f.edge == Some(on_443) && f.id == "policy-covers-all-ports"),
        "port 443 looks like TLS: no note"
    );
}

#[test]
fn c_section_policy_https_covers_only_port_443() {
    let sectioned = r#"[{group: "", kind: Service, name: shop, sectionName: https}]"#;
    let p = baseline(&[policy("app", "p-https", T0, sectioned, SHOP_CA_VALIDATION)]);
    assert_tls_verified(&p, SHOP_443, "app/p-https", "shop.app.svc", Trust::CaRefs);
    assert_eq!(*edge(&p, SHOP_443).ca_refs, ["ConfigMap/app/shop-ca"]);
    assert_mode(&p, SHOP_9090, Mode::Plaintext);
    assert_eq!(edge(&p, SHOP_9090).policy, None);
    let r = report(&p, "app/p-https");
    assert_eq!(r.role, PolicyRole::Winner);
    assert_eq!(r.targets[0].target, "Service/shop:https");
    assert_eq!(r.targets[0].edges, 1);
    assert_conditions(&p, "app/p-https", ACCEPTED);
}

#[test]
fn d_section_name_port_number_matches_nothing() {
    let by_number = r#"[{group: "", kind: Service, name: shop, sectionName: "443"}]"#;
    let p = baseline(&[policy("app", "p-num", T0, by_number, SHOP_CA_VALIDATION)]);
    assert_mode(&p, SHOP_443, Mode::PlaintextToTlsPort);
    assert_mode(&p, SHOP_9090, Mode::Plaintext);
    assert_unattached(&p, "app/p-num", "sectionName 443 matches no port name");
    // The warning reaches the user as a finding on the policy.
    assert!(
        has_finding(&p, "policy-unattached", "matches no port name"),
        "{:?}",
        p.findings
    );
}

#[test]
fn e_sectioned_policy_beats_older_whole_service_policy() {
    let sectioned = r#"[{group: "", kind: Service, name: shop, sectionName: https}]"#;
    let alt =
        r#"{caCertificateRefs: [{group: "", kind: ConfigMap, name: shop-ca}], hostname: alt.shop}"#;
    let p = baseline(&[
        policy(
            "app",
            "p-all",
            "2026-01-01T10:00:00Z",
            SHOP_TARGET,
            SHOP_CA_VALIDATION,
        ),
        policy("app", "p-https", "2026-01-01T10:05:00Z", sectioned, alt),
    ]);
    assert_tls_verified(&p, SHOP_443, "app/p-https", "alt.shop", Trust::CaRefs);
    assert_tls_verified(&p, SHOP_9090, "app/p-all", "shop.app.svc", Trust::CaRefs);
    for name in ["app/p-all", "app/p-https"] {
        assert_eq!(report(&p, name).role, PolicyRole::Winner, "{name}");
        assert_conditions(&p, name, ACCEPTED);
    }
}

#[test]
fn f_same_key_duplicates_alphabetical_wins_loser_conflicted() {
    let v = |host: &str| {
        format!(
            r#"{{caCertificateRefs: [{{group: "", kind: ConfigMap, name: shop-ca}}], hostname: {host}}}"#
        )
    };
    // Listed b before a: the order in the input must not matter, only (timestamp, name).
    let p = baseline(&[
        policy("app", "p-b", T0, SHOP_TARGET, &v("b.shop")),
        policy("app", "p-a", T0, SHOP_TARGET, &v("a.shop")),
    ]);
    assert_tls_verified(&p, SHOP_443, "app/p-a", "a.shop", Trust::CaRefs);
    assert_tls_verified(&p, SHOP_9090, "app/p-a", "a.shop", Trust::CaRefs);
    assert_eq!(report(&p, "app/p-a").role, PolicyRole::Winner);
    assert_conditions(&p, "app/p-a", ACCEPTED);
    let loser = report(&p, "app/p-b");
    assert_eq!(loser.role, PolicyRole::Conflicted);
    assert_eq!(loser.targets[0].role, "conflicted");
    assert!(
        loser.targets[0].detail.contains("app/p-a"),
        "{}",
        loser.targets[0].detail
    );
    // A conflicted loser carries only Accepted=False/Conflicted (no ResolvedRefs).
    assert_conditions(&p, "app/p-b", &[("Accepted", "False", "Conflicted")]);
    assert!(has_finding(&p, "policy-conflicted", "app/p-b"));
}

#[test]
fn g_missing_ca_configmap_fails_closed() {
    // Baseline without the shop-ca ConfigMap.
    let p = run(&[
        CLASS.to_string(),
        gateway(),
        SHOP_SERVICE.to_string(),
        SHOP_ROUTE.to_string(),
        p_all(),
    ]);
    for b in [SHOP_443, SHOP_9090] {
        let e = edge(&p, b);
        assert_eq!(e.mode, Mode::FailClosed, "{b}: {:?}", e.reasons);
        assert_eq!(e.policy.as_deref(), Some("app/p-all"));
        assert_eq!(*e.ca_refs, ["ConfigMap/app/shop-ca"]);
        assert!(e.reasons.join(" ").contains("HTTP 500"), "{:?}", e.reasons);
        assert!(has_finding(&p, "fail-closed", b));
    }
    assert_eq!(report(&p, "app/p-all").role, PolicyRole::Invalid);
    assert_conditions(
        &p,
        "app/p-all",
        &[
            ("Accepted", "False", "NoValidCACertificate"),
            ("ResolvedRefs", "False", "InvalidCACertificateRef"),
        ],
    );
}

#[test]
fn h_single_key_ca_configmap_is_accepted() {
    let p = run(&[
        CLASS.to_string(),
        gateway(),
        SHOP_SERVICE.to_string(),
        ca_configmap("app", "shop-ca", "bundle.pem"),
        SHOP_ROUTE.to_string(),
        p_all(),
    ]);
    for b in [SHOP_443, SHOP_9090] {
        assert_tls_verified(&p, b, "app/p-all", "shop.app.svc", Trust::CaRefs);
        let e = edge(&p, b);
        assert_eq!(*e.ca_refs, ["ConfigMap/app/shop-ca"]);
        let keys: Vec<Option<&str>> = e.ca_ref_states.iter().map(|s| s.key.as_deref()).collect();
        assert_eq!(keys, vec![Some("bundle.pem")], "the sole key is read");
    }
    assert_conditions(&p, "app/p-all", ACCEPTED);
}

#[test]
fn i_unsupported_ca_ref_kind_fails_closed_invalid_kind() {
    let vault = r#"{caCertificateRefs: [{group: example.io, kind: Vault, name: x}], hostname: shop.app.svc}"#;
    let p = baseline(&[policy("app", "p-all", T0, SHOP_TARGET, vault)]);
    assert_mode(&p, SHOP_443, Mode::FailClosed);
    assert_mode(&p, SHOP_9090, Mode::FailClosed);
    assert_eq!(report(&p, "app/p-all").role, PolicyRole::Invalid);
    assert_conditions(
        &p,
        "app/p-all",
        &[
            ("Accepted", "False", "NoValidCACertificate"),
            ("ResolvedRefs", "False", "InvalidKind"),
        ],
    );
}

#[test]
fn j_well_known_system_trust() {
    let system = "{wellKnownCACertificates: System, hostname: shop.app.svc}";
    let p = baseline(&[policy("app", "p-all", T0, SHOP_TARGET, system)]);
    for b in [SHOP_443, SHOP_9090] {
        assert_tls_verified(&p, b, "app/p-all", "shop.app.svc", Trust::System);
        assert!(edge(&p, b).ca_refs.is_empty());
    }
    assert_conditions(&p, "app/p-all", ACCEPTED);
}

#[test]
fn k_unknown_well_known_ca_set_fails_closed() {
    let corp = "{wellKnownCACertificates: example.com/corp-roots, hostname: shop.app.svc}";
    let p = baseline(&[policy("app", "p-all", T0, SHOP_TARGET, corp)]);
    assert_mode(&p, SHOP_443, Mode::FailClosed);
    assert_mode(&p, SHOP_9090, Mode::FailClosed);
    assert_eq!(report(&p, "app/p-all").role, PolicyRole::Invalid);
    assert_conditions(
        &p,
        "app/p-all",
        &[
            ("Accepted", "False", "NoValidCACertificate"),
            ("ResolvedRefs", "False", "InvalidKind"),
        ],
    );
}

#[test]
fn l_group_core_never_matches_in_envoy_gateway() {
    let core = "[{group: core, kind: Service, name: shop}]";
    let p = baseline(&[policy("app", "p-all", T0, core, SHOP_CA_VALIDATION)]);
    assert_mode(&p, SHOP_443, Mode::PlaintextToTlsPort);
    assert_mode(&p, SHOP_9090, Mode::Plaintext);
    assert_unattached(&p, "app/p-all", "\"core\"");
    assert!(
        has_finding(&p, "policy-unattached", "core"),
        "{:?}",
        p.findings
    );
}

#[test]
fn m_policy_in_other_namespace_is_ignored() {
    let p = baseline(&[
        ca_configmap("other", "shop-ca", "ca.crt"),
        policy("other", "p-all", T0, SHOP_TARGET, SHOP_CA_VALIDATION),
    ]);
    assert_mode(&p, SHOP_443, Mode::PlaintextToTlsPort);
    assert_mode(&p, SHOP_9090, Mode::Plaintext);
    assert_unattached(
        &p,
        "other/p-all",
        "a policy must live in its target's namespace",
    );
    assert!(
        report(&p, "other/p-all").targets[0]
            .detail
            .contains("one exists in app")
    );
}

// ---------------------------------------------------------------------------------------------
// §7.3 Cross-namespace backendRef (route in `web`, Service in `app`)
// ---------------------------------------------------------------------------------------------

const WEB_ROUTE: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: web}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  rules: [{backendRefs: [{name: shop, namespace: app, port: 443}]}]
";

fn grant(to: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {{name: allow-web, namespace: app}}
spec:
  from: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web}}]
  to: [{to}]
"
    )
}

fn cross_ns(extra: &[String]) -> Posture {
    let mut docs = vec![
        CLASS.to_string(),
        gateway(),
        SHOP_SERVICE.to_string(),
        ca_configmap("app", "shop-ca", "ca.crt"),
        WEB_ROUTE.to_string(),
    ];
    docs.extend(extra.iter().cloned());
    run(&docs)
}

#[test]
fn x1_cross_namespace_with_grant_uses_policy_of_service_namespace() {
    let p = cross_ns(&[grant(r#"{group: "", kind: Service}"#), p_all()]);
    assert_tls_verified(&p, SHOP_443, "app/p-all", "shop.app.svc", Trust::CaRefs);
    assert_eq!(&*edge(&p, SHOP_443).route, "HTTPRoute/web/web");
    assert_conditions(&p, "app/p-all", ACCEPTED);
}

#[test]
fn x2_cross_namespace_policy_in_route_namespace_is_unattached() {
    let p = cross_ns(&[
        grant(r#"{group: "", kind: Service}"#),
        ca_configmap("web", "shop-ca", "ca.crt"),
        policy("web", "p-web", T0, SHOP_TARGET, SHOP_CA_VALIDATION),
    ]);
    assert_mode(&p, SHOP_443, Mode::PlaintextToTlsPort);
    assert_eq!(edge(&p, SHOP_443).policy, None);
    assert_unattached(&p, "web/p-web", "one exists in app");
}

#[test]
fn x3_cross_namespace_without_grant_is_unresolved() {
    let p = cross_ns(&[p_all()]);
    let e = edge(&p, SHOP_443);
    assert_eq!(e.mode, Mode::Unresolved, "{:?}", e.reasons);
    assert_eq!(
        e.policy, None,
        "the policy is never evaluated for this edge"
    );
    let why = e.reasons.join(" ");
    assert!(
        why.contains("RefNotPermitted") && why.contains("HTTP 500"),
        "{why}"
    );
    assert!(has_finding(&p, "unresolved-backend", SHOP_443));
    // p-all gets no ancestor from this route.
    assert_unattached(
        &p,
        "app/p-all",
        "every backendRef to this target is invalid",
    );
}

#[test]
fn x4_cross_namespace_grant_for_other_name_is_unresolved() {
    let p = cross_ns(&[
        grant(r#"{group: "", kind: Service, name: other-svc}"#),
        p_all(),
    ]);
    let e = edge(&p, SHOP_443);
    assert_eq!(e.mode, Mode::Unresolved, "{:?}", e.reasons);
    assert!(
        e.reasons.join(" ").contains("RefNotPermitted"),
        "{:?}",
        e.reasons
    );
    assert!(report(&p, "app/p-all").ancestors.is_empty());
}

// ---------------------------------------------------------------------------------------------
// §7.4 Envoy Gateway Backend `app/ext-api` (fqdn api.example.com:443), backendRef without port
// ---------------------------------------------------------------------------------------------

const EXT: &str = "Backend/app/ext-api";

const EXT_ROUTE: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ext, namespace: app}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  rules: [{backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: ext-api}]}]
";

/// Backend `app/ext-api`; `tls` is the YAML flow value of `spec.tls` (None: absent).
fn ext_backend(tls: Option<&str>) -> String {
    let tls = tls.map(|t| format!("  tls: {t}\n")).unwrap_or_default();
    format!(
        "apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {{name: ext-api, namespace: app}}
spec:
  endpoints: [{{fqdn: {{hostname: api.example.com, port: 443}}}}]
{tls}"
    )
}

/// B2's policy: whole Backend, system trust, hostname api.example.com.
fn p_ext(section: Option<&str>) -> String {
    let section = section
        .map(|s| format!(", sectionName: \"{s}\""))
        .unwrap_or_default();
    let targets =
        format!("[{{group: gateway.envoyproxy.io, kind: Backend, name: ext-api{section}}}]");
    policy(
        "app",
        "p-ext",
        T0,
        &targets,
        "{wellKnownCACertificates: System, hostname: api.example.com}",
    )
}

fn backend_case(tls: Option<&str>, extra: &[String]) -> Posture {
    let mut docs = vec![
        CLASS.to_string(),
        gateway(),
        ext_backend(tls),
        EXT_ROUTE.to_string(),
    ];
    docs.extend(extra.iter().cloned());
    run(&docs)
}

#[test]
fn b1_backend_without_tls_is_plaintext_to_tls_port() {
    let p = backend_case(None, &[]);
    assert_mode(&p, EXT, Mode::PlaintextToTlsPort);
    assert!(
        edge(&p, EXT)
            .reasons
            .join(" ")
            .contains("endpoint port 443")
    );
}

#[test]
fn b2_policy_on_backend_system_trust() {
    let p = backend_case(None, &[p_ext(None)]);
    assert_tls_verified(&p, EXT, "app/p-ext", "api.example.com", Trust::System);
    assert_conditions(&p, "app/p-ext", ACCEPTED);
}

#[test]
fn b3_sectioned_backend_policy_cannot_match_portless_ref() {
    let p = backend_case(None, &[p_ext(Some("443"))]);
    assert_mode(&p, EXT, Mode::PlaintextToTlsPort);
    assert_eq!(edge(&p, EXT).policy, None);
    assert_unattached(
        &p,
        "app/p-ext",
        "only matches backendRefs that give port 443",
    );
    assert!(has_finding(&p, "policy-unattached", "app/p-ext"));
}

#[test]
fn b4_backend_system_trust_sni_follows_host_header() {
    let p = backend_case(Some("{wellKnownCACertificates: System}"), &[]);
    let e = edge(&p, EXT);
    assert_eq!(e.mode, Mode::TlsVerified, "{:?}", e.reasons);
    assert_eq!(e.trust, Trust::System);
    assert_eq!(e.policy, None);
    assert_eq!(e.sni, None, "no fixed SNI");
    assert!(
        e.reasons.join(" ").contains("Host header"),
        "warns that SNI follows the client Host: {:?}",
        e.reasons
    );
}

#[test]
fn b5_backend_fixed_sni() {
    let p = backend_case(
        Some("{wellKnownCACertificates: System, sni: api.example.com}"),
        &[],
    );
    let e = edge(&p, EXT);
    assert_eq!(e.mode, Mode::TlsVerified, "{:?}", e.reasons);
    assert_eq!(e.trust, Trust::System);
    assert_eq!(e.sni.as_deref(), Some("api.example.com"));
    assert!(!e.auto_sni);
}

#[test]
fn b6_backend_insecure_skip_verify_is_unverified() {
    let p = backend_case(Some("{insecureSkipVerify: true}"), &[]);
    let e = edge(&p, EXT);
    assert_eq!(e.mode, Mode::TlsUnverified, "{:?}", e.reasons);
    assert!(e.insecure_skip_verify);
    assert_eq!(e.trust, Trust::None);
    assert!(has_finding(&p, "tls-unverified", EXT));
}

#[test]
fn b7_policy_cannot_reenable_verification_over_insecure_backend() {
    let p = backend_case(Some("{insecureSkipVerify: true}"), &[p_ext(None)]);
    let e = edge(&p, EXT);
    assert_eq!(e.mode, Mode::TlsUnverified, "{:?}", e.reasons);
    assert!(e.insecure_skip_verify);
    assert_eq!(e.policy.as_deref(), Some("app/p-ext"));
    assert_eq!(e.sni.as_deref(), Some("api.example.com"));
    // The policy still reports Accepted=True, which is what makes this misleading.
    assert_conditions(&p, "app/p-ext", ACCEPTED);
    assert!(has_finding(&p, "tls-unverified", EXT));
}

#[test]
fn b8_backend_empty_tls_without_policy_fails_closed() {
    let p = backend_case(Some("{}"), &[]);
    assert_mode(&p, EXT, Mode::FailClosed);
    // The Backend itself is invalid (no CA, no system trust, not insecure) and no policy helps.
    let why = edge(&p, EXT).reasons.join(" ");
    assert!(why.contains("Backend app/ext-api is invalid"), "{why}");
    assert!(has_finding(&p, "fail-closed", EXT));
}

#[test]
fn b9_backend_empty_tls_with_policy_is_verified() {
    let p = backend_case(Some("{}"), &[p_ext(None)]);
    assert_tls_verified(&p, EXT, "app/p-ext", "api.example.com", Trust::System);
    assert_conditions(&p, "app/p-ext", ACCEPTED);
}

/// Envoy Gateway's check of a Backend whose `spec.tls` names no CA matches policies by the
/// Backend's name only: a policy with CA settings in another namespace that names a Backend
/// `ext-api` makes the Backend valid, while a policy that names another Backend does not. The
/// edge takes no policy from another namespace: it still has no CA and fails, for that reason
/// rather than the Backend's.
#[test]
fn b9_backend_empty_tls_is_valid_by_a_policy_naming_it_in_any_namespace() {
    let elsewhere = |name: &str, target: &str, validation: &str| {
        policy(
            "other",
            name,
            T0,
            &format!("[{{group: gateway.envoyproxy.io, kind: Backend, name: {target}}}]"),
            validation,
        )
    };
    let system = "{wellKnownCACertificates: System, hostname: api.example.com}";
    let p = backend_case(
        Some("{}"),
        &[
            elsewhere("p-other-name", "ext-api-2", system),
            elsewhere("p-same-name", "ext-api", system),
        ],
    );
    let e = edge(&p, EXT);
    assert_eq!(e.mode, Mode::FailClosed);
    let why = e.reasons.join(" ");
    assert!(!why.contains("is invalid"), "{why}");
    assert!(why.contains("no CA and no system trust"), "{why}");
    assert_eq!(e.policy, None);

    let p = backend_case(
        Some("{}"),
        &[elsewhere("p-other-name", "ext-api-2", system)],
    );
    assert_mode(&p, EXT, Mode::FailClosed);
    assert!(edge(&p, EXT).reasons.join(" ").contains("is invalid"));
}

#[test]
fn b10_policy_ca_wins_over_backend_ca() {
    let cm_b = r#"{caCertificateRefs: [{group: "", kind: ConfigMap, name: cm-b}], hostname: api.example.com}"#;
    let p = backend_case(
        Some(r#"{caCertificateRefs: [{group: "", kind: ConfigMap, name: cm-a}]}"#),
        &[
            ca_configmap("app", "cm-a", "ca.crt"),
            ca_configmap("app", "cm-b", "ca.crt"),
            policy(
                "app",
                "p-ext",
                T0,
                "[{group: gateway.envoyproxy.io, kind: Backend, name: ext-api}]",
                cm_b,
            ),
        ],
    );
    assert_tls_verified(&p, EXT, "app/p-ext", "api.example.com", Trust::CaRefs);
    assert_eq!(*edge(&p, EXT).ca_refs, ["ConfigMap/app/cm-b"]);
}

#[test]
fn b11_backend_client_certificate_gives_mtls() {
    let p = backend_case(
        Some("{wellKnownCACertificates: System, clientCertificateRef: {name: cli}}"),
        &[tls_secret("app", "cli")],
    );
    let e = edge(&p, EXT);
    assert_eq!(e.mode, Mode::TlsVerified, "{:?}", e.reasons);
    assert_eq!(e.trust, Trust::System);
    assert!(e.mtls);
    let cc = e.client_cert.as_ref().expect("client certificate");
    assert_eq!(cc.source, "Backend/app/ext-api");
    assert_eq!(cc.secret, "app/cli");
    assert!(cc.resolved);
}

#[test]
fn b12_backend_client_certificate_in_other_namespace_fails_closed() {
    let p = backend_case(
        Some(
            "{wellKnownCACertificates: System, clientCertificateRef: {name: cli, namespace: other}}",
        ),
        &[tls_secret("other", "cli")],
    );
    let e = edge(&p, EXT);
    assert_eq!(e.mode, Mode::FailClosed, "{:?}", e.reasons);
    assert!(!e.mtls);
    assert!(has_finding(&p, "fail-closed", EXT));
}

// ---------------------------------------------------------------------------------------------
// §7.5 Client certificates via EnvoyProxy / Gateway
// ---------------------------------------------------------------------------------------------

const PROXY: &str = "apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyProxy
metadata: {name: proxy-config, namespace: infra}
spec:
  backendTLS:
    clientCertificateRef: {kind: Secret, name: client-auth}
";

fn client_cert_case(gateway_spec: &str, extra: &[String]) -> Posture {
    let mut docs = vec![
        CLASS_WITH_PROXY.to_string(),
        gateway_with(gateway_spec, ""),
        PROXY.to_string(),
        SHOP_SERVICE.to_string(),
        ca_configmap("app", "shop-ca", "ca.crt"),
        SHOP_ROUTE.to_string(),
    ];
    docs.extend(extra.iter().cloned());
    run(&docs)
}

#[test]
fn c1_envoyproxy_client_certificate_gives_mtls() {
    let p = client_cert_case("", &[tls_secret("infra", "client-auth"), p_all()]);
    for b in [SHOP_443, SHOP_9090] {
        assert_tls_verified(&p, b, "app/p-all", "shop.app.svc", Trust::CaRefs);
        let e = edge(&p, b);
        assert!(e.mtls, "{b}");
        let cc = e.client_cert.as_ref().expect("client certificate");
        assert_eq!(cc.source, "EnvoyProxy/infra/proxy-config");
        assert_eq!(cc.secret, "infra/client-auth");
        assert!(cc.resolved);
    }
    assert_conditions(&p, "app/p-all", ACCEPTED);
}

#[test]
fn c2_client_certificate_alone_does_not_enable_tls() {
    let p = client_cert_case("", &[tls_secret("infra", "client-auth")]);
    // No policy: plaintext on both ports (the 443 port additionally looks like TLS, as in A).
    assert_mode(&p, SHOP_9090, Mode::Plaintext);
    assert_mode(&p, SHOP_443, Mode::PlaintextToTlsPort);
    for b in [SHOP_443, SHOP_9090] {
        let e = edge(&p, b);
        assert!(!e.mtls);
        assert_eq!(e.client_cert, None, "{b}");
    }
}

#[test]
fn c3_missing_envoyproxy_client_secret_fails_closed_while_policy_accepted() {
    let p = client_cert_case("", &[p_all()]);
    for b in [SHOP_443, SHOP_9090] {
        let e = edge(&p, b);
        assert_eq!(e.mode, Mode::FailClosed, "{b}: {:?}", e.reasons);
        assert!(!e.mtls);
        let cc = e.client_cert.as_ref().expect("client certificate named");
        assert_eq!(cc.source, "EnvoyProxy/infra/proxy-config");
        assert!(!cc.resolved);
        assert!(
            e.reasons.join(" ").contains("InvalidBackendTLS"),
            "{:?}",
            e.reasons
        );
    }
    // The policy itself is fine: Accepted=True, which the user must not take at face value.
    assert_conditions(&p, "app/p-all", ACCEPTED);
}

#[test]
fn c4_broken_gateway_client_certificate_drops_mtls_without_fallback() {
    let spec =
        "  tls:\n    backend:\n      clientCertificateRef: {kind: Secret, name: gw-client}\n";
    let p = client_cert_case(spec, &[tls_secret("infra", "client-auth"), p_all()]);
    for b in [SHOP_443, SHOP_9090] {
        assert_tls_verified(&p, b, "app/p-all", "shop.app.svc", Trust::CaRefs);
        let e = edge(&p, b);
        assert!(!e.mtls, "{b}: no client certificate is sent");
        let cc = e
            .client_cert
            .as_ref()
            .expect("the intended client certificate is shown");
        assert_eq!(
            cc.source, "Gateway/infra/gw",
            "EnvoyProxy's certificate is not used as a fallback"
        );
        assert_eq!(cc.secret, "infra/gw-client");
        assert!(!cc.resolved);
        assert!(has_finding(&p, "mtls-client-certificate-missing", b));
    }
    assert!(
        p.findings
            .iter()
            .any(|f| f.id == "gateway-client-certificate-invalid"
                && &*f.subject == "Gateway/infra/gw"
                && f.message.contains("InvalidClientCertificateRef")),
        "{:?}",
        p.findings
    );
}

// ---------------------------------------------------------------------------------------------
// §7.6 API version variants
// ---------------------------------------------------------------------------------------------

#[test]
fn v4_v1alpha2_shaped_policy_is_fail_open_plaintext() {
    let legacy = format!(
        "apiVersion: gateway.networking.k8s.io/v1alpha2
kind: BackendTLSPolicy
metadata:
  name: p-legacy
  namespace: app
  creationTimestamp: '{T0}'
spec:
  targetRef: {{group: \"\", kind: Service, name: shop, sectionName: https}}
  tls: {{caCertRefs: [{{group: \"\", kind: ConfigMap, name: shop-ca}}], hostname: shop.app.svc}}
"
    );
    let p = baseline(&[legacy]);
    let e = edge(&p, SHOP_443);
    assert_eq!(e.mode, Mode::FailOpenPlaintext, "{:?}", e.reasons);
    assert_eq!(
        e.policy.as_deref(),
        Some("app/p-legacy"),
        "names the policy that is ignored"
    );
    assert_eq!(e.trust, Trust::None);
    assert_eq!(e.sni, None);
    // The policy only names the https port; the metrics port is ordinary plaintext.
    assert_mode(&p, SHOP_9090, Mode::Plaintext);
    assert!(p.findings.iter().any(|f| f.id == "fail-open-plaintext"
        && f.severity == Severity::Critical
        && f.subject.contains(SHOP_443)));
    assert_unattached(&p, "app/p-legacy", "v1.0 shape");
}

// ---------------------------------------------------------------------------------------------
// §7.7 Route kinds
// ---------------------------------------------------------------------------------------------

const GREETER_SERVICE: &str = "apiVersion: v1
kind: Service
metadata: {name: greeter, namespace: app}
spec:
  ports:
  - {name: grpc, port: 9000, appProtocol: kubernetes.io/h2c}
  - {name: grpcs, port: 8443}
";

fn grpc_route(port: u16) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {{name: greeter-{port}, namespace: app}}
spec:
  parentRefs: [{{name: gw, namespace: infra}}]
  rules: [{{backendRefs: [{{name: greeter, port: {port}}}]}}]
"
    )
}

#[test]
fn r1_grpc_route_to_h2c_port_is_plaintext() {
    let p = run(&[
        CLASS.to_string(),
        gateway(),
        GREETER_SERVICE.to_string(),
        grpc_route(9000),
    ]);
    let e = edge(&p, "Service/app/greeter:9000");
    assert_eq!(&*e.route, "GRPCRoute/app/greeter-9000");
    assert_eq!(e.mode, Mode::Plaintext, "{:?}", e.reasons);
}

#[test]
fn r2_grpc_route_to_grpcs_port_is_plaintext_to_tls_port() {
    let p = run(&[
        CLASS.to_string(),
        gateway(),
        GREETER_SERVICE.to_string(),
        grpc_route(8443),
    ]);
    let e = edge(&p, "Service/app/greeter:8443");
    assert_eq!(&*e.route, "GRPCRoute/app/greeter-8443");
    assert_eq!(e.mode, Mode::PlaintextToTlsPort, "{:?}", e.reasons);
    let why = e.reasons.join(" ");
    assert!(
        why.contains("port name grpcs") && why.contains("503"),
        "{why}"
    );
}

const TLS_LISTENERS: &str = "  - name: tls-pass
    protocol: TLS
    port: 443
    tls: {mode: Passthrough}
    allowedRoutes: {namespaces: {from: All}}
  - name: tls-term
    protocol: TLS
    port: 8443
    tls: {mode: Terminate, certificateRefs: [{kind: Secret, name: gw-cert}]}
    allowedRoutes: {namespaces: {from: All}}
";

fn tls_route(listener: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {{name: shop-tls, namespace: app}}
spec:
  parentRefs: [{{name: gw, namespace: infra, sectionName: {listener}}}]
  hostnames: [shop.example.com]
  rules: [{{backendRefs: [{{name: shop, port: 443}}]}}]
"
    )
}

fn tls_route_case(listener: &str, extra: &[String]) -> Posture {
    let mut docs = vec![
        CLASS.to_string(),
        gateway_with("", TLS_LISTENERS),
        SHOP_SERVICE.to_string(),
        ca_configmap("app", "shop-ca", "ca.crt"),
        tls_route(listener),
    ];
    docs.extend(extra.iter().cloned());
    run(&docs)
}

#[test]
fn r3_tls_route_on_passthrough_listener_is_passthrough() {
    let p = tls_route_case("tls-pass", &[]);
    let e = edge(&p, SHOP_443);
    assert_eq!(&*e.route, "TLSRoute/app/shop-tls");
    assert_eq!(e.listener.as_deref(), Some("tls-pass"));
    assert_eq!(e.mode, Mode::Passthrough, "{:?}", e.reasons);
    assert!(!p.findings.iter().any(|f| f.id == "double-tls"));
}

#[test]
fn r5_tls_route_on_terminate_listener_with_policy_reencrypts() {
    let p = tls_route_case("tls-term", &[p_all()]);
    let e = edge(&p, SHOP_443);
    assert_eq!(&*e.route, "TLSRoute/app/shop-tls");
    assert_eq!(e.listener.as_deref(), Some("tls-term"));
    assert_tls_verified(&p, SHOP_443, "app/p-all", "shop.app.svc", Trust::CaRefs);
    assert!(!p.findings.iter().any(|f| f.id == "double-tls"));
    // The ancestor is the route's parentRef as written, listener included.
    let r = report(&p, "app/p-all");
    assert_eq!(r.ancestors.len(), 1);
    assert_eq!(r.ancestors[0].ancestor, "Gateway/infra/gw/tls-term");
}

#[test]
fn r6_websocket_tls_app_protocol_without_policy_is_plaintext_to_tls_port() {
    let chat = "apiVersion: v1
kind: Service
metadata: {name: chat, namespace: app}
spec:
  ports:
  - {name: ws, port: 8000, appProtocol: kubernetes.io/wss}
";
    let route = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: chat, namespace: app}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  rules: [{backendRefs: [{name: chat, port: 8000}]}]
";
    let p = run(&[
        CLASS.to_string(),
        gateway(),
        chat.to_string(),
        route.to_string(),
    ]);
    let e = edge(&p, "Service/app/chat:8000");
    assert_eq!(e.mode, Mode::PlaintextToTlsPort, "{:?}", e.reasons);
    assert!(
        e.reasons
            .join(" ")
            .contains("appProtocol kubernetes.io/wss"),
        "{:?}",
        e.reasons
    );
}
