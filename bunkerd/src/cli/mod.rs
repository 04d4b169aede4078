//! `bunkerd admin <resource> <action> [args]`: the operator CLI, a thin client of the admin HTTP
//! API (the routes are `bunkerd/src/admin/routes.rs`). Each command is one request to one
//! route.
//!
//! Layout: this file holds the clap definitions ([`AdminArgs`] and the per-resource subcommands),
//! [`run`] (token, request, send, print) and [`CliError`] with the exit codes; `request.rs` turns a
//! parsed command into an `ApiRequest` (method, path, JSON body) without any I/O but the reading of
//! the files named on the command line; `client.rs` sends it over one plain-HTTP/1.1 connection
//! (hyper's client connection on a current-thread tokio runtime); `print.rs` renders the answer as
//! a table, `key: value` lines or the raw JSON.
//!
//! Must not: take a secret from argv (secret keys, ncryptsec passwords and tokens come from files,
//! stdin or the environment, because argv is visible to every local user in `ps`); print a secret
//! to stderr; talk TLS (the admin API is plain HTTP on a private listener, with TLS terminated in
//! front of it when it is exposed). Secrets read from files are held in `Zeroizing` buffers.
//!
//! Exit codes: 0 success; 1 the API answered with an error (`error: <code>: <message>` on stderr);
//! 64 (EX_USAGE) bad arguments or unreadable input files; 69 (EX_UNAVAILABLE) the API cannot be
//! reached.

mod client;
mod print;
mod request;
#[cfg(test)]
mod tests;

use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zeroize::Zeroizing;

/// Default admin API base URL: the default admin listener of `bunkerd serve`.
pub const DEFAULT_URL: &str = "http://127.0.0.1:7448";

/// Token file used when neither `BUNKERD_TOKEN` nor `--token-file` is given and this file exists:
/// where `bunkerd serve` writes its generated operator token with the default `--data-dir`.
pub const DEFAULT_TOKEN_FILE: &str = "./data/operator.token";

/// Environment variable holding the bearer token (operator or tenant admin token).
pub const TOKEN_ENV: &str = "BUNKERD_TOKEN";

/// Exit code: the API answered with an error.
pub const EXIT_API_ERROR: u8 = 1;
/// Exit code: bad arguments or unreadable input (sysexits.h EX_USAGE).
pub const EX_USAGE: u8 = 64;
/// Exit code: the admin API cannot be reached (sysexits.h EX_UNAVAILABLE).
pub const EX_UNAVAILABLE: u8 = 69;

const ADMIN_HELP: &str = "\
Secrets never come from argv (argv is visible to every local user in `ps`): secret keys, ncryptsec
passwords and tokens are read from files, or from stdin when the file is `-`.

