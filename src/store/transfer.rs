//! `s3seal store export` / `import`: a store as JSON lines, to move it
//! between backends (embedded ↔ PostgreSQL) or keep a logical backup.
//!
//! ```text
//! {"format":"s3seal-store-export","version":1,"source":"…","exported_at":"…"}
//! {"table":"kms_keys","key":"…","value":"<the record, as text>"}
//! {"table":"object_index","key":"b\u0000k","value_base64":"…"}   (non-UTF-8 values)
//! …
//! {"end":true,"records":N}
//! ```
//! The export is one consistent snapshot. The trailer lets import refuse a
//! truncated file; import is one transaction into an empty store, so it
//! either takes everything or nothing. Key material stays sealed under the
//! root key, so the target needs the same root key; the file is as
//! sensitive as the store itself (keys, policies, the index).

use std::io::{BufRead, Write};

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::backend::{Durability, Table};
use super::{Store, StoreError};

const FORMAT: &str = "s3seal-store-export";
const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Write(std::io::Error),
    #[error("line {line}: {message}")]
    Malformed { line: u64, message: String },
    #[error(
        "the target store already holds {0} records; import only into an empty store (a new database or file)"
    )]
    TargetNotEmpty(u64),
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    #[serde(default)]
    source: String,
    #[serde(default)]
    exported_at: String,
}

#[derive(Serialize, Deserialize)]
struct Line {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    records: Option<u64>,
}

/// Writes every record of `store` to `out`; returns how many.
pub fn export(store: &Store, out: &mut dyn Write) -> Result<u64, TransferError> {
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        source: store.describe(),
        exported_at: crate::audit::event::now_rfc3339(),
    };
    write_json(out, &header)?;
    let mut records = 0u64;
    let mut write_error = None;
    store
        .snapshot(&mut |table, key, value| {
            let (text, binary) = match std::str::from_utf8(value) {
                Ok(text) => (Some(text.to_string()), None),
                Err(_) => (
                    None,
                    Some(base64::engine::general_purpose::STANDARD.encode(value)),
                ),
            };
            let line = Line {
                table: Some(table.name().into()),
                key: Some(key.into()),
                value: text,
                value_base64: binary,
                end: None,
                records: None,
            };
            write_json(out, &line).map_err(|e| {
                let message = e.to_string();
                write_error = Some(e);
                StoreError::Io(message)
            })?;
            records += 1;
            Ok(())
        })
        .map_err(|e| write_error.take().unwrap_or(TransferError::Store(e)))?;
    let trailer = Line {
        table: None,
        key: None,
        value: None,
        value_base64: None,
        end: Some(true),
        records: Some(records),
    };
    write_json(out, &trailer)?;
    out.flush().map_err(TransferError::Write)?;
    Ok(records)
}

/// Reads an export into `store`, which must be empty; returns how many
/// records it imported. Nothing is written unless the whole file is valid.
pub fn import(store: &Store, input: &mut dyn BufRead) -> Result<u64, TransferError> {
    let existing = count_records(store)?;
    if existing > 0 {
        return Err(TransferError::TargetNotEmpty(existing));
    }
    let mut lines = input.lines();
    let mut number = 0u64;
    let mut next_line = || -> Result<Option<(u64, String)>, TransferError> {
        number += 1;
        match lines.next() {
            None => Ok(None),
            Some(Ok(line)) => Ok(Some((number, line))),
            Some(Err(e)) => Err(malformed(number, &e.to_string())),
        }
    };
    let (_, first) = next_line()?.ok_or_else(|| malformed(1, "the file is empty"))?;
    let header: Header = serde_json::from_str(&first).map_err(|e| malformed(1, &e.to_string()))?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(malformed(
            1,
            &format!("not an s3seal store export version {VERSION}"),
        ));
    }
    let mut imported = 0u64;
    let mut failure = None;
    store
        .backend()
        .write(Durability::Durable, &mut |txn| {
            loop {
                let parsed = next_line().and_then(|line| parse_line(line, imported));
                match parsed {
                    Ok(Parsed::Record(table, key, value)) => {
                        txn.put(table, &key, &value)?;
                        imported += 1;
                    }
                    Ok(Parsed::End) => return Ok(true),
                    Err(err) => {
                        let message = err.to_string();
                        failure = Some(err);
                        return Err(StoreError::Io(message));
                    }
                }
            }
        })
        .map_err(|e| failure.take().unwrap_or(TransferError::Store(e)))?;
    Ok(imported)
}

