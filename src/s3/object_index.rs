//! The object index: plaintext sizes of objects, so listings need no
//! per-object upstream request.
//!
//! An entry maps bucket + key to the upstream ETag it describes and the
//! object's plaintext size (or "not sealed"). It is a cache: an entry whose
//! ETag differs from the listing's is ignored, and a missing entry is rebuilt
//! from the object's own metadata with one HEAD. Losing the index costs one
//! HEAD per object on the next listing, never correctness.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::store::Store;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The upstream ETag (quotes included) this entry describes.
    pub etag: String,
    /// Plaintext size for sealed objects; `None` for objects stored as plaintext.
    pub plaintext_size: Option<u64>,
}

pub struct ObjectIndex {
    store: Arc<Store>,
}

impl ObjectIndex {
    pub fn new(store: Arc<Store>) -> Self {
        ObjectIndex { store }
    }

    fn key(bucket: &str, key: &str) -> String {
        // NUL cannot appear in bucket names, so the pair is unambiguous.
        format!("{bucket}\0{key}")
    }

    /// The entry for this object if it describes the version with `etag`.
    pub fn lookup(&self, bucket: &str, key: &str, etag: &str) -> Option<IndexEntry> {
        match self
            .store
            .get_object_entry::<IndexEntry>(&Self::key(bucket, key))
        {
            Ok(Some(entry)) if entry.etag == etag => Some(entry),
            Ok(_) => None,
            Err(err) => {
                tracing::warn!(error = %err, "object index read failed; falling back to the upstream");
                None
            }
        }
    }

    pub fn record(&self, bucket: &str, key: &str, entry: &IndexEntry) {
        if let Err(err) = self
            .store
            .put_object_entry(&Self::key(bucket, key), Some(entry))
        {
            tracing::warn!(error = %err, "object index write failed (listings fall back to the upstream)");
        }
    }

    pub fn forget(&self, bucket: &str, key: &str) {
        if let Err(err) = self
            .store
            .put_object_entry::<IndexEntry>(&Self::key(bucket, key), None)
        {
            tracing::warn!(error = %err, "object index delete failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_only_match_their_etag() {
        let dir = tempfile::tempdir().unwrap();
        let index = ObjectIndex::new(Arc::new(Store::open(&dir.path().join("s.redb")).unwrap()));
        let entry = IndexEntry {
            etag: "\"e1\"".into(),
            plaintext_size: Some(5),
        };
        index.record("b", "k", &entry);
        assert_eq!(index.lookup("b", "k", "\"e1\""), Some(entry));
        assert_eq!(index.lookup("b", "k", "\"e2\""), None);
        assert_eq!(index.lookup("b", "k2", "\"e1\""), None);
        index.forget("b", "k");
        assert_eq!(index.lookup("b", "k", "\"e1\""), None);
    }
}
