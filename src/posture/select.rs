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
/// whole-object entry; first in order within each. Picks it twice in one pass over the policies
/// naming the target: among those `include` lets through (visible ones), and among every policy.
pub(crate) fn select_both<'a>(
    snap: &'a Snapshot,
    semantics: Semantics,
    key: &TargetKey,
    include: impl Fn(&BackendTlsPolicy) -> bool,
) -> (Option<Selected<'a>>, Option<Selected<'a>>) {
    let mut visible = Choice::default();
    let mut any = Choice::default();
    for (policy, target_index) in snap.policy_targets_named(key.namespace, key.name) {
        let t = &policy.targets[target_index];
        if !target_matches(semantics, t, key) {
            continue;
        }
        let sel = Selected {
            policy,
            target_index,
        };
        let sectioned = match (&t.section_name, &key.section) {
            (Some(s), Some(want)) if s.as_str() == want.as_ref() => Some(true),
            (None, _) => Some(false),
            _ => None,
        };
        let Some(sectioned) = sectioned else {
            continue;
        };
        any.offer(sel, sectioned);
        if include(policy) {
            visible.offer(sel, sectioned);
        }
        if visible.settled() && any.settled() {
            break;
        }
    }
    (visible.chosen(), any.chosen())
}

/// The first sectioned match and the first whole-object match seen so far.
#[derive(Default)]
struct Choice<'a> {
    section: Option<Selected<'a>>,
    whole: Option<Selected<'a>>,
}

impl<'a> Choice<'a> {
    fn offer(&mut self, sel: Selected<'a>, sectioned: bool) {
        let slot = if sectioned {
            &mut self.section
        } else {
            &mut self.whole
        };
        slot.get_or_insert(sel);
    }

    /// A sectioned match wins over any later one.
    fn settled(&self) -> bool {
        self.section.is_some()
    }

    fn chosen(self) -> Option<Selected<'a>> {
        self.section.or(self.whole)
    }
}
