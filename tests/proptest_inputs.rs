//! A bounded fuzz pass on stable Rust: the four input surfaces the fuzz targets (`fuzz/`) cover,
//! driven by proptest with a fixed case count so `cargo test` runs it in CI.
//!
//! - the manifest loader, on arbitrary bytes and YAML-ish text, and on generated objects of
//!   every kind (shared generator `tests/support/objgen.rs`) in every layout;
//! - the posture engine on generated snapshots (dangling refs, ReferenceGrant cycles, duplicate
//!   names, long lists) under every engine option;
//! - the certificate summariser and PEM bundle parser on mutated real certificates, and the
//!   verdict on mutated served chains;
//! - the legacy ServerHello parser on arbitrary bytes and on well-formed ServerHellos.

#[path = "support/objgen.rs"]
mod objgen;

#[path = "support/fuzz_harness.rs"]
mod fuzz_harness;

use lastmile::model::PemBundle;
use lastmile::probe::CertSummary;
use lastmile::probe::legacy::{parse_answer, suite_weaknesses};
use proptest::prelude::*;
use std::sync::OnceLock;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Failures are reported with their minimal input; no files are written next to tests.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text made of the characters and words that YAML and JSON parsers branch on.
fn yamlish() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "---\n",
        "...\n",
        "kind: ",
        "List",
        "Service",
        "Gateway",
        "HTTPRoute",
        "BackendTLSPolicy",
        "apiVersion: ",
        "v1",
        "gateway.networking.k8s.io/v1",
        "metadata:\n  name: a\n",
        "items:\n",
        "spec:\n",
        "- ",
        "  ",
        "\n",
        ": ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "\"",
        "'",
        "&a ",
        "*a",
        "!!binary ",
        "<<: *a\n",
        "#",
        "|\n",
        ">-\n",
        "null",
        "~",
        "1e999",
        "-0x1",
        "\t",
        "\u{feff}",
        "é",
    ]);
    prop::collection::vec(atoms, 0..64).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn loader_takes_any_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzz_harness::manifest_bytes(&data);
    }

    #[test]
    fn loader_takes_yamlish_text(text in yamlish()) {
        fuzz_harness::manifest_bytes(text.as_bytes());
    }

    #[test]
    fn generated_objects_are_read_or_named_in_an_error(
        data in prop::collection::vec(any::<u8>(), 0..1024)
    ) {
        fuzz_harness::manifest_objects(&data);
    }

    #[test]
    fn engine_makes_one_edge_per_backend_ref(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        fuzz_harness::posture(&data);
    }

}

proptest! {
    // Five parses per case: fewer cases keep the file well under 30 s in debug builds.
    #![proptest_config(config(96))]

    #[test]
    fn every_layout_reads_the_same_objects(
        data in prop::collection::vec(any::<u8>(), 1..768)
    ) {
        // The YAML stream, the JSON array, the two `kind: List` forms and the resources layout
        // of one set of objects give the same objects and the same errors (up to line numbers).
        let mut s = objgen::Src::new(&data);
        let objects = objgen::objects(&mut s, 32);
        let read = |layout| {
            let snap = lastmile::source::from_text(&objgen::render(&objects, layout), "x");
            let mut errors: Vec<String> =
                snap.errors.iter().map(|e| format!("{}: {}", e.object, e.message)).collect();
            errors.sort();
            (snap.raw.keys().cloned().collect::<Vec<_>>(), errors)
        };
        let first = read(objgen::LAYOUTS[0]);
        for layout in &objgen::LAYOUTS[1..] {
            let other = read(*layout);
            prop_assert_eq!(&first.0, &other.0, "{:?}", layout);
            prop_assert_eq!(first.1.len(), other.1.len(), "{:?}: {:?} vs {:?}", layout, first.1, other.1);
        }
    }
}

/// A real certificate (rcgen, EC P-256) and its DER.
fn real_der() -> &'static [u8] {
    static DER: OnceLock<Vec<u8>> = OnceLock::new();
    DER.get_or_init(|| {
        let mut p =
            rcgen::CertificateParams::new(vec!["backend.test".to_string(), "10.1.2.3".to_string()])
                .unwrap();
        p.subject_alt_names.push(rcgen::SanType::URI(
            "spiffe://td/ns/app".try_into().unwrap(),
        ));
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "backend.test");
        let key = rcgen::KeyPair::generate().unwrap();
        p.self_signed(&key).unwrap().der().to_vec()
    })
}

