//! Renders a [`Posture`](crate::posture::Posture) for `lastmile check`: text, JSON, SARIF, JUnit.

pub mod json;
pub mod junit;
pub mod probe_text;
pub mod sarif;
pub mod text;

use crate::posture::{Finding, Posture, Severity};

/// Output formats of `lastmile check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Junit,
}

/// Renders `posture` in `format`. `fail_on` decides which findings count as failures (JUnit).
pub fn render(posture: &Posture, format: Format, fail_on: Severity) -> String {
    match format {
        Format::Text => text::render(posture, fail_on),
        Format::Json => json::render(posture),
        Format::Sarif => sarif::render(posture),
        Format::Junit => junit::render(posture, fail_on),
    }
}

/// Writes the report to `w`; the text and JSON reports are written as they are produced.
pub fn write(
    posture: &Posture,
    format: Format,
    fail_on: Severity,
    w: &mut impl std::io::Write,
) -> std::io::Result<()> {
    match format {
        Format::Json => json::write(posture, &mut *w)?,
        Format::Text => {
            let mut out = IoText { w, error: None };
            if text::write(posture, fail_on, &mut out).is_err() {
                return Err(out
                    .error
                    .unwrap_or_else(|| std::io::Error::other("formatting the report failed")));
            }
        }
        other => w.write_all(render(posture, other, fail_on).as_bytes())?,
    }
    w.flush()
}

/// Sends text written with `fmt::Write` to an `io::Write`, keeping the I/O error.
struct IoText<'a, W: std::io::Write> {
    w: &'a mut W,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> std::fmt::Write for IoText<'_, W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.w.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            std::fmt::Error
        })
    }
}

/// Findings at or above `threshold`.
pub fn failing(posture: &Posture, threshold: Severity) -> impl Iterator<Item = &Finding> {
    posture
        .findings
        .iter()
        .filter(move |f| f.severity >= threshold)
}
