//! Self-tests of the fake API server (`tests/support/apiserver`), with kube-rs as the client.

#[path = "support/apiserver/mod.rs"]
mod apiserver;

use apiserver::{ServerConfig, TestApiServer};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(3);

async fn client_for(server: &TestApiServer) -> kube::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let text = TestApiServer::kubeconfig(&[("fake", server)], "fake");
    let kc = Kubeconfig::from_yaml(&text).expect("kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

/// Every `assets/demo/*.yaml`, sorted by file name.
fn demo_texts() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("assets/demo")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read demo"))
        .collect()
}

fn demo_count(kind: &str) -> usize {
    let line = format!("kind: {kind}");
    demo_texts()
        .iter()
        .flat_map(|t| t.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.trim_end() == line)
        .count()
}

fn demo_server(config: ServerConfig) -> TestApiServer {
    let server = TestApiServer::start(config);
    for text in demo_texts() {
        server.seed_yaml(&text);
    }
    server
}

fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn services_ar() -> ApiResource {
    ar("", "v1", "Service", "services")
}

fn service(ns: &str, name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": {"selftest": "yes"}},
        "spec": {"ports": [{"name": "https", "port": 443}]},
    })
}

fn api_status(err: &kube::Error) -> &kube::core::Status {
    match err {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// The next item of a stream, or a panic after `WAIT`.
async fn next<S: Stream + Unpin>(s: &mut S) -> S::Item {
    tokio::time::timeout(WAIT, s.next())
        .await
        .expect("stream item in time")
        .expect("stream not ended")
}

/// Polls `cond` until true, or panics after `WAIT`.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn discovery_matches_config() {
    let server = demo_server(ServerConfig::default());
    let client = client_for(&server).await;

    let version = client.apiserver_version().await.unwrap();
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "33")
    );
    let core = client.list_core_api_versions().await.unwrap();
    assert_eq!(core.versions, vec!["v1".to_string()]);
    let core_res = client.list_core_api_resources("v1").await.unwrap();
    let names: Vec<&str> = core_res.resources.iter().map(|r| r.name.as_str()).collect();
    for want in [
        "namespaces",
        "services",
        "configmaps",
        "secrets",
        "pods",
        "pods/portforward",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }

    let groups = client.list_api_groups().await.unwrap();
    let gw = groups
        .groups
        .iter()
        .find(|g| g.name == "gateway.networking.k8s.io")
        .expect("gateway group");
    assert_eq!(gw.preferred_version.as_ref().unwrap().version, "v1");
    let versions: Vec<&str> = gw.versions.iter().map(|v| v.version.as_str()).collect();
    assert_eq!(versions, ["v1", "v1beta1", "v1alpha3", "v1alpha2"]);
    assert!(
        groups
            .groups
            .iter()
            .any(|g| g.name == "gateway.envoyproxy.io")
    );
    let v1 = client
        .list_api_group_resources("gateway.networking.k8s.io/v1")
        .await
        .unwrap();
    let btlsp = v1
        .resources
        .iter()
        .find(|r| r.name == "backendtlspolicies")
        .expect("btlsp served at v1");
    assert_eq!(btlsp.kind, "BackendTLSPolicy");
    assert!(btlsp.namespaced);
    assert!(btlsp.verbs.iter().any(|v| v == "watch"));

    // kube's own discovery walks the same endpoints.
    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    assert!(discovery.has_group("gateway.networking.k8s.io"));

    let err = client
        .list_api_group_resources("nope.example.com/v1")
        .await
        .unwrap_err();
    assert_eq!(api_status(&err).code, 404);
    let err = client
        .list_api_group_resources("gateway.networking.k8s.io/v9")
        .await
        .unwrap_err();
    assert_eq!(api_status(&err).code, 404);

    // Only v1alpha3.
    let alpha = TestApiServer::start(ServerConfig {
        btlsp_versions: vec!["v1alpha3"],
        ..Default::default()
    });
    let client = client_for(&alpha).await;
    let v1 = client
        .list_api_group_resources("gateway.networking.k8s.io/v1")
        .await
        .unwrap();
    assert!(!v1.resources.iter().any(|r| r.name == "backendtlspolicies"));
    let v1a3 = client
        .list_api_group_resources("gateway.networking.k8s.io/v1alpha3")
        .await
        .unwrap();
    assert!(
        v1a3.resources
            .iter()
            .any(|r| r.name == "backendtlspolicies")
    );
    let btlsp_v1 = Api::<DynamicObject>::all_with(
        client.clone(),
        &ar(
            "gateway.networking.k8s.io",
            "v1",
            "BackendTLSPolicy",
            "backendtlspolicies",
        ),
    );
    assert_eq!(
        api_status(&btlsp_v1.list(&ListParams::default()).await.unwrap_err()).code,
        404
    );

    // No BackendTLSPolicy CRD and no Envoy Gateway CRDs.
    let bare = TestApiServer::start(ServerConfig {
        btlsp_versions: vec![],
        envoy_gateway_crds: false,
        ..Default::default()
    });
    let mut skipped = Vec::new();
    for text in demo_texts() {
        skipped.extend(bare.seed_yaml_skipping_unserved(&text));
    }
    assert_eq!(
        skipped.len(),
        demo_count("BackendTLSPolicy") + demo_count("Backend") + demo_count("EnvoyProxy")
    );
    assert!(
        skipped
            .iter()
            .any(|s| s.starts_with("BackendTLSPolicy/shop/"))
    );
    let client = client_for(&bare).await;
    let groups = client.list_api_groups().await.unwrap();
    assert!(
        !groups
            .groups
            .iter()
            .any(|g| g.name == "gateway.envoyproxy.io")
    );
    let result = std::panic::catch_unwind(|| {
        bare.apply(
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
            "metadata": {"name": "x", "namespace": "default"}}),
        )
    });
    assert!(result.is_err(), "apply of an unserved kind panics");
}