Authentication: the bearer token is taken from the environment variable BUNKERD_TOKEN; if it is
not set, from --token-file (env BUNKERD_TOKEN_FILE); if neither is given, from
./data/operator.token when that file exists (where `bunkerd serve` writes its generated operator
token). Either the operator token or a tenant admin token (for its own tenant's commands) works.

Transport: the CLI speaks plain HTTP/1.1 to --url (http:// only). The admin API listens on a
private address; when it is exposed, TLS is terminated in front of it, and this CLI is meant to run
where the plain listener is reachable (the host itself, or the private network).

Exit codes: 0 success; 1 the API answered with an error (`error: <code>: <message>` on stderr);
64 bad arguments or unreadable input files; 69 the API cannot be reached.";

/// `bunkerd admin`: global flags and one command.
#[derive(Debug, Args)]
#[command(after_long_help = ADMIN_HELP)]
pub struct AdminArgs {
    /// Admin API base URL, plain http:// (TLS, if any, is terminated in front of the admin API).
    #[arg(long, env = "BUNKERD_ADMIN_URL", default_value = DEFAULT_URL, global = true)]
    url: String,
    /// File holding the bearer token, `-` for stdin; used when BUNKERD_TOKEN is not set [default:
    /// ./data/operator.token when it exists]. Tokens are never taken from argv.
    #[arg(long, env = "BUNKERD_TOKEN_FILE", value_name = "FILE", global = true)]
    token_file: Option<PathBuf>,
    /// Print the raw JSON response instead of a table or `key: value` lines.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Resource,
}

/// The resources of the admin API.
#[derive(Debug, Subcommand)]
enum Resource {
    /// Tenants (organizations) and their default signing policy.
    #[command(subcommand)]
    Tenants(TenantsCmd),
    /// A tenant's admin tokens (bearer tokens limited to that tenant).
    #[command(subcommand)]
    AdminTokens(AdminTokensCmd),
    /// A tenant's NIP-98 admin pubkeys.
    #[command(subcommand)]
    AdminPubkeys(AdminPubkeysCmd),
    /// Users (one Nostr key each) and their signing policy.
    #[command(subcommand)]
    Users(UsersCmd),
    /// A user's single-use bunker URIs.
    #[command(subcommand)]
    Uris(UrisCmd),
    /// A user's sessions (connected NIP-46 clients).
    #[command(subcommand)]
    Sessions(SessionsCmd),
    /// Requests held for an admin's approval (NIP-46 auth_url): list, approve, deny.
    #[command(subcommand)]
    Approvals(ApprovalsCmd),
    /// Query a tenant's audit log, oldest first.
    Audit(AuditArgs),
    /// Key custody (operator token only): master key status and rotation, tenant data-key
    /// rotation.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Backups (`bunkerd backup create` is this command).
    #[command(subcommand, hide = true)]
    Backups(BackupsCmd),
}

/// `backups …`.
#[derive(Debug, Subcommand)]
enum BackupsCmd {
    /// Write a backup on the server.
    Create,
}

/// `bunkerd backup create`: the admin API connection, as for `bunkerd admin`.
#[derive(Debug, Args)]
pub struct BackupCreateArgs {
    /// Admin API base URL, plain http://.
    #[arg(long, env = "BUNKERD_ADMIN_URL", default_value = DEFAULT_URL)]
    url: String,
    /// File holding the operator token, `-` for stdin; used when BUNKERD_TOKEN is not set
    /// [default: ./data/operator.token when it exists].
    #[arg(long, env = "BUNKERD_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Print the raw JSON response.
    #[arg(long)]
    json: bool,
}

/// `bunkerd backup create`: asks the running server for a backup (`POST /v1/backups`, operator
/// token) and prints where it wrote it. Exit codes as for `bunkerd admin`.
pub fn create_backup(args: BackupCreateArgs) -> ExitCode {
    run(AdminArgs {
        url: args.url,
        token_file: args.token_file,
        json: args.json,
        command: Resource::Backups(BackupsCmd::Create),
    })
}

/// `keys …`.
#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// The master key's provider and versions, what each version wraps, and running jobs.
    Status,
    /// Rotate the master key: a new version, every data key rewrapped while serving, then the
    /// older versions destroyed in the provider.
    RotateMaster {
        /// Keep the older versions (backups made before stay restorable; nothing is shredded).
        #[arg(long)]
        keep_old: bool,
    },
    /// Rotate a tenant's data key: every user re-sealed while serving, the old key destroyed.
    RotateTenant {
        /// Tenant id (32 hex characters).
        #[arg(value_parser = segment)]
        tenant: String,
    },
}

/// `approvals …`.
#[derive(Debug, Subcommand)]
enum ApprovalsCmd {
    /// List the tenant's held requests, newest first.
    List {
        /// Tenant id (32 hex characters).
        #[arg(value_parser = segment)]
        tenant: String,
        /// Only this state: pending, approved, remembered, denied or expired.
        #[arg(long, value_parser = ["pending", "approved", "remembered", "denied", "expired"])]
        status: Option<String>,
    },
    /// Approve a held request: it runs and its client gets the reply.
    Approve {
        /// Tenant id (32 hex characters).
        #[arg(value_parser = segment)]
        tenant: String,
        /// Approval id (32 hex characters, from `list`).
        #[arg(value_parser = segment)]
        id: String,
        /// Also remember it for the client: such requests of it stop asking.
        #[arg(long)]
        remember: bool,
    },
    /// Deny a held request: its client gets an error reply.
    Deny {
        /// Tenant id (32 hex characters).
        #[arg(value_parser = segment)]
        tenant: String,
        /// Approval id (32 hex characters, from `list`).
        #[arg(value_parser = segment)]
        id: String,
    },
}

/// `tenants …`.
#[derive(Debug, Subcommand)]
enum TenantsCmd {
    /// Create a tenant with its own data key (operator token only).
    Create {
        /// Tenant name, 1 to 128 characters.
        #[arg(long)]
        name: String,
    },
    /// List tenants, ordered by id (operator token only).
    List(PageArgs),
    /// Show a tenant.
    Get {
        /// Tenant id (32 hex characters).
        #[arg(value_parser = segment)]
        tenant: String,
    },
    /// Change a tenant's name or NIP-05 domain.
    Update(TenantUpdateArgs),
    /// Delete a tenant: destroy its data key (crypto-shred every sealed key), then its rows
    /// (operator token only).
    Delete {
        /// Tenant id (32 hex characters).
        #[arg(value_parser = segment)]
        tenant: String,
    },
    /// The tenant's default signing policy.
    #[command(subcommand)]
    Policy(TenantPolicyCmd),
}

/// `tenants update`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("change").required(true).multiple(true))]
struct TenantUpdateArgs {
    /// Tenant id (32 hex characters).
    #[arg(value_parser = segment)]
    tenant: String,
    /// New name, 1 to 128 characters.
    #[arg(long, group = "change")]
    name: Option<String>,
    /// NIP-05 domain whose `/.well-known/nostr.json` this tenant's users answer.
    #[arg(long, group = "change", conflicts_with = "clear_nip05_domain")]
    nip05_domain: Option<String>,
    /// Remove the NIP-05 domain.
    #[arg(long, group = "change")]
    clear_nip05_domain: bool,
    /// Replace the tenant's limits (operator token only) with this JSON object, e.g.
    /// `{"max_users":100,"requests_per_sec":50,"burst":100}`; a limit left out is unlimited.
    #[arg(long, group = "change", value_name = "JSON", value_parser = json_object)]
    limits: Option<serde_json::Value>,
    /// Allow (`true`) or forbid (`false`) exporting the tenant's users' keys as NIP-49
    /// ncryptsec (operator token only; off for a new tenant).
    #[arg(long, group = "change", value_name = "BOOL")]
    key_export: Option<bool>,
}

/// `tenants policy …`.
#[derive(Debug, Subcommand)]
enum TenantPolicyCmd {
    /// Show the tenant's default policy.
    Get {
        /// Tenant id (32 hex characters).
        #[arg(value_parser = segment)]
        tenant: String,
    },
    /// Replace the tenant's default policy with the JSON in a file.
    Set {
        /// Tenant id (32 hex characters).
        #[arg(value_parser = segment)]
        tenant: String,
        /// JSON policy file, `-` for stdin.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
}

/// `admin-tokens …`.
#[derive(Debug, Subcommand)]
enum AdminTokensCmd {
    /// Create a tenant admin token; it is printed once and never shown again.
    Create {
        /// Tenant id (32 hex characters).
        #[arg(value_parser = segment)]
        tenant: String,
        /// Label, at most 128 characters.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the tenant's admin tokens (ids and labels, never the tokens).
    List {
        /// Tenant id (32 hex characters).
        #[arg(value_parser = segment)]
        tenant: String,
    },
    /// Revoke a tenant admin token by its id.
    Revoke {
        /// Tenant id (32 hex characters).
        #[arg(value_parser = segment)]
        tenant: String,
        /// Token id (32 hex characters, from `list`).
        #[arg(value_parser = segment)]
        id: String,
    },
}

/// `admin-pubkeys …`.
#[derive(Debug, Subcommand)]
enum AdminPubkeysCmd {
    /// Register a Nostr pubkey as a tenant admin (it authenticates with NIP-98).
    Add {
        /// Tenant id (32 hex characters).
        #[arg(value_parser = segment)]
        tenant: String,
        /// Pubkey: 64 hex characters (32-byte x-only) or npub1… (NIP-19).
        #[arg(value_parser = segment)]
        pubkey: String,
        /// Label, at most 128 characters.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the tenant's admin pubkeys.
    List {
        /// Tenant id (32 hex characters).
        #[arg(value_parser = segment)]
        tenant: String,
    },
    /// Remove an admin pubkey.
    Remove {
        /// Tenant id (32 hex characters).
        #[arg(value_parser = segment)]
        tenant: String,
        /// Pubkey: 64 hex characters or npub1….
        #[arg(value_parser = segment)]
        pubkey: String,
    },
}

/// `users …`.
#[derive(Debug, Subcommand)]
enum UsersCmd {
    /// Create a user: generate a key, or import one from a file (hex, nsec or ncryptsec).
    Create(UserCreateArgs),
    /// List a tenant's users, ordered by id.
    List {
        /// Tenant id (32 hex characters).
        #[arg(value_parser = segment)]
        tenant: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a user.
    Get(UserRef),
    /// Change a user's name, NIP-05 name or disabled flag.
    Update(UserUpdateArgs),
    /// Delete a user: its sealed keys, bunker URIs and sessions.
    Delete(UserRef),
    /// Replace the user's remote-signer key: old bunker URIs and sessions stop working.
    Rotate(UserRef),
    /// Export the user key as NIP-49 ncryptsec, encrypted under a password read from a file,
    /// where the tenant allows it (`tenants update --key-export true`); audited.
    Export(UserExportArgs),
    /// The user's signing policy (its own, or the tenant default).
    #[command(subcommand)]
    Policy(UserPolicyCmd),
}

/// A tenant id and a user id.
#[derive(Debug, Args)]
struct UserRef {
    /// Tenant id (32 hex characters).
    #[arg(value_parser = segment)]
    tenant: String,
    /// User id (32 hex characters).
    #[arg(value_parser = segment)]
    user: String,
}

/// `users create`.
#[derive(Debug, Args)]
#[command(
    after_help = "The secret key and the ncryptsec password are read from files (or stdin, \
with `-`), never from argv: argv is visible to every local user in `ps`."
)]
struct UserCreateArgs {
    /// Tenant id (32 hex characters).
    #[arg(value_parser = segment)]
    tenant: String,
    /// Display name, at most 128 characters.
    #[arg(long)]
    name: Option<String>,
    /// Import the secret key in this file: 64 hex characters or nsec1… (NIP-19); `-` for stdin.
    #[arg(long, value_name = "FILE", conflicts_with = "ncryptsec")]
    secret_key_file: Option<PathBuf>,
    /// Import this NIP-49 ncryptsec1… (encrypted, so it may be given here); needs --password-file.
    #[arg(long, requires = "password_file")]
    ncryptsec: Option<String>,
    /// File holding the ncryptsec's password (one trailing newline is ignored); `-` for stdin.
    #[arg(long, value_name = "FILE", requires = "ncryptsec")]
    password_file: Option<PathBuf>,
    /// NIP-05 name (the part before `@`): 1 to 64 of `a-z 0-9 . _ -`.
    #[arg(long)]
    nip05_name: Option<String>,
}

/// `users export`.
#[derive(Debug, Args)]
#[command(after_help = "The password is read from a file (or stdin, with `-`), never from argv.")]
struct UserExportArgs {
    #[command(flatten)]
    user: UserRef,
    /// File holding the password, 8 to 256 bytes (one trailing newline is ignored); `-` for stdin.
    #[arg(long, value_name = "FILE")]
    password_file: PathBuf,
    /// scrypt cost exponent, 16 to the server's nip49_max_log_n (64 MiB of memory at 16).
    #[arg(long, value_name = "N", default_value_t = 16)]
    log_n: u8,
}

/// `users update`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("change").required(true).multiple(true))]
struct UserUpdateArgs {
    #[command(flatten)]
    user: UserRef,
    /// New display name.
    #[arg(long, group = "change")]
    name: Option<String>,
    /// Disable the user: its clients' requests are refused.
    #[arg(long, group = "change", conflicts_with = "enable")]
    disable: bool,
    /// Enable a disabled user.
    #[arg(long, group = "change")]
    enable: bool,
    /// New NIP-05 name: 1 to 64 of `a-z 0-9 . _ -`.
    #[arg(long, group = "change")]
    nip05_name: Option<String>,
}

/// `users policy …`.
#[derive(Debug, Subcommand)]
enum UserPolicyCmd {
    /// Show the user's effective policy and whether it is the tenant default.
    Get(UserRef),
    /// Give the user its own policy, from the JSON in a file.
    Set {
        #[command(flatten)]
        user: UserRef,
        /// JSON policy file, `-` for stdin.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Drop the user's own policy: the tenant default applies again.
    Clear(UserRef),
}

/// `uris …`.
#[derive(Debug, Subcommand)]
enum UrisCmd {
    /// Issue a single-use bunker URI; it is printed once and never shown again.
    Create {
        #[command(flatten)]
        user: UserRef,
        /// Lifetime in seconds if unused [server default: 86400].
        #[arg(long, value_name = "SECS")]
        ttl: Option<u64>,
        /// Pre-approved NIP-46 permissions, e.g. `sign_event:1,nip44_encrypt`: they cap the session.
        #[arg(long, value_name = "PERMS")]
        perms: Option<String>,
        /// Lifetime of the session the URI creates, seconds from its connect [default: none].
        #[arg(long, value_name = "SECS")]
        session_ttl: Option<u64>,
    },
    /// List the user's bunker URIs (ids, never secrets).
    List {
        #[command(flatten)]
        user: UserRef,
        /// Only unused, unexpired URIs.
        #[arg(long)]
        pending: bool,
    },
    /// Revoke a bunker URI by its id.
    Revoke {
        #[command(flatten)]
        user: UserRef,
        /// Bunker URI id (64 hex characters, from `create` or `list`).
        #[arg(value_parser = segment)]
        id: String,
    },
}

/// `sessions …`.
#[derive(Debug, Subcommand)]
enum SessionsCmd {
    /// List the user's connected clients.
    List(UserRef),
    /// End one client's session.
    Revoke {
        #[command(flatten)]
        user: UserRef,
        /// Client pubkey: 64 hex characters or npub1….
        #[arg(value_parser = segment)]
        client_pubkey: String,
    },
    /// End every session of the user.
    RevokeAll(UserRef),
    /// Pair the user with the client of a nostrconnect:// URI (NIP-46, client-initiated): the
    /// session is created and the client is answered on the relays its URI names. The URI holds
    /// the client's secret, so it is read from a file (`-` for stdin), never from argv.
    Pair {
        #[command(flatten)]
        user: UserRef,
        /// File holding the nostrconnect:// URI as the client shows it; `-` for stdin.
        #[arg(long, value_name = "FILE")]
        uri_file: PathBuf,
        /// Pre-approved NIP-46 permissions, e.g. `sign_event:1,nip44_encrypt`: they cap the
        /// session whatever the URI asks for.
        #[arg(long, value_name = "PERMS")]
        perms: Option<String>,
        /// Lifetime of the session, seconds from now [default: none].
        #[arg(long, value_name = "SECS")]
        session_ttl: Option<u64>,
    },
}

/// `audit`.
#[derive(Debug, Args)]
struct AuditArgs {
    /// Tenant id (32 hex characters).
    #[arg(value_parser = segment)]
    tenant: String,
    /// From this time, Unix milliseconds, inclusive.
    #[arg(long, value_name = "MS")]
    from: Option<u64>,
    /// Until this time, Unix milliseconds, exclusive.
    #[arg(long, value_name = "MS")]
    to: Option<u64>,
    /// Only records of this user id.
    #[arg(long, value_name = "USER", value_parser = segment)]
    user: Option<String>,
    /// Only this NIP-46 method or admin action, e.g. `sign_event` or `user.create`.
    #[arg(long, value_parser = segment)]
    method: Option<String>,
    #[command(flatten)]
    page: PageArgs,
}

/// Cursor pagination.
#[derive(Debug, Args)]
struct PageArgs {
    /// `next_cursor` of the previous page; omit for the first page.
    #[arg(long, value_parser = segment)]
    cursor: Option<String>,
    /// Items per page, 1 to 1000 [server default: 100].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: Option<u16>,
}

/// Longest id, pubkey, cursor or filter value accepted in a path or query, bytes (the router
/// refuses path segments over 128 bytes; audit cursors are under 70).
const MAX_SEGMENT_BYTES: usize = 128;

/// Value parser of every id, pubkey, cursor and filter that goes into a URL path or query: 1 to
/// [`MAX_SEGMENT_BYTES`] of `A-Z a-z 0-9 - . _ ~ :` (RFC 3986 unreserved characters and `:`), which
/// the request builder's percent-encoder leaves as they are: URLs carry ids exactly as typed.
fn segment(text: &str) -> Result<String, &'static str> {
    let ok = !text.is_empty()
        && text.len() <= MAX_SEGMENT_BYTES
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:".contains(&b));
    if ok {
        Ok(text.to_owned())
    } else {
        Err("must be 1 to 128 of A-Z a-z 0-9 - . _ ~ :")
    }
}

/// Value parser of `--limits`: one JSON object (the API checks its fields).
fn json_object(text: &str) -> Result<serde_json::Value, &'static str> {
    match serde_json::from_str(text) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(value),
        _ => Err("must be a JSON object"),
    }
}

/// Why a command failed. `Display` texts are fixed (or the API's own message, which never echoes
/// secrets) and never include command-line input.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments or input: an unreadable or oversized file, a bad `--url`, a missing token,
    /// stdin named twice, a policy file that is not JSON. Exit code 64.
    #[error("{0}")]
    Usage(&'static str),
    /// No answer from the admin API: the connection failed, timed out or closed early. Exit 69.
    #[error("cannot reach the admin API: {0}")]
    Unavailable(&'static str),
    /// The API answered with its error shape `{"error":{"code","message"}}`. Exit code 1.
    #[error("{code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The API's stable error code, e.g. `tenant_not_found`.
        code: String,
        /// The API's message.
        message: String,
    },
    /// The API answered with something that is not its JSON (wrong URL, a proxy's error page).
    /// Exit code 1.
    #[error("unexpected response from the admin API (HTTP {status})")]
    BadResponse {
        /// HTTP status.
        status: u16,
    },
}

impl CliError {
    /// Stable snake_case code: `usage`, `unavailable`, `api_error`, `bad_response`.
    pub fn code(&self) -> &'static str {
        match self {
            CliError::Usage(_) => "usage",
            CliError::Unavailable(_) => "unavailable",
            CliError::Api { .. } => "api_error",
            CliError::BadResponse { .. } => "bad_response",
        }
    }

    /// The process exit code: [`EX_USAGE`], [`EX_UNAVAILABLE`] or [`EXIT_API_ERROR`].
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EX_USAGE,
            CliError::Unavailable(_) => EX_UNAVAILABLE,
            CliError::Api { .. } | CliError::BadResponse { .. } => EXIT_API_ERROR,
        }
    }
}

