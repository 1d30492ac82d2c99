//! State of the attachment-tree view: which nodes are open, which one is selected, and the
//! flattened list of visible rows, cached between frames.
//!
//! Nodes are identified by their path of labels from the root (a repeated label among siblings
//! gets a counter: `label #2`), so the open nodes and the selection survive a new posture as long
//! as the same labels are there. Nothing is copied out of the posture: a visible row is a
//! position in `posture.tree`, and its text is drawn from the node when the row is on screen.
//! The row list holds only the nodes whose ancestors are all open; it is rebuilt when the posture
//! changes or a node is opened or closed, not on every frame.
//!
//! The posture's tree stops at the routes and backendRefs ([`crate::posture::children_of`]):
//! the children of such a node that is open or on the selected path are built when the rows
//! are, and kept with them until the next posture.

use super::keymap::Action;
use crate::posture::{Posture, TreeNode, Unbuilt, children_of};
use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;

/// A node's identifier among its siblings: the label, with ` #n` for the n-th repeat.
fn node_id(label: &str, n: u32) -> Cow<'_, str> {
    if n <= 1 {
        Cow::Borrowed(label)
    } else {
        Cow::Owned(format!("{label} #{n}"))
    }
}

/// Numbers siblings that share a label (1 for the first, 2 for the next…).
#[derive(Default)]
struct Repeats<'a>(HashMap<&'a str, u32>);

impl<'a> Repeats<'a> {
    fn next(&mut self, label: &'a str) -> u32 {
        let n = self.0.entry(label).or_insert(0);
        *n += 1;
        *n
    }
}

/// The open nodes, as a trie of identifiers. A closed node keeps its entry (and its open
/// descendants), so reopening it shows them open again.
#[derive(Debug, Default)]
struct Opened {
    open: bool,
    children: HashMap<String, Opened>,
}

impl Opened {
    fn get(&self, path: &[String]) -> Option<&Opened> {
        path.iter().try_fold(self, |o, id| o.children.get(id))
    }

    fn entry(&mut self, path: &[String]) -> &mut Opened {
        path.iter()
            .fold(self, |o, id| o.children.entry(id.clone()).or_default())
    }

    fn is_open(&self, path: &[String]) -> bool {
        self.get(path).is_some_and(|o| o.open)
    }

    /// Returns whether this changed anything.
    fn set(&mut self, path: &[String], open: bool) -> bool {
        if path.is_empty() {
            return false;
        }
        if !open && !self.is_open(path) {
            return false;
        }
        let o = self.entry(path);
        let changed = o.open != open;
        o.open = open;
        changed
    }
}

const NO_PARENT: u32 = u32::MAX;

/// One visible row: where its node sits in `posture.tree`.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Row of the parent node (`u32::MAX` for a root).
    parent: u32,
    /// Index of the node among its parent's children.
    child: u32,
    /// Repeat counter of the node's label among its siblings (see [`node_id`]).
    repeat: u32,
    pub depth: u16,
    pub has_children: bool,
    pub open: bool,
}

#[derive(Debug, Default)]
pub struct TreeView {
    opened: Opened,
    /// Identifier path of the selected node; empty when nothing is selected.
    selected: Vec<String>,
    /// Visible rows of the current posture, in display order.
    rows: Vec<Row>,
    /// The selected node's row, when it is visible.
    selected_row: Option<usize>,
    /// First row on screen; drawing keeps it so the selection stays in view.
    offset: Cell<usize>,
    /// Scroll the selection into view on the next frame (it moved).
    follow: Cell<bool>,
    initialised: bool,
    /// The children of the route and backendRef nodes that are open or on the selected path.
    below: Below,
}

/// Children of the nodes the posture holds none for (route and backendRef nodes), built from
/// the posture when needed.
#[derive(Debug, Default)]
struct Below(HashMap<Unbuilt, Vec<TreeNode>>);

impl Below {
    /// `n`'s children: its own, or those built for it here (none when they were not built).
    fn of<'a>(&'a self, n: &'a TreeNode) -> &'a [TreeNode] {
        match n.unbuilt() {
            Some(k) => self.0.get(&k).map_or(&[], Vec::as_slice),
            None => &n.children,
        }
    }
}

