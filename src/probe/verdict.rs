//! "Would the gateway accept this chain?": rustls/webpki validation of the recorded chain against
//! the policy's CA bundle (or this machine's roots) and identity rule, computed after the handshake.

use crate::model::SanMatcher;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, RootCertStore};
use serde::Serialize;
use std::sync::{Arc, OnceLock};

/// What to validate against.
#[derive(Debug, Clone, PartialEq)]
pub enum TrustSource {
    /// CA certificates (the policy's CA refs), with a label such as `ConfigMap/app/shop-ca`.
    Bundle {
        label: String,
        certs: Vec<CertificateDer<'static>>,
    },
    /// `wellKnownCACertificates: System`: approximated by this machine's roots.
    System,
}

/// The names the certificate must match.
#[derive(Debug, Clone, PartialEq)]
pub enum Identity {
    Name(String),
    /// `subjectAltNames`: the certificate must match at least one.
    Sans(Vec<SanMatcher>),
}

impl TrustSource {
    /// A bundle from PEM text (a `--ca` file).
    pub fn from_pem(label: &str, pem: &[u8]) -> Self {
        use rustls::pki_types::pem::PemObject;
        TrustSource::Bundle {
            label: label.into(),
            certs: CertificateDer::pem_slice_iter(pem)
                .filter_map(Result::ok)
                .collect(),
        }
    }
}

impl Identity {
    pub fn describe(&self) -> String {
        match self {
            Identity::Name(n) => n.clone(),
            Identity::Sans(s) => s
                .iter()
                .map(|x| x.value().to_string())
                .collect::<Vec<_>>()
                .join(" or "),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// `trusted` or `untrusted`.
    pub verdict: &'static str,
    /// `trusted`, `unknown_issuer`, `expired`, `not_yet_valid`, `name_mismatch`, `bad_signature`,
    /// `ca_used_as_end_entity`, `wrong_purpose`, `no_certificate`, `other`.
    pub reason: &'static str,
    pub detail: String,
    /// What the chain was checked against.
    pub trust: String,
    pub identity: String,
    /// One line: "the gateway's validation would pass / fail because ...".
    pub summary: String,
    /// The leaf is a self-signed CA:TRUE certificate pinned in the bundle: rejected by webpki
    /// but accepted by OpenSSL/BoringSSL-based proxies such as Envoy.
    pub pinned_ca_leaf: bool,
    pub verifier: &'static str,
}

fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut store = RootCertStore::empty();
            store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            Arc::new(store)
        })
        .clone()
}

fn map_error(e: &rustls::Error) -> (&'static str, String) {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                ("expired", format!("{c:?}"))
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                ("not_yet_valid", format!("{c:?}"))
            }
            CertificateError::UnknownIssuer => (
                "unknown_issuer",
                "the chain does not end at a trusted CA".into(),
            ),
            CertificateError::NotValidForName => (
                "name_mismatch",
                "the certificate is not valid for the name".into(),
            ),
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => (
                "name_mismatch",
                format!(
                    "expected {expected:?}, the certificate presents {}",
                    presented.join(", ")
                ),
            ),
            CertificateError::BadSignature
            | CertificateError::UnsupportedSignatureAlgorithmContext { .. } => {
                ("bad_signature", format!("{c:?}"))
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                ("wrong_purpose", format!("{c:?}"))
            }
            CertificateError::Other(o) if o.to_string().contains("CaUsedAsEndEntity") => (
                "ca_used_as_end_entity",
                "the leaf is a CA certificate (CA:TRUE)".into(),
            ),
            other => ("other", format!("{other:?}")),
        },
        other => ("other", other.to_string()),
    }
}

