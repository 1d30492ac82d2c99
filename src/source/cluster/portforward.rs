//! The port-forward probe transport: from a Service port to a ready pod behind the Service's
//! selector and the Service's targetPort, through the API server (`pods/portforward`), so a
//! laptop outside the cluster can probe a backend.
//!
//! A probe opens several tunnels (the handshake, the plaintext follow-up, the legacy hellos):
//! the Service and its pod are looked up once per probe, and every tunnel goes to that pod. A
//! sweep asks the API server for many tunnels at once, and its priority and fairness may answer
//! 429 (or 503/504) to some: those requests are asked again after the server's Retry-After
//! (bounded, a few times; the probe's own timeout bounds the whole).

use super::watch::{QuickBackoff, THROTTLED_CODES, throttled};
use crate::probe::dial::{BoxedIo, Connector, DialFuture, ServiceForwarder};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Makes port-forward connectors with one client.
#[derive(Clone)]
pub struct PortForwarder {
    client: kube::Client,
}

impl PortForwarder {
    pub fn new(client: kube::Client) -> Self {
        PortForwarder { client }
    }
}

impl ServiceForwarder for PortForwarder {
    fn forward(&self, namespace: &str, service: &str, port: u16) -> Arc<dyn Connector> {
        Arc::new(ServicePortForward {
            client: self.client.clone(),
            namespace: namespace.to_string(),
            service: service.to_string(),
            port,
            resolved: tokio::sync::OnceCell::new(),
        })
    }
}

struct ServicePortForward {
    client: kube::Client,
    namespace: String,
    service: String,
    port: u16,
    /// The pod and container port, once found (a failure is not kept: the next tunnel asks
    /// again).
    resolved: tokio::sync::OnceCell<(String, u16)>,
}

fn other(msg: String) -> io::Error {
    io::Error::other(msg)
}

/// No wait for a throttled request is longer than this, whatever the server asks.
const THROTTLED_LONGEST_WAIT: Duration = Duration::from_secs(5);
/// A throttled request is sent at most this many times.
const THROTTLED_TRIES: u32 = 5;

/// How long to wait before `e`'s request is sent again, when the API server throttled it: its
/// Retry-After, else the next of `backoff`'s waits.
fn throttled_wait(e: &kube::Error, backoff: &mut QuickBackoff) -> Option<Duration> {
    use kube::client::UpgradeConnectionError::ProtocolSwitch;
    let asked = match e {
        // The port-forward upgrade's answer is not read as a Status: only its code is known.
        kube::Error::UpgradeConnection(ProtocolSwitch(code))
            if THROTTLED_CODES.contains(&code.as_u16()) =>
        {
            None
        }
        e => throttled(e)?,
    };
    let next = backoff.next().unwrap_or(THROTTLED_LONGEST_WAIT);
    Some(asked.unwrap_or(next).min(THROTTLED_LONGEST_WAIT))
}

/// `call`'s answer, sent again while the API server throttles it (see [`throttled_wait`]),
/// at most [`THROTTLED_TRIES`] times. A last throttled answer says how often it was asked.
async fn unless_throttled<T, F, Fut>(mut call: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = kube::Result<T>>,
{
    let mut tries = 1;
    let mut backoff = QuickBackoff::default();
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => match throttled_wait(&e, &mut backoff) {
                Some(wait) if tries < THROTTLED_TRIES => {
                    tokio::time::sleep(wait).await;
                    tries += 1;
                }
                Some(_) => {
                    return Err(format!(
                        "{e} (the API server throttled it {tries} times in a row)"
                    ));
                }
                None => return Err(e.to_string()),
            },
        }
    }
}

impl ServicePortForward {
    /// The pod and container port that `Service:port` leads to, looked up on first use.
    async fn resolved(&self) -> io::Result<(String, u16)> {
        self.resolved
            .get_or_try_init(|| self.resolve())
            .await
            .cloned()
    }

