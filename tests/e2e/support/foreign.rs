//! A foreign relay for the client-initiated pairing tests: rust-nostr's `nostr-relay-builder` as
//! its own process (`benches`' `foreign-relay` binary), on its own port, restartable on that port.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running foreign relay; killed when dropped.
pub struct ForeignRelay {
    child: Child,
    /// `ws://127.0.0.1:<port>`.
    pub url: String,
    port: u16,
    auth: bool,
}

impl ForeignRelay {
    /// Starts one on a free port; `auth` requires NIP-42 authentication for subscriptions.
    pub fn start(auth: bool) -> Self {
        let (child, url) = spawn(0, auth);
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port");
        ForeignRelay {
            child,
            url,
            port,
            auth,
        }
    }

    /// Kills the relay (SIGKILL: its connections drop without a close) and starts it again on the
    /// same port.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, url) = spawn(self.port, self.auth);
        assert_eq!(url, self.url, "the relay came back on its port");
        self.child = child;
    }
}

impl Drop for ForeignRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `foreign-relay` on `port` (0: a free one); returns it with the URL it printed.
fn spawn(port: u16, auth: bool) -> (Child, String) {
    let mut command = Command::new(super::workspace_binary("foreign-relay"));
    command
        .args(["--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if auth {
        command.arg("--auth");
    }
    let mut child = command.spawn().expect("foreign-relay starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("foreign-relay prints its URL");
    let url = line.trim().to_owned();
    assert!(url.starts_with("ws://"), "foreign-relay printed {line:?}");
    (child, url)
}
