//! Envoy Gateway's conflict pass over BackendTLSPolicies: in its order, a policy that names a
//! target already claimed by another loses (and claims nothing), and the incremental
//! evaluation's update of it for one changed policy.

use super::status::{ComputedAncestor, cond, pid};
use crate::model::{BackendTlsPolicy, PolicyTarget};
use foldhash::{HashMap, HashMapExt};

/// Target key for conflict detection: `ns/group/kind/name/section`.
/// What two policies must share to conflict: namespace, target group, kind, name and section.
type ConflictKey<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);

fn conflict_key<'a>(p: &'a BackendTlsPolicy, t: &'a PolicyTarget) -> ConflictKey<'a> {
    (
        &p.meta.namespace,
        &t.group,
        &t.kind,
        &t.name,
        t.section_name.as_deref().unwrap_or(""),
    )
}

/// Which policies lose a target to an older one (Envoy Gateway's conflict pass): in sorted
/// order, a policy that names a target key already claimed loses.
#[derive(Debug, Default)]
pub(crate) struct Conflicts {
    /// loser -> (winner's key, the loser's lost targets).
    conflicted_with: HashMap<usize, (String, Vec<String>)>,
    /// loser -> winner.
    winners: HashMap<usize, usize>,
}

impl Conflicts {
    pub fn new(snap: &crate::snapshot::Snapshot) -> Self {
        let mut out = Conflicts::default();
        out.pass(snap.policies.iter().map(|p| &**p));
        out
    }

    /// The conflict pass over `policies`, in Envoy Gateway's order.
    fn pass<'p>(&mut self, policies: impl Iterator<Item = &'p BackendTlsPolicy>) {
        let mut claimed: HashMap<ConflictKey, &BackendTlsPolicy> = HashMap::new();
        for p in policies.filter(|p| !p.legacy_shape) {
            let mut lost_to = None;
            let mut lost_keys = Vec::new();
            for t in &p.targets {
                let k = conflict_key(p, t);
                match claimed.get(&k) {
                    Some(&owner) if pid(owner) != pid(p) => {
                        lost_to.get_or_insert(owner);
                        lost_keys.push(t.display());
                    }
                    _ => {}
                }
            }
            if let Some(winner) = lost_to {
                self.winners.insert(pid(p), pid(winner));
                self.conflicted_with
                    .insert(pid(p), (winner.key.to_string(), lost_keys));
            } else {
                for t in &p.targets {
                    claimed.entry(conflict_key(p, t)).or_insert(p);
                }
            }
        }
    }

    /// The pass again after the policy `old` (now gone) was replaced by the one at `position`:
    /// for the policies that share a target name with either, with those, and so on. Claims
    /// of the others cannot meet theirs, so the result is the full pass's. Gives the positions
    /// of the policies passed again (whose reports may change with it).
    pub fn update(
        &mut self,
        snap: &crate::snapshot::Snapshot,
        old: &BackendTlsPolicy,
        position: usize,
    ) -> std::collections::BTreeSet<usize> {
        let ns = old.meta.namespace.as_str();
        let mut group: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
        let mut queue = vec![position];
        for t in &old.targets {
            queue.extend(snap.policy_positions_named(ns, &t.name));
        }
        while let Some(q) = queue.pop() {
            if !group.insert(q) {
                continue;
            }
            let p = &snap.policies[q];
            for t in &p.targets {
                queue.extend(snap.policy_positions_named(&p.meta.namespace, &t.name));
            }
        }
        for id in group
            .iter()
            .map(|&q| pid(&snap.policies[q]))
            .chain([pid(old)])
        {
            self.winners.remove(&id);
            self.conflicted_with.remove(&id);
        }
        self.pass(group.iter().map(|&q| &*snap.policies[q]));
        group
    }

    /// The policies that lose to one of `winners` (by [`pid`]).
    pub fn losers_of<'s>(
        &'s self,
        winners: &'s foldhash::HashSet<usize>,
    ) -> impl Iterator<Item = usize> + 's {
        self.pairs()
            .filter(|(_, w)| winners.contains(w))
            .map(|(loser, _)| loser)
    }

    /// Every (loser, winner), by [`pid`].
    pub fn pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.winners.iter().map(|(&l, &w)| (l, w))
    }

    /// What `loser` loses: its winner's key and the targets it lost.
    pub fn lost(&self, loser: usize) -> Option<&(String, Vec<String>)> {
        self.conflicted_with.get(&loser)
    }

    /// The policy that `loser` loses to, when it loses.
    pub fn winner_of(&self, loser: usize) -> Option<usize> {
        self.winners.get(&loser).copied()
    }

    /// What a loser's ancestors say: the winner's ancestors, each not accepted.
    pub(crate) fn loser_ancestors(
        &self,
        loser: usize,
        winner: &[ComputedAncestor],
    ) -> Vec<ComputedAncestor> {
        let (winner_key, _) = &self.conflicted_with[&loser];
        let msg = format!("Policy conflicts with BackendTLSPolicy {winner_key}.");
        winner
            .iter()
            .map(|a| ComputedAncestor {
                conditions: vec![cond("Accepted", false, "Conflicted", &msg)],
                ..a.clone()
            })
            .collect()
    }
}
