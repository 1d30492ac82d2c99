//! Incremental evaluation: when one route or one BackendTLSPolicy changes, only what depends
//! on it is evaluated again: the edges of the routes that read it, the reports of the policies
//! those edges (and the change) concern, their findings and the Gateways' branches of the tree.
//! The result is the posture a full evaluation of the new snapshot gives (tests compare them);
//! any other change needs a new snapshot and [`Incremental::new`].

use super::context::Context;
use super::findings::{Collector, Group, Rank};
use super::status::{self, Conflicts, EdgesByBackend, Recorder, ReportInputs, pid};
use super::{Options, Parts, Posture, cluster, edge_eval, findings, tree};
use crate::model::Origin;
use crate::snapshot::{Object, Replaced, Snapshot};
use foldhash::{HashMap, HashSet};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The auxiliary edges (Envoy Gateway policies' own backends), after every route's edges.
const AUX: usize = usize::MAX;

/// A snapshot, its posture, and what the evaluation learnt about who reads what.
pub struct Incremental {
    snapshot: Snapshot,
    options: Options,
    posture: Posture,
    book: Book,
}

/// What an update evaluated again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Routes whose edges were evaluated again (the auxiliary edges count as one).
    pub routes: usize,
    /// Policies whose reports were computed again.
    pub policies: usize,
}

#[derive(Default)]
struct Book {
    /// Where each route's edges end in `posture.edges`; the auxiliary edges follow the last.
    route_ends: Vec<usize>,
    /// What each route's edges recorded about policies.
    records: Vec<Recorder>,
    aux_record: Recorder,
    /// Where each finding of `posture.findings` was raised.
    ranks: Vec<Rank>,
    /// Policy (by [`pid`]) -> the routes whose record names it ([`AUX`] for auxiliary edges).
    policy_routes: HashMap<usize, BTreeSet<usize>>,
    /// `NS/NAME` of a backend object -> the routes with an edge to it.
    referencing: HashMap<Box<str>, BTreeSet<usize>>,
    /// Name of an Envoy Gateway Backend -> the routes with an edge to a Backend of that name
    /// (Envoy Gateway looks for a policy that covers a Backend by its name only).
    backend_names: HashMap<Box<str>, BTreeSet<usize>>,
    /// Policy (by [`pid`]) -> its position.
    policy_at: HashMap<usize, usize>,
    /// `NS/NAME` of a policy -> its position.
    policy_named: HashMap<String, usize>,
}

/// `KIND/NS/NAME[:PORT]` -> (`KIND`, `NS/NAME`, `NAME`).
fn backend_parts(backend: &str) -> (&str, &str, &str) {
    let object = backend.split(':').next().unwrap_or(backend);
    let mut parts = object.rsplitn(3, '/');
    let name = parts.next().unwrap_or_default();
    let _ns = parts.next();
    let kind = parts.next().unwrap_or_default();
    let ns_name = object.get(kind.len() + 1..).unwrap_or_default();
    (kind, ns_name, name)
}

impl Book {
    fn range(&self, route: usize, edges: usize) -> std::ops::Range<usize> {
        let aux_start = self.route_ends.last().copied().unwrap_or(0);
        match route {
            AUX => aux_start..edges,
            0 => 0..self.route_ends[0],
            r => self.route_ends[r - 1]..self.route_ends[r],
        }
    }

    fn record_mut(&mut self, route: usize) -> &mut Recorder {
        match route {
            AUX => &mut self.aux_record,
            r => &mut self.records[r],
        }
    }

    fn record(&self, route: usize) -> &Recorder {
        match route {
            AUX => &self.aux_record,
            r => &self.records[r],
        }
    }

    fn reference(&mut self, route: usize, backend: &str) {
        let (kind, ns_name, name) = backend_parts(backend);
        match self.referencing.get_mut(ns_name) {
            Some(set) => {
                set.insert(route);
            }
            None => {
                self.referencing
                    .insert(ns_name.into(), BTreeSet::from([route]));
            }
        }
        if kind == "Backend" {
            match self.backend_names.get_mut(name) {
                Some(set) => {
                    set.insert(route);
                }
                None => {
                    self.backend_names
                        .insert(name.into(), BTreeSet::from([route]));
                }
            }
        }
    }

    fn unreference(&mut self, route: usize, backend: &str) {
        let (kind, ns_name, name) = backend_parts(backend);
        fn remove(map: &mut HashMap<Box<str>, BTreeSet<usize>>, key: &str, route: usize) {
            if let Some(set) = map.get_mut(key) {
                set.remove(&route);
                if set.is_empty() {
                    map.remove(key);
                }
            }
        }
        remove(&mut self.referencing, ns_name, route);
        if kind == "Backend" {
            remove(&mut self.backend_names, name, route);
        }
    }