/// Edits to a byte string: (position, kind, byte).
fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    prop::collection::vec((any::<usize>(), 0u8..4, any::<u8>()), 1..8)
}

fn apply(base: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut v = base.to_vec();
    for &(at, kind, b) in edits {
        let at = at % (v.len() + 1);
        match kind {
            0 if at < v.len() => v[at] = b,
            1 => v.insert(at, b),
            2 if at < v.len() => {
                v.remove(at);
            }
            _ => v.truncate(at),
        }
    }
    v
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn cert_summary_takes_mutated_certificates(e in edits()) {
        let der = apply(real_der(), &e);
        fuzz_harness::cert(&der);
    }

    #[test]
    fn verdict_takes_mutated_chains(e in edits(), mode in any::<u8>(), two in any::<bool>()) {
        // What a hostile backend controls: the served certificates, judged against a real CA.
        let der = apply(real_der(), &e);
        let split = if two { (der.len() / 2) as u16 } else { 0 };
        let mut data = vec![mode];
        data.extend_from_slice(&split.to_be_bytes());
        data.extend_from_slice(&der);
        fuzz_harness::verdict(&data);
    }

    #[test]
    fn cert_summary_takes_any_bytes(data in prop::collection::vec(any::<u8>(), 0..600)) {
        fuzz_harness::cert(&data);
    }

    #[test]
    fn pem_bundle_counts_every_certificate_block(
        blocks in prop::collection::vec(prop::option::of(edits()), 0..6),
        junk in "[ -~\n]{0,40}",
    ) {
        // Each CERTIFICATE block is a certificate or an error; other text is skipped.
        use base64::Engine;
        let mut pem = String::new();
        for b in &blocks {
            let der = match b {
                Some(e) => apply(real_der(), e),
                None => real_der().to_vec(),
            };
            let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
            pem.push_str(&junk);
            pem.push_str("\n-----BEGIN CERTIFICATE-----\n");
            for line in b64.as_bytes().chunks(64) {
                pem.push_str(std::str::from_utf8(line).unwrap());
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
        let bundle = PemBundle::parse(pem.as_bytes());
        prop_assert_eq!(bundle.certs.len() + bundle.errors.len(), blocks.len(), "{:?}", bundle);
        let intact = blocks.iter().filter(|b| b.is_none()).count();
        prop_assert!(bundle.certs.len() >= intact);
    }

    #[test]
    fn cert_summary_of_a_real_certificate_is_complete(secs in -62_135_596_800i64..253_402_207_199) {
        let now = jiff::Timestamp::from_second(secs).unwrap();
        let c = CertSummary::from_der(real_der(), now).unwrap();
        prop_assert_eq!(c.sans.clone(), vec![
            "backend.test".to_string(), "10.1.2.3".to_string(), "spiffe://td/ns/app".to_string()
        ]);
        prop_assert!(c.self_signed);
        let na = c.not_after.unwrap();
        prop_assert_eq!(c.days_left.unwrap() < 0, na < now);
    }
}

/// A TLS record holding one ServerHello (TLS 1.2 and older shape, no extensions).
fn server_hello(version: u16, suite: u16) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend_from_slice(&[7u8; 32]);
    body.push(0); // session id
    body.extend_from_slice(&suite.to_be_bytes());
    body.push(0); // compression
    let mut hs = vec![2u8];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x03];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn legacy_parser_takes_any_answer(data in prop::collection::vec(any::<u8>(), 0..300)) {
        fuzz_harness::legacy_answer(&data);
        // With a TLS record header in front, the parser goes past the first byte.
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend_from_slice(&(data.len() as u16).to_be_bytes());
        rec.extend_from_slice(&data);
        let _ = parse_answer(0x0301, &rec);
        let mut alert = vec![0x15, 0x03, 0x01];
        alert.extend_from_slice(&(data.len() as u16).to_be_bytes());
        alert.extend_from_slice(&data);
        let _ = parse_answer(0x0301, &alert);
    }

    #[test]
    fn legacy_parser_reads_server_hellos(
        offered in prop::sample::select(vec![0x0301u16, 0x0302, 0x0303]),
        version in prop::sample::select(vec![0x0300u16, 0x0301, 0x0302, 0x0303]),
        suite in any::<u16>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let hello = server_hello(version, suite);
        let a = parse_answer(offered, &hello);
        prop_assert_eq!(a.accepted, version == offered, "{:?}", a);
        prop_assert_eq!(&a.weaknesses, &suite_weaknesses(suite).1);
        prop_assert!(a.detail.contains(&suite_weaknesses(suite).0), "{}", a.detail);
        // A cut-off hello is never accepted.
        let short = &hello[..cut.index(hello.len())];
        prop_assert!(!parse_answer(offered, short).accepted);
    }
}

