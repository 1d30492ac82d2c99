//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs`), shared with the stable test
//! suite: `tests/fuzz_regressions.rs` replays every kept crash input and corpus file through
//! exactly these functions. The includer also declares `mod objgen` at its crate root.

#![allow(dead_code)]

use crate::objgen;
use base64::Engine;

/// A fuzz target body.
pub type Target = fn(&[u8]);

/// The fuzz targets, by directory name under `fuzz/corpus/` and `tests/fuzz_corpus/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("manifest_bytes", manifest_bytes),
    ("manifest_objects", manifest_objects),
    ("posture", posture),
    ("cert", cert),
    ("legacy_answer", legacy_answer),
    ("verdict", verdict),
];

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_750_000_000).unwrap()
}

/// Arbitrary bytes into the manifest loader (YAML streams, JSON, `kind: List`, the resources
/// layout), then the engine. Every error names an object and the file.
pub fn manifest_bytes(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let snapshot = lastmile::source::from_text(&text, "fuzz.yaml");
    for e in &snapshot.errors {
        assert!(!e.object.is_empty(), "error without an object: {e:?}");
        assert_eq!(e.origin.file.as_deref(), Some("fuzz.yaml"));
    }
    // Whatever was read goes on to the engine, as it does in `lastmile check`.
    if snapshot.object_count() > 0 {
        let posture =
            lastmile::posture::evaluate(&snapshot, now(), &lastmile::posture::Options::default());
        objgen::assert_edges(&snapshot, &posture);
    }
}

/// Generated objects of every kind, in one of the layouts, loaded and evaluated. No object is
/// lost: each is read, or reported as an error that names its kind and name.
pub fn manifest_objects(data: &[u8]) {
    let mut s = objgen::Src::new(data);
    let layout = s.pick(objgen::LAYOUTS);
    let objects = objgen::objects(&mut s, 64);
    let text = objgen::render(&objects, layout);
    let snapshot = lastmile::source::from_text(&text, "gen.yaml");
    objgen::assert_accounted(&objects, &snapshot);
    let posture =
        lastmile::posture::evaluate(&snapshot, now(), &lastmile::posture::Options::default());
    objgen::assert_edges(&snapshot, &posture);
}

/// The posture engine on generated snapshots under every engine option, then every renderer.
pub fn posture(data: &[u8]) {
    let mut s = objgen::Src::new(data);
    let options = lastmile::posture::Options {
        eg_backend_api: s.chance(200),
        eg_sds_secret_refs: s.chance(60),
        eg_version: if s.chance(80) {
            Some((1, s.pick(&[0u32, 1, 2, 3, 4, 5, 6, 9, 99])))
        } else {
            None
        },
    };
    let at = s.pick(&[0i64, 1_750_000_000, 4_102_444_800]);
    let now = jiff::Timestamp::from_second(at).unwrap();
    let objects = objgen::objects(&mut s, 256);
    // JSON keeps the loader cheap so the time goes to the engine.
    let text = serde_json::to_string(&objects).unwrap();
    let snapshot = lastmile::source::from_text(&text, "gen.json");
    let posture = lastmile::posture::evaluate(&snapshot, now, &options);
    objgen::assert_edges(&snapshot, &posture);
    use lastmile::report::{Format, render};
    for f in [Format::Text, Format::Json, Format::Sarif, Format::Junit] {
        let _ = render(&posture, f, lastmile::posture::Severity::High);
    }
}

/// The certificate summariser and the PEM bundle parser on arbitrary DER, and the same bytes
/// as the body of one PEM block.
pub fn cert(data: &[u8]) {
    for at in [now(), jiff::Timestamp::MIN, jiff::Timestamp::MAX] {
        if let Ok(c) = lastmile::probe::CertSummary::from_der(data, at) {
            assert_eq!(c.sha256.len(), 32 * 3 - 1);
        }
    }
    let _ = lastmile::model::PemBundle::parse(data);
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let pem = format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n");
    let bundle = lastmile::model::PemBundle::parse(pem.as_bytes());
    assert_eq!(bundle.certs.len() + bundle.errors.len(), 1, "{bundle:?}");
}

/// The legacy ServerHello parser: the first two bytes are the offered version.
pub fn legacy_answer(data: &[u8]) {
    let (offered, bytes) = match data {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => (0x0303, data),
    };
    let answer = lastmile::probe::legacy::parse_answer(offered, bytes);
    assert!(!answer.detail.is_empty());
    assert!(!answer.accepted || !bytes.is_empty());
}

/// The verdict on a served chain (what a hostile backend controls): the bytes are one or two
/// certificates, judged against a real CA (and, if asked, the served leaf pinned as a CA) for a
/// host name, or for policy subjectAltNames.
pub fn verdict(data: &[u8]) {
    use lastmile::model::SanMatcher;
    use lastmile::probe::verdict::{Identity, TrustSource, judge};
    use rustls_pki_types::{CertificateDer, UnixTime};
    let (mode, split, rest) = match data {
        [m, a, b, rest @ ..] => (*m, u16::from_be_bytes([*a, *b]) as usize, rest),
        _ => (0, 0, data),
    };
    let chain: Vec<CertificateDer<'static>> = if split > 0 && split < rest.len() {
        vec![rest[..split].to_vec().into(), rest[split..].to_vec().into()]
    } else {
        vec![rest.to_vec().into()]
    };
    let mut pem = objgen::CA_PEM.as_bytes().to_vec();
    if mode & 1 == 1 {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&chain[0]);
        pem.extend_from_slice(
            format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n").as_bytes(),
        );
    }
    let trust = TrustSource::from_pem("fuzz CA", &pem);
    let identity = match (mode >> 1) % 4 {
        0 => Identity::Name("backend.test".into()),
        1 => Identity::Name("10.1.2.3".into()),
        2 => Identity::Name(String::from_utf8_lossy(&rest[..rest.len().min(24)]).into_owned()),
        _ => Identity::Sans(vec![
            SanMatcher::Hostname("*.shop.svc".into()),
            SanMatcher::Uri("spiffe://td/ns/app".into()),
        ]),
    };
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_750_000_000));
    let v = judge(&chain, &trust, &identity, &lastmile::probe::provider(), now);
    assert!(v.verdict == "trusted" || v.verdict == "untrusted", "{v:?}");
    assert!(!v.summary.is_empty());
}
