//! The port-forward probe transport through the test API server: Service -> ready pod behind its
//! selector -> named targetPort -> `pods/portforward` WebSocket -> a local TLS listener.

#[path = "support/apiserver/mod.rs"]
mod apiserver;

use apiserver::{Fault, ServerConfig, TestApiServer};
use lastmile::probe::dial::ServiceForwarder;
use lastmile::probe::{self, Dial, Identity, ProbeRequest, TrustSource};
use lastmile::source::cluster::{self, ClusterTarget, PortForwarder};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OBJECTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: app}
spec:
  selector: {app: shop}
  ports:
  - {name: https, port: 443, targetPort: https}
---
apiVersion: v1
kind: Pod
metadata: {name: shop-old, namespace: app, labels: {app: shop}}
spec:
  containers:
  - {name: web, image: shop, ports: [{name: https, containerPort: 8443}]}
status:
  conditions: [{type: Ready, status: "False"}]
---
apiVersion: v1
kind: Pod
metadata: {name: shop-7d9f, namespace: app, labels: {app: shop}}
spec:
  containers:
  - {name: web, image: shop, ports: [{name: https, containerPort: 8443}]}
status:
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: app, labels: {app: other}}
spec:
  containers:
  - {name: web, image: other}
status:
  conditions: [{type: Ready, status: "True"}]
"#;

/// A TLS listener for `shop.example.com` and the PEM of its CA.
async fn tls_backend() -> (SocketAddr, Vec<u8>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "pf test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["shop.example.com".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(probe::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut buf = [0u8; 512];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (addr, ca.pem().into_bytes())
}

/// The test API server with [`OBJECTS`], its ready pod's port 8443 forwarded to a TLS
/// listener; the PEM of that listener's CA.
async fn shop_server() -> (TestApiServer, Vec<u8>) {
    let server = TestApiServer::start(ServerConfig::default());
    server.seed_yaml(OBJECTS);
    let (backend, ca_pem) = tls_backend().await;
    server.portforward_target("app", "shop-7d9f", 8443, backend);
    (server, ca_pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_a_service_through_the_api_server() {
    let (server, ca_pem) = shop_server().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = server.write_kubeconfig(dir.path(), "test");
    let conn = cluster::connect(&ClusterTarget {
        kubeconfig: Some(kubeconfig),
        ..Default::default()
    })
    .await
    .unwrap();
    let forwarder = PortForwarder::new(conn.client.clone());
    let req = ProbeRequest {
        address: "shop.app.svc:443".into(),
        sni: Some("shop.example.com".into()),
        trust: Some(TrustSource::from_pem("shop CA", &ca_pem)),
        identity: Some(Identity::Name("shop.example.com".into())),
        timeout: Duration::from_secs(5),
        legacy: true,
        dial: Dial::Via(forwarder.forward("app", "shop", 443)),
    };
    let report = probe::probe(&req).await;
    assert_eq!(report.failure, None, "{report:?}");
    assert_eq!(report.version.as_deref(), Some("TLSv1.3"));
    assert_eq!(report.verdict.as_ref().map(|v| v.verdict), Some("trusted"));
    assert!(report.via.as_deref().unwrap().contains("port-forward"));
    // The legacy hellos went through the tunnel too (and were refused by rustls).
    let legacy = report.legacy.expect("legacy hellos ran");
    assert!(!legacy.tls1_0 && !legacy.tls1_1);

    let forwards: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.verb == "portforward")
        .collect();
    assert!(
        forwards.len() >= 2,
        "handshake and legacy hellos each open a tunnel"
    );
    assert!(
        forwards
            .iter()
            .all(|r| r.path == "/api/v1/namespaces/app/pods/shop-7d9f/portforward"),
        "only the ready pod is used: {forwards:?}"
    );
    // The Service and its pods are looked up once for the probe, not once per tunnel.
    assert_eq!(lookups(&server), (1, 1), "{:?}", server.requests());
    for r in server.requests() {
        assert!(
            matches!(
                r.verb.as_str(),
                "get" | "list" | "watch" | "discovery" | "portforward"
            ),
            "unexpected verb: {r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_without_ready_pods_is_a_clear_failure() {
    let server = TestApiServer::start(ServerConfig::default());
    server.seed_yaml(OBJECTS);
    server.delete("v1", "Pod", "app", "shop-7d9f");
    let report = shop_probe(&server, Duration::from_secs(3)).await;
    let failure = format!("{:?}", report.failure);
    assert!(failure.contains("no ready pod"), "{failure}");
}

/// GETs of the Service and LISTs of pods the server answered or refused so far.
fn lookups(server: &TestApiServer) -> (usize, usize) {
    let requests = server.requests();
    let count = |verb: &str, resource: &str| {
        requests
            .iter()
            .filter(|r| r.verb == verb && r.resource == resource)
            .count()
    };
    (count("get", "services"), count("list", "pods"))
}

/// A probe of `shop:443` through the API server at `server`, with `timeout`.
async fn shop_probe(server: &TestApiServer, timeout: Duration) -> probe::ProbeReport {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = server.write_kubeconfig(dir.path(), "test");
    let conn = cluster::connect(&ClusterTarget {
        kubeconfig: Some(kubeconfig),
        ..Default::default()
    })
    .await
    .unwrap();
    let req = ProbeRequest {
        address: "shop.app.svc:443".into(),
        sni: Some("shop.example.com".into()),
        trust: None,
        identity: None,
        timeout,
        legacy: false,
        dial: Dial::Via(PortForwarder::new(conn.client).forward("app", "shop", 443)),
    };
    probe::probe(&req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_api_server_is_asked_again() {
    // A sweep asks for many tunnels at once; API priority and fairness answers some with 429.
    let (server, _) = shop_server().await;
    let throttled = |retry_after| Fault::Status {
        code: 429,
        retry_after,
    };
    server.fault_times("list", "pods", throttled(Some(1)), 1);
    server.fault_times("portforward", "pods/portforward", throttled(None), 2);
    let report = shop_probe(&server, Duration::from_secs(10)).await;
    assert_eq!(report.failure, None, "{report:?}");
    assert_eq!(report.version.as_deref(), Some("TLSv1.3"));
    // The refused list was sent again, once; the upgrade three times in all.
    assert_eq!(lookups(&server), (1, 2));
    let forwards = server
        .requests()
        .iter()
        .filter(|r| r.verb == "portforward")
        .count();
    assert!(forwards >= 3, "{forwards} port-forward requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_that_keeps_throttling_is_named_in_the_failure() {
    let server = TestApiServer::start(ServerConfig::default());
    server.seed_yaml(OBJECTS);
    server.fault(
        "list",
        "pods",
        Fault::Status {
            code: 429,
            retry_after: None,
        },
    );
    let report = shop_probe(&server, Duration::from_secs(10)).await;
    let failure = format!("{:?}", report.failure);
    assert!(
        failure.contains("pods of Service app/shop") && failure.contains("throttled it 5 times"),
        "{failure}"
    );
    // Asked five times, then given up: the probe did not wait for its own timeout.
    assert_eq!(lookups(&server), (1, 5));
}
