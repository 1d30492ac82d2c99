//! A synthetic cluster, deterministic from a seed, for benchmarks and load tests: Gateways,
//! routes with several backendRefs, Services, BackendTLSPolicies with CA ConfigMaps, Envoy
//! Gateway Backends and ReferenceGrants in realistic proportions.
//!
//! `cargo run --release --example synth -- L 7 > l.yaml` writes one as YAML.

use serde_json::{Value, json};

/// Preset sizes from the performance issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub routes: usize,
    pub backend_refs_per_route: usize,
    pub services: usize,
    pub policies: usize,
    pub gateways: usize,
    /// Envoy Gateway Backends (FQDN endpoints).
    pub backends: usize,
    pub namespaces: usize,
}

impl Size {
    /// S: 100 routes.
    pub const S: Size = Size {
        routes: 100,
        backend_refs_per_route: 3,
        services: 200,
        policies: 50,
        gateways: 5,
        backends: 5,
        namespaces: 10,
    };
    /// M: 1,000 routes.
    pub const M: Size = Size {
        routes: 1_000,
        backend_refs_per_route: 3,
        services: 2_000,
        policies: 500,
        gateways: 10,
        backends: 50,
        namespaces: 40,
    };
    /// L: 10,000 routes with 3 backendRefs each, 20,000 Services, 5,000 BackendTLSPolicies,
    /// 50 Gateways.
    pub const L: Size = Size {
        routes: 10_000,
        backend_refs_per_route: 3,
        services: 20_000,
        policies: 5_000,
        gateways: 50,
        backends: 500,
        namespaces: 200,
    };

    pub fn parse(s: &str) -> Option<Size> {
        match s.to_ascii_uppercase().as_str() {
            "S" => Some(Size::S),
            "M" => Some(Size::M),
            "L" => Some(Size::L),
            _ => None,
        }
    }

    /// Twice as many of everything (for "doubling the input at most doubles the time").
    pub fn doubled(self) -> Size {
        self.scaled(2, 1)
    }

    /// `times / per` as many of everything (at least one of each), backendRefs per route
    /// unchanged: the sizes between and beyond S, M and L that show how time grows.
    pub fn scaled(self, times: usize, per: usize) -> Size {
        let of = |n: usize| (n * times / per).max(1);
        Size {
            routes: of(self.routes),
            services: of(self.services),
            policies: of(self.policies),
            gateways: of(self.gateways),
            backends: of(self.backends),
            namespaces: of(self.namespaces),
            ..self
        }
    }
}

/// SplitMix64: small, fast and deterministic.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const CA_PEM: &str = include_str!("../assets/demo/pki/shop-ca.crt.pem");
const EG: &str = "gateway.envoyproxy.io/gatewayclass-controller";

fn ns_name(i: usize) -> String {
    format!("team-{i:03}")
}

/// The positions in `objects` of the routes (HTTPRoutes, GRPCRoutes...), for tests that change
/// some of them.
#[cfg(test)]
pub(crate) fn route_positions(objects: &[Value]) -> Vec<usize> {
    (0..objects.len())
        .filter(|&i| {
            objects[i]["kind"]
                .as_str()
                .is_some_and(|k| k.ends_with("Route"))
        })
        .collect()
}

