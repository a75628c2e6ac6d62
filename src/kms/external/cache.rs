//! [`TtlCache`]: a bounded map whose entries expire a fixed time after they
//! were inserted.
//!
//! Holds bucket keys in plaintext, so it is deliberately small and strict:
//! an entry lives `ttl` from the KMS call that produced it (a hit does not
//! extend it, so a key the KMS stopped vouching for is dropped on time), at
//! most `capacity` entries are kept (the one closest to expiry is evicted to
//! make room), and a removed value is dropped at once, which zeroizes the
//! key material it owns ([`crate::kms::DataKey`]) once no request still
//! holds it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the cache reads the time; tests move it by hand.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The monotonic clock of the process.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

struct Entry<V> {
    value: V,
    expires_at: Instant,
}

pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
    ttl: Duration,
    capacity: usize,
    clock: Arc<dyn Clock>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// A cache of at most `capacity` entries (at least one), each living `ttl`.
    pub fn new(ttl: Duration, capacity: usize, clock: Arc<dyn Clock>) -> Self {
        TtlCache {
            entries: Mutex::new(HashMap::new()),
            ttl,
            capacity: capacity.max(1),
            clock,
        }
    }

    /// The live value under `key`; an expired one is removed and not returned.
    pub fn get(&self, key: &K) -> Option<V> {
        let now = self.clock.now();
        let mut entries = self.lock();
        match entries.get(key) {
            Some(entry) if entry.expires_at > now => Some(entry.value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value` under `key` for `ttl` from now, replacing any entry
    /// there; expired entries go first, then, if the cache is still full,
    /// the entry that would expire first.
    pub fn insert(&self, key: K, value: V) {
        let now = self.clock.now();
        let mut entries = self.lock();
        entries.retain(|_, entry| entry.expires_at > now);
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, entry)| entry.expires_at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            key,
            Entry {
                value,
                expires_at: now + self.ttl,
            },
        );
    }

    /// Live and expired entries not yet removed.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry<V>>> {
        // A panic while holding the lock leaves a consistent map (every
        // mutation is a single call), so a poisoned lock is still usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A clock that moves only when told to.
    pub struct ManualClock(Mutex<Instant>);

    impl ManualClock {
        pub fn new() -> Arc<Self> {
            Arc::new(ManualClock(Mutex::new(Instant::now())))
        }

        pub fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            *self.0.lock().unwrap()
        }
    }

    fn cache(ttl_secs: u64, capacity: usize) -> (TtlCache<&'static str, u32>, Arc<ManualClock>) {
        let clock = ManualClock::new();
        (
            TtlCache::new(Duration::from_secs(ttl_secs), capacity, clock.clone()),
            clock,
        )
    }

    #[test]
    fn entries_expire_ttl_after_insertion_even_when_used() {
        let (cache, clock) = cache(10, 4);
        cache.insert("a", 1);
        clock.advance(Duration::from_secs(9));
        assert_eq!(cache.get(&"a"), Some(1));
        clock.advance(Duration::from_secs(1));
        assert_eq!(cache.get(&"a"), None);
        assert!(cache.is_empty(), "an expired entry is removed when seen");
    }

    #[test]
    fn reinserting_restarts_the_ttl() {
        let (cache, clock) = cache(10, 4);
        cache.insert("a", 1);
        clock.advance(Duration::from_secs(8));
        cache.insert("a", 2);
        clock.advance(Duration::from_secs(8));
        assert_eq!(cache.get(&"a"), Some(2));
    }

    #[test]
    fn a_full_cache_evicts_the_entry_closest_to_expiry() {
        let (cache, clock) = cache(100, 2);
        cache.insert("a", 1);
        clock.advance(Duration::from_secs(1));
        cache.insert("b", 2);
        clock.advance(Duration::from_secs(1));
        cache.insert("c", 3);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&"a"), None);
        assert_eq!((cache.get(&"b"), cache.get(&"c")), (Some(2), Some(3)));
        // Replacing an entry of a full cache evicts nothing else.
        cache.insert("c", 4);
        assert_eq!((cache.get(&"b"), cache.get(&"c")), (Some(2), Some(4)));
    }

    #[test]
    fn expired_entries_make_room_before_live_ones_are_evicted() {
        let (cache, clock) = cache(10, 2);
        cache.insert("old", 1);
        clock.advance(Duration::from_secs(5));
        cache.insert("live", 2);
        clock.advance(Duration::from_secs(6));
        cache.insert("new", 3);
        assert_eq!(cache.len(), 2);
        assert_eq!((cache.get(&"live"), cache.get(&"new")), (Some(2), Some(3)));
    }

    #[test]
    fn evicted_values_are_dropped() {
        let clock = ManualClock::new();
        let cache = TtlCache::new(Duration::from_secs(10), 1, clock.clone());
        let first = Arc::new(1u8);
        cache.insert("a", first.clone());
        cache.insert("b", Arc::new(2u8));
        assert_eq!(Arc::strong_count(&first), 1, "the cache let go of it");
        let second = Arc::downgrade(&cache.get(&"b").unwrap());
        clock.advance(Duration::from_secs(10));
        assert!(cache.get(&"b").is_none());
        assert!(second.upgrade().is_none(), "an expired value is dropped");
    }
}
