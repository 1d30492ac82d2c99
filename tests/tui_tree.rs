//! The Tree view as a user drives it: opening and closing nodes, moving to the parent, paging
//! to the end of a large tree, jumping from a Backends row, and keeping the open nodes and the
//! selection when a new posture arrives.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lastmile::posture;
use lastmile::snapshot::{Snapshot, SnapshotBuilder, SourceInfo};
use lastmile::source::demo;
use lastmile::synth::{self, Size};
use lastmile::tui::app::{App, Evaluation, Msg, SourceLabel};
use lastmile::tui::theme::{Theme, ThemeName};
use lastmile::tui::ui::draw;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::Value;

const W: u16 = 140;
const H: u16 = 36;

fn now() -> jiff::Timestamp {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

fn app_of(snapshot: Snapshot) -> App {
    let label = SourceLabel {
        kind: "files".into(),
        description: "test".into(),
        live: false,
    };
    let mut app = App::new(snapshot, now(), label, Theme::new(ThemeName::Dark));
    app.update(Msg::Resize(W, H));
    app
}

fn snapshot_of(objects: &[Value]) -> Snapshot {
    let mut b = SnapshotBuilder::new();
    for o in objects {
        lastmile::source::decode::add_value(&mut b, o.clone(), Default::default());
    }
    b.build(SourceInfo::default())
}

fn key(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

/// The screen as lines of text.
fn screen(app: &App) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(W, H)).unwrap();
    t.draw(|f| draw(f, app)).unwrap();
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect())
        .collect()
}

/// The tree line holding `needle`, and whether it is the highlighted one.
fn line_with<'a>(lines: &'a [String], needle: &str) -> (&'a str, bool) {
    let l = lines
        .iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?}:\n{}", lines.join("\n")));
    (l, l.starts_with("│▶ "))
}

/// The demo evaluated again, arriving as the UI takes a new posture.
fn new_demo_posture(app: &mut App) {
    let snap = demo::snapshot();
    let p = posture::evaluate(&snap, now(), &Default::default());
    let query = app.row_query().borrow().clone();
    app.update(Msg::Evaluated(Box::new(Evaluation::new(snap, p, query))));
}

fn selected_line(lines: &[String]) -> Option<&str> {
    lines
        .iter()
        .find(|l| l.starts_with("│▶ "))
        .map(|l| l.as_str())
}

/// Width of the indentation before a tree line's open/closed symbol.
fn indent(line: &str) -> usize {
    line.chars().skip(3).take_while(|c| *c == ' ').count()
}

#[test]
fn nodes_open_and_close_and_left_moves_to_the_parent() {
    let mut app = app_of(demo::snapshot());
    key(&mut app, KeyCode::Char('2'));
    let s = screen(&app);
    assert!(selected_line(&s).is_none(), "nothing selected at first");
    // Class, gateway, client certificate, listener, then the first route.
    for _ in 0..5 {
        key(&mut app, KeyCode::Down);
    }
    let route = "HTTPRoute/observability/grafana";
    let s = screen(&app);
    let (l, sel) = line_with(&s, route);
    assert!(sel && l.contains("▶ ○ plaintext HTTPRoute"), "{l}");
    let rows = s.len();

    key(&mut app, KeyCode::Right);
    let s = screen(&app);
    let i = s.iter().position(|l| l.contains(route)).unwrap();
    assert!(s[i].starts_with("│▶ ") && s[i].contains("▼ ○ plaintext HTTPRoute"));
    assert!(
        indent(&s[i + 1]) > indent(&s[i]),
        "the route's rules show below it:\n{}",
        s.join("\n")
    );
    assert_eq!(s.len(), rows);
    // Down goes into the opened node.
    key(&mut app, KeyCode::Down);
    let s = screen(&app);
    assert!(s[i + 1].starts_with("│▶ "), "{}", s.join("\n"));
    key(&mut app, KeyCode::Up);

    key(&mut app, KeyCode::Left);
    let s = screen(&app);
    let (l, sel) = line_with(&s, route);
    assert!(
        sel && l.contains("▶ ○ plaintext HTTPRoute"),
        "closed again: {l}"
    );
    assert!(indent(&s[i + 1]) <= indent(&s[i]));

    key(&mut app, KeyCode::Left);
    let s = screen(&app);
    let (l, sel) = line_with(&s, "listener http (HTTP 8080)");
    assert!(sel, "Left on a closed node selects its parent: {l}");
    // Enter on a route opens its details; Esc comes back to the same place.
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.breadcrumbs(), "Tree › Detail");
    key(&mut app, KeyCode::Esc);
    let (_, sel) = line_with(&screen(&app), route);
    assert!(sel);
}

