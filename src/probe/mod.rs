//! The TLS probe: one rustls handshake with a recording verifier (the chain is kept even when
//! the handshake fails), handshake facts, failure classification, a plaintext-HTTP follow-up,
//! legacy-version detection, and the verdict against a policy's CA bundle and names.

pub mod cert;
pub mod dial;
pub mod legacy;
mod record;
pub mod sweep;
pub mod target;
pub mod verdict;
mod verifier;

pub use cert::CertSummary;
pub use dial::{Connector, Dial};
pub use legacy::LegacyReport;
pub use verdict::{Identity, TrustSource, Verdict};
pub use verifier::{MAX_CA_HINTS, MAX_CHAIN_BYTES, MAX_CHAIN_CERTS};

use record::{Recording, describe_non_tls};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{ServerName, UnixTime};
use serde::Serialize;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use verifier::{Recorded, RecordingClientAuth, RecordingVerifier};

/// The crypto provider (aws-lc-rs), built once.
pub fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

/// What to probe and how to judge it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRequest {
    /// `HOST:PORT` to dial.
    pub address: String,
    /// SNI to send (none for IP literals or when unset).
    pub sni: Option<String>,
    /// Trust source for the verdict; `None` skips the verdict.
    pub trust: Option<TrustSource>,
    /// Names to check; defaults to the SNI.
    pub identity: Option<Identity>,
    pub timeout: Duration,
    /// Also run the raw TLS 1.0/1.1/weak-1.2 hellos.
    pub legacy: bool,
    /// How to reach the backend (TCP to `address`, or a port-forward).
    pub dial: Dial,
}

/// Why a probe could not complete a handshake.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    ConnectRefused { detail: String },
    ConnectError { detail: String },
    Timeout { stage: &'static str },
    TlsAlert { alert: String, hint: Option<String> },
    NotTls { what: String },
    PeerClosed,
    MtlsRequired,
    Other { detail: String },
}

impl Failure {
    pub fn describe(&self) -> String {
        match self {
            Failure::ConnectRefused { detail } => format!("connection refused ({detail})"),
            Failure::ConnectError { detail } => format!("cannot connect: {detail}"),
            Failure::Timeout { stage } => format!("timed out during {stage}"),
            Failure::TlsAlert { alert, hint } => format!(
                "TLS alert {alert}{}",
                hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
            ),
            Failure::NotTls { what } => format!("the backend does not speak TLS: {what}"),
            Failure::PeerClosed => "the backend closed the connection during the handshake".into(),
            Failure::MtlsRequired => "the backend requires a client certificate (mTLS)".into(),
            Failure::Other { detail } => detail.clone(),
        }
    }
}

/// Everything one probe learned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    pub address: String,
    /// The transport when it is not plain TCP to `address` (e.g. a port-forward).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    pub sni: Option<String>,
    pub connect_ms: Option<f64>,
    pub handshake_ms: Option<f64>,
    pub version: Option<String>,
    pub cipher_suite: Option<String>,
    pub kx_group: Option<String>,
    pub alpn: Option<String>,
    pub handshake_kind: Option<String>,
    pub client_cert_requested: bool,
    pub client_ca_hints: Vec<String>,
    pub ocsp_stapled: bool,
    /// The server's handshake signature did not verify (e.g. RSA < 2048 bits).
    pub signature_problem: Option<String>,
    pub chain: Vec<CertSummary>,
    /// `chain truncated: N certificates / M bytes` when the server sent more than lastmile keeps
    /// ([`MAX_CHAIN_CERTS`], [`MAX_CHAIN_BYTES`]); `chain` then holds the first certificates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_truncated: Option<String>,
    pub verdict: Option<Verdict>,
    pub failure: Option<Failure>,
    /// Status line of a plaintext `HEAD /` follow-up, when the backend speaks HTTP.
    pub plaintext_http: Option<String>,
    pub legacy: Option<LegacyReport>,
}

impl ProbeReport {
    fn empty(req: &ProbeRequest) -> Self {
        ProbeReport {
            address: req.address.clone(),
            via: req.dial.describe(),
            sni: req.sni.clone(),
            connect_ms: None,
            handshake_ms: None,
            version: None,
            cipher_suite: None,
            kx_group: None,
            alpn: None,
            handshake_kind: None,
            client_cert_requested: false,
            client_ca_hints: vec![],
            ocsp_stapled: false,
            signature_problem: None,
            chain: vec![],
            chain_truncated: None,
            verdict: None,
            failure: None,
            plaintext_http: None,
            legacy: None,
        }
    }

