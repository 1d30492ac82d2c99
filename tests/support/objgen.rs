//! A structure-aware generator of the Kubernetes objects lastmile reads, driven by a plain byte
//! string. The fuzz targets (`fuzz/`, libFuzzer bytes) and the proptest suite
//! (`tests/proptest_inputs.rs`, proptest bytes) share it, so a crash input of one can be
//! replayed by the other.
//!
//! Names and namespaces come from a tiny alphabet, so references often resolve, often dangle,
//! objects get defined twice and ReferenceGrants point at each other's namespaces (cycles).
//! Now and then a field gets a value of the wrong type, a list gets long, or a string gets odd.

#![allow(dead_code)]

use serde_json::{Map, Value, json};

/// A deterministic choice source over bytes; returns zeros once the bytes run out.
pub struct Src<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Src<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Src { data, pos: 0 }
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub fn exhausted(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 256 {
            self.byte() as usize % n
        } else {
            (u16::from_le_bytes([self.byte(), self.byte()]) as usize) % n
        }
    }

    /// True with probability about `num/256`.
    pub fn chance(&mut self, num: u8) -> bool {
        self.byte() < num
    }

    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    /// A list length: mostly 0..4, rarely long.
    pub fn len(&mut self) -> usize {
        match self.byte() {
            0..=239 => self.below(4),
            240..=253 => self.below(24),
            _ => 64 + self.below(200),
        }
    }
}

pub const NAMESPACES: &[&str] = &["default", "shop", "infra", "other"];
pub const NAMES: &[&str] = &["a", "b", "web", "gw", "ca"];
const ODD_STRINGS: &[&str] = &[
    "",
    "é\u{0}\u{7}\u{1b}[31m",
    "a/b/c",
    ":",
    "*.example.com",
    "xn--nxasmq6b",
    "-",
    "0",
    "999999999999999999999999",
    "\u{202e}evil",
];
const GROUPS: &[&str] = &[
    "",
    "gateway.networking.k8s.io",
    "gateway.envoyproxy.io",
    "multicluster.x-k8s.io",
    "inference.networking.k8s.io",
    "core",
];
const REF_KINDS: &[&str] = &[
    "Service",
    "Backend",
    "ServiceImport",
    "InferencePool",
    "ConfigMap",
    "Secret",
    "ClusterTrustBundle",
    "Gateway",
    "HTTPRoute",
];
const CONTROLLERS: &[&str] = &[
    "gateway.envoyproxy.io/gatewayclass-controller",
    "example.net/gateway-controller",
];
const PROTOCOLS: &[&str] = &["HTTP", "HTTPS", "TLS", "TCP", "UDP", "https", "GRPC"];
const PORT_NAMES: &[&str] = &["https", "http", "grpc", "tls", "web", "h2c"];
const APP_PROTOCOLS: &[&str] = &[
    "https",
    "http",
    "kubernetes.io/h2c",
    "kubernetes.io/wss",
    "TLS",
    "gateway.envoyproxy.io/h2c",
];

/// A test CA certificate (public material) so some bundles parse.
pub const CA_PEM: &str = include_str!("../../assets/demo/pki/shop-ca.crt.pem");

pub fn name(s: &mut Src) -> Value {
    if s.chance(6) {
        return odd(s);
    }
    Value::String(s.pick(NAMES).to_string())
}

pub fn namespace(s: &mut Src) -> String {
    s.pick(NAMESPACES).to_string()
}

/// A value of an unexpected type, or an odd string.
pub fn odd(s: &mut Src) -> Value {
    match s.below(8) {
        0 => Value::Null,
        1 => json!(s.byte() as i64 - 128),
        2 => json!(true),
        3 => json!([s.pick(NAMES)]),
        4 => json!({"x": s.pick(NAMES)}),
        5 => json!(1.5e300),
        _ => Value::String(s.pick(ODD_STRINGS).to_string()),
    }
}

/// Returns `v`, or (rarely) a value of the wrong type in its place.
fn maybe_odd(s: &mut Src, v: impl FnOnce(&mut Src) -> Value) -> Value {
    if s.chance(4) { odd(s) } else { v(s) }
}

fn port(s: &mut Src) -> Value {
    match s.below(16) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(65536),
        3 => json!(i64::MAX),
        4 => json!("8443"),
        5 => json!("https"),
        6..=9 => json!(443),
        10..=11 => json!(8443),
        12..=13 => json!(80),
        _ => json!(8080),
    }
}

