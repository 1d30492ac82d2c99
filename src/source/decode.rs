//! Turns one parsed Kubernetes object (a JSON value) into a typed [`Object`].
//! Unknown kinds are reported as ignored; broken objects become errors naming the object.

use crate::model::*;
use crate::snapshot::{Object, ObjectError, object_key};
use base64::Engine;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::sync::Arc;

pub use super::sink::{Decoded, Sink};

/// Decodes `value` and records the object, the fact that it was ignored, or an error.
pub fn add_value<S: Sink>(builder: &mut S, value: Value, origin: Origin) {
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if kind.is_empty() || api_version.is_empty() {
        builder.error(ObjectError {
            object: describe_unknown(&value),
            origin,
            message: "not a Kubernetes object: `apiVersion` and `kind` are required".into(),
        });
        return;
    }
    if kind == "List" || kind.ends_with("List") && value.get("items").is_some() {
        let mut value = value;
        match value.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => {
                // Each item is decoded and dropped in turn: the list is never copied.
                for item in items {
                    add_value(builder, item, origin.clone());
                }
            }
            Some(Value::Null) | None => {}
            Some(_) => builder.error(ObjectError {
                object: kind,
                origin,
                message: "`items` must be a list".into(),
            }),
        }
        return;
    }
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let meta = match value.get("metadata").map(ObjectMeta::deserialize) {
        Some(Ok(m)) if !m.name.is_empty() => m,
        Some(Ok(_)) | None => {
            builder.error(ObjectError {
                object: format!("{kind}/(unnamed)"),
                origin,
                message: "metadata.name is missing".into(),
            });
            return;
        }
        Some(Err(e)) => {
            // A bad field elsewhere in metadata (say `generation: true`) must not hide which
            // object this is: name it from the raw value when its name is a string.
            let raw = |k: &str| {
                value
                    .pointer(&format!("/metadata/{k}"))
                    .and_then(Value::as_str)
            };
            let object = match raw("name").filter(|n| !n.is_empty()) {
                Some(name) => object_key(&kind, raw("namespace").unwrap_or_default(), name),
                None => format!("{kind}/(unnamed)"),
            };
            builder.error(ObjectError {
                object,
                origin,
                message: format!("metadata: {e}"),
            });
            return;
        }
    };
    let key = object_key(&kind, &meta.namespace, &meta.name);
    match decode(group, &kind, &api_version, meta, &value) {
        Ok(Some(object)) => {
            let telemetry = match &object {
                Object::EnvoyProxy(p) => envoy_proxy_telemetry(&p.meta, &value),
                _ => Ok(None),
            };
            let raw = builder.keeps_text().then(|| raw_text(value, &kind));
            builder.push(object, origin.clone(), raw);
            match telemetry {
                Ok(Some(owner)) => builder.push(Object::AuxOwner(Arc::new(owner)), origin, None),
                Ok(None) => {}
                Err(message) => builder.error(ObjectError {
                    object: key,
                    origin,
                    message,
                }),
            }
        }
        Ok(None) => builder.ignore(&kind),
        Err(message) => builder.error(ObjectError {
            object: key,
            origin,
            message,
        }),
    }
}

