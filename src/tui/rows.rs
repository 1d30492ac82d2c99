//! Display rows derived from a posture: built once per posture update, filtered and sorted on
//! demand, rendered a window at a time.

use crate::posture::{Edge, Mode, PolicyReport, Posture, Severity};
use crate::report::text::mode_rank;
use crate::sanitize::clean_owned;
use std::collections::HashMap;

/// One Backends row, with every cell already rendered to (sanitised) text.
#[derive(Debug, Clone)]
pub struct BackendRow {
    pub edge: usize,
    pub mode: Mode,
    pub mtls: bool,
    pub gateway: String,
    pub route: String,
    pub backend: String,
    pub policy: String,
    pub sni: String,
    pub status: String,
    /// `None`: no status to judge; `Some(true)`: all good; `Some(false)`: attention.
    pub status_ok: Option<bool>,
    pub severity: Option<Severity>,
    /// Probe outcome (`—` when not probed).
    pub probe: String,
    pub probe_ok: Option<bool>,
    /// Namespaces this row belongs to (route, backend, gateway), for `:ns`.
    pub namespaces: [String; 3],
    /// Lower-cased text for filtering.
    pub haystack: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Severity,
    Mode,
    Gateway,
    Route,
    Backend,
    Policy,
    Sni,
}

impl SortColumn {
    pub const ALL: [SortColumn; 7] = [
        SortColumn::Severity,
        SortColumn::Mode,
        SortColumn::Gateway,
        SortColumn::Route,
        SortColumn::Backend,
        SortColumn::Policy,
        SortColumn::Sni,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortColumn::Severity => "SEV",
            SortColumn::Mode => "MODE",
            SortColumn::Gateway => "GATEWAY",
            SortColumn::Route => "ROUTE",
            SortColumn::Backend => "BACKEND",
            SortColumn::Policy => "POLICY",
            SortColumn::Sni => "SNI",
        }
    }

    pub fn next(self) -> Self {
        let i = Self::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}

/// Compact probe outcome for the PROBE column.
fn probe_cell(r: Option<&crate::probe::ProbeReport>) -> (String, Option<bool>) {
    use crate::probe::Failure;
    let Some(r) = r else {
        return ("—".into(), None);
    };
    let text = match (&r.failure, &r.verdict) {
        (Some(Failure::NotTls { .. }), _) => "✘ not TLS".to_string(),
        (Some(Failure::MtlsRequired), _) => "✘ mTLS required".to_string(),
        (Some(Failure::Timeout { .. }), _) => "✘ timeout".to_string(),
        (Some(Failure::ConnectRefused { .. } | Failure::ConnectError { .. }), _) => {
            "✘ unreachable".to_string()
        }
        (Some(Failure::TlsAlert { alert, .. }), _) => format!("✘ alert {alert}"),
        (Some(_), _) => "✘ failed".to_string(),
        (None, Some(v)) if v.verdict == "trusted" => {
            format!("✔ {}", r.version.clone().unwrap_or_default())
        }
        (None, Some(v)) => format!("✘ {}", v.reason),
        (None, None) => format!("✔ {}", r.version.clone().unwrap_or_default()),
    };
    let ok = text.starts_with('✔');
    (text, Some(ok))
}

/// `HTTPRoute/ns/name` reads as `ns/name`; other kinds keep a short tag (`GRPC ns/name`).
fn short_route(route: &str) -> String {
    let (kind, rest) = route.split_once('/').unwrap_or(("", route));
    match kind {
        "HTTPRoute" => rest.to_string(),
        "GRPCRoute" => format!("GRPC {rest}"),
        "TLSRoute" => format!("TLS {rest}"),
        "TCPRoute" => format!("TCP {rest}"),
        _ => route.to_string(),
    }
}

fn ns_of(key: &str) -> String {
    // `KIND/NS/NAME[:PORT]` or `NS/NAME`.
    let mut parts = key.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(ns), Some(_), None) | (Some(ns), Some(_), None, None) => ns.to_string(),
        _ => String::new(),
    }
}