#[test]
fn open_nodes_and_the_selection_survive_a_new_posture() {
    let mut app = app_of(demo::snapshot());
    key(&mut app, KeyCode::Char('2'));
    for _ in 0..8 {
        key(&mut app, KeyCode::Down);
    }
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Right);
    let before = screen(&app);
    let object = app.tree.selected_object(&app.posture);
    assert!(selected_line(&before).is_some());

    new_demo_posture(&mut app);
    assert_eq!(screen(&app), before);
    app.update(Msg::Snapshot(Box::new(demo::snapshot())));
    assert_eq!(screen(&app), before);
    assert_eq!(app.tree.selected_object(&app.posture), object);
}

#[test]
fn a_large_tree_pages_to_the_end_reveals_edges_and_drops_a_vanished_selection() {
    let objects = synth::generate(Size::S, 1);
    let mut app = app_of(snapshot_of(&objects));
    key(&mut app, KeyCode::Char('2'));
    let first = screen(&app)[3].clone();

    // The last row is drawn selected at the bottom of the box.
    key(&mut app, KeyCode::End);
    let s = screen(&app);
    let last_row = s.len() - 3;
    assert!(s[last_row].starts_with("│▶ "), "{}", s.join("\n"));
    assert!(s[last_row + 1].starts_with("└"));
    // A page up (a page of the Backends list, shorter than the box) stays in the window.
    key(&mut app, KeyCode::PageUp);
    let s = screen(&app);
    assert!(s[4].starts_with("│▶ "), "{}", s.join("\n"));
    key(&mut app, KeyCode::Home);
    let s = screen(&app);
    let core = |l: &str| l.trim_matches(['│', ' ']).to_string();
    assert_eq!(
        core(&s[3]).strip_prefix("▶ "),
        Some(core(&first).as_str()),
        "{}",
        s.join("\n")
    );

    // `t` on the last Backends row opens its route and selects its backendRef.
    key(&mut app, KeyCode::Char('1'));
    key(&mut app, KeyCode::End);
    let edge = app.selected_edge().unwrap().clone();
    key(&mut app, KeyCode::Char('t'));
    assert_eq!(app.breadcrumbs(), "Backends › Tree");
    let i = app.tree.selected_edge(&app.posture).unwrap();
    assert_eq!(
        (&app.posture.edges[i].gateway, &app.posture.edges[i].key),
        (&edge.gateway, &edge.key)
    );
    let s = screen(&app);
    let l = selected_line(&s).unwrap_or_else(|| panic!("{}", s.join("\n")));
    assert!(l.contains("backendRef"), "{l}");

    // The selected route goes away: the selection moves to the first row.
    let mut route = String::new();
    for _ in 0..12 {
        if let Some(o) = app.tree.selected_object(&app.posture)
            && o.split('/').next().unwrap().ends_with("Route")
        {
            route = o;
            break;
        }
        key(&mut app, KeyCode::Left);
    }
    let mut parts = route.splitn(3, '/');
    let (kind, ns, name) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    assert!(kind.ends_with("Route"), "{route}");
    let fewer: Vec<Value> = objects
        .iter()
        .filter(|o| {
            !(o["kind"] == kind
                && o["metadata"]["namespace"] == ns
                && o["metadata"]["name"] == name)
        })
        .cloned()
        .collect();
    assert_eq!(fewer.len(), objects.len() - 1);
    app.update(Msg::Snapshot(Box::new(snapshot_of(&fewer))));
    let s = screen(&app);
    assert!(s[3].starts_with("│▶ "), "{}", s.join("\n"));
    assert!(!s.iter().any(|l| l.contains(&format!("{route} "))));
}

