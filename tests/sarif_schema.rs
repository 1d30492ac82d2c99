//! `check --format sarif` validates against the official SARIF 2.1.0 JSON schema
//! (tests/schemas/sarif-schema-2.1.0.json, see tests/schemas/PROVENANCE.md).

use assert_cmd::Command;
use serde_json::Value;

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string("tests/schemas/sarif-schema-2.1.0.json").unwrap(),
    )
    .unwrap();
    jsonschema::validator_for(&schema).expect("the SARIF schema compiles")
}

fn sarif(args: &[&str]) -> Value {
    let out = Command::cargo_bin("lastmile")
        .unwrap()
        .args(["check", "--format", "sarif", "--at", "2026-11-22T00:00:00Z"])
        .args(args)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn demo_sarif_is_valid_sarif_2_1_0() {
    let v = sarif(&["--demo"]);
    let validator = validator();
    let errors: Vec<String> = validator
        .iter_errors(&v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "SARIF schema violations: {errors:#?}");
    let run = &v["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(
        rules.iter().all(|r| r["fullDescription"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty())),
        "every rule carries its remediation"
    );
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            rules[idx]["id"], r["ruleId"],
            "ruleIndex points at the rule"
        );
    }
    // Findings read from files carry a physical location with the line.
    let files = sarif(&["-f", "tests/fixtures/broken.yaml"]);
    let errors: Vec<String> = validator
        .iter_errors(&files)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let located = files["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| {
            r["locations"][0]["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .is_some()
        });
    assert!(located, "{files:#}");
}

#[test]
fn the_schema_check_can_fail() {
    let mut v = sarif(&["--demo"]);
    v["runs"][0]["results"][0]["level"] = Value::String("fatal".into());
    assert!(
        !validator().is_valid(&v),
        "an invalid level must be rejected"
    );
}
