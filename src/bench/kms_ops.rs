//! The KMS operations of the load generator: GenerateDataKey, and Decrypt
//! of data keys generated beforehand with their plaintext checked. Requests
//! are the AWS KMS JSON protocol, SigV4-signed for the `kms` service.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderMap, HeaderValue, Method};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::driver::{self, OpFailure, StopAt, Tally};
use super::plan::Operation;
use crate::body;
use crate::config::UpstreamConfig;
use crate::upstream::{UpstreamClient, UpstreamPayload, UpstreamRequest};

/// The most of a KMS answer read (they are a few hundred bytes).
const MAX_ANSWER: usize = 64 * 1024;

/// A data key as GenerateDataKey returned it, for Decrypt to give back.
struct DataKey {
    ciphertext_blob: String,
    plaintext: String,
}

pub struct KmsBench {
    client: UpstreamClient,
    key_id: String,
    concurrency: usize,
    /// Data keys to decrypt, filled by [`KmsBench::prepare`].
    data_keys: Vec<DataKey>,
}

impl KmsBench {
    pub fn new(
        config: &UpstreamConfig,
        key_id: String,
        concurrency: usize,
    ) -> Result<Self, String> {
        Ok(KmsBench {
            client: UpstreamClient::for_service(config, "kms")?,
            key_id,
            concurrency,
            data_keys: Vec::new(),
        })
    }

    /// Generates the data keys Decrypt will use (one per worker, not measured).
    pub async fn prepare(&mut self) -> Result<(), OpFailure> {
        for _ in 0..self.concurrency.max(1) {
            let answer = self.generate_data_key().await?;
            self.data_keys.push(DataKey {
                ciphertext_blob: text_field(&answer, "CiphertextBlob")?,
                plaintext: text_field(&answer, "Plaintext")?,
            });
        }
        Ok(())
    }

    pub async fn run(self: Arc<Self>, operation: Operation, stop: StopAt) -> Tally {
        let bench = self.clone();
        driver::drive(self.concurrency, stop, move |item| {
            let bench = bench.clone();
            async move {
                match operation {
                    Operation::KmsDecrypt => bench.decrypt(item).await,
                    _ => bench.generate_data_key().await.map(|_| 0),
                }
            }
        })
        .await
    }

    async fn generate_data_key(&self) -> Result<Value, OpFailure> {
        let request = json!({"KeyId": self.key_id, "KeySpec": "AES_256"});
        let answer = self.call("GenerateDataKey", &request).await?;
        let plaintext = text_field(&answer, "Plaintext")?;
        match BASE64.decode(&plaintext) {
            Ok(bytes) if bytes.len() == 32 => Ok(answer),
            _ => Err(OpFailure::Mismatch(
                "GenerateDataKey: Plaintext is not a 32-byte key".into(),
            )),
        }
    }

    async fn decrypt(&self, item: u64) -> Result<u64, OpFailure> {
        let data_key = &self.data_keys[item as usize % self.data_keys.len().max(1)];
        let request = json!({"CiphertextBlob": data_key.ciphertext_blob});
        let answer = self.call("Decrypt", &request).await?;
        if text_field(&answer, "Plaintext")? != data_key.plaintext {
            return Err(OpFailure::Mismatch(
                "Decrypt returned another plaintext than GenerateDataKey".into(),
            ));
        }
        Ok(0)
    }

    /// One KMS call; a KMS error becomes a failure labelled with its status and `__type`.
    async fn call(&self, operation: &str, request: &Value) -> Result<Value, OpFailure> {
        let body =
            serde_json::to_vec(request).map_err(|e| OpFailure::failed("request", e.to_string()))?;
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        let target = HeaderValue::try_from(format!("TrentService.{operation}"))
            .map_err(|e| OpFailure::failed("request", e.to_string()))?;
        headers.insert("x-amz-target", target);
        let hash = hex::encode(Sha256::digest(&body));
        let request = UpstreamRequest {
            method: Method::POST,
            bucket: None,
            key: None,
            query: Vec::new(),
            headers,
            body: body::full(body),
            payload: UpstreamPayload::Sha256Hex(hash),
        };
        let response = self
            .client
            .send(request)
            .await
            .map_err(|e| OpFailure::failed("transport", format!("{operation}: {e}")))?;
        let status = response.status();
        let answer = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| OpFailure::failed("body", format!("{operation}: {e}")))?
            .to_bytes();
        let answer: Value = serde_json::from_slice(&answer).map_err(|e| {
            OpFailure::failed(status.as_u16().to_string(), format!("{operation}: {e}"))
        })?;
        if !status.is_success() {
            let kind = answer["__type"].as_str().unwrap_or("unknown error");
            let message = answer["message"].as_str().unwrap_or_default();
            return Err(OpFailure::failed(
                format!("{} {kind}", status.as_u16()),
                format!("{operation}: {kind}: {message}"),
            ));
        }
        Ok(answer)
    }
}

fn text_field(answer: &Value, name: &str) -> Result<String, OpFailure> {
    answer[name]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| OpFailure::failed("malformed answer", format!("no {name} in the answer")))
}
