//! Connections, routing, authentication/authorization, discovery and GET; LIST is in list.rs,
//! WATCH in watch.rs.

use http::{Method, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch as signal;

use super::list::{list, present};
use super::registry::{group_version, qualified};
use super::response::{
    Body, full, json_response, method_not_allowed, not_found_named, not_found_path, status_error,
    version_info,
};
use super::select::Selectors;
use super::watch::{WatchRequest, watch};
use super::{ConnGuard, RecordedRequest, Shared, TOKEN, USER, lock, portforward};

pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: signal::Receiver<bool>,
    done: std::sync::mpsc::Sender<()>,
) {
    let mut stop = shutdown.clone();
    loop {
        tokio::select! {
            _ = super::stopped(&mut stop) => break,
            r = listener.accept() => {
                if let Ok((stream, _)) = r {
                    let guard = ConnGuard::new(&shared);
                    tokio::spawn(serve_conn(stream, shared.clone(), shutdown.clone(), guard));
                }
            }
        }
    }
    drop(listener);
    let _ = done.send(());
}

async fn serve_conn(
    stream: TcpStream,
    shared: Arc<Shared>,
    shutdown: signal::Receiver<bool>,
    guard: ConnGuard,
) {
    let _guard = guard;
    let _ = stream.set_nodelay(true);
    let mut stop = shutdown.clone();
    let svc = hyper::service::service_fn(move |req| handle(shared.clone(), shutdown.clone(), req));
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    // On stop(), dropping the connection closes the socket, idle or mid-response.
    tokio::select! {
        _ = conn => {}
        _ = super::stopped(&mut stop) => {}
    }
}

/// What a request path names.
#[derive(Debug, Clone)]
enum Target {
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(String),
    GroupVersion(String, String),
    Resource(ResPath),
    Unknown,
}

