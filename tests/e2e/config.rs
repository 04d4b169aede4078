//! `bunkerd serve --config <file>` as a real child process: a bad config (an unknown key, a bad
//! listen address, a TOML syntax error, an unreadable master key file, an inline operator token)
//! exits 64 with stderr naming the setting, before any port is bound; a valid file (with a flag
//! and an environment variable over two of its keys) serves `/healthz` on the addresses it was
//! given, logs JSON lines, and exits 0 on SIGTERM.
//!
//! "No port was bound" is checked by picking two free ports first, passing them to the binary, and
//! connecting to both after it exited: each connection must be refused. (Another process could
//! take a port in between; on a test machine that is rare enough, and it would fail the test, not
//! pass it wrongly.)
//!
//! Assumption: the binary is `bunkerd` in the profile directory of this test binary, as in
//! `admin_cli.rs`; `cargo build -p bunkerd` builds it.

use crate::support::{bunkerd_command, signal};
use serde_json::Value;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a run may take before the test gives up on it (a debug build on a loaded 2-core
/// machine opens RocksDB in well under this).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Two distinct loopback addresses whose ports were free a moment ago (both held while picking,
/// so they differ).
fn free_addrs() -> (SocketAddr, SocketAddr) {
    let bind = || TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let (a, b) = (bind(), bind());
    (a.local_addr().unwrap(), b.local_addr().unwrap())
}

#[track_caller]
fn assert_not_bound(addr: SocketAddr) {
    let result = TcpStream::connect_timeout(&addr, Duration::from_secs(5));
    let refused = matches!(&result, Err(e) if e.kind() == ErrorKind::ConnectionRefused);
    assert!(refused, "{addr} must not be bound: {result:?}");
}

/// `bunkerd serve <args>` in `dir` with exactly these `BUNKERD_*` variables.
fn serve(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = bunkerd_command();
    command
        .arg("serve")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .envs(env.iter().copied());
    command
}

/// Runs `command` to its end; kills it and fails after [`RUN_TIMEOUT`].
fn run(mut command: Command) -> (ExitStatus, String) {
    let child = command.spawn().expect("bunkerd starts");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(RUN_TIMEOUT) {
        Ok(output) => {
            let output = output.expect("bunkerd runs");
            (output.status, String::from_utf8(output.stderr).unwrap())
        }
        Err(_) => {
            signal(pid, "KILL");
            panic!("bunkerd did not exit within {RUN_TIMEOUT:?}");
        }
    }
}

/// Runs `bunkerd serve --config <config>` with `config_text`, both listeners on fresh free ports
/// given as flags (unless the file names them: `{relay}` and `{admin}` in the text are replaced
/// by the two addresses); asserts exit 64 before binding; returns stderr.
fn refused(config_text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (relay, admin) = free_addrs();
    let config = dir.path().join("bunkerd.toml");
    let text = config_text
        .replace("{relay}", &relay.to_string())
        .replace("{admin}", &admin.to_string());
    std::fs::write(&config, &text).unwrap();
    let (relay_s, admin_s) = (relay.to_string(), admin.to_string());
    let mut args = vec!["--config", config.to_str().unwrap()];
    if !config_text.contains("{relay}") {
        args.extend(["--listen", &relay_s]);
    }
    if !config_text.contains("{admin}") {
        args.extend(["--admin-listen", &admin_s]);
    }
    let (status, stderr) = run(serve(dir.path(), &args, &[]));
    assert_eq!(status.code(), Some(64), "exit code: {stderr}");
    assert_not_bound(relay);
    assert_not_bound(admin);
    assert!(
        !dir.path().join("data").exists(),
        "nothing created before validation: {stderr}"
    );
    stderr
}

#[test]
fn an_unknown_key_exits_64_naming_the_key() {
    let stderr = refused("workers = 1\nlisten_address = \"127.0.0.1:7447\"\n");
    assert!(
        stderr.starts_with("bunkerd: invalid configuration: listen_address: unknown key in "),
        "{stderr}"
    );
    assert!(stderr.contains("bunkerd.toml at line 2"), "{stderr}");
}

#[test]
fn a_bad_listen_address_in_the_file_exits_64_naming_listen() {
    let stderr = refused("admin_listen = \"{admin}\"\nlisten = \"localhost:{relay}\"\n");
    assert!(
        stderr.starts_with(
            "bunkerd: invalid configuration: listen: invalid socket address syntax (in "
        ),
        "{stderr}"
    );
    assert!(stderr.contains("at line 2)"), "{stderr}");
}

#[test]
fn a_toml_syntax_error_exits_64_with_its_line() {
    let stderr = refused("workers = 1\nlog = info\n");
    assert!(
        stderr.starts_with("bunkerd: invalid configuration: config: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("TOML syntax error at line 2, column 7: "),
        "{stderr}"
    );
}

#[test]
fn an_unreadable_master_key_file_exits_64_naming_master_key_file() {
    // A missing file rather than a mode-000 one: the tests may run as root, who reads anything.
    let stderr =
        refused("data_dir = \"data\"\nmaster_key_file = \"/nonexistent/bunkerd/master.key\"\n");
    assert_eq!(
        stderr.lines().next().unwrap(),
        "bunkerd: invalid configuration: master-key-file: cannot read \
         /nonexistent/bunkerd/master.key: No such file or directory (os error 2)"
    );
}

#[test]
fn an_inline_operator_token_is_refused_without_echoing_it() {
    let stderr = refused("operator_token = \"inline-secret-token-0123\"\n");
    assert!(
        stderr.starts_with("bunkerd: invalid configuration: operator_token: unknown key"),
        "{stderr}"
    );
    assert!(!stderr.contains("inline-secret"), "{stderr}");
}

#[test]
fn an_unreadable_config_file_exits_64_naming_config() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, _) = free_addrs();
    let missing = dir.path().join("missing.toml");
    let missing_s = missing.to_str().unwrap();
    // From the environment this time (BUNKERD_CONFIG).
    let command = serve(
        dir.path(),
        &["--listen", &relay.to_string()],
        &[("BUNKERD_CONFIG", missing_s)],
    );
    let (status, stderr) = run(command);
    assert_eq!(status.code(), Some(64), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "bunkerd: invalid configuration: config: cannot read {missing_s}: "
        )),
        "{stderr}"
    );
    assert_not_bound(relay);
}