fn meta(s: &mut Src, namespaced: bool) -> Value {
    let mut m = Map::new();
    if !s.chance(4) {
        m.insert("name".into(), name(s));
    }
    if namespaced && !s.chance(20) {
        m.insert("namespace".into(), Value::String(namespace(s)));
    }
    if s.chance(40) {
        m.insert(
            "generation".into(),
            maybe_odd(s, |s| json!(s.below(4) as i64)),
        );
    }
    if s.chance(40) {
        let ts = s.pick(&[
            "2024-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "not a time",
        ]);
        m.insert("creationTimestamp".into(), Value::String(ts.into()));
    }
    if s.chance(16) {
        m.insert("annotations".into(), json!({"k": "v"}));
    }
    Value::Object(m)
}

/// An object reference `{group, kind, name, namespace}` with each part optional.
fn obj_ref(s: &mut Src, kinds: &[&str]) -> Value {
    let mut m = Map::new();
    if s.chance(64) {
        m.insert("group".into(), Value::String(s.pick(GROUPS).into()));
    }
    if s.chance(160) {
        m.insert("kind".into(), Value::String(s.pick(kinds).into()));
    }
    m.insert("name".into(), name(s));
    if s.chance(80) {
        m.insert("namespace".into(), Value::String(namespace(s)));
    }
    Value::Object(m)
}

fn list<F: FnMut(&mut Src) -> Value>(s: &mut Src, mut f: F) -> Value {
    let n = s.len();
    Value::Array((0..n).map(|_| f(s)).collect())
}

fn conditions(s: &mut Src) -> Value {
    list(s, |s| {
        json!({
            "type": s.pick(&["Accepted", "ResolvedRefs", "Programmed", "Odd"]),
            "status": s.pick(&["True", "False", "Unknown"]),
            "reason": s.pick(&["Accepted", "NoValidCACertificate", "Invalid", ""]),
            "message": "m",
            "observedGeneration": s.below(4),
            "lastTransitionTime": s.pick(&["2024-01-01T00:00:00Z", "bad"]),
        })
    })
}

fn parent_ref(s: &mut Src) -> Value {
    let mut m = Map::new();
    if s.chance(24) {
        m.insert(
            "kind".into(),
            json!(s.pick(&["Gateway", "Service", "ListenerSet"])),
        );
    }
    m.insert("name".into(), name(s));
    if s.chance(100) {
        m.insert("namespace".into(), json!(namespace(s)));
    }
    if s.chance(90) {
        m.insert(
            "sectionName".into(),
            json!(s.pick(&["http", "https", "tls", "grpc", "nope"])),
        );
    }
    if s.chance(20) {
        m.insert("port".into(), port(s));
    }
    Value::Object(m)
}

fn backend_ref(s: &mut Src) -> Value {
    let mut m = Map::new();
    match s.below(10) {
        0..=5 => {}
        6 => {
            m.insert("group".into(), json!("gateway.envoyproxy.io"));
            m.insert("kind".into(), json!("Backend"));
        }
        7 => {
            m.insert("group".into(), json!("multicluster.x-k8s.io"));
            m.insert("kind".into(), json!("ServiceImport"));
        }
        8 => {
            m.insert("group".into(), json!("inference.networking.k8s.io"));
            m.insert("kind".into(), json!("InferencePool"));
        }
        _ => {
            m.insert("group".into(), json!(s.pick(GROUPS)));
            m.insert("kind".into(), json!(s.pick(REF_KINDS)));
        }
    }
    m.insert("name".into(), name(s));
    if s.chance(70) {
        m.insert("namespace".into(), json!(namespace(s)));
    }
    if !s.chance(30) {
        m.insert("port".into(), port(s));
    }
    if s.chance(40) {
        m.insert("weight".into(), maybe_odd(s, |s| json!(s.below(3))));
    }
    Value::Object(m)
}

fn ancestors(s: &mut Src) -> Value {
    list(s, |s| {
        json!({
            "ancestorRef": parent_ref(s),
            "controllerName": s.pick(CONTROLLERS),
            "conditions": conditions(s),
        })
    })
}

