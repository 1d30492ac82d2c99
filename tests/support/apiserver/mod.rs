//! An in-process fake kube-apiserver for integration tests: discovery, list (with selectors and
//! paging), watch (history, bookmarks, 410 Expired), 403s, injected faults (404, 429 with
//! Retry-After, 500, malformed JSON, garbage watch streams), port-forward over WebSocket, and
//! stop/restart on the same port. It is read-only over HTTP: tests change its state through
//! [`TestApiServer::apply`] and [`TestApiServer::delete`].
//!
//! Include it with `#[path = "support/apiserver/mod.rs"] mod apiserver;`.
#![allow(dead_code)]

mod fault;
mod http;
mod list;
mod portforward;
mod registry;
mod response;
mod select;
mod store;
mod watch;

use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch as signal;

pub use fault::Fault;
use registry::{Registry, ResourceDef, split_api_version};
use store::Store;

/// The bearer token that [`TestApiServer::kubeconfig`] hands out and the server requires.
pub const TOKEN: &str = "lastmile-test-token";
/// The user name in 403 messages.
pub const USER: &str = "test";

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Versions at which BackendTLSPolicy (gateway.networking.k8s.io) is served; empty = CRD not installed.
    pub btlsp_versions: Vec<&'static str>,
    /// Envoy Gateway CRDs (gateway.envoyproxy.io/v1alpha1: backends, envoyproxies, securitypolicies,
    /// envoyextensionpolicies) installed.
    pub envoy_gateway_crds: bool,
    /// Interval of BOOKMARK events on watches that asked for allowWatchBookmarks.
    pub bookmark_interval: Duration,
    /// Accept requests without the bearer token (kubectl sends none over plain HTTP; the
    /// benchmark compares against it).
    pub anonymous: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            btlsp_versions: vec!["v1"],
            envoy_gateway_crds: true,
            bookmark_interval: Duration::from_secs(1),
            anonymous: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    pub path: String,
    pub query: String,
    /// Kubernetes verb: get | list | watch | create | update | patch | delete | deletecollection |
    /// portforward, or "discovery" for /version, /api, /apis, /api/v1, /apis/G, /apis/G/V, "other"
    /// for anything else.
    pub verb: String,
    /// "services", "backendtlspolicies.gateway.networking.k8s.io", "pods/portforward", "" for
    /// discovery.
    pub resource: String,
    pub status: u16,
}

/// State shared by the handle and the serving tasks.
pub(crate) struct Shared {
    pub config: ServerConfig,
    pub registry: Registry,
    pub store: Mutex<Store>,
    pub forbidden: Mutex<Vec<(String, String)>>,
    pub faults: Mutex<Vec<fault::FaultRule>>,
    pub requests: Mutex<Vec<RecordedRequest>>,
    pub pf_targets: Mutex<HashMap<(String, String, u16), SocketAddr>>,
    pub addr: SocketAddr,
    /// Open connections (and upgraded port-forward sessions).
    pub conns: AtomicUsize,
}

