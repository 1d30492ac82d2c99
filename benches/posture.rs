//! Core benchmarks on synthetic clusters (`lastmile::synth`):
//! posture recompute for S/M/L (and 2×L, to show linear growth), an update of one route or one
//! policy in L (by a full recompute, and by the incremental evaluation), L and 2×L with the
//! route-level policies of `synth::route_policies`, and loading L from YAML
//! (parse + index + posture). Frames and UI updates are in
//! `benches/ui.rs`.
//!
//! `cargo bench --bench posture`; targets are in docs/PERFORMANCE.md. It first prints how many
//! allocations building L's snapshot and its posture make and how much heap each holds: exact
//! figures, where the times on a shared machine are not. It runs with the allocator settings
//! of the terminal UI (`lastmile::memory::keep_freed_memory_for_recomputes`).

use lastmile::model::Origin;
use lastmile::posture::{self, Options};
use lastmile::snapshot::{Snapshot, SnapshotBuilder, SourceInfo};
use lastmile::source::Decoded;
use lastmile::synth::{self, Size};
use serde_json::Value;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

/// mimalloc, as in the binary, with counters that are on only while [`allocations`] measures
/// (a shared counter would slow the timed runs).
struct Counted;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is passed on to mimalloc unchanged; the counters only observe it.
unsafe impl GlobalAlloc for Counted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCATIONS.fetch_add(1, Relaxed);
            LIVE_BYTES.fetch_add(layout.size() as i64, Relaxed);
        }
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Relaxed) {
            LIVE_BYTES.fetch_sub(layout.size() as i64, Relaxed);
        }
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCATIONS.fetch_add(1, Relaxed);
            LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
        }
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counted = Counted;

/// Allocations made by `f` and the heap its result holds. Exact where times on a shared VM are
/// not: a change that allocates more shows here whatever the load.
fn allocations<T>(f: impl FnOnce() -> T) -> (u64, f64, T) {
    ALLOCATIONS.store(0, Relaxed);
    LIVE_BYTES.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    let out = f();
    COUNTING.store(false, Relaxed);
    let mib = LIVE_BYTES.load(Relaxed) as f64 / (1024.0 * 1024.0);
    (ALLOCATIONS.load(Relaxed), mib, out)
}

/// CPU time this process has used, in seconds (user + system, every thread).
fn cpu_time() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces): utime and
    // stime are the 12th and 13th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    // The allocator settings of the terminal UI, which recomputes the posture on every change.
    lastmile::memory::keep_freed_memory_for_recomputes();
    // The decoder consumes its input: what the snapshot holds is what is left of the input's
    // heap plus what decoding added.
    LazyLock::force(&L_OBJECTS);
    let (_, input, objects) = allocations(|| L_OBJECTS.clone());
    let (n, freed_input_plus_held, snap) = allocations(|| snapshot_of(objects));
    let held = input + freed_input_plus_held;
    println!(
        "snapshot of L (decode + index, with each object's text): {n} allocations, holds {held:.1} MiB"
    );
    let (n, held, posture) = allocations(|| posture::evaluate(&snap, now(), &Options::default()));
    println!("posture recompute L: {n} allocations, the posture holds {held:.1} MiB");
    drop(posture);
    // CPU time (every thread's) varies less than wall time when the VM's neighbours are busy.
    let runs = 10;
    let before = cpu_time();
    for _ in 0..runs {
        drop(posture::evaluate(&snap, now(), &Options::default()));
    }
    let per_run = (cpu_time() - before) / runs as f64;
    println!(
        "posture recompute L: {:.0} ms of CPU per run (evaluating and freeing, all threads, mean of {runs})",
        per_run * 1000.0
    );
    drop(snap);
    doubling_in_alternation();
    growth_from_half_l_to_4l();
    divan::main();
}

/// 2×L against L with both snapshots built the same way and evaluated in turn, L then 2×L,
/// round after round: the speed of a shared VM drifts over the seconds between divan's runs of
/// one size and the other, and here both sizes see the same drift. Prints the medians and
/// their ratio beside the target (≤ 2×), for the synthetic clusters and for them with
/// [`synth::route_policies`] added.
fn doubling_in_alternation() {
    in_alternation(
        "posture recompute 2L / L",
        snapshot_of(synth::generate(Size::L, 1)),
        snapshot_of(synth::generate(Size::L.doubled(), 1)),
    );
    in_alternation(
        "posture recompute 2L / L with route policies",
        with_route_policies(Size::L),
        with_route_policies(Size::L.doubled()),
    );
}

