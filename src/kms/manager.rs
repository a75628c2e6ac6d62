//! [`KeyManager`]: the key operations the S3 side and the KMS API call.
//!
//! Operations that use a key for a caller ([`Caller`]) check the key's policy
//! and grants first ([`super::access`]); lifecycle operations are checked by
//! the KMS API layer, which knows the action each request maps to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
type Nonce = aes_gcm::aead::Nonce<Aes256Gcm>;
use zeroize::Zeroizing;

use super::access::{self, Caller};
use super::asymmetric::KeySpec;
use super::grants::Grant;
use super::key_id::KeyId;
use super::keys::{
    KeyVersion, MultiRegionConfig, PendingImport, RotationSchedule, Tag, VersionOrigin,
};
use super::{CiphertextBlob, DataKey, EncryptionContext, KeyRecord, KeyState, KmsError, RootKey};
use crate::store::Store;

/// Setting that names the default key (used for `AES256` and header-less uploads).
const DEFAULT_KEY_SETTING: &str = "default_kms_key_id";
/// Setting holding a value sealed under the root key, to detect a wrong root key at start.
const ROOT_CHECK_SETTING: &str = "root_key_check";
/// The alias AWS gives the key that protects S3 objects by default.
pub const DEFAULT_KEY_ALIAS: &str = "alias/aws/s3";
/// The setting naming the key that signs the audit log, and its alias.
const AUDIT_KEY_SETTING: &str = "audit_signing_key_id";
pub const AUDIT_KEY_ALIAS: &str = "alias/s3seal-audit";
const DAY: i64 = 86_400;
/// AWS's limit on on-demand rotations per key.
pub const MAX_ON_DEMAND_ROTATIONS: usize = 25;

/// Unsealed material of one key version.
type KeyMaterial = Zeroizing<Vec<u8>>;

/// A fresh data key and its wrapped form.
pub struct GeneratedDataKey {
    pub plaintext: DataKey,
    pub ciphertext_blob: Vec<u8>,
    pub key_id: String,
    pub key_version: u32,
}

/// What CreateKey asks for.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub description: String,
    pub policy: Option<String>,
    pub tags: Vec<Tag>,
    pub key_manager: &'static str,
    /// `SYMMETRIC_DEFAULT` or an asymmetric / HMAC spec (already validated).
    pub key_spec: String,
    pub key_usage: String,
    /// `AWS_KMS`, or `EXTERNAL` for a key whose material will be imported.
    pub origin: String,
    /// A multi-Region primary key (`mrk-…` id) rather than a single-Region key.
    pub multi_region: bool,
}

impl NewKey {
    pub fn symmetric(description: &str) -> Self {
        NewKey {
            description: description.to_string(),
            policy: None,
            tags: Vec::new(),
            key_manager: "CUSTOMER",
            key_spec: "SYMMETRIC_DEFAULT".into(),
            key_usage: "ENCRYPT_DECRYPT".into(),
            origin: "AWS_KMS".into(),
            multi_region: false,
        }
    }

    /// A symmetric multi-Region primary key.
    pub fn symmetric_multi_region(description: &str) -> Self {
        NewKey {
            multi_region: true,
            ..Self::symmetric(description)
        }
    }
}

/// How long import parameters stay valid, as on AWS.
const IMPORT_PARAMETERS_LIFETIME: i64 = DAY;

/// What one pass of background work did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DueWork {
    pub rotated: Vec<String>,
    pub destroyed: Vec<String>,
}

pub struct KeyManager {
    store: Arc<Store>,
    root: RootKey,
    region: String,
    account_id: String,
    /// Unsealed key material by (key id, version). Material never changes for a
    /// version, so the cache needs no invalidation except when a key is
    /// destroyed; key *state* is always read from the store so a disabled key
    /// stops working at once.
    material: Mutex<HashMap<(String, u32), Arc<KeyMaterial>>>,
}

/// A key s3seal keeps for itself (the default key, the audit signing key),
/// made on first use. Whoever made it records the creation in the audit log:
/// every key's creation is audited, not only those asked for through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnKey {
    pub key_id: String,
    /// Whether this call created the key (rather than finding it, or losing
    /// the race to create it to another instance).
    pub created: bool,
}

impl OwnKey {
    fn found(key_id: String) -> Self {
        OwnKey {
            key_id,
            created: false,
        }
    }

    /// `stored_id` is the id `insert_key_once` kept; `record` the key offered.
    fn inserted(stored_id: String, record: &KeyRecord) -> Self {
        OwnKey {
            created: stored_id == record.key_id,
            key_id: stored_id,
        }
    }
}

impl KeyManager {
    /// Opens the key service over `store`, refusing a root key other than the
    /// one the store was created with.
    pub fn new(
        store: Arc<Store>,
        root: RootKey,
        region: &str,
        account_id: &str,
    ) -> Result<Self, KmsError> {
        let manager = KeyManager {
            store,
            root,
            region: region.to_string(),
            account_id: account_id.to_string(),
            material: Mutex::new(HashMap::new()),
        };
        manager.check_root_key()?;
        Ok(manager)
    }

