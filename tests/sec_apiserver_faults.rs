//! A misbehaving API server: 403, 404, 500 and 429 (with Retry-After) on one kind's list, a list
//! body that is not JSON, a watch stream of garbage. Each is surfaced for that resource (an
//! unreadable kind or a notice, as findings), the other kinds still load, the source keeps
//! running without spinning, and it recovers when the fault goes away. `lastmile check` finishes
//! with a report naming the resource.

#[path = "support/apiserver/mod.rs"]
mod apiserver;

use apiserver::{Fault, ServerConfig, TestApiServer};
use assert_cmd::Command;
use lastmile::snapshot::Snapshot;
use lastmile::source::cluster::{self, ClusterTarget, Update};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

const AT: &str = "2026-11-22T00:00:00Z";

struct Env {
    server: TestApiServer,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

fn env() -> Env {
    let server = TestApiServer::start(ServerConfig::default());
    server.seed_yaml(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clean.yaml"),
        )
        .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = server.write_kubeconfig(dir.path(), "faulty");
    Env {
        server,
        _dir: dir,
        kubeconfig,
    }
}

impl Env {
    fn start(&self) -> UnboundedReceiver<Update> {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(std::env::var("LASTMILE_TEST_LOG").unwrap_or_else(|_| "off".into()))
            .try_init();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(cluster::run(
            ClusterTarget {
                kubeconfig: Some(self.kubeconfig.clone()),
                context: None,
                namespace: None,
            },
            tx,
        ));
        rx
    }

    /// `lastmile check --format json` against the server: it must finish in time with a report.
    fn check(&self) -> Value {
        let t = Instant::now();
        let out = Command::cargo_bin("lastmile")
            .unwrap()
            .env_remove("KUBECONFIG")
            .args(["check", "--format", "json", "--at", AT, "--kubeconfig"])
            .arg(&self.kubeconfig)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "check failed ({:?}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "check took {:?}",
            t.elapsed()
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Messages of the cluster findings (unreadable kinds and notices).
fn cluster_findings(s: &Snapshot) -> Vec<String> {
    let p = lastmile::posture::evaluate(s, jiff::Timestamp::now(), &Default::default());
    p.findings
        .iter()
        .filter(|f| f.id.starts_with("cluster-"))
        .map(|f| format!("{}: {}: {}", f.id, f.subject, f.message))
        .collect()
}

/// Waits for a snapshot that satisfies `pred`; counts every update seen.
async fn until(
    rx: &mut UnboundedReceiver<Update>,
    within: Duration,
    what: &str,
    pred: impl Fn(&Snapshot) -> bool,
) -> Snapshot {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let Ok(u) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            panic!("{what}: no matching snapshot in {within:?}; saw {seen:#?}");
        };
        match u.expect("the source must keep running") {
            Update::Snapshot(s) => {
                if pred(&s) {
                    return *s;
                }
                seen.push(format!(
                    "{} objects, {:?}",
                    s.object_count(),
                    cluster_findings(&s)
                ));
            }
            Update::State(st) => seen.push(format!("{:?}", st.phase)),
            Update::Changed(c) => seen.push(format!("{} changes", c.len())),
        }
    }
}

/// Updates that arrive within `d` (a spinning source would send many).
async fn updates_within(rx: &mut UnboundedReceiver<Update>, d: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + d;
    let mut n = 0;
    while let Ok(u) = tokio::time::timeout_at(deadline, rx.recv()).await {
        u.expect("the source must keep running");
        n += 1;
    }
    n
}

fn requests_to(server: &TestApiServer, resource: &str) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.resource == resource)
        .count()
}

fn mentions(findings: &[String], needles: &[&str]) -> bool {
    findings
        .iter()
        .any(|f| needles.iter().all(|n| f.contains(n)))
}

