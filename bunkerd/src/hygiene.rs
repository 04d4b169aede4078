//! Process hygiene for a process that holds secret keys: no core dumps, no ptrace attach.
//!
//! [`harden`] runs first thing in `bunkerd serve`, before the master key is read:
//!
//! - `RLIMIT_CORE` soft and hard limits set to 0 (`setrlimit(2)`): a crash writes no core file that
//!   would hold unsealed keys and the master key. The hard limit too, so nothing in the process can
//!   raise it again.
//! - `PR_SET_DUMPABLE` 0 (`prctl(2)`): no core dump whatever the limit or `core_pattern` (a pipe
//!   to a crash collector ignores `RLIMIT_CORE`), and processes of the same user cannot attach with
//!   `ptrace` or read `/proc/<pid>/mem`; `/proc/<pid>` files become root-owned.
//!
//! Both are per process and inherited by every thread started later. Errors are returned, not
//! ignored: `serve` refuses to start when it cannot harden itself (exit 71, `EX_OSERR`).
//!
//! [`log_filter`] keeps libraries from logging credentials whatever level the operator asks for.

use rustix::process::{set_dumpable_behavior, setrlimit, DumpableBehavior, Resource, Rlimit};

/// Disables core dumps and ptrace attach for this process (see the module docs).
///
/// # Errors
///
/// The `setrlimit(RLIMIT_CORE)` or `prctl(PR_SET_DUMPABLE)` error, as an [`std::io::Error`].
pub fn harden() -> std::io::Result<()> {
    let none = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    setrlimit(Resource::Core, none)?;
    set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// The log filter for `log` (an `EnvFilter` directive list, already validated). When it asks
/// for `trace` anywhere, the NATS client is held at `debug`: at `trace` it logs its CONNECT
/// message with Debug, the cluster bus's user and password or token included.
///
/// # Panics
///
/// If `log` does not parse (`Config` validates it first).
pub fn log_filter(log: &str) -> tracing_subscriber::EnvFilter {
    let filter = tracing_subscriber::EnvFilter::try_new(log).expect("the log filter was validated");
    if filter.max_level_hint() != Some(tracing_subscriber::filter::LevelFilter::TRACE) {
        return filter;
    }
    filter.add_directive("async_nats=debug".parse().expect("a valid directive"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_nats_client_never_logs_at_trace_whatever_is_asked() {
        for asked in ["trace", "async_nats=trace", "info,async_nats=trace"] {
            let filter = super::log_filter(asked).to_string();
            assert!(filter.contains("async_nats=debug"), "{asked}: {filter}");
            assert!(!filter.contains("async_nats=trace"), "{asked}: {filter}");
        }
        // Below trace, the operator's filter is left as asked.
        assert_eq!(super::log_filter("warn").to_string(), "warn");
    }
}
