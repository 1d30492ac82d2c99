//! How a probe reaches its backend: a TCP connection to `HOST:PORT`, or a stream some other
//! transport opens (a Kubernetes port-forward through the API server). Every connection a probe
//! makes (the handshake, the plaintext `HEAD /` follow-up, the legacy hellos) goes through here.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// A bidirectional byte stream.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type BoxedIo = Box<dyn Io>;
pub type DialFuture<'a> = Pin<Box<dyn Future<Output = std::io::Result<BoxedIo>> + Send + 'a>>;

/// Opens a fresh stream to the backend each time it is called.
pub trait Connector: Send + Sync {
    fn connect(&self) -> DialFuture<'_>;
    /// How the backend is reached, e.g. `port-forward pod app/web-7d9f:8443`.
    fn describe(&self) -> String;
}

/// The transport of a probe.
#[derive(Clone, Default)]
pub enum Dial {
    /// TCP to the request's `address`.
    #[default]
    Tcp,
    /// Another transport; the request's `address` only describes the target.
    Via(Arc<dyn Connector>),
}

impl fmt::Debug for Dial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dial::Tcp => f.write_str("Tcp"),
            Dial::Via(c) => write!(f, "Via({})", c.describe()),
        }
    }
}

impl PartialEq for Dial {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Dial::Tcp, Dial::Tcp) => true,
            (Dial::Via(a), Dial::Via(b)) => a.describe() == b.describe(),
            _ => false,
        }
    }
}

impl Dial {
    /// Opens one connection to `address` (for `Tcp`) or through the connector.
    pub async fn open(&self, address: &str) -> std::io::Result<BoxedIo> {
        match self {
            Dial::Tcp => {
                let s = tokio::net::TcpStream::connect(address).await?;
                let _ = s.set_nodelay(true);
                Ok(Box::new(s))
            }
            Dial::Via(c) => c.connect().await,
        }
    }

    /// `None` for TCP, else the transport's description.
    pub fn describe(&self) -> Option<String> {
        match self {
            Dial::Tcp => None,
            Dial::Via(c) => Some(c.describe()),
        }
    }
}

/// Makes connectors to a Service port from outside the cluster (a port-forward to one of its
/// ready pods). Creating one does no I/O; connecting does.
pub trait ServiceForwarder: Send + Sync {
    fn forward(&self, namespace: &str, service: &str, port: u16) -> Arc<dyn Connector>;
}
