//! [`PeerClient`]: calls a peer deployment's `S3sealReplication.*`
//! operations, and [`answer_mac`], which authenticates its answers.
//!
//! Requests are KMS JSON requests, SigV4-signed (service `kms`, the peer's
//! Region, the payload's SHA-256 in the signature) with the peer's
//! credential from `[[kms.peer_regions]]`, so the peer knows who sends key
//! material and that nobody changed it on the way. SigV4 does not cover the
//! answer, and one answer matters: the wrapping public key the material is
//! encrypted to. A key substituted there would hand the material to whoever
//! substituted it. So the peer adds `x-s3seal-peer-mac`, an HMAC-SHA256 over
//! the request's SHA-256 and the answer body under a key derived from the
//! same credential's secret, and the client refuses an answer without a
//! valid one. Use `https://` endpoints all the same: the MAC authenticates,
//! it does not hide the (non-secret) metadata.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SigningSettings};
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use hmac::{KeyInit, Mac};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{ReplicationError, TARGET_PREFIX};
use crate::auth::Secret;
use crate::body::{self, ProxyBody};
use crate::config::PeerRegion;
use crate::upstream::tls::{UpstreamConnector, https_connector};
use crate::upstream::{SigningScope, error_chain, sign_request};

/// The header carrying the answer's MAC.
pub const MAC_HEADER: &str = "x-s3seal-peer-mac";
/// A peer's answer is small (key metadata, a public key).
const MAX_ANSWER: usize = 1024 * 1024;
/// A call that takes longer than this has failed (it is retried later).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

type HmacSha256 = hmac::Hmac<Sha256>;

