//! Objects referenced as CA bundles (ConfigMap, Secret, ClusterTrustBundle) and client
//! certificates. Only parsed certificate facts are kept: no Secret bytes survive parsing.

use super::meta::ObjectMeta;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;
use std::collections::BTreeMap;

/// What lastmile learned from one PEM value.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PemBundle {
    /// Shared: every edge that trusts this bundle points at the same facts.
    pub certs: Vec<std::sync::Arc<CertFacts>>,
    /// PEM blocks or certificates that could not be parsed.
    pub errors: Vec<String>,
}

impl PemBundle {
    /// Parses every `CERTIFICATE` block in `pem`.
    pub fn parse(pem: &[u8]) -> Self {
        let mut bundle = PemBundle::default();
        for item in CertificateDer::pem_slice_iter(pem) {
            match item {
                Ok(der) => match CertFacts::from_der(&der) {
                    Ok(facts) => bundle.certs.push(std::sync::Arc::new(facts)),
                    Err(e) => bundle.errors.push(e),
                },
                Err(e) => bundle.errors.push(format!("bad PEM: {e}")),
            }
        }
        bundle
    }

    pub fn is_usable(&self) -> bool {
        !self.certs.is_empty()
    }
}

/// Facts about one X.509 certificate.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CertFacts {
    /// The certificate itself (public material), for validating probed chains against it.
    #[serde(skip)]
    pub der: Vec<u8>,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: Option<jiff::Timestamp>,
    pub not_after: Option<jiff::Timestamp>,
    pub is_ca: bool,
    pub signature_algorithm: String,
    pub key: String,
    pub key_bits: Option<usize>,
    pub dns_sans: Vec<String>,
    pub uri_sans: Vec<String>,
}

impl CertFacts {
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        use x509_parser::prelude::*;
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| format!("bad certificate: {e}"))?;
        // Short names (sha256WithRSAEncryption), the dotted OID when the registry lacks one.
        let oid_name = |oid: &x509_parser::der_parser::oid::Oid| {
            x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
                .map(str::to_string)
                .unwrap_or_else(|_| oid.to_id_string())
        };
        let mut dns_sans = Vec::new();
        let mut uri_sans = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => dns_sans.push(d.to_string()),
                    GeneralName::URI(u) => uri_sans.push(u.to_string()),
                    GeneralName::IPAddress(ip) => dns_sans.push(format_ip(ip)),
                    _ => {}
                }
            }
        }
        let spki = cert.public_key();
        let (key, key_bits) = match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
                ("RSA".to_string(), Some(rsa.key_size()))
            }
            Ok(x509_parser::public_key::PublicKey::EC(ec)) => {
                ("EC".to_string(), Some(ec.key_size()))
            }
            _ => (oid_name(&spki.algorithm.algorithm), None),
        };
        let ts = |t: ASN1Time| jiff::Timestamp::from_second(t.timestamp()).ok();
        Ok(CertFacts {
            der: der.to_vec(),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial_as_string(),
            not_before: ts(cert.validity().not_before),
            not_after: ts(cert.validity().not_after),
            is_ca: cert.is_ca(),
            signature_algorithm: oid_name(&cert.signature_algorithm.algorithm),
            key,
            key_bits,
            dns_sans,
            uri_sans,
        })
    }
}

fn format_ip(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => format!("{bytes:02x?}"),
    }
}

/// Which kind of object holds a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum BundleKind {
    ConfigMap,
    Secret,
    ClusterTrustBundle,
}

impl BundleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BundleKind::ConfigMap => "ConfigMap",
            BundleKind::Secret => "Secret",
            BundleKind::ClusterTrustBundle => "ClusterTrustBundle",
        }
    }
}

/// A ConfigMap, Secret or ClusterTrustBundle reduced to its key names and the certificates
/// of the keys that can hold certificates. Secret values other than certificates are dropped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CertSource {
    pub meta: ObjectMeta,
    /// `Secret.type` (e.g. `kubernetes.io/tls`, `gateway.envoyproxy.io/sds`).
    pub secret_type: Option<String>,
    /// Every data key, in order.
    pub keys: Vec<String>,
    /// Parsed certificates per key, for the keys lastmile reads (`ca.crt`, `tls.crt`, and the
    /// sole key of a single-key object). A ClusterTrustBundle's bundle is under `trustBundle`.
    pub bundles: BTreeMap<String, PemBundle>,
    /// For SDS-reference Secrets: whether `url` looks like a usable SDS address.
    pub sds_url_valid: Option<bool>,
}

impl CertSource {
    /// Envoy Gateway's CA key lookup: `ca.crt`, else `tls.crt`, else the only key.
    pub fn eg_ca_key(&self) -> Option<&str> {
        for k in ["ca.crt", "tls.crt"] {
            if self.keys.iter().any(|x| x == k) {
                return Some(k);
            }
        }
        match self.keys.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// True if the object is an Envoy Gateway SDS-reference Secret.
    pub fn is_sds(&self) -> bool {
        self.secret_type.as_deref() == Some("gateway.envoyproxy.io/sds")
    }
}

/// Keys whose values are certificate material worth parsing.
pub fn parsed_keys(keys: &[String]) -> Vec<String> {
    let mut out: Vec<String> = keys
        .iter()
        .filter(|k| *k == "ca.crt" || *k == "tls.crt")
        .cloned()
        .collect();
    if keys.len() == 1 && out.is_empty() && keys[0] != "tls.key" {
        out.push(keys[0].clone());
    }
    out
}
