//! HTTPRoute, GRPCRoute, TLSRoute and TCPRoute share one shape for what lastmile needs.

use super::meta::{
    AncestorStatus, ObjectMeta, ParentRef, opt_i64_lenient, opt_string_keep_empty,
    opt_string_lenient,
};
use serde::Deserialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteKind {
    Http,
    Grpc,
    Tls,
    Tcp,
}

impl RouteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::Http => "HTTPRoute",
            RouteKind::Grpc => "GRPCRoute",
            RouteKind::Tls => "TLSRoute",
            RouteKind::Tcp => "TCPRoute",
        }
    }

    /// The kind in lower case, as Envoy Gateway names route resources (`httproute/NS/NAME/…`).
    pub fn lower(self) -> &'static str {
        match self {
            RouteKind::Http => "httproute",
            RouteKind::Grpc => "grpcroute",
            RouteKind::Tls => "tlsroute",
            RouteKind::Tcp => "tcproute",
        }
    }

    pub fn from_kind(kind: &str) -> Option<Self> {
        Some(match kind {
            "HTTPRoute" => RouteKind::Http,
            "GRPCRoute" => RouteKind::Grpc,
            "TLSRoute" => RouteKind::Tls,
            "TCPRoute" => RouteKind::Tcp,
            _ => return None,
        })
    }

    /// HTTP-family routes get a 500 direct response on backend errors; L4 routes get resets.
    pub fn is_http_family(self) -> bool {
        matches!(self, RouteKind::Http | RouteKind::Grpc)
    }
}

impl fmt::Display for RouteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub kind: RouteKind,
    pub meta: ObjectMeta,
    pub parent_refs: Vec<std::sync::Arc<ParentRef>>,
    pub hostnames: Vec<String>,
    pub rules: Vec<RouteRule>,
    pub parents_status: Vec<AncestorStatus>,
}

impl Route {
    /// `KIND/NS/NAME`.
    pub fn key(&self) -> String {
        cat!(
            self.kind.as_str(),
            "/",
            self.meta.namespace,
            "/",
            self.meta.name
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RouteRule {
    #[serde(deserialize_with = "opt_string_lenient")]
    pub name: Option<String>,
    #[serde(deserialize_with = "super::meta::null_as_default")]
    pub backend_refs: Vec<BackendRef>,
}

/// A `backendRef` (also used for Envoy Gateway policy backends, whose fixtures sometimes
/// capitalise the field names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BackendRef {
    #[serde(alias = "Group", deserialize_with = "opt_string_keep_empty")]
    pub group: Option<String>,
    #[serde(alias = "Kind", deserialize_with = "opt_string_lenient")]
    pub kind: Option<String>,
    #[serde(alias = "Name")]
    pub name: String,
    #[serde(alias = "Namespace", deserialize_with = "opt_string_lenient")]
    pub namespace: Option<String>,
    #[serde(alias = "Port", deserialize_with = "opt_i64_lenient")]
    pub port: Option<i64>,
    #[serde(alias = "Weight", deserialize_with = "opt_i64_lenient")]
    pub weight: Option<i64>,
}

impl BackendRef {
    /// Group with the core group as `""`.
    pub fn group(&self) -> &str {
        self.group.as_deref().unwrap_or("")
    }

    /// Kind with the `Service` default.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("Service")
    }
}
