//! From a parsed `bunkerd admin` command to the one admin API request it stands for: method, path
//! (with query), JSON body, and how to print the answer.
//!
//! Must not: do network I/O, or read anything but the files (or stdin) named on the command line.
//! Secrets read here (secret keys, ncryptsec passwords) stay in `Zeroizing` buffers and are
//! serialized straight into the zeroized request body.
//!
//! Main items: [`build`], [`ApiRequest`], [`Inputs`].

use super::print::{Output, View};
use super::{
    AdminPubkeysCmd, AdminTokensCmd, ApprovalsCmd, AuditArgs, BackupsCmd, CliError, KeysCmd,
    PageArgs, Resource, SessionsCmd, TenantPolicyCmd, TenantUpdateArgs, TenantsCmd, UrisCmd,
    UserCreateArgs, UserExportArgs, UserPolicyCmd, UserRef, UserUpdateArgs, UsersCmd,
};
use crate::admin::wire;
use hyper::Method;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use std::io::Read;
use std::path::Path;
use zeroize::Zeroizing;

/// Largest input file read (policy, secret key, password, token), bytes: the admin API's request
/// body limit (`admin::MAX_BODY_BYTES`), so anything larger could not be sent anyway.
pub(crate) const MAX_INPUT_BYTES: usize = 64 * 1024;

/// One admin API request.
pub(crate) struct ApiRequest {
    /// HTTP method.
    pub(crate) method: Method,
    /// Path and query under the base URL, e.g. `/v1/tenants?limit=10`.
    pub(crate) path: String,
    /// JSON body; may hold a secret key or a password.
    pub(crate) body: Option<Zeroizing<Vec<u8>>>,
    /// How to print a successful answer.
    pub(crate) output: Output,
}

impl std::fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("body_len", &self.body.as_ref().map(|b| b.len()))
            .finish_non_exhaustive()
    }
}

/// Reads the files named on the command line; `-` is stdin, which can be read once.
pub(crate) struct Inputs {
    stdin: Box<dyn Read>,
    stdin_used: bool,
}

impl Inputs {
    /// Inputs whose `-` is the process's stdin.
    pub(crate) fn stdin() -> Self {
        Inputs {
            stdin: Box::new(std::io::stdin()),
            stdin_used: false,
        }
    }

    /// Inputs whose `-` reads `bytes` (tests).
    #[cfg(test)]
    pub(crate) fn with_stdin(bytes: &[u8]) -> Self {
        Inputs {
            stdin: Box::new(std::io::Cursor::new(bytes.to_vec())),
            stdin_used: false,
        }
    }

    /// The whole content of `path` (`-`: stdin), at most [`MAX_INPUT_BYTES`].
    ///
    /// # Errors
    ///
    /// [`CliError::Usage`] with `unreadable` when the file cannot be opened or read, with a fixed
    /// text when it is larger than [`MAX_INPUT_BYTES`] or when stdin is named a second time.
    pub(crate) fn read(
        &mut self,
        path: &Path,
        unreadable: &'static str,
    ) -> Result<Zeroizing<Vec<u8>>, CliError> {
        // Sized up front so the buffer never reallocates (a reallocation would leave an unzeroized
        // copy of a secret behind).
        let mut buf = Zeroizing::new(Vec::with_capacity(MAX_INPUT_BYTES + 1));
        let limit = (MAX_INPUT_BYTES + 1) as u64;
        let read = if path == Path::new("-") {
            if std::mem::replace(&mut self.stdin_used, true) {
                return Err(CliError::Usage(
                    "stdin (-) can be the source of only one input",
                ));
            }
            (&mut self.stdin).take(limit).read_to_end(&mut buf)
        } else {
            std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut buf))
        };
        read.map_err(|_| CliError::Usage(unreadable))?;
        if buf.len() > MAX_INPUT_BYTES {
            return Err(CliError::Usage("an input file is larger than 64 KiB"));
        }
        Ok(buf)
    }

    /// [`Inputs::read`] as UTF-8 text.
    fn read_text(
        &mut self,
        path: &Path,
        unreadable: &'static str,
        not_utf8: &'static str,
    ) -> Result<Zeroizing<String>, CliError> {
        let bytes = self.read(path, unreadable)?;
        std::str::from_utf8(&bytes)
            .map(|s| Zeroizing::new(s.to_owned()))
            .map_err(|_| CliError::Usage(not_utf8))
    }
}

