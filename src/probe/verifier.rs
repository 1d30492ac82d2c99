//! A server-certificate verifier that records the chain and signature checks but never aborts,
//! and a client-auth resolver that records whether the server asked for a certificate.

use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default, Clone)]
pub struct Recorded {
    pub chain: Vec<CertificateDer<'static>>,
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
        r.chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
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
            .map(|der| {
                <x509_parser::x509::X509Name as x509_parser::prelude::FromDer<
                    x509_parser::error::X509Error,
                >>::from_der(der)
                .map(|(_, n)| n.to_string())
                .unwrap_or_else(|_| "(unparsable name)".into())
            })
            .collect();
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}
