//! Every incremental update against a full evaluation of the same snapshot.

use super::*;
use crate::snapshot::{SnapshotBuilder, SourceInfo};
use crate::source::Decoded;
use crate::synth::{self, Rng, Size};
use serde_json::{Value, json};

/// Seven hours per step, from 40 days before the synthetic CA expires (2036-01-01): its
/// certificate findings stay the same for a few steps, then change (days left, under 30 days,
/// expired).
fn now(step: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(2_082_758_400 - 40 * 86_400 + step * 7 * 3_600).unwrap()
}

fn snapshot_of(objects: &[Value]) -> Snapshot {
    let mut b = SnapshotBuilder::new();
    for o in objects {
        crate::source::decode::add_value(&mut b, o.clone(), Origin::default());
    }
    b.build(SourceInfo::default())
}

fn names_of(objects: &[Value], kind: &str) -> Vec<(String, String)> {
    objects
        .iter()
        .filter(|o| o["kind"] == kind)
        .map(|o| {
            let m = &o["metadata"];
            (
                m["namespace"].as_str().unwrap_or_default().to_string(),
                m["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A change a user could make to a route: weights, backends (other Services, missing ones,
/// Envoy Gateway Backends, other namespaces), ports, and the parentRef (other Gateway,
/// other listener, a missing one).
fn change_route(
    route: &mut Value,
    rng: &mut Rng,
    services: &[(String, String)],
    backends: &[(String, String)],
    gateways: &[(String, String)],
) {
    let refs = route["spec"]["rules"][0]["backendRefs"]
        .as_array_mut()
        .unwrap();
    let i = rng.below(refs.len());
    match rng.below(10) {
        0 => refs[i]["weight"] = json!(rng.below(10)),
        1 | 2 => {
            // Half the time one of a few Services, so that routes on different Gateways
            // share backends and the policies that decide them.
            let pick = if rng.chance(50) {
                rng.below(4)
            } else {
                rng.below(services.len())
            };
            let (ns, name) = &services[pick];
            let port = [443, 8443, 80, 8080][rng.below(4)];
            refs[i] = json!({"name": name, "namespace": ns, "port": port});
        }
        3 => refs[i] = json!({"name": "missing-svc", "port": 443}),
        4 if refs.len() > 1 => {
            refs.remove(i);
        }
        4 | 5 => {
            let copy = refs[i].clone();
            refs.push(copy);
        }
        6 => {
            let (ns, name) = &backends[rng.below(backends.len())];
            refs[i] = json!({"group": "gateway.envoyproxy.io", "kind": "Backend", "name": name, "namespace": ns});
        }
        7 => {
            let (ns, name) = &gateways[rng.below(gateways.len())];
            let section = ["http", "https", "nope"][rng.below(3)];
            route["spec"]["parentRefs"] =
                json!([{"name": name, "namespace": ns, "sectionName": section}]);
        }
        8 => {
            // Two parents: the route's edges are under two Gateways (or two listeners).
            let (ns, name) = &gateways[rng.below(gateways.len())];
            let mut parents = route["spec"]["parentRefs"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            parents.truncate(1);
            parents.push(json!({"name": name, "namespace": ns}));
            route["spec"]["parentRefs"] = json!(parents);
        }
        _ => route["spec"]["parentRefs"] = json!([{"name": "no-such-gateway"}]),
    }
}

/// A change a user or controller could make to a policy: hostname, targets (another
/// Service, a section, an older policy's target, a Backend), trust, status.
fn change_policy(
    policy: &mut Value,
    rng: &mut Rng,
    services: &[(String, String)],
    claimed: &Value,
    backends: &[(String, String)],
) {
    let ns = policy["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let spec = &mut policy["spec"];
    match rng.below(9) {
        0 => spec["validation"]["hostname"] = json!(format!("h{}.example.com", rng.below(100))),
        1 => {
            let local: Vec<&(String, String)> = services.iter().filter(|(n, _)| *n == ns).collect();
            let (_, name) = local[rng.below(local.len())];
            spec["targetRefs"] = json!([{"group": "", "kind": "Service", "name": name}]);
        }
        2 => {
            let section = ["https", "http", "grpc", "nope"][rng.below(4)];
            spec["targetRefs"][0]["sectionName"] = json!(section);
        }
        3 => spec["targetRefs"]
            .as_array_mut()
            .unwrap()
            .push(claimed.clone()),
        4 => {
            spec["validation"] =
                json!({"wellKnownCACertificates": "System", "hostname": "a.example.com"})
        }
        5 => {
            spec["validation"]["caCertificateRefs"] =
                json!([{"group": "", "kind": "ConfigMap", "name": "nope"}])
        }
        6 => spec["validation"] = json!({"hostname": "a.example.com"}),
        7 => {
            let (_, name) = &backends[rng.below(backends.len())];
            spec["targetRefs"] =
                json!([{"group": "gateway.envoyproxy.io", "kind": "Backend", "name": name}]);
        }
        _ => {
            policy["metadata"]["generation"] = json!(2);
            let conditions = &mut policy["status"]["ancestors"][0]["conditions"][0];
            conditions["status"] = json!("False");
            conditions["reason"] = json!("Invalid");
        }
    }
}

/// Every update gives exactly the posture (edges, reports, findings and their order, tree)
/// that evaluating the changed snapshot from scratch gives.
fn updates_equal_full_evaluations(size: Size, seed: u64, steps: usize) {
    let mut objects = synth::generate(size, seed);
    let options = Options::default();
    let mut engine = Incremental::new(snapshot_of(&objects), now(0), options.clone());
    let services = names_of(&objects, "Service");
    let backends = names_of(&objects, "Backend");
    let gateways = names_of(&objects, "Gateway");
    let routes = synth::route_positions(&objects);
    let policies: Vec<usize> = (0..objects.len())
        .filter(|&i| objects[i]["kind"] == "BackendTLSPolicy")
        .collect();
    let mut rng = Rng(seed);
    let mut shifted = 0;
    for step in 1..=steps {
        let (i, what) = if rng.chance(50) {
            let i = routes[rng.below(routes.len())];
            change_route(&mut objects[i], &mut rng, &services, &backends, &gateways);
            (i, "route")
        } else {
            let i = policies[rng.below(policies.len())];
            let claimed =
                objects[policies[rng.below(policies.len())]]["spec"]["targetRefs"][0].clone();
            change_policy(&mut objects[i], &mut rng, &services, &claimed, &backends);
            (i, "policy")
        };
        let edges_before = engine.posture().edges.len();
        let decoded = Decoded::new(objects[i].clone(), Origin::default());
        let (object, raw) = decoded.only_object().expect("one object");
        let applied = engine
            .replace(object, Origin::default(), raw, now(step as i64))
            .unwrap_or_else(|_| panic!("step {step}: the {what} was not taken in place"));
        assert!(applied.routes >= 1 || what == "policy");
        shifted += usize::from(engine.posture().edges.len() != edges_before);
        let full = crate::posture::evaluate(&snapshot_of(&objects), now(step as i64), &options);
        let got = serde_json::to_value(engine.posture()).unwrap();
        let want = serde_json::to_value(&full).unwrap();
        if got != want {
            let who = &objects[i]["metadata"]["name"];
            for part in ["edges", "policies", "findings", "tree"] {
                let (g, w) = (
                    got[part].as_array().unwrap(),
                    want[part].as_array().unwrap(),
                );
                if let Some(k) = (0..g.len().max(w.len())).find(|&k| g.get(k) != w.get(k)) {
                    let show = |v: Option<&Value>| {
                        v.map(|v| v.to_string().chars().take(600).collect::<String>())
                    };
                    panic!(
                        "step {step} ({what} {who}): {part}[{k}] differs ({} against {} items)\n got: {:?}\nwant: {:?}",
                        g.len(),
                        w.len(),
                        show(g.get(k)),
                        show(w.get(k))
                    );
                }
            }
            panic!("step {step} ({what} {who}): the postures differ");
        }
    }
    assert!(shifted > 0, "no change moved the edges after it");
}

#[test]
fn updates_of_s_equal_full_evaluations() {
    updates_equal_full_evaluations(Size::S, 11, 150);
}

/// On M the routes' edges are evaluated on several threads and a policy is shared by
/// routes far apart.
#[test]
fn updates_of_m_equal_full_evaluations() {
    updates_equal_full_evaluations(Size::M, 5, 12);
}

/// What the snapshot cannot take in place is given back and changes nothing.
#[test]
fn a_new_object_is_given_back() {
    let objects = synth::generate(Size::S, 2);
    let mut engine = Incremental::new(snapshot_of(&objects), now(0), Options::default());
    let before = serde_json::to_string(engine.posture()).unwrap();
    let mut route = objects
        .iter()
        .find(|o| o["kind"] == "HTTPRoute")
        .unwrap()
        .clone();
    route["metadata"]["name"] = json!("brand-new");
    let (object, raw) = Decoded::new(route, Origin::default())
        .only_object()
        .unwrap();
    assert!(
        engine
            .replace(object, Origin::default(), raw, now(0))
            .is_err()
    );
    assert_eq!(serde_json::to_string(engine.posture()).unwrap(), before);
}

const EG: &str = "gateway.envoyproxy.io/gatewayclass-controller";

fn gateway(name: &str) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": name, "namespace": "infra"},
        "spec": {"gatewayClassName": "eg", "listeners": [{"name": "http", "protocol": "HTTP", "port": 80,
            "allowedRoutes": {"namespaces": {"from": "All"}}}]}})
}

fn service(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "app"},
        "spec": {"ports": [{"name": "https", "port": 443}]}})
}

fn route(name: &str, gw: &str, svc: &str) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "app"},
        "spec": {"parentRefs": [{"name": gw, "namespace": "infra"}],
            "rules": [{"backendRefs": [{"name": svc, "port": 443}]}]}})
}

