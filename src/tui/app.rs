//! The UI state and `update(msg) -> effects`. Drawing reads this state; nothing else mutates it.

use super::keymap::{Action, action_for};
use super::nav::{Command, DetailTarget, View, ViewKind, parse_command};
use super::rows::{
    BackendRow, Filter, RowQuery, RowSet, SortColumn, backend_rows, content_widths,
    refresh_probed_rows, visible_rows,
};
use super::theme::Theme;
use super::tree::TreeView;
use crate::posture::{self, Options, Posture};
use crate::snapshot::Snapshot;
use crossterm::event::{KeyCode, KeyEvent};
use std::sync::Arc;
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

/// Everything that can happen to the app.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Resize(u16, u16),
    /// The clock moved (ages and "updated N s ago").
    Tick(jiff::Timestamp),
    /// The source produced a new snapshot.
    Snapshot(Box<Snapshot>),
    /// A new snapshot with its posture (and Backends rows) already computed off the UI task.
    Evaluated(Box<Evaluation>),
    /// The source failed to produce one (the previous snapshot stays).
    SourceError(String),
    /// A probe finished, for the edge `(gateway, edge key)`.
    ProbeDone((String, String), Box<crate::probe::ProbeReport>),
    /// The link to the API server changed state (live cluster source).
    Link(crate::source::cluster::LinkState),
    /// A cluster client is ready: Service backends can be probed through it.
    Forwarder(ForwarderHandle),
}

/// A snapshot and its posture computed off the UI task, with the Backends rows built, filtered
/// and sorted there too: at cluster scale that is most of what taking a new posture costs.
#[derive(Debug)]
pub struct Evaluation {
    pub snapshot: Snapshot,
    pub posture: Posture,
    /// Rows of `posture` without probe results, for the query the UI published
    /// ([`App::row_query`]). The UI adds its own probe results to the probed rows, and filters
    /// and sorts again only if its query changed meanwhile.
    pub rows: RowSet,
}

impl Evaluation {
    pub fn new(snapshot: Snapshot, posture: Posture, query: RowQuery) -> Self {
        let rows = RowSet::new(&posture, query);
        Evaluation {
            snapshot,
            posture,
            rows,
        }
    }
}

/// A port-forward factory, carried in a message.
#[derive(Clone)]
pub struct ForwarderHandle(pub Arc<dyn crate::probe::dial::ServiceForwarder>);

impl std::fmt::Debug for ForwarderHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForwarderHandle")
    }
}

/// Side effects the runtime carries out.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    /// Copy text to the clipboard (OSC 52).
    Copy(String),
    /// Run these probes and report each with `Msg::ProbeDone`.
    Probe(Vec<((String, String), crate::probe::ProbeRequest)>),
    /// Rebuild the cluster watches for another kubeconfig context.
    SwitchContext(String),
    /// Rebuild the cluster watches for one namespace (`None`: all).
    Rescope(Option<String>),
}

/// Which line editor is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    Filter,
    Command,
}

/// Cursor and scroll of a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListNav {
    pub selected: usize,
    pub offset: usize,
}

impl ListNav {
    fn clamp(&mut self, len: usize, page: usize) {
        self.selected = self.selected.min(len.saturating_sub(1));
        self.follow(page);
    }

    /// Keeps the selection inside the window of `page` rows.
    fn follow(&mut self, page: usize) {
        let page = page.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + page {
            self.offset = self.selected + 1 - page;
        }
    }

    /// First row to draw in a window of `page` rows so the selection is visible, even when the
    /// window is smaller than when the cursor last moved (drawing cannot update the offset).
    pub fn window_offset(&self, page: usize) -> usize {
        let page = page.max(1);
        if self.selected >= self.offset + page {
            self.selected + 1 - page
        } else {
            self.offset.min(self.selected)
        }
    }

    fn apply(&mut self, action: Action, len: usize, page: usize) -> bool {
        if len == 0 {
            return false;
        }
        let last = len - 1;
        self.selected = match action {
            Action::Up => self.selected.saturating_sub(1),
            Action::Down => (self.selected + 1).min(last),
            Action::PageUp => self.selected.saturating_sub(page.max(1)),
            Action::PageDown => (self.selected + page.max(1)).min(last),
            Action::Top => 0,
            Action::Bottom => last,
            _ => return false,
        };
        self.follow(page);
        true
    }
}