/// The MAC of an answer: HMAC-SHA256 under
/// `HMAC-SHA256(secret, "s3seal/v1/peer-answer-key")`, over
/// `SHA-256(request body) || answer body`. Both sides know the secret of
/// the credential the request was signed with; nobody else does.
pub fn answer_mac(secret: &Secret, request_body: &[u8], answer_body: &[u8]) -> [u8; 32] {
    let key = hmac_sha256(secret.expose().as_bytes(), b"s3seal/v1/peer-answer-key");
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(&Sha256::digest(request_body));
    mac.update(answer_body);
    mac.finalize().into_bytes().into()
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A signed client for one peer deployment's KMS API.
pub struct PeerClient {
    region: String,
    endpoint: Uri,
    client: Client<UpstreamConnector, ProxyBody>,
    identity: Identity,
    secret: Secret,
}

impl PeerClient {
    pub fn new(peer: &PeerRegion) -> Result<Self, String> {
        let endpoint: Uri = peer
            .endpoint
            .parse()
            .map_err(|e| format!("kms.peer_regions ({}): endpoint: {e}", peer.region))?;
        let https = endpoint.scheme_str() == Some("https");
        let connector = https_connector(
            peer.connect_timeout_seconds,
            peer.ca_bundle.as_deref(),
            https,
        )
        .map_err(|e| format!("kms.peer_regions ({}): {e}", peer.region))?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let credentials = Credentials::new(
            peer.access_key_id.clone(),
            peer.secret_access_key.expose().to_string(),
            None,
            None,
            "s3seal-peer",
        );
        Ok(PeerClient {
            region: peer.region.clone(),
            endpoint,
            client,
            identity: credentials.into(),
            secret: peer.secret_access_key.clone(),
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Calls `S3sealReplication.<operation>` with `message`; the answer must
    /// carry a valid MAC and parse as `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        operation: &str,
        message: &impl Serialize,
    ) -> Result<T, ReplicationError> {
        let body = serde_json::to_vec(message).map_err(|e| {
            crate::kms::KmsError::Internal(format!("cannot encode {operation}: {e}"))
        })?;
        let request = self.signed_request(operation, &body)?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| self.unreachable(error_chain(&e)))?;
            let (parts, answer) = response.into_parts();
            let answer = Limited::new(answer, MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| self.unreachable(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok::<_, ReplicationError>((parts, answer))
        };
        let (parts, answer) = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| self.unreachable("no answer within 60 s".into()))??;
        if !parts.status.is_success() {
            return Err(self.refusal(&answer));
        }
        self.check_mac(&parts.headers, &body, &answer)?;
        serde_json::from_slice(&answer).map_err(|e| ReplicationError::BadAnswer {
            region: self.region.clone(),
            reason: format!("{operation} answer: {e}"),
        })
    }

    fn signed_request(
        &self,
        operation: &str,
        body: &[u8],
    ) -> Result<Request<ProxyBody>, ReplicationError> {
        let internal = |e: String| crate::kms::KmsError::Internal(e);
        let authority = self
            .endpoint
            .authority()
            .ok_or_else(|| internal("the peer endpoint has no host".into()))?
            .to_string();
        let uri = format!(
            "{}://{authority}/",
            self.endpoint.scheme_str().unwrap_or("http")
        );
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_TYPE, "application/x-amz-json-1.1")
            .header("x-amz-target", format!("{TARGET_PREFIX}{operation}"))
            .body(body::full(Bytes::copy_from_slice(body)))
            .map_err(|e| internal(format!("cannot build the peer request: {e}")))?;
        let scope = SigningScope {
            identity: &self.identity,
            region: &self.region,
            service: "kms",
        };
        // The payload's hash is part of the signature (KMS clients send no
        // x-amz-content-sha256): the peer refuses an unsigned payload.
        sign_request(
            &mut request,
            &scope,
            SigningSettings::default(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| internal(e.to_string()))?;
        Ok(request)
    }

    fn check_mac(
        &self,
        headers: &http::HeaderMap,
        request_body: &[u8],
        answer: &[u8],
    ) -> Result<(), ReplicationError> {
        let sent = headers
            .get(MAC_HEADER)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .and_then(|v| hex::decode(v).ok());
        let expected = answer_mac(&self.secret, request_body, answer);
        let valid = sent.is_some_and(|sent| {
            use subtle::ConstantTimeEq;
            bool::from(sent.as_slice().ct_eq(expected.as_slice()))
        });
        if !valid {
            return Err(ReplicationError::BadAnswer {
                region: self.region.clone(),
                reason: format!("{MAC_HEADER} is missing or does not authenticate the answer"),
            });
        }
        Ok(())
    }

    fn unreachable(&self, reason: String) -> ReplicationError {
        ReplicationError::Unreachable {
            region: self.region.clone(),
            reason,
        }
    }

    /// A KMS error answer (`{"__type": …, "message": …}`).
    fn refusal(&self, answer: &[u8]) -> ReplicationError {
        let parsed: serde_json::Value = serde_json::from_slice(answer).unwrap_or_default();
        let text = |field: &str| parsed[field].as_str().unwrap_or_default().to_string();
        ReplicationError::Refused {
            region: self.region.clone(),
            kind: match text("__type") {
                kind if kind.is_empty() => "UnknownError".into(),
                kind => kind,
            },
            message: text("message"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_binds_secret_request_and_answer() {
        let secret = Secret::new("peer-secret");
        let mac = answer_mac(&secret, b"{\"KeyId\":\"k\"}", b"{\"PublicKey\":\"p\"}");
        assert_eq!(
            mac,
            answer_mac(&secret, b"{\"KeyId\":\"k\"}", b"{\"PublicKey\":\"p\"}")
        );
        assert_ne!(
            mac,
            answer_mac(
                &Secret::new("other"),
                b"{\"KeyId\":\"k\"}",
                b"{\"PublicKey\":\"p\"}"
            )
        );
        assert_ne!(
            mac,
            answer_mac(&secret, b"{\"KeyId\":\"j\"}", b"{\"PublicKey\":\"p\"}")
        );
        assert_ne!(
            mac,
            answer_mac(&secret, b"{\"KeyId\":\"k\"}", b"{\"PublicKey\":\"q\"}")
        );
    }
}
