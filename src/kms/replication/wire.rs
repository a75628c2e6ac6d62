//! The messages of the `S3sealReplication.*` operations, in the KMS JSON
//! style (PascalCase fields, base64 for bytes, Unix seconds for dates).
//!
//! | operation | sent by | does |
//! |---|---|---|
//! | `GetReplicationParameters` | the primary | the receiver makes a one-time RSA wrapping key for one key's material |
//! | `CreateReplica` | the primary (ReplicateKey) | creates the replica, with every version |
//! | `SyncReplica` | the primary | adds new versions, updates rotation and the Regions |
//! | `PromoteReplica` | the primary (UpdatePrimaryRegion) | the replica becomes the primary |

use serde::{Deserialize, Serialize};

use crate::kms::keys::{MultiRegionConfig, RotationSchedule, Tag, VersionOrigin};

pub const GET_PARAMETERS: &str = "GetReplicationParameters";
pub const CREATE_REPLICA: &str = "CreateReplica";
pub const SYNC_REPLICA: &str = "SyncReplica";
pub const PROMOTE_REPLICA: &str = "PromoteReplica";

/// `GetReplicationParameters` request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParametersRequest {
    pub key_id: String,
}

/// `GetReplicationParameters` answer: wrap the material for `public_key`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameters {
    pub key_id: String,
    /// The receiver's `server.account_id`: related keys share one account.
    #[serde(rename = "AWSAccountId")]
    pub account_id: String,
    /// DER SubjectPublicKeyInfo of an RSA key, base64.
    pub public_key: String,
    pub import_token: String,
    pub parameters_valid_to: i64,
}

/// One key version's material, wrapped (`RSA_AES_KEY_WRAP_SHA_256`) for
/// the receiver's wrapping key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WrappedVersion {
    pub version: u32,
    pub created_at: i64,
    pub origin: VersionOrigin,
    /// Base64.
    pub encrypted_key_material: String,
}

/// Where the related keys are, and which generation of the shared
/// properties this describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Regions {
    pub primary_region: String,
    pub replica_regions: Vec<String>,
    pub generation: u64,
}

impl Regions {
    pub fn of(config: &MultiRegionConfig) -> Self {
        Regions {
            primary_region: config.primary_region.clone(),
            replica_regions: config.replica_regions.clone(),
            generation: config.generation,
        }
    }

    /// The configuration a receiving deployment stores.
    pub fn into_config(self) -> MultiRegionConfig {
        MultiRegionConfig {
            primary_region: self.primary_region,
            replica_regions: self.replica_regions,
            generation: self.generation,
            synced: Default::default(),
        }
    }
}

/// What a primary shares with its replicas.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SharedProperties {
    pub key_spec: String,
    pub key_usage: String,
    pub origin: String,
    pub key_versions: Vec<WrappedVersion>,
    pub current_version: u32,
    #[serde(default)]
    pub rotation_period_in_days: Option<u32>,
    #[serde(default)]
    pub next_rotation_date: Option<i64>,
    pub multi_region_configuration: Regions,
}

impl SharedProperties {
    pub fn rotation(&self) -> Option<RotationSchedule> {
        Some(RotationSchedule {
            period_days: self.rotation_period_in_days?,
            next_rotation_at: self.next_rotation_date?,
        })
    }
}

/// A tag, in AWS's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireTag {
    #[serde(rename = "TagKey")]
    pub key: String,
    #[serde(rename = "TagValue")]
    pub value: String,
}

impl From<&Tag> for WireTag {
    fn from(tag: &Tag) -> Self {
        WireTag {
            key: tag.key.clone(),
            value: tag.value.clone(),
        }
    }
}

/// `CreateReplica` request: the shared properties and the replica's own.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateReplica {
    pub key_id: String,
    pub import_token: String,
    #[serde(flatten)]
    pub shared: SharedProperties,
    pub description: String,
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    pub tags: Vec<WireTag>,
}

/// `SyncReplica` request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SyncReplica {
    pub key_id: String,
    pub import_token: String,
    #[serde(flatten)]
    pub shared: SharedProperties,
}

/// `PromoteReplica` request: the Regions once the receiver is the primary.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PromoteReplica {
    pub key_id: String,
    pub multi_region_configuration: Regions,
}

/// The answer of `CreateReplica`, `SyncReplica` and `PromoteReplica`: the
/// receiver's `KeyMetadata` (and, for `CreateReplica`, its policy).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicaAnswer {
    pub key_metadata: serde_json::Value,
    #[serde(default)]
    pub policy: Option<String>,
}
