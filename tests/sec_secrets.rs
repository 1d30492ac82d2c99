//! Secret data never leaves lastmile: private keys in Secrets named as client certificates
//! (Gateway `spec.tls.backend.clientCertificateRef`, EnvoyProxy `backendTLS`) or as a CA bundle
//! (with a key misfiled under `ca.crt`), a `stringData` password and a last-applied annotation
//! holding the data never show in any view of the UI (YAML included), in any output format, or in
//! the log file (at trace level), whether read from `-f` or from a live cluster.

#[path = "support/apiserver/mod.rs"]
mod apiserver;
#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/tmux.rs"]
mod tmux;
#[path = "support/views.rs"]
mod views;

use apiserver::{ServerConfig, TestApiServer};
use assert_cmd::Command;
use hostile::{MARKER, assert_no_marker, client_cert_pem, marked_key_pem, marked_secret};
use lastmile::snapshot::{SnapshotBuilder, SourceInfo};
use lastmile::source::cluster::{self, ClusterTarget};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const AT: &str = "2026-11-22T00:00:00Z";
const EG: &str = "gateway.envoyproxy.io/gatewayclass-controller";

/// A cluster whose Gateways present client certificates from Secrets holding `MARKER`-ed keys.
fn objects() -> Vec<Value> {
    let cert = client_cert_pem();
    let mut ca_secret = marked_secret("app", "ca-secret", &cert, MARKER);
    // A private key misfiled as the CA bundle: parsed for certificates, never echoed.
    ca_secret["data"]["ca.crt"] = json!(base64_of(&marked_key_pem(MARKER)));
    vec![
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
            "metadata": {"name": "eg"},
            "spec": {"controllerName": EG,
                     "parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy",
                                       "name": "proxy", "namespace": "envoy-gateway-system"}}}),
        json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "EnvoyProxy",
            "metadata": {"name": "proxy", "namespace": "envoy-gateway-system"},
            "spec": {"backendTLS": {"clientCertificateRef":
                {"group": "", "kind": "Secret", "name": "proxy-client"}}}}),
        marked_secret("envoy-gateway-system", "proxy-client", &cert, MARKER),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "infra"},
            "spec": {"gatewayClassName": "eg",
                     "listeners": [{"name": "http", "protocol": "HTTP", "port": 80,
                                    "allowedRoutes": {"namespaces": {"from": "All"}}}],
                     "tls": {"backend": {"clientCertificateRef":
                         {"group": "", "kind": "Secret", "name": "gw-client"}}}}}),
        marked_secret("infra", "gw-client", &cert, MARKER),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "shop", "namespace": "app"},
            "spec": {"parentRefs": [{"name": "gw", "namespace": "infra"}],
                     "rules": [{"backendRefs": [{"name": "shop", "port": 443}]},
                               {"backendRefs": [{"name": "billing", "port": 443}]}]}}),
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "shop", "namespace": "app"},
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 8443}]}}),
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "billing", "namespace": "app"},
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 8443}]}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
            "metadata": {"name": "shop-tls", "namespace": "app"},
            "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "shop"}],
                     "validation": {"caCertificateRefs": [{"group": "", "kind": "Secret", "name": "ca-secret"}],
                                    "hostname": "shop.example"}}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
            "metadata": {"name": "billing-tls", "namespace": "app"},
            "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "billing"}],
                     "validation": {"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "billing-ca"}],
                                    "hostname": "billing.example"}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "billing-ca", "namespace": "app"},
            "data": {"ca.crt": cert}}),
    ]
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Every screen of every view of the UI on `snapshot`.
fn assert_views_clean(snapshot: lastmile::snapshot::Snapshot, kind: &str) {
    let mut app = views::app_for(snapshot, kind, "secrets");
    let shots = views::walk(&mut app, "x");
    assert!(
        shots.iter().any(|s| s.text.contains("gw-client")),
        "the client certificate Secret is shown by name"
    );
    assert!(
        shots.iter().any(|s| s.text.contains("kind: Secret")),
        "a Secret's YAML is shown (redacted)"
    );
    for s in &shots {
        assert_no_marker(&format!("{kind} UI: {}", s.place), &s.text, MARKER);
    }
}

/// `lastmile check` in every format, reading `source` (args), stdout and stderr.
fn assert_outputs_clean(source: &[&std::ffi::OsStr], what: &str) {
    for format in ["text", "json", "sarif", "junit"] {
        let out = Command::cargo_bin("lastmile")
            .unwrap()
            .env_remove("KUBECONFIG")
            .args(["check", "--at", AT, "--format", format])
            .args(source)
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{what} {format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("shop"), "{what} {format}: {stdout}");
        assert_no_marker(&format!("{what} check {format}"), &stdout, MARKER);
        assert_no_marker(
            &format!("{what} check {format} stderr"),
            &String::from_utf8_lossy(&out.stderr),
            MARKER,
        );
    }
}

