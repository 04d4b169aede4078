//! A cluster of real `bunkerd serve` processes on one PostgreSQL database and one NATS server,
//! behind a real HAProxy (Debian's `haproxy`, which `.ci/run` installs), each node on fixed
//! loopback ports so that it can be killed and started again where the load balancer expects it.

use super::nats::Nats;
use super::{bunkerd_command, OPERATOR_TOKEN};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a node may take to answer `/readyz` 200 after it starts.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A free loopback port now (bound, then released).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// One node: its process (when running), ports and data directory.
pub struct Node {
    child: Option<Child>,
    pub relay: SocketAddr,
    pub admin: SocketAddr,
    data_dir: PathBuf,
    args: Vec<String>,
}

impl Node {
    /// Starts the node's process and waits until `/readyz` answers 200.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "the node runs already");
        let log = std::fs::File::create(self.data_dir.join("bunkerd.log")).unwrap();
        let child = bunkerd_command()
            .arg("serve")
            .args(&self.args)
            .env("BUNKERD_OPERATOR_TOKEN", OPERATOR_TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("bunkerd starts (cargo test --workspace builds it)");
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Ok(Ok(response)) =
                tokio::time::timeout(Duration::from_secs(2), try_get(self.admin, "/readyz")).await
            {
                if response == 200 {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the node exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "not ready in 60 s: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the node runs");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM (a graceful stop), and waits for the process to exit 0.
    pub async fn stop(&mut self) {
        let mut child = self.child.take().expect("the node runs");
        super::signal(child.id(), "TERM");
        let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap();
        assert!(status.success(), "a graceful stop exits 0: {status}");
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("bunkerd.log")).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `GET path` on `addr`: the status code.
async fn try_get(addr: SocketAddr, path: &str) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream
        .read_exact(&mut head)
        .await
        .map_err(|e| e.to_string())?;
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| "not an HTTP response".into())
}

/// Nodes, their database and bus, and the load balancer in front of their relay ports.
pub struct Cluster {
    pub nodes: Vec<Node>,
    /// HAProxy's relay port: what clients dial.
    pub balancer: SocketAddr,
    haproxy: Child,
    _bus: Nats,
    _dir: TempDir,
}

impl Cluster {
    /// Starts `count` nodes (the first creates the master key the others use) and HAProxy.
    pub async fn start(count: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let bus = Nats::start();
        let database = store::testing::Postgres::shared().database();
        let balancer = free_port();
        let mut nodes = Vec::new();
        for i in 0..count {
            let data_dir = dir.path().join(format!("node{i}"));
            std::fs::create_dir_all(&data_dir).unwrap();
            let (relay, admin) = (free_port(), free_port());
            let mut args: Vec<String> = vec![
                "--data-dir".into(),
                data_dir.display().to_string(),
                "--listen".into(),
                relay.to_string(),
                "--admin-listen".into(),
                admin.to_string(),
                "--public-url".into(),
                format!("ws://{balancer}"),
                "--store".into(),
                database.clone(),
                "--cluster-bus".into(),
                bus.url.clone(),
                "--workers".into(),
                "1".into(),
                "--shutdown-grace-secs".into(),
                "5".into(),
                // Every client comes from 127.0.0.1 through the balancer.
                "--max-connections-per-ip".into(),
                "100000".into(),
                "--ip-events-per-sec".into(),
                "100000".into(),
                "--ip-events-burst".into(),
                "100000".into(),
                "--events-per-sec".into(),
                "100000".into(),
                "--events-burst".into(),
                "100000".into(),
            ];
            if i > 0 {
                let key = dir.path().join("node0").join("master.key");
                args.extend(["--master-key-file".into(), key.display().to_string()]);
            }
            let mut node = Node {
                child: None,
                relay,
                admin,
                data_dir,
                args,
            };
            node.start().await;
            nodes.push(node);
        }
        let haproxy = start_haproxy(dir.path(), balancer, &nodes).await;
        Cluster {
            nodes,
            balancer,
            haproxy,
            _bus: bus,
            _dir: dir,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.haproxy.kill();
        let _ = self.haproxy.wait();
    }
}

/// HAProxy with the compose file's configuration (`deploy/cluster/haproxy.cfg`), its addresses
/// replaced by `balancer` and the nodes' loopback ports (and the container's DNS left out). Waits until
/// it accepts connections.
async fn start_haproxy(dir: &std::path::Path, balancer: SocketAddr, nodes: &[Node]) -> Child {
    let shipped =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/cluster/haproxy.cfg");
    let shipped = std::fs::read_to_string(&shipped).expect("deploy/cluster/haproxy.cfg");
    let mut config = String::new();
    let mut in_resolvers = false;
    let mut servers = 0;
    for line in shipped.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("resolvers compose") {
            in_resolvers = true;
            continue;
        }
        if in_resolvers {
            if trimmed.starts_with("parse-resolv-conf") {
                continue;
            }
            in_resolvers = false;
        }
        let line = if trimmed == "bind :7447" {
            format!("    bind {balancer}")
        } else if let Some(name) = trimmed.strip_prefix("server n") {
            let i: usize = name[..1].parse().expect("servers n1, n2, …");
            servers += 1;
            let node = &nodes[i - 1];
            format!(
                "    server n{i} {} check port {}",
                node.relay,
                node.admin.port()
            )
        } else {
            line.replace(" resolvers compose init-addr last,libc,none", "")
        };
        config.push_str(&line);
        config.push('\n');
    }
    assert_eq!(
        servers,
        nodes.len(),
        "one server line per node in haproxy.cfg"
    );
    let mut settings = config.lines().filter(|l| !l.trim_start().starts_with('#'));
    assert!(
        settings.all(|l| !l.contains("bunkerd-") && !l.contains("resolvers")),
        "{config}"
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("haproxy.log")).unwrap())
        .spawn()
        .expect("haproxy runs (Debian's haproxy package; .ci/run installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(balancer).await.is_err() {
        assert!(Instant::now() < deadline, "haproxy listens within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child
}
