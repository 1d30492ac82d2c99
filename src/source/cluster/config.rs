//! The kube client: from `--kubeconfig` / `KUBECONFIG` / `~/.kube/config` (exec and OIDC auth
//! plugins included, as kubectl runs them), a `--context`, or the in-cluster service account.

use std::path::PathBuf;

/// Which cluster to read and how much of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterTarget {
    /// Explicit kubeconfig file (else `KUBECONFIG`, else `~/.kube/config`, else in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// Context name (else the kubeconfig's current context).
    pub context: Option<String>,
    /// Watch only this namespace (namespaced kinds); `None` = all namespaces.
    pub namespace: Option<String>,
}

/// A client and what the header shows about it.
#[derive(Clone)]
pub struct Connection {
    pub client: kube::Client,
    /// Context name (`in-cluster` for the service account).
    pub context: String,
    /// API server URL.
    pub server: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("context", &self.context)
            .field("server", &self.server)
            .finish()
    }
}

fn read_kubeconfig(target: &ClusterTarget) -> Result<Option<kube::config::Kubeconfig>, String> {
    use kube::config::Kubeconfig;
    if let Some(path) = &target.kubeconfig {
        return Kubeconfig::read_from(path)
            .map(Some)
            .map_err(|e| format!("kubeconfig {}: {e}", path.display()));
    }
    let env = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty());
    let default = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config"));
    if env.is_none() && !default.as_ref().is_some_and(|p| p.exists()) {
        return Ok(None);
    }
    Kubeconfig::read().map(Some).map_err(|e| match env {
        Some(v) => format!("KUBECONFIG={}: {e}", v.to_string_lossy()),
        None => format!("~/.kube/config: {e}"),
    })
}

/// The kubeconfig's context names (for `:ctx` errors and completion).
pub fn context_names(target: &ClusterTarget) -> Vec<String> {
    read_kubeconfig(target)
        .ok()
        .flatten()
        .map(|kc| kc.contexts.into_iter().map(|c| c.name).collect())
        .unwrap_or_default()
}

/// Builds the client. Reads files and may run an auth plugin; does not contact the API server.
pub async fn connect(target: &ClusterTarget) -> Result<Connection, String> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (config, context) = match read_kubeconfig(target)? {
        Some(kc) => {
            let context = target
                .context
                .clone()
                .or_else(|| kc.current_context.clone())
                .ok_or("the kubeconfig has no current-context; pass --context NAME")?;
            if !kc.contexts.iter().any(|c| c.name == context) {
                let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
                return Err(format!(
                    "context {context:?} is not in the kubeconfig (contexts: {})",
                    known.join(", ")
                ));
            }
            let opts = kube::config::KubeConfigOptions {
                context: Some(context.clone()),
                ..Default::default()
            };
            let config = kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| format!("context {context}: {e}"))?;
            (config, context)
        }
        None if target.context.is_some() => {
            return Err(
                "--context given but no kubeconfig was found (set KUBECONFIG or --kubeconfig)"
                    .into(),
            );
        }
        None => {
            let config = kube::Config::incluster().map_err(|e| {
                format!(
                    "no kubeconfig (KUBECONFIG, ~/.kube/config) and not running in a cluster ({e}); use --kubeconfig, -f PATH or --demo"
                )
            })?;
            (config, "in-cluster".to_string())
        }
    };
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let mut config = config;
    // kube's default retry (15 tries, backing off to 1000 s) hides a throttled kind for minutes;
    // the watchers retry 429/503/504 themselves, after the server's Retry-After, and say so.
    config.default_retry = false;
    let client = kube::Client::try_from(config).map_err(|e| format!("context {context}: {e}"))?;
    Ok(Connection {
        client,
        context,
        server,
    })
}