fn write_objects(dir: &Path) -> PathBuf {
    let file = dir.join("objects.json");
    std::fs::write(&file, hostile::list_json(&objects())).unwrap();
    file
}

#[test]
fn marker_forms_cover_the_secret_as_stored() {
    // The self-check: a Secret's data value (base64 of the PEM) is caught, as is the raw PEM.
    let secret = marked_secret("a", "b", "cert", MARKER);
    let stored = secret["data"]["tls.key"].as_str().unwrap();
    let caught = std::panic::catch_unwind(|| assert_no_marker("stored", stored, MARKER));
    assert!(caught.is_err(), "the stored form must be detected");
    let in_text = format!("prefix {} suffix", &stored[8..stored.len() - 8]);
    let caught = std::panic::catch_unwind(|| assert_no_marker("fragment", &in_text, MARKER));
    assert!(
        caught.is_err(),
        "a fragment of the stored form must be detected"
    );
}

#[test]
fn manifests_never_show_secret_data() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_objects(dir.path());
    let mut b = SnapshotBuilder::new();
    lastmile::source::manifest::add_text(
        &mut b,
        &std::fs::read_to_string(&file).unwrap(),
        "objects.json",
    );
    let snapshot = b.build(SourceInfo {
        kind: "files".into(),
        description: "objects.json".into(),
    });
    // The client certificates resolved: the Secrets were read.
    let p = lastmile::posture::evaluate(&snapshot, views::now(), &Default::default());
    assert!(p.edges.iter().any(|e| e.mtls), "mTLS from the Secrets");
    assert_views_clean(snapshot, "files");
    assert_outputs_clean(&["-f".as_ref(), file.as_os_str()], "-f");
}

fn cluster_env() -> (TestApiServer, tempfile::TempDir, PathBuf) {
    let server = TestApiServer::start(ServerConfig::default());
    for o in objects() {
        // stringData is write-only in a real cluster: the API server never returns it.
        let mut o = o;
        if let Some(m) = o.as_object_mut() {
            m.remove("stringData");
        }
        server.apply(o);
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = server.write_kubeconfig(dir.path(), "secrets");
    (server, dir, kubeconfig)
}

#[test]
fn a_live_cluster_never_shows_secret_data() {
    let (server, _dir, kubeconfig) = cluster_env();
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
    assert!(
        server.requests().iter().any(|r| r.resource == "secrets"),
        "Secrets were read"
    );
    // Nothing in the snapshot holds the key, not even in memory.
    let debug = format!("{snapshot:?}");
    assert_no_marker("snapshot (Debug)", &debug, MARKER);
    let raw: String = snapshot.raw.values().map(|v| v.to_string()).collect();
    assert_no_marker("snapshot raw objects", &raw, MARKER);
    let p = lastmile::posture::evaluate(&snapshot, views::now(), &Default::default());
    assert!(p.edges.iter().any(|e| e.mtls), "mTLS from the Secrets");
    assert_views_clean(snapshot, "cluster");
    assert_outputs_clean(
        &["--kubeconfig".as_ref(), kubeconfig.as_os_str()],
        "cluster",
    );
}

/// The real binary in tmux at trace log level: through every view with the YAML open, then the
/// log file.
fn ui_session(name: &str, source_args: &str, log: &Path) {
    let s = tmux::Session::start(
        name,
        &format!(
            "LASTMILE_LOG=trace {} {source_args} --log-file {}",
            env!("CARGO_BIN_EXE_lastmile"),
            log.display()
        ),
        160,
        40,
    );
    s.wait_for("Backends [");
    for (keys, wait) in [
        (&["Enter"][..], "Detail"),
        (&["y"][..], "YAML"),
        (&["Escape", "Down", "Enter", "y"][..], "YAML"),
        (&["Escape", "2"][..], "Attachment tree"),
        (&["3"][..], "Policies ["),
        (&["Enter", "y"][..], "YAML"),
        (&["Escape", "4"][..], "Findings"),
        (&["Enter", "y"][..], "YAML"),
    ] {
        s.keys(keys);
        let screen = s.wait_for(wait);
        assert_no_marker(&format!("tmux {name} after {keys:?}"), &screen, MARKER);
    }
    s.keys(&["q"]);
    s.wait_for("EXIT=0");
    let logged = std::fs::read_to_string(log).unwrap();
    assert!(
        logged.contains("TRACE") || logged.contains("DEBUG"),
        "logging at trace: {logged}"
    );
    assert_no_marker(&format!("log file ({name})"), &logged, MARKER);
}

#[test]
fn the_log_file_never_holds_secret_data() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_objects(dir.path());
    ui_session(
        "secrets-files",
        &format!("-f {}", file.display()),
        &dir.path().join("files.log"),
    );
    let (_server, cdir, kubeconfig) = cluster_env();
    ui_session(
        "secrets-cluster",
        &format!("--kubeconfig {}", kubeconfig.display()),
        &cdir.path().join("cluster.log"),
    );
}
