//! The hash chain that makes the audit log tamper-evident.
//!
//! Every record (event or digest) carries an `s3sealChain` link: its sequence
//! number and the SHA-256 of the previous record's exact line. Editing,
//! deleting, inserting or reordering a line breaks a link. An attacker who
//! rewrites every later link too is caught by the signed digests: each digest
//! signs the chain head at its position with the audit signing key, which the
//! attacker does not hold.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `previousHash` of the very first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The field every record carries.
pub const LINK_FIELD: &str = "s3sealChain";

/// A record's place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainLink {
    pub sequence: u64,
    pub previous_hash: String,
}

/// The last record written: what the next one links to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainHead {
    pub sequence: u64,
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty log.
    pub fn genesis() -> Self {
        ChainHead {
            sequence: 0,
            hash: GENESIS_HASH.to_string(),
        }
    }

    /// The link the next record carries.
    pub fn next_link(&self) -> ChainLink {
        ChainLink {
            sequence: self.sequence + 1,
            previous_hash: self.hash.clone(),
        }
    }

    /// The head after `line` (written with `link`).
    pub fn after(link: &ChainLink, line: &[u8]) -> Self {
        ChainHead {
            sequence: link.sequence,
            hash: line_hash(line),
        }
    }
}

/// The hash a line is chained by: SHA-256 of its bytes without the newline.
pub fn line_hash(line: &[u8]) -> String {
    hex::encode(Sha256::digest(line))
}

/// What a digest record's signature covers: its own link (so, through the
/// chain, every record before it) and the first sequence it vouches for.
pub fn digest_message(link: &ChainLink, first_sequence: u64, event_time: &str) -> Vec<u8> {
    format!(
        "s3seal-audit-digest-v1\n{}\n{}\n{}\n{}",
        link.sequence, link.previous_hash, first_sequence, event_time
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_follow_the_head() {
        let head = ChainHead::genesis();
        let link = head.next_link();
        assert_eq!(link.sequence, 1);
        assert_eq!(link.previous_hash, GENESIS_HASH);
        let next = ChainHead::after(&link, b"{\"a\":1}");
        assert_eq!(next.sequence, 1);
        assert_eq!(next.hash, line_hash(b"{\"a\":1}"));
        assert_ne!(next.hash, line_hash(b"{\"a\":2}"));
    }

    #[test]
    fn the_digest_message_changes_with_every_input() {
        let link = ChainLink {
            sequence: 7,
            previous_hash: "ab".into(),
        };
        let base = digest_message(&link, 1, "t");
        let other_seq = ChainLink {
            sequence: 8,
            ..link.clone()
        };
        assert_ne!(base, digest_message(&other_seq, 1, "t"));
        assert_ne!(base, digest_message(&link, 2, "t"));
        assert_ne!(base, digest_message(&link, 1, "u"));
    }
}
