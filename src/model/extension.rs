//! Envoy Gateway objects that own backends of their own ("auxiliary backends"): ext-proc
//! servers of an EnvoyExtensionPolicy, ext-auth / JWKS / OIDC servers of a SecurityPolicy,
//! telemetry sinks of an EnvoyProxy. Envoy Gateway applies BackendTLSPolicy to them the same
//! way as to route backends, with the owning object as the policy ancestor.

use super::meta::ObjectMeta;
use super::route::BackendRef;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum AuxOwnerKind {
    EnvoyExtensionPolicy,
    SecurityPolicy,
    EnvoyProxy,
}

impl AuxOwnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuxOwnerKind::EnvoyExtensionPolicy => "EnvoyExtensionPolicy",
            AuxOwnerKind::SecurityPolicy => "SecurityPolicy",
            AuxOwnerKind::EnvoyProxy => "EnvoyProxy",
        }
    }
}

/// A policy `targetRef(s)` entry of an Envoy Gateway policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalTargetRef {
    pub group: String,
    pub kind: String,
    pub name: String,
    pub section_name: Option<String>,
}

/// One feature's list of backendRefs (e.g. the second ext-proc entry).
#[derive(Debug, Clone, PartialEq)]
pub struct AuxBackendGroup {
    /// Envoy Gateway's name for the feature: `extproc`, `extauth`, `jwt`, `oidc`,
    /// `accesslog_otel`, `tracing`.
    pub feature: &'static str,
    pub index: usize,
    pub refs: Vec<BackendRef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuxBackendOwner {
    pub kind: AuxOwnerKind,
    pub meta: ObjectMeta,
    pub target_refs: Vec<LocalTargetRef>,
    pub groups: Vec<AuxBackendGroup>,
}

impl AuxBackendOwner {
    /// `KIND/NS/NAME`.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.kind.as_str(),
            self.meta.namespace,
            self.meta.name
        )
    }
}
