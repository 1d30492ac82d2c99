//! Incremental evaluation: when one route or one BackendTLSPolicy changes, only what depends
//! on it is evaluated again: the edges of the routes that read it, the reports of the policies
//! those edges (and the change) concern, their findings and the Gateways' branches of the tree.
//! The result is the posture a full evaluation of the new snapshot gives (tests compare them);
//! any other change needs a new snapshot and [`Incremental::new`].

mod book;
mod finding_list;

use super::conflicts::Conflicts;
use super::context::{Context, PolicyCasCache};
use super::findings::{Collector, Group};
use super::status::{self, EdgesByBackend, Recorder, ReportInputs, pid};
use super::{Options, Parts, PolicyRole, Posture, cluster, edge_eval, tree};
use crate::model::Origin;
use crate::snapshot::{Object, Replaced, Snapshot};
use book::{AUX, Book, backend_parts};
use finding_list::FindingList;
use foldhash::HashSet;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A snapshot, its posture, and what the evaluation learnt about who reads what.
pub struct Incremental {
    snapshot: Snapshot,
    options: Options,
    posture: Posture,
    book: Book,
    /// The policies' CA references as resolved: they change only with the policy.
    cas: PolicyCasCache,
}

/// An update that would evaluate again more than this share of the routes (one in eight)
/// evaluates the whole snapshot instead: a policy on a Service that thousands of routes use
/// cost several full evaluations through the routes one by one.
const EVALUATE_ALL_SHARE: usize = 8;

/// Below this many routes an update evaluates again what it touches, however many.
const EVALUATE_ALL_ROUTES_AT_LEAST: usize = 256;

/// More changes than this at once are put in place together and the whole snapshot is
/// evaluated once (see [`Incremental::replace_all`]).
pub const EVALUATE_ALL_CHANGES: usize = 32;

/// What an update evaluated again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Routes whose edges were evaluated again (the auxiliary edges count as one).
    pub routes: usize,
    /// Policies whose reports were computed again.
    pub policies: usize,
    /// The whole snapshot was evaluated again (it cost less than the routes one by one).
    pub in_full: bool,
}

/// One route's edges replaced by an update.
struct Splice {
    /// Where they were, before the update.
    old_start: usize,
    old_len: usize,
    /// Where they are now.
    new_start: usize,
    new_len: usize,
}

/// The routes' edges an update replaced, in the edges' order. Looked up for every finding and
/// tree index of the posture: by position (binary search), not by going through them all (an
/// update of a policy under a thousand routes has a thousand).
#[derive(Default)]
struct Splices {
    list: Vec<Splice>,
    /// How many edges the splices before each one added (or, negative, removed).
    before: Vec<isize>,
    /// How many edges all of them added.
    shift: isize,
}

impl Splices {
    /// The route's edges now at `new_start..new_start + new_len` replaced `old_len` edges there
    /// (`new_start` counted after the splices recorded before, which come before it).
    fn push(&mut self, new_start: usize, old_len: usize, new_len: usize) {
        self.before.push(self.shift);
        self.list.push(Splice {
            old_start: new_start.wrapping_add_signed(-self.shift),
            old_len,
            new_start,
            new_len,
        });
        self.shift += new_len as isize - old_len as isize;
    }

    /// How many splices start at or before the edge that was at `i`.
    fn starting_by(&self, i: usize) -> usize {
        self.list.partition_point(|s| s.old_start <= i)
    }

    /// Where the edge that was at `i` is now (`None` when it was replaced by none).
    fn now_at(&self, i: usize) -> Option<usize> {
        let k = self.starting_by(i);
        if let Some(s) = k.checked_sub(1).map(|last| &self.list[last])
            && i < s.old_start + s.old_len
        {
            let offset = i - s.old_start;
            return (offset < s.new_len).then_some(s.new_start + offset);
        }
        let delta = self.before.get(k).copied().unwrap_or(self.shift);
        Some(i.wrapping_add_signed(delta))
    }

