//! Every view of the terminal UI on ratatui's TestBackend, with the demo cluster and a fixed
//! clock: text snapshots (insta) plus cell-style assertions for colours and the mono theme.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lastmile::snapshot::{SnapshotBuilder, SourceInfo};
use lastmile::source::demo;
use lastmile::tui::app::{App, Effect, Evaluation, Msg, SourceLabel};
use lastmile::tui::rows::RowQuery;
use lastmile::tui::theme::{Theme, ThemeName};
use lastmile::tui::ui::draw;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

const W: u16 = 140;
const H: u16 = 36;

fn now() -> jiff::Timestamp {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

fn app_with(theme: ThemeName) -> App {
    let label = SourceLabel {
        kind: "demo".into(),
        description: "embedded demo cluster".into(),
        live: false,
    };
    let mut app = App::new(demo::snapshot(), now(), label, Theme::new(theme));
    app.update(Msg::Resize(W, H));
    app
}

fn app() -> App {
    app_with(ThemeName::Dark)
}

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn keys(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn render(app: &App) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(W, H)).unwrap();
    t.draw(|f| draw(f, app)).unwrap();
    t
}

fn text(buf: &Buffer) -> String {
    let mut s = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

/// Position of the first cell where `needle` starts.
fn find(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    for y in 0..buf.area.height {
        let mut line = String::new();
        let mut xs = Vec::new();
        for x in 0..buf.area.width {
            let sym = buf[(x, y)].symbol();
            for _ in sym.chars() {
                xs.push(x);
            }
            line.push_str(sym);
        }
        if let Some(i) = line.find(needle) {
            let ci = line[..i].chars().count();
            return Some((xs[ci], y));
        }
    }
    None
}

#[test]
fn backends_view() {
    let app = app();
    insta::assert_snapshot!("backends", render(&app).backend());
}

#[test]
fn tree_view() {
    let mut app = app();
    keys(&mut app, "2");
    insta::assert_snapshot!("tree", render(&app).backend());
}

#[test]
fn policies_view_shows_stale_and_mismatch_badges() {
    let mut app = app();
    keys(&mut app, "3");
    // Select the policy whose reported status disagrees with the computed result.
    let pos = app
        .policy_indices()
        .iter()
        .position(|&i| &*app.posture.policies[i].policy == "shop/inventory-tls")
        .unwrap();
    for _ in 0..pos {
        key(&mut app, KeyCode::Down);
    }
    let t = render(&app);
    let s = text(t.backend().buffer());
    assert!(s.contains("✘ reported ≠ computed"), "{s}");
    assert!(s.contains("≠ False/NoValidCACertificate"), "{s}");
    insta::assert_snapshot!("policies_mismatch", t.backend());
    // The stale one.
    let pos = app
        .policy_indices()
        .iter()
        .position(|&i| &*app.posture.policies[i].policy == "search/query-tls")
        .unwrap();
    key(&mut app, KeyCode::Char('g'));
    for _ in 0..pos {
        key(&mut app, KeyCode::Down);
    }
    let s = text(render(&app).backend().buffer());
    assert!(s.contains("2 STALE (gen 3)"), "{s}");
}

#[test]
fn findings_view() {
    let mut app = app();
    keys(&mut app, "4");
    insta::assert_snapshot!("findings", render(&app).backend());
}

#[test]
fn detail_view_explains_the_mode_and_shows_yaml_without_secrets() {
    let mut app = app();
    keys(&mut app, "/partner-api");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Enter);
    let t = render(&app);
    let s = text(t.backend().buffer());
    assert!(s.contains("Backends › Detail"), "{s}");
    assert!(s.contains("insecureSkipVerify"), "{s}");
    insta::assert_snapshot!("detail_edge", t.backend());
    keys(&mut app, "y");
    let s = text(render(&app).backend().buffer());
    assert!(s.contains("# Backend/ext/partner-api"), "{s}");
    assert!(s.contains("insecureSkipVerify: true"), "{s}");
    // Esc goes back to the list with the filter still applied.
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.breadcrumbs(), "Backends");
    assert_eq!(app.visible.len(), 1);

    // A Secret's YAML never shows its data.
    let mut b = SnapshotBuilder::new();
    lastmile::source::manifest::add_text(
        &mut b,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: a}\ndata: {tls.key: c2VjcmV0LWtleS1ieXRlcw==}\n",
        "x",
    );
    let snap = b.build(SourceInfo::default());
    let raw = snap.raw["Secret/a/s"].to_string();
    assert!(!raw.contains("c2VjcmV0"), "{raw}");
    assert!(raw.contains("redacted"));
}

#[test]
fn help_is_generated_from_the_keymap() {
    let mut app = app();
    keys(&mut app, "?");
    let t = render(&app);
    let s = text(t.backend().buffer());
    for b in lastmile::tui::keymap::BINDINGS {
        assert!(s.contains(b.description), "help lacks {:?}", b.description);
    }
    insta::assert_snapshot!("help", t.backend());
}