/// A live update that adds a route before the selected one shifts every later edge; the
/// Backends cursor stays on the edge the user was looking at, not on whatever edge now has its
/// old position.
#[test]
fn the_selected_backend_stays_selected_when_edges_shift() {
    let mut objects = synth::generate(Size::S, 1);
    let mut app = app_of(snapshot_of(&objects));
    for _ in 0..5 {
        key(&mut app, KeyCode::Down);
    }
    let before = app.selected_edge().expect("a row is selected").clone();
    let (kind, rest) = before.route.split_once('/').unwrap();
    let (ns, name) = rest.split_once('/').unwrap();
    let mut twin = objects
        .iter()
        .find(|o| {
            o["kind"] == kind && o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name
        })
        .expect("the selected edge's route")
        .clone();
    twin["metadata"]["name"] = format!("0-{name}").into();
    objects.push(twin);

    let snap = snapshot_of(&objects);
    let p = posture::evaluate(&snap, now(), &Default::default());
    let shifted = p.edges.iter().position(|e| e.key == before.key).unwrap();
    assert_ne!(
        p.edges[shifted].key, app.posture.edges[shifted].key,
        "the new route's edges come before the selected one"
    );
    app.update(Msg::Evaluated(Box::new(Evaluation::new(
        snap,
        p,
        app.row_query().borrow().clone(),
    ))));
    let after = app.selected_edge().expect("still a selection");
    assert_eq!((&after.gateway, &after.key), (&before.gateway, &before.key));
}

/// Below a backendRef the tree shows its backend, and under it the policy that decides the
/// edge with its status and its CA references. They are built when the node is opened (the
/// posture's tree stops at the backendRefs), stay open when a new posture arrives, and Enter
/// on a CA reference opens that object.
#[test]
fn an_opened_backend_ref_shows_its_backend_policy_and_ca_references() {
    let mut app = app_of(demo::snapshot());
    key(&mut app, KeyCode::Char('2'));
    let (i, e) = app
        .posture
        .edges
        .iter()
        .enumerate()
        .find(|(_, e)| e.policy.is_some() && !e.ca_ref_states.is_empty())
        .expect("an edge with a policy and CA references in the demo");
    let (policy, ca) = (
        e.policy.as_deref().unwrap().to_string(),
        e.ca_ref_states[0].reference.clone(),
    );
    let backend = e.backend.split(':').next().unwrap().to_string();
    app.tree.reveal_edge(&app.posture, i);
    let s = screen(&app);
    let (l, sel) = line_with(&s, &format!("-> {}", e.backend));
    assert!(sel && l.contains('▶'), "{l}");
    assert!(
        !s.iter()
            .any(|l| l.contains(&format!("BackendTLSPolicy {policy}")))
    );

    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Right);
    let s = screen(&app);
    let l = selected_line(&s).unwrap_or_else(|| panic!("{}", s.join("\n")));
    assert!(l.contains(&backend), "the backend is selected: {l}");
    assert!(!l.contains("backendRef"), "{l}");
    let backend_indent = indent(l);
    // The window follows the selection down to the policy and its CA reference.
    key(&mut app, KeyCode::Down);
    let s = screen(&app);
    let (p, sel) = line_with(&s, &format!("BackendTLSPolicy {policy}"));
    assert!(sel && p.contains("Accepted="), "{p}");
    assert!(
        indent(p) > backend_indent,
        "the policy is below the backend:\n{}",
        s.join("\n")
    );
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Down);
    let s = screen(&app);
    let (c, sel) = line_with(&s, &ca);
    assert!(sel && indent(c) > indent(p), "{}", s.join("\n"));

    // A new posture: the same rows, built again from it.
    new_demo_posture(&mut app);
    assert_eq!(screen(&app), s);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.breadcrumbs(), "Tree › Detail");
    let name = ca.rsplit('/').next().unwrap();
    let s = screen(&app);
    assert!(
        s.iter().any(|l| l.contains(name)),
        "the CA reference's details:\n{}",
        s.join("\n")
    );
}