#[tokio::test]
async fn list_get_paging_and_selectors() {
    let server = demo_server(ServerConfig::default());
    let client = client_for(&server).await;
    let n = demo_count("Service");
    let api = Api::<DynamicObject>::all_with(client.clone(), &services_ar());

    let all = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), n);
    assert_eq!(
        all.metadata.resource_version,
        Some(server.resource_version())
    );
    // Built-in list items carry no kind/apiVersion (as from a real kube-apiserver).
    assert!(all.items.iter().all(|o| o.types.is_none()));

    // Paging walks every item exactly once.
    let mut lp = ListParams::default().limit(2);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|o| {
            format!(
                "{}/{}",
                o.metadata.namespace.clone().unwrap(),
                o.metadata.name.clone().unwrap()
            )
        }));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = lp.continue_token(&c),
            None => break,
        }
    }
    assert_eq!(seen.len(), n);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), n);
    assert_eq!(pages, n.div_ceil(2));

    // Label selectors.
    let shop = |o: &DynamicObject| {
        o.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app.kubernetes.io/part-of"))
            .is_some_and(|v| v == "shop")
    };
    let want = all.items.iter().filter(|o| shop(o)).count();
    assert!(want > 0 && want < n);
    let sel = api
        .list(&ListParams::default().labels("app.kubernetes.io/part-of=shop"))
        .await
        .unwrap();
    assert_eq!(sel.items.len(), want);
    let notin = api
        .list(&ListParams::default().labels("app.kubernetes.io/part-of notin (shop)"))
        .await
        .unwrap();
    assert_eq!(notin.items.len(), n - want);

    // Field selectors and namespaces.
    let in_shop = all
        .items
        .iter()
        .filter(|o| o.metadata.namespace.as_deref() == Some("shop"))
        .count();
    let by_field = api
        .list(&ListParams::default().fields("metadata.namespace=shop"))
        .await
        .unwrap();
    assert_eq!(by_field.items.len(), in_shop);
    let namespaced = Api::<DynamicObject>::namespaced_with(client.clone(), "shop", &services_ar());
    assert_eq!(
        namespaced
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        in_shop
    );
    let err = api
        .list(&ListParams::default().fields("spec.type=ClusterIP"))
        .await
        .unwrap_err();
    let status = api_status(&err);
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
    assert_eq!(status.message, "field label not supported: spec.type");

    // Metadata-only lists (Accept: ...;as=PartialObjectMetadataList).
    let meta = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(meta.items.len(), n);
    assert!(meta.items.iter().all(|o| o.metadata.name.is_some()));

    // Typed lists decode too.
    let typed = Api::<Service>::all(client.clone());
    assert_eq!(
        typed
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        n
    );

    // Custom resources: items carry kind/apiVersion of the requested version.
    let btlsp = Api::<DynamicObject>::all_with(
        client.clone(),
        &ar(
            "gateway.networking.k8s.io",
            "v1",
            "BackendTLSPolicy",
            "backendtlspolicies",
        ),
    );
    let policies = btlsp.list(&ListParams::default()).await.unwrap();
    assert_eq!(policies.items.len(), demo_count("BackendTLSPolicy"));
    for p in &policies.items {
        let types = p.types.as_ref().expect("CRD items carry types");
        assert_eq!(types.api_version, "gateway.networking.k8s.io/v1");
        assert_eq!(types.kind, "BackendTLSPolicy");
        assert!(p.metadata.generation.is_some());
    }

    // GET one object, and a missing one.
    let first = &all.items[0];
    let ns = first.metadata.namespace.clone().unwrap();
    let name = first.metadata.name.clone().unwrap();
    let one = Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &services_ar())
        .get(&name)
        .await
        .unwrap();
    assert_eq!(one.types.unwrap().kind, "Service");
    let err = namespaced.get("no-such-service").await.unwrap_err();
    let status = api_status(&err);
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert_eq!(status.message, "services \"no-such-service\" not found");

    // A continue token whose resourceVersion has been compacted away is Expired.
    let page = api.list(&ListParams::default().limit(2)).await.unwrap();
    let token = page.metadata.continue_.unwrap();
    server.apply(service("default", "bump"));
    server.compact();
    let err = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap_err();
    let status = api_status(&err);
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
    assert!(
        status
            .message
            .starts_with("The provided continue parameter is too old")
    );
    let lists: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.verb == "list" && r.resource == "services")
        .collect();
    assert!(lists.iter().any(|r| r.query.contains("limit=2")));
}

