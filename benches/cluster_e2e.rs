//! End-to-end figures against the in-process test API server (tests/support/apiserver) holding
//! the synthetic L cluster:
//! - time from start to the first complete Backends frame, beside the time `kubectl get` needs to
//!   list the same kinds from the same server (the ratio is the target: ≤ 1.0);
//! - peak RSS of `lastmile check` reading L from the server (`--format json`, and `--format text`
//!   without the JSON report), beside the size of the raw JSON of the listed objects (target ≤ 2×);
//! - a route changed on the server until the Backends frame shows it, as the live UI takes it:
//!   sent as a change and put in place by the incremental evaluation, or (as before it) sent as
//!   a new snapshot and evaluated in full. Both include the source's 80 ms coalescing wait.
//!
//! `cargo bench --bench cluster_e2e` (RUNS=N, SIZE=S|M|L). Needs kubectl and /usr/bin/time.

#[path = "../tests/support/apiserver/mod.rs"]
#[allow(dead_code, clippy::all)]
mod apiserver;

use apiserver::{ServerConfig, TestApiServer};
use lastmile::posture::{Incremental, Options};
use lastmile::source::cluster::{self, ClusterTarget, Update};
use lastmile::tui::app::{App, Evaluation, Msg, SourceLabel};
use lastmile::tui::theme::{Theme, ThemeName};
use ratatui::{Terminal, backend::TestBackend};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const KINDS: &str = "gatewayclasses.gateway.networking.k8s.io,gateways.gateway.networking.k8s.io,httproutes.gateway.networking.k8s.io,grpcroutes.gateway.networking.k8s.io,tlsroutes.gateway.networking.k8s.io,referencegrants.gateway.networking.k8s.io,backendtlspolicies.gateway.networking.k8s.io,services,configmaps,backends.gateway.envoyproxy.io,envoyproxies.gateway.envoyproxy.io,securitypolicies.gateway.envoyproxy.io,envoyextensionpolicies.gateway.envoyproxy.io,serviceimports.multicluster.x-k8s.io";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A two-thread runtime, as the binary's.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn connect(kubeconfig: &Path) -> cluster::Connection {
    cluster::connect(&ClusterTarget {
        kubeconfig: Some(kubeconfig.to_path_buf()),
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Start -> connected -> every kind listed -> posture -> one Backends frame drawn.
fn first_frame(kubeconfig: &Path) -> Duration {
    let rt = runtime();
    let t0 = Instant::now();
    let snapshot = rt.block_on(async {
        let conn = connect(kubeconfig).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(cluster::run_with(conn, None, tx));
        let snap = loop {
            match rx.recv().await.expect("source runs") {
                Update::Snapshot(s) => break s,
                Update::State(_) | Update::Changed(_) => {}
            }
        };
        task.abort();
        snap
    });
    let label = SourceLabel {
        kind: "cluster".into(),
        description: String::new(),
        live: true,
    };
    let mut app = App::new(
        *snapshot,
        jiff::Timestamp::now(),
        label,
        Theme::new(ThemeName::Dark),
    );
    app.update(Msg::Resize(200, 60));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    terminal.draw(|f| lastmile::tui::ui::draw(f, &app)).unwrap();
    let t = t0.elapsed();
    assert!(app.posture.edges.len() > 100, "the frame shows the cluster");
    t
}

/// `lastmile` in the release directory this bench was built into (`…/release/deps/cluster_e2e-…`
/// → `…/release/lastmile`), so a `CARGO_TARGET_DIR` elsewhere is honoured.
fn release_binary() -> std::path::PathBuf {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("lastmile")));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    beside
        .filter(|p| p.exists())
        .unwrap_or_else(|| target.join("release/lastmile"))
}