#[derive(Debug, Clone)]
struct ResPath {
    group: String,
    version: String,
    plural: String,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

fn parse_target(path: &str) -> Target {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let res = |group: &str, version: &str, rest: &[&str]| {
        let r = |plural: &str, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| {
            Target::Resource(ResPath {
                group: group.into(),
                version: version.into(),
                plural: plural.into(),
                namespace: ns.map(Into::into),
                name: name.map(Into::into),
                sub: sub.map(Into::into),
            })
        };
        match rest {
            ["namespaces", ns, sub @ ("status" | "finalize")] if group.is_empty() => {
                r("namespaces", None, Some(ns), Some(sub))
            }
            ["namespaces", ns, p] => r(p, Some(ns), None, None),
            ["namespaces", ns, p, n] => r(p, Some(ns), Some(n), None),
            ["namespaces", ns, p, n, sub] => r(p, Some(ns), Some(n), Some(sub)),
            [p] => r(p, None, None, None),
            [p, n] => r(p, None, Some(n), None),
            [p, n, sub] => r(p, None, Some(n), Some(sub)),
            _ => Target::Unknown,
        }
    };
    match segs.as_slice() {
        ["version"] => Target::Version,
        ["healthz" | "livez" | "readyz"] => Target::Health,
        ["api"] => Target::CoreVersions,
        ["api", v] => Target::GroupVersion(String::new(), v.to_string()),
        ["api", v, rest @ ..] => res("", v, rest),
        ["apis"] => Target::Groups,
        ["apis", g] => Target::Group(g.to_string()),
        ["apis", g, v] => Target::GroupVersion(g.to_string(), v.to_string()),
        ["apis", g, v, rest @ ..] => res(g, v, rest),
        _ => Target::Unknown,
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: &str) -> Query {
        Query(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn flag(&self, name: &str) -> Option<bool> {
        self.get(name)
            .map(|v| matches!(v, "true" | "1" | "t" | "T" | "TRUE" | "True"))
    }
}

fn verb_of(method: &Method, target: &Target, query: &Query) -> &'static str {
    let get = method == Method::GET || method == Method::HEAD;
    match target {
        Target::Version
        | Target::CoreVersions
        | Target::Groups
        | Target::Group(_)
        | Target::GroupVersion(..)
            if get =>
        {
            "discovery"
        }
        Target::Resource(r) if r.sub.as_deref() == Some("portforward") => "portforward",
        Target::Resource(r) => match *method {
            Method::GET | Method::HEAD if query.flag("watch") == Some(true) => "watch",
            Method::GET | Method::HEAD if r.name.is_none() => "list",
            Method::GET | Method::HEAD => "get",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE if r.name.is_none() => "deletecollection",
            Method::DELETE => "delete",
            _ => "other",
        },
        _ => "other",
    }
}

fn resource_of(target: &Target) -> String {
    match target {
        Target::Resource(r) => {
            let q = qualified(&r.group, &r.plural);
            match &r.sub {
                Some(sub) => format!("{q}/{sub}"),
                None => q,
            }
        }
        _ => String::new(),
    }
}

async fn handle(
    shared: Arc<Shared>,
    shutdown: signal::Receiver<bool>,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query_str = req.uri().query().unwrap_or_default().to_string();
    let query = Query::parse(&query_str);
    let target = parse_target(&path);
    let verb = verb_of(&method, &target, &query);
    let resource = resource_of(&target);
    let resp = dispatch(
        &shared, shutdown, &mut req, &target, &query, verb, &resource,
    );
    lock(&shared.requests).push(RecordedRequest {
        method: method.to_string(),
        path,
        query: query_str,
        verb: verb.to_string(),
        resource,
        status: resp.status().as_u16(),
    });
    Ok(resp)
}

fn forbidden(shared: &Shared, verb: &str, resource: &str) -> bool {
    lock(&shared.forbidden).iter().any(|(v, r)| {
        (v == "*" || v == verb || (verb == "portforward" && (v == "create" || v == "get")))
            && (r == "*" || r == resource)
    })
}

fn forbidden_response(r: &ResPath, verb: &str) -> Response<Body> {
    let q = qualified(&r.group, &r.plural);
    let subject = match &r.name {
        Some(n) => format!("{q} {n:?}"),
        None => q,
    };
    let (authz_verb, authz_resource) = match &r.sub {
        Some(sub) if verb == "portforward" => ("create", format!("{}/{sub}", r.plural)),
        Some(sub) => (verb, format!("{}/{sub}", r.plural)),
        None => (verb, r.plural.clone()),
    };
    let scope = match &r.namespace {
        Some(ns) => format!("in the namespace {ns:?}"),
        None => "at the cluster scope".to_string(),
    };
    let message = format!(
        "{subject} is forbidden: User {USER:?} cannot {authz_verb} resource {authz_resource:?} in \
         API group {:?} {scope}",
        r.group
    );
    let mut details = json!({"kind": r.plural});
    if let Some(n) = &r.name {
        details["name"] = json!(n);
    }
    if !r.group.is_empty() {
        details["group"] = json!(r.group);
    }
    status_error(403, "Forbidden", &message, Some(details))
}

fn dispatch(
    shared: &Arc<Shared>,
    shutdown: signal::Receiver<bool>,
    req: &mut Request<Incoming>,
    target: &Target,
    query: &Query,
    verb: &str,
    resource: &str,
) -> Response<Body> {
    let authorized = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(format!("Bearer {TOKEN}").as_str());
    if !authorized
        && !shared.config.anonymous
        && !matches!(target, Target::Version | Target::Health)
    {
        return status_error(401, "Unauthorized", "Unauthorized", None);
    }
    let get = req.method() == Method::GET || req.method() == Method::HEAD;
    let r = match target {
        Target::Resource(r) => r,
        _ if !get => return method_not_allowed(),
        Target::Version => return json_response(200, &version_info()),
        Target::Health => {
            return Response::builder()
                .status(200)
                .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(full(bytes::Bytes::from_static(b"ok")))
                .expect("response");
        }
        Target::CoreVersions => {
            return json_response(
                200,
                &json!({
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": shared.addr.to_string()}
                    ],
                }),
            );
        }
        Target::Groups => return json_response(200, &shared.registry.api_group_list()),
        Target::Group(g) => {
            return match shared.registry.api_group(g) {
                Some(v) => json_response(200, &v),
                None => not_found_path(),
            };
        }
        Target::GroupVersion(g, v) => {
            if g.is_empty() && v != "v1" {
                return not_found_path();
            }
            return match shared.registry.api_resource_list(g, v) {
                Some(list) => json_response(200, &list),
                None => not_found_path(),
            };
        }
        Target::Unknown => return not_found_path(),
    };
    // kube-apiserver authorizes before it resolves the resource.
    if forbidden(shared, verb, resource) {
        return forbidden_response(r, verb);
    }
    if let Some(f) = super::fault::take(shared, verb, resource) {
        return super::fault::respond(f, shutdown);
    }
    let Some(def) = shared.registry.served(&r.group, &r.version, &r.plural) else {
        return not_found_path();
    };
    if (r.name.is_some() && def.namespaced && r.namespace.is_none())
        || (!def.namespaced && r.namespace.is_some())
    {
        return not_found_path();
    }
    let gv = group_version(&r.group, &r.version);
    let ns = r.namespace.as_deref().unwrap_or_default();
    match r.sub.as_deref() {
        None => {}
        Some("portforward") if def.plural == "pods" && r.namespace.is_some() => {
            let name = r.name.as_deref().unwrap_or_default();
            return portforward::portforward(shared, shutdown, req, ns, name, &query.all("ports"));
        }
        Some(sub) if def.subresources.contains(&sub) && sub != "portforward" => {}
        Some(_) => return not_found_path(),
    }
    if !get {
        return method_not_allowed();
    }
    let meta_only = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"));
    let field_ok = |f: &str| {
        f == "metadata.name"
            || f == "metadata.namespace"
            || (def.plural == "secrets" && f == "type")
    };
    let mut field = query.get("fieldSelector").map(str::to_string);
    if let Some(name) = &r.name {
        // A watch of one object is a watch with a metadata.name field selector.
        let by_name = format!("metadata.name={name}");
        field = Some(match field {
            Some(f) if !f.is_empty() => format!("{f},{by_name}"),
            _ => by_name,
        });
    }
    let selectors = match Selectors::parse(query.get("labelSelector"), field.as_deref(), field_ok) {
        Ok(s) => s,
        Err(msg) => return status_error(400, "BadRequest", &msg, None),
    };
    if verb == "watch" {
        let timeout = match query.get("timeoutSeconds").map(str::parse::<u64>) {
            None => None,
            Some(Ok(n)) => Some(Duration::from_secs(n)),
            Some(Err(_)) => {
                return status_error(400, "BadRequest", "invalid timeoutSeconds", None);
            }
        };
        let w = WatchRequest {
            def: def.clone(),
            gv,
            namespace: r.namespace.clone(),
            selectors,
            resource_version: query.get("resourceVersion").map(Into::into),
            resource_version_match: query.get("resourceVersionMatch").map(Into::into),
            bookmarks: query.flag("allowWatchBookmarks") == Some(true),
            timeout,
            send_initial_events: query.flag("sendInitialEvents"),
            meta_only,
        };
        return watch(shared, shutdown, w);
    }
    if let Some(name) = &r.name {
        let obj = lock(&shared.store).get(def, ns, name);
        return match obj {
            Some(o) => json_response(200, &present(def, &gv, &o, true, meta_only)),
            None => not_found_named(def, name),
        };
    }
    list(
        shared,
        def,
        &gv,
        r.namespace.as_deref(),
        &selectors,
        query,
        meta_only,
    )
}