#[tokio::test]
async fn watcher_sees_initial_state_and_changes() {
    let server = demo_server(ServerConfig::default());
    let client = client_for(&server).await;
    let n = demo_count("Service");
    let api = Api::<DynamicObject>::all_with(client.clone(), &services_ar());
    let mut stream = watcher(api, watcher::Config::default()).boxed();

    assert!(matches!(
        next(&mut stream).await.unwrap(),
        watcher::Event::Init
    ));
    let mut initial = 0;
    loop {
        match next(&mut stream).await.unwrap() {
            watcher::Event::InitApply(_) => initial += 1,
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(initial, n);

    server.apply(service("default", "fresh"));
    match tokio::time::timeout(Duration::from_secs(1), stream.next()).await {
        Ok(Some(Ok(watcher::Event::Apply(o)))) => {
            assert_eq!(o.metadata.name.as_deref(), Some("fresh"));
            assert_eq!(o.types.unwrap().api_version, "v1");
        }
        other => panic!("expected Apply within 1 s, got {other:?}"),
    }
    assert!(server.delete("v1", "Service", "default", "fresh"));
    match next(&mut stream).await.unwrap() {
        watcher::Event::Delete(o) => assert_eq!(o.metadata.name.as_deref(), Some("fresh")),
        other => panic!("expected Delete, got {other:?}"),
    }
    let watches = server
        .requests()
        .into_iter()
        .filter(|r| r.verb == "watch" && r.resource == "services")
        .count();
    assert_eq!(watches, 1);
}

#[tokio::test]
async fn raw_watch_protocol() {
    let server = TestApiServer::start(ServerConfig {
        bookmark_interval: Duration::from_millis(100),
        ..Default::default()
    });
    server.apply(service("default", "a"));
    let client = client_for(&server).await;
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), "default", &services_ar());

    // From "0": synthetic ADDED, then bookmarks.
    let wp = WatchParams::default().timeout(2);
    let mut s = api.watch(&wp, "0").await.unwrap().boxed();
    assert!(matches!(next(&mut s).await.unwrap(), WatchEvent::Added(_)));
    let rv = server.resource_version();
    match next(&mut s).await.unwrap() {
        WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version, rv),
        other => panic!("expected a bookmark, got {other:?}"),
    }

    // Resuming from a resourceVersion replays what came after it.
    let before = server.resource_version();
    server.apply(service("default", "b"));
    server.delete("v1", "Service", "default", "a");
    let mut s = api
        .watch(&WatchParams::default(), &before)
        .await
        .unwrap()
        .boxed();
    assert!(
        matches!(next(&mut s).await.unwrap(), WatchEvent::Added(o) if o.metadata.name.as_deref() == Some("b"))
    );
    assert!(
        matches!(next(&mut s).await.unwrap(), WatchEvent::Deleted(o) if o.metadata.name.as_deref() == Some("a"))
    );

    // Too old: one ERROR event with a 410 Status, then the stream ends.
    server.compact();
    let mut s = api
        .watch(&WatchParams::default(), &before)
        .await
        .unwrap()
        .boxed();
    match next(&mut s).await.unwrap() {
        WatchEvent::Error(e) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message
                    .starts_with(&format!("too old resource version: {before} ("))
            );
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    let after = tokio::time::timeout(WAIT, s.next()).await.unwrap();
    assert!(after.is_none(), "{after:?}");

    // timeoutSeconds ends the stream cleanly (after some bookmarks).
    let mut s = api
        .watch(
            &WatchParams::default().timeout(1),
            &server.resource_version(),
        )
        .await
        .unwrap()
        .boxed();
    let mut bookmarks = 0;
    while let Some(ev) = tokio::time::timeout(WAIT, s.next()).await.unwrap() {
        assert!(matches!(ev, Ok(WatchEvent::Bookmark(_))), "{ev:?}");
        bookmarks += 1;
    }
    assert!(bookmarks >= 5, "{bookmarks} bookmarks in 1 s at 100 ms");

    // Label selectors filter events; leaving the selection is a DELETED.
    let wp = WatchParams::default().labels("selftest=yes");
    let mut s = api
        .watch(&wp, &server.resource_version())
        .await
        .unwrap()
        .boxed();
    let mut other = service("default", "c");
    other["metadata"]["labels"] = json!({"selftest": "no"});
    server.apply(other);
    server.apply(service("default", "c"));
    let mut gone = service("default", "c");
    gone["metadata"]["labels"] = json!({});
    server.apply(gone);
    assert!(matches!(next(&mut s).await.unwrap(), WatchEvent::Added(_)));
    assert!(matches!(
        next(&mut s).await.unwrap(),
        WatchEvent::Deleted(_)
    ));

    // Streaming lists (sendInitialEvents) end their initial events with a marked bookmark.
    let stream = watcher(api.clone(), watcher::Config::default().streaming_lists());
    let mut stream = stream.boxed();
    let mut seen = 0;
    loop {
        match next(&mut stream).await.unwrap() {
            watcher::Event::InitApply(_) => seen += 1,
            watcher::Event::InitDone => break,
            watcher::Event::Init => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, 2);
}

