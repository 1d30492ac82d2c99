//! Asking for what the next policies' reports will read before it is read (as the route phase
//! does for routes, see `edge_eval/read_ahead.rs`). A report reads a chain of separate
//! allocations: the policy, its lists of targets and reported ancestors, each ancestor's
//! conditions, and the texts each condition holds (which the report's views share, so each is
//! written to as well). On a large snapshot each mostly misses the caches.

use super::super::{ask_ahead, prefetch, prefetch_all};
use super::ComputedAncestor;
use crate::model::BackendTlsPolicy;

/// A policy whose report is to be made, with the ancestors computed for it.
pub(super) type Work<'p> = (usize, &'p BackendTlsPolicy, Vec<ComputedAncestor>);

/// Calls `f` with each item of `work` in order; before each, asks for what the reports of the
/// items after it will read, one link of the chain further for each item ahead.
pub(super) fn each_policy<'p, R>(
    work: &mut [Work<'p>],
    mut f: impl FnMut(&mut Work<'p>) -> R,
) -> Vec<R> {
    let mut out = Vec::with_capacity(work.len());
    for i in 0..work.len() {
        ask_ahead(work, i + 1, &AHEAD);
        out.push(f(&mut work[i]));
    }
    out
}

/// What is asked for of the policy one, two, … items ahead.
const AHEAD: [for<'p> fn(&Work<'p>); 4] = [
    |(_, p, _)| ask_for_condition_texts(p),
    |(_, p, computed)| ask_for_entries(p, computed),
    |(_, p, computed)| ask_for_lists(p, computed),
    |(_, p, _)| prefetch_all(*p),
];

/// The lists the policy holds, and the ancestors computed for it.
fn ask_for_lists(p: &BackendTlsPolicy, computed: &[ComputedAncestor]) {
    prefetch(p.targets.as_ptr());
    prefetch(p.ancestors.as_ptr());
    prefetch(p.meta.namespace.as_ptr());
    prefetch(computed.as_ptr());
}

/// Each target's texts, and each ancestor's (reported and computed) conditions and names.
fn ask_for_entries(p: &BackendTlsPolicy, computed: &[ComputedAncestor]) {
    for t in &p.targets {
        prefetch(t.kind.as_ptr());
        prefetch(t.name.as_ptr());
    }
    for a in &p.ancestors {
        prefetch(a.conditions.as_ptr());
        prefetch(std::sync::Arc::as_ptr(&a.controller_name));
        prefetch(std::sync::Arc::as_ptr(&a.ancestor_ref));
    }
    for a in computed {
        prefetch(a.conditions.as_ptr());
    }
}

/// The texts of each reported condition.
fn ask_for_condition_texts(p: &BackendTlsPolicy) {
    for a in &p.ancestors {
        for c in &a.conditions {
            for text in [&c.type_, &c.status, &c.reason, &c.message] {
                prefetch(std::sync::Arc::as_ptr(text));
            }
        }
    }
}