fn describe_unknown(value: &Value) -> String {
    match value {
        Value::Object(m) if m.is_empty() => "empty document".into(),
        Value::Object(m) => {
            let keys: Vec<&str> = m.keys().take(3).map(String::as_str).collect();
            format!("document with keys {}", keys.join(", "))
        }
        Value::Null => "empty document".into(),
        other => format!("document of type {}", json_type(other)),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// Deserialises `value[field]` (missing = default) and names the field on error.
fn field<T: DeserializeOwned + Default>(value: &Value, path: &[&str]) -> Result<T, String> {
    let mut v = value;
    for p in path {
        match v.get(p) {
            Some(next) => v = next,
            None => return Ok(T::default()),
        }
    }
    if v.is_null() {
        return Ok(T::default());
    }
    T::deserialize(v).map_err(|e| format!("{}: {e}", path.join(".")))
}

fn conditions(value: &Value) -> Result<Vec<Condition>, String> {
    field(value, &["status", "conditions"])
}

fn decode(
    group: &str,
    kind: &str,
    api_version: &str,
    meta: ObjectMeta,
    v: &Value,
) -> Result<Option<Object>, String> {
    let spec = v.get("spec").unwrap_or(&Value::Null);
    Ok(Some(match (group, kind) {
        (GATEWAY_GROUP, "GatewayClass") => {
            let s: GatewayClassSpec = field(v, &["spec"])?;
            if s.controller_name.is_empty() {
                return Err("spec.controllerName is missing".into());
            }
            Object::GatewayClass(Arc::new(GatewayClass {
                meta,
                controller_name: s.controller_name,
                parameters_ref: s.parameters_ref,
                conditions: conditions(v)?,
            }))
        }
        (GATEWAY_GROUP, "Gateway") => {
            let class_name: String = field(v, &["spec", "gatewayClassName"])?;
            if class_name.is_empty() {
                return Err("spec.gatewayClassName is missing".into());
            }
            let backend_client_cert = match spec
                .pointer("/tls/backend")
                .or_else(|| spec.get("backendTLS"))
            {
                None | Some(Value::Null) => None,
                Some(b) => Some(match b.get("clientCertificateRef") {
                    None | Some(Value::Null) => None,
                    Some(r) => Some(
                        serde_json::from_value::<ObjectRef>(r.clone())
                            .map_err(|e| format!("spec.tls.backend.clientCertificateRef: {e}"))?,
                    ),
                }),
            };
            Object::Gateway(Arc::new(Gateway {
                meta,
                class_name,
                listeners: field(v, &["spec", "listeners"])?,
                backend_client_cert,
                infrastructure_parameters_ref: field(
                    v,
                    &["spec", "infrastructure", "parametersRef"],
                )?,
                conditions: conditions(v)?,
                listener_status: field(v, &["status", "listeners"])?,
            }))
        }
        (GATEWAY_GROUP, "HTTPRoute" | "GRPCRoute" | "TLSRoute" | "TCPRoute") => {
            Object::Route(Arc::new(Route::new(
                RouteKind::from_kind(kind).expect("matched above"),
                meta,
                field(v, &["spec", "parentRefs"])?,
                field(v, &["spec", "hostnames"])?,
                field(v, &["spec", "rules"])?,
                field(v, &["status", "parents"])?,
            )))
        }
        (GATEWAY_GROUP, "BackendTLSPolicy") => {
            Object::Policy(Arc::new(decode_policy(api_version, meta, spec, v)?))
        }
        (GATEWAY_GROUP, "ReferenceGrant") => Object::ReferenceGrant(Arc::new(ReferenceGrant {
            meta,
            from: field(v, &["spec", "from"])?,
            to: field(v, &["spec", "to"])?,
        })),
        ("", "Service") | ("multicluster.x-k8s.io", "ServiceImport") => {
            Object::Service(Arc::new(Service {
                meta,
                kind: if kind == "Service" {
                    "Service"
                } else {
                    "ServiceImport"
                },
                type_: field(v, &["spec", "type"])?,
                external_name: field(v, &["spec", "externalName"])?,
                ports: field(v, &["spec", "ports"])?,
            }))
        }
        ("", "ConfigMap") => {
            let data: Map<String, Value> = field(v, &["data"])?;
            let mut pairs = Vec::new();
            for (k, val) in data {
                let text = val.as_str().map(str::to_string).unwrap_or_default();
                pairs.push((k, text.into_bytes()));
            }
            Object::CertSource(
                BundleKind::ConfigMap,
                Arc::new(cert_source(meta, None, pairs)),
            )
        }
        ("", "Secret") => {
            let secret_type: Option<String> = field(v, &["type"])?;
            let mut pairs = Vec::new();
            let data: Map<String, Value> = field(v, &["data"])?;
            for (k, val) in data {
                let enc = val.as_str().unwrap_or_default();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(enc.trim())
                    .map_err(|_| format!("data.{k}: not valid base64"))?;
                pairs.push((k, bytes));
            }
            let string_data: Map<String, Value> = field(v, &["stringData"])?;
            for (k, val) in string_data {
                pairs.push((k, val.as_str().unwrap_or_default().as_bytes().to_vec()));
            }
            let sds_url_valid =
                (secret_type.as_deref() == Some("gateway.envoyproxy.io/sds")).then(|| {
                    pairs.iter().any(|(k, b)| {
                        k == "url" && std::str::from_utf8(b).is_ok_and(|u| u.contains("://"))
                    })
                });
            let mut src = cert_source(meta, secret_type, pairs);
            src.sds_url_valid = sds_url_valid;
            Object::CertSource(BundleKind::Secret, Arc::new(src))
        }
        ("certificates.k8s.io", "ClusterTrustBundle") => {
            let bundle: String = field(v, &["spec", "trustBundle"])?;
            let mut meta = meta;
            meta.namespace.clear();
            Object::CertSource(
                BundleKind::ClusterTrustBundle,
                Arc::new(cert_source(
                    meta,
                    None,
                    vec![("trustBundle".into(), bundle.into_bytes())],
                )),
            )
        }
        (EG_GROUP, "Backend") => {
            let tls: Option<BackendTlsSettings> = field(v, &["spec", "tls"])?;
            let mut app_protocols: Vec<String> = field(v, &["spec", "appProtocols"])?;
            if app_protocols.is_empty() {
                app_protocols = field(v, &["spec", "AppProtocols"])?;
            }
            Object::Backend(Arc::new(Backend {
                meta,
                type_: field(v, &["spec", "type"])?,
                endpoints: field(v, &["spec", "endpoints"])?,
                app_protocols,
                tls,
                conditions: conditions(v)?,
            }))
        }
        (EG_GROUP, "EnvoyProxy") => Object::EnvoyProxy(Arc::new(EnvoyProxy {
            meta: meta.clone(),
            backend_tls: field(v, &["spec", "backendTLS"])?,
        })),
        (EG_GROUP, "EnvoyExtensionPolicy") => Object::AuxOwner(Arc::new(aux_owner(
            AuxOwnerKind::EnvoyExtensionPolicy,
            meta,
            spec,
        )?)),
        (EG_GROUP, "SecurityPolicy") => Object::AuxOwner(Arc::new(aux_owner(
            AuxOwnerKind::SecurityPolicy,
            meta,
            spec,
        )?)),
        _ => return Ok(None),
    }))
}

/// EnvoyProxy objects also own telemetry backends; they are added as an owner beside the proxy.
fn envoy_proxy_telemetry(meta: &ObjectMeta, v: &Value) -> Result<Option<AuxBackendOwner>, String> {
    let spec = v.get("spec").unwrap_or(&Value::Null);
    let owner = aux_owner(AuxOwnerKind::EnvoyProxy, meta.clone(), spec)?;
    Ok((!owner.groups.is_empty()).then_some(owner))
}

fn cert_source(
    meta: ObjectMeta,
    secret_type: Option<String>,
    pairs: Vec<(String, Vec<u8>)>,
) -> CertSource {
    let keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    let wanted = parsed_keys(&keys);
    let is_sds = secret_type.as_deref() == Some("gateway.envoyproxy.io/sds");
    let bundles = pairs
        .into_iter()
        .filter(|(k, _)| !is_sds && wanted.contains(k))
        .map(|(k, bytes)| (k, PemBundle::parse(&bytes)))
        .collect();
    CertSource {
        meta,
        secret_type,
        keys,
        bundles,
        sds_url_valid: None,
    }
}

fn decode_policy(
    api_version: &str,
    meta: ObjectMeta,
    spec: &Value,
    v: &Value,
) -> Result<BackendTlsPolicy, String> {
    let version = BtlspVersion::from_api_version(api_version).ok_or_else(|| {
        format!("unsupported apiVersion {api_version} (expected v1, v1alpha3 or v1alpha2)")
    })?;
    let legacy_shape = spec.get("targetRefs").is_none()
        && (spec.get("targetRef").is_some() || spec.get("tls").is_some());
    let mut problems = Vec::new();
    let raw_targets: Vec<Value> = if legacy_shape {
        spec.get("targetRef").cloned().into_iter().collect()
    } else {
        field(v, &["spec", "targetRefs"])?
    };
    let mut targets = Vec::new();
    for (i, t) in raw_targets.iter().enumerate() {
        let s = |k: &str| match t.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let name = s("name").unwrap_or_default();
        if name.is_empty() {
            return Err(format!("spec.targetRefs[{i}].name is missing"));
        }
        targets.push(PolicyTarget {
            group: s("group").unwrap_or_default(),
            kind: s("kind").unwrap_or_else(|| "Service".into()),
            name,
            section_name: s("sectionName").filter(|x| !x.is_empty()),
            namespace: s("namespace").filter(|x| !x.is_empty()),
        });
    }
    if targets.is_empty() {
        problems.push("no targetRefs".to_string());
    }
    let (ca_refs, well_known, hostname, raw_sans): (
        Vec<ObjectRef>,
        Option<String>,
        String,
        Vec<Value>,
    ) = if legacy_shape {
        (
            field(v, &["spec", "tls", "caCertRefs"])?,
            field(v, &["spec", "tls", "wellKnownCACerts"])?,
            field(v, &["spec", "tls", "hostname"])?,
            Vec::new(),
        )
    } else {
        (
            field(v, &["spec", "validation", "caCertificateRefs"])?,
            field(v, &["spec", "validation", "wellKnownCACertificates"])?,
            field(v, &["spec", "validation", "hostname"])?,
            field(v, &["spec", "validation", "subjectAltNames"])?,
        )
    };
    let well_known = well_known.filter(|w| !w.is_empty());
    if hostname.is_empty() {
        problems.push("validation.hostname is empty".into());
    }
    match (ca_refs.is_empty(), well_known.is_some()) {
        (false, true) => {
            problems.push("both caCertificateRefs and wellKnownCACertificates are set".into())
        }
        (true, false) => {
            problems.push("neither caCertificateRefs nor wellKnownCACertificates is set".into())
        }
        _ => {}
    }
    let mut sans = Vec::new();
    let mut dropped_sans = 0;
    for san in raw_sans {
        let get = |k: &str| {
            san.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        match (get("type").as_deref(), get("hostname"), get("uri")) {
            (Some("Hostname"), Some(h), _) => sans.push(SanMatcher::Hostname(h)),
            (Some("URI"), _, Some(u)) => sans.push(SanMatcher::Uri(u)),
            _ => dropped_sans += 1,
        }
    }
    let options = match spec.get("options") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect(),
        _ => Default::default(),
    };
    Ok(BackendTlsPolicy {
        key: BackendTlsPolicy::key_of(&meta),
        meta,
        version,
        legacy_shape,
        targets,
        ca_refs,
        well_known,
        hostname: Arc::from(hostname),
        sans: sans.into(),
        dropped_sans,
        options,
        problems,
        ancestors: field(v, &["status", "ancestors"])?,
    })
}

fn aux_owner(
    kind: AuxOwnerKind,
    meta: ObjectMeta,
    spec: &Value,
) -> Result<AuxBackendOwner, String> {
    let mut target_refs = Vec::new();
    let mut raw_targets: Vec<&Value> = Vec::new();
    if let Some(t) = spec.get("targetRef").filter(|t| !t.is_null()) {
        raw_targets.push(t);
    }
    if let Some(Value::Array(ts)) = spec.get("targetRefs") {
        raw_targets.extend(ts.iter());
    }
    for t in raw_targets {
        let s = |k: &str| {
            t.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        target_refs.push(LocalTargetRef {
            group: s("group"),
            kind: s("kind"),
            name: s("name"),
            section_name: Some(s("sectionName")).filter(|x| !x.is_empty()),
        });
    }
    let refs_at = |v: Option<&Value>| -> Result<Vec<BackendRef>, String> {
        let Some(v) = v else { return Ok(Vec::new()) };
        let mut out: Vec<BackendRef> = match v.get("backendRefs") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|r| BackendRef::deserialize(r).map_err(|e| format!("backendRefs: {e}")))
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        if out.is_empty()
            && let Some(r) = v.get("backendRef").filter(|r| !r.is_null())
        {
            out.push(BackendRef::deserialize(r).map_err(|e| format!("backendRef: {e}"))?);
        }
        Ok(out)
    };
    let mut groups = Vec::new();
    let mut push = |feature: &'static str, index: usize, refs: Vec<BackendRef>| {
        if !refs.is_empty() {
            groups.push(AuxBackendGroup {
                feature,
                index,
                refs,
            });
        }
    };
    match kind {
        AuxOwnerKind::EnvoyExtensionPolicy => {
            if let Some(Value::Array(procs)) = spec.get("extProc") {
                for (i, p) in procs.iter().enumerate() {
                    push("extproc", i, refs_at(Some(p))?);
                }
            }
        }
        AuxOwnerKind::SecurityPolicy => {
            if let Some(ea) = spec.get("extAuth") {
                let mut refs = refs_at(ea.get("grpc"))?;
                refs.extend(refs_at(ea.get("http"))?);
                push("extauth", 0, refs);
            }
            if let Some(Value::Array(providers)) = spec.pointer("/jwt/providers") {
                for (i, p) in providers.iter().enumerate() {
                    push("jwt", i, refs_at(p.get("remoteJWKS"))?);
                }
            }
            if let Some(p) = spec.pointer("/oidc/provider") {
                push("oidc", 0, refs_at(Some(p))?);
            }
        }
        AuxOwnerKind::EnvoyProxy => {
            if let Some(Value::Array(settings)) = spec.pointer("/telemetry/accessLog/settings") {
                for (i, s) in settings.iter().enumerate() {
                    if let Some(Value::Array(sinks)) = s.get("sinks") {
                        for (j, sink) in sinks.iter().enumerate() {
                            if let Some(otel) = sink.get("openTelemetry") {
                                push("accesslog_otel", i * 100 + j, refs_at(Some(otel))?);
                            }
                        }
                    }
                }
            }
            if let Some(p) = spec.pointer("/telemetry/tracing/provider") {
                push("tracing", 0, refs_at(Some(p))?);
            }
        }
    }
    Ok(AuxBackendOwner {
        kind,
        meta,
        target_refs,
        groups,
    })
}

/// The compact JSON text kept for the YAML view, Secret values redacted.
fn raw_text(value: Value, kind: &str) -> Arc<str> {
    let value = redact(value, kind);
    serde_json::to_string(&value)
        .expect("a JSON value serialises")
        .into()
}

/// Replaces Secret values with a size note so raw views never show secret material.
fn redact(mut value: Value, kind: &str) -> Value {
    if kind == "Secret"
        && let Value::Object(m) = &mut value
    {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(data)) = m.get_mut(field) {
                for (_, v) in data.iter_mut() {
                    let n = v.as_str().map(str::len).unwrap_or(0);
                    *v = Value::String(format!("<redacted: {n} characters>"));
                }
            }
        }
        if let Some(Value::Object(meta)) = m.get_mut("metadata")
            && let Some(Value::Object(ann)) = meta.get_mut("annotations")
        {
            ann.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    value
}
