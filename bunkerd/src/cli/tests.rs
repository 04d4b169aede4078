//! Unit tests of `bunkerd admin`: argument parsing (what clap accepts and refuses, and that its
//! refusals are the kind `main` maps to exit code 64), the request each command builds (method,
//! path, JSON body) with no server, token resolution, `--url` parsing, rendering, and the bytes one
//! request puts on the wire (against a scripted local TCP peer, not a bunkerd).

use super::client::{self, Endpoint};
use super::print::{self, Output, Reply, View};
use super::request::{self, ApiRequest, Inputs, MAX_INPUT_BYTES};
use super::*;
use clap::Parser;
use hyper::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `bunkerd admin` as a top-level parser.
#[derive(Debug, Parser)]
struct TestCli {
    #[command(flatten)]
    admin: AdminArgs,
}

fn parse(argv: &[&str]) -> Result<AdminArgs, clap::Error> {
    TestCli::try_parse_from(std::iter::once("bunkerd-admin").chain(argv.iter().copied()))
        .map(|cli| cli.admin)
}

fn build_with(argv: &[&str], stdin: &[u8]) -> Result<ApiRequest, CliError> {
    let args = parse(argv).unwrap_or_else(|e| panic!("{argv:?} does not parse: {e}"));
    request::build(&args.command, &mut Inputs::with_stdin(stdin))
}

fn body_json(request: &ApiRequest) -> Option<Value> {
    request
        .body
        .as_ref()
        .map(|b| serde_json::from_slice(b).expect("bodies are JSON"))
}

/// Asserts that `argv` builds exactly `method path` with `body` (`None`: no body).
#[track_caller]
fn check(argv: &[&str], method: Method, path: &str, body: Option<Value>) {
    let request = build_with(argv, b"").unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert_eq!(
        (&request.method, request.path.as_str(), body_json(&request)),
        (&method, path, body),
        "{argv:?}"
    );
}

/// Asserts that clap refuses `argv` with an error `main` reports as a usage error (exit 64).
#[track_caller]
fn refused(argv: &[&str]) {
    let e = parse(argv).expect_err(&format!("{argv:?} should be refused"));
    assert!(e.use_stderr(), "{argv:?}: {e}");
}

const T: &str = "0123456789abcdef0123456789abcdef";
const U: &str = "fedcba9876543210fedcba9876543210";
const PK: &str = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

/// A file in a fresh directory under the system temp dir, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(content: &[u8]) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bunkerd-cli-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("input");
        std::fs::write(&path, content).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
    }
}