/// Locks a mutex, ignoring poisoning (a panicking test thread must not hide the server's state).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Resolves once the serving session is told to stop (or its sender is gone).
pub(crate) async fn stopped(rx: &mut signal::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Counts an open connection while alive.
pub(crate) struct ConnGuard(Arc<Shared>);

impl ConnGuard {
    pub fn new(shared: &Arc<Shared>) -> ConnGuard {
        shared.conns.fetch_add(1, Ordering::SeqCst);
        ConnGuard(shared.clone())
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.conns.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Session {
    shutdown: signal::Sender<bool>,
    done: std::sync::mpsc::Receiver<()>,
}

struct Inner {
    shared: Arc<Shared>,
    handle: tokio::runtime::Handle,
    session: Mutex<Option<Session>>,
    thread: Mutex<
        Option<(
            std::thread::JoinHandle<()>,
            tokio::sync::oneshot::Sender<()>,
        )>,
    >,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(s) = lock(&self.session).take() {
            let _ = s.shutdown.send(true);
        }
        if let Some((thread, stop)) = lock(&self.thread).take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

/// A running fake API server. Cloning gives another handle to the same server; the server stops
/// when the last handle is dropped.
#[derive(Clone)]
pub struct TestApiServer {
    inner: Arc<Inner>,
}

fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

impl TestApiServer {
    /// Binds 127.0.0.1:0 and serves on a dedicated background thread with its own tokio runtime
    /// (so it works from sync tests that run the product binary, and from #[tokio::test]s).
    pub fn start(config: ServerConfig) -> TestApiServer {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("test apiserver runtime");
        let handle = rt.handle().clone();
        let listener = {
            let _enter = handle.enter();
            bind("127.0.0.1:0".parse().expect("addr")).expect("bind test apiserver")
        };
        let addr = listener.local_addr().expect("local addr");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("test-apiserver-{}", addr.port()))
            .spawn(move || {
                rt.block_on(async {
                    let _ = stop_rx.await;
                });
                rt.shutdown_timeout(Duration::from_millis(200));
            })
            .expect("spawn test apiserver thread");
        let registry = Registry::new(&config);
        let shared = Arc::new(Shared {
            config,
            registry,
            store: Mutex::new(Store::default()),
            forbidden: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            pf_targets: Mutex::new(HashMap::new()),
            addr,
            conns: AtomicUsize::new(0),
        });
        let server = TestApiServer {
            inner: Arc::new(Inner {
                shared,
                handle,
                session: Mutex::new(None),
                thread: Mutex::new(Some((thread, stop_tx))),
            }),
        };
        server.serve(listener);
        server
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let (shutdown, shutdown_rx) = signal::channel(false);
        let (done_tx, done) = std::sync::mpsc::channel();
        let shared = self.inner.shared.clone();
        self.inner
            .handle
            .spawn(http::accept_loop(listener, shared, shutdown_rx, done_tx));
        *lock(&self.inner.session) = Some(Session { shutdown, done });
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.shared.addr
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// The registry entry for an apiVersion + kind (by group; any served version).
    fn def_for(&self, api_version: &str, kind: &str) -> Option<&ResourceDef> {
        let (group, _) = split_api_version(api_version);
        self.shared().registry.by_kind(group, kind)
    }

    /// Adds every document of multi-document YAML (kinds must be in the registry, else panic with
    /// the kind name). A `kind: List` document adds its items.
    pub fn seed_yaml(&self, yaml: &str) {
        for obj in yaml_objects(yaml) {
            self.apply(obj);
        }
    }

    /// Like [`seed_yaml`](Self::seed_yaml), but skips objects whose group/kind this server does
    /// not serve (e.g. BackendTLSPolicy with `btlsp_versions: vec![]`) and returns them as
    /// `KIND/NAMESPACE/NAME`.
    pub fn seed_yaml_skipping_unserved(&self, yaml: &str) -> Vec<String> {
        let mut skipped = Vec::new();
        for obj in yaml_objects(yaml) {
            let api_version = obj["apiVersion"].as_str().unwrap_or_default();
            let kind = obj["kind"].as_str().unwrap_or_default();
            if self.def_for(api_version, kind).is_some() {
                self.apply(obj);
            } else {
                let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
                let name = obj["metadata"]["name"].as_str().unwrap_or_default();
                skipped.push(format!("{kind}/{ns}/{name}"));
            }
        }
        skipped
    }

    /// Creates or replaces an object (by apiVersion group + kind + namespace + name); emits ADDED
    /// or MODIFIED. Returns the new resourceVersion.
    pub fn apply(&self, object: Value) -> String {
        let api_version = object["apiVersion"]
            .as_str()
            .unwrap_or_else(|| panic!("object without apiVersion: {object}"));
        let kind = object["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("object without kind: {object}"));
        let def = self.def_for(api_version, kind).unwrap_or_else(|| {
            panic!(
                "TestApiServer does not serve kind {kind} ({api_version}) with this ServerConfig; \
                 use seed_yaml_skipping_unserved to leave it out"
            )
        });
        lock(&self.shared().store).apply(def, object).to_string()
    }

    /// Deletes; emits DELETED (object with a new resourceVersion). Returns whether it existed.
    pub fn delete(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> bool {
        match self.def_for(api_version, kind) {
            Some(def) => lock(&self.shared().store).delete(def, namespace, name),
            None => false,
        }
    }

    /// Current object, if any (as stored).
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let def = self.def_for(api_version, kind)?;
        lock(&self.shared().store)
            .get(def, namespace, name)
            .map(|o| (*o).clone())
    }

    /// The current resourceVersion (the last one handed out).
    pub fn resource_version(&self) -> String {
        lock(&self.shared().store).rv.to_string()
    }

    /// Every request with a 403 from now on: verb is "get" | "list" | "watch" | "*" (also
    /// "portforward", "create", ...); resource is the plural with group, "services" (core) or
    /// "backendtlspolicies.gateway.networking.k8s.io" ("*" = every resource).
    pub fn forbid(&self, verb: &str, resource: &str) {
        lock(&self.shared().forbidden).push((verb.to_string(), resource.to_string()));
    }

    pub fn allow_all(&self) {
        lock(&self.shared().forbidden).clear();
    }

    /// Every matching request from now on gets `fault` instead of an answer (after the 403
    /// check, before the resource is resolved). `verb` and `resource` match as in
    /// [`forbid`](Self::forbid); discovery is never faulted. The first matching rule wins.
    pub fn fault(&self, verb: &str, resource: &str, fault: Fault) {
        self.add_fault(verb, resource, fault, None);
    }

    /// Like [`fault`](Self::fault) for the next `times` matching requests only.
    pub fn fault_times(&self, verb: &str, resource: &str, fault: Fault, times: usize) {
        self.add_fault(verb, resource, fault, Some(times));
    }

    fn add_fault(&self, verb: &str, resource: &str, fault: Fault, remaining: Option<usize>) {
        lock(&self.shared().faults).push(fault::FaultRule {
            verb: verb.to_string(),
            resource: resource.to_string(),
            fault,
            remaining,
        });
    }

    pub fn clear_faults(&self) {
        lock(&self.shared().faults).clear();
    }

    /// Abruptly ends every open watch stream (the HTTP response body ends mid-stream, as when a
    /// proxy drops it: the connection is closed without the final chunk).
    pub fn drop_watches(&self) {
        lock(&self.shared().store).drop_watchers();
    }

    /// Forgets all event history: resuming a watch or a list continue token from any
    /// resourceVersion older than the current one now gets 410 Expired.
    pub fn compact(&self) {
        lock(&self.shared().store).compact();
    }

    /// Stops accepting connections AND closes every open connection (keep-alive and watches).
    /// Data is kept. Returns once the port refuses connections.
    pub fn stop(&self) {
        let session = lock(&self.inner.session).take();
        if let Some(s) = session {
            let _ = s.shutdown.send(true);
            let _ = s.done.recv_timeout(Duration::from_secs(5));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.shared().conns.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Starts serving again on the same port with the same data (and resourceVersion counter).
    /// Does nothing if the server is serving.
    pub fn restart(&self) {
        if lock(&self.inner.session).is_some() {
            return;
        }
        let listener = {
            let _enter = self.inner.handle.enter();
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match bind(self.addr()) {
                    Ok(l) => break l,
                    Err(e) if Instant::now() < deadline => {
                        let _ = e;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => panic!("test apiserver: cannot rebind {}: {e}", self.addr()),
                }
            }
        };
        self.serve(listener);
    }

    /// Every request seen since start (or since clear_requests).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared().requests).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared().requests).clear();
    }

    /// Port-forward of (namespace, pod, port) tunnels to this TCP address.
    pub fn portforward_target(&self, namespace: &str, pod: &str, port: u16, to: SocketAddr) {
        lock(&self.shared().pf_targets).insert((namespace.into(), pod.into(), port), to);
    }

    /// A kubeconfig (YAML text) with one context per (context name, server); users get a bearer
    /// token; `current` is current-context; each context's namespace is "default".
    /// Writes a kubeconfig with one context, `context`, for this server to `dir/config` and
    /// returns its path.
    pub fn write_kubeconfig(&self, dir: &std::path::Path, context: &str) -> std::path::PathBuf {
        let path = dir.join("config");
        std::fs::write(&path, Self::kubeconfig(&[(context, self)], context))
            .expect("kubeconfig written");
        path
    }

    pub fn kubeconfig(contexts: &[(&str, &TestApiServer)], current: &str) -> String {
        let q = |s: &str| Value::String(s.to_string()).to_string();
        let mut clusters = String::new();
        let mut users = String::new();
        let mut ctxs = String::new();
        for (name, server) in contexts {
            clusters += &format!(
                "- name: {}\n  cluster:\n    server: {}\n",
                q(name),
                q(&server.url())
            );
            users += &format!(
                "- name: {}\n  user:\n    token: {}\n",
                q(&format!("{name}-user")),
                q(TOKEN)
            );
            ctxs += &format!(
                "- name: {}\n  context:\n    cluster: {}\n    user: {}\n    namespace: default\n",
                q(name),
                q(name),
                q(&format!("{name}-user"))
            );
        }
        format!(
            "apiVersion: v1\nkind: Config\npreferences: {{}}\nclusters:\n{clusters}users:\n{users}\
             contexts:\n{ctxs}current-context: {}\n",
            q(current)
        )
    }
}

/// The objects of a multi-document YAML text (documents split on `---` lines; comment-only
/// documents skipped; `kind: List` expanded).
fn yaml_objects(yaml: &str) -> Vec<Value> {
    let mut docs = vec![String::new()];
    for line in yaml.lines() {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") {
            docs.push(String::new());
        } else if t == "..." {
            continue;
        } else {
            let d = docs.last_mut().expect("doc");
            d.push_str(line);
            d.push('\n');
        }
    }
    let mut out = Vec::new();
    for doc in docs {
        if doc
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            continue;
        }
        let v: Value = serde_saphyr::from_str(&doc)
            .unwrap_or_else(|e| panic!("seed YAML does not parse: {e}\n{doc}"));
        match v {
            Value::Null => {}
            Value::Object(ref m)
                if m.get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List"))
                    && m.get("items").is_some_and(Value::is_array) =>
            {
                out.extend(m["items"].as_array().cloned().unwrap_or_default());
            }
            v => out.push(v),
        }
    }
    out
}