/// Policy `p` on Service x, with `validation`, reported accepted on Gateway a.
fn policy(validation: Value) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
        "metadata": {"name": "p", "namespace": "app", "generation": 1},
        "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "x"}], "validation": validation},
        "status": {"ancestors": [{"ancestorRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "a", "namespace": "infra"},
            "controllerName": EG,
            "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "ok", "observedGeneration": 1}]}]}})
}

/// The class, Gateways a and b, and `services` in namespace app.
fn gateways_and_services(services: &[&str]) -> Vec<Value> {
    let class = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "eg"}, "spec": {"controllerName": EG}});
    let mut objects = vec![class, gateway("a"), gateway("b")];
    objects.extend(services.iter().map(|s| service(s)));
    objects
}

/// Gateways a and b, Services x and y, policy `p` on x, and routes r1 (a -> x), r2 (b -> x).
fn small_cluster(validation: Value) -> Vec<Value> {
    let mut objects = gateways_and_services(&["x", "y"]);
    objects.extend([
        policy(validation),
        route("r1", "a", "x"),
        route("r2", "b", "x"),
    ]);
    objects
}

/// Replaces `objects[i]` with `new` in the engine and in `objects`, and checks the engine's
/// posture against a full evaluation; gives the full evaluation.
fn change(
    engine: &mut Incremental,
    objects: &mut [Value],
    i: usize,
    new: Value,
    at: jiff::Timestamp,
) -> Posture {
    objects[i] = new;
    let (object, raw) = Decoded::new(objects[i].clone(), Origin::default())
        .only_object()
        .unwrap();
    engine.replace(object, Origin::default(), raw, at).unwrap();
    let full = crate::posture::evaluate(&snapshot_of(objects), at, &Options::default());
    assert_eq!(
        serde_json::to_value(engine.posture()).unwrap(),
        serde_json::to_value(&full).unwrap()
    );
    full
}

