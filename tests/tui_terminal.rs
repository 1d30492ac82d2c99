//! The real binary in a real terminal (tmux): start on the demo, navigate, filter, open help,
//! quit, and check the terminal was restored; and `--watch` picks up a file change.
//! tmux is installed by `.ci/run`; without it these tests fail with a clear message.

use std::path::Path;
#[path = "support/tmux.rs"]
mod tmux;

use std::process::Command;
use std::time::Duration;
use tmux::Session;

fn bin() -> String {
    env!("CARGO_BIN_EXE_lastmile").to_string()
}

#[test]
fn demo_session_navigates_and_restores_the_terminal() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let s = Session::start(
        "demo",
        &format!("{} --demo --log-file {}", bin(), log.path().display()),
        120,
        32,
    );
    let screen = s.wait_for("Backends [20/20]");
    assert!(screen.contains("‼ fail-open-plaintext"), "{screen}");
    // Tree view.
    s.keys(&["2"]);
    let screen = s.wait_for("Attachment tree");
    assert!(screen.contains("GatewayClass eg"), "{screen}");
    // Policies view.
    s.keys(&["3"]);
    let screen = s.wait_for("Policies [11]");
    assert!(screen.contains("✘ reported ≠ computed"), "{screen}");
    // Back to backends and filter.
    s.keys(&["1", "/"]);
    s.text("cart");
    s.keys(&["Enter"]);
    let screen = s.wait_for("Backends [1/20]");
    assert!(screen.contains("shop/cart:443"), "{screen}");
    // Details and back.
    s.keys(&["Enter"]);
    s.wait_for("Backends › Detail");
    s.keys(&["Escape"]);
    s.wait_for("Backends [1/20]");
    // Help.
    s.keys(&["?"]);
    let screen = s.wait_for("Help — keys");
    assert!(
        screen.contains("copy the selected object's reference"),
        "{screen}"
    );
    // Quit.
    s.keys(&["Escape", "q"]);
    // The terminal modes print after `EXIT=`: wait for them, not just for the exit line.
    let screen = s.wait_for("icanon");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(
        screen.contains("icanon") && !screen.contains("-icanon"),
        "terminal left in raw mode:\n{screen}"
    );
    assert!(
        screen.contains("echo") && !screen.contains("-echo"),
        "echo not restored:\n{screen}"
    );
    assert!(
        !screen.contains("Backends ["),
        "alternate screen not left:\n{screen}"
    );
    // Logs went to the file, not the screen.
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(logged.contains("lastmile"), "log file is empty");
}

#[test]
fn watch_picks_up_a_changed_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.yaml");
    let clean = std::fs::read_to_string("tests/fixtures/clean.yaml").unwrap();
    std::fs::write(&file, &clean).unwrap();
    let log = dir.path().join("log.txt");
    let s = Session::start(
        "watch",
        &format!(
            "{} -f {} --watch --log-file {}",
            bin(),
            file.display(),
            log.display()
        ),
        120,
        20,
    );
    let screen = s.wait_for("Backends [1/1]");
    assert!(screen.contains("✔ tls-verified"), "{screen}");
    assert!(screen.contains("● live"), "{screen}");
    // Drop the policy: the row turns into the 400 Bad Request trap.
    let without_policy = clean
        .split("---\napiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy")
        .next()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&file, without_policy).unwrap();
    let screen = s.wait_for("✘ plaintext-to-tls-port");
    assert!(!screen.contains("✔ tls-verified"), "{screen}");
    // A broken file keeps the last good data and says the view is stale.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::remove_file(&file).unwrap();
    let screen = s.wait_for("stale");
    assert!(screen.contains("✘ plaintext-to-tls-port"), "{screen}");
    s.keys(&["q"]);
    s.wait_for("EXIT=0");
    assert!(Path::new(&log).exists());
}

#[test]
fn ui_without_a_terminal_says_so() {
    let out = Command::new(bin()).arg("--demo").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lastmile check"));
}
