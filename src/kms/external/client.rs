//! [`KmsClient`]: the calls s3seal makes to the external KMS, through the
//! official AWS SDK (`aws-sdk-kms`).
//!
//! The SDK signs with SigV4, retries transient failures (standard mode,
//! `max_attempts`, with backoff) and bounds every attempt and connection by
//! the configured timeouts. Its HTTP client is hyper 1 with rustls on ring,
//! trusting the system's roots or the configured `ca_bundle`. Errors come
//! back as [`ExternalKmsError`]: unreachable (worth retrying later) or
//! refused (the KMS answered no), each naming the endpoint.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

use super::ExternalKmsError;
use crate::config::ExternalKmsConfig;
use crate::kms::{DataKey, EncryptionContext};

/// What the KMS answers for a key: its plaintext and the key's ARN.
pub struct KmsDataKey {
    pub plaintext: DataKey,
    /// The KMS ciphertext blob (GenerateDataKey only; Decrypt echoes none).
    pub ciphertext_blob: Vec<u8>,
    pub key_arn: String,
}

pub struct KmsClient {
    client: aws_sdk_kms::Client,
    endpoint: String,
}

impl KmsClient {
    pub fn new(config: &ExternalKmsConfig) -> Result<Self, String> {
        let mut http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
        if let Some(bundle) = &config.ca_bundle {
            let pem = std::fs::read(bundle)
                .map_err(|e| format!("kms.external.ca_bundle {}: {e}", bundle.display()))?;
            let context = TlsContext::builder()
                .with_trust_store(TrustStore::empty().with_pem_certificate(pem))
                .build()
                .map_err(|e| format!("kms.external.ca_bundle {}: {e}", bundle.display()))?;
            http = http.tls_context(context);
        }
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(config.connect_timeout_seconds))
            .operation_attempt_timeout(Duration::from_secs(config.attempt_timeout_seconds))
            .build();
        let sdk_config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .endpoint_url(config.endpoint.clone())
            .credentials_provider(Credentials::new(
                config.access_key_id.clone(),
                config.secret_access_key.expose().to_string(),
                None,
                None,
                "s3seal kms.external",
            ))
            .http_client(http.build_https())
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(config.max_attempts))
            .build();
        Ok(KmsClient {
            client: aws_sdk_kms::Client::from_conf(sdk_config),
            endpoint: config.endpoint.clone(),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// GenerateDataKey (AES_256) under `key_ref`, bound to `context`.
    pub async fn generate_data_key(
        &self,
        key_ref: &str,
        context: &EncryptionContext,
    ) -> Result<KmsDataKey, ExternalKmsError> {
        let output = self
            .client
            .generate_data_key()
            .key_id(key_ref)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context_map(context)))
            .send()
            .await
            .map_err(|e| self.error(e))?;
        Ok(KmsDataKey {
            plaintext: self.data_key(output.plaintext())?,
            ciphertext_blob: output
                .ciphertext_blob()
                .map(|b| b.as_ref().to_vec())
                .ok_or_else(|| self.malformed("GenerateDataKey returned no CiphertextBlob"))?,
            key_arn: self.key_arn(output.key_id())?,
        })
    }

    /// Decrypt of `blob`, which must be under `key_arn` and bound to `context`.
    pub async fn decrypt(
        &self,
        key_arn: &str,
        blob: &[u8],
        context: &EncryptionContext,
    ) -> Result<KmsDataKey, ExternalKmsError> {
        let output = self
            .client
            .decrypt()
            .key_id(key_arn)
            .ciphertext_blob(Blob::new(blob))
            .set_encryption_context(Some(context_map(context)))
            .send()
            .await
            .map_err(|e| self.error(e))?;
        Ok(KmsDataKey {
            plaintext: self.data_key(output.plaintext())?,
            ciphertext_blob: Vec::new(),
            key_arn: self.key_arn(output.key_id())?,
        })
    }

    /// DescribeKey of `key_ref`: its ARN and whether it is enabled.
    pub async fn describe_key(&self, key_ref: &str) -> Result<(String, bool), ExternalKmsError> {
        let output = self
            .client
            .describe_key()
            .key_id(key_ref)
            .send()
            .await
            .map_err(|e| self.error(e))?;
        let metadata = output
            .key_metadata()
            .ok_or_else(|| self.malformed("DescribeKey returned no KeyMetadata"))?;
        let arn = metadata.arn().unwrap_or(metadata.key_id()).to_string();
        Ok((arn, metadata.enabled()))
    }

    fn data_key(&self, plaintext: Option<&Blob>) -> Result<DataKey, ExternalKmsError> {
        plaintext
            .and_then(|p| DataKey::from_bytes(p.as_ref()))
            .ok_or_else(|| self.malformed("the KMS returned no 32-byte Plaintext"))
    }

    fn key_arn(&self, key_id: Option<&str>) -> Result<String, ExternalKmsError> {
        key_id
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or_else(|| self.malformed("the KMS returned no KeyId"))
    }

    fn malformed(&self, what: &str) -> ExternalKmsError {
        ExternalKmsError::Malformed {
            endpoint: self.endpoint.clone(),
            reason: what.to_string(),
        }
    }

    fn error<E, R>(&self, err: SdkError<E, R>) -> ExternalKmsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let endpoint = self.endpoint.clone();
        match &err {
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("UnknownError").to_string();
                let message = service.err().message().unwrap_or_default().to_string();
                classify(endpoint, code, message)
            }
            SdkError::ConstructionFailure(_) => ExternalKmsError::Malformed {
                endpoint,
                reason: DisplayErrorContext(&err).to_string(),
            },
            // Dispatch failures, timeouts and unreadable answers.
            _ => ExternalKmsError::Unreachable {
                endpoint,
                reason: DisplayErrorContext(&err).to_string(),
            },
        }
    }
}

/// A KMS exception: the ones that say "not now" count as unreachable (the
/// same request may work later), every other one is a refusal.
fn classify(endpoint: String, code: String, message: String) -> ExternalKmsError {
    const TRANSIENT: [&str; 4] = [
        "ThrottlingException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "KeyUnavailableException",
    ];
    if TRANSIENT.contains(&code.as_str()) {
        return ExternalKmsError::Unreachable {
            endpoint,
            reason: format!("{code}: {message}"),
        };
    }
    ExternalKmsError::Refused {
        endpoint,
        code,
        message,
    }
}

fn context_map(context: &EncryptionContext) -> HashMap<String, String> {
    context
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_exceptions_count_as_unreachable() {
        let e = classify(
            "http://kms".into(),
            "ThrottlingException".into(),
            "slow".into(),
        );
        assert!(matches!(e, ExternalKmsError::Unreachable { .. }), "{e}");
        let e = classify(
            "http://kms".into(),
            "DisabledException".into(),
            "off".into(),
        );
        assert!(
            matches!(&e, ExternalKmsError::Refused { code, .. } if code == "DisabledException"),
            "{e}"
        );
    }
}
