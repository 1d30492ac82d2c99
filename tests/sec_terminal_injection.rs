//! Terminal injection: strings from the cluster (names, annotations, labels, condition messages,
//! hostnames) and from certificates (subjects, SANs of a CA bundle and of a probed backend) carry
//! escape sequences, C0/C1 controls and bidi overrides. No view of the UI (rendered on
//! TestBackend), no `lastmile check` text, SARIF or JUnit output holds any of them; JSON escapes
//! them and round-trips the original strings.

#[path = "support/apiserver/mod.rs"]
mod apiserver;
#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/views.rs"]
mod views;

use apiserver::{ServerConfig, TestApiServer};
use assert_cmd::Command;
use crossterm::event::KeyCode;
use hostile::{H, assert_clean};
use lastmile::snapshot::{Snapshot, SnapshotBuilder, SourceInfo};
use lastmile::source::cluster::{self, ClusterTarget, LinkState, Phase};
use lastmile::tui::app::{App, Effect, Msg};
use serde_json::Value;
use views::{app_for, ch, key, now, screen};

use std::time::Duration;

const AT: &str = "2026-11-22T00:00:00Z";

/// Renders, asserts the screen is clean, and returns it.
fn check(app: &App, what: &str) -> String {
    let s = screen(app);
    assert_clean(&format!("{what} ({})", app.breadcrumbs()), &s);
    s
}

/// Walks every view; every screen must be clean. Returns them all, concatenated.
fn walk_clean(app: &mut App, what: &str) -> String {
    let mut all = String::new();
    for shot in views::walk(app, H) {
        assert_clean(&format!("{what}: {}", shot.place), &shot.text);
        all += &shot.text;
    }
    all
}

fn manifest_snapshot(text: &str) -> Snapshot {
    let mut b = SnapshotBuilder::new();
    lastmile::source::manifest::add_text(&mut b, text, &format!("hostile{H}.json"));
    b.build(SourceInfo {
        kind: "files".into(),
        description: format!("hostile{H}.json"),
    })
}

/// Probes the edge whose backend is `probe…` against a backend serving a hostile chain,
/// and checks the Probe view and the Backends view's PROBE column.
fn probe_view(app: &mut App, pki: &hostile::HostilePki, what: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (leaf, leaf_key) = pki.leaf("localhost");
    let addr = rt.block_on(hostile::tls_backend(
        vec![leaf, pki.ca_der.clone()],
        leaf_key,
    ));
    ch(app, '1');
    ch(app, 'g');
    let pos = app
        .visible
        .iter()
        .position(|&r| {
            app.posture.edges[app.rows[r].edge]
                .backend
                .contains("/probe")
        })
        .expect("the probe edge");
    for _ in 0..pos {
        key(app, KeyCode::Down);
    }
    let backend = app.selected_edge().unwrap().backend.to_string();
    app.probe_overrides.insert(backend, addr.to_string());
    let effects = ch(app, 'p');
    check(app, &format!("{what} probe running"));
    let Some(Effect::Probe(requests)) = effects.into_iter().next() else {
        panic!("p must start a probe")
    };
    for (id, req) in requests {
        let report = rt.block_on(lastmile::probe::probe(&req));
        app.update(Msg::ProbeDone(id, Box::new(report)));
    }
    let s = check(app, &format!("{what} probe view"));
    assert!(
        s.contains("Evil leaf") || s.contains("Evil CA"),
        "the chain is shown:\n{s}"
    );
    for _ in 0..6 {
        key(app, KeyCode::PageDown);
        check(app, &format!("{what} probe view"));
    }
    key(app, KeyCode::Esc);
    check(app, &format!("{what} backends with PROBE column"));
}

#[test]
fn manifests_with_hostile_strings_render_clean_in_every_view() {
    let pki = hostile::hostile_ca();
    let objects = hostile::hostile_objects(H, &pki.ca_pem);
    let mut app = app_for(
        manifest_snapshot(&hostile::list_json(&objects)),
        "files",
        &format!("hostile{H}.json"),
    );
    let all = walk_clean(&mut app, "-f");
    // The hostile parts were there and only the controls went away.
    assert!(all.contains("RED"), "{all}");
    assert!(all.contains("Evil CA"), "the CA bundle's subject is shown");
    probe_view(&mut app, &pki, "-f");
}