    /// The one-line answer: would the gateway's validation pass, and if not why.
    pub fn headline(&self) -> String {
        match (&self.failure, &self.verdict) {
            (Some(f), _) if self.version.is_none() => format!("no TLS session: {}", f.describe()),
            (_, Some(v)) => v.summary.clone(),
            (Some(f), None) => f.describe(),
            (None, None) => format!(
                "TLS {} established; no CA to judge the chain against",
                self.version.clone().unwrap_or_default()
            ),
        }
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

/// Dials `req.address` and probes it.
pub async fn probe(req: &ProbeRequest) -> ProbeReport {
    let mut report = ProbeReport::empty(req);
    let t0 = Instant::now();
    let tcp = match tokio::time::timeout(req.timeout, req.dial.open(&req.address)).await {
        Err(_) => {
            report.failure = Some(Failure::Timeout {
                stage: "tcp_connect",
            });
            return report;
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            report.failure = Some(Failure::ConnectRefused {
                detail: e.to_string(),
            });
            return report;
        }
        Ok(Err(e)) => {
            report.failure = Some(Failure::ConnectError {
                detail: e.to_string(),
            });
            return report;
        }
        Ok(Ok(s)) => s,
    };
    report.connect_ms = Some(ms(t0.elapsed()));
    handshake(tcp, req, &mut report).await;
    if matches!(
        report.failure,
        Some(
            Failure::NotTls { .. }
                | Failure::PeerClosed
                | Failure::Timeout {
                    stage: "tls_handshake"
                }
        )
    ) {
        report.plaintext_http = head_request(req).await;
        // The HEAD follow-up's status line is whole; the handshake may have seen only the
        // first bytes of one (a slow peer sends it in pieces).
        let partial_http = |f: &Failure| matches!(f, Failure::NotTls { what } if what.starts_with("plaintext HTTP ("));
        if let (Some(status), Some(f)) = (&report.plaintext_http, &report.failure)
            && (matches!(f, Failure::Timeout { .. } | Failure::PeerClosed) || partial_http(f))
        {
            report.failure = Some(Failure::NotTls {
                what: format!("plaintext HTTP ({status})"),
            });
        }
    }
    // Legacy hellos only make sense against something that speaks TLS.
    if req.legacy
        && !matches!(
            report.failure,
            Some(
                Failure::NotTls { .. }
                    | Failure::ConnectRefused { .. }
                    | Failure::ConnectError { .. }
            )
        )
    {
        report.legacy = Some(legacy::detect(req).await);
    }
    report
}

/// Probes an already-open stream (a port-forward, or an in-memory duplex in tests).
pub async fn probe_stream<S: AsyncRead + AsyncWrite + Unpin + Send>(
    io: S,
    req: &ProbeRequest,
) -> ProbeReport {
    let mut report = ProbeReport::empty(req);
    handshake(io, req, &mut report).await;
    report
}

async fn handshake<S: AsyncRead + AsyncWrite + Unpin + Send>(
    io: S,
    req: &ProbeRequest,
    report: &mut ProbeReport,
) {
    let provider = provider();
    let record = Arc::new(Mutex::new(Recorded::default()));
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(Arc::new(RecordingVerifier {
                    provider: provider.clone(),
                    record: record.clone(),
                }))
                .with_client_cert_resolver(Arc::new(RecordingClientAuth {
                    record: record.clone(),
                }))
        });
    let mut config = match config {
        Ok(c) => c,
        Err(e) => {
            report.failure = Some(Failure::Other {
                detail: e.to_string(),
            });
            return;
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    config.enable_sni = req
        .sni
        .as_deref()
        .is_some_and(|s| s.parse::<std::net::IpAddr>().is_err());
    let host = req
        .address
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(['[', ']']))
        .unwrap_or(&req.address);
    let name_text = req.sni.clone().unwrap_or_else(|| host.to_string());
    let server_name = match ServerName::try_from(name_text.clone()) {
        Ok(n) => n,
        Err(e) => {
            report.failure = Some(Failure::Other {
                detail: format!("invalid SNI {name_text}: {e}"),
            });
            return;
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let recording = Recording::new(io);
    let seen = recording.seen.clone();
    let t = Instant::now();
    let result = tokio::time::timeout(req.timeout, connector.connect(server_name, recording)).await;
    let now = UnixTime::now();
    match result {
        Err(_) => {
            report.failure = Some(Failure::Timeout {
                stage: "tls_handshake",
            })
        }
        Ok(Err(e)) => {
            report.failure = Some(classify(
                &e,
                &seen.lock().expect("seen lock"),
                &record.lock().expect("record lock"),
            ))
        }
        Ok(Ok(mut tls)) => {
            report.handshake_ms = Some(ms(t.elapsed()));
            let (_, conn) = tls.get_ref();
            report.version = conn
                .protocol_version()
                .map(|v| format!("{v:?}").replace('_', "."));
            report.cipher_suite = conn
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()));
            report.kx_group = conn
                .negotiated_key_exchange_group()
                .map(|g| format!("{:?}", g.name()));
            report.alpn = conn
                .alpn_protocol()
                .map(|a| String::from_utf8_lossy(a).into_owned());
            report.handshake_kind = conn.handshake_kind().map(|k| format!("{k:?}"));
            if record.lock().expect("record lock").client_auth_requested {
                // TLS 1.3: the client finishes first; the server's verdict on our (empty)
                // certificate arrives as an alert right after.
                let mut buf = [0u8; 1];
                if let Ok(Err(e)) =
                    tokio::time::timeout(Duration::from_millis(200), tls.read(&mut buf)).await
                    && e.to_string().contains("CertificateRequired")
                {
                    report.failure = Some(Failure::MtlsRequired);
                }
                if report.failure.is_none() {
                    report.failure = Some(Failure::MtlsRequired);
                }
            }
            // Bounded: a peer that stops reading must not hold the probe after the handshake.
            let _ = tokio::time::timeout(req.timeout, tls.shutdown()).await;
        }
    }
    let rec = record.lock().expect("record lock").clone();
    report.client_cert_requested = rec.client_auth_requested;
    report.client_ca_hints = rec
        .client_ca_hints
        .iter()
        .map(|h| crate::sanitize::clean_owned(h))
        .collect();
    report.ocsp_stapled = rec.ocsp_len > 0;
    report.signature_problem = rec.signature.and_then(Result::err);
    let jnow = jiff::Timestamp::now();
    report.chain = rec
        .chain
        .iter()
        .filter_map(|c| CertSummary::from_der(c, jnow).ok())
        .collect();
    report.chain_truncated = rec.chain_truncated.map(|t| {
        format!(
            "chain truncated: {} certificates / {} bytes served, the first {} kept",
            t.certificates,
            t.bytes,
            rec.chain.len()
        )
    });
    if let Some(trust) = &req.trust
        && !rec.chain.is_empty()
    {
        let identity = req
            .identity
            .clone()
            .unwrap_or_else(|| Identity::Name(name_text.clone()));
        report.verdict = Some(verdict::judge(&rec.chain, trust, &identity, &provider, now));
    }
}

/// Maps a handshake error to a failure kind.
fn classify(e: &std::io::Error, seen: &[u8], rec: &Recorded) -> Failure {
    if let Some(tls) = e.get_ref().and_then(|x| x.downcast_ref::<rustls::Error>()) {
        return match tls {
            rustls::Error::AlertReceived(a) => {
                let hint = match a {
                    rustls::AlertDescription::ProtocolVersion => Some(
                        "the backend may only speak TLS 1.0/1.1; see the legacy check".to_string(),
                    ),
                    rustls::AlertDescription::HandshakeFailure if rec.client_auth_requested => {
                        Some("the server requested a client certificate".into())
                    }
                    rustls::AlertDescription::HandshakeFailure => Some(
                        "no common cipher suite or group (CBC-only or static-RSA backends?)".into(),
                    ),
                    rustls::AlertDescription::UnrecognisedName => {
                        Some("the backend does not serve this SNI".into())
                    }
                    rustls::AlertDescription::CertificateRequired => return Failure::MtlsRequired,
                    _ => None,
                };
                if rec.client_auth_requested
                    && matches!(
                        a,
                        rustls::AlertDescription::HandshakeFailure
                            | rustls::AlertDescription::BadCertificate
                    )
                {
                    return Failure::MtlsRequired;
                }
                Failure::TlsAlert {
                    alert: format!("{a:?}"),
                    hint,
                }
            }
            rustls::Error::InvalidMessage(rustls::InvalidMessage::HandshakePayloadTooLarge) => {
                Failure::Other {
                    detail: "the backend sent a handshake message over 64 KiB (an oversized \
                             certificate chain?); rustls refuses it"
                        .into(),
                }
            }
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. }
                if !seen.is_empty() && seen[0] != 0x16 && seen[0] != 0x15 =>
            {
                Failure::NotTls {
                    what: describe_non_tls(seen),
                }
            }
            other => Failure::Other {
                detail: other.to_string(),
            },
        };
    }
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::BrokenPipe => {
            if !seen.is_empty() && seen[0] != 0x16 && seen[0] != 0x15 {
                Failure::NotTls {
                    what: describe_non_tls(seen),
                }
            } else {
                Failure::PeerClosed
            }
        }
        _ => Failure::Other {
            detail: e.to_string(),
        },
    }
}

/// A second connection: `HEAD /` in plaintext; returns the status line if the peer speaks HTTP.
async fn head_request(req: &ProbeRequest) -> Option<String> {
    let address = req.address.as_str();
    let run = async {
        let mut s = req.dial.open(address).await.ok()?;
        let host = address.rsplit_once(':').map(|(h, _)| h).unwrap_or(address);
        s.write_all(
            format!("HEAD / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .ok()?;
        // At most 512 bytes, read until the end of the status line (a slow peer may send it in
        // pieces); the whole exchange is under one deadline below, however the bytes trickle.
        let mut buf = vec![0u8; 512];
        let mut got = 0;
        while got < buf.len() && !buf[..got].contains(&b'\n') {
            match s.read(&mut buf[got..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        let text = String::from_utf8_lossy(&buf[..got]).into_owned();
        text.starts_with("HTTP/")
            .then(|| crate::sanitize::clean_owned(text.lines().next().unwrap_or("")))
    };
    tokio::time::timeout(req.timeout, run).await.ok().flatten()
}
