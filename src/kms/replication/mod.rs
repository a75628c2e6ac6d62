//! Multi-Region keys across s3seal deployments (`docs/kms.md`,
//! "Multi-Region keys").
//!
//! Each deployment is one Region, with its own store and its own root key.
//! A multi-Region key (`mrk-…`) has its primary in one deployment and
//! replicas, with the same key id and the same material for every version,
//! in others. Deployments call each other's KMS API with s3seal's own
//! operations (`X-Amz-Target: S3sealReplication.<Op>`, answered by
//! [`crate::kms::api::peer_calls`]), SigV4-signed with the credentials of
//! `[[kms.peer_regions]]`:
//! - [`peer`]: the signed client, and the MAC that authenticates a peer's answer;
//! - [`wire`]: the messages;
//! - [`transfer`]: key material leaves a deployment only wrapped for the
//!   receiver's one-time RSA key, and is sealed under the receiver's own
//!   root key on arrival;
//! - [`replicator`]: ReplicateKey, UpdatePrimaryRegion, and pushing new
//!   versions and rotation settings from a primary to its replicas.

pub mod peer;
pub mod replicator;
pub mod transfer;
pub mod wire;

pub use replicator::Replicator;

use super::KmsError;

/// The `X-Amz-Target` prefix of the peer-to-peer operations.
pub const TARGET_PREFIX: &str = "S3sealReplication.";

/// Does `name` look like an AWS Region name (`us-east-1`, `ap-southeast-2`,
/// `us-gov-west-1`)? AWS's own pattern: `^([a-z]+-){2,3}\d+$`.
pub fn is_region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    (2..=3).contains(&words.len())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// Why a replication step failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    #[error("no peer deployment is configured for Region {0} (kms.peer_regions)")]
    NoPeer(String),
    #[error("the peer deployment in {region} cannot be reached: {reason}")]
    Unreachable { region: String, reason: String },
    /// The peer answered with a KMS error.
    #[error("the peer deployment in {region} answered {kind}: {message}")]
    Refused {
        region: String,
        kind: String,
        message: String,
    },
    /// The answer did not authenticate or parse.
    #[error("the peer deployment in {region} sent an answer s3seal cannot accept: {reason}")]
    BadAnswer { region: String, reason: String },
    #[error(transparent)]
    Kms(#[from] KmsError),
}

impl ReplicationError {
    /// Did the peer say the key does not exist there (a deleted replica)?
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReplicationError::Refused { kind, .. } if kind == "NotFoundException")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for good in ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"] {
            assert!(is_region_name(good), "{good}");
        }
        for bad in [
            "",
            "us",
            "us-1",
            "US-east-1",
            "us-east-",
            "us-east-1a",
            "a-b-c-d-1",
            "us--1",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }
}
