//! The real `lastmile` binary: sources, formats and exit codes.

use assert_cmd::Command;
use serde_json::Value;

const AT: &str = "2026-11-22T00:00:00Z";

fn lastmile() -> Command {
    Command::cargo_bin("lastmile").unwrap()
}

fn json_of(args: &[&str]) -> (Value, i32) {
    let out = lastmile()
        .args(args)
        .args(["--format", "json", "--at", AT])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    (v, out.status.code().unwrap())
}

#[test]
fn demo_json_lists_every_mode() {
    let (v, _) = json_of(&["check", "--demo"]);
    let modes: std::collections::BTreeSet<&str> = v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["mode"].as_str().unwrap())
        .collect();
    for m in [
        "tls-verified",
        "tls-unverified",
        "plaintext",
        "plaintext-to-tls-port",
        "passthrough",
        "fail-closed",
        "fail-open-plaintext",
        "unresolved",
        "unknown",
    ] {
        assert!(modes.contains(m), "demo lacks mode {m}: {modes:?}");
    }
    // The contract's fields are all there.
    let e = &v["edges"][0];
    for f in [
        "gateway",
        "listener",
        "route",
        "rule",
        "backend_ref",
        "backend",
        "mode",
        "mtls",
        "policy",
        "sni",
        "trust",
        "ca_refs",
        "insecure_skip_verify",
        "reasons",
    ] {
        assert!(e.get(f).is_some(), "edge lacks {f}");
    }
    let p = &v["policies"][0];
    for f in [
        "policy",
        "api_version",
        "role",
        "ancestors",
        "reported_matches_computed",
    ] {
        assert!(p.get(f).is_some(), "policy lacks {f}");
    }
    assert!(v["findings"].as_array().unwrap().iter().all(|f| {
        ["id", "severity", "subject", "message", "remediation"]
            .iter()
            .all(|k| f.get(k).is_some())
    }));
    assert!(
        v["policies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["reported_matches_computed"] == false),
        "the demo has a status that disagrees"
    );
    let stale = v["policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["ancestors"].as_array().unwrap().iter())
        .flat_map(|a| a["conditions"].as_array().unwrap().iter())
        .any(|c| c["stale"] == true);
    assert!(stale, "the demo has a stale status");
}

#[test]
fn seed_scenarios_in_the_demo() {
    let (v, _) = json_of(&["check", "--demo"]);
    let edge = |backend: &str| {
        v["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["backend"] == backend)
            .unwrap_or_else(|| panic!("{backend}"))
            .clone()
    };
    let skip = edge("Backend/ext/partner-api");
    assert_eq!(skip["mode"], "tls-unverified");
    assert_eq!(skip["insecure_skip_verify"], true);
    assert_eq!(skip["policy"], "ext/partner-api-tls");
    let trap = edge("Service/shop/cart:443");
    assert_eq!(trap["mode"], "plaintext-to-tls-port");
    assert!(
        trap["reasons"][0]
            .as_str()
            .unwrap()
            .contains("400 Bad Request")
    );
    let mtls = edge("Service/payments/fraud:8443");
    assert_eq!(mtls["mtls"], true);
}

#[test]
fn fail_on_sets_the_exit_code() {
    // The demo has a critical finding: every threshold fails.
    lastmile()
        .args(["check", "--demo", "--fail-on", "critical", "--at", AT])
        .assert()
        .code(1);
    // A clean cluster has only info-level findings or none.
    lastmile()
        .args(["check", "-f", "tests/fixtures/clean.yaml", "--at", AT])
        .assert()
        .code(0);
    lastmile()
        .args([
            "check",
            "-f",
            "tests/fixtures/clean.yaml",
            "--fail-on",
            "info",
            "--at",
            AT,
        ])
        .assert()
        .code(0);
    // Remove the policy: the port 443 trap is a high finding.
    let text = std::fs::read_to_string("tests/fixtures/clean.yaml").unwrap();
    let without_policy = text
        .split("---\napiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy")
        .next()
        .unwrap()
        .to_string();
    lastmile()
        .args(["check", "-f", "-", "--at", AT])
        .write_stdin(without_policy.clone())
        .assert()
        .code(1);
    lastmile()
        .args(["check", "-f", "-", "--fail-on", "critical", "--at", AT])
        .write_stdin(without_policy)
        .assert()
        .code(0);
}

#[test]
fn tool_errors_exit_2() {
    lastmile()
        .args(["check", "--demo", "--fail-on", "severe"])
        .assert()
        .code(2);
    lastmile()
        .args(["check", "--format", "xml", "--demo"])
        .assert()
        .code(2);
    let out = lastmile()
        .args(["check", "-f", "does/not/exist.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does/not/exist.yaml"));
    lastmile().args(["check"]).assert().code(2);
    lastmile()
        .args(["check", "--demo", "-f", "x.yaml"])
        .assert()
        .code(2);
}

#[test]
fn malformed_documents_name_file_and_line_and_hide_nothing_else() {
    let (v, code) = json_of(&["check", "-f", "tests/fixtures/broken.yaml"]);
    assert_eq!(code, 1, "an input error is a high finding");
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    let yaml_err = errors
        .iter()
        .find(|e| e["object"] == "Service/broken")
        .expect("broken YAML names the object");
    assert_eq!(yaml_err["file"], "tests/fixtures/broken.yaml");
    let line = yaml_err["line"].as_u64().unwrap();
    assert!(
        (7..=13).contains(&line),
        "line {line} should point into the second document"
    );
    let type_err = errors
        .iter()
        .find(|e| e["object"] == "BackendTLSPolicy/app/bad-types")
        .expect("type error names the object");
    assert_eq!(type_err["line"], 15, "the document starts on line 15");
    assert!(
        type_err["message"].as_str().unwrap().contains("targetRefs"),
        "{type_err}"
    );
    // The text report says the same, with file:line.
    let out = lastmile()
        .args(["check", "-f", "tests/fixtures/broken.yaml"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tests/fixtures/broken.yaml:15"), "{text}");
}

#[test]
fn directories_lists_and_json_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("nested");
    std::fs::create_dir(&sub).unwrap();
    std::fs::copy("tests/fixtures/clean.yaml", sub.join("clean.yml")).unwrap();
    std::fs::write(dir.path().join("ignored.txt"), "kind: nonsense").unwrap();
    let (v, code) = json_of(&["check", "-f", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(v["edges"][0]["mode"], "tls-verified");

    // `kubectl get -o yaml` style List and `-o json` style JSON.
    let snap = lastmile::source::from_text(
        &std::fs::read_to_string("tests/fixtures/clean.yaml").unwrap(),
        "clean",
    );
    let items: Vec<Value> = snap
        .raw
        .values()
        .map(|v| serde_json::from_str(v).unwrap())
        .collect();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let json_path = dir.path().join("dump.json");
    std::fs::write(&json_path, serde_json::to_string(&list).unwrap()).unwrap();
    let (v, _) = json_of(&["check", "-f", json_path.to_str().unwrap()]);
    assert_eq!(v["edges"].as_array().unwrap().len(), 1);
    assert_eq!(v["edges"][0]["mode"], "tls-verified");
    assert_eq!(v["errors"].as_array().unwrap().len(), 0);
}

#[test]
fn junit_is_well_formed_and_counts_failures() {
    let out = lastmile()
        .args(["check", "--demo", "--format", "junit", "--at", AT])
        .output()
        .unwrap();
    let xml = String::from_utf8(out.stdout).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures) = (0, 0);
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                match e.name().as_ref() {
                    b"testcase" => cases += 1,
                    b"failure" => failures += 1,
                    _ => {}
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert!(
        cases >= 20 + 11,
        "one case per edge and policy, got {cases}"
    );
    assert!(
        failures >= 8,
        "high and critical findings fail, got {failures}"
    );
}

#[test]
fn text_report_reads_at_a_glance() {
    let out = lastmile()
        .args(["check", "--demo", "--at", AT])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!("demo_text_report", text);
}