    fn routes_referencing(&self, ns: &str, name: &str) -> impl Iterator<Item = usize> + '_ {
        self.referencing
            .get(format!("{ns}/{name}").as_str())
            .into_iter()
            .flatten()
            .copied()
    }
}

/// One route's edges replaced: `old_start` and `old_len` in the edges as they were.
struct Splice {
    old_start: usize,
    old_len: usize,
    new_len: usize,
}

/// Where an edge that was not evaluated again is now.
fn moved(splices: &[Splice], i: usize) -> usize {
    let mut at = i as isize;
    for s in splices.iter().take_while(|s| s.old_start + s.old_len <= i) {
        at += s.new_len as isize - s.old_len as isize;
    }
    at as usize
}

fn inside(splices: &[Splice], i: usize) -> bool {
    splices
        .iter()
        .any(|s| (s.old_start..s.old_start + s.old_len).contains(&i))
}

impl Incremental {
    /// Evaluates `snapshot` in full (as [`super::evaluate`] does) and keeps what an update needs.
    pub fn new(snapshot: Snapshot, now: jiff::Timestamp, options: Options) -> Self {
        let threads = super::cores();
        let ctx = Context::new(&snapshot, &options);
        let (mut edges, route_ends, records) = edge_eval::route_edges_per_route(&ctx, threads);
        let mut aux_record = Recorder::default();
        edges.extend(edge_eval::aux_edges(&ctx, &mut aux_record));
        edge_eval::mark_failed_rules(&mut edges);
        cluster::mark_unreadable(&snapshot, &mut edges);
        let mut recorder = Recorder::default();
        for r in records.iter().chain([&aux_record]) {
            recorder.merge(r.clone());
        }
        let policies = status::policy_reports(&ctx, &edges, recorder, threads);
        let (findings, ranks, tree) =
            super::findings_and_tree(&ctx, &edges, &policies, now, threads, Parts::All);
        let mut book = Book {
            route_ends,
            records,
            aux_record,
            ranks,
            ..Book::default()
        };
        for route in 0..book.records.len() {
            for e in &edges[book.range(route, edges.len())] {
                book.reference(route, &e.backend);
            }
        }
        for e in &edges[book.range(AUX, edges.len())] {
            book.reference(AUX, &e.backend);
        }
        for route in (0..book.records.len()).chain([AUX]) {
            for p in book.record(route).policies().collect::<Vec<_>>() {
                book.policy_routes.entry(p).or_default().insert(route);
            }
        }
        for (i, p) in snapshot.policies.iter().enumerate() {
            book.policy_at.insert(pid(p), i);
            book.policy_named.insert(p.key(), i);
        }
        drop(ctx);
        let posture = Posture {
            source: snapshot.source.clone(),
            evaluated_at: now,
            edges,
            policies,
            findings,
            errors: snapshot.errors.clone(),
            tree,
            probes: Default::default(),
        };
        Incremental {
            snapshot,
            options,
            posture,
            book,
        }
    }