/// Huge lists and ReferenceGrant cycles, deterministic: one route with 2,000 backendRefs across
/// namespaces that grant each other everything, 200 policies on one Service, duplicate names.
#[test]
fn engine_handles_huge_lists_and_grant_cycles() {
    use serde_json::json;
    let namespaces = ["a", "b", "c"];
    let mut objects = vec![
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
               "metadata": {"name": "eg"},
               "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": "gw", "namespace": "a"},
               "spec": {"gatewayClassName": "eg", "listeners": [
                   {"name": "http", "protocol": "HTTP", "port": 80,
                    "allowedRoutes": {"namespaces": {"from": "All"}}}]}}),
    ];
    for (i, ns) in namespaces.iter().enumerate() {
        let next = namespaces[(i + 1) % namespaces.len()];
        // a grants b, b grants c, c grants a: a cycle, and every grant twice (duplicates).
        for _ in 0..2 {
            objects.push(json!({"apiVersion": "gateway.networking.k8s.io/v1beta1",
                "kind": "ReferenceGrant", "metadata": {"name": "all", "namespace": ns},
                "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                   "namespace": next}],
                         "to": [{"group": "", "kind": "Service"}]}}));
        }
        objects.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"ports": [{"name": "https", "port": 443}]}}));
    }
    for p in 0..200 {
        objects.push(json!({"apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "BackendTLSPolicy", "metadata": {"name": format!("p{p}"), "namespace": "b"},
            "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "web"}],
                     "validation": {"wellKnownCACertificates": "System", "hostname": "web.b"}}}));
    }
    let refs: Vec<_> = (0..2000)
        .map(|i| json!({"name": "web", "namespace": namespaces[i % 3], "port": 443}))
        .collect();
    objects.push(
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "r", "namespace": "c"},
        "spec": {"parentRefs": [{"name": "gw", "namespace": "a"}],
                 "rules": [{"backendRefs": refs}]}}),
    );
    let text = serde_json::to_string(&objects).unwrap();
    let t = std::time::Instant::now();
    let snap = lastmile::source::from_text(&text, "huge.json");
    let posture = lastmile::posture::evaluate(
        &snap,
        jiff::Timestamp::from_second(1_750_000_000).unwrap(),
        &lastmile::posture::Options::default(),
    );
    assert_eq!(posture.edges.len(), 2000);
    objgen::assert_edges(&snap, &posture);
    // c → b is granted by b's grant (from c); c → a is not granted (a grants b only); c → c is
    // the route's own namespace.
    let mode_of = |ns: &str| {
        posture
            .edges
            .iter()
            .find(|e| e.backend.contains(&format!("Service/{ns}/web")))
            .unwrap()
            .mode
    };
    assert_eq!(mode_of("a"), lastmile::posture::Mode::Unresolved);
    assert_eq!(mode_of("b"), lastmile::posture::Mode::TlsVerified);
    assert_ne!(mode_of("c"), lastmile::posture::Mode::Unresolved);
    assert!(
        snap.errors
            .iter()
            .filter(|e| e.message.contains("more than once"))
            .count()
            == 3,
        "{:?}",
        snap.errors
    );
    for f in [
        lastmile::report::Format::Text,
        lastmile::report::Format::Json,
        lastmile::report::Format::Sarif,
        lastmile::report::Format::Junit,
    ] {
        let _ = lastmile::report::render(&posture, f, lastmile::posture::Severity::High);
    }
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        t.elapsed()
    );
}
