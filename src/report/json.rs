//! `--format json`: the documented contract (edges, policies, findings, errors) plus extra fields.

use crate::posture::{Edge, Posture};
use crate::sanitize::clean_owned;
use serde_json::{Value, json};

pub fn render(p: &Posture) -> String {
    let mut s = serde_json::to_string_pretty(&to_value(p)).expect("posture serialises");
    s.push('\n');
    s
}

/// The JSON document as a value.
pub fn to_value(p: &Posture) -> Value {
    let counts: serde_json::Map<String, Value> = p
        .mode_counts()
        .into_iter()
        .map(|(m, n)| (m.as_str().to_string(), json!(n)))
        .collect();
    json!({
        "source": p.source,
        "evaluated_at": p.evaluated_at.to_string(),
        "summary": { "edges": p.edges.len(), "modes": counts, "findings": p.findings.len(), "errors": p.errors.len() },
        "edges": p.edges.iter().enumerate().map(|(i, e)| {
            let mut v = edge(e);
            if let Some(r) = p.probes.get(&i) {
                v["probe"] = serde_json::to_value(r).expect("probe report serialises");
            }
            v
        }).collect::<Vec<_>>(),
        "policies": p.policies,
        "findings": p.findings.iter().map(|f| json!({
            "id": f.id,
            "severity": f.severity,
            "subject": clean_owned(&f.subject),
            "message": clean_owned(&f.message),
            "remediation": f.remediation,
            "object": f.object,
            "origin": f.origin,
            "edge": f.edge,
        })).collect::<Vec<_>>(),
        "errors": p.errors.iter().map(|e| json!({
            "object": e.object,
            "message": e.message,
            "file": e.origin.file,
            "line": e.origin.line,
        })).collect::<Vec<_>>(),
    })
}

fn edge(e: &Edge) -> Value {
    let mut v = serde_json::to_value(e).expect("edge serialises");
    if let Value::Object(m) = &mut v {
        m.insert(
            "reasons".into(),
            json!(e.reasons.iter().map(|r| clean_owned(r)).collect::<Vec<_>>()),
        );
    }
    v
}
