//! `s3seal rewrap`: re-wraps each sealed object's data key under its key's
//! current version (after a rotation) or under another key, with
//! s3seal's UpdateObjectEncryption: a metadata-only server-side copy, the
//! data is not rewritten. s3seal answers without a copy when the object is
//! already wrapped that way, so a re-run only costs a HEAD and a request per object.

use std::sync::Arc;

use super::ToolError;
use super::client::{ListedObject, S3Client};
use super::report::{Outcome, Wording};
use super::scan::ObjectTask;

pub const WORDING: Wording = Wording {
    command: "rewrap",
    done: "re-wrapped",
    plaintext: "not sealed, skipped (run migrate)",
};

pub struct Rewrapper {
    client: Arc<S3Client>,
    bucket: String,
    /// The key to wrap under; `None`: each object's current key.
    to_key: Option<String>,
    dry_run: bool,
}

impl ObjectTask for Rewrapper {
    async fn process(&self, object: ListedObject) -> Outcome {
        match self.rewrap(&object.key).await {
            Ok(outcome) => outcome,
            Err(ToolError::Changed) => Outcome::Changed,
            Err(err) => Outcome::Failed(err.to_string()),
        }
    }
}

impl Rewrapper {
    pub fn new(
        client: Arc<S3Client>,
        bucket: String,
        to_key: Option<String>,
        dry_run: bool,
    ) -> Self {
        Rewrapper {
            client,
            bucket,
            to_key,
            dry_run,
        }
    }

    async fn rewrap(&self, key: &str) -> Result<Outcome, ToolError> {
        let Some(head) = self.client.head(&self.bucket, key).await? else {
            return Ok(Outcome::Vanished);
        };
        if !head.is_sealed() {
            return Ok(Outcome::Plaintext);
        }
        let size = head.content_length()?;
        let target = match (&self.to_key, head.kms_key_arn()) {
            (Some(to_key), _) => to_key.clone(),
            (None, Some(current)) => current.to_string(),
            (None, None) => {
                return Err(ToolError::Usage(
                    "sealed with SSE-S3 (AES256), which names no key: pass --to-key".into(),
                ));
            }
        };
        if self.dry_run {
            return Ok(Outcome::WouldDo { bytes: size });
        }
        self.client
            .update_encryption(&self.bucket, key, &target)
            .await?;
        Ok(Outcome::Done { bytes: size })
    }
}
