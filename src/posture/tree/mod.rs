//! The attachment tree: GatewayClass -> Gateway -> listener -> Route -> rule -> backendRef ->
//! Service/Backend -> BackendTLSPolicy -> CA refs.
//!
//! The posture holds the tree down to the routes. What is below a route node (its rules and
//! their backendRefs) is read off the route's edges, and what is below a backendRef (its
//! backend, the policy deciding the edge with its status and CA references, the client
//! certificate) off the edge and the policy's report: [`children_of`] builds them for the
//! nodes a user opens ([`TreeNode::unbuilt`]), instead of two nodes per edge and one per rule
//! down to the backendRefs, and five per edge below them (200,000 at L), on every evaluation.

mod below;
mod rebuild;

pub use below::{built_in_full, children_of, edge_children};

use rebuild::Reuse;
pub(crate) use rebuild::{rebuild_gateway, rebuild_loose_policies, remap_edges};

use super::context::Context;
use super::{Edge, Mode, PolicyReport, PolicyRole};
use foldhash::{HashMap, HashMapExt};
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    GatewayClass,
    Gateway,
    Listener,
    Route,
    Rule,
    BackendRef,
    Backend,
    Policy,
    CaRef,
    ClientCert,
    Group,
}

/// What a node's badge says.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum NodeState {
    None,
    Mode(Mode),
    /// A condition-like state: `ok` false draws attention.
    Status {
        ok: bool,
        text: Arc<str>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TreeNode {
    pub kind: NodeKind,
    /// The text of the node (shared where many nodes show the same).
    pub label: Arc<str>,
    /// `KIND/NS/NAME` of the object behind the node, for detail views.
    pub object: Option<Arc<str>>,
    pub state: NodeState,
    /// Index into `Posture.edges` for backendRef nodes.
    pub edge: Option<usize>,
    /// For a route node, the indices into `Posture.edges` of the route's edges below it, in
    /// order: what its rules are built from ([`children_of`]). Empty for other nodes.
    pub edges: Vec<usize>,
    /// Empty for a route or backendRef node in the posture: see [`TreeNode::unbuilt`].
    pub children: Vec<TreeNode>,
}

/// A node whose children the posture does not hold: [`children_of`] builds them from the
/// posture when they are shown. Identifies the node in a posture (an edge is below one route
/// node and one backendRef node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unbuilt {
    /// A route node, by its first edge: its children are its rules.
    Route(usize),
    /// A backendRef node, by its edge: its child is its backend.
    BackendRef(usize),
}

impl TreeNode {
    fn new(
        kind: NodeKind,
        label: impl Into<Arc<str>>,
        object: Option<Arc<str>>,
        state: NodeState,
    ) -> Self {
        TreeNode {
            kind,
            label: label.into(),
            object,
            state,
            edge: None,
            edges: Vec::new(),
            children: vec![],
        }
    }

    /// Whether this node's children are left to [`children_of`], and which node it is.
    pub fn unbuilt(&self) -> Option<Unbuilt> {
        if !self.children.is_empty() {
            return None;
        }
        match self.kind {
            NodeKind::Route => self.edges.first().map(|&i| Unbuilt::Route(i)),
            NodeKind::BackendRef => self.edge.map(Unbuilt::BackendRef),
            _ => None,
        }
    }

    /// Depth-first walk, with depth.
    pub fn walk<'a>(&'a self, depth: usize, f: &mut impl FnMut(&'a TreeNode, usize)) {
        f(self, depth);
        for c in &self.children {
            c.walk(depth + 1, f);
        }
    }
}

/// Worst mode among children, for parent badges.
fn worst(modes: impl Iterator<Item = Mode>) -> NodeState {
    let rank = |m: Mode| match m {
        Mode::FailOpenPlaintext => 9,
        Mode::FailClosed => 8,
        Mode::PlaintextToTlsPort => 7,
        Mode::Unresolved => 6,
        Mode::TlsUnverified => 5,
        Mode::Unknown => 4,
        Mode::Plaintext => 3,
        Mode::Passthrough => 2,
        Mode::TlsVerified => 1,
    };
    modes
        .max_by_key(|m| rank(*m))
        .map(NodeState::Mode)
        .unwrap_or(NodeState::None)
}

/// What the tree reads of an edge, read once (an edge is large: going back to the edges for
/// each of their Gateway, listener, route and mode would read each several times from memory).
#[derive(Clone, Copy)]
pub(super) struct Leaf<'e> {
    /// The edge's position in `Posture.edges`.
    at: usize,
    gateway: &'e Arc<str>,
    listener: Option<&'e str>,
    /// A policy or telemetry backend's edge (`Edge::via`).
    aux: bool,
    route: &'e Arc<str>,
    mode: Mode,
}

