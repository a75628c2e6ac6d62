//! [`KeyId`]: the two shapes of KMS key id, as AWS writes them.
//!
//! A single-Region key is named by a random UUID
//! (`1234abcd-12ab-34cd-56ef-1234567890ab`); a multi-Region key by `mrk-`
//! and 32 lowercase hex digits (`mrk-1234abcd12ab34cd56ef1234567890ab`),
//! the same id in every Region that holds a replica. Both carry 16 bytes,
//! which is what a ciphertext blob stores ([`super::blob`]). Only the
//! canonical text of each shape parses, so one key has one spelling and one
//! record in the store.

use std::fmt;

use uuid::Uuid;

/// The prefix AWS gives multi-Region key ids.
const MULTI_REGION_PREFIX: &str = "mrk-";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyId {
    /// A single-Region key: a UUID, in its lowercase hyphenated form.
    SingleRegion(Uuid),
    /// A multi-Region key: `mrk-` and the 16 bytes in lowercase hex.
    MultiRegion([u8; 16]),
}

impl KeyId {
    /// A fresh random id of a single-Region key (UUID v4).
    pub fn new_single_region() -> Self {
        KeyId::SingleRegion(Uuid::new_v4())
    }

    /// A fresh random id of a multi-Region key.
    pub fn new_multi_region() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        Ok(KeyId::MultiRegion(bytes))
    }

    /// Parses the canonical text of either shape; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(hex_digits) = text.strip_prefix(MULTI_REGION_PREFIX) {
            let lowercase_hex = hex_digits.len() == 32
                && hex_digits
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !lowercase_hex {
                return None;
            }
            let mut bytes = [0u8; 16];
            hex::decode_to_slice(hex_digits, &mut bytes).ok()?;
            return Some(KeyId::MultiRegion(bytes));
        }
        let uuid = Uuid::parse_str(text).ok()?;
        // Uuid also reads braces, URNs, upper case and the simple form.
        (uuid.hyphenated().to_string() == text).then_some(KeyId::SingleRegion(uuid))
    }

    pub fn is_multi_region(&self) -> bool {
        matches!(self, KeyId::MultiRegion(_))
    }

    /// The 16 bytes that identify the key.
    pub fn as_bytes(&self) -> &[u8; 16] {
        match self {
            KeyId::SingleRegion(uuid) => uuid.as_bytes(),
            KeyId::MultiRegion(bytes) => bytes,
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyId::SingleRegion(uuid) => write!(f, "{}", uuid.hyphenated()),
            KeyId::MultiRegion(bytes) => write!(f, "{MULTI_REGION_PREFIX}{}", hex::encode(bytes)),
        }
    }
}

/// Is `text` a multi-Region key id (`mrk-…`)?
pub fn is_multi_region_key_id(text: &str) -> bool {
    KeyId::parse(text).is_some_and(|id| id.is_multi_region())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn both_shapes_parse_in_their_canonical_form_only() {
        let uuid = "0b2c3d4e-0000-4000-8000-000000000001";
        assert_eq!(KeyId::parse(uuid).unwrap().to_string(), uuid);
        let mrk = "mrk-1234abcd12ab34cd56ef1234567890ab";
        let parsed = KeyId::parse(mrk).unwrap();
        assert!(parsed.is_multi_region());
        assert_eq!(parsed.to_string(), mrk);
        assert_eq!(parsed.as_bytes()[0], 0x12);
        for bad in [
            "0B2C3D4E-0000-4000-8000-000000000001",
            "{0b2c3d4e-0000-4000-8000-000000000001}",
            "0b2c3d4e000040008000000000000001",
            "mrk-1234ABCD12ab34cd56ef1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890a",
            "mrk-1234abcd12ab34cd56ef1234567890abc",
            "mrk-1234abcd-12ab-34cd-56ef-1234567890",
            "MRK-1234abcd12ab34cd56ef1234567890ab",
            "mrk-",
            "",
            "alias/aws/s3",
        ] {
            assert_eq!(KeyId::parse(bad), None, "{bad}");
        }
        assert!(is_multi_region_key_id(mrk));
        assert!(!is_multi_region_key_id(uuid));
    }

    #[test]
    fn fresh_ids_have_the_aws_shapes() {
        let mrk = KeyId::new_multi_region().unwrap().to_string();
        assert!(mrk.starts_with("mrk-") && mrk.len() == 36, "{mrk}");
        assert_eq!(KeyId::parse(&mrk).map(|id| id.to_string()), Some(mrk));
        let single = KeyId::new_single_region();
        assert!(!single.is_multi_region());
        assert_eq!(KeyId::parse(&single.to_string()), Some(single));
    }

    proptest! {
        #[test]
        fn text_round_trips(bytes in any::<[u8; 16]>(), multi in any::<bool>()) {
            let id = if multi { KeyId::MultiRegion(bytes) } else { KeyId::SingleRegion(Uuid::from_bytes(bytes)) };
            prop_assert_eq!(KeyId::parse(&id.to_string()), Some(id));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,48}") {
            let _ = KeyId::parse(&text);
        }
    }
}
