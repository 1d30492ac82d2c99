use clap::Parser;
use lastmile::cli::{CheckArgs, Cli, Command};
use lastmile::posture::{self, Options};
use lastmile::report;
use lastmile::snapshot::Snapshot;
use lastmile::source;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
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

fn run(cli: Cli) -> Result<ExitCode, String> {
    let args = match &cli.command {
        Some(Command::Check(a)) => a.clone(),
        None => CheckArgs::default(),
    };
    let snapshot = load(&cli)?;
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