/// The node of a policy shows the status of its first reported ancestor: when a route on
/// Gateway a stops using the policy, the node under an unchanged route on Gateway b says the
/// status now differs from what lastmile computes (it is built from the report as it is now).
#[test]
fn a_policy_node_under_an_unchanged_route_follows_its_report() {
    let mut objects =
        small_cluster(json!({"wellKnownCACertificates": "System", "hostname": "x.example.com"}));
    let policy_state_under_b = |p: &Posture| {
        let mut states = Vec::new();
        let gateway_b = p
            .tree
            .iter()
            .flat_map(|root| &root.children)
            .find(|n| n.object.as_deref() == Some("Gateway/infra/b"))
            .expect("Gateway b in the tree");
        let gateway_b =
            crate::posture::built_in_full(&p.edges, &p.policies, std::slice::from_ref(gateway_b));
        for n in &gateway_b {
            n.walk(0, &mut |n, _| {
                if let (
                    crate::posture::NodeKind::Policy,
                    crate::posture::NodeState::Status { text, .. },
                ) = (n.kind, &n.state)
                {
                    states.push(text.to_string());
                }
            });
        }
        states
    };
    let mut engine = Incremental::new(snapshot_of(&objects), now(0), Options::default());
    assert_eq!(policy_state_under_b(engine.posture()), ["Accepted=True"]);
    let full = change(&mut engine, &mut objects, 6, route("r1", "a", "y"), now(1));
    assert_eq!(
        policy_state_under_b(&full),
        ["Accepted=True (computed differs)"]
    );
}