/// The objects of a synthetic cluster of `size`, the same for the same `seed`.
pub fn generate(size: Size, seed: u64) -> Vec<Value> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let t0 = jiff::Timestamp::from_second(1_767_225_600).expect("valid"); // 2026-01-01
    out.push(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "eg"}, "spec": {"controllerName": EG},
        "status": {"conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Valid GatewayClass"}]}}));
    out.push(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "other"}, "spec": {"controllerName": "example.com/gateway-controller"}}));
    let infra = ["infra", "edge", "platform", "partners", "internal"];
    let gateways: Vec<(String, String)> = (0..size.gateways)
        .map(|g| (infra[g % infra.len()].to_string(), format!("gw-{g:03}")))
        .collect();
    for (g, (ns, name)) in gateways.iter().enumerate() {
        let class = if g % 10 == 9 { "other" } else { "eg" };
        out.push(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": name, "namespace": ns, "generation": 1},
            "spec": {"gatewayClassName": class, "listeners": [
                {"name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": {"namespaces": {"from": "All"}}},
                {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": format!("*.{name}.example.com"),
                 "tls": {"mode": "Terminate", "certificateRefs": [{"name": format!("{name}-cert")}]},
                 "allowedRoutes": {"namespaces": {"from": "All"}}}]},
            "status": {"conditions": [{"type": "Programmed", "status": "True", "reason": "Programmed", "message": "Address assigned to the Gateway"}]}}));
    }
    let per_ns = size.services.div_ceil(size.namespaces);
    let ports = [
        (443, "https", Some("https")),
        (8443, "https-api", None),
        (80, "http", None),
        (8080, "web", Some("http")),
    ];
    for s in 0..size.services {
        let ns = ns_name(s / per_ns);
        let (port, name, app) = ports[rng.below(ports.len())];
        let mut p =
            json!({"name": name, "port": port, "targetPort": port + 1000, "protocol": "TCP"});
        if let Some(a) = app {
            p["appProtocol"] = json!(a);
        }
        out.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("svc-{s:05}"), "namespace": ns, "labels": {"app": format!("svc-{s:05}")}},
            "spec": {"selector": {"app": format!("svc-{s:05}")}, "ports": [p], "type": "ClusterIP", "clusterIP": format!("10.{}.{}.{}", s >> 16 & 255, s >> 8 & 255, s & 255)}}));
    }
    // One CA bundle per namespace that has policies.
    for n in 0..size.namespaces {
        out.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "backend-ca", "namespace": ns_name(n)},
            "data": {"ca.crt": CA_PEM}}));
    }
    let service_port = |s: usize, objects: &[Value]| -> (String, i64, String) {
        // Services are pushed in order after the gateways and classes.
        let svc = &objects[2 + size.gateways + s];
        let p = &svc["spec"]["ports"][0];
        (
            svc["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            p["port"].as_i64().unwrap_or(80),
            p["name"].as_str().unwrap_or_default().to_string(),
        )
    };
    for p in 0..size.policies {
        let s = (p * 4 + rng.below(4)) % size.services;
        let (ns, _port, port_name) = service_port(s, &out);
        let mut target = json!({"group": "", "kind": "Service", "name": format!("svc-{s:05}")});
        if rng.chance(50) {
            target["sectionName"] = json!(port_name);
        }
        let validation = if rng.chance(80) {
            json!({"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "backend-ca"}], "hostname": format!("svc-{s:05}.{ns}.svc")})
        } else {
            json!({"wellKnownCACertificates": "System", "hostname": format!("svc-{s:05}.example.com")})
        };
        let created = t0
            .checked_add(jiff::SignedDuration::from_secs(p as i64))
            .unwrap_or(t0);
        let gw = &gateways[rng.below(gateways.len())];
        out.push(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
            "metadata": {"name": format!("tls-{p:05}"), "namespace": ns, "generation": 1, "creationTimestamp": created.to_string()},
            "spec": {"targetRefs": [target], "validation": validation},
            "status": {"ancestors": [{"ancestorRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gw.1, "namespace": gw.0},
                "controllerName": EG,
                "conditions": [
                    {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Policy has been accepted.", "observedGeneration": 1, "lastTransitionTime": created.to_string()},
                    {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "Resolved all the Object references.", "observedGeneration": 1, "lastTransitionTime": created.to_string()}]}]}}));
    }
    for b in 0..size.backends {
        let ns = ns_name(b % size.namespaces);
        let mut spec = json!({"endpoints": [{"fqdn": {"hostname": format!("api-{b:04}.partner.example.com"), "port": 443}}]});
        if rng.chance(70) {
            spec["tls"] = json!({"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "backend-ca"}], "sni": format!("api-{b:04}.partner.example.com")});
        } else if rng.chance(30) {
            spec["tls"] = json!({"insecureSkipVerify": true});
        }
        out.push(
            json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "Backend",
            "metadata": {"name": format!("ext-{b:04}"), "namespace": ns}, "spec": spec}),
        );
    }
    // Routes: backends from their own namespace; a few cross-namespace with a grant.
    let routes_per_ns = size.routes.div_ceil(size.namespaces);
    let mut grants = std::collections::BTreeSet::new();
    for r in 0..size.routes {
        let ns_i = (r / routes_per_ns).min(size.namespaces - 1);
        let ns = ns_name(ns_i);
        let mut refs = Vec::new();
        for _ in 0..size.backend_refs_per_route {
            if size.backends > 0 && rng.chance(3) {
                let b = rng.below(size.backends);
                let bns = ns_name(b % size.namespaces);
                let mut br = json!({"group": "gateway.envoyproxy.io", "kind": "Backend", "name": format!("ext-{b:04}"), "weight": 1});
                if bns != ns {
                    br["namespace"] = json!(bns);
                    grants.insert((bns, ns.clone()));
                }
                refs.push(br);
                continue;
            }
            let local = ns_i * per_ns + rng.below(per_ns);
            let s = if rng.chance(2) {
                rng.below(size.services)
            } else {
                local.min(size.services - 1)
            };
            let (sns, port, _) = service_port(s, &out);
            let mut br =
                json!({"name": format!("svc-{s:05}"), "port": port, "weight": 1 + rng.below(3)});
            if sns != ns {
                br["namespace"] = json!(sns);
                grants.insert((sns, ns.clone()));
            }
            refs.push(br);
        }
        let gw = &gateways[r % gateways.len()];
        let grpc = r % 20 == 19;
        let rules = if grpc {
            json!([{"backendRefs": refs}])
        } else {
            json!([{"matches": [{"path": {"type": "PathPrefix", "value": format!("/r{r}")}}], "backendRefs": refs}])
        };
        out.push(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": if grpc { "GRPCRoute" } else { "HTTPRoute" },
            "metadata": {"name": format!("route-{r:05}"), "namespace": ns, "generation": 1},
            "spec": {"parentRefs": [{"name": gw.1, "namespace": gw.0, "sectionName": if r % 2 == 0 { "http" } else { "https" }}],
                     "hostnames": [format!("r{r}.{}.example.com", gw.1)], "rules": rules},
            "status": {"parents": [{"parentRef": {"name": gw.1, "namespace": gw.0}, "controllerName": EG,
                "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Route is accepted", "observedGeneration": 1}]}]}}));
    }
    for (to, from) in grants {
        out.push(json!({"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
            "metadata": {"name": format!("from-{from}"), "namespace": to},
            "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": from},
                              {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute", "namespace": from}],
                     "to": [{"group": "", "kind": "Service"}, {"group": "gateway.envoyproxy.io", "kind": "Backend"}]}}));
    }
    out
}

