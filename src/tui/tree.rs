//! State of the attachment-tree view: widget items built from the posture tree, the widget's
//! open/selected state, and a map from edges to their place in the tree.

use super::keymap::Action;
use super::theme::Theme;
use crate::posture::{NodeState, Posture, TreeNode};
use crate::sanitize::clean_owned;
use ratatui::text::{Line, Span};
use std::cell::RefCell;
use std::collections::HashMap;
use tui_tree_widget::{TreeItem, TreeState};

#[derive(Debug, Clone, Default)]
struct NodeInfo {
    object: Option<String>,
    edge: Option<usize>,
}

#[derive(Default)]
pub struct TreeView {
    pub items: Vec<TreeItem<'static, String>>,
    /// The widget's state; it also caches the scroll offset while rendering, hence the cell.
    pub state: RefCell<TreeState<String>>,
    edge_paths: HashMap<usize, Vec<String>>,
    info: HashMap<Vec<String>, NodeInfo>,
    initialised: bool,
}

impl TreeView {
    pub fn rebuild(&mut self, posture: &Posture, theme: Theme) {
        self.edge_paths.clear();
        self.info.clear();
        let mut path = Vec::new();
        self.items = build_items(
            &posture.tree,
            theme,
            &mut path,
            &mut self.edge_paths,
            &mut self.info,
        );
        let state = self.state.get_mut();
        if !self.initialised {
            // Open classes, gateways and listeners so routes are visible at first sight.
            let mut open = Vec::new();
            collect_paths(&posture.tree, &mut vec![], 0, 3, &mut open);
            for p in open {
                state.open(p);
            }
            state.select_first();
            self.initialised = true;
        } else if !self.info.contains_key(state.selected()) {
            state.select_first();
        }
    }

    pub fn navigate(&mut self, action: Action, page: usize) {
        let s = self.state.get_mut();
        match action {
            Action::Up => {
                s.key_up();
            }
            Action::Down => {
                s.key_down();
            }
            Action::PageUp => {
                s.select_relative(|c| c.map_or(0, |c| c.saturating_sub(page)));
            }
            Action::PageDown => {
                s.select_relative(|c| c.map_or(0, |c| c.saturating_add(page)));
            }
            Action::Top => {
                s.select_first();
            }
            Action::Bottom => {
                s.select_last();
            }
            _ => {}
        }
    }

    pub fn collapse(&mut self) {
        self.state.get_mut().key_left();
    }

    pub fn expand(&mut self) {
        self.state.get_mut().key_right();
    }

    /// Opens every ancestor of edge `i`'s node and selects it.
    pub fn reveal_edge(&mut self, i: usize) {
        if let Some(path) = self.edge_paths.get(&i).cloned() {
            let s = self.state.get_mut();
            for n in 1..path.len() {
                s.open(path[..n].to_vec());
            }
            s.select(path);
        }
    }

    pub fn selected_edge(&self) -> Option<usize> {
        self.info
            .get(self.state.borrow().selected())
            .and_then(|i| i.edge)
    }

    pub fn selected_object(&self, posture: &Posture) -> Option<String> {
        let st = self.state.borrow();
        let info = self.info.get(st.selected())?;
        info.object.clone().or_else(|| {
            info.edge
                .and_then(|e| posture.edges.get(e))
                .map(|e| e.backend.clone())
        })
    }
}

fn collect_paths(
    nodes: &[TreeNode],
    prefix: &mut Vec<String>,
    depth: usize,
    max: usize,
    out: &mut Vec<Vec<String>>,
) {
    if depth >= max {
        return;
    }
    let mut seen = HashMap::new();
    for n in nodes {
        prefix.push(unique_id(&n.label, &mut seen));
        out.push(prefix.clone());
        collect_paths(&n.children, prefix, depth + 1, max, out);
        prefix.pop();
    }
}

/// Sibling identifiers must be unique; repeated labels get a counter.
fn unique_id(label: &str, seen: &mut HashMap<String, usize>) -> String {
    let n = seen.entry(label.to_string()).or_insert(0);
    *n += 1;
    if *n == 1 {
        label.to_string()
    } else {
        format!("{label} #{n}")
    }
}

fn build_items(
    nodes: &[TreeNode],
    theme: Theme,
    path: &mut Vec<String>,
    edge_paths: &mut HashMap<usize, Vec<String>>,
    info: &mut HashMap<Vec<String>, NodeInfo>,
) -> Vec<TreeItem<'static, String>> {
    let mut seen = HashMap::new();
    nodes
        .iter()
        .map(|n| {
            let id = unique_id(&n.label, &mut seen);
            path.push(id.clone());
            if let Some(e) = n.edge {
                edge_paths.insert(e, path.clone());
            }
            info.insert(
                path.clone(),
                NodeInfo {
                    object: n.object.clone(),
                    edge: n.edge,
                },
            );
            let children = build_items(&n.children, theme, path, edge_paths, info);
            path.pop();
            let text = node_line(n, theme);
            TreeItem::new(id, text, children).expect("sibling identifiers are unique")
        })
        .collect()
}

fn node_line(n: &TreeNode, theme: Theme) -> Line<'static> {
    let mut spans = Vec::new();
    match &n.state {
        NodeState::Mode(m) => spans.push(Span::styled(
            format!("{} {} ", m.symbol(), m),
            theme.mode(*m),
        )),
        NodeState::Status { ok, text } => spans.push(Span::styled(
            format!("{} {} ", if *ok { "✔" } else { "✘" }, clean_owned(text)),
            theme.ok(*ok),
        )),
        NodeState::None => {}
    }
    spans.push(Span::raw(clean_owned(&n.label)));
    Line::from(spans)
}
