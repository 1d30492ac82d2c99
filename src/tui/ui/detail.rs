//! Detail view: everything about an edge or object and why its mode is what it is; `y` shows
//! the YAML of the related objects (Secret values are redacted at load time).

use super::mode_text;
use crate::posture::{Edge, PolicyReport};
use crate::sanitize::clean_owned;
use crate::tui::app::App;
use crate::tui::nav::DetailTarget;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = app.theme;
    let (title, lines) = match &app.view().detail {
        Some(DetailTarget::Edge { gateway, key }) => match app.edge_position(gateway, key) {
            Some(i) => {
                let e = &app.posture.edges[i];
                let title = format!(" {} → {} ", e.route, e.backend);
                (
                    title,
                    if app.show_yaml {
                        yaml_lines(app, &related_objects(e))
                    } else {
                        edge_lines(app, i)
                    },
                )
            }
            None => (
                " gone ".into(),
                vec![Line::raw("This edge no longer exists in the source.")],
            ),
        },
        Some(DetailTarget::Object(o)) => {
            let lines = if app.show_yaml {
                yaml_lines(app, std::slice::from_ref(o))
            } else {
                object_lines(app, o)
            };
            (format!(" {o} "), lines)
        }
        None => (" detail ".into(), vec![]),
    };
    let total = lines.len();
    let height = area.height.saturating_sub(2) as usize;
    let scroll = app.detail_scroll.min(total.saturating_sub(height));
    let mode = if app.show_yaml {
        "YAML — y: back to details"
    } else {
        "y: YAML"
    };
    let p = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((scroll as u16, 0))
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(clean_owned(&title), t.title()))
                .title_bottom(Span::styled(
                    format!(" {mode} · c: copy reference "),
                    t.dim(),
                )),
        );
    f.render_widget(p, area);
}

/// "expires 2036-01-01 (3326 days left)" or "EXPIRED on ...".
fn expiry(now: jiff::Timestamp, not_after: jiff::Timestamp) -> String {
    let days = (not_after.as_second() - now.as_second()) / 86_400;
    if not_after <= now {
        format!("EXPIRED on {}", not_after.strftime("%Y-%m-%d"))
    } else {
        format!(
            "expires {} ({days} days left)",
            not_after.strftime("%Y-%m-%d")
        )
    }
}

fn heading(t: Theme, s: &str) -> Line<'static> {
    Line::styled(s.to_string(), t.title())
}

fn kv(t: Theme, k: &str, v: String) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("  {k:<14}"), t.key()),
        Span::raw(clean_owned(&v)),
    ])
}

