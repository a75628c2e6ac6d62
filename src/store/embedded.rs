//! The embedded backend: one redb database file, for a single instance.
//!
//! Zero setup and the default. Every durable write is one ACID transaction,
//! fsynced before it returns, so a crash (`kill -9`) at any point leaves
//! either the old or the new state. redb allows one writer at a time, which
//! makes every write transaction serialisable. The file is locked by the
//! process that opened it: several instances need the PostgreSQL backend.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::StoreError;
use super::backend::{Backend, Durability, Record, RecordVisitor, Table, WriteTxn};

/// Aliases and settings were created as text-valued tables; the others hold
/// bytes. Both keep their original types so existing stores open unchanged.
fn is_text(table: Table) -> bool {
    matches!(table, Table::Aliases | Table::Settings)
}

fn bytes_table(table: Table) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(table.name())
}

fn text_table(table: Table) -> TableDefinition<'static, &'static str, &'static str> {
    TableDefinition::new(table.name())
}

fn io<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Io(e.to_string()))
}

fn as_text(table: Table, value: &[u8]) -> Result<&str, StoreError> {
    std::str::from_utf8(value).map_err(|_| StoreError::Corrupt {
        table: table.name(),
        message: "value is not UTF-8 text".into(),
    })
}

/// Opens `$table` of `$txn` typed as stored, binds it to `$t`, and runs
/// `$body` with `$value` converting a stored value to bytes: once per type.
macro_rules! with_table {
    ($txn:expr, $table:expr, |$t:ident, $value:ident| $body:expr) => {
        if is_text($table) {
            #[allow(unused_mut)]
            let mut $t = io($txn.open_table(text_table($table)))?;
            let $value = |v: &str| v.as_bytes().to_vec();
            $body
        } else {
            #[allow(unused_mut)]
            let mut $t = io($txn.open_table(bytes_table($table)))?;
            let $value = |v: &[u8]| v.to_vec();
            $body
        }
    };
}

pub struct EmbeddedBackend {
    db: Database,
    path: PathBuf,
}

impl EmbeddedBackend {
    /// Opens (creating if needed) the database file and its tables.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_error = |message: String| StoreError::Open {
            path: path.display().to_string(),
            message,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| open_error(e.to_string()))?;
        }
        let db = Database::create(path).map_err(|e| open_error(e.to_string()))?;
        let txn = io(db.begin_write())?;
        for table in Table::ALL {
            if is_text(table) {
                io(txn.open_table(text_table(table)))?;
            } else {
                io(txn.open_table(bytes_table(table)))?;
            }
        }
        io(txn.commit())?;
        Ok(EmbeddedBackend {
            db,
            path: path.to_path_buf(),
        })
    }
}

impl Backend for EmbeddedBackend {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = io(self.db.begin_read())?;
        with_table!(txn, table, |t, value| Ok(
            io(t.get(key))?.map(|v| value(v.value()))
        ))
    }

    fn scan(&self, table: Table) -> Result<Vec<Record>, StoreError> {
        let txn = io(self.db.begin_read())?;
        with_table!(txn, table, |t, value| {
            let mut out = Vec::new();
            for entry in io(t.iter())? {
                let (k, v) = io(entry)?;
                out.push((k.value().to_string(), value(v.value())));
            }
            Ok(out)
        })
    }

    fn write(
        &self,
        durability: Durability,
        work: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut txn = io(self.db.begin_write())?;
        if durability == Durability::Relaxed {
            io(txn.set_durability(redb::Durability::None))?;
        }
        let commit = work(&mut EmbeddedTxn { txn: &txn });
        match commit {
            Ok(true) => io(txn.commit()),
            Ok(false) => io(txn.abort()),
            Err(err) => {
                let _ = txn.abort();
                Err(err)
            }
        }
    }

    fn snapshot(&self, each: &mut RecordVisitor<'_>) -> Result<(), StoreError> {
        let txn = io(self.db.begin_read())?;
        for table in Table::ALL {
            with_table!(txn, table, |t, value| {
                for entry in io(t.iter())? {
                    let (k, v) = io(entry)?;
                    each(table, k.value(), &value(v.value()))?;
                }
            });
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("embedded store {}", self.path.display())
    }

    fn check_ready(&self) -> Result<(), StoreError> {
        let txn = io(self.db.begin_read())?;
        io(txn.open_table(text_table(Table::Settings))).map(drop)
    }
}

struct EmbeddedTxn<'a> {
    txn: &'a redb::WriteTransaction,
}

impl WriteTxn for EmbeddedTxn<'_> {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        with_table!(self.txn, table, |t, value| Ok(
            io(t.get(key))?.map(|v| value(v.value()))
        ))
    }

    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if is_text(table) {
            let mut t = io(self.txn.open_table(text_table(table)))?;
            io(t.insert(key, as_text(table, value)?))?;
        } else {
            let mut t = io(self.txn.open_table(bytes_table(table)))?;
            io(t.insert(key, value))?;
        }
        Ok(())
    }

    fn insert_new(&mut self, table: Table, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        // One writer at a time: the check and the insert cannot interleave.
        if self.get(table, key)?.is_some() {
            return Ok(false);
        }
        self.put(table, key, value)?;
        Ok(true)
    }

    fn delete(&mut self, table: Table, key: &str) -> Result<bool, StoreError> {
        with_table!(
            self.txn,
            table,
            |t, _value| Ok(io(t.remove(key))?.is_some())
        )
    }

    fn scan(
        &mut self,
        table: Table,
        range: Option<(&str, &str)>,
    ) -> Result<Vec<Record>, StoreError> {
        with_table!(self.txn, table, |t, value| {
            let entries = match range {
                Some((first, end)) => io(t.range(first..end))?,
                None => io(t.iter())?,
            };
            let mut out = Vec::new();
            for entry in entries {
                let (k, v) = io(entry)?;
                out.push((k.value().to_string(), value(v.value())));
            }
            Ok(out)
        })
    }

    fn delete_range(
        &mut self,
        table: Table,
        range: Option<(&str, &str)>,
    ) -> Result<u64, StoreError> {
        let keys: Vec<String> = self
            .scan(table, range)?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        for key in &keys {
            self.delete(table, key)?;
        }
        Ok(keys.len() as u64)
    }
}