/// The request for `command`, reading the files it names through `inputs`.
///
/// # Errors
///
/// [`CliError::Usage`]: an input file is unreadable, larger than 64 KiB, not UTF-8 (secrets) or
/// not JSON (policies); stdin is named for two inputs.
pub(crate) fn build(command: &Resource, inputs: &mut Inputs) -> Result<ApiRequest, CliError> {
    match command {
        Resource::Tenants(cmd) => tenants(cmd, inputs),
        Resource::AdminTokens(cmd) => Ok(admin_tokens(cmd)),
        Resource::AdminPubkeys(cmd) => Ok(admin_pubkeys(cmd)),
        Resource::Users(cmd) => users(cmd, inputs),
        Resource::Uris(cmd) => Ok(uris(cmd)),
        Resource::Sessions(cmd) => sessions(cmd, inputs),
        Resource::Approvals(cmd) => Ok(approvals(cmd)),
        Resource::Audit(args) => Ok(audit(args)),
        Resource::Keys(cmd) => Ok(keys(cmd)),
        Resource::Backups(BackupsCmd::Create) => Ok(ApiRequest {
            method: Method::POST,
            path: "/v1/backups".into(),
            body: None,
            output: Output::new(View::Fields(BACKUP_FIELDS)),
        }),
    }
}

const TENANT_COLS: &[(&str, &str)] = &[
    ("id", "ID"),
    ("name", "NAME"),
    ("nip05_domain", "NIP05_DOMAIN"),
    ("created_at", "CREATED"),
];
const TENANT_FIELDS: &[(&str, &str)] = &[
    ("id", ""),
    ("name", ""),
    ("nip05_domain", ""),
    ("limits", ""),
    ("key_export", ""),
    ("created_at", ""),
    ("updated_at", ""),
];
const USER_FIELDS: &[(&str, &str)] = &[
    ("id", ""),
    ("tenant", ""),
    ("name", ""),
    ("user_pubkey", ""),
    ("remote_signer_pubkey", ""),
    ("nip05_name", ""),
    ("disabled", ""),
    ("created_at", ""),
    ("updated_at", ""),
];
const TOKEN_COLS: &[(&str, &str)] = &[
    ("id", "ID"),
    ("name", "NAME"),
    ("created_by", "CREATED_BY"),
    ("created_at", "CREATED"),
];
const PUBKEY_COLS: &[(&str, &str)] = &[
    ("pubkey", "PUBKEY"),
    ("name", "NAME"),
    ("added_at", "ADDED"),
];
const USER_COLS: &[(&str, &str)] = &[
    ("id", "ID"),
    ("name", "NAME"),
    ("user_pubkey", "USER_PUBKEY"),
    ("nip05_name", "NIP05_NAME"),
    ("disabled", "DISABLED"),
    ("created_at", "CREATED"),
];
const URI_COLS: &[(&str, &str)] = &[
    ("id", "ID"),
    ("created_at", "CREATED"),
    ("expires_at", "EXPIRES"),
    ("consumed_by", "CONSUMED_BY"),
    ("perms", "PERMS"),
];
const SESSION_COLS: &[(&str, &str)] = &[
    ("client_pubkey", "CLIENT_PUBKEY"),
    ("metadata.name", "CLIENT_NAME"),
    ("scheme", "SCHEME"),
    ("requests", "REQUESTS"),
    ("created_at", "CREATED"),
    ("last_used_at", "LAST_USED"),
    ("perms", "PERMS"),
    ("relays", "RELAYS"),
];
const APPROVAL_COLS: &[(&str, &str)] = &[
    ("id", "ID"),
    ("status", "STATUS"),
    ("permission", "PERMISSION"),
    ("user", "USER"),
    ("client_pubkey", "CLIENT_PUBKEY"),
    ("created_at", "CREATED"),
    ("expires_at", "EXPIRES"),
];
const APPROVAL_FIELDS: &[(&str, &str)] = &[("id", ""), ("status", ""), ("permission", "")];
const AUDIT_COLS: &[(&str, &str)] = &[
    ("time_ms", "TIME"),
    ("action", "ACTION"),
    ("outcome", "OUTCOME"),
    ("user", "USER"),
    ("actor", "ACTOR"),
    ("client", "CLIENT"),
    ("kind", "KIND"),
    ("detail", "DETAIL"),
];