#[tokio::test]
async fn watcher_relists_after_410() {
    let server = demo_server(ServerConfig::default());
    let client = client_for(&server).await;
    let api = Api::<Service>::all(client.clone());
    let writer = reflector::store::Writer::<Service>::default();
    let store = writer.as_reader();
    // Without bookmarks the watcher's resourceVersion stays at its last services event, so a
    // change elsewhere plus a compaction leaves it too old.
    let config = watcher::Config::default().disable_bookmarks();
    let mut stream = reflector(writer, watcher(api, config)).boxed();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(ev) = stream.next().await {
            let label = match ev {
                Ok(watcher::Event::Init) => "init".to_string(),
                Ok(_) => continue,
                Err(watcher::Error::WatchError(s)) => format!("watch-error {}", s.code),
                Err(e) => format!("error {e}"),
            };
            if tx.send(label).is_err() {
                return;
            }
        }
    });
    assert_eq!(
        tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap(),
        "init"
    );
    tokio::time::timeout(WAIT, store.wait_until_ready())
        .await
        .unwrap()
        .unwrap();
    let n = demo_count("Service");
    assert_eq!(store.state().len(), n);
    // Let the watch start before it gets dropped.
    eventually("watch started", || {
        server.requests().iter().any(|r| r.verb == "watch")
    })
    .await;

    server.apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "elsewhere", "namespace": "default"}, "data": {}}));
    server.compact();
    server.drop_watches();
    server.apply(service("default", "after-compaction"));
    server.delete("v1", "Service", "shop", "storefront");

    let mut labels = Vec::new();
    while !labels.iter().any(|l| l == "init") {
        labels.push(
            tokio::time::timeout(WAIT, rx.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert!(
        labels.contains(&"watch-error 410".to_string()),
        "{labels:?}"
    );
    eventually("store relisted", || {
        let names: BTreeSet<String> = store
            .state()
            .iter()
            .map(|s| s.metadata.name.clone().unwrap())
            .collect();
        names.contains("after-compaction") && !names.contains("storefront")
    })
    .await;
    assert_eq!(store.state().len(), n);
}

#[tokio::test]
async fn forbidden_verbs_get_403() {
    let server = demo_server(ServerConfig::default());
    let client = client_for(&server).await;
    let api = Api::<DynamicObject>::all_with(client.clone(), &services_ar());
    server.forbid("list", "services");

    let err = api.list(&ListParams::default()).await.unwrap_err();
    let status = api_status(&err);
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        status.message,
        "services is forbidden: User \"test\" cannot list resource \"services\" in API group \"\" \
         at the cluster scope"
    );
    let in_ns = Api::<DynamicObject>::namespaced_with(client.clone(), "shop", &services_ar());
    let err = in_ns.list(&ListParams::default()).await.unwrap_err();
    assert!(
        api_status(&err)
            .message
            .ends_with("in the namespace \"shop\"")
    );
    // Other verbs and resources are unaffected.
    assert!(in_ns.get("storefront").await.is_ok());
    let cms =
        Api::<DynamicObject>::all_with(client.clone(), &ar("", "v1", "ConfigMap", "configmaps"));
    assert!(cms.list(&ListParams::default()).await.is_ok());

    // The watcher reports a 403 on its initial list.
    let mut w = watcher(api.clone(), watcher::Config::default()).boxed();
    assert!(matches!(next(&mut w).await.unwrap(), watcher::Event::Init));
    match next(&mut w).await {
        Err(watcher::Error::InitialListFailed(e)) => assert_eq!(api_status(&e).code, 403),
        other => panic!("expected InitialListFailed, got {other:?}"),
    }

    // A forbidden watch: the HTTP 403 arrives as the first item of the event stream.
    server.forbid("watch", "backendtlspolicies.gateway.networking.k8s.io");
    let btlsp = Api::<DynamicObject>::all_with(
        client.clone(),
        &ar(
            "gateway.networking.k8s.io",
            "v1",
            "BackendTLSPolicy",
            "backendtlspolicies",
        ),
    );
    let mut s = btlsp
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let err = next(&mut s).await.unwrap_err();
    let status = api_status(&err);
    assert_eq!(status.code, 403);
    assert!(status.message.starts_with(
        "backendtlspolicies.gateway.networking.k8s.io is forbidden: User \"test\" cannot watch \
         resource \"backendtlspolicies\" in API group \"gateway.networking.k8s.io\""
    ));

    server.allow_all();
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        demo_count("Service")
    );
    let denied: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.status == 403)
        .collect();
    assert!(
        denied
            .iter()
            .any(|r| r.verb == "list" && r.resource == "services")
    );
    assert!(denied.iter().any(|r| r.verb == "watch"));
}

