//! Read-only guarantee: the real binary, driven through every view and command of the UI (in
//! tmux) and `lastmile check` in every format with and without `--probe`, against the test API
//! server. Its request log holds only get, list, watch and discovery, plus `pods/portforward`
//! while probing.

#[path = "support/apiserver/mod.rs"]
mod apiserver;
#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/tmux.rs"]
mod tmux;

use apiserver::{RecordedRequest, ServerConfig, TestApiServer};
use assert_cmd::Command;
use std::path::PathBuf;
use tmux::Session;

const OBJECTS: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: eg
  listeners:
  - {name: http, protocol: HTTP, port: 80, allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: app}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  rules:
  - backendRefs: [{name: shop, port: 443}]
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: app}
spec:
  selector: {app: shop}
  ports:
  - {name: https, port: 443, targetPort: https, appProtocol: https}
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
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: shop-tls, namespace: app}
spec:
  targetRefs: [{group: "", kind: Service, name: shop, sectionName: https}]
  validation:
    caCertificateRefs: [{group: "", kind: ConfigMap, name: shop-ca}]
    hostname: localhost
"#;

struct Env {
    server: TestApiServer,
    _rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

fn env() -> Env {
    let server = TestApiServer::start(ServerConfig::default());
    server.seed_yaml(OBJECTS);
    let pki = hostile::hostile_ca();
    server.apply(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "shop-ca", "namespace": "app"},
        "data": {"ca.crt": pki.ca_pem},
    }));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (leaf, key) = pki.leaf("localhost");
    let backend = rt.block_on(hostile::tls_backend(vec![leaf, pki.ca_der.clone()], key));
    server.portforward_target("app", "shop-7d9f", 8443, backend);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        TestApiServer::kubeconfig(&[("one", &server), ("two", &server)], "one"),
    )
    .unwrap();
    Env {
        server,
        _rt: rt,
        dir,
        kubeconfig,
    }
}

/// Only reads; port-forward only when `probing`.
fn assert_read_only(what: &str, requests: &[RecordedRequest], probing: bool) {
    assert!(!requests.is_empty(), "{what}: no requests recorded");
    for r in requests {
        let ok = match r.verb.as_str() {
            "get" | "list" | "watch" | "discovery" => r.method == "GET",
            "portforward" => probing && r.resource == "pods/portforward",
            _ => false,
        };
        assert!(ok, "{what}: not a read: {r:?}");
    }
    if probing {
        assert!(
            requests.iter().any(|r| r.verb == "portforward"),
            "{what}: the probe went through a port-forward"
        );
    }
}

#[test]
fn every_view_and_command_of_the_ui_only_reads() {
    let env = env();
    let log = env.dir.path().join("log");
    let s = Session::start(
        "readonly-ui",
        &format!(
            "{} --kubeconfig {} --log-file {}",
            env!("CARGO_BIN_EXE_lastmile"),
            env.kubeconfig.display(),
            log.display()
        ),
        160,
        36,
    );
    s.wait_for("● live");
    s.wait_for("Backends [1/1]");
    let steps: &[(&[&str], &str)] = &[
        (&["2"], "Attachment tree"),
        (&["3"], "Policies [1]"),
        (&["Enter"], "Detail"),
        (&["y"], "YAML"),
        (&["Escape", "4"], "Findings"),
        (&["1", "Enter"], "Backends › Detail"),
        (&["y"], "# Service/app/shop"),
        (&["Escape", "t"], "Backends › Tree"),
        (&["Escape", "p"], "Backends › Probe"),
        (&[], "edge mode:"),
        (&["Escape", "P"], "PROBE"),
        (&["?"], "Help — keys"),
        (&["Escape", "/"], "/"),
    ];
    for (keys, wait) in steps {
        s.keys(keys);
        s.wait_for(wait);
    }
    s.text("shop");
    s.keys(&["Enter"]);
    s.wait_for("filter: /shop");
    s.keys(&["Escape", ":"]);
    s.text("ns app");
    s.keys(&["Enter"]);
    s.wait_for("ns: app");
    s.wait_for("Backends [1/1]");
    s.keys(&[":"]);
    s.text("ns all");
    s.keys(&["Enter"]);
    s.wait_for("ns: all");
    s.keys(&[":"]);
    s.text("ctx two");
    s.keys(&["Enter"]);
    s.wait_for("ctx two");
    s.wait_for("Backends [1/1]");
    s.keys(&["p"]);
    s.wait_for("edge mode:");
    s.keys(&["Escape", "q"]);
    let screen = s.wait_for("EXIT=");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert_read_only("UI", &env.server.requests(), true);
}

#[test]
fn check_in_every_format_only_reads() {
    let env = env();
    for probe in [false, true] {
        for format in ["text", "json", "sarif", "junit"] {
            env.server.clear_requests();
            let mut cmd = Command::cargo_bin("lastmile").unwrap();
            cmd.env_remove("KUBECONFIG")
                .args(["check", "--format", format, "--kubeconfig"])
                .arg(&env.kubeconfig);
            if probe {
                cmd.arg("--probe");
            }
            let out = cmd.output().unwrap();
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{format} probe={probe}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_read_only(
                &format!("check --format {format} probe={probe}"),
                &env.server.requests(),
                probe,
            );
        }
    }
}
