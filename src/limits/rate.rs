//! Requests per second per principal.

use std::collections::HashMap;
use std::num::NonZeroU32;

use governor::clock::DefaultClock;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::LimitsConfig;

type DirectLimiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;
type KeyedLimiter = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// Token buckets per principal (GCRA, from `governor`): the configured rate
/// refills each, `burst` is its size.
pub struct PrincipalRateLimiter {
    /// Everyone without a rate of their own, each with their own bucket.
    default: Option<Limited<KeyedLimiter>>,
    /// Principals with their own rate (`None`: unlimited).
    own: HashMap<String, Option<Limited<DirectLimiter>>>,
}

/// A limiter and the rate it enforces (for the refusal's message).
struct Limited<L> {
    rate: u32,
    limiter: L,
}

/// A refused request: the principal is over its rate.
#[derive(Debug, thiserror::Error)]
#[error("principal {principal} is over its request rate of {rate} per second")]
pub struct RateLimited {
    pub principal: String,
    pub rate: u32,
}

impl PrincipalRateLimiter {
    pub fn new(config: &LimitsConfig) -> Self {
        let quota = |rate: u32| {
            let per_second = NonZeroU32::new(rate)?;
            let burst = NonZeroU32::new(config.burst).unwrap_or(per_second);
            Some((rate, Quota::per_second(per_second).allow_burst(burst)))
        };
        PrincipalRateLimiter {
            default: quota(config.requests_per_second).map(|(rate, quota)| Limited {
                rate,
                limiter: RateLimiter::keyed(quota),
            }),
            own: config
                .principal_requests_per_second
                .iter()
                .map(|(name, &rate)| {
                    let limited = quota(rate).map(|(rate, quota)| Limited {
                        rate,
                        limiter: RateLimiter::direct(quota),
                    });
                    (name.clone(), limited)
                })
                .collect(),
        }
    }

    /// Takes one request from `principal`'s bucket, or says it is empty.
    pub fn check(&self, principal: &str) -> Result<(), RateLimited> {
        let (allowed, rate) = match self.own.get(principal) {
            Some(None) => return Ok(()),
            Some(Some(own)) => (own.limiter.check().is_ok(), own.rate),
            None => match &self.default {
                None => return Ok(()),
                Some(default) => (
                    default.limiter.check_key(&principal.to_string()).is_ok(),
                    default.rate,
                ),
            },
        };
        if allowed {
            Ok(())
        } else {
            Err(RateLimited {
                principal: principal.to_string(),
                rate,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rate: u32, burst: u32, own: &[(&str, u32)]) -> LimitsConfig {
        LimitsConfig {
            requests_per_second: rate,
            burst,
            principal_requests_per_second: own.iter().map(|(n, r)| (n.to_string(), *r)).collect(),
            ..LimitsConfig::default()
        }
    }

    fn allowed_at_once(limiter: &PrincipalRateLimiter, who: &str) -> usize {
        (0..1000).take_while(|_| limiter.check(who).is_ok()).count()
    }

    #[test]
    fn each_principal_has_its_own_bucket() {
        let config = config(5, 3, &[("ops", 0), ("batch", 10)]);
        let limiter = PrincipalRateLimiter::new(&config);
        assert_eq!(allowed_at_once(&limiter, "app"), 3);
        assert_eq!(allowed_at_once(&limiter, "other"), 3);
        // Own rates replace the default (burst applies to them too).
        assert_eq!(allowed_at_once(&limiter, "ops"), 1000);
        assert_eq!(allowed_at_once(&limiter, "batch"), 3);
        let refused = limiter.check("app").unwrap_err();
        assert_eq!(refused.rate, 5);
    }

    #[test]
    fn no_rate_means_no_limit() {
        let config = config(0, 0, &[]);
        let limiter = PrincipalRateLimiter::new(&config);
        assert_eq!(allowed_at_once(&limiter, "app"), 1000);
    }

    #[test]
    fn burst_defaults_to_the_rate() {
        let config = config(7, 0, &[]);
        let limiter = PrincipalRateLimiter::new(&config);
        assert_eq!(allowed_at_once(&limiter, "app"), 7);
    }
}
