//! The end-to-end load generator: real NIP-01 websockets and NIP-44 requests against any relay and
//! bunker URIs, with every response verified independently (rust-nostr) after the timed phase.
//!
//! Shape of a run ([`run`]): each of `clients` connections takes its own bunker URI and client key,
//! subscribes to its replies, `connect`s and learns the user pubkey (untimed); then builds and encrypts
//! all its requests (untimed); then the **timed phase** sends them, closed loop (one in flight per
//! connection) or open loop (a fixed total rate), bounded by count and by time, recording only send and
//! receive instants and the raw frames; then every response is verified (response signature and author,
//! recipient, decryption, request id, and for `sign_event` the returned event's id, signature, pubkey
//! and content). The generator does no crypto while the clock runs, so it is not the bottleneck.

mod client;
pub mod idle;
pub mod provision;
mod stats;
mod verify;

pub use client::{handshake, Ws};
pub use stats::Report;

use std::net::SocketAddr;
use std::time::Duration;

/// A NIP-46 method the generator can send, with its weight in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `sign_event` of a kind-1 note (the default).
    SignEvent,
    /// `nip44_encrypt` of a short text to a fixed third party.
    Nip44Encrypt,
    /// `ping`.
    Ping,
    /// `get_public_key`.
    GetPublicKey,
}

impl Method {
    /// The NIP-46 method name.
    pub fn name(self) -> &'static str {
        match self {
            Method::SignEvent => "sign_event",
            Method::Nip44Encrypt => "nip44_encrypt",
            Method::Ping => "ping",
            Method::GetPublicKey => "get_public_key",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [
            Method::SignEvent,
            Method::Nip44Encrypt,
            Method::Ping,
            Method::GetPublicKey,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// A weighted method mix, e.g. `sign_event:8,ping:2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix(Vec<(Method, u32)>);

impl Default for Mix {
    fn default() -> Self {
        Mix(vec![(Method::SignEvent, 1)])
    }
}

impl Mix {
    /// Parses `method[:weight],…`.
    ///
    /// # Errors
    ///
    /// A message naming the unknown method or bad weight.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut mix = Vec::new();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (name, weight) = part.split_once(':').unwrap_or((part, "1"));
            let method = Method::from_name(name).ok_or(format!("unknown method {name:?}"))?;
            let weight: u32 = weight
                .parse()
                .map_err(|_| format!("bad weight in {part:?}"))?;
            mix.push((method, weight));
        }
        if mix.iter().map(|(_, w)| w).sum::<u32>() == 0 {
            return Err("the mix is empty".into());
        }
        Ok(Mix(mix))
    }

    /// The method of request number `n` (deterministic, spread by weight).
    pub fn pick(&self, n: usize) -> Method {
        let total: u32 = self.0.iter().map(|(_, w)| w).sum();
        let mut slot = (n as u64 % u64::from(total)) as u32;
        for (method, weight) in &self.0 {
            if slot < *weight {
                return *method;
            }
            slot -= weight;
        }
        self.0[0].0
    }
}

/// A run's settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// The relay to connect to (overrides the URIs' `relay`).
    pub relay: SocketAddr,
    /// Bunker URIs, one per client connection (single-use secrets).
    pub uris: Vec<String>,
    /// Client connections; at most `uris.len()`.
    pub clients: usize,
    /// Requests in the timed phase, over all clients (the count bound).
    pub requests: usize,
    /// Longest timed phase (the time bound); sending stops then.
    pub duration: Duration,
    /// Open loop at this total rate (requests/s); `None` = closed loop.
    pub rate: Option<f64>,
    /// Method mix.
    pub mix: Mix,
    /// How long a response may take before it counts as a timeout.
    pub timeout: Duration,
    /// Put `pubkey` in `sign_event` templates (rust-nostr's signer drops templates without it).
    pub template_pubkey: bool,
    /// Write every verified reply as a `sent_ms,latency_ms,sent_unix_ms` CSV line here
    /// (milliseconds since the first send, the latency, and the send instant as Unix milliseconds
    /// to line runs of several generators up), to see *when* slow replies happened.
    pub latency_csv: Option<std::path::PathBuf>,
    /// Local address to connect from (any port); `None`: the system's choice.
    pub source: Option<std::net::IpAddr>,
    /// Open loop only: send during `on`, pause for `off`, and repeat, from the start of the timed
    /// phase (the rate holds within each `on` window; the time bound counts the pauses). `None`:
    /// send all the time.
    pub duty: Option<Duty>,
}

/// An on/off sending pattern for an open loop ([`Options::duty`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duty {
    /// Sending time per cycle; more than zero.
    pub on: Duration,
    /// Pause per cycle.
    pub off: Duration,
}

