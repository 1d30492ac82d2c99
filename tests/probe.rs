//! The TLS probe against real servers: in-process tokio-rustls servers with rcgen PKIs for what
//! rustls can serve, `openssl s_server` for legacy protocols and CBC-only suites, a plaintext HTTP
//! server (the "400 Bad Request" case), a silent server and a closed port.

use lastmile::model::SanMatcher;
use lastmile::probe::{self, Failure, Identity, ProbeRequest, TrustSource};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct Pki {
    root: CertifiedIssuer<'static, KeyPair>,
    inter: CertifiedIssuer<'static, KeyPair>,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p
}

fn pki(name: &str) -> Pki {
    let root = CertifiedIssuer::self_signed(
        ca_params(&format!("{name} Root")),
        KeyPair::generate().unwrap(),
    )
    .unwrap();
    let inter = CertifiedIssuer::signed_by(
        ca_params(&format!("{name} Intermediate")),
        KeyPair::generate().unwrap(),
        &root,
    )
    .unwrap();
    Pki { root, inter }
}

impl Pki {
    fn root_pem(&self) -> Vec<u8> {
        self.root.pem().into_bytes()
    }

    /// A leaf for `dns` names and `uris`, valid between the given years, plus its chain.
    fn leaf(
        &self,
        dns: &[&str],
        uris: &[&str],
        years: (i32, i32),
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let mut p =
            CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        for u in uris {
            p.subject_alt_names
                .push(SanType::URI((*u).try_into().unwrap()));
        }
        p.distinguished_name
            .push(DnType::CommonName, dns.first().copied().unwrap_or("leaf"));
        p.not_before = rcgen::date_time_ymd(years.0, 1, 1);
        p.not_after = rcgen::date_time_ymd(years.1, 1, 1);
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.inter).unwrap();
        let chain = vec![cert.der().clone(), self.inter.der().clone()];
        (
            chain,
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    probe::provider()
}

/// Serves TLS with `config` on a loopback port; each connection answers one HTTP request.
async fn serve(config: rustls::ServerConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut buf = [0u8; 1024];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    addr
}

fn server(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ServerConfig {
    let mut c = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    c.alpn_protocols = vec![b"h2".to_vec()];
    c
}

fn request(addr: SocketAddr, sni: &str, ca: &[u8]) -> ProbeRequest {
    ProbeRequest {
        address: addr.to_string(),
        sni: Some(sni.into()),
        trust: Some(TrustSource::from_pem("test CA", ca)),
        identity: None,
        timeout: Duration::from_secs(3),
        legacy: false,
        dial: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_chain_is_trusted_with_handshake_facts() {
    let pki = pki("Shop");
    let (chain, key) = pki.leaf(&["backend.test"], &[], (2025, 2035));
    let addr = serve(server(chain, key, rustls::ALL_VERSIONS)).await;
    let r = probe::probe(&request(addr, "backend.test", &pki.root_pem())).await;
    assert_eq!(r.failure, None, "{r:#?}");
    assert_eq!(r.version.as_deref(), Some("TLSv1.3"));
    assert!(r.cipher_suite.as_deref().unwrap().starts_with("TLS13_"));
    assert!(r.kx_group.is_some());
    assert_eq!(r.alpn.as_deref(), Some("h2"));
    assert_eq!(r.chain.len(), 2);
    assert!(r.chain[0].sans.contains(&"backend.test".to_string()));
    assert!(r.chain[0].days_left.unwrap() > 300);
    assert_eq!(r.chain[0].sha256.len(), 95);
    let v = r.verdict.unwrap();
    assert_eq!(v.verdict, "trusted");
    assert!(
        v.summary.starts_with("the gateway's validation would pass"),
        "{}",
        v.summary
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls12_only_backend() {
    let pki = pki("Old");
    let (chain, key) = pki.leaf(&["backend.test"], &[], (2025, 2035));
    let addr = serve(server(chain, key, &[&rustls::version::TLS12])).await;
    let r = probe::probe(&request(addr, "backend.test", &pki.root_pem())).await;
    assert_eq!(r.version.as_deref(), Some("TLSv1.2"));
    assert_eq!(r.verdict.unwrap().verdict, "trusted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_name_expired_and_unknown_issuer_are_named() {
    let pki = pki("Shop");
    let other = pki_other();
    let (chain, key) = pki.leaf(&["other.test"], &[], (2025, 2035));
    let addr = serve(server(chain, key, rustls::ALL_VERSIONS)).await;
    let v = probe::probe(&request(addr, "backend.test", &pki.root_pem()))
        .await
        .verdict
        .unwrap();
    assert_eq!((v.verdict, v.reason), ("untrusted", "name_mismatch"));
    assert!(
        v.detail.contains("other.test"),
        "the presented names are shown: {}",
        v.detail
    );
    // The same chain against another CA: unknown issuer (path is checked before the name).
    let v = probe::probe(&request(addr, "backend.test", &other))
        .await
        .verdict
        .unwrap();
    assert_eq!(v.reason, "unknown_issuer");

    let (chain, key) = pki.leaf(&["backend.test"], &[], (2020, 2021));
    let addr = serve(server(chain, key, rustls::ALL_VERSIONS)).await;
    let r = probe::probe(&request(addr, "backend.test", &pki.root_pem())).await;
    assert_eq!(r.verdict.as_ref().unwrap().reason, "expired");
    assert!(r.chain[0].days_left.unwrap() < 0);
    assert!(r.headline().contains("would fail"), "{}", r.headline());
}

fn pki_other() -> Vec<u8> {
    pki("Elsewhere").root_pem()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uri_san_identity() {
    let pki = pki("Mesh");
    let (chain, key) = pki.leaf(
        &["backend.test"],
        &["spiffe://td/ns/app/sa/shop"],
        (2025, 2035),
    );
    let addr = serve(server(chain, key, rustls::ALL_VERSIONS)).await;
    let mut req = request(addr, "backend.test", &pki.root_pem());
    req.identity = Some(Identity::Sans(vec![SanMatcher::Uri(
        "spiffe://td/ns/app/sa/shop".into(),
    )]));
    assert_eq!(probe::probe(&req).await.verdict.unwrap().verdict, "trusted");
    req.identity = Some(Identity::Sans(vec![SanMatcher::Uri(
        "spiffe://td/ns/app/sa/other".into(),
    )]));
    let v = probe::probe(&req).await.verdict.unwrap();
    assert_eq!(v.reason, "name_mismatch", "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_required_is_recognised_and_the_chain_kept() {
    let pki = pki("Mtls");
    let (chain, key) = pki.leaf(&["backend.test"], &[], (2025, 2035));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.root.der().clone()).unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    let addr = serve(cfg).await;
    let r = probe::probe(&request(addr, "backend.test", &pki.root_pem())).await;
    assert!(r.client_cert_requested);
    assert!(
        r.client_ca_hints.iter().any(|h| h.contains("Mtls Root")),
        "{:?}",
        r.client_ca_hints
    );
    assert_eq!(r.failure, Some(Failure::MtlsRequired));
    assert_eq!(
        r.chain.len(),
        2,
        "the chain is kept although the handshake is refused"
    );
    assert_eq!(r.verdict.unwrap().verdict, "trusted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_http_on_a_tls_port_is_the_400_case() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 48\r\n\r\nClient sent an HTTP request to an HTTPS server.\n").await;
            });
        }
    });
    let r = probe::probe(&request(addr, "backend.test", b"")).await;
    assert!(matches!(r.failure, Some(Failure::NotTls { .. })), "{r:#?}");
    assert_eq!(
        r.plaintext_http.as_deref(),
        Some("HTTP/1.1 400 Bad Request")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_times_out_and_closed_port_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let mut req = request(addr, "backend.test", b"");
    req.timeout = Duration::from_millis(400);
    let t = std::time::Instant::now();
    let r = probe::probe(&req).await;
    assert_eq!(
        r.failure,
        Some(Failure::Timeout {
            stage: "tls_handshake"
        })
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "bounded by the timeout: {:?}",
        t.elapsed()
    );

    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let r = probe::probe(&request(closed, "backend.test", b"")).await;
    assert!(
        matches!(r.failure, Some(Failure::ConnectRefused { .. })),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_over_any_stream() {
    // Stand-in for a port-forward stream.
    let pki = pki("Stream");
    let (chain, key) = pki.leaf(&["backend.test"], &[], (2025, 2035));
    let (client, server_io) = tokio::io::duplex(64 * 1024);
    let acceptor =
        tokio_rustls::TlsAcceptor::from(Arc::new(server(chain, key, rustls::ALL_VERSIONS)));
    tokio::spawn(async move {
        if let Ok(mut tls) = acceptor.accept(server_io).await {
            let mut buf = [0u8; 64];
            let _ = tls.read(&mut buf).await;
        }
    });
    let r = probe::probe_stream(
        client,
        &request(
            "127.0.0.1:1".parse().unwrap(),
            "backend.test",
            &pki.root_pem(),
        ),
    )
    .await;
    assert_eq!(r.version.as_deref(), Some("TLSv1.3"));
    assert_eq!(r.verdict.unwrap().verdict, "trusted");
}

/// `openssl s_server` for what rustls cannot serve. Skipped only if openssl is missing, which
/// `.ci/run` prevents by installing it.
fn s_server(
    args: &[&str],
    cert: &std::path::Path,
    key: &std::path::Path,
) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-accept",
            &port.to_string(),
            "-cert",
            cert.to_str().unwrap(),
            "-key",
            key.to_str().unwrap(),
        ])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl is installed (.ci/run installs it)");
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port)
}

fn rsa_self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=backend.test",
            "-addext",
            "subjectAltName=DNS:backend.test",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(ok.status.success());
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_legacy_protocols_cbc_only_and_pinned_ca_leaf() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = rsa_self_signed(dir.path());
    let pem = std::fs::read(&cert).unwrap();

    // TLS 1.0 only (with the security level lowered so OpenSSL offers a TLS 1.0 suite).
    let (mut child, port) = s_server(&["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"], &cert, &key);
    let mut req = request(
        format!("127.0.0.1:{port}").parse().unwrap(),
        "backend.test",
        &pem,
    );
    req.legacy = true;
    let r = probe::probe(&req).await;
    let _ = child.kill();
    assert!(
        matches!(&r.failure, Some(Failure::TlsAlert { alert, .. }) if alert == "ProtocolVersion"),
        "{r:#?}"
    );
    let l = r.legacy.unwrap();
    assert!(l.tls1_0, "{l:#?}");
    assert!(!l.tls1_1);

    // TLS 1.2 with CBC suites only: rustls cannot connect; the raw hello says why.
    let (mut child, port) = s_server(
        &["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA256:AES128-SHA"],
        &cert,
        &key,
    );
    let mut req = request(
        format!("127.0.0.1:{port}").parse().unwrap(),
        "backend.test",
        &pem,
    );
    req.legacy = true;
    let r = probe::probe(&req).await;
    let _ = child.kill();
    assert!(
        matches!(&r.failure, Some(Failure::TlsAlert { alert, .. }) if alert == "HandshakeFailure"),
        "{r:#?}"
    );
    let l = r.legacy.unwrap();
    assert!(l.weak_tls1_2 && !l.tls1_0, "{l:#?}");

    // A modern server with an `openssl req -x509` (CA:TRUE) certificate pinned as its own CA.
    let (mut child, port) = s_server(&[], &cert, &key);
    let r = probe::probe(&request(
        format!("127.0.0.1:{port}").parse().unwrap(),
        "backend.test",
        &pem,
    ))
    .await;
    let _ = child.kill();
    let v = r.verdict.unwrap();
    assert_eq!(v.reason, "ca_used_as_end_entity");
    assert!(v.pinned_ca_leaf, "flagged: OpenSSL-based proxies accept it");
}

/// `lastmile check --probe` with a backend reached through `--probe-address` (as through a
/// port-forward): the certificate findings and the JSON `probe` object.
#[test]
fn check_probe_adds_findings_and_probe_objects() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pki = pki("Shop");
    let (chain, key) = pki.leaf(&["shop.example.com"], &[], (2025, 2035));
    let tls_addr = rt.block_on(serve(server(chain, key, rustls::ALL_VERSIONS)));
    // Plaintext HTTP where the policy expects TLS.
    let plain = rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut b = [0u8; 512];
                    let _ = s.read(&mut b).await;
                    let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
                });
            }
        });
        a
    });
    let run = |addr: SocketAddr| {
        let out = assert_cmd::Command::cargo_bin("lastmile")
            .unwrap()
            .args([
                "check",
                "-f",
                "tests/fixtures/clean.yaml",
                "--format",
                "json",
                "--probe",
                "--probe-timeout",
                "2s",
                "--probe-address",
            ])
            .arg(format!("Service/app/shop:443={addr}"))
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (v, out.status.code())
    };
    // The policy says System trust; the backend's private CA is not in it: untrusted.
    let (v, code) = run(tls_addr);
    assert_eq!(code, Some(1));
    let probe = &v["edges"][0]["probe"];
    assert_eq!(probe["version"], "TLSv1.3");
    assert_eq!(probe["verdict"]["verdict"], "untrusted");
    assert_eq!(probe["verdict"]["reason"], "unknown_issuer");
    for f in [
        "version",
        "cipher_suite",
        "kx_group",
        "alpn",
        "chain",
        "verdict",
        "failure",
        "legacy",
    ] {
        assert!(probe.get(f).is_some(), "probe lacks {f}");
    }
    let chain0 = &probe["chain"][0];
    for f in [
        "subject",
        "issuer",
        "sans",
        "not_before",
        "not_after",
        "days_left",
        "key",
        "signature_algorithm",
        "sha256",
    ] {
        assert!(chain0.get(f).is_some(), "chain entry lacks {f}");
    }
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "probe-untrusted" && f["severity"] == "high")
    );
    // A plaintext backend behind the TLS policy.
    let (v, _) = run(plain);
    assert_eq!(v["edges"][0]["probe"]["failure"]["kind"], "not_tls");
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "probe-not-tls"),
        "{v:#}"
    );
}

