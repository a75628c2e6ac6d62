//! The `[limits]` section of the configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Client connections served at once (per listener set; the admin
    /// listener is not counted). Past this, new connections get
    /// `503 SlowDown` and are closed.
    pub max_connections: usize,
    /// A client must send a complete request head within this time, on a
    /// new connection and between requests of a kept-alive one.
    pub header_read_timeout_seconds: u64,
    /// A request body that delivers no bytes for this long fails
    /// (`RequestTimeout`); what was received is not stored.
    pub body_idle_timeout_seconds: u64,
    /// Bytes of all header names and values of one request (S3 allows 8 KiB
    /// for a PUT; presigned and SigV4 requests stay far below this).
    pub max_header_bytes: usize,
    /// Header fields in one request.
    pub max_header_count: usize,
    /// Requests per second each principal may make (its sustained rate);
    /// 0 means no limit.
    pub requests_per_second: u32,
    /// Requests a principal may make at once above its rate (the bucket
    /// size); 0 means the same as the rate.
    pub burst: u32,
    /// Per-principal rates (by principal name) that replace
    /// `requests_per_second` for those principals; 0 is no limit.
    pub principal_requests_per_second: BTreeMap<String, u32>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_connections: 4096,
            header_read_timeout_seconds: 30,
            body_idle_timeout_seconds: 60,
            max_header_bytes: 16 * 1024,
            max_header_count: 100,
            requests_per_second: 0,
            burst: 0,
            principal_requests_per_second: BTreeMap::new(),
        }
    }
}

impl LimitsConfig {
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_seconds)
    }

    pub fn body_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.body_idle_timeout_seconds)
    }

    /// What is wrong with these settings, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.max_connections == 0 {
            return Some("limits.max_connections must be at least 1".into());
        }
        if self.header_read_timeout_seconds == 0 || self.body_idle_timeout_seconds == 0 {
            return Some(
                "limits.header_read_timeout_seconds and limits.body_idle_timeout_seconds must be at least 1"
                    .into(),
            );
        }
        if self.max_header_bytes < 1024 || self.max_header_count < 16 {
            return Some(
                "limits.max_header_bytes must be at least 1024 and limits.max_header_count at least 16 (SigV4 requests need them)"
                    .into(),
            );
        }
        None
    }
}
