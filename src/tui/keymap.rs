//! Keybindings are data: one table drives dispatch, the help view and the footer hints.

use super::nav::ViewKind;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Help,
    Command,
    Filter,
    Back,
    NextView,
    PrevView,
    ShowBackends,
    ShowTree,
    ShowPolicies,
    ShowFindings,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Collapse,
    Expand,
    SortNext,
    SortReverse,
    JumpToTree,
    ToggleYaml,
    Copy,
    /// Probe the selected edge's backend.
    Probe,
    /// Probe every edge in view.
    ProbeAll,
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    View(ViewKind),
}

pub struct Binding {
    pub keys: &'static [(KeyCode, KeyModifiers)],
    pub label: &'static str,
    pub action: Action,
    pub scope: Scope,
    pub description: &'static str,
    /// Shown in the footer of matching views.
    pub hint: bool,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const SHIFT: KeyModifiers = KeyModifiers::SHIFT;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;

pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[(KeyCode::Char('q'), NONE), (KeyCode::Char('c'), CTRL)],
        label: "q",
        action: Action::Quit,
        scope: Scope::Global,
        description: "quit",
        hint: true,
    },
    Binding {
        keys: &[(KeyCode::Char('?'), NONE), (KeyCode::Char('?'), SHIFT)],
        label: "?",
        action: Action::Help,
        scope: Scope::Global,
        description: "help (this table)",
        hint: true,
    },
    Binding {
        keys: &[(KeyCode::Char(':'), NONE), (KeyCode::Char(':'), SHIFT)],
        label: ":",
        action: Action::Command,
        scope: Scope::Global,
        description: "command: backends, tree, policies, findings, ns NAME, ns all, q",
        hint: true,
    },
    Binding {
        keys: &[(KeyCode::Char('/'), NONE)],
        label: "/",
        action: Action::Filter,
        scope: Scope::Global,
        description: "filter rows: text or regex, ! inverts",
        hint: true,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        action: Action::Back,
        scope: Scope::Global,
        description: "back (clears the filter first)",
        hint: true,
    },
    Binding {
        keys: &[(KeyCode::Tab, NONE)],
        label: "Tab",
        action: Action::NextView,
        scope: Scope::Global,
        description: "next view",
        hint: false,
    },
    Binding {
        keys: &[(KeyCode::BackTab, SHIFT), (KeyCode::BackTab, NONE)],
        label: "S-Tab",
        action: Action::PrevView,
        scope: Scope::Global,
        description: "previous view",
        hint: false,
    },
    Binding {
        keys: &[(KeyCode::Char('1'), NONE)],
        label: "1",
        action: Action::ShowBackends,
        scope: Scope::Global,
        description: "backends view",
        hint: false,
    },
    Binding {
        keys: &[(KeyCode::Char('2'), NONE)],
        label: "2",
        action: Action::ShowTree,
        scope: Scope::Global,
        description: "attachment tree",
        hint: false,
    },
    Binding {
        keys: &[(KeyCode::Char('3'), NONE)],
        label: "3",
        action: Action::ShowPolicies,
        scope: Scope::Global,
        description: "policies view",
        hint: false,
    },
    Binding {
        keys: &[(KeyCode::Char('4'), NONE)],
        label: "4",
        action: Action::ShowFindings,
        scope: Scope::Global,
        description: "findings view",
        hint: false,
    },
    Binding {
        keys: &[(KeyCode::Char('k'), NONE), (KeyCode::Up, NONE)],
        label: "k/↑",
        action: Action::Up,
        scope: Scope::Global,
        description: "move up",
        hint: false,
    },
    Binding {
        keys: &[(KeyCode::Char('j'), NONE), (KeyCode::Down, NONE)],
        label: "j/↓",
        action: Action::Down,
        scope: Scope::Global,
        description: "move down",
        hint: false,
    },
    Binding {
        keys: &[(KeyCode::PageUp, NONE), (KeyCode::Char('b'), CTRL)],
        label: "PgUp",
        action: Action::PageUp,
        scope: Scope::Global,
        description: "page up",
        hint: false,
    },
    Binding {
        keys: &[(KeyCode::PageDown, NONE), (KeyCode::Char('f'), CTRL)],
        label: "PgDn",
        action: Action::PageDown,
        scope: Scope::Global,
        description: "page down",
        hint: false,
    },
    Binding {
        keys: &[(KeyCode::Char('g'), NONE), (KeyCode::Home, NONE)],
        label: "g",
        action: Action::Top,
        scope: Scope::Global,
        description: "first row",
        hint: false,
    },
    Binding {
        keys: &[
            (KeyCode::Char('G'), SHIFT),
            (KeyCode::Char('G'), NONE),
            (KeyCode::End, NONE),
        ],
        label: "G",
        action: Action::Bottom,
        scope: Scope::Global,
        description: "last row",
        hint: false,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        action: Action::Open,
        scope: Scope::Global,
        description: "open details (findings: jump to the subject)",
        hint: true,
    },
    Binding {
        keys: &[(KeyCode::Char('h'), NONE), (KeyCode::Left, NONE)],
        label: "h/←",
        action: Action::Collapse,
        scope: Scope::View(ViewKind::Tree),
        description: "collapse node",
        hint: true,
    },
    Binding {
        keys: &[
            (KeyCode::Char('l'), NONE),
            (KeyCode::Right, NONE),
            (KeyCode::Char(' '), NONE),
        ],
        label: "l/→",
        action: Action::Expand,
        scope: Scope::View(ViewKind::Tree),
        description: "expand node",
        hint: true,
    },
    Binding {
        keys: &[(KeyCode::Char('s'), NONE)],
        label: "s",
        action: Action::SortNext,
        scope: Scope::View(ViewKind::Backends),
        description: "sort by the next column",
        hint: true,
    },
    Binding {
        keys: &[(KeyCode::Char('S'), SHIFT), (KeyCode::Char('S'), NONE)],
        label: "S",
        action: Action::SortReverse,
        scope: Scope::View(ViewKind::Backends),
        description: "reverse the sort",
        hint: false,
    },
    Binding {
        keys: &[(KeyCode::Char('t'), NONE)],
        label: "t",
        action: Action::JumpToTree,
        scope: Scope::View(ViewKind::Backends),
        description: "show this edge in the tree",
        hint: true,
    },
    Binding {
        keys: &[(KeyCode::Char('y'), NONE)],
        label: "y",
        action: Action::ToggleYaml,
        scope: Scope::View(ViewKind::Detail),
        description: "toggle YAML of the object (secret data never shown)",
        hint: true,
    },
    Binding {
        keys: &[(KeyCode::Char('c'), NONE)],
        label: "c",
        action: Action::Copy,
        scope: Scope::Global,
        description: "copy the selected object's reference (OSC 52)",
        hint: true,
    },
    Binding {
        keys: &[(KeyCode::Char('p'), NONE)],
        label: "p",
        action: Action::Probe,
        scope: Scope::View(ViewKind::Backends),
        description: "probe the backend's TLS: handshake, chain, would the gateway accept it",
        hint: true,
    },
    Binding {
        keys: &[(KeyCode::Char('p'), NONE)],
        label: "p",
        action: Action::Probe,
        scope: Scope::View(ViewKind::Detail),
        description: "probe this edge's backend",
        hint: true,
    },
    Binding {
        keys: &[(KeyCode::Char('p'), NONE)],
        label: "p",
        action: Action::Probe,
        scope: Scope::View(ViewKind::Probe),
        description: "probe again",
        hint: true,
    },
    Binding {
        keys: &[(KeyCode::Char('P'), SHIFT), (KeyCode::Char('P'), NONE)],
        label: "P",
        action: Action::ProbeAll,
        scope: Scope::View(ViewKind::Backends),
        description: "probe every edge in view (32 at a time, 2 per backend)",
        hint: false,
    },
];

