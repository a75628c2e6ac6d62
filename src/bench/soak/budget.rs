//! The write budget: how many bytes a soak may PUT in all, paced evenly
//! over its duration. Garage keeps the blocks of deleted and overwritten
//! objects for ten minutes, so everything a ten-minute soak writes is still
//! on disk at its end; the budget keeps that below the free space. A PUT
//! the budget cannot grant yet is not waited for: the client does
//! something else (a read), so the concurrency stays what was asked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug)]
pub struct WriteBudget {
    /// `None`: no limit.
    total: Option<u64>,
    duration: Duration,
    /// What may be written ahead of the even pace (one object of the
    /// largest size, so that it can ever start).
    ahead: u64,
    granted: AtomicU64,
}

impl WriteBudget {
    pub fn unlimited() -> Self {
        WriteBudget {
            total: None,
            duration: Duration::ZERO,
            ahead: 0,
            granted: AtomicU64::new(0),
        }
    }

    /// At most `total` bytes over `duration`, `ahead` of the pace at most.
    pub fn new(total: u64, duration: Duration, ahead: u64) -> Self {
        WriteBudget {
            total: Some(total),
            duration,
            ahead,
            granted: AtomicU64::new(0),
        }
    }

    /// Grants `bytes` if the budget allows them `elapsed` into the run.
    pub fn try_grant(&self, bytes: u64, elapsed: Duration) -> bool {
        let Some(total) = self.total else {
            return true;
        };
        let progress = if self.duration.is_zero() {
            1.0
        } else {
            (elapsed.as_secs_f64() / self.duration.as_secs_f64()).min(1.0)
        };
        let paced = (total as f64 * progress) as u64;
        let allowed = paced.saturating_add(self.ahead).min(total);
        self.granted
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |granted| {
                let after = granted.checked_add(bytes)?;
                (after <= allowed).then_some(after)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn writes_are_paced_and_never_exceed_the_total() {
        let budget = WriteBudget::new(1000, 10 * SECOND, 150);
        // At the start, only what may run ahead.
        assert!(budget.try_grant(150, Duration::ZERO));
        assert!(!budget.try_grant(1, Duration::ZERO));
        // Halfway: 500 paced + 150 ahead.
        assert!(budget.try_grant(500, 5 * SECOND));
        assert!(!budget.try_grant(1, 5 * SECOND));
        // At the end (and after), the total and not a byte more.
        assert!(budget.try_grant(350, 10 * SECOND));
        assert!(!budget.try_grant(1, 20 * SECOND));
        assert_eq!(budget.granted.load(Ordering::Relaxed), 1000);
    }

    #[test]
    fn an_unlimited_budget_grants_everything() {
        let budget = WriteBudget::unlimited();
        assert!(budget.try_grant(u64::MAX, Duration::ZERO));
        assert!(budget.try_grant(u64::MAX, Duration::ZERO));
    }

    #[test]
    fn empty_objects_are_always_granted() {
        let budget = WriteBudget::new(0, SECOND, 0);
        assert!(budget.try_grant(0, Duration::ZERO));
        assert!(!budget.try_grant(1, SECOND));
    }
}