fn tenants(cmd: &TenantsCmd, inputs: &mut Inputs) -> Result<ApiRequest, CliError> {
    Ok(match cmd {
        TenantsCmd::Create { name } => post(
            "/v1/tenants".into(),
            &wire::TenantCreate { name: name.clone() },
            View::Fields(TENANT_FIELDS),
        ),
        TenantsCmd::List(page) => get(
            format!("/v1/tenants{}", query(&page_params(page))),
            View::Table(TENANT_COLS),
        ),
        TenantsCmd::Get { tenant } => get(tenant_path(tenant), View::Fields(TENANT_FIELDS)),
        TenantsCmd::Update(args) => tenant_update(args),
        TenantsCmd::Delete { tenant } => delete(tenant_path(tenant), View::Fields(&[])),
        TenantsCmd::Policy(TenantPolicyCmd::Get { tenant }) => {
            get(format!("{}/policy", tenant_path(tenant)), View::Pretty)
        }
        TenantsCmd::Policy(TenantPolicyCmd::Set { tenant, file }) => ApiRequest {
            method: Method::PUT,
            path: format!("{}/policy", tenant_path(tenant)),
            body: Some(policy_file(file, inputs)?),
            output: Output::new(View::Pretty),
        },
    })
}

fn tenant_update(args: &TenantUpdateArgs) -> ApiRequest {
    let mut body = serde_json::Map::new();
    if let Some(name) = &args.name {
        body.insert("name".into(), name.as_str().into());
    }
    if args.clear_nip05_domain {
        body.insert("nip05_domain".into(), serde_json::Value::Null);
    } else if let Some(domain) = &args.nip05_domain {
        body.insert("nip05_domain".into(), domain.as_str().into());
    }
    if let Some(limits) = &args.limits {
        body.insert("limits".into(), limits.clone());
    }
    if let Some(allowed) = args.key_export {
        body.insert("key_export".into(), allowed.into());
    }
    ApiRequest {
        method: Method::PATCH,
        path: tenant_path(&args.tenant),
        body: Some(json_body(&body)),
        output: Output::new(View::Fields(TENANT_FIELDS)),
    }
}

fn admin_tokens(cmd: &AdminTokensCmd) -> ApiRequest {
    match cmd {
        AdminTokensCmd::Create { tenant, name } => {
            let mut request = post(
                format!("{}/admin-tokens", tenant_path(tenant)),
                &wire::AdminTokenCreate { name: name.clone() },
                View::Fields(&[("id", ""), ("token", ""), ("name", "")]),
            );
            request.output.note = Some("the token is shown once: store it now");
            request
        }
        AdminTokensCmd::List { tenant } => get(
            format!("{}/admin-tokens", tenant_path(tenant)),
            View::Table(TOKEN_COLS),
        ),
        AdminTokensCmd::Revoke { tenant, id } => delete(
            format!("{}/admin-tokens/{}", tenant_path(tenant), encode(id)),
            View::Done("admin token revoked"),
        ),
    }
}

fn admin_pubkeys(cmd: &AdminPubkeysCmd) -> ApiRequest {
    match cmd {
        AdminPubkeysCmd::Add {
            tenant,
            pubkey,
            name,
        } => post(
            format!("{}/admin-pubkeys", tenant_path(tenant)),
            &wire::AdminPubkeyAdd {
                pubkey: pubkey.clone(),
                name: name.clone(),
            },
            View::Fields(PUBKEY_COLS),
        ),
        AdminPubkeysCmd::List { tenant } => get(
            format!("{}/admin-pubkeys", tenant_path(tenant)),
            View::Table(PUBKEY_COLS),
        ),
        AdminPubkeysCmd::Remove { tenant, pubkey } => delete(
            format!("{}/admin-pubkeys/{}", tenant_path(tenant), encode(pubkey)),
            View::Done("admin pubkey removed"),
        ),
    }
}