/// Where the data comes from, for the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLabel {
    pub kind: String,
    pub description: String,
    /// The source is re-read when it changes.
    pub live: bool,
}

pub struct App {
    pub snapshot: Arc<Snapshot>,
    pub posture: Posture,
    pub options: Options,
    pub now: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
    pub source: SourceLabel,
    pub source_error: Option<String>,
    pub theme: Theme,
    pub stack: Vec<View>,
    pub namespace: Option<String>,
    pub prompt: Option<(Prompt, Input)>,
    pub filter_text: String,
    filter: Option<Filter>,
    pub rows: Vec<BackendRow>,
    pub visible: Vec<usize>,
    /// Content width of each Backends column.
    pub widths: [usize; 9],
    pub sort: SortColumn,
    pub sort_reverse: bool,
    pub backends_nav: ListNav,
    pub policies_nav: ListNav,
    pub findings_nav: ListNav,
    pub help_nav: ListNav,
    pub detail_scroll: usize,
    pub show_yaml: bool,
    pub tree: TreeView,
    pub message: Option<(String, bool)>,
    pub size: (u16, u16),
    /// Probe state per edge `(gateway, edge key)`; results survive source updates.
    pub probes: std::collections::HashMap<(String, String), ProbeState>,
    /// `--probe-address` overrides: backend -> `HOST:PORT`.
    pub probe_overrides: std::collections::HashMap<String, String>,
    /// Size of the probe batch in flight (for the progress bar); 0 when idle.
    pub probe_batch: usize,
    /// Reaches Service backends through the API server (live cluster source).
    pub port_forward: Option<Arc<dyn crate::probe::dial::ServiceForwarder>>,
    /// The link to the API server (live cluster source).
    pub link: Option<crate::source::cluster::LinkState>,
    /// The Backends query in force, published for sources that evaluate off the UI task.
    query_tx: tokio::sync::watch::Sender<RowQuery>,
    /// Counts the changes of `posture`, probe results included (see [`Scoped`]).
    posture_version: u64,
    /// Counts the replacements of `posture` (new edges), which probe results do not change.
    edges_version: u64,
    scoped: std::cell::RefCell<Scoped>,
    /// The positions of the posture's edges by a hash of `(gateway, edge key)`, for the edges
    /// version it was built for: a probe started or finished finds its edges without going
    /// through all of them (a sweep of every edge at L went through 30,000 edges per probe).
    edges_by_id: std::cell::RefCell<(u64, foldhash::HashMap<u64, Vec<usize>>)>,
    /// The header's count of edges per mode, for the edges version it was counted for (a pass
    /// over every edge on every frame otherwise).
    modes: std::cell::RefCell<(u64, ModeCounts)>,
}

/// The number of edges in each mode, in `Mode::ALL` order.
pub type ModeCounts = Arc<[(posture::Mode, usize)]>;

/// The hash [`App::edges_by_id`] is keyed by.
fn edge_id_hash(gateway: &str, key: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::default().hash_one((gateway, key))
}

/// The policies and findings in scope (namespace and filter) as indices into the posture's
/// lists, with what they were computed for: filtering tens of thousands of findings takes
/// milliseconds, which every frame and every key press of those views paid.
#[derive(Default)]
struct Scoped {
    /// The posture version, namespace and filter text the lists are for.
    of: Option<(u64, Option<String>, String)>,
    policies: Arc<[usize]>,
    findings: Arc<[usize]>,
}

/// Where a probe of one edge stands.
#[derive(Debug, Clone)]
pub enum ProbeState {
    Running,
    Done(Box<crate::probe::ProbeReport>),
    /// The edge cannot be probed (no address to dial).
    Unavailable(String),
}

