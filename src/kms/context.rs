//! [`EncryptionContext`]: the key/value pairs bound to a ciphertext as associated data.
//!
//! Order does not matter (as on AWS KMS): the canonical form sorts pairs by key
//! and length-prefixes every string, so no two different contexts share bytes.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    pub fn new() -> Self {
        Self::default()
    }

    /// The context S3 uses for SSE-KMS objects: `aws:s3:arn` = the object's ARN.
    pub fn for_object(bucket: &str, key: &str) -> Self {
        let mut ctx = Self::new();
        ctx.insert("aws:s3:arn", format!("arn:aws:s3:::{bucket}/{key}"));
        ctx
    }

    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.0.insert(key.into(), value.into())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Canonical bytes used as AEAD associated data.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.0.len() as u32).to_be_bytes());
        for (k, v) in &self.0 {
            for s in [k, v] {
                out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        out
    }
}

impl FromIterator<(String, String)> for EncryptionContext {
    fn from_iter<T: IntoIterator<Item = (String, String)>>(iter: T) -> Self {
        EncryptionContext(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_order_independent_and_unambiguous() {
        let a: EncryptionContext = [("b".into(), "2".into()), ("a".into(), "1".into())]
            .into_iter()
            .collect();
        let b: EncryptionContext = [("a".into(), "1".into()), ("b".into(), "2".into())]
            .into_iter()
            .collect();
        assert_eq!(a.canonical_bytes(), b.canonical_bytes());
        let c: EncryptionContext = [("ab".into(), "".into())].into_iter().collect();
        let d: EncryptionContext = [("a".into(), "b".into())].into_iter().collect();
        assert_ne!(c.canonical_bytes(), d.canonical_bytes());
        assert_ne!(
            EncryptionContext::new().canonical_bytes(),
            c.canonical_bytes()
        );
    }

    #[test]
    fn object_context() {
        let ctx = EncryptionContext::for_object("b", "k/x");
        assert_eq!(ctx.get("aws:s3:arn"), Some("arn:aws:s3:::b/k/x"));
    }
}