fn users(cmd: &UsersCmd, inputs: &mut Inputs) -> Result<ApiRequest, CliError> {
    Ok(match cmd {
        UsersCmd::Create(args) => user_create(args, inputs)?,
        UsersCmd::List { tenant, page } => get(
            format!("{}/users{}", tenant_path(tenant), query(&page_params(page))),
            View::Table(USER_COLS),
        ),
        UsersCmd::Get(user) => get(user_path(user), View::Fields(USER_FIELDS)),
        UsersCmd::Update(args) => user_update(args),
        UsersCmd::Delete(user) => delete(user_path(user), View::Fields(&[])),
        UsersCmd::Rotate(user) => ApiRequest {
            method: Method::POST,
            path: format!("{}/rotate-remote-signer", user_path(user)),
            body: None,
            output: Output::new(View::Fields(USER_FIELDS)),
        },
        UsersCmd::Export(args) => user_export(args, inputs)?,
        UsersCmd::Policy(UserPolicyCmd::Get(user)) => {
            get(format!("{}/policy", user_path(user)), View::Pretty)
        }
        UsersCmd::Policy(UserPolicyCmd::Set { user, file }) => ApiRequest {
            method: Method::PUT,
            path: format!("{}/policy", user_path(user)),
            body: Some(policy_file(file, inputs)?),
            output: Output::new(View::Pretty),
        },
        UsersCmd::Policy(UserPolicyCmd::Clear(user)) => ApiRequest {
            method: Method::PUT,
            path: format!("{}/policy", user_path(user)),
            body: Some(Zeroizing::new(b"null".to_vec())),
            output: Output::new(View::Pretty),
        },
    })
}

fn user_create(args: &UserCreateArgs, inputs: &mut Inputs) -> Result<ApiRequest, CliError> {
    let secret_key = args
        .secret_key_file
        .as_deref()
        .map(|path| {
            inputs.read_text(
                path,
                "cannot read --secret-key-file",
                "--secret-key-file is not UTF-8",
            )
        })
        .transpose()?;
    let password = args
        .password_file
        .as_deref()
        .map(|path| {
            inputs.read_text(
                path,
                "cannot read --password-file",
                "--password-file is not UTF-8",
            )
        })
        .transpose()?;
    if secret_key.as_ref().is_some_and(|s| s.trim().is_empty()) {
        return Err(CliError::Usage("--secret-key-file is empty"));
    }
    // The secrets are copied into zeroizing strings only.
    let secret = |s: &str| Zeroizing::new(s.to_owned());
    let body = wire::UserCreate {
        name: args.name.clone(),
        secret_key: secret_key.as_deref().map(|s| secret(s.trim())),
        ncryptsec: args.ncryptsec.as_deref().map(|s| secret(s.trim())),
        password: password.as_deref().map(|p| secret(strip_newline(p))),
        nip05_name: args.nip05_name.clone(),
    };
    Ok(post(
        format!("{}/users", tenant_path(&args.tenant)),
        &body,
        View::Fields(USER_FIELDS),
    ))
}

fn user_export(args: &UserExportArgs, inputs: &mut Inputs) -> Result<ApiRequest, CliError> {
    let password = inputs.read_text(
        &args.password_file,
        "cannot read --password-file",
        "--password-file is not UTF-8",
    )?;
    let body = wire::UserKeyExport {
        password: Zeroizing::new(strip_newline(&password).to_owned()),
        log_n: Some(args.log_n),
    };
    let mut request = post(
        format!("{}/export", user_path(&args.user)),
        &body,
        View::Fields(&[("ncryptsec", ""), ("user_pubkey", ""), ("log_n", "")]),
    );
    request.output.note = Some("the ncryptsec is shown once; it opens with the password only");
    Ok(request)
}

/// A password file's content without its one trailing line ending (`\n` or `\r\n`); other
/// whitespace is part of the password (NIP-49 passwords are arbitrary Unicode).
fn strip_newline(text: &str) -> &str {
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.strip_suffix('\r').unwrap_or(text)
}

fn user_update(args: &UserUpdateArgs) -> ApiRequest {
    let body = wire::UserUpdate {
        name: args.name.clone().map(Some),
        disabled: (args.disable || args.enable).then_some(args.disable),
        nip05_name: args.nip05_name.clone().map(Some),
    };
    ApiRequest {
        method: Method::PATCH,
        path: user_path(&args.user),
        body: Some(json_body(&body)),
        output: Output::new(View::Fields(USER_FIELDS)),
    }
}