fn gateway_class(s: &mut Src) -> Value {
    let mut spec = Map::new();
    if !s.chance(10) {
        spec.insert("controllerName".into(), json!(s.pick(CONTROLLERS)));
    }
    if s.chance(60) {
        spec.insert(
            "parametersRef".into(),
            json!({"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy",
                   "name": name(s), "namespace": namespace(s)}),
        );
    }
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": meta(s, false),
        "spec": spec,
        "status": {"conditions": conditions(s)},
    })
}

fn listener(s: &mut Src) -> Value {
    let protocol = s.pick(PROTOCOLS);
    let mut m = Map::new();
    m.insert(
        "name".into(),
        json!(s.pick(&["http", "https", "tls", "grpc", "http"])),
    );
    m.insert("protocol".into(), json!(protocol));
    m.insert("port".into(), port(s));
    if s.chance(60) {
        m.insert("hostname".into(), json!(s.pick(&["*.example.com", "a.b"])));
    }
    if s.chance(140) {
        m.insert(
            "tls".into(),
            json!({"mode": s.pick(&["Terminate", "Passthrough", "Other"]),
                   "certificateRefs": list(s, |s| obj_ref(s, &["Secret"]))}),
        );
    }
    if s.chance(80) {
        m.insert(
            "allowedRoutes".into(),
            json!({"namespaces": {"from": s.pick(&["All", "Same", "Selector", "None"])}}),
        );
    }
    Value::Object(m)
}

fn gateway(s: &mut Src) -> Value {
    let mut spec = Map::new();
    if !s.chance(10) {
        spec.insert("gatewayClassName".into(), name(s));
    }
    spec.insert("listeners".into(), list(s, listener));
    match s.below(6) {
        0 => {
            spec.insert(
                "tls".into(),
                json!({"backend": {"clientCertificateRef": obj_ref(s, &["Secret"])}}),
            );
        }
        1 => {
            spec.insert(
                "backendTLS".into(),
                json!({"clientCertificateRef": maybe_odd(s, |s| obj_ref(s, &["Secret"]))}),
            );
        }
        2 => {
            spec.insert(
                "infrastructure".into(),
                json!({"parametersRef": {"group": "gateway.envoyproxy.io",
                                         "kind": "EnvoyProxy", "name": name(s)}}),
            );
        }
        _ => {}
    }
    let listeners_status = list(s, |s| {
        json!({"name": s.pick(&["http", "https"]), "attachedRoutes": s.below(3),
               "conditions": conditions(s)})
    });
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": meta(s, true),
        "spec": spec,
        "status": {"conditions": conditions(s), "listeners": listeners_status},
    })
}

fn route(s: &mut Src) -> Value {
    let kind = s.pick(&["HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute"]);
    let api = if kind == "HTTPRoute" || kind == "GRPCRoute" {
        "gateway.networking.k8s.io/v1"
    } else {
        "gateway.networking.k8s.io/v1alpha2"
    };
    let rules = list(s, |s| {
        let mut r = Map::new();
        if s.chance(40) {
            r.insert("name".into(), name(s));
        }
        r.insert("backendRefs".into(), maybe_odd(s, |s| list(s, backend_ref)));
        Value::Object(r)
    });
    json!({
        "apiVersion": api,
        "kind": kind,
        "metadata": meta(s, true),
        "spec": {
            "parentRefs": maybe_odd(s, |s| list(s, parent_ref)),
            "hostnames": list(s, |s| json!(s.pick(&["a.example.com", "*.x"]))),
            "rules": rules,
        },
        "status": {"parents": list(s, |s| json!({
            "parentRef": parent_ref(s),
            "controllerName": s.pick(CONTROLLERS),
            "conditions": conditions(s),
        }))},
    })
}