impl<'e> Leaf<'e> {
    pub(super) fn of(edges: &'e [Edge], at: usize) -> Self {
        let e = &edges[at];
        Leaf {
            at,
            gateway: &e.gateway,
            listener: e.listener.as_deref(),
            aux: e.via.is_some(),
            route: &e.route,
            mode: e.mode,
        }
    }
}

/// The tree of `edges` and `policies`, down to the routes (see [`children_of`]).
pub(crate) fn build(ctx: &Context, edges: &[Edge], policies: &[PolicyReport]) -> Vec<TreeNode> {
    let snap = ctx.snap;
    let leaves: Vec<Leaf> = (0..edges.len()).map(|i| Leaf::of(edges, i)).collect();
    // Grouped by text: the edges evaluated again by an incremental update hold their
    // Gateway's key from another evaluation than the others (the same text, another value).
    let by_gateway: HashMap<&str, Vec<Leaf>> = grouped(leaves, |l| l.gateway, |k| &**k)
        .into_iter()
        .map(|(gateway, leaves)| (&**gateway, leaves))
        .collect();
    let mut classes: Vec<String> = snap
        .gateway_classes
        .iter()
        .map(|c| c.meta.name.clone())
        .collect();
    for g in &snap.gateways {
        if !classes.contains(&g.class_name) {
            classes.push(g.class_name.clone());
        }
    }
    let mut roots = Vec::new();
    for class_name in classes {
        let class = snap.gateway_class(&class_name);
        let label = match class {
            Some(c) => format!("GatewayClass {class_name} ({})", c.controller_name),
            None => format!("GatewayClass {class_name} (missing)"),
        };
        let state = match class {
            Some(c) => match c.conditions.iter().find(|c| &*c.type_ == "Accepted") {
                Some(a) => NodeState::Status {
                    ok: a.is_true(),
                    text: format!("Accepted={}", a.status).into(),
                },
                None => NodeState::None,
            },
            None => NodeState::Status {
                ok: false,
                text: "missing".into(),
            },
        };
        let mut class_node = TreeNode::new(
            NodeKind::GatewayClass,
            label,
            Some(format!("GatewayClass/{class_name}").into()),
            state,
        );
        for gw in snap.gateways.iter().filter(|g| g.class_name == class_name) {
            let gw_key = format!("{}/{}", gw.meta.namespace, gw.meta.name);
            let gw_leaves: &[Leaf] = by_gateway.get(gw_key.as_str()).map_or(&[], Vec::as_slice);
            class_node
                .children
                .push(gateway_node(gw, &gw_key, gw_leaves, &mut Reuse::default()));
        }
        roots.push(class_node);
    }
    roots.extend(loose_policies(policies));
    roots
}

const LOOSE_POLICIES: &str = "policies that decide no edge";

/// The node of Gateway `gw` (`gw_key` is `NS/NAME`) with its listeners and their routes, from
/// its edges' leaves (in edge order).
fn gateway_node(
    gw: &crate::model::Gateway,
    gw_key: &str,
    gw_leaves: &[Leaf],
    reuse: &mut Reuse,
) -> TreeNode {
    let mut gw_node = TreeNode::new(
        NodeKind::Gateway,
        format!("Gateway {gw_key}"),
        Some(format!("Gateway/{gw_key}").into()),
        worst(gw_leaves.iter().map(|l| l.mode)),
    );
    if let Some(Some(r)) = &gw.backend_client_cert {
        gw_node.children.push(TreeNode::new(
            NodeKind::ClientCert,
            format!(
                "client certificate Secret {}/{}",
                r.namespace.as_deref().unwrap_or(&gw.meta.namespace),
                r.name
            ),
            None,
            NodeState::None,
        ));
    }
    let mut listener_names: Vec<Option<String>> =
        gw.listeners.iter().map(|l| Some(l.name.clone())).collect();
    listener_names.push(None);
    for ln in listener_names {
        let in_listener: Vec<Leaf> = gw_leaves
            .iter()
            .copied()
            .filter(|l| l.listener == ln.as_deref() && !l.aux)
            .collect();
        let label = match &ln {
            Some(n) => {
                let l = gw.listener(n);
                format!(
                    "listener {n} ({} {})",
                    l.map(|l| l.protocol.as_str()).unwrap_or("?"),
                    l.and_then(|l| l.port)
                        .map(|p| p.to_string())
                        .unwrap_or_default()
                )
            }
            None if in_listener.is_empty() => continue,
            None => "(several listeners)".to_string(),
        };
        let mut l_node = TreeNode::new(
            NodeKind::Listener,
            label,
            None,
            worst(in_listener.iter().map(|l| l.mode)),
        );
        l_node.children = route_nodes(in_listener, reuse.under(&l_node.label));
        gw_node.children.push(l_node);
    }
    let aux: Vec<Leaf> = gw_leaves.iter().copied().filter(|l| l.aux).collect();
    if !aux.is_empty() {
        let mut a_node = TreeNode::new(
            NodeKind::Group,
            "policy and telemetry backends",
            None,
            worst(aux.iter().map(|l| l.mode)),
        );
        a_node.children = route_nodes(aux, reuse.under(&a_node.label));
        gw_node.children.push(a_node);
    }
    gw_node
}

