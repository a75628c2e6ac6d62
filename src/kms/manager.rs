//! [`KeyManager`]: the key operations the S3 side (and, later, the KMS API) call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
type Nonce = aes_gcm::aead::Nonce<Aes256Gcm>;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::keys::KeyVersion;
use super::{CiphertextBlob, DataKey, EncryptionContext, KeyRecord, KeyState, KmsError, RootKey};
use crate::store::Store;

/// Setting that names the default key (used for `AES256` and header-less uploads).
const DEFAULT_KEY_SETTING: &str = "default_kms_key_id";
/// Setting holding a value sealed under the root key, to detect a wrong root key at start.
const ROOT_CHECK_SETTING: &str = "root_key_check";
/// The alias AWS gives the key that protects S3 objects by default.
pub const DEFAULT_KEY_ALIAS: &str = "alias/aws/s3";

/// Unsealed material of one key version.
type KeyMaterial = Zeroizing<Vec<u8>>;

/// A fresh data key and its wrapped form.
pub struct GeneratedDataKey {
    pub plaintext: DataKey,
    pub ciphertext_blob: Vec<u8>,
    pub key_id: String,
    pub key_version: u32,
}

pub struct KeyManager {
    store: Arc<Store>,
    root: RootKey,
    region: String,
    account_id: String,
    /// Unsealed key material by (key id, version). Material never changes for a
    /// version, so the cache needs no invalidation; key *state* is always read
    /// from the store so a disabled key stops working at once.
    material: Mutex<HashMap<(String, u32), Arc<KeyMaterial>>>,
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

    pub fn key_arn(&self, key_id: &str) -> String {
        format!(
            "arn:aws:kms:{}:{}:key/{}",
            self.region, self.account_id, key_id
        )
    }

    /// Creates a symmetric encryption key with fresh material (version 1).
    pub fn create_key(&self, description: &str) -> Result<KeyRecord, KmsError> {
        let record = self.new_key_record(description)?;
        self.store.insert_key(&record.key_id, &record)?;
        Ok(record)
    }

    fn new_key_record(&self, description: &str) -> Result<KeyRecord, KmsError> {
        let key_id = Uuid::new_v4().to_string();
        let material = DataKey::generate().map_err(|e| KmsError::Internal(e.to_string()))?;
        let now = unix_now();
        Ok(KeyRecord {
            key_id: key_id.clone(),
            description: description.to_string(),
            created_at: now,
            state: KeyState::Enabled,
            key_spec: "SYMMETRIC_DEFAULT".into(),
            key_usage: "ENCRYPT_DECRYPT".into(),
            origin: "AWS_KMS".into(),
            current_version: 1,
            versions: vec![KeyVersion {
                version: 1,
                created_at: now,
                sealed_material: self.root.seal_material(&key_id, 1, material.expose())?,
            }],
        })
    }

    /// The id of the default key, created (with its `alias/aws/s3` alias) on first use.
    pub fn ensure_default_key(&self) -> Result<String, KmsError> {
        if let Some(key_id) = self.store.get_setting(DEFAULT_KEY_SETTING)? {
            return Ok(key_id);
        }
        let record = self.new_key_record(
            "Default key that protects my S3 objects when no other key is defined",
        )?;
        Ok(self.store.insert_key_once(
            DEFAULT_KEY_SETTING,
            DEFAULT_KEY_ALIAS,
            &record.key_id,
            &record,
        )?)
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
        Uuid::parse_str(key_id).map_err(|_| not_found())?;
        Ok(key_id.to_string())
    }

    pub fn describe_key(&self, key_ref: &str) -> Result<KeyRecord, KmsError> {
        let key_id = self.resolve_key_id(key_ref)?;
        self.store
            .get_key(&key_id)?
            .ok_or(KmsError::NotFound(key_ref.to_string()))
    }

    pub fn list_keys(&self) -> Result<Vec<KeyRecord>, KmsError> {
        Ok(self.store.list_keys()?)
    }

    /// Changes a key's state (enable, disable, pending deletion).
    pub fn set_key_state(&self, key_ref: &str, state: KeyState) -> Result<KeyRecord, KmsError> {
        let key_id = self.resolve_key_id(key_ref)?;
        self.store
            .update_key::<KeyRecord, KmsError>(&key_id, |record| {
                record.state = state;
                Ok(())
            })?
            .ok_or(KmsError::NotFound(key_ref.to_string()))?
    }