fn policy(s: &mut Src) -> Value {
    let version = s.pick(&["v1", "v1alpha3", "v1alpha2", "v1beta9"]);
    let target = |s: &mut Src| {
        let mut m = Map::new();
        if s.chance(200) {
            m.insert("group".into(), json!(""));
        }
        m.insert(
            "kind".into(),
            json!(s.pick(&["Service", "Service", "Backend", "ServiceImport"])),
        );
        m.insert("name".into(), name(s));
        if s.chance(80) {
            m.insert(
                "sectionName".into(),
                json!(s.pick(&["https", "http", "443", "nope"])),
            );
        }
        Value::Object(m)
    };
    let mut spec = Map::new();
    let legacy = version == "v1alpha2" && s.chance(128);
    if legacy {
        spec.insert("targetRef".into(), target(s));
        let mut tls = Map::new();
        if s.chance(160) {
            tls.insert(
                "caCertRefs".into(),
                list(s, |s| obj_ref(s, &["ConfigMap", "Secret"])),
            );
        }
        if s.chance(60) {
            tls.insert("wellKnownCACerts".into(), json!("System"));
        }
        tls.insert("hostname".into(), json!(s.pick(&["web.shop", "", "a"])));
        spec.insert("tls".into(), Value::Object(tls));
    } else {
        spec.insert("targetRefs".into(), list(s, target));
        let mut v = Map::new();
        if s.chance(170) {
            v.insert(
                "caCertificateRefs".into(),
                list(s, |s| {
                    obj_ref(s, &["ConfigMap", "Secret", "ClusterTrustBundle", "Service"])
                }),
            );
        }
        if s.chance(70) {
            v.insert(
                "wellKnownCACertificates".into(),
                json!(s.pick(&["System", "", "Other"])),
            );
        }
        v.insert(
            "hostname".into(),
            maybe_odd(s, |s| json!(s.pick(&["web.shop", "", "a", "*.b"]))),
        );
        if s.chance(60) {
            v.insert(
                "subjectAltNames".into(),
                list(s, |s| match s.below(3) {
                    0 => json!({"type": "Hostname", "hostname": "web.shop"}),
                    1 => json!({"type": "URI", "uri": "spiffe://x/y"}),
                    _ => json!({"type": "Hostname"}),
                }),
            );
        }
        spec.insert("validation".into(), Value::Object(v));
    }
    if s.chance(30) {
        spec.insert("options".into(), json!({"k": "v", "n": 1}));
    }
    json!({
        "apiVersion": format!("gateway.networking.k8s.io/{version}"),
        "kind": "BackendTLSPolicy",
        "metadata": meta(s, true),
        "spec": spec,
        "status": {"ancestors": ancestors(s)},
    })
}

fn reference_grant(s: &mut Src) -> Value {
    let from = list(s, |s| {
        json!({"group": s.pick(&["gateway.networking.k8s.io", "", "gateway.envoyproxy.io"]),
               "kind": s.pick(&["HTTPRoute", "GRPCRoute", "TLSRoute", "BackendTLSPolicy",
                                "Gateway", "SecurityPolicy"]),
               "namespace": namespace(s)})
    });
    let to = list(s, |s| {
        let mut m = Map::new();
        m.insert(
            "group".into(),
            json!(s.pick(&["", "gateway.envoyproxy.io"])),
        );
        m.insert(
            "kind".into(),
            json!(s.pick(&["Service", "Secret", "ConfigMap", "Backend"])),
        );
        if s.chance(100) {
            m.insert("name".into(), name(s));
        }
        Value::Object(m)
    });
    json!({
        "apiVersion": s.pick(&["gateway.networking.k8s.io/v1beta1", "gateway.networking.k8s.io/v1"]),
        "kind": "ReferenceGrant",
        "metadata": meta(s, true),
        "spec": {"from": from, "to": to},
    })
}

fn service(s: &mut Src) -> Value {
    let import = s.chance(40);
    let ports = list(s, |s| {
        let mut m = Map::new();
        if s.chance(160) {
            m.insert("name".into(), json!(s.pick(PORT_NAMES)));
        }
        m.insert("port".into(), port(s));
        if s.chance(100) {
            m.insert("targetPort".into(), maybe_odd(s, port));
        }
        if s.chance(60) {
            m.insert("appProtocol".into(), json!(s.pick(APP_PROTOCOLS)));
        }
        if s.chance(40) {
            m.insert("protocol".into(), json!(s.pick(&["TCP", "UDP"])));
        }
        Value::Object(m)
    });
    let mut spec = Map::new();
    spec.insert("ports".into(), maybe_odd(s, |_| ports));
    if s.chance(30) {
        spec.insert("type".into(), json!("ExternalName"));
        spec.insert("externalName".into(), json!("ext.example.com"));
    }
    if import {
        json!({"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceImport",
               "metadata": meta(s, true), "spec": spec})
    } else {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(s, true), "spec": spec})
    }
}

