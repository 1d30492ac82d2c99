//! `--format text`: a table of edges (mode first) and the findings by severity.

use crate::posture::{Mode, Posture, Severity};
use crate::sanitize::clean;
use std::fmt::Write;

/// Orders modes from most to least alarming.
pub fn mode_rank(m: Mode) -> u8 {
    match m {
        Mode::FailOpenPlaintext => 0,
        Mode::FailClosed => 1,
        Mode::PlaintextToTlsPort => 2,
        Mode::Unresolved => 3,
        Mode::TlsUnverified => 4,
        Mode::Unknown => 5,
        Mode::Plaintext => 6,
        Mode::Passthrough => 7,
        Mode::TlsVerified => 8,
    }
}

fn trunc(s: &str, w: usize) -> String {
    let s = clean(s);
    if s.chars().count() <= w {
        s.into_owned()
    } else {
        let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

pub fn render(p: &Posture, fail_on: Severity) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "lastmile check · {} · {} edges · {} policies · evaluated {}",
        clean(&p.source.description),
        p.edges.len(),
        p.policies.len(),
        p.evaluated_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    );
    let counts: Vec<String> = p
        .mode_counts()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(m, n)| format!("{} {n} {m}", m.symbol()))
        .collect();
    let _ = writeln!(o, "modes: {}", counts.join(" · "));
    let mut semantics: Vec<String> = p
        .edges
        .iter()
        .map(|e| format!("{} ({})", clean(&e.gateway_class), e.semantics.describe()))
        .collect();
    semantics.sort();
    semantics.dedup();
    if !semantics.is_empty() {
        let _ = writeln!(o, "models: {}", semantics.join("; "));
    }
    o.push('\n');
    let mut idx: Vec<usize> = (0..p.edges.len()).collect();
    idx.sort_by_key(|&i| {
        let e = &p.edges[i];
        (
            mode_rank(e.mode),
            e.gateway.clone(),
            e.route.clone(),
            e.rule,
            e.backend_ref,
        )
    });
    let cols = ["MODE", "GATEWAY", "ROUTE", "BACKEND", "POLICY", "SNI"];
    let rows: Vec<[String; 6]> = idx
        .iter()
        .map(|&i| {
            let e = &p.edges[i];
            let mode = format!(
                "{} {}{}",
                e.mode.symbol(),
                e.mode,
                if e.mtls { " +mTLS" } else { "" }
            );
            let gw = match &e.listener {
                Some(l) => format!("{}/{l}", e.gateway),
                None => e.gateway.clone(),
            };
            let route = match &e.via {
                Some(v) => format!("{} ({v})", e.route),
                None if e.rule > 0 || e.backend_ref > 0 => {
                    format!("{} r{}b{}", e.route, e.rule, e.backend_ref)
                }
                None => e.route.clone(),
            };
            [
                mode,
                gw,
                route,
                e.backend.clone(),
                e.policy.clone().unwrap_or_else(|| "-".into()),
                e.sni.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let max = [30usize, 34, 44, 44, 32, 40];
    let widths: Vec<usize> = (0..6)
        .map(|c| {
            rows.iter()
                .map(|r| clean(&r[c]).chars().count())
                .chain([cols[c].len()])
                .max()
                .unwrap_or(0)
                .min(max[c])
        })
        .collect();
    let line = |o: &mut String, cells: &[String]| {
        let mut l = String::new();
        for (c, cell) in cells.iter().enumerate() {
            let t = trunc(cell, widths[c]);
            if c + 1 == cells.len() {
                l.push_str(&t);
            } else {
                let _ = write!(l, "{t:<w$}  ", w = widths[c]);
            }
        }
        let _ = writeln!(o, "{}", l.trim_end());
    };
    line(&mut o, &cols.map(String::from));
    for r in &rows {
        line(&mut o, r);
    }
    o.push('\n');
    let by_sev = |s: Severity| p.findings.iter().filter(move |f| f.severity == s);
    let summary: Vec<String> = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ]
    .iter()
    .map(|s| format!("{} {s}", by_sev(*s).count()))
    .collect();
    let _ = writeln!(
        o,
        "findings: {} ({}) · failing at --fail-on {fail_on}: {}",
        p.findings.len(),
        summary.join(", "),
        p.findings.iter().filter(|f| f.severity >= fail_on).count()
    );
    for sev in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ] {
        let list: Vec<_> = by_sev(sev).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(o, "\n{} ({})", sev.as_str().to_uppercase(), list.len());
        for f in list {
            let _ = writeln!(o, "  [{}] {}", f.id, clean(&f.subject));
            let _ = writeln!(o, "      {}", clean(&f.message));
            let _ = writeln!(o, "      fix: {}", f.remediation);
        }
    }
    let info: Vec<_> = by_sev(Severity::Info).collect();
    if !info.is_empty() {
        let _ = writeln!(o, "\nINFO ({})", info.len());
        for f in info {
            let _ = writeln!(o, "  [{}] {}", f.id, clean(&f.subject));
        }
    }
    if !p.errors.is_empty() {
        let _ = writeln!(
            o,
            "\nINPUT ERRORS ({}) — these objects were skipped, everything else was evaluated",
            p.errors.len()
        );
        for e in &p.errors {
            let _ = writeln!(o, "  {}", clean(&e.describe()));
        }
    }
    o
}
