//! Whether the watched server's RSS and open file descriptors stayed flat
//! over a soak.
//!
//! The first `warmup` seconds (pools filling, allocator arenas growing to
//! the working set) are not judged. The run after them is cut into
//! quarters; the median RSS and fd count of the first quarter (the level
//! after warm-up) is compared with the median of the last quarter (the
//! level at the end). The median, not one sample nor the highest: bursts
//! of large transfers raise both for a few seconds (in a 64-client run,
//! fds went from about 165 to up to 193 and back within 25 s), and a
//! burst that falls in one window only must not decide; a leak raises the
//! level the samples keep returning to, which the median follows. Flat:
//! the end is at most `rss_margin` and `fd_margin` above the level after
//! warm-up. A slow leak also shows as a steady slope (reported, not judged).

use serde::Serialize;

use super::watch::ResourceSample;

/// What counts as flat.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FlatnessRule {
    pub warmup_seconds: f64,
    pub rss_margin_kib: u64,
    pub fd_margin: u64,
}

/// The judgement, with the figures it rests on.
#[derive(Debug, Clone, Serialize)]
pub struct Flatness {
    #[serde(flatten)]
    pub rule: FlatnessRule,
    /// Length of the windows compared: a quarter of the run after warm-up.
    pub window_seconds: f64,
    /// Medians of the samples in the first and the last window.
    pub rss_after_warmup_kib: u64,
    pub rss_at_end_kib: u64,
    pub rss_flat: bool,
    pub fds_after_warmup: u64,
    pub fds_at_end: u64,
    pub fds_flat: bool,
    /// Least-squares slope of RSS after warm-up (informational).
    pub rss_slope_kib_per_minute: f64,
}

impl Flatness {
    pub fn flat(&self) -> bool {
        self.rss_flat && self.fds_flat
    }
}

/// Judges the samples of a load that ran for `load_seconds`; `None` when a
/// window holds no sample (a run too short for its sampling interval).
pub fn judge(
    samples: &[ResourceSample],
    load_seconds: f64,
    rule: FlatnessRule,
) -> Option<Flatness> {
    let window = (load_seconds - rule.warmup_seconds) / 4.0;
    if window <= 0.0 {
        return None;
    }
    let in_window = |from: f64, to: f64| -> Vec<&ResourceSample> {
        samples
            .iter()
            .filter(|s| s.seconds >= from && s.seconds <= to)
            .collect()
    };
    let after_warmup = in_window(rule.warmup_seconds, rule.warmup_seconds + window);
    let at_end = in_window(load_seconds - window, load_seconds);
    let rss_after_warmup_kib = median(after_warmup.iter().map(|s| s.rss_kib))?;
    let rss_at_end_kib = median(at_end.iter().map(|s| s.rss_kib))?;
    let fds_after_warmup = median(after_warmup.iter().map(|s| s.fds))?;
    let fds_at_end = median(at_end.iter().map(|s| s.fds))?;
    let judged = in_window(rule.warmup_seconds, load_seconds);
    Some(Flatness {
        rule,
        window_seconds: window,
        rss_after_warmup_kib,
        rss_at_end_kib,
        rss_flat: rss_at_end_kib <= rss_after_warmup_kib + rule.rss_margin_kib,
        fds_after_warmup,
        fds_at_end,
        fds_flat: fds_at_end <= fds_after_warmup + rule.fd_margin,
        rss_slope_kib_per_minute: slope_per_minute(&judged),
    })
}

/// The middle value (the lower of the two middle ones for an even count);
/// `None` for no values.
fn median(values: impl Iterator<Item = u64>) -> Option<u64> {
    let mut values: Vec<u64> = values.collect();
    values.sort_unstable();
    values.get(values.len().checked_sub(1)? / 2).copied()
}

