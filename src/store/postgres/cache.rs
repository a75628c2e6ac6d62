//! [`ConfigCache`]: this instance's copy of the configuration tables (keys,
//! aliases, settings, grants, bucket settings), read on every request.
//!
//! Correctness rests on two rules:
//! - **Trusted only while the change listener is current.** The listener
//!   ([`super::listener`]) marks the cache fresh after each heartbeat query
//!   on its LISTEN connection: every change committed before that query
//!   started has been handled by then. A cache not marked fresh within
//!   [`STALENESS_BOUND`] is bypassed, so no instance acts on a record more
//!   than that bound older than the store, even if notifications stop.
//! - **No stale fill.** Every invalidation bumps a generation; a value read
//!   from PostgreSQL is cached only if no invalidation happened since the
//!   read began, so a read racing a change cannot resurrect the old value.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::super::backend::{Record, Table};

/// How stale a cached record may be, at most: the documented propagation
/// bound of a change made through another instance.
pub const STALENESS_BOUND: Duration = Duration::from_secs(1);

/// Cached records (including "absent") before the cache starts over, so
/// lookups of many nonexistent names cannot grow memory without bound.
const MAX_ENTRIES: usize = 50_000;

#[derive(Default)]
struct Entries {
    generation: u64,
    fresh_since: Option<Instant>,
    records: HashMap<(Table, String), Option<Vec<u8>>>,
    scans: HashMap<Table, Vec<Record>>,
}

#[derive(Default)]
pub struct ConfigCache {
    entries: Mutex<Entries>,
}

/// Proof that a read began while the cache was trusted, at a generation.
#[derive(Debug, Clone, Copy)]
pub struct FillTicket(u64);

impl ConfigCache {
    /// The cached record: `Some(None)` is a cached "absent"; `None` means
    /// not cached or not trusted now.
    pub fn lookup(&self, table: Table, key: &str, now: Instant) -> Option<Option<Vec<u8>>> {
        let entries = self.entries.lock().ok()?;
        if !trusted(&entries, now) {
            return None;
        }
        entries.records.get(&(table, key.to_string())).cloned()
    }

    pub fn lookup_scan(&self, table: Table, now: Instant) -> Option<Vec<Record>> {
        let entries = self.entries.lock().ok()?;
        if !trusted(&entries, now) {
            return None;
        }
        entries.scans.get(&table).cloned()
    }

    /// Call before reading from PostgreSQL; `None` if the result must not be cached.
    pub fn ticket(&self, now: Instant) -> Option<FillTicket> {
        let entries = self.entries.lock().ok()?;
        trusted(&entries, now).then_some(FillTicket(entries.generation))
    }

    pub fn fill(&self, ticket: FillTicket, table: Table, key: &str, value: Option<Vec<u8>>) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.generation != ticket.0 {
            return;
        }
        if entries.records.len() >= MAX_ENTRIES {
            entries.records.clear();
        }
        entries.records.insert((table, key.to_string()), value);
    }

    pub fn fill_scan(&self, ticket: FillTicket, table: Table, records: Vec<Record>) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.generation == ticket.0 {
            entries.scans.insert(table, records);
        }
    }

    /// A record changed: forget it and its table's scan.
    pub fn invalidate(&self, table: Table, key: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.generation += 1;
            entries.records.remove(&(table, key.to_string()));
            entries.scans.remove(&table);
        }
    }

    /// Anything may have changed (listener reconnected, unreadable payload).
    pub fn invalidate_all(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.generation += 1;
            entries.records.clear();
            entries.scans.clear();
        }
    }

    /// Every change committed before `since` has been invalidated.
    pub fn mark_fresh(&self, since: Instant) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.fresh_since = Some(since);
        }
    }

    /// The listener lost its connection: distrust (and drop) everything.
    pub fn mark_stale(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.fresh_since = None;
        }
        self.invalidate_all();
    }
}

