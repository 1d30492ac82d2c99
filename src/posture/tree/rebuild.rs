//! Building parts of the tree again for the incremental evaluation: the node of a Gateway
//! (keeping its unchanged routes' nodes), the group of policies that decide no edge, and edge
//! indices after edges moved.

use super::{
    Context, Edge, LOOSE_POLICIES, Leaf, NodeKind, NodeState, PolicyReport, TreeNode, gateway_node,
    loose_policies,
};
use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

/// Builds again the node of the Gateway `gw_key` (`NS/NAME`) in `tree` from its edges as they
/// are now (`gw_edges`, in order), keeping the nodes of the routes not in `fresh` (by key) as
/// they are. Returns whether the tree has that Gateway.
pub(crate) fn rebuild_gateway(
    tree: &mut [TreeNode],
    ctx: &Context,
    gw_key: &str,
    edges: &[Edge],
    gw_edges: &[usize],
    fresh: &foldhash::HashSet<Arc<str>>,
) -> bool {
    let Some((ns, name)) = gw_key.split_once('/') else {
        return false;
    };
    let Some(gw) = ctx.snap.gateway(ns, name) else {
        return false;
    };
    let object = format!("Gateway/{gw_key}");
    let Some(node) = tree
        .iter_mut()
        .flat_map(|root| root.children.iter_mut())
        .find(|n| n.kind == NodeKind::Gateway && n.object.as_deref() == Some(object.as_str()))
    else {
        return false;
    };
    let mut reuse = Reuse::from(
        std::mem::replace(
            node,
            TreeNode::new(NodeKind::Gateway, "", None, NodeState::None),
        ),
        fresh,
    );
    let gw_leaves: Vec<Leaf> = gw_edges.iter().map(|&i| Leaf::of(edges, i)).collect();
    *node = gateway_node(gw, gw_key, &gw_leaves, &mut reuse);
    true
}

/// Replaces the group of policies that decide no edge (the last root, when there is one) with
/// one built from `policies` as they are now.
pub(crate) fn rebuild_loose_policies(tree: &mut Vec<TreeNode>, policies: &[PolicyReport]) {
    if tree
        .last()
        .is_some_and(|n| n.kind == NodeKind::Group && &*n.label == LOOSE_POLICIES)
    {
        tree.pop();
    }
    tree.extend(loose_policies(policies));
}

/// Moves every edge index in `tree` to where `to` says it is now.
pub(crate) fn remap_edges(tree: &mut [TreeNode], to: &impl Fn(usize) -> usize) {
    for n in tree {
        if let Some(i) = n.edge.as_mut() {
            *i = to(*i);
        }
        for i in &mut n.edges {
            *i = to(*i);
        }
        remap_edges(&mut n.children, to);
    }
}

/// Route nodes of the Gateway node being built again that can be kept as they are, by the
/// label of the listener (or group) they are under and the route's key.
#[derive(Default)]
pub(super) struct Reuse {
    nodes: HashMap<Arc<str>, HashMap<Arc<str>, TreeNode>>,
}

impl Reuse {
    /// The route nodes of `gateway`'s listeners and groups, except those of `fresh` routes.
    fn from(gateway: TreeNode, fresh: &foldhash::HashSet<Arc<str>>) -> Self {
        let mut nodes: HashMap<Arc<str>, HashMap<Arc<str>, TreeNode>> = HashMap::new();
        for group in gateway.children {
            let kept = nodes.entry(group.label).or_default();
            for route in group.children {
                if route.kind == NodeKind::Route && !fresh.contains(&route.label) {
                    kept.insert(route.label.clone(), route);
                }
            }
        }
        Reuse { nodes }
    }

    pub(super) fn under(&mut self, label: &str) -> Option<&mut HashMap<Arc<str>, TreeNode>> {
        self.nodes.get_mut(label)
    }
}
