//! Test support: a real server in a temp dir, an admin API client, a raw NIP-46 client, the Node
//! harnesses and the client matrix they run.

pub mod admin;
pub mod cluster;
pub mod foreign;
pub mod matrix;
pub mod nats;
pub mod node;
pub mod raw;
pub mod tls;

use bunkerd::{Config, Server};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// The operator token every test server uses.
pub const OPERATOR_TOKEN: &str = "test-operator-token-0123456789abcdef";

/// A running bunkerd with its data directory.
pub struct TestServer {
    /// The running server.
    pub server: Server,
    /// Its data directory (kept alive by `_dir` when owned).
    pub data_dir: PathBuf,
    _dir: Option<TempDir>,
}

/// A provisioned user: ids, keys and a fresh bunker URI.
#[derive(Debug, Clone)]
pub struct User {
    pub tenant: String,
    pub id: String,
    pub user_pubkey: String,
    pub remote_signer_pubkey: String,
    pub bunker_uri: String,
}

impl TestServer {
    /// Starts bunkerd on 127.0.0.1:0 (both ports) with RocksDB in a fresh temp dir.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().to_path_buf();
        let mut server = Self::start_in(&data_dir, "127.0.0.1:0".parse().unwrap()).await;
        server._dir = Some(dir);
        server
    }

    /// Starts bunkerd on 127.0.0.1:0 in a fresh temp dir, with the test defaults changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = config(dir.path(), "127.0.0.1:0".parse().unwrap());
        adjust(&mut config);
        let server = bunkerd::start(config).await.expect("bunkerd starts");
        TestServer {
            server,
            data_dir: dir.path().to_path_buf(),
            _dir: Some(dir),
        }
    }

    /// Starts bunkerd on an existing data dir and relay address (admin on 127.0.0.1:0).
    pub async fn start_in(data_dir: &Path, listen: SocketAddr) -> Self {
        let server = bunkerd::start(config(data_dir, listen))
            .await
            .expect("bunkerd starts");
        TestServer {
            server,
            data_dir: data_dir.to_path_buf(),
            _dir: None,
        }
    }

    /// Stops the server and returns its temp dir (so a restart can reuse it).
    pub async fn stop(self) -> (PathBuf, Option<TempDir>, SocketAddr) {
        let addr = self.server.relay_addr;
        self.server.stop().await;
        (self.data_dir, self._dir, addr)
    }

    /// The relay's websocket URL.
    pub fn relay_url(&self) -> String {
        format!("ws://{}", self.server.relay_addr)
    }

    /// Admin API client with the operator token.
    pub fn admin(&self) -> admin::Admin {
        admin::Admin::new(self.server.admin_addr, Some(OPERATOR_TOKEN))
    }

    /// Creates a tenant, a user (importing `secret_key` if given) and a bunker URI.
    pub async fn provision(&self, secret_key: Option<&str>) -> User {
        let admin = self.admin();
        let tenant = admin
            .post_ok("/v1/tenants", serde_json::json!({"name": "acme"}))
            .await;
        let tenant = tenant["id"].as_str().unwrap().to_owned();
        self.provision_in(&tenant, secret_key).await
    }

    /// Creates a user and a bunker URI in an existing tenant.
    pub async fn provision_in(&self, tenant: &str, secret_key: Option<&str>) -> User {
        let mut body = serde_json::json!({"name": "alice"});
        if let Some(sk) = secret_key {
            body["secret_key"] = sk.into();
        }
        create_user(&self.admin(), tenant, body).await
    }

    /// A raw client with a session for `user`: its bunker URI's `connect` acknowledged (NIP-44).
    pub async fn connected(&self, user: &User) -> raw::RawClient {
        connected_at(self.server.relay_addr, user).await
    }

    /// A fresh bunker URI for an existing user.
    pub async fn bunker_uri(&self, user: &User) -> String {
        let path = format!("/v1/tenants/{}/users/{}/bunker-uris", user.tenant, user.id);
        let uri = self.admin().post_ok(&path, serde_json::json!({})).await;
        uri["bunker_uri"].as_str().unwrap().to_owned()
    }
}

/// Creates a user from `body` (`POST /v1/tenants/{tenant}/users`) and a bunker URI for it, as
/// `admin` (any credential entitled to the tenant).
pub async fn create_user(admin: &admin::Admin, tenant: &str, body: serde_json::Value) -> User {
    let user = admin
        .post_ok(&format!("/v1/tenants/{tenant}/users"), body)
        .await;
    let id = user["id"].as_str().unwrap().to_owned();
    let uri = admin
        .post_ok(
            &format!("/v1/tenants/{tenant}/users/{id}/bunker-uris"),
            serde_json::json!({}),
        )
        .await;
    User {
        tenant: tenant.to_owned(),
        id,
        user_pubkey: user["user_pubkey"].as_str().unwrap().to_owned(),
        remote_signer_pubkey: user["remote_signer_pubkey"].as_str().unwrap().to_owned(),
        bunker_uri: uri["bunker_uri"].as_str().unwrap().to_owned(),
    }
}

/// A raw client on the relay at `relay`, connected with the user's bunker URI (its secret used).
pub async fn connected_at(relay: std::net::SocketAddr, user: &User) -> raw::RawClient {
    let mut client = raw::RawClient::connect(relay).await;
    let params = vec![String::new(), raw::secret_of(&user.bunker_uri)];
    let remote = raw::pk(&user.remote_signer_pubkey);
    let ack = client
        .request(&remote, "connect", params, raw::Transport::Nip44)
        .await;
    assert_eq!(ack["result"], "ack");
    client
}

