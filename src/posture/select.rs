//! Which BackendTLSPolicy applies to a backend (Service port, Backend).

use super::Semantics;
use crate::model::{BackendTlsPolicy, PolicyTarget};
use crate::snapshot::Snapshot;

/// What a backendRef resolves to for policy matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetKey<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    pub namespace: &'a str,
    /// Service: the port *name* of the referenced port; Backend: the port number; None when
    /// the ref has no port or the port is unnamed.
    pub section: Option<std::borrow::Cow<'a, str>>,
}

/// A policy chosen for a target, with the index of the targetRef that matched.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Selected<'a> {
    pub policy: &'a BackendTlsPolicy,
    pub target_index: usize,
}

fn group_matches(semantics: Semantics, written: &str, key: &str) -> bool {
    match semantics {
        // Envoy Gateway compares the group literally (`core` never matches).
        Semantics::EnvoyGateway => written == key,
        Semantics::GatewayApiSpec => written == key || (key.is_empty() && written == "core"),
    }
}

fn target_matches(semantics: Semantics, t: &PolicyTarget, key: &TargetKey) -> bool {
    group_matches(semantics, &t.group, key.group) && t.kind == key.kind && t.name == key.name
}

/// Picks the policy for `key` among the policies in the target's namespace (already in
/// creationTimestamp/namespace/name order): a sectioned entry for the key's section wins, then a
/// whole-object entry; first in order within each. `include` filters visible policies.
pub(crate) fn select<'a>(
    snap: &'a Snapshot,
    semantics: Semantics,
    key: &TargetKey,
    include: impl Fn(&BackendTlsPolicy) -> bool,
) -> Option<Selected<'a>> {
    let mut whole: Option<Selected<'a>> = None;
    for (policy, target_index) in snap.policy_targets_named(key.namespace, key.name) {
        let t = &policy.targets[target_index];
        if !target_matches(semantics, t, key) || !include(policy) {
            continue;
        }
        match (&t.section_name, &key.section) {
            (Some(s), Some(want)) if s.as_str() == want.as_ref() => {
                return Some(Selected {
                    policy,
                    target_index,
                });
            }
            (None, _) if whole.is_none() => {
                whole = Some(Selected {
                    policy,
                    target_index,
                })
            }
            _ => {}
        }
    }
    whole
}