/// Runs one `bunkerd admin` command: resolves the token, reads the input files, sends the request
/// and prints the answer (stdout) or the error (stderr). Blocks; builds its own current-thread
/// tokio runtime, so call it outside any runtime.
///
/// Returns the exit code: 0 on success, otherwise [`CliError::exit_code`] (1, 64 or 69).
pub fn run(args: AdminArgs) -> ExitCode {
    match execute(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match &e {
                CliError::Api { code, message, .. } => eprintln!("error: {code}: {message}"),
                CliError::Unavailable(_) => eprintln!("bunkerd admin: {e} ({})", args.url),
                _ => eprintln!("bunkerd admin: {e}"),
            }
            ExitCode::from(e.exit_code())
        }
    }
}

fn execute(args: &AdminArgs) -> Result<(), CliError> {
    let endpoint = client::Endpoint::parse(&args.url)?;
    let mut inputs = request::Inputs::stdin();
    let env_token = std::env::var(TOKEN_ENV).ok().map(Zeroizing::new);
    let default_file = Path::new(DEFAULT_TOKEN_FILE);
    let token = resolve_token(
        env_token,
        args.token_file.as_deref(),
        default_file.exists().then_some(default_file),
        &mut inputs,
    )?;
    let request = request::build(&args.command, &mut inputs)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    let reply = runtime.block_on(client::send(&endpoint, &token, &request))?;
    let rendered = print::render(&reply, &request.output, args.json);
    // Write what there is to write even for an error answer (`--json` prints its body too).
    let (out, err) = match &rendered {
        Ok(r) => (r.stdout.as_bytes(), r.stderr.as_deref().unwrap_or("")),
        Err(r) => (r.stdout.as_bytes(), ""),
    };
    let _ = std::io::stdout().lock().write_all(out);
    if !err.is_empty() {
        eprintln!("{err}");
    }
    rendered.map(drop).map_err(|r| r.error)
}

