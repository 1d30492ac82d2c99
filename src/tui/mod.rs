//! The terminal UI: a tokio event loop around [`app::App`]. Input, the source watcher and the
//! clock feed one message stream; `App::update` returns effects; drawing only reads the app.

pub mod app;
pub mod keymap;
mod live;
pub mod nav;
pub mod rows;
pub mod theme;
pub mod tree;
pub mod ui;
mod watch;

use app::{App, Effect, Msg, SourceLabel};
use base64::Engine;
use crossterm::event::{
    Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind,
};
use futures::StreamExt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use theme::{Theme, ThemeName};

/// How the UI should run.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    pub theme: ThemeName,
    /// Files to re-read when they change (`--watch`); empty for none.
    pub watch: Vec<PathBuf>,
    pub mouse: bool,
    /// How often the clock ticks (ages, "updated N s ago").
    pub tick: Duration,
    /// Upper bound on redraws per second.
    pub fps: u32,
    /// Backend -> `HOST:PORT` addresses to probe instead of the backend's own.
    pub probe_overrides: std::collections::HashMap<String, String>,
    /// Start the demo's local TLS backends (`--demo`).
    pub demo_servers: bool,
    /// Read a live cluster (kubeconfig context) instead of a static snapshot.
    pub cluster: Option<crate::source::cluster::ClusterTarget>,
    /// Engine options (e.g. the Envoy Gateway release).
    pub options: crate::posture::Options,
}

/// `LASTMILE_TEST_PANIC`, read once at startup: a deliberate panic for the tests that check the
/// terminal is restored (`draw`: while drawing the first frame; `probe`: inside the background
/// probe sweep task, when `p`/`P` starts one). Not a user feature: not in the help or the README.
fn test_panic() -> Option<&'static str> {
    static WHERE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    WHERE
        .get_or_init(|| std::env::var("LASTMILE_TEST_PANIC").ok())
        .as_deref()
}

/// Set by the panic hook: the terminal has been restored, so the UI must not draw again.
static PANICKED: AtomicBool = AtomicBool::new(false);

/// Wraps the panic hook that `ratatui::init` installed (it restores the terminal, then prints
/// the message): the panic is also logged, and the event loop stops drawing.
fn install_panic_hook() {
    let restore_and_print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        tracing::error!("panic: {info}");
        restore_and_print(info);
    }));
}

/// Spawns a background task of the UI; if it panics, `failed` gets a message and the UI ends.
fn spawn_supervised<F>(
    what: &'static str,
    fut: F,
    failed: &tokio::sync::mpsc::UnboundedSender<String>,
) -> tokio::task::AbortHandle
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let handle = tokio::spawn(fut);
    let abort = handle.abort_handle();
    let failed = failed.clone();
    tokio::spawn(async move {
        if let Err(e) = handle.await
            && e.is_panic()
        {
            let p = e.into_panic();
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            let _ = failed.send(format!("the {what} task panicked: {msg}"));
        }
    });
    abort
}

/// Runs probes in the background and sends each result as a message.
async fn probe_sweep(
    requests: Vec<((String, String), crate::probe::ProbeRequest)>,
    tx: tokio::sync::mpsc::UnboundedSender<Msg>,
) {
    if test_panic() == Some("probe") {
        panic!("LASTMILE_TEST_PANIC=probe: injected panic in the probe sweep");
    }
    crate::probe::sweep::sweep(requests, 32, |id, report| {
        let _ = tx.send(Msg::ProbeDone(id, Box::new(report)));
    })
    .await;
}

/// Writes an OSC 52 "set clipboard" sequence (works over SSH in most terminals).
fn copy_osc52(text: &str) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{b64}\x07");
    let _ = out.flush();
}

/// Runs the UI until the user quits. The terminal is restored on every exit path, including
/// panics (ratatui's hook, also for a panic in a background task, which ends the UI with an
/// error), SIGTERM and SIGINT.
pub fn run(
    snapshot: crate::snapshot::Snapshot,
    source: SourceLabel,
    opts: TuiOptions,
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let result = rt.block_on(run_async(snapshot, source, opts));
    // Probes and watches still in flight are abandoned, not waited for: quitting is prompt.
    rt.shutdown_timeout(Duration::from_millis(200));
    result
}

