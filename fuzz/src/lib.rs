//! What the fuzz targets share: an allocator that bounds and measures memory, and small helpers.
//!
//! libFuzzer's own `-malloc_limit_mb` needs a sanitizer's allocator hooks, which a build with
//! `--sanitizer none` (the stable toolchain) does not have, so the bound is enforced here: every
//! target links this crate, whose global allocator aborts the process (a libFuzzer crash, with the
//! input saved) on any single allocation above [`MAX_ALLOCATION`], and counts live bytes so a
//! target can assert how much one input made it hold at once ([`peak_during`]).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Largest single allocation any target may make: far above every input cap of the code under test
/// (the largest is 256 KiB of NIP-44 or NIP-04 payload), far below the RSS limit the runs set.
pub const MAX_ALLOCATION: usize = 64 << 20;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live bytes and refusing oversized requests.
struct Bounded;

fn over_limit() -> ! {
    // No formatting: this must not allocate.
    use std::io::Write;
    let _ = std::io::stderr().write_all(b"fuzz: one allocation over MAX_ALLOCATION\n");
    std::process::abort();
}

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counters
// are side bookkeeping and never affect the pointers returned.
unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            over_limit();
        }
        // SAFETY: forwarded as received.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            over_limit();
        }
        // SAFETY: forwarded as received.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOCATION {
            over_limit();
        }
        // SAFETY: forwarded as received.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Bounded = Bounded;

/// Runs `f` and returns its result with the most bytes that were live at once during the call,
/// beyond those live when it started. Meaningful on one thread (libFuzzer runs inputs on one).
pub fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let out = f();
    let peak = PEAK.load(Relaxed).saturating_sub(base);
    (out, peak)
}

/// Runs `decrypt` (of `payload`) and checks that it held at most 3 bytes per payload character
/// plus 4 KiB at once: the decoded payload, the plaintext and fixed-size buffers, nothing more.
pub fn decrypt_bounded<R>(payload: &str, decrypt: impl FnOnce() -> R) -> R {
    let (out, peak) = peak_during(decrypt);
    assert!(
        peak <= 3 * payload.len() + 4096,
        "{peak} bytes live for a {}-char payload",
        payload.len()
    );
    out
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// A JSON string literal for `s` (serde_json's escaping).
pub fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// Whether `text` is a JSON array whose elements are exactly `expected`.
pub fn is_json_array_of(text: &str, expected: &[serde_json::Value]) -> bool {
    serde_json::from_str::<Vec<serde_json::Value>>(text).is_ok_and(|v| v == expected)
}