fn pem_value(s: &mut Src) -> String {
    match s.below(6) {
        0 | 1 => CA_PEM.to_string(),
        2 => format!("{CA_PEM}{CA_PEM}"),
        3 => "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
        4 => "-----BEGIN CERTIFICATE-----\nnot base64!\n".into(),
        _ => "garbage".into(),
    }
}

fn data_keys(s: &mut Src) -> Vec<&'static str> {
    let n = 1 + s.below(3);
    (0..n)
        .map(|_| s.pick(&["ca.crt", "tls.crt", "tls.key", "bundle.pem", "url"]))
        .collect()
}

fn config_map(s: &mut Src) -> Value {
    let mut data = Map::new();
    for k in data_keys(s) {
        let v = pem_value(s);
        data.insert(k.into(), maybe_odd(s, |_| json!(v)));
    }
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(s, true), "data": data})
}

fn secret(s: &mut Src) -> Value {
    use base64::Engine;
    let mut data = Map::new();
    for k in data_keys(s) {
        let v = if k == "url" {
            "sds://x".to_string()
        } else {
            pem_value(s)
        };
        let enc = base64::engine::general_purpose::STANDARD.encode(v);
        let val = match s.below(8) {
            0 => json!("!!not base64!!"),
            1 => json!(null),
            _ => json!(enc),
        };
        data.insert(k.into(), val);
    }
    let mut m = Map::new();
    m.insert("apiVersion".into(), json!("v1"));
    m.insert("kind".into(), json!("Secret"));
    m.insert("metadata".into(), meta(s, true));
    if s.chance(160) {
        m.insert(
            "type".into(),
            json!(s.pick(&["kubernetes.io/tls", "Opaque", "gateway.envoyproxy.io/sds"])),
        );
    }
    m.insert("data".into(), maybe_odd(s, |_| Value::Object(data)));
    if s.chance(30) {
        m.insert("stringData".into(), json!({"ca.crt": CA_PEM}));
    }
    Value::Object(m)
}

fn cluster_trust_bundle(s: &mut Src) -> Value {
    let namespaced = s.chance(30);
    json!({
        "apiVersion": "certificates.k8s.io/v1beta1",
        "kind": "ClusterTrustBundle",
        "metadata": meta(s, namespaced),
        "spec": {"trustBundle": maybe_odd(s, |s| json!(pem_value(s)))},
    })
}

fn client_tls(s: &mut Src) -> Map<String, Value> {
    let mut m = Map::new();
    if s.chance(100) {
        m.insert("clientCertificateRef".into(), obj_ref(s, &["Secret"]));
    }
    if s.chance(40) {
        m.insert("minVersion".into(), json!(s.pick(&["1.2", "1.3", "1.0"])));
    }
    if s.chance(30) {
        m.insert("alpnProtocols".into(), json!(["h2"]));
    }
    m
}

fn eg_backend(s: &mut Src) -> Value {
    let endpoints = list(s, |s| match s.below(4) {
        0 => json!({"fqdn": {"hostname": s.pick(&["api.example.com", ""]), "port": port(s)}}),
        1 => json!({"ip": {"address": s.pick(&["10.0.0.1", "::1", "x"]), "port": port(s)}}),
        2 => json!({"unix": {"path": "/run/x.sock"}}),
        _ => json!({"fqdn": {"hostname": "a.b", "port": port(s)}, "hostname": "sni.a.b"}),
    });
    let mut spec = Map::new();
    spec.insert("endpoints".into(), maybe_odd(s, |_| endpoints));
    if s.chance(60) {
        spec.insert("appProtocols".into(), json!([s.pick(APP_PROTOCOLS)]));
    }
    if s.chance(40) {
        spec.insert(
            "type".into(),
            json!(s.pick(&["Endpoints", "DynamicResolver"])),
        );
    }
    if s.chance(150) {
        let mut tls = client_tls(s);
        if s.chance(120) {
            tls.insert(
                "caCertificateRefs".into(),
                list(s, |s| {
                    obj_ref(s, &["ConfigMap", "Secret", "ClusterTrustBundle"])
                }),
            );
        }
        if s.chance(60) {
            tls.insert("wellKnownCACertificates".into(), json!("System"));
        }
        if s.chance(60) {
            tls.insert("insecureSkipVerify".into(), maybe_odd(s, |_| json!(true)));
        }
        if s.chance(60) {
            tls.insert("sni".into(), json!("sni.example.com"));
        }
        if s.chance(30) {
            tls.insert("autoSNIFromEndpointHostname".into(), json!(true));
        }
        spec.insert("tls".into(), Value::Object(tls));
    }
    json!({
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "Backend",
        "metadata": meta(s, true),
        "spec": spec,
        "status": {"conditions": conditions(s)},
    })
}

