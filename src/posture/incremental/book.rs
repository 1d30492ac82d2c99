//! What the incremental evaluation keeps between updates: where each route's edges are, what
//! they recorded about policies, and who reads what.

use crate::posture::conflicts::Conflicts;
use crate::posture::findings::{Finding, Rank};
use crate::posture::status::Recorder;
use crate::posture::{CaRefState, Edge};
use foldhash::HashMap;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The auxiliary edges (Envoy Gateway policies' own backends), after every route's edges.
pub(super) const AUX: usize = usize::MAX;

#[derive(Default)]
pub(super) struct Book {
    /// Where each route's edges end in `posture.edges`; the auxiliary edges follow the last.
    pub route_ends: Vec<usize>,
    /// What each route's edges recorded about policies.
    pub records: Vec<Recorder>,
    pub aux_record: Recorder,
    /// Where each finding of `posture.findings` was raised.
    pub ranks: Vec<Rank>,
    /// Policy (by `status::pid`) -> the routes whose record names it ([`AUX`] for auxiliary
    /// edges).
    pub policy_routes: HashMap<usize, BTreeSet<usize>>,
    /// `NS/NAME` of a backend object -> the routes with an edge to it.
    pub referencing: HashMap<Box<str>, BTreeSet<usize>>,
    /// Name of an Envoy Gateway Backend -> the routes with an edge to a Backend of that name
    /// (Envoy Gateway looks for a policy that covers a Backend by its name only).
    pub backend_names: HashMap<Box<str>, BTreeSet<usize>>,
    /// Gateway (`NS/NAME`) -> the routes with an edge through it.
    pub gateway_routes: HashMap<Arc<str>, BTreeSet<usize>>,
    /// The CA reference states the edges hold (one list per policy and semantics, shared), by
    /// address: how many edges hold each.
    pub ca_lists: HashMap<usize, (usize, Arc<[CaRefState]>)>,
    /// Policy (by `status::pid`) -> its position.
    pub policy_at: HashMap<usize, usize>,
    /// When the certificate findings were raised (second since the epoch), and the second from
    /// which they may say something else with the same CA bundles.
    pub certificates_at: i64,
    pub certificates_change_at: Option<i64>,
    /// Envoy Gateway's conflict pass, updated when a policy changes.
    pub conflicts: Conflicts,
    /// The findings vectors of the update before, kept so the next one writes into memory
    /// already mapped (a fresh 3 MiB vector per update spent more time in the kernel zeroing
    /// pages than in moving the findings).
    pub spare: (Vec<Finding>, Vec<Rank>),
}

/// `KIND/NS/NAME[:PORT]` -> (`KIND`, `NS/NAME`, `NAME`).
pub(super) fn backend_parts(backend: &str) -> (&str, &str, &str) {
    let object = crate::posture::backend_object(backend);
    let mut parts = object.rsplitn(3, '/');
    let name = parts.next().unwrap_or_default();
    let _ns = parts.next();
    let kind = parts.next().unwrap_or_default();
    let ns_name = object.get(kind.len() + 1..).unwrap_or_default();
    (kind, ns_name, name)
}

fn add<K: std::hash::Hash + Eq + std::borrow::Borrow<str> + for<'a> From<&'a str>>(
    map: &mut HashMap<K, BTreeSet<usize>>,
    key: &str,
    route: usize,
) {
    match map.get_mut(key) {
        Some(set) => {
            set.insert(route);
        }
        None => {
            map.insert(key.into(), BTreeSet::from([route]));
        }
    }
}

fn remove<K: std::hash::Hash + Eq + std::borrow::Borrow<str>>(
    map: &mut HashMap<K, BTreeSet<usize>>,
    key: &str,
    route: usize,
) {
    if let Some(set) = map.get_mut(key) {
        set.remove(&route);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

impl Book {
    /// Where the edges of `route` are among `edges` edges.
    pub fn range(&self, route: usize, edges: usize) -> std::ops::Range<usize> {
        let aux_start = self.route_ends.last().copied().unwrap_or(0);
        match route {
            AUX => aux_start..edges,
            0 => 0..self.route_ends[0],
            r => self.route_ends[r - 1]..self.route_ends[r],
        }
    }

    pub fn record_mut(&mut self, route: usize) -> &mut Recorder {
        match route {
            AUX => &mut self.aux_record,
            r => &mut self.records[r],
        }
    }

    pub fn record(&self, route: usize) -> &Recorder {
        match route {
            AUX => &self.aux_record,
            r => &self.records[r],
        }
    }

    /// Notes that `route` has the edge `e`.
    pub fn add_edge(&mut self, route: usize, e: &Edge) {
        let (kind, ns_name, name) = backend_parts(&e.backend);
        add(&mut self.referencing, ns_name, route);
        if kind == "Backend" {
            add(&mut self.backend_names, name, route);
        }
        match self.gateway_routes.get_mut(&*e.gateway) {
            Some(set) => {
                set.insert(route);
            }
            None => {
                self.gateway_routes
                    .insert(e.gateway.clone(), BTreeSet::from([route]));
            }
        }
        if !e.ca_ref_states.is_empty() {
            self.ca_lists
                .entry(e.ca_ref_states.as_ptr() as usize)
                .or_insert_with(|| (0, e.ca_ref_states.clone()))
                .0 += 1;
        }
    }

    /// Notes that `route` no longer has the edge `e` (called for every edge of the route before
    /// its new edges are added).
    pub fn remove_edge(&mut self, route: usize, e: &Edge) {
        let (kind, ns_name, name) = backend_parts(&e.backend);
        remove(&mut self.referencing, ns_name, route);
        if kind == "Backend" {
            remove(&mut self.backend_names, name, route);
        }
        remove(&mut self.gateway_routes, &e.gateway, route);
        let at = e.ca_ref_states.as_ptr() as usize;
        if !e.ca_ref_states.is_empty()
            && let Some(held) = self.ca_lists.get_mut(&at)
        {
            held.0 -= 1;
            if held.0 == 0 {
                self.ca_lists.remove(&at);
            }
        }
    }

    /// Routes with an edge to an object named `name` in namespace `ns`.
    pub fn routes_referencing(&self, ns: &str, name: &str) -> impl Iterator<Item = usize> + '_ {
        self.referencing
            .get(format!("{ns}/{name}").as_str())
            .into_iter()
            .flatten()
            .copied()
    }
}
