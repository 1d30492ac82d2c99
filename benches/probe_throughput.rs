//! Probe throughput against a local rustls server running in a separate process (so the
//! client's CPU can be measured alone): probes/s at concurrency 1, 16 and 64, and client CPU per
//! probe, and a sweep of 1,000 distinct endpoints at concurrency 64.
//! `cargo bench --bench probe_throughput` (PROBES=N, ENDPOINTS=N to change the counts).

use lastmile::probe::{self, ProbeRequest, TrustSource};
use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves TLS on `ports` ephemeral ports, prints `PORT CA_PEM_LEN` (the first port; the others
/// follow on one line) then the CA PEM, forever.
fn serve(ports: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["bench.test".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let cfg = rustls::ServerConfig::builder_with_provider(probe::provider())
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone(), ca_cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let mut listeners = Vec::new();
        for _ in 0..ports.max(1) {
            listeners.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let pem = ca_cert.pem();
        let all: Vec<String> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port().to_string())
            .collect();
        println!("{} {}", all[0], pem.len());
        println!("{}", all.join(" "));
        print!("{pem}");
        use std::io::Write;
        std::io::stdout().flush().unwrap();
        for l in listeners {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        if let Ok(mut tls) = acceptor.accept(s).await {
                            let mut b = [0u8; 16];
                            let _ = tls.read(&mut b).await;
                            let _ = tls.shutdown().await;
                        }
                    });
                }
            });
        }
        std::future::pending::<()>().await;
    });
}

/// utime + stime of this process, from /proc (Linux).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn main() {
    if let Some(i) = std::env::args().position(|a| a == "serve") {
        let ports = std::env::args()
            .nth(i + 1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        return serve(ports);
    }
    let endpoints: usize = std::env::var("ENDPOINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["serve", &endpoints.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let mut parts = first.split_whitespace();
    let port: u16 = parts.next().unwrap().parse().unwrap();
    let pem_len: usize = parts.next().unwrap().parse().unwrap();
    let mut all_ports = String::new();
    out.read_line(&mut all_ports).unwrap();
    let all_ports: Vec<u16> = all_ports
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let mut pem = vec![0u8; pem_len];
    std::io::Read::read_exact(&mut out, &mut pem).unwrap();
    let n: usize = std::env::var("PROBES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let req = ProbeRequest {
        address: format!("127.0.0.1:{port}"),
        sni: Some("bench.test".into()),
        trust: Some(TrustSource::from_pem("bench CA", &pem)),
        identity: None,
        timeout: Duration::from_secs(5),
        legacy: false,
        dial: Default::default(),
    };
    // Warm up (first ML-KEM key generation, root loading).
    let warm = rt.block_on(probe::probe(&req));
    assert_eq!(
        warm.verdict.map(|v| v.verdict),
        Some("trusted"),
        "bench server not trusted"
    );
    println!("probe throughput, {n} probes per row, loopback, server in a separate process");
    println!(
        "{:>11} {:>10} {:>12} {:>16}",
        "concurrency", "probes/s", "wall", "client CPU/probe"
    );
    for c in [1usize, 16, 64] {
        let requests: Vec<(usize, ProbeRequest)> = (0..n).map(|i| (i, req.clone())).collect();
        let cpu0 = cpu_time();
        let t0 = Instant::now();
        let mut ok = 0;
        // One address: lift the per-address cap to measure the engine, not the politeness limit.
        rt.block_on(async {
            let sem = Arc::new(tokio::sync::Semaphore::new(c));
            let mut set = tokio::task::JoinSet::new();
            for (_, r) in requests {
                let sem = sem.clone();
                set.spawn(async move {
                    let _p = sem.acquire_owned().await;
                    probe::probe(&r).await
                });
            }
            while let Some(Ok(r)) = set.join_next().await {
                if r.failure.is_none() {
                    ok += 1;
                }
            }
        });
        let wall = t0.elapsed();
        let cpu = cpu_time() - cpu0;
        println!(
            "{c:>11} {:>10.0} {:>11.2}s {:>14.3} ms   ({ok}/{n} ok)",
            n as f64 / wall.as_secs_f64(),
            wall.as_secs_f64(),
            cpu.as_secs_f64() * 1000.0 / n as f64
        );
    }
    // A sweep as `P` and `check --probe` run it: distinct endpoints, 64 in flight, at most 2 per
    // address (lastmile's own sweep).
    let requests: Vec<(usize, ProbeRequest)> = all_ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut r = req.clone();
            r.address = format!("127.0.0.1:{p}");
            (i, r)
        })
        .collect();
    let count = requests.len();
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let mut ok = 0;
    rt.block_on(lastmile::probe::sweep::sweep(requests, 64, |_, r| {
        if r.failure.is_none() {
            ok += 1;
        }
    }));
    let wall = t0.elapsed();
    let cpu = cpu_time() - cpu0;
    println!(
        "sweep of {count} endpoints at concurrency 64: {:.2}s wall, {:.0} probes/s, {:.3} ms client CPU/probe ({ok}/{count} ok; target >= 1000 probes/s)",
        wall.as_secs_f64(),
        count as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1000.0 / count as f64
    );
    let _ = child.kill();
    let _ = child.wait();
}