impl TreeView {
    /// Takes a new posture: keeps the open nodes and the selection when their labels are still
    /// there (the selection otherwise moves to the first row).
    pub fn rebuild(&mut self, posture: &Posture) {
        // Built from the previous posture's edges and reports.
        self.below.0.clear();
        if !self.initialised {
            // Open classes, gateways and listeners so routes are visible at first sight.
            open_to_depth(&posture.tree, &mut self.opened, 3);
            self.initialised = true;
            self.flatten(posture);
            return;
        }
        self.flatten(posture);
        if self.selected_row.is_none()
            && !self.selected.is_empty()
            && resolve(&posture.tree, &self.below, &self.selected).is_none()
        {
            self.select_row(posture, Some(0));
        }
    }

    /// The visible rows (read by drawing).
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The selected row, when it is visible.
    pub fn selected_row(&self) -> Option<usize> {
        self.selected_row
    }

    /// Whether a node is selected at all (drawing reserves the highlight column then).
    pub fn has_selection(&self) -> bool {
        !self.selected.is_empty()
    }

    /// The node of visible row `row`, if the rows belong to `posture`.
    pub fn node<'a>(&'a self, posture: &'a Posture, row: usize) -> Option<&'a TreeNode> {
        let mut chain = Vec::with_capacity(usize::from(self.rows.get(row)?.depth) + 1);
        let mut r = row;
        loop {
            let x = self.rows.get(r)?;
            chain.push(x.child as usize);
            if x.parent == NO_PARENT {
                break;
            }
            r = x.parent as usize;
        }
        let mut nodes: &[TreeNode] = &posture.tree;
        let mut node = None;
        for &i in chain.iter().rev() {
            let n = nodes.get(i)?;
            nodes = self.below.of(n);
            node = Some(n);
        }
        node
    }

    /// First row to draw in a window of `height` rows. Like a list, the window only moves as
    /// far as needed to show a selection that moved.
    pub fn window_offset(&self, height: usize) -> usize {
        let height = height.max(1);
        let last = self.rows.len().saturating_sub(1);
        let mut start = self.offset.get().min(last);
        if self.follow.get()
            && let Some(sel) = self.selected_row
        {
            start = start.min(sel);
            if sel >= start + height {
                start = sel + 1 - height;
            }
        }
        self.offset.set(start);
        self.follow.set(false);
        start
    }

    /// Recomputes the visible rows and where the selection is among them. The children of
    /// open backendRef nodes (and of one on the selected path) are built first when they are
    /// missing: the walk notes them, and runs again once they are there.
    fn flatten(&mut self, posture: &Posture) {
        let sel = (!self.selected.is_empty()).then_some(self.selected.as_slice());
        loop {
            self.rows.clear();
            self.selected_row = None;
            let mut ctx = Flatten {
                rows: &mut self.rows,
                selected_row: &mut self.selected_row,
                below: &self.below,
                missing: Vec::new(),
            };
            ctx.walk(&posture.tree, Some(&self.opened), NO_PARENT, 0, sel);
            let missing = ctx.missing;
            if missing.is_empty() {
                return;
            }
            for row in missing {
                let Some(n) = self.node(posture, row) else {
                    continue;
                };
                let children = children_of(&posture.edges, &posture.policies, n);
                if let Some(k) = n.unbuilt() {
                    self.below.0.insert(k, children);
                }
            }
        }
    }

    /// The identifier path of visible row `row`.
    fn row_path(&self, posture: &Posture, row: usize) -> Vec<String> {
        let mut rows = Vec::new();
        let mut r = row;
        while let Some(x) = self.rows.get(r) {
            rows.push(r);
            if x.parent == NO_PARENT {
                break;
            }
            r = x.parent as usize;
        }
        let mut path = Vec::with_capacity(rows.len());
        for &r in rows.iter().rev() {
            let Some(n) = self.node(posture, r) else {
                break;
            };
            path.push(node_id(&n.label, self.rows[r].repeat).into_owned());
        }
        path
    }

