//! `p` in the terminal UI: the effect carries the edge's probe request, the result comes back as
//! a message, the Probe view shows the verdict, and the Backends view gains a PROBE column.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lastmile::source::demo;
use lastmile::tui::app::{App, Effect, Msg, SourceLabel};
use lastmile::tui::rows::{Filter, SortColumn, backend_rows, content_widths, visible_rows};
use lastmile::tui::theme::{Theme, ThemeName};
use lastmile::tui::ui::draw;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn screen(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(160, 36)).unwrap();
    t.draw(|f| draw(f, app)).unwrap();
    let buf = t.backend().buffer().clone();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                + "\n"
        })
        .collect()
}

/// A TLS backend with a certificate from a CA that is not the policy's (storefront-ca).
fn untrusted_backend(rt: &tokio::runtime::Runtime) -> std::net::SocketAddr {
    rt.block_on(async {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["storefront.shop.svc.cluster.local".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let cfg = rustls::ServerConfig::builder_with_provider(lastmile::probe::provider())
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
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
    })
}

#[test]
fn probe_key_runs_a_probe_and_shows_the_verdict() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = untrusted_backend(&rt);
    let label = SourceLabel {
        kind: "demo".into(),
        description: "embedded demo cluster".into(),
        live: false,
    };
    let mut app = App::new(
        demo::snapshot(),
        "2026-11-22T12:00:00Z".parse().unwrap(),
        label,
        Theme::new(ThemeName::Dark),
    );
    app.update(Msg::Resize(160, 36));
    app.probe_overrides
        .insert("Service/shop/storefront:443".into(), addr.to_string());
    for c in "/storefront".chars() {
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )));
    }
    app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    let effects = app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('p'),
        KeyModifiers::NONE,
    )));
    assert_eq!(app.breadcrumbs(), "Backends › Probe");
    assert!(screen(&app).contains("probing…"));
    let Some(Effect::Probe(requests)) = effects.into_iter().next() else {
        panic!("p must start a probe")
    };
    assert_eq!(requests.len(), 1);
    let (id, req) = requests.into_iter().next().unwrap();
    assert_eq!(req.address, addr.to_string());
    assert_eq!(
        req.sni.as_deref(),
        Some("storefront.shop.svc.cluster.local")
    );
    let report = rt.block_on(lastmile::probe::probe(&req));
    app.update(Msg::ProbeDone(id, Box::new(report)));
    let s = screen(&app);
    assert!(s.contains("the gateway's validation would fail"), "{s}");
    assert!(s.contains("probe-untrusted"), "{s}");
    assert!(s.contains("TLSv1.3"), "{s}");
    // Back on the Backends view, the PROBE column shows the outcome.
    app.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    let s = screen(&app);
    assert!(s.contains("PROBE"), "{s}");
    assert!(s.contains("✘ unknown_issuer"), "{s}");
    // Only the probed row was built again: the rows, their order and the column widths are
    // what building everything again gives.
    let full = backend_rows(&app.posture);
    assert!(full.iter().any(|r| r.probe.contains("unknown_issuer")));
    assert_eq!(format!("{:?}", app.rows), format!("{full:?}"));
    let filter = Filter::new("storefront");
    let order = visible_rows(&full, None, filter.as_ref(), SortColumn::Severity, false);
    assert_eq!(app.visible, order);
    assert_eq!(app.widths, content_widths(order.iter().map(|&i| &full[i])));
    // A backend that cannot be dialled says why instead of hanging.
    app.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    for c in "/recommendations".chars() {
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )));
    }
    app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    let effects = app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('p'),
        KeyModifiers::NONE,
    )));
    assert!(effects.is_empty());
    assert!(screen(&app).contains("cannot probe this edge"));
}

/// A probe request for the edge `(gateway, edge key)`, as `Effect::Probe` carries it.
type Request = ((String, String), lastmile::probe::ProbeRequest);

/// The demo at 160×36 after `P` (probe every edge worth probing): the app and its requests.
fn demo_sweep() -> (App, Vec<Request>) {
    let label = SourceLabel {
        kind: "demo".into(),
        description: "embedded demo cluster".into(),
        live: false,
    };
    let mut app = App::new(
        demo::snapshot(),
        "2026-11-22T12:00:00Z".parse().unwrap(),
        label,
        Theme::new(ThemeName::Dark),
    );
    app.update(Msg::Resize(160, 36));
    let effects = app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('P'),
        KeyModifiers::SHIFT,
    )));
    let Some(Effect::Probe(requests)) = effects.into_iter().next() else {
        panic!("P must start probes")
    };
    (app, requests)
}

#[test]
fn probing_every_edge_shows_progress() {
    let (mut app, requests) = demo_sweep();
    // Only edges where TLS is intended or the port looks like TLS.
    assert_eq!(
        requests.len(),
        12,
        "{:?}",
        requests.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    assert!(screen(&app).contains(&format!("probing 0/{} edges", requests.len())));
    let (id, req) = requests[0].clone();
    // A stream that closes at once stands in for a finished probe.
    let (client, server) = tokio::io::duplex(64);
    drop(server);
    let report = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(lastmile::probe::probe_stream(client, &req));
    app.update(Msg::ProbeDone(id, Box::new(report)));
    assert!(screen(&app).contains(&format!("probing 1/{} edges", requests.len())));
}

/// Results arriving one at a time (each attached on its own, only its row built again) leave
/// the same findings, rows and order as attaching them all to a fresh posture at once.
#[test]
fn probes_finishing_one_by_one_equal_attaching_them_all_at_once() {
    let (mut app, requests) = demo_sweep();
    let now = app.now;
    assert!(requests.len() > 3);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = untrusted_backend(&rt);
    let mut all = std::collections::BTreeMap::new();
    for (id, mut req) in requests {
        req.address = addr.to_string();
        let report = rt.block_on(lastmile::probe::probe(&req));
        for (i, e) in app.posture.edges.iter().enumerate() {
            if (&*e.gateway, &*e.key) == (id.0.as_str(), id.1.as_str()) {
                all.insert(i, report.clone());
            }
        }
        app.update(Msg::ProbeDone(id, Box::new(report)));
    }
    let mut fresh = lastmile::posture::evaluate(&demo::snapshot(), now, &Default::default());
    fresh.add_probes(all, now);
    assert!(fresh.findings.iter().any(|f| f.id.starts_with("probe-")));
    assert_eq!(
        serde_json::to_string(&app.posture.findings).unwrap(),
        serde_json::to_string(&fresh.findings).unwrap()
    );
    let full = backend_rows(&fresh);
    assert_eq!(format!("{:?}", app.rows), format!("{full:?}"));
    let order = visible_rows(&full, None, None, SortColumn::Severity, false);
    assert_eq!(app.visible, order);
    assert_eq!(app.widths, content_widths(order.iter().map(|&i| &full[i])));
}