async fn run_async(
    snapshot: crate::snapshot::Snapshot,
    source: SourceLabel,
    opts: TuiOptions,
) -> Result<(), String> {
    let mut terminal =
        ratatui::try_init().map_err(|e| format!("cannot initialise the terminal: {e}"))?;
    install_panic_hook();
    if opts.mouse {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture);
    }
    let result = event_loop(&mut terminal, snapshot, source, &opts).await;
    if opts.mouse {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
    }
    ratatui::restore();
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    snapshot: crate::snapshot::Snapshot,
    source: SourceLabel,
    opts: &TuiOptions,
) -> Result<(), String> {
    let mut app = App::new(
        snapshot,
        jiff::Timestamp::now(),
        source,
        Theme::from_env(opts.theme),
    );
    app.probe_overrides = opts.probe_overrides.clone();
    if opts.options != app.options {
        app.set_options(opts.options.clone());
    }
    if opts.demo_servers {
        match crate::demo_servers::start().await {
            Ok(servers) => {
                for (k, v) in servers {
                    app.probe_overrides.entry(k).or_insert(v);
                }
            }
            Err(e) => tracing::warn!("demo backends not started: {e}"),
        }
    }
    if let Ok(size) = terminal.size() {
        app.update(Msg::Resize(size.width, size.height));
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let (failed_tx, mut failed) = tokio::sync::mpsc::unbounded_channel::<String>();
    if !opts.watch.is_empty() {
        spawn_supervised(
            "file watch",
            watch::watch_files(
                opts.watch.clone(),
                Duration::from_millis(500),
                tx.clone(),
                app.options.clone(),
                app.row_query(),
            ),
            &failed_tx,
        );
    }
    let mut live = opts.cluster.clone().map(|target| {
        live::LiveCluster::start(
            target,
            opts.options.clone(),
            app.row_query(),
            tx.clone(),
            failed_tx.clone(),
        )
    });
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(opts.tick);
    let mut frame = tokio::time::interval(Duration::from_millis(1000 / u64::from(opts.fps.max(1))));
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    // In raw mode Ctrl-C is a key; SIGINT still comes from `kill -INT` or a parent process.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| e.to_string())?;
    let mut dirty = true;
    loop {
        let msg = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => Msg::Key(k),
                Some(Ok(Event::Resize(w, h))) => Msg::Resize(w, h),
                Some(Ok(Event::Mouse(m))) if opts.mouse => match m.kind {
                    MouseEventKind::ScrollUp => Msg::Key(KeyEvent::new(KeyCode::Up, KeyModifiers::NONE)),
                    MouseEventKind::ScrollDown => Msg::Key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE)),
                    _ => continue,
                },
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("reading terminal input: {e}")),
                None => return Ok(()),
            },
            Some(msg) = rx.recv() => msg,
            _ = tick.tick() => Msg::Tick(jiff::Timestamp::now()),
            _ = sigterm.recv() => return Ok(()),
            _ = sigint.recv() => return Ok(()),
            Some(why) = failed.recv() => return Err(why),
            _ = frame.tick() => {
                if PANICKED.load(Ordering::SeqCst) {
                    // A task panicked: the hook restored the terminal and printed the message;
                    // drawing now would paint over it. Its supervisor reports it next.
                    continue;
                }
                if dirty {
                    if test_panic() == Some("draw") {
                        terminal.draw(|_| panic!("LASTMILE_TEST_PANIC=draw: injected panic while drawing"))
                            .map_err(|e| format!("drawing: {e}"))?;
                    }
                    terminal.draw(|f| ui::draw(f, &app)).map_err(|e| format!("drawing: {e}"))?;
                    dirty = false;
                }
                continue;
            }
        };
        tracing::trace!(?msg, "message");
        for effect in app.update(msg) {
            match effect {
                Effect::Quit => return Ok(()),
                Effect::Copy(text) => copy_osc52(&text),
                Effect::Probe(requests) => {
                    spawn_supervised("probe sweep", probe_sweep(requests, tx.clone()), &failed_tx);
                }
                Effect::SwitchContext(name) => {
                    if let Some(l) = live.as_mut() {
                        l.switch_context(name, tx.clone());
                    }
                }
                Effect::Rescope(ns) => {
                    if let Some(l) = live.as_mut() {
                        l.rescope(ns, tx.clone());
                    }
                }
            }
        }
        dirty = true;
    }
}
