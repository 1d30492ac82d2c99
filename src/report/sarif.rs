//! `--format sarif`: SARIF 2.1.0, one rule per finding id (fullDescription = remediation).

use crate::posture::{Posture, Severity, rule_catalog};
use crate::sanitize::clean_owned;
use serde_json::{Value, json};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning reads `security-severity` (0.0–10.0).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

pub fn render(p: &Posture) -> String {
    let mut s = serde_json::to_string_pretty(&to_value(p)).expect("sarif serialises");
    s.push('\n');
    s
}

pub fn to_value(p: &Posture) -> Value {
    let rules = rule_catalog();
    let rules_json: Vec<Value> = rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id.split('-').map(|w| { let mut c = w.chars(); c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default() }).collect::<String>(),
                "shortDescription": { "text": r.name },
                "fullDescription": { "text": r.remediation },
                "help": { "text": r.remediation },
                "defaultConfiguration": { "level": level(r.severity) },
                "properties": { "security-severity": security_severity(r.severity), "tags": ["security", "tls", "kubernetes"] },
            })
        })
        .collect();
    let results: Vec<Value> = p
        .findings
        .iter()
        .map(|f| {
            let index = rules.iter().position(|r| r.id == f.id).unwrap_or(0);
            let mut location = json!({
                "logicalLocations": [{ "fullyQualifiedName": clean_owned(&f.object), "kind": "resource" }],
                "message": { "text": clean_owned(&f.subject) },
            });
            if let Some(origin) = &f.origin
                && let Some(file) = &origin.file
                && !file.starts_with('<')
            {
                let mut phys = json!({ "artifactLocation": { "uri": file.trim_start_matches("./") } });
                if let Some(line) = origin.line {
                    phys["region"] = json!({ "startLine": line });
                }
                location["physicalLocation"] = phys;
            }
            json!({
                "ruleId": f.id,
                "ruleIndex": index,
                "level": level(f.severity),
                "message": { "text": clean_owned(&format!("{}: {}", f.subject, f.message)) },
                "locations": [location],
                "properties": { "severity": f.severity.as_str(), "security-severity": security_severity(f.severity) },
            })
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
        "runs": [{
            "tool": { "driver": {
                "name": "lastmile",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/lastmile-tls/lastmile",
                "rules": rules_json,
            }},
            "results": results,
            "properties": { "source": clean_owned(&p.source.description), "edges": p.edges.len() },
        }],
    })
}
