use clap::Parser;
use lastmile::cli::{CheckArgs, Cli, Command};
use lastmile::posture::{self, Options};
use lastmile::snapshot::Snapshot;
use lastmile::tui::app::SourceLabel;
use lastmile::tui::{self, TuiOptions};
use lastmile::{report, source};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Check(args)) => check(&cli, args),
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

fn load(cli: &Cli) -> Result<Snapshot, String> {
    if cli.source.demo {
        return Ok(source::demo::snapshot());
    }
    if cli.source.files.is_empty() {
        return Err(
            "no source given: use -f PATH (files, directories, - for stdin) or --demo".into(),
        );
    }
    source::from_paths(&cli.source.files).map_err(|e| e.to_string())
}

fn check(cli: &Cli, args: &CheckArgs) -> Result<ExitCode, String> {
    let snapshot = load(cli)?;
    let now = args.at.unwrap_or_else(jiff::Timestamp::now);
    let posture = posture::evaluate(&snapshot, now, &Options::default());
    let out = report::render(&posture, args.format, args.fail_on);
    match &args.output {
        Some(path) => std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))?,
        None => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout
                .write_all(out.as_bytes())
                .and_then(|_| stdout.flush())
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
    let _guard = lastmile::logging::init(cli.ui.log_file.clone())?;
    let snapshot = load(cli)?;
    let label = SourceLabel {
        kind: snapshot.source.kind.clone(),
        description: snapshot.source.description.clone(),
        live: cli.ui.watch,
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
    };
    tui::run(snapshot, label, opts)?;
    Ok(ExitCode::SUCCESS)
}
