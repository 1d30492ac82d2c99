//! Reasons and port signs shared by the edges of a run of routes: each distinct text is
//! allocated once, and the next one is written into a reused buffer before it is looked up.

use super::super::heuristics::PortLook;
use crate::model::SanMatcher;
use crate::posture::CaRefState;
use std::sync::Arc;

/// Reason texts and port signs already made by a run of routes, and where the next ones are
/// written before they are looked up (a text or port look seen before costs no allocation).
#[derive(Default)]
pub(super) struct SharedTexts {
    texts: Shared<str>,
    /// Texts by what decides them (see [`SharedTexts::text_for`]).
    by_key: foldhash::HashMap<TextKey, Arc<str>>,
    /// Port looks by the address of what decides them (see [`SharedTexts::look_for`]).
    looks_by_key: foldhash::HashMap<usize, Arc<PortLook>>,
    looks: Shared<PortLook>,
    scratch: String,
    look: PortLook,
    no_look: Option<Arc<PortLook>>,
    empty: Empty,
}

/// Empty lists for the edges of one thread's runs, each allocated here. `Arc::default()` of a
/// slice is one static value for the whole process: every edge starts with three of them, so
/// both threads would increment (and decrement) the same reference counts, and that cache line
/// would go back and forth between the cores for every edge.
pub(super) struct Empty {
    pub ca_refs: Arc<[String]>,
    pub ca_ref_states: Arc<[CaRefState]>,
    pub sans: Arc<[SanMatcher]>,
}

impl Default for Empty {
    fn default() -> Self {
        Empty {
            ca_refs: Arc::from(Vec::new()),
            ca_ref_states: Arc::from(Vec::new()),
            sans: Arc::from(Vec::new()),
        }
    }
}

impl SharedTexts {
    /// `text`, shared with the edges that have it already (allocated only the first time).
    pub(super) fn text(&mut self, text: impl AsRef<str>) -> Arc<str> {
        self.texts.get_or_share(text.as_ref(), |t| Arc::from(t))
    }

    /// The text that `write` writes, shared as [`SharedTexts::text`] is.
    pub(super) fn text_with(&mut self, write: impl FnOnce(&mut String)) -> Arc<str> {
        self.scratch.clear();
        write(&mut self.scratch);
        self.texts.get_or_share(&self.scratch, |t| Arc::from(t))
    }

    /// The text that `write` writes, made once per `key`: most edges' reasons are one of a few
    /// texts decided by a few things they refer to (a shared port look, a policy's target). The
    /// key is looked up by those things' addresses, without writing or reading the text.
    /// `key` must decide everything `write` writes.
    pub(super) fn text_for(&mut self, key: TextKey, write: impl FnOnce(&mut String)) -> Arc<str> {
        if let Some(kept) = self.by_key.get(&key) {
            return kept.clone();
        }
        let text = self.text_with(write);
        self.by_key.insert(key, text.clone());
        text
    }

    /// The concatenation of `parts`, shared as [`SharedTexts::text`] is.
    pub(super) fn text_of(&mut self, parts: &[&str]) -> Arc<str> {
        self.text_with(|text| {
            for p in parts {
                text.push_str(p);
            }
        })
    }

    /// The port look that `fill` writes, shared with the edges that have the same.
    pub(super) fn look(&mut self, fill: impl FnOnce(&mut PortLook)) -> Arc<PortLook> {
        self.look.clear();
        fill(&mut self.look);
        self.looks
            .get_or_share(&self.look, |look| Arc::new(look.clone()))
    }

    /// The port look that `fill` writes, made once per `key`: the address of what decides it
    /// (a Service port of the snapshot, whose Service's annotations are the rest). Half the
    /// edges of a large cluster share their backend with an earlier one.
    pub(super) fn look_for(
        &mut self,
        key: usize,
        fill: impl FnOnce(&mut PortLook),
    ) -> Arc<PortLook> {
        if let Some(kept) = self.looks_by_key.get(&key) {
            return kept.clone();
        }
        let look = self.look(fill);
        self.looks_by_key.insert(key, look.clone());
        look
    }

    /// Forgets the texts kept (and the texts and port looks kept by what decides them) once
    /// there are many: called before each route. A thread's tables would otherwise grow with
    /// the cluster, half of it each, and be read from memory rather than from the caches on a
    /// large one; the texts a route shares are mostly those of its namespace's routes, which
    /// come together. At L this makes 630 more allocations of 259,000, with the same heap.
    pub(super) fn forget_if_many(&mut self) {
        const MANY: usize = 4_096;
        if self.by_key.len() + self.looks_by_key.len() + self.texts.0.len() > MANY {
            self.by_key.clear();
            self.looks_by_key.clear();
            self.texts.0.clear();
        }
    }

    /// Empty lists of this thread's own (see [`Empty`]).
    pub(super) fn empty(&self) -> &Empty {
        &self.empty
    }

    /// The look of an edge whose backend is not resolved yet (no signs), shared like the
    /// others; kept at hand because every edge starts with it.
    pub(super) fn no_look(&mut self) -> Arc<PortLook> {
        if let Some(kept) = &self.no_look {
            return kept.clone();
        }
        let kept = self.look(|_| {});
        self.no_look = Some(kept.clone());
        kept
    }
}

/// What decides a text of [`SharedTexts::text_for`]: which text it is, and the addresses or
/// numbers of what it is made from. Addresses are of values that live as long as the
/// [`SharedTexts`] (shared port looks it keeps, a snapshot's objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct TextKey {
    pub which: Reason,
    pub of: usize,
    pub and: usize,
}

/// The reasons made through [`SharedTexts::text_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Reason {
    /// Plaintext to a port that looks like TLS: decided by the port look.
    PlaintextToTlsPort,
    /// Plaintext: decided by the port look and whether the listener terminates TLS.
    Plaintext,
    /// Which target of which policy matched: decided by the policy and the target's position.
    PolicyTarget,
}

/// Keeps each distinct value once, shared by the edges that have it. Most edges give one of a
/// few reasons ("no BackendTLSPolicy and no Backend TLS: plaintext to the backend") and port
/// signs ("port name https, port 443"): at L, 41,500 reasons are 8,200 texts and 30,000 port
/// looks a few dozen; sharing them saves about 6 MiB.
struct Shared<T: ?Sized>(foldhash::HashSet<Arc<T>>);

impl<T: ?Sized> Default for Shared<T> {
    fn default() -> Self {
        Shared(Default::default())
    }
}

impl<T: ?Sized + std::hash::Hash + Eq> Shared<T> {
    /// The kept copy of `value`, or a new one made by `make` and kept.
    fn get_or_share(&mut self, value: &T, make: impl FnOnce(&T) -> Arc<T>) -> Arc<T> {
        if let Some(kept) = self.0.get(value) {
            return kept.clone();
        }
        let kept = make(value);
        self.0.insert(kept.clone());
        kept
    }
}
