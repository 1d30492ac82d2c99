//! BackendTLSPolicy, normalised across `v1`, `v1alpha3` and `v1alpha2` into one shape.

use super::meta::{AncestorStatus, ObjectMeta, ObjectRef};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The apiVersion a policy was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum BtlspVersion {
    V1,
    V1Alpha3,
    V1Alpha2,
}

impl BtlspVersion {
    pub fn from_api_version(api_version: &str) -> Option<Self> {
        Some(match api_version {
            "gateway.networking.k8s.io/v1" => BtlspVersion::V1,
            "gateway.networking.k8s.io/v1alpha3" => BtlspVersion::V1Alpha3,
            "gateway.networking.k8s.io/v1alpha2" => BtlspVersion::V1Alpha2,
            _ => return None,
        })
    }

    pub fn api_version(self) -> &'static str {
        match self {
            BtlspVersion::V1 => "gateway.networking.k8s.io/v1",
            BtlspVersion::V1Alpha3 => "gateway.networking.k8s.io/v1alpha3",
            BtlspVersion::V1Alpha2 => "gateway.networking.k8s.io/v1alpha2",
        }
    }
}

/// One `targetRefs[]` entry (`targetRef` in v1alpha2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PolicyTarget {
    /// The group exactly as written (`""` for core; `core` is kept literally).
    pub group: String,
    pub kind: String,
    pub name: String,
    pub section_name: Option<String>,
    /// Only the v1alpha2 shape has a namespace field.
    pub namespace: Option<String>,
}

impl PolicyTarget {
    /// `KIND/NAME[:SECTION]` for display.
    pub fn display(&self) -> String {
        match &self.section_name {
            Some(s) => cat!(self.kind, "/", self.name, ":", s),
            None => cat!(self.kind, "/", self.name),
        }
    }
}

/// A `subjectAltNames[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", content = "value")]
pub enum SanMatcher {
    Hostname(String),
    Uri(String),
}

impl SanMatcher {
    pub fn value(&self) -> &str {
        match self {
            SanMatcher::Hostname(h) | SanMatcher::Uri(h) => h,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackendTlsPolicy {
    pub meta: ObjectMeta,
    /// `NS/NAME`, made once when the policy is read: every edge the policy decides names it.
    pub key: Arc<str>,
    pub version: BtlspVersion,
    /// Written in the Gateway API v1.0 shape (`spec.targetRef` + `spec.tls`): only a
    /// v1alpha2-only CRD (Gateway API v1.0) serves it.
    pub legacy_shape: bool,
    pub targets: Vec<PolicyTarget>,
    pub ca_refs: Vec<ObjectRef>,
    pub well_known: Option<String>,
    /// Shared with the edges the policy decides (their SNI).
    pub hostname: Arc<str>,
    /// Shared with the edges the policy decides.
    pub sans: Arc<[SanMatcher]>,
    /// SAN entries without a usable type; Envoy Gateway drops them.
    pub dropped_sans: usize,
    pub options: BTreeMap<String, String>,
    /// Problems the CRD's validation would have rejected (missing hostname, both or neither
    /// trust source...). A policy with problems is invalid.
    pub problems: Vec<String>,
    pub ancestors: Vec<AncestorStatus>,
}

impl BackendTlsPolicy {
    /// `NS/NAME`, as the policy's `key` is made.
    pub fn key_of(meta: &ObjectMeta) -> Arc<str> {
        cat!(meta.namespace, "/", meta.name).into()
    }
}