/// Objects to add to `objects` (a cluster of `size` from [`generate`]) that Envoy Gateway users
/// also have: a SecurityPolicy with an external authorisation service for every fifth route
/// (targeting the route, as a team protects one app), and a BackendTLSPolicy left behind for
/// every tenth policy, whose Service is not in its namespace (deleted, or moved to another
/// namespace, where half of them find one of that name). What they add is looked up by route
/// and by Service name across namespaces: the benchmarks check that grows linearly too.
pub fn route_policies(objects: &[Value], size: Size) -> Vec<Value> {
    let mut ports: std::collections::HashMap<(&str, &str), i64> = Default::default();
    for o in objects.iter().filter(|o| o["kind"] == "Service") {
        let meta = &o["metadata"];
        ports.insert(
            (
                meta["namespace"].as_str().unwrap_or_default(),
                meta["name"].as_str().unwrap_or_default(),
            ),
            o["spec"]["ports"][0]["port"].as_i64().unwrap_or(80),
        );
    }
    let per_ns = size.services.div_ceil(size.namespaces);
    let routes_per_ns = size.routes.div_ceil(size.namespaces);
    let mut out = Vec::new();
    // Every fifth route is an HTTPRoute (GRPCRoutes are every twentieth, from the nineteenth).
    for r in (0..size.routes).step_by(5) {
        let ns_i = (r / routes_per_ns).min(size.namespaces - 1);
        let ns = ns_name(ns_i);
        let authz = format!("svc-{:05}", (ns_i * per_ns).min(size.services - 1));
        let port = ports
            .get(&(ns.as_str(), authz.as_str()))
            .copied()
            .unwrap_or(80);
        out.push(json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "SecurityPolicy",
            "metadata": {"name": format!("authz-{r:05}"), "namespace": ns},
            "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": format!("route-{r:05}")}],
                     "extAuth": {"http": {"backendRefs": [{"name": authz, "port": port}]}}}}));
    }
    let t0 = jiff::Timestamp::from_second(1_798_761_600).expect("valid"); // 2027-01-01
    for p in (0..size.policies).step_by(10) {
        let ns_i = (p / 10) % size.namespaces;
        // A Service of another namespace, or one that is nowhere.
        let name = if p % 20 == 0 {
            format!(
                "svc-{:05}",
                (((ns_i + 1) % size.namespaces) * per_ns).min(size.services - 1)
            )
        } else {
            format!("gone-{p:05}")
        };
        let created = t0
            .checked_add(jiff::SignedDuration::from_secs(p as i64))
            .unwrap_or(t0);
        out.push(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
            "metadata": {"name": format!("stale-{p:05}"), "namespace": ns_name(ns_i), "generation": 1, "creationTimestamp": created.to_string()},
            "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": name}],
                     "validation": {"wellKnownCACertificates": "System", "hostname": "stale.example.com"}}}));
    }
    out
}