fn backend_refs_holder(s: &mut Src) -> Value {
    if s.chance(200) {
        json!({"backendRefs": list(s, backend_ref)})
    } else {
        json!({"backendRef": backend_ref(s)})
    }
}

fn envoy_proxy(s: &mut Src) -> Value {
    let mut spec = Map::new();
    if s.chance(150) {
        spec.insert("backendTLS".into(), Value::Object(client_tls(s)));
    }
    if s.chance(80) {
        spec.insert(
            "telemetry".into(),
            json!({
                "accessLog": {"settings": list(s, |s| json!({
                    "sinks": list(s, |s| json!({"type": "OpenTelemetry",
                                                 "openTelemetry": backend_refs_holder(s)}))
                }))},
                "tracing": {"provider": backend_refs_holder(s)},
            }),
        );
    }
    json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "EnvoyProxy",
           "metadata": meta(s, true), "spec": spec})
}

fn target_refs(s: &mut Src) -> Value {
    list(s, |s| {
        json!({"group": "gateway.networking.k8s.io",
               "kind": s.pick(&["Gateway", "HTTPRoute", "GRPCRoute"]),
               "name": name(s)})
    })
}

fn security_policy(s: &mut Src) -> Value {
    let mut spec = Map::new();
    if s.chance(128) {
        spec.insert("targetRefs".into(), target_refs(s));
    } else {
        spec.insert(
            "targetRef".into(),
            json!({"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": name(s)}),
        );
    }
    match s.below(3) {
        0 => {
            spec.insert(
                "extAuth".into(),
                json!({"grpc": backend_refs_holder(s), "http": backend_refs_holder(s)}),
            );
        }
        1 => {
            spec.insert(
                "jwt".into(),
                json!({"providers": list(s, |s| json!({"name": "p",
                    "remoteJWKS": maybe_odd(s, backend_refs_holder)}))}),
            );
        }
        _ => {
            spec.insert("oidc".into(), json!({"provider": backend_refs_holder(s)}));
        }
    }
    json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "SecurityPolicy",
           "metadata": meta(s, true), "spec": spec})
}

fn extension_policy(s: &mut Src) -> Value {
    json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "EnvoyExtensionPolicy",
           "metadata": meta(s, true),
           "spec": {"targetRefs": target_refs(s),
                    "extProc": list(s, backend_refs_holder)}})
}

/// The kinds this generator makes, in the order of [`object`]'s choices.
pub const KINDS: &[&str] = &[
    "GatewayClass",
    "Gateway",
    "Route",
    "BackendTLSPolicy",
    "ReferenceGrant",
    "Service",
    "ConfigMap",
    "Secret",
    "ClusterTrustBundle",
    "Backend",
    "EnvoyProxy",
    "SecurityPolicy",
    "EnvoyExtensionPolicy",
];

/// One object of any kind lastmile reads.
pub fn object(s: &mut Src) -> Value {
    match s.below(KINDS.len() + 3) {
        0 => gateway_class(s),
        1 | 13 => gateway(s),
        2 | 14 | 15 => route(s),
        3 => policy(s),
        4 => reference_grant(s),
        5 => service(s),
        6 => config_map(s),
        7 => secret(s),
        8 => cluster_trust_bundle(s),
        9 => eg_backend(s),
        10 => envoy_proxy(s),
        11 => security_policy(s),
        _ => extension_policy(s),
    }
}

/// Objects until the bytes run out (at most `max`).
pub fn objects(s: &mut Src, max: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while !s.exhausted() && out.len() < max {
        out.push(object(s));
    }
    out
}

/// How a set of objects is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Multi-document YAML (block style).
    YamlStream,
    /// A JSON array of objects.
    JsonArray,
    /// A `kind: List` in JSON.
    JsonList,
    /// A `kind: List` in YAML.
    YamlList,
    /// Envoy Gateway's translator layout: a mapping of lists.
    Resources,
}

pub const LAYOUTS: &[Layout] = &[
    Layout::YamlStream,
    Layout::JsonArray,
    Layout::JsonList,
    Layout::YamlList,
    Layout::Resources,
];