fn normalise(k: KeyEvent) -> (KeyCode, KeyModifiers) {
    // Terminals differ in whether they report SHIFT for upper-case characters.
    let mods = k.modifiers & (KeyModifiers::SHIFT | KeyModifiers::CONTROL | KeyModifiers::ALT);
    (k.code, mods)
}

/// The action bound to `key` in `view` (view-specific bindings win over global ones).
pub fn action_for(key: KeyEvent, view: ViewKind) -> Option<Action> {
    let k = normalise(key);
    let matches = |b: &&Binding| b.keys.contains(&k);
    BINDINGS
        .iter()
        .filter(matches)
        .find(|b| b.scope == Scope::View(view))
        .or_else(|| {
            BINDINGS
                .iter()
                .filter(matches)
                .find(|b| b.scope == Scope::Global)
        })
        .map(|b| b.action)
}

/// Footer hints for `view`.
pub fn hints(view: ViewKind) -> Vec<(&'static str, &'static str)> {
    BINDINGS
        .iter()
        .filter(|b| b.hint && (b.scope == Scope::Global || b.scope == Scope::View(view)))
        .map(|b| {
            (
                b.label,
                b.description
                    .split([':', '('])
                    .next()
                    .unwrap_or(b.description)
                    .trim(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_bindings_win_over_global_ones() {
        let key = KeyEvent::new(KeyCode::Char('y'), NONE);
        assert_eq!(action_for(key, ViewKind::Detail), Some(Action::ToggleYaml));
        assert_eq!(action_for(key, ViewKind::Backends), None);
        assert_eq!(
            action_for(KeyEvent::new(KeyCode::Char('c'), CTRL), ViewKind::Tree),
            Some(Action::Quit)
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_scope() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                if a.scope == b.scope {
                    for k in a.keys {
                        assert!(
                            !b.keys.contains(k),
                            "{:?} bound to {:?} and {:?}",
                            k,
                            a.action,
                            b.action
                        );
                    }
                }
            }
        }
    }
}
