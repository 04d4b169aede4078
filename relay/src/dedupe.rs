//! Recently seen event ids, so a request delivered twice is processed once (docs/protocol-notes.md §11.13).
//!
//! Two generations of id sets per shard: ids live at least `window` and at most `2 × window`. When a
//! shard's current generation reaches its capacity it rotates early, so memory stays bounded under any
//! load; the effective window then shrinks, which only lets a very old duplicate through (a repeated
//! NIP-46 request gets a second reply — harmless). Sixteen shards keep contention low.

use std::collections::HashSet;
use std::sync::Mutex;

const SHARDS: usize = 16;

/// A bounded, time-windowed set of event ids.
#[derive(Debug)]
pub struct Dedupe {
    shards: Vec<Mutex<Generations>>,
    window_secs: u64,
    capacity_per_shard: usize,
}

#[derive(Debug, Default)]
struct Generations {
    current: HashSet<[u8; 32]>,
    previous: HashSet<[u8; 32]>,
    started: u64,
}

impl Dedupe {
    /// `window_secs`: how long an id is remembered at least; `capacity`: ids held at most per
    /// generation, across shards.
    pub fn new(window_secs: u64, capacity: usize) -> Self {
        Dedupe {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Generations::default()))
                .collect(),
            window_secs: window_secs.max(1),
            capacity_per_shard: (capacity / SHARDS).max(1),
        }
    }

    fn shard(&self, id: &[u8; 32]) -> std::sync::MutexGuard<'_, Generations> {
        self.shards[id[0] as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `id` was inserted within the window.
    pub fn contains(&self, id: &[u8; 32]) -> bool {
        let g = self.shard(id);
        g.current.contains(id) || g.previous.contains(id)
    }

    /// Remembers `id`; `now` is unix seconds. Returns `false` when it was already present.
    pub fn insert(&self, id: [u8; 32], now: u64) -> bool {
        let mut g = self.shard(&id);
        if g.previous.contains(&id) {
            return false;
        }
        if now.saturating_sub(g.started) >= self.window_secs
            || g.current.len() >= self.capacity_per_shard
        {
            g.previous = std::mem::take(&mut g.current);
            g.started = now;
        }
        g.current.insert(id)
    }
}

#[cfg(test)]
mod tests {
    use super::Dedupe;

    /// Ids in the same shard (same first byte), differing elsewhere.
    fn id(n: u8) -> [u8; 32] {
        let mut id = [3u8; 32];
        id[31] = n;
        id
    }

    #[test]
    fn remembers_within_window_and_forgets_after_two_windows() {
        let d = Dedupe::new(60, 1000);
        assert!(d.insert(id(1), 1000));
        assert!(d.contains(&id(1)));
        assert!(!d.insert(id(1), 1001), "second insert reports a duplicate");
        d.insert(id(2), 1061); // rotation: id(1) moves to the previous generation
        assert!(d.contains(&id(1)));
        d.insert(id(3), 1122); // second rotation: id(1) is forgotten
        assert!(!d.contains(&id(1)));
        assert!(d.contains(&id(2)) && d.contains(&id(3)));
    }

    #[test]
    fn capacity_bounds_memory() {
        let d = Dedupe::new(3600, 16 * 4);
        for i in 0..100u8 {
            let mut id = [0u8; 32];
            id[1] = i;
            d.insert(id, 0);
        }
        let g = d.shards[0].lock().unwrap();
        assert!(g.current.len() <= 4 && g.previous.len() <= 4);
    }
}
