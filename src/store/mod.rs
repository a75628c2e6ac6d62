//! s3seal's persistent state: the embedded database (redb).
//!
//! Everything stateful lives here: KMS keys and their versions, aliases, and
//! settings such as the default key. Records are JSON values in named tables;
//! every change is one ACID transaction, fsynced before it returns, so a crash
//! (`kill -9`) at any point leaves either the old or the new state.
//! A second backend (PostgreSQL) is planned; callers only see this facade.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("kms_keys");
const ALIASES: TableDefinition<&str, &str> = TableDefinition::new("kms_aliases");
const SETTINGS: TableDefinition<&str, &str> = TableDefinition::new("settings");
/// The object index: a rebuildable cache, see [`crate::s3::object_index`].
const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("object_index");
/// Stream layouts of multipart objects, recorded at completion; see
/// [`crate::s3::layouts`]. Rebuildable from the objects, but only a recorded
/// layout detects a multipart object whose last parts were dropped.
const LAYOUTS: TableDefinition<&str, &[u8]> = TableDefinition::new("sealed_layouts");
/// Multipart uploads in progress: their wrapped data key and metadata.
const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("multipart_uploads");
/// The checksum each uploaded part recorded, by `upload id/part number/ETag`
/// (the ETag tells two uploads of one part number apart).
const UPLOAD_PARTS: TableDefinition<&str, &[u8]> = TableDefinition::new("multipart_part_checksums");
/// KMS grants by grant id.
const GRANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("kms_grants");
/// Per-bucket settings s3seal enforces itself: bucket policy, default encryption.
const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("bucket_settings");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {message}")]
    Open { path: String, message: String },
    #[error("store I/O failed: {0}")]
    Io(String),
    #[error("corrupt record in table {table}: {message}")]
    Corrupt {
        table: &'static str,
        message: String,
    },
    #[error("{0} already exists")]
    AlreadyExists(String),
}

macro_rules! io_err {
    ($e:expr) => {
        $e.map_err(|e| StoreError::Io(e.to_string()))
    };
}

pub struct Store {
    db: Database,
}

