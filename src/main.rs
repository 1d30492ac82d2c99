use clap::Parser;
use lastmile::cli::{CheckArgs, Cli, Command, ProbeArgs, ProbeFormat};
use lastmile::posture::{self, Options};
use lastmile::snapshot::Snapshot;
use lastmile::source::cluster;
use lastmile::tui::app::SourceLabel;
use lastmile::tui::{self, TuiOptions};
use lastmile::{report, source};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// mimalloc: the posture engine allocates many small strings; glibc's malloc spends a third of
/// a large recompute consolidating free chunks (see docs/PERFORMANCE.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Check(args)) => check(&cli, args),
        Some(Command::Probe(args)) => probe(args),
        None => ui(&cli),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("lastmile: {message}");
            ExitCode::from(2)
        }
    }
}

/// Files or the demo (the cluster source is read asynchronously).
/// The demo or the files; `text`: keep each object's text (for the UI's YAML view).
fn load_static(cli: &Cli, text: bool) -> Result<Snapshot, String> {
    if cli.source.demo {
        return Ok(source::demo::snapshot());
    }
    if text {
        source::from_paths(&cli.source.files)
    } else {
        source::from_paths_without_text(&cli.source.files)
    }
    .map_err(|e| e.to_string())
}

fn options(cli: &Cli) -> Options {
    Options {
        eg_version: cli.source.envoy_gateway_version,
        ..Options::default()
    }
}

type Forwarder = Option<Arc<dyn lastmile::probe::dial::ServiceForwarder>>;

/// Once a Ctrl-C handler has been installed (the cluster read, the probe sweep), SIGINT no longer
/// ends the process by itself: from here on Ctrl-C ends `check` at once, with a message.
fn exit_on_ctrl_c(rt: &tokio::runtime::Runtime) {
    rt.spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("lastmile: interrupted; the report is not complete");
            std::process::exit(130);
        }
    });
}

fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

