//! The edges of runs of routes evaluated on several threads, written where they end up in one
//! vector. Concatenating the runs' own vectors afterwards copied every edge after the first run
//! once more: at L, 15,000 edges of 472 bytes, about 2 ms in which the other core waited.

use super::super::Edge;
use std::mem::MaybeUninit;

/// Where [`super::evaluate_into`] puts a new edge.
pub(super) trait EdgeSink {
    /// Adds `edge` and gives it back where it now lies, to be evaluated in place.
    fn push_edge(&mut self, edge: Edge) -> &mut Edge;

    /// How many edges were added so far.
    fn written(&self) -> usize;
}

impl EdgeSink for Vec<Edge> {
    fn push_edge(&mut self, edge: Edge) -> &mut Edge {
        self.push(edge);
        self.last_mut().expect("an edge was just pushed")
    }

    fn written(&self) -> usize {
        self.len()
    }
}

/// Room for one run's edges, filled from the start.
pub(super) struct Slots<'v> {
    room: &'v mut [MaybeUninit<Edge>],
    filled: usize,
}

impl EdgeSink for Slots<'_> {
    fn push_edge(&mut self, edge: Edge) -> &mut Edge {
        // Past the room the run was given (more edges than its bound) this panics: a bug, but
        // not undefined behaviour.
        let slot = &mut self.room[self.filled];
        self.filled += 1;
        slot.write(edge)
    }

    fn written(&self) -> usize {
        self.filled
    }
}

impl Drop for Slots<'_> {
    /// Only reached when a run panics: the edges it wrote are dropped with it. Runs that
    /// finish hand their edges over to the vector instead ([`in_place`]).
    fn drop(&mut self) {
        for slot in &mut self.room[..self.filled] {
            // SAFETY: the first `filled` slots were written by `push_edge`, and nothing else
            // owns them: the vector's length does not cover them yet.
            unsafe { slot.assume_init_drop() }
        }
    }
}

/// One vector of the edges that `fill` writes for each run (run `i` has room for `bounds[i]`
/// edges), with what `fill` returns for each. The edges are in run order, as if the runs had
/// been written one after the other, with room for `room_after` more. `threads` scoped threads
/// take the runs in turn, each with its own `state`: a thread that the machine slows down takes
/// fewer runs. One of them does `beside` first, whose result comes last.
pub(super) fn in_place<S, R: Send, B: Send>(
    bounds: &[usize],
    room_after: usize,
    threads: usize,
    state: impl Fn() -> S + Sync,
    fill: impl Fn(usize, &mut Slots<'_>, &mut S) -> R + Sync,
    beside: impl FnOnce() -> B + Send,
) -> (Vec<Edge>, Vec<R>, B) {
    let total: usize = bounds.iter().sum();
    let mut edges: Vec<Edge> = Vec::with_capacity(total + room_after);
    let mut rooms = Vec::with_capacity(bounds.len());
    let mut rest = &mut edges.spare_capacity_mut()[..total];
    for &bound in bounds {
        let (room, later) = rest.split_at_mut(bound);
        rooms.push(Slots { room, filled: 0 });
        rest = later;
    }
    // A panic in a run is passed on here; every run's `Slots` then drops its own edges.
    let (done, aside) = super::super::in_turns_beside(
        rooms,
        threads,
        state,
        |i, mut slots, state| {
            let result = fill(i, &mut slots, state);
            (slots, result)
        },
        beside,
    );
    let mut filled = Vec::with_capacity(done.len());
    let mut results = Vec::with_capacity(done.len());
    for (slots, result) in done {
        filled.push(slots.filled);
        // The vector takes the edges over below.
        std::mem::forget(slots);
        results.push(result);
    }
    // Close the gaps left by runs that wrote fewer edges than their bound, run by run.
    let base = edges.as_mut_ptr();
    let (mut len, mut start) = (0, 0);
    for (&bound, &n) in bounds.iter().zip(&filled) {
        if start != len {
            // SAFETY: `start..start + n` holds this run's initialised edges and `len` ≤ `start`,
            // both within the capacity; `ptr::copy` allows the ranges to overlap. The edges left
            // behind are not dropped: the vector's length never covers them.
            unsafe { std::ptr::copy(base.add(start), base.add(len), n) };
        }
        len += n;
        start += bound;
    }
    // SAFETY: the first `len` elements are the runs' edges, each initialised and moved into
    // place exactly once, and `len` ≤ `total` ≤ the capacity.
    unsafe { edges.set_len(len) };
    (edges, results, aside)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posture::Mode;
    use std::sync::{Arc, LazyLock};

    /// An edge of the synthetic S cluster, numbered by `rule`, with a reason of its own.
    fn edge(rule: usize) -> Edge {
        static SAMPLE: LazyLock<Edge> = LazyLock::new(|| {
            let mut b = crate::snapshot::SnapshotBuilder::new();
            for o in crate::synth::generate(crate::synth::Size::S, 1) {
                crate::source::decode::add_value(&mut b, o, Default::default());
            }
            let snap = b.build(Default::default());
            let now = "2026-11-22T00:00:00Z".parse().unwrap();
            let posture = crate::posture::evaluate(&snap, now, &Default::default());
            posture.edges.into_iter().next().expect("S has edges")
        });
        let mut e = SAMPLE.clone();
        e.rule = rule;
        e.mode = Mode::Plaintext;
        e.reasons = vec![format!("reason {rule}").into()];
        e
    }

    /// Runs that write fewer edges than their room leave no gap, and the order is the runs';
    /// what is done beside the runs comes back with them, and the room asked for after them is
    /// there.
    #[test]
    fn runs_are_put_together_in_order_without_gaps() {
        let bounds = [4, 0, 5, 3];
        let writes = [2usize, 0, 5, 1];
        let (edges, results, aside) = in_place(
            &bounds,
            3,
            2,
            || (),
            |i, slots, _| {
                for k in 0..writes[i] {
                    slots.push_edge(edge(i * 10 + k)).mode = Mode::TlsVerified;
                }
                i
            },
            || "beside",
        );
        let rules: Vec<usize> = edges.iter().map(|e| e.rule).collect();
        assert_eq!(rules, [0, 1, 20, 21, 22, 23, 24, 30]);
        assert!(edges.iter().all(|e| e.mode == Mode::TlsVerified));
        assert_eq!(results, [0, 1, 2, 3]);
        assert_eq!(aside, "beside");
        // Room for the three edges to come after the runs' (the runs' bounds, 12, plus 3).
        assert!(edges.capacity() >= 15, "{}", edges.capacity());
    }

    /// A run that panics passes the panic on; the edges written so far are dropped once.
    #[test]
    fn a_panicking_run_drops_what_was_written() {
        let kept: Arc<str> = "shared".into();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            in_place(
                &[3, 3, 3],
                0,
                2,
                || (),
                |i, slots, _| {
                    for _ in 0..2 {
                        slots.push_edge(edge(i)).reasons.push(kept.clone());
                    }
                    assert!(i != 1, "run {i} fails");
                },
                || (),
            )
        }));
        assert!(outcome.is_err());
        // Every clone was dropped with its edge, and only once.
        assert_eq!(Arc::strong_count(&kept), 1);
    }

    /// More edges than a run's room is a panic, not a write past it.
    #[test]
    fn writing_past_the_room_panics() {
        let outcome = std::panic::catch_unwind(|| {
            in_place(
                &[1],
                0,
                1,
                || (),
                |_, slots, _| {
                    slots.push_edge(edge(0));
                    slots.push_edge(edge(1));
                },
                || (),
            )
        });
        assert!(outcome.is_err());
    }
}