#[test]
fn a_hostile_cluster_renders_clean_in_every_view() {
    let pki = hostile::hostile_ca();
    let server = TestApiServer::start(ServerConfig::default());
    for o in hostile::hostile_objects("", &pki.ca_pem) {
        server.apply(o);
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = server.write_kubeconfig(dir.path(), "hostile");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let snapshot = rt.block_on(async {
        let conn = cluster::connect(&ClusterTarget {
            kubeconfig: Some(kubeconfig.clone()),
            context: None,
            namespace: None,
        })
        .await
        .unwrap();
        cluster::snapshot_once_with_text(conn, None, Duration::from_secs(20))
            .await
            .unwrap()
    });
    let mut app = app_for(snapshot, "cluster", &format!("source{H}"));
    app.update(Msg::Link(LinkState {
        context: format!("ctx{H}"),
        server: format!("https://x{H}"),
        namespace: None,
        phase: Phase::Stale {
            since: now(),
            error: format!("gone{H}"),
        },
    }));
    let all = walk_clean(&mut app, "cluster");
    assert!(all.contains("Evil CA"), "the CA bundle's subject is shown");
    probe_view(&mut app, &pki, "cluster");

    // `lastmile check` against the same cluster.
    let out = Command::cargo_bin("lastmile")
        .unwrap()
        .env_remove("KUBECONFIG")
        .args(["check", "--at", AT, "--kubeconfig"])
        .arg(&kubeconfig)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("HTTPRoute/app/shop"), "{text}");
    assert_clean("check text (cluster)", &text);
    assert_clean(
        "check stderr (cluster)",
        &String::from_utf8_lossy(&out.stderr),
    );
}

fn check_output(file: &std::path::Path, format: &str) -> (Vec<u8>, String) {
    let out = Command::cargo_bin("lastmile")
        .unwrap()
        .args(["check", "--at", AT, "--format", format, "-f"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "check --format {format}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out)
        }),
        _ => {}
    }
}

#[test]
fn check_outputs_are_clean_and_json_round_trips() {
    let pki = hostile::hostile_ca();
    let objects = hostile::hostile_objects(H, &pki.ca_pem);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hostile.json");
    std::fs::write(&file, hostile::list_json(&objects)).unwrap();

    let (text, stderr) = check_output(&file, "text");
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("RED"), "{text}");
    assert_clean("check text", &text);
    assert_clean("check stderr", &stderr);

    // JSON: no raw ESC byte; parsed back, the original strings are there unchanged.
    let (json, _) = check_output(&file, "json");
    assert!(!json.contains(&0x1b), "raw ESC in JSON");
    let v: Value = serde_json::from_slice(&json).unwrap();
    let routes: Vec<&str> = v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["route"].as_str().unwrap())
        .collect();
    assert!(
        routes.contains(&format!("HTTPRoute/app/shop{H}").as_str()),
        "{routes:?}"
    );
    let messages: Vec<&str> = v["policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["ancestors"].as_array().unwrap())
        .flat_map(|a| a["conditions"].as_array().unwrap())
        .map(|c| c["message"].as_str().unwrap())
        .collect();
    assert!(messages.contains(&H), "{messages:?}");
    let snis: Vec<&str> = v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["sni"].as_str())
        .collect();
    assert!(
        snis.contains(&format!("shop{H}.example").as_str()),
        "{snis:?} {}",
        v["edges"]
    );

    // SARIF: JSON without a raw ESC, and its human-readable texts are clean.
    let (sarif, _) = check_output(&file, "sarif");
    assert!(!sarif.contains(&0x1b), "raw ESC in SARIF");
    let v: Value = serde_json::from_slice(&sarif).unwrap();
    let mut all = Vec::new();
    strings(&v, &mut all);
    for s in all {
        assert_clean("SARIF string", &s);
    }

    // JUnit: XML 1.0 cannot hold these characters at all.
    let (junit, _) = check_output(&file, "junit");
    let junit = String::from_utf8(junit).unwrap();
    assert_clean("JUnit", &junit);
    assert!(junit.contains("RED"), "{junit}");
}

#[test]
fn probe_command_output_is_clean() {
    let pki = hostile::hostile_ca();
    let (leaf, key) = pki.leaf("localhost");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = rt.block_on(hostile::tls_backend(vec![leaf, pki.ca_der.clone()], key));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    // The backend runs on the multi-threaded runtime's workers while the binary probes it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lastmile"))
        .args(["probe", &addr.to_string(), "--sni", "localhost", "--ca"])
        .arg(&ca)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Evil leaf"), "{text}");
    assert_clean("probe text", &text);
}
