//! A stream wrapper that keeps the first bytes the peer sent, to recognise non-TLS answers.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const KEEP: usize = 256;

pub struct Recording<S> {
    inner: S,
    pub seen: Arc<Mutex<Vec<u8>>>,
}

impl<S> Recording<S> {
    pub fn new(inner: S) -> Self {
        Recording {
            inner,
            seen: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recording<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let new = &buf.filled()[before..];
            let mut seen = self.seen.lock().expect("recording lock");
            let room = KEEP.saturating_sub(seen.len());
            seen.extend_from_slice(&new[..new.len().min(room)]);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recording<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Names what a non-TLS peer sent.
pub fn describe_non_tls(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]);
    let first = text.lines().next().unwrap_or("").trim();
    let clean = crate::sanitize::clean_owned(first);
    if bytes.starts_with(b"HTTP/") {
        format!("plaintext HTTP ({clean})")
    } else if bytes.starts_with(b"SSH-") {
        format!("SSH server ({clean})")
    } else if bytes.starts_with(b"220") {
        format!("SMTP/FTP banner ({clean})")
    } else if bytes.starts_with(b"* OK") || bytes.starts_with(b"+OK") {
        format!("IMAP/POP3 banner ({clean})")
    } else if bytes.starts_with(&[0, 0]) && bytes.get(3) == Some(&4) {
        "HTTP/2 cleartext (h2c SETTINGS frame)".into()
    } else if text.trim_start().starts_with('<') {
        "plaintext HTTP (bare HTML body, no status line)".into()
    } else if bytes.is_empty() {
        "nothing".into()
    } else {
        format!("non-TLS bytes {:02x?}", &bytes[..bytes.len().min(8)])
    }
}
