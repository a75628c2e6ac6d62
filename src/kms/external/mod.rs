//! The external KMS backend: object data keys wrapped under bucket keys that
//! an AWS-KMS-compatible service (AWS KMS, or another s3seal's KMS API)
//! generates and unwraps (`[kms.external]`, docs/kms.md).
//!
//! In the spirit of S3 Bucket Keys, s3seal does not call the KMS per object:
//! it asks for one **bucket key** per bucket and KMS key (GenerateDataKey
//! with the context `aws:s3:arn = arn:aws:s3:::<bucket>`), keeps it for
//! `cache_ttl_seconds`, and wraps every object's own fresh data key under it
//! locally ([`object_key`]). A read unwraps the bucket key's KMS blob
//! (Decrypt, cached by blob for the same time), then the object key locally.
//!
//! - [`client`]: the KMS calls, over the official AWS SDK;
//! - [`cache`]: the bounded TTL cache that holds bucket keys;
//! - [`object_key`]: an object's data key wrapped under its bucket key.
//!
//! The S3 side's use of all this, with its audit records, is in
//! `crate::s3::bucket_keys`.

pub mod cache;
pub mod client;
pub mod object_key;

use std::sync::Arc;
use std::time::Duration;

use cache::{Clock, SystemClock, TtlCache};
use client::KmsClient;

use crate::config::ExternalKmsConfig;
use crate::kms::{DataKey, EncryptionContext};

/// A bucket key: plaintext (zeroized when the last holder drops it), its
/// KMS ciphertext blob, and the ARN of the KMS key that wrapped it.
pub struct BucketKey {
    pub key: DataKey,
    pub blob: Vec<u8>,
    pub key_arn: String,
}

/// Errors of the external KMS, each naming its endpoint.
#[derive(Debug, thiserror::Error)]
pub enum ExternalKmsError {
    /// No answer (connection refused, timeout) or a "not now" answer
    /// (throttling, the KMS's own internal error), after the retries.
    #[error("the external KMS at {endpoint} is unreachable: {reason}")]
    Unreachable { endpoint: String, reason: String },
    /// The KMS answered with an exception (`code` is its AWS name).
    #[error("the external KMS at {endpoint} refused: {code}: {message}")]
    Refused {
        endpoint: String,
        code: String,
        message: String,
    },
    #[error("the external KMS at {endpoint} answered unexpectedly: {reason}")]
    Malformed { endpoint: String, reason: String },
}

impl ExternalKmsError {
    /// The error code an audit record gives this failure.
    pub fn audit_code(&self) -> &str {
        match self {
            ExternalKmsError::Unreachable { .. } => "KMSUnreachable",
            ExternalKmsError::Refused { code, .. } => code,
            ExternalKmsError::Malformed { .. } => "KMSMalformedResponse",
        }
    }
}

/// Which bucket key an upload uses: one per bucket and key reference.
#[derive(Clone, PartialEq, Eq, Hash)]
struct UploadKeyId {
    bucket: String,
    key_ref: String,
}

/// Which bucket key a read unwrapped: exactly the Decrypt call's inputs.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ReadKeyId {
    bucket: String,
    key_arn: String,
    blob: Vec<u8>,
}

impl ReadKeyId {
    fn new(bucket: &str, key_arn: &str, blob: &[u8]) -> Self {
        ReadKeyId {
            bucket: bucket.to_string(),
            key_arn: key_arn.to_string(),
            blob: blob.to_vec(),
        }
    }
}

pub struct ExternalKms {
    client: KmsClient,
    default_key_id: String,
    for_uploads: TtlCache<UploadKeyId, Arc<BucketKey>>,
    for_reads: TtlCache<ReadKeyId, Arc<BucketKey>>,
}

