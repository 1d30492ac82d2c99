//! Help view, generated from the keymap table so it cannot drift from the bindings.

use crate::tui::app::App;
use crate::tui::keymap::{BINDINGS, Scope};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

/// Human form of a key.
pub fn key_name(code: crossterm::event::KeyCode, mods: crossterm::event::KeyModifiers) -> String {
    use crossterm::event::{KeyCode::*, KeyModifiers};
    let base = match code {
        Char(' ') => "Space".to_string(),
        Char(c) => c.to_string(),
        Up => "↑".into(),
        Down => "↓".into(),
        Left => "←".into(),
        Right => "→".into(),
        PageUp => "PgUp".into(),
        PageDown => "PgDn".into(),
        Home => "Home".into(),
        End => "End".into(),
        Enter => "Enter".into(),
        Esc => "Esc".into(),
        Tab => "Tab".into(),
        BackTab => "Shift-Tab".into(),
        other => format!("{other:?}"),
    };
    if mods.contains(KeyModifiers::CONTROL) {
        format!("Ctrl-{base}")
    } else {
        base
    }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = app.theme;
    let rows: Vec<Row> = BINDINGS
        .iter()
        .skip(app.help_nav.offset)
        .map(|b| {
            let mut keys: Vec<String> = b
                .keys
                .iter()
                .filter(|(_, m)| {
                    !m.contains(crossterm::event::KeyModifiers::SHIFT) || matches!(b.keys.len(), 1)
                })
                .map(|(c, m)| key_name(*c, *m))
                .collect();
            keys.dedup();
            let scope = match b.scope {
                Scope::Global => "everywhere".to_string(),
                Scope::View(v) => v.title().to_string(),
            };
            Row::new(vec![
                Cell::from(Span::styled(keys.join(" / "), t.key())),
                Cell::from(scope),
                Cell::from(b.description),
            ])
        })
        .collect();
    let header =
        Row::new(["KEY", "WHERE", "ACTION"].map(|h| Cell::from(Span::styled(h, t.title()))));
    let table = Table::new(rows, [Constraint::Length(22), Constraint::Length(12), Constraint::Fill(1)])
        .header(header)
        .block(Block::default().borders(Borders::ALL).title(Span::styled(" Help — keys (Esc to go back) · commands: :backends :tree :policies :findings :ns NAME :ns all :q ", t.title())));
    f.render_widget(table, area);
}
