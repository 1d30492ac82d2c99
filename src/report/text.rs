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
    let _ = write(p, fail_on, &mut o);
    o
}

/// Writes the report to `o` line by line (at cluster scale the text is tens of megabytes).
pub fn write(p: &Posture, fail_on: Severity, o: &mut impl Write) -> std::fmt::Result {
    writeln!(
        o,
        "lastmile check · {} · {} edges · {} policies · evaluated {}",
        clean(&p.source.description),
        p.edges.len(),
        p.policies.len(),
        p.evaluated_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    )?;
    let counts: Vec<String> = p
        .mode_counts()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(m, n)| format!("{} {n} {m}", m.symbol()))
        .collect();
    writeln!(o, "modes: {}", counts.join(" · "))?;
    let mut semantics: Vec<String> = p
        .edges
        .iter()
        .map(|e| format!("{} ({})", clean(&e.gateway_class), e.semantics.describe()))
        .collect();
    semantics.sort();
    semantics.dedup();
    if !semantics.is_empty() {
        writeln!(o, "models: {}", semantics.join("; "))?;
    }
    o.write_char('\n')?;
    let mut idx: Vec<usize> = (0..p.edges.len()).collect();
    let key = |i: usize| {
        let e = &p.edges[i];
        (
            mode_rank(e.mode),
            &*e.gateway,
            &*e.route,
            e.rule,
            e.backend_ref,
        )
    };
    // Stable, so edges with equal keys keep their order.
    idx.sort_by(|&a, &b| key(a).cmp(&key(b)));
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
                None => e.gateway.to_string(),
            };
            let route = match &e.via {
                Some(v) => format!("{} ({v})", e.route),
                None if e.rule > 0 || e.backend_ref > 0 => {
                    format!("{} r{}b{}", e.route, e.rule, e.backend_ref)
                }
                None => e.route.to_string(),
            };
            [
                mode,
                gw,
                route,
                e.backend.to_string(),
                e.policy.as_deref().unwrap_or("-").to_string(),
                e.sni.as_deref().unwrap_or("-").to_string(),
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
    let line = |o: &mut dyn Write, cells: &[String]| {
        let mut l = String::new();
        for (c, cell) in cells.iter().enumerate() {
            let t = trunc(cell, widths[c]);
            if c + 1 == cells.len() {
                l.push_str(&t);
            } else {
                let _ = write!(l, "{t:<w$}  ", w = widths[c]);
            }
        }
        writeln!(o, "{}", l.trim_end())
    };
    line(o, &cols.map(String::from))?;
    for r in &rows {
        line(o, r)?;
    }
    o.write_char('\n')?;
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
    writeln!(
        o,
        "findings: {} ({}) · failing at --fail-on {fail_on}: {}",
        p.findings.len(),
        summary.join(", "),
        p.findings.iter().filter(|f| f.severity >= fail_on).count()
    )?;
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
        writeln!(o, "\n{} ({})", sev.as_str().to_uppercase(), list.len())?;
        for f in list {
            writeln!(o, "  [{}] {}", f.id, clean(&f.subject))?;
            writeln!(o, "      {}", clean(&f.message))?;
            writeln!(o, "      fix: {}", f.remediation)?;
        }
    }
    let info: Vec<_> = by_sev(Severity::Info).collect();
    if !info.is_empty() {
        writeln!(o, "\nINFO ({})", info.len())?;
        for f in info {
            writeln!(o, "  [{}] {}", f.id, clean(&f.subject))?;
        }
    }
    if !p.errors.is_empty() {
        writeln!(
            o,
            "\nINPUT ERRORS ({}) — these objects were skipped, everything else was evaluated",
            p.errors.len()
        )?;
        for e in &p.errors {
            writeln!(o, "  {}", clean(&e.describe()))?;
        }
    }
    Ok(())
}