/// [`doubling_in_alternation`] of two snapshots, printed under `title`.
fn in_alternation(title: &str, l: Snapshot, l2: Snapshot) {
    let time = |snap: &Snapshot| timed_evaluation(snap).0;
    // One of each first: the heap grows to its size for both.
    time(&l);
    time(&l2);
    let rounds = 15;
    let (mut at_l, mut at_l2): (Vec<f64>, Vec<f64>) =
        (0..rounds).map(|_| (time(&l), time(&l2))).unzip();
    let (ml, ml2) = (median(&mut at_l), median(&mut at_l2));
    println!(
        "{title}, evaluated in turn ({rounds} rounds): L {ml:.1} ms, 2L {ml2:.1} ms (medians), ratio {:.2} (target <= 2)",
        ml2 / ml
    );
}

/// How the time grows beyond one doubling: L/2, L, 2×L and 4×L evaluated in turn, round after
/// round (as [`in_alternation`]). Prints each size's median, its time per edge and the ratio to
/// the size before: a join that grows faster than the cluster shows as a time per edge that
/// grows with each doubling, where one ratio alone can be the machine's noise.
fn growth_from_half_l_to_4l() {
    let sizes = [
        ("L/2", Size::L.scaled(1, 2)),
        ("L", Size::L),
        ("2L", Size::L.scaled(2, 1)),
        ("4L", Size::L.scaled(4, 1)),
    ];
    let snaps: Vec<Snapshot> = sizes
        .iter()
        .map(|(_, size)| snapshot_of(synth::generate(*size, 1)))
        .collect();
    let rounds = 9;
    let mut at: Vec<Vec<f64>> = vec![Vec::new(); snaps.len()];
    let mut edges = vec![0; snaps.len()];
    // The first round grows the heap to each size's and is not counted.
    for round in 0..=rounds {
        for (k, snap) in snaps.iter().enumerate() {
            let (ms, n) = timed_evaluation(snap);
            edges[k] = n;
            if round > 0 {
                at[k].push(ms);
            }
        }
    }
    let mut before: Option<f64> = None;
    for (((name, _), times), edges) in sizes.iter().zip(&mut at).zip(edges) {
        let median = median(times);
        let ratio = before.map_or(String::new(), |b| {
            format!(", {:.2}x the size before (target <= 2)", median / b)
        });
        println!(
            "posture recompute {name:>3}, evaluated in turn ({rounds} rounds): {median:6.1} ms (median), {:.3} us per edge ({edges} edges){ratio}",
            median * 1000.0 / edges as f64
        );
        before = Some(median);
    }
}

