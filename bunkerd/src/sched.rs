//! Thread scheduling policy: the I/O threads under SCHED_BATCH, the signer threads under SCHED_OTHER.
//!
//! Why: on a loaded core a signer thread runs ≈ 70 µs per request while every arriving frame wakes the
//! reactor. Under SCHED_OTHER each such wake-up preempts the signer — about 1.5 context switches per
//! request were measured, ≈ 15 % of the CPU on one core. A SCHED_BATCH thread does not preempt anyone
//! when it wakes (sched(7)): the reactor runs when the signer's time slice ends or its queue empties,
//! and then handles every ready socket at once. On an idle core nothing changes, since a waking thread
//! with a free core runs at once. Figures: benches/README.md, docs/perf-notes.md.
//!
//! The other direction: a signer thread woken by the reactor (its queue was empty) was measured not
//! to run at once either — the kernel protects the running reactor's slice (EEVDF's run-to-parity;
//! measured under this policy, not under `normal`), and on a core busy with other connections'
//! traffic (another tenant's refused flood) that left ≈ 4 % of requests waiting more than 0.25 ms in
//! the queue of an idle signer. So under this policy the pool is started with
//! `PoolConfig::yield_on_wake`: at light load (more than 0.5 ms since the previous job), a reactor
//! that wakes an idle signer yields its core to it at once. Under load jobs come closer together and
//! no yield happens, so the reactor keeps reading and the signer gets whole batches (yielding on every
//! wake-up there cost ≈ 20 % more CPU per request). Figures: docs/perf-notes.md.
//!
//! Threads inherit their creator's policy, and the signer threads and RocksDB's threads are created
//! from tokio threads, so the signer pool sets its own threads back to SCHED_OTHER explicitly.
//!
//! The demoted-I/O thread (connections refused for a rate limit, `conn::Placement`) runs under
//! SCHED_IDLE, under either policy: [`demoted_thread_start`].
//!
//! Under this policy RocksDB's flush and compaction threads run under SCHED_IDLE too
//! ([`store_thread_start`], `store::RocksStore::start_background_threads`). A SCHED_BATCH reactor
//! that wakes while one of them runs does not preempt it (not even at nice 19): a memtable flush
//! (10–20 ms from start to finish, every ≈ 20 s under the fairness benchmark's load, mostly audit
//! records) or a compaction (≈ 60 ms of CPU) held up every request arriving meanwhile. Under
//! SCHED_IDLE any waking thread preempts them at once. Figures: docs/perf-notes.md.
//!
//! The I/O policy is only changed for threads whose nice value is 0: the library call also sets nice, and
//! a process started under `nice` keeps its value. Failures are logged, never fatal. Linux only in
//! effect; elsewhere the calls fail harmlessly and are logged at debug level.

use thread_priority::{
    set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy, ThreadPriority,
    ThreadPriorityOsValue, ThreadSchedulePolicy,
};

/// Scheduling policy of the I/O (tokio) threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum IoPolicy {
    /// SCHED_BATCH for I/O threads; signer threads SCHED_OTHER; RocksDB's flush and compaction
    /// threads SCHED_IDLE. The default.
    #[default]
    Batch,
    /// Leave every thread under its inherited policy.
    Normal,
}

/// Puts the calling thread under `policy` (`Batch` → SCHED_BATCH, `Normal` → SCHED_OTHER), nice 0,
/// if its nice value is 0; otherwise leaves it alone.
pub fn set_current_thread(policy: IoPolicy) {
    // Field 19 of /proc/thread-self/stat is the nice value (proc(5)); the command name (field 2) is
    // parenthesized and may contain spaces, so count from the last closing parenthesis.
    let nice = std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            rest.split_whitespace().nth(16)?.parse::<i32>().ok()
        });
    if nice != Some(0) {
        tracing::debug!(?nice, "thread left under its inherited scheduling policy");
        return;
    }
    let linux_policy = match policy {
        IoPolicy::Batch => NormalThreadSchedulePolicy::Batch,
        IoPolicy::Normal => NormalThreadSchedulePolicy::Other,
    };
    let zero = ThreadPriority::Os(ThreadPriorityOsValue::default());
    if let Err(e) = set_thread_priority_and_policy(
        thread_native_id(),
        zero,
        ThreadSchedulePolicy::Normal(linux_policy),
    ) {
        tracing::warn!(error = ?e, ?policy, "cannot set a thread's scheduling policy");
    }
}

/// For the demoted-I/O thread (`conn::Placement`): SCHED_IDLE (sched(7)) — the lowest weight the
/// fair scheduler has (3 against 1,024 for nice 0), and any other thread that wakes on its core
/// preempts it at once (`check_preempt_wakeup_fair`), even a SCHED_BATCH reactor. Unlike the I/O
/// threads it is set whatever the process's nice value. The library call then also tries to set the
/// thread's nice to 0, which a process started under a positive nice may not do (EPERM); the policy
/// is read back, and only a thread left outside SCHED_IDLE is reported (it then serves demoted
/// connections at its inherited priority). Never fatal.
pub fn demoted_thread_start() {
    set_current_thread_idle("the demoted-I/O thread");
}

/// For the helper thread that starts RocksDB's background threads, which inherit its policy
/// (`store::RocksStore::start_background_threads`; under [`IoPolicy::Batch`] only): SCHED_IDLE, as
/// [`demoted_thread_start`] sets it.
pub fn store_thread_start() {
    set_current_thread_idle("RocksDB's background threads");
}

/// Puts the calling thread under SCHED_IDLE; see [`demoted_thread_start`]. `what` names the
/// threads in the warning when it fails.
fn set_current_thread_idle(what: &str) {
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(e) = set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Os(ThreadPriorityOsValue::default()),
        idle,
    ) {
        if thread_priority::unix::thread_schedule_policy().ok() != Some(idle) {
            tracing::warn!(error = ?e, "cannot put {what} under SCHED_IDLE");
        }
    }
}

/// For the signer pool's threads (`PoolConfig::on_worker_start`): SCHED_OTHER.
pub fn signer_thread_start() {
    set_current_thread(IoPolicy::Normal);
}
