//! A real terminal for tests: the binary runs in a detached tmux session; the test reads the
//! screen and sends keys. Include with `#[path = "support/tmux.rs"] mod tmux;`.
#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

pub struct Session {
    name: String,
}

impl Session {
    /// Starts `cmd` in a detached tmux session of the given size, then a shell prompt marker.
    pub fn start(name: &str, cmd: &str, w: u16, h: u16) -> Session {
        let tmux = Command::new("tmux").arg("-V").output();
        assert!(
            tmux.is_ok_and(|o| o.status.success()),
            "tmux is required for terminal tests (.ci/run installs it)"
        );
        let name = format!("lastmile-{name}-{}", std::process::id());
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &name])
            .output();
        // After the UI exits, print the terminal mode so the test can see it was restored.
        let script = format!(
            "{cmd}; echo EXIT=$?; stty -a | tr ' ' '\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\\n' ' '; echo; sleep 30"
        );
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
                "bash",
                "--norc",
                "--noprofile",
                "-c",
                &script,
            ])
            .env("TERM", "xterm-256color")
            .status()
            .unwrap();
        assert!(ok.success(), "tmux new-session failed");
        Session { name }
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {needle:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends keys one at a time (so Esc is not read as Alt-prefix of the next key).
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            Command::new("tmux")
                .args(["send-keys", "-t", &self.name, k])
                .status()
                .unwrap();
            std::thread::sleep(Duration::from_millis(120));
        }
    }

    /// Whether the pane shows the alternate screen (a full-screen program is still in charge).
    pub fn alternate_on(&self) -> bool {
        let out = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.name, "#{alternate_on}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Like [`wait_for`](Self::wait_for) with a custom limit; `None` when it does not appear.
    pub fn wait_within(&self, needle: &str, limit: Duration) -> Option<String> {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return Some(s);
            }
            if start.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn text(&self, text: &str) {
        Command::new("tmux")
            .args(["send-keys", "-t", &self.name, "-l", text])
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .output();
    }
}
