//! HTTPRoute, GRPCRoute, TLSRoute and TCPRoute share one shape for what lastmile needs.

use super::meta::{
    AncestorStatus, ObjectMeta, ParentRef, opt_i64_lenient, opt_string_keep_empty,
    opt_string_lenient,
};
use serde::Deserialize;
use std::fmt;
use std::sync::Arc;

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
    pub parent_refs: Vec<Arc<ParentRef>>,
    pub hostnames: Vec<String>,
    pub rules: Vec<RouteRule>,
    pub parents_status: Vec<AncestorStatus>,
    /// The texts the route's edges carry, made once with the route.
    pub edge_names: EdgeNames,
}

impl Route {
    /// A route with its [`EdgeNames`].
    pub fn new(
        kind: RouteKind,
        meta: ObjectMeta,
        parent_refs: Vec<Arc<ParentRef>>,
        hostnames: Vec<String>,
        rules: Vec<RouteRule>,
        parents_status: Vec<AncestorStatus>,
    ) -> Route {
        let edge_names = EdgeNames::new(kind, &meta, &parent_refs, &rules);
        Route {
            kind,
            meta,
            parent_refs,
            hostnames,
            rules,
            parents_status,
            edge_names,
        }
    }

    /// `KIND/NS/NAME`.
    pub fn key(&self) -> &Arc<str> {
        &self.edge_names.route
    }
}

/// What every evaluation of a route's edges would otherwise make again: its key, each
/// backendRef's names, and how many edges it can have. Made when the route is decoded; a
/// changed route is a new [`Route`].
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeNames {
    /// `KIND/NS/NAME` of the route.
    pub route: Arc<str>,
    /// Per rule, per backendRef (the same shape as `rules`).
    pub backends: Vec<Vec<BackendNames>>,
    /// At most this many edges: every Gateway parentRef times every backendRef.
    pub edge_bound: usize,
}

impl EdgeNames {
    fn new(
        kind: RouteKind,
        meta: &ObjectMeta,
        parent_refs: &[Arc<ParentRef>],
        rules: &[RouteRule],
    ) -> EdgeNames {
        let (ns, name) = (&meta.namespace, &meta.name);
        let backends = rules
            .iter()
            .enumerate()
            .map(|(ri, rule)| {
                let mut rule_index = itoa::Buffer::new();
                // Envoy Gateway numbers the rules of HTTP-family routes only.
                let rule_index = if kind.is_http_family() {
                    rule_index.format(ri)
                } else {
                    "-1"
                };
                rule.backend_refs
                    .iter()
                    .enumerate()
                    .map(|(bi, br)| {
                        let destination = cat!(
                            kind.lower(),
                            "/",
                            ns,
                            "/",
                            name,
                            "/rule/",
                            rule_index,
                            "/backend/",
                            itoa::Buffer::new().format(bi)
                        );
                        BackendNames::new(br, bi, ns, destination.into())
                    })
                    .collect()
            })
            .collect();
        let gateway_parents = parent_refs.iter().filter(|p| p.is_gateway()).count();
        let backend_refs: usize = rules.iter().map(|r| r.backend_refs.len()).sum();
        EdgeNames {
            route: cat!(kind.as_str(), "/", ns, "/", name).into(),
            backends,
            edge_bound: gateway_parents * backend_refs,
        }
    }
}

/// The names an edge of a backendRef carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendNames {
    /// `KIND/NS/NAME:PORT` (`:PORT` omitted when the ref has no port), the namespace
    /// defaulting to the referrer's.
    pub target: Arc<str>,
    /// Envoy Gateway's name for the destination (`httproute/NS/NAME/rule/R/backend/B`).
    pub destination: Arc<str>,
    /// `backendRef INDEX -> TARGET`: how the attachment tree names it.
    pub label: Arc<str>,
}

impl BackendNames {
    /// The names of `br`, at position `index` of its list, written by an object in
    /// `default_ns`, whose destination Envoy Gateway names `destination`.
    pub fn new(
        br: &BackendRef,
        index: usize,
        default_ns: &str,
        destination: Arc<str>,
    ) -> BackendNames {
        let ns = br.namespace.as_deref().unwrap_or(default_ns);
        let target = match br.port {
            Some(p) => cat!(
                br.kind(),
                "/",
                ns,
                "/",
                br.name,
                ":",
                itoa::Buffer::new().format(p)
            ),
            None => cat!(br.kind(), "/", ns, "/", br.name),
        };
        let label = cat!(
            "backendRef ",
            itoa::Buffer::new().format(index),
            " -> ",
            target
        );
        BackendNames {
            target: target.into(),
            destination,
            label: label.into(),
        }
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
