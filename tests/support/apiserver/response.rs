//! Responses: JSON bodies and kube-apiserver's failure Status objects.

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use serde_json::{Value, json};

use super::registry::ResourceDef;

pub(crate) type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// 422 Invalid for bad list/watch options.
pub(crate) fn invalid_list_options(message: &str) -> Response<Body> {
    status_error(
        422,
        "Invalid",
        &format!("ListOptions.meta.k8s.io \"\" is invalid: {message}"),
        Some(json!({"group": "meta.k8s.io", "kind": "ListOptions"})),
    )
}

pub(crate) fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": "v1.33.0",
        "gitCommit": "60a317eadfcb839692a68eab88b2096f4d708f4f",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T13:05:48Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub(crate) fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|e| match e {}).boxed_unsync()
}

pub(crate) fn json_response(code: u16, v: &Value) -> Response<Body> {
    let mut s = v.to_string();
    s.push('\n');
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(full(Bytes::from(s)))
        .expect("response")
}

/// A failure Status object.
pub(crate) fn status_body(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut s = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    });
    if let Some(d) = details {
        s["details"] = d;
    }
    s["code"] = json!(code);
    s
}

pub(crate) fn status_error(
    code: u16,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Response<Body> {
    json_response(code, &status_body(code, reason, message, details))
}

/// `services "x" not found`.
pub(crate) fn not_found_named(def: &ResourceDef, name: &str) -> Response<Body> {
    let mut details = json!({"name": name});
    if !def.group.is_empty() {
        details["group"] = json!(def.group);
    }
    details["kind"] = json!(def.plural);
    status_error(
        404,
        "NotFound",
        &format!("{} {name:?} not found", def.qualified()),
        Some(details),
    )
}

pub(crate) fn not_found_path() -> Response<Body> {
    status_error(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

pub(crate) fn method_not_allowed() -> Response<Body> {
    status_error(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        Some(json!({})),
    )
}