#[test]
fn tenant_commands_build_their_routes() {
    let base = format!("/v1/tenants/{T}");
    check(
        &["tenants", "create", "--name", "acme"],
        Method::POST,
        "/v1/tenants",
        Some(json!({"name": "acme"})),
    );
    check(&["tenants", "list"], Method::GET, "/v1/tenants", None);
    check(
        &["tenants", "list", "--cursor", T, "--limit", "10"],
        Method::GET,
        &format!("/v1/tenants?cursor={T}&limit=10"),
        None,
    );
    check(&["tenants", "get", T], Method::GET, &base, None);
    check(
        &[
            "tenants",
            "update",
            T,
            "--name",
            "Acme Inc",
            "--nip05-domain",
            "acme.example",
        ],
        Method::PATCH,
        &base,
        Some(json!({"name": "Acme Inc", "nip05_domain": "acme.example"})),
    );
    check(
        &["tenants", "update", T, "--clear-nip05-domain"],
        Method::PATCH,
        &base,
        Some(json!({"nip05_domain": null})),
    );
    check(
        &["tenants", "update", T, "--limits", r#"{"max_users":10}"#],
        Method::PATCH,
        &base,
        Some(json!({"limits": {"max_users": 10}})),
    );
    check(&["tenants", "delete", T], Method::DELETE, &base, None);
    check(
        &["tenants", "policy", "get", T],
        Method::GET,
        &format!("{base}/policy"),
        None,
    );
}

#[test]
fn admin_token_and_pubkey_commands_build_their_routes() {
    let base = format!("/v1/tenants/{T}");
    check(
        &["admin-tokens", "create", T],
        Method::POST,
        &format!("{base}/admin-tokens"),
        Some(json!({})),
    );
    check(
        &["admin-tokens", "create", T, "--name", "ci"],
        Method::POST,
        &format!("{base}/admin-tokens"),
        Some(json!({"name": "ci"})),
    );
    check(
        &["admin-tokens", "list", T],
        Method::GET,
        &format!("{base}/admin-tokens"),
        None,
    );
    check(
        &["admin-tokens", "revoke", T, U],
        Method::DELETE,
        &format!("{base}/admin-tokens/{U}"),
        None,
    );
    check(
        &["admin-pubkeys", "add", T, PK, "--name", "bob"],
        Method::POST,
        &format!("{base}/admin-pubkeys"),
        Some(json!({"pubkey": PK, "name": "bob"})),
    );
    check(
        &["admin-pubkeys", "list", T],
        Method::GET,
        &format!("{base}/admin-pubkeys"),
        None,
    );
    check(
        &["admin-pubkeys", "remove", T, PK],
        Method::DELETE,
        &format!("{base}/admin-pubkeys/{PK}"),
        None,
    );
}

#[test]
fn user_commands_build_their_routes() {
    let users = format!("/v1/tenants/{T}/users");
    let user = format!("{users}/{U}");
    check(
        &["users", "create", T],
        Method::POST,
        &users,
        Some(json!({})),
    );
    check(
        &[
            "users",
            "create",
            T,
            "--name",
            "alice",
            "--nip05-name",
            "alice",
        ],
        Method::POST,
        &users,
        Some(json!({"name": "alice", "nip05_name": "alice"})),
    );
    check(
        &["users", "list", T, "--limit", "1000"],
        Method::GET,
        &format!("{users}?limit=1000"),
        None,
    );
    check(&["users", "get", T, U], Method::GET, &user, None);
    check(
        &["users", "update", T, U, "--disable", "--name", "al"],
        Method::PATCH,
        &user,
        Some(json!({"disabled": true, "name": "al"})),
    );
    check(
        &["users", "update", T, U, "--enable", "--nip05-name", "al"],
        Method::PATCH,
        &user,
        Some(json!({"disabled": false, "nip05_name": "al"})),
    );
    check(&["users", "delete", T, U], Method::DELETE, &user, None);
    check(
        &["users", "rotate", T, U],
        Method::POST,
        &format!("{user}/rotate-remote-signer"),
        None,
    );
    check(
        &["users", "policy", "get", T, U],
        Method::GET,
        &format!("{user}/policy"),
        None,
    );
    check(
        &["users", "policy", "clear", T, U],
        Method::PUT,
        &format!("{user}/policy"),
        Some(Value::Null),
    );
}

#[test]
fn uri_session_and_audit_commands_build_their_routes() {
    let user = format!("/v1/tenants/{T}/users/{U}");
    check(
        &["uris", "create", T, U],
        Method::POST,
        &format!("{user}/bunker-uris"),
        Some(json!({})),
    );
    check(
        &[
            "uris",
            "create",
            T,
            U,
            "--ttl",
            "600",
            "--perms",
            "sign_event:1,nip44_encrypt",
        ],
        Method::POST,
        &format!("{user}/bunker-uris"),
        Some(json!({"ttl_secs": 600, "perms": "sign_event:1,nip44_encrypt"})),
    );
    check(
        &["uris", "list", T, U],
        Method::GET,
        &format!("{user}/bunker-uris"),
        None,
    );
    check(
        &["uris", "list", T, U, "--pending"],
        Method::GET,
        &format!("{user}/bunker-uris?pending=true"),
        None,
    );
    check(
        &["uris", "revoke", T, U, PK],
        Method::DELETE,
        &format!("{user}/bunker-uris/{PK}"),
        None,
    );
    check(
        &["sessions", "list", T, U],
        Method::GET,
        &format!("{user}/sessions"),
        None,
    );
    check(
        &["sessions", "revoke", T, U, PK],
        Method::DELETE,
        &format!("{user}/sessions/{PK}"),
        None,
    );
    check(
        &["sessions", "revoke-all", T, U],
        Method::POST,
        &format!("{user}/revoke-sessions"),
        None,
    );
    check(
        &["audit", T],
        Method::GET,
        &format!("/v1/tenants/{T}/audit"),
        None,
    );
    check(
        &[
            "audit", T, "--from", "1000", "--to", "2000", "--user", U, "--method", "user.create",
            "--cursor", "AQID-_x", "--limit", "5",
        ],
        Method::GET,
        &format!(
            "/v1/tenants/{T}/audit?from=1000&to=2000&user={U}&method=user.create&cursor=AQID-_x&limit=5"
        ),
        None,
    );
}

#[test]
fn global_flags_parse_before_or_after_the_command() {
    let args = parse(&[
        "--url",
        "http://10.0.0.1:9000",
        "tenants",
        "list",
        "--json",
        "--token-file",
        "/run/token",
    ])
    .unwrap();
    assert_eq!(args.url, "http://10.0.0.1:9000");
    assert!(args.json);
    assert_eq!(args.token_file.as_deref(), Some(Path::new("/run/token")));
}

#[test]
fn clap_refuses_bad_arguments() {
    refused(&["tenants"]);
    refused(&["tenants", "frobnicate"]);
    refused(&["tenants", "create"]); // --name is required
    refused(&["tenants", "update", T]); // nothing to change
    refused(&[
        "tenants",
        "update",
        T,
        "--nip05-domain",
        "a.example",
        "--clear-nip05-domain",
    ]);
    refused(&["tenants", "update", T, "--limits", "[1]"]);
    refused(&["tenants", "update", T, "--limits", "{"]);
    refused(&["users", "update", T, U]);
    refused(&["users", "update", T, U, "--disable", "--enable"]);
    refused(&["users", "create", T, "--ncryptsec", "ncryptsec1qq"]); // no password file
    refused(&["users", "create", T, "--password-file", "/p"]); // no ncryptsec
    refused(&[
        "users",
        "create",
        T,
        "--secret-key-file",
        "/k",
        "--ncryptsec",
        "ncryptsec1qq",
        "--password-file",
        "/p",
    ]);
    refused(&["users", "create", T, "--secret-key", "nsec1xyz"]); // no such flag: not on argv
    refused(&["tenants", "list", "--limit", "0"]);
    refused(&["tenants", "list", "--limit", "1001"]);
    refused(&["audit", T, "--from", "yesterday"]);
    refused(&["tenants", "policy", "set", T]); // --file is required
    refused(&["--token", "secret", "tenants", "list"]); // tokens never come from argv
}

#[test]
fn path_and_query_values_are_restricted_to_unreserved_characters() {
    for bad in ["a/b", "a?b", "a#b", "a%2F", "a&b=c", "a b", ""] {
        refused(&["tenants", "get", bad]);
        refused(&["audit", T, "--cursor", bad]);
    }
    refused(&["tenants", "get", &"a".repeat(MAX_SEGMENT_BYTES + 1)]);
    check(
        &["tenants", "get", &"a".repeat(MAX_SEGMENT_BYTES)],
        Method::GET,
        &format!("/v1/tenants/{}", "a".repeat(MAX_SEGMENT_BYTES)),
        None,
    );
    let npub = "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg";
    check(
        &["sessions", "revoke", T, U, npub],
        Method::DELETE,
        &format!("/v1/tenants/{T}/users/{U}/sessions/{npub}"),
        None,
    );
}

#[test]
fn secret_key_is_read_from_a_file_or_stdin_and_trimmed() {
    let file = TempFile::new(format!("  {PK}\n").as_bytes());
    let request = build_with(
        &["users", "create", T, "--secret-key-file", file.path()],
        b"",
    )
    .unwrap();
    assert_eq!(body_json(&request), Some(json!({"secret_key": PK})));

    let nsec = "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5";
    let request = build_with(
        &[
            "users",
            "create",
            T,
            "--name",
            "a",
            "--secret-key-file",
            "-",
        ],
        format!("{nsec}\r\n").as_bytes(),
    )
    .unwrap();
    assert_eq!(
        body_json(&request),
        Some(json!({"name": "a", "secret_key": nsec}))
    );
}

#[test]
fn ncryptsec_password_keeps_inner_whitespace_and_drops_one_line_ending() {
    let password = TempFile::new(b" pass word \r\n");
    let request = build_with(
        &[
            "users",
            "create",
            T,
            "--ncryptsec",
            "ncryptsec1abc",
            "--password-file",
            password.path(),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(
        body_json(&request),
        Some(json!({"ncryptsec": "ncryptsec1abc", "password": " pass word "}))
    );
    let request = build_with(
        &[
            "users",
            "create",
            T,
            "--ncryptsec",
            "ncryptsec1abc",
            "--password-file",
            "-",
        ],
        b"nonewline",
    )
    .unwrap();
    assert_eq!(body_json(&request).unwrap()["password"], "nonewline");
}

#[test]
fn unreadable_empty_or_oversized_inputs_are_usage_errors() {
    let missing = [
        "users",
        "create",
        T,
        "--secret-key-file",
        "/nonexistent/bunkerd/key",
    ];
    let e = build_with(&missing, b"").unwrap_err();
    assert!(
        matches!(e, CliError::Usage("cannot read --secret-key-file")),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), EX_USAGE);

    let blank = TempFile::new(b"\n");
    let e = build_with(
        &["users", "create", T, "--secret-key-file", blank.path()],
        b"",
    )
    .unwrap_err();
    assert!(
        matches!(e, CliError::Usage("--secret-key-file is empty")),
        "{e:?}"
    );

    let not_utf8 = TempFile::new(&[0xff, 0xfe]);
    let e = build_with(
        &["users", "create", T, "--secret-key-file", not_utf8.path()],
        b"",
    )
    .unwrap_err();
    assert!(
        matches!(e, CliError::Usage("--secret-key-file is not UTF-8")),
        "{e:?}"
    );

    let large = TempFile::new(&vec![b' '; MAX_INPUT_BYTES + 1]);
    let e = build_with(
        &["tenants", "policy", "set", T, "--file", large.path()],
        b"",
    )
    .unwrap_err();
    assert!(
        matches!(e, CliError::Usage("an input file is larger than 64 KiB")),
        "{e:?}"
    );
    let fits = TempFile::new(&vec![b' '; MAX_INPUT_BYTES - 2]);
    let mut inputs = Inputs::with_stdin(b"");
    assert_eq!(
        inputs.read(Path::new(fits.path()), "x").unwrap().len(),
        MAX_INPUT_BYTES - 2
    );
}

#[test]
fn stdin_can_feed_only_one_input() {
    let mut inputs = Inputs::with_stdin(b"token\n");
    let token = resolve_token(None, Some(Path::new("-")), None, &mut inputs).unwrap();
    assert_eq!(token.as_str(), "token");
    let args = parse(&["users", "create", T, "--secret-key-file", "-"]).unwrap();
    let e = request::build(&args.command, &mut inputs).unwrap_err();
    assert!(
        matches!(
            e,
            CliError::Usage("stdin (-) can be the source of only one input")
        ),
        "{e:?}"
    );
}

#[test]
fn policy_files_are_sent_as_given_after_a_json_check() {
    let policy = br#"{"methods": ["sign_event"], "sign_kinds": [1, 7]}"#;
    let file = TempFile::new(policy);
    let request = build_with(&["tenants", "policy", "set", T, "--file", file.path()], b"").unwrap();
    assert_eq!(request.method, Method::PUT);
    assert_eq!(request.path, format!("/v1/tenants/{T}/policy"));
    assert_eq!(
        request.body.as_deref().map(Vec::as_slice),
        Some(&policy[..])
    );

    let request = build_with(&["users", "policy", "set", T, U, "--file", "-"], policy).unwrap();
    assert_eq!(request.path, format!("/v1/tenants/{T}/users/{U}/policy"));
    assert_eq!(
        request.body.as_deref().map(Vec::as_slice),
        Some(&policy[..])
    );

    let e = build_with(
        &["users", "policy", "set", T, U, "--file", "-"],
        b"{not json",
    )
    .unwrap_err();
    assert!(
        matches!(e, CliError::Usage("the --file policy is not valid JSON")),
        "{e:?}"
    );
}

#[test]
fn request_debug_never_shows_the_body() {
    let request = build_with(
        &["users", "create", T, "--secret-key-file", "-"],
        PK.as_bytes(),
    )
    .unwrap();
    let debug = format!("{request:?}");
    assert!(!debug.contains(PK), "{debug}");
    assert!(debug.contains("body_len"), "{debug}");
}

#[test]
fn token_comes_from_the_environment_then_the_file_then_the_default_file() {
    let file = TempFile::new(b"  file-token\n");
    let default = TempFile::new(b"default-token");
    let mut inputs = Inputs::with_stdin(b"");
    let env = || Some(Zeroizing::new("env-token".to_owned()));
    let file_path = Some(Path::new(file.path()));
    let default_path = Some(Path::new(default.path()));

    let token = resolve_token(env(), file_path, default_path, &mut inputs).unwrap();
    assert_eq!(token.as_str(), "env-token");
    let blank_env = Some(Zeroizing::new(" ".to_owned()));
    let token = resolve_token(blank_env, file_path, default_path, &mut inputs).unwrap();
    assert_eq!(token.as_str(), "file-token");
    let token = resolve_token(None, None, default_path, &mut inputs).unwrap();
    assert_eq!(token.as_str(), "default-token");

    let e = resolve_token(None, None, None, &mut inputs).unwrap_err();
    assert_eq!((e.code(), e.exit_code()), ("usage", EX_USAGE));
    let blank = TempFile::new(b"\n\n");
    let e = resolve_token(None, Some(Path::new(blank.path())), None, &mut inputs).unwrap_err();
    assert!(matches!(e, CliError::Usage("the token is empty")), "{e:?}");
    let e = resolve_token(
        Some(Zeroizing::new("a\u{7f}b".to_owned())),
        None,
        None,
        &mut inputs,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            CliError::Usage("the token holds characters not allowed in an HTTP header")
        ),
        "{e:?}"
    );
}

#[test]
fn url_parsing() {
    assert_eq!(
        Endpoint::parse(DEFAULT_URL).unwrap(),
        Endpoint {
            host: "127.0.0.1".into(),
            port: 7448,
            authority: "127.0.0.1:7448".into(),
            base_path: String::new(),
        }
    );
    assert_eq!(
        Endpoint::parse("http://[::1]:9000/admin/").unwrap(),
        Endpoint {
            host: "::1".into(),
            port: 9000,
            authority: "[::1]:9000".into(),
            base_path: "/admin".into(),
        }
    );
    let named = Endpoint::parse("http://bunker.internal").unwrap();
    assert_eq!((named.host.as_str(), named.port), ("bunker.internal", 80));
    for bad in [
        "https://127.0.0.1:7448",
        "127.0.0.1:7448",
        "http://user:pw@127.0.0.1:7448",
        "http://127.0.0.1:7448/?x=1",
        "http://127.0.0.1:7448/#x",
        "/v1/tenants",
        "",
    ] {
        let e = Endpoint::parse(bad).unwrap_err();
        assert_eq!(e.exit_code(), EX_USAGE, "{bad}");
    }
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        body: Zeroizing::new(body.as_bytes().to_vec()),
    }
}

