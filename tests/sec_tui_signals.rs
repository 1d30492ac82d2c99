//! The terminal is given back on every bad exit: a panic while drawing, a panic in a background
//! task (the probe sweep), Ctrl-C in the middle of a probe sweep; and `lastmile check --probe`
//! and its cluster read stop promptly on SIGINT. Panics are injected with `LASTMILE_TEST_PANIC` (tests only).

#[path = "support/tmux.rs"]
mod tmux;

#[path = "support/apiserver/mod.rs"]
mod apiserver;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tmux::Session;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_lastmile")
}

/// Cooked mode with echo, the alternate screen left.
fn assert_restored(s: &Session) {
    // The mode line follows `EXIT=`; wait for it.
    let screen = &s.wait_for("icanon");
    assert!(
        screen.contains("icanon") && !screen.contains("-icanon"),
        "terminal left in raw mode:\n{screen}"
    );
    assert!(
        screen.contains("echo") && !screen.contains("-echo"),
        "echo not restored:\n{screen}"
    );
    assert!(!s.alternate_on(), "alternate screen not left:\n{screen}");
}

/// A TCP port that accepts connections and never answers: probes to it hang until they time out.
fn black_hole() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap().to_string();
    (l, a)
}

#[test]
fn a_panic_while_drawing_restores_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let s = Session::start(
        "panic-draw",
        &format!(
            "RUST_BACKTRACE=0 LASTMILE_TEST_PANIC=draw {} --demo --log-file {}",
            bin(),
            log.display()
        ),
        120,
        32,
    );
    let screen = s.wait_for("EXIT=");
    assert!(screen.contains("EXIT=101"), "{screen}");
    assert!(screen.contains("injected panic while drawing"), "{screen}");
    assert_restored(&s);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("panic") && logged.contains("injected panic while drawing"),
        "the panic is logged: {logged}"
    );
}

#[test]
fn a_panic_in_the_probe_sweep_task_ends_the_ui_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let s = Session::start(
        "panic-task",
        &format!(
            "RUST_BACKTRACE=0 LASTMILE_TEST_PANIC=probe {} --demo --log-file {}",
            bin(),
            log.display()
        ),
        120,
        32,
    );
    s.wait_for("Backends [20/20]");
    s.keys(&["P"]);
    let screen = s
        .wait_within("EXIT=", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("the UI keeps running after a task panic:\n{}", s.screen()));
    assert!(screen.contains("EXIT=2"), "{screen}");
    assert!(
        screen.contains("probe sweep task panicked"),
        "the error names the task:\n{screen}"
    );
    assert!(screen.contains("injected panic"), "{screen}");
    assert!(
        !screen.contains("Backends ["),
        "no UI drawn over the message:\n{screen}"
    );
    assert_restored(&s);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("injected panic"), "logged: {logged}");
}

#[test]
fn ctrl_c_during_a_probe_sweep_quits_and_restores() {
    let (_hole, addr) = black_hole();
    let s = Session::start(
        "ctrl-c-ui",
        &format!(
            "{} --demo --log-file /dev/null --probe-via Service/shop/storefront:443={addr} --probe-via Service/payments/checkout:8443={addr}",
            bin()
        ),
        120,
        32,
    );
    s.wait_for("Backends [20/20]");
    s.keys(&["P"]);
    s.wait_for("probing");
    std::thread::sleep(Duration::from_millis(300));
    let screen = s.screen();
    assert!(
        screen.contains("probing") && screen.contains("edges"),
        "the sweep is still running (the black hole holds it):\n{screen}"
    );
    let t = Instant::now();
    s.keys(&["C-c"]);
    let screen = s
        .wait_within("EXIT=", Duration::from_secs(3))
        .unwrap_or_else(|| panic!("Ctrl-C did not quit in 3 s:\n{}", s.screen()));
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert_restored(&s);
}

#[test]
fn sigint_during_check_probe_exits_promptly() {
    let (_hole, addr) = black_hole();
    let mut command = Command::new(bin());
    command.args([
        "check",
        "--demo",
        "--probe",
        "--probe-timeout",
        "60s",
        "--probe-address",
        &format!("Service/shop/storefront:443={addr}"),
    ]);
    // Let the sweep start and reach the black hole.
    let (status, stderr, stdout) = interrupt_after(&mut command, Duration::from_millis(1500));
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stdout.is_empty(), "no partial report");
}

/// Sends SIGINT to `child` (which must still be running) and returns its exit status, stderr and
/// stdout, failing if it does not end within 2 s.
fn interrupt(mut child: std::process::Child) -> (std::process::ExitStatus, String, Vec<u8>) {
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running before SIGINT"
    );
    let t = Instant::now();
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("still running 5 s after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    let out = child.wait_with_output().unwrap();
    (
        status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.stdout,
    )
}

/// Runs `command` with its output captured, and interrupts it after `wait`.
fn interrupt_after(
    command: &mut Command,
    wait: Duration,
) -> (std::process::ExitStatus, String, Vec<u8>) {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(wait);
    interrupt(child)
}

/// An API server that never answers holds the cluster read; Ctrl-C ends it with a message.
#[test]
fn sigint_while_check_reads_the_cluster_says_so() {
    let (_hole, addr) = black_hole();
    let dir = std::env::temp_dir().join(format!("lastmile-sigint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: hole\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: hole\n  context:\n    cluster: hole\n    user: u\ncurrent-context: hole\nusers:\n- name: u\n  user:\n    token: t\n"
        ),
    )
    .unwrap();
    let mut command = Command::new(bin());
    command.args(["check", "--kubeconfig"]).arg(&kubeconfig);
    // Let it connect and wait on the server.
    let (status, stderr, stdout) = interrupt_after(&mut command, Duration::from_millis(1500));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted while reading the cluster"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "no report");
}

/// After the cluster read, Ctrl-C still ends `check`: here while the report is being written to
/// a pipe nobody reads (the read installed a Ctrl-C handler, which replaces SIGINT's default).
#[test]
fn sigint_while_check_writes_its_report_still_ends_it() {
    let server = apiserver::TestApiServer::start(apiserver::ServerConfig::default());
    for o in lastmile::synth::generate(lastmile::synth::Size::M, 1) {
        server.apply(o);
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = server.write_kubeconfig(dir.path(), "big");
    // The JSON report of M is megabytes: writing it blocks once the pipe is full.
    let mut child = Command::new(bin())
        .args(["check", "--format", "json", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first bytes of the report show the read and the evaluation are over; the rest is
    // left in the pipe, so the writer waits.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 4096];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    assert!(first.starts_with(b"{"), "a JSON report");
    std::thread::sleep(Duration::from_millis(300));
    let (status, stderr, _) = interrupt(child);
    drop(stdout);
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
}

#[test]
fn ctrl_c_in_a_terminal_during_check_probe() {
    let (_hole, addr) = black_hole();
    let s = Session::start(
        "ctrl-c-check",
        &format!(
            "{} check --demo --probe --probe-timeout 60s --probe-address Service/shop/storefront:443={addr}",
            bin()
        ),
        120,
        20,
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!s.screen().contains("EXIT="), "still probing");
    let t = Instant::now();
    s.keys(&["C-c"]);
    let screen = s
        .wait_within("EXIT=", Duration::from_secs(3))
        .unwrap_or_else(|| panic!("check did not stop on Ctrl-C:\n{}", s.screen()));
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    assert!(screen.contains("interrupted"), "{screen}");
    assert!(screen.contains("EXIT=130"), "{screen}");
}