fn edge_lines(app: &App, i: usize) -> Vec<Line<'static>> {
    let t = app.theme;
    let p = &app.posture;
    let e = &p.edges[i];
    let mut l = vec![heading(t, "Edge")];
    l.push(kv(
        t,
        "Gateway",
        format!(
            "{} (class {}, {})",
            e.gateway,
            e.gateway_class,
            e.semantics.describe()
        ),
    ));
    l.push(kv(
        t,
        "Controller",
        if e.controller.is_empty() {
            "—".into()
        } else {
            e.controller.to_string()
        },
    ));
    l.push(kv(
        t,
        "Listener",
        e.listener
            .as_deref()
            .unwrap_or("(several or none)")
            .to_string(),
    ));
    let via = e
        .via
        .as_ref()
        .map(|v| format!(" ({v})"))
        .unwrap_or_default();
    l.push(kv(
        t,
        "Route",
        format!(
            "{}{via}  rule {}  backendRef {}  weight {}",
            e.route, e.rule, e.backend_ref, e.weight
        ),
    ));
    l.push(kv(t, "Backend", e.backend.to_string()));
    if !e.attached {
        l.push(Line::styled(
            "  the route is not attached to this Gateway through this parentRef",
            t.error(),
        ));
    }
    l.push(Line::raw(""));
    l.push(Line::from(vec![
        Span::styled("Mode  ", t.title()),
        Span::styled(mode_text(e.mode, e.mtls), t.mode(e.mode)),
    ]));
    l.push(Line::raw(""));
    l.push(heading(t, "Why"));
    for r in &e.reasons {
        l.push(Line::raw(format!("  • {}", clean_owned(r))));
    }
    l.push(Line::raw(""));
    l.push(heading(t, "TLS settings"));
    l.push(kv(
        t,
        "Policy",
        e.policy.as_deref().unwrap_or("—").to_string(),
    ));
    l.push(kv(
        t,
        "SNI",
        e.sni.as_deref().map(str::to_string).unwrap_or_else(|| {
            if e.auto_sni {
                "from the endpoint hostname".into()
            } else {
                "—".into()
            }
        }),
    ));
    l.push(kv(t, "Trust", format!("{:?}", e.trust).to_lowercase()));
    for s in e.ca_ref_states.iter() {
        l.push(kv(
            t,
            "CA ref",
            format!(
                "{} {} {}",
                if s.resolved() { "✔" } else { "✘" },
                s.reference,
                s.detail.clone().unwrap_or_else(|| s.state.to_string())
            ),
        ));
        for c in &s.certificates {
            let exp = c.not_after.map(|n| expiry(app.now, n)).unwrap_or_default();
            l.push(Line::raw(format!(
                "                  {}  {} {}  {exp}",
                clean_owned(&c.subject),
                c.key,
                c.key_bits.map(|b| b.to_string()).unwrap_or_default()
            )));
        }
    }
    if !e.sans.is_empty() {
        l.push(kv(
            t,
            "SANs",
            e.sans
                .iter()
                .map(|s| s.value().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    if let Some(cc) = &e.client_cert {
        l.push(kv(
            t,
            "Client cert",
            format!(
                "{} {} (from {})",
                if cc.resolved { "✔" } else { "✘" },
                cc.secret,
                cc.source
            ),
        ));
    }
    l.push(kv(t, "Skip verify", e.insecure_skip_verify.to_string()));
    if e.min_version.is_some() || e.max_version.is_some() {
        l.push(kv(
            t,
            "Versions",
            format!(
                "{} – {}",
                e.min_version.clone().unwrap_or_default(),
                e.max_version.clone().unwrap_or_default()
            ),
        ));
    }
    if let Some(a) = &e.alpn {
        l.push(kv(
            t,
            "ALPN",
            if a.is_empty() {
                "disabled".into()
            } else {
                a.join(", ")
            },
        ));
    }
    let findings: Vec<_> = p.findings.iter().filter(|f| f.edge == Some(i)).collect();
    if !findings.is_empty() {
        l.push(Line::raw(""));
        l.push(heading(t, "Findings"));
        for f in findings {
            l.extend(super::finding_lines(t, f));
        }
    }
    l.push(Line::raw(""));
    l.push(heading(t, "Related objects (y shows their YAML)"));
    for o in related_objects(e) {
        l.push(Line::raw(format!("  {}", clean_owned(&o))));
    }
    if let Some(pk) = &e.policy
        && let Some(r) = p.policies.iter().find(|r| &r.policy == pk)
    {
        l.push(Line::raw(""));
        l.extend(policy_lines(app, r));
    }
    l
}

/// `KIND/NS/NAME` of the objects behind an edge.
fn related_objects(e: &Edge) -> Vec<String> {
    let backend = e
        .backend
        .split(':')
        .next()
        .unwrap_or(&e.backend)
        .to_string();
    let mut v = vec![backend];
    v.extend(e.policy.iter().map(|pk| format!("BackendTLSPolicy/{pk}")));
    v.extend(e.ca_ref_states.iter().map(|s| s.reference.clone()));
    v.push(e.route.to_string());
    v.push(format!("Gateway/{}", e.gateway));
    v
}

fn policy_lines(app: &App, r: &PolicyReport) -> Vec<Line<'static>> {
    let t = app.theme;
    let mut l = vec![heading(t, &format!("BackendTLSPolicy {}", r.policy))];
    l.push(kv(t, "API version", r.api_version.clone()));
    l.push(kv(t, "Role", r.role.as_str().to_string()));
    l.push(kv(t, "Hostname", r.hostname.to_string()));
    if let Some(w) = &r.well_known {
        l.push(kv(t, "Trust", format!("wellKnownCACertificates: {w}")));
    }
    for p in &r.problems {
        l.push(Line::styled(format!("  ✘ {}", clean_owned(p)), t.error()));
    }
    for x in &r.targets {
        l.push(kv(
            t,
            "Target",
            format!("{} — {}: {}", x.target, x.role, x.detail),
        ));
    }
    let check = if r.reported_matches_computed {
        Span::styled("✔ reported status matches the computed result", t.ok(true))
    } else {
        Span::styled(
            "✘ reported status differs from the computed result",
            t.ok(false),
        )
    };
    l.push(Line::from(vec![Span::raw("  "), check]));
    for a in &r.ancestors {
        l.push(Line::raw(format!(
            "  ancestor {} ({})",
            clean_owned(&a.ancestor),
            clean_owned(&a.controller)
        )));
        let show =
            |c: &crate::posture::ConditionView| format!("{}={}/{}", c.type_, c.status, c.reason);
        let rep: Vec<String> = a
            .conditions
            .iter()
            .map(|c| format!("{}{}", show(c), if c.stale { " (stale)" } else { "" }))
            .collect();
        let comp: Vec<String> = a.computed.iter().map(show).collect();
        l.push(Line::raw(format!(
            "    reported: {}",
            if rep.is_empty() {
                "nothing".into()
            } else {
                clean_owned(&rep.join(", "))
            }
        )));
        l.push(Line::styled(
            format!(
                "    computed: {}",
                if comp.is_empty() {
                    "nothing".into()
                } else {
                    comp.join(", ")
                }
            ),
            t.ok(a.matches),
        ));
    }
    l
}

fn object_lines(app: &App, o: &str) -> Vec<Line<'static>> {
    let t = app.theme;
    let p = &app.posture;
    let mut l = Vec::new();
    if let Some(key) = o.strip_prefix("BackendTLSPolicy/")
        && let Some(r) = p.policies.iter().find(|r| *r.policy == *key)
    {
        l.extend(policy_lines(app, r));
        l.push(Line::raw(""));
    }
    let findings: Vec<_> = p
        .findings
        .iter()
        .filter(|f| *f.object == *o && f.edge.is_none())
        .collect();
    if !findings.is_empty() {
        l.push(heading(t, "Findings"));
        for f in findings {
            l.extend(super::finding_lines(t, f));
        }
        l.push(Line::raw(""));
    }
    let name_part = o.split_once('/').map(|(_, r)| r).unwrap_or(o);
    let edges: Vec<&Edge> = p
        .edges
        .iter()
        .filter(|e| {
            *e.route == *o
                || e.backend.starts_with(o)
                || e.policy.as_deref() == Some(name_part)
                || o.strip_prefix("Gateway/") == Some(&*e.gateway)
        })
        .collect();
    if !edges.is_empty() {
        l.push(heading(t, "Edges"));
        for e in edges {
            l.push(Line::from(vec![
                Span::styled(
                    format!("  {:<26}", mode_text(e.mode, e.mtls)),
                    t.mode(e.mode),
                ),
                Span::raw(clean_owned(&format!(
                    "{} → {} via {}",
                    e.route, e.backend, e.gateway
                ))),
            ]));
        }
        l.push(Line::raw(""));
    }
    if let Some(origin) = app.snapshot.origins.get(o) {
        l.push(kv(t, "Read from", origin.to_string()));
    }
    if l.is_empty() {
        l.push(Line::raw("No details for this object."));
    }
    l
}

fn yaml_lines(app: &App, objects: &[String]) -> Vec<Line<'static>> {
    let t = app.theme;
    let mut l = Vec::new();
    for o in objects {
        l.push(Line::styled(format!("# {o}"), t.dim()));
        // Only the objects shown are parsed from their stored text.
        match app.snapshot.raw_value(o) {
            Some(v) => {
                let text = v
                    .map_err(|e| e.to_string())
                    .and_then(|v| serde_saphyr::to_string(&v).map_err(|e| e.to_string()))
                    .unwrap_or_else(|e| format!("(cannot render: {e})"));
                l.extend(text.lines().map(|x| Line::raw(clean_owned(x))));
            }
            None => l.push(Line::styled("(not in the source)", t.dim())),
        }
        l.push(Line::raw("---"));
    }
    l
}