#[test]
fn empty_source_explains_itself() {
    let label = SourceLabel {
        kind: "files".into(),
        description: "broken.yaml".into(),
        live: false,
    };
    let mut b = SnapshotBuilder::new();
    lastmile::source::manifest::add_text(
        &mut b,
        "kind: Service\nmetadata:\n  name: x\n  bad: [\n",
        "broken.yaml",
    );
    let mut app = App::new(
        b.build(SourceInfo::default()),
        now(),
        label,
        Theme::new(ThemeName::Dark),
    );
    app.update(Msg::Resize(W, 20));
    let mut t = Terminal::new(TestBackend::new(W, 20)).unwrap();
    t.draw(|f| draw(f, &app)).unwrap();
    let s = text(t.backend().buffer());
    assert!(s.contains("Nothing to show yet"), "{s}");
    assert!(s.contains("broken.yaml"), "{s}");
    assert!(s.contains("lastmile --demo"), "{s}");
}

#[test]
fn severity_and_mode_colours_pair_with_symbols_and_mono_drops_colour() {
    let dark = render(&app());
    let buf = dark.backend().buffer();
    let (x, y) = find(buf, "‼ critical").unwrap();
    assert_eq!(buf[(x, y)].fg, Color::Magenta);
    assert!(buf[(x, y)].modifier.contains(Modifier::BOLD));
    let (x, y) = find(buf, "✘ high").unwrap();
    assert_eq!(buf[(x, y)].fg, Color::Red);
    let (x, y) = find(buf, "✔ tls-verified").unwrap();
    assert_eq!(buf[(x, y)].fg, Color::Green);
    let (x, y) = find(buf, "✘ plaintext-to-tls-port").unwrap();
    assert_eq!(buf[(x, y)].fg, Color::Red);

    let mono = render(&app_with(ThemeName::Mono));
    let mbuf = mono.backend().buffer();
    for y in 0..mbuf.area.height {
        for x in 0..mbuf.area.width {
            let c = &mbuf[(x, y)];
            assert!(
                c.fg == Color::Reset && c.bg == Color::Reset,
                "colour at ({x},{y}) in mono: {:?}",
                c
            );
        }
    }
    // Same words and symbols in both themes: meaning is never carried by colour alone.
    assert_eq!(text(buf), text(mbuf));
}

#[test]
fn navigation_filter_commands_and_copy() {
    let mut app = app();
    // Tab cycles views; number keys jump.
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.breadcrumbs(), "Tree");
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.breadcrumbs(), "Backends");
    // `!` inverts the filter; regex works.
    keys(&mut app, "/!tls-verified");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.visible.len(), 14);
    key(&mut app, KeyCode::Esc);
    assert_eq!(
        app.visible.len(),
        20,
        "Esc on the base view clears the filter"
    );
    keys(&mut app, "/cart|ledger");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.visible.len(), 2);
    key(&mut app, KeyCode::Esc);
    // :ns scopes every view.
    keys(&mut app, ":ns payments");
    key(&mut app, KeyCode::Enter);
    assert!(
        app.visible
            .iter()
            .all(|&r| app.rows[r].namespaces.contains(&"payments".to_string()))
    );
    assert_eq!(app.visible.len(), 4);
    keys(&mut app, ":ns all");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.visible.len(), 20);
    keys(&mut app, ":policies");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.breadcrumbs(), "Policies");
    keys(&mut app, ":nonsense");
    key(&mut app, KeyCode::Enter);
    assert!(app.message.as_ref().unwrap().0.contains("unknown command"));
    // `c` copies the selected reference through an effect (OSC 52 in the runtime).
    keys(&mut app, "1");
    assert_eq!(
        key(&mut app, KeyCode::Char('c')),
        vec![Effect::Copy("Service/legacy/billing:443".into())]
    );
    // `t` jumps from a row to its place in the tree.
    keys(&mut app, "t");
    assert_eq!(app.breadcrumbs(), "Backends › Tree");
    let t = render(&app);
    let s = text(t.backend().buffer());
    let line = s
        .lines()
        .find(|l| l.contains("▶ ") && l.contains("backendRef 0 -> Service/legacy/billing:443"))
        .unwrap_or_default();
    assert!(!line.is_empty(), "the edge is selected in the tree:\n{s}");
    assert_eq!(key(&mut app, KeyCode::Char('q')), vec![Effect::Quit]);
}