/// The `bunkerd` binary next to this test binary (`cargo test --workspace` builds it; `cargo test -p
/// tests` alone does not).
pub fn bunkerd_binary() -> PathBuf {
    workspace_binary("bunkerd")
}

/// The workspace binary `name` next to this test binary (`cargo test --workspace` builds every
/// one; `cargo test -p tests` alone does not).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let mut dir = exe.parent().expect("test binary has a directory");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("deps has a parent");
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} not found: run `cargo build --workspace` (cargo test --workspace builds it)",
        path.display()
    );
    path
}

/// A command for the real `bunkerd` binary ([`bunkerd_binary`]) with every inherited `BUNKERD_*`
/// variable removed, so the developer's environment cannot change what a test measures; callers add
/// the arguments, variables and stdio they need.
pub fn bunkerd_command() -> std::process::Command {
    let mut command = std::process::Command::new(bunkerd_binary());
    for (name, _) in std::env::vars() {
        if name.starts_with("BUNKERD_") {
            command.env_remove(name);
        }
    }
    command
}

/// Sends `SIG<name>` (e.g. `TERM`, `KILL`) to `pid` with kill(1); panics when kill fails.
pub fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}

fn config(data_dir: &Path, listen: SocketAddr) -> Config {
    let mut config = Config::for_data_dir(data_dir);
    config.listen = listen;
    config.admin_listen = "127.0.0.1:0".parse().unwrap();
    config.operator_token = Some(zeroize::Zeroizing::new(OPERATOR_TOKEN.to_owned()));
    config.workers = 2;
    config.shutdown_grace = std::time::Duration::from_secs(5);
    // The foreign relays of the tests listen on loopback.
    config.foreign.allow_private = true;
    config.store = store_url(data_dir).map(|url| url.parse().expect("infallible"));
    config
}

/// Whether this run keeps the servers' records in PostgreSQL: `BUNKERD_TEST_STORE=postgres` runs
/// the whole suite on `--store postgres://…` (each data directory its own database on a server
/// the test process starts), anything else or unset on RocksDB.
pub fn on_postgres() -> bool {
    std::env::var("BUNKERD_TEST_STORE").is_ok_and(|v| v == "postgres")
}

/// The `--store` URL of the server whose data directory is `data_dir` when the suite runs on
/// PostgreSQL ([`on_postgres`]): one database per data directory, created on first use, so a
/// restart in the same directory finds its records. `None` on RocksDB.
pub fn store_url(data_dir: &Path) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static DATABASES: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    if !on_postgres() {
        return None;
    }
    let mut databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    let url = databases
        .get_or_insert_with(HashMap::new)
        .entry(data_dir.to_path_buf())
        .or_insert_with(|| store::testing::Postgres::shared().database());
    Some(url.clone())
}

/// The `--store` arguments of a `bunkerd` command run on `data_dir`: `["--store", url]` when the
/// suite runs on PostgreSQL ([`store_url`]), none on RocksDB.
pub fn store_args(data_dir: &Path) -> Vec<String> {
    store_url(data_dir)
        .map(|url| vec!["--store".to_owned(), url])
        .unwrap_or_default()
}

/// The store of a stopped server whose data directory is `data_dir`, opened directly: its
/// RocksDB, or its PostgreSQL database when the suite runs on PostgreSQL.
pub fn open_store(data_dir: &Path) -> std::sync::Arc<dyn store::Store> {
    match store_url(data_dir) {
        Some(url) => std::sync::Arc::new(
            store::PgStore::connect(&url, &store::PgOptions::default()).expect("PostgreSQL opens"),
        ),
        None => std::sync::Arc::new(
            store::RocksStore::open(&data_dir.join("db")).expect("RocksDB opens"),
        ),
    }
}

/// Asserts that `client`, connected to `user` before a restart, is still served without a new
/// `connect`: `get_public_key` answers the user pubkey, and a `sign_event` comes back as an event
/// that verifies and is signed by the user. `when` names the moment in assertion messages.
pub async fn assert_still_served(client: &mut raw::RawClient, user: &User, when: &str) {
    let remote = raw::pk(&user.remote_signer_pubkey);
    let key = client
        .request(&remote, "get_public_key", vec![], raw::Transport::Nip44)
        .await;
    assert_eq!(
        key["result"],
        user.user_pubkey.as_str(),
        "get_public_key {when}"
    );
    sign_note(client, user, when).await;
}

/// Has `user` sign a kind-1 note with `content` through `client` (NIP-44) and checks the event.
pub async fn sign_note(client: &mut raw::RawClient, user: &User, content: &str) {
    let remote = raw::pk(&user.remote_signer_pubkey);
    let template = serde_json::json!({
        "kind": 1, "content": content, "tags": [], "created_at": crate::admin_policy::now()
    });
    let reply = client
        .request(
            &remote,
            "sign_event",
            vec![template.to_string()],
            raw::Transport::Nip44,
        )
        .await;
    crate::admin_policy::signed_event(&reply, user);
}

/// `GET path` over HTTP/1.1 to `addr` (a fresh connection): the response, its body read whole.
pub async fn http_get(addr: SocketAddr, path: &str) -> hyper::Response<hyper::body::Bytes> {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .unwrap();
    let (parts, body) = sender.send_request(req).await.unwrap().into_parts();
    hyper::Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}
