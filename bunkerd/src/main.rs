//! `bunkerd`: a hosted, multi-tenant NIP-46 bunker.
//!
//! `bunkerd serve` starts the relay and the admin API with its defaults (`bunkerd::config`). Every
//! setting has a flag, a `BUNKERD_*` environment variable and a key in the TOML file named by
//! `--config` (`BUNKERD_CONFIG`; annotated example: `deploy/bunkerd.example.toml`), with flags >
//! environment > file > defaults (`bunkerd::config`). Invalid settings — a bad value, an unknown key,
//! an unreadable config or master key file — exit with code 64 (EX_USAGE) and a message naming the
//! setting, before any port is bound. Logs go to stderr through `tracing`, human-readable or, with
//! `--log-format json`, one JSON object per line.
//!
//! `serve` first disables core dumps and ptrace attach of itself (`bunkerd::hygiene`; exit 71,
//! EX_OSERR, if it cannot).
//!
//! `bunkerd admin <resource> <action>` is the operator CLI over the admin API (`bunkerd::cli`).
//!
//! Must not: take the operator token from argv or the config file (only `BUNKERD_OPERATOR_TOKEN`,
//! removed from the environment once read, or a token file), or bind before validating.

use bunkerd::config::{Config, ConfigError, LogFormat, Settings};
use bunkerd::sched::IoPolicy;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use zeroize::Zeroizing;

/// Exit code for invalid configuration (sysexits.h EX_USAGE).
const EX_USAGE: u8 = 64;

/// Exit code when the process cannot disable core dumps and ptrace attach (sysexits.h EX_OSERR).
const EX_OSERR: u8 = 71;
/// EX_UNAVAILABLE from sysexits.h: the master-key provider (a KMS) or the PostgreSQL server cannot
/// be reached at start.
const EX_UNAVAILABLE: u8 = 69;
/// Exit code when a backup file is damaged or holds keys that do not open (sysexits.h
/// EX_DATAERR).
const EX_DATAERR: u8 = 65;
/// Exit code when a restore's target already holds a store (sysexits.h EX_CANTCREAT).
const EX_CANTCREAT: u8 = 73;

/// Environment variable holding the operator token itself (read directly, never a clap arg, so
/// it never shows in `--help` and is never taken from argv).
const OPERATOR_TOKEN_ENV: &str = "BUNKERD_OPERATOR_TOKEN";

#[derive(Parser)]
#[command(
    name = "bunkerd",
    version,
    about = "A hosted, multi-tenant NIP-46 bunker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay, the signer pool and the admin API.
    Serve(Box<ServeArgs>),
    /// Operate a running bunkerd through its admin API (tenants, users, bunker URIs, sessions,
    /// audit). Secrets are read from files or stdin, never from argv.
    Admin(bunkerd::cli::AdminArgs),
    /// Create version 1 of a `pkcs11:` or `aws-kms:` master key (takes serve's settings; refuses
    /// when the provider already holds a version). Run once, before the first `serve`.
    CreateMasterKey(Box<ServeArgs>),
    /// Backups: create one on the running server, verify a file, restore one onto an empty data
    /// directory (README "Key custody").
    #[command(subcommand)]
    Backup(BackupCmd),
}

