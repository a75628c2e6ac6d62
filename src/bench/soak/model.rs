//! What one soak client expects of its keys: each client owns the keys
//! under its own prefix, so the expected state of every key is known
//! without races between clients. The model follows the client's writes
//! and deletes, and checks listings against them.
//!
//! A key whose PUT or DELETE failed may or may not have changed: it is
//! [`KeyState::Unknown`] (its reads are not checked) until the next PUT or
//! DELETE of it succeeds, so one error does not turn into a cascade of
//! false mismatches.

use crate::tools::client::ListedObject;

/// What a successful PUT stored under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Which bytes ([`super::super::content::ObjectContent`]): a GET must read these.
    pub content_id: u64,
    pub len: u64,
    /// The PUT answer's ETag; HEAD and GET must report the same.
    pub etag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// Never written, or deleted: GET and HEAD must answer 404.
    Absent,
    Present(Written),
    /// A PUT or DELETE of it failed: it may hold anything.
    Unknown,
}

/// One client's keys and what each holds.
#[derive(Debug, Clone)]
pub struct ClientModel {
    client: u64,
    prefix: String,
    keys: Vec<KeyState>,
    writes: u64,
}

/// Bits of a content id below the client number: 2^40 writes per client.
const WRITES_BITS: u32 = 40;

impl ClientModel {
    /// Client `client` (numbered from 0) with `keys` keys under `root_prefix`.
    pub fn new(client: u64, root_prefix: &str, keys: usize) -> Self {
        ClientModel {
            client,
            prefix: format!("{root_prefix}c{client:03}/"),
            keys: vec![KeyState::Absent; keys.max(1)],
            writes: 0,
        }
    }

    /// The prefix all of this client's keys are under.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// The object key of key number `index`.
    pub fn key(&self, index: usize) -> String {
        format!("{}{index:05}", self.prefix)
    }

    /// The key number of an object key of this client, if it is one.
    fn index_of(&self, key: &str) -> Option<usize> {
        let digits = key.strip_prefix(&self.prefix)?;
        let index: usize = digits.parse().ok()?;
        (index < self.keys.len() && self.key(index) == key).then_some(index)
    }

    pub fn state(&self, index: usize) -> &KeyState {
        &self.keys[index]
    }

    /// A content id no earlier write of any client of the run used.
    pub fn next_content_id(&mut self) -> u64 {
        self.writes += 1;
        (self.client << WRITES_BITS) | (self.writes & ((1 << WRITES_BITS) - 1))
    }

    pub fn wrote(&mut self, index: usize, written: Written) {
        self.keys[index] = KeyState::Present(written);
    }

    pub fn deleted(&mut self, index: usize) {
        self.keys[index] = KeyState::Absent;
    }

    /// A PUT or DELETE of key `index` failed: what it holds is not known.
    pub fn unsure(&mut self, index: usize) {
        self.keys[index] = KeyState::Unknown;
    }

    /// Keys that may hold an object (present or unknown): what a cleanup deletes.
    pub fn keys_in_use(&self) -> Vec<usize> {
        (0..self.keys.len())
            .filter(|&i| self.keys[i] != KeyState::Absent)
            .collect()
    }