/// Least-squares slope of RSS over time, per minute; 0 with fewer than two samples.
fn slope_per_minute(samples: &[&ResourceSample]) -> f64 {
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return 0.0;
    }
    let mean_t = samples.iter().map(|s| s.seconds).sum::<f64>() / n;
    let mean_rss = samples.iter().map(|s| s.rss_kib as f64).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for s in samples {
        covariance += (s.seconds - mean_t) * (s.rss_kib as f64 - mean_rss);
        variance += (s.seconds - mean_t).powi(2);
    }
    if variance == 0.0 {
        0.0
    } else {
        covariance / variance * 60.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: FlatnessRule = FlatnessRule {
        warmup_seconds: 20.0,
        rss_margin_kib: 1000,
        fd_margin: 4,
    };

    /// One sample every 5 s over 100 s of load.
    fn samples(rss: impl Fn(f64) -> u64, fds: impl Fn(f64) -> u64) -> Vec<ResourceSample> {
        (0..=20)
            .map(|i| {
                let seconds = i as f64 * 5.0;
                ResourceSample {
                    seconds,
                    rss_kib: rss(seconds),
                    fds: fds(seconds),
                }
            })
            .collect()
    }

    #[test]
    fn growth_during_warmup_and_noise_within_the_margin_are_flat() {
        let rss = |t: f64| {
            if t < 20.0 {
                5_000
            } else {
                20_000 + (t as u64 % 3) * 300
            }
        };
        let fds = |t: f64| if t < 20.0 { 10 } else { 70 + (t as u64 % 2) };
        let flatness = judge(&samples(rss, fds), 100.0, RULE).unwrap();
        assert_eq!(flatness.window_seconds, 20.0);
        assert!(flatness.flat(), "{flatness:?}");
        assert_eq!(flatness.rss_after_warmup_kib, 20_300);
        assert_eq!(flatness.fds_at_end, 70);
        assert!(flatness.rss_slope_kib_per_minute.abs() < 200.0);
    }

    #[test]
    fn a_steady_leak_is_not_flat() {
        let leak = |t: f64| 20_000 + (t as u64) * 100;
        let flatness = judge(&samples(leak, |_| 70), 100.0, RULE).unwrap();
        assert!(!flatness.rss_flat && flatness.fds_flat, "{flatness:?}");
        assert_eq!(flatness.rss_after_warmup_kib, 23_000);
        assert_eq!(flatness.rss_at_end_kib, 29_000);
        assert!((flatness.rss_slope_kib_per_minute - 6000.0).abs() < 1.0);

        let fd_leak = |t: f64| 70 + t as u64 / 10;
        let flatness = judge(&samples(|_| 20_000, fd_leak), 100.0, RULE).unwrap();
        assert!(flatness.rss_flat && !flatness.fds_flat, "{flatness:?}");
        assert!(!flatness.flat());
    }

    #[test]
    fn a_burst_in_the_last_window_only_is_not_a_leak() {
        let burst = |t: f64| if (90.0..=95.0).contains(&t) { 98 } else { 70 };
        let rss = |t: f64| if t == 95.0 { 90_000 } else { 20_000 };
        let flatness = judge(&samples(rss, burst), 100.0, RULE).unwrap();
        assert!(flatness.flat(), "{flatness:?}");
        assert_eq!((flatness.fds_after_warmup, flatness.fds_at_end), (70, 70));
    }

    #[test]
    fn the_median_is_the_middle_value() {
        assert_eq!(median([5, 1, 3].into_iter()), Some(3));
        assert_eq!(median([4, 1, 3, 2].into_iter()), Some(2));
        assert_eq!(median([7].into_iter()), Some(7));
        assert_eq!(median(std::iter::empty()), None);
    }

    #[test]
    fn samples_after_the_load_are_not_judged() {
        let mut all = samples(|_| 20_000, |_| 70);
        all.push(ResourceSample {
            seconds: 130.0,
            rss_kib: 90_000,
            fds: 500,
        });
        assert!(judge(&all, 100.0, RULE).unwrap().flat());
    }

    #[test]
    fn too_few_samples_cannot_be_judged() {
        assert!(judge(&samples(|_| 1, |_| 1), 20.0, RULE).is_none());
        let sparse = [ResourceSample {
            seconds: 0.0,
            rss_kib: 1,
            fds: 1,
        }];
        assert!(judge(&sparse, 100.0, RULE).is_none());
    }
}
