//! Certificate summaries for probe reports: the parsed facts plus fingerprint, EKU and days left.

use crate::model::CertFacts;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub sans: Vec<String>,
    pub not_before: Option<jiff::Timestamp>,
    pub not_after: Option<jiff::Timestamp>,
    pub days_left: Option<i64>,
    pub key: String,
    pub signature_algorithm: String,
    pub is_ca: bool,
    pub eku: Vec<String>,
    pub sha256: String,
    pub self_signed: bool,
    /// The parsed facts, for certificate findings.
    #[serde(skip)]
    pub facts: CertFacts,
}

impl CertSummary {
    pub fn from_der(der: &[u8], now: jiff::Timestamp) -> Result<Self, String> {
        use x509_parser::prelude::*;
        let facts = CertFacts::from_der(der)?;
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| format!("bad certificate: {e}"))?;
        let mut eku = Vec::new();
        if let Ok(Some(ext)) = cert.extended_key_usage() {
            let e = ext.value;
            for (on, name) in [
                (e.server_auth, "serverAuth"),
                (e.client_auth, "clientAuth"),
                (e.any, "any"),
            ] {
                if on {
                    eku.push(name.to_string());
                }
            }
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        let sha256 = digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        let days_left = facts
            .not_after
            .map(|na| (na.as_second() - now.as_second()).div_euclid(86_400));
        let mut sans = facts.dns_sans.clone();
        sans.extend(facts.uri_sans.iter().cloned());
        Ok(CertSummary {
            facts: facts.clone(),
            self_signed: facts.subject == facts.issuer,
            subject: facts.subject,
            issuer: facts.issuer,
            serial: facts.serial,
            sans,
            not_before: facts.not_before,
            not_after: facts.not_after,
            days_left,
            key: match facts.key_bits {
                Some(b) => format!("{} {b}", facts.key),
                None => facts.key,
            },
            signature_algorithm: facts.signature_algorithm,
            is_ca: facts.is_ca,
            eku,
            sha256,
        })
    }
}