/// A route of `objects` changed on `server` (a new weight each time), until the Backends frame
/// drawn after it shows the new posture; `changes`: the source sends it as a change, put in
/// place by the incremental evaluation (what the live UI does), or as a new snapshot evaluated
/// in full. Every step of the live UI's path is here: the change reaching the source, the
/// evaluation, the copy of snapshot and posture with the Backends rows for the UI task, the UI
/// taking them, and drawing.
fn update_to_frame(
    kubeconfig: &Path,
    server: &TestApiServer,
    route: &serde_json::Value,
    changes: bool,
    runs: usize,
) -> Vec<f64> {
    runtime().block_on(async {
        let conn = connect(kubeconfig).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (_resync, asked) = tokio::sync::mpsc::unbounded_channel();
        let task = if changes {
            tokio::spawn(cluster::run_with_changes(conn, None, tx, asked))
        } else {
            tokio::spawn(cluster::run_with(conn, None, tx))
        };
        let mut next = async || loop {
            match rx.recv().await.expect("source runs") {
                Update::State(_) => {}
                u => return u,
            }
        };
        let Update::Snapshot(first) = next().await else {
            panic!("a snapshot first");
        };
        let now = jiff::Timestamp::now();
        let mut engine = Incremental::new(*first, now, Options::default());
        let label = SourceLabel {
            kind: "cluster".into(),
            description: String::new(),
            live: true,
        };
        let mut app = App::new(
            engine.snapshot().clone(),
            now,
            label,
            Theme::new(ThemeName::Dark),
        );
        app.update(Msg::Resize(200, 60));
        let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
        let mut took = Vec::new();
        for run in 0..runs {
            let mut changed = route.clone();
            changed["spec"]["rules"][0]["backendRefs"][0]["weight"] = (10 + run).into();
            let t = Instant::now();
            server.apply(changed);
            let evaluation = match next().await {
                Update::Changed(list) => {
                    for c in list {
                        engine
                            .replace(c.object, c.origin, c.raw, jiff::Timestamp::now())
                            .expect("taken in place");
                    }
                    Evaluation::new(
                        engine.snapshot().clone(),
                        engine.posture().clone(),
                        app.row_query().borrow().clone(),
                    )
                }
                Update::Snapshot(s) => {
                    let p = lastmile::posture::evaluate(
                        &s,
                        jiff::Timestamp::now(),
                        &Options::default(),
                    );
                    Evaluation::new(*s, p, app.row_query().borrow().clone())
                }
                Update::State(_) => unreachable!(),
            };
            app.update(Msg::Evaluated(Box::new(evaluation)));
            terminal.draw(|f| lastmile::tui::ui::draw(f, &app)).unwrap();
            took.push(t.elapsed().as_secs_f64());
            assert!(
                app.posture
                    .edges
                    .iter()
                    .any(|e| e.weight == (10 + run) as i64),
                "the frame shows the change"
            );
        }
        task.abort();
        took
    })
}

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let size_name = std::env::var("SIZE").unwrap_or_else(|_| "L".into());
    let size = lastmile::synth::Size::parse(&size_name).expect("SIZE is S, M or L");
    let objects = lastmile::synth::generate(size, 1);
    let server = TestApiServer::start(ServerConfig {
        bookmark_interval: Duration::from_secs(60),
        anonymous: true,
        ..Default::default()
    });
    for o in &objects {
        server.apply(o.clone());
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = server.write_kubeconfig(dir.path(), "bench");
    println!("synthetic {size_name}: {} objects", objects.len());

    // kubectl listing the same kinds (JSON output, as lastmile parses JSON).
    let mut kubectl = Vec::new();
    let mut raw_bytes = 0usize;
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new("kubectl")
            .args(["--kubeconfig"])
            .arg(&kubeconfig)
            .args(["get", KINDS, "-A", "-o", "json", "--chunk-size=500"])
            .output()
            .expect("kubectl runs");
        kubectl.push(t.elapsed().as_secs_f64());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        raw_bytes = out.stdout.len();
    }
    let kubectl_s = median(kubectl);

    let mut ours = Vec::new();
    for _ in 0..runs {
        ours.push(first_frame(&kubeconfig).as_secs_f64());
    }
    let ours_s = median(ours);
    println!(
        "first complete Backends frame: {:.0} ms (kubectl get -o json of the same kinds: {:.0} ms) ratio {:.2} (target <= 1.0)",
        ours_s * 1e3,
        kubectl_s * 1e3,
        ours_s / kubectl_s
    );

    // A route changed on the server until the frame shows it.
    let route = objects
        .iter()
        .find(|o| o["kind"] == "HTTPRoute")
        .expect("a route");
    for (changes, how) in [
        (true, "as a change put in place (the live UI)"),
        (false, "as a new snapshot evaluated in full"),
    ] {
        let took = update_to_frame(&kubeconfig, &server, route, changes, runs.max(5));
        println!(
            "route changed on the server -> Backends frame showing it, {how}: {:.0} ms (median of {}, with the source's 80 ms coalescing)",
            median(took.clone()) * 1e3,
            took.len()
        );
    }

    // Peak RSS of the real binary reading the cluster once.
    let bin = release_binary();
    if bin.exists() {
        // JSON is the figure against the target; text shows the source and posture without the
        // JSON report's own tree.
        for format in ["json", "text"] {
            let mut rss = Vec::new();
            for _ in 0..runs {
                let out = Command::new("/usr/bin/time")
                    .args(["-f", "%M"])
                    .arg(&bin)
                    .args([
                        "check",
                        "--format",
                        format,
                        "-o",
                        "/dev/null",
                        "--kubeconfig",
                    ])
                    .arg(&kubeconfig)
                    .output()
                    .expect("/usr/bin/time runs");
                let text = String::from_utf8_lossy(&out.stderr);
                let kb: f64 = text
                    .lines()
                    .last()
                    .and_then(|l| l.trim().parse().ok())
                    .unwrap_or_else(|| panic!("no RSS in {text}"));
                rss.push(kb * 1024.0);
            }
            let peak = median(rss);
            println!(
                "peak RSS of `lastmile check --format {format}` on {size_name}: {:.0} MiB; raw JSON of the listed objects: {:.0} MiB; ratio {:.2} (target <= 2.0)",
                peak / 1048576.0,
                raw_bytes as f64 / 1048576.0,
                peak / raw_bytes as f64
            );
        }
    } else {
        println!(
            "peak RSS: build the release binary first (cargo build --release; looked for {})",
            bin.display()
        );
    }
}
