//! `loadgen`: drives NIP-46 load at a relay with real websockets and verifies every response.
//!
//! ```text
//! loadgen provision --admin 127.0.0.1:7448 --token-file data/operator.token --users 100 --uris-per-user 2 --out uris.txt
//! loadgen provision … --tenant-name a --requests-per-sec 300 --burst 300 --tenant-id-out a.id
//! loadgen run --relay 127.0.0.1:7447 --uris uris.txt --clients 200 --requests 50000 --duration 60
//! loadgen run … --rate 4000            # open loop at 4,000 requests/s in total
//! ```
//!
//! Prints a summary and, last, one JSON line with every figure. Runs are bounded by `--requests` and
//! `--duration`, and stop by themselves.

use benches::loadgen::provision::{self, RateLimits, TenantSpec};
use benches::loadgen::{self, Duty, Mix, Options};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "NIP-46 load generator with full response verification"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a tenant (optionally with rate limits), users and bunker URIs through bunkerd's admin
    /// API; write the URIs to a file.
    Provision {
        /// Admin API address.
        #[arg(long, default_value = "127.0.0.1:7448")]
        admin: SocketAddr,
        /// File holding the operator token.
        #[arg(long, default_value = "data/operator.token")]
        token_file: PathBuf,
        /// Users to create.
        #[arg(long, default_value_t = 100)]
        users: usize,
        /// Bunker URIs per user (one per client connection).
        #[arg(long, default_value_t = 1)]
        uris_per_user: usize,
        /// Where to write the URIs, one per line.
        #[arg(long, default_value = "uris.txt")]
        out: PathBuf,
        /// Name of the tenant to create (1 to 128 bytes).
        #[arg(long, default_value = provision::DEFAULT_TENANT_NAME)]
        tenant_name: String,
        /// Set the tenant's `limits.requests_per_sec` (sustained NIP-46 requests/s, whole tenant)
        /// right after creating it; no limit when absent.
        #[arg(long)]
        requests_per_sec: Option<u32>,
        /// Set the tenant's `limits.burst` (token-bucket size, requests); needs --requests-per-sec.
        #[arg(long, requires = "requests_per_sec")]
        burst: Option<u32>,
        /// Write the new tenant's id (the `tenant` label in bunkerd's /metrics) to this file.
        #[arg(long)]
        tenant_id_out: Option<PathBuf>,
    },
    /// Run load against a relay.
    Run {
        /// Relay address (host:port); overrides the URIs' relay.
        #[arg(long, default_value = "127.0.0.1:7447")]
        relay: SocketAddr,
        /// File of bunker URIs, one per line (one per client).
        #[arg(long, default_value = "uris.txt")]
        uris: PathBuf,
        /// Client connections.
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// Requests in the timed phase (count bound).
        #[arg(long, default_value_t = 10_000)]
        requests: usize,
        /// Longest timed phase, seconds (time bound).
        #[arg(long, default_value_t = 60)]
        duration: u64,
        /// Open loop at this total rate (requests/s); closed loop when absent.
        #[arg(long)]
        rate: Option<f64>,
        /// Method mix, `method[:weight],…` (sign_event, nip44_encrypt, ping, get_public_key).
        #[arg(long, default_value = "sign_event")]
        mix: String,
        /// Seconds before an unanswered request counts as a timeout.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        /// Put `pubkey` in sign_event templates (needed by rust-nostr's signer).
        #[arg(long)]
        template_pubkey: bool,
        /// Write `sent_ms,latency_ms,sent_unix_ms` of every verified reply to this CSV file.
        #[arg(long)]
        latency_csv: Option<PathBuf>,
        /// Open loop only: `ON,OFF` seconds — send at the rate for ON seconds, pause OFF seconds,
        /// repeat (the duration counts the pauses).
        #[arg(long, requires = "rate")]
        duty: Option<String>,
        /// Connect from this local address (for example 127.0.0.2, so a packet capture or the
        /// relay's per-address limits can tell this generator's connections from another's).
        #[arg(long)]
        source_ip: Option<std::net::IpAddr>,
    },
    /// Open idle connections, each with one `#p` subscription, and hold them (bounded by time).
    Idle {
        /// Relay address (host:port).
        #[arg(long, default_value = "127.0.0.1:7447")]
        relay: SocketAddr,
        /// Connections to open.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Seconds to hold them open once all are subscribed.
        #[arg(long, default_value_t = 60)]
        hold: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> Result<(), String> {
    match command {
        Command::Provision {
            admin,
            token_file,
            users,
            uris_per_user,
            out,
            tenant_name,
            requests_per_sec,
            burst,
            tenant_id_out,
        } => {
            let token = std::fs::read_to_string(&token_file)
                .map_err(|e| format!("{}: {e}", token_file.display()))?;
            let spec = TenantSpec {
                name: tenant_name,
                limits: requests_per_sec.map(|requests_per_sec| RateLimits {
                    requests_per_sec,
                    burst,
                }),
                users,
                uris_per_user,
            };
            let made = provision::provision_tenant(admin, token.trim(), &spec).await?;
            let uris = made.uris;
            std::fs::write(&out, uris.join("\n") + "\n").map_err(|e| e.to_string())?;
            eprintln!("wrote {} bunker URIs to {}", uris.len(), out.display());
            if let Some(path) = &tenant_id_out {
                std::fs::write(path, format!("{}\n", made.tenant_id))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            match spec.limits {
                Some(l) => eprintln!(
                    "tenant {} ({}): requests_per_sec {} burst {}",
                    made.tenant_id,
                    spec.name,
                    l.requests_per_sec,
                    l.burst.map_or("unset".to_owned(), |b| b.to_string())
                ),
                None => eprintln!("tenant {} ({}): no limits", made.tenant_id, spec.name),
            }
            Ok(())
        }
        Command::Run {
            relay,
            uris,
            clients,
            requests,
            duration,
            rate,
            mix,
            timeout,
            template_pubkey,
            latency_csv,
            duty,
            source_ip,
        } => {
            let text =
                std::fs::read_to_string(&uris).map_err(|e| format!("{}: {e}", uris.display()))?;
            let options = Options {
                relay,
                uris: text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_owned)
                    .collect(),
                clients,
                requests,
                duration: Duration::from_secs(duration),
                rate,
                mix: Mix::parse(&mix)?,
                timeout: Duration::from_secs(timeout),
                template_pubkey,
                latency_csv,
                duty: duty.as_deref().map(Duty::parse).transpose()?,
                source: source_ip,
            };
            let report = loadgen::run(options).await?;
            eprintln!("{}", report.table());
            println!("{}", report.json());
            Ok(())
        }
        Command::Idle {
            relay,
            connections,
            hold,
        } => {
            let open = loadgen::idle::open(relay, connections).await?;
            // One line on stdout when every subscription is in place, for scripts to wait on.
            println!("ready {}", open.len());
            tokio::time::sleep(Duration::from_secs(hold)).await;
            drop(open);
            Ok(())
        }
    }
}