/// Certificate findings follow the CA bundle a policy names, between two updates at which the
/// certificates' days left are the same.
#[test]
fn certificate_findings_follow_the_bundle_a_policy_names() {
    let bundle = |name: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "app"},
            "data": {"ca.crt": include_str!("../../../assets/demo/pki/shop-ca.crt.pem")}})
    };
    let validation = |ca: &str| json!({"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": ca}], "hostname": "x.example.com"});
    let mut objects = small_cluster(validation("ca-a"));
    objects.extend([bundle("ca-a"), bundle("ca-b")]);
    let subjects = |p: &Posture| -> Vec<String> {
        p.findings
            .iter()
            .filter(|f| f.id == "certificate-expiring")
            .map(|f| f.subject.to_string())
            .collect()
    };
    // An hour after a whole number of days before the CA expires: the days left stay the
    // same for the next 23 hours.
    let at = |s: i64| {
        now(0)
            .checked_add(jiff::SignedDuration::from_secs(s))
            .unwrap()
    };
    let mut engine = Incremental::new(snapshot_of(&objects), at(3_600), Options::default());
    assert_eq!(subjects(engine.posture()), ["ConfigMap/app/ca-a"]);
    let a_minute_later = at(3_660);
    let full = change(
        &mut engine,
        &mut objects,
        5,
        policy(validation("ca-b")),
        a_minute_later,
    );
    assert_eq!(subjects(&full), ["ConfigMap/app/ca-b"]);
}

/// Policy `name` in namespace app on the Services `targets`, with system trust.
fn service_policy(name: &str, targets: &[&str]) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
        "metadata": {"name": name, "namespace": "app"},
        "spec": {"targetRefs": targets.iter().map(|t| json!({"group": "", "kind": "Service", "name": t})).collect::<Vec<_>>(),
                 "validation": {"wellKnownCACertificates": "System", "hostname": "a.example.com"}}})
}