/// Compact status of the deciding policy's reported conditions for this edge's Gateway.
/// `reports`: the posture's policy reports by name (the first of each name).
fn status_cell(reports: &HashMap<&str, &PolicyReport>, e: &Edge) -> (String, Option<bool>) {
    let Some(pk) = &e.policy else {
        return ("—".into(), None);
    };
    let Some(report) = reports.get(&**pk) else {
        return ("?".into(), Some(false));
    };
    let gw_name = e.gateway.split('/').nth(1).unwrap_or("");
    let anc = report
        .ancestors
        .iter()
        .find(|a| *a.controller == *e.controller && a.ancestor_ref.name == gw_name && a.reported);
    let Some(a) = anc else {
        return (
            if report.ancestors.iter().any(|a| a.reported) {
                "no entry".into()
            } else {
                "no status".into()
            },
            Some(false),
        );
    };
    let cond = |t: &str| a.conditions.iter().find(|c| &*c.type_ == t);
    let mut s = String::new();
    let mut ok = true;
    for (t, short) in [("Accepted", "A"), ("ResolvedRefs", "R")] {
        if let Some(c) = cond(t) {
            let good = &*c.status == "True";
            ok &= good;
            s.push_str(&format!("{short}{} ", if good { "✔" } else { "✘" }));
            if !good && t == "Accepted" {
                s.push_str(&format!("{} ", c.reason));
            }
        }
    }
    if a.conditions.iter().any(|c| c.stale) {
        s.push_str("stale ");
        ok = false;
    }
    if !a.matches {
        s.push_str("≠computed");
        ok = false;
    }
    (s.trim_end().to_string(), Some(ok))
}

/// What a row needs besides its edge: the policy reports by name (the first of each name).
struct RowContext<'a> {
    posture: &'a Posture,
    reports: HashMap<&'a str, &'a PolicyReport>,
}

impl<'a> RowContext<'a> {
    fn new(p: &'a Posture) -> Self {
        let mut reports = HashMap::with_capacity(p.policies.len());
        for r in &p.policies {
            reports.entry(&*r.policy).or_insert(r);
        }
        RowContext {
            posture: p,
            reports,
        }
    }

    /// The row of edge `i`, whose worst finding is `severity`.
    fn row(&self, i: usize, severity: Option<Severity>) -> BackendRow {
        let e = &self.posture.edges[i];
        let (status, status_ok) = status_cell(&self.reports, e);
        let (probe, probe_ok) = probe_cell(self.posture.probes.get(&i));
        let gateway = match &e.listener {
            Some(l) => format!("{}/{l}", e.gateway),
            None => e.gateway.to_string(),
        };
        let short = short_route(&e.route);
        let route = match &e.via {
            Some(v) => format!("{short} ({v})"),
            None if e.rule > 0 || e.backend_ref > 0 => {
                format!("{short} r{}b{}", e.rule, e.backend_ref)
            }
            None => short,
        };
        let row = BackendRow {
            edge: i,
            mode: e.mode,
            mtls: e.mtls,
            gateway: clean_owned(&gateway),
            route: clean_owned(&route),
            backend: clean_owned(e.backend.strip_prefix("Service/").unwrap_or(&e.backend)),
            policy: clean_owned(e.policy.as_deref().unwrap_or("—")),
            sni: clean_owned(e.sni.as_deref().unwrap_or("—")),
            status,
            status_ok,
            severity,
            probe,
            probe_ok,
            namespaces: [ns_of(&e.route), ns_of(&e.backend), ns_of(&e.gateway)],
            haystack: String::new(),
        };
        let mut haystack = format!(
            "{} {} {} {} {} {} {} {} {}",
            e.mode,
            row.gateway,
            e.route,
            row.route,
            e.backend,
            row.policy,
            row.sni,
            row.status,
            row.severity.map(|s| s.as_str()).unwrap_or("")
        );
        if haystack.is_ascii() {
            haystack.make_ascii_lowercase();
        } else {
            haystack = haystack.to_lowercase();
        }
        BackendRow { haystack, ..row }
    }
}

pub fn backend_rows(p: &Posture) -> Vec<BackendRow> {
    let mut worst: Vec<Option<Severity>> = vec![None; p.edges.len()];
    for f in &p.findings {
        if let Some(i) = f.edge {
            worst[i] = worst[i].max(Some(f.severity));
        }
    }
    let ctx = RowContext::new(p);
    (0..p.edges.len()).map(|i| ctx.row(i, worst[i])).collect()
}

/// Builds again the rows of `edges` (edges of `p` that were probed: their PROBE cell, and their
/// severity, which probe findings can raise). Returns whether anything but the PROBE cells
/// changed, in which case the filter and order of the rows must be computed again.
pub fn refresh_probed_rows(
    rows: &mut [BackendRow],
    p: &Posture,
    edges: impl IntoIterator<Item = usize>,
) -> bool {
    if rows.len() != p.edges.len() {
        return false;
    }
    let mut worst: HashMap<usize, Option<Severity>> = edges
        .into_iter()
        .filter(|&i| i < rows.len())
        .map(|i| (i, None))
        .collect();
    if worst.is_empty() {
        return false;
    }
    for f in &p.findings {
        if let Some(w) = f.edge.and_then(|i| worst.get_mut(&i)) {
            *w = (*w).max(Some(f.severity));
        }
    }
    let ctx = RowContext::new(p);
    let mut reorder = false;
    for (&i, &severity) in &worst {
        let row = ctx.row(i, severity);
        let old = &rows[i];
        reorder |= old.severity != row.severity || old.haystack != row.haystack;
        rows[i] = row;
    }
    reorder
}

