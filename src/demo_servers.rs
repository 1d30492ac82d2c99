//! Local backends for `--demo`: TLS servers on loopback whose certificates are signed at start
//! by the demo CAs (assets/demo/pki, demo-only keys), so `p` has real handshakes to show: a valid
//! chain, a wrong name, an expired leaf, mTLS required, TLS 1.2 only, self-signed, and plaintext
//! HTTP on a TLS port.

use rcgen::{CertificateParams, DnType, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SHOP_CA: (&str, &str) = (
    include_str!("../assets/demo/pki/shop-ca.crt.pem"),
    include_str!("../assets/demo/pki/shop-ca.key.pem"),
);
const PAYMENTS_CA: (&str, &str) = (
    include_str!("../assets/demo/pki/payments-ca.crt.pem"),
    include_str!("../assets/demo/pki/payments-ca.key.pem"),
);
const FRAUD_CA: (&str, &str) = (
    include_str!("../assets/demo/pki/fraud-ca.crt.pem"),
    include_str!("../assets/demo/pki/fraud-ca.key.pem"),
);

enum Kind {
    /// A leaf for `names` signed by `ca`, valid between the years.
    Signed {
        ca: (&'static str, &'static str),
        names: &'static [&'static str],
        years: (i32, i32),
        tls12_only: bool,
        require_client_cert: bool,
    },
    /// A self-signed leaf (CA:FALSE) for `names`.
    SelfSigned {
        names: &'static [&'static str],
        tls12_only: bool,
    },
    /// Plaintext HTTP answering every request.
    PlainHttp,
}

/// Which demo backend gets which server.
const SCENARIOS: &[(&str, Kind)] = &[
    (
        "Service/shop/storefront:443",
        Kind::Signed {
            ca: SHOP_CA,
            names: &["storefront.shop.svc.cluster.local"],
            years: (2026, 2028),
            tls12_only: false,
            require_client_cert: false,
        },
    ),
    (
        "Service/shop/images-next:8443",
        Kind::Signed {
            ca: SHOP_CA,
            names: &["images.shop.svc.cluster.local"],
            years: (2026, 2028),
            tls12_only: false,
            require_client_cert: false,
        },
    ),
    (
        "Service/payments/checkout:8443",
        Kind::Signed {
            ca: PAYMENTS_CA,
            names: &["checkout.payments.svc.cluster.local"],
            years: (2024, 2025),
            tls12_only: false,
            require_client_cert: false,
        },
    ),
    (
        "Service/payments/fraud:8443",
        Kind::Signed {
            ca: FRAUD_CA,
            names: &["fraud.payments.svc.cluster.local"],
            years: (2026, 2028),
            tls12_only: false,
            require_client_cert: true,
        },
    ),
    (
        "Service/search/query:9200",
        Kind::SelfSigned {
            names: &["query.search.internal"],
            tls12_only: true,
        },
    ),
    (
        "Backend/ext/partner-api",
        Kind::SelfSigned {
            names: &["api.partner.example"],
            tls12_only: false,
        },
    ),
    (
        "Service/shop/cart:443",
        Kind::SelfSigned {
            names: &["cart.shop.svc.cluster.local"],
            tls12_only: false,
        },
    ),
    (
        "Service/edge/webhooks:443",
        Kind::SelfSigned {
            names: &["webhooks.edge.svc.cluster.local"],
            tls12_only: false,
        },
    ),
    (
        "Service/payments/ledger:443",
        Kind::Signed {
            ca: PAYMENTS_CA,
            names: &["ledger.payments.svc.cluster.local"],
            years: (2026, 2028),
            tls12_only: false,
            require_client_cert: false,
        },
    ),
    (
        "Service/shop/inventory:8443",
        Kind::Signed {
            ca: SHOP_CA,
            names: &["inventory.shop.svc.cluster.local"],
            years: (2026, 2028),
            tls12_only: false,
            require_client_cert: false,
        },
    ),
    ("Service/payments/refunds:443", Kind::PlainHttp),
    ("Service/shop/catalog:8080", Kind::PlainHttp),
];

fn leaf(names: &[&str], years: (i32, i32)) -> Result<(CertificateParams, KeyPair), rcgen::Error> {
    let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p.not_before = rcgen::date_time_ymd(years.0, 1, 1);
    p.not_after = rcgen::date_time_ymd(years.1, 1, 1);
    Ok((p, KeyPair::generate()?))
}

fn server_config(kind: &Kind) -> Result<Option<rustls::ServerConfig>, String> {
    let e = |x: rcgen::Error| x.to_string();
    let provider = crate::probe::provider();
    let (chain, key, tls12, client_ca): (
        Vec<CertificateDer<'static>>,
        KeyPair,
        bool,
        Option<&str>,
    ) = match kind {
        Kind::PlainHttp => return Ok(None),
        Kind::SelfSigned { names, tls12_only } => {
            let (p, key) = leaf(names, (2026, 2028)).map_err(e)?;
            (
                vec![p.self_signed(&key).map_err(e)?.der().clone()],
                key,
                *tls12_only,
                None,
            )
        }
        Kind::Signed {
            ca,
            names,
            years,
            tls12_only,
            require_client_cert,
        } => {
            let issuer =
                Issuer::from_ca_cert_pem(ca.0, KeyPair::from_pem(ca.1).map_err(e)?).map_err(e)?;
            let (p, key) = leaf(names, *years).map_err(e)?;
            (
                vec![p.signed_by(&key, &issuer).map_err(e)?.der().clone()],
                key,
                *tls12_only,
                require_client_cert.then_some(ca.0),
            )
        }
    };
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS12]
    } else {
        rustls::ALL_VERSIONS
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|x| x.to_string())?;
    let builder = match client_ca {
        Some(pem) => {
            use rustls::pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            roots.add_parsable_certificates(
                CertificateDer::pem_slice_iter(pem.as_bytes()).filter_map(Result::ok),
            );
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|x| x.to_string())?;
            builder.with_client_cert_verifier(v)
        }
        None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut cfg = builder
        .with_single_cert(chain, key)
        .map_err(|x| x.to_string())?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(cfg))
}

/// Starts every demo backend on 127.0.0.1 and returns `backend -> HOST:PORT`.
pub async fn start() -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (backend, kind) in SCENARIOS {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|x| format!("demo server: {x}"))?;
        let addr = listener.local_addr().map_err(|x| x.to_string())?;
        match server_config(kind)? {
            Some(cfg) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
                tokio::spawn(async move {
                    while let Ok((tcp, _)) = listener.accept().await {
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            if let Ok(Ok(mut tls)) = tokio::time::timeout(
                                std::time::Duration::from_secs(10),
                                acceptor.accept(tcp),
                            )
                            .await
                            {
                                let mut buf = [0u8; 1024];
                                let _ = tokio::time::timeout(
                                    std::time::Duration::from_secs(2),
                                    tls.read(&mut buf),
                                )
                                .await;
                                let _ = tls
                                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                                    .await;
                                let _ = tls.shutdown().await;
                            }
                        });
                    }
                });
            }
            None => {
                tokio::spawn(async move {
                    while let Ok((mut s, _)) = listener.accept().await {
                        tokio::spawn(async move {
                            let mut buf = [0u8; 1024];
                            let _ = tokio::time::timeout(
                                std::time::Duration::from_secs(2),
                                s.read(&mut buf),
                            )
                            .await;
                            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\nok\n").await;
                        });
                    }
                });
            }
        }
        out.insert(backend.to_string(), addr.to_string());
    }
    tracing::info!(servers = out.len(), "demo backends listening on 127.0.0.1");
    Ok(out)
}