impl ExternalKms {
    pub fn new(config: &ExternalKmsConfig) -> Result<Self, String> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    pub fn with_clock(config: &ExternalKmsConfig, clock: Arc<dyn Clock>) -> Result<Self, String> {
        let ttl = Duration::from_secs(config.cache_ttl_seconds);
        Ok(ExternalKms {
            client: KmsClient::new(config)?,
            default_key_id: config.default_key_id.clone(),
            for_uploads: TtlCache::new(ttl, config.cache_size, clock.clone()),
            for_reads: TtlCache::new(ttl, config.cache_size, clock),
        })
    }

    pub fn endpoint(&self) -> &str {
        self.client.endpoint()
    }

    /// The key for uploads that name none (and for `AES256`).
    pub fn default_key_id(&self) -> &str {
        &self.default_key_id
    }

    /// The context a bucket key is bound to in the KMS, as on S3.
    pub fn bucket_context(bucket: &str) -> EncryptionContext {
        let mut context = EncryptionContext::new();
        context.insert("aws:s3:arn", format!("arn:aws:s3:::{bucket}"));
        context
    }

    /// The bucket key uploads to `bucket` under `key_ref` use now, if one is cached.
    pub fn cached_upload_key(&self, bucket: &str, key_ref: &str) -> Option<Arc<BucketKey>> {
        let hit = self.for_uploads.get(&UploadKeyId {
            bucket: bucket.to_string(),
            key_ref: key_ref.to_string(),
        });
        crate::metrics::bucket_key_cache("upload", hit.is_some());
        hit
    }

    /// A new bucket key for `bucket` under `key_ref` (GenerateDataKey),
    /// cached for uploads and, under its blob, for reads.
    pub async fn generate_upload_key(
        &self,
        bucket: &str,
        key_ref: &str,
    ) -> Result<Arc<BucketKey>, ExternalKmsError> {
        let generated = self
            .client
            .generate_data_key(key_ref, &Self::bucket_context(bucket))
            .await;
        crate::metrics::external_kms_call("GenerateDataKey", generated.is_ok());
        let generated = generated?;
        let bucket_key = Arc::new(BucketKey {
            key: generated.plaintext,
            blob: generated.ciphertext_blob,
            key_arn: generated.key_arn,
        });
        let read_id = ReadKeyId::new(bucket, &bucket_key.key_arn, &bucket_key.blob);
        self.for_reads.insert(read_id, bucket_key.clone());
        self.for_uploads.insert(
            UploadKeyId {
                bucket: bucket.to_string(),
                key_ref: key_ref.to_string(),
            },
            bucket_key.clone(),
        );
        Ok(bucket_key)
    }

    /// The bucket key `blob` holds for `bucket`, if it is cached.
    pub fn cached_read_key(
        &self,
        bucket: &str,
        key_arn: &str,
        blob: &[u8],
    ) -> Option<Arc<BucketKey>> {
        let hit = self.for_reads.get(&ReadKeyId::new(bucket, key_arn, blob));
        crate::metrics::bucket_key_cache("read", hit.is_some());
        hit
    }

    /// The bucket key `blob` holds (Decrypt under `key_arn` with `bucket`'s
    /// context), cached for reads.
    pub async fn decrypt_read_key(
        &self,
        bucket: &str,
        key_arn: &str,
        blob: &[u8],
    ) -> Result<Arc<BucketKey>, ExternalKmsError> {
        let decrypted = self
            .client
            .decrypt(key_arn, blob, &Self::bucket_context(bucket))
            .await;
        crate::metrics::external_kms_call("Decrypt", decrypted.is_ok());
        let decrypted = decrypted?;
        let bucket_key = Arc::new(BucketKey {
            key: decrypted.plaintext,
            blob: blob.to_vec(),
            key_arn: decrypted.key_arn,
        });
        self.for_reads
            .insert(ReadKeyId::new(bucket, key_arn, blob), bucket_key.clone());
        Ok(bucket_key)
    }

    /// DescribeKey of the default key (the readiness probe): its ARN and
    /// whether it is enabled.
    pub async fn describe_default_key(&self) -> Result<(String, bool), ExternalKmsError> {
        self.client.describe_key(&self.default_key_id).await
    }
}
