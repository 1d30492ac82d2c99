//! Backends view: one row per edge, rendered a window at a time.

use super::fit;
use crate::tui::app::App;
use crate::tui::rows::{COLUMNS, SortColumn, fit_widths};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = app.theme;
    let inner_h = area.height.saturating_sub(3) as usize;
    let nav = app.backends_nav;
    // Keep the selection visible even if the terminal shrank since the last key press.
    let offset = nav.window_offset(inner_h);
    let fitted = fit_widths(app.widths, area.width.saturating_sub(2) as usize);
    let widths: Vec<Constraint> = fitted
        .iter()
        .map(|(_, w)| Constraint::Length(*w as u16))
        .collect();
    let header_cells = fitted.iter().map(|&(c, _)| COLUMNS[c]).map(|h| {
        let sorted = SortColumn::ALL
            .iter()
            .find(|c| c.name() == h)
            .is_some_and(|c| *c == app.sort);
        let label = if sorted {
            format!("{h}{}", if app.sort_reverse { "↑" } else { "↓" })
        } else {
            h.to_string()
        };
        Cell::from(Span::styled(label, t.title()))
    });
    let rows: Vec<Row> = app.visible
        [offset.min(app.visible.len())..(offset + inner_h).min(app.visible.len())]
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            let row = &app.rows[r];
            let status_style = match row.status_ok {
                Some(ok) => t.ok(ok),
                None => t.dim(),
            };
            let styles = [
                t.mode(row.mode),
                row.severity.map(|s| t.severity(s)).unwrap_or(t.dim()),
                Style::new(),
                Style::new(),
                Style::new(),
                Style::new(),
                Style::new(),
                status_style,
                match row.probe_ok {
                    Some(ok) => t.ok(ok),
                    None => t.dim(),
                },
            ];
            let texts = row.cells();
            let cells: Vec<Cell> = fitted
                .iter()
                .map(|&(c, w)| Cell::from(Line::from(Span::styled(fit(&texts[c], w), styles[c]))))
                .collect();
            let style = if offset + i == nav.selected {
                t.selected()
            } else {
                Style::new()
            };
            Row::new(cells).style(style)
        })
        .collect();
    let title = format!(" Backends [{}/{}] ", app.visible.len(), app.rows.len());
    let table = Table::new(rows, widths)
        .header(Row::new(header_cells.collect::<Vec<_>>()))
        .column_spacing(1)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(title, t.title())),
        );
    f.render_widget(table, area);
    if app.visible.is_empty() {
        let msg = if app.rows.is_empty() {
            "no edges"
        } else {
            "no edge matches the filter / namespace (Esc clears the filter, :ns all widens the scope)"
        };
        let r = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1,
        };
        f.render_widget(Span::styled(msg, t.dim()), r);
    }
}