const COLS: print::Columns = &[("id", "ID"), ("name", "NAME"), ("created_at", "CREATED")];

#[test]
fn pages_print_as_tables_with_the_next_cursor_on_stderr() {
    let body = concat!(
        r#"{"items":[{"id":"a1","name":"acme","created_at":0},"#,
        r#"{"id":"b22","name":null,"created_at":951782400}],"next_cursor":"b22"}"#
    );
    let out = print::render(&reply(200, body), &Output::new(View::Table(COLS)), false).unwrap();
    assert_eq!(
        out.stdout.as_str(),
        "ID   NAME  CREATED\n\
         a1   acme  1970-01-01T00:00:00Z\n\
         b22  -     2000-02-29T00:00:00Z\n"
    );
    assert_eq!(
        out.stderr.as_deref(),
        Some("more: continue with --cursor b22")
    );

    let empty = r#"{"items":[],"next_cursor":null}"#;
    let out = print::render(&reply(200, empty), &Output::new(View::Table(COLS)), false).unwrap();
    assert_eq!((out.stdout.as_str(), out.stderr), ("(none)\n", None));
}

#[test]
fn objects_print_as_key_value_lines_leading_keys_first() {
    let body = r#"{"zeta":{"a":[1]},"name":"acme","id":"a1","created_at":1795250871,"extra":true}"#;
    let mut output = Output::new(View::Fields(COLS));
    output.note = Some("shown once");
    let out = print::render(&reply(201, body), &output, false).unwrap();
    assert_eq!(
        out.stdout.as_str(),
        "id: a1\nname: acme\ncreated_at: 2026-11-21T08:47:51Z\nextra: true\nzeta: {\"a\":[1]}\n"
    );
    assert_eq!(out.stderr.as_deref(), Some("shown once"));
}

