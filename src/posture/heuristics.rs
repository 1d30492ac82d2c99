//! "Does this port look like TLS?" (the 400 Bad Request trap) and its reverse.

use crate::model::{Backend, ServicePort};
use serde::Serialize;

/// What a port's number, name and appProtocol suggest about the protocol it speaks. Each
/// field lists its signs joined by `, ` (empty when there is none): one string, not a vector of
/// them, because every edge carries one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct PortLook {
    /// Strong signs of TLS (443, `https*` name, appProtocol https/wss...).
    pub tls: String,
    /// Weaker signs (8443, 9443...), shown as "possibly TLS".
    pub maybe_tls: String,
    /// Signs of plaintext (appProtocol http/h2c, `http*` name, port 80/8080).
    pub plain: String,
}

impl PortLook {
    /// Empties the look, keeping its texts' capacity.
    pub fn clear(&mut self) {
        self.tls.clear();
        self.maybe_tls.clear();
        self.plain.clear();
    }

    pub fn looks_tls(&self) -> bool {
        !self.tls.is_empty()
    }
}

/// Appends one sign, made of `parts`, to a `, `-separated list.
fn add(signs: &mut String, parts: &[&str]) {
    if signs.is_empty() {
        signs.reserve(32);
    } else {
        signs.push_str(", ");
    }
    for p in parts {
        signs.push_str(p);
    }
}

/// `s` starts with `prefix`, ignoring ASCII case.
fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
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
    port_look_into(port, annotations, &mut look);
    look
}

/// [`port_look`], written into an empty `look`.
pub(crate) fn port_look_into(
    port: &ServicePort,
    annotations: &std::collections::BTreeMap<String, String>,
    look: &mut PortLook,
) {
    if let Some(ap) = &port.app_protocol {
        if TLS_APP_PROTOCOLS.iter().any(|p| ap.eq_ignore_ascii_case(p)) {
            add(&mut look.tls, &["appProtocol ", ap]);
        } else if PLAIN_APP_PROTOCOLS
            .iter()
            .any(|p| ap.eq_ignore_ascii_case(p))
        {
            add(&mut look.plain, &["appProtocol ", ap]);
        }
    }
    if let Some(name) = &port.name {
        if TLS_NAME_PREFIXES
            .iter()
            .any(|p| starts_with_ignore_case(name, p))
        {
            add(&mut look.tls, &["port name ", name]);
        } else if starts_with_ignore_case(name, "http") || starts_with_ignore_case(name, "h2c") {
            add(&mut look.plain, &["port name ", name]);
        }
    }
    match port.port {
        Some(443) => add(&mut look.tls, &["port 443"]),
        Some(p) if MAYBE_TLS_PORTS.contains(&p) => add(
            &mut look.maybe_tls,
            &["port ", itoa::Buffer::new().format(p)],
        ),
        Some(p @ (80 | 8080)) => add(&mut look.plain, &["port ", itoa::Buffer::new().format(p)]),
        _ => {}
    }
    if let Some(tp) = &port.target_port
        && port.port != Some(443)
        && (tp == "443" || starts_with_ignore_case(tp, "https") || tp.eq_ignore_ascii_case("tls"))
    {
        add(&mut look.tls, &["targetPort ", tp]);
    }
    for (k, v) in annotations {
        if crate::model::annotation_is_read(k)
            && ["https", "grpcs", "tls"]
                .iter()
                .any(|t| v.eq_ignore_ascii_case(t))
        {
            add(
                &mut look.maybe_tls,
                &["annotation ", k, ": ", &v.to_ascii_lowercase()],
            );
        }
    }
}

/// Looks at an Envoy Gateway Backend's endpoints and appProtocols.
pub fn backend_look(backend: &Backend, port: Option<i64>) -> PortLook {
    let mut look = PortLook::default();
    for ap in &backend.app_protocols {
        if ap == "gateway.envoyproxy.io/wss" {
            add(&mut look.tls, &["appProtocol ", ap]);
        } else if PLAIN_APP_PROTOCOLS.contains(&ap.as_str()) {
            add(&mut look.plain, &["appProtocol ", ap]);
        }
    }
    let ports: Vec<i64> = match port {
        Some(p) => vec![p],
        None => backend.endpoints.iter().filter_map(|e| e.port()).collect(),
    };
    if ports.contains(&443) {
        add(&mut look.tls, &["endpoint port 443"]);
    } else if let Some(p) = ports.iter().find(|p| MAYBE_TLS_PORTS.contains(p)) {
        add(
            &mut look.maybe_tls,
            &["endpoint port ", itoa::Buffer::new().format(*p)],
        );
    } else if let Some(p) = ports.iter().find(|p| matches!(p, 80 | 8080)) {
        add(
            &mut look.plain,
            &["endpoint port ", itoa::Buffer::new().format(*p)],
        );
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
        assert_eq!(
            l.plain,
            "appProtocol kubernetes.io/h2c, port name http, port 8080"
        );
        let l = port_look(&sp(Some("web"), 8443, None), &Default::default());
        assert!(!l.looks_tls());
        assert_eq!(l.maybe_tls, "port 8443");
    }
}