fn uris(cmd: &UrisCmd) -> ApiRequest {
    match cmd {
        UrisCmd::Create {
            user,
            ttl,
            perms,
            session_ttl,
        } => {
            let mut request = post(
                format!("{}/bunker-uris", user_path(user)),
                &wire::BunkerUriCreate {
                    ttl_secs: *ttl,
                    perms: perms.clone(),
                    session_ttl_secs: *session_ttl,
                },
                View::Fields(&[("id", ""), ("bunker_uri", ""), ("expires_at", "")]),
            );
            request.output.note =
                Some("the bunker URI is single-use and shown once: hand it to the client now");
            request
        }
        UrisCmd::List { user, pending } => {
            let params = if *pending {
                vec![("pending", "true".to_owned())]
            } else {
                Vec::new()
            };
            get(
                format!("{}/bunker-uris{}", user_path(user), query(&params)),
                View::Table(URI_COLS),
            )
        }
        UrisCmd::Revoke { user, id } => delete(
            format!("{}/bunker-uris/{}", user_path(user), encode(id)),
            View::Done("bunker URI revoked"),
        ),
    }
}

fn sessions(cmd: &SessionsCmd, inputs: &mut Inputs) -> Result<ApiRequest, CliError> {
    Ok(match cmd {
        SessionsCmd::List(user) => get(
            format!("{}/sessions", user_path(user)),
            View::Table(SESSION_COLS),
        ),
        SessionsCmd::Revoke {
            user,
            client_pubkey,
        } => delete(
            format!("{}/sessions/{}", user_path(user), encode(client_pubkey)),
            View::Done("session ended"),
        ),
        SessionsCmd::RevokeAll(user) => ApiRequest {
            method: Method::POST,
            path: format!("{}/revoke-sessions", user_path(user)),
            body: None,
            output: Output::new(View::Fields(&[])),
        },
        SessionsCmd::Pair {
            user,
            uri_file,
            perms,
            session_ttl,
        } => {
            let uri = inputs.read_text(
                uri_file,
                "cannot read --uri-file",
                "--uri-file is not UTF-8",
            )?;
            if uri.trim().is_empty() {
                return Err(CliError::Usage("--uri-file is empty"));
            }
            post(
                format!("{}/nostrconnect", user_path(user)),
                &wire::NostrconnectAccept {
                    uri: Zeroizing::new(uri.trim().to_owned()),
                    perms: perms.clone(),
                    session_ttl_secs: *session_ttl,
                },
                View::Fields(&[
                    ("client_pubkey", ""),
                    ("metadata", ""),
                    ("relays", ""),
                    ("perms", ""),
                    ("expires_at", ""),
                ]),
            )
        }
    })
}

fn approvals(cmd: &ApprovalsCmd) -> ApiRequest {
    let base = |tenant: &str| format!("/v1/tenants/{}/approvals", encode(tenant));
    match cmd {
        ApprovalsCmd::List { tenant, status } => {
            let params: Vec<(&str, String)> =
                status.iter().map(|s| ("status", s.clone())).collect();
            get(
                format!("{}{}", base(tenant), query(&params)),
                View::Table(APPROVAL_COLS),
            )
        }
        ApprovalsCmd::Approve {
            tenant,
            id,
            remember,
        } => post(
            format!("{}/{}/approve", base(tenant), encode(id)),
            &wire::ApprovalApprove {
                remember: Some(*remember),
            },
            View::Fields(APPROVAL_FIELDS),
        ),
        ApprovalsCmd::Deny { tenant, id } => ApiRequest {
            method: Method::POST,
            path: format!("{}/{}/deny", base(tenant), encode(id)),
            body: None,
            output: Output::new(View::Fields(APPROVAL_FIELDS)),
        },
    }
}