pub fn render(objects: &[Value], layout: Layout) -> String {
    match layout {
        Layout::YamlStream => {
            let mut out = String::new();
            for o in objects {
                out.push_str("---\n");
                out.push_str(&serde_saphyr::to_string(o).expect("YAML serialisation"));
            }
            out
        }
        Layout::JsonArray => serde_json::to_string_pretty(objects).expect("JSON"),
        Layout::JsonList => serde_json::to_string_pretty(&json!({
            "apiVersion": "v1", "kind": "List", "items": objects
        }))
        .expect("JSON"),
        Layout::YamlList => serde_saphyr::to_string(&json!({
            "apiVersion": "v1", "kind": "List", "items": objects
        }))
        .expect("YAML serialisation"),
        Layout::Resources => {
            let mut m = Map::new();
            for (i, o) in objects.iter().enumerate() {
                let kind = o.get("kind").and_then(Value::as_str).unwrap_or("x");
                let key = format!("{}{}", kind.to_ascii_lowercase(), i % 2);
                match m.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
                    Value::Array(a) => a.push(o.clone()),
                    _ => unreachable!(),
                }
            }
            serde_yaml_like(&Value::Object(m))
        }
    }
}

fn serde_yaml_like(v: &Value) -> String {
    serde_saphyr::to_string(v).expect("YAML serialisation")
}

/// `KIND` as lastmile keys it (ServiceImport, routes and EnvoyProxy keep their own kind).
fn generated_kind(o: &Value) -> &str {
    o.get("kind").and_then(Value::as_str).unwrap_or("")
}

/// Every generated object is accounted for: read (its raw form is kept under its key), or an
/// error whose object names its kind and name (`KIND/(unnamed)` when it has no usable name).
pub fn assert_accounted(objects: &[Value], snapshot: &lastmile::snapshot::Snapshot) {
    for e in &snapshot.errors {
        assert!(!e.object.is_empty(), "error without an object: {e:?}");
    }
    for o in objects {
        let kind = generated_kind(o);
        let name = o.pointer("/metadata/name");
        let names: Vec<String> = snapshot
            .raw
            .keys()
            .cloned()
            .chain(snapshot.errors.iter().map(|e| e.object.clone()))
            .collect();
        let found = match name {
            Some(Value::String(n)) if !n.is_empty() => names
                .iter()
                .any(|k| k.starts_with(&format!("{kind}/")) && k.ends_with(&format!("/{n}"))),
            _ => names.iter().any(|k| k == &format!("{kind}/(unnamed)")),
        };
        assert!(
            found,
            "{kind} named {name:?} is neither read nor reported; keys and errors: {names:?}"
        );
    }
}

/// The engine makes exactly one edge per backendRef under each parentRef that names a Gateway
/// in the snapshot (valid or not: a dangling ref is an `unresolved` edge, not a missing one),
/// with rule and backendRef indexes that exist.
pub fn assert_edges(snapshot: &lastmile::snapshot::Snapshot, posture: &lastmile::posture::Posture) {
    let mut expected = 0usize;
    for r in &snapshot.routes {
        let refs: usize = r.rules.iter().map(|rule| rule.backend_refs.len()).sum();
        for pr in r.parent_refs.iter().filter(|p| p.is_gateway()) {
            let ns = pr.namespace.as_deref().unwrap_or(&r.meta.namespace);
            if snapshot.gateway(ns, &pr.name).is_some() {
                expected += refs;
            }
        }
    }
    let route_edges: Vec<_> = posture.edges.iter().filter(|e| e.via.is_none()).collect();
    assert_eq!(route_edges.len(), expected, "one edge per backendRef");
    for e in &route_edges {
        let route = snapshot
            .routes
            .iter()
            .find(|r| **r.key() == *e.route)
            .unwrap_or_else(|| panic!("edge names a route that is not there: {}", e.route));
        let rule = route.rules.get(e.rule).expect("rule index in range");
        assert!(e.backend_ref < rule.backend_refs.len(), "backendRef index");
    }
    for e in &posture.edges {
        assert!(!e.gateway.is_empty() && !e.route.is_empty(), "{e:?}");
        if let Some(p) = &e.policy {
            assert!(
                snapshot.policies.iter().any(|x| x.key == *p),
                "edge decided by a policy that is not there: {p}"
            );
        }
    }
}
