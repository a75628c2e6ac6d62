//! The audit trail: a tamper-evident, CloudTrail-style record of every key
//! use and every security decision.
//!
//! - [`event`]: what one event holds (who, what, which key or object, outcome);
//! - [`writer`]: the durable, hash-chained, periodically signed log files;
//! - [`chain`]: the hash chain and what digests sign;
//! - [`signer`]: the dedicated signing key, and verifying from its public key;
//! - [`verify`]: `s3seal audit verify`, naming the first tampered record;
//! - [`query`]: `s3seal audit query`, filtering by key, principal, bucket,
//!   event name and time.
//!
//! What is recorded, and where: KMS API calls ([`crate::kms::api`]); data keys
//! generated and unwrapped for S3 requests ([`crate::s3::key_use`]); denied S3
//! requests and bucket policy or encryption changes ([`crate::server`]);
//! scheduled rotations and key destructions ([`crate::server`]).

pub mod chain;
pub mod cli;
pub mod event;
pub mod files;
pub mod query;
pub mod signer;
pub mod verify;
pub mod writer;

pub use event::{AuditEvent, RequestOrigin, UserIdentity};
pub use writer::AuditLog;

/// The `eventType` of digest records.
pub const DIGEST_EVENT_TYPE: &str = "S3sealAuditDigest";

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log cannot be written: {0}")]
    Io(String),
    #[error("the audit log is closed")]
    Closed,
    #[error("the audit signing key cannot be used: {0}")]
    SigningKey(String),
    #[error("the audit log is damaged: {0}")]
    Corrupt(String),
}