#[test]
fn nested_columns_and_millisecond_times() {
    let items = [json!({"metadata": {"name": "Client"}, "time_ms": 951782400123_u64})];
    let table = print::table(
        &[
            ("metadata.name", "CLIENT"),
            ("time_ms", "TIME"),
            ("missing.x", "X"),
        ],
        &items,
    );
    assert_eq!(
        table,
        "CLIENT  TIME                      X\nClient  2000-02-29T00:00:00.123Z  -\n"
    );
}

#[test]
fn empty_answers_print_their_sentence_and_policies_print_indented() {
    let out = print::render(&reply(204, ""), &Output::new(View::Done("revoked")), false).unwrap();
    assert_eq!(out.stdout.as_str(), "revoked\n");
    let out = print::render(&reply(200, r#"{"a":1}"#), &Output::new(View::Pretty), false).unwrap();
    assert_eq!(out.stdout.as_str(), "{\n  \"a\": 1\n}\n");
}

#[test]
fn json_flag_prints_the_body_as_received() {
    let body = r#"{"items":[],"next_cursor":null}"#;
    let out = print::render(&reply(200, body), &Output::new(View::Table(COLS)), true).unwrap();
    assert_eq!(out.stdout.as_str(), format!("{body}\n"));
    let out = print::render(&reply(204, ""), &Output::new(View::Done("x")), true).unwrap();
    assert_eq!(out.stdout.as_str(), "");
}

#[test]
fn api_errors_carry_code_and_message_and_exit_1() {
    let body = r#"{"error":{"code":"tenant_not_found","message":"tenant not found"}}"#;
    for json in [false, true] {
        let failed =
            print::render(&reply(404, body), &Output::new(View::Fields(COLS)), json).unwrap_err();
        assert_eq!(
            failed.error.to_string(),
            "tenant_not_found: tenant not found"
        );
        assert_eq!(
            (failed.error.code(), failed.error.exit_code()),
            ("api_error", EXIT_API_ERROR)
        );
        let expected = if json {
            format!("{body}\n")
        } else {
            String::new()
        };
        assert_eq!(failed.stdout.as_str(), expected);
    }
    let failed = print::render(
        &reply(502, "<html>bad gateway</html>"),
        &Output::new(View::Pretty),
        false,
    )
    .unwrap_err();
    assert!(matches!(
        failed.error,
        CliError::BadResponse { status: 502 }
    ));
    assert_eq!(failed.error.exit_code(), EXIT_API_ERROR);
    let failed =
        print::render(&reply(200, "not json"), &Output::new(View::Pretty), false).unwrap_err();
    assert!(matches!(
        failed.error,
        CliError::BadResponse { status: 200 }
    ));
}

#[test]
fn rfc3339_vectors() {
    // Expected values computed independently with Python's datetime.fromtimestamp(s, timezone.utc).
    for (secs, text) in [
        (0, "1970-01-01T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (1_795_250_871, "2026-11-21T08:47:51Z"),
        (4_102_444_799, "2099-12-31T23:59:59Z"),
        (253_402_300_799, "9999-12-31T23:59:59Z"),
    ] {
        assert_eq!(print::rfc3339(secs, None), text);
    }
    assert_eq!(print::rfc3339(0, Some(7)), "1970-01-01T00:00:00.007Z");
}

#[test]
fn error_codes_and_exit_codes() {
    let cases = [
        (CliError::Usage("x"), "usage", 64),
        (CliError::Unavailable("x"), "unavailable", 69),
        (
            CliError::Api {
                status: 400,
                code: "invalid_input".into(),
                message: "m".into(),
            },
            "api_error",
            1,
        ),
        (CliError::BadResponse { status: 500 }, "bad_response", 1),
    ];
    for (error, code, exit) in cases {
        assert_eq!((error.code(), error.exit_code()), (code, exit));
    }
}

/// Reads one HTTP/1.1 request (head and `content-length` body) from `stream`.
async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "peer closed before a full request");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if buf.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn one_request_on_the_wire() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let request = read_request(&mut stream).await;
        let body = r#"{"id":"x"}"#;
        let response = format!(
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await.unwrap();
        request
    });
    let endpoint = Endpoint::parse(&format!("http://{addr}/base")).unwrap();
    let request = build_with(
        &["users", "create", T, "--secret-key-file", "-"],
        PK.as_bytes(),
    )
    .unwrap();
    let reply = client::send(&endpoint, "tok-123", &request).await.unwrap();
    assert_eq!(
        (reply.status, reply.body.as_slice()),
        (201, &br#"{"id":"x"}"#[..])
    );

    let wire = peer.await.unwrap();
    let body = format!(r#"{{"secret_key":"{PK}"}}"#);
    assert!(
        wire.starts_with(&format!("POST /base/v1/tenants/{T}/users HTTP/1.1\r\n")),
        "{wire}"
    );
    for header in [
        format!("host: {addr}"),
        "authorization: Bearer tok-123".to_owned(),
        "content-type: application/json".to_owned(),
        format!("content-length: {}", body.len()),
    ] {
        assert!(
            wire.contains(&format!("\r\n{header}\r\n")),
            "{header} missing: {wire}"
        );
    }
    assert!(wire.ends_with(&format!("\r\n\r\n{body}")), "{wire}");
}

#[tokio::test]
async fn a_closed_port_is_unavailable() {
    // Bind, learn the port, close: nothing listens there any more.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let endpoint = Endpoint::parse(&format!("http://{addr}")).unwrap();
    let request = build_with(&["tenants", "list"], b"").unwrap();
    let e = client::send(&endpoint, "tok", &request).await.unwrap_err();
    assert!(
        matches!(e, CliError::Unavailable("connection refused")),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), EX_UNAVAILABLE);
}
