//! The order findings are shown and reported in, and the sort that puts a large cluster's
//! tens of thousands of findings in it.

use super::{Finding, Severity};

/// The order findings are shown and reported in: most severe first, then rule id, then subject.
/// Stable, so findings that compare equal keep the order they were raised in.
pub(crate) fn sort(findings: &mut [Finding]) {
    // A finding is large: sort their positions (stably, so ties keep their order) and move each
    // finding once, rather than moving findings at every step of the sort. The moves follow
    // the permutation's cycles in place: no second array of findings (5 MiB at L, at the
    // moment the posture's heap peaks).
    let at = sorted_positions(findings.iter(), |_, _| std::cmp::Ordering::Equal);
    let ahead = ask_for_item(findings);
    permute(at, |a, b| findings.swap(a, b), ahead);
}

/// The positions of `findings` in [`order`], ties broken by `tie` (of two positions) and then
/// by position. Findings are first put in buckets of equal severity and rule by counting (a
/// large snapshot has tens of thousands of findings but a few dozen buckets), then each bucket
/// is sorted by subject: findings are raised in route order, so a bucket is mostly in order
/// already (a run per kind of route) and [`sort_runs`] puts it in order in one pass.
pub(crate) fn sorted_positions<'f>(
    findings: impl Iterator<Item = &'f Finding> + Clone,
    tie: impl Fn(usize, usize) -> std::cmp::Ordering,
) -> Vec<u32> {
    /// What the sort reads of a finding, read once in order (a finding is large: reading it
    /// again at every comparison, in bucket order, goes to memory for most of them).
    #[derive(Clone, Copy)]
    struct Key<'f> {
        subject: &'f str,
        /// The low bits of the address of the finding's object text (the findings of a
        /// route's edges share it): only where runs of one object end depends on it.
        object: u32,
        at: u32,
    }
    // Buckets are found by the rule id's address (ids are static texts: hashing an address is
    // cheaper than hashing the text, and consecutive findings mostly share their rule), then
    // ids written at two addresses are put in one bucket by their text.
    let mut bucket_at: foldhash::HashMap<(Severity, usize, usize), u32> = Default::default();
    let mut keys: Vec<(Severity, &str)> = Vec::new();
    let mut last: Option<((Severity, usize, usize), u32)> = None;
    let buckets: Vec<u32> = findings
        .clone()
        .map(|f| {
            let at = (f.severity, f.id.as_ptr() as usize, f.id.len());
            if let Some((kept, b)) = last
                && kept == at
            {
                return b;
            }
            let b = *bucket_at.entry(at).or_insert_with(|| {
                let b = keys
                    .iter()
                    .position(|&k| k == (f.severity, f.id))
                    .unwrap_or_else(|| {
                        keys.push((f.severity, f.id));
                        keys.len() - 1
                    });
                b as u32
            });
            last = Some((at, b));
            b
        })
        .collect();
    let mut counts = vec![0u32; keys.len()];
    for &b in &buckets {
        counts[b as usize] += 1;
    }
    // Where each bucket starts, the buckets in order (most severe first, then rule id).
    let mut in_order: Vec<usize> = (0..keys.len()).collect();
    in_order.sort_by(|&a, &b| keys[b].0.cmp(&keys[a].0).then(keys[a].1.cmp(keys[b].1)));
    let mut start = vec![0u32; keys.len()];
    let mut ranges = Vec::with_capacity(keys.len());
    let mut next = 0u32;
    for b in in_order {
        start[b] = next;
        ranges.push(next as usize..(next + counts[b]) as usize);
        next += counts[b];
    }
    // The findings read a second time, in order, each key put in its bucket.
    let mut sorted: Vec<Key> = vec![
        Key {
            subject: "",
            object: 0,
            at: 0,
        };
        buckets.len()
    ];
    for (i, (f, b)) in findings.zip(buckets).enumerate() {
        let slot = &mut start[b as usize];
        sorted[*slot as usize] = Key {
            subject: &f.subject,
            object: f.object.as_ptr() as usize as u32,
            at: i as u32,
        };
        *slot += 1;
    }
    let cmp = |a: &Key, b: &Key| {
        // The findings of one edge share their subject: equal without reading it.
        let by_subject = if std::ptr::eq(a.subject, b.subject) {
            std::cmp::Ordering::Equal
        } else {
            a.subject.cmp(b.subject)
        };
        by_subject.then_with(|| tie(a.at as usize, b.at as usize))
    };
    for range in ranges {
        let bucket = &mut sorted[range];
        // The findings of one object (a route's edges) come one after another, and objects
        // mostly in the order of their subjects: put each object's run in order first, and
        // `sort_runs` then finds the bucket in a few runs in order. A stable sort of a run keeps
        // equal findings in their order: the result is the same (and where the runs end
        // changes only how much work that takes).
        let mut start = 0;
        while start < bucket.len() {
            let object = bucket[start].object;
            let mut end = start;
            while end < bucket.len() && bucket[end].object == object {
                // The subjects the sorts below read, asked for a few findings ahead.
                if let Some(later) = bucket.get(end + TEXTS_AHEAD) {
                    crate::posture::prefetch(later.subject.as_ptr());
                }
                end += 1;
            }
            if end - start > 1 {
                bucket[start..end].sort_by(cmp);
            }
            start = end;
        }
        sort_runs(bucket, |k| k.subject.as_ptr(), cmp);
    }
    sorted.into_iter().map(|k| k.at).collect()
}

