//! A NATS server of the test's own (Debian's `nats-server`, which `.ci/run` installs) on a random
//! loopback port: the cluster bus of the cluster tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `nats-server`; killed when dropped.
pub struct Nats {
    child: Child,
    /// `nats://127.0.0.1:<port>`.
    pub url: String,
}

impl Nats {
    /// Starts `nats-server -a 127.0.0.1 -p -1` and waits (at most 10 s) for the line that names
    /// the port it listens on.
    pub fn start() -> Nats {
        let mut child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", "-1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nats-server runs (Debian's nats-server package; .ci/run installs it)");
        let stderr = child.stderr.take().expect("piped stderr");
        let (found, port) = std::sync::mpsc::channel();
        // Reads the log to its end, so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("Listening for client connections on ").nth(1) {
                    if let Some(found) = found.take() {
                        let _ = found.send(addr.trim().to_owned());
                    }
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = port
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("nats-server listens within 10 s");
        Nats {
            child,
            url: format!("nats://{addr}"),
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