/// Validates `chain` (leaf first) at `now`.
pub fn judge(
    chain: &[CertificateDer<'static>],
    trust: &TrustSource,
    identity: &Identity,
    provider: &Arc<CryptoProvider>,
    now: UnixTime,
) -> Verdict {
    let (roots, trust_label, bundle): (Arc<RootCertStore>, String, Vec<CertificateDer<'static>>) =
        match trust {
            TrustSource::Bundle { label, certs } => {
                let mut store = RootCertStore::empty();
                store.add_parsable_certificates(certs.iter().cloned());
                (Arc::new(store), label.clone(), certs.clone())
            }
            TrustSource::System => (
                system_roots(),
                "this machine's system roots (stand-in for the gateway's system trust store)"
                    .into(),
                vec![],
            ),
        };
    let base = |verdict, reason, detail: String, summary: String, pinned| Verdict {
        verdict,
        reason,
        detail,
        trust: trust_label.clone(),
        identity: identity.describe(),
        summary,
        pinned_ca_leaf: pinned,
        verifier: "rustls/webpki",
    };
    let Some((leaf, rest)) = chain.split_first() else {
        return base(
            "untrusted",
            "no_certificate",
            "the server sent no certificate".into(),
            "the gateway's validation would fail: no certificate was received".into(),
            false,
        );
    };
    if roots.is_empty() {
        return base(
            "untrusted",
            "unknown_issuer",
            "the CA bundle holds no usable certificate".into(),
            "the gateway's validation would fail: the CA bundle is empty".into(),
            false,
        );
    }
    let verifier = match WebPkiServerVerifier::builder_with_provider(
        roots.clone(),
        provider.clone(),
    )
    .build()
    {
        Ok(v) => v,
        Err(e) => {
            return base(
                "untrusted",
                "other",
                e.to_string(),
                format!("cannot build a verifier: {e}"),
                false,
            );
        }
    };
    let check_name = |name: &str| -> Result<(), rustls::Error> {
        let server_name = ServerName::try_from(name.to_string())
            .map_err(|e| rustls::Error::General(format!("invalid name {name}: {e}")))?;
        verifier
            .verify_server_cert(leaf, rest, &server_name, &[], now)
            .map(|_| ())
    };
    let result: Result<(), rustls::Error> = match identity {
        Identity::Name(n) => check_name(n),
        Identity::Sans(sans) => {
            let mut last = Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            ));
            for san in sans {
                let r = match san {
                    SanMatcher::Hostname(h) => check_name(h),
                    SanMatcher::Uri(u) => {
                        chain_only(leaf, rest, &roots, provider, now).and_then(|_| {
                            let facts = crate::model::CertFacts::from_der(leaf)
                                .map_err(rustls::Error::General)?;
                            if facts.uri_sans.iter().any(|x| x == u) {
                                Ok(())
                            } else {
                                Err(rustls::Error::InvalidCertificate(
                                    CertificateError::NotValidForNameContext {
                                        expected: ServerName::try_from("uri.invalid")
                                            .expect("static name")
                                            .to_owned(),
                                        presented: facts.uri_sans.clone(),
                                    },
                                ))
                            }
                        })
                    }
                };
                if r.is_ok() {
                    last = r;
                    break;
                }
                last = r;
            }
            last
        }
    };
    match result {
        Ok(()) => base(
            "trusted",
            "trusted",
            format!(
                "chain ends at {trust_label}; identity {} matches",
                identity.describe()
            ),
            format!(
                "the gateway's validation would pass: the chain is trusted by {trust_label} and matches {}",
                identity.describe()
            ),
            false,
        ),
        Err(e) => {
            let (reason, detail) = map_error(&e);
            let pinned = reason == "ca_used_as_end_entity"
                && bundle.iter().any(|c| c.as_ref() == leaf.as_ref());
            let mut summary = format!("the gateway's validation would fail: {}", detail);
            if pinned {
                summary.push_str(" (the leaf is pinned in the bundle: webpki rejects it, OpenSSL/BoringSSL-based proxies such as Envoy accept it)");
            }
            base("untrusted", reason, detail, summary, pinned)
        }
    }
}

/// Path validation without a name check (for URI SAN policies).
fn chain_only(
    leaf: &CertificateDer<'_>,
    rest: &[CertificateDer<'_>],
    roots: &RootCertStore,
    provider: &Arc<CryptoProvider>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let parsed = rustls::server::ParsedCertificate::try_from(leaf)?;
    rustls::client::verify_server_cert_signed_by_trust_anchor(
        &parsed,
        roots,
        rest,
        now,
        provider.signature_verification_algorithms.all,
    )
}