/// Sorts `items` by `cmp` stably, as `sort_by` does, for items mostly in order already: a few
/// runs in order one after another, whose ranges do not overlap. The findings of one rule are
/// raised route after route, and the snapshot orders routes by kind, then name: a bucket is a
/// run for each kind of route, the kinds in another order than their texts. Such runs are
/// put in order by moving them, without comparing the items again (which reads their
/// subjects, a cache miss each on a large cluster). The runs are found in one pass that asks
/// for the texts `text` points to a few items ahead; other orders are sorted by `sort_by`.
pub(super) fn sort_runs<T: Copy>(
    items: &mut [T],
    text: impl Fn(&T) -> *const u8,
    cmp: impl Fn(&T, &T) -> std::cmp::Ordering,
) {
    use std::cmp::Ordering::{Greater, Less};
    /// More runs than this are left to `sort_by`.
    const MOST_RUNS: usize = 16;
    let mut starts = vec![0];
    for i in 1..items.len() {
        if let Some(later) = items.get(i + TEXTS_AHEAD) {
            crate::posture::prefetch(text(later));
        }
        if cmp(&items[i - 1], &items[i]) == Greater {
            if starts.len() == MOST_RUNS {
                items.sort_by(cmp);
                return;
            }
            starts.push(i);
        }
    }
    if starts.len() == 1 {
        return;
    }
    let mut runs: Vec<std::ops::Range<usize>> = starts
        .iter()
        .zip(starts.iter().skip(1).chain([&items.len()]))
        .map(|(&start, &end)| start..end)
        .collect();
    runs.sort_by(|a, b| cmp(&items[a.start], &items[b.start]));
    // Each run's last item before the next run's first: no item of one run falls among
    // another's, and no two runs hold equal items (whose order a stable sort keeps).
    let apart = runs
        .windows(2)
        .all(|w| cmp(&items[w[0].end - 1], &items[w[1].start]) == Less);
    if !apart {
        items.sort_by(cmp);
        return;
    }
    let mut in_order = Vec::with_capacity(items.len());
    for run in runs {
        in_order.extend_from_slice(&items[run]);
    }
    items.copy_from_slice(&in_order);
}

/// For [`permute`]: asks for the item at a position of `items` (each of whose cache lines).
pub(super) fn ask_for_item<T>(items: &[T]) -> impl Fn(usize) + use<T> {
    let base = items.as_ptr();
    move |at| crate::posture::prefetch_all(base.wrapping_add(at))
}

/// How many items ahead [`sort_runs`] and [`permute`] ask for what they will read.
const TEXTS_AHEAD: usize = 8;

/// Moves position `at[k]` to position `k` for every k, by following the permutation's cycles
/// with `swap`. `ahead(p)` is told the positions a cycle will swap a few swaps before they
/// are: the items are large and far apart in memory, and each swap would otherwise wait for
/// its item to arrive before the next is asked for.
pub(super) fn permute(mut at: Vec<u32>, mut swap: impl FnMut(usize, usize), ahead: impl Fn(usize)) {
    // Position k receives the item at `at[k]`; a placed position is marked `at[k] == k`.
    for start in 0..at.len() {
        let mut k = start;
        // Walks the cycle TEXTS_AHEAD positions ahead of `k`, over positions not yet placed
        // (their `at` unchanged), until it comes round to `start`.
        let mut lead = start;
        for _ in 0..TEXTS_AHEAD {
            lead = at[lead] as usize;
            if lead == start {
                break;
            }
            ahead(lead);
        }
        loop {
            let from = at[k] as usize;
            at[k] = k as u32;
            if from == start {
                break;
            }
            if lead != start {
                lead = at[lead] as usize;
                ahead(lead);
            }
            swap(k, from);
            k = from;
        }
    }
}

/// The findings order: most severe first, then rule id, then subject (ties keep their order).
pub(crate) fn order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    b.severity
        .cmp(&a.severity)
        .then_with(|| a.id.cmp(b.id))
        .then_with(|| a.subject.cmp(&b.subject))
}
