//! The findings' rules, order and sort.

use super::sort::sort_runs;
use super::*;

/// Certificate findings are the same up to the second before the change time, and differ
/// from it on (the days left go down), for a certificate far from and near its end.
#[test]
fn certificate_findings_change_when_announced() {
    let base: jiff::Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
    for days_left in [90.6, 59.25, 29.99, 0.5] {
        let not_after = base
            .checked_add(jiff::SignedDuration::from_secs_f64(days_left * 86_400.0))
            .unwrap();
        let cert = CertFacts {
            not_after: Some(not_after),
            is_ca: true,
            ..Default::default()
        };
        let at = |s: i64| jiff::Timestamp::from_second(s).unwrap();
        let change = cert_issues_change_at(&cert, base).expect("not expired");
        assert!(change > base.as_second());
        assert_eq!(cert_issues(&cert, at(change - 1)), cert_issues(&cert, base));
        let next_day = cert_issues_change_at(&cert, at(change)).map_or(0, |t| t - change);
        assert!(
            next_day == 86_400 || days_left < 1.0,
            "{days_left}: {next_day}"
        );
        if days_left < 60.0 {
            assert_ne!(cert_issues(&cert, at(change)), cert_issues(&cert, base));
        }
    }
}

#[test]
fn every_rule_id_is_unique() {
    let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n);
}

/// Sorting by position gives the order of a stable sort of the findings themselves: by
/// severity, rule and subject, and findings that compare equal keep the order they came in.
#[test]
fn sort_runs_is_a_stable_sort() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    // Items are (value, position): compared by value only, so ties show whether their
    // order was kept. Inputs are runs in order put one after another in any order: runs
    // apart (moved into place), runs that overlap or tie (sorted), and more runs than are
    // moved.
    let runs = prop::collection::vec(
        (0u8..40, 0u8..12)
            .prop_map(|(from, n)| (from..from.saturating_add(n)).collect::<Vec<u8>>()),
        0..20,
    );
    let cmp = |a: &(u8, usize), b: &(u8, usize)| a.0.cmp(&b.0);
    TestRunner::new(Config::with_cases(2_000))
        .run(&runs, |runs| {
            let mut items: Vec<(u8, usize)> = runs
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, v)| (v, i))
                .collect();
            let mut expected = items.clone();
            expected.sort_by(cmp);
            sort_runs(&mut items, |_| std::ptr::null(), cmp);
            prop_assert_eq!(items, expected);
            Ok(())
        })
        .unwrap();
}

#[test]
fn sort_is_the_stable_order() {
    let ids = ["plaintext-backend", "tls-unverified", "fail-closed"];
    // Runs of findings share their object, as a route's edges' findings do (each run is
    // put in order before the bucket is sorted).
    let objects: Vec<Arc<str>> = (0..14).map(|o| Arc::from(format!("o{o}"))).collect();
    let mut findings: Vec<Finding> = (0..200u32)
        .map(|i| {
            let id = ids[(i * 7 % 3) as usize];
            Finding {
                id,
                severity: rule(id).severity,
                // Few subjects: equal ones share runs of an object too.
                subject: format!("subject {}", (i * 13 % 17) / 3).into(),
                // Tells apart findings that compare equal.
                message: i.to_string().into(),
                remediation: "",
                object: objects[(i / 15) as usize].clone(),
                origin: None,
                edge: Some(i as usize),
            }
        })
        .collect();
    let mut expected = findings.clone();
    expected.sort_by(order);
    sort(&mut findings);
    let key = |f: &Finding| (f.id, f.subject.clone(), f.message.clone());
    assert_eq!(
        findings.iter().map(key).collect::<Vec<_>>(),
        expected.iter().map(key).collect::<Vec<_>>()
    );
    assert!(findings.windows(2).any(|w| order(&w[0], &w[1]).is_eq()));
}

/// A route that names a Gateway that is not there has a finding for each such parentRef,
/// whether the snapshot is evaluated on one thread (S) or on several (M): the evaluation of
/// the routes' edges notes those routes, and only they are looked at again.
#[test]
fn routes_naming_a_missing_gateway_have_a_finding_each() {
    use crate::synth::{self, Size};
    for size in [Size::S, Size::M] {
        let mut objects = synth::generate(size, 3);
        let routes = synth::route_positions(&objects);
        let missing = |name: &str| serde_json::json!({"name": name, "namespace": "infra"});
        // Its only Gateway gone; one missing beside the one it has; two missing ones. Spread
        // over the routes, so that they fall in different runs of a parallel evaluation.
        let (first, middle, last) = (
            routes[3],
            routes[routes.len() / 2],
            routes[routes.len() - 2],
        );
        objects[first]["spec"]["parentRefs"] = serde_json::json!([missing("gone")]);
        objects[middle]["spec"]["parentRefs"]
            .as_array_mut()
            .unwrap()
            .push(missing("gone"));
        objects[last]["spec"]["parentRefs"] =
            serde_json::json!([missing("gone-1"), missing("gone-2")]);
        let mut b = crate::snapshot::SnapshotBuilder::new();
        for o in &objects {
            crate::source::decode::add_value(&mut b, o.clone(), Origin::default());
        }
        let snap = b.build(Default::default());
        let posture = crate::posture::evaluate(
            &snap,
            "2026-11-22T00:00:00Z".parse().unwrap(),
            &Default::default(),
        );
        assert!(size == Size::S || posture.edges.len() >= crate::posture::PARALLEL_EDGES);
        let got: Vec<(String, String)> = posture
            .findings
            .iter()
            .filter(|f| f.id == "route-parent-missing")
            .map(|f| (f.object.to_string(), f.message.to_string()))
            .collect();
        let key = |i: usize| {
            let o = &objects[i];
            format!(
                "{}/{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["namespace"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        };
        let says = |name: &str| format!("parentRef Gateway infra/{name} does not exist");
        let mut want = vec![
            (key(first), says("gone")),
            (key(middle), says("gone")),
            (key(last), says("gone-1")),
            (key(last), says("gone-2")),
        ];
        want.sort();
        assert_eq!(got, want, "{size:?}");
    }
}
