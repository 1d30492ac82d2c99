//! The nodes the posture's tree does not hold ([`TreeNode::unbuilt`]), built when they are
//! shown: a route node's rules with their backendRefs, read off the route's edges, and what
//! is below a backendRef (its backend, the policy deciding the edge with its status and CA
//! references, the client certificate), read off the edge and the policy's report.

use super::{Edge, NodeKind, NodeState, PolicyReport, TreeNode, Unbuilt, worst};
use std::sync::Arc;

/// The children of a node that the posture does not hold ([`TreeNode::unbuilt`]): a route
/// node's rules, each with its backendRefs, or a backendRef node's backend (see
/// [`edge_children`]). Any other node's own children.
pub fn children_of(edges: &[Edge], policies: &[PolicyReport], n: &TreeNode) -> Vec<TreeNode> {
    match n.unbuilt() {
        Some(Unbuilt::Route(_)) => rule_nodes(edges, &n.edges),
        Some(Unbuilt::BackendRef(i)) => edge_children(edges, policies, i),
        None => n.children.clone(),
    }
}

/// The rule nodes of a route's edges at positions `r_edges` (in order), each with the nodes
/// of its backendRefs.
fn rule_nodes(edges: &[Edge], r_edges: &[usize]) -> Vec<TreeNode> {
    let r_edges: Vec<usize> = r_edges
        .iter()
        .copied()
        .filter(|&i| i < edges.len())
        .collect();
    let mut rules: Vec<usize> = r_edges.iter().map(|&i| edges[i].rule).collect();
    rules.dedup();
    let mut nodes = Vec::with_capacity(rules.len());
    for rule in rules {
        let rule_edges: Vec<usize> = r_edges
            .iter()
            .copied()
            .filter(|&i| edges[i].rule == rule)
            .collect();
        let label = match edges[rule_edges[0]].via {
            Some(v) => format!("{v} #{rule}"),
            None => format!("rule {rule}"),
        };
        let mut rule_node = TreeNode::new(
            NodeKind::Rule,
            label,
            None,
            worst(rule_edges.iter().map(|&i| edges[i].mode)),
        );
        rule_node.children = rule_edges
            .into_iter()
            .map(|i| edge_node(&edges[i], i))
            .collect();
        nodes.push(rule_node);
    }
    nodes
}

/// `nodes` with every node's children built (see [`children_of`]): the whole tree, for tests
/// and tools that walk all of it. At L that is over 200,000 nodes.
pub fn built_in_full(
    edges: &[Edge],
    policies: &[PolicyReport],
    nodes: &[TreeNode],
) -> Vec<TreeNode> {
    nodes
        .iter()
        .map(|n| {
            let children = children_of(edges, policies, n);
            TreeNode {
                children: built_in_full(edges, policies, &children),
                ..n.clone()
            }
        })
        .collect()
}

/// The node of a backendRef; its children are built on demand ([`edge_children`]).
fn edge_node(e: &Edge, i: usize) -> TreeNode {
    let mut n = TreeNode::new(
        NodeKind::BackendRef,
        e.backend_ref_label.clone(),
        None,
        NodeState::Mode(e.mode),
    );
    n.edge = Some(i);
    n
}

/// The children of edge `i`'s backendRef node: its backend, and under it the policy deciding
/// the edge (with its status for the edge's controller and the CA references the edge trusts)
/// and the client certificate. Empty when there is no such edge.
pub fn edge_children(edges: &[Edge], policies: &[PolicyReport], i: usize) -> Vec<TreeNode> {
    let Some(e) = edges.get(i) else {
        return Vec::new();
    };
    let object: Arc<str> = crate::posture::backend_object(&e.backend).into();
    let mut target = TreeNode::new(
        NodeKind::Backend,
        object.clone(),
        Some(object),
        NodeState::None,
    );
    if let Some(pk) = &e.policy {
        let report = policies.iter().find(|r| r.policy == *pk);
        target.children.push(policy_node(e, pk, report));
    }
    if let Some(cc) = &e.client_cert {
        target.children.push(TreeNode::new(
            NodeKind::ClientCert,
            cat!("client certificate ", cc.secret, " (from ", cc.source, ")"),
            None,
            NodeState::Status {
                ok: cc.resolved,
                text: if cc.resolved {
                    "resolved".into()
                } else {
                    "invalid".into()
                },
            },
        ));
    }
    vec![target]
}

