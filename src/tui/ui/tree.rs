//! Tree view: the attachment tree, expandable and collapsible. Only the rows in the window are
//! drawn; the list of visible rows is kept by [`crate::tui::tree::TreeView`].

use crate::posture::{NodeState, TreeNode};
use crate::sanitize::clean;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Widget};

const HIGHLIGHT: &str = "▶ ";
const NO_HIGHLIGHT: &str = "  ";
const OPEN: &str = "▼ ";
const CLOSED: &str = "▶ ";
const LEAF: &str = "  ";

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = app.theme;
    let block = Block::default().borders(Borders::ALL).title(Span::styled(" Attachment tree: GatewayClass › Gateway › listener › Route › rule › backendRef › backend › policy › CA ", t.title()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let tree = &app.tree;
    if inner.width < 1 || inner.height < 1 || tree.rows().is_empty() {
        return;
    }
    let start = tree.window_offset(inner.height as usize);
    let end = (start + inner.height as usize).min(tree.rows().len());
    let has_selection = tree.has_selection();
    let buf = f.buffer_mut();
    for (y, r) in (inner.y..).zip(start..end) {
        let Some(node) = tree.node(&app.posture, r) else {
            continue;
        };
        let row = tree.rows()[r];
        let selected = tree.selected_row() == Some(r);
        let area = Rect {
            y,
            height: 1,
            ..inner
        };
        let right = area.right();
        let mut x = area.x;
        let mut put = |x: u16, s: &str| {
            buf.set_stringn(x, y, s, (right - x) as usize, Style::default())
                .0
        };
        if has_selection {
            x = put(x, if selected { HIGHLIGHT } else { NO_HIGHLIGHT });
        }
        x = put(x, &" ".repeat(usize::from(row.depth) * 2));
        x = put(
            x,
            match (row.has_children, row.open) {
                (false, _) => LEAF,
                (true, true) => OPEN,
                (true, false) => CLOSED,
            },
        );
        node_line(node, t).render(
            Rect {
                x,
                width: right - x,
                ..area
            },
            buf,
        );
        if selected {
            buf.set_style(area, t.selected());
        }
    }
}

/// A node's badge and label, sanitised.
fn node_line(n: &TreeNode, theme: Theme) -> Line<'_> {
    let mut spans = Vec::with_capacity(2);
    match &n.state {
        NodeState::Mode(m) => spans.push(Span::styled(
            format!("{} {} ", m.symbol(), m),
            theme.mode(*m),
        )),
        NodeState::Status { ok, text } => spans.push(Span::styled(
            format!("{} {} ", if *ok { "✔" } else { "✘" }, clean(text)),
            theme.ok(*ok),
        )),
        NodeState::None => {}
    }
    spans.push(Span::raw(clean(&n.label)));
    Line::from(spans)
}