    /// Whether the edge that was at `i` was replaced.
    fn inside(&self, i: usize) -> bool {
        let k = self.starting_by(i);
        k.checked_sub(1)
            .is_some_and(|last| i < self.list[last].old_start + self.list[last].old_len)
    }

    /// Whether any edge after a replaced route moved.
    fn shifted(&self) -> bool {
        self.list.iter().any(|s| s.new_len != s.old_len)
    }
}

fn is_loose(role: PolicyRole) -> bool {
    matches!(role, PolicyRole::Unattached | PolicyRole::Conflicted)
}

impl Incremental {
    /// Evaluates `snapshot` in full (as [`super::evaluate`] does) and keeps what an update needs.
    pub fn new(snapshot: Snapshot, now: jiff::Timestamp, options: Options) -> Self {
        let threads = super::cores();
        let cas = PolicyCasCache::new(&snapshot);
        let ctx = Context::with_cas(&snapshot, &options, &cas);
        // Kept from the start: an update passes again only the policies it links to.
        // The conflict pass and the policies' own backends beside the routes, as a full
        // evaluation does them.
        let aux_bound = edge_eval::aux_edge_bound(&ctx);
        let (mut edges, route_ends, records, (conflicts, aux, aux_record)) =
            edge_eval::route_edges_per_route(&ctx, threads, aux_bound, || {
                let mut aux_record = Recorder::default();
                let aux = edge_eval::aux_edges(&ctx, &mut aux_record);
                (Conflicts::new(&snapshot), aux, aux_record)
            });
        edges.extend(aux);
        edge_eval::mark_failed_rules(&mut edges);
        cluster::mark_unreadable(&snapshot, &mut edges);
        let mut recorder = Recorder::default();
        for r in records.iter().chain([&aux_record]) {
            recorder.merge(r.clone());
        }
        let (policies, raised, tree) = super::reports_findings_and_tree(
            &ctx,
            &edges,
            recorder,
            &conflicts,
            now,
            threads,
            Parts::All,
        );
        let mut book = Book {
            route_ends,
            records,
            aux_record,
            ranks: raised.ranks,
            certificates_at: now.as_second(),
            certificates_change_at: raised.certificates_change_at,
            conflicts,
            ..Book::default()
        };
        for route in (0..book.records.len()).chain([AUX]) {
            for e in &edges[book.range(route, edges.len())] {
                book.add_edge(route, e);
            }
            for p in book.record(route).policies().collect::<Vec<_>>() {
                book.policy_routes.entry(p).or_default().insert(route);
            }
        }
        for (i, p) in snapshot.policies.iter().enumerate() {
            book.policy_at.insert(pid(p), i);
        }
        drop(ctx);
        let posture = Posture::of(&snapshot, now, edges, policies, raised.findings, tree);
        Incremental {
            snapshot,
            options,
            posture,
            book,
            cas,
        }
    }