/// The bearer token: `env_token` (from `BUNKERD_TOKEN`) if set and not blank, else the contents of
/// `token_file` (`-`: stdin), else of `default_file` (when it exists), trimmed of surrounding
/// whitespace.
///
/// # Errors
///
/// [`CliError::Usage`] when there is no token at all, the file cannot be read, is larger than 64
/// KiB, is blank, or the token holds bytes not allowed in an HTTP header.
fn resolve_token(
    env_token: Option<Zeroizing<String>>,
    token_file: Option<&Path>,
    default_file: Option<&Path>,
    inputs: &mut request::Inputs,
) -> Result<Zeroizing<String>, CliError> {
    let raw = match env_token.filter(|t| !t.trim().is_empty()) {
        Some(token) => token,
        None => {
            let path = token_file.or(default_file).ok_or(CliError::Usage(
                "no token: set BUNKERD_TOKEN or --token-file (./data/operator.token does not \
                 exist)",
            ))?;
            let bytes = inputs.read(path, "cannot read the token file")?;
            Zeroizing::new(
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| CliError::Usage("the token file is not UTF-8"))?,
            )
        }
    };
    let token = Zeroizing::new(raw.trim().to_owned());
    if token.is_empty() {
        return Err(CliError::Usage("the token is empty"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CliError::Usage(
            "the token holds characters not allowed in an HTTP header",
        ));
    }
    Ok(token)
}
