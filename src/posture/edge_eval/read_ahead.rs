//! Asking for what the next routes' edges will read before it is read. A route's edges read a
//! chain of separate allocations: the route, its lists of rules and names, each rule's
//! backendRefs, their names' texts, then the Service and policies found by those names. Each
//! read waits for the one before, and on a large snapshot each mostly misses the caches. The
//! routes are evaluated one after the other, so while one route is evaluated the next ones are
//! asked for, one link of the chain further for each route ahead: by the time a route is
//! evaluated, most of its chain is in the caches.

use super::super::context::Context;
use super::super::{ask_ahead, prefetch, prefetch_all};
use crate::model::{BackendTlsPolicy, Route, Service};
use std::sync::Arc;

/// Calls `f` with each route of `routes` and its position in the snapshot (the first at
/// `first`), in order; before each, asks for what the routes after it will read ([`AHEAD`],
/// then the objects their backendRefs name and what those hold).
pub(super) fn each_route<'r, 's>(
    ctx: &Context<'s>,
    first: usize,
    routes: &'r [Arc<Route>],
    mut f: impl FnMut(usize, &'r Route),
) {
    // The Services and policies named by the route two ahead are found before this one is
    // evaluated, and what they hold is asked for before the next one is. The first two
    // routes' are found and asked for at once.
    let mut found = Found::default();
    for route in routes.iter().take(2) {
        found.look_up(ctx, route);
        found.ask_for_what_they_hold();
    }
    for (i, (at, route)) in (first..).zip(routes).enumerate() {
        found.ask_for_what_they_hold();
        if let Some(later) = routes.get(i + 2) {
            found.look_up(ctx, later);
        }
        ask_ahead(routes, i + 3, &AHEAD);
        f(at, route);
    }
}

/// What is asked for of the route three, four, … routes ahead: each link of the chain is
/// asked for one route after the link it is read through.
const AHEAD: [fn(&Arc<Route>); 4] = [
    |route| ask_for_texts(route),
    |route| ask_for_backend_refs(route),
    |route| ask_for_lists(route),
    |route| prefetch_all(Arc::as_ptr(route)),
];

/// The Services and policies a route's backendRefs name, found by table lookups that mostly
/// miss the caches (each is asked for when found; what it holds, a route later).
#[derive(Default)]
struct Found<'s> {
    services: Vec<&'s Service>,
    policies: Vec<&'s BackendTlsPolicy>,
}

impl<'s> Found<'s> {
    /// Finds (and asks for) the Service of each backendRef of `route` and the policies naming
    /// it.
    fn look_up(&mut self, ctx: &Context<'s>, route: &Route) {
        for rule in &route.rules {
            for br in &rule.backend_refs {
                let ns = br.namespace.as_deref().unwrap_or(&route.meta.namespace);
                if br.kind() == "Service"
                    && let Some(svc) = ctx.snap.service("Service", ns, &br.name)
                {
                    prefetch_all(svc);
                    self.services.push(svc);
                }
                for (policy, _) in ctx.snap.policy_targets_named(ns, &br.name).take(2) {
                    prefetch_all(policy);
                    self.policies.push(policy);
                }
            }
        }
    }

    /// Asks for the ports of the Services found and the targets of the policies, and forgets
    /// them.
    fn ask_for_what_they_hold(&mut self) {
        for svc in self.services.drain(..) {
            prefetch(svc.ports.as_ptr());
        }
        for policy in self.policies.drain(..) {
            prefetch(policy.targets.as_ptr());
        }
    }
}

/// The lists the route holds: its rules, its parentRefs, its edges' names and its namespace.
fn ask_for_lists(route: &Route) {
    prefetch(route.rules.as_ptr());
    prefetch(route.parent_refs.as_ptr());
    prefetch(route.edge_names.backends.as_ptr());
    prefetch(route.meta.namespace.as_ptr());
}

/// Each rule's backendRefs and names, and each parentRef.
fn ask_for_backend_refs(route: &Route) {
    for rule in &route.rules {
        let refs = &rule.backend_refs[..];
        prefetch(refs.as_ptr());
        prefetch(refs.as_ptr_range().end.cast::<u8>().wrapping_sub(1));
    }
    for names in &route.edge_names.backends {
        prefetch(names.as_ptr());
    }
    for parent in &route.parent_refs {
        prefetch(Arc::as_ptr(parent));
    }
}

/// The texts of each backendRef and its names: what the Service and the policies are looked
/// up by, and what the edges carry.
fn ask_for_texts(route: &Route) {
    for (rule, rule_names) in route.rules.iter().zip(&route.edge_names.backends) {
        for (br, names) in rule.backend_refs.iter().zip(rule_names) {
            prefetch(br.name.as_ptr());
            if let Some(ns) = &br.namespace {
                prefetch(ns.as_ptr());
            }
            prefetch(Arc::as_ptr(&names.target));
            prefetch(Arc::as_ptr(&names.destination));
            prefetch(Arc::as_ptr(&names.label));
        }
    }
}

/// The ports of each backendRef's Service and the targets of the policies naming it: what
/// [`each_route`] asks for over two routes, for one route evaluated on its own.
pub(super) fn ask_for_reads(ctx: &Context, route: &Route) {
    let mut found = Found::default();
    found.look_up(ctx, route);
    found.ask_for_what_they_hold();
}
