//! `--format json`: the documented contract (edges, policies, findings, errors) plus extra fields.
//!
//! The document is streamed: only one edge or finding at a time is held as a `Value`, so a
//! large cluster's report costs its text, not a tree of values several times that size.

use crate::posture::{Edge, Posture};
use crate::sanitize::clean_owned;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::{Value, json};

pub fn render(p: &Posture) -> String {
    let mut out = Vec::new();
    write(p, &mut out).expect("writing to memory does not fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Writes the document to `w` as it is serialised: at cluster scale the text is larger than
/// the posture it describes, so it is not held in memory first.
pub fn write(p: &Posture, mut w: impl std::io::Write) -> std::io::Result<()> {
    let mut ser = serde_json::Serializer::pretty(&mut w);
    Document(p).serialize(&mut ser)?;
    w.write_all(b"\n")
}

struct Document<'a>(&'a Posture);

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.0;
        let counts: serde_json::Map<String, Value> = p
            .mode_counts()
            .into_iter()
            .map(|(m, n)| (m.as_str().to_string(), json!(n)))
            .collect();
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("source", &p.source)?;
        m.serialize_entry("evaluated_at", &p.evaluated_at.to_string())?;
        m.serialize_entry(
            "summary",
            &json!({ "edges": p.edges.len(), "modes": counts, "findings": p.findings.len(), "errors": p.errors.len() }),
        )?;
        m.serialize_entry("edges", &Each(p, p.edges.len(), edge_value))?;
        m.serialize_entry("policies", &p.policies)?;
        m.serialize_entry("findings", &Each(p, p.findings.len(), finding_value))?;
        m.serialize_entry("errors", &Each(p, p.errors.len(), error_value))?;
        m.end()
    }
}

/// A sequence of `len` items, each built as a small `Value` only while it is written.
struct Each<'a>(&'a Posture, usize, fn(&Posture, usize) -> Value);

impl Serialize for Each<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.1))?;
        for i in 0..self.1 {
            seq.serialize_element(&(self.2)(self.0, i))?;
        }
        seq.end()
    }
}

fn edge_value(p: &Posture, i: usize) -> Value {
    let mut v = edge(&p.edges[i]);
    if let Some(r) = p.probes.get(&i) {
        v["probe"] = serde_json::to_value(r).expect("probe report serialises");
    }
    v
}

fn finding_value(p: &Posture, i: usize) -> Value {
    let f = &p.findings[i];
    json!({
        "id": f.id,
        "severity": f.severity,
        "subject": clean_owned(&f.subject),
        "message": clean_owned(&f.message),
        "remediation": f.remediation,
        "object": f.object,
        "origin": f.origin,
        "edge": f.edge,
    })
}

fn error_value(p: &Posture, i: usize) -> Value {
    let e = &p.errors[i];
    json!({
        "object": e.object,
        "message": e.message,
        "file": e.origin.file,
        "line": e.origin.line,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed document is the same text as the whole document built as one value.
    #[test]
    fn streamed_json_equals_the_document_value() {
        let now: jiff::Timestamp = "2026-11-22T00:00:00Z".parse().unwrap();
        let snap = crate::source::demo::snapshot();
        let p = crate::posture::evaluate(&snap, now, &Default::default());
        assert!(!p.edges.is_empty() && !p.findings.is_empty());
        let whole = serde_json::to_string_pretty(&serde_json::to_value(Document(&p)).unwrap())
            .unwrap()
            + "\n";
        assert_eq!(render(&p), whole);
    }
}
