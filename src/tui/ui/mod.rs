//! Drawing. Every function here reads the [`App`]; none changes it.

mod backends;
mod detail;
mod findings;
mod help;
mod policies;
mod probe;
mod tree;

use super::app::{App, Prompt};
use super::keymap::hints;
use super::nav::ViewKind;
use crate::posture::Mode;
use crate::sanitize::clean;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

pub fn draw(f: &mut Frame, app: &App) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    draw_header(f, app, header);
    if app.posture.edges.is_empty()
        && app.posture.policies.is_empty()
        && !matches!(app.view().kind, ViewKind::Help)
    {
        draw_empty(f, app, body);
    } else {
        match app.view().kind {
            ViewKind::Backends => backends::draw(f, app, body),
            ViewKind::Tree => tree::draw(f, app, body),
            ViewKind::Policies => policies::draw(f, app, body),
            ViewKind::Findings => findings::draw(f, app, body),
            ViewKind::Detail => detail::draw(f, app, body),
            ViewKind::Probe => probe::draw(f, app, body),
            ViewKind::Help => help::draw(f, app, body),
        }
    }
    draw_footer(f, app, footer);
    scrub(f.buffer_mut());
}

/// The last line of defence against terminal injection: no cell of a finished frame may hold a
/// control or bidi character, whichever view put it there. ratatui already drops C0/C1
/// controls, but appends zero-width characters such as U+202E to the previous cell.
fn scrub(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        if let std::borrow::Cow::Owned(cleaned) = clean(cell.symbol()) {
            let cleaned = if cleaned.is_empty() {
                " ".into()
            } else {
                cleaned
            };
            cell.set_symbol(&cleaned);
        }
    }
}