    fn usable_record(&self, key_id: &str) -> Result<KeyRecord, KmsError> {
        let record: KeyRecord = self
            .store
            .get_key(key_id)?
            .ok_or_else(|| KmsError::NotFound(key_id.to_string()))?;
        match record.state {
            KeyState::Enabled => Ok(record),
            KeyState::Disabled => Err(KmsError::Disabled(self.key_arn(key_id))),
            KeyState::PendingDeletion => Err(KmsError::InvalidState(format!(
                "{} is pending deletion",
                self.key_arn(key_id)
            ))),
        }
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

    /// Encrypts `plaintext` under the current version of `key_ref`, bound to `context`.
    pub fn encrypt(
        &self,
        key_ref: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<(Vec<u8>, KeyRecord), KmsError> {
        let key_id = self.resolve_key_id(key_ref)?;
        let record = self.usable_record(&key_id)?;
        let material = self.material(&record, record.current_version)?;
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| KmsError::Internal(e.to_string()))?;
        let uuid = Uuid::parse_str(&key_id)
            .map_err(|_| KmsError::Internal("stored key id is not a UUID".into()))?;
        let mut blob = CiphertextBlob {
            key_id: uuid,
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
        Ok((blob.encode(), record))
    }

    /// Decrypts a blob made by [`Self::encrypt`]; the key comes from the blob itself.
    pub fn decrypt(
        &self,
        blob: &[u8],
        context: &EncryptionContext,
    ) -> Result<(Zeroizing<Vec<u8>>, KeyRecord, u32), KmsError> {
        let blob = CiphertextBlob::decode(blob)?;
        let record = self.usable_record(&blob.key_id.to_string())?;
        let material = self.material(&record, blob.key_version)?;
        let cipher = Aes256Gcm::new_from_slice(&material)
            .map_err(|_| KmsError::Internal("bad key material".into()))?;
        let plaintext = cipher
            .decrypt(
                &Nonce::from(blob.nonce),
                Payload {
                    msg: &blob.sealed,
                    aad: &blob.aad(context),
                },
            )
            .map_err(|_| {
                KmsError::InvalidCiphertext(
                    "authentication failed (wrong encryption context or corrupt blob)",
                )
            })?;
        Ok((Zeroizing::new(plaintext), record, blob.key_version))
    }

    /// A fresh 256-bit data key, returned in plaintext and wrapped under `key_ref`.
    pub fn generate_data_key(
        &self,
        key_ref: &str,
        context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, KmsError> {
        let plaintext = DataKey::generate().map_err(|e| KmsError::Internal(e.to_string()))?;
        let (ciphertext_blob, record) = self.encrypt(key_ref, plaintext.expose(), context)?;
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
        blob: &[u8],
        context: &EncryptionContext,
    ) -> Result<DataKey, KmsError> {
        let (plaintext, _, _) = self.decrypt(blob, context)?;
        DataKey::from_bytes(&plaintext).ok_or(KmsError::InvalidCiphertext(
            "wrapped data key has the wrong length",
        ))
    }
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

    fn manager(dir: &std::path::Path) -> KeyManager {
        let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
        let root = RootKey::from_text(&hex::encode([5u8; 32])).unwrap();
        KeyManager::new(store, root, "us-east-1", "000000000000").unwrap()
    }

    #[test]
    fn data_key_round_trip_and_context_binding() {
        let dir = tempfile::tempdir().unwrap();
        let kms = manager(dir.path());
        let key_id = kms.ensure_default_key().unwrap();
        assert_eq!(
            kms.ensure_default_key().unwrap(),
            key_id,
            "default key is created once"
        );
        let ctx = EncryptionContext::for_object("b", "k");
        let generated = kms.generate_data_key(DEFAULT_KEY_ALIAS, &ctx).unwrap();
        assert_eq!(generated.key_id, key_id);
        let unwrapped = kms
            .unwrap_data_key(&generated.ciphertext_blob, &ctx)
            .unwrap();
        assert_eq!(unwrapped.expose(), generated.plaintext.expose());
        let other = EncryptionContext::for_object("b", "k2");
        assert!(matches!(
            kms.unwrap_data_key(&generated.ciphertext_blob, &other),
            Err(KmsError::InvalidCiphertext(_))
        ));
    }

    #[test]
    fn key_references_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let kms = manager(dir.path());
        let id = kms.create_key("t").unwrap().key_id;
        assert_eq!(kms.resolve_key_id(&id).unwrap(), id);
        assert_eq!(kms.resolve_key_id(&kms.key_arn(&id)).unwrap(), id);
        let default = kms.ensure_default_key().unwrap();
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
        let missing = Uuid::new_v4().to_string();
        assert!(matches!(
            kms.generate_data_key(&missing, &EncryptionContext::new()),
            Err(KmsError::NotFound(_))
        ));
    }

    #[test]
    fn disabled_and_pending_deletion_keys_refuse_use() {
        let dir = tempfile::tempdir().unwrap();
        let kms = manager(dir.path());
        let id = kms.create_key("t").unwrap().key_id;
        let ctx = EncryptionContext::new();
        let generated = kms.generate_data_key(&id, &ctx).unwrap();
        kms.set_key_state(&id, KeyState::Disabled).unwrap();
        assert!(matches!(
            kms.generate_data_key(&id, &ctx),
            Err(KmsError::Disabled(_))
        ));
        assert!(matches!(
            kms.unwrap_data_key(&generated.ciphertext_blob, &ctx),
            Err(KmsError::Disabled(_))
        ));
        kms.set_key_state(&id, KeyState::PendingDeletion).unwrap();
        assert!(matches!(
            kms.generate_data_key(&id, &ctx),
            Err(KmsError::InvalidState(_))
        ));
        kms.set_key_state(&id, KeyState::Enabled).unwrap();
        assert!(
            kms.unwrap_data_key(&generated.ciphertext_blob, &ctx)
                .is_ok()
        );
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