fn check(cli: &Cli, args: &CheckArgs) -> Result<ExitCode, String> {
    // One pass and exit: nothing freed will be needed again soon, and no huge pages.
    lastmile::memory::return_freed_memory_at_once();
    lastmile::memory::no_transparent_huge_pages();
    // One runtime for reading the cluster and probing: the kube client lives on it.
    let mut rt = runtime(2)?;
    let (snapshot, forwarder): (Snapshot, Forwarder) = match cli.source.cluster_target() {
        Some(target) => {
            let read = async {
                let conn = cluster::connect(&target).await?;
                let snapshot = cluster::snapshot_once(
                    conn.clone(),
                    target.namespace.clone(),
                    Duration::from_secs(60),
                )
                .await?;
                // Outside the cluster, Service DNS names do not resolve: probe through the API
                // server.
                let forwarder: Forwarder = (conn.context != "in-cluster")
                    .then(|| Arc::new(cluster::PortForwarder::new(conn.client.clone())) as _);
                Ok::<_, String>((snapshot, forwarder))
            };
            let read = rt.block_on(async {
                tokio::select! {
                    read = read => read.map(Some),
                    _ = tokio::signal::ctrl_c() => Ok(None),
                }
            })?;
            let Some(read) = read else {
                eprintln!("lastmile: interrupted while reading the cluster; no report written");
                rt.shutdown_background();
                return Ok(ExitCode::from(130));
            };
            if !args.probe {
                // Without probes only Ctrl-C needs a runtime from here on. Ending the reading
                // runtime's threads returns the pages they decoded into but no longer use
                // before the evaluation allocates (about 20 MiB of peak RSS at L).
                let reader = std::mem::replace(&mut rt, runtime(1)?);
                reader.shutdown_timeout(Duration::from_secs(1));
                exit_on_ctrl_c(&rt);
            }
            read
        }
        None => (load_static(cli, false)?, None),
    };
    let now = args.at.unwrap_or_else(jiff::Timestamp::now);
    let mut posture = posture::evaluate_for_report(&snapshot, now, &options(cli));
    if args.probe {
        let Some(probes) = probe_edges(&rt, &snapshot, &posture, args, cli.source.demo, forwarder)?
        else {
            eprintln!("lastmile: interrupted: the probe sweep was cancelled; no report written");
            // Dropping the sweep cancelled every probe; do not wait for anything still unwinding.
            rt.shutdown_background();
            return Ok(ExitCode::from(130));
        };
        exit_on_ctrl_c(&rt);
        posture.add_probes(probes, now);
    }
    // The report reads only the posture: the objects need not stay for its text.
    drop(snapshot);
    match &args.output {
        Some(path) => std::fs::File::create(path)
            .and_then(|f| {
                let mut w = std::io::BufWriter::new(f);
                report::write(&posture, args.format, args.fail_on, &mut w)
            })
            .map_err(|e| format!("{}: {e}", path.display()))?,
        None => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            if let Err(e) = report::write(&posture, args.format, args.fail_on, &mut stdout)
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(format!("writing the report: {e}"));
            }
        }
    }
    let failing = report::failing(&posture, args.fail_on).count();
    Ok(if failing > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn ui(cli: &Cli) -> Result<ExitCode, String> {
    if !std::io::stdout().is_terminal() {
        return Err("the terminal UI needs a terminal; use `lastmile check` for a report".into());
    }
    if cli.ui.watch && (cli.source.demo || cli.source.files.iter().any(|p| p.as_os_str() == "-")) {
        return Err("--watch needs -f files or directories (not --demo or stdin)".into());
    }
    // Every change is evaluated again: what one evaluation frees, the next one needs.
    lastmile::memory::keep_freed_memory_for_recomputes();
    let _guard = lastmile::logging::init(cli.ui.log_file.clone())?;
    let cluster = cli.source.cluster_target();
    let snapshot = match &cluster {
        Some(_) => Snapshot::default(),
        None => load_static(cli, true)?,
    };
    let label = SourceLabel {
        kind: if cluster.is_some() {
            "cluster".into()
        } else {
            snapshot.source.kind.clone()
        },
        description: snapshot.source.description.clone(),
        live: cli.ui.watch || cluster.is_some(),
    };
    let opts = TuiOptions {
        theme: cli.ui.theme,
        watch: if cli.ui.watch {
            cli.source.files.clone()
        } else {
            vec![]
        },
        mouse: cli.ui.mouse,
        tick: Duration::from_secs(1),
        fps: 30,
        probe_overrides: cli.ui.probe_via.iter().cloned().collect(),
        demo_servers: cli.source.demo,
        cluster,
        options: options(cli),
    };
    tui::run(snapshot, label, opts)?;
    Ok(ExitCode::SUCCESS)
}

fn probe(args: &ProbeArgs) -> Result<ExitCode, String> {
    use lastmile::model::SanMatcher;
    use lastmile::probe::{self as p, Identity, ProbeRequest, TrustSource};
    if !args.address.contains(':') {
        return Err(format!("{}: expected HOST:PORT", args.address));
    }
    let trust = match (&args.ca, args.system_roots) {
        (Some(path), _) => {
            let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Some(TrustSource::from_pem(&path.display().to_string(), &pem))
        }
        (None, true) => Some(TrustSource::System),
        (None, false) => None,
    };
    let host = args
        .address
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(['[', ']']).to_string())
        .unwrap_or_default();
    let sni = args
        .sni
        .clone()
        .or_else(|| host.parse::<std::net::IpAddr>().is_err().then_some(host));
    let identity = if !args.verify_uri.is_empty() {
        Some(Identity::Sans(
            args.verify_uri
                .iter()
                .cloned()
                .map(SanMatcher::Uri)
                .collect(),
        ))
    } else {
        args.verify_name.clone().map(Identity::Name)
    };
    let req = ProbeRequest {
        address: args.address.clone(),
        sni,
        trust,
        identity,
        timeout: args.timeout,
        legacy: !args.no_legacy,
        dial: Default::default(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let report = rt.block_on(p::probe(&req));
    let out = match args.format {
        ProbeFormat::Json => {
            serde_json::to_string_pretty(&report).expect("report serialises") + "\n"
        }
        ProbeFormat::Text => report::probe_text::render(&report),
    };
    print!("{out}");
    let good = report.version.is_some()
        && report.failure.is_none()
        && report
            .verdict
            .as_ref()
            .is_none_or(|v| v.verdict == "trusted");
    Ok(if good {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `check --probe`: probes the edges where TLS is intended or the port looks like TLS. With
/// `--demo`, the demo's local backends answer. `None`: Ctrl-C (SIGINT) cancelled the sweep.
fn probe_edges(
    rt: &tokio::runtime::Runtime,
    snapshot: &Snapshot,
    posture: &posture::Posture,
    args: &CheckArgs,
    demo: bool,
    forwarder: Forwarder,
) -> Result<Option<std::collections::BTreeMap<usize, lastmile::probe::ProbeReport>>, String> {
    let mut overrides: std::collections::HashMap<String, String> =
        args.probe_address.iter().cloned().collect();
    if demo {
        for (k, v) in rt.block_on(lastmile::demo_servers::start())? {
            overrides.entry(k).or_insert(v);
        }
    }
    let requests: Vec<(usize, lastmile::probe::ProbeRequest)> = posture
        .edges
        .iter()
        .enumerate()
        .filter(|(_, e)| lastmile::probe::target::worth_probing(e))
        .filter_map(|(i, e)| {
            lastmile::probe::target::for_edge(
                snapshot,
                e,
                &overrides,
                forwarder.as_deref(),
                args.probe_timeout,
            )
            .ok()
            .map(|p| (i, p.request))
        })
        .collect();
    let mut out = std::collections::BTreeMap::new();
    let completed = rt.block_on(async {
        let sweep = lastmile::probe::sweep::sweep(requests, args.probe_concurrency, |i, r| {
            out.insert(i, r);
        });
        tokio::select! {
            _ = sweep => true,
            _ = tokio::signal::ctrl_c() => false,
        }
    });
    Ok(completed.then_some(out))
}