    pub fn posture(&self) -> &Posture {
        &self.posture
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Gives up the snapshot and its posture.
    pub fn into_parts(self) -> (Snapshot, Posture) {
        (self.snapshot, self.posture)
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
        let applied = self.evaluate_again(routes, policies, now);
        // The old object lives until here, so no new policy took its address (its id) while
        // records of it were still kept.
        drop(replaced);
        Ok(applied)
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
        } = self;
        let snapshot = &*snapshot;
        let ctx = Context::new(snapshot, options);
        let mut gateways: HashSet<Arc<str>> = HashSet::default();
        let mut splices: Vec<Splice> = Vec::new();
        let mut shift: isize = 0;
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
                book.unreference(route, &e.backend);
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
                edge_eval::one_route(&ctx, &snapshot.routes[route], &mut record)
            };
            edge_eval::mark_failed_rules(&mut edges);
            cluster::mark_unreadable(snapshot, &mut edges);
            for e in &edges {
                gateways.insert(e.gateway.clone());
                book.reference(route, &e.backend);
                targeting(&e.backend, &mut policies);
            }
            for p in record.policies() {
                book.policy_routes.entry(p).or_default().insert(route);
                policies.extend(book.policy_at.get(&p));
            }
            *book.record_mut(route) = record;
            let (old_len, new_len) = (range.len(), edges.len());
            posture.edges.splice(range.clone(), edges);
            if route != AUX && new_len != old_len {
                for end in &mut book.route_ends[route..] {
                    *end = end.wrapping_add(new_len).wrapping_sub(old_len);
                }
            }
            splices.push(Splice {
                old_start: (range.start as isize - shift) as usize,
                old_len,
                new_len,
            });
            shift += new_len as isize - old_len as isize;
        }

        // Policy reports. A loser's report shows its winner's ancestors.
        let conflicts = Conflicts::new(snapshot);
        // A loser names the same target as its winner, so when one is evaluated again, the
        // other already is (`targeting` above, or the changed policy's targets).
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
            conflicts: &conflicts,
            by_backend: &by_backend,
            controllers: &controllers,
        };
        for &q in &policies {
            let p = &snapshot.policies[q];
            let computed = status::computed_ancestors(p, &conflicts, |id| merged.ancestors_of(id));
            posture.policies[q] = status::report(&inputs, p, computed);
        }
        drop(by_backend);

        // Findings: those raised by what was evaluated again are raised again.
        let routes_again: HashSet<u32> = routes
            .iter()
            .filter(|&&r| r != AUX)
            .map(|&r| r as u32)
            .collect();
        let policies_again: HashSet<u32> = policies.iter().map(|&q| q as u32).collect();
        let mut kept = Vec::with_capacity(posture.findings.len());
        let mut kept_ranks = Vec::with_capacity(posture.findings.len());
        for (mut f, mut rank) in std::mem::take(&mut posture.findings)
            .into_iter()
            .zip(std::mem::take(&mut book.ranks))
        {
            let again = match rank.group {
                Group::Edge => inside(&splices, rank.at as usize),
                Group::Route => routes_again.contains(&rank.at),
                Group::Policy => policies_again.contains(&rank.at),
                Group::Certificate | Group::Cluster => true,
                Group::Gateway | Group::InputError => false,
            };
            if again {
                continue;
            }
            if rank.group == Group::Edge && shift != 0 {
                let at = moved(&splices, rank.at as usize);
                rank.at = at as u32;
                f.edge = Some(at);
            }
            kept.push(f);
            kept_ranks.push(rank);
        }
        let mut raised = Collector::new(snapshot);
        let mut delta: isize = 0;
        for s in &splices {
            let start = (s.old_start as isize + delta) as usize;
            for i in start..start + s.new_len {
                raised.edge(i, &posture.edges[i]);
            }
            delta += s.new_len as isize - s.old_len as isize;
        }
        for &r in &routes_again {
            raised.route(&ctx, r as usize, &snapshot.routes[r as usize]);
        }
        for &q in &policies {
            raised.policy(q, &snapshot.policies[q], &posture.policies[q]);
        }
        raised.certificates(&posture.policies, &posture.edges, now);
        raised.cluster(&ctx, &posture.edges);
        let (new, new_ranks) = raised.sorted();
        (posture.findings, book.ranks) = merge(kept, kept_ranks, new, new_ranks);

        // The tree: the branches of every Gateway whose edges or policies changed.
        if shift != 0 {
            tree::remap_edges(&mut posture.tree, &|i| moved(&splices, i));
        }
        for &r in routes.iter().chain(&target_routes) {
            for e in &posture.edges[book.range(r, posture.edges.len())] {
                gateways.insert(e.gateway.clone());
            }
        }
        let policy_named = &book.policy_named;
        let reports = &posture.policies;
        for gw in &gateways {
            tree::rebuild_gateway(&mut posture.tree, &ctx, gw, &posture.edges, |k| {
                policy_named.get(k).map(|&q| &reports[q])
            });
        }
        tree::rebuild_loose_policies(&mut posture.tree, &posture.policies);
        posture.evaluated_at = now;
        Applied {
            routes: routes.len(),
            policies: policies.len(),
        }
    }
}