/// The node of the policy `pk` deciding `e`, with its status for `e`'s controller and the CA
/// references `e` trusts.
fn policy_node(e: &Edge, pk: &str, report: Option<&PolicyReport>) -> TreeNode {
    let state = match report.and_then(|r| {
        r.ancestors
            .iter()
            .find(|a| *a.controller == *e.controller && (a.reported || !a.computed.is_empty()))
    }) {
        Some(a) => {
            let acc = a.conditions.iter().find(|c| &*c.type_ == "Accepted");
            let mut text = match acc {
                Some(c) if &*c.status == "False" => cat!("Accepted=", c.status, "/", c.reason),
                Some(c) => cat!("Accepted=", c.status),
                None => "no status".into(),
            };
            if !a.matches {
                text.push_str(" (computed differs)");
            }
            NodeState::Status {
                ok: a.matches && acc.is_some_and(|c| &*c.status == "True"),
                text: text.into(),
            }
        }
        None => NodeState::Status {
            ok: false,
            text: "no status".into(),
        },
    };
    let mut pn = TreeNode::new(
        NodeKind::Policy,
        cat!("BackendTLSPolicy ", pk),
        Some(cat!("BackendTLSPolicy/", pk).into()),
        state,
    );
    for s in e.ca_ref_states.iter() {
        pn.children.push(TreeNode::new(
            NodeKind::CaRef,
            cat!(if s.resolved() { "✔ " } else { "✘ " }, s.reference),
            Some(s.reference.as_str().into()),
            NodeState::Status {
                ok: s.resolved(),
                text: s.state.into(),
            },
        ));
    }
    if e.ca_ref_states.is_empty() && e.trust == crate::posture::Trust::System {
        pn.children.push(TreeNode::new(
            NodeKind::CaRef,
            "system trust store",
            None,
            NodeState::Status {
                ok: true,
                text: "System".into(),
            },
        ));
    }
    pn
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit<'a>(nodes: &'a [TreeNode], f: &mut impl FnMut(&'a TreeNode)) {
        for n in nodes {
            f(n);
            visit(&n.children, f);
        }
    }

    /// The posture's tree stops at the routes and backendRefs. What is below a backendRef is
    /// built from its edge and the policy's report: the backend, the policy deciding the edge
    /// with its status for the edge's controller and a node per CA reference (or the system
    /// trust store), and the client certificate.
    #[test]
    fn backend_ref_children_are_built_from_the_edge_and_its_policy() {
        let now: jiff::Timestamp = "2026-11-22T00:00:00Z".parse().unwrap();
        let posture =
            crate::posture::evaluate(&crate::source::demo::snapshot(), now, &Default::default());
        let mut refs = 0;
        let mut states = std::collections::BTreeSet::new();
        let routes: Vec<TreeNode> = {
            let mut routes = Vec::new();
            visit(&posture.tree, &mut |n| {
                if n.kind == NodeKind::Route {
                    assert!(n.children.is_empty(), "{}", n.label);
                    routes.extend(children_of(&posture.edges, &posture.policies, n));
                }
            });
            routes
        };
        visit(&routes, &mut |n| {
            let Some(i) = n.edge.filter(|_| n.kind == NodeKind::BackendRef) else {
                return;
            };
            assert_eq!(n.unbuilt(), Some(Unbuilt::BackendRef(i)));
            refs += 1;
            assert!(n.children.is_empty(), "{}", n.label);
            let e = &posture.edges[i];
            let below = edge_children(&posture.edges, &posture.policies, i);
            let [backend] = below.as_slice() else {
                panic!("one backend under {}", n.label);
            };
            assert_eq!(backend.kind, NodeKind::Backend);
            assert_eq!(
                backend.object.as_deref(),
                Some(crate::posture::backend_object(&e.backend))
            );
            let policy = backend.children.iter().find(|c| c.kind == NodeKind::Policy);
            assert_eq!(policy.is_some(), e.policy.is_some(), "{}", n.label);
            let client = backend
                .children
                .iter()
                .any(|c| c.kind == NodeKind::ClientCert);
            assert_eq!(client, e.client_cert.is_some(), "{}", n.label);
            if let (Some(pn), Some(pk)) = (policy, &e.policy) {
                assert_eq!(&*pn.label, format!("BackendTLSPolicy {pk}"));
                let cas = pn
                    .children
                    .iter()
                    .filter(|c| c.kind == NodeKind::CaRef)
                    .count();
                let system = e.ca_ref_states.is_empty() && e.trust == crate::posture::Trust::System;
                assert_eq!(
                    cas,
                    e.ca_ref_states.len() + usize::from(system),
                    "{}",
                    n.label
                );
                if let NodeState::Status { ok, text } = &pn.state {
                    states.insert((*ok, text.to_string()));
                }
            }
        });
        assert!(refs > 10, "{refs} backendRefs");
        assert!(
            states.iter().any(|(ok, t)| *ok && t == "Accepted=True"),
            "{states:?}"
        );
        assert!(
            states.iter().any(|(ok, _)| !ok),
            "an invalid policy in the demo: {states:?}"
        );
        assert!(edge_children(&posture.edges, &posture.policies, posture.edges.len()).is_empty());
    }

    /// A route node holds its edges; its rules, built when it is opened, are in the order of
    /// the route's rules, each with one backendRef node per edge of that rule, and every edge
    /// of a route's rules is under exactly one route node.
    #[test]
    fn route_children_are_its_rules_with_their_backend_refs() {
        let now: jiff::Timestamp = "2026-11-22T00:00:00Z".parse().unwrap();
        let posture =
            crate::posture::evaluate(&crate::source::demo::snapshot(), now, &Default::default());
        let mut seen = vec![0usize; posture.edges.len()];
        let mut routes = 0;
        visit(&posture.tree, &mut |n| {
            if n.kind != NodeKind::Route {
                assert!(n.edges.is_empty(), "{}", n.label);
                return;
            }
            routes += 1;
            assert_eq!(n.unbuilt(), Some(Unbuilt::Route(n.edges[0])));
            let rules = children_of(&posture.edges, &posture.policies, n);
            let mut below = Vec::new();
            for rule in &rules {
                assert_eq!(rule.kind, NodeKind::Rule);
                assert!(!rule.children.is_empty(), "{}", rule.label);
                for r in &rule.children {
                    assert_eq!(r.kind, NodeKind::BackendRef);
                    let i = r.edge.expect("a backendRef node has its edge");
                    assert_eq!(&*posture.edges[i].route, &*n.label);
                    let label = match posture.edges[i].via {
                        Some(v) => format!("{v} #{}", posture.edges[i].rule),
                        None => format!("rule {}", posture.edges[i].rule),
                    };
                    assert_eq!(&*rule.label, label);
                    below.push(i);
                }
            }
            assert_eq!(below, n.edges, "{}", n.label);
            for i in below {
                seen[i] += 1;
            }
        });
        assert!(routes > 5, "{routes} routes");
        assert!(
            seen.iter().all(|&n| n <= 1),
            "an edge under two route nodes"
        );
        assert!(seen.iter().filter(|&&n| n == 1).count() > 10);
        // Walking the whole tree built in full meets every one of these edges' nodes.
        let full = built_in_full(&posture.edges, &posture.policies, &posture.tree);
        let mut refs = 0;
        visit(&full, &mut |n| {
            if n.kind == NodeKind::BackendRef {
                refs += 1;
                assert_eq!(n.children.len(), 1, "{}", n.label);
            }
        });
        assert_eq!(refs, seen.iter().filter(|&&n| n == 1).count());
    }
}
