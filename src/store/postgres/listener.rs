//! The change listener: one thread with its own PostgreSQL connection that
//! `LISTEN`s on `s3seal_changes` and keeps [`ConfigCache`] current.
//!
//! Each change to a configuration record, committed by any instance, arrives
//! as a notification (`<table>\t<hex key>`) and drops that record from the
//! cache, typically within milliseconds. Every [`HEARTBEAT_INTERVAL`] the
//! thread runs a query on the same connection; PostgreSQL delivers pending
//! notifications before its answer, so once it returns, every change that
//! committed before it started has been handled, and the cache is marked
//! fresh as of then. If the connection fails the cache is dropped and
//! bypassed until the thread has reconnected and listens again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;

use super::super::backend::Table;
use super::cache::ConfigCache;

/// The channel the migration's trigger notifies.
pub const CHANNEL: &str = "s3seal_changes";
/// How often the cache is re-vouched for (well inside the staleness bound).
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(200);
/// Wait between reconnection attempts.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// Makes a new connection for the listener.
pub type Connect = Box<dyn Fn() -> Result<postgres::Client, postgres::Error> + Send>;

/// Stops the listener thread when dropped.
pub struct ListenerHandle {
    stop: Arc<AtomicBool>,
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts the listener thread.
pub fn spawn(connect: Connect, cache: Arc<ConfigCache>) -> std::io::Result<ListenerHandle> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = stop.clone();
    std::thread::Builder::new()
        .name("s3seal-store-listener".into())
        .spawn(move || run(&connect, &cache, &stop_flag))?;
    Ok(ListenerHandle { stop })
}

fn run(connect: &Connect, cache: &ConfigCache, stop: &AtomicBool) {
    let mut failures = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let outcome = connect().and_then(|mut client| listen(&mut client, cache, stop));
        cache.mark_stale();
        if let Err(err) = outcome {
            // Log the first failure and then every 20th, not twice a second.
            if failures.is_multiple_of(20) {
                tracing::warn!(error = %err, "store change listener disconnected; cache bypassed until it reconnects");
            }
            failures += 1;
            std::thread::sleep(RECONNECT_DELAY);
        }
    }
}

fn listen(
    client: &mut postgres::Client,
    cache: &ConfigCache,
    stop: &AtomicBool,
) -> Result<(), postgres::Error> {
    client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    // Anything may have changed while nobody listened.
    cache.invalidate_all();
    tracing::info!("store change listener is listening");
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        client.simple_query("SELECT 1")?;
        {
            let mut pending = client.notifications();
            let mut buffered = pending.iter();
            while let Some(notification) = buffered.next()? {
                apply(cache, notification.payload());
            }
        }
        cache.mark_fresh(started);
        let deadline = started + HEARTBEAT_INTERVAL;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match client.notifications().timeout_iter(left).next()? {
                Some(notification) => apply(cache, notification.payload()),
                None => break,
            }
        }
    }
    Ok(())
}

/// Drops the record a notification names (everything if it names none).
fn apply(cache: &ConfigCache, payload: &str) {
    match parse_payload(payload) {
        Some((table, key)) => cache.invalidate(table, &key),
        None => cache.invalidate_all(),
    }
}

/// `<table>\t<hex of key>` → the record it names.
pub fn parse_payload(payload: &str) -> Option<(Table, String)> {
    let (table, hex_key) = payload.split_once('\t')?;
    let key = String::from_utf8(hex::decode(hex_key).ok()?).ok()?;
    Some((Table::from_name(table)?, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_a_record() {
        assert_eq!(
            parse_payload("kms_aliases\t616c6961732f61"),
            Some((Table::Aliases, "alias/a".to_string()))
        );
        assert_eq!(
            parse_payload("kms_keys\t"),
            Some((Table::Keys, String::new()))
        );
        assert_eq!(parse_payload("nope\t61"), None);
        assert_eq!(parse_payload("kms_keys\tzz"), None);
        assert_eq!(parse_payload("kms_keys"), None);
        assert_eq!(parse_payload("kms_keys\tff"), None, "not UTF-8");
    }
}