/// Merges two lists sorted by [`findings::order`] then rank.
fn merge(
    a: Vec<findings::Finding>,
    a_ranks: Vec<Rank>,
    b: Vec<findings::Finding>,
    b_ranks: Vec<Rank>,
) -> (Vec<findings::Finding>, Vec<Rank>) {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let mut ranks = Vec::with_capacity(a.len() + b.len());
    let mut a = a.into_iter().zip(a_ranks).peekable();
    let mut b = b.into_iter().zip(b_ranks).peekable();
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some((fa, ra)), Some((fb, rb))) => findings::order(fa, fb).then(ra.cmp(rb)).is_le(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let (f, r) = if take_a { a.next() } else { b.next() }.expect("peeked");
        out.push(f);
        ranks.push(r);
    }
    (out, ranks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{SnapshotBuilder, SourceInfo};
    use crate::source::Decoded;
    use crate::synth::{self, Rng, Size};
    use serde_json::{Value, json};

    /// A day per step, from 70 days before the synthetic CA expires (2036-01-01): its
    /// certificate findings change as the steps go.
    fn now(step: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(2_082_758_400 + (step - 70) * 86_400).unwrap()
    }

    fn snapshot_of(objects: &[Value]) -> Snapshot {
        let mut b = SnapshotBuilder::new();
        for o in objects {
            crate::source::decode::add_value(&mut b, o.clone(), Origin::default());
        }
        b.build(SourceInfo::default())
    }

    fn names_of(objects: &[Value], kind: &str) -> Vec<(String, String)> {
        objects
            .iter()
            .filter(|o| o["kind"] == kind)
            .map(|o| {
                let m = &o["metadata"];
                (
                    m["namespace"].as_str().unwrap_or_default().to_string(),
                    m["name"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// A change a user could make to a route: weights, backends (other Services, missing ones,
    /// Envoy Gateway Backends, other namespaces), ports, and the parentRef (other Gateway,
    /// other listener, a missing one).
    fn change_route(
        route: &mut Value,
        rng: &mut Rng,
        services: &[(String, String)],
        backends: &[(String, String)],
        gateways: &[(String, String)],
    ) {
        let refs = route["spec"]["rules"][0]["backendRefs"]
            .as_array_mut()
            .unwrap();
        let i = rng.below(refs.len());
        match rng.below(9) {
            0 => refs[i]["weight"] = json!(rng.below(10)),
            1 | 2 => {
                // Half the time one of a few Services, so that routes on different Gateways
                // share backends and the policies that decide them.
                let pick = if rng.chance(50) {
                    rng.below(4)
                } else {
                    rng.below(services.len())
                };
                let (ns, name) = &services[pick];
                let port = [443, 8443, 80, 8080][rng.below(4)];
                refs[i] = json!({"name": name, "namespace": ns, "port": port});
            }
            3 => refs[i] = json!({"name": "missing-svc", "port": 443}),
            4 if refs.len() > 1 => {
                refs.remove(i);
            }
            4 | 5 => {
                let copy = refs[i].clone();
                refs.push(copy);
            }
            6 => {
                let (ns, name) = &backends[rng.below(backends.len())];
                refs[i] = json!({"group": "gateway.envoyproxy.io", "kind": "Backend", "name": name, "namespace": ns});
            }
            7 => {
                let (ns, name) = &gateways[rng.below(gateways.len())];
                let section = ["http", "https", "nope"][rng.below(3)];
                route["spec"]["parentRefs"] =
                    json!([{"name": name, "namespace": ns, "sectionName": section}]);
            }
            _ => route["spec"]["parentRefs"] = json!([{"name": "no-such-gateway"}]),
        }
    }

    /// A change a user or controller could make to a policy: hostname, targets (another
    /// Service, a section, an older policy's target, a Backend), trust, status.
    fn change_policy(
        policy: &mut Value,
        rng: &mut Rng,
        services: &[(String, String)],
        claimed: &Value,
        backends: &[(String, String)],
    ) {
        let ns = policy["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let spec = &mut policy["spec"];
        match rng.below(9) {
            0 => spec["validation"]["hostname"] = json!(format!("h{}.example.com", rng.below(100))),
            1 => {
                let local: Vec<&(String, String)> =
                    services.iter().filter(|(n, _)| *n == ns).collect();
                let (_, name) = local[rng.below(local.len())];
                spec["targetRefs"] = json!([{"group": "", "kind": "Service", "name": name}]);
            }
            2 => {
                let section = ["https", "http", "grpc", "nope"][rng.below(4)];
                spec["targetRefs"][0]["sectionName"] = json!(section);
            }
            3 => spec["targetRefs"]
                .as_array_mut()
                .unwrap()
                .push(claimed.clone()),
            4 => {
                spec["validation"] =
                    json!({"wellKnownCACertificates": "System", "hostname": "a.example.com"})
            }
            5 => {
                spec["validation"]["caCertificateRefs"] =
                    json!([{"group": "", "kind": "ConfigMap", "name": "nope"}])
            }
            6 => spec["validation"] = json!({"hostname": "a.example.com"}),
            7 => {
                let (_, name) = &backends[rng.below(backends.len())];
                spec["targetRefs"] =
                    json!([{"group": "gateway.envoyproxy.io", "kind": "Backend", "name": name}]);
            }
            _ => {
                policy["metadata"]["generation"] = json!(2);
                let conditions = &mut policy["status"]["ancestors"][0]["conditions"][0];
                conditions["status"] = json!("False");
                conditions["reason"] = json!("Invalid");
            }
        }
    }

    /// Every update gives exactly the posture (edges, reports, findings and their order, tree)
    /// that evaluating the changed snapshot from scratch gives.
    fn updates_equal_full_evaluations(size: Size, seed: u64, steps: usize) {
        let mut objects = synth::generate(size, seed);
        let options = Options::default();
        let mut engine = Incremental::new(snapshot_of(&objects), now(0), options.clone());
        let services = names_of(&objects, "Service");
        let backends = names_of(&objects, "Backend");
        let gateways = names_of(&objects, "Gateway");
        let routes: Vec<usize> = (0..objects.len())
            .filter(|&i| {
                objects[i]["kind"]
                    .as_str()
                    .is_some_and(|k| k.ends_with("Route"))
            })
            .collect();
        let policies: Vec<usize> = (0..objects.len())
            .filter(|&i| objects[i]["kind"] == "BackendTLSPolicy")
            .collect();
        let mut rng = Rng(seed);
        let mut shifted = 0;
        for step in 1..=steps {
            let (i, what) = if rng.chance(50) {
                let i = routes[rng.below(routes.len())];
                change_route(&mut objects[i], &mut rng, &services, &backends, &gateways);
                (i, "route")
            } else {
                let i = policies[rng.below(policies.len())];
                let claimed =
                    objects[policies[rng.below(policies.len())]]["spec"]["targetRefs"][0].clone();
                change_policy(&mut objects[i], &mut rng, &services, &claimed, &backends);
                (i, "policy")
            };
            let edges_before = engine.posture().edges.len();
            let decoded = Decoded::new(objects[i].clone(), Origin::default());
            let (object, raw) = decoded.only_object().expect("one object");
            let applied = engine
                .replace(object, Origin::default(), raw, now(step as i64))
                .unwrap_or_else(|_| panic!("step {step}: the {what} was not taken in place"));
            assert!(applied.routes >= 1 || what == "policy");
            shifted += usize::from(engine.posture().edges.len() != edges_before);
            let full = crate::posture::evaluate(&snapshot_of(&objects), now(step as i64), &options);
            let got = serde_json::to_value(engine.posture()).unwrap();
            let want = serde_json::to_value(&full).unwrap();
            if got != want {
                let who = &objects[i]["metadata"]["name"];
                for part in ["edges", "policies", "findings", "tree"] {
                    let (g, w) = (
                        got[part].as_array().unwrap(),
                        want[part].as_array().unwrap(),
                    );
                    if let Some(k) = (0..g.len().max(w.len())).find(|&k| g.get(k) != w.get(k)) {
                        let show = |v: Option<&Value>| {
                            v.map(|v| v.to_string().chars().take(600).collect::<String>())
                        };
                        panic!(
                            "step {step} ({what} {who}): {part}[{k}] differs ({} against {} items)\n got: {:?}\nwant: {:?}",
                            g.len(),
                            w.len(),
                            show(g.get(k)),
                            show(w.get(k))
                        );
                    }
                }
                panic!("step {step} ({what} {who}): the postures differ");
            }
        }
        assert!(shifted > 0, "no change moved the edges after it");
    }

    #[test]
    fn updates_of_s_equal_full_evaluations() {
        updates_equal_full_evaluations(Size::S, 11, 150);
    }

    /// On M the routes' edges are evaluated on several threads and a policy is shared by
    /// routes far apart.
    #[test]
    fn updates_of_m_equal_full_evaluations() {
        updates_equal_full_evaluations(Size::M, 5, 12);
    }

    /// What the snapshot cannot take in place is given back and changes nothing.
    #[test]
    fn a_new_object_is_given_back() {
        let objects = synth::generate(Size::S, 2);
        let mut engine = Incremental::new(snapshot_of(&objects), now(0), Options::default());
        let before = serde_json::to_string(engine.posture()).unwrap();
        let mut route = objects
            .iter()
            .find(|o| o["kind"] == "HTTPRoute")
            .unwrap()
            .clone();
        route["metadata"]["name"] = json!("brand-new");
        let (object, raw) = Decoded::new(route, Origin::default())
            .only_object()
            .unwrap();
        assert!(
            engine
                .replace(object, Origin::default(), raw, now(0))
                .is_err()
        );
        assert_eq!(serde_json::to_string(engine.posture()).unwrap(), before);
    }
}
