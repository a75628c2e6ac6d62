//! The key management service: KMS keys, their material, and data keys.
//!
//! Key hierarchy (see `docs/kms.md`): a *root key* supplied by the operator
//! encrypts the material of every *KMS key version* in the store; a KMS key
//! version wraps each object's *data key* into a [`CiphertextBlob`] bound to an
//! [`EncryptionContext`]; the data key seals the object body.
//!
//! - [`root`]: the operator-supplied root of trust;
//! - [`data_key`]: the per-object key type (zeroized, never printed);
//! - [`context`]: encryption contexts and their canonical, authenticated form;
//! - [`blob`]: the ciphertext blob format (identifies key and version);
//! - [`key_id`]: key ids, single-Region (UUID) and multi-Region (`mrk-…`);
//! - [`keys`]: KMS key records as persisted in the store;
//! - [`access`]: key policies and grants, checked on every key use;
//! - [`grants`]: the grant records;
//! - [`manager`]: [`KeyManager`], the operations the rest of s3seal calls;
//! - [`external`]: object keys under bucket keys of an external KMS
//!   (`[kms.external]`), instead of the keys above.
//! - [`replication`]: multi-Region keys across s3seal deployments.

pub mod access;
pub mod api;
pub mod asymmetric;
pub mod blob;
pub mod context;
pub mod data_key;
pub mod external;
pub mod grants;
pub mod hsm;
pub mod key_id;
pub mod keys;
pub mod manager;
pub mod replication;
pub mod root;

pub use access::{Caller, Transport};
pub use blob::CiphertextBlob;
pub use context::EncryptionContext;
pub use data_key::DataKey;
pub use keys::{KeyRecord, KeyState};
pub use manager::{GeneratedDataKey, KeyManager, NewKey};
pub use root::RootKey;

/// Errors of the key service, named after the AWS KMS exceptions they become.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    #[error("KMS key '{0}' does not exist")]
    NotFound(String),
    #[error("KMS key '{0}' is disabled")]
    Disabled(String),
    /// The message names the key and its state.
    #[error("{0}")]
    InvalidState(String),
    #[error("the ciphertext is invalid or does not match its key or encryption context: {0}")]
    InvalidCiphertext(&'static str),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidKeyUsage(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidImportToken(String),
    #[error("{0}")]
    IncorrectKeyMaterial(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("key store error: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("internal key service error: {0}")]
    Internal(String),
}
