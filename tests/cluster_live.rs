//! The live cluster source against a real HTTP API server (tests/support/apiserver): discovery,
//! list + watch, RBAC and CRD notices, watch drops, 410 re-lists, a restarted server, the
//! request log (read-only verbs only) and the port-forward probe transport.

#[path = "support/apiserver/mod.rs"]
mod apiserver;

use apiserver::{ServerConfig, TestApiServer};
use assert_cmd::Command;
use lastmile::posture::{self, Mode, Options, Posture};
use lastmile::snapshot::Snapshot;
use lastmile::source::cluster::{self, ClusterTarget, Phase, Update};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

const AT: &str = "2026-11-22T00:00:00Z";

fn clean_yaml() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clean.yaml"))
        .unwrap()
}

/// The demo's objects, minus the BackendTLSPolicies written at old versions (a real API server
/// converts those; the test server serves stored objects as they are).
fn demo_yaml() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        for doc in text.split("\n---") {
            let is_old_policy = doc.contains("kind: BackendTLSPolicy")
                && !doc.contains("apiVersion: gateway.networking.k8s.io/v1\n");
            if doc.trim().is_empty() || is_old_policy || !doc.contains("kind:") {
                continue;
            }
            docs.push(doc.trim_start_matches('-').trim().to_string());
        }
    }
    docs.join("\n---\n")
}

struct Env {
    server: TestApiServer,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

fn env_with(config: ServerConfig, yaml: &str) -> Env {
    let server = TestApiServer::start(config);
    server.seed_yaml(yaml);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = server.write_kubeconfig(dir.path(), "test");
    Env {
        server,
        _dir: dir,
        kubeconfig,
    }
}

impl Env {
    fn target(&self) -> ClusterTarget {
        ClusterTarget {
            kubeconfig: Some(self.kubeconfig.clone()),
            context: None,
            namespace: None,
        }
    }