    /// Selects visible row `row` (clamped to the last); nothing when there are no rows.
    fn select_row(&mut self, posture: &Posture, row: Option<usize>) {
        self.follow.set(true);
        match row {
            Some(r) if !self.rows.is_empty() => {
                let r = r.min(self.rows.len() - 1);
                self.selected = self.row_path(posture, r);
                self.selected_row = Some(r);
            }
            _ => {
                self.selected.clear();
                self.selected_row = None;
            }
        }
    }

    pub fn navigate(&mut self, posture: &Posture, action: Action, page: usize) {
        let cur = self.selected_row;
        let row = match action {
            // Nothing selected: Up starts from the end, the others from the top.
            Action::Up => cur.map_or(usize::MAX, |c| c.saturating_sub(1)),
            Action::Down => cur.map_or(0, |c| c.saturating_add(1)),
            Action::PageUp => cur.map_or(0, |c| c.saturating_sub(page)),
            Action::PageDown => cur.map_or(0, |c| c.saturating_add(page)),
            Action::Top => 0,
            Action::Bottom => usize::MAX,
            _ => return,
        };
        self.select_row(posture, Some(row));
    }

    /// Closes the selected node, or, when it is not open, selects its parent.
    pub fn collapse(&mut self, posture: &Posture) {
        self.follow.set(true);
        if self.opened.set(&self.selected, false) {
            self.flatten(posture);
        } else if self.selected.pop().is_some() {
            self.selected_row = match self.selected_row.and_then(|r| self.rows.get(r)) {
                Some(r) if r.parent != NO_PARENT => Some(r.parent as usize),
                Some(_) => None,
                // Not visible: find the parent among the rows.
                None => {
                    self.flatten(posture);
                    self.selected_row
                }
            };
        }
    }

    /// Opens the selected node.
    pub fn expand(&mut self, posture: &Posture) {
        if self.selected.is_empty() {
            return;
        }
        self.follow.set(true);
        if self.opened.set(&self.selected, true) {
            self.flatten(posture);
        }
    }

    /// Opens every ancestor of edge `i`'s node and selects it.
    pub fn reveal_edge(&mut self, posture: &Posture, i: usize) {
        // The route node holding the edge has its rules built first when they are not.
        let indices = loop {
            let mut found = Found::default();
            find_edge(&posture.tree, &self.below, i, &mut Vec::new(), &mut found);
            if let Some(indices) = found.node {
                break indices;
            }
            let Some((k, rules)) = found
                .route
                .and_then(|at| node_at(&posture.tree, &self.below, &at))
                .and_then(|n| Some((n.unbuilt()?, n)))
                .map(|(k, n)| (k, children_of(&posture.edges, &posture.policies, n)))
            else {
                return;
            };
            self.below.0.insert(k, rules);
        };
        let path = id_path(&posture.tree, &self.below, &indices);
        for n in 1..path.len() {
            self.opened.set(&path[..n], true);
        }
        self.selected = path;
        self.follow.set(true);
        self.flatten(posture);
    }

    fn selected_node<'a>(&'a self, posture: &'a Posture) -> Option<&'a TreeNode> {
        match self.selected_row {
            Some(r) => self.node(posture, r),
            None => resolve(&posture.tree, &self.below, &self.selected),
        }
    }

    pub fn selected_edge(&self, posture: &Posture) -> Option<usize> {
        self.selected_node(posture)?.edge
    }

    pub fn selected_object(&self, posture: &Posture) -> Option<String> {
        let n = self.selected_node(posture)?;
        n.object.as_deref().map(str::to_string).or_else(|| {
            n.edge
                .and_then(|e| posture.edges.get(e))
                .map(|e| e.backend.to_string())
        })
    }
}

struct Flatten<'a> {
    rows: &'a mut Vec<Row>,
    selected_row: &'a mut Option<usize>,
    below: &'a Below,
    /// Rows of route and backendRef nodes whose children are needed and not built yet.
    missing: Vec<usize>,
}