fn trusted(entries: &Entries, now: Instant) -> bool {
    entries
        .fresh_since
        .is_some_and(|since| now.saturating_duration_since(since) <= STALENESS_BOUND)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh_cache(now: Instant) -> ConfigCache {
        let cache = ConfigCache::default();
        cache.mark_fresh(now);
        cache
    }

    #[test]
    fn serves_what_was_filled_while_fresh() {
        let now = Instant::now();
        let cache = fresh_cache(now);
        let ticket = cache.ticket(now).unwrap();
        cache.fill(ticket, Table::Keys, "k", Some(b"v".to_vec()));
        cache.fill(ticket, Table::Aliases, "alias/none", None);
        assert_eq!(
            cache.lookup(Table::Keys, "k", now),
            Some(Some(b"v".to_vec()))
        );
        assert_eq!(cache.lookup(Table::Aliases, "alias/none", now), Some(None));
        assert_eq!(cache.lookup(Table::Keys, "other", now), None);
    }

    #[test]
    fn a_read_racing_a_change_is_not_cached() {
        let now = Instant::now();
        let cache = fresh_cache(now);
        let ticket = cache.ticket(now).unwrap();
        // The change lands (and is invalidated) while the read is in flight.
        cache.invalidate(Table::Keys, "k");
        cache.fill(ticket, Table::Keys, "k", Some(b"old".to_vec()));
        assert_eq!(cache.lookup(Table::Keys, "k", now), None);
        cache.fill_scan(ticket, Table::Keys, vec![("k".into(), b"old".to_vec())]);
        assert_eq!(cache.lookup_scan(Table::Keys, now), None);
    }

    #[test]
    fn invalidation_drops_the_record_and_its_tables_scan() {
        let now = Instant::now();
        let cache = fresh_cache(now);
        let ticket = cache.ticket(now).unwrap();
        cache.fill(ticket, Table::Keys, "a", Some(b"1".to_vec()));
        cache.fill(ticket, Table::Keys, "b", Some(b"2".to_vec()));
        cache.fill_scan(ticket, Table::Keys, vec![("a".into(), b"1".to_vec())]);
        cache.fill_scan(ticket, Table::Grants, vec![]);
        cache.invalidate(Table::Keys, "a");
        assert_eq!(cache.lookup(Table::Keys, "a", now), None);
        assert_eq!(
            cache.lookup(Table::Keys, "b", now),
            Some(Some(b"2".to_vec()))
        );
        assert_eq!(cache.lookup_scan(Table::Keys, now), None);
        assert_eq!(cache.lookup_scan(Table::Grants, now), Some(vec![]));
    }

    #[test]
    fn nothing_is_trusted_past_the_bound_or_when_stale() {
        let start = Instant::now();
        let cache = ConfigCache::default();
        assert!(cache.ticket(start).is_none(), "never marked fresh");
        cache.mark_fresh(start);
        let ticket = cache.ticket(start).unwrap();
        cache.fill(ticket, Table::Buckets, "b", Some(b"p".to_vec()));
        let late = start + STALENESS_BOUND + Duration::from_millis(1);
        assert_eq!(cache.lookup(Table::Buckets, "b", late), None);
        assert!(cache.ticket(late).is_none());
        cache.mark_fresh(late);
        assert_eq!(
            cache.lookup(Table::Buckets, "b", late),
            Some(Some(b"p".to_vec())),
            "a heartbeat vouches for entries that no notification invalidated"
        );
        cache.mark_stale();
        assert_eq!(cache.lookup(Table::Buckets, "b", late), None);
        assert!(cache.ticket(late).is_none());
    }

    #[test]
    fn negative_entries_are_bounded() {
        let now = Instant::now();
        let cache = fresh_cache(now);
        for i in 0..(MAX_ENTRIES + 10) {
            let ticket = cache.ticket(now).unwrap();
            cache.fill(ticket, Table::Buckets, &format!("b{i}"), None);
        }
        let entries = cache.entries.lock().unwrap();
        assert!(entries.records.len() <= MAX_ENTRIES);
    }
}