    fn check_json(&self, extra: &[&str]) -> Value {
        let out = Command::cargo_bin("lastmile")
            .unwrap()
            .env_remove("KUBECONFIG")
            .args(["check", "--format", "json", "--at", AT, "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(extra)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

fn files_json(path: &Path) -> Value {
    let out = Command::cargo_bin("lastmile")
        .unwrap()
        .args(["check", "--format", "json", "--at", AT, "-f"])
        .arg(path)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Removes what differs by nature between a file and a cluster: where things were read from.
fn without_provenance(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("origin");
                m.remove("source");
                for (_, x) in m.iter_mut() {
                    strip(x);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

fn modes(v: &Value) -> Vec<(String, String)> {
    v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["backend"].as_str().unwrap().to_string(),
                e["mode"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn finding_ids(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}: {}",
                f["id"].as_str().unwrap(),
                f["message"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn check_against_the_cluster_equals_check_on_the_same_files() {
    let yaml = demo_yaml();
    let env = env_with(ServerConfig::default(), &yaml);
    let file = env._dir.path().join("objects.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let live = env.check_json(&[]);
    let files = files_json(&file);
    assert!(
        live["edges"].as_array().unwrap().len() >= 15,
        "the demo has many edges: {}",
        live["edges"]
    );
    assert_eq!(without_provenance(live), without_provenance(files));
    // Every request was a read.
    for r in env.server.requests() {
        assert!(
            matches!(r.verb.as_str(), "get" | "list" | "watch" | "discovery"),
            "write or unexpected verb: {r:?}"
        );
    }
    // Secrets were read only in namespaces whose Secrets are referenced, never cluster-wide.
    let secret_lists: Vec<_> = env
        .server
        .requests()
        .into_iter()
        .filter(|r| r.resource == "secrets")
        .collect();
    assert!(
        !secret_lists.is_empty(),
        "referenced client certificates are read"
    );
    assert!(
        secret_lists.iter().all(|r| r.path.contains("/namespaces/")),
        "Secrets listed cluster-wide: {secret_lists:?}"
    );
}

/// `lastmile check` reads the cluster without keeping each object's text (a report never shows
/// it; at L it was a third of the heap), and computes the same posture as a read that keeps it.
#[test]
fn a_read_for_a_report_keeps_no_object_text() {
    let env = env_with(ServerConfig::default(), &demo_yaml());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (report, with_text) = rt.block_on(async {
        let conn = cluster::connect(&env.target()).await.unwrap();
        let limit = Duration::from_secs(20);
        (
            cluster::snapshot_once(conn.clone(), None, limit)
                .await
                .unwrap(),
            cluster::snapshot_once_with_text(conn, None, limit)
                .await
                .unwrap(),
        )
    });
    assert!(report.raw.is_empty(), "text kept: {:?}", report.raw.keys());
    assert!(
        with_text.raw.len() >= report.object_count(),
        "{} texts for {} objects",
        with_text.raw.len(),
        report.object_count()
    );
    let now: jiff::Timestamp = AT.parse().unwrap();
    let json = |s: &Snapshot| {
        serde_json::to_string(&posture::evaluate(s, now, &Options::default())).unwrap()
    };
    assert_eq!(json(&report), json(&with_text));
}

#[test]
fn backend_tls_policy_is_read_through_one_served_version() {
    let yaml = clean_yaml();
    for versions in [vec!["v1"], vec!["v1alpha3"], vec!["v1", "v1alpha3"]] {
        let env = env_with(
            ServerConfig {
                btlsp_versions: versions.clone(),
                ..Default::default()
            },
            &yaml,
        );
        let v = env.check_json(&[]);
        assert_eq!(
            v["policies"].as_array().unwrap().len(),
            1,
            "served {versions:?}: one policy, not one per version"
        );
        let btlsp_reads: Vec<_> = env
            .server
            .requests()
            .into_iter()
            .filter(|r| r.resource.starts_with("backendtlspolicies") && r.verb == "list")
            .map(|r| r.path)
            .collect();
        let read_versions: std::collections::BTreeSet<_> = btlsp_reads
            .iter()
            .map(|p| p.split('/').nth(3).unwrap_or_default().to_string())
            .collect();
        assert_eq!(read_versions.len(), 1, "{versions:?}: {btlsp_reads:?}");
        let skew = finding_ids(&v)
            .into_iter()
            .any(|f| f.starts_with("btlsp-version-skew"));
        assert_eq!(
            skew,
            !versions.contains(&"v1"),
            "{versions:?}: {:?}",
            finding_ids(&v)
        );
        assert_eq!(modes(&v)[0].1, "tls-verified", "{versions:?}");
    }
}

#[test]
fn an_envoy_gateway_release_that_reads_an_unserved_version_is_fail_open() {
    let env = env_with(
        ServerConfig {
            btlsp_versions: vec!["v1alpha3"],
            ..Default::default()
        },
        &clean_yaml(),
    );
    let new = env.check_json(&["--envoy-gateway-version", "1.6"]);
    assert_eq!(modes(&new)[0].1, "fail-open-plaintext");
    let reasons = new["edges"][0]["reasons"].to_string();
    assert!(reasons.contains("reads BackendTLSPolicy v1"), "{reasons}");
    let old = env.check_json(&["--envoy-gateway-version", "1.5"]);
    assert_eq!(modes(&old)[0].1, "tls-verified");
}

#[test]
fn a_missing_crd_is_a_notice_not_an_error() {
    let env = env_with(
        ServerConfig {
            envoy_gateway_crds: false,
            btlsp_versions: vec![],
            ..Default::default()
        },
        &clean_yaml()
            .split("\n---")
            .filter(|d| !d.contains("kind: BackendTLSPolicy"))
            .collect::<Vec<_>>()
            .join("\n---"),
    );
    let v = env.check_json(&[]);
    let ids = finding_ids(&v);
    assert!(
        ids.iter()
            .any(|f| f.contains("Backend refs cannot be resolved")),
        "{ids:?}"
    );
    assert!(
        ids.iter()
            .any(|f| f.contains("BackendTLSPolicy CRD not installed")),
        "{ids:?}"
    );
    assert!(!ids.iter().any(|f| f.starts_with("input-error")), "{ids:?}");
    assert_eq!(modes(&v)[0].1, "plaintext-to-tls-port");
}

#[test]
fn forbidden_services_and_policies_leave_the_rest_readable() {
    let env = env_with(ServerConfig::default(), &demo_yaml());
    env.server.forbid("list", "services");
    let v = env.check_json(&[]);
    let edges = v["edges"].as_array().unwrap();
    assert!(edges.len() >= 15, "the view goes on");
    for e in edges
        .iter()
        .filter(|e| e["backend"].as_str().unwrap().starts_with("Service/"))
    {
        assert_eq!(e["mode"], "unknown", "{e}");
        assert!(e["reasons"].to_string().contains("403"), "{}", e["reasons"]);
    }
    assert!(
        edges.iter().any(|e| e["mode"] != "unknown"),
        "edges that do not need Services keep their mode"
    );
    let ids = finding_ids(&v);
    assert!(
        ids.iter()
            .any(|f| f.contains("cannot list services")
                || f.contains("no permission to list services")),
        "{ids:?}"
    );

    env.server.allow_all();
    env.server
        .forbid("list", "backendtlspolicies.gateway.networking.k8s.io");
    let v = env.check_json(&[]);
    assert!(v["policies"].as_array().unwrap().is_empty());
    let unknown = v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["mode"] == "unknown"
                && e["reasons"]
                    .to_string()
                    .contains("BackendTLSPolicies could not be read")
        })
        .count();
    assert!(
        unknown >= 5,
        "policy-dependent edges are unknown: {}",
        v["edges"]
    );
}

// ---- the watch engine, in process ----

fn start(env: &Env) -> UnboundedReceiver<Update> {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(std::env::var("LASTMILE_TEST_LOG").unwrap_or_else(|_| "off".into()))
        .try_init();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(cluster::run(env.target(), tx));
    rx
}

fn evaluate(s: &Snapshot) -> Posture {
    posture::evaluate(s, jiff::Timestamp::now(), &Options::default())
}

/// Waits for a snapshot whose posture satisfies `pred`.
async fn until_posture(
    rx: &mut UnboundedReceiver<Update>,
    within: Duration,
    pred: impl Fn(&Posture) -> bool,
) -> Posture {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let Ok(u) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            panic!("no matching snapshot in {within:?}; saw: {seen:#?}");
        };
        match u.expect("source ended") {
            Update::Snapshot(s) => {
                let p = evaluate(&s);
                if pred(&p) {
                    return p;
                }
                seen.push(format!(
                    "snapshot: {:?}",
                    p.edges
                        .iter()
                        .map(|e| (&e.backend, e.mode))
                        .collect::<Vec<_>>()
                ));
            }
            Update::State(st) => seen.push(format!("state: {:?}", st.phase)),
            Update::Changed(c) => seen.push(format!("{} changes", c.len())),
        }
    }
}

async fn until_phase(
    rx: &mut UnboundedReceiver<Update>,
    within: Duration,
    pred: impl Fn(&Phase) -> bool,
) -> Phase {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let u = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("no matching link state in time")
            .expect("source ended");
        if let Update::State(s) = u
            && pred(&s.phase)
        {
            return s.phase;
        }
    }
}

fn shop_mode(p: &Posture) -> Option<Mode> {
    p.edges
        .iter()
        .find(|e| e.backend.starts_with("Service/app/shop"))
        .map(|e| e.mode)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_the_posture_within_a_second() {
    let env = env_with(ServerConfig::default(), &clean_yaml());
    let mut rx = start(&env);
    let first = until_posture(&mut rx, Duration::from_secs(10), |p| !p.edges.is_empty()).await;
    assert_eq!(shop_mode(&first), Some(Mode::TlsVerified));

    // Modified: the policy goes away -> plaintext to a TLS port.
    assert!(env.server.delete(
        "gateway.networking.k8s.io/v1",
        "BackendTLSPolicy",
        "app",
        "shop-tls"
    ));
    let t = std::time::Instant::now();
    until_posture(&mut rx, Duration::from_secs(1), |p| {
        shop_mode(p) == Some(Mode::PlaintextToTlsPort)
    })
    .await;
    assert!(t.elapsed() < Duration::from_secs(1));

    // Added: a second route appears as a new edge.
    env.server.apply(serde_json::json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "shop-b", "namespace": "app"},
        "spec": {"parentRefs": [{"name": "gw", "namespace": "infra"}],
                 "rules": [{"backendRefs": [{"name": "shop", "port": 443}]}]}
    }));
    until_posture(&mut rx, Duration::from_secs(1), |p| p.edges.len() == 2).await;

    // Deleted: the Service goes away -> the edges are unresolved.
    env.server.delete("v1", "Service", "app", "shop");
    until_posture(&mut rx, Duration::from_secs(1), |p| {
        p.edges.iter().all(|e| e.mode == Mode::Unresolved)
    })
    .await;
}

fn route_lists(server: &TestApiServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.resource.starts_with("httproutes") && r.verb == "list")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_and_expired_watches_recover_without_duplicates() {
    let env = env_with(ServerConfig::default(), &demo_yaml());
    let mut rx = start(&env);
    let first = until_posture(&mut rx, Duration::from_secs(10), |p| !p.edges.is_empty()).await;
    let n = first.edges.len();

    env.server.drop_watches();
    env.server.apply(serde_json::json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "late", "namespace": "shop"},
        "spec": {"parentRefs": [{"name": "public-gw", "namespace": "infra"}],
                 "rules": [{"backendRefs": [{"name": "nowhere", "port": 80}]}]}
    }));
    until_posture(&mut rx, Duration::from_secs(5), |p| p.edges.len() == n + 1).await;

    // History forgotten while the watcher is away: resuming gets 410 Expired and it re-lists.
    let lists_before = route_lists(&env.server);
    env.server.stop();
    env.server
        .delete("gateway.networking.k8s.io/v1", "HTTPRoute", "shop", "late");
    env.server.compact();
    env.server.restart();
    let p = until_posture(&mut rx, Duration::from_secs(10), |p| p.edges.len() == n).await;
    assert!(
        route_lists(&env.server) > lists_before,
        "the watcher re-listed HTTPRoutes after 410"
    );
    let mut keys: Vec<_> = p.edges.iter().map(|e| (&e.gateway, &e.key)).collect();
    keys.sort();
    let before = keys.len();
    keys.dedup();
    assert_eq!(before, keys.len(), "no duplicated rows after re-list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_api_server_is_stale_then_live() {
    let env = env_with(ServerConfig::default(), &clean_yaml());
    let mut rx = start(&env);
    until_posture(&mut rx, Duration::from_secs(10), |p| !p.edges.is_empty()).await;
    env.server.stop();
    let stale = until_phase(&mut rx, Duration::from_secs(5), |p| {
        matches!(p, Phase::Stale { .. })
    })
    .await;
    let Phase::Stale { error, .. } = stale else {
        unreachable!()
    };
    assert!(!error.is_empty());
    // A change while the server is down is seen after it is back.
    env.server.delete(
        "gateway.networking.k8s.io/v1",
        "BackendTLSPolicy",
        "app",
        "shop-tls",
    );
    env.server.restart();
    until_phase(&mut rx, Duration::from_secs(10), |p| *p == Phase::Live).await;
    until_posture(&mut rx, Duration::from_secs(10), |p| {
        shop_mode(p) == Some(Mode::PlaintextToTlsPort)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_scope_lists_only_that_namespace() {
    let env = env_with(ServerConfig::default(), &demo_yaml());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut target = env.target();
    target.namespace = Some("shop".into());
    tokio::spawn(cluster::run(target, tx));
    let p = until_posture(&mut rx, Duration::from_secs(10), |p| !p.edges.is_empty()).await;
    assert!(
        p.edges
            .iter()
            .all(|e| e.route.split('/').nth(1) == Some("shop")),
        "{:?}",
        p.edges.iter().map(|e| &e.route).collect::<Vec<_>>()
    );
    let routes: Vec<_> = env
        .server
        .requests()
        .into_iter()
        .filter(|r| r.resource.starts_with("httproutes") && r.verb == "list")
        .collect();
    assert!(
        routes.iter().all(|r| r.path.contains("/namespaces/shop/")),
        "{routes:?}"
    );
}
