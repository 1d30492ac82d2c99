//! Text rendering of a probe report (`lastmile probe`), like `openssl s_client -brief` with the
//! verdict and the chain summary.

use crate::probe::ProbeReport;
use crate::sanitize::clean;
use std::fmt::Write;

pub fn render(r: &ProbeReport) -> String {
    let mut o = String::new();
    let sni = r
        .sni
        .as_deref()
        .map(|s| format!(" (SNI {s})"))
        .unwrap_or_default();
    let _ = writeln!(o, "lastmile probe {}{sni}", clean(&r.address));
    let ok = r.verdict.as_ref().is_some_and(|v| v.verdict == "trusted") && r.failure.is_none();
    let _ = writeln!(
        o,
        "  verdict    {} {}",
        if ok { "✔" } else { "✘" },
        clean(&r.headline())
    );
    if let Some(v) = &r.verdict {
        let _ = writeln!(
            o,
            "             checked by {} against {}; identity {}",
            v.verifier,
            clean(&v.trust),
            clean(&v.identity)
        );
    }
    if let Some(f) = &r.failure {
        let _ = writeln!(o, "  failure    {}", clean(&f.describe()));
    }
    if let Some(status) = &r.plaintext_http {
        let _ = writeln!(
            o,
            "  plaintext  a plain HTTP request is answered with: {}",
            clean(status)
        );
    }
    if let Some(v) = &r.version {
        let _ = writeln!(
            o,
            "  protocol   {v}  {}  {}  ALPN {}  ({})",
            r.cipher_suite.as_deref().unwrap_or("?"),
            r.kx_group.as_deref().unwrap_or("?"),
            r.alpn.as_deref().unwrap_or("none"),
            r.handshake_kind.as_deref().unwrap_or("?")
        );
    }
    let t = |x: Option<f64>| x.map(|v| format!("{v} ms")).unwrap_or_else(|| "—".into());
    let _ = writeln!(
        o,
        "  timings    connect {} · handshake {}",
        t(r.connect_ms),
        t(r.handshake_ms)
    );
    let _ = writeln!(
        o,
        "  client     certificate requested: {}{}",
        if r.client_cert_requested { "yes" } else { "no" },
        if r.client_ca_hints.is_empty() {
            String::new()
        } else {
            format!(" (CA hints: {})", clean(&r.client_ca_hints.join("; ")))
        }
    );
    if r.ocsp_stapled {
        let _ = writeln!(o, "  ocsp       stapled response present (not checked)");
    }
    if let Some(s) = &r.signature_problem {
        let _ = writeln!(
            o,
            "  signature  the server's handshake signature did not verify: {}",
            clean(s)
        );
    }
    if !r.chain.is_empty() {
        let _ = writeln!(o, "  chain");
        for (i, c) in r.chain.iter().enumerate() {
            let days = c
                .days_left
                .map(|d| {
                    if d < 0 {
                        format!("EXPIRED {} days ago", -d)
                    } else {
                        format!("{d} days left")
                    }
                })
                .unwrap_or_default();
            let na = c
                .not_after
                .map(|n| n.strftime("%Y-%m-%d").to_string())
                .unwrap_or_default();
            let _ = writeln!(o, "    {i} {}", clean(&c.subject));
            let _ = writeln!(
                o,
                "      issuer {}  {}  {}{}",
                clean(&c.issuer),
                c.key,
                c.signature_algorithm,
                if c.is_ca { "  CA" } else { "" }
            );
            let _ = writeln!(o, "      valid until {na} ({days})");
            if !c.sans.is_empty() {
                let _ = writeln!(o, "      SANs {}", clean(&c.sans.join(", ")));
            }
            let _ = writeln!(o, "      sha256 {}", c.sha256);
        }
    }
    if let Some(t) = &r.chain_truncated {
        let _ = writeln!(o, "  chain      {t}");
    }
    if let Some(l) = &r.legacy {
        let parts: Vec<String> = l
            .answers
            .iter()
            .map(|(name, a)| {
                let w = if a.weaknesses.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", a.weaknesses.join(", "))
                };
                format!(
                    "{name}: {} ({}{w})",
                    if a.accepted { "ACCEPTED" } else { "no" },
                    clean(&a.detail)
                )
            })
            .collect();
        let _ = writeln!(o, "  legacy     {}", parts.join(" · "));
    }
    o
}