/// One list fault on `resource` (kind `kind`): surfaced, the rest loads, no spin, recovers.
async fn list_fault(fault: Fault, resource: &str, kind: &str, expect: &[&str]) {
    let env = env();
    env.server.fault("list", resource, fault.clone());
    let mut rx = env.start();
    // A throttled kind holds the first snapshot back for up to 20 s (it may answer soon).
    let s = until(
        &mut rx,
        Duration::from_secs(30),
        &format!("{fault:?}"),
        |s| mentions(&cluster_findings(s), expect),
    )
    .await;
    let findings = cluster_findings(&s);
    assert!(
        mentions(&findings, &[kind]),
        "{fault:?}: names {kind}: {findings:?}"
    );
    // The other kinds loaded.
    assert!(!s.gateways.is_empty(), "{fault:?}: Gateways still load");
    if kind != "HTTPRoute" {
        assert!(!s.routes.is_empty(), "{fault:?}: routes still load");
    }
    // No spin: retries back off.
    let before = requests_to(&env.server, resource);
    let n = updates_within(&mut rx, Duration::from_secs(3)).await;
    let retries = requests_to(&env.server, resource) - before;
    assert!(n <= 5, "{fault:?}: {n} updates in 3 s");
    assert!(retries <= 8, "{fault:?}: {retries} requests in 3 s");
    // The fault goes away: the kind is read and the finding is gone.
    env.server.clear_faults();
    let s = until(
        &mut rx,
        Duration::from_secs(15),
        &format!("{fault:?} recovery"),
        |s| cluster_findings(s).is_empty(),
    )
    .await;
    assert!(s.object_count() >= 5, "everything is read after recovery");

    // `check` under the same fault: a report that names the resource.
    env.server.fault("list", resource, fault.clone());
    let v = env.check();
    let texts: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}: {}: {}", f["id"], f["subject"], f["message"]))
        .collect();
    assert!(
        mentions(&texts, &[kind]) && mentions(&texts, expect),
        "check under {fault:?}: {texts:?}"
    );
    let readable = if kind == "HTTPRoute" {
        &v["policies"]
    } else {
        &v["edges"]
    };
    assert!(
        !readable.as_array().unwrap().is_empty(),
        "check under {fault:?} still evaluates the readable kinds: {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_list() {
    let env = env();
    env.server.forbid("list", "services");
    let mut rx = env.start();
    let s = until(&mut rx, Duration::from_secs(15), "403", |s| {
        mentions(&cluster_findings(s), &["services", "403"])
            || mentions(&cluster_findings(s), &["Service", "403"])
    })
    .await;
    assert!(!s.gateways.is_empty());
    env.server.allow_all();
    until(&mut rx, Duration::from_secs(15), "403 recovery", |s| {
        cluster_findings(s).is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_list() {
    list_fault(
        Fault::Status {
            code: 404,
            retry_after: None,
        },
        "services",
        "Service",
        &["could not find the requested resource"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_error_on_list() {
    list_fault(
        Fault::Status {
            code: 500,
            retry_after: None,
        },
        "httproutes.gateway.networking.k8s.io",
        "HTTPRoute",
        &["500"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_with_retry_after() {
    list_fault(
        Fault::Status {
            code: 429,
            retry_after: Some(1),
        },
        "backendtlspolicies.gateway.networking.k8s.io",
        "BackendTLSPolicy",
        &["429", "retrying"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_in_a_list() {
    list_fault(Fault::MalformedJson, "services", "Service", &["malformed"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brief_throttle_does_not_cost_the_first_read() {
    // Two 429s, then answers: `check` reads everything and reports no cluster finding.
    let env = env();
    env.server.fault_times(
        "list",
        "services",
        Fault::Status {
            code: 429,
            retry_after: Some(1),
        },
        2,
    );
    let v = env.check();
    let ids: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}: {}", f["id"], f["message"]))
        .collect();
    assert!(
        !ids.iter().any(|f| f.contains("cluster-")),
        "a transient 429 is retried: {ids:?}"
    );
    assert_eq!(v["edges"][0]["mode"], "tls-verified", "{}", v["edges"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_stream_of_garbage() {
    let env = env();
    env.server.fault("watch", "services", Fault::GarbageWatch);
    let mut rx = env.start();
    let s = until(&mut rx, Duration::from_secs(15), "garbage watch", |s| {
        mentions(&cluster_findings(s), &["services", "malformed watch event"])
    })
    .await;
    // Listed before the watch broke: the data is there and says it is not updated.
    assert!(!s.services.is_empty(), "the listed Services stay");
    assert!(
        mentions(&cluster_findings(&s), &["not updated"]),
        "{:?}",
        cluster_findings(&s)
    );
    let before = requests_to(&env.server, "services");
    let n = updates_within(&mut rx, Duration::from_secs(3)).await;
    let retries = requests_to(&env.server, "services") - before;
    assert!(n <= 5, "{n} updates in 3 s");
    assert!(retries <= 8, "{retries} requests in 3 s");
    env.server.clear_faults();
    // A real change arrives through a working watch again, and the notice goes.
    env.server.apply(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "late", "namespace": "app"},
        "spec": {"ports": [{"port": 80}]}
    }));
    until(&mut rx, Duration::from_secs(15), "garbage recovery", |s| {
        s.services.len() == 2 && cluster_findings(s).is_empty()
    })
    .await;
}