    /// Checks a listing of [`Self::prefix`] against the model: every present
    /// key listed once with its size, nothing absent or foreign listed.
    /// Unknown keys may be listed or not. On a difference, what differs.
    pub fn check_listing(&self, listed: &[ListedObject]) -> Result<(), String> {
        let mut seen = vec![false; self.keys.len()];
        for object in listed {
            let Some(index) = self.index_of(&object.key) else {
                return Err(format!(
                    "LIST {}: {} is listed, but this client never wrote it",
                    self.prefix, object.key
                ));
            };
            if std::mem::replace(&mut seen[index], true) {
                return Err(format!(
                    "LIST {}: {} is listed twice",
                    self.prefix, object.key
                ));
            }
            match &self.keys[index] {
                KeyState::Present(written) if written.len != object.size => {
                    return Err(format!(
                        "LIST {}: {} is listed with {} bytes, {} were written",
                        self.prefix, object.key, object.size, written.len
                    ));
                }
                KeyState::Absent => {
                    return Err(format!(
                        "LIST {}: {} is listed, but it was deleted or never written",
                        self.prefix, object.key
                    ));
                }
                KeyState::Present(_) | KeyState::Unknown => {}
            }
        }
        let missing = (0..self.keys.len())
            .find(|&i| matches!(self.keys[i], KeyState::Present(_)) && !seen[i]);
        match missing {
            Some(index) => Err(format!(
                "LIST {}: {} is not listed, but it was written",
                self.prefix,
                self.key(index)
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(content_id: u64, len: u64) -> Written {
        Written {
            content_id,
            len,
            etag: None,
        }
    }

    fn listed(model: &ClientModel, entries: &[(usize, u64)]) -> Vec<ListedObject> {
        entries
            .iter()
            .map(|&(index, size)| ListedObject {
                key: model.key(index),
                size,
            })
            .collect()
    }

    #[test]
    fn clients_have_disjoint_keys_and_content_ids() {
        let mut a = ClientModel::new(1, "soak/", 3);
        let mut b = ClientModel::new(12, "soak/", 3);
        assert_eq!(a.key(2), "soak/c001/00002");
        assert_eq!(b.prefix(), "soak/c012/");
        assert!(!b.key(0).starts_with(a.prefix()));
        let ids_a: Vec<u64> = (0..3).map(|_| a.next_content_id()).collect();
        let ids_b: Vec<u64> = (0..3).map(|_| b.next_content_id()).collect();
        assert!(ids_a.iter().all(|id| !ids_b.contains(id)));
        assert_ne!(ids_a[0], ids_a[1]);
        // The first client's first write is not content id 0 of another scheme.
        assert_ne!(ClientModel::new(0, "x/", 1).next_content_id(), 0);
    }

    #[test]
    fn the_model_follows_writes_deletes_and_failures() {
        let mut model = ClientModel::new(0, "s/", 4);
        assert!(model.keys_in_use().is_empty());
        model.wrote(1, written(5, 10));
        model.wrote(3, written(6, 0));
        assert_eq!(model.state(1), &KeyState::Present(written(5, 10)));
        model.deleted(1);
        assert_eq!(model.state(1), &KeyState::Absent);
        model.unsure(2);
        assert_eq!(model.keys_in_use(), [2, 3]);
        model.wrote(2, written(7, 1));
        assert_eq!(model.state(2), &KeyState::Present(written(7, 1)));
    }

    #[test]
    fn a_listing_must_hold_exactly_the_written_keys_and_sizes() {
        let mut model = ClientModel::new(2, "p/", 4);
        assert_eq!(model.check_listing(&[]), Ok(()));
        model.wrote(0, written(1, 100));
        model.wrote(2, written(2, 0));
        assert_eq!(
            model.check_listing(&listed(&model, &[(0, 100), (2, 0)])),
            Ok(())
        );

        let missing = model
            .check_listing(&listed(&model, &[(0, 100)]))
            .unwrap_err();
        assert!(missing.contains("p/c002/00002 is not listed"), "{missing}");
        let wrong_size = model
            .check_listing(&listed(&model, &[(0, 99), (2, 0)]))
            .unwrap_err();
        assert!(
            wrong_size.contains("99 bytes, 100 were written"),
            "{wrong_size}"
        );
        let deleted = model
            .check_listing(&listed(&model, &[(0, 100), (1, 5), (2, 0)]))
            .unwrap_err();
        assert!(deleted.contains("deleted or never written"), "{deleted}");
        let twice = model
            .check_listing(&listed(&model, &[(0, 100), (0, 100), (2, 0)]))
            .unwrap_err();
        assert!(twice.contains("listed twice"), "{twice}");
        let mut foreign = listed(&model, &[(0, 100), (2, 0)]);
        for key in ["p/c002/99999", "p/c002/0", "p/c002/x", "p/c003/00000"] {
            foreign.push(ListedObject {
                key: key.into(),
                size: 1,
            });
            let error = model.check_listing(&foreign).unwrap_err();
            assert!(error.contains("never wrote it"), "{key}: {error}");
            foreign.pop();
        }
    }

    #[test]
    fn unknown_keys_may_be_listed_or_not() {
        let mut model = ClientModel::new(0, "u/", 2);
        model.unsure(1);
        assert_eq!(model.check_listing(&[]), Ok(()));
        assert_eq!(model.check_listing(&listed(&model, &[(1, 12345)])), Ok(()));
    }
}