impl Store {
    /// Opens (creating if needed) the database file and its tables.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        }
        let db = Database::create(path).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let txn = io_err!(db.begin_write())?;
        io_err!(txn.open_table(KEYS))?;
        io_err!(txn.open_table(ALIASES))?;
        io_err!(txn.open_table(SETTINGS))?;
        io_err!(txn.open_table(OBJECTS))?;
        io_err!(txn.open_table(LAYOUTS))?;
        io_err!(txn.open_table(UPLOADS))?;
        io_err!(txn.open_table(UPLOAD_PARTS))?;
        io_err!(txn.open_table(GRANTS))?;
        io_err!(txn.open_table(BUCKETS))?;
        io_err!(txn.commit())?;
        Ok(Store { db })
    }

    pub fn get_key<T: DeserializeOwned>(&self, key_id: &str) -> Result<Option<T>, StoreError> {
        let txn = io_err!(self.db.begin_read())?;
        let table = io_err!(txn.open_table(KEYS))?;
        match io_err!(table.get(key_id))? {
            Some(value) => decode("kms_keys", value.value()).map(Some),
            None => Ok(None),
        }
    }

    pub fn list_keys<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        let txn = io_err!(self.db.begin_read())?;
        let table = io_err!(txn.open_table(KEYS))?;
        let mut out = Vec::new();
        for entry in io_err!(table.iter())? {
            let (_, value) = io_err!(entry)?;
            out.push(decode("kms_keys", value.value())?);
        }
        Ok(out)
    }

    /// Inserts a new key record; fails if the id is taken.
    pub fn insert_key<T: Serialize>(&self, key_id: &str, record: &T) -> Result<(), StoreError> {
        let bytes = encode(record)?;
        let txn = io_err!(self.db.begin_write())?;
        {
            let mut table = io_err!(txn.open_table(KEYS))?;
            if io_err!(table.get(key_id))?.is_some() {
                return Err(StoreError::AlreadyExists(format!("key {key_id}")));
            }
            io_err!(table.insert(key_id, bytes.as_slice()))?;
        }
        io_err!(txn.commit())
    }

    /// Read-modify-write of one key record in a single transaction.
    /// Returns `Ok(None)` if the key does not exist.
    pub fn update_key<T, E>(
        &self,
        key_id: &str,
        change: impl FnOnce(&mut T) -> Result<(), E>,
    ) -> Result<Option<Result<T, E>>, StoreError>
    where
        T: Serialize + DeserializeOwned,
    {
        let txn = io_err!(self.db.begin_write())?;
        let outcome = {
            let mut table = io_err!(txn.open_table(KEYS))?;
            let current = match io_err!(table.get(key_id))? {
                Some(value) => decode::<T>("kms_keys", value.value())?,
                None => return Ok(None),
            };
            let mut record = current;
            match change(&mut record) {
                Ok(()) => {
                    let bytes = encode(&record)?;
                    io_err!(table.insert(key_id, bytes.as_slice()))?;
                    Ok(record)
                }
                Err(e) => Err(e),
            }
        };
        if outcome.is_ok() {
            io_err!(txn.commit())?;
        } else {
            io_err!(txn.abort())?;
        }
        Ok(Some(outcome))
    }

    /// Creates the key named by setting `setting` unless that setting exists,
    /// in one transaction: inserts `record`, the setting and `alias` (if the
    /// alias is free). Returns the key id the setting names afterwards, so
    /// concurrent callers agree on one key.
    pub fn insert_key_once<T: Serialize>(
        &self,
        setting: &str,
        alias: &str,
        key_id: &str,
        record: &T,
    ) -> Result<String, StoreError> {
        let bytes = encode(record)?;
        let txn = io_err!(self.db.begin_write())?;
        {
            let mut settings = io_err!(txn.open_table(SETTINGS))?;
            if let Some(existing) = io_err!(settings.get(setting))? {
                return Ok(existing.value().to_string());
            }
            io_err!(settings.insert(setting, key_id))?;
            let mut keys = io_err!(txn.open_table(KEYS))?;
            io_err!(keys.insert(key_id, bytes.as_slice()))?;
            let mut aliases = io_err!(txn.open_table(ALIASES))?;
            if io_err!(aliases.get(alias))?.is_none() {
                io_err!(aliases.insert(alias, key_id))?;
            }
        }
        io_err!(txn.commit())?;
        Ok(key_id.to_string())
    }

    pub fn get_alias(&self, alias: &str) -> Result<Option<String>, StoreError> {
        let txn = io_err!(self.db.begin_read())?;
        let table = io_err!(txn.open_table(ALIASES))?;
        Ok(io_err!(table.get(alias))?.map(|v| v.value().to_string()))
    }

    pub fn put_alias(&self, alias: &str, key_id: &str) -> Result<(), StoreError> {
        let txn = io_err!(self.db.begin_write())?;
        {
            let mut table = io_err!(txn.open_table(ALIASES))?;
            io_err!(table.insert(alias, key_id))?;
        }
        io_err!(txn.commit())
    }

    /// Reads an object-index entry.
    pub fn get_object_entry<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let txn = io_err!(self.db.begin_read())?;
        let table = io_err!(txn.open_table(OBJECTS))?;
        match io_err!(table.get(key))? {
            Some(value) => decode("object_index", value.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Writes (or, with `None`, removes) an object-index entry. The index is a
    /// cache rebuilt from the objects themselves, so these commits skip the
    /// fsync: a crash may lose recent entries, never correctness.
    pub fn put_object_entry<T: Serialize>(
        &self,
        key: &str,
        entry: Option<&T>,
    ) -> Result<(), StoreError> {
        let bytes = entry.map(encode).transpose()?;
        let mut txn = io_err!(self.db.begin_write())?;
        io_err!(txn.set_durability(redb::Durability::None))?;
        {
            let mut table = io_err!(txn.open_table(OBJECTS))?;
            match &bytes {
                Some(bytes) => io_err!(table.insert(key, bytes.as_slice()))?,
                None => io_err!(table.remove(key))?,
            };
        }
        io_err!(txn.commit())
    }

    /// Creates an alias; fails if the name is taken.
    pub fn insert_alias(&self, alias: &str, key_id: &str) -> Result<(), StoreError> {
        let txn = io_err!(self.db.begin_write())?;
        {
            let mut table = io_err!(txn.open_table(ALIASES))?;
            if io_err!(table.get(alias))?.is_some() {
                return Err(StoreError::AlreadyExists(alias.to_string()));
            }
            io_err!(table.insert(alias, key_id))?;
        }
        io_err!(txn.commit())
    }

    /// Removes an alias; `false` if it did not exist.
    pub fn delete_alias(&self, alias: &str) -> Result<bool, StoreError> {
        let txn = io_err!(self.db.begin_write())?;
        let existed = {
            let mut table = io_err!(txn.open_table(ALIASES))?;
            io_err!(table.remove(alias))?.is_some()
        };
        io_err!(txn.commit())?;
        Ok(existed)
    }

    /// Every alias and the key id it names, sorted by alias.
    pub fn list_aliases(&self) -> Result<Vec<(String, String)>, StoreError> {
        let txn = io_err!(self.db.begin_read())?;
        let table = io_err!(txn.open_table(ALIASES))?;
        let mut out = Vec::new();
        for entry in io_err!(table.iter())? {
            let (k, v) = io_err!(entry)?;
            out.push((k.value().to_string(), v.value().to_string()));
        }
        Ok(out)
    }

    /// Destroys a key: its record (with all its material), its aliases and its
    /// grants, in one transaction.
    pub fn destroy_key<G: DeserializeOwned + HasKeyId>(
        &self,
        key_id: &str,
    ) -> Result<(), StoreError> {
        let txn = io_err!(self.db.begin_write())?;
        {
            let mut keys = io_err!(txn.open_table(KEYS))?;
            io_err!(keys.remove(key_id))?;
            let mut aliases = io_err!(txn.open_table(ALIASES))?;
            io_err!(aliases.retain(|_, target| target != key_id))?;
            let mut grants = io_err!(txn.open_table(GRANTS))?;
            io_err!(grants.retain(|_, value| {
                decode::<G>("kms_grants", value).map_or(true, |g| g.key_id() != key_id)
            }))?;
        }
        io_err!(txn.commit())
    }

    pub fn put_grant<T: Serialize>(
        &self,
        grant_id: &str,
        grant: Option<&T>,
    ) -> Result<(), StoreError> {
        self.put_json(GRANTS, grant_id, grant)
    }

    pub fn list_grants<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        let txn = io_err!(self.db.begin_read())?;
        let table = io_err!(txn.open_table(GRANTS))?;
        let mut out = Vec::new();
        for entry in io_err!(table.iter())? {
            let (_, value) = io_err!(entry)?;
            out.push(decode("kms_grants", value.value())?);
        }
        Ok(out)
    }

    pub fn get_bucket_settings<T: DeserializeOwned>(
        &self,
        bucket: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get_json(BUCKETS, "bucket_settings", bucket)
    }

    pub fn put_bucket_settings<T: Serialize>(
        &self,
        bucket: &str,
        settings: Option<&T>,
    ) -> Result<(), StoreError> {
        self.put_json(BUCKETS, bucket, settings)
    }

    pub fn get_layout<T: DeserializeOwned>(
        &self,
        object_id: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get_json(LAYOUTS, "sealed_layouts", object_id)
    }

    /// Records a layout (durably: it is what detects dropped parts).
    pub fn put_layout<T: Serialize>(&self, object_id: &str, layout: &T) -> Result<(), StoreError> {
        self.put_json(LAYOUTS, object_id, Some(layout))
    }

    pub fn get_upload<T: DeserializeOwned>(
        &self,
        upload_id: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get_json(UPLOADS, "multipart_uploads", upload_id)
    }

    pub fn put_upload<T: Serialize>(
        &self,
        upload_id: &str,
        upload: Option<&T>,
    ) -> Result<(), StoreError> {
        self.put_json(UPLOADS, upload_id, upload)
    }

    pub fn get_part_checksum<T: DeserializeOwned>(
        &self,
        upload_id: &str,
        part_number: u32,
        etag: &str,
    ) -> Result<Option<T>, StoreError> {
        let key = part_key(upload_id, part_number, etag);
        self.get_json(UPLOAD_PARTS, "multipart_part_checksums", &key)
    }

    pub fn put_part_checksum<T: Serialize>(
        &self,
        upload_id: &str,
        part_number: u32,
        etag: &str,
        checksum: &T,
    ) -> Result<(), StoreError> {
        let key = part_key(upload_id, part_number, etag);
        self.put_json(UPLOAD_PARTS, &key, Some(checksum))
    }

    /// Forgets the part checksums of a completed or aborted upload.
    pub fn forget_part_checksums(&self, upload_id: &str) -> Result<(), StoreError> {
        // Every key of the upload sorts between "<id>/" and "<id>0" ('0' follows '/').
        let (first, end) = (format!("{upload_id}/"), format!("{upload_id}0"));
        let txn = io_err!(self.db.begin_write())?;
        {
            let mut table = io_err!(txn.open_table(UPLOAD_PARTS))?;
            io_err!(table.retain_in(first.as_str()..end.as_str(), |_, _| false))?;
        }
        io_err!(txn.commit())
    }

    fn get_json<T: DeserializeOwned>(
        &self,
        definition: TableDefinition<&str, &[u8]>,
        table_name: &'static str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let txn = io_err!(self.db.begin_read())?;
        let table = io_err!(txn.open_table(definition))?;
        match io_err!(table.get(key))? {
            Some(value) => decode(table_name, value.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Writes (or, with `None`, removes) one record, durably.
    fn put_json<T: Serialize>(
        &self,
        definition: TableDefinition<&str, &[u8]>,
        key: &str,
        record: Option<&T>,
    ) -> Result<(), StoreError> {
        let bytes = record.map(encode).transpose()?;
        let txn = io_err!(self.db.begin_write())?;
        {
            let mut table = io_err!(txn.open_table(definition))?;
            match &bytes {
                Some(bytes) => io_err!(table.insert(key, bytes.as_slice()))?,
                None => io_err!(table.remove(key))?,
            };
        }
        io_err!(txn.commit())
    }

    /// Empties the object index and the recorded layouts (both rebuildable).
    /// Returns how many records were dropped.
    pub fn reset_rebuildable(&self) -> Result<u64, StoreError> {
        let txn = io_err!(self.db.begin_write())?;
        let mut dropped = 0;
        for table in [OBJECTS, LAYOUTS] {
            let mut table = io_err!(txn.open_table(table))?;
            dropped += io_err!(table.len())?;
            io_err!(table.retain(|_, _| false))?;
        }
        io_err!(txn.commit())?;
        Ok(dropped)
    }

    pub fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let txn = io_err!(self.db.begin_read())?;
        let table = io_err!(txn.open_table(SETTINGS))?;
        Ok(io_err!(table.get(name))?.map(|v| v.value().to_string()))
    }

    /// Sets (or replaces) a setting, durably.
    pub fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let txn = io_err!(self.db.begin_write())?;
        {
            let mut table = io_err!(txn.open_table(SETTINGS))?;
            io_err!(table.insert(name, value))?;
        }
        io_err!(txn.commit())
    }

    /// Removes a setting and returns its value, in one transaction (so a
    /// one-time value is taken at most once).
    pub fn take_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let txn = io_err!(self.db.begin_write())?;
        let value = {
            let mut table = io_err!(txn.open_table(SETTINGS))?;
            io_err!(table.remove(name))?.map(|v| v.value().to_string())
        };
        io_err!(txn.commit())?;
        Ok(value)
    }

    /// Sets `name` to the value `make` returns unless it is already set; returns
    /// the stored value. The check and the write are one transaction, so two
    /// racing callers agree on one value. `make` must not use the store.
    pub fn setting_or_insert_with<E: From<StoreError>>(
        &self,
        name: &str,
        make: impl FnOnce() -> Result<String, E>,
    ) -> Result<String, E> {
        let txn = io_err!(self.db.begin_write())?;
        let value = {
            let mut table = io_err!(txn.open_table(SETTINGS))?;
            if let Some(existing) = io_err!(table.get(name))? {
                return Ok(existing.value().to_string());
            }
            let value = make()?;
            io_err!(table.insert(name, value.as_str()))?;
            value
        };
        io_err!(txn.commit())?;
        Ok(value)
    }
}