    pub fn posture(&self) -> &Posture {
        &self.posture
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Puts a new version of a route or policy in place of the old one and evaluates again
    /// what depends on either, at `now`. Gives the object back, with nothing changed, when the
    /// snapshot cannot take it in place (see [`Snapshot::replace`]): build a new snapshot.
    pub fn replace(
        &mut self,
        object: Object,
        origin: Origin,
        raw: Option<Arc<str>>,
        now: jiff::Timestamp,
    ) -> Result<Applied, Object> {
        let replaced = self.snapshot.replace(object, origin, raw)?;
        let mut routes = BTreeSet::new();
        let mut policies = BTreeSet::new();
        match &replaced {
            Replaced::Route { position, .. } => {
                routes.insert(*position);
            }
            Replaced::Policy { position, old } => {
                let new = &self.snapshot.policies[*position];
                let book = &mut self.book;
                // Policies whose conflict outcome may change (linked to this one through
                // shared target names, however far) are reported again.
                policies.extend(book.conflicts.update(&self.snapshot, old, *position));
                self.cas.remove(pid(old));
                self.cas.insert(new);
                book.policy_at.remove(&pid(old));
                book.policy_at.insert(pid(new), *position);
                policies.insert(*position);
                routes.extend(book.policy_routes.remove(&pid(old)).into_iter().flatten());
                let ns = new.meta.namespace.as_str();
                for t in old.targets.iter().chain(&new.targets) {
                    routes.extend(book.routes_referencing(ns, &t.name));
                    if t.kind == "Backend" {
                        routes.extend(
                            book.backend_names
                                .get(t.name.as_str())
                                .into_iter()
                                .flatten(),
                        );
                    }
                    policies.extend(self.snapshot.policy_positions_named(ns, &t.name));
                }
            }
        }
        if !self.snapshot.aux_owners.is_empty() {
            routes.insert(AUX);
        }
        let all = self.snapshot.routes.len();
        let applied = if routes.len() > (all / EVALUATE_ALL_SHARE).max(EVALUATE_ALL_ROUTES_AT_LEAST)
        {
            self.evaluate_all(now)
        } else {
            self.evaluate_again(routes, policies, now)
        };
        // The old object lives until here, so no new policy took its address (its id) while
        // records of it were still kept.
        drop(replaced);
        Ok(applied)
    }

    /// Puts `changes` in place one after the other and evaluates again what each touches, as
    /// [`Incremental::replace`] does; more than [`EVALUATE_ALL_CHANGES`] of them (a burst, such
    /// as a GitOps sync or a controller writing every status after a restart) are all put in
    /// place first and the whole snapshot is evaluated once, which then costs less. When one
    /// of them cannot be put in place, it is given back and nothing changes.
    pub fn replace_all(
        &mut self,
        mut changes: Vec<(Object, Origin, Option<Arc<str>>)>,
        now: jiff::Timestamp,
    ) -> Result<Applied, Object> {
        // A change's place does not depend on the others (each keeps its object's key).
        if let Some(i) = changes
            .iter()
            .position(|(object, ..)| !self.snapshot.can_replace(object))
        {
            return Err(changes.swap_remove(i).0);
        }
        if changes.len() <= EVALUATE_ALL_CHANGES {
            let mut applied = Applied {
                routes: 0,
                policies: 0,
                in_full: false,
            };
            for (object, origin, raw) in changes {
                let one = self.replace(object, origin, raw, now)?;
                applied.routes += one.routes;
                applied.policies += one.policies;
                applied.in_full |= one.in_full;
            }
            return Ok(applied);
        }
        // The old objects live until the evaluation is done (see `replace`).
        let mut replaced = Vec::with_capacity(changes.len());
        for (object, origin, raw) in changes {
            let old = self.snapshot.replace(object, origin, raw);
            replaced.push(old.map_err(|_| ()).expect("each change was checked to fit"));
        }
        let applied = self.evaluate_all(now);
        drop(replaced);
        Ok(applied)
    }

    /// Evaluates the whole snapshot again, as [`Incremental::new`] does, what was kept from the
    /// evaluation before freed first (both at once would double the peak).
    fn evaluate_all(&mut self, now: jiff::Timestamp) -> Applied {
        let posture = &mut self.posture;
        (
            posture.edges,
            posture.policies,
            posture.findings,
            posture.tree,
        ) = Default::default();
        self.book = Book::default();
        self.cas = PolicyCasCache::default();
        let snapshot = std::mem::take(&mut self.snapshot);
        let options = self.options.clone();
        *self = Incremental::new(snapshot, now, options);
        Applied {
            routes: self.snapshot.routes.len() + usize::from(!self.snapshot.aux_owners.is_empty()),
            policies: self.snapshot.policies.len(),
            in_full: true,
        }
    }

    /// Evaluates the edges of `routes` again, then the reports of `policies` and of every
    /// policy those edges name (before or after), their findings and the Gateways' branches.
    fn evaluate_again(
        &mut self,
        routes: BTreeSet<usize>,
        mut policies: BTreeSet<usize>,
        now: jiff::Timestamp,
    ) -> Applied {
        let Incremental {
            snapshot,
            options,
            posture,
            book,
            cas,
        } = self;
        let snapshot = &*snapshot;
        let ctx = Context::with_cas(snapshot, options, cas);
        // Whether the CA bundles that certificate findings come from may have changed.
        let mut lists_changed = false;
        // Routes whose tree nodes are built again (by key), and the Gateways they are under.
        let mut fresh: HashSet<Arc<str>> = HashSet::default();
        let mut gateways: HashSet<Arc<str>> = HashSet::default();
        let mut splices = Splices::default();
        let targeting = |backend: &str, policies: &mut BTreeSet<usize>| {
            let (_, ns_name, _) = backend_parts(backend);
            if let Some((ns, name)) = ns_name.split_once('/') {
                policies.extend(snapshot.policy_positions_named(ns, name));
            }
        };
        for &route in &routes {
            let range = book.range(route, posture.edges.len());
            for e in &posture.edges[range.clone()] {
                gateways.insert(e.gateway.clone());
                fresh.insert(e.route.clone());
                book.remove_edge(route, e);
                targeting(&e.backend, &mut policies);
            }
            let old = std::mem::take(book.record_mut(route));
            for p in old.policies() {
                if let Some(set) = book.policy_routes.get_mut(&p) {
                    set.remove(&route);
                    if set.is_empty() {
                        book.policy_routes.remove(&p);
                    }
                }
                policies.extend(book.policy_at.get(&p));
            }
            let mut record = Recorder::default();
            let mut edges = if route == AUX {
                edge_eval::aux_edges(&ctx, &mut record)
            } else {
                edge_eval::one_route(&ctx, route, &mut record)
            };
            edge_eval::mark_failed_rules(&mut edges);
            cluster::mark_unreadable(snapshot, &mut edges);
            for e in &edges {
                gateways.insert(e.gateway.clone());
                fresh.insert(e.route.clone());
                book.add_edge(route, e);
                targeting(&e.backend, &mut policies);
            }
            for p in record.policies() {
                book.policy_routes.entry(p).or_default().insert(route);
                policies.extend(book.policy_at.get(&p));
            }
            *book.record_mut(route) = record;
            let (old_len, new_len) = (range.len(), edges.len());
            lists_changed |= !posture.edges[range.clone()]
                .iter()
                .map(|e| &e.ca_ref_states)
                .eq(edges.iter().map(|e| &e.ca_ref_states));
            posture.edges.splice(range.clone(), edges);
            if route != AUX && new_len != old_len {
                for end in &mut book.route_ends[route..] {
                    *end = end.wrapping_add(new_len).wrapping_sub(old_len);
                }
            }
            splices.push(range.start, old_len, new_len);
        }

        // Policy reports. A loser's report shows its winner's ancestors: it is reported again
        // with its winner (which may have changed through a target the loser does not name).
        let conflicts = &book.conflicts;
        let winners: HashSet<usize> = policies
            .iter()
            .map(|&q| pid(&snapshot.policies[q]))
            .collect();
        let losers: Vec<usize> = conflicts
            .losers_of(&winners)
            .filter_map(|loser| book.policy_at.get(&loser).copied())
            .collect();
        policies.extend(losers);
        let mut merged = Recorder::default();
        let mut needed: BTreeSet<usize> = BTreeSet::new();
        for &q in &policies {
            let id = pid(&snapshot.policies[q]);
            needed.insert(id);
            needed.extend(conflicts.winner_of(id));
        }
        for id in needed {
            for &route in book.policy_routes.get(&id).into_iter().flatten() {
                merged.merge_policy(book.record(route), id);
            }
        }
        // The edges to the affected policies' targets, in order, for their explanations.
        let mut target_routes: BTreeSet<usize> = BTreeSet::new();
        for &q in &policies {
            let p = &snapshot.policies[q];
            for t in &p.targets {
                let ns = t.namespace.as_deref().unwrap_or(&p.meta.namespace);
                target_routes.extend(book.routes_referencing(ns, &t.name));
            }
        }
        let edges = &posture.edges;
        let by_backend = EdgesByBackend::new(
            target_routes
                .iter()
                .flat_map(|&r| &edges[book.range(r, edges.len())]),
        );
        let controllers = ctx.modelled_controllers();
        let inputs = ReportInputs {
            ctx: &ctx,
            uses: merged.uses(),
            conflicts,
            by_backend: &by_backend,
            controllers: &controllers,
        };
        // Whether the group of policies that decide no edge changes. (A policy's node under a
        // backend is not in the posture's tree: it is built from the report when it is shown.)
        let mut loose_again = false;
        for &q in &policies {
            let p = &snapshot.policies[q];
            let computed = status::computed_ancestors(p, conflicts, |id| merged.ancestors_of(id));
            let report = status::report(&inputs, p, computed);
            let before = std::mem::replace(&mut posture.policies[q], report);
            let after = &posture.policies[q];
            lists_changed |= before.ca_refs != after.ca_refs;
            loose_again |= (is_loose(before.role) || is_loose(after.role))
                && (before.role != after.role || before.targets != after.targets);
        }
        drop(by_backend);

        // Findings: those raised by what was evaluated again are raised again.
        let routes_again: HashSet<u32> = routes
            .iter()
            .filter(|&&r| r != AUX)
            .map(|&r| r as u32)
            .collect();
        let policies_again: HashSet<u32> = policies.iter().map(|&q| q as u32).collect();
        let mut raised = Collector::new(snapshot);
        for s in &splices.list {
            for i in s.new_start..s.new_start + s.new_len {
                raised.edge(i, &posture.edges[i]);
            }
        }
        for &r in &routes_again {
            raised.route(&ctx, r as usize, &snapshot.routes[r as usize]);
        }
        for &q in &policies {
            raised.policy(q, &snapshot.policies[q], &posture.policies[q]);
        }
        // Certificate findings change with the bundles, or when a certificate's days left do.
        let second = now.as_second();
        let certificates_again = lists_changed
            || second < book.certificates_at
            || book.certificates_change_at.is_some_and(|t| second >= t);
        if certificates_again {
            let ca_lists = book.ca_lists.values().map(|(_, list)| &**list);
            raised.certificates(&posture.policies, ca_lists, now);
        }
        raised.cluster(&ctx, &posture.edges);
        let raised = raised.sorted();
        if certificates_again {
            book.certificates_at = second;
            book.certificates_change_at = raised.certificates_change_at;
        }
        let again = |rank: &super::findings::Rank| match rank.group {
            Group::Edge => splices.inside(rank.at as usize),
            Group::Route => routes_again.contains(&rank.at),
            Group::Policy => policies_again.contains(&rank.at),
            Group::Certificate => certificates_again,
            Group::Cluster => true,
            Group::Gateway | Group::InputError => false,
        };
        FindingList {
            findings: &mut posture.findings,
            ranks: &mut book.ranks,
            spare: &mut book.spare,
        }
        .replace(again, &splices, raised.findings, raised.ranks);

        // The tree: in each Gateway with a route built again, the nodes of those routes.
        if splices.shifted() {
            tree::remap_edges(&mut posture.tree, &|i| splices.now_at(i).unwrap_or(i));
        }
        for gw in &gateways {
            let gw_edges: Vec<usize> = book
                .gateway_routes
                .get(gw)
                .into_iter()
                .flatten()
                .flat_map(|&r| book.range(r, posture.edges.len()))
                .filter(|&i| posture.edges[i].gateway == *gw)
                .collect();
            tree::rebuild_gateway(
                &mut posture.tree,
                &ctx,
                gw,
                &posture.edges,
                &gw_edges,
                &fresh,
            );
        }
        if loose_again {
            tree::rebuild_loose_policies(&mut posture.tree, &posture.policies);
        }
        posture.evaluated_at = now;
        Applied {
            routes: routes.len(),
            policies: policies.len(),
            in_full: false,
        }
    }
}

#[cfg(test)]
mod tests;