/// "3d", "5h", "12m", "40s" since `t`.
pub fn age(now: jiff::Timestamp, t: Option<jiff::Timestamp>) -> String {
    let Some(t) = t else { return "—".into() };
    let s = (now.as_second() - t.as_second()).max(0);
    match s {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Context, server and connection state of a live cluster source.
fn link_text(app: &App, link: &crate::source::cluster::LinkState) -> (String, bool) {
    use crate::source::cluster::Phase;
    let state = match &link.phase {
        Phase::Connecting { error: None } => ("◌ connecting".to_string(), true),
        Phase::Connecting { error: Some(e) } => (format!("⚠ cannot connect: {}", clean(e)), false),
        Phase::Syncing => ("◌ listing…".to_string(), true),
        Phase::Live => (
            format!("● live, updated {} ago", age(app.now, Some(app.updated_at))),
            true,
        ),
        Phase::Stale { since, error } => {
            let local = since.to_zoned(jiff::tz::TimeZone::system());
            (
                format!(
                    "⚠ stale since {}: {}",
                    local.strftime("%H:%M:%S"),
                    clean(error)
                ),
                false,
            )
        }
    };
    let who = if link.server.is_empty() {
        format!("ctx {} │ ", clean(&link.context))
    } else {
        format!("ctx {} │ {} │ ", clean(&link.context), clean(&link.server))
    };
    (who + &state.0, state.1)
}

fn draw_header(f: &mut Frame, app: &App, area: Rect) {
    let t = app.theme;
    let [top, bottom] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let mut spans = vec![
        Span::styled(" lastmile ", t.header()),
        Span::raw(if app.link.is_some() {
            format!(" {} ", app.source.kind)
        } else {
            format!(" {}: {} ", app.source.kind, clean(&app.source.description))
        }),
        Span::styled("│", t.dim()),
        Span::raw(format!(
            " ns: {} ",
            app.namespace.as_deref().unwrap_or("all")
        )),
        Span::styled("│", t.dim()),
        Span::raw(" "),
    ];
    for &(m, n) in app.mode_counts().iter() {
        if n > 0 {
            spans.push(Span::styled(format!("{}{n} ", m.symbol()), t.mode(m)));
        }
    }
    spans.push(Span::styled("│ ", t.dim()));
    let (text, ok) = match (&app.link, &app.source_error, app.source.live) {
        (Some(link), _, _) => link_text(app, link),
        (None, _, _) if app.source.kind == "cluster" => ("◌ connecting".to_string(), true),
        (None, Some(e), _) => (format!("⚠ stale: {}", clean(e)), false),
        (None, None, true) => (
            format!("● live, updated {} ago", age(app.now, Some(app.updated_at))),
            true,
        ),
        (None, None, false) => ("○ static".to_string(), true),
    };
    spans.push(Span::styled(text, t.ok(ok)));
    f.render_widget(Paragraph::new(Line::from(spans)), top);
    let mut crumbs = vec![Span::styled(format!(" {} ", app.breadcrumbs()), t.title())];
    if !app.filter_text.is_empty() {
        crumbs.push(Span::styled(
            format!(" filter: /{} ", clean(&app.filter_text)),
            t.key(),
        ));
    }
    let notices = app
        .snapshot
        .cluster
        .as_ref()
        .map(|c| c.notices.len() + c.unreadable.len())
        .unwrap_or(0);
    if notices > 0 {
        crumbs.push(Span::styled(
            format!(
                " ! {notices} cluster notice{} (see Findings) ",
                if notices == 1 { "" } else { "s" }
            ),
            t.severity(crate::posture::Severity::Medium),
        ));
    }
    let errors = app.posture.errors.len();
    if errors > 0 {
        crumbs.push(Span::styled(
            format!(
                " {errors} input error{} (see Findings) ",
                if errors == 1 { "" } else { "s" }
            ),
            t.error(),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(crumbs)), bottom);
}

fn draw_footer(f: &mut Frame, app: &App, area: Rect) {
    let t = app.theme;
    let running = app.probes_running();
    if running > 0 && app.prompt.is_none() {
        let total = app.probe_batch.max(running);
        let done = total - running;
        let label = format!("probing {done}/{total} edges");
        let gauge = ratatui::widgets::Gauge::default()
            .gauge_style(t.key())
            .ratio(done as f64 / total as f64)
            .label(Span::raw(label));
        f.render_widget(gauge, area);
        return;
    }
    if let Some((kind, input)) = &app.prompt {
        let prefix = if *kind == Prompt::Filter { "/" } else { ":" };
        let width = area.width.saturating_sub(1) as usize;
        let scroll = input.visual_scroll(width);
        let line = Line::from(vec![
            Span::styled(prefix, t.key()),
            Span::raw(input.value().chars().skip(scroll).collect::<String>()),
        ]);
        f.render_widget(Paragraph::new(line), area);
        f.set_cursor_position((
            area.x + 1 + (input.visual_cursor().saturating_sub(scroll)) as u16,
            area.y,
        ));
        return;
    }
    if let Some((msg, err)) = &app.message {
        let style = if *err { t.error() } else { t.key() };
        f.render_widget(
            Paragraph::new(Span::styled(format!(" {}", clean(msg)), style)),
            area,
        );
        return;
    }
    let mut spans = Vec::new();
    for (k, d) in hints(app.view().kind) {
        spans.push(Span::styled(format!(" {k}"), t.key()));
        spans.push(Span::raw(format!(" {d} ")));
    }
    spans.push(Span::styled(" 1-4/Tab", t.key()));
    spans.push(Span::raw(" views"));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// An empty or broken source gets an explanation, not a blank table.
fn draw_empty(f: &mut Frame, app: &App, area: Rect) {
    let t = app.theme;
    let s = &app.snapshot;
    let mut lines = vec![
        Line::styled("Nothing to show yet", t.title()),
        Line::raw(""),
    ];
    if let Some(link) = &app.link {
        use crate::source::cluster::Phase;
        let (text, ok) = link_text(app, link);
        lines.push(Line::styled(text, t.ok(ok)));
        if !matches!(link.phase, Phase::Live | Phase::Stale { .. }) {
            lines.push(Line::raw(""));
            lines.push(Line::raw(
                "lastmile reads Gateways, routes, BackendTLSPolicies, Services and referenced CA bundles (get, list, watch only).",
            ));
        }
        lines.push(Line::raw(""));
    }
    for n in s.cluster.iter().flat_map(|c| c.notices.iter()) {
        lines.push(Line::styled(format!("  ! {}", clean(n)), t.error()));
    }
    if !app.posture.errors.is_empty() {
        lines.push(Line::styled(
            format!("{} object(s) could not be read:", app.posture.errors.len()),
            t.error(),
        ));
        for e in app.posture.errors.iter().take(20) {
            lines.push(Line::raw(format!("  • {}", clean(&e.describe()))));
        }
        lines.push(Line::raw(""));
    }
    lines.push(Line::raw(format!(
        "The source ({}) holds {} Gateway(s), {} route(s), {} BackendTLSPolicy object(s) and {} Service(s).",
        clean(&app.source.description),
        s.gateways.len(),
        s.routes.len(),
        s.policies.len(),
        s.services.len()
    )));
    if !s.ignored.is_empty() {
        let kinds: Vec<String> = s.ignored.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        lines.push(Line::raw(format!(
            "Ignored kinds (not used by lastmile): {}",
            kinds.join(", ")
        )));
    }
    lines.push(Line::raw(""));
    lines.push(Line::raw("lastmile needs Gateways with routes (HTTPRoute, GRPCRoute, TLSRoute, TCPRoute) and the Services or Backends they reference."));
    lines.push(Line::raw("Try: kubectl get gatewayclasses,gateways,httproutes,grpcroutes,tlsroutes,backendtlspolicies,referencegrants,services,configmaps -A -o yaml | lastmile -f -"));
    lines.push(Line::raw("or:  lastmile --demo"));
    let p = Paragraph::new(lines).wrap(Wrap { trim: false }).block(
        Block::default()
            .borders(Borders::ALL)
            .title(" empty source "),
    );
    f.render_widget(p, area);
}

/// Short text for a mode cell: symbol and word, so colour never carries meaning alone.
pub fn mode_text(m: Mode, mtls: bool) -> String {
    format!("{} {}{}", m.symbol(), m, if mtls { " +mTLS" } else { "" })
}

/// Truncates to `w` characters with an ellipsis.
pub fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else if w == 0 {
        String::new()
    } else {
        let mut t: String = s.chars().take(w - 1).collect();
        t.push('…');
        t
    }
}

/// One finding as two lines: severity (symbol and word), id and message; then the fix.
pub fn finding_lines(t: super::theme::Theme, f: &crate::posture::Finding) -> [Line<'static>; 2] {
    [
        Line::from(vec![
            Span::styled(
                format!(
                    "  {} {:<8} ",
                    super::theme::severity_symbol(f.severity),
                    f.severity
                ),
                t.severity(f.severity),
            ),
            Span::raw(format!(
                "[{}] {}",
                f.id,
                crate::sanitize::clean_owned(&f.message)
            )),
        ]),
        Line::styled(format!("    fix: {}", f.remediation), t.dim()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::buffer::Buffer;

    #[test]
    fn scrub_removes_what_ratatui_lets_through() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 8, 1));
        // ratatui drops C0/C1 controls but appends zero-width bidi controls to the previous cell.
        ratatui::widgets::Widget::render(Span::raw("ab\u{202e}c\u{2066}"), buf.area, &mut buf);
        assert!(buf.content.iter().any(|c| c.symbol().contains('\u{202e}')));
        buf[(4, 0)].set_symbol("\u{2067}");
        scrub(&mut buf);
        let text: String = buf.content.iter().map(|c| c.symbol()).collect();
        assert_eq!(text, "abc     ");
    }
}
