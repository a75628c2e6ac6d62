//! s3seal's persistent state, behind one facade over two backends.
//!
//! Everything stateful lives here: KMS keys and their versions, aliases,
//! grants, settings (the default key, audit chain heads), bucket policies
//! and encryption, the object index, layouts and multipart uploads. Records
//! are JSON values (or text) in named tables ([`Table`]); [`Store`] gives
//! them types and builds every multi-record change as one transaction.
//!
//! Backends ([`backend::Backend`]):
//! - [`embedded`]: a redb file, the zero-setup default for one instance;
//! - [`postgres`]: PostgreSQL, shared by several instances, with a cache of
//!   the configuration tables kept current by LISTEN/NOTIFY.
//!
//! [`transfer`] moves a store between backends (`s3seal store export|import`).

pub mod backend;
pub mod embedded;
pub mod postgres;
pub mod transfer;

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use backend::Table;
use backend::{Backend, Durability, WriteTxn};

use crate::config::{StoreBackendKind, StoreConfig};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {message}")]
    Open { path: String, message: String },
    #[error("store I/O failed: {0}")]
    Io(String),
    /// The store cannot be reached (PostgreSQL down, pool exhausted): every
    /// request that needs it fails closed.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt record in table {table}: {message}")]
    Corrupt {
        table: &'static str,
        message: String,
    },
    #[error("{0} already exists")]
    AlreadyExists(String),
}

pub struct Store {
    backend: Box<dyn Backend>,
}