/// One HTTP/1.1 GET with an optional bearer token; returns the status line.
fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> String {
    let mut stream = TcpStream::connect(addr).expect("admin listener accepts");
    stream.set_read_timeout(Some(RUN_TIMEOUT)).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.lines().next().unwrap_or_default().to_owned()
}

/// Kills the child with SIGKILL when dropped while armed, so a failing test leaves no server.
struct KillOnDrop {
    pid: u32,
    armed: bool,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.armed {
            signal(self.pid, "KILL");
        }
    }
}

/// Reads the child's stderr on a thread; each line arrives on the channel.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Receives log lines (each must be one JSON object) until one whose message is `message`.
fn until_logged(lines: &mpsc::Receiver<String>, message: &str) -> Value {
    loop {
        let line = lines
            .recv_timeout(RUN_TIMEOUT)
            .unwrap_or_else(|_| panic!("no `{message}` log line within {RUN_TIMEOUT:?}"));
        let entry: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if entry["fields"]["message"] == message {
            return entry;
        }
    }
}

#[test]
fn a_valid_file_serves_healthz_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, admin) = free_addrs();
    let token = "file-operator-token-0123456789";
    std::fs::write(dir.path().join("operator.token"), format!("{token}\n")).unwrap();
    // `listen` and `admin_listen` in the file point at the discard port; the flag and the
    // environment variable put the real addresses over them.
    let config = dir.path().join("bunkerd.toml");
    std::fs::write(
        &config,
        "data_dir = \"state\"\n\
         listen = \"127.0.0.1:9\"\n\
         admin_listen = \"127.0.0.1:9\"\n\
         operator_token_file = \"operator.token\"\n\
         workers = 1\n\
         queue_capacity = 64\n\
         shutdown_grace_secs = 5\n\
         io_policy = \"normal\"\n\
         log = \"info\"\n\
         log_format = \"json\"\n\
         \n\
         [limits]\n\
         max_subscriptions = 4\n\
         created_at_window_secs = 120\n",
    )
    .unwrap();
    let relay_s = relay.to_string();
    let admin_s = admin.to_string();
    let mut command = serve(
        dir.path(),
        &["--config", config.to_str().unwrap(), "--listen", &relay_s],
        &[
            ("BUNKERD_LISTEN", "127.0.0.1:9"),
            ("BUNKERD_ADMIN_LISTEN", &admin_s),
        ],
    );
    let mut child = command.spawn().expect("bunkerd starts");
    let mut guard = KillOnDrop {
        pid: child.id(),
        armed: true,
    };
    let lines = lines_of(&mut child);

    let serving = until_logged(&lines, "bunkerd is serving");
    assert_eq!(serving["level"], "INFO", "{serving}");
    assert_eq!(
        serving["fields"]["relay_addr"],
        relay_s.as_str(),
        "flag > env > file"
    );
    assert_eq!(
        serving["fields"]["admin_addr"],
        admin_s.as_str(),
        "env > file"
    );
    assert!(
        dir.path().join("state").join("master.key").exists(),
        "data_dir from the file"
    );
    assert_eq!(get(admin, "/healthz", None), "HTTP/1.1 200 OK");
    assert_eq!(
        get(admin, "/v1/tenants", Some(token)),
        "HTTP/1.1 200 OK",
        "the operator token from operator_token_file"
    );

    signal(child.id(), "TERM");
    until_logged(&lines, "bunkerd stopped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx
        .recv_timeout(RUN_TIMEOUT)
        .expect("bunkerd exits after SIGTERM")
        .unwrap();
    guard.armed = false;
    assert_eq!(status.code(), Some(0));
    assert_not_bound(relay);
}
