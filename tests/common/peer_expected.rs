//! Expected backend-TLS facts read from an Envoy Gateway translator golden file
//! (`tests/peers/envoy-gateway/translator/NAME.out.yaml`).
//!
//! The layout of those files is described in `/work/shared/peers/README.md` §2.3 and in
//! `tests/peers/PROVENANCE.md`. This module only *reads* the expected output; it does not
//! know anything about how `lastmile` computes its answer.
//!
//! Include it from an integration test with
//! `#[path = "common/peer_expected.rs"] mod peer_expected;`.
//!
//! Data quirks a consumer must know:
//! * A BackendTLSPolicy that never applied to a used backend is echoed with
//!   `status: {ancestors: null}`; it is returned here with an empty `ancestors` list
//!   (the same as a policy with no `status` at all).
//! * One rule can appear as several IR routes (one per match / hostname); the destination
//!   setting `name` is the same for all of them, so `destinations` is keyed by it.
//! * `failed_rules` also contains rules that failed for reasons unrelated to TLS
//!   (e.g. `BackendNotFound`, an invalid SecurityPolicy); tell them apart with the route's
//!   `ResolvedRefs` reason in the `httpRoutes` status. Routes that carry
//!   `directResponse: 500` *and* still have a destination with settings (an invalid
//!   EnvoyExtensionPolicy) are not failures and are not listed.
//! * A failed TCPRoute keeps its `destination` (named `tcproute/<ns>/<name>/rule/-1`) with no
//!   `settings`; that rule name is what lands in `failed_rules`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedCase {
    /// key: (xdsIR gateway key "ns/name", destination setting name e.g.
    /// "httproute/default/r1/rule/0/backend/1")
    pub destinations: BTreeMap<(String, String), ExpectedDest>,
    /// (xdsIR gateway key, route-rule prefix e.g. "httproute/ns/name/rule/0" or
    /// "tcproute/ns/name/rule/-1") of IR routes that are directResponse 500 with NO
    /// destination (HTTP), or TCP routes whose destination has no settings.
    pub failed_rules: BTreeSet<(String, String)>,
    /// Top-level `backendTLSPolicies[]`, in file order.
    pub policies: Vec<ExpectedPolicy>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedDest {
    Plaintext,
    Tls(ExpectedTls),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedTls {
    pub sni: Option<String>,
    /// `autoSNIFromEndpointHostname`
    pub auto_sni: bool,
    pub use_system_trust_store: bool,
    /// `caCertificate.name`
    pub ca_name: Option<String>,
    /// base64-decoded `caCertificate.certificate` (UTF-8 PEM text)
    pub ca_pem: Option<String>,
    /// `caCertificate.sds` present
    pub ca_sds: bool,
    pub insecure_skip_verify: bool,
    /// `subjectAltNames`, in order
    pub sans: Vec<ExpectedSan>,
    /// `clientCertificates[].name`
    pub client_cert_names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedSan {
    Hostname(String),
    Uri(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedPolicy {
    pub namespace: String,
    pub name: String,
    /// empty when the policy has no status (or `status.ancestors: null`)
    pub ancestors: Vec<ExpectedAncestor>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedAncestor {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: String,
    pub section_name: Option<String>,
    /// `controllerName`
    pub controller: String,
    pub conditions: Vec<ExpectedCondition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedCondition {
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// Parse the text of an Envoy Gateway translator `.out.yaml` into the expected facts.
pub fn parse_expected(out_yaml: &str) -> Result<ExpectedCase, String> {
    let root: Value =
        serde_saphyr::from_str::<Value>(out_yaml).map_err(|e| format!("YAML parse error: {e}"))?;
    if !root.is_object() {
        return Err("top level of .out.yaml is not a mapping".into());
    }

    let mut case = ExpectedCase {
        destinations: BTreeMap::new(),
        failed_rules: BTreeSet::new(),
        policies: Vec::new(),
    };

    if let Some(xds) = non_null(root.get("xdsIR")) {
        let xds = xds
            .as_object()
            .ok_or_else(|| "xdsIR is not a mapping".to_string())?;
        for (gw, ir) in xds {
            walk_gateway_ir(gw, ir, &mut case).map_err(|e| format!("xdsIR[{gw}]: {e}"))?;
        }
    }

    for (i, p) in list(root.get("backendTLSPolicies"))
        .map_err(|e| format!("backendTLSPolicies: {e}"))?
        .iter()
        .enumerate()
    {
        case.policies
            .push(parse_policy(p).map_err(|e| format!("backendTLSPolicies[{i}]: {e}"))?);
    }

    Ok(case)
}

// ---------------------------------------------------------------------------------------
// xdsIR walking

fn walk_gateway_ir(gw: &str, ir: &Value, case: &mut ExpectedCase) -> Result<(), String> {
    // HTTP listeners.
    for (li, listener) in list(ir.get("http"))?.iter().enumerate() {
        for (ri, route) in list(listener.get("routes"))?.iter().enumerate() {
            let ctx = format!("http[{li}].routes[{ri}]");
            walk_http_route(gw, route, case).map_err(|e| format!("{ctx}: {e}"))?;
        }
    }

    // TCP listeners (TCPRoute and TLSRoute backends).
    for (li, listener) in list(ir.get("tcp"))?.iter().enumerate() {
        for (ri, route) in list(listener.get("routes"))?.iter().enumerate() {
            let ctx = format!("tcp[{li}].routes[{ri}]");
            walk_l4_route(gw, route, case).map_err(|e| format!("{ctx}: {e}"))?;
        }
    }

    // UDP listeners have a single `route` (no fixture uses them; handled for completeness).
    for (li, listener) in list(ir.get("udp"))?.iter().enumerate() {
        if let Some(route) = non_null(listener.get("route")) {
            walk_l4_route(gw, route, case).map_err(|e| format!("udp[{li}].route: {e}"))?;
        }
    }

    // Telemetry.
    if let Some(access_log) = non_null(ir.get("accessLog")) {
        for (i, otel) in list(access_log.get("openTelemetry"))?.iter().enumerate() {
            add_destination(gw, otel.get("destination"), case)
                .map_err(|e| format!("accessLog.openTelemetry[{i}]: {e}"))?;
        }
    }
    if let Some(tracing) = non_null(ir.get("tracing")) {
        add_destination(gw, tracing.get("destination"), case)
            .map_err(|e| format!("tracing: {e}"))?;
    }
    if let Some(metrics) = non_null(ir.get("metrics")) {
        for (i, sink) in list(metrics.get("sinks"))?.iter().enumerate() {
            add_destination(gw, sink.get("destination"), case)
                .map_err(|e| format!("metrics.sinks[{i}]: {e}"))?;
        }
    }
    Ok(())
}

fn walk_http_route(gw: &str, route: &Value, case: &mut ExpectedCase) -> Result<(), String> {
    let dest = non_null(route.get("destination"));
    add_destination(gw, dest, case)?;

    let status_500 = non_null(route.get("directResponse"))
        .and_then(|d| d.get("statusCode"))
        .and_then(Value::as_i64)
        == Some(500);
    if status_500 && !has_settings(dest) {
        let prefix = rule_prefix(route, dest)?;
        case.failed_rules.insert((gw.to_string(), prefix));
    }

    // envoyExtensions.extProcs[].destination
    if let Some(ext) = non_null(route.get("envoyExtensions")) {
        for (i, ep) in list(ext.get("extProcs"))?.iter().enumerate() {
            add_destination(gw, ep.get("destination"), case)
                .map_err(|e| format!("envoyExtensions.extProcs[{i}]: {e}"))?;
        }
    }

    // security.{extAuth.{grpc,http}, jwt.providers[].remoteJWKS, oidc.provider}.destination
    if let Some(sec) = non_null(route.get("security")) {
        if let Some(ext_auth) = non_null(sec.get("extAuth")) {
            for kind in ["grpc", "http"] {
                if let Some(svc) = non_null(ext_auth.get(kind)) {
                    add_destination(gw, svc.get("destination"), case)
                        .map_err(|e| format!("security.extAuth.{kind}: {e}"))?;
                }
            }
        }
        if let Some(jwt) = non_null(sec.get("jwt")) {
            for (i, prov) in list(jwt.get("providers"))?.iter().enumerate() {
                if let Some(jwks) = non_null(prov.get("remoteJWKS")) {
                    add_destination(gw, jwks.get("destination"), case)
                        .map_err(|e| format!("security.jwt.providers[{i}].remoteJWKS: {e}"))?;
                }
            }
        }
        if let Some(oidc) = non_null(sec.get("oidc"))
            && let Some(provider) = non_null(oidc.get("provider"))
        {
            add_destination(gw, provider.get("destination"), case)
                .map_err(|e| format!("security.oidc.provider: {e}"))?;
        }
    }
    Ok(())
}

/// TCP / TLS / UDP route: no directResponse; a failed rule keeps a destination without
/// settings.
fn walk_l4_route(gw: &str, route: &Value, case: &mut ExpectedCase) -> Result<(), String> {
    let dest = non_null(route.get("destination"));
    add_destination(gw, dest, case)?;
    if !has_settings(dest) {
        let prefix = match dest.and_then(|d| d.get("name")).and_then(Value::as_str) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => {
                let name = str_field(route, "name")?;
                format!("{name}/rule/-1")
            }
        };
        case.failed_rules.insert((gw.to_string(), prefix));
    }
    Ok(())
}

fn has_settings(dest: Option<&Value>) -> bool {
    dest.and_then(|d| d.get("settings"))
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty())
}

/// Rule prefix of an IR HTTP route: the destination name when there is one, otherwise the
/// route name cut after `/rule/<idx>` (e.g.
/// `httproute/ns/r/rule/0/match/0/*` -> `httproute/ns/r/rule/0`).
fn rule_prefix(route: &Value, dest: Option<&Value>) -> Result<String, String> {
    if let Some(n) = dest.and_then(|d| d.get("name")).and_then(Value::as_str)
        && !n.is_empty()
    {
        return Ok(n.to_string());
    }
    let name = str_field(route, "name")?;
    let parts: Vec<&str> = name.split('/').collect();
    // kind/ns/name/rule/<idx>/...
    if parts.len() >= 5 && parts[3] == "rule" {
        return Ok(parts[..5].join("/"));
    }
    // Fall back to the first "rule" segment anywhere.
    if let Some(pos) = parts.iter().position(|p| *p == "rule")
        && pos + 1 < parts.len()
    {
        return Ok(parts[..pos + 2].join("/"));
    }
    Err(format!(
        "cannot derive a rule prefix from route name {name:?}"
    ))
}

fn add_destination(gw: &str, dest: Option<&Value>, case: &mut ExpectedCase) -> Result<(), String> {
    let Some(dest) = non_null(dest) else {
        return Ok(());
    };
    for (i, setting) in list(dest.get("settings"))?.iter().enumerate() {
        let name = str_field(setting, "name").map_err(|e| format!("settings[{i}]: {e}"))?;
        let parsed = match non_null(setting.get("tls")) {
            None => ExpectedDest::Plaintext,
            Some(tls) => ExpectedDest::Tls(
                parse_tls(tls).map_err(|e| format!("settings[{i}] ({name}).tls: {e}"))?,
            ),
        };
        let key = (gw.to_string(), name.clone());
        match case.destinations.get(&key) {
            Some(prev) if *prev != parsed => {
                return Err(format!(
                    "destination setting {name:?} appears more than once with different TLS: \
                     {prev:?} vs {parsed:?}"
                ));
            }
            Some(_) => {}
            None => {
                case.destinations.insert(key, parsed);
            }
        }
    }
    Ok(())
}

fn parse_tls(tls: &Value) -> Result<ExpectedTls, String> {
    if !tls.is_object() {
        return Err("not a mapping".into());
    }
    let ca = non_null(tls.get("caCertificate"));
    let ca_pem = match ca.and_then(|c| non_null(c.get("certificate"))) {
        None => None,
        Some(v) => {
            let b64 = v
                .as_str()
                .ok_or_else(|| "caCertificate.certificate is not a string".to_string())?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| format!("caCertificate.certificate is not base64: {e}"))?;
            Some(
                String::from_utf8(bytes)
                    .map_err(|e| format!("caCertificate.certificate is not UTF-8: {e}"))?,
            )
        }
    };

    let mut sans = Vec::new();
    for (i, san) in list(tls.get("subjectAltNames"))?.iter().enumerate() {
        if let Some(h) = non_null(san.get("hostname")) {
            sans.push(ExpectedSan::Hostname(scalar_string(h).ok_or_else(
                || format!("subjectAltNames[{i}].hostname is not a scalar"),
            )?));
        } else if let Some(u) = non_null(san.get("uri")) {
            sans.push(ExpectedSan::Uri(scalar_string(u).ok_or_else(|| {
                format!("subjectAltNames[{i}].uri is not a scalar")
            })?));
        } else {
            return Err(format!(
                "subjectAltNames[{i}] has neither hostname nor uri: {san}"
            ));
        }
    }

    let mut client_cert_names = Vec::new();
    for (i, cc) in list(tls.get("clientCertificates"))?.iter().enumerate() {
        if !cc.is_object() {
            return Err(format!("clientCertificates[{i}] is not a mapping"));
        }
        // An SDS client certificate has `name: ''`; keep it verbatim.
        client_cert_names.push(opt_string(cc, "name")?.unwrap_or_default());
    }

    Ok(ExpectedTls {
        sni: opt_string(tls, "sni")?,
        auto_sni: bool_field(tls, "autoSNIFromEndpointHostname")?,
        use_system_trust_store: bool_field(tls, "useSystemTrustStore")?,
        ca_name: match ca {
            Some(c) => opt_string(c, "name")?,
            None => None,
        },
        ca_pem,
        ca_sds: ca.and_then(|c| non_null(c.get("sds"))).is_some(),
        insecure_skip_verify: bool_field(tls, "insecureSkipVerify")?,
        sans,
        client_cert_names,
    })
}

// ---------------------------------------------------------------------------------------
// BackendTLSPolicy status

fn parse_policy(p: &Value) -> Result<ExpectedPolicy, String> {
    let meta = non_null(p.get("metadata")).ok_or_else(|| "missing metadata".to_string())?;
    let name = str_field(meta, "name").map_err(|e| format!("metadata: {e}"))?;
    // Upstream fixtures always set the namespace; an absent one would mean "default".
    let namespace = opt_string(meta, "namespace")?.unwrap_or_else(|| "default".to_string());

    let mut ancestors = Vec::new();
    if let Some(status) = non_null(p.get("status")) {
        for (i, a) in list(status.get("ancestors"))?.iter().enumerate() {
            ancestors.push(
                parse_ancestor(a).map_err(|e| format!("{namespace}/{name} ancestors[{i}]: {e}"))?,
            );
        }
    }
    Ok(ExpectedPolicy {
        namespace,
        name,
        ancestors,
    })
}

fn parse_ancestor(a: &Value) -> Result<ExpectedAncestor, String> {
    let r = non_null(a.get("ancestorRef")).ok_or_else(|| "missing ancestorRef".to_string())?;
    let mut conditions = Vec::new();
    for (i, c) in list(a.get("conditions"))?.iter().enumerate() {
        let f = |k: &str| str_field(c, k).map_err(|e| format!("conditions[{i}]: {e}"));
        conditions.push(ExpectedCondition {
            type_: f("type")?,
            status: f("status")?,
            reason: f("reason")?,
            message: opt_string(c, "message")?.unwrap_or_default(),
        });
    }
    Ok(ExpectedAncestor {
        group: opt_string(r, "group")?,
        kind: opt_string(r, "kind")?,
        namespace: opt_string(r, "namespace")?,
        name: str_field(r, "name").map_err(|e| format!("ancestorRef: {e}"))?,
        section_name: opt_string(r, "sectionName")?,
        controller: str_field(a, "controllerName")?,
        conditions,
    })
}

// ---------------------------------------------------------------------------------------
// small JSON helpers

/// `Some(v)` unless the value is absent or YAML `null`.
fn non_null(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// A YAML sequence, or empty when absent / null.
fn list(v: Option<&Value>) -> Result<&[Value], String> {
    match non_null(v) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(format!("expected a list, found {other}")),
    }
}

/// Scalars as text: YAML may type `"3443"`-like or `True`-like values as numbers/booleans.
fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn opt_string(obj: &Value, key: &str) -> Result<Option<String>, String> {
    match non_null(obj.get(key)) {
        None => Ok(None),
        Some(v) => scalar_string(v)
            .map(Some)
            .ok_or_else(|| format!("field {key:?} is not a scalar: {v}")),
    }
}

fn str_field(obj: &Value, key: &str) -> Result<String, String> {
    opt_string(obj, key)?.ok_or_else(|| format!("missing field {key:?}"))
}

fn bool_field(obj: &Value, key: &str) -> Result<bool, String> {
    match non_null(obj.get(key)) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(format!("field {key:?} is not a boolean: {v}")),
    }
}
