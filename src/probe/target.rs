//! From an edge to a probe request: where to connect, which SNI, which CA and names to judge by.

use super::dial::{Dial, ServiceForwarder};
use super::{Identity, ProbeRequest, TrustSource};
use crate::posture::{Edge, Trust};
use crate::snapshot::Snapshot;
use rustls::pki_types::CertificateDer;
use std::collections::HashMap;
use std::time::Duration;

/// Edges a sweep probes: where TLS is intended, or the port looks like TLS (to confirm or rule
/// out the plaintext-to-TLS trap). Plaintext, passthrough and unresolved edges are skipped.
pub fn worth_probing(edge: &Edge) -> bool {
    use crate::posture::Mode;
    edge.mode.is_tls() || matches!(edge.mode, Mode::FailClosed | Mode::PlaintextToTlsPort)
}

/// A probe request for an edge and how it reaches the backend.
#[derive(Debug, Clone)]
pub struct EdgeProbe {
    pub request: ProbeRequest,
    /// `direct` (a Backend endpoint or an override), `cluster-dns` (Service DNS, reachable from
    /// inside the cluster), `port-forward` (through the API server to a ready pod).
    pub transport: &'static str,
}

/// Builds the probe for `edge`. `overrides` maps `KIND/NS/NAME[:PORT]` backends to `HOST:PORT`
/// (local test servers, or a port-forward).
pub fn for_edge(
    snap: &Snapshot,
    edge: &Edge,
    overrides: &HashMap<String, String>,
    forwarder: Option<&dyn ServiceForwarder>,
    timeout: Duration,
) -> Result<EdgeProbe, String> {
    let (kind, rest) = edge
        .backend
        .split_once('/')
        .ok_or_else(|| format!("cannot probe {}", edge.backend))?;
    let (ns_name, port) = match rest.rsplit_once(':') {
        Some((a, p)) => (a, p.parse::<u16>().ok()),
        None => (rest, None),
    };
    let (ns, name) = ns_name
        .split_once('/')
        .ok_or_else(|| format!("cannot probe {}", edge.backend))?;
    let mut fallback_sni = None;
    let mut dial = Dial::Tcp;
    let (address, transport) = if let Some(a) = overrides.get(&*edge.backend) {
        (a.clone(), "direct")
    } else {
        match kind {
            "Backend" => {
                let b = snap
                    .backend(ns, name)
                    .ok_or_else(|| format!("Backend {ns}/{name} is not in the source"))?;
                let ep = b
                    .endpoints
                    .iter()
                    .find(|e| e.fqdn.is_some() || e.ip.is_some())
                    .ok_or_else(|| {
                        format!("Backend {ns}/{name} has no FQDN or IP endpoint to dial")
                    })?;
                let hp = ep.fqdn.as_ref().or(ep.ip.as_ref()).expect("checked above");
                let p = port
                    .map(i64::from)
                    .or(hp.port)
                    .ok_or_else(|| format!("Backend {ns}/{name} endpoint has no port"))?;
                if ep.fqdn.is_some() {
                    fallback_sni = Some(hp.hostname.clone());
                }
                let host = if hp.hostname.contains(':') {
                    format!("[{}]", hp.hostname)
                } else {
                    hp.hostname.clone()
                };
                (format!("{host}:{p}"), "direct")
            }
            "Service" => {
                let port = port.ok_or("the backendRef has no port")?;
                let transport = match forwarder {
                    Some(f) => {
                        dial = Dial::Via(f.forward(ns, name, port));
                        "port-forward"
                    }
                    None => "cluster-dns",
                };
                (format!("{name}.{ns}.svc:{port}"), transport)
            }
            "ServiceImport" => (
                format!(
                    "{name}.{ns}.svc.clusterset.local:{}",
                    port.ok_or("the backendRef has no port")?
                ),
                "cluster-dns",
            ),
            other => return Err(format!("lastmile cannot probe backends of kind {other}")),
        }
    };
    let sni = edge.sni.as_deref().map(str::to_string).or(fallback_sni);
    // The trust the gateway uses; for edges without verification, what it would use if it were
    // turned on (the configured CA), else this machine's roots as a reference point.
    let certs: Vec<CertificateDer<'static>> = edge
        .ca_ref_states
        .iter()
        .flat_map(|s| s.certificates.iter())
        .map(|c| CertificateDer::from(c.der.clone()))
        .collect();
    let trust = match edge.trust {
        Trust::System => TrustSource::System,
        _ if !certs.is_empty() => TrustSource::Bundle {
            label: edge.ca_refs.join(", "),
            certs,
        },
        _ => TrustSource::System,
    };
    let identity = if !edge.sans.is_empty() {
        Some(Identity::Sans(edge.sans.to_vec()))
    } else {
        sni.clone().map(Identity::Name)
    };
    Ok(EdgeProbe {
        request: ProbeRequest {
            address,
            sni,
            trust: Some(trust),
            identity,
            timeout,
            legacy: true,
            dial,
        },
        transport,
    })
}
