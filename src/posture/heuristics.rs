//! "Does this port look like TLS?" (the 400 Bad Request trap) and its reverse.

use crate::model::{Backend, ServicePort};
use serde::Serialize;

/// What a port's number, name and appProtocol suggest about the protocol it speaks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortLook {
    /// Strong signs of TLS (443, `https*` name, appProtocol https/wss...).
    pub tls: Vec<String>,
    /// Weaker signs (8443, 9443...), shown as "possibly TLS".
    pub maybe_tls: Vec<String>,
    /// Signs of plaintext (appProtocol http/h2c, `http*` name, port 80/8080).
    pub plain: Vec<String>,
}

impl PortLook {
    pub fn looks_tls(&self) -> bool {
        !self.tls.is_empty()
    }
}

const TLS_APP_PROTOCOLS: &[&str] = &[
    "https",
    "tls",
    "ssl",
    "kubernetes.io/wss",
    "wss",
    "grpcs",
    "gateway.envoyproxy.io/wss",
];
const PLAIN_APP_PROTOCOLS: &[&str] = &[
    "http",
    "kubernetes.io/h2c",
    "kubernetes.io/ws",
    "h2c",
    "gateway.envoyproxy.io/h2c",
    "gateway.envoyproxy.io/ws",
];
const TLS_NAME_PREFIXES: &[&str] = &["https", "tls", "wss", "grpcs"];
const MAYBE_TLS_PORTS: &[i64] = &[8443, 9443, 6443, 4443, 10250, 5671, 636, 993, 995, 465];

/// Looks at a Service port (and the Service's annotations).
pub fn port_look(
    port: &ServicePort,
    annotations: &std::collections::BTreeMap<String, String>,
) -> PortLook {
    let mut look = PortLook::default();
    if let Some(ap) = &port.app_protocol {
        let l = ap.to_ascii_lowercase();
        if TLS_APP_PROTOCOLS.contains(&l.as_str()) {
            look.tls.push(format!("appProtocol {ap}"));
        } else if PLAIN_APP_PROTOCOLS.contains(&l.as_str()) {
            look.plain.push(format!("appProtocol {ap}"));
        }
    }
    if let Some(name) = &port.name {
        let l = name.to_ascii_lowercase();
        if TLS_NAME_PREFIXES.iter().any(|p| l.starts_with(p)) {
            look.tls.push(format!("port name {name}"));
        } else if l.starts_with("http") || l.starts_with("h2c") {
            look.plain.push(format!("port name {name}"));
        }
    }
    match port.port {
        Some(443) => look.tls.push("port 443".into()),
        Some(p) if MAYBE_TLS_PORTS.contains(&p) => look.maybe_tls.push(format!("port {p}")),
        Some(p @ (80 | 8080)) => look.plain.push(format!("port {p}")),
        _ => {}
    }
    if let Some(tp) = &port.target_port
        && port.port != Some(443)
    {
        let l = tp.to_ascii_lowercase();
        if l == "443" || l.starts_with("https") || l == "tls" {
            look.tls.push(format!("targetPort {tp}"));
        }
    }
    for (k, v) in annotations {
        let v = v.to_ascii_lowercase();
        let tls_value = matches!(v.as_str(), "https" | "grpcs" | "tls");
        let relevant = k == "konghq.com/protocol"
            || k == "traefik.ingress.kubernetes.io/service.serversscheme"
            || k == "nginx.ingress.kubernetes.io/backend-protocol"
            || (k.starts_with("service.beta.kubernetes.io/") && k.ends_with("backend-protocol"));
        if relevant && tls_value {
            look.maybe_tls.push(format!("annotation {k}: {v}"));
        }
    }
    look
}

/// Looks at an Envoy Gateway Backend's endpoints and appProtocols.
pub fn backend_look(backend: &Backend, port: Option<i64>) -> PortLook {
    let mut look = PortLook::default();
    for ap in &backend.app_protocols {
        if ap == "gateway.envoyproxy.io/wss" {
            look.tls.push(format!("appProtocol {ap}"));
        } else if PLAIN_APP_PROTOCOLS.contains(&ap.as_str()) {
            look.plain.push(format!("appProtocol {ap}"));
        }
    }
    let ports: Vec<i64> = match port {
        Some(p) => vec![p],
        None => backend.endpoints.iter().filter_map(|e| e.port()).collect(),
    };
    if ports.contains(&443) {
        look.tls.push("endpoint port 443".into());
    } else if let Some(p) = ports.iter().find(|p| MAYBE_TLS_PORTS.contains(p)) {
        look.maybe_tls.push(format!("endpoint port {p}"));
    } else if let Some(p) = ports.iter().find(|p| matches!(p, 80 | 8080)) {
        look.plain.push(format!("endpoint port {p}"));
    }
    look
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(name: Option<&str>, port: i64, app: Option<&str>) -> ServicePort {
        ServicePort {
            name: name.map(Into::into),
            port: Some(port),
            target_port: None,
            protocol: None,
            app_protocol: app.map(Into::into),
        }
    }

    #[test]
    fn port_443_and_https_name_look_tls() {
        assert!(port_look(&sp(None, 443, None), &Default::default()).looks_tls());
        assert!(port_look(&sp(Some("https-web"), 8000, None), &Default::default()).looks_tls());
        assert!(
            port_look(
                &sp(Some("x"), 8000, Some("kubernetes.io/wss")),
                &Default::default()
            )
            .looks_tls()
        );
    }

    #[test]
    fn http_ports_do_not_look_tls() {
        let l = port_look(
            &sp(Some("http"), 8080, Some("kubernetes.io/h2c")),
            &Default::default(),
        );
        assert!(!l.looks_tls());
        assert_eq!(l.plain.len(), 3);
        let l = port_look(&sp(Some("web"), 8443, None), &Default::default());
        assert!(!l.looks_tls());
        assert_eq!(l.maybe_tls, vec!["port 8443"]);
    }
}
