//! Tree view: the attachment tree, expandable and collapsible.

use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders};
use tui_tree_widget::Tree;

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = app.theme;
    let block = Block::default().borders(Borders::ALL).title(Span::styled(" Attachment tree: GatewayClass › Gateway › listener › Route › rule › backendRef › backend › policy › CA ", t.title()));
    match Tree::new(&app.tree.items) {
        Ok(tree) => {
            let tree = tree
                .block(block)
                .highlight_style(t.selected())
                .highlight_symbol("▶ ");
            f.render_stateful_widget(tree, area, &mut app.tree.state.borrow_mut());
        }
        Err(e) => f.render_widget(
            ratatui::widgets::Paragraph::new(format!("tree error: {e}")).block(block),
            area,
        ),
    }
}
