//! `crash`: the crash-consistency harness. Starts the real `bunkerd serve` on a data directory, loads
//! it with provisioning and signing, SIGKILLs it at a random moment, restarts it on the same
//! directory and checks that every acknowledged write is there, whole, and still works; round after
//! round (see `benches::crash`).
//!
//! ```text
//! cargo build -p bunkerd -p benches --bin crash
//! $CARGO_TARGET_DIR/debug/crash --rounds 200 --seed 42
//! ```
//!
//! Prints one line per round, the totals, and last one JSON line. Exits 0 when every round ran and
//! nothing acknowledged was lost, 1 on any loss or unexpected answer, 2 when it stopped before its
//! rounds were done (the time bound, or bunkerd failing to start).

use benches::crash::{self, Options};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "crash",
    about = "SIGKILL bunkerd under load, restart it, check every acknowledged write"
)]
struct Cli {
    /// Rounds (kills) in all.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// Rounds on one data directory before a fresh one.
    #[arg(long, default_value_t = 10)]
    rounds_per_dir: usize,
    /// Seed of the kill moments, the workers' choices and the keys (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// The bunkerd binary (default: `bunkerd` next to this binary).
    #[arg(long)]
    bunkerd: Option<PathBuf>,
    /// Where the data directories go (default: the system temp dir).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Concurrent provisioning workers.
    #[arg(long, default_value_t = 3)]
    provisioners: usize,
    /// Concurrent signing workers.
    #[arg(long, default_value_t = 3)]
    signers: usize,
    /// Earliest kill, milliseconds after the load starts.
    #[arg(long, default_value_t = 50)]
    kill_min_ms: u64,
    /// Latest kill, milliseconds after the load starts.
    #[arg(long, default_value_t = 1500)]
    kill_max_ms: u64,
    /// Stop starting rounds after this many seconds.
    #[arg(long, default_value_t = 3600)]
    max_secs: u64,
    /// Keep the data directory of a round that lost a write.
    #[arg(long)]
    keep_failed: bool,
    /// Self-check: delete RocksDB's write-ahead log after each kill, so that writes are lost and
    /// the run must report them (exit 1).
    #[arg(long)]
    lose_wal: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let seed = cli.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let bunkerd = match cli.bunkerd {
        Some(path) => path,
        None => match std::env::current_exe() {
            Ok(exe) => exe.with_file_name(format!("bunkerd{}", std::env::consts::EXE_SUFFIX)),
            Err(e) => {
                eprintln!("crash: cannot find this binary's directory: {e}");
                return ExitCode::from(2);
            }
        },
    };
    if !bunkerd.exists() {
        eprintln!(
            "crash: {} not found: run `cargo build -p bunkerd` or pass --bunkerd",
            bunkerd.display()
        );
        return ExitCode::from(2);
    }
    let mut options = Options::new(bunkerd, seed);
    options.rounds = cli.rounds;
    options.rounds_per_dir = cli.rounds_per_dir;
    options.provisioners = cli.provisioners;
    options.signers = cli.signers;
    options.kill_ms = (cli.kill_min_ms, cli.kill_max_ms.max(cli.kill_min_ms));
    options.max_time = Duration::from_secs(cli.max_secs);
    options.keep_failed = cli.keep_failed;
    options.lose_wal = cli.lose_wal;
    if let Some(dir) = cli.work_dir {
        options.work_dir = dir;
    }
    println!(
        "crash: seed {seed}, {} rounds, {} per data dir, {} provisioning + {} signing workers, \
         kill {}–{} ms into the load, bunkerd {}",
        options.rounds,
        options.rounds_per_dir,
        options.provisioners,
        options.signers,
        options.kill_ms.0,
        options.kill_ms.1,
        options.bunkerd.display()
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("crash: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let report = runtime.block_on(crash::run(&options));
    println!("{}", report.summary());
    if report.losses() > 0 || report.unexpected() > 0 {
        ExitCode::from(1)
    } else if !report.passed() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
