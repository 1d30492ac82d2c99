//! The probe against hostile backends, all in-process on 127.0.0.1: a 10 MB certificate chain,
//! 100 certificates, 100 client-CA hints, malformed TLS records, a server that trickles one byte
//! per second, and one that accepts and never answers. Every probe must end within its stage
//! deadlines (the timeout bounds each stage as a whole, not each read) with a classified
//! failure, keep at most `MAX_CHAIN_CERTS` certificates / `MAX_CHAIN_BYTES` bytes, and not panic.

use lastmile::probe::{self, Failure, ProbeReport, ProbeRequest, TrustSource};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(1500);

fn ca(cn: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

/// A root, and a leaf for `backend.test` signed by it.
fn leaf() -> (
    CertifiedIssuer<'static, KeyPair>,
    CertificateDer<'static>,
    PrivateKeyDer<'static>,
) {
    let root = ca("Hostile Root");
    let mut p = CertificateParams::new(vec!["backend.test".to_string()]).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "backend.test");
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &root).unwrap();
    (
        root,
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

fn request(addr: SocketAddr, timeout: Duration, ca_pem: &[u8]) -> ProbeRequest {
    ProbeRequest {
        address: addr.to_string(),
        sni: Some("backend.test".into()),
        trust: Some(TrustSource::from_pem("test CA", ca_pem)),
        identity: None,
        timeout,
        legacy: false,
        dial: Default::default(),
    }
}

fn tls_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ServerConfig {
    rustls::ServerConfig::builder_with_provider(probe::provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap()
}

/// Serves TLS with `config`; each connection is accepted and held briefly.
async fn serve_tls(config: rustls::ServerConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut buf = [0u8; 64];
                    let _ = tokio::time::timeout(Duration::from_secs(2), tls.read(&mut buf)).await;
                }
            });
        }
    });
    addr
}

/// Serves raw bytes: `answer` gets each connection (after nothing has been read from it).
async fn serve_raw<F, Fut>(answer: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(answer(tcp));
        }
    });
    addr
}

/// Reads what the client sends first (its hello or request), up to a few KiB.
async fn read_hello(s: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
}

/// What the report keeps stays under the caps, and the JSON contract fields are there.
fn assert_bounded(r: &ProbeReport) {
    assert!(r.chain.len() <= probe::MAX_CHAIN_CERTS, "{}", r.chain.len());
    let kept: usize = r.chain.iter().map(|c| c.facts.der.len()).sum();
    assert!(kept <= probe::MAX_CHAIN_BYTES, "{kept} bytes kept");
    let json = serde_json::to_value(r).unwrap();
    for field in [
        "version",
        "cipher_suite",
        "kx_group",
        "alpn",
        "chain",
        "verdict",
        "failure",
        "legacy",
    ] {
        assert!(json.get(field).is_some(), "{field} missing from {json}");
    }
    assert!(json["chain"].is_array());
    let text = serde_json::to_string(r).unwrap();
    assert!(text.len() < 256 * 1024, "report of {} bytes", text.len());
    let _ = lastmile::report::probe_text::render(r);
}