/// The objects as multi-document YAML.
pub fn to_yaml(objects: &[Value]) -> String {
    let mut s = String::new();
    for o in objects {
        s.push_str("---\n");
        s.push_str(&serde_saphyr::to_string(o).expect("JSON values serialise as YAML"));
    }
    s
}

/// The objects as one `kind: List` JSON document (what `kubectl get -o json` prints).
pub fn to_json_list(objects: &[Value]) -> String {
    serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": objects}))
        .expect("serialisable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_sizes_keep_the_mix() {
        assert_eq!(Size::L.scaled(1, 2).doubled(), Size::L);
        let four = Size::L.scaled(4, 1);
        assert_eq!(
            (four.routes, four.services, four.policies),
            (40_000, 80_000, 20_000)
        );
        assert_eq!(four.backend_refs_per_route, 3);
        // At least one of each, however small.
        let tiny = Size::S.scaled(1, 1_000);
        assert_eq!((tiny.routes, tiny.gateways, tiny.namespaces), (1, 1, 1));
    }

    #[test]
    fn deterministic_and_sized() {
        let a = generate(Size::S, 7);
        assert_eq!(a, generate(Size::S, 7));
        assert_ne!(a, generate(Size::S, 8));
        let count = |k: &str| a.iter().filter(|o| o["kind"] == k).count();
        assert_eq!(count("HTTPRoute") + count("GRPCRoute"), 100);
        assert_eq!(count("Service"), 200);
        assert_eq!(count("BackendTLSPolicy"), 50);
        assert_eq!(count("Gateway"), 5);
    }

    #[test]
    fn evaluates_without_input_errors_and_with_every_common_mode() {
        let snap = crate::source::from_text(&to_yaml(&generate(Size::S, 1)), "synthetic");
        assert!(snap.errors.is_empty(), "{:?}", snap.errors.first());
        let p = crate::posture::evaluate(&snap, jiff::Timestamp::now(), &Default::default());
        assert_eq!(p.edges.len(), 300);
        let modes: std::collections::BTreeSet<_> = p.edges.iter().map(|e| e.mode).collect();
        for m in [
            crate::posture::Mode::TlsVerified,
            crate::posture::Mode::Plaintext,
            crate::posture::Mode::PlaintextToTlsPort,
        ] {
            assert!(modes.contains(&m), "{modes:?}");
        }
    }

    /// The route policies give each fifth route an external authorisation edge, and each
    /// stale policy is reported unattached: half name a Service found in another namespace.
    #[test]
    fn route_policies_add_auth_edges_and_stale_policies() {
        let mut objects = generate(Size::S, 1);
        let extra = route_policies(&objects, Size::S);
        objects.extend(extra);
        let snap = crate::source::from_text(&to_yaml(&objects), "synthetic");
        assert!(snap.errors.is_empty(), "{:?}", snap.errors.first());
        let now = "2026-11-22T00:00:00Z".parse().unwrap();
        let p = crate::posture::evaluate(&snap, now, &Default::default());
        let auth = p.edges.iter().filter(|e| e.via == Some("extauth")).count();
        assert_eq!(auth, 20);
        let stale: Vec<&str> = p
            .policies
            .iter()
            .filter(|r| r.policy.contains("/stale-"))
            .map(|r| &*r.targets[0].detail)
            .collect();
        assert_eq!(stale.len(), 5);
        let elsewhere = stale.iter().filter(|d| d.contains("one exists in")).count();
        assert_eq!(elsewhere, 3, "{stale:?}");
        assert!(
            stale
                .iter()
                .all(|d| d.contains("must live in") || d.contains("does not exist"))
        );
    }
}
