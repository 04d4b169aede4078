//! The crash-consistency harness: SIGKILL the real `bunkerd serve` binary at a random moment under
//! provisioning and signing load, restart it on the same data directory, and check that every write
//! it acknowledged is there, whole, and still works.
//!
//! Why here, in `benches`: it is a load tool with a recorded figure and a binary (`crash`, next to
//! `loadgen`), and `tests` already depends on `benches`, so the end-to-end suite runs the very same
//! code for a few rounds (`tests/e2e/crash.rs`) instead of a copy.
//!
//! Shape of a run ([`run`]): data directories are used in turn, [`Options::rounds_per_dir`] rounds
//! each. A round is: load the running bunkerd (`load`: provisioning workers create tenants, users
//! — generated keys and hex, `nsec` and NIP-49 `ncryptsec` imports — and two bunker URIs per user,
//! and `connect` a fresh client key with one of them over NIP-46; signing workers `sign_event` on
//! the sessions acknowledged so far; all over HTTP, the admin API and `POST /nip46/request`, one
//! connection per request); SIGKILL it at a moment drawn from the seeded generator, once at least
//! one write of this round was acknowledged and while requests are in flight (the workers go on
//! until the process is gone, so what is in flight when it dies is cut); start it again on the
//! same directory; then check the whole `ledger` of that directory (`verify`). A write is
//! acknowledged when bunkerd answered it: a 2xx admin answer with its body, a NIP-46 `connect`
//! answered `"ack"`, a `sign_event` answered with an event whose signature verifies under the
//! user's pubkey. A write cut by the kill may or may not be there afterwards, but never in part.
//!
//! A SIGKILL loses what the process held in memory, never what it handed to the kernel, so this
//! checks that bunkerd writes before it answers and writes each change in one batch; a power cut
//! (what the synced write-ahead log is for) is outside what it can show.
//!
//! Must not: reach beyond loopback, run unbounded (every loop is bounded in count and time), or
//! leave a bunkerd process behind (the child is killed on drop).
//!
//! Main items: [`run`], [`Options`], [`Report`] (with [`RoundReport`] per round), [`Write`] and
//! [`Counts`], [`Rng`].

mod http;
mod ledger;
mod load;
mod server;
mod verify;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A kind of acknowledged write (a signature is counted with them: it proves a key is readable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `POST /v1/tenants`.
    Tenant,
    /// `POST …/users` with a generated key.
    User,
    /// `POST …/users` importing a 64-hex secret key.
    ImportHex,
    /// `POST …/users` importing an `nsec1…`.
    ImportNsec,
    /// `POST …/users` importing a NIP-49 `ncryptsec1…` with its password.
    ImportNcryptsec,
    /// `POST …/users/{user}/bunker-uris`.
    Uri,
    /// NIP-46 `connect` with a bunker URI's secret, answered `"ack"` (a session).
    Connect,
    /// NIP-46 `sign_event`, answered with a verified signed event.
    Sign,
}

impl Write {
    /// Every kind, in report order.
    pub const ALL: [Write; 8] = [
        Write::Tenant,
        Write::User,
        Write::ImportHex,
        Write::ImportNsec,
        Write::ImportNcryptsec,
        Write::Uri,
        Write::Connect,
        Write::Sign,
    ];

    /// Short name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Write::Tenant => "tenant",
            Write::User => "user",
            Write::ImportHex => "import_hex",
            Write::ImportNsec => "import_nsec",
            Write::ImportNcryptsec => "import_ncryptsec",
            Write::Uri => "uri",
            Write::Connect => "connect",
            Write::Sign => "sign",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A count per [`Write`] kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([u64; 8]);

impl Counts {
    /// The count of `kind`.
    pub fn get(&self, kind: Write) -> u64 {
        self.0[kind.index()]
    }

    /// Adds one to `kind`.
    pub fn bump(&mut self, kind: Write) {
        self.0[kind.index()] += 1;
    }

