//! Test helpers for this crate's tests, other crates' and the end-to-end suite (feature
//! `testing`): a real PostgreSQL server in a temporary directory, and a store that calls a test's
//! hooks on its way to a real engine.
//!
//! Must not: be compiled into the server (the feature is enabled only by test crates), or leave a
//! server running after the test process ends (see [`Postgres`]).
//!
//! Main types: [`Postgres`], [`Hooked`].

mod hooked;
pub use hooked::Hooked;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A PostgreSQL server of its own (`initdb` in a temporary directory, `postgres` on a free
/// loopback port, trust authentication for the role `bunkerd`), stopped when dropped or, for the
/// shared one, when the test process ends however it ends.
///
/// The binaries are `$BUNKERD_PG_BIN/{initdb,postgres}`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package). As root (initdb refuses root)
/// both run as the `postgres` user through `runuser`.
///
/// The server is a child of a small shell that reads its standard input: when this process exits
/// (even by SIGKILL) the pipe closes, the shell wakes and stops the server (fast shutdown).
pub struct Postgres {
    shell: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    _dir: tempfile::TempDir,
    databases: AtomicUsize,
}

impl Postgres {
    /// The server shared by every test of this process, started on first use.
    pub fn shared() -> &'static Postgres {
        static SHARED: OnceLock<Postgres> = OnceLock::new();
        SHARED.get_or_init(Postgres::start)
    }

    /// Starts a new server and waits (at most 60 s) until it accepts connections.
    ///
    /// # Panics
    ///
    /// If the binaries are missing, `initdb` fails or the server does not answer in time.
    pub fn start() -> Postgres {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("bunkerd-pg-")
            .tempdir()
            .expect("a temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("the data dir");
        let as_root = is_root();
        if as_root {
            // The server runs as `postgres`: it must own its data directory and reach it.
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("chmod the temp dir");
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown runs");
            assert!(status.success(), "chown postgres {}", data.display());
        }
        let initdb = run_as(as_root, &bin.join("initdb"))
            .args([
                "-A",
                "trust",
                "-U",
                "bunkerd",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .arg("-D")
            .arg(&data)
            .output()
            .expect("initdb runs");
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let port = free_port();
        // Stops the server when its standard input closes, then removes the directory (the shared
        // server's `TempDir` is never dropped).
        let script = r#"dir="$1"; server="$2"; shift 2; "$server" "$@" </dev/null & pid=$!
read -r _ || true
kill -INT "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir""#;
        let mut shell = run_as(as_root, Path::new("/bin/sh"));
        shell
            .args(["-c", script, "sh"])
            .arg(dir.path())
            .arg(bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(&data)
            .args(["-c", "max_connections=400", "-c", "shared_buffers=32MB"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut shell = shell.spawn().expect("postgres starts");
        let stdin = shell.stdin.take();
        let server = Postgres {
            shell,
            stdin,
            port,
            _dir: dir,
            databases: AtomicUsize::new(0),
        };
        server.wait_ready();
        server
    }

    /// `postgres://bunkerd@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://bunkerd@127.0.0.1:{}/{database}", self.port)
    }

    /// The server's TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a new empty database and returns its URL.
    pub fn database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        // CREATE DATABASE copies template1; two at once would both read it: serialize them.
        static CREATING: Mutex<()> = Mutex::new(());
        let _one = CREATING.lock().unwrap_or_else(|e| e.into_inner());
        crate::pg::blocking(|| {
            let mut client = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
                .expect("connecting to the test server");
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("CREATE DATABASE");
        });
        self.url(&name)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let url = self.url("postgres");
            if crate::pg::blocking(|| postgres::Client::connect(&url, postgres::NoTls).is_ok()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not accept connections within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let _ = self.shell.wait();
    }
}

fn run_as(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn is_root() -> bool {
    // `id -u` rather than a libc call: this crate forbids unsafe code and has no libc binding.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

fn pg_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("BUNKERD_PG_BIN") {
        return PathBuf::from(bin);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "no PostgreSQL server found: install Debian's postgresql package or set BUNKERD_PG_BIN"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
