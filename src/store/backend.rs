//! What a store backend provides: named tables of byte records, read one by
//! one or whole, and write transactions that are all-or-nothing.
//!
//! [`super::Store`] builds every typed operation (keys, aliases, grants, ...)
//! on this small interface once, so the embedded database and PostgreSQL
//! behave alike. Write transactions are serialisable per record: a record
//! read through [`WriteTxn::get`] stays locked until the transaction ends,
//! so read-modify-write cannot lose an update, even across instances.

use super::StoreError;

/// The tables of the store. Keys are strings (object-index keys may contain
/// NUL); values are JSON documents, or plain text for aliases and settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// KMS keys and all their versions (material sealed under the root key).
    Keys,
    /// `alias/name` → key id.
    Aliases,
    /// Named values: the default key, the root-key check, audit chain heads.
    Settings,
    /// KMS grants by grant id.
    Grants,
    /// Per-bucket policy and default encryption s3seal enforces.
    Buckets,
    /// The object index: a rebuildable cache of plaintext sizes.
    Objects,
    /// Stream layouts of multipart objects.
    Layouts,
    /// Multipart uploads in progress.
    Uploads,
    /// Checksums of uploaded parts.
    UploadParts,
}

impl Table {
    pub const ALL: [Table; 9] = [
        Table::Keys,
        Table::Aliases,
        Table::Settings,
        Table::Grants,
        Table::Buckets,
        Table::Objects,
        Table::Layouts,
        Table::Uploads,
        Table::UploadParts,
    ];

    /// The table's name, as stored (redb table name, PostgreSQL `tbl` column,
    /// export files). Never change one: stores on disk use them.
    pub fn name(self) -> &'static str {
        match self {
            Table::Keys => "kms_keys",
            Table::Aliases => "kms_aliases",
            Table::Settings => "settings",
            Table::Grants => "kms_grants",
            Table::Buckets => "bucket_settings",
            Table::Objects => "object_index",
            Table::Layouts => "sealed_layouts",
            Table::Uploads => "multipart_uploads",
            Table::UploadParts => "multipart_part_checksums",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Small tables read on every request (key state, policies, aliases):
    /// backends shared by several instances cache them and must propagate
    /// changes. The others are read per object and not cached.
    pub fn is_configuration(self) -> bool {
        matches!(
            self,
            Table::Keys | Table::Aliases | Table::Settings | Table::Grants | Table::Buckets
        )
    }
}

/// How hard a write must be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// On stable storage before the write returns.
    Durable,
    /// May be lost in a crash (rebuildable caches such as the object index).
    Relaxed,
}

/// One record: key and value bytes.
pub type Record = (String, Vec<u8>);

/// Called with each record of a snapshot.
pub type RecordVisitor<'a> = dyn FnMut(Table, &str, &[u8]) -> Result<(), StoreError> + 'a;

/// A store backend.
pub trait Backend: Send + Sync {
    /// One record, as last committed.
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every record of a table, sorted by key (byte order).
    fn scan(&self, table: Table) -> Result<Vec<Record>, StoreError>;

    /// Runs `work` in one write transaction. It commits if `work` returns
    /// `Ok(true)`, rolls back on `Ok(false)` or an error. `work` runs once.
    fn write(
        &self,
        durability: Durability,
        work: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError>;

    /// Calls `each` for every record of every table, from one consistent
    /// snapshot, table by table in [`Table::ALL`] order.
    fn snapshot(&self, each: &mut RecordVisitor<'_>) -> Result<(), StoreError>;

    /// Where the data lives, for messages (a path or a redacted URL).
    fn describe(&self) -> String;

    /// Whether the backend can serve requests now (for `/health/ready`).
    fn check_ready(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Operations inside a write transaction.
pub trait WriteTxn {
    /// Reads a record and locks it until the end of the transaction. An
    /// absent key is not locked: create records with [`Self::insert_new`].
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Inserts or replaces a record.
    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError>;

    /// Inserts a record unless the key exists; `false` if it did (then
    /// nothing changes). Concurrent inserts of one key: exactly one wins.
    fn insert_new(&mut self, table: Table, key: &str, value: &[u8]) -> Result<bool, StoreError>;

    /// Removes a record; `false` if there was none.
    fn delete(&mut self, table: Table, key: &str) -> Result<bool, StoreError>;

    /// Every record with `first <= key < end` (all if `None`), sorted, locked.
    fn scan(
        &mut self,
        table: Table,
        range: Option<(&str, &str)>,
    ) -> Result<Vec<Record>, StoreError>;

    /// Removes every record with `first <= key < end` (all if `None`);
    /// returns how many.
    fn delete_range(
        &mut self,
        table: Table,
        range: Option<(&str, &str)>,
    ) -> Result<u64, StoreError>;
}