const KEY_FIELDS: &[(&str, &str)] = &[
    ("provider", ""),
    ("key", ""),
    ("current_version", ""),
    ("versions", ""),
    ("wrapped_by_version", ""),
    ("rotating_to", ""),
    ("retire_old", ""),
    ("tenants_rotating", ""),
    ("shreds_pending", ""),
    ("running", ""),
    ("last_run_at", ""),
    ("last_error", ""),
];
const BACKUP_FIELDS: &[(&str, &str)] = &[
    ("file", ""),
    ("created_at", ""),
    ("bytes", ""),
    ("records", ""),
    ("sha256", ""),
    ("master_key_provider", ""),
    ("master_key", ""),
    ("master_key_versions", ""),
];
const TENANT_KEY_FIELDS: &[(&str, &str)] =
    &[("tenant", ""), ("current_data_key", ""), ("data_keys", "")];

fn keys(cmd: &KeysCmd) -> ApiRequest {
    match cmd {
        KeysCmd::Status => get("/v1/keys".into(), View::Fields(KEY_FIELDS)),
        KeysCmd::RotateMaster { keep_old } => post(
            "/v1/keys/rotate".into(),
            &wire::MasterKeyRotate {
                retire_old: Some(!keep_old),
            },
            View::Fields(KEY_FIELDS),
        ),
        KeysCmd::RotateTenant { tenant } => ApiRequest {
            method: Method::POST,
            path: format!("{}/keys/rotate", tenant_path(tenant)),
            body: None,
            output: Output::new(View::Fields(TENANT_KEY_FIELDS)),
        },
    }
}

fn audit(args: &AuditArgs) -> ApiRequest {
    let mut params = Vec::new();
    if let Some(from) = args.from {
        params.push(("from", from.to_string()));
    }
    if let Some(to) = args.to {
        params.push(("to", to.to_string()));
    }
    if let Some(user) = &args.user {
        params.push(("user", user.clone()));
    }
    if let Some(method) = &args.method {
        params.push(("method", method.clone()));
    }
    params.extend(page_params(&args.page));
    get(
        format!("{}/audit{}", tenant_path(&args.tenant), query(&params)),
        View::Table(AUDIT_COLS),
    )
}

/// What [`encode`] escapes: everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`)
/// and `:`, which may stand unescaped in a path segment and in a query value.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

/// `text` percent-encoded for one path segment or query value. Values the CLI's `segment` parser
/// accepts come out unchanged; anything else cannot change the route.
fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

fn tenant_path(tenant: &str) -> String {
    format!("/v1/tenants/{}", encode(tenant))
}

fn user_path(user: &UserRef) -> String {
    format!(
        "/v1/tenants/{}/users/{}",
        encode(&user.tenant),
        encode(&user.user)
    )
}

fn page_params(page: &PageArgs) -> Vec<(&'static str, String)> {
    let mut params = Vec::new();
    if let Some(cursor) = &page.cursor {
        params.push(("cursor", cursor.clone()));
    }
    if let Some(limit) = page.limit {
        params.push(("limit", limit.to_string()));
    }
    params
}

/// `?k=v&…` with each value percent-encoded ([`encode`]), or nothing.
fn query(params: &[(&'static str, String)]) -> String {
    if params.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!("?{}", pairs.join("&"))
}

fn get(path: String, view: View) -> ApiRequest {
    ApiRequest {
        method: Method::GET,
        path,
        body: None,
        output: Output::new(view),
    }
}

fn delete(path: String, view: View) -> ApiRequest {
    ApiRequest {
        method: Method::DELETE,
        path,
        body: None,
        output: Output::new(view),
    }
}

fn post<T: Serialize>(path: String, body: &T, view: View) -> ApiRequest {
    ApiRequest {
        method: Method::POST,
        path,
        body: Some(json_body(body)),
        output: Output::new(view),
    }
}

/// `body` as JSON, written into a buffer sized to [`MAX_INPUT_BYTES`] times two so it does not
/// reallocate (no unzeroized copy of a secret left behind); larger bodies, which the API refuses
/// anyway, may reallocate.
fn json_body<T: Serialize>(body: &T) -> Zeroizing<Vec<u8>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(2 * MAX_INPUT_BYTES));
    serde_json::to_writer(&mut *buf, body).expect("serializing a JSON body cannot fail");
    buf
}

/// A policy file's bytes, checked to be one JSON value (the API checks the policy itself).
fn policy_file(path: &Path, inputs: &mut Inputs) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let bytes = inputs.read(path, "cannot read the --file policy")?;
    serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
        .map_err(|_| CliError::Usage("the --file policy is not valid JSON"))?;
    Ok(bytes)
}
