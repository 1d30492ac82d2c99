//! LIST (selectors, paging with continue tokens, resourceVersion semantics) and how objects are
//! presented at a version.

use base64::Engine;
use http::Response;
use serde_json::{Map, Value, json};
use std::sync::Arc;

use super::http::Query;
use super::registry::ResourceDef;
use super::response::{Body, invalid_list_options, json_response, status_body, status_error};
use super::select::Selectors;
use super::store::Key;
use super::{Shared, lock};

/// An object as served at `gv`: with apiVersion/kind first (`with_type`), or without them (the
/// items of a built-in type's list), or as PartialObjectMetadata.
pub(crate) fn present(
    def: &ResourceDef,
    gv: &str,
    obj: &Value,
    with_type: bool,
    meta_only: bool,
) -> Value {
    if meta_only {
        return json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"].clone(),
        });
    }
    let mut out = Map::new();
    if with_type {
        out.insert("apiVersion".into(), json!(gv));
        out.insert("kind".into(), json!(def.kind));
    }
    if let Some(m) = obj.as_object() {
        for (k, v) in m {
            if k != "apiVersion" && k != "kind" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

const CONTINUE_TOO_OLD: &str = "The provided continue parameter is too old to display a \
    consistent list result. You can start a new list without the continue parameter, or use the \
    continue token in this response to retrieve the remainder of the results. Continuing with \
    the provided token results in an inconsistent list - objects that were created, modified, or \
    deleted between the time the first chunk was returned and now may show up in the list.";

fn encode_continue(def: &ResourceDef, rv: u64, last: &Key) -> String {
    let start = if def.namespaced {
        format!("{}/{}\u{0}", last.0, last.1)
    } else {
        format!("{}\u{0}", last.1)
    };
    let token = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn decode_continue(def: &ResourceDef, token: &str) -> Option<(u64, Key)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    if v["v"] != "meta.k8s.io/v1" {
        return None;
    }
    let rv = v["rv"].as_u64()?;
    let start = v["start"].as_str()?.strip_suffix('\u{0}')?;
    let key = if def.namespaced {
        let (ns, name) = start.split_once('/')?;
        (ns.to_string(), name.to_string())
    } else {
        (String::new(), start.to_string())
    };
    Some((rv, key))
}

fn too_large(rv: u64, current: u64) -> Response<Body> {
    status_error(
        504,
        "Timeout",
        &format!("Too large resource version: {rv}, current: {current}"),
        Some(json!({
            "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
            "retryAfterSeconds": 1,
        })),
    )
}

pub(crate) fn list(
    shared: &Arc<Shared>,
    def: &ResourceDef,
    gv: &str,
    namespace: Option<&str>,
    selectors: &Selectors,
    query: &Query,
    meta_only: bool,
) -> Response<Body> {
    let rv = query.get("resourceVersion").unwrap_or_default();
    let rvm = query.get("resourceVersionMatch").unwrap_or_default();
    let cont = query.get("continue").unwrap_or_default();
    let limit = match query.get("limit").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return status_error(400, "BadRequest", "invalid limit", None),
    };
    if !rvm.is_empty() {
        if rv.is_empty() {
            return invalid_list_options(
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless \
                 resourceVersion is provided",
            );
        }
        if !cont.is_empty() {
            return invalid_list_options(
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue \
                 is provided",
            );
        }
        if rvm != "Exact" && rvm != "NotOlderThan" {
            return invalid_list_options(&format!(
                "resourceVersionMatch: Unsupported value: {rvm:?}: supported values: \"Exact\", \
                 \"NotOlderThan\""
            ));
        }
        if rvm == "Exact" && rv == "0" {
            return invalid_list_options(
                "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for \
                 resourceVersion \"0\"",
            );
        }
    }
    if !cont.is_empty() && !rv.is_empty() {
        return status_error(
            400,
            "BadRequest",
            "specifying resource version is not allowed when using continue",
            None,
        );
    }
    let parsed_rv = match rv {
        "" | "0" => None,
        s => match s.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return status_error(
                    400,
                    "BadRequest",
                    &format!("invalid resource version: {s:?}"),
                    None,
                );
            }
        },
    };
    let (at, start_after, snapshot) = {
        let store = lock(&shared.store);
        let current = store.rv;
        let (at, start_after) = if !cont.is_empty() {
            let Some((crv, key)) = decode_continue(def, cont) else {
                return status_error(
                    400,
                    "BadRequest",
                    &format!("continue key is not valid: {cont:?}"),
                    None,
                );
            };
            if crv == 0 {
                (current, Some(key)) // an inconsistent continue: from the latest state
            } else if crv < store.oldest {
                let mut status = status_body(410, "Expired", CONTINUE_TOO_OLD, None);
                status["metadata"] = json!({"continue": encode_continue(def, 0, &key)});
                return json_response(410, &status);
            } else if crv > current {
                return status_error(400, "BadRequest", "continue key is not valid", None);
            } else {
                (crv, Some(key))
            }
        } else {
            match parsed_rv {
                Some(n) if rvm == "Exact" && n < store.oldest => {
                    return status_error(
                        410,
                        "Expired",
                        "The resourceVersion for the provided list is too old.",
                        None,
                    );
                }
                Some(n) if n > current => return too_large(n, current),
                Some(n) if rvm == "Exact" => (n, None),
                _ => (current, None),
            }
        };
        (at, start_after, store.snapshot(def, at))
    };
    let mut items: Vec<(&Key, &Arc<Value>)> = snapshot
        .iter()
        .filter(|(k, _)| namespace.is_none_or(|ns| k.0 == ns))
        .filter(|(k, _)| start_after.as_ref().is_none_or(|s| *k > s))
        .filter(|(_, o)| selectors.matches(o))
        .collect();
    let mut metadata = json!({"resourceVersion": at.to_string()});
    let limit = limit as usize;
    if limit > 0 && items.len() > limit {
        let remaining = items.len() - limit;
        items.truncate(limit);
        let last = items.last().expect("limit > 0").0;
        metadata["continue"] = json!(encode_continue(def, at, last));
        if selectors.is_empty() {
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    let with_type = !def.builtin;
    let items: Vec<Value> = items
        .into_iter()
        .map(|(_, o)| present(def, gv, o, with_type, meta_only))
        .collect();
    let (kind, api_version) = if meta_only {
        ("PartialObjectMetadataList".to_string(), "meta.k8s.io/v1")
    } else {
        (format!("{}List", def.kind), gv)
    };
    json_response(
        200,
        &json!({"kind": kind, "apiVersion": api_version, "metadata": metadata, "items": items}),
    )
}