enum Parsed {
    Record(Table, String, Vec<u8>),
    End,
}

fn parse_line(line: Option<(u64, String)>, imported: u64) -> Result<Parsed, TransferError> {
    let Some((number, text)) = line else {
        return Err(malformed(
            0,
            "the file ends without its trailer: the export is truncated",
        ));
    };
    let line: Line = serde_json::from_str(&text).map_err(|e| malformed(number, &e.to_string()))?;
    if line.end == Some(true) {
        return match line.records {
            Some(count) if count == imported => Ok(Parsed::End),
            other => Err(malformed(
                number,
                &format!("the trailer counts {other:?} records, the file holds {imported}"),
            )),
        };
    }
    let table_name = line.table.ok_or_else(|| malformed(number, "no table"))?;
    let table = Table::from_name(&table_name)
        .ok_or_else(|| malformed(number, &format!("unknown table {table_name}")))?;
    let key = line.key.ok_or_else(|| malformed(number, "no key"))?;
    let value = match (line.value, line.value_base64) {
        (Some(text), None) => text.into_bytes(),
        (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| malformed(number, &format!("value_base64: {e}")))?,
        _ => {
            return Err(malformed(
                number,
                "needs exactly one of value, value_base64",
            ));
        }
    };
    Ok(Parsed::Record(table, key, value))
}

fn count_records(store: &Store) -> Result<u64, StoreError> {
    let mut count = 0;
    for table in Table::ALL {
        count += store.backend().scan(table)?.len() as u64;
    }
    Ok(count)
}

fn write_json<T: Serialize>(out: &mut dyn Write, value: &T) -> Result<(), TransferError> {
    serde_json::to_writer(&mut *out, value)
        .map_err(|e| TransferError::Write(std::io::Error::other(e)))?;
    out.write_all(b"\n").map_err(TransferError::Write)
}

fn malformed(line: u64, message: &str) -> TransferError {
    TransferError::Malformed {
        line,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &tempfile::TempDir, name: &str) -> Store {
        Store::open(&dir.path().join(name)).unwrap()
    }

    #[test]
    fn a_store_round_trips_through_an_export() {
        let dir = tempfile::tempdir().unwrap();
        let source = store(&dir, "a.redb");
        source
            .insert_key("k1", &serde_json::json!({"n": 1}))
            .unwrap();
        source.put_alias("alias/a", "k1").unwrap();
        source.put_setting("default", "k1").unwrap();
        source
            .put_object_entry("bucket\0key", Some(&serde_json::json!({"etag": "\"e\""})))
            .unwrap();
        let mut file = Vec::new();
        assert_eq!(export(&source, &mut file).unwrap(), 4);

        let target = store(&dir, "b.redb");
        assert_eq!(import(&target, &mut file.as_slice()).unwrap(), 4);
        let mut again = Vec::new();
        export(&target, &mut again).unwrap();
        let records = |f: &[u8]| -> Vec<String> {
            let text = String::from_utf8(f.to_vec()).unwrap();
            text.lines().skip(1).map(String::from).collect()
        };
        assert_eq!(records(&file), records(&again));
        assert_eq!(target.get_alias("alias/a").unwrap().as_deref(), Some("k1"));

        let err = import(&target, &mut file.as_slice()).unwrap_err();
        assert!(matches!(err, TransferError::TargetNotEmpty(4)), "{err}");
    }

    #[test]
    fn truncated_or_altered_exports_import_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let source = store(&dir, "a.redb");
        source
            .insert_key("k1", &serde_json::json!({"n": 1}))
            .unwrap();
        source.put_setting("s", "v").unwrap();
        let mut file = Vec::new();
        export(&source, &mut file).unwrap();
        let text = String::from_utf8(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();

        let truncated = lines[..lines.len() - 1].join("\n");
        let dropped = [lines[0], lines[2], lines[3]].join("\n");
        let bad_table = text.replace("\"settings\"", "\"nope\"");
        for (name, bad) in [
            ("truncated", truncated),
            ("a record dropped", dropped),
            ("unknown table", bad_table),
            ("not an export", "{\"format\":\"x\",\"version\":1}".into()),
        ] {
            let target = store(&dir, &format!("{}.redb", name.replace(' ', "-")));
            let err = import(&target, &mut bad.as_bytes()).unwrap_err();
            assert!(
                matches!(err, TransferError::Malformed { .. }),
                "{name}: {err}"
            );
            assert_eq!(
                count_records(&target).unwrap(),
                0,
                "{name}: nothing imported"
            );
        }
    }
}