/// Records that belong to one KMS key.
fn part_key(upload_id: &str, part_number: u32, etag: &str) -> String {
    format!("{upload_id}/{part_number:05}/{}", etag.trim_matches('"'))
}

pub trait HasKeyId {
    fn key_id(&self) -> &str;
}

fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::Io(e.to_string()))
}

fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        {
            let store = Store::open(&path).unwrap();
            store
                .insert_key("k1", &serde_json::json!({"n": 1}))
                .unwrap();
            assert!(
                store
                    .insert_key("k1", &serde_json::json!({"n": 2}))
                    .is_err()
            );
            store.put_alias("alias/a", "k1").unwrap();
            let v: String = store
                .setting_or_insert_with::<StoreError>("default", || Ok("k1".into()))
                .unwrap();
            assert_eq!(v, "k1");
            let v: String = store
                .setting_or_insert_with::<StoreError>("default", || Ok("k2".into()))
                .unwrap();
            assert_eq!(v, "k1");
        }
        let store = Store::open(&path).unwrap();
        let rec: serde_json::Value = store.get_key("k1").unwrap().unwrap();
        assert_eq!(rec["n"], 1);
        assert_eq!(store.get_alias("alias/a").unwrap().as_deref(), Some("k1"));
        assert_eq!(store.get_setting("default").unwrap().as_deref(), Some("k1"));
        assert_eq!(
            store
                .insert_key_once("dk", "alias/d", "k9", &serde_json::json!({"n": 9}))
                .unwrap(),
            "k9"
        );
        assert_eq!(
            store
                .insert_key_once("dk", "alias/d", "k10", &serde_json::json!({"n": 10}))
                .unwrap(),
            "k9"
        );
        assert!(store.get_key::<serde_json::Value>("k10").unwrap().is_none());
        assert_eq!(store.get_alias("alias/d").unwrap().as_deref(), Some("k9"));
    }

    #[test]
    fn failed_update_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        store.insert_key("k", &serde_json::json!({"n": 1})).unwrap();
        let out = store
            .update_key::<serde_json::Value, &str>("k", |v| {
                v["n"] = 2.into();
                Err("no")
            })
            .unwrap();
        assert!(matches!(out, Some(Err("no"))));
        let rec: serde_json::Value = store.get_key("k").unwrap().unwrap();
        assert_eq!(rec["n"], 1);
        assert!(
            store
                .update_key::<serde_json::Value, ()>("missing", |_| Ok(()))
                .unwrap()
                .is_none()
        );
    }
}