/// A loser's report shows its winner's ancestors: when the winner's change through a target
/// the loser does not name (x) changes them, the loser's report follows.
#[test]
fn a_loser_follows_its_winner_through_a_target_it_does_not_name() {
    let mut objects = gateways_and_services(&["x", "y", "z"]);
    objects.push(service_policy("a-win", &["x", "y"]));
    objects.push(service_policy("b-lose", &["y"]));
    objects.push(route("r1", "a", "x"));
    let mut engine = Incremental::new(snapshot_of(&objects), now(0), Options::default());
    let full = change(&mut engine, &mut objects, 8, route("r1", "b", "x"), now(1));
    let loser = full
        .policies
        .iter()
        .find(|p| &*p.policy == "app/b-lose")
        .unwrap();
    assert_eq!(loser.role, PolicyRole::Conflicted);
    assert!(
        loser
            .ancestors
            .iter()
            .any(|a| a.ancestor.contains("infra/b"))
    );
}

/// Conflicts reach along shared target names: p1 leaving x lets p2 claim x and y, so p3,
/// which shares nothing with p1, now loses y to p2; p1 taking x back frees p3 again.
#[test]
fn a_conflict_two_target_names_away_is_reported() {
    let mut objects = gateways_and_services(&["x", "y", "z"]);
    objects.push(service_policy("p1", &["x"]));
    objects.push(service_policy("p2", &["x", "y"]));
    objects.push(service_policy("p3", &["y"]));
    let mut engine = Incremental::new(snapshot_of(&objects), now(0), Options::default());
    let role =
        |p: &Posture, name: &str| p.policies.iter().find(|r| &*r.policy == name).unwrap().role;
    assert_eq!(role(engine.posture(), "app/p3"), PolicyRole::Unattached);
    // Then back: p3 no longer loses (it is nobody's loser, so only the link finds it).
    for (step, (target, p3)) in [("z", PolicyRole::Conflicted), ("x", PolicyRole::Unattached)]
        .into_iter()
        .enumerate()
    {
        let p1 = service_policy("p1", &[target]);
        let full = change(&mut engine, &mut objects, 6, p1, now(step as i64 + 1));
        assert_eq!(role(&full, "app/p3"), p3, "p1 on {target}");
    }
}

/// `objects` read from one file, object `i` at line `lines[i]`.
fn snapshot_read_from(objects: &[Value], lines: &[usize]) -> Snapshot {
    let file: Arc<str> = "cluster.yaml".into();
    let mut b = SnapshotBuilder::new();
    for (o, &line) in objects.iter().zip(lines) {
        let origin = Origin {
            file: Some(file.clone()),
            line: Some(line),
        };
        crate::source::decode::add_value(&mut b, o.clone(), origin);
    }
    b.build(SourceInfo::default())
}

/// A route and a policy changed in place come from where the new versions were read: their
/// findings say so, as a full evaluation of the snapshot read that way does.
#[test]
fn findings_say_where_a_changed_object_was_read_from() {
    // r1 sends plaintext to port 443 named https; the policy's status names a Gateway none
    // of its edges use (both raise a finding about their object).
    let mut objects =
        small_cluster(json!({"wellKnownCACertificates": "System", "hostname": "x.example.com"}));
    objects.push(route("r3", "a", "y"));
    let mut lines: Vec<usize> = (0..objects.len()).map(|i| 10 * (i + 1)).collect();
    let mut engine = Incremental::new(
        snapshot_read_from(&objects, &lines),
        now(0),
        Options::default(),
    );
    let line_of = |posture: &Posture, object: &str| -> Vec<Option<usize>> {
        posture
            .findings
            .iter()
            .filter(|f| &*f.object == object)
            .map(|f| f.origin.as_ref().and_then(|o| o.line))
            .collect()
    };
    let r3 = objects.len() - 1;
    assert_eq!(
        line_of(engine.posture(), "HTTPRoute/app/r3"),
        [Some(lines[r3])]
    );
    let p = objects
        .iter()
        .position(|o| o["kind"] == "BackendTLSPolicy")
        .unwrap();
    for (i, line) in [(r3, 500), (p, 700)] {
        lines[i] = line;
        let origin = Origin {
            file: Some("cluster.yaml".into()),
            line: Some(line),
        };
        let (object, raw) = Decoded::new(objects[i].clone(), origin.clone())
            .only_object()
            .unwrap();
        engine.replace(object, origin, raw, now(0)).unwrap();
        let full = crate::posture::evaluate(
            &snapshot_read_from(&objects, &lines),
            now(0),
            &Options::default(),
        );
        assert_eq!(
            serde_json::to_value(engine.posture()).unwrap(),
            serde_json::to_value(&full).unwrap()
        );
    }
    assert_eq!(line_of(engine.posture(), "HTTPRoute/app/r3"), [Some(500)]);
    let policy_lines = line_of(engine.posture(), "BackendTLSPolicy/app/p");
    assert!(
        !policy_lines.is_empty() && policy_lines.iter().all(|&l| l == Some(700)),
        "{policy_lines:?}"
    );
}