#[derive(clap::Subcommand)]
enum BackupCmd {
    /// Ask the running server for a backup (POST /v1/backups, operator token): a point-in-time
    /// copy of the store, written under <data-dir>/backups, holding only sealed material.
    Create(bunkerd::cli::BackupCreateArgs),
    /// Check a backup file: its SHA-256, then the configured master key (serve's settings) opens
    /// it and every user's secret keys. Prints counts, never keys; exit 65 if the file is damaged
    /// or any key fails, 64 if the master key is not the store's.
    Verify {
        /// The backup file.
        file: PathBuf,
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
    /// Restore a backup onto --data-dir, whose db/ must not exist or be empty; verified before
    /// anything is written and again from disk after. Configure the master key as serve will.
    /// Exit 73 if --data-dir already holds a store, otherwise as verify.
    Restore {
        /// The backup file.
        file: PathBuf,
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
}

#[derive(clap::Args)]
#[command(after_long_help = SERVE_HELP)]
struct ServeArgs {
    /// TOML config file with any of the settings below as keys (`data_dir`, `[limits]`
    /// `max_subscriptions`, ...); flags and environment variables override it.
    #[arg(long, env = "BUNKERD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
}

const SERVE_HELP: &str = "\
Precedence: flags > BUNKERD_* environment variables > the --config file > defaults. The config
file's keys are the flag names with `_` for `-`; the connection limits go under [limits]. See
deploy/bunkerd.example.toml.

The operator token comes from BUNKERD_OPERATOR_TOKEN or from --operator-token-file (never from
argv or inline in the config file); without either, from <data-dir>/operator.token, generated on
first start.

Invalid settings exit with code 64 and a message naming the setting, before any port is bound.";

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(EX_USAGE);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let args = match cli.command {
        Command::Serve(args) => *args,
        Command::Admin(args) => return bunkerd::cli::run(args),
        Command::CreateMasterKey(args) => return create_master_key(*args),
        Command::Backup(BackupCmd::Create(args)) => return bunkerd::cli::create_backup(args),
        Command::Backup(BackupCmd::Verify { file, serve }) => {
            return backup(*serve, &file, bunkerd::backup::verify_file)
        }
        Command::Backup(BackupCmd::Restore { file, serve }) => {
            return backup(*serve, &file, bunkerd::backup::restore)
        }
    };
    // Before anything reads a key: no core dumps, no ptrace attach (`bunkerd::hygiene`).
    if let Err(e) = bunkerd::hygiene::harden() {
        eprintln!("bunkerd: disabling core dumps and ptrace attach: {e}");
        return ExitCode::from(EX_OSERR);
    }
    let config = match load_config(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("bunkerd: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    init_logging(&config);
    let io_policy = config.io_policy;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bunkerd-io")
        .on_thread_start(move || {
            if io_policy == IoPolicy::Batch {
                bunkerd::sched::set_current_thread(IoPolicy::Batch);
            }
        })
        .build()
        .expect("building the tokio runtime");
    let code = runtime.block_on(serve(config));
    // Everything that must finish has (the store is closed when `serve` returns); a blocking task
    // still running, such as the NATS client's DNS lookup of an unreachable bus, must not hold
    // the exit past the stop the operator asked for.
    runtime.shutdown_timeout(RUNTIME_STOP_WAIT);
    code
}

/// Longest the exit waits for blocking tasks still running once the server has stopped.
const RUNTIME_STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// `bunkerd create-master-key`: exit 0 with what was created; 64 for bad settings or a key that
/// already exists; 69 when the provider cannot be reached; 1 when it refuses otherwise.
fn create_master_key(args: ServeArgs) -> ExitCode {
    let result = load_config(args)
        .map_err(bunkerd::Error::from)
        .and_then(|config| bunkerd::create_master_key(&config));
    match result {
        Ok(created) => {
            println!("{created}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bunkerd: {e}");
            start_failure(&e)
        }
    }
}

/// `bunkerd backup verify|restore`: prints what the file holds and what opened; exit 0 when
/// every key opened, 65 (EX_DATAERR) when one did not, else as [`start_failure`].
fn backup(
    args: ServeArgs,
    file: &std::path::Path,
    run: fn(&Config, &std::path::Path) -> Result<bunkerd::backup::Checked, bunkerd::Error>,
) -> ExitCode {
    if let Err(e) = bunkerd::hygiene::harden() {
        eprintln!("bunkerd: disabling core dumps and ptrace attach: {e}");
        return ExitCode::from(EX_OSERR);
    }
    let result = load_config(args)
        .map_err(bunkerd::Error::from)
        .and_then(|config| run(&config, file));
    let (summary, report) = match result {
        Ok(done) => done,
        Err(e) => {
            eprintln!("bunkerd: {e}");
            return match &e {
                bunkerd::Error::Store(store::Error::DamagedBackup(_)) => ExitCode::from(EX_DATAERR),
                bunkerd::Error::Io { source, .. }
                    if source.kind() == std::io::ErrorKind::AlreadyExists =>
                {
                    ExitCode::from(EX_CANTCREAT)
                }
                _ => start_failure(&e),
            };
        }
    };
    println!("file: {}", file.display());
    println!(
        "sha256: {} ({} bytes, {} records)",
        summary.sha256,
        summary.bytes,
        summary.total_records()
    );
    println!("master key: {}", report.master_key);
    println!("tenants: {}", report.tenants);
    println!("data key records: {}", report.data_key_records);
    println!("users: {}", report.users);
    println!(
        "keys opened: {} of {}",
        report.keys_opened,
        2 * report.users
    );
    println!("sessions: {}", report.sessions);
    for failure in &report.failures {
        println!(
            "failed: tenant {} user {}: {}",
            failure.tenant, failure.user, failure.code
        );
    }
    if report.sound() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "bunkerd: {} users' keys did not open",
            report.failures.len()
        );
        ExitCode::from(EX_DATAERR)
    }
}

/// Exit code for an error before serving: 64 for settings (the master key's included), 69 when
/// the master-key provider, the PostgreSQL server or the cluster bus cannot be reached, else 1.
fn start_failure(e: &bunkerd::Error) -> ExitCode {
    match e {
        bunkerd::Error::Config(_) | bunkerd::Error::MasterKey { .. } => ExitCode::from(EX_USAGE),
        bunkerd::Error::Kms(kms::Error::Provider { .. })
        | bunkerd::Error::Store(store::Error::Unavailable(_))
        | bunkerd::Error::Bus(_) => ExitCode::from(EX_UNAVAILABLE),
        _ => ExitCode::FAILURE,
    }
}

/// Flags and environment over the config file over the defaults, validated. Runs before any
/// thread is started, so removing the token variable from the environment is sound.
fn load_config(args: ServeArgs) -> Result<Config, ConfigError> {
    // Removed from the environment once read, so `/proc/<pid>/environ` and children don't carry it.
    let operator_token = std::env::var(OPERATOR_TOKEN_ENV).ok().map(Zeroizing::new);
    std::env::remove_var(OPERATOR_TOKEN_ENV);
    let file = match &args.config {
        Some(path) => Settings::load(path)?,
        None => Settings::default(),
    };
    let config = Settings::resolve(args.settings, file, operator_token)?;
    config.validate()?;
    Ok(config)
}

async fn serve(config: Config) -> ExitCode {
    // Installed before the store opens and the listeners bind: a SIGTERM that arrives while
    // bunkerd starts (or just after it logs `bunkerd is serving`) is queued and stops it
    // gracefully once started, instead of taking the default action and killing it mid-open.
    let signals = match ShutdownSignals::install() {
        Ok(signals) => signals,
        Err(e) => {
            tracing::error!("installing the SIGTERM/SIGINT handlers: {e}");
            eprintln!("bunkerd: installing the SIGTERM/SIGINT handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = match bunkerd::start(config).await {
        Ok(server) => server,
        Err(e) => {
            tracing::error!(code = e.code(), "{e}");
            eprintln!("bunkerd: {e}");
            return start_failure(&e);
        }
    };
    server.run_until(signals.recv()).await;
    ExitCode::SUCCESS
}

/// SIGTERM and SIGINT, each handled from [`ShutdownSignals::install`] on (a signal delivered
/// before anyone waits is kept and completes the next [`ShutdownSignals::recv`]).
struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Replaces the default (terminating) action of both signals. Must run inside the runtime.
    ///
    /// # Errors
    ///
    /// The OS refused to install a handler (sigaction(2)), or the runtime's signal driver is off.
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Completes on the first SIGTERM or SIGINT since [`ShutdownSignals::install`].
    async fn recv(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// Logs to stderr with the configured filter (already validated) and format.
fn init_logging(config: &Config) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(bunkerd::hygiene::log_filter(&config.log))
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
