//! Policies view: every BackendTLSPolicy with its computed role, and the ancestors table of the
//! selected one (reported conditions beside what lastmile computes).

use super::{age, fit};
use crate::posture::{ConditionView, PolicyRole};
use crate::sanitize::clean_owned;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = app.theme;
    let idx = app.policy_indices();
    let top_h = ((idx.len() + 3) as u16).min(area.height / 2).max(5);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(top_h), Constraint::Min(4)]).areas(area);
    let page = top.height.saturating_sub(3) as usize;
    let nav = app.policies_nav;
    let offset = nav.window_offset(page);
    let rows: Vec<Row> = idx
        .iter()
        .enumerate()
        .skip(offset)
        .take(page)
        .map(|(i, &pi)| {
            let p = &app.posture.policies[pi];
            let role_ok = matches!(p.role, PolicyRole::Winner);
            let badge = if p.reported_matches_computed {
                Span::styled("✔ reported = computed", t.ok(true))
            } else {
                Span::styled("✘ reported ≠ computed", t.ok(false))
            };
            let targets: Vec<String> = p
                .targets
                .iter()
                .map(|x| format!("{} ({})", x.target, x.role))
                .collect();
            let style = if i == nav.selected {
                t.selected()
            } else {
                Style::new()
            };
            Row::new(vec![
                Cell::from(clean_owned(&p.policy)),
                Cell::from(
                    p.api_version
                        .trim_start_matches("gateway.networking.k8s.io/")
                        .to_string(),
                ),
                Cell::from(Span::styled(
                    format!("{} {}", if role_ok { "✔" } else { "✘" }, p.role.as_str()),
                    t.ok(role_ok),
                )),
                Cell::from(clean_owned(&targets.join(", "))),
                Cell::from(badge),
            ])
            .style(style)
        })
        .collect();
    let header = Row::new(
        [
            "POLICY",
            "API",
            "ROLE",
            "TARGETS (computed role)",
            "STATUS CHECK",
        ]
        .map(|h| Cell::from(Span::styled(h, t.title()))),
    );
    let table = Table::new(
        rows,
        [
            Constraint::Fill(2),
            Constraint::Length(9),
            Constraint::Length(13),
            Constraint::Fill(3),
            Constraint::Length(22),
        ],
    )
    .header(header)
    .block(Block::default().borders(Borders::ALL).title(Span::styled(
        format!(" Policies [{}] ", idx.len()),
        t.title(),
    )));
    f.render_widget(table, top);

    let Some(&pi) = idx.get(nav.selected) else {
        f.render_widget(
            Block::default().borders(Borders::ALL).title(" Ancestors "),
            bottom,
        );
        return;
    };
    let p = &app.posture.policies[pi];
    let mut rows = Vec::new();
    // Content widths for the columns that should not be truncated.
    let mut w_anc = 8usize;
    let mut w_ctl = 10usize;
    let mut w_reason = 6usize;
    let mut w_comp = 8usize;
    for a in &p.ancestors {
        let conds: Vec<(&ConditionView, bool)> = if a.conditions.is_empty() {
            a.computed.iter().map(|c| (c, false)).collect()
        } else {
            a.conditions.iter().map(|c| (c, true)).collect()
        };
        for (c, reported) in conds {
            let computed = a.computed.iter().find(|x| x.type_ == c.type_);
            let agrees = computed.is_some_and(|x| x.status == c.status && x.reason == c.reason);
            let computed_text = match (reported, computed) {
                (false, _) => "(not reported)".to_string(),
                (true, Some(_)) if agrees => "= same".to_string(),
                (true, Some(x)) => format!("≠ {}/{}", x.status, x.reason),
                (true, None) => "≠ none".to_string(),
            };
            w_anc = w_anc.max(a.ancestor.chars().count());
            w_ctl = w_ctl.max(a.controller.chars().count().min(46));
            w_reason = w_reason.max(c.reason.chars().count());
            w_comp = w_comp.max(computed_text.chars().count());
            let obs = match (c.observed_generation, p.generation) {
                (Some(o), Some(g)) if o < g => {
                    Span::styled(format!("{o} STALE (gen {g})"), t.ok(false))
                }
                (Some(o), _) => Span::raw(o.to_string()),
                (None, _) => Span::styled("—", t.dim()),
            };
            rows.push(Row::new(vec![
                Cell::from(clean_owned(&a.ancestor)),
                Cell::from(fit(&clean_owned(&a.controller), 46)),
                Cell::from(clean_owned(&c.type_)),
                Cell::from(Span::styled(
                    format!(
                        "{} {}",
                        if &*c.status == "True" { "✔" } else { "✘" },
                        clean_owned(&c.status)
                    ),
                    t.ok(&*c.status == "True"),
                )),
                Cell::from(clean_owned(&c.reason)),
                Cell::from(clean_owned(&c.message)),
                Cell::from(obs),
                Cell::from(age(app.now, c.last_transition_time)),
                Cell::from(Span::styled(computed_text, t.ok(agrees || !reported))),
            ]));
        }
    }
    let header = Row::new(
        [
            "ANCESTOR",
            "CONTROLLER",
            "TYPE",
            "STATUS",
            "REASON",
            "MESSAGE",
            "OBS.GEN",
            "AGE",
            "COMPUTED",
        ]
        .map(|h| Cell::from(Span::styled(h, t.title()))),
    );
    let title = if p.ancestors.is_empty() {
        format!(
            " {} — no status.ancestors: {} ",
            p.policy,
            p.targets
                .iter()
                .map(|x| x.detail.clone())
                .collect::<Vec<_>>()
                .join("; ")
        )
    } else {
        format!(" Ancestors of {} ", p.policy)
    };
    let table = Table::new(
        rows,
        ancestor_widths(
            bottom.width.saturating_sub(2) as usize,
            [w_anc, w_ctl, w_reason, w_comp],
        )
        .map(|w| Constraint::Length(w as u16)),
    )
    .header(header)
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(Span::styled(clean_owned(&title), t.title())),
    );
    f.render_widget(table, bottom);
}

/// Widths of the nine ancestor columns: content widths for ancestor, controller, reason and
/// computed; the message gets what is left. The controller and ancestor give way first.
fn ancestor_widths(available: usize, [anc, ctl, reason, comp]: [usize; 4]) -> [usize; 9] {
    let fixed = 12 + 7 + 16 + 5 + 8;
    let mut w = [anc, ctl, reason, comp];
    let min_msg = 12;
    for (i, floor) in [(1, 18), (0, 16), (3, 12), (2, 12)] {
        let need = fixed + w.iter().sum::<usize>() + min_msg;
        if need > available {
            w[i] = w[i].saturating_sub(need - available).max(floor.min(w[i]));
        }
    }
    let msg = available.saturating_sub(fixed + w.iter().sum::<usize>());
    [w[0], w[1], 12, 7, w[2], msg, 16, 5, w[3]]
}