/// `n` routes r0… on Gateway a, all to Service x, with policy `p` on x.
fn one_service_under_many_routes(n: usize) -> Vec<Value> {
    let mut objects = gateways_and_services(&["x", "y"]);
    objects.push(policy(
        json!({"wellKnownCACertificates": "System", "hostname": "x.example.com"}),
    ));
    objects.extend((0..n).map(|i| route(&format!("r{i:04}"), "a", "x")));
    objects
}

/// A policy on a Service that more routes use than an update evaluates one by one: the whole
/// snapshot is evaluated again, and the posture is the one a full evaluation gives.
#[test]
fn a_policy_under_many_routes_is_evaluated_in_full() {
    let routes = super::EVALUATE_ALL_ROUTES_AT_LEAST + 44;
    let mut objects = one_service_under_many_routes(routes);
    let mut engine = Incremental::new(snapshot_of(&objects), now(0), Options::default());
    let tls = |p: &Posture| {
        p.edges
            .iter()
            .filter(|e| e.mode == crate::posture::Mode::TlsVerified)
            .count()
    };
    assert_eq!(tls(engine.posture()), routes);
    let at = objects
        .iter()
        .position(|o| o["kind"] == "BackendTLSPolicy")
        .unwrap();
    // The policy now names Service y: no edge is verified any more.
    let mut moved = objects[at].clone();
    moved["spec"]["targetRefs"][0]["name"] = json!("y");
    let (object, raw) = Decoded::new(moved.clone(), Origin::default())
        .only_object()
        .unwrap();
    let applied = engine
        .replace(object, Origin::default(), raw, now(1))
        .unwrap();
    assert!(applied.in_full, "{applied:?}");
    assert_eq!(applied.routes, routes, "every route evaluated again");
    objects[at] = moved;
    let full = crate::posture::evaluate(&snapshot_of(&objects), now(1), &Options::default());
    assert_eq!(tls(engine.posture()), 0);
    assert_eq!(
        serde_json::to_value(engine.posture()).unwrap(),
        serde_json::to_value(&full).unwrap()
    );
}

/// The first `n` routes of `objects` (the last `routes` objects) moved to Service y, which no
/// policy covers, as changes to put in place.
fn routes_moved_to_y(
    objects: &mut [Value],
    routes: usize,
    n: usize,
) -> Vec<(Object, Origin, Option<Arc<str>>)> {
    let first_route = objects.len() - routes;
    (0..n)
        .map(|k| {
            let i = first_route + k;
            objects[i]["spec"]["rules"][0]["backendRefs"][0]["name"] = json!("y");
            let (object, raw) = Decoded::new(objects[i].clone(), Origin::default())
                .only_object()
                .unwrap();
            (object, Origin::default(), raw)
        })
        .collect()
}