    /// The sum over every kind.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds `other` kind by kind.
    pub fn add(&mut self, other: &Counts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// The non-zero counts as `name n, …` (`none` when all are zero).
    pub fn text(&self) -> String {
        let parts: Vec<String> = Write::ALL
            .iter()
            .filter(|k| self.get(**k) > 0)
            .map(|k| format!("{} {}", k.name(), self.get(*k)))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }

    /// `{"tenant": n, …}`.
    pub fn json(&self) -> String {
        let parts: Vec<String> = Write::ALL
            .iter()
            .map(|k| format!("\"{}\":{}", k.name(), self.get(*k)))
            .collect();
        format!("{{{}}}", parts.join(","))
    }
}

/// A small seeded generator (SplitMix64): the kill moments, the choices of the workers and the keys
/// they import all come from [`Options::seed`].
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting at `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (`lo` when `hi <= lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// 32 random bytes.
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        out
    }

    /// An independent generator seeded from this one.
    pub fn fork(&mut self) -> Rng {
        Rng(self.next_u64())
    }
}

/// A run's settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `bunkerd` binary to start.
    pub bunkerd: PathBuf,
    /// Where data directories are made (each `crash-<seed>-<n>`), removed after use unless a round
    /// failed and [`Options::keep_failed`] is set.
    pub work_dir: PathBuf,
    /// Rounds (kills) in all.
    pub rounds: usize,
    /// Rounds on one data directory before the next one; every restart checks everything that
    /// directory ever acknowledged.
    pub rounds_per_dir: usize,
    /// Seed of everything random.
    pub seed: u64,
    /// Concurrent provisioning workers.
    pub provisioners: usize,
    /// Concurrent signing workers.
    pub signers: usize,
    /// The kill comes uniformly between these many milliseconds after the load starts (then waits,
    /// if need be, for a first acknowledged write of the round and a request in flight).
    pub kill_ms: (u64, u64),
    /// Stop starting rounds after this long.
    pub max_time: Duration,
    /// Keep the data directory of a round that lost a write.
    pub keep_failed: bool,
    /// Print one line per round to stdout.
    pub verbose: bool,
    /// Self-check of the harness: after each kill, delete RocksDB's write-ahead log files
    /// (`<data dir>/db/*.log`) before the restart, which loses what was not yet flushed to table
    /// files. The run must then report losses; a run that does not cannot see one.
    pub lose_wal: bool,
}

impl Options {
    /// Defaults for `bunkerd` at `binary`: 200 rounds, 10 per directory, 3 + 3 workers, kills
    /// 50–1500 ms into the load, at most one hour.
    pub fn new(bunkerd: PathBuf, seed: u64) -> Self {
        Options {
            bunkerd,
            work_dir: std::env::temp_dir(),
            rounds: 200,
            rounds_per_dir: 10,
            seed,
            provisioners: 3,
            signers: 3,
            kill_ms: (50, 1500),
            max_time: Duration::from_secs(3600),
            keep_failed: false,
            verbose: true,
            lose_wal: false,
        }
    }
}

/// What one round did and found.
#[derive(Debug, Clone, Default)]
pub struct RoundReport {
    /// Round number, from 0.
    pub round: usize,
    /// Data directory number.
    pub dir: usize,
    /// When the kill came, after the load started.
    pub killed_after: Duration,
    /// Writes acknowledged under load in this round.
    pub acked: Counts,
    /// Requests cut by the kill (sent, never answered), by kind; requests refused at connect time
    /// (the process already gone, nothing sent) are not counted.
    pub cut: Counts,
    /// Of those, the writes found present after the restart (adopted into the ledger).
    pub cut_present: Counts,
    /// Answers neither acknowledged nor cut by the kill: `429` / `503` and their NIP-46 twins.
    pub refused: u64,
    /// What the restart checked: tenants, users, bunker URIs, sessions signed, unconsumed URIs
    /// connected, consumed URIs refused to a new client.
    pub checked: Checked,
    /// Acknowledged writes missing, changed or in part, and phantoms: each a sentence.
    pub losses: Vec<String>,
    /// Answers the harness did not expect under load (a 4xx, a reply that does not verify, …).
    pub unexpected: Vec<String>,
    /// From the kill to the restarted bunkerd serving.
    pub restart: Duration,
    /// The checks after the restart.
    pub verify: Duration,
}

