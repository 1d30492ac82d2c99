//! Views, the view stack (breadcrumbs) and the `:` command line.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViewKind {
    Backends,
    Tree,
    Policies,
    Findings,
    Detail,
    Probe,
    Help,
}

impl ViewKind {
    /// Views reachable with Tab and number keys, in order.
    pub const TOP: [ViewKind; 4] = [
        ViewKind::Backends,
        ViewKind::Tree,
        ViewKind::Policies,
        ViewKind::Findings,
    ];

    pub fn title(self) -> &'static str {
        match self {
            ViewKind::Backends => "Backends",
            ViewKind::Tree => "Tree",
            ViewKind::Policies => "Policies",
            ViewKind::Findings => "Findings",
            ViewKind::Detail => "Detail",
            ViewKind::Probe => "Probe",
            ViewKind::Help => "Help",
        }
    }
}

/// What a detail view shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetailTarget {
    /// An edge, by its stable identity (gateway, edge key).
    Edge { gateway: String, key: String },
    /// An object by `KIND/NS/NAME`.
    Object(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub kind: ViewKind,
    pub detail: Option<DetailTarget>,
}

impl View {
    pub fn top(kind: ViewKind) -> Self {
        View { kind, detail: None }
    }
}

/// A parsed `:` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Show(ViewKind),
    Namespace(Option<String>),
    /// Switch the kubeconfig context (live cluster source).
    Context(String),
    Quit,
    Help,
}

/// Parses a `:` command line (k9s style, with short aliases).
pub fn parse_command(line: &str) -> Result<Command, String> {
    let mut words = line.split_whitespace();
    let Some(head) = words.next() else {
        return Err("empty command".into());
    };
    let arg = words.next();
    Ok(match (head, arg) {
        ("backends" | "be" | "b" | "edges", None) => Command::Show(ViewKind::Backends),
        ("tree" | "t", None) => Command::Show(ViewKind::Tree),
        ("policies" | "policy" | "pol" | "btlsp", None) => Command::Show(ViewKind::Policies),
        ("findings" | "f", None) => Command::Show(ViewKind::Findings),
        ("help" | "h", None) => Command::Help,
        ("q" | "q!" | "quit", None) => Command::Quit,
        ("ns" | "namespace", Some("all" | "-A")) => Command::Namespace(None),
        ("ns" | "namespace", Some(ns)) => Command::Namespace(Some(ns.to_string())),
        ("ns" | "namespace", None) => return Err("usage: :ns NAME or :ns all".into()),
        ("ctx" | "context", Some(name)) => Command::Context(name.to_string()),
        ("ctx" | "context", None) => return Err("usage: :ctx NAME".into()),
        (other, _) => {
            return Err(format!(
                "unknown command :{other} (backends, tree, policies, findings, ns NAME, ns all, ctx NAME, q)"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k9s_style_commands() {
        assert_eq!(parse_command("tree"), Ok(Command::Show(ViewKind::Tree)));
        assert_eq!(
            parse_command(" ns shop "),
            Ok(Command::Namespace(Some("shop".into())))
        );
        assert_eq!(parse_command("ns all"), Ok(Command::Namespace(None)));
        assert_eq!(parse_command("q"), Ok(Command::Quit));
        assert!(
            parse_command("frobnicate")
                .unwrap_err()
                .contains("unknown command")
        );
    }
}
