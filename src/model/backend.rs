//! Backend targets: Service, ServiceImport, Envoy Gateway Backend; plus EnvoyProxy and
//! ReferenceGrant, which decide how and whether a gateway may reach them.

use super::meta::{
    Condition, ObjectMeta, ObjectRef, null_as_default, opt_i64_lenient, opt_string_keep_empty,
    opt_string_lenient,
};
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServicePort {
    #[serde(deserialize_with = "opt_string_lenient")]
    pub name: Option<String>,
    #[serde(deserialize_with = "opt_i64_lenient")]
    pub port: Option<i64>,
    #[serde(deserialize_with = "opt_string_lenient")]
    pub target_port: Option<String>,
    #[serde(deserialize_with = "opt_string_lenient")]
    pub protocol: Option<String>,
    #[serde(deserialize_with = "opt_string_lenient")]
    pub app_protocol: Option<String>,
}

/// A core/v1 Service or a multicluster ServiceImport (same port shape).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Service {
    pub meta: ObjectMeta,
    /// `Service` or `ServiceImport`.
    pub kind: &'static str,
    pub type_: Option<String>,
    pub external_name: Option<String>,
    pub ports: Vec<ServicePort>,
}

impl Service {
    pub fn port(&self, number: i64) -> Option<&ServicePort> {
        self.ports.iter().find(|p| p.port == Some(number))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HostPort {
    #[serde(alias = "address")]
    pub hostname: String,
    #[serde(deserialize_with = "opt_i64_lenient")]
    pub port: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BackendEndpoint {
    pub fqdn: Option<HostPort>,
    pub ip: Option<HostPort>,
    pub unix: Option<UnixSocket>,
    #[serde(deserialize_with = "opt_string_lenient")]
    pub hostname: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct UnixSocket {
    pub path: String,
}

impl BackendEndpoint {
    pub fn port(&self) -> Option<i64> {
        self.fqdn.as_ref().or(self.ip.as_ref()).and_then(|h| h.port)
    }

    pub fn display(&self) -> String {
        if let Some(f) = &self.fqdn {
            format!("{}:{}", f.hostname, f.port.unwrap_or_default())
        } else if let Some(ip) = &self.ip {
            format!("{}:{}", ip.hostname, ip.port.unwrap_or_default())
        } else if let Some(u) = &self.unix {
            format!("unix:{}", u.path)
        } else {
            "(empty endpoint)".into()
        }
    }
}

/// TLS parameters a client side sets (EnvoyProxy `backendTLS`, Backend inline `tls`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClientTlsParams {
    pub client_certificate_ref: Option<ObjectRef>,
    #[serde(deserialize_with = "opt_string_lenient")]
    pub min_version: Option<String>,
    #[serde(deserialize_with = "opt_string_lenient")]
    pub max_version: Option<String>,
    pub alpn_protocols: Option<Vec<String>>,
    #[serde(deserialize_with = "null_as_default")]
    pub ciphers: Vec<String>,
}

/// Envoy Gateway `Backend.spec.tls`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BackendTlsSettings {
    #[serde(deserialize_with = "null_as_default")]
    pub ca_certificate_refs: Vec<ObjectRef>,
    #[serde(
        rename = "wellKnownCACertificates",
        deserialize_with = "opt_string_lenient"
    )]
    pub well_known_ca_certificates: Option<String>,
    pub insecure_skip_verify: Option<bool>,
    #[serde(deserialize_with = "opt_string_lenient")]
    pub sni: Option<String>,
    #[serde(rename = "autoSNIFromEndpointHostname")]
    pub auto_sni_from_endpoint_hostname: Option<bool>,
    #[serde(flatten)]
    pub client: ClientTlsParams,
}

/// Envoy Gateway `Backend` (`gateway.envoyproxy.io/v1alpha1`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backend {
    pub meta: ObjectMeta,
    pub type_: Option<String>,
    pub endpoints: Vec<BackendEndpoint>,
    pub app_protocols: Vec<String>,
    pub tls: Option<BackendTlsSettings>,
    pub conditions: Vec<Condition>,
}

/// Envoy Gateway `EnvoyProxy`: only the parts that affect backend TLS.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvoyProxy {
    pub meta: ObjectMeta,
    pub backend_tls: Option<ClientTlsParams>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GrantFrom {
    #[serde(deserialize_with = "opt_string_keep_empty")]
    pub group: Option<String>,
    pub kind: String,
    pub namespace: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GrantTo {
    #[serde(deserialize_with = "opt_string_keep_empty")]
    pub group: Option<String>,
    pub kind: String,
    #[serde(deserialize_with = "opt_string_lenient")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReferenceGrant {
    pub meta: ObjectMeta,
    pub from: Vec<GrantFrom>,
    pub to: Vec<GrantTo>,
}

impl ReferenceGrant {
    /// Whether this grant (which lives in the target's namespace) lets an object of
    /// `from_group/from_kind` in `from_ns` refer to `to_group/to_kind/to_name`.
    pub fn permits(
        &self,
        from_group: &str,
        from_kind: &str,
        from_ns: &str,
        to_group: &str,
        to_kind: &str,
        to_name: &str,
    ) -> bool {
        let from_ok = self.from.iter().any(|f| {
            f.group.as_deref().unwrap_or("") == from_group
                && f.kind == from_kind
                && f.namespace == from_ns
        });
        let to_ok = self.to.iter().any(|t| {
            t.group.as_deref().unwrap_or("") == to_group
                && t.kind == to_kind
                && t.name.as_deref().is_none_or(|n| n == to_name)
        });
        from_ok && to_ok
    }
}