/// The group of policies that are unattached or conflicted, when there are any.
fn loose_policies(policies: &[PolicyReport]) -> Option<TreeNode> {
    let loose: Vec<&PolicyReport> = policies
        .iter()
        .filter(|p| matches!(p.role, PolicyRole::Unattached | PolicyRole::Conflicted))
        .collect();
    if loose.is_empty() {
        return None;
    }
    let mut node = TreeNode::new(
        NodeKind::Group,
        LOOSE_POLICIES,
        None,
        NodeState::Status {
            ok: false,
            text: loose.len().to_string().into(),
        },
    );
    for p in loose {
        let mut pn = TreeNode::new(
            NodeKind::Policy,
            cat!("BackendTLSPolicy ", p.policy),
            Some(cat!("BackendTLSPolicy/", p.policy).into()),
            NodeState::Status {
                ok: false,
                text: p.role.as_str().into(),
            },
        );
        for t in &p.targets {
            pn.children.push(TreeNode::new(
                NodeKind::Backend,
                cat!("target ", t.target, ": ", t.detail),
                None,
                NodeState::None,
            ));
        }
        node.children.push(pn);
    }
    Some(node)
}

/// `items` grouped by the key `key` gives (a Gateway's or a route's), told apart by
/// `identity` of it (its text, or the value itself where equal texts are one value), the
/// groups in first-seen order. Consecutive items mostly share their key as one shared value (a
/// route's edges, a Gateway's): it is looked up only when its address changes.
fn grouped<'e, T, I: std::hash::Hash + Eq>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> &'e Arc<str>,
    identity: impl Fn(&'e Arc<str>) -> I,
) -> Vec<(&'e Arc<str>, Vec<T>)> {
    let mut groups: Vec<(&Arc<str>, Vec<T>)> = Vec::new();
    let mut seen: HashMap<I, usize> = HashMap::new();
    let mut last: Option<(&Arc<str>, usize)> = None;
    for item in items {
        let k = key(&item);
        let slot = match last {
            Some((kept, slot)) if Arc::ptr_eq(kept, k) => slot,
            _ => *seen.entry(identity(k)).or_insert_with(|| {
                groups.push((k, Vec::new()));
                groups.len() - 1
            }),
        };
        last = Some((k, slot));
        groups[slot].1.push(item);
    }
    groups
}

/// The route nodes of `leaves`, in first-seen order, each holding its edges (its rules are
/// built by [`children_of`]); those of `reuse` are taken as they are.
fn route_nodes(
    leaves: Vec<Leaf>,
    mut reuse: Option<&mut HashMap<Arc<str>, TreeNode>>,
) -> Vec<TreeNode> {
    // Routes in first-seen order, each with its edges (one pass, no per-route scans). Told
    // apart by the value of their key, not its text (which a large cluster would read from
    // memory again for each route): a route's edges are evaluated together, from the route,
    // and share its key (`EdgeNames::route`, made once when the route was decoded; a policy's
    // own backends share their policy's, made once per evaluation of them).
    grouped(leaves, |l| l.route, |k| Arc::as_ptr(k).cast::<u8>())
        .into_iter()
        .map(|(key, r_leaves)| {
            if let Some(kept) = reuse.as_mut().and_then(|m| m.remove(&**key)) {
                return kept;
            }
            let mut rn = TreeNode::new(
                NodeKind::Route,
                key.clone(),
                Some(key.clone()),
                worst(r_leaves.iter().map(|l| l.mode)),
            );
            rn.edges = r_leaves.iter().map(|l| l.at).collect();
            rn
        })
        .collect()
}
