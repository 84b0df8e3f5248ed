//! Replay memory for Standard Webhooks ids and RFC 9421 / Upvest nonces: bounded (a fixed
//! maximum of entries), per process (each replica keeps its own). An entry is kept until
//! the signed message it belongs to would be refused as stale anyway; past that it is
//! dropped, oldest first. Only messages whose signature verified are remembered, so no one
//! without a key can fill it; should more verified messages arrive within one window than
//! it holds, the oldest are forgotten early (counted by [`ReplayCache::evicted_early`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Entries one route's memory holds by default.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
pub struct ReplayCache {
    max: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// In insertion order: (kept until, id).
    order: VecDeque<(u64, String)>,
    /// id -> kept until.
    live: HashMap<String, u64>,
    evicted_early: u64,
}

impl Inner {
    fn pop_front(&mut self) -> Option<(u64, String)> {
        let (until, id) = self.order.pop_front()?;
        if self.live.get(&id) == Some(&until) {
            self.live.remove(&id);
        }
        Some((until, id))
    }
}

impl ReplayCache {
    pub fn new(max_entries: usize) -> ReplayCache {
        ReplayCache {
            max: max_entries.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remember `id` until `until` (Unix seconds). `false` when `id` is already remembered
    /// (a replay); nothing changes then.
    pub fn insert(&self, id: &str, now: u64, until: u64) -> bool {
        let mut inner = self.lock();
        while inner.order.front().is_some_and(|(t, _)| *t <= now) {
            inner.pop_front();
        }
        if inner.live.get(id).is_some_and(|t| *t > now) {
            return false;
        }
        while inner.order.len() >= self.max {
            if inner.pop_front().is_some() {
                inner.evicted_early += 1;
            }
        }
        inner.order.push_back((until, id.to_string()));
        inner.live.insert(id.to_string(), until);
        true
    }

    /// Forget `id` (the upstream did not take the message: the sender's retry is welcome).
    pub fn forget(&self, id: &str) {
        self.lock().live.remove(id);
    }

    /// Ids remembered now.
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries dropped before their time because the memory was full.
    pub fn evicted_early(&self) -> u64 {
        self.lock().evicted_early
    }
}

impl Default for ReplayCache {
    fn default() -> Self {
        ReplayCache::new(DEFAULT_MAX_ENTRIES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_insert_within_the_window_is_a_replay() {
        let c = ReplayCache::new(10);
        assert!(c.insert("msg_1", 100, 400));
        assert!(!c.insert("msg_1", 399, 700));
        assert!(c.insert("msg_2", 399, 700));
        // Past its window the first id is gone (and the message would be stale anyway).
        assert!(c.insert("msg_1", 400, 700));
    }

    #[test]
    fn expired_entries_are_dropped_oldest_first() {
        let c = ReplayCache::new(10);
        for i in 0..5 {
            assert!(c.insert(&format!("id{i}"), 100, 200 + i));
        }
        assert_eq!(c.len(), 5);
        assert!(c.insert("late", 203, 600));
        assert_eq!(c.len(), 2, "id0..id3 expired at 200..203");
        assert_eq!(c.evicted_early(), 0);
    }

    #[test]
    fn the_memory_is_bounded() {
        let c = ReplayCache::new(3);
        for i in 0..10 {
            assert!(c.insert(&format!("id{i}"), 100, 1000));
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.evicted_early(), 7);
        assert!(
            !c.insert("id9", 100, 1000),
            "the newest are still remembered"
        );
        assert!(c.insert("id0", 100, 1000), "the oldest were forgotten");
    }

    #[test]
    fn forget_lets_a_retry_through() {
        let c = ReplayCache::new(3);
        assert!(c.insert("n", 1, 100));
        c.forget("n");
        assert!(c.insert("n", 2, 100));
        assert!(!c.insert("n", 3, 100));
        // A forgotten entry still occupies its slot in the order until it ages out, and
        // the bound still holds.
        for i in 0..5 {
            c.insert(&format!("x{i}"), 4, 100);
        }
        assert!(c.len() <= 3);
    }
}