    /// The pod and container port that `Service:port` leads to.
    async fn resolve(&self) -> io::Result<(String, u16)> {
        let (ns, name) = (&self.namespace, &self.service);
        let services = Api::<Service>::namespaced(self.client.clone(), ns);
        let svc = unless_throttled(|| services.get(name))
            .await
            .map_err(|e| other(format!("Service {ns}/{name}: {e}")))?;
        let spec = svc.spec.unwrap_or_default();
        let selector = spec.selector.unwrap_or_default();
        if selector.is_empty() {
            return Err(other(format!(
                "Service {ns}/{name} has no selector: there is no pod to port-forward to"
            )));
        }
        let sp = spec
            .ports
            .unwrap_or_default()
            .into_iter()
            .find(|p| p.port == i32::from(self.port))
            .ok_or_else(|| other(format!("Service {ns}/{name} has no port {}", self.port)))?;
        let labels = selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let pods = Api::<Pod>::namespaced(self.client.clone(), ns);
        let list = ListParams::default().labels(&labels);
        let pods = unless_throttled(|| pods.list(&list))
            .await
            .map_err(|e| other(format!("pods of Service {ns}/{name}: {e}")))?;
        let ready = pods
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .find(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .ok_or_else(|| {
                other(format!(
                    "Service {ns}/{name} has no ready pod (selector {labels})"
                ))
            })?;
        let pod_name = ready.metadata.name.clone().unwrap_or_default();
        use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
        let target = match sp.target_port {
            None => self.port,
            Some(IntOrString::Int(n)) => u16::try_from(n)
                .map_err(|_| other(format!("Service {ns}/{name}: targetPort {n} out of range")))?,
            Some(IntOrString::String(port_name)) => ready
                .spec
                .iter()
                .flat_map(|s| s.containers.iter())
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(port_name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
                .ok_or_else(|| {
                    other(format!(
                        "pod {ns}/{pod_name} has no container port named {port_name} (targetPort of Service {name})"
                    ))
                })?,
        };
        Ok((pod_name, target))
    }

    async fn open(&self) -> io::Result<BoxedIo> {
        let (pod, port) = self.resolved().await?;
        let ns = &self.namespace;
        let pods = Api::<Pod>::namespaced(self.client.clone(), ns);
        let ports = [port];
        let mut pf = unless_throttled(|| pods.portforward(&pod, &ports))
            .await
            .map_err(|e| other(format!("port-forward to pod {ns}/{pod}:{port}: {e}")))?;
        let stream = pf
            .take_stream(port)
            .ok_or_else(|| other("port-forward returned no stream".into()))?;
        let error = pf.take_error(port).map(|f| Box::pin(f) as ErrorFuture);
        Ok(Box::new(Forwarded {
            inner: stream,
            error,
            pod: format!("{ns}/{pod}:{port}"),
        }))
    }
}

impl Connector for ServicePortForward {
    fn connect(&self) -> DialFuture<'_> {
        Box::pin(self.open())
    }

    fn describe(&self) -> String {
        format!(
            "port-forward through the API server to a ready pod of Service {}/{} port {}",
            self.namespace, self.service, self.port
        )
    }
}

type ErrorFuture = Pin<Box<dyn Future<Output = Option<String>> + Send>>;

/// The forwarded stream; an error the API server reports for the port (e.g. nothing listens
/// inside the pod) surfaces as a read error instead of a silent close.
struct Forwarded<S> {
    inner: S,
    error: Option<ErrorFuture>,
    pod: String,
}

impl<S: AsyncRead + Unpin> AsyncRead for Forwarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(f) = self.error.as_mut()
            && let Poll::Ready(msg) = f.as_mut().poll(cx)
        {
            self.error = None;
            if let Some(msg) = msg {
                let pod = self.pod.clone();
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!(
                        "port-forward to {pod}: {}",
                        crate::sanitize::clean_owned(&msg)
                    ),
                )));
            }
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Forwarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
