//! Keeping the sorted findings up to date: the findings raised again replace those raised
//! before by the same things, where a full evaluation would put them.

use super::Splices;
use crate::posture::findings::{Finding, Group, Rank, order};

/// The sorted findings of the posture, with their ranks.
pub(super) struct FindingList<'a> {
    pub findings: &'a mut Vec<Finding>,
    pub ranks: &'a mut Vec<Rank>,
    /// Vectors to write the next list into (their memory is reused).
    pub spare: &'a mut (Vec<Finding>, Vec<Rank>),
}

/// Where a finding raised before now belongs, edges having moved: `None` when its edge was
/// evaluated again and is gone.
fn moved(f: &Finding, rank: Rank, splices: &Splices) -> Option<(Option<usize>, Rank)> {
    if rank.group != Group::Edge {
        return Some((f.edge, rank));
    }
    let at = splices.now_at(rank.at as usize)?;
    Some((
        Some(at),
        Rank {
            at: at as u32,
            ..rank
        },
    ))
}

impl FindingList<'_> {
    /// Replaces the findings whose rank `again` selects with `raised` (sorted, with ranks),
    /// the edges having moved as `splices` says. Touches nothing when the findings raised again
    /// are those raised before.
    pub fn replace(
        self,
        again: impl Fn(&Rank) -> bool,
        splices: &Splices,
        new: Vec<Finding>,
        new_ranks: Vec<Rank>,
    ) {
        let before: Vec<usize> = (0..self.ranks.len())
            .filter(|&i| again(&self.ranks[i]))
            .collect();
        let unchanged = before.len() == new.len()
            && before
                .iter()
                .zip(new.iter().zip(&new_ranks))
                .all(|(&i, (f, r))| {
                    moved(&self.findings[i], self.ranks[i], splices).is_some_and(|(edge, rank)| {
                        rank == *r && edge == f.edge && same_but_edge(&self.findings[i], f)
                    })
                });
        if unchanged {
            if splices.shifted() {
                for (f, rank) in self.findings.iter_mut().zip(self.ranks.iter_mut()) {
                    if let Some((edge, r)) = moved(f, *rank, splices) {
                        f.edge = edge;
                        *rank = r;
                    }
                }
            }
            return;
        }
        // One pass: the kept findings (moved to their edges' new places) merged with the new.
        let (out, out_ranks) = self.spare;
        out.clear();
        out_ranks.clear();
        out.reserve(self.findings.len() + new.len());
        out_ranks.reserve(self.findings.len() + new.len());
        let mut new = new.into_iter().zip(new_ranks).peekable();
        for (mut f, rank) in self.findings.drain(..).zip(self.ranks.drain(..)) {
            if again(&rank) {
                continue;
            }
            let Some((edge, rank)) = moved(&f, rank, splices) else {
                continue;
            };
            f.edge = edge;
            while let Some((n, r)) = new.next_if(|(n, r)| order(n, &f).then(r.cmp(&rank)).is_lt()) {
                out.push(n);
                out_ranks.push(r);
            }
            out.push(f);
            out_ranks.push(rank);
        }
        for (n, r) in new {
            out.push(n);
            out_ranks.push(r);
        }
        std::mem::swap(self.findings, out);
        std::mem::swap(self.ranks, out_ranks);
    }
}

/// Whether two findings are the same but for their edge's position.
fn same_but_edge(a: &Finding, b: &Finding) -> bool {
    let Finding {
        id,
        severity,
        subject,
        message,
        remediation,
        object,
        origin,
        edge: _,
    } = a;
    *id == b.id
        && *severity == b.severity
        && *subject == b.subject
        && *message == b.message
        && *remediation == b.remediation
        && *object == b.object
        && *origin == b.origin
}