/// Milliseconds one evaluation of `snap` takes (the posture freed after the clock stops), and
/// its number of edges.
fn timed_evaluation(snap: &Snapshot) -> (f64, usize) {
    let start = std::time::Instant::now();
    let posture = posture::evaluate(snap, now(), &Options::default());
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    (ms, posture.edges.len())
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn now() -> jiff::Timestamp {
    "2026-11-22T00:00:00Z".parse().unwrap()
}

fn size(name: &str) -> Size {
    match name {
        "2L" => Size::L.doubled(),
        other => Size::parse(other).expect("S, M, L or 2L"),
    }
}

/// Decodes and indexes `objects` (consumed, as the sources do).
fn snapshot_of(objects: impl IntoIterator<Item = Value>) -> Snapshot {
    let mut b = SnapshotBuilder::new();
    for o in objects {
        lastmile::source::decode::add_value(&mut b, o, Default::default());
    }
    b.build(SourceInfo::default())
}

static L_OBJECTS: LazyLock<Vec<Value>> = LazyLock::new(|| synth::generate(Size::L, 1));
static L_SNAPSHOT: LazyLock<Snapshot> = LazyLock::new(|| snapshot_of(L_OBJECTS.iter().cloned()));

#[divan::bench(args = ["S", "M", "L", "2L"], sample_count = 20)]
fn posture_recompute(bencher: divan::Bencher, name: &str) {
    let snap = if name == "L" {
        L_SNAPSHOT.clone()
    } else {
        snapshot_of(synth::generate(size(name), 1))
    };
    bencher.bench(|| posture::evaluate(&snap, now(), &Options::default()));
}

/// The synthetic cluster of `size` with [`synth::route_policies`]: a SecurityPolicy for every
/// fifth route and a policy whose Service is gone for every tenth policy.
fn with_route_policies(size: Size) -> Snapshot {
    let mut objects = synth::generate(size, 1);
    let extra = synth::route_policies(&objects, size);
    objects.extend(extra);
    snapshot_of(objects)
}

/// The recompute of L and 2×L with [`synth::route_policies`] added: what is looked up by route
/// (each SecurityPolicy's target) and by Service name in every namespace (each stale policy's)
/// grows linearly too.
#[divan::bench(args = ["L", "2L"], sample_count = 10)]
fn posture_recompute_with_route_policies(bencher: divan::Bencher, name: &str) {
    let snap = with_route_policies(size(name));
    bencher.bench(|| posture::evaluate(&snap, now(), &Options::default()));
}

/// The position in L of the first object of `kind`, and that object changed (a new backendRef
/// weight or a new policy hostname).
fn one_change(kind: &str) -> (usize, Value) {
    let i = L_OBJECTS
        .iter()
        .position(|o| o["kind"] == kind)
        .expect("kind present");
    let mut o = L_OBJECTS[i].clone();
    match kind {
        "HTTPRoute" => o["spec"]["rules"][0]["backendRefs"][0]["weight"] = 7.into(),
        _ => o["spec"]["validation"]["hostname"] = "changed.example.com".into(),
    }
    (i, o)
}

/// Every object of L decoded once, as the live source's store keeps them.
static L_DECODED: LazyLock<Vec<Decoded>> = LazyLock::new(|| {
    L_OBJECTS
        .iter()
        .map(|o| Decoded::new(o.clone(), Origin::default()))
        .collect()
});

/// What the live source does when one object changes: decode that object, build a snapshot
/// from the stored decoded objects (copied, not decoded again) and recompute the posture.
#[divan::bench(args = ["HTTPRoute", "BackendTLSPolicy"], sample_count = 10)]
fn update_one_object_in_l(bencher: divan::Bencher, kind: &str) {
    let (changed, object) = one_change(kind);
    let origin = Origin::default();
    LazyLock::force(&L_DECODED);
    bencher.bench(|| {
        let fresh = Decoded::new(object.clone(), origin.clone());
        let mut b = SnapshotBuilder::new();
        for (i, d) in L_DECODED.iter().enumerate() {
            if i == changed {
                fresh.replay(&mut b, &origin);
            } else {
                d.replay(&mut b, &origin);
            }
        }
        let snap = b.build(SourceInfo::default());
        posture::evaluate(&snap, now(), &Options::default())
    });
}

/// The same change through the incremental evaluation (`posture::Incremental`), which puts the
/// decoded object in place in its snapshot and evaluates again only what depends on it. Each
/// iteration alternates between the changed object and the original, so every one is a change.
#[divan::bench(args = ["HTTPRoute", "BackendTLSPolicy"], sample_count = 20, sample_size = 10)]
fn incremental_update_in_l(bencher: divan::Bencher, kind: &str) {
    let (changed, object) = one_change(kind);
    let versions = [object, L_OBJECTS[changed].clone()];
    let origin = Origin::default();
    let mut engine = posture::Incremental::new(L_SNAPSHOT.clone(), now(), Options::default());
    let mut turn = 0;
    bencher.bench_local(|| {
        turn += 1;
        let fresh = Decoded::new(versions[turn % 2].clone(), origin.clone());
        let (object, raw) = fresh.only_object().expect("one object");
        engine
            .replace(object, origin.clone(), raw, now())
            .expect("taken in place")
    });
}

/// The full evaluation of L that the incremental evaluation starts from (the live UI's
/// evaluation of every new snapshot): [`posture::evaluate`] plus the per-route records and
/// indexes an update needs.
#[divan::bench(sample_count = 10)]
fn incremental_start_l(bencher: divan::Bencher) {
    bencher
        .with_inputs(|| L_SNAPSHOT.clone())
        .bench_values(|snap| posture::Incremental::new(snap, now(), Options::default()));
}

#[divan::bench(sample_count = 5)]
fn load_l_from_yaml(bencher: divan::Bencher) {
    let yaml = synth::to_yaml(&L_OBJECTS);
    bencher.bench(|| {
        let snap = lastmile::source::from_text(&yaml, "l.yaml");
        posture::evaluate(&snap, now(), &Options::default())
    });
}
