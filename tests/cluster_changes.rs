//! The live source's changes against a real HTTP API server (tests/support/apiserver): new
//! versions of routes and policies arrive as objects, which the incremental evaluation puts in
//! place, and the result is what a fresh read of the cluster gives; anything else arrives as a
//! new snapshot.

#[path = "support/apiserver/mod.rs"]
mod apiserver;

use apiserver::{ServerConfig, TestApiServer};
use lastmile::posture::{self, Incremental, Options, Posture};
use lastmile::snapshot::Snapshot;
use lastmile::source::cluster::{self, Changed, ClusterTarget, Update};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

fn clean_yaml() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clean.yaml"))
        .unwrap()
}

/// The next snapshot or changes (link states are skipped).
async fn next(rx: &mut UnboundedReceiver<Update>) -> Update {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let u = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("an update in time")
            .expect("the source keeps running");
        if !matches!(u, Update::State(_)) {
            return u;
        }
    }
}

fn snapshot(u: Update) -> Snapshot {
    match u {
        Update::Snapshot(s) => *s,
        Update::Changed(c) => panic!("{} changes where a snapshot was expected", c.len()),
        Update::State(_) => unreachable!(),
    }
}

fn changes(u: Update) -> Vec<Changed> {
    match u {
        Update::Changed(c) => c,
        Update::Snapshot(_) => panic!("a snapshot where changes were expected"),
        Update::State(_) => unreachable!(),
    }
}

fn policy(validation: Value) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
        "metadata": {"name": "shop-tls", "namespace": "app"},
        "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "shop", "sectionName": "https"}],
                 "validation": validation}})
}

/// The posture as JSON, without the time it was computed at.
fn json_of(p: &Posture) -> Value {
    let mut v = serde_json::to_value(p).unwrap();
    v.as_object_mut().unwrap().remove("evaluated_at");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_versions_of_routes_and_policies_arrive_as_changes_put_in_place() {
    let server = TestApiServer::start(ServerConfig::default());
    server.seed_yaml(&clean_yaml());
    let dir = tempfile::tempdir().unwrap();
    let target = ClusterTarget {
        kubeconfig: Some(server.write_kubeconfig(dir.path(), "test")),
        context: None,
        namespace: None,
    };
    let conn = cluster::connect(&target).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (resync, asked) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(cluster::run_with_changes(conn, None, tx, asked));
    let now = jiff::Timestamp::now();
    let mut engine = Incremental::new(snapshot(next(&mut rx).await), now, Options::default());
    let apply = |engine: &mut Incremental, changed: Vec<Changed>| {
        for c in changed {
            engine
                .replace(c.object, c.origin, c.raw, now)
                .expect("taken in place");
        }
    };

    // A policy's hostname: one policy, sent as it is.
    server.apply(policy(
        json!({"wellKnownCACertificates": "System", "hostname": "other.example.com"}),
    ));
    let changed = changes(next(&mut rx).await);
    assert_eq!(changed.len(), 1);
    apply(&mut engine, changed);
    assert_eq!(
        engine.posture().edges[0].sni.as_deref(),
        Some("other.example.com")
    );

    // A route's weight.
    server.apply(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "shop", "namespace": "app"},
        "spec": {"parentRefs": [{"name": "gw", "namespace": "infra"}],
                 "rules": [{"backendRefs": [{"name": "shop", "port": 443, "weight": 5}]}]}
    }));
    apply(&mut engine, changes(next(&mut rx).await));
    assert_eq!(engine.posture().edges[0].weight, 5);

    // Asked for, a new snapshot: its full evaluation is what the changes put in place gave.
    resync.send(()).unwrap();
    let fresh = snapshot(next(&mut rx).await);
    let full = posture::evaluate(&fresh, now, &Options::default());
    assert_eq!(json_of(engine.posture()), json_of(&full));
    assert_eq!(
        engine.snapshot().raw.keys().collect::<Vec<_>>(),
        fresh.raw.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        engine.snapshot().raw["HTTPRoute/app/shop"],
        fresh.raw["HTTPRoute/app/shop"]
    );

    // A policy that now names a CA bundle in a namespace not read yet: a new snapshot, once
    // that namespace is read.
    server.apply(policy(json!({
        "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "missing-ca"}],
        "hostname": "shop.example.com"
    })));
    let after = snapshot(next(&mut rx).await);
    let p = posture::evaluate(&after, now, &Options::default());
    assert_eq!(
        p.edges[0].mode,
        posture::Mode::FailClosed,
        "{:?}",
        p.edges[0].reasons
    );

    // A new route: a new snapshot.
    server.apply(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "shop-b", "namespace": "app"},
        "spec": {"parentRefs": [{"name": "gw", "namespace": "infra"}],
                 "rules": [{"backendRefs": [{"name": "shop", "port": 443}]}]}
    }));
    let added = snapshot(next(&mut rx).await);
    assert_eq!(added.routes.len(), 2);
}
