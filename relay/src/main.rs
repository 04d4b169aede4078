//! `bunkerd`: a hosted, multi-tenant NIP-46 bunker.
//!
//! `bunkerd serve` starts the relay and the admin API with the defaults of design.md §6; every setting
//! has a flag and a `BUNKERD_*` environment variable. Invalid settings exit with code 64 (EX_USAGE)
//! and a message naming the setting, before any port is bound.
//!
//! `bunkerd admin <resource> <action>` is the operator CLI over the admin API (`relay::cli`).

use clap::{Parser, Subcommand};
use relay::config::{Config, DEFAULT_ADMIN_LISTEN, DEFAULT_LISTEN};
use relay::sched::IoPolicy;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use zeroize::Zeroizing;

/// Exit code for invalid configuration (sysexits.h EX_USAGE).
const EX_USAGE: u8 = 64;

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
    Serve(ServeArgs),
    /// Operate a running bunkerd through its admin API (tenants, users, bunker URIs, sessions,
    /// audit). Secrets are read from files or stdin, never from argv.
    Admin(relay::cli::AdminArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Data directory (RocksDB, dev master key, generated operator token).
    #[arg(long, env = "BUNKERD_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Relay listen address (websocket + NIP-11).
    #[arg(long, env = "BUNKERD_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Admin API listen address.
    #[arg(long, env = "BUNKERD_ADMIN_LISTEN", default_value = DEFAULT_ADMIN_LISTEN)]
    admin_listen: SocketAddr,
    /// Public relay URL for bunker URIs [default: ws://<listen>].
    #[arg(long, env = "BUNKERD_PUBLIC_URL")]
    public_url: Option<String>,
    /// Public base URL of the admin API, as NIP-98 clients sign it (e.g. https://admin.example)
    /// [default: http://<Host header>].
    #[arg(long, env = "BUNKERD_ADMIN_PUBLIC_URL")]
    admin_public_url: Option<String>,
    /// 32-byte master key file [default: <data-dir>/master.key, created if absent].
    #[arg(long, env = "BUNKERD_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// Signer worker threads (0 = one per core).
    #[arg(long, env = "BUNKERD_WORKERS", default_value_t = 0)]
    workers: usize,
    /// Log filter, in tracing's EnvFilter syntax.
    #[arg(long, env = "BUNKERD_LOG", default_value = "info")]
    log: String,
    /// Linux scheduling policy of the I/O (reactor) threads: `batch` (SCHED_BATCH: a reactor woken by
    /// network input does not preempt a signer thread mid-batch; see ARCHITECTURE.md) or `normal`.
    #[arg(long, env = "BUNKERD_IO_POLICY", value_enum, default_value_t = IoPolicy::Batch)]
    io_policy: IoPolicy,
}

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
        Command::Serve(args) => args,
        Command::Admin(args) => return relay::cli::run(args),
    };
    init_logging(&args.log);
    let io_policy = args.io_policy;
    let config = config_from(args);
    if let Err(e) = config.validate() {
        eprintln!("bunkerd: {e}");
        return ExitCode::from(EX_USAGE);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bunkerd-io")
        .on_thread_start(move || {
            if io_policy == IoPolicy::Batch {
                relay::sched::set_current_thread(IoPolicy::Batch);
            }
        })
        .build()
        .expect("building the tokio runtime");
    runtime.block_on(serve(config))
}

fn config_from(args: ServeArgs) -> Config {
    let mut config = Config::for_data_dir(args.data_dir);
    config.listen = args.listen;
    config.admin_listen = args.admin_listen;
    config.public_url = args.public_url;
    config.admin_public_url = args.admin_public_url;
    config.master_key_file = args.master_key_file;
    config.workers = args.workers;
    config.io_policy = args.io_policy;
    // Read directly (not a clap arg) so the token never shows in `--help`, then removed from the
    // environment (before any thread starts) so `/proc/<pid>/environ` and children don't carry it.
    config.operator_token = std::env::var("BUNKERD_OPERATOR_TOKEN")
        .ok()
        .map(Zeroizing::new);
    std::env::remove_var("BUNKERD_OPERATOR_TOKEN");
    config
}

async fn serve(config: Config) -> ExitCode {
    let server = match relay::start(config).await {
        Ok(server) => server,
        Err(e) => {
            tracing::error!(code = e.code(), "{e}");
            eprintln!("bunkerd: {e}");
            return match e {
                relay::Error::Config(_) => ExitCode::from(EX_USAGE),
                _ => ExitCode::FAILURE,
            };
        }
    };
    server.run_until(shutdown_signal()).await;
    ExitCode::SUCCESS
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