#[tokio::test]
async fn write_verbs_are_refused_and_recorded() {
    let server = demo_server(ServerConfig::default());
    let client = client_for(&server).await;
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), "default", &services_ar());
    let obj: DynamicObject = serde_json::from_value(service("default", "new")).unwrap();
    let err = api.create(&PostParams::default(), &obj).await.unwrap_err();
    assert_eq!(api_status(&err).code, 405);
    assert_eq!(api_status(&err).reason, "MethodNotAllowed");
    let err = api
        .delete("new", &DeleteParams::default())
        .await
        .unwrap_err();
    assert_eq!(api_status(&err).code, 405);
    let reqs = server.requests();
    assert!(
        reqs.iter()
            .any(|r| r.verb == "create" && r.method == "POST" && r.status == 405)
    );
    assert!(
        reqs.iter()
            .any(|r| r.verb == "delete" && r.method == "DELETE" && r.status == 405)
    );
    assert!(server.get("v1", "Service", "default", "new").is_none());

    // Requests without the kubeconfig's token are refused.
    let raw = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let (mut r, mut w) = raw.into_split();
    w.write_all(b"GET /api/v1/services HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    r.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    server.clear_requests();
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn stop_and_restart() {
    let server = demo_server(ServerConfig::default());
    let client = client_for(&server).await;
    let n = demo_count("Service");
    let api = Api::<Service>::all(client.clone());
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        n
    );

    let writer = reflector::store::Writer::<Service>::default();
    let store = writer.as_reader();
    let stream =
        reflector(writer, watcher(api.clone(), watcher::Config::default())).default_backoff();
    // Errors (the dropped stream, refused connections) are yielded too; keep polling.
    tokio::spawn(stream.for_each(|_| async {}));
    tokio::time::timeout(WAIT, store.wait_until_ready())
        .await
        .unwrap()
        .unwrap();
    eventually("watch started", || {
        server.requests().iter().any(|r| r.verb == "watch")
    })
    .await;

    server.stop();
    let err = api.list(&ListParams::default()).await.unwrap_err();
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "a connection error, got {err:?}"
    );
    assert!(std::net::TcpStream::connect(server.addr()).is_err());

    server.apply(service("default", "while-down"));
    server.restart();
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        n + 1
    );
    eventually("watcher recovered", || {
        store
            .state()
            .iter()
            .any(|s| s.metadata.name.as_deref() == Some("while-down"))
    })
    .await;
}