#[test]
fn sorting_and_paging() {
    let mut app = app();
    keys(&mut app, "s");
    assert_eq!(app.message.as_ref().unwrap().0, "sorted by MODE");
    keys(&mut app, "ss");
    assert_eq!(app.sort.name(), "ROUTE");
    let routes: Vec<String> = app
        .visible
        .iter()
        .map(|&i| app.rows[i].route.clone())
        .collect();
    let mut sorted = routes.clone();
    sorted.sort();
    assert_eq!(routes, sorted);
    let last = sorted.last().unwrap().to_string();
    keys(&mut app, "S");
    assert_eq!(app.rows[app.visible[0]].route, last);
    keys(&mut app, "G");
    assert_eq!(app.backends_nav.selected, 19);
    keys(&mut app, "g");
    assert_eq!(app.backends_nav.selected, 0);
    key(&mut app, KeyCode::PageDown);
    assert_eq!(app.backends_nav.selected, 19.min(app.page()));
}

/// Sources that evaluate off the UI task filter and sort the rows for the query the UI
/// published; rows ordered for a query the user has since changed are ordered again.
#[test]
fn rows_evaluated_off_the_ui_follow_the_query_in_force() {
    let mut app = app();
    let mut query = app.row_query();
    keys(&mut app, "s");
    assert!(query.has_changed().unwrap(), "sorting publishes the query");
    assert_eq!(query.borrow().sort.name(), "MODE");
    let published = query.borrow_and_update().clone();
    let shown = (app.visible.clone(), app.widths);
    let evaluated = |q: RowQuery| {
        let p = lastmile::posture::evaluate(&demo::snapshot(), now(), &Default::default());
        Msg::Evaluated(Box::new(Evaluation::new(demo::snapshot(), p, q)))
    };
    app.update(evaluated(published.clone()));
    assert_eq!((app.visible.clone(), app.widths), shown);
    // Evaluated while a filter was in force that the user has since cleared.
    let stale = RowQuery {
        filter: "storefront".into(),
        ..published
    };
    let narrowed = shown_by(&stale);
    assert!(narrowed < shown.0.len());
    app.update(evaluated(stale));
    assert_eq!((app.visible.clone(), app.widths), shown);
    // Filtering and scoping publish too.
    keys(&mut app, "/cart");
    key(&mut app, KeyCode::Enter);
    assert_eq!(query.borrow().filter, "cart");
    assert_eq!(app.visible.len(), 1);
}

/// How many rows of the demo a query shows.
fn shown_by(q: &RowQuery) -> usize {
    let p = lastmile::posture::evaluate(&demo::snapshot(), now(), &Default::default());
    lastmile::tui::rows::RowSet::new(&p, q.clone())
        .visible
        .len()
}

#[test]
fn a_new_snapshot_keeps_the_selection() {
    let mut app = app();
    for _ in 0..5 {
        key(&mut app, KeyCode::Down);
    }
    let before = app.selected_edge().unwrap().key.clone();
    app.update(Msg::Snapshot(Box::new(demo::snapshot())));
    assert_eq!(app.selected_edge().unwrap().key, before);
    assert_eq!(app.backends_nav.selected, 5);
}

#[test]
fn small_terminal_still_shows_modes() {
    let app = app();
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| draw(f, &app)).unwrap();
    let s = text(t.backend().buffer());
    assert!(s.contains("‼ fail-open-plaintext"), "{s}");
    assert!(s.contains("✘ plaintext-to-tls-port"), "{s}");
    insta::assert_snapshot!("backends_80x24", t.backend());
}

/// The findings and policies in scope are kept between frames: they follow the filter, the
/// namespace and every new posture (a list kept from the posture before would point past the
/// new one's findings).
#[test]
fn findings_and_policies_in_scope_follow_filter_namespace_and_posture() {
    let mut app = app();
    keys(&mut app, ":findings");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.breadcrumbs(), "Findings");
    let all = app.posture.findings.len();
    assert!(all > 3);
    assert_eq!(app.finding_indices().len(), all);
    assert_eq!(app.policy_indices().len(), app.posture.policies.len());
    keys(&mut app, "/plaintext");
    key(&mut app, KeyCode::Enter);
    let plaintext = app
        .posture
        .findings
        .iter()
        .filter(|f| {
            format!("{} {} {} {}", f.severity, f.id, f.subject, f.message)
                .to_lowercase()
                .contains("plaintext")
        })
        .count();
    assert!(plaintext > 0 && plaintext < all);
    assert_eq!(app.finding_indices().len(), plaintext);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.finding_indices().len(), all);
    keys(&mut app, ":ns payments");
    key(&mut app, KeyCode::Enter);
    let in_payments = app.finding_indices().len();
    assert!(
        in_payments > 0 && in_payments < all,
        "{in_payments} of {all}"
    );
    keys(&mut app, ":ns all");
    key(&mut app, KeyCode::Enter);
    // A new posture with nothing in it: no finding, no policy in scope.
    app.update(Msg::Snapshot(Box::new(
        SnapshotBuilder::new().build(SourceInfo::default()),
    )));
    assert_eq!(app.finding_indices().len(), app.posture.findings.len());
    assert!(app.policy_indices().is_empty());
    let t = render(&app);
    assert!(text(t.backend().buffer()).contains("Findings"));
}