impl Flatten<'_> {
    /// Appends `nodes` and the children of the open ones. `opened` is the trie level of these
    /// nodes; `sel` the rest of the selected path when it runs through their parent.
    fn walk(
        &mut self,
        nodes: &[TreeNode],
        opened: Option<&Opened>,
        parent: u32,
        depth: u16,
        sel: Option<&[String]>,
    ) {
        let mut repeats = Repeats::default();
        for (i, n) in nodes.iter().enumerate() {
            let repeat = repeats.next(&n.label);
            let mine = (opened.is_some_and(|o| !o.children.is_empty()) || sel.is_some())
                .then(|| node_id(&n.label, repeat));
            let child_opened = match (&mine, opened) {
                (Some(id), Some(o)) => o.children.get(id.as_ref()),
                _ => None,
            };
            let child_sel = match (&mine, sel) {
                (Some(id), Some([first, rest @ ..])) if first.as_str() == id.as_ref() => Some(rest),
                _ => None,
            };
            let open = child_opened.is_some_and(|o| o.open);
            let row = self.rows.len();
            // A route node always has rules below it, a backendRef node its backend.
            let lazy = n.unbuilt();
            self.rows.push(Row {
                parent,
                child: i as u32,
                repeat,
                depth,
                has_children: lazy.is_some() || !n.children.is_empty(),
                open,
            });
            if child_sel.is_some_and(|r| r.is_empty()) {
                *self.selected_row = Some(row);
            }
            let below = child_sel.filter(|r| !r.is_empty());
            if let Some(k) = lazy
                && (open || below.is_some())
                && !self.below.0.contains_key(&k)
            {
                self.missing.push(row);
                continue;
            }
            let children = self.below.of(n);
            if open && !children.is_empty() {
                self.walk(children, child_opened, row as u32, depth + 1, below);
            }
        }
    }
}

/// Opens every node above `max` levels.
fn open_to_depth(nodes: &[TreeNode], opened: &mut Opened, max: usize) {
    if max == 0 {
        return;
    }
    let mut repeats = Repeats::default();
    for n in nodes {
        let id = node_id(&n.label, repeats.next(&n.label)).into_owned();
        let o = opened.children.entry(id).or_default();
        o.open = true;
        open_to_depth(&n.children, o, max - 1);
    }
}

/// The node at identifier path `path` (below a backendRef node, among the children built).
fn resolve<'a>(nodes: &'a [TreeNode], below: &'a Below, path: &[String]) -> Option<&'a TreeNode> {
    let (first, rest) = path.split_first()?;
    let mut repeats = Repeats::default();
    let n = nodes
        .iter()
        .find(|n| node_id(&n.label, repeats.next(&n.label)) == first.as_str())?;
    if rest.is_empty() {
        Some(n)
    } else {
        resolve(below.of(n), below, rest)
    }
}

/// Where edge `edge`'s node is, as child indices from the roots.
#[derive(Default)]
struct Found {
    /// The (last) backendRef node of the edge, among the nodes built.
    node: Option<Vec<usize>>,
    /// The route node holding the edge.
    route: Option<Vec<usize>>,
}

/// Looks for edge `edge`'s node below `nodes` (at child indices `path`), and for the route
/// node that holds it.
fn find_edge(
    nodes: &[TreeNode],
    below: &Below,
    edge: usize,
    path: &mut Vec<usize>,
    found: &mut Found,
) {
    for (i, n) in nodes.iter().enumerate() {
        path.push(i);
        if n.edge == Some(edge) {
            found.node = Some(path.clone());
        }
        if n.edges.contains(&edge) {
            found.route = Some(path.clone());
        }
        find_edge(below.of(n), below, edge, path, found);
        path.pop();
    }
}

/// The node at child indices `indices` (among the children built).
fn node_at<'a>(nodes: &'a [TreeNode], below: &'a Below, indices: &[usize]) -> Option<&'a TreeNode> {
    let (&first, rest) = indices.split_first()?;
    let n = nodes.get(first)?;
    if rest.is_empty() {
        Some(n)
    } else {
        node_at(below.of(n), below, rest)
    }
}

/// The identifier path of the node at child indices `indices`.
fn id_path(nodes: &[TreeNode], below: &Below, indices: &[usize]) -> Vec<String> {
    let mut path = Vec::with_capacity(indices.len());
    let mut nodes = nodes;
    for &i in indices {
        let Some(n) = nodes.get(i) else {
            break;
        };
        let repeat = nodes[..=i].iter().filter(|m| m.label == n.label).count() as u32;
        path.push(node_id(&n.label, repeat).into_owned());
        nodes = below.of(n);
    }
    path
}
