//! CA bundle and client certificate resolution, per implementation model.

use super::context::GatewayCtx;
use super::{CaRefState, ClientCert, Semantics};
use crate::model::*;
use crate::snapshot::{ObjectId, Snapshot};
use std::borrow::Cow;
use std::sync::Arc;

/// Failure to build a trust source from a policy: the status it earns and why.
#[derive(Debug, Clone)]
pub(crate) struct CaError {
    /// Reason of `Accepted=False` (`NoValidCACertificate` or `Invalid`).
    pub accepted_reason: &'static str,
    /// Reason of `ResolvedRefs=False` (`InvalidCACertificateRef`, `InvalidKind`), if any.
    pub resolved_reason: Option<&'static str>,
    pub message: String,
}

/// Result of resolving a policy's (or Backend's) CA references.
#[derive(Debug, Clone, Default)]
pub(crate) struct CaResolution {
    pub states: Arc<[CaRefState]>,
    /// Fatal error: the policy is invalid and traffic relying on it fails.
    pub error: Option<CaError>,
    /// Non-fatal: some refs invalid (Gateway API spec: `ResolvedRefs=False`, still Accepted).
    pub partial: Option<(&'static str, String)>,
}

/// `KIND/NS/NAME` of a CA reference of an object in namespace `ns`.
pub(crate) fn ca_ref_key(r: &ObjectRef, ns: &str) -> String {
    let kind = r.kind.as_deref().unwrap_or("ConfigMap");
    if kind == "ClusterTrustBundle" {
        cat!(kind, "/", r.name)
    } else {
        cat!(kind, "/", ns, "/", r.name)
    }
}

fn ref_display(kind: &str, ns: &str, name: &str) -> String {
    if kind == "ClusterTrustBundle" {
        cat!(kind, "/", name)
    } else {
        cat!(kind, "/", ns, "/", name)
    }
}

fn bundle_kind(r: &ObjectRef) -> Option<BundleKind> {
    match (r.group_or_core(), r.kind.as_deref().unwrap_or("")) {
        ("", "ConfigMap") => Some(BundleKind::ConfigMap),
        ("", "Secret") => Some(BundleKind::Secret),
        ("" | "certificates.k8s.io", "ClusterTrustBundle") => Some(BundleKind::ClusterTrustBundle),
        _ => None,
    }
}

/// Resolves CA references of an object in namespace `ns` the way `semantics` does.
pub(crate) fn resolve_cas(
    snap: &Snapshot,
    semantics: Semantics,
    ns: &str,
    refs: &[ObjectRef],
    sds_enabled: bool,
) -> CaResolution {
    let mut states = Vec::with_capacity(refs.len());
    let mut first_error: Option<(&'static str, String)> = None;
    let mut supported = 0usize;
    let mut sds_refs = 0usize;
    let mut inline_refs = 0usize;
    for r in refs {
        let kind_name = r.kind.clone().unwrap_or_default();
        let Some(kind) = bundle_kind(r) else {
            states.push(CaRefState {
                reference: ref_display(&kind_name, ns, &r.name),
                state: "invalid-kind",
                key: None,
                certificates: vec![],
                detail: Some(format!(
                    "unsupported CA reference kind {}{}",
                    if r.group_or_core().is_empty() {
                        String::new()
                    } else {
                        format!("{}/", r.group_or_core())
                    },
                    kind_name
                )),
            });
            if semantics == Semantics::GatewayApiSpec && first_error.is_none() {
                first_error = Some((
                    "InvalidKind",
                    format!("unsupported CA reference kind {kind_name}"),
                ));
            }
            continue;
        };
        supported += 1;
        let display = ref_display(kind.as_str(), ns, &r.name);
        let Some(src) = snap.cert_source(kind, ns, &r.name) else {
            let msg = match kind {
                BundleKind::ClusterTrustBundle => {
                    format!("ClusterTrustBundle {} not found.", r.name)
                }
                _ => format!("{} {} not found in namespace {ns}.", kind.as_str(), r.name),
            };
            states.push(CaRefState {
                reference: display,
                state: "missing",
                key: None,
                certificates: vec![],
                detail: Some(msg.clone()),
            });
            first_error.get_or_insert(("InvalidCACertificateRef", msg));
            continue;
        };
        if kind == BundleKind::Secret && src.is_sds() {
            sds_refs += 1;
            let (state, detail) = if semantics != Semantics::EnvoyGateway || !sds_enabled {
                (
                    "invalid-kind",
                    Some(
                        "SDS reference Secrets need Envoy Gateway's SDS secret-reference feature"
                            .to_string(),
                    ),
                )
            } else if src.sds_url_valid != Some(true) {
                (
                    "missing",
                    Some(format!(
                        "Invalid SDS reference secret {}: invalid URL",
                        r.name
                    )),
                )
            } else {
                ("sds", None)
            };
            if let Some(d) = &detail {
                first_error.get_or_insert(("InvalidCACertificateRef", d.clone()));
            }
            states.push(CaRefState {
                reference: display,
                state,
                key: None,
                certificates: vec![],
                detail,
            });
            continue;
        }
        inline_refs += 1;
        let key = match semantics {
            Semantics::EnvoyGateway => src.eg_ca_key().map(str::to_string),
            Semantics::GatewayApiSpec => match kind {
                BundleKind::ClusterTrustBundle => Some("trustBundle".to_string()),
                _ => src.keys.iter().find(|k| *k == "ca.crt").cloned(),
            },
        };
        let key = key.or_else(|| {
            (kind == BundleKind::ClusterTrustBundle).then(|| "trustBundle".to_string())
        });
        let Some(key) = key else {
            let lower = kind.as_str().to_ascii_lowercase();
            let msg = format!("No ca found in {lower} {}.", r.name);
            states.push(CaRefState {
                reference: display,
                state: "no-ca-key",
                key: None,
                certificates: vec![],
                detail: Some(msg.clone()),
            });
            first_error.get_or_insert(("InvalidCACertificateRef", msg));
            continue;
        };
        let bundle = src.bundles.get(&key).cloned().unwrap_or_default();
        if !bundle.is_usable() {
            let why = bundle
                .errors
                .first()
                .cloned()
                .unwrap_or_else(|| "empty".into());
            let msg = format!(
                "{} {} key {key} holds no usable certificate ({why}).",
                kind.as_str(),
                r.name
            );
            states.push(CaRefState {
                reference: display,
                state: "no-certificate",
                key: Some(key),
                certificates: vec![],
                detail: Some(msg.clone()),
            });
            first_error.get_or_insert(("InvalidCACertificateRef", msg));
            continue;
        }
        states.push(CaRefState {
            reference: display,
            state: "resolved",
            key: Some(key),
            certificates: bundle.certs,
            detail: None,
        });
    }
    let mut res = CaResolution::default();
    match semantics {
        Semantics::EnvoyGateway => {
            if sds_refs > 1 {
                first_error = Some((
                    "InvalidCACertificateRef",
                    "Multiple SDS reference secrets are not supported.".into(),
                ));
            } else if sds_refs == 1 && inline_refs > 0 {
                first_error = Some((
                    "InvalidCACertificateRef",
                    "Cannot mix SDS reference secrets with other CA certificate types.".into(),
                ));
            }
            if let Some((reason, message)) = first_error {
                res.error = Some(CaError {
                    accepted_reason: "NoValidCACertificate",
                    resolved_reason: Some(reason),
                    message,
                });
            } else if supported == 0 && !refs.is_empty() {
                res.error = Some(CaError {
                    accepted_reason: "NoValidCACertificate",
                    resolved_reason: Some("InvalidKind"),
                    message: "no CA reference of a supported kind (ConfigMap, Secret, ClusterTrustBundle)".into(),
                });
            }
        }
        Semantics::GatewayApiSpec => {
            let valid = states.iter().filter(|s| s.resolved()).count();
            if let Some((reason, message)) = first_error {
                if valid == 0 {
                    res.error = Some(CaError {
                        accepted_reason: "NoValidCACertificate",
                        resolved_reason: Some(reason),
                        message,
                    });
                } else {
                    res.partial = Some((reason, message));
                }
            }
        }
    }
    res.states = states.into();
    res
}

/// What the client-certificate configuration yields for one TLS edge.
#[derive(Debug, Clone)]
pub(crate) enum ClientCertOutcome {
    None,
    Present(ClientCert),
    /// The reference is broken and the edge fails (EnvoyProxy / Backend references in EG).
    Fatal(ClientCert, String),
    /// The Gateway-level reference is broken: TLS continues without a client certificate.
    Dropped(ClientCert, String),
}

fn secret_usable(snap: &Snapshot, ns: &str, name: &str, sds_enabled: bool) -> Result<(), String> {
    match snap.cert_source(BundleKind::Secret, ns, name) {
        None => Err(format!("Secret {ns}/{name} not found")),
        Some(s) if s.is_sds() => {
            if sds_enabled {
                Ok(())
            } else {
                Err(format!(
                    "Secret {ns}/{name} is an SDS reference and SDS secret references are disabled"
                ))
            }
        }
        Some(s)
            if !(s.keys.iter().any(|k| k == "tls.crt")
                && s.keys.iter().any(|k| k == "tls.key")) =>
        {
            Err(format!("Secret {ns}/{name} has no tls.crt/tls.key"))
        }
        Some(_) => Ok(()),
    }
}

/// Resolves the client certificate for a TLS edge through `gw` to `backend` (an EG Backend, if any).
pub(crate) fn client_cert(
    snap: &Snapshot,
    gw: &GatewayCtx,
    backend: Option<&Backend>,
    semantics: Semantics,
    sds_enabled: bool,
) -> ClientCertOutcome {
    // 1. Envoy Gateway: a Backend's own client certificate overrides everything.
    if semantics == Semantics::EnvoyGateway
        && let Some(b) = backend
        && let Some(r) = b
            .tls
            .as_ref()
            .and_then(|t| t.client.client_certificate_ref.as_ref())
    {
        let ns = r
            .namespace
            .clone()
            .unwrap_or_else(|| b.meta.namespace.clone());
        let cc = ClientCert {
            source: cat!("Backend/", b.meta.namespace, "/", b.meta.name),
            secret: cat!(ns, "/", r.name),
            resolved: false,
        };
        if ns != b.meta.namespace {
            return ClientCertOutcome::Fatal(
                cc,
                format!(
                    "client certificate Secret {ns}/{} is not in the Backend's namespace",
                    r.name
                ),
            );
        }
        return match secret_usable(snap, &ns, &r.name, sds_enabled) {
            Ok(()) => ClientCertOutcome::Present(ClientCert {
                resolved: true,
                ..cc
            }),
            Err(e) => ClientCertOutcome::Fatal(cc, e),
        };
    }
    // 2. Gateway `spec.tls.backend`: when present it replaces EnvoyProxy's settings entirely.
    let g = gw.gateway;
    if let Some(block) = &g.backend_client_cert {
        let Some(r) = block else {
            return ClientCertOutcome::None;
        };
        let ns = r
            .namespace
            .clone()
            .unwrap_or_else(|| g.meta.namespace.clone());
        let cc = ClientCert {
            source: cat!("Gateway/", g.meta.namespace, "/", g.meta.name),
            secret: cat!(ns, "/", r.name),
            resolved: false,
        };
        let kind = r.kind.as_deref().unwrap_or("Secret");
        if r.group_or_core() != "" || kind != "Secret" {
            return ClientCertOutcome::Dropped(
                cc,
                format!(
                    "Gateway client certificate reference has unsupported kind {kind} (InvalidClientCertificateRef)"
                ),
            );
        }
        if ns != g.meta.namespace
            && !snap.reference_permitted(
                ObjectId {
                    group: GATEWAY_GROUP,
                    kind: "Gateway",
                    namespace: &g.meta.namespace,
                    name: &g.meta.name,
                },
                ObjectId {
                    group: "",
                    kind: "Secret",
                    namespace: &ns,
                    name: &r.name,
                },
            )
        {
            return ClientCertOutcome::Dropped(
                cc,
                format!(
                    "no ReferenceGrant lets Gateway {} use Secret {ns}/{} (RefNotPermitted)",
                    g.meta.name, r.name
                ),
            );
        }
        return match secret_usable(snap, &ns, &r.name, sds_enabled) {
            Ok(()) => ClientCertOutcome::Present(ClientCert {
                resolved: true,
                ..cc
            }),
            Err(e) => ClientCertOutcome::Dropped(cc, format!("{e} (InvalidClientCertificateRef)")),
        };
    }
    // 3. EnvoyProxy `spec.backendTLS.clientCertificateRef`.
    if semantics == Semantics::EnvoyGateway
        && let Some(p) = gw.proxy
        && let Some(r) = p
            .backend_tls
            .as_ref()
            .and_then(|t| t.client_certificate_ref.as_ref())
    {
        let ns = r
            .namespace
            .clone()
            .unwrap_or_else(|| p.meta.namespace.clone());
        let cc = ClientCert {
            source: cat!("EnvoyProxy/", p.meta.namespace, "/", p.meta.name),
            secret: cat!(ns, "/", r.name),
            resolved: false,
        };
        if ns != p.meta.namespace {
            return ClientCertOutcome::Fatal(
                cc,
                format!(
                    "ClientCertificateRef Secret is not located in the same namespace as EnvoyProxy (Secret {ns}/{})",
                    r.name
                ),
            );
        }
        return match secret_usable(snap, &ns, &r.name, sds_enabled) {
            Ok(()) => ClientCertOutcome::Present(ClientCert {
                resolved: true,
                ..cc
            }),
            Err(e) => ClientCertOutcome::Fatal(
                cc,
                format!("failed to locate TLS secret for client auth: {e}"),
            ),
        };
    }
    ClientCertOutcome::None
}

/// Minimum and maximum TLS version, and the ALPN protocols.
pub(crate) type TlsParams = (
    Option<Cow<'static, str>>,
    Option<Cow<'static, str>>,
    Option<Arc<[String]>>,
);

/// TLS version bounds and ALPN in effect (Envoy Gateway: Backend inline settings over Gateway
/// or EnvoyProxy settings; defaults 1.2/1.3).
pub(crate) fn tls_params(
    gw: &GatewayCtx,
    backend: Option<&Backend>,
    semantics: Semantics,
) -> TlsParams {
    if semantics != Semantics::EnvoyGateway {
        return (None, None, None);
    }
    let base = if gw.gateway.backend_client_cert.is_some() {
        None
    } else {
        gw.proxy.and_then(|p| p.backend_tls.as_ref())
    };
    let inline = backend.and_then(|b| b.tls.as_ref()).map(|t| &t.client);
    let pick =
        |f: fn(&ClientTlsParams) -> Option<String>| inline.and_then(f).or_else(|| base.and_then(f));
    // The defaults borrowed, not copied for every edge.
    let min = pick(|c| c.min_version.clone()).map_or(Cow::Borrowed("1.2"), Cow::Owned);
    let max = pick(|c| c.max_version.clone()).map_or(Cow::Borrowed("1.3"), Cow::Owned);
    let alpn = inline
        .and_then(|c| c.alpn_protocols.clone())
        .or_else(|| base.and_then(|c| c.alpn_protocols.clone()))
        .map(Arc::from);
    (Some(min), Some(max), alpn)
}
