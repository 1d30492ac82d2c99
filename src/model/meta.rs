//! Metadata, references and conditions shared by every object kind.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The API group of Gateway API objects.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
/// The API group of Envoy Gateway's own objects.
pub const EG_GROUP: &str = "gateway.envoyproxy.io";
/// Envoy Gateway's default controller name.
pub const EG_CONTROLLER: &str = "gateway.envoyproxy.io/gatewayclass-controller";

/// Where an object came from: a file and the line its document starts on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The file (or `context NAME` for a cluster), shared by every object read from it.
    pub file: Option<std::sync::Arc<str>>,
    pub line: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}"),
            (Some(file), None) => write!(f, "{file}"),
            (None, Some(line)) => write!(f, "line {line}"),
            (None, None) => write!(f, "(unknown origin)"),
        }
    }
}

/// The part of `metadata` lastmile uses. Labels, uid and every annotation lastmile does not
/// read are dropped while decoding: a cluster's objects carry many, some as large as the object
/// itself (`kubectl.kubernetes.io/last-applied-configuration`), and tens of thousands of objects
/// are held at once.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: String,
    pub namespace: String,
    pub generation: Option<i64>,
    pub creation_timestamp: Option<jiff::Timestamp>,
    /// Only the annotations lastmile reads (see [`annotation_is_read`]).
    #[serde(deserialize_with = "read_annotations")]
    pub annotations: BTreeMap<String, String>,
}

/// Whether lastmile reads the annotation `key`: the Service annotations other ingress
/// controllers use to say a backend speaks TLS.
pub fn annotation_is_read(key: &str) -> bool {
    key == "konghq.com/protocol"
        || key == "traefik.ingress.kubernetes.io/service.serversscheme"
        || key == "nginx.ingress.kubernetes.io/backend-protocol"
        || (key.starts_with("service.beta.kubernetes.io/") && key.ends_with("backend-protocol"))
}

/// `metadata.annotations`, keeping only those lastmile reads. The value of a kept annotation
/// must be a string; the others are not looked at.
fn read_annotations<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    struct Annotations;
    impl<'de> serde::de::Visitor<'de> for Annotations {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map of annotations")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                if annotation_is_read(&key) {
                    out.insert(key.into_owned(), m.next_value::<String>()?);
                } else {
                    m.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Ok(out)
        }
    }
    d.deserialize_any(Annotations)
}

/// One `status.conditions[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: Arc<str>,
    pub status: Arc<str>,
    pub reason: Arc<str>,
    pub message: Arc<str>,
    pub observed_generation: Option<i64>,
    #[serde(deserialize_with = "lenient_timestamp")]
    pub last_transition_time: Option<jiff::Timestamp>,
}

impl Condition {
    pub fn is_true(&self) -> bool {
        &*self.status == "True"
    }
}

/// A parentRef / ancestorRef (Gateway API `ParentReference`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ParentRef {
    #[serde(deserialize_with = "opt_string_lenient")]
    pub group: Option<String>,
    #[serde(deserialize_with = "opt_string_lenient")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "opt_string_lenient")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(deserialize_with = "opt_string_lenient")]
    pub section_name: Option<String>,
    pub port: Option<i64>,
}

impl ParentRef {
    /// `KIND/NS/NAME[/SECTION]` with Gateway API defaults applied; `default_ns` is the namespace
    /// of the object that wrote the reference.
    pub fn display(&self, default_ns: &str) -> String {
        let kind = self.kind.as_deref().unwrap_or("Gateway");
        let ns = self.namespace.as_deref().unwrap_or(default_ns);
        match &self.section_name {
            Some(s) => cat!(kind, "/", ns, "/", self.name, "/", s),
            None => cat!(kind, "/", ns, "/", self.name),
        }
    }

    /// True when this reference points at a Gateway (group/kind unset or Gateway API defaults).
    pub fn is_gateway(&self) -> bool {
        self.group.as_deref().is_none_or(|g| g == GATEWAY_GROUP)
            && self.kind.as_deref().is_none_or(|k| k == "Gateway")
    }
}

/// A reference to a namespaced object, used for CA bundles and client certificates
/// (`LocalObjectReference` / `SecretObjectReference`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectRef {
    #[serde(deserialize_with = "opt_string_lenient")]
    pub group: Option<String>,
    #[serde(deserialize_with = "opt_string_lenient")]
    pub kind: Option<String>,
    pub name: String,
    #[serde(deserialize_with = "opt_string_lenient")]
    pub namespace: Option<String>,
}

impl ObjectRef {
    pub fn group_or_core(&self) -> &str {
        self.group.as_deref().unwrap_or("")
    }
}

/// Status of one `(ancestorRef, controllerName)` pair (`PolicyAncestorStatus`), also used
/// for route `status.parents[]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AncestorStatus {
    /// Shared with the policy reports that show it.
    #[serde(alias = "parentRef")]
    pub ancestor_ref: std::sync::Arc<ParentRef>,
    /// Shared with the policy reports that show it.
    pub controller_name: std::sync::Arc<str>,
    #[serde(deserialize_with = "null_as_default")]
    pub conditions: Vec<Condition>,
}

/// Accepts a string, a number or null for a field that should be a string
/// (YAML writes `sectionName: 3443` as an integer).
pub fn opt_string_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if s.is_empty() => None,
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a string, found {other}"
            )));
        }
    })
}

/// Like [`opt_string_lenient`] but keeps the empty string (group `""` means core).
pub fn opt_string_keep_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a string, found {other}"
            )));
        }
    })
}

/// Accepts an integer or a numeric string.
pub fn opt_i64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Null => None,
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => Some(
            s.parse()
                .map_err(|_| serde::de::Error::custom(format!("expected a number, found {s:?}")))?,
        ),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a number, found {other}"
            )));
        }
    })
}

/// Treats `null` as the type's default (`conditions: null` in controller output).
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Timestamps that are null or unparsable are dropped instead of failing the whole object.
fn lenient_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<jiff::Timestamp>, D::Error> {
    let v = Option::<String>::deserialize(d)?;
    Ok(v.and_then(|s| s.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the annotations lastmile reads are kept; the others (however large, whatever their
    /// type) are skipped, and labels are not kept at all.
    #[test]
    fn metadata_keeps_only_the_annotations_read() {
        let meta: ObjectMeta = serde_json::from_value(serde_json::json!({
            "name": "web",
            "namespace": "app",
            "labels": {"app": "web"},
            "annotations": {
                "konghq.com/protocol": "https",
                "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "ssl",
                "kubectl.kubernetes.io/last-applied-configuration": "{\"a\": 1}",
                "example.com/count": 3
            }
        }))
        .unwrap();
        assert_eq!(
            meta.annotations.keys().collect::<Vec<_>>(),
            [
                "konghq.com/protocol",
                "service.beta.kubernetes.io/aws-load-balancer-backend-protocol"
            ]
        );
        let none: ObjectMeta =
            serde_json::from_value(serde_json::json!({"name": "a", "annotations": null})).unwrap();
        assert!(none.annotations.is_empty());
        let bad = serde_json::from_value::<ObjectMeta>(
            serde_json::json!({"name": "a", "annotations": {"konghq.com/protocol": 1}}),
        );
        assert!(bad.is_err(), "a read annotation must be a string");
    }
}
