//! `--format junit`: one test case per edge, per policy and per input error; a case fails when
//! it has a finding at or above `--fail-on`.

use crate::posture::{Finding, Posture, Severity};
use crate::sanitize::clean;
use std::fmt::Write;

/// Escapes text for XML 1.0 (control characters are dropped: they are not allowed at all).
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in clean(s).chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

struct Case<'a> {
    class: String,
    name: String,
    findings: Vec<&'a Finding>,
}

pub fn render(p: &Posture, fail_on: Severity) -> String {
    let mut cases: Vec<Case> = Vec::new();
    for (i, e) in p.edges.iter().enumerate() {
        cases.push(Case {
            class: format!("gateway.{}", e.gateway),
            name: format!(
                "{} rule {} backendRef {} -> {} [{}]",
                e.route, e.rule, e.backend_ref, e.backend, e.mode
            ),
            findings: p.findings.iter().filter(|f| f.edge == Some(i)).collect(),
        });
    }
    for pol in &p.policies {
        let object = format!("BackendTLSPolicy/{}", pol.policy);
        cases.push(Case {
            class: "policies".into(),
            name: format!("{} [{}]", pol.policy, pol.role.as_str()),
            findings: p
                .findings
                .iter()
                .filter(|f| f.edge.is_none() && *f.object == *object)
                .collect(),
        });
    }
    let others: Vec<&Finding> = p
        .findings
        .iter()
        .filter(|f| f.edge.is_none() && !f.object.starts_with("BackendTLSPolicy/"))
        .collect();
    for f in others {
        cases.push(Case {
            class: format!("findings.{}", f.id),
            name: f.subject.to_string(),
            findings: vec![f],
        });
    }
    let failures = cases
        .iter()
        .filter(|c| c.findings.iter().any(|f| f.severity >= fail_on))
        .count();
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        o,
        "<testsuites name=\"lastmile\" tests=\"{}\" failures=\"{failures}\">",
        cases.len()
    );
    let _ = writeln!(
        o,
        "  <testsuite name=\"lastmile check\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" timestamp=\"{}\">",
        cases.len(),
        p.evaluated_at.strftime("%Y-%m-%dT%H:%M:%S")
    );
    for c in &cases {
        let failing: Vec<&&Finding> = c
            .findings
            .iter()
            .filter(|f| f.severity >= fail_on)
            .collect();
        let _ = write!(
            o,
            "    <testcase classname=\"{}\" name=\"{}\"",
            esc(&c.class),
            esc(&c.name)
        );
        if failing.is_empty() && c.findings.is_empty() {
            o.push_str("/>\n");
            continue;
        }
        o.push_str(">\n");
        for f in &failing {
            let _ = writeln!(
                o,
                "      <failure type=\"{}\" message=\"{}\">{}\nfix: {}</failure>",
                f.id,
                esc(&format!("{}: {}", f.severity, f.message)),
                esc(&f.message),
                esc(f.remediation)
            );
        }
        let notes: Vec<String> = c
            .findings
            .iter()
            .filter(|f| f.severity < fail_on)
            .map(|f| format!("{} [{}] {}", f.severity, f.id, f.message))
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(
                o,
                "      <system-out>{}</system-out>",
                esc(&notes.join("\n"))
            );
        }
        o.push_str("    </testcase>\n");
    }
    o.push_str("  </testsuite>\n</testsuites>\n");
    o
}