/// `--demo` starts local backends, so probing works without a cluster and shows each scenario.
#[test]
fn demo_backends_answer_probes() {
    let out = assert_cmd::Command::cargo_bin("lastmile")
        .unwrap()
        .args([
            "check",
            "--demo",
            "--probe",
            "--format",
            "json",
            "--at",
            "2026-11-22T00:00:00Z",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let probe = |backend: &str| {
        v["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["backend"] == backend && e.get("probe").is_some())
            .unwrap_or_else(|| panic!("{backend} not probed"))["probe"]
            .clone()
    };
    assert_eq!(
        probe("Service/shop/storefront:443")["verdict"]["verdict"],
        "trusted"
    );
    assert_eq!(
        probe("Service/shop/images-next:8443")["verdict"]["reason"],
        "name_mismatch"
    );
    assert_eq!(
        probe("Service/payments/checkout:8443")["verdict"]["reason"],
        "expired"
    );
    assert_eq!(
        probe("Service/payments/fraud:8443")["failure"]["kind"],
        "mtls_required"
    );
    assert_eq!(probe("Service/search/query:9200")["version"], "TLSv1.2");
    assert_eq!(
        probe("Service/payments/refunds:443")["failure"]["kind"],
        "not_tls"
    );
    assert_eq!(
        probe("Service/payments/refunds:443")["plaintext_http"],
        "HTTP/1.1 200 OK"
    );
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"probe-plaintext-port-speaks-tls"),
        "the 400 trap confirmed on shop/cart: {ids:?}"
    );
    assert!(ids.contains(&"certificate-expired"));
    assert!(
        !ids.contains(&"probe-unreachable"),
        "every demo backend answers: {ids:?}"
    );
}
