//! GatewayClass and Gateway.

use super::meta::{Condition, ObjectMeta, ObjectRef, null_as_default, opt_string_lenient};
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayClass {
    pub meta: ObjectMeta,
    pub controller_name: String,
    pub parameters_ref: Option<ObjectRef>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GatewayClassSpec {
    pub controller_name: String,
    pub parameters_ref: Option<ObjectRef>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gateway {
    pub meta: ObjectMeta,
    pub class_name: String,
    pub listeners: Vec<Listener>,
    /// `spec.tls.backend.clientCertificateRef` (Gateway API v1.4+; `spec.backendTLS` before).
    /// `Some(None)` means the `backend` block is present without a reference.
    pub backend_client_cert: Option<Option<ObjectRef>>,
    /// `spec.infrastructure.parametersRef` (Envoy Gateway: an EnvoyProxy in the Gateway's namespace).
    pub infrastructure_parameters_ref: Option<ObjectRef>,
    pub conditions: Vec<Condition>,
    pub listener_status: Vec<ListenerStatus>,
}

impl Gateway {
    pub fn listener(&self, name: &str) -> Option<&Listener> {
        self.listeners.iter().find(|l| l.name == name)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Listener {
    pub name: String,
    pub protocol: String,
    pub port: Option<i64>,
    #[serde(deserialize_with = "opt_string_lenient")]
    pub hostname: Option<String>,
    pub tls: Option<ListenerTls>,
    pub allowed_routes: Option<AllowedRoutes>,
}

impl Listener {
    /// `Terminate` unless the listener says `Passthrough` (the Gateway API default).
    pub fn tls_mode(&self) -> &str {
        self.tls
            .as_ref()
            .and_then(|t| t.mode.as_deref())
            .unwrap_or("Terminate")
    }

    pub fn is_passthrough(&self) -> bool {
        self.protocol.eq_ignore_ascii_case("TLS") && self.tls_mode() == "Passthrough"
    }

    /// True when the client side of this listener is TLS terminated at the gateway.
    pub fn terminates_tls(&self) -> bool {
        (self.protocol.eq_ignore_ascii_case("HTTPS") || self.protocol.eq_ignore_ascii_case("TLS"))
            && self.tls_mode() != "Passthrough"
    }

    /// Whether a route of `kind` can attach to this listener by protocol.
    pub fn accepts_kind(&self, kind: &str) -> bool {
        let is = |name: &str| self.protocol.eq_ignore_ascii_case(name);
        match kind {
            "HTTPRoute" | "GRPCRoute" => is("HTTP") || is("HTTPS"),
            "TLSRoute" => is("TLS"),
            "TCPRoute" => is("TCP"),
            "UDPRoute" => is("UDP"),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ListenerTls {
    #[serde(deserialize_with = "opt_string_lenient")]
    pub mode: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub certificate_refs: Vec<ObjectRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AllowedRoutes {
    pub namespaces: Option<RouteNamespaces>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RouteNamespaces {
    #[serde(deserialize_with = "opt_string_lenient")]
    pub from: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ListenerStatus {
    pub name: String,
    pub attached_routes: Option<i64>,
    #[serde(deserialize_with = "null_as_default")]
    pub conditions: Vec<Condition>,
}
