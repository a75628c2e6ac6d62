//! The sealed-object format: how an object body is encrypted on the upstream.
//!
//! A sealed body is one or more *streams* (one for a simple PUT, later one per
//! multipart part). Each stream is a [`StreamHeader`] followed by AES-256-GCM
//! segments of a fixed plaintext size, each carrying its own tag. A per-stream
//! key is derived with HKDF from the object's data key and the header, and the
//! segment index and a "final" flag form the nonce, so reordering, truncation
//! and splicing between objects or streams are all detected.
//! See `docs/format.md` for the byte layout and the threat model.
//!
//! - [`layout`]: size maths of one stream (plaintext ↔ sealed lengths, segments);
//! - [`object_layout`]: the streams of a whole object, and range read plans;
//! - [`header`]: the stream header codec;
//! - [`checksum_record`]: the plaintext checksum sealed after a stream's last segment;
//! - [`segment`]: sealing and opening of single segments;
//! - [`sealing_body`] / [`unsealing_body`]: streaming adapters over HTTP bodies;
//! - [`metadata`]: what s3seal stores in the object's upstream metadata.

pub mod checksum_record;
pub mod header;
pub mod layout;
pub mod metadata;
pub mod object_layout;
pub mod sealing_body;
pub mod segment;
pub mod unsealing_body;

pub use checksum_record::ChecksumRecord;
pub use header::StreamHeader;
pub use layout::StreamLayout;
pub use metadata::{SealedObjectMetadata, SealedShape};
pub use object_layout::{ReadPlan, SealedLayout};
pub use sealing_body::{SealedChecksum, SealingBody, StreamChecksum};
pub use unsealing_body::UnsealingBody;

/// Why a sealed stream could not be produced or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("stream header is malformed: {0}")]
    MalformedHeader(&'static str),
    #[error("unsupported sealed format version {0}")]
    UnsupportedVersion(u8),
    #[error("segment {0} failed authentication (tampered, reordered or from another object)")]
    SegmentAuthentication(u64),
    #[error("the stream's checksum record failed authentication")]
    RecordAuthentication,
    #[error("sealed stream is truncated: expected {expected} bytes, got {actual}")]
    Truncated { expected: u64, actual: u64 },
    #[error("sealed stream has {0} unexpected trailing bytes")]
    TrailingData(u64),
    #[error("stream header does not match the object's metadata: {0}")]
    HeaderMismatch(&'static str),
    #[error("object metadata is malformed: {0}")]
    MalformedMetadata(String),
    #[error("plaintext length {0} is larger than a sealed stream can hold")]
    TooLarge(u64),
}
