//! Detection of TLS 1.0/1.1 and weak TLS 1.2 suites, which rustls cannot negotiate: send a raw
//! ClientHello offering only those, and read the first record of the answer with tls-parser.

use serde::Serialize;
use tls_parser::{
    TlsCipherEncMode, TlsCipherKx, TlsCipherSuite, TlsMessage, TlsMessageHandshake,
    parse_tls_plaintext,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Suites offered in the TLS 1.0/1.1 hellos (CBC, 3DES, static RSA, DHE).
const LEGACY_SUITES: &[u16] = &[
    0xc014, 0xc013, 0xc00a, 0xc009, 0x0039, 0x0033, 0x0035, 0x002f, 0x000a,
];
/// Weak TLS 1.2 suites: CBC with ECDHE, static RSA key exchange, DHE.
const WEAK_TLS12_SUITES: &[u16] = &[
    0xc028, 0xc027, 0xc024, 0xc023, 0xc014, 0xc013, 0x009f, 0x009e, 0x006b, 0x0067, 0x009d, 0x009c,
    0x003d, 0x003c, 0x0035, 0x002f,
];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyAnswer {
    /// The server completed a ServerHello at the offered version.
    pub accepted: bool,
    /// What it said: negotiated version and suite, an alert name, or a failure.
    pub detail: String,
    /// Weak properties of the chosen suite (CBC, no forward secrecy, 3DES...).
    pub weaknesses: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyReport {
    pub tls1_0: bool,
    pub tls1_1: bool,
    pub weak_tls1_2: bool,
    pub answers: Vec<(String, LegacyAnswer)>,
}

/// Builds a ClientHello for `version` (0x0301, 0x0302, 0x0303) offering `suites`.
pub fn client_hello(version: u16, suites: &[u16], sni: Option<&str>) -> Vec<u8> {
    let mut random = [0u8; 32];
    let _ = aws_lc_rs::rand::fill(&mut random);
    let mut body = Vec::new();
    body.extend_from_slice(&version.to_be_bytes());
    body.extend_from_slice(&random);
    body.push(0); // session id
    let mut cs: Vec<u8> = suites.iter().flat_map(|s| s.to_be_bytes()).collect();
    cs.extend_from_slice(&0x00ffu16.to_be_bytes()); // renegotiation SCSV
    body.extend_from_slice(&(cs.len() as u16).to_be_bytes());
    body.extend_from_slice(&cs);
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut ext = Vec::new();
    let mut push_ext = |ty: u16, data: &[u8]| {
        ext.extend_from_slice(&ty.to_be_bytes());
        ext.extend_from_slice(&(data.len() as u16).to_be_bytes());
        ext.extend_from_slice(data);
    };
    if let Some(name) = sni.filter(|n| n.parse::<std::net::IpAddr>().is_err()) {
        let n = name.as_bytes();
        let mut d = Vec::new();
        d.extend_from_slice(&((n.len() + 3) as u16).to_be_bytes());
        d.push(0);
        d.extend_from_slice(&(n.len() as u16).to_be_bytes());
        d.extend_from_slice(n);
        push_ext(0x0000, &d);
    }
    push_ext(0x000a, &[0, 6, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18]); // x25519, P-256, P-384
    push_ext(0x000b, &[1, 0]); // ec_point_formats: uncompressed
    if version >= 0x0303 {
        let algs: [u16; 8] = [
            0x0403, 0x0503, 0x0804, 0x0805, 0x0401, 0x0501, 0x0201, 0x0203,
        ];
        let mut d: Vec<u8> = Vec::new();
        d.extend_from_slice(&((algs.len() * 2) as u16).to_be_bytes());
        d.extend(algs.iter().flat_map(|a| a.to_be_bytes()));
        push_ext(0x000d, &d);
    }
    push_ext(0xff01, &[0]); // renegotiation_info
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1u8];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

fn version_name(v: u16) -> &'static str {
    match v {
        0x0300 => "SSLv3",
        0x0301 => "TLSv1.0",
        0x0302 => "TLSv1.1",
        0x0303 => "TLSv1.2",
        0x0304 => "TLSv1.3",
        _ => "unknown",
    }
}

/// Weak properties of a suite, from tls-parser's IANA table.
pub fn suite_weaknesses(id: u16) -> (String, Vec<String>) {
    let Some(s) = TlsCipherSuite::from_id(id) else {
        return (format!("0x{id:04x}"), vec![]);
    };
    let mut w = Vec::new();
    if s.enc_mode == TlsCipherEncMode::Cbc {
        w.push("CBC".to_string());
    }
    if s.kx == TlsCipherKx::Rsa {
        w.push("no forward secrecy (static RSA)".into());
    }
    let name = s.name.to_string();
    for bad in ["RC4", "3DES", "DES", "NULL", "MD5", "EXPORT"] {
        if name.contains(bad) {
            w.push(format!("insecure ({bad})"));
        }
    }
    (name, w)
}

/// Interprets the first bytes a server sent back to a raw hello offering `offered`.
pub fn parse_answer(offered: u16, bytes: &[u8]) -> LegacyAnswer {
    if bytes.is_empty() {
        return LegacyAnswer {
            accepted: false,
            detail: "connection closed without an answer".into(),
            weaknesses: vec![],
        };
    }
    match parse_tls_plaintext(bytes) {
        Ok((_, rec)) => {
            for m in &rec.msg {
                match m {
                    TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)) => {
                        let (suite, weaknesses) = suite_weaknesses(sh.cipher.0);
                        let v = sh.version.0;
                        let accepted = v == offered;
                        let detail = if accepted {
                            format!("{} {suite}", version_name(v))
                        } else {
                            format!("negotiated down to {} {suite}", version_name(v))
                        };
                        return LegacyAnswer {
                            accepted,
                            detail,
                            weaknesses,
                        };
                    }
                    TlsMessage::Alert(a) => {
                        let name = format!("{:?}", rustls::AlertDescription::from(a.code.0));
                        return LegacyAnswer {
                            accepted: false,
                            detail: format!("alert {name}"),
                            weaknesses: vec![],
                        };
                    }
                    _ => {}
                }
            }
            LegacyAnswer {
                accepted: false,
                detail: "no ServerHello in the first record".into(),
                weaknesses: vec![],
            }
        }
        Err(_) => LegacyAnswer {
            accepted: false,
            detail: super::record::describe_non_tls(bytes),
            weaknesses: vec![],
        },
    }
}

