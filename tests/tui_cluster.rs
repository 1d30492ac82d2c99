//! The real binary in a real terminal against the test API server: the header shows the
//! context, the server and the connection state; a stopped server shows "stale since", a
//! restarted one goes live again; a changed policy shows; `:ctx` switches to another context.

#[path = "support/apiserver/mod.rs"]
mod apiserver;
#[path = "support/tmux.rs"]
mod tmux;

use apiserver::{ServerConfig, TestApiServer};
use tmux::Session;

#[test]
fn live_cluster_header_stale_and_context_switch() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let first = TestApiServer::start(ServerConfig::default());
    first.seed_yaml(&std::fs::read_to_string(fixtures.join("clean.yaml")).unwrap());
    let second = TestApiServer::start(ServerConfig::default());
    second.seed_yaml(&std::fs::read_to_string(fixtures.join("clean.yaml")).unwrap());
    second.apply(serde_json::json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "second-only", "namespace": "app"},
        "spec": {"parentRefs": [{"name": "gw", "namespace": "infra"}],
                 "rules": [{"backendRefs": [{"name": "shop", "port": 443}]}]}
    }));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        TestApiServer::kubeconfig(&[("one", &first), ("two", &second)], "one"),
    )
    .unwrap();
    let log = dir.path().join("log");
    let s = Session::start(
        "cluster",
        &format!(
            "{} --kubeconfig {} --log-file {}",
            env!("CARGO_BIN_EXE_lastmile"),
            kubeconfig.display(),
            log.display()
        ),
        160,
        30,
    );
    let screen = s.wait_for("● live");
    assert!(screen.contains("ctx one"), "{screen}");
    assert!(screen.contains(&first.url()), "{screen}");
    s.wait_for("Backends [1/1]");

    // A policy changes on the server (its sectionName no longer names the port): the change is
    // put in place and the Backends view follows.
    first.apply(serde_json::json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
        "metadata": {"name": "shop-tls", "namespace": "app"},
        "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "shop", "sectionName": "nope"}],
                 "validation": {"wellKnownCACertificates": "System", "hostname": "shop.example.com"}}
    }));
    s.wait_for("plaintext-to-tls-port");

    first.stop();
    let screen = s.wait_for("stale since");
    assert!(
        screen.contains("Backends [1/1]"),
        "the last data stays: {screen}"
    );
    first.restart();
    s.wait_for("● live");

    s.keys(&[":"]);
    s.text("ctx two");
    s.keys(&["Enter"]);
    let screen = s.wait_for("Backends [2/2]");
    assert!(screen.contains("ctx two"), "{screen}");
    assert!(screen.contains(&second.url()), "{screen}");

    s.keys(&["q"]);
    let screen = s.wait_for("EXIT=");
    assert!(screen.contains("EXIT=0"), "{screen}");
    // Only reads, on both servers.
    for r in first.requests().into_iter().chain(second.requests()) {
        assert!(
            matches!(r.verb.as_str(), "get" | "list" | "watch" | "discovery"),
            "unexpected verb: {r:?}"
        );
    }
}
