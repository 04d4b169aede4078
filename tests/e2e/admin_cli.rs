//! `bunkerd admin` (the operator CLI) against a real server: the real `bunkerd` binary runs as a
//! child process with `--url http://<admin addr>` and the operator token in a temp file, for
//! tenants create/list, users create (importing an nsec from a file and a hex key from stdin), uris
//! create, sessions list (after a real NIP-46 `connect`), audit, and a tenant admin token from
//! `BUNKERD_TOKEN`; exit codes 0, 1 (API error), 64 (bad arguments) and 69 (unreachable) and what
//! each prints.
//!
//! Assumption: the binary is `bunkerd` in the profile directory of this test binary
//! (`<target>/debug/bunkerd` next to `<target>/debug/deps/e2e-…`); `env!("CARGO_BIN_EXE_bunkerd")`
//! exists only inside the `relay` package. `cargo test --workspace` builds it; with
//! `cargo test -p tests` alone, run `cargo build -p bunkerd` first (the test fails
//! with that advice when the binary is missing).

use crate::support::bunkerd_command;
use crate::support::raw::{pk, secret_of, RawClient, Transport};
use crate::support::{TestServer, OPERATOR_TOKEN};
use nostr_connect::prelude::{Keys, ToBech32};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Stdio;

/// One finished CLI run.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts exit code 0 and returns stdout.
    #[track_caller]
    fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "{self:?}");
        &self.stdout
    }

    /// Asserts exit code 0 and parses stdout as JSON (`--json` runs).
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// Runs `bunkerd admin` against one server, from an empty working directory (so the default
/// `./data/operator.token` never exists) and with no `BUNKERD_*` variable inherited.
struct Cli {
    url: String,
    dir: tempfile::TempDir,
}

impl Cli {
    fn new(server: &TestServer) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("operator.token"),
            format!("{OPERATOR_TOKEN}\n"),
        )
        .unwrap();
        Cli {
            url: format!("http://{}", server.server.admin_addr),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `bunkerd admin --url <url> --token-file <operator token file> <args>`.
    async fn run(&self, args: &[&str]) -> Run {
        let token_file = self.path("operator.token");
        let mut full = vec!["--url", &self.url, "--token-file"];
        full.push(token_file.to_str().unwrap());
        full.extend_from_slice(args);
        self.exec(&full, &[], None).await
    }

    /// `bunkerd admin <args>` with exactly these `BUNKERD_*` variables and stdin.
    async fn exec(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
        let mut command = bunkerd_command();
        command
            .arg("admin")
            .args(args)
            .current_dir(self.dir.path())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .envs(env.iter().copied());
        let stdin = stdin.map(<[u8]>::to_vec);
        let output = tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().expect("bunkerd starts");
            if let Some(bytes) = stdin {
                use std::io::Write;
                let mut pipe = child.stdin.take().unwrap();
                pipe.write_all(&bytes).unwrap();
            }
            child.wait_with_output().expect("bunkerd runs")
        })
        .await
        .unwrap();
        Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }
}

