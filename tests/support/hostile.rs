//! Hostile input for the security tests: a string full of terminal escapes, controls and bidi
//! overrides; objects that carry it wherever a cluster (or a manifest) can; certificates whose
//! subject and SANs carry it; a TLS backend that serves such a certificate; Secret key material
//! with a recognisable marker. Include with `#[path = "support/hostile.rs"] mod hostile;`.
#![allow(dead_code)]

use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, DnType, DnValue, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// SGR colour, an OSC title change ended by BEL, a C1 CSI (clear screen), a right-to-left
/// override, isolates, marks, NEL, DEL and a C0 control.
pub const H: &str = "\u{1b}[31mRED\u{1b}]0;pwned\u{7}\u{9b}2J\u{202e}txt.exe\u{2066}iso\u{2069}\u{200f}\u{61c}\u{85}\u{7f}\u{1}end";

/// Only ASCII (an IA5String SAN cannot hold more): an OSC title change and a CSI.
pub const H_ASCII: &str = "\u{1b}]0;san-pwned\u{7}\u{1b}[2J";

/// Characters that must never reach a terminal: C0 (but newline), DEL, C1 and bidi controls.
pub fn is_forbidden(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{61C}'
        )
}

/// Panics naming the first forbidden character and its line.
pub fn assert_clean(what: &str, text: &str) {
    for (n, line) in text.lines().enumerate() {
        if let Some(c) = line.chars().find(|&c| is_forbidden(c)) {
            panic!(
                "{what}: U+{:04X} on line {}: {line:?}\n{text}",
                c as u32,
                n + 1
            );
        }
    }
    assert!(
        !text.contains('\u{1b}') && !text.contains('\r'),
        "{what}: raw ESC or CR"
    );
}

/// A CA whose subject and SANs are hostile, and a leaf it signed (also hostile) for `dns`.
pub struct HostilePki {
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
    pub issuer: Issuer<'static, KeyPair>,
}

pub fn hostile_ca() -> HostilePki {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(
        DnType::CommonName,
        DnValue::Utf8String(format!("Evil CA {H}")),
    );
    params.distinguished_name.push(
        DnType::OrganizationName,
        DnValue::Utf8String(format!("Org{H}")),
    );
    params.subject_alt_names = vec![SanType::DnsName(
        format!("ca{H_ASCII}.example").try_into().unwrap(),
    )];
    let cert = params.self_signed(&key).unwrap();
    HostilePki {
        ca_pem: cert.pem(),
        ca_der: cert.der().to_vec(),
        issuer: Issuer::new(params, key),
    }
}

impl HostilePki {
    /// A leaf for `dns` (plus a hostile SAN) with a hostile subject: (cert DER, key DER).
    pub fn leaf(&self, dns: &str) -> (Vec<u8>, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![dns.to_string()]).unwrap();
        params.subject_alt_names.push(SanType::DnsName(
            format!("leaf{H_ASCII}.example").try_into().unwrap(),
        ));
        params.distinguished_name.push(
            DnType::CommonName,
            DnValue::Utf8String(format!("Evil leaf {H}")),
        );
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.der().to_vec(), key.serialize_der())
    }
}

