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

/// Runs probes in the background and sends each result as a message.
async fn probe_sweep(
    requests: Vec<((String, String), crate::probe::ProbeRequest)>,
    tx: tokio::sync::mpsc::UnboundedSender<Msg>,
) {
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
/// panics (ratatui's hook) and SIGTERM.
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
    rt.block_on(run_async(snapshot, source, opts))
}

async fn run_async(
    snapshot: crate::snapshot::Snapshot,
    source: SourceLabel,
    opts: TuiOptions,
) -> Result<(), String> {
    let mut terminal =
        ratatui::try_init().map_err(|e| format!("cannot initialise the terminal: {e}"))?;
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
    if !opts.watch.is_empty() {
        tokio::spawn(watch::watch_files(
            opts.watch.clone(),
            Duration::from_millis(500),
            tx.clone(),
        ));
    }
    let mut live = opts
        .cluster
        .clone()
        .map(|target| live::LiveCluster::start(target, tx.clone()));
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(opts.tick);
    let mut frame = tokio::time::interval(Duration::from_millis(1000 / u64::from(opts.fps.max(1))));
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
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
            _ = frame.tick() => {
                if dirty {
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
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        probe_sweep(requests, tx).await;
                    });
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
