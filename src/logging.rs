//! Logs go to a file, never to the terminal the UI draws on.

use std::path::PathBuf;

/// The default log file: `$XDG_STATE_HOME/lastmile/lastmile.log`, else `~/.local/state/...`,
/// else the system temp directory.
pub fn default_log_file() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("lastmile").join("lastmile.log")
}

/// Starts file logging (level from `LASTMILE_LOG`, default `info`). Keep the guard alive.
pub fn init(file: Option<PathBuf>) -> Result<tracing_appender::non_blocking::WorkerGuard, String> {
    let path = file.unwrap_or_else(default_log_file);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).map_err(|e| format!("log directory {}: {e}", dir.display()))?;
    let name = path
        .file_name()
        .ok_or_else(|| format!("log file {} has no file name", path.display()))?;
    let appender = tracing_appender::rolling::never(&dir, name);
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("LASTMILE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .map_err(|e| format!("logging: {e}"))?;
    tracing::info!(log = %path.display(), "lastmile {} starting", env!("CARGO_PKG_VERSION"));
    Ok(guard)
}
