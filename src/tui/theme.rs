//! Colours and symbols. Every colour is paired with a symbol or a word, so the mono theme (and
//! `NO_COLOR`) loses no meaning.

use crate::posture::{Mode, Severity};
use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ThemeName {
    Dark,
    Mono,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub name: ThemeName,
}

impl Theme {
    pub fn new(name: ThemeName) -> Self {
        Theme { name }
    }

    /// `--theme`, overridden to mono when `NO_COLOR` is set (https://no-color.org).
    pub fn from_env(requested: ThemeName) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme::new(if no_color { ThemeName::Mono } else { requested })
    }

    fn fg(&self, c: Color) -> Style {
        match self.name {
            ThemeName::Dark => Style::new().fg(c),
            ThemeName::Mono => Style::new(),
        }
    }

    pub fn mode(&self, m: Mode) -> Style {
        let base = match m {
            Mode::TlsVerified => self.fg(Color::Green),
            Mode::TlsUnverified => self.fg(Color::Yellow),
            Mode::Plaintext => self.fg(Color::Gray),
            Mode::PlaintextToTlsPort | Mode::FailClosed | Mode::Unresolved => self.fg(Color::Red),
            Mode::FailOpenPlaintext => self.fg(Color::Magenta),
            Mode::Passthrough => self.fg(Color::Cyan),
            Mode::Unknown => self.fg(Color::DarkGray),
        };
        match m {
            Mode::FailOpenPlaintext | Mode::FailClosed | Mode::PlaintextToTlsPort => {
                base.add_modifier(Modifier::BOLD)
            }
            _ => base,
        }
    }

    pub fn severity(&self, s: Severity) -> Style {
        match s {
            Severity::Critical => self.fg(Color::Magenta).add_modifier(Modifier::BOLD),
            Severity::High => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Severity::Medium => self.fg(Color::Yellow),
            Severity::Low => self.fg(Color::Blue),
            Severity::Info => self.fg(Color::DarkGray),
        }
    }

    pub fn ok(&self, ok: bool) -> Style {
        if ok {
            self.fg(Color::Green)
        } else {
            self.fg(Color::Red).add_modifier(Modifier::BOLD)
        }
    }

    pub fn header(&self) -> Style {
        match self.name {
            ThemeName::Dark => Style::new().fg(Color::Black).bg(Color::Cyan),
            ThemeName::Mono => Style::new().add_modifier(Modifier::REVERSED),
        }
    }

    pub fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn dim(&self) -> Style {
        match self.name {
            ThemeName::Dark => Style::new().fg(Color::DarkGray),
            ThemeName::Mono => Style::new().add_modifier(Modifier::DIM),
        }
    }

    pub fn selected(&self) -> Style {
        match self.name {
            ThemeName::Dark => Style::new()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD),
            ThemeName::Mono => Style::new().add_modifier(Modifier::REVERSED),
        }
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
}

/// Symbol for a severity (paired with the word wherever space allows).
pub fn severity_symbol(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "‼",
        Severity::High => "✘",
        Severity::Medium => "▲",
        Severity::Low => "•",
        Severity::Info => "·",
    }
}