/// The scope, filter and order the Backends table is shown in: what the rows' visible order
/// depends on. The UI publishes it so that a new posture arrives already filtered and sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowQuery {
    pub namespace: Option<String>,
    /// The `/` filter as typed (compiled with [`Filter::new`]).
    pub filter: String,
    pub sort: SortColumn,
    pub reverse: bool,
}

impl Default for RowQuery {
    fn default() -> Self {
        RowQuery {
            namespace: None,
            filter: String::new(),
            sort: SortColumn::Severity,
            reverse: false,
        }
    }
}

/// The Backends rows of a posture, filtered and sorted for `query`, with their column widths.
#[derive(Debug, Clone)]
pub struct RowSet {
    pub query: RowQuery,
    pub rows: Vec<BackendRow>,
    /// Indices into `rows` of the rows shown, in order.
    pub visible: Vec<usize>,
    /// Content width of each column over the visible rows.
    pub widths: [usize; 9],
}

impl RowSet {
    pub fn new(p: &Posture, query: RowQuery) -> Self {
        let rows = backend_rows(p);
        let filter = Filter::new(&query.filter);
        let visible = visible_rows(
            &rows,
            query.namespace.as_deref(),
            filter.as_ref(),
            query.sort,
            query.reverse,
        );
        let widths = content_widths(visible.iter().map(|&i| &rows[i]));
        RowSet {
            query,
            rows,
            visible,
            widths,
        }
    }
}

/// Column headers of the Backends table, in order.
pub const COLUMNS: [&str; 9] = [
    "MODE", "SEV", "GATEWAY", "ROUTE", "BACKEND", "POLICY", "SNI", "STATUS", "PROBE",
];

impl BackendRow {
    /// Cell texts in [`COLUMNS`] order.
    /// Character counts of [`Self::cells`], without building them.
    pub fn cell_widths(&self) -> [usize; 9] {
        let w = |s: &str| s.chars().count();
        [
            // `mode_text`
            w(self.mode.symbol()) + 1 + w(self.mode.as_str()) + if self.mtls { 6 } else { 0 },
            match self.severity {
                Some(s) => w(crate::tui::theme::severity_symbol(s)) + 1 + w(s.as_str()),
                None => 1,
            },
            w(&self.gateway),
            w(&self.route),
            w(&self.backend),
            w(&self.policy),
            w(&self.sni),
            w(&self.status),
            w(&self.probe),
        ]
    }

    pub fn cells(&self) -> [String; 9] {
        [
            crate::tui::ui::mode_text(self.mode, self.mtls),
            match self.severity {
                Some(s) => format!("{} {s}", crate::tui::theme::severity_symbol(s)),
                None => "—".into(),
            },
            self.gateway.clone(),
            self.route.clone(),
            self.backend.clone(),
            self.policy.clone(),
            self.sni.clone(),
            self.status.clone(),
            self.probe.clone(),
        ]
    }
}

/// Widest content per column over `rows` (headers included), computed once per update so the
/// layout does not jump while scrolling.
pub fn content_widths<'a>(rows: impl Iterator<Item = &'a BackendRow>) -> [usize; 9] {
    let mut w = COLUMNS.map(|c| c.chars().count() + 1);
    for r in rows {
        for (i, c) in r.cell_widths().into_iter().enumerate() {
            w[i] = w[i].max(c);
        }
    }
    w
}

/// Minimum useful width per column; MODE is never truncated.
const MIN_WIDTHS: [usize; 9] = [23, 10, 12, 14, 14, 10, 10, 9, 10];
/// Width below which a column is better dropped than squeezed.
const COMFORT_WIDTHS: [usize; 9] = [23, 10, 16, 18, 20, 14, 16, 12, 14];
/// Columns dropped first when the terminal is narrow: SNI, GATEWAY, POLICY, STATUS, SEV.
const DROP_ORDER: [usize; 5] = [6, 2, 5, 7, 1];
/// The PROBE column only shows once something was probed.
/// Columns that give up width first when space is short.
const SHRINK_ORDER: [usize; 7] = [6, 7, 5, 2, 8, 3, 4];