impl Duty {
    /// Parses `ON,OFF` in whole seconds (`10,10`).
    ///
    /// # Errors
    ///
    /// Text naming the problem: not two comma-separated integers, or `ON` zero.
    pub fn parse(text: &str) -> Result<Duty, String> {
        let bad = || format!("duty {text:?}: expected ON,OFF in whole seconds, ON > 0");
        let (on, off) = text.split_once(',').ok_or_else(bad)?;
        let on: u64 = on.trim().parse().map_err(|_| bad())?;
        let off: u64 = off.trim().parse().map_err(|_| bad())?;
        if on == 0 {
            return Err(bad());
        }
        Ok(Duty {
            on: Duration::from_secs(on),
            off: Duration::from_secs(off),
        })
    }

    /// Wall time since the start at which `sending` of sending time has elapsed: the pauses of
    /// the cycles completed before it are added.
    ///
    /// # Panics
    ///
    /// If `on` is zero ([`Duty::parse`] refuses it) or `on + off` overflows a `Duration`.
    #[must_use]
    pub fn wall(self, sending: Duration) -> Duration {
        let on = self.on.as_nanos();
        let cycles = sending.as_nanos() / on;
        let within = sending.as_nanos() % on;
        let cycle = (self.on + self.off).as_nanos();
        Duration::from_nanos(u64::try_from(cycles * cycle + within).unwrap_or(u64::MAX))
    }
}

/// Runs the load and returns the verified report.
///
/// # Errors
///
/// Set-up failures (connection refused, a `connect` that is not acknowledged, a bad URI) as text; the
/// timed phase itself never fails, it counts.
pub async fn run(options: Options) -> Result<Report, String> {
    if options.clients == 0 || options.clients > options.uris.len() {
        return Err(format!(
            "need 1..={} clients (one bunker URI each), got {}",
            options.uris.len(),
            options.clients
        ));
    }
    let clients = client::set_up_all(&options).await?;
    let plans = client::build_all(clients, &options);
    let started = std::time::Instant::now();
    let (start, results) = client::timed_phase(plans, &options).await;
    let elapsed = started.elapsed();
    let outcomes = tokio::task::spawn_blocking(move || verify::all(results))
        .await
        .map_err(|e| e.to_string())?;
    if let Some(path) = &options.latency_csv {
        write_latency_csv(path, &outcomes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(Report::new(&options, elapsed, unix_ms(start), outcomes))
}

/// `at` as Unix time in milliseconds, through the system clock now (as exact as two clock reads).
fn unix_ms(at: std::time::Instant) -> f64 {
    let now_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1e3;
    let now = std::time::Instant::now();
    match now.checked_duration_since(at) {
        Some(ago) => now_unix - ago.as_secs_f64() * 1e3,
        None => now_unix + at.duration_since(now).as_secs_f64() * 1e3,
    }
}

fn write_latency_csv(path: &std::path::Path, out: &verify::Outcomes) -> std::io::Result<()> {
    use std::fmt::Write as _;
    const HEADER: &str = "sent_ms,latency_ms,sent_unix_ms\n";
    let Some(first) = out.sent_at.iter().min() else {
        return std::fs::write(path, HEADER);
    };
    let first_unix = unix_ms(*first);
    let mut rows: Vec<(f64, f64)> = out
        .sent_at
        .iter()
        .zip(&out.latencies)
        .map(|(at, lat)| {
            let since = at.duration_since(*first).as_secs_f64() * 1e3;
            (since, lat.as_secs_f64() * 1e3)
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut text = String::from(HEADER);
    for (since, lat) in rows {
        let _ = writeln!(text, "{since:.3},{lat:.3},{:.3}", first_unix + since);
    }
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::{Method, Mix};

    #[test]
    fn duty_parses_and_adds_the_pauses() {
        use super::Duty;
        use std::time::Duration;
        let duty = Duty::parse("10,5").unwrap();
        let s = Duration::from_secs;
        assert_eq!((duty.on, duty.off), (s(10), s(5)));
        assert_eq!(duty.wall(s(0)), s(0));
        assert_eq!(
            duty.wall(Duration::from_millis(9_999)),
            Duration::from_millis(9_999)
        );
        assert_eq!(duty.wall(s(10)), s(15), "the first pause is skipped");
        assert_eq!(duty.wall(s(25)), s(35));
        for bad in ["10", "0,5", "a,5", "10,-1", ""] {
            assert!(Duty::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mix_parses_and_spreads_by_weight() {
        let mix = Mix::parse("sign_event:3,ping:1").unwrap();
        let picks: Vec<Method> = (0..4).map(|n| mix.pick(n)).collect();
        assert_eq!(picks.iter().filter(|m| **m == Method::SignEvent).count(), 3);
        assert_eq!(picks.iter().filter(|m| **m == Method::Ping).count(), 1);
        assert!(Mix::parse("frob").is_err());
        assert!(Mix::parse("ping:0").is_err());
        assert_eq!(Mix::default().pick(7), Method::SignEvent);
    }
}