/// A burst of changes is put in place together and evaluated once (more than
/// `EVALUATE_ALL_CHANGES`), or one by one (fewer): both give the posture of a full evaluation.
/// A change that cannot be put in place is given back, and nothing changes.
#[test]
fn a_burst_of_changes_gives_what_a_full_evaluation_gives() {
    let routes = 40;
    for burst in [5, super::EVALUATE_ALL_CHANGES + 1] {
        let mut objects = one_service_under_many_routes(routes);
        let mut engine = Incremental::new(snapshot_of(&objects), now(0), Options::default());
        let changes = routes_moved_to_y(&mut objects, routes, burst);
        let applied = engine.replace_all(changes, now(1)).unwrap();
        assert!(applied.routes >= burst, "{burst}: {applied:?}");
        assert_eq!(applied.in_full, burst > super::EVALUATE_ALL_CHANGES);
        let full = crate::posture::evaluate(&snapshot_of(&objects), now(1), &Options::default());
        assert_eq!(
            serde_json::to_value(engine.posture()).unwrap(),
            serde_json::to_value(&full).unwrap(),
            "burst of {burst}"
        );
        let plain = engine
            .posture()
            .edges
            .iter()
            .filter(|e| e.mode == crate::posture::Mode::PlaintextToTlsPort)
            .count();
        assert_eq!(plain, burst);
    }
    // A new route among a burst: it is given back, and none of the changes is applied.
    let mut objects = one_service_under_many_routes(routes);
    let mut engine = Incremental::new(snapshot_of(&objects), now(0), Options::default());
    let first_route = objects.len() - routes;
    let mut changes = routes_moved_to_y(&mut objects, routes, super::EVALUATE_ALL_CHANGES + 1);
    let (object, raw) = Decoded::new(route("new", "a", "x"), Origin::default())
        .only_object()
        .unwrap();
    changes.insert(10, (object, Origin::default(), raw));
    let before = serde_json::to_value(engine.posture()).unwrap();
    let given_back = engine.replace_all(changes, now(1)).unwrap_err();
    assert!(given_back.key().contains("new"), "{}", given_back.key());
    assert_eq!(serde_json::to_value(engine.posture()).unwrap(), before);
    for o in &mut objects[first_route..] {
        o["spec"]["rules"][0]["backendRefs"][0]["name"] = json!("x");
    }
    let full = crate::posture::evaluate(&snapshot_of(&objects), now(0), &Options::default());
    assert_eq!(before, serde_json::to_value(&full).unwrap());
}

/// The replaced ranges are found by position as going through them all in order finds them:
/// where each old edge is now, and whether it was replaced, for routes that gained, lost or
/// kept their edges (some had none).
#[test]
fn splices_find_old_edges_as_a_pass_over_them_does() {
    let mut rng = Rng(3);
    for _ in 0..50 {
        // Routes' edge counts before and after, the replaced routes in order.
        let counts: Vec<usize> = (0..40).map(|_| rng.below(4)).collect();
        let old_total: usize = counts.iter().sum();
        let mut splices = super::Splices::default();
        let mut naive: Vec<(usize, usize, usize, usize)> = Vec::new();
        let (mut old_start, mut shift) = (0usize, 0isize);
        for &n in &counts {
            if rng.chance(40) {
                let new_len = rng.below(4);
                let new_start = old_start.wrapping_add_signed(shift);
                splices.push(new_start, n, new_len);
                naive.push((old_start, n, new_start, new_len));
                shift += new_len as isize - n as isize;
            }
            old_start += n;
        }
        let naive_now_at = |i: usize| -> Option<usize> {
            let mut delta = 0isize;
            for &(os, ol, ns, nl) in &naive {
                if i < os {
                    break;
                }
                if i < os + ol {
                    return (i - os < nl).then_some(ns + i - os);
                }
                delta += nl as isize - ol as isize;
            }
            Some(i.wrapping_add_signed(delta))
        };
        for i in 0..old_total + 2 {
            assert_eq!(splices.now_at(i), naive_now_at(i), "edge {i}");
            let inside = naive
                .iter()
                .any(|&(os, ol, _, _)| (os..os + ol).contains(&i));
            assert_eq!(splices.inside(i), inside, "edge {i}");
        }
        assert_eq!(
            splices.shifted(),
            naive.iter().any(|&(_, ol, _, nl)| ol != nl)
        );
    }
}
