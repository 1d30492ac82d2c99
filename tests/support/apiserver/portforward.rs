//! Port-forward over WebSocket (`v4.channel.k8s.io`), as kube-rs speaks it: for port index i,
//! data channel 2i and error channel 2i+1; the server first sends `[ch, port_lo, port_hi]` on
//! each channel, then `[ch, bytes...]` frames flow both ways.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::watch as signal;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::response::{Body, not_found_named, status_error};
use super::{ConnGuard, Shared, lock};

const PROTOCOL: &str = "v4.channel.k8s.io";

fn header(req: &Request<Incoming>, name: http::header::HeaderName) -> &str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Answers `GET .../namespaces/NS/pods/NAME/portforward?ports=P`.
pub(crate) fn portforward(
    shared: &Arc<Shared>,
    shutdown: signal::Receiver<bool>,
    req: &mut Request<Incoming>,
    namespace: &str,
    pod: &str,
    port_params: &[String],
) -> Response<Body> {
    let is_ws = header(req, http::header::UPGRADE).eq_ignore_ascii_case("websocket");
    let key = header(req, http::header::SEC_WEBSOCKET_KEY).to_string();
    if !is_ws || key.is_empty() {
        return status_error(400, "BadRequest", "Upgrade request required", None);
    }
    let mut ports: Vec<u16> = Vec::new();
    for p in port_params.iter().flat_map(|s| s.split(',')) {
        match p.trim().parse::<u16>() {
            Ok(n) if n > 0 => ports.push(n),
            _ => {
                return status_error(
                    400,
                    "BadRequest",
                    &format!("invalid port {:?}: must be between 1 and 65535", p.trim()),
                    None,
                );
            }
        }
    }
    if ports.is_empty() {
        return status_error(
            400,
            "BadRequest",
            "at least one port must be specified",
            None,
        );
    }
    let Some(pods) = shared.registry.by_plural("", "pods") else {
        return status_error(404, "NotFound", "pods not served", None);
    };
    let uid = match lock(&shared.store).get(pods, namespace, pod) {
        Some(obj) => obj["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        None => return not_found_named(pods, pod),
    };
    let offered = header(req, http::header::SEC_WEBSOCKET_PROTOCOL);
    if !offered.split(',').any(|p| p.trim() == PROTOCOL) {
        return status_error(
            400,
            "BadRequest",
            &format!("unable to upgrade: no supported protocol in {offered:?} (want {PROTOCOL})"),
            None,
        );
    }
    let targets: Vec<Option<SocketAddr>> = {
        let t = lock(&shared.pf_targets);
        ports
            .iter()
            .map(|p| {
                t.get(&(namespace.to_string(), pod.to_string(), *p))
                    .copied()
            })
            .collect()
    };
    let on_upgrade = hyper::upgrade::on(req);
    let guard = ConnGuard::new(shared);
    let namespace = namespace.to_string();
    tokio::spawn(async move {
        let _guard = guard;
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        session(ws, ports, targets, &namespace, &uid, shutdown).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "websocket")
        .header(
            http::header::SEC_WEBSOCKET_ACCEPT,
            derive_accept_key(key.as_bytes()),
        )
        .header(http::header::SEC_WEBSOCKET_PROTOCOL, PROTOCOL)
        .body(Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync())
        .expect("101 response")
}

fn frame(ch: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(ch);
    v.extend_from_slice(data);
    Message::binary(v)
}

async fn session<S>(
    ws: WebSocketStream<S>,
    ports: Vec<u16>,
    targets: Vec<Option<SocketAddr>>,
    namespace: &str,
    uid: &str,
    mut shutdown: signal::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    for (i, port) in ports.iter().enumerate() {
        let [lo, hi] = port.to_le_bytes();
        for ch in [2 * i as u8, 2 * i as u8 + 1] {
            if sink.send(frame(ch, &[lo, hi])).await.is_err() {
                return;
            }
        }
    }
    // Pod side → WebSocket: (channel, Some(bytes)) or (channel, None) at EOF.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u8, Option<Vec<u8>>)>(16);
    let mut writers: Vec<Option<OwnedWriteHalf>> = Vec::new();
    let mut open = 0usize;
    for (i, (port, target)) in ports.iter().zip(&targets).enumerate() {
        let ch = 2 * i as u8;
        let conn = match target {
            Some(addr) => {
                tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            None => None,
        };
        let Some(conn) = conn else {
            let msg = format!(
                "error forwarding port {port} to pod {uid}, uid : failed to execute portforward in \
                 network namespace \"/var/run/netns/cni-{uid}\": failed to connect to \
                 localhost:{port} inside namespace \"{namespace}\", IPv4: dial tcp4 \
                 127.0.0.1:{port}: connect: connection refused IPv6 dial tcp6 [::1]:{port}: \
                 connect: connection refused "
            );
            let _ = sink.send(frame(ch + 1, msg.as_bytes())).await;
            writers.push(None);
            continue;
        };
        let (mut r, w) = conn.into_split();
        writers.push(Some(w));
        open += 1;
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = tx.send((ch, None)).await;
                        return;
                    }
                    Ok(n) => {
                        if tx.send((ch, Some(buf[..n].to_vec()))).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    drop(tx);
    let mut we_closed = false;
    if open == 0 {
        let _ = sink.send(Message::Close(None)).await;
        we_closed = true;
    }
    while !we_closed {
        tokio::select! {
            out = rx.recv() => match out {
                Some((ch, Some(bytes))) => {
                    if sink.send(frame(ch, &bytes)).await.is_err() {
                        return;
                    }
                }
                Some((_, None)) => {
                    open -= 1;
                    if open == 0 {
                        // The pod side closed: close the WebSocket.
                        let _ = sink.send(Message::Close(None)).await;
                        we_closed = true;
                    }
                }
                None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(b))) if !b.is_empty() => {
                    let ch = b[0] as usize;
                    if ch.is_multiple_of(2)
                        && let Some(Some(w)) = writers.get_mut(ch / 2)
                        && w.write_all(&b[1..]).await.is_err()
                    {
                        writers[ch / 2] = None;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    // The client is done: close the pod side for writing.
                    for w in writers.iter_mut().flatten() {
                        let _ = w.shutdown().await;
                    }
                    let _ = sink.flush().await; // the queued Close reply
                    return;
                }
                Some(Ok(_)) => {}
            },
            _ = super::stopped(&mut shutdown) => return,
        }
    }
    // Wait briefly for the client's Close reply, then drop the connection.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(m)) = stream.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
}
