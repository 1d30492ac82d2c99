//! Findings view: severity-ordered, with the remediation of the selected finding.

use crate::sanitize::clean_owned;
use crate::tui::app::App;
use crate::tui::theme::severity_symbol;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = app.theme;
    let idx = app.finding_indices();
    let [top, bottom] = Layout::vertical([Constraint::Min(5), Constraint::Length(7)]).areas(area);
    let page = top.height.saturating_sub(3) as usize;
    let nav = app.findings_nav;
    let offset = nav.window_offset(page);
    let rows: Vec<Row> = idx
        .iter()
        .enumerate()
        .skip(offset)
        .take(page)
        .map(|(i, &fi)| {
            let x = &app.posture.findings[fi];
            let style = if i == nav.selected {
                t.selected()
            } else {
                Style::new()
            };
            Row::new(vec![
                Cell::from(Span::styled(
                    format!("{} {}", severity_symbol(x.severity), x.severity),
                    t.severity(x.severity),
                )),
                Cell::from(x.id),
                Cell::from(clean_owned(&x.subject)),
                Cell::from(clean_owned(&x.message)),
            ])
            .style(style)
        })
        .collect();
    let header = Row::new(
        ["SEVERITY", "FINDING", "SUBJECT", "MESSAGE"]
            .map(|h| Cell::from(Span::styled(h, t.title()))),
    );
    let table = Table::new(
        rows,
        [
            Constraint::Length(11),
            Constraint::Length(30),
            Constraint::Fill(3),
            Constraint::Fill(4),
        ],
    )
    .header(header)
    .block(Block::default().borders(Borders::ALL).title(Span::styled(
        format!(" Findings [{}] ", idx.len()),
        t.title(),
    )));
    f.render_widget(table, top);
    let text = match idx.get(nav.selected) {
        Some(&fi) => {
            let x = &app.posture.findings[fi];
            vec![
                Line::from(vec![
                    Span::styled("what: ", t.key()),
                    Span::raw(clean_owned(&x.message)),
                ]),
                Line::from(vec![
                    Span::styled("fix:  ", t.key()),
                    Span::raw(x.remediation),
                ]),
                Line::from(Span::styled("Enter opens the subject", t.dim())),
            ]
        }
        None => vec![Line::raw("no findings in scope")],
    };
    f.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Remediation "),
        ),
        bottom,
    );
}