impl Store {
    /// Opens (creating if needed) an embedded store file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self::with_backend(Box::new(
            embedded::EmbeddedBackend::open(path)?,
        )))
    }

    /// Opens the store `config` selects (migrating a PostgreSQL schema).
    pub fn connect(config: &StoreConfig) -> Result<Self, StoreError> {
        match config.backend {
            StoreBackendKind::Embedded => Self::open(&config.path),
            StoreBackendKind::Postgres => Ok(Self::with_backend(Box::new(
                postgres::PostgresBackend::connect(config)?,
            ))),
        }
    }

    pub fn with_backend(backend: Box<dyn Backend>) -> Self {
        Store { backend }
    }

    /// Where the data lives, for messages.
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Whether the store can serve requests now.
    pub fn check_ready(&self) -> Result<(), StoreError> {
        self.backend.check_ready()
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    pub fn get_key<T: DeserializeOwned>(&self, key_id: &str) -> Result<Option<T>, StoreError> {
        self.get_json(Table::Keys, key_id)
    }

    pub fn list_keys<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.list_json(Table::Keys)
    }

    /// Inserts a new key record; fails if the id is taken.
    pub fn insert_key<T: Serialize>(&self, key_id: &str, record: &T) -> Result<(), StoreError> {
        let bytes = encode(record)?;
        let mut inserted = false;
        self.durable(|txn| {
            inserted = txn.insert_new(Table::Keys, key_id, &bytes)?;
            Ok(inserted)
        })?;
        match inserted {
            true => Ok(()),
            false => Err(StoreError::AlreadyExists(format!("key {key_id}"))),
        }
    }

    /// Read-modify-write of one key record in a single transaction; the
    /// record stays locked meanwhile, so concurrent updates (from any
    /// instance) apply one after the other. `Ok(None)` if the key does not
    /// exist; nothing is written if `change` fails.
    pub fn update_key<T, E>(
        &self,
        key_id: &str,
        change: impl FnOnce(&mut T) -> Result<(), E>,
    ) -> Result<Option<Result<T, E>>, StoreError>
    where
        T: Serialize + DeserializeOwned,
    {
        let mut change = Some(change);
        let mut outcome = None;
        self.durable(|txn| {
            let Some(bytes) = txn.get(Table::Keys, key_id)? else {
                return Ok(false);
            };
            let mut record: T = decode(Table::Keys, &bytes)?;
            let Some(change) = change.take() else {
                return Ok(false);
            };
            match change(&mut record) {
                Ok(()) => {
                    txn.put(Table::Keys, key_id, &encode(&record)?)?;
                    outcome = Some(Ok(record));
                    Ok(true)
                }
                Err(err) => {
                    outcome = Some(Err(err));
                    Ok(false)
                }
            }
        })?;
        Ok(outcome)
    }

    /// Creates the key named by setting `setting` unless that setting exists,
    /// in one transaction: inserts `record`, the setting and `alias` (if the
    /// alias is free). Returns the key id the setting names afterwards, so
    /// concurrent callers (and instances) agree on one key.
    pub fn insert_key_once<T: Serialize>(
        &self,
        setting: &str,
        alias: &str,
        key_id: &str,
        record: &T,
    ) -> Result<String, StoreError> {
        let bytes = encode(record)?;
        let mut created = false;
        self.durable(|txn| {
            created = txn.insert_new(Table::Settings, setting, key_id.as_bytes())?;
            if created {
                txn.insert_new(Table::Keys, key_id, &bytes)?;
                txn.insert_new(Table::Aliases, alias, key_id.as_bytes())?;
            }
            Ok(created)
        })?;
        match created {
            true => Ok(key_id.to_string()),
            false => self
                .get_setting(setting)?
                .ok_or_else(|| StoreError::Io(format!("setting {setting} vanished"))),
        }
    }

    pub fn get_alias(&self, alias: &str) -> Result<Option<String>, StoreError> {
        self.get_text(Table::Aliases, alias)
    }

    pub fn put_alias(&self, alias: &str, key_id: &str) -> Result<(), StoreError> {
        self.put_record(Table::Aliases, alias, Some(key_id.as_bytes().to_vec()))
    }

    /// Creates an alias; fails if the name is taken.
    pub fn insert_alias(&self, alias: &str, key_id: &str) -> Result<(), StoreError> {
        let mut inserted = false;
        self.durable(|txn| {
            inserted = txn.insert_new(Table::Aliases, alias, key_id.as_bytes())?;
            Ok(inserted)
        })?;
        match inserted {
            true => Ok(()),
            false => Err(StoreError::AlreadyExists(alias.to_string())),
        }
    }

    /// Removes an alias; `false` if it did not exist.
    pub fn delete_alias(&self, alias: &str) -> Result<bool, StoreError> {
        let mut existed = false;
        self.durable(|txn| {
            existed = txn.delete(Table::Aliases, alias)?;
            Ok(existed)
        })?;
        Ok(existed)
    }

    /// Every alias and the key id it names, sorted by alias.
    pub fn list_aliases(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.backend
            .scan(Table::Aliases)?
            .into_iter()
            .map(|(alias, target)| Ok((alias, text(Table::Aliases, target)?)))
            .collect()
    }

    /// Reads an object-index entry.
    pub fn get_object_entry<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get_json(Table::Objects, key)
    }

    /// Writes (or, with `None`, removes) an object-index entry. The index is a
    /// cache rebuilt from the objects themselves, so these writes are not
    /// synced: a crash may lose recent entries, never correctness.
    pub fn put_object_entry<T: Serialize>(
        &self,
        key: &str,
        entry: Option<&T>,
    ) -> Result<(), StoreError> {
        let bytes = entry.map(encode).transpose()?;
        self.backend.write(Durability::Relaxed, &mut |txn| {
            match &bytes {
                Some(bytes) => txn.put(Table::Objects, key, bytes)?,
                None => {
                    txn.delete(Table::Objects, key)?;
                }
            }
            Ok(true)
        })
    }

    /// Destroys a key: its record (with all its material), its aliases and its
    /// grants, in one transaction.
    pub fn destroy_key<G: DeserializeOwned + HasKeyId>(
        &self,
        key_id: &str,
    ) -> Result<(), StoreError> {
        self.durable(|txn| {
            txn.delete(Table::Keys, key_id)?;
            for (alias, target) in txn.scan(Table::Aliases, None)? {
                if target == key_id.as_bytes() {
                    txn.delete(Table::Aliases, &alias)?;
                }
            }
            for (grant_id, grant) in txn.scan(Table::Grants, None)? {
                if decode::<G>(Table::Grants, &grant).is_ok_and(|g| g.key_id() == key_id) {
                    txn.delete(Table::Grants, &grant_id)?;
                }
            }
            Ok(true)
        })
    }

    pub fn put_grant<T: Serialize>(
        &self,
        grant_id: &str,
        grant: Option<&T>,
    ) -> Result<(), StoreError> {
        self.put_json(Table::Grants, grant_id, grant)
    }

    pub fn list_grants<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.list_json(Table::Grants)
    }

    pub fn get_bucket_settings<T: DeserializeOwned>(
        &self,
        bucket: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get_json(Table::Buckets, bucket)
    }

    pub fn put_bucket_settings<T: Serialize>(
        &self,
        bucket: &str,
        settings: Option<&T>,
    ) -> Result<(), StoreError> {
        self.put_json(Table::Buckets, bucket, settings)
    }

    pub fn get_layout<T: DeserializeOwned>(
        &self,
        object_id: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get_json(Table::Layouts, object_id)
    }

    /// Records a layout (durably: it is what detects dropped parts).
    pub fn put_layout<T: Serialize>(&self, object_id: &str, layout: &T) -> Result<(), StoreError> {
        self.put_json(Table::Layouts, object_id, Some(layout))
    }

    pub fn get_upload<T: DeserializeOwned>(
        &self,
        upload_id: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get_json(Table::Uploads, upload_id)
    }

    pub fn put_upload<T: Serialize>(
        &self,
        upload_id: &str,
        upload: Option<&T>,
    ) -> Result<(), StoreError> {
        self.put_json(Table::Uploads, upload_id, upload)
    }

    pub fn get_part_checksum<T: DeserializeOwned>(
        &self,
        upload_id: &str,
        part_number: u32,
        etag: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get_json(Table::UploadParts, &part_key(upload_id, part_number, etag))
    }

    pub fn put_part_checksum<T: Serialize>(
        &self,
        upload_id: &str,
        part_number: u32,
        etag: &str,
        checksum: &T,
    ) -> Result<(), StoreError> {
        let key = part_key(upload_id, part_number, etag);
        self.put_json(Table::UploadParts, &key, Some(checksum))
    }

    /// Forgets the part checksums of a completed or aborted upload.
    pub fn forget_part_checksums(&self, upload_id: &str) -> Result<(), StoreError> {
        // Every key of the upload sorts between "<id>/" and "<id>0" ('0' follows '/').
        let (first, end) = (format!("{upload_id}/"), format!("{upload_id}0"));
        self.durable(|txn| {
            txn.delete_range(Table::UploadParts, Some((&first, &end)))?;
            Ok(true)
        })
    }

    /// Empties the object index and the recorded layouts (both rebuildable).
    /// Returns how many records were dropped.
    pub fn reset_rebuildable(&self) -> Result<u64, StoreError> {
        let mut dropped = 0;
        self.durable(|txn| {
            dropped = txn.delete_range(Table::Objects, None)?;
            dropped += txn.delete_range(Table::Layouts, None)?;
            Ok(true)
        })?;
        Ok(dropped)
    }

    pub fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.get_text(Table::Settings, name)
    }

    /// Sets (or replaces) a setting, durably.
    pub fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.put_record(Table::Settings, name, Some(value.as_bytes().to_vec()))
    }

    /// Removes a setting and returns its value, in one transaction (so a
    /// one-time value is taken at most once).
    pub fn take_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let mut taken = None;
        self.durable(|txn| {
            taken = txn.get(Table::Settings, name)?;
            if taken.is_some() {
                txn.delete(Table::Settings, name)?;
            }
            Ok(taken.is_some())
        })?;
        taken.map(|bytes| text(Table::Settings, bytes)).transpose()
    }

    /// Sets `name` to the value `make` returns unless it is already set; returns
    /// the stored value. Racing callers (and instances) agree on one value:
    /// the first insert wins and the others read it. `make` must not use the
    /// store; it may run in callers whose value is then discarded.
    pub fn setting_or_insert_with<E: From<StoreError>>(
        &self,
        name: &str,
        make: impl FnOnce() -> Result<String, E>,
    ) -> Result<String, E> {
        if let Some(existing) = self.get_setting(name)? {
            return Ok(existing);
        }
        let value = make()?;
        let mut inserted = false;
        self.durable(|txn| {
            inserted = txn.insert_new(Table::Settings, name, value.as_bytes())?;
            Ok(inserted)
        })?;
        match inserted {
            true => Ok(value),
            false => Ok(self
                .get_setting(name)?
                .ok_or_else(|| StoreError::Io(format!("setting {name} vanished")))?),
        }
    }

    /// Every record of every table, from one consistent snapshot.
    pub fn snapshot(&self, each: &mut backend::RecordVisitor<'_>) -> Result<(), StoreError> {
        self.backend.snapshot(each)
    }

    fn durable(
        &self,
        mut work: impl FnMut(&mut dyn WriteTxn) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        self.backend.write(Durability::Durable, &mut work)
    }

    fn get_json<T: DeserializeOwned>(
        &self,
        table: Table,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.backend.get(table, key)? {
            Some(bytes) => decode(table, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn list_json<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<T>, StoreError> {
        self.backend
            .scan(table)?
            .iter()
            .map(|(_, value)| decode(table, value))
            .collect()
    }

    fn get_text(&self, table: Table, key: &str) -> Result<Option<String>, StoreError> {
        self.backend
            .get(table, key)?
            .map(|bytes| text(table, bytes))
            .transpose()
    }

    /// Writes (or, with `None`, removes) one record, durably.
    fn put_json<T: Serialize>(
        &self,
        table: Table,
        key: &str,
        record: Option<&T>,
    ) -> Result<(), StoreError> {
        self.put_record(table, key, record.map(encode).transpose()?)
    }

    fn put_record(
        &self,
        table: Table,
        key: &str,
        value: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        self.durable(|txn| {
            match &value {
                Some(bytes) => txn.put(table, key, bytes)?,
                None => {
                    txn.delete(table, key)?;
                }
            }
            Ok(true)
        })
    }
}

fn part_key(upload_id: &str, part_number: u32, etag: &str) -> String {
    format!("{upload_id}/{part_number:05}/{}", etag.trim_matches('"'))
}

/// Records that belong to one KMS key.
pub trait HasKeyId {
    fn key_id(&self) -> &str;
}

fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::Io(e.to_string()))
}

fn decode<T: DeserializeOwned>(table: Table, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table: table.name(),
        message: e.to_string(),
    })
}

fn text(table: Table, bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|_| StoreError::Corrupt {
        table: table.name(),
        message: "value is not UTF-8 text".into(),
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