/// What a restart checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    /// Tenants found as acknowledged.
    pub tenants: u64,
    /// Users found with the acknowledged pubkeys.
    pub users: u64,
    /// Bunker URIs found in the acknowledged state.
    pub uris: u64,
    /// Sessions that signed (each signature verified under the user's pubkey).
    pub sessions_signed: u64,
    /// Acknowledged, unconsumed bunker URIs that connected a new client.
    pub uris_connected: u64,
    /// Consumed bunker URIs refused to a new client.
    pub consumed_refused: u64,
}

impl Checked {
    fn add(&mut self, o: &Checked) {
        self.tenants += o.tenants;
        self.users += o.users;
        self.uris += o.uris;
        self.sessions_signed += o.sessions_signed;
        self.uris_connected += o.uris_connected;
        self.consumed_refused += o.consumed_refused;
    }
}

impl RoundReport {
    /// One line: what was acknowledged, cut, found, and lost.
    pub fn line(&self) -> String {
        let c = &self.checked;
        let mut out = format!(
            "round {} (dir {}): killed at {} ms; acked: {}; cut: {}; cut but present: {}; \
             refused {}; restart {} ms; checked {} tenants, {} users, {} URIs, {} sessions \
             signed, {} URIs connected, {} consumed URIs refused in {} ms; losses {}",
            self.round,
            self.dir,
            self.killed_after.as_millis(),
            self.acked.text(),
            self.cut.text(),
            self.cut_present.text(),
            self.refused,
            self.restart.as_millis(),
            c.tenants,
            c.users,
            c.uris,
            c.sessions_signed,
            c.uris_connected,
            c.consumed_refused,
            self.verify.as_millis(),
            self.losses.len(),
        );
        for loss in &self.losses {
            let _ = write!(out, "\n  LOSS: {loss}");
        }
        for u in &self.unexpected {
            let _ = write!(out, "\n  unexpected: {u}");
        }
        out
    }
}

/// A whole run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Every round, in order.
    pub rounds: Vec<RoundReport>,
    /// Whether the run stopped at [`Options::max_time`] before its rounds were done.
    pub timed_out: bool,
    /// The whole run.
    pub elapsed: Duration,
    /// A failure that stopped the run (bunkerd did not start, a check could not run).
    pub aborted: Option<String>,
}

impl Report {
    /// Acknowledged writes over all rounds.
    pub fn acked(&self) -> Counts {
        let mut total = Counts::default();
        self.rounds.iter().for_each(|r| total.add(&r.acked));
        total
    }

    /// Requests cut by the kills.
    pub fn cut(&self) -> Counts {
        let mut total = Counts::default();
        self.rounds.iter().for_each(|r| total.add(&r.cut));
        total
    }

    /// Cut writes found present after the restarts.
    pub fn cut_present(&self) -> Counts {
        let mut total = Counts::default();
        self.rounds.iter().for_each(|r| total.add(&r.cut_present));
        total
    }

    /// Everything the restarts checked.
    pub fn checked(&self) -> Checked {
        let mut total = Checked::default();
        self.rounds.iter().for_each(|r| total.add(&r.checked));
        total
    }

    /// Losses over all rounds.
    pub fn losses(&self) -> usize {
        self.rounds.iter().map(|r| r.losses.len()).sum()
    }

    /// Unexpected answers over all rounds.
    pub fn unexpected(&self) -> usize {
        self.rounds.iter().map(|r| r.unexpected.len()).sum()
    }

    /// Whether the run is clean: finished, no loss, nothing unexpected.
    pub fn passed(&self) -> bool {
        self.aborted.is_none() && !self.timed_out && self.losses() == 0 && self.unexpected() == 0
    }

