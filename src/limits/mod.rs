//! Limits against abuse: what one client, or all of them together, may cost
//! s3seal before it refuses. Owns the `[limits]` configuration and each
//! limit's enforcement:
//!
//! - [`ConnectionGate`]: at most `max_connections` client connections; past
//!   that, requests are answered `503 SlowDown` and the connection closed
//!   (load shedding, not silent queueing);
//! - [`check_request_head`]: header section size and header count
//!   (`400 RequestHeaderSectionTooLarge`);
//! - [`PrincipalRateLimiter`]: requests per second per authenticated principal
//!   (`503 SlowDown` for S3, `ThrottlingException` for the KMS API);
//! - the timeouts the server applies (`header_read_timeout_seconds`,
//!   `body_idle_timeout_seconds`), read from [`LimitsConfig`].
//!
//! Request bodies s3seal reads whole (XML and JSON documents) have their own
//! byte limits beside the code that reads them; docs/reliability.md lists
//! every limit with its default.

mod config;
mod connections;
mod head;
mod rate;

pub use config::LimitsConfig;
pub use connections::{ConnectionGate, ConnectionPermit};
pub use head::check_request_head;
pub use rate::{PrincipalRateLimiter, RateLimited};
