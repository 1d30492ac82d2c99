//! UI-thread benchmarks on the synthetic L cluster (`lastmile::synth`): what the UI task spends
//! when a new posture arrives (`App::update(Msg::Evaluated(..))`: the rows come built, filtered and sorted), with
//! the Backends or the Tree view showing.
//!
//! One frame of each view at L on a 200×60 TestBackend, and each finished probe of a sweep of L.
//!
//! `cargo bench --bench ui`; targets are in docs/PERFORMANCE.md.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lastmile::posture::{self, Options, Posture};
use lastmile::snapshot::{Snapshot, SnapshotBuilder, SourceInfo};
use lastmile::synth::{self, Size};
use lastmile::tui::app::{App, Effect, Evaluation, Msg, SourceLabel};
use lastmile::tui::theme::{Theme, ThemeName};
use ratatui::{Terminal, backend::TestBackend};
use std::sync::LazyLock;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // The allocator settings of the terminal UI, whose work these benchmarks measure.
    lastmile::memory::keep_freed_memory_for_recomputes();
    divan::main();
}

fn now() -> jiff::Timestamp {
    "2026-11-22T00:00:00Z".parse().unwrap()
}

static L_SNAPSHOT: LazyLock<Snapshot> = LazyLock::new(|| {
    let mut b = SnapshotBuilder::new();
    for o in synth::generate(Size::L, 1) {
        lastmile::source::decode::add_value(&mut b, o, Default::default());
    }
    b.build(SourceInfo::default())
});
static L_POSTURE: LazyLock<Posture> =
    LazyLock::new(|| posture::evaluate(&L_SNAPSHOT, now(), &Options::default()));

/// The app on L at 200×60 showing `view`, drawn once (as the UI would have).
fn l_app(view: &str) -> App {
    let label = SourceLabel {
        kind: "files".into(),
        description: "synthetic L".into(),
        live: true,
    };
    let mut app = App::new(
        L_SNAPSHOT.clone(),
        now(),
        label,
        Theme::new(ThemeName::Dark),
    );
    app.update(Msg::Resize(200, 60));
    if view == "tree" {
        app.update(Msg::Key(KeyEvent::from(KeyCode::Char('2'))));
        // Something selected and something opened below the default depth.
        for k in [KeyCode::Down, KeyCode::Down, KeyCode::Down, KeyCode::Right] {
            app.update(Msg::Key(KeyEvent::from(k)));
        }
    }
    if view == "findings filtered" {
        // The Findings view with a filter that matches about a third of L's 32,000 findings.
        for c in ":findings\r/plaintext-to\r".chars() {
            let code = match c {
                '\r' => KeyCode::Enter,
                c => KeyCode::Char(c),
            };
            app.update(Msg::Key(KeyEvent::from(code)));
        }
    }
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    terminal.draw(|f| lastmile::tui::ui::draw(f, &app)).unwrap();
    app
}

/// A new snapshot and posture of L arrive (the posture computed off the UI task, as the live
/// source does): the time `update` takes on the UI task, dropping the previous ones included.
#[divan::bench(args = ["backends", "tree"], sample_count = 10, sample_size = 1)]
fn posture_update_l(bencher: divan::Bencher, view: &str) {
    let mut app = l_app(view);
    // The query the evaluation thread reads from the UI.
    let query = app.row_query().borrow().clone();
    bencher
        .with_inputs(|| {
            Msg::Evaluated(Box::new(Evaluation::new(
                L_SNAPSHOT.clone(),
                L_POSTURE.clone(),
                query.clone(),
            )))
        })
        .bench_local_values(|msg| {
            app.update(msg);
        });
}

/// A probe sweep of L (`P`: every edge where TLS is intended or the port looks like TLS) as the
/// results come in: the time `update` takes on the UI task for each finished probe.
#[divan::bench(sample_count = 10, sample_size = 100)]
fn probe_result_l(bencher: divan::Bencher) {
    let mut app = l_app("backends");
    let effects = app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('P'),
        KeyModifiers::SHIFT,
    )));
    let Some(Effect::Probe(requests)) = effects.into_iter().next() else {
        panic!("P starts a sweep")
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A connection closed at once stands in for each backend: a finished probe, quickly made.
    let results: Vec<_> = requests
        .into_iter()
        .take(2_000)
        .map(|(id, req)| {
            let (client, server) = tokio::io::duplex(64);
            drop(server);
            (id, rt.block_on(lastmile::probe::probe_stream(client, &req)))
        })
        .collect();
    let mut next = results.into_iter().cycle();
    bencher
        .with_inputs(|| {
            let (id, report) = next.next().expect("cycles");
            Msg::ProbeDone(id, Box::new(report))
        })
        .bench_local_values(|msg| {
            app.update(msg);
        });
}

/// One frame of the Backends or Tree view, or of the Findings view with a filter, at L
/// (200×60), as drawn on every tick.
#[divan::bench(args = ["backends", "tree", "findings filtered"], sample_count = 20)]
fn render_frame_l(bencher: divan::Bencher, view: &str) {
    let app = l_app(view);
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    bencher.bench_local(|| {
        terminal.draw(|f| lastmile::tui::ui::draw(f, &app)).unwrap();
    });
}