/// Chooses the columns to show and their widths for `available` terminal columns: content
/// widths when they fit, otherwise shrink flexible columns to their minimum, then drop the
/// least important columns. Returns `(column index, width)` in display order.
pub fn fit_widths(content: [usize; 9], available: usize) -> Vec<(usize, usize)> {
    let mut shown: Vec<usize> = (0..9)
        .filter(|&c| c != 8 || content[8] > COLUMNS[8].len() + 1)
        .collect();
    let need = |shown: &[usize]| {
        shown
            .iter()
            .map(|&c| COMFORT_WIDTHS[c].min(content[c]))
            .sum::<usize>()
            + shown.len().saturating_sub(1)
    };
    for drop in DROP_ORDER {
        if need(&shown) <= available {
            break;
        }
        shown.retain(|&c| c != drop);
    }
    let mut w: Vec<usize> = shown.iter().map(|&c| content[c]).collect();
    let total = |w: &[usize]| w.iter().sum::<usize>() + w.len().saturating_sub(1);
    for c in SHRINK_ORDER {
        let Some(pos) = shown.iter().position(|&x| x == c) else {
            continue;
        };
        let over = total(&w).saturating_sub(available);
        if over == 0 {
            break;
        }
        let floor = MIN_WIDTHS[c].min(content[c]);
        w[pos] -= over.min(w[pos] - floor);
    }
    shown.into_iter().zip(w).collect()
}

/// A compiled `/` filter: regex (case-insensitive) or, if it does not compile, a substring;
/// a leading `!` inverts it.
#[derive(Debug, Clone)]
pub struct Filter {
    invert: bool,
    regex: Option<regex::Regex>,
    needle: String,
}

impl Filter {
    pub fn new(text: &str) -> Option<Self> {
        let (invert, body) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if body.is_empty() {
            return None;
        }
        let regex = regex::RegexBuilder::new(body)
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()
            .ok();
        Some(Filter {
            invert,
            regex,
            needle: body.to_lowercase(),
        })
    }

    pub fn matches(&self, haystack: &str) -> bool {
        let hit = match &self.regex {
            Some(r) => r.is_match(haystack),
            None => haystack.contains(&self.needle),
        };
        hit != self.invert
    }
}

/// Indices of rows that pass the namespace scope and filter, sorted.
pub fn visible_rows(
    rows: &[BackendRow],
    ns: Option<&str>,
    filter: Option<&Filter>,
    sort: SortColumn,
    reverse: bool,
) -> Vec<usize> {
    let mut v: Vec<usize> = (0..rows.len())
        .filter(|&i| ns.is_none_or(|ns| rows[i].namespaces.iter().any(|n| n == ns)))
        .filter(|&i| filter.is_none_or(|f| f.matches(&rows[i].haystack)))
        .collect();
    let key_sev = |r: &BackendRow| (std::cmp::Reverse(r.severity), mode_rank(r.mode));
    // The tie-break ends with the edge index, so the order is total and need not be stable.
    v.sort_unstable_by(|&a, &b| {
        let (ra, rb) = (&rows[a], &rows[b]);
        let primary = match sort {
            SortColumn::Severity => key_sev(ra).cmp(&key_sev(rb)),
            SortColumn::Mode => mode_rank(ra.mode).cmp(&mode_rank(rb.mode)),
            SortColumn::Gateway => ra.gateway.cmp(&rb.gateway),
            SortColumn::Route => ra.route.cmp(&rb.route),
            SortColumn::Backend => ra.backend.cmp(&rb.backend),
            SortColumn::Policy => ra.policy.cmp(&rb.policy),
            SortColumn::Sni => ra.sni.cmp(&rb.sni),
        };
        let primary = if reverse { primary.reverse() } else { primary };
        primary
            .then_with(|| (&ra.gateway, &ra.route, ra.edge).cmp(&(&rb.gateway, &rb.route, rb.edge)))
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_widths_count_the_cells() {
        let snap = crate::source::demo::snapshot();
        let now = "2026-11-22T12:00:00Z".parse().unwrap();
        let p = crate::posture::evaluate(&snap, now, &Default::default());
        let rows = backend_rows(&p);
        assert!(rows.iter().any(|r| r.severity.is_none()) && rows.iter().any(|r| r.mtls));
        for r in &rows {
            assert_eq!(r.cell_widths(), r.cells().map(|c| c.chars().count()));
        }
    }

    #[test]
    fn filter_supports_substring_regex_and_inversion() {
        let f = Filter::new("shop/c").unwrap();
        assert!(f.matches("httproute/shop/cart"));
        let r = Filter::new("cart|ledger").unwrap();
        assert!(r.matches("x ledger y"));
        let inv = Filter::new("!tls-verified").unwrap();
        assert!(!inv.matches("tls-verified a"));
        assert!(inv.matches("plaintext a"));
        let broken = Filter::new("a[").unwrap();
        assert!(
            broken.matches("xa[y"),
            "an invalid regex falls back to a substring"
        );
        assert!(Filter::new("!").is_none());
    }
}
