//! Where decoded objects go: a snapshot builder (files, demo), or a [`Decoded`] record the live
//! source keeps per object so that an unchanged object is never decoded twice.

use super::decode::add_value;
use crate::model::Origin;
use crate::snapshot::{Object, ObjectError, SnapshotBuilder};
use serde_json::Value;
use std::sync::Arc;

/// Where decoded objects go: a [`SnapshotBuilder`], or a [`Decoded`] kept by the live source.
pub trait Sink {
    /// A decoded object; `raw` is its compact JSON text (Secret values redacted).
    fn push(&mut self, object: Object, origin: Origin, raw: Option<Arc<str>>);
    fn error(&mut self, error: ObjectError);
    /// An object of a kind lastmile does not use.
    fn ignore(&mut self, kind: &str);
    /// Whether objects are kept as text too (for the YAML view); producing it costs time and
    /// memory that a report does not need.
    fn keeps_text(&self) -> bool;
}

impl Sink for SnapshotBuilder {
    fn push(&mut self, object: Object, origin: Origin, raw: Option<Arc<str>>) {
        SnapshotBuilder::push(self, object, origin, raw)
    }
    fn error(&mut self, error: ObjectError) {
        SnapshotBuilder::error(self, error)
    }
    fn ignore(&mut self, kind: &str) {
        SnapshotBuilder::ignore(self, kind)
    }
    fn keeps_text(&self) -> bool {
        SnapshotBuilder::keeps_text(self)
    }
}

/// What decoding one object produced, kept so that an unchanged object is not decoded again:
/// [`Decoded::replay`] adds it to a builder.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    items: Vec<Item>,
    /// Decoded without the objects' text.
    textless: bool,
}

/// Nearly every item is an object: boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Item {
    /// The object's key (`KIND/NS/NAME`), the object and its raw text.
    Object(String, Object, Option<Arc<str>>),
    Error(ObjectError),
    Ignored(String),
}

impl Sink for Decoded {
    /// The origin is the replaying builder's (one source, one origin).
    fn push(&mut self, object: Object, _origin: Origin, raw: Option<Arc<str>>) {
        self.items.push(Item::Object(object.key(), object, raw));
    }
    fn error(&mut self, error: ObjectError) {
        self.items.push(Item::Error(error));
    }
    fn ignore(&mut self, kind: &str) {
        self.items.push(Item::Ignored(kind.to_string()));
    }
    fn keeps_text(&self) -> bool {
        !self.textless
    }
}

impl Decoded {
    /// Decodes one object.
    pub fn new(value: Value, origin: Origin) -> Self {
        Self::decode(value, origin, false)
    }

    /// Decodes one object without keeping its text (for a report, which never shows it).
    pub fn without_text(value: Value, origin: Origin) -> Self {
        Self::decode(value, origin, true)
    }

    fn decode(value: Value, origin: Origin, textless: bool) -> Self {
        let mut d = Decoded {
            items: Vec::new(),
            textless,
        };
        add_value(&mut d, value, origin);
        d.items.shrink_to_fit();
        d
    }

    /// Adds the decoded objects to `builder`, consuming them.
    pub fn into_builder(self, builder: &mut SnapshotBuilder, origin: &Origin) {
        for item in self.items {
            match item {
                Item::Object(key, o, raw) => builder.push_keyed(key, o, origin.clone(), raw),
                Item::Error(e) => builder.error(e),
                Item::Ignored(kind) => builder.ignore(&kind),
            }
        }
    }

    /// The object, with its text, when decoding gave exactly one object and nothing else.
    pub fn only_object(&self) -> Option<(Object, Option<Arc<str>>)> {
        match self.items.as_slice() {
            [Item::Object(_, o, raw)] => Some((o.clone(), raw.clone())),
            _ => None,
        }
    }

    /// Adds the decoded objects to `builder` again (shared, not copied).
    pub fn replay(&self, builder: &mut SnapshotBuilder, origin: &Origin) {
        for item in &self.items {
            match item {
                Item::Object(key, o, raw) => {
                    builder.push_keyed(key.clone(), o.clone(), origin.clone(), raw.clone())
                }
                Item::Error(e) => builder.error(e.clone()),
                Item::Ignored(kind) => builder.ignore(kind),
            }
        }
    }
}
