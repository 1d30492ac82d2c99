//! A server-certificate verifier that records the chain and signature checks but never aborts,
//! and a client-auth resolver that records whether the server asked for a certificate.

use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, Mutex};

/// At most this many certificates of a served chain are kept and parsed. Real chains have 2–4;
/// a hostile or broken backend may send hundreds, and each one is parsed and summarised.
pub const MAX_CHAIN_CERTS: usize = 16;
/// At most this many bytes of certificates are kept. rustls itself refuses handshake messages
/// over 64 KiB, so this only bites if that limit is ever raised; it keeps the bound in lastmile.
pub const MAX_CHAIN_BYTES: usize = 256 * 1024;
/// At most this many client-CA hints (from a CertificateRequest) are kept and parsed.
pub const MAX_CA_HINTS: usize = 32;

/// A served chain that was longer than what is kept: the sizes the server sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated {
    pub certificates: usize,
    pub bytes: usize,
}

#[derive(Debug, Default, Clone)]
pub struct Recorded {
    /// The served chain, leaf first, capped at [`MAX_CHAIN_CERTS`] and [`MAX_CHAIN_BYTES`].
    pub chain: Vec<CertificateDer<'static>>,
    /// Set when the served chain was cut to the caps.
    pub chain_truncated: Option<Truncated>,
    pub ocsp_len: usize,
    /// `Err` text when the server's handshake signature did not verify.
    pub signature: Option<Result<(), String>>,
    pub client_auth_requested: bool,
    pub client_ca_hints: Vec<String>,
}

#[derive(Debug)]
pub struct RecordingVerifier {
    pub provider: Arc<CryptoProvider>,
    pub record: Arc<Mutex<Recorded>>,
}

impl RecordingVerifier {
    /// Records the outcome of the server's handshake signature check and lets the handshake go
    /// on, so a bad signature is reported instead of ending the probe.
    fn record_signature(
        &self,
        res: Result<HandshakeSignatureValid, rustls::Error>,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.record.lock().expect("record lock").signature =
            Some(res.map(|_| ()).map_err(|e| e.to_string()));
        Ok(HandshakeSignatureValid::assertion())
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut r = self.record.lock().expect("record lock");
        let served = || std::iter::once(end_entity).chain(intermediates);
        r.chain.clear();
        let mut kept_bytes = 0usize;
        for c in served() {
            // A leaf over the byte cap leaves nothing kept (and no verdict), which the
            // truncation note explains.
            if r.chain.len() >= MAX_CHAIN_CERTS || kept_bytes + c.len() > MAX_CHAIN_BYTES {
                break;
            }
            kept_bytes += c.len();
            r.chain.push(c.clone().into_owned());
        }
        let total = 1 + intermediates.len();
        r.chain_truncated = (r.chain.len() < total).then(|| Truncated {
            certificates: total,
            bytes: served().map(|c| c.len()).sum(),
        });
        r.ocsp_len = ocsp_response.len();
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.record_signature(rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.record_signature(rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        ))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let mut v = self
            .provider
            .signature_verification_algorithms
            .supported_schemes();
        // Let SHA-1-only servers finish so they can be reported.
        v.extend([
            SignatureScheme::RSA_PKCS1_SHA1,
            SignatureScheme::ECDSA_SHA1_Legacy,
        ]);
        v
    }
}

#[derive(Debug)]
pub struct RecordingClientAuth {
    pub record: Arc<Mutex<Recorded>>,
}

impl ResolvesClientCert for RecordingClientAuth {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let mut r = self.record.lock().expect("record lock");
        r.client_auth_requested = true;
        r.client_ca_hints = root_hint_subjects
            .iter()
            .take(MAX_CA_HINTS)
            .map(|der| {
                <x509_parser::x509::X509Name as x509_parser::prelude::FromDer<
                    x509_parser::error::X509Error,
                >>::from_der(der)
                .map(|(_, n)| n.to_string())
                .unwrap_or_else(|_| "(unparsable name)".into())
            })
            .collect();
        if root_hint_subjects.len() > MAX_CA_HINTS {
            let more = root_hint_subjects.len() - MAX_CA_HINTS;
            r.client_ca_hints.push(format!("… and {more} more"));
        }
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify(sizes: &[usize]) -> Recorded {
        let record = Arc::new(Mutex::new(Recorded::default()));
        let v = RecordingVerifier {
            provider: crate::probe::provider(),
            record: record.clone(),
        };
        // The verifier records bytes without parsing them.
        let certs: Vec<CertificateDer<'static>> = sizes
            .iter()
            .map(|&n| CertificateDer::from(vec![0x30; n]))
            .collect();
        let name = ServerName::try_from("backend.test").unwrap();
        v.verify_server_cert(&certs[0], &certs[1..], &name, &[], UnixTime::now())
            .unwrap();
        record.lock().unwrap().clone()
    }

    #[test]
    fn chain_is_capped_by_count() {
        let r = verify(&[100; 40]);
        assert_eq!(r.chain.len(), MAX_CHAIN_CERTS);
        assert_eq!(
            r.chain_truncated,
            Some(Truncated {
                certificates: 40,
                bytes: 4000
            })
        );
    }

    #[test]
    fn chain_is_capped_by_bytes() {
        let r = verify(&[100 * 1024, 100 * 1024, 100 * 1024]);
        assert_eq!(r.chain.len(), 2);
        assert_eq!(r.chain_truncated.unwrap().bytes, 300 * 1024);
        let r = verify(&[MAX_CHAIN_BYTES + 1, 10]);
        assert!(r.chain.is_empty(), "the caps hold for the leaf too");
        assert_eq!(r.chain_truncated.unwrap().certificates, 2);
        let r = verify(&[1000, 1000]);
        assert_eq!((r.chain.len(), r.chain_truncated), (2, None));
    }
}