async fn one(req: &super::ProbeRequest, version: u16, suites: &[u16]) -> LegacyAnswer {
    let sni = req.sni.as_deref();
    let run = async {
        let mut s = req.dial.open(&req.address).await?;
        s.write_all(&client_hello(version, suites, sni)).await?;
        let mut buf = vec![0u8; 16 * 1024];
        let mut got = 0;
        // Read until one whole record is in (header + length) or the peer stops.
        loop {
            let n = s.read(&mut buf[got..]).await?;
            if n == 0 {
                break;
            }
            got += n;
            if got >= 5 {
                let len = u16::from_be_bytes([buf[3], buf[4]]) as usize;
                if got >= 5 + len || got == buf.len() {
                    break;
                }
            }
        }
        buf.truncate(got);
        Ok::<_, std::io::Error>(buf)
    };
    match tokio::time::timeout(req.timeout, run).await {
        Ok(Ok(bytes)) => parse_answer(version, &bytes),
        Ok(Err(e)) => LegacyAnswer {
            accepted: false,
            detail: format!("connection error: {e}"),
            weaknesses: vec![],
        },
        Err(_) => LegacyAnswer {
            accepted: false,
            detail: "timeout".into(),
            weaknesses: vec![],
        },
    }
}

/// Runs the TLS 1.0, TLS 1.1 and weak TLS 1.2 hellos.
pub async fn detect(req: &super::ProbeRequest) -> LegacyReport {
    let t10 = one(req, 0x0301, LEGACY_SUITES).await;
    let t11 = one(req, 0x0302, LEGACY_SUITES).await;
    let weak = one(req, 0x0303, WEAK_TLS12_SUITES).await;
    LegacyReport {
        tls1_0: t10.accepted,
        tls1_1: t11.accepted,
        weak_tls1_2: weak.accepted && !weak.weaknesses.is_empty(),
        answers: vec![
            ("TLSv1.0".into(), t10),
            ("TLSv1.1".into(), t11),
            ("TLSv1.2 weak suites".into(), weak),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_is_a_parsable_client_hello() {
        let h = client_hello(0x0301, LEGACY_SUITES, Some("backend.test"));
        let (_, rec) = parse_tls_plaintext(&h).expect("parses");
        match &rec.msg[0] {
            TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) => {
                assert_eq!(ch.version.0, 0x0301);
                assert_eq!(ch.ciphers.len(), LEGACY_SUITES.len() + 1);
            }
            other => panic!("not a ClientHello: {other:?}"),
        }
    }

    #[test]
    fn grades_suites() {
        let (name, w) = suite_weaknesses(0x002f);
        assert!(name.contains("RSA_WITH_AES_128_CBC_SHA"), "{name}");
        assert!(w.iter().any(|x| x == "CBC") && w.iter().any(|x| x.contains("static RSA")));
        assert!(
            suite_weaknesses(0xc02f).1.is_empty(),
            "ECDHE-RSA-AES128-GCM is fine"
        );
    }
}
