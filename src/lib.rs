//! lastmile: the TLS posture between Kubernetes gateways and their backends.
//!
//! Data flows one way: a [`source`] produces a [`snapshot::Snapshot`], the pure
//! [`posture::evaluate`] turns it into a [`posture::Posture`], and [`report`] renders it.

/// The parts (anything that is `AsRef<str>`), concatenated into a `String` of exactly their
/// length: `format!("{a}/{b}")` without the formatting machinery (see [`text`]).
macro_rules! cat {
    ($($part:expr),+ $(,)?) => {
        $crate::text::concat(&[$(AsRef::<str>::as_ref(&$part)),+])
    };
}

pub mod cli;
pub mod demo_servers;
pub mod logging;
pub mod memory;
pub mod model;
pub mod posture;
pub mod probe;
pub mod report;
pub mod sanitize;
pub mod snapshot;
pub mod source;
pub mod synth;
pub(crate) mod text;
pub mod tui;