async fn timed(req: &ProbeRequest) -> (ProbeReport, Duration) {
    let t = Instant::now();
    let r = probe::probe(req).await;
    (r, t.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabyte_chain_is_refused_not_buffered() {
    let (root, leaf, key) = leaf();
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        // The leaf and then ~10 MB of intermediates (copies of the root, about 20,000 of them).
        let copies = 10 * 1024 * 1024 / root.der().len() + 1;
        let mut chain = vec![leaf.clone()];
        chain.extend(std::iter::repeat_n(root.der().clone(), copies));
        let total: usize = chain.iter().map(|c| c.len()).sum();
        assert!(total >= 10 * 1024 * 1024);
        let addr = serve_tls(tls_config(chain, key.clone_key(), versions)).await;
        let timeout = Duration::from_secs(3);
        let (r, took) = timed(&request(addr, timeout, root.pem().as_bytes())).await;
        assert!(took < timeout + SLACK, "{took:?}");
        // rustls refuses handshake messages over 64 KiB as soon as it reads the header.
        match &r.failure {
            Some(Failure::Other { detail }) => assert!(detail.contains("64 KiB"), "{detail}"),
            other => panic!("{versions:?}: {other:?}"),
        }
        assert!(r.version.is_none() && r.chain.is_empty(), "{r:?}");
        assert_bounded(&r);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_certificates_are_capped_and_the_truncation_reported() {
    let (root, leaf, key) = leaf();
    let mut chain = vec![leaf];
    chain.extend(std::iter::repeat_n(root.der().clone(), 99));
    let served_bytes: usize = chain.iter().map(|c| c.len()).sum();
    assert!(
        served_bytes < 60 * 1024,
        "fits one rustls handshake message"
    );
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        let addr = serve_tls(tls_config(chain.clone(), key.clone_key(), versions)).await;
        let timeout = Duration::from_secs(3);
        let (r, took) = timed(&request(addr, timeout, root.pem().as_bytes())).await;
        assert!(took < timeout + SLACK, "{took:?}");
        assert!(r.version.is_some(), "{r:?}");
        assert_eq!(r.chain.len(), probe::MAX_CHAIN_CERTS);
        assert_eq!(
            r.chain_truncated.as_deref(),
            Some(
                format!(
                    "chain truncated: 100 certificates / {served_bytes} bytes served, \
                     the first 16 kept"
                )
                .as_str()
            )
        );
        // The kept prefix still holds the leaf and its issuer: the verdict is still given.
        assert_eq!(r.verdict.as_ref().map(|v| v.verdict), Some("trusted"));
        let json = serde_json::to_value(&r).unwrap();
        assert!(
            json["chain_truncated"]
                .as_str()
                .unwrap()
                .starts_with("chain truncated: 100 certificates")
        );
        assert!(lastmile::report::probe_text::render(&r).contains("chain truncated"));
        assert_bounded(&r);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normal_chain_is_not_marked_truncated() {
    let (root, leaf, key) = leaf();
    let addr = serve_tls(tls_config(
        vec![leaf, root.der().clone()],
        key,
        rustls::ALL_VERSIONS,
    ))
    .await;
    let (r, _) = timed(&request(
        addr,
        Duration::from_secs(3),
        root.pem().as_bytes(),
    ))
    .await;
    assert_eq!(r.chain.len(), 2);
    assert_eq!(r.chain_truncated, None);
    let json = serde_json::to_value(&r).unwrap();
    assert!(
        json.get("chain_truncated").is_none(),
        "absent unless truncated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_client_ca_hints_are_capped() {
    let (root, leaf, key) = leaf();
    let mut roots = rustls::RootCertStore::empty();
    for i in 0..100 {
        roots
            .add(ca(&format!("Client CA {i}")).der().clone())
            .unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        probe::provider(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(probe::provider())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![leaf], key)
        .unwrap();
    let addr = serve_tls(config).await;
    let timeout = Duration::from_secs(3);
    let (r, took) = timed(&request(addr, timeout, root.pem().as_bytes())).await;
    assert!(took < timeout + SLACK, "{took:?}");
    assert_eq!(r.failure, Some(Failure::MtlsRequired));
    assert_eq!(r.client_ca_hints.len(), probe::MAX_CA_HINTS + 1);
    assert_eq!(r.client_ca_hints.last().unwrap(), "… and 68 more");
    assert_bounded(&r);
}

/// Answers to a ClientHello that are not valid TLS, each with what the probe must make of it.
fn malformed_answers() -> Vec<(&'static str, Vec<u8>)> {
    let mut random_junk = Vec::new();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        random_junk.push(x as u8);
    }
    // A ServerHello header that promises more than it delivers, then a close.
    let truncated_hello = vec![
        0x16, 0x03, 0x03, 0x00, 0x40, 0x02, 0x00, 0x00, 0x3c, 0x03, 0x03,
    ];
    vec![
        // A record longer than TLS allows (2^14 + 2048).
        ("oversized record", {
            let mut v = vec![0x16, 0x03, 0x03, 0xff, 0xff];
            v.extend(std::iter::repeat_n(0u8, 65535));
            v
        }),
        ("empty handshake record", vec![0x16, 0x03, 0x03, 0x00, 0x00]),
        (
            "unknown handshake type",
            vec![0x16, 0x03, 0x03, 0x00, 0x04, 0xfe, 0x00, 0x00, 0x00],
        ),
        (
            "handshake length beyond record",
            vec![0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0xff, 0xff, 0xff],
        ),
        (
            "unknown content type",
            vec![0x42, 0x03, 0x03, 0x00, 0x01, 0x00],
        ),
        (
            "application data first",
            vec![0x17, 0x03, 0x03, 0x00, 0x04, 1, 2, 3, 4],
        ),
        (
            "bad alert",
            vec![0x15, 0x03, 0x03, 0x00, 0x05, 9, 9, 9, 9, 9],
        ),
        ("truncated ServerHello", truncated_hello),
        ("SSLv2-style header", vec![0x80, 0x2e, 0x04, 0x00, 0x02]),
        ("random bytes", random_junk),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_are_classified() {
    let timeout = Duration::from_secs(2);
    for (name, bytes) in malformed_answers() {
        let bytes = Arc::new(bytes);
        let addr = serve_raw(move |mut s| {
            let bytes = bytes.clone();
            async move {
                read_hello(&mut s).await;
                let _ = s.write_all(&bytes).await;
                let _ = s.shutdown().await;
            }
        })
        .await;
        let mut req = request(addr, timeout, b"");
        req.legacy = true;
        let (r, took) = timed(&req).await;
        // Handshake, HEAD follow-up (only after NotTls / closed / timeout), three legacy hellos.
        assert!(took < 5 * timeout + SLACK, "{name}: {took:?}");
        let failure = r
            .failure
            .clone()
            .unwrap_or_else(|| panic!("{name}: no failure"));
        assert!(
            !matches!(failure, Failure::Timeout { .. }),
            "{name}: the server closed, the probe must not wait: {failure:?}"
        );
        assert!(!failure.describe().is_empty());
        eprintln!("{name}: {}", failure.describe());
        assert!(r.version.is_none(), "{name}: {r:?}");
        if let Some(l) = &r.legacy {
            assert!(!l.tls1_0 && !l.tls1_1 && !l.weak_tls1_2, "{name}: {l:?}");
        }
        assert_bounded(&r);
    }
}

/// Sends `bytes` one byte per second after the client's first bytes, until the client leaves.
async fn trickle(mut s: TcpStream, bytes: &'static [u8]) {
    read_hello(&mut s).await;
    for b in bytes.iter().cycle() {
        if s.write_all(&[*b]).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_server_cannot_hold_a_stage_past_its_deadline() {
    // A record header that announces 16 KiB, then zeros: every read gets one byte, and a byte
    // comes more often than the timeout, so only a deadline per stage ends the wait.
    const RECORD: &[u8] = &[
        0x16, 0x03, 0x03, 0x40, 0x00, 0x02, 0x00, 0x3f, 0xfc, 0x03, 0x03,
    ];
    let addr = serve_raw(|s| trickle(s, RECORD)).await;
    let timeout = Duration::from_millis(1500);
    let (r, took) = timed(&request(addr, timeout, b"")).await;
    assert_eq!(
        r.failure,
        Some(Failure::Timeout {
            stage: "tls_handshake"
        }),
        "{r:?}"
    );
    // The handshake stage, then the plaintext HEAD follow-up stage.
    assert!(took < 2 * timeout + SLACK, "{took:?}");
    assert_eq!(r.plaintext_http, None);
    assert_bounded(&r);

    // With the legacy hellos too: every one of them is bounded the same way.
    let mut req = request(addr, timeout, b"");
    req.legacy = true;
    let (r, took) = timed(&req).await;
    assert!(took < 5 * timeout + SLACK, "{took:?}");
    let legacy = r.legacy.as_ref().expect("legacy ran");
    for (name, a) in &legacy.answers {
        assert_eq!(a.detail, "timeout", "{name}");
    }
    assert_bounded(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_status_line_within_the_deadline_is_still_read() {
    // Plaintext HTTP that arrives in pieces: the HEAD follow-up reads to the end of the line.
    let addr = serve_raw(|mut s| async move {
        read_hello(&mut s).await;
        for part in [&b"HTTP/1.1 40"[..], b"0 Bad Req", b"uest\r\n\r\n"] {
            if s.write_all(part).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let (r, took) = timed(&request(addr, Duration::from_secs(3), b"")).await;
    assert!(took < Duration::from_secs(6) + SLACK, "{took:?}");
    assert_eq!(
        r.plaintext_http.as_deref(),
        Some("HTTP/1.1 400 Bad Request")
    );
    assert!(
        matches!(&r.failure, Some(Failure::NotTls { what }) if what.contains("400")),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_times_out_in_every_stage() {
    let addr = serve_raw(|s| async move {
        // Accept, never read, never write; hold the connection for longer than the probe.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    })
    .await;
    let timeout = Duration::from_secs(1);
    let mut req = request(addr, timeout, b"");
    req.legacy = true;
    let (r, took) = timed(&req).await;
    assert_eq!(
        r.failure,
        Some(Failure::Timeout {
            stage: "tls_handshake"
        })
    );
    assert!(
        took >= timeout,
        "the handshake stage waits its timeout: {took:?}"
    );
    assert!(took < 5 * timeout + SLACK, "{took:?}");
    for (name, a) in &r.legacy.as_ref().expect("legacy ran").answers {
        assert_eq!(a.detail, "timeout", "{name}");
        assert!(!a.accepted);
    }
    assert_bounded(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_never_answers_is_bounded_too() {
    // probe_stream (port-forwards) has the same handshake deadline.
    let (client, _server) = tokio::io::duplex(1024);
    let req = request(
        "127.0.0.1:1".parse().unwrap(),
        Duration::from_millis(500),
        b"",
    );
    let t = Instant::now();
    let r = probe::probe_stream(client, &req).await;
    assert!(t.elapsed() < Duration::from_millis(500) + SLACK);
    assert_eq!(
        r.failure,
        Some(Failure::Timeout {
            stage: "tls_handshake"
        })
    );
}
