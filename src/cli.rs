//! Command-line interface: flags follow kubectl and k9s.

use crate::posture::Severity;
use crate::report::Format;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "lastmile",
    version,
    about = "How your Kubernetes gateways talk TLS to their backends: the effective mode of every route backend, policy status cross-checked, findings.",
    long_about = "Without a subcommand lastmile opens the terminal UI. `lastmile check` prints a report instead. The source is the current kubeconfig context (read-only: get, list, watch) unless -f or --demo is given."
)]
pub struct Cli {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub ui: UiArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Terminal UI options.
#[derive(Debug, Args, Clone)]
pub struct UiArgs {
    /// Re-read the -f files when they change and update the screen.
    #[arg(long)]
    pub watch: bool,
    /// Colour theme (`NO_COLOR` forces mono).
    #[arg(long, value_enum, default_value = "dark")]
    pub theme: crate::tui::theme::ThemeName,
    /// Log file (default: $XDG_STATE_HOME/lastmile/lastmile.log or ~/.local/state/lastmile/lastmile.log).
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Enable mouse-wheel scrolling.
    #[arg(long)]
    pub mouse: bool,
    /// Probe (`p`) a backend at another address, e.g. a `kubectl port-forward`:
    /// `Service/app/shop:443=127.0.0.1:8443` (repeatable).
    #[arg(long = "probe-via", value_name = "BACKEND=HOST:PORT", value_parser = parse_probe_address)]
    pub probe_via: Vec<(String, String)>,
}

#[derive(Debug, Args, Clone)]
pub struct SourceArgs {
    /// Manifest file or directory to read (repeatable; `-` reads stdin). YAML (multi-document),
    /// JSON and `kind: List` dumps from `kubectl get -o yaml` are accepted.
    #[arg(short = 'f', long = "filename", value_name = "PATH", global = true)]
    pub files: Vec<PathBuf>,
    /// Use the embedded demo cluster.
    #[arg(long, global = true, conflicts_with = "files")]
    pub demo: bool,
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the in-cluster service
    /// account). Used when neither -f nor --demo is given.
    #[arg(long, value_name = "FILE", global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long, value_name = "NAME", global = true)]
    pub context: Option<String>,
    /// Watch only this namespace (Gateways and cluster-scoped kinds still come from everywhere
    /// they are readable).
    #[arg(
        short = 'n',
        long,
        value_name = "NS",
        global = true,
        conflicts_with = "all_namespaces"
    )]
    pub namespace: Option<String>,
    /// Watch all namespaces (the default).
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
    /// Envoy Gateway release (e.g. 1.5): decides which BackendTLSPolicy version it reads, so a
    /// cluster that does not serve that version shows its edges as fail-open-plaintext.
    #[arg(long, value_name = "MAJOR.MINOR", global = true, value_parser = parse_version)]
    pub envoy_gateway_version: Option<(u32, u32)>,
}

impl SourceArgs {
    /// The cluster to read when no files or demo are given.
    pub fn cluster_target(&self) -> Option<crate::source::cluster::ClusterTarget> {
        (!self.demo && self.files.is_empty()).then(|| crate::source::cluster::ClusterTarget {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            namespace: self.namespace.clone(),
        })
    }
}

/// Parses `1.5`, `v1.5` or `1.5.2` into (major, minor).
pub fn parse_version(s: &str) -> Result<(u32, u32), String> {
    let t = s.trim().trim_start_matches('v');
    let mut it = t.split('.');
    let major = it.next().and_then(|x| x.parse().ok());
    let minor = it.next().and_then(|x| x.parse().ok());
    match (major, minor) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(format!("{s:?}: expected MAJOR.MINOR, e.g. 1.5")),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate once and report (text, JSON, SARIF or JUnit). Exit 0: no finding at or above
    /// --fail-on; 1: such findings; 2: tool error (bad flags, unreadable input).
    Check(CheckArgs),
    /// Probe one TLS endpoint: handshake facts, the certificate chain, and whether a gateway
    /// validating with the given CA and name would accept it. Exit 0: trusted (or no CA given and
    /// the handshake succeeded); 1: untrusted or no TLS; 2: tool error.
    Probe(ProbeArgs),
}

#[derive(Debug, Args, Clone)]
pub struct ProbeArgs {
    /// `HOST:PORT` to connect to.
    pub address: String,
    /// SNI to send (default: the host, unless it is an IP address).
    #[arg(long)]
    pub sni: Option<String>,
    /// PEM CA bundle to validate the chain against (like a policy's caCertificateRefs).
    #[arg(long, value_name = "FILE", conflicts_with = "system_roots")]
    pub ca: Option<PathBuf>,
    /// Validate against this machine's system roots (like wellKnownCACertificates: System).
    #[arg(long)]
    pub system_roots: bool,
    /// Name the certificate must match (default: the SNI).
    #[arg(long, value_name = "NAME", conflicts_with = "verify_uri")]
    pub verify_name: Option<String>,
    /// URI SAN the certificate must carry (repeatable; like subjectAltNames type URI).
    #[arg(long, value_name = "URI")]
    pub verify_uri: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ProbeFormat,
    /// Timeout per stage (connect, handshake), e.g. 5s, 500ms.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Skip the raw TLS 1.0/1.1/weak-suite hellos.
    #[arg(long)]
    pub no_legacy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeFormat {
    Text,
    Json,
}

/// Parses `5s`, `500ms`, `2m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (examples: 5s, 500ms)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("invalid duration unit in {s:?} (ms, s, m)")),
    };
    if !(secs > 0.0 && secs < 3600.0) {
        return Err(format!("duration {s:?} out of range"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Lowest severity that makes the exit code 1.
    #[arg(long, value_name = "SEVERITY", default_value = "high", value_parser = parse_severity)]
    pub fail_on: Severity,
    /// Evaluate certificate expiry at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<jiff::Timestamp>,
    /// Write the report to this file instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Probe every edge where TLS is intended (and every port that looks like TLS) and add
    /// certificate and handshake findings. Service backends are dialled by their cluster DNS name.
    #[arg(long)]
    pub probe: bool,
    /// Timeout per probe stage.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub probe_timeout: std::time::Duration,
    /// Probes in flight at once (at most 2 per backend address).
    #[arg(long, default_value = "32")]
    pub probe_concurrency: usize,
    /// Probe a backend at another address, e.g. through `kubectl port-forward`:
    /// `Service/app/shop:443=127.0.0.1:8443` (repeatable).
    #[arg(long, value_name = "BACKEND=HOST:PORT", value_parser = parse_probe_address)]
    pub probe_address: Vec<(String, String)>,
}

fn parse_probe_address(s: &str) -> Result<(String, String), String> {
    let (backend, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected BACKEND=HOST:PORT"))?;
    if backend.matches('/').count() != 2 || !addr.contains(':') {
        return Err(format!("{s:?}: expected KIND/NS/NAME[:PORT]=HOST:PORT"));
    }
    Ok((backend.to_string(), addr.to_string()))
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::parse(s)
        .ok_or_else(|| format!("unknown severity {s:?} (critical, high, medium, low, info)"))
}