/// A TLS backend on 127.0.0.1 serving `chain` (leaf first); it reads a little and closes.
pub async fn tls_backend(chain: Vec<Vec<u8>>, key: Vec<u8>) -> SocketAddr {
    let cfg = rustls::ServerConfig::builder_with_provider(lastmile::probe::provider())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            chain.into_iter().map(Into::into).collect(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(s).await {
                    let mut b = [0u8; 64];
                    let _ = tls.read(&mut b).await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    a
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Objects that carry `H` wherever they can. `n` is appended to every name (use `H` for
/// manifests, where anything goes, and "" for a cluster, whose API server validates names).
/// One route reaches `shop{n}:443` through a policy whose CA bundle (ConfigMap `ca{n}`) is
/// `ca_pem` (and whose hostname is hostile), `plain{n}:443` without one (a finding), and
/// `probe{n}:443` through a policy for `localhost` with the same bundle (a probe of it gets the
/// backend's chain); the Gateway names a missing client-certificate Secret.
pub fn hostile_objects(n: &str, ca_pem: &str) -> Vec<Value> {
    let ann = json!({"note": H, "kubectl.kubernetes.io/description": H});
    let labels = json!({"team": H});
    let cond = |t: &str| {
        json!({"type": t, "status": "True", "reason": format!("Because{H}"), "message": H,
               "observedGeneration": 1, "lastTransitionTime": "2026-11-01T00:00:00Z"})
    };
    vec![
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
            "metadata": {"name": format!("eg{n}"), "annotations": ann, "labels": labels, "generation": 1},
            "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
                     "description": H},
            "status": {"conditions": [cond("Accepted")]}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": format!("gw{n}"), "namespace": "infra", "annotations": ann,
                         "labels": labels, "generation": 1},
            "spec": {"gatewayClassName": format!("eg{n}"),
                     "listeners": [{"name": format!("http{n}"), "protocol": "HTTP", "port": 80,
                                    "hostname": format!("x{H}.example"),
                                    "allowedRoutes": {"namespaces": {"from": "All"}}}],
                     "tls": {"backend": {"clientCertificateRef":
                         {"group": "", "kind": "Secret", "name": format!("missing-client{n}")}}}},
            "status": {"conditions": [cond("Accepted"), cond("Programmed")],
                       "listeners": [{"name": format!("http{n}"), "attachedRoutes": 2,
                                      "supportedKinds": [{"kind": "HTTPRoute"}],
                                      "conditions": [cond("Accepted")]}]}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": format!("shop{n}"), "namespace": "app", "annotations": ann,
                         "labels": labels, "generation": 1},
            "spec": {"parentRefs": [{"name": format!("gw{n}"), "namespace": "infra"}],
                     "hostnames": [format!("h{H}.example")],
                     "rules": [{"backendRefs": [{"name": format!("shop{n}"), "port": 443}]},
                               {"backendRefs": [{"name": format!("plain{n}"), "port": 443}]},
                               {"backendRefs": [{"name": format!("probe{n}"), "port": 443}]}]},
            "status": {"parents": [{"parentRef": {"name": format!("gw{n}"), "namespace": "infra"},
                                    "controllerName": format!("gateway.envoyproxy.io/gatewayclass-controller{H}"),
                                    "conditions": [cond("Accepted"), cond("ResolvedRefs")]}]}}),
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("shop{n}"), "namespace": "app", "annotations": ann, "labels": labels},
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 8443, "appProtocol": "https"}],
                     "selector": {"app": "shop"}}}),
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("plain{n}"), "namespace": "app", "annotations": ann},
            "spec": {"ports": [{"name": format!("https{n}"), "port": 443, "targetPort": 8443}]}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
            "metadata": {"name": format!("shop-tls{n}"), "namespace": "app", "annotations": ann,
                         "labels": labels, "generation": 1},
            "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": format!("shop{n}"),
                                     "sectionName": "https"}],
                     "validation": {"caCertificateRefs": [{"group": "", "kind": "ConfigMap",
                                                           "name": format!("ca{n}")}],
                                    "hostname": format!("shop{H}.example"),
                                    "subjectAltNames": [{"type": "Hostname",
                                                         "hostname": format!("san{H}.example")}]}},
            "status": {"ancestors": [{"ancestorRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                                      "name": format!("gw{n}"), "namespace": "infra"},
                                      "controllerName": format!("gateway.envoyproxy.io/gatewayclass-controller{H}"),
                                      "conditions": [cond("Accepted"), cond("ResolvedRefs")]}]}}),
        // A policy with a usable hostname, so a probe gets as far as the certificate chain.
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("probe{n}"), "namespace": "app", "annotations": ann},
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 8443}]}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
            "metadata": {"name": format!("probe-tls{n}"), "namespace": "app", "annotations": ann},
            "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": format!("probe{n}")}],
                     "validation": {"caCertificateRefs": [{"group": "", "kind": "ConfigMap",
                                                           "name": format!("ca{n}")}],
                                    "hostname": "localhost"}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("ca{n}"), "namespace": "app", "annotations": ann},
            "data": {"ca.crt": ca_pem}}),
    ]
}

/// The JSON of a `kind: List` holding `objects`.
pub fn list_json(objects: &[Value]) -> String {
    serde_json::to_string_pretty(&json!({"apiVersion": "v1", "kind": "List", "items": objects}))
        .unwrap()
}

/// A recognisable marker inside private-key material. Valid base64 characters, so a PEM body can
/// hold it verbatim.
pub const MARKER: &str = "LASTMILEsecretKEYmarker0123456789";

/// A PEM "private key" whose base64 body contains `marker`.
pub fn marked_key_pem(marker: &str) -> String {
    format!(
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC{marker}AgEAAoIBAQC7\n-----END PRIVATE KEY-----\n"
    )
}

/// The forms the marker can take in output: verbatim, and inside the base64 of the PEM (the
/// Secret's `data` value) at each of the three alignments.
pub fn marker_forms(marker: &str) -> Vec<String> {
    let mut out = vec![marker.to_string()];
    let pem = marked_key_pem(marker);
    let whole = b64(&pem);
    out.push(whole.clone());
    let at = pem.find(marker).unwrap();
    for shift in 0..3 {
        // Base64 of the PEM starting at a multiple of 3 at or before the marker.
        let start = (at - shift) / 3 * 3;
        let enc = b64(&pem[start..]);
        // The characters that encode only marker bytes.
        let skip = (at - start).div_ceil(3) * 4;
        let frag: String = enc
            .chars()
            .skip(skip)
            .take(marker.len() * 4 / 3 - 4)
            .collect();
        if frag.len() >= 16 {
            out.push(frag);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Panics if `text` holds the marker in any form.
pub fn assert_no_marker(what: &str, text: &str, marker: &str) {
    for f in marker_forms(marker) {
        assert!(
            !text.contains(&f),
            "{what} contains secret material ({f:?}):\n{text}"
        );
    }
}

/// A kubernetes.io/tls Secret whose tls.crt is `cert_pem` and whose tls.key holds `marker`.
pub fn marked_secret(ns: &str, name: &str, cert_pem: &str, marker: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": ns,
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                        format!("{{\"data\":{{\"tls.key\":\"{}\"}}}}", b64(&marked_key_pem(marker)))}},
        "data": {"tls.crt": b64(cert_pem), "tls.key": b64(&marked_key_pem(marker)),
                 "ca.crt": b64(cert_pem)},
        "stringData": {"password": marker}})
}

/// A self-signed client certificate (PEM).
pub fn client_cert_pem() -> String {
    let key = KeyPair::generate().unwrap();
    CertificateParams::new(vec!["client.example".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap()
        .pem()
}