/// The data rows of a table (after the header), split on whitespace.
fn rows(table: &str) -> Vec<Vec<&str>> {
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_provisions_through_the_cli() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);

    // tenants create (human output), then list as a table and as JSON.
    let created = cli.run(&["tenants", "create", "--name", "acme"]).await;
    let first = created.ok().lines().next().unwrap_or_default();
    let tenant = first
        .strip_prefix("id: ")
        .expect("id line first")
        .to_owned();
    assert_eq!(tenant.len(), 32, "{created:?}");
    assert!(created.stdout.contains("\nname: acme\n"), "{created:?}");
    cli.run(&["tenants", "create", "--name", "globex"])
        .await
        .ok();
    let list = cli.run(&["tenants", "list"]).await;
    let table = list.ok();
    assert!(
        table.starts_with("ID ") && table.lines().next().unwrap().contains("NAME"),
        "{table}"
    );
    let listed = rows(table);
    assert_eq!(listed.len(), 2, "{table}");
    assert!(
        listed.iter().any(|r| r[0] == tenant && r[1] == "acme"),
        "{table}"
    );
    let page = cli
        .run(&["tenants", "list", "--limit", "1", "--json"])
        .await
        .json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string(), "{page}");

    // users create: an nsec imported from a file, and a hex key from stdin.
    let alice_keys = Keys::generate();
    let nsec_file = cli.path("alice.nsec");
    std::fs::write(&nsec_file, alice_keys.secret_key().to_bech32().unwrap()).unwrap();
    let alice = cli
        .run(&[
            "--json",
            "users",
            "create",
            &tenant,
            "--name",
            "alice",
            "--secret-key-file",
            nsec_file.to_str().unwrap(),
        ])
        .await;
    let alice = alice.json();
    assert_eq!(
        alice["user_pubkey"],
        alice_keys.public_key().to_hex().as_str()
    );
    assert_eq!(alice["name"], "alice");
    let user = alice["id"].as_str().unwrap().to_owned();

    let bob_keys = Keys::generate();
    let bob_hex = bob_keys.secret_key().to_secret_hex();
    let bob = cli
        .exec(
            &[
                "--url",
                &cli.url,
                "users",
                "create",
                &tenant,
                "--name",
                "bob",
                "--secret-key-file",
                "-",
            ],
            &[(
                "BUNKERD_TOKEN_FILE",
                cli.path("operator.token").to_str().unwrap(),
            )],
            Some(format!("{bob_hex}\n").as_bytes()),
        )
        .await;
    let out = bob.ok();
    assert!(
        out.contains(&format!(
            "\nuser_pubkey: {}\n",
            bob_keys.public_key().to_hex()
        )),
        "{bob:?}"
    );
    assert!(!out.contains(&bob_hex) && !bob.stderr.contains(&bob_hex));

    // uris create: the URI on stdout, the "shown once" note on stderr.
    let uri = cli
        .run(&["uris", "create", &tenant, &user, "--ttl", "600"])
        .await;
    let bunker_uri = uri
        .ok()
        .lines()
        .find_map(|l| l.strip_prefix("bunker_uri: "))
        .unwrap_or_else(|| panic!("no bunker_uri line: {uri:?}"))
        .to_owned();
    let remote = alice["remote_signer_pubkey"].as_str().unwrap();
    assert!(
        bunker_uri.starts_with(&format!("bunker://{remote}?")),
        "{bunker_uri}"
    );
    assert!(uri.stderr.contains("shown once"), "{uri:?}");

    // sessions list: empty, then one row for the client that connected with the URI.
    let empty = cli.run(&["sessions", "list", &tenant, &user]).await;
    assert_eq!(empty.ok(), "(none)\n");
    let client_keys = Keys::generate();
    let mut client = RawClient::with_keys(server.server.relay_addr, client_keys.clone()).await;
    let ack = client
        .request(
            &pk(remote),
            "connect",
            vec![remote.to_owned(), secret_of(&bunker_uri)],
            Transport::Nip44,
        )
        .await;
    assert_eq!(ack["result"], "ack");
    let sessions = cli.run(&["sessions", "list", &tenant, &user]).await;
    let table = sessions.ok();
    assert!(table.starts_with("CLIENT_PUBKEY "), "{table}");
    let listed = rows(table);
    assert_eq!(listed.len(), 1, "{table}");
    assert_eq!(listed[0][0], client_keys.public_key().to_hex());

    // audit: every admin action above, oldest first; filtered by method.
    let audit = cli.run(&["audit", &tenant]).await;
    let actions: Vec<&str> = rows(audit.ok()).iter().map(|r| r[1]).collect();
    for action in ["tenant.create", "user.create", "bunker_uri.create"] {
        assert!(actions.contains(&action), "{action} missing: {audit:?}");
    }
    let position = |a: &str| actions.iter().position(|x| *x == a).unwrap();
    assert!(position("tenant.create") < position("bunker_uri.create"));
    let creates = cli
        .run(&["audit", &tenant, "--method", "user.create", "--json"])
        .await
        .json();
    let items = creates["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{creates}");
    assert!(items.iter().all(|r| r["action"] == "user.create"));
    assert_eq!(items[0]["user"], user.as_str());

    // A tenant admin token from BUNKERD_TOKEN: its own tenant only, and no operator routes.
    let token = cli
        .run(&["--json", "admin-tokens", "create", &tenant, "--name", "ci"])
        .await
        .json();
    let token = token["token"].as_str().unwrap().to_owned();
    let env = [("BUNKERD_TOKEN", token.as_str())];
    let users = cli
        .exec(&["--url", &cli.url, "users", "list", &tenant], &env, None)
        .await;
    assert_eq!(rows(users.ok()).len(), 2, "{users:?}");
    let forbidden = cli
        .exec(&["--url", &cli.url, "tenants", "list"], &env, None)
        .await;
    assert_eq!(forbidden.code, 1, "{forbidden:?}");
    assert!(
        forbidden.stderr.starts_with("error: forbidden: "),
        "{forbidden:?}"
    );

    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_error_output() {
    let server = TestServer::start().await;
    let cli = Cli::new(&server);

    // 1: the API's error, as `error: <code>: <message>` on stderr, nothing on stdout.
    let missing = cli
        .run(&["tenants", "get", "00000000000000000000000000000000"])
        .await;
    assert_eq!(
        (
            missing.code,
            missing.stdout.as_str(),
            missing.stderr.as_str()
        ),
        (1, "", "error: tenant_not_found: tenant not found\n")
    );
    // With --json the error body also goes to stdout.
    let missing = cli
        .run(&[
            "--json",
            "tenants",
            "get",
            "00000000000000000000000000000000",
        ])
        .await;
    assert_eq!(missing.code, 1);
    let body: Value = serde_json::from_str(&missing.stdout).unwrap();
    assert_eq!(body["error"]["code"], "tenant_not_found");
    // A wrong token is the API's 401.
    let wrong = cli.path("wrong.token");
    std::fs::write(&wrong, "wrong-token-wrong-token").unwrap();
    let unauthorized = cli
        .exec(
            &[
                "--url",
                &cli.url,
                "--token-file",
                wrong.to_str().unwrap(),
                "tenants",
                "list",
            ],
            &[],
            None,
        )
        .await;
    assert_eq!(unauthorized.code, 1, "{unauthorized:?}");
    assert!(unauthorized.stderr.starts_with("error: unauthorized: "));

    // 64: bad arguments (clap's and the CLI's own), before any request.
    let tenant = cli
        .run(&["--json", "tenants", "create", "--name", "acme"])
        .await
        .json();
    let tenant = tenant["id"].as_str().unwrap();
    for args in [
        vec!["tenants", "update", tenant],
        vec!["tenants", "frobnicate"],
        vec!["users", "create", tenant, "--secret-key", "nsec1notonargv"],
        vec!["tenants", "get", "../../healthz"],
    ] {
        let run = cli.run(&args).await;
        assert_eq!(
            (run.code, run.stdout.as_str()),
            (64, ""),
            "{args:?}: {run:?}"
        );
    }
    let unreadable = cli
        .run(&[
            "users",
            "create",
            tenant,
            "--secret-key-file",
            "/nonexistent/key",
        ])
        .await;
    assert_eq!(unreadable.code, 64, "{unreadable:?}");
    assert!(unreadable.stderr.contains("cannot read --secret-key-file"));
    let no_token = cli
        .exec(&["--url", &cli.url, "tenants", "list"], &[], None)
        .await;
    assert_eq!(no_token.code, 64, "{no_token:?}");
    assert!(no_token.stderr.contains("no token"), "{no_token:?}");
    let https = cli
        .exec(
            &["--url", "https://127.0.0.1:1", "tenants", "list"],
            &[("BUNKERD_TOKEN", "x")],
            None,
        )
        .await;
    assert_eq!(https.code, 64, "{https:?}");
    // Nothing was created by the refused commands.
    let users = cli.run(&["--json", "users", "list", tenant]).await.json();
    assert_eq!(users["items"], serde_json::json!([]));

    // 69: nothing listens at --url.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}");
    let unreachable = cli
        .exec(
            &["--url", &url, "tenants", "list"],
            &[("BUNKERD_TOKEN", "x")],
            None,
        )
        .await;
    assert_eq!(unreachable.code, 69, "{unreachable:?}");
    assert!(
        unreachable.stderr.contains("cannot reach the admin API"),
        "{unreachable:?}"
    );

    server.server.stop().await;
}
