//! Injected faults: failure statuses (404, 429 with Retry-After, 500, ...), list bodies that are
//! not JSON, and watch streams that send garbage.

use bytes::Bytes;
use futures::SinkExt;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::json;
use std::time::Duration;
use tokio::sync::watch as signal;

use super::response::{Body, full, status_body};
use super::{Shared, lock};

/// What the server does instead of answering a matching request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// A kube-apiserver failure Status with this HTTP code (404 NotFound, 429 TooManyRequests,
    /// 500 InternalError, 503 ServiceUnavailable, ...); `retry_after` (seconds) sets the
    /// `Retry-After` header and `details.retryAfterSeconds`, as kube-apiserver does for 429.
    Status { code: u16, retry_after: Option<u64> },
    /// 200 with a JSON content type and a body that is cut off mid-object.
    MalformedJson,
    /// 200, then a line that is not a watch event every 100 ms until the client goes away (a
    /// watch that is not a watch: only meaningful for verb "watch").
    GarbageWatch,
}

#[derive(Debug, Clone)]
pub(crate) struct FaultRule {
    pub verb: String,
    pub resource: String,
    pub fault: Fault,
    /// `None`: every matching request; `Some(n)`: the next n.
    pub remaining: Option<usize>,
}

/// The fault for this request, if a rule matches (counting it down).
pub(crate) fn take(shared: &Shared, verb: &str, resource: &str) -> Option<Fault> {
    let mut rules = lock(&shared.faults);
    let i = rules.iter().position(|r| {
        (r.verb == "*" || r.verb == verb)
            && (r.resource == "*" || r.resource == resource)
            && r.remaining != Some(0)
    })?;
    let rule = &mut rules[i];
    if let Some(n) = rule.remaining.as_mut() {
        *n -= 1;
    }
    Some(rule.fault.clone())
}

fn reason(code: u16) -> (&'static str, &'static str) {
    match code {
        400 => ("BadRequest", "the request is invalid"),
        404 => (
            "NotFound",
            "the server could not find the requested resource",
        ),
        409 => ("Conflict", "the object has been modified"),
        429 => (
            "TooManyRequests",
            "Too many requests, please try again later.",
        ),
        500 => (
            "InternalError",
            "Internal error occurred: injected fault (etcdserver: request timed out)",
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted",
        ),
        _ => (
            "Unknown",
            "an error on the server has prevented the request from succeeding",
        ),
    }
}

pub(crate) fn respond(fault: Fault, shutdown: signal::Receiver<bool>) -> Response<Body> {
    match fault {
        Fault::Status { code, retry_after } => {
            let (reason, message) = reason(code);
            let mut details = json!({});
            if let Some(s) = retry_after {
                details["retryAfterSeconds"] = json!(s);
            }
            let mut body = status_body(code, reason, message, Some(details)).to_string();
            body.push('\n');
            let mut b = Response::builder()
                .status(code)
                .header(http::header::CONTENT_TYPE, "application/json");
            if let Some(s) = retry_after {
                b = b.header(http::header::RETRY_AFTER, s.to_string());
            }
            b.body(full(Bytes::from(body))).expect("fault response")
        }
        Fault::MalformedJson => Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(full(Bytes::from_static(
                b"{\"kind\":\"List\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[{\"metadata\":{\"name\":",
            )))
            .expect("fault response"),
        Fault::GarbageWatch => garbage_watch(shutdown),
    }
}

fn garbage_watch(mut shutdown: signal::Receiver<bool>) -> Response<Body> {
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
    tokio::spawn(async move {
        let lines: [&[u8]; 4] = [
            b"this is not a watch event\n",
            b"{\"type\":\"ADDED\",\"object\":{\"kind\":\n",
            b"\x00\xff\xfe garbage \x1b[2J\n",
            b"{\"type\":\"EXPLODED\",\"object\":42}\n",
        ];
        for i in 0.. {
            let line = Bytes::from_static(lines[i % lines.len()]);
            tokio::select! {
                r = tx.send(Ok(Frame::data(line))) => if r.is_err() { return },
                _ = super::stopped(&mut shutdown) => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = super::stopped(&mut shutdown) => return,
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(BodyExt::boxed_unsync(StreamBody::new(rx)))
        .expect("garbage watch response")
}
