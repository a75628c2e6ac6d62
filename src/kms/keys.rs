//! KMS key records as persisted in the store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
    /// An `EXTERNAL` key without (or whose) imported material (expired or was deleted).
    PendingImport,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingImport => "PendingImport",
        }
    }
}

/// How a key version came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum VersionOrigin {
    /// The key's first material.
    #[default]
    Created,
    /// Automatic rotation (`EnableKeyRotation`).
    Automatic,
    /// `RotateKeyOnDemand`.
    OnDemand,
}

/// One generation of a key's material, encrypted under the root key.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyVersion {
    pub version: u32,
    pub created_at: i64,
    #[serde(with = "hex_bytes")]
    pub sealed_material: Vec<u8>,
    #[serde(default)]
    pub origin: VersionOrigin,
}

/// Import parameters handed out by GetParametersForImport.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingImport {
    /// The import token (random, base64) the client must send back.
    pub token: String,
    pub wrapping_algorithm: String,
    pub wrapping_key_spec: String,
    /// The wrapping private key, sealed under the root key.
    #[serde(with = "hex_bytes")]
    pub sealed_wrapping_key: Vec<u8>,
    pub expires_at: i64,
}

impl std::fmt::Debug for PendingImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingImport")
            .field("wrapping_algorithm", &self.wrapping_algorithm)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Automatic rotation settings of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationSchedule {
    pub period_days: u32,
    /// Unix time of the next automatic rotation.
    pub next_rotation_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl std::fmt::Debug for KeyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVersion")
            .field("version", &self.version)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key_id: String,
    pub description: String,
    pub created_at: i64,
    pub state: KeyState,
    pub key_spec: String,
    pub key_usage: String,
    pub origin: String,
    pub current_version: u32,
    pub versions: Vec<KeyVersion>,
    /// The key policy document; `None` means the default policy.
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub rotation: Option<RotationSchedule>,
    /// Unix time when a key pending deletion is destroyed.
    #[serde(default)]
    pub deletion_date: Option<i64>,
    /// The waiting period ScheduleKeyDeletion was given.
    #[serde(default)]
    pub deletion_window_days: Option<u32>,
    /// Parameters of the import in progress (`EXTERNAL` keys).
    #[serde(default)]
    pub import: Option<PendingImport>,
    /// When imported material expires (`KEY_MATERIAL_EXPIRES`).
    #[serde(default)]
    pub material_valid_to: Option<i64>,
    /// SHA-256 over the key id and the first imported material: reimports
    /// must bring the same material, as on AWS.
    #[serde(default)]
    pub material_commitment: Option<String>,
    /// `AWS` for s3seal's own default key (`alias/aws/s3`), else `CUSTOMER`.
    #[serde(default = "customer")]
    pub key_manager: String,
    /// Multi-Region keys (`mrk-…` ids) only: where the primary and the
    /// replicas are.
    #[serde(default)]
    pub multi_region: Option<MultiRegionConfig>,
}

/// Where the related keys of a multi-Region key are, as this deployment
/// knows it. Every deployment holding the key keeps one; the primary's is
/// the reference and it pushes it to the replicas with the shared properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiRegionConfig {
    /// The Region of the primary key.
    pub primary_region: String,
    /// The Regions of the replica keys.
    pub replica_regions: Vec<String>,
    /// Counts the changes of what primary and replicas share (versions,
    /// rotation schedule, the Regions above). A replica refuses an update
    /// older than what it has.
    pub generation: u64,
    /// On the primary: the generation each replica was last brought up to.
    #[serde(default)]
    pub synced: BTreeMap<String, u64>,
}

impl MultiRegionConfig {
    /// A new primary key in `region`, without replicas.
    pub fn new_primary(region: &str) -> Self {
        MultiRegionConfig {
            primary_region: region.to_string(),
            replica_regions: Vec::new(),
            generation: 1,
            synced: BTreeMap::new(),
        }
    }

    pub fn is_primary_in(&self, region: &str) -> bool {
        self.primary_region == region
    }

    /// Is `region` the primary's or a replica's Region?
    pub fn has_region(&self, region: &str) -> bool {
        self.primary_region == region || self.replica_regions.iter().any(|r| r == region)
    }

    /// The replicas that have not been brought up to the current generation.
    pub fn replicas_behind(&self) -> Vec<String> {
        self.replica_regions
            .iter()
            .filter(|r| self.synced.get(*r).copied().unwrap_or(0) < self.generation)
            .cloned()
            .collect()
    }

    /// Records that a shared property changed: every replica is behind.
    pub fn bump(&mut self) {
        self.generation += 1;
    }

    /// Records that `region` now has everything up to `generation`.
    pub fn mark_synced(&mut self, region: &str, generation: u64) {
        let synced = self.synced.entry(region.to_string()).or_insert(0);
        *synced = (*synced).max(generation);
    }
}

fn customer() -> String {
    "CUSTOMER".to_string()
}

impl KeyRecord {
    pub fn version(&self, version: u32) -> Option<&KeyVersion> {
        self.versions.iter().find(|v| v.version == version)
    }

    /// Is this a multi-Region replica key, given this deployment's Region?
    pub fn is_replica_in(&self, region: &str) -> bool {
        self.multi_region
            .as_ref()
            .is_some_and(|m| !m.is_primary_in(region))
    }

    /// Records a change of a property a multi-Region primary shares with
    /// its replicas (a new version, the rotation schedule).
    pub fn shared_properties_changed(&mut self) {
        if let Some(config) = &mut self.multi_region {
            config.bump();
        }
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sealed material, the import token and the sealed wrapping key stay
    /// out of Debug output (and so out of any log line or error built with it).
    #[test]
    fn debug_leaves_out_material_and_tokens() {
        let version = KeyVersion {
            version: 3,
            created_at: 1,
            sealed_material: vec![0xC5; 60],
            origin: VersionOrigin::Created,
        };
        let import = PendingImport {
            token: "import-token-secret".into(),
            wrapping_algorithm: "RSAES_OAEP_SHA_256".into(),
            wrapping_key_spec: "RSA_2048".into(),
            sealed_wrapping_key: vec![0xD7; 60],
            expires_at: 2,
        };
        let shown = format!("{version:?} {import:?}").to_lowercase();
        for secret in ["c5c5", "197", "d7d7", "215", "import-token-secret"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("version: 3"), "{shown}");
    }
}
