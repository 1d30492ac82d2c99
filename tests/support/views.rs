//! Drives an [`App`] through every view on ratatui's TestBackend and collects each screen: every
//! Backends row with its Detail and YAML, the fully expanded tree, each policy and each finding
//! with what they open, help, the prompts. Include with `#[path = "support/views.rs"] mod views;`.
#![allow(dead_code)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lastmile::snapshot::Snapshot;
use lastmile::tui::app::{App, Effect, Msg, SourceLabel};
use lastmile::tui::theme::{Theme, ThemeName};
use lastmile::tui::ui::draw;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

pub const W: u16 = 160;
pub const HGT: u16 = 40;

pub fn now() -> jiff::Timestamp {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

pub fn app_for(snapshot: Snapshot, kind: &str, description: &str) -> App {
    let label = SourceLabel {
        kind: kind.into(),
        description: description.into(),
        live: kind == "cluster",
    };
    let mut app = App::new(snapshot, now(), label, Theme::new(ThemeName::Dark));
    app.update(Msg::Resize(W, HGT));
    app
}

pub fn screen(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(W, HGT)).unwrap();
    t.draw(|f| draw(f, app)).unwrap();
    let buf = t.backend().buffer();
    let mut s = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

pub fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

pub fn ch(app: &mut App, c: char) -> Vec<Effect> {
    key(app, KeyCode::Char(c))
}

pub fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        ch(app, c);
    }
}

/// One rendered screen and where it was taken.
pub struct Shot {
    pub place: String,
    pub text: String,
}

struct Walker<'a> {
    app: &'a mut App,
    shots: Vec<Shot>,
}

impl Walker<'_> {
    fn shot(&mut self, place: &str) {
        let text = screen(self.app);
        self.shots.push(Shot {
            place: format!("{place} ({})", self.app.breadcrumbs()),
            text,
        });
    }

    /// The open Detail view, then its YAML, page by page.
    fn detail(&mut self, place: &str) {
        for _ in 0..6 {
            self.shot(place);
            key(self.app, KeyCode::PageDown);
        }
        ch(self.app, 'y');
        key(self.app, KeyCode::Home);
        for _ in 0..12 {
            self.shot(&format!("{place} YAML"));
            key(self.app, KeyCode::PageDown);
        }
        key(self.app, KeyCode::Esc);
    }

    fn select(&mut self, i: usize) {
        ch(self.app, 'g');
        for _ in 0..i {
            key(self.app, KeyCode::Down);
        }
    }
}

/// Every screen of every view (see the module doc). `hostile` is typed into the filter and
/// command prompts.
pub fn walk(app: &mut App, hostile: &str) -> Vec<Shot> {
    let mut w = Walker {
        app,
        shots: Vec::new(),
    };
    ch(w.app, '1');
    let rows = w.app.visible.len();
    assert!(rows >= 1, "no edges:\n{}", screen(w.app));
    for i in 0..rows {
        w.select(i);
        w.shot(&format!("backends row {i}"));
        key(w.app, KeyCode::Enter);
        w.detail(&format!("edge {i}"));
        // `t` jumps to the edge's place in the tree.
        ch(w.app, 't');
        w.shot(&format!("tree at edge {i}"));
        key(w.app, KeyCode::Esc);
    }
    ch(w.app, '2');
    for _ in 0..200 {
        w.shot("tree");
        key(w.app, KeyCode::Right);
        key(w.app, KeyCode::Down);
    }
    ch(w.app, '3');
    let n = w.app.policy_indices().len();
    for i in 0..n {
        w.select(i);
        w.shot(&format!("policy {i}"));
        key(w.app, KeyCode::Enter);
        w.detail(&format!("policy {i}"));
    }
    ch(w.app, '4');
    let n = w.app.finding_indices().len();
    assert!(n >= 1, "no findings");
    for i in 0..n {
        w.select(i);
        w.shot(&format!("finding {i}"));
        key(w.app, KeyCode::Enter);
        if w.app.breadcrumbs().ends_with("Detail") {
            w.detail(&format!("finding {i}"));
        }
    }
    ch(w.app, '?');
    w.shot("help");
    key(w.app, KeyCode::Esc);
    ch(w.app, '1');
    ch(w.app, '/');
    typed(w.app, hostile);
    w.shot("filter prompt");
    key(w.app, KeyCode::Esc);
    ch(w.app, ':');
    typed(w.app, &format!("ns x{hostile}"));
    w.shot("command prompt");
    key(w.app, KeyCode::Enter);
    w.shot("after :ns");
    ch(w.app, ':');
    typed(w.app, "ns all");
    key(w.app, KeyCode::Enter);
    ch(w.app, ':');
    typed(w.app, &format!("bogus{hostile}"));
    key(w.app, KeyCode::Enter);
    w.shot("command error");
    w.shots
}