#[tokio::test]
async fn portforward_tunnels_to_target() {
    let server = TestApiServer::start(ServerConfig::default());
    server.seed_yaml(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: echo\n  namespace: default\nspec:\n  \
         containers:\n    - name: echo\n      image: echo\n",
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = sock.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    server.portforward_target("default", "echo", 8443, target);
    let client = client_for(&server).await;
    let pods = Api::<Pod>::namespaced(client.clone(), "default");

    let mut pf = pods.portforward("echo", &[8443]).await.unwrap();
    let mut stream = pf.take_stream(8443).unwrap();
    stream.write_all(b"hello through the tunnel").await.unwrap();
    let mut buf = [0u8; 24];
    tokio::time::timeout(WAIT, stream.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"hello through the tunnel");
    drop(stream);
    tokio::time::timeout(WAIT, pf.join())
        .await
        .unwrap()
        .unwrap();
    let rec = server
        .requests()
        .into_iter()
        .find(|r| r.verb == "portforward")
        .unwrap();
    assert_eq!(
        (rec.resource.as_str(), rec.status),
        ("pods/portforward", 101)
    );
    assert!(rec.query.ends_with("ports=8443"), "{}", rec.query);

    // No target on that port: the error channel says so.
    let mut pf = pods.portforward("echo", &[9999]).await.unwrap();
    let error = tokio::time::timeout(WAIT, pf.take_error(9999).unwrap())
        .await
        .unwrap()
        .expect("an error message");
    assert!(
        error.starts_with("error forwarding port 9999 to pod "),
        "{error}"
    );

    // No such pod: no upgrade.
    let err = match pods.portforward("missing", &[8443]).await {
        Ok(_) => panic!("port-forward to a missing pod succeeded"),
        Err(e) => e,
    };
    assert!(
        matches!(
            err,
            kube::Error::UpgradeConnection(kube::client::UpgradeConnectionError::ProtocolSwitch(s))
                if s == 404
        ),
        "{err:?}"
    );
}

/// From a plain (non-async) test, as the product binary's tests use it.
#[test]
fn works_from_sync_tests() {
    use std::io::{Read, Write};
    let server = TestApiServer::start(ServerConfig::default());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clean.yaml");
    server.seed_yaml(&std::fs::read_to_string(path).unwrap());
    let get = |path: &str| {
        let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            apiserver::TOKEN
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    let text = get("/api/v1/services");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"kind\":\"ServiceList\""));
    server.stop();
    assert!(std::net::TcpStream::connect(server.addr()).is_err());
    server.restart();
    let text = get("/apis/gateway.networking.k8s.io/v1/backendtlspolicies");
    assert!(text.contains("\"kind\":\"BackendTLSPolicy\""), "{text}");
}