/// Frees a replaced posture, snapshot and rows. At cluster scale that is tens of thousands of
/// edges, objects and rows (tens of milliseconds), so it happens on a short-lived thread rather
/// than between a key press and the next frame.
fn retire(posture: Posture, snapshot: Arc<Snapshot>, rows: Vec<BackendRow>) {
    const SMALL: usize = 2_000;
    if posture.edges.len() < SMALL && snapshot.object_count() < SMALL {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("retire".into())
        .spawn(move || drop((posture, snapshot, rows)));
    // Without a thread the values are dropped here, as before.
    drop(spawned);
}

impl App {
    pub fn new(
        snapshot: Snapshot,
        now: jiff::Timestamp,
        source: SourceLabel,
        theme: Theme,
    ) -> Self {
        let options = Options::default();
        let posture = posture::evaluate(&snapshot, now, &options);
        let mut app = App {
            snapshot: Arc::new(snapshot),
            posture,
            options,
            now,
            updated_at: now,
            source,
            source_error: None,
            theme,
            stack: vec![View::top(ViewKind::Backends)],
            namespace: None,
            prompt: None,
            filter_text: String::new(),
            filter: None,
            rows: vec![],
            visible: vec![],
            widths: [0; 9],
            sort: SortColumn::Severity,
            sort_reverse: false,
            backends_nav: ListNav::default(),
            policies_nav: ListNav::default(),
            findings_nav: ListNav::default(),
            help_nav: ListNav::default(),
            detail_scroll: 0,
            show_yaml: false,
            tree: TreeView::default(),
            message: None,
            size: (120, 40),
            probes: Default::default(),
            probe_overrides: Default::default(),
            probe_batch: 0,
            port_forward: None,
            link: None,
            query_tx: tokio::sync::watch::Sender::new(RowQuery::default()),
            posture_version: 0,
            edges_version: 0,
            scoped: Default::default(),
            edges_by_id: std::cell::RefCell::new((u64::MAX, Default::default())),
            modes: std::cell::RefCell::new((u64::MAX, Arc::new([]))),
        };
        app.rebuild();
        app
    }

    pub fn view(&self) -> &View {
        self.stack.last().expect("the view stack is never empty")
    }

    /// Rows a list view can show at once (terminal height minus header, footer, borders).
    pub fn page(&self) -> usize {
        (self.size.1 as usize).saturating_sub(7).max(1)
    }

    /// Recomputes derived data after the posture, scope, filter or sort changed, keeping the
    /// selected edge selected.
    fn rebuild(&mut self) {
        let keep = self.selected_edge_id();
        self.rebuild_with(keep);
    }

    /// `(gateway, edge key)` of the edge under the cursor in the Backends view.
    fn selected_edge_id(&self) -> Option<(String, String)> {
        self.selected_edge()
            .map(|e| (e.gateway.to_string(), e.key.to_string()))
    }

    /// Rebuilds the rows, filters and sorts them, and selects the edge `keep` again if it is
    /// still there.
    fn rebuild_with(&mut self, keep: Option<(String, String)>) {
        self.rows = backend_rows(&self.posture);
        self.refilter();
        self.reselect(keep);
        self.tree.rebuild(&self.posture);
    }

    /// Takes rows built off the UI task from the current posture: their order and widths are
    /// used as they are when they were computed for the query in force, and only the probed
    /// rows are built again here.
    fn take_rows(&mut self, set: RowSet, keep: Option<(String, String)>) {
        let current = set.query == self.query();
        self.rows = set.rows;
        let probed: Vec<usize> = self.posture.probes.keys().copied().collect();
        if !current {
            refresh_probed_rows(&mut self.rows, &self.posture, probed);
            self.refilter();
        } else {
            self.visible = set.visible;
            self.widths = set.widths;
            self.after_probes(&probed);
        }
        self.reselect(keep);
        self.tree.rebuild(&self.posture);
    }

    /// Brings the rows of the newly probed `edges` up to date with the posture's probe
    /// results; the order is computed again only if a probe changed more than the PROBE cell.
    fn after_probes(&mut self, edges: &[usize]) {
        if refresh_probed_rows(&mut self.rows, &self.posture, edges.iter().copied()) {
            self.refilter();
            return;
        }
        let edges: std::collections::HashSet<usize> = edges.iter().copied().collect();
        for &r in self.visible.iter().filter(|&&r| edges.contains(&r)) {
            for (w, c) in self.widths.iter_mut().zip(self.rows[r].cell_widths()) {
                *w = (*w).max(c);
            }
        }
    }

    /// Selects the edge `keep` if it is shown, and keeps every list's cursor in range.
    fn reselect(&mut self, keep: Option<(String, String)>) {
        self.select_edge(keep);
        let page = self.page();
        self.policies_nav.clamp(self.policy_indices().len(), page);
        self.findings_nav.clamp(self.finding_indices().len(), page);
    }

    /// Selects the edge `keep` in the Backends view if it is shown; keeps the cursor in range.
    fn select_edge(&mut self, keep: Option<(String, String)>) {
        if let Some((gw, key)) = keep
            && let Some(pos) = self.visible.iter().position(|&r| {
                let e = &self.posture.edges[self.rows[r].edge];
                *e.gateway == *gw && *e.key == *key
            })
        {
            self.backends_nav.selected = pos;
        }
        let page = self.page();
        self.backends_nav.clamp(self.visible.len(), page);
    }

    /// The Backends scope, filter and order in force.
    fn query(&self) -> RowQuery {
        RowQuery {
            namespace: self.namespace.clone(),
            filter: self.filter_text.clone(),
            sort: self.sort,
            reverse: self.sort_reverse,
        }
    }

    /// Follows the Backends query in force: a source that evaluates off the UI task reads it to
    /// send rows already filtered and sorted.
    pub fn row_query(&self) -> tokio::sync::watch::Receiver<RowQuery> {
        self.query_tx.subscribe()
    }

    fn refilter(&mut self) {
        let query = self.query();
        self.query_tx.send_if_modified(|q| {
            let changed = *q != query;
            *q = query;
            changed
        });
        self.visible = visible_rows(
            &self.rows,
            self.namespace.as_deref(),
            self.filter.as_ref(),
            self.sort,
            self.sort_reverse,
        );
        self.widths = content_widths(self.visible.iter().map(|&i| &self.rows[i]));
    }

    /// The edge under the cursor in the Backends view.
    pub fn selected_edge(&self) -> Option<&posture::Edge> {
        let row = *self.visible.get(self.backends_nav.selected)?;
        self.posture.edges.get(self.rows.get(row)?.edge)
    }

    /// Policies in scope (namespace and filter), as indices into `posture.policies`.
    pub fn policy_indices(&self) -> Arc<[usize]> {
        self.scoped().policies.clone()
    }

    /// Findings in scope, severity-ordered, as indices into `posture.findings`.
    pub fn finding_indices(&self) -> Arc<[usize]> {
        self.scoped().findings.clone()
    }

    /// The lists in scope, computed again when the posture, namespace or filter changed.
    fn scoped(&self) -> std::cell::Ref<'_, Scoped> {
        let fresh = matches!(
            &self.scoped.borrow().of,
            Some((version, ns, filter)) if *version == self.posture_version
                && *ns == self.namespace
                && *filter == self.filter_text
        );
        if !fresh {
            let policies = self.policies_in_scope().into();
            let findings = self.findings_in_scope().into();
            *self.scoped.borrow_mut() = Scoped {
                of: Some((
                    self.posture_version,
                    self.namespace.clone(),
                    self.filter_text.clone(),
                )),
                policies,
                findings,
            };
        }
        self.scoped.borrow()
    }

    /// The number of edges in each mode ([`Posture::mode_counts`]), counted once per posture.
    pub fn mode_counts(&self) -> ModeCounts {
        if self.modes.borrow().0 != self.edges_version {
            *self.modes.borrow_mut() = (self.edges_version, self.posture.mode_counts().into());
        }
        self.modes.borrow().1.clone()
    }

    /// The position of the first edge of Gateway `gateway` with edge key `key` (the edge a
    /// detail or probe view is about).
    pub fn edge_position(&self, gateway: &str, key: &str) -> Option<usize> {
        self.edges_with_id(gateway, key).first().copied()
    }

    /// The positions of the edges of Gateway `gateway` with edge key `key`, in order.
    fn edges_with_id(&self, gateway: &str, key: &str) -> Vec<usize> {
        if self.edges_by_id.borrow().0 != self.edges_version {
            let mut by_id: foldhash::HashMap<u64, Vec<usize>> = Default::default();
            for (i, e) in self.posture.edges.iter().enumerate() {
                by_id
                    .entry(edge_id_hash(&e.gateway, &e.key))
                    .or_default()
                    .push(i);
            }
            *self.edges_by_id.borrow_mut() = (self.edges_version, by_id);
        }
        let edges = &self.posture.edges;
        self.edges_by_id
            .borrow()
            .1
            .get(&edge_id_hash(gateway, key))
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .copied()
            .filter(|&i| *edges[i].gateway == *gateway && *edges[i].key == *key)
            .collect()
    }

    /// The posture's findings changed (probe results): the lists in scope are computed again.
    fn posture_changed(&mut self) {
        self.posture_version += 1;
    }

    /// A new posture, with other edges: what is kept of the one before is computed again.
    fn posture_replaced(&mut self) {
        self.posture_changed();
        self.edges_version += 1;
    }

    fn policies_in_scope(&self) -> Vec<usize> {
        (0..self.posture.policies.len())
            .filter(|&i| {
                let p = &self.posture.policies[i];
                self.namespace
                    .as_deref()
                    .is_none_or(|ns| p.policy.split('/').next() == Some(ns))
                    && self.filter.as_ref().is_none_or(|f| {
                        f.matches(
                            &format!("{} {} {}", p.policy, p.role.as_str(), p.api_version)
                                .to_lowercase(),
                        )
                    })
            })
            .collect()
    }

    fn findings_in_scope(&self) -> Vec<usize> {
        (0..self.posture.findings.len())
            .filter(|&i| {
                let f = &self.posture.findings[i];
                self.namespace.as_deref().is_none_or(|ns| {
                    f.object.split('/').any(|part| part == ns)
                        || f.subject.contains(&format!("/{ns}/"))
                }) && self.filter.as_ref().is_none_or(|flt| {
                    flt.matches(
                        &format!("{} {} {} {}", f.severity, f.id, f.subject, f.message)
                            .to_lowercase(),
                    )
                })
            })
            .collect()
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Key(k) => self.on_key(k),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                let page = self.page();
                self.backends_nav.follow(page);
                self.policies_nav.follow(page);
                self.findings_nav.follow(page);
                vec![]
            }
            Msg::Tick(now) => {
                self.now = now;
                vec![]
            }
            Msg::Snapshot(s) => {
                let p = posture::evaluate(&s, self.now, &self.options);
                self.take_snapshot(*s, p, None);
                vec![]
            }
            Msg::Evaluated(e) => {
                let Evaluation {
                    snapshot,
                    posture,
                    rows,
                } = *e;
                self.take_snapshot(snapshot, posture, Some(rows));
                vec![]
            }
            Msg::SourceError(e) => {
                self.source_error = Some(e);
                vec![]
            }
            Msg::Link(state) => {
                self.link = Some(state);
                vec![]
            }
            Msg::Forwarder(h) => {
                self.port_forward = Some(h.0);
                vec![]
            }
            Msg::ProbeDone(id, report) => {
                self.probes.insert(id.clone(), ProbeState::Done(report));
                if self.probes_running() == 0 {
                    self.probe_batch = 0;
                }
                // Only this probe's edge changes: at cluster scale attaching every result and
                // building every row again on each finished probe would stall the UI.
                let keep = self.selected_edge_id();
                let edges = self.attach_probe(&id);
                self.after_probes(&edges);
                // The policies do not change; the findings may (a probe replaces its own).
                self.select_edge(keep);
                let page = self.page();
                self.findings_nav.clamp(self.finding_indices().len(), page);
                vec![]
            }
        }
    }

    /// Shows a new snapshot and its posture, keeping selection, filter and probe results.
    fn take_snapshot(&mut self, s: Snapshot, p: Posture, rows: Option<RowSet>) {
        if self.source.kind == "cluster" {
            self.source.description = s.source.description.clone();
        }
        // The selection is remembered before the rows refer to the new posture's edges.
        let keep = self.selected_edge_id();
        let old_posture = std::mem::replace(&mut self.posture, p);
        self.posture_replaced();
        let old_snapshot = std::mem::replace(&mut self.snapshot, Arc::new(s));
        retire(old_posture, old_snapshot, std::mem::take(&mut self.rows));
        self.attach_probes();
        self.updated_at = self.now;
        self.source_error = None;
        match rows {
            Some(set) => self.take_rows(set, keep),
            None => self.rebuild_with(keep),
        }
    }

    fn on_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        if let Some((kind, input)) = &mut self.prompt {
            let kind = *kind;
            match k.code {
                KeyCode::Esc => {
                    self.prompt = None;
                    if kind == Prompt::Filter {
                        self.set_filter(String::new());
                    }
                }
                KeyCode::Enter => {
                    let text = input.value().to_string();
                    self.prompt = None;
                    return match kind {
                        Prompt::Filter => {
                            self.set_filter(text);
                            vec![]
                        }
                        Prompt::Command => self.run_command(&text),
                    };
                }
                _ => {
                    input.handle_event(&crossterm::event::Event::Key(k));
                    if kind == Prompt::Filter {
                        let live = input.value().to_string();
                        self.set_filter(live);
                    }
                }
            }
            return vec![];
        }
        self.message = None;
        let view = self.view().kind;
        let Some(action) = action_for(k, view) else {
            return vec![];
        };
        self.on_action(action)
    }

    fn set_filter(&mut self, text: String) {
        self.filter = Filter::new(&text);
        self.filter_text = text;
        self.refilter();
        self.backends_nav = ListNav::default();
        self.policies_nav = ListNav::default();
        self.findings_nav = ListNav::default();
    }

    fn run_command(&mut self, line: &str) -> Vec<Effect> {
        match parse_command(line) {
            Ok(Command::Show(v)) => self.switch_top(v),
            Ok(Command::Help) => self.push(View::top(ViewKind::Help)),
            Ok(Command::Quit) => return vec![Effect::Quit],
            Ok(Command::Namespace(ns)) => {
                self.message = Some((
                    format!("namespace: {}", ns.as_deref().unwrap_or("all")),
                    false,
                ));
                self.namespace = ns.clone();
                self.refilter();
                self.backends_nav = ListNav::default();
                self.policies_nav = ListNav::default();
                self.findings_nav = ListNav::default();
                if self.source.kind == "cluster" {
                    return vec![Effect::Rescope(ns)];
                }
            }
            Ok(Command::Context(name)) => {
                if self.source.kind != "cluster" {
                    self.message = Some((
                        ":ctx needs a live cluster source (not -f or --demo)".into(),
                        true,
                    ));
                    return vec![];
                }
                self.message = Some((format!("switching to context {name}…"), false));
                self.clear_source();
                return vec![Effect::SwitchContext(name)];
            }
            Err(e) => self.message = Some((e, true)),
        }
        vec![]
    }

    fn push(&mut self, v: View) {
        if self.view() != &v {
            self.stack.push(v);
        }
        self.detail_scroll = 0;
    }

    /// Switches the base view (Tab, numbers, `:` commands) and drops detail views.
    fn switch_top(&mut self, kind: ViewKind) {
        self.stack = vec![View::top(kind)];
    }

    fn on_action(&mut self, action: Action) -> Vec<Effect> {
        let page = self.page();
        let view = self.view().kind;
        match action {
            Action::Quit => return vec![Effect::Quit],
            Action::Help => self.push(View::top(ViewKind::Help)),
            Action::Command => self.prompt = Some((Prompt::Command, Input::default())),
            Action::Filter => {
                self.prompt = Some((Prompt::Filter, Input::new(self.filter_text.clone())))
            }
            Action::Back => {
                if self.stack.len() > 1 {
                    self.stack.pop();
                    self.detail_scroll = 0;
                    self.show_yaml = false;
                } else if !self.filter_text.is_empty() {
                    self.set_filter(String::new());
                }
            }
            Action::NextView | Action::PrevView => {
                let tops = ViewKind::TOP;
                let base = self.stack[0].kind;
                let i = tops.iter().position(|v| *v == base).unwrap_or(0);
                let n = tops.len();
                let next = if action == Action::NextView {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.switch_top(tops[next]);
            }
            Action::ShowBackends => self.switch_top(ViewKind::Backends),
            Action::ShowTree => self.switch_top(ViewKind::Tree),
            Action::ShowPolicies => self.switch_top(ViewKind::Policies),
            Action::ShowFindings => self.switch_top(ViewKind::Findings),
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => match view {
                ViewKind::Backends => {
                    self.backends_nav.apply(action, self.visible.len(), page);
                }
                ViewKind::Policies => {
                    let n = self.policy_indices().len();
                    self.policies_nav
                        .apply(action, n, page.saturating_sub(8).max(3));
                }
                ViewKind::Findings => {
                    let n = self.finding_indices().len();
                    self.findings_nav
                        .apply(action, n, page.saturating_sub(6).max(3));
                }
                ViewKind::Help => {
                    self.help_nav
                        .apply(action, super::keymap::BINDINGS.len(), page);
                }
                ViewKind::Tree => self.tree.navigate(&self.posture, action, page),
                ViewKind::Detail | ViewKind::Probe => {
                    self.detail_scroll = match action {
                        Action::Up => self.detail_scroll.saturating_sub(1),
                        Action::Down => self.detail_scroll + 1,
                        Action::PageUp => self.detail_scroll.saturating_sub(page),
                        Action::PageDown => self.detail_scroll + page,
                        Action::Top => 0,
                        _ => usize::MAX / 2,
                    };
                }
            },
            Action::Collapse => self.tree.collapse(&self.posture),
            Action::Expand => self.tree.expand(&self.posture),
            Action::Open => self.open_selected(),
            Action::SortNext => {
                self.sort = self.sort.next();
                self.refilter();
                self.message = Some((format!("sorted by {}", self.sort.name()), false));
            }
            Action::SortReverse => {
                self.sort_reverse = !self.sort_reverse;
                self.refilter();
            }
            Action::JumpToTree => {
                if let Some(e) = self.selected_edge() {
                    let idx = self.posture.edges.iter().position(|x| std::ptr::eq(x, e));
                    if let Some(i) = idx {
                        self.tree.reveal_edge(&self.posture, i);
                        self.push(View::top(ViewKind::Tree));
                    }
                }
            }
            Action::ToggleYaml => {
                self.show_yaml = !self.show_yaml;
                self.detail_scroll = 0;
            }
            Action::Copy => {
                if let Some(r) = self.selected_reference() {
                    self.message = Some((format!("copied {r}"), false));
                    return vec![Effect::Copy(r)];
                }
            }
            Action::Probe => {
                let target = match &self.view().detail {
                    Some(DetailTarget::Edge { gateway, key }) => {
                        Some((gateway.clone(), key.clone()))
                    }
                    _ => self
                        .selected_edge()
                        .map(|e| (e.gateway.to_string(), e.key.to_string())),
                };
                if let Some(id) = target {
                    let effects = self.start_probes(std::slice::from_ref(&id));
                    self.push(View {
                        kind: ViewKind::Probe,
                        detail: Some(DetailTarget::Edge {
                            gateway: id.0,
                            key: id.1,
                        }),
                    });
                    return effects;
                }
            }
            Action::ProbeAll => {
                let ids: Vec<(String, String)> = self
                    .visible
                    .iter()
                    .map(|&r| &self.posture.edges[self.rows[r].edge])
                    .filter(|e| crate::probe::target::worth_probing(e))
                    .map(|e| (e.gateway.to_string(), e.key.to_string()))
                    .collect();
                self.message = Some((format!("probing {} edges…", ids.len()), false));
                return self.start_probes(&ids);
            }
        }
        vec![]
    }

    /// Forgets the current cluster's data (before another context is read).
    fn clear_source(&mut self) {
        self.posture = posture::evaluate(&Snapshot::default(), self.now, &self.options);
        self.posture_replaced();
        self.snapshot = Arc::new(Snapshot::default());
        self.probes.clear();
        self.probe_batch = 0;
        self.port_forward = None;
        self.link = None;
        self.source.description.clear();
        self.rebuild();
    }

    /// Replaces the engine options and recomputes the posture.
    pub fn set_options(&mut self, options: Options) {
        self.options = options;
        self.posture = posture::evaluate(&self.snapshot, self.now, &self.options);
        self.posture_replaced();
        self.attach_probes();
        self.rebuild();
    }

    /// Marks edges as being probed and returns the effect that runs the probes.
    fn start_probes(&mut self, ids: &[(String, String)]) -> Vec<Effect> {
        let mut requests = Vec::new();
        for id in ids {
            let Some(at) = self.edge_position(&id.0, &id.1) else {
                continue;
            };
            let e = &self.posture.edges[at];
            match crate::probe::target::for_edge(
                &self.snapshot,
                e,
                &self.probe_overrides,
                self.port_forward.as_deref(),
                std::time::Duration::from_secs(3),
            ) {
                Ok(p) => {
                    self.probes.insert(id.clone(), ProbeState::Running);
                    requests.push((id.clone(), p.request));
                }
                Err(why) => {
                    self.probes.insert(id.clone(), ProbeState::Unavailable(why));
                }
            }
        }
        if requests.is_empty() {
            return vec![];
        }
        self.probe_batch = self.probes_running();
        vec![Effect::Probe(requests)]
    }

    /// Re-attaches finished probe results to the current posture (edge indices change when the
    /// source changes).
    fn attach_probes(&mut self) {
        let mut by_index = std::collections::BTreeMap::new();
        let done: std::collections::HashMap<(&str, &str), &crate::probe::ProbeReport> = self
            .probes
            .iter()
            .filter_map(|((gw, key), p)| match p {
                ProbeState::Done(r) => Some(((gw.as_str(), key.as_str()), &**r)),
                _ => None,
            })
            .collect();
        for (i, e) in self
            .posture
            .edges
            .iter()
            .enumerate()
            .filter(|_| !done.is_empty())
        {
            if let Some(r) = done.get(&(&*e.gateway, &*e.key)) {
                by_index.insert(i, (*r).clone());
            }
        }
        self.posture.add_probes(by_index, self.now);
        self.posture_changed();
    }

    /// Attaches the finished probe of edge `id` to the current posture; returns the positions
    /// of the edges it describes.
    fn attach_probe(&mut self, id: &(String, String)) -> Vec<usize> {
        let Some(ProbeState::Done(report)) = self.probes.get(id) else {
            return vec![];
        };
        let at = self.edges_with_id(&id.0, &id.1);
        let by_index = at.iter().map(|&i| (i, (**report).clone())).collect();
        self.posture.add_probes(by_index, self.now);
        self.posture_changed();
        at
    }

    /// Probes still running.
    pub fn probes_running(&self) -> usize {
        self.probes
            .values()
            .filter(|p| matches!(p, ProbeState::Running))
            .count()
    }

    /// The reference `c` copies for the current selection.
    pub fn selected_reference(&self) -> Option<String> {
        match self.view().kind {
            ViewKind::Backends => self.selected_edge().map(|e| e.backend.to_string()),
            ViewKind::Policies => {
                let i = *self.policy_indices().get(self.policies_nav.selected)?;
                Some(format!(
                    "BackendTLSPolicy/{}",
                    self.posture.policies[i].policy
                ))
            }
            ViewKind::Findings => {
                let i = *self.finding_indices().get(self.findings_nav.selected)?;
                Some(self.posture.findings[i].object.to_string())
            }
            ViewKind::Tree => self.tree.selected_object(&self.posture),
            ViewKind::Detail => match &self.view().detail {
                Some(DetailTarget::Edge { gateway, key }) => self
                    .edge_position(gateway, key)
                    .map(|i| self.posture.edges[i].backend.to_string()),
                Some(DetailTarget::Object(o)) => Some(o.clone()),
                None => None,
            },
            ViewKind::Help | ViewKind::Probe => None,
        }
    }

    fn open_selected(&mut self) {
        let target = match self.view().kind {
            ViewKind::Backends => self.selected_edge().map(|e| DetailTarget::Edge {
                gateway: e.gateway.to_string(),
                key: e.key.to_string(),
            }),
            ViewKind::Policies => self
                .policy_indices()
                .get(self.policies_nav.selected)
                .map(|&i| {
                    DetailTarget::Object(format!(
                        "BackendTLSPolicy/{}",
                        self.posture.policies[i].policy
                    ))
                }),
            ViewKind::Findings => {
                self.finding_indices()
                    .get(self.findings_nav.selected)
                    .map(|&i| {
                        let f = &self.posture.findings[i];
                        match f.edge {
                            Some(e) => {
                                let e = &self.posture.edges[e];
                                DetailTarget::Edge {
                                    gateway: e.gateway.to_string(),
                                    key: e.key.to_string(),
                                }
                            }
                            None => DetailTarget::Object(f.object.to_string()),
                        }
                    })
            }
            ViewKind::Tree => match self.tree.selected_edge(&self.posture) {
                Some(i) => self.posture.edges.get(i).map(|e| DetailTarget::Edge {
                    gateway: e.gateway.to_string(),
                    key: e.key.to_string(),
                }),
                None => self
                    .tree
                    .selected_object(&self.posture)
                    .map(DetailTarget::Object),
            },
            ViewKind::Detail | ViewKind::Help | ViewKind::Probe => None,
        };
        if let Some(t) = target {
            self.show_yaml = false;
            self.push(View {
                kind: ViewKind::Detail,
                detail: Some(t),
            });
        }
    }

    /// Breadcrumbs for the header: `Backends › Detail`.
    pub fn breadcrumbs(&self) -> String {
        self.stack
            .iter()
            .map(|v| v.kind.title())
            .collect::<Vec<_>>()
            .join(" › ")
    }
}