    fn check_root_key(&self) -> Result<(), KmsError> {
        let check = self
            .store
            .setting_or_insert_with::<KmsError>(ROOT_CHECK_SETTING, || {
                Ok(hex::encode(self.root.seal_material(
                    "root-check",
                    0,
                    b"s3seal",
                )?))
            })?;
        let sealed = hex::decode(check)
            .map_err(|_| KmsError::Internal("root key check value is corrupt".into()))?;
        self.root.unseal_material("root-check", 0, &sealed).map_err(|_| {
            KmsError::Internal(format!(
                "the configured root key (fingerprint {}) is not the one this store was created with",
                self.root.fingerprint()
            ))
        })?;
        Ok(())
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn key_arn(&self, key_id: &str) -> String {
        self.key_arn_in(&self.region, key_id)
    }

    /// The ARN of a key in another Region of the same account (the related
    /// keys of a multi-Region key).
    pub fn key_arn_in(&self, region: &str, key_id: &str) -> String {
        format!("arn:aws:kms:{region}:{}:key/{key_id}", self.account_id)
    }

    pub fn alias_arn(&self, alias: &str) -> String {
        format!("arn:aws:kms:{}:{}:{}", self.region, self.account_id, alias)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The root key, for sealing material that arrives from a peer
    /// deployment ([`super::replication::transfer`]).
    pub(crate) fn root(&self) -> &RootKey {
        &self.root
    }

    /// The unsealed material of one version of `record`, for wrapping it to
    /// a peer deployment ([`super::replication::transfer`]).
    pub(crate) fn version_material(
        &self,
        record: &KeyRecord,
        version: u32,
    ) -> Result<Arc<KeyMaterial>, KmsError> {
        self.material(record, version)
    }

    /// The operator's identity for the offline tools.
    pub fn operator(&self) -> Caller {
        Caller::operator(&self.account_id)
    }

    /// Creates a symmetric encryption key with fresh material (version 1).
    pub fn create_key(&self, new: NewKey) -> Result<KeyRecord, KmsError> {
        let record = self.new_key_record(new)?;
        self.store.insert_key(&record.key_id, &record)?;
        Ok(record)
    }

    fn new_key_record(&self, new: NewKey) -> Result<KeyRecord, KmsError> {
        let key_id = if new.multi_region {
            KeyId::new_multi_region().map_err(|e| KmsError::Internal(e.to_string()))?
        } else {
            KeyId::new_single_region()
        }
        .to_string();
        let now = unix_now();
        let external = new.origin == "EXTERNAL";
        let versions = if external {
            Vec::new()
        } else if new.key_spec == "SYMMETRIC_DEFAULT" {
            vec![self.new_version(&key_id, 1, VersionOrigin::Created, now)?]
        } else {
            let spec = KeySpec::parse(&new.key_spec)
                .ok_or_else(|| KmsError::Validation(format!("unknown KeySpec {}", new.key_spec)))?;
            let material = super::asymmetric::generate_private_key(spec)
                .map_err(|e| KmsError::Internal(e.to_string()))?;
            vec![KeyVersion {
                version: 1,
                created_at: now,
                sealed_material: self.root.seal_material(&key_id, 1, &material)?,
                origin: VersionOrigin::Created,
            }]
        };
        Ok(KeyRecord {
            key_id: key_id.clone(),
            description: new.description,
            created_at: now,
            state: if external {
                KeyState::PendingImport
            } else {
                KeyState::Enabled
            },
            key_spec: new.key_spec,
            key_usage: new.key_usage,
            origin: new.origin,
            current_version: u32::from(!external),
            versions,
            policy: new.policy,
            tags: new.tags,
            rotation: None,
            deletion_date: None,
            deletion_window_days: None,
            import: None,
            material_valid_to: None,
            material_commitment: None,
            key_manager: new.key_manager.to_string(),
            multi_region: new
                .multi_region
                .then(|| MultiRegionConfig::new_primary(&self.region)),
        })
    }

    fn new_version(
        &self,
        key_id: &str,
        version: u32,
        origin: VersionOrigin,
        now: i64,
    ) -> Result<KeyVersion, KmsError> {
        let material = DataKey::generate().map_err(|e| KmsError::Internal(e.to_string()))?;
        Ok(KeyVersion {
            version,
            created_at: now,
            sealed_material: self
                .root
                .seal_material(key_id, version, material.expose())?,
            origin,
        })
    }

    /// The default key, created (with its `alias/aws/s3` alias) on first use.
    pub fn ensure_default_key(&self) -> Result<OwnKey, KmsError> {
        if let Some(key_id) = self.store.get_setting(DEFAULT_KEY_SETTING)? {
            return Ok(OwnKey::found(key_id));
        }
        let mut new = NewKey::symmetric(
            "Default key that protects my S3 objects when no other key is defined",
        );
        new.key_manager = "AWS";
        let record = self.new_key_record(new)?;
        let key_id = self.store.insert_key_once(
            DEFAULT_KEY_SETTING,
            DEFAULT_KEY_ALIAS,
            &record.key_id,
            &record,
        )?;
        Ok(OwnKey::inserted(key_id, &record))
    }

    /// The key that signs the audit log's digests, created (with its
    /// `alias/s3seal-audit` alias) on first use. Marked AWS-managed, as the
    /// default key is: s3seal owns it.
    pub fn ensure_audit_signing_key(&self, key_spec: &str) -> Result<OwnKey, KmsError> {
        if let Some(key_id) = self.store.get_setting(AUDIT_KEY_SETTING)? {
            return Ok(OwnKey::found(key_id));
        }
        let new = NewKey {
            description: "Signs the digests of s3seal's audit log".into(),
            key_manager: "AWS",
            key_spec: key_spec.into(),
            key_usage: "SIGN_VERIFY".into(),
            ..NewKey::symmetric("")
        };
        let record = self.new_key_record(new)?;
        let key_id = self.store.insert_key_once(
            AUDIT_KEY_SETTING,
            AUDIT_KEY_ALIAS,
            &record.key_id,
            &record,
        )?;
        Ok(OwnKey::inserted(key_id, &record))
    }

    /// Resolves a key id, key ARN, `alias/name` or alias ARN to a key id.
    pub fn resolve_key_id(&self, key_ref: &str) -> Result<String, KmsError> {
        let not_found = || KmsError::NotFound(key_ref.to_string());
        let arn_prefix = format!("arn:aws:kms:{}:{}:", self.region, self.account_id);
        let local = match key_ref.strip_prefix("arn:") {
            Some(_) => key_ref.strip_prefix(&arn_prefix).ok_or_else(not_found)?,
            None => key_ref,
        };
        if local.starts_with("alias/") {
            return self.store.get_alias(local)?.ok_or_else(not_found);
        }
        let key_id = local.strip_prefix("key/").unwrap_or(local);
        if key_ref.starts_with("arn:") && !local.starts_with("key/") {
            return Err(not_found());
        }
        KeyId::parse(key_id).ok_or_else(not_found)?;
        Ok(key_id.to_string())
    }

    /// The record of a key named any way AWS accepts.
    pub fn describe_key(&self, key_ref: &str) -> Result<KeyRecord, KmsError> {
        let key_id = self.resolve_key_id(key_ref)?;
        self.store
            .get_key(&key_id)?
            .ok_or(KmsError::NotFound(key_ref.to_string()))
    }

    pub fn list_keys(&self) -> Result<Vec<KeyRecord>, KmsError> {
        Ok(self.store.list_keys()?)
    }

    /// Read-modify-write of one key record, in one transaction.
    pub fn update_key(
        &self,
        key_ref: &str,
        change: impl FnOnce(&mut KeyRecord) -> Result<(), KmsError>,
    ) -> Result<KeyRecord, KmsError> {
        let key_id = self.resolve_key_id(key_ref)?;
        self.store
            .update_key::<KeyRecord, KmsError>(&key_id, change)?
            .ok_or(KmsError::NotFound(key_ref.to_string()))?
    }

    /// Changes a key's state (enable, disable).
    pub fn set_key_state(&self, key_ref: &str, state: KeyState) -> Result<KeyRecord, KmsError> {
        let arn = |id: &str| self.key_arn(id);
        self.update_key(key_ref, |record| {
            if record.state == KeyState::PendingDeletion && state != KeyState::PendingDeletion {
                return Err(KmsError::InvalidState(format!(
                    "{} is pending deletion",
                    arn(&record.key_id)
                )));
            }
            if record.state == KeyState::PendingImport {
                return Err(KmsError::InvalidState(format!(
                    "{} is pending import",
                    arn(&record.key_id)
                )));
            }
            record.state = state;
            Ok(())
        })
    }

    /// Adds a key version with fresh material and makes it current. Older
    /// versions stay, so everything they encrypted still decrypts. The
    /// version number is chosen under the record's lock, so concurrent
    /// rotations (from any instance) each add their own version; an
    /// automatic rotation that another instance already made is not repeated.
    pub fn rotate_key(
        &self,
        key_ref: &str,
        origin: VersionOrigin,
        now: i64,
    ) -> Result<KeyRecord, KmsError> {
        let material = DataKey::generate().map_err(|e| KmsError::Internal(e.to_string()))?;
        self.update_key(key_ref, |record| {
            self.refuse_replica(record, "rotated")?;
            if origin == VersionOrigin::Automatic
                && record.rotation.is_none_or(|r| r.next_rotation_at > now)
            {
                return Err(KmsError::Conflict(
                    "the key's automatic rotation is not due (already rotated)".into(),
                ));
            }
            // Counted under the lock, so instances racing at the limit
            // cannot both pass it.
            let on_demand = record
                .versions
                .iter()
                .filter(|v| v.origin == VersionOrigin::OnDemand)
                .count();
            if origin == VersionOrigin::OnDemand && on_demand >= MAX_ON_DEMAND_ROTATIONS {
                return Err(KmsError::LimitExceeded(format!(
                    "{} has reached the limit of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations",
                    self.key_arn(&record.key_id)
                )));
            }
            let next = record.versions.iter().map(|v| v.version).max().unwrap_or(0) + 1;
            record.versions.push(KeyVersion {
                version: next,
                created_at: now,
                sealed_material: self.root.seal_material(
                    &record.key_id,
                    next,
                    material.expose(),
                )?,
                origin,
            });
            record.current_version = next;
            if let Some(schedule) = &mut record.rotation {
                schedule.next_rotation_at = now + i64::from(schedule.period_days) * DAY;
            }
            record.shared_properties_changed();
            Ok(())
        })
    }

    /// A multi-Region replica shares its material and rotation with its
    /// primary: only the primary's deployment changes them, as on AWS.
    pub fn refuse_replica(&self, record: &KeyRecord, what: &str) -> Result<(), KmsError> {
        match &record.multi_region {
            Some(config) if !config.is_primary_in(&self.region) => {
                Err(KmsError::UnsupportedOperation(format!(
                    "{} is a multi-Region replica key and cannot be {what}; do it on its primary key in {}",
                    self.key_arn(&record.key_id),
                    config.primary_region
                )))
            }
            _ => Ok(()),
        }
    }

    /// Rotates keys whose automatic rotation is due and destroys keys whose
    /// deletion date has passed. Runs periodically in the server.
    pub fn run_due_work(&self, now: i64) -> Result<DueWork, KmsError> {
        let mut done = DueWork::default();
        for record in self.list_keys()? {
            if record.state == KeyState::PendingDeletion
                && record.deletion_date.is_some_and(|d| d <= now)
            {
                self.store.destroy_key::<Grant>(&record.key_id)?;
                self.forget_material(&record.key_id)?;
                tracing::warn!(kms_key_id = %record.key_id, "destroyed a KMS key whose deletion date passed");
                done.destroyed.push(record.key_id);
                continue;
            }
            if record.material_valid_to.is_some_and(|t| t <= now) && !record.versions.is_empty() {
                self.delete_imported_material(&record.key_id)?;
                tracing::warn!(kms_key_id = %record.key_id, "imported key material expired and was deleted");
                continue;
            }
            if record.state == KeyState::Enabled
                && !record.is_replica_in(&self.region)
                && record
                    .rotation
                    .is_some_and(|r: RotationSchedule| r.next_rotation_at <= now)
            {
                match self.rotate_key(&record.key_id, VersionOrigin::Automatic, now) {
                    Ok(_) => {
                        tracing::info!(kms_key_id = %record.key_id, "rotated a KMS key automatically");
                        done.rotated.push(record.key_id);
                    }
                    // Another instance sharing the store rotated it first.
                    Err(KmsError::Conflict(_)) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(done)
    }

    fn forget_material(&self, key_id: &str) -> Result<(), KmsError> {
        self.material
            .lock()
            .map_err(poisoned)?
            .retain(|(id, _), _| id != key_id);
        Ok(())
    }

    /// The grants of one key.
    pub fn grants_for(&self, key_id: &str) -> Result<Vec<Grant>, KmsError> {
        Ok(self
            .store
            .list_grants::<Grant>()?
            .into_iter()
            .filter(|g| g.key_id == key_id)
            .collect())
    }

    /// The current material of a usable key, for `caller` allowed `action`:
    /// what Sign, Verify, GenerateMac and asymmetric Encrypt/Decrypt work with.
    pub fn key_for_use(
        &self,
        caller: &Caller,
        action: &str,
        key_ref: &str,
        context: Option<&EncryptionContext>,
    ) -> Result<(KeyRecord, Arc<KeyMaterial>), KmsError> {
        let key_id = self.resolve_key_id(key_ref)?;
        let record = self.usable_record(&key_id)?;
        self.authorize(caller, action, &record, context)?;
        let material = self.material(&record, record.current_version)?;
        Ok((record, material))
    }

    /// Import parameters for an `EXTERNAL` key: a fresh RSA wrapping key
    /// (kept, sealed, in the key record for 24 hours) and an import token.
    pub fn prepare_import(
        &self,
        key_id: &str,
        wrapping_algorithm: &str,
        wrapping_spec: KeySpec,
        now: i64,
    ) -> Result<(String, Vec<u8>, i64), KmsError> {
        let private = super::asymmetric::generate_wrapping_key(wrapping_spec)
            .map_err(|e| KmsError::Validation(e.to_string()))?;
        let public = super::asymmetric::public_key_der(wrapping_spec, &private)
            .map_err(|e| KmsError::Internal(e.to_string()))?;
        let mut token = [0u8; 48];
        getrandom::fill(&mut token).map_err(|e| KmsError::Internal(e.to_string()))?;
        let token = hex::encode(token);
        let expires_at = now + IMPORT_PARAMETERS_LIFETIME;
        let pending = PendingImport {
            token: token.clone(),
            wrapping_algorithm: wrapping_algorithm.to_string(),
            wrapping_key_spec: wrapping_spec.as_str().to_string(),
            sealed_wrapping_key: self
                .root
                .seal_material(&import_aad_id(key_id), 0, &private)?,
            expires_at,
        };
        self.update_key(key_id, |r| {
            r.import = Some(pending);
            Ok(())
        })?;
        Ok((token, public, expires_at))
    }

    /// Unwraps and installs imported key material. Reimports must bring the
    /// same material as the first import.
    pub fn import_material(
        &self,
        key_id: &str,
        token: &str,
        wrapped: &[u8],
        valid_to: Option<i64>,
        now: i64,
    ) -> Result<KeyRecord, KmsError> {
        let record = self.describe_key(key_id)?;
        let pending = record
            .import
            .clone()
            .filter(|p| crate::auth::secrets_equal(&p.token, token) && p.expires_at > now)
            .ok_or_else(|| {
                KmsError::InvalidImportToken(
                    "the import token is unknown or expired; call GetParametersForImport again"
                        .into(),
                )
            })?;
        let wrapping =
            self.root
                .unseal_material(&import_aad_id(key_id), 0, &pending.sealed_wrapping_key)?;
        let material =
            super::asymmetric::unwrap_import(&wrapping, &pending.wrapping_algorithm, wrapped)
                .map_err(|_| {
                    KmsError::InvalidCiphertext(
                        "the wrapped key material does not decrypt with the import parameters",
                    )
                })?;
        if record.key_spec == "SYMMETRIC_DEFAULT" && material.len() != 32 {
            return Err(KmsError::IncorrectKeyMaterial(format!(
                "imported material for a SYMMETRIC_DEFAULT key must be 32 bytes, not {}",
                material.len()
            )));
        }
        let commitment = material_commitment(key_id, &material);
        // A digest of secret material: compared in constant time.
        if record
            .material_commitment
            .as_ref()
            .is_some_and(|c| !crate::auth::secrets_equal(c, &commitment))
        {
            return Err(KmsError::IncorrectKeyMaterial(
                "this is not the key material that was imported into this key before".into(),
            ));
        }
        let version = KeyVersion {
            version: 1,
            created_at: now,
            sealed_material: self.root.seal_material(key_id, 1, &material)?,
            origin: VersionOrigin::Created,
        };
        self.forget_material(key_id)?;
        self.update_key(key_id, move |r| {
            if r.state == KeyState::PendingDeletion {
                return Err(KmsError::InvalidState("the key is pending deletion".into()));
            }
            r.versions = vec![version];
            r.current_version = 1;
            r.import = None;
            r.material_valid_to = valid_to;
            r.material_commitment = Some(commitment);
            if r.state == KeyState::PendingImport {
                r.state = KeyState::Enabled;
            }
            Ok(())
        })
    }

    /// Deletes imported material: the key becomes `PendingImport` until the
    /// same material is imported again.
    pub fn delete_imported_material(&self, key_id: &str) -> Result<KeyRecord, KmsError> {
        let record = self.update_key(key_id, |r| {
            if r.origin != "EXTERNAL" {
                return Err(KmsError::UnsupportedOperation(
                    "only keys with origin EXTERNAL have imported material".into(),
                ));
            }
            r.versions.clear();
            r.current_version = 0;
            r.material_valid_to = None;
            if r.state != KeyState::PendingDeletion {
                r.state = KeyState::PendingImport;
            }
            Ok(())
        })?;
        self.forget_material(&record.key_id)?;
        Ok(record)
    }

    /// Checks the key policy and grants of `record` for `action` by `caller`.
    pub fn authorize(
        &self,
        caller: &Caller,
        action: &str,
        record: &KeyRecord,
        context: Option<&EncryptionContext>,
    ) -> Result<(), KmsError> {
        let grants = self.grants_for(&record.key_id)?;
        access::authorize(
            caller,
            action,
            record,
            &self.key_arn(&record.key_id),
            context,
            &grants,
        )
    }

    fn usable_record(&self, key_id: &str) -> Result<KeyRecord, KmsError> {
        let record: KeyRecord = self
            .store
            .get_key(key_id)?
            .ok_or_else(|| KmsError::NotFound(self.key_arn(key_id)))?;
        ensure_usable(&record, &self.key_arn(key_id))?;
        Ok(record)
    }

    fn material(
        &self,
        record: &KeyRecord,
        version: u32,
    ) -> Result<Arc<Zeroizing<Vec<u8>>>, KmsError> {
        let cache_key = (record.key_id.clone(), version);
        if let Some(hit) = self.material.lock().map_err(poisoned)?.get(&cache_key) {
            return Ok(hit.clone());
        }
        let stored = record
            .version(version)
            .ok_or(KmsError::InvalidCiphertext("unknown key version"))?;
        let material = Arc::new(self.root.unseal_material(
            &record.key_id,
            version,
            &stored.sealed_material,
        )?);
        self.material
            .lock()
            .map_err(poisoned)?
            .insert(cache_key, material.clone());
        Ok(material)
    }

    /// Encrypts `plaintext` under the current version of `key_ref` for
    /// `caller`, who needs `action` (`kms:Encrypt`, `kms:GenerateDataKey`, …).
    pub fn encrypt(
        &self,
        caller: &Caller,
        action: &str,
        key_ref: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<(Vec<u8>, KeyRecord), KmsError> {
        let result = self.encrypt_for(caller, action, key_ref, plaintext, context);
        crate::metrics::kms_operation(action, result.is_ok());
        result
    }

    fn encrypt_for(
        &self,
        caller: &Caller,
        action: &str,
        key_ref: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<(Vec<u8>, KeyRecord), KmsError> {
        let key_id = self.resolve_key_id(key_ref)?;
        let record = self.usable_record(&key_id)?;
        self.authorize(caller, action, &record, Some(context))?;
        require_symmetric(&record)?;
        let blob = self.seal_under(&record, plaintext, context)?;
        Ok((blob, record))
    }

    fn seal_under(
        &self,
        record: &KeyRecord,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, KmsError> {
        let material = self.material(record, record.current_version)?;
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| KmsError::Internal(e.to_string()))?;
        let key_id = KeyId::parse(&record.key_id)
            .ok_or_else(|| KmsError::Internal("stored key id is not a key id".into()))?;
        let mut blob = CiphertextBlob {
            key_id,
            key_version: record.current_version,
            nonce,
            sealed: Vec::new(),
        };
        let cipher = Aes256Gcm::new_from_slice(&material)
            .map_err(|_| KmsError::Internal("bad key material".into()))?;
        blob.sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &blob.aad(context),
                },
            )
            .map_err(|_| KmsError::Internal("encryption failed".into()))?;
        Ok(blob.encode())
    }

    /// Decrypts a blob for `caller` (who needs `action`, usually `kms:Decrypt`);
    /// the key comes from the blob itself.
    pub fn decrypt(
        &self,
        caller: &Caller,
        action: &str,
        blob: &[u8],
        context: &EncryptionContext,
    ) -> Result<(Zeroizing<Vec<u8>>, KeyRecord, u32), KmsError> {
        let result = self.decrypt_blob(caller, action, blob, context);
        crate::metrics::kms_operation(action, result.is_ok());
        result
    }

    fn decrypt_blob(
        &self,
        caller: &Caller,
        action: &str,
        blob: &[u8],
        context: &EncryptionContext,
    ) -> Result<(Zeroizing<Vec<u8>>, KeyRecord, u32), KmsError> {
        let parsed = CiphertextBlob::decode(blob)?;
        let key_id = parsed.key_id.to_string();
        let record: KeyRecord = self
            .store
            .get_key(&key_id)?
            .ok_or_else(|| KmsError::NotFound(self.key_arn(&key_id)))?;
        ensure_usable(&record, &self.key_arn(&key_id))?;
        self.authorize(caller, action, &record, Some(context))?;
        let material = self.material(&record, parsed.key_version)?;
        let cipher = Aes256Gcm::new_from_slice(&material)
            .map_err(|_| KmsError::Internal("bad key material".into()))?;
        let plaintext = cipher
            .decrypt(
                &Nonce::from(parsed.nonce),
                Payload {
                    msg: &parsed.sealed,
                    aad: &parsed.aad(context),
                },
            )
            .map_err(|_| {
                KmsError::InvalidCiphertext(
                    "authentication failed (wrong encryption context or corrupt blob)",
                )
            })?;
        Ok((Zeroizing::new(plaintext), record, parsed.key_version))
    }

    /// A fresh 256-bit data key, returned in plaintext and wrapped under `key_ref`.
    pub fn generate_data_key(
        &self,
        caller: &Caller,
        key_ref: &str,
        context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, KmsError> {
        let plaintext = DataKey::generate().map_err(|e| KmsError::Internal(e.to_string()))?;
        let (ciphertext_blob, record) = self.encrypt(
            caller,
            "kms:GenerateDataKey",
            key_ref,
            plaintext.expose(),
            context,
        )?;
        Ok(GeneratedDataKey {
            plaintext,
            ciphertext_blob,
            key_id: record.key_id,
            key_version: record.current_version,
        })
    }

    /// Unwraps a data key made by [`Self::generate_data_key`].
    pub fn unwrap_data_key(
        &self,
        caller: &Caller,
        blob: &[u8],
        context: &EncryptionContext,
    ) -> Result<DataKey, KmsError> {
        let (plaintext, _, _) = self.decrypt(caller, "kms:Decrypt", blob, context)?;
        DataKey::from_bytes(&plaintext).ok_or(KmsError::InvalidCiphertext(
            "wrapped data key has the wrong length",
        ))
    }
}

/// A key can be used only while it is enabled.
pub fn ensure_usable(record: &KeyRecord, arn: &str) -> Result<(), KmsError> {
    match record.state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(KmsError::Disabled(arn.to_string())),
        KeyState::PendingDeletion => {
            Err(KmsError::InvalidState(format!("{arn} is pending deletion")))
        }
        KeyState::PendingImport => Err(KmsError::InvalidState(format!(
            "{arn} is pending import: its key material was not imported, expired or was deleted"
        ))),
    }
}

/// The record id under which an import's wrapping key is sealed.
fn import_aad_id(key_id: &str) -> String {
    format!("import:{key_id}")
}

fn material_commitment(key_id: &str, material: &[u8]) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(b"s3seal/v1/imported-material");
    hash.update(key_id.as_bytes());
    hash.update(material);
    hex::encode(hash.finalize())
}

fn require_symmetric(record: &KeyRecord) -> Result<(), KmsError> {
    if record.key_usage != "ENCRYPT_DECRYPT" || record.key_spec != "SYMMETRIC_DEFAULT" {
        return Err(KmsError::InvalidKeyUsage(format!(
            "{} is a {} key for {}",
            record.key_id, record.key_spec, record.key_usage
        )));
    }
    Ok(())
}

fn poisoned<T>(_: T) -> KmsError {
    KmsError::Internal("key cache lock poisoned".into())
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> Caller {
        Caller::operator("000000000000")
    }

    fn manager(dir: &std::path::Path) -> KeyManager {
        let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
        let root = RootKey::from_text(&hex::encode([5u8; 32])).unwrap();
        KeyManager::new(store, root, "us-east-1", "000000000000").unwrap()
    }

    #[test]
    fn data_key_round_trip_and_context_binding() {
        let dir = tempfile::tempdir().unwrap();
        let kms = manager(dir.path());
        let created = kms.ensure_default_key().unwrap();
        assert!(created.created);
        let key_id = created.key_id;
        assert_eq!(
            kms.ensure_default_key().unwrap(),
            OwnKey {
                key_id: key_id.clone(),
                created: false
            },
            "default key is created once"
        );
        let ctx = EncryptionContext::for_object("b", "k");
        let generated = kms
            .generate_data_key(&op(), DEFAULT_KEY_ALIAS, &ctx)
            .unwrap();
        assert_eq!(generated.key_id, key_id);
        let unwrapped = kms
            .unwrap_data_key(&op(), &generated.ciphertext_blob, &ctx)
            .unwrap();
        assert_eq!(unwrapped.expose(), generated.plaintext.expose());
        let other = EncryptionContext::for_object("b", "k2");
        assert!(matches!(
            kms.unwrap_data_key(&op(), &generated.ciphertext_blob, &other),
            Err(KmsError::InvalidCiphertext(_))
        ));
    }

    #[test]
    fn key_references_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let kms = manager(dir.path());
        let id = kms.create_key(NewKey::symmetric("t")).unwrap().key_id;
        assert_eq!(kms.resolve_key_id(&id).unwrap(), id);
        assert_eq!(kms.resolve_key_id(&kms.key_arn(&id)).unwrap(), id);
        let default = kms.ensure_default_key().unwrap().key_id;
        assert_eq!(kms.resolve_key_id("alias/aws/s3").unwrap(), default);
        assert_eq!(
            kms.resolve_key_id("arn:aws:kms:us-east-1:000000000000:alias/aws/s3")
                .unwrap(),
            default
        );
        assert!(matches!(
            kms.resolve_key_id("alias/nope"),
            Err(KmsError::NotFound(_))
        ));
        assert!(matches!(
            kms.resolve_key_id("not-a-uuid"),
            Err(KmsError::NotFound(_))
        ));
        assert!(matches!(
            kms.resolve_key_id(&format!("arn:aws:kms:eu-west-1:000000000000:key/{id}")),
            Err(KmsError::NotFound(_))
        ));
        let missing = KeyId::new_single_region().to_string();
        assert!(matches!(
            kms.generate_data_key(&op(), &missing, &EncryptionContext::new()),
            Err(KmsError::NotFound(_))
        ));
    }

    #[test]
    fn disabled_and_pending_deletion_keys_refuse_use() {
        let dir = tempfile::tempdir().unwrap();
        let kms = manager(dir.path());
        let id = kms.create_key(NewKey::symmetric("t")).unwrap().key_id;
        let ctx = EncryptionContext::new();
        let generated = kms.generate_data_key(&op(), &id, &ctx).unwrap();
        kms.set_key_state(&id, KeyState::Disabled).unwrap();
        assert!(matches!(
            kms.generate_data_key(&op(), &id, &ctx),
            Err(KmsError::Disabled(_))
        ));
        assert!(matches!(
            kms.unwrap_data_key(&op(), &generated.ciphertext_blob, &ctx),
            Err(KmsError::Disabled(_))
        ));
        kms.set_key_state(&id, KeyState::PendingDeletion).unwrap();
        assert!(matches!(
            kms.generate_data_key(&op(), &id, &ctx),
            Err(KmsError::InvalidState(_))
        ));
        assert!(
            kms.set_key_state(&id, KeyState::Enabled).is_err(),
            "only CancelKeyDeletion leaves PendingDeletion"
        );
        kms.update_key(&id, |r| {
            r.state = KeyState::Enabled;
            Ok(())
        })
        .unwrap();
        assert!(
            kms.unwrap_data_key(&op(), &generated.ciphertext_blob, &ctx)
                .is_ok()
        );
    }

    #[test]
    fn rotation_keeps_old_versions_and_due_work_runs() {
        let dir = tempfile::tempdir().unwrap();
        let kms = manager(dir.path());
        let id = kms.create_key(NewKey::symmetric("r")).unwrap().key_id;
        let ctx = EncryptionContext::new();
        let before = kms.generate_data_key(&op(), &id, &ctx).unwrap();
        let rotated = kms.rotate_key(&id, VersionOrigin::OnDemand, 100).unwrap();
        assert_eq!(rotated.current_version, 2);
        let after = kms.generate_data_key(&op(), &id, &ctx).unwrap();
        assert_eq!((before.key_version, after.key_version), (1, 2));
        assert!(
            kms.unwrap_data_key(&op(), &before.ciphertext_blob, &ctx)
                .is_ok()
        );

        // Automatic rotation when due; deletion when the date passes.
        let day = 86_400;
        kms.update_key(&id, |r| {
            r.rotation = Some(RotationSchedule {
                period_days: 90,
                next_rotation_at: 90 * day,
            });
            Ok(())
        })
        .unwrap();
        assert_eq!(kms.run_due_work(89 * day).unwrap(), DueWork::default());
        let done = kms.run_due_work(90 * day).unwrap();
        assert_eq!(done.rotated, vec![id.clone()]);
        let record = kms.describe_key(&id).unwrap();
        assert_eq!(record.current_version, 3);
        assert_eq!(record.rotation.unwrap().next_rotation_at, 180 * day);
        kms.update_key(&id, |r| {
            r.state = KeyState::PendingDeletion;
            r.deletion_date = Some(200 * day);
            Ok(())
        })
        .unwrap();
        assert!(kms.run_due_work(199 * day).unwrap().destroyed.is_empty());
        assert_eq!(
            kms.run_due_work(200 * day).unwrap().destroyed,
            vec![id.clone()]
        );
        assert!(matches!(kms.describe_key(&id), Err(KmsError::NotFound(_))));
        assert!(matches!(
            kms.unwrap_data_key(&op(), &after.ciphertext_blob, &ctx),
            Err(KmsError::NotFound(_))
        ));
    }

    #[test]
    fn on_demand_rotations_stop_at_the_limit_automatic_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let kms = manager(dir.path());
        let id = kms.create_key(NewKey::symmetric("limit")).unwrap().key_id;
        for _ in 0..MAX_ON_DEMAND_ROTATIONS {
            kms.rotate_key(&id, VersionOrigin::OnDemand, 100).unwrap();
        }
        assert!(matches!(
            kms.rotate_key(&id, VersionOrigin::OnDemand, 100),
            Err(KmsError::LimitExceeded(_))
        ));
        // A rotation that is not due is refused, a due one is not limited.
        assert!(matches!(
            kms.rotate_key(&id, VersionOrigin::Automatic, 100),
            Err(KmsError::Conflict(_))
        ));
        kms.update_key(&id, |r| {
            r.rotation = Some(RotationSchedule {
                period_days: 90,
                next_rotation_at: 100,
            });
            Ok(())
        })
        .unwrap();
        let record = kms.rotate_key(&id, VersionOrigin::Automatic, 100).unwrap();
        assert_eq!(record.current_version, MAX_ON_DEMAND_ROTATIONS as u32 + 2);
    }

    #[test]
    fn multi_region_keys_have_mrk_ids_version_2_blobs_and_rotate_only_as_primary() {
        let dir = tempfile::tempdir().unwrap();
        let kms = manager(dir.path());
        let record = kms.create_key(NewKey::symmetric_multi_region("m")).unwrap();
        let id = record.key_id.clone();
        assert!(super::super::key_id::is_multi_region_key_id(&id), "{id}");
        assert_eq!(
            record.multi_region,
            Some(MultiRegionConfig::new_primary("us-east-1"))
        );
        assert_eq!(kms.resolve_key_id(&id).unwrap(), id);
        assert_eq!(kms.resolve_key_id(&kms.key_arn(&id)).unwrap(), id);
        assert!(matches!(
            kms.resolve_key_id(&kms.key_arn_in("eu-west-1", &id)),
            Err(KmsError::NotFound(_))
        ));
        let ctx = EncryptionContext::for_object("b", "k");
        let generated = kms.generate_data_key(&op(), &id, &ctx).unwrap();
        assert_eq!(generated.ciphertext_blob[1], 2, "blob version 2");
        let unwrapped = kms
            .unwrap_data_key(&op(), &generated.ciphertext_blob, &ctx)
            .unwrap();
        assert_eq!(unwrapped.expose(), generated.plaintext.expose());
        let single = kms.create_key(NewKey::symmetric("s")).unwrap();
        let blob = kms
            .generate_data_key(&op(), &single.key_id, &ctx)
            .unwrap()
            .ciphertext_blob;
        assert_eq!(blob[1], 1, "single-Region keys keep writing version 1");

        // A rotation of the primary is a change its replicas must get.
        let rotated = kms.rotate_key(&id, VersionOrigin::OnDemand, 100).unwrap();
        let config = rotated.multi_region.unwrap();
        assert_eq!(config.generation, 2);

        // As a replica (its primary elsewhere) it refuses rotation, and
        // automatic rotation does not touch it.
        kms.update_key(&id, |r| {
            if let Some(config) = &mut r.multi_region {
                config.primary_region = "eu-west-1".into();
                config.replica_regions = vec!["us-east-1".into()];
            }
            r.rotation = Some(RotationSchedule {
                period_days: 90,
                next_rotation_at: 0,
            });
            Ok(())
        })
        .unwrap();
        assert!(matches!(
            kms.rotate_key(&id, VersionOrigin::OnDemand, 200),
            Err(KmsError::UnsupportedOperation(_))
        ));
        assert!(kms.run_due_work(1000).unwrap().rotated.is_empty());
        assert_eq!(kms.describe_key(&id).unwrap().current_version, 2);
    }

    #[test]
    fn replicas_behind_follow_generations() {
        let mut config = MultiRegionConfig::new_primary("us-east-1");
        config.replica_regions = vec!["eu-west-1".into(), "ap-south-1".into()];
        assert_eq!(config.replicas_behind().len(), 2);
        config.mark_synced("eu-west-1", 1);
        assert_eq!(config.replicas_behind(), vec!["ap-south-1".to_string()]);
        config.bump();
        assert_eq!(config.replicas_behind().len(), 2);
        config.mark_synced("eu-west-1", 2);
        config.mark_synced("eu-west-1", 1);
        assert_eq!(config.synced["eu-west-1"], 2, "never goes back");
        assert!(config.has_region("ap-south-1") && config.has_region("us-east-1"));
        assert!(!config.has_region("us-west-2"));
    }

    #[test]
    fn wrong_root_key_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        drop(manager(dir.path()));
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        let other = RootKey::from_text(&hex::encode([6u8; 32])).unwrap();
        let err = KeyManager::new(store, other, "us-east-1", "000000000000")
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("not the one this store was created with"),
            "{err}"
        );
    }
}