    /// The totals, several lines, then one JSON line.
    pub fn summary(&self) -> String {
        let c = self.checked();
        let mut out = format!(
            "seed {}: {} rounds in {:.1} s\nacknowledged under load: {} (total {})\ncut by the \
             kill: {} (total {})\ncut but present after restart: {}\nchecked after restarts: {} \
             tenants, {} users, {} URIs, {} sessions signed, {} URIs connected, {} consumed URIs \
             refused\nlosses: {}; unexpected answers: {}",
            self.seed,
            self.rounds.len(),
            self.elapsed.as_secs_f64(),
            self.acked().text(),
            self.acked().total(),
            self.cut().text(),
            self.cut().total(),
            self.cut_present().text(),
            c.tenants,
            c.users,
            c.uris,
            c.sessions_signed,
            c.uris_connected,
            c.consumed_refused,
            self.losses(),
            self.unexpected(),
        );
        if self.timed_out {
            out.push_str("\nstopped at the time bound before every round ran");
        }
        if let Some(why) = &self.aborted {
            let _ = write!(out, "\nABORTED: {why}");
        }
        let _ = write!(
            out,
            "\n{{\"seed\":{},\"rounds\":{},\"elapsed_s\":{:.1},\"acked\":{},\"cut\":{},\
             \"cut_present\":{},\"losses\":{},\"unexpected\":{},\"passed\":{}}}",
            self.seed,
            self.rounds.len(),
            self.elapsed.as_secs_f64(),
            self.acked().json(),
            self.cut().json(),
            self.cut_present().json(),
            self.losses(),
            self.unexpected(),
            self.passed(),
        );
        out
    }
}

/// Runs the harness: [`Options::rounds`] rounds, or fewer if [`Options::max_time`] runs out.
pub async fn run(options: &Options) -> Report {
    let started = Instant::now();
    let mut rng = Rng::new(options.seed);
    let mut report = Report {
        seed: options.seed,
        ..Report::default()
    };
    let per_dir = options.rounds_per_dir.max(1);
    let mut dir = 0;
    while report.rounds.len() < options.rounds {
        if started.elapsed() >= options.max_time {
            report.timed_out = true;
            break;
        }
        let rounds = per_dir.min(options.rounds - report.rounds.len());
        let path = options.work_dir.join(format!(
            "crash-{}-{}-{dir}",
            options.seed,
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        let outcome = run_dir(options, &path, dir, rounds, &mut rng, &mut report, started).await;
        let failed = report.rounds.iter().any(|r| !r.losses.is_empty());
        if failed && options.keep_failed {
            println!("kept {}", path.display());
        } else {
            let _ = std::fs::remove_dir_all(&path);
        }
        if let Err(why) = outcome {
            report.aborted = Some(format!("data dir {dir}: {why}"));
            break;
        }
        dir += 1;
    }
    report.elapsed = started.elapsed();
    report
}

/// Runs up to `rounds` rounds on a fresh data directory at `path`.
async fn run_dir(
    options: &Options,
    path: &std::path::Path,
    dir: usize,
    rounds: usize,
    rng: &mut Rng,
    report: &mut Report,
    started: Instant,
) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut server = server::Bunkerd::start(&options.bunkerd, path).await?;
    let token = server::operator_token(path)?;
    let ledger = ledger::Ledger::shared();
    for _ in 0..rounds {
        if started.elapsed() >= options.max_time {
            report.timed_out = true;
            break;
        }
        let mut round = RoundReport {
            round: report.rounds.len(),
            dir,
            ..RoundReport::default()
        };
        let load = load::Load::new(options, &server, &token, ledger.clone(), round.round);
        let outcome = load.run(server, rng.fork()).await?;
        round.killed_after = outcome.killed_after;
        round.acked = outcome.acked;
        round.cut = outcome.cut;
        round.refused = outcome.refused;
        round.unexpected = outcome.unexpected;
        let killed_at = Instant::now();
        if options.lose_wal {
            server::delete_wal(path)?;
        }
        server = server::Bunkerd::start(&options.bunkerd, path).await?;
        round.restart = killed_at.elapsed();
        let verified_at = Instant::now();
        let admin = http::Admin::new(server.admin, &token);
        let found = verify::verify(&admin, server.relay, &ledger, round.round, rng).await?;
        round.verify = verified_at.elapsed();
        round.checked = found.checked;
        round.cut_present = found.cut_present;
        round.losses = found.losses;
        if options.verbose {
            println!("{}", round.line());
        }
        report.rounds.push(round);
    }
    server.kill()?;
    Ok(())
}
