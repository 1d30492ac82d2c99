//! Probe view: handshake facts, the chain, the verdict and the probe's findings for one edge.

use crate::report::probe_text;
use crate::sanitize::clean_owned;
use crate::tui::app::{App, ProbeState};
use crate::tui::nav::DetailTarget;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = app.theme;
    let Some(DetailTarget::Edge { gateway, key }) = &app.view().detail else {
        return;
    };
    let edge = app.edge_position(gateway, key);
    let title = edge
        .map(|i| format!(" Probe: {} ", app.posture.edges[i].backend))
        .unwrap_or_else(|| " Probe ".into());
    let mut lines: Vec<Line> = Vec::new();
    match app.probes.get(&(gateway.clone(), key.clone())) {
        None => lines.push(Line::raw("Not probed yet: press p.")),
        Some(ProbeState::Running) => lines.push(Line::styled(
            "probing… (handshake, chain, legacy hellos)",
            t.key(),
        )),
        Some(ProbeState::Unavailable(why)) => {
            lines.push(Line::styled(
                format!("cannot probe this edge: {}", clean_owned(why)),
                t.error(),
            ));
            lines.push(Line::raw("Backends of kind Backend are dialled at their endpoint; Services by their cluster DNS name, or"));
            lines.push(Line::raw("at an address given with --probe-address BACKEND=HOST:PORT (for example a kubectl port-forward)."));
        }
        Some(ProbeState::Done(r)) => {
            let ok =
                r.failure.is_none() && r.verdict.as_ref().is_some_and(|v| v.verdict == "trusted");
            lines.push(Line::from(vec![
                Span::styled(format!("{} ", if ok { "✔" } else { "✘" }), t.ok(ok)),
                Span::styled(clean_owned(&r.headline()), t.ok(ok)),
            ]));
            if let Some(i) = edge {
                let e = &app.posture.edges[i];
                lines.push(Line::styled(
                    format!(
                        "edge mode: {} {} — the probe checks what the backend really serves",
                        e.mode.symbol(),
                        e.mode
                    ),
                    t.mode(e.mode),
                ));
                let findings: Vec<_> = app
                    .posture
                    .findings
                    .iter()
                    .filter(|x| {
                        x.edge == Some(i)
                            && (x.id.starts_with("probe-")
                                || x.message.starts_with("backend certificate"))
                    })
                    .collect();
                if !findings.is_empty() {
                    lines.push(Line::raw(""));
                    for x in findings {
                        lines.extend(super::finding_lines(t, x));
                    }
                }
            }
            lines.push(Line::raw(""));
            lines.extend(
                probe_text::render(r)
                    .lines()
                    .skip(1)
                    .map(|l| Line::raw(l.to_string())),
            );
        }
    }
    let height = area.height.saturating_sub(2) as usize;
    let scroll = app.detail_scroll.min(lines.len().saturating_sub(height));
    let p = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((scroll as u16, 0))
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(clean_owned(&title), t.title()))
                .title_bottom(Span::styled(" p: probe again · Esc: back ", t.dim())),
        );
    f.render_widget(p, area);
}
