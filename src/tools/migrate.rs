//! `s3seal migrate`: seals plaintext objects in place by reading each one
//! through s3seal and writing it back through s3seal.
//!
//! Every read and write is pinned to the ETag seen by HEAD (`If-Match`), so
//! an object written by someone else meanwhile is never overwritten with the
//! stale content: it is reported as changed and left for a re-run.

use std::path::PathBuf;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue};

use super::ToolError;
use super::client::{ListedObject, ObjectHead, S3Client, UploadBody, header_name, header_value};
use super::multipart_copy::{self, MultipartCopy};
use super::report::{Outcome, Wording};
use super::scan::ObjectTask;
use crate::s3::object_put::MAX_PUT_SIZE;

pub const WORDING: Wording = Wording {
    command: "migrate",
    done: "migrated",
    plaintext: "plaintext",
};

/// Headers describing an object that a migration carries over to its sealed copy.
const PRESERVED_HEADERS: &[&str] = &[
    "content-type",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Seal under this KMS key instead of the bucket's default encryption.
    pub kms_key_id: Option<String>,
    pub dry_run: bool,
    /// Objects larger than this are copied with a multipart upload.
    pub multipart_threshold: u64,
    pub part_size: u64,
    /// Test hook: a program run with (bucket, key) after an object's read
    /// started and before its write, to change the object deterministically.
    pub hook_before_write: Option<PathBuf>,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            kms_key_id: None,
            dry_run: false,
            multipart_threshold: MAX_PUT_SIZE,
            part_size: multipart_copy::DEFAULT_PART_SIZE,
            hook_before_write: None,
        }
    }
}

pub struct Migrator {
    client: Arc<S3Client>,
    bucket: String,
    options: MigrateOptions,
}

impl ObjectTask for Migrator {
    async fn process(&self, object: ListedObject) -> Outcome {
        match self.migrate(&object.key).await {
            Ok(outcome) => outcome,
            Err(ToolError::Changed) => Outcome::Changed,
            // Deleted after its HEAD: there is nothing left to seal.
            Err(ToolError::Status { status: 404, .. }) => Outcome::Vanished,
            Err(err) => Outcome::Failed(err.to_string()),
        }
    }
}

impl Migrator {
    pub fn new(client: Arc<S3Client>, bucket: String, options: MigrateOptions) -> Self {
        Migrator {
            client,
            bucket,
            options,
        }
    }

    async fn migrate(&self, key: &str) -> Result<Outcome, ToolError> {
        let Some(head) = self.client.head(&self.bucket, key).await? else {
            return Ok(Outcome::Vanished);
        };
        if head.is_sealed() {
            return Ok(Outcome::AlreadySealed);
        }
        let size = head.content_length()?;
        if self.options.dry_run {
            return Ok(Outcome::WouldDo { bytes: size });
        }
        let etag = head.etag().cloned().ok_or_else(|| ToolError::Malformed {
            what: "HEAD answer",
            detail: "no ETag".into(),
        })?;
        let tagging = self.client.tagging(&self.bucket, key).await?;
        let headers = self.sealed_object_headers(&head, tagging.as_deref())?;
        if size > self.options.multipart_threshold {
            let copy = MultipartCopy {
                client: &self.client,
                bucket: &self.bucket,
                key,
                etag: &etag,
                size,
                part_size: self.options.part_size,
            };
            copy.run(headers, || self.before_write(key)).await?;
        } else {
            self.copy_single(key, &etag, size, headers).await?;
        }
        Ok(Outcome::Done { bytes: size })
    }

    /// One GET piped into one PUT, both pinned to `etag`.
    async fn copy_single(
        &self,
        key: &str,
        etag: &HeaderValue,
        size: u64,
        mut headers: HeaderMap,
    ) -> Result<(), ToolError> {
        let source = self.client.get(&self.bucket, key, Some(etag), None).await?;
        self.before_write(key).await?;
        headers.insert(http::header::IF_MATCH, etag.clone());
        let body = crate::body::boxed(source.into_body());
        self.client
            .put(&self.bucket, key, headers, UploadBody::unsigned(body, size))
            .await?;
        Ok(())
    }

    /// The headers of the sealed copy: the object's own, its tags, the encryption asked for.
    fn sealed_object_headers(
        &self,
        head: &ObjectHead,
        tagging: Option<&str>,
    ) -> Result<HeaderMap, ToolError> {
        let mut headers = preserved_headers(&head.headers);
        if let Some(tagging) = tagging {
            headers.insert(header_name("x-amz-tagging"), header_value(tagging)?);
        }
        if let Some(kms_key) = &self.options.kms_key_id {
            headers.insert(
                header_name("x-amz-server-side-encryption"),
                HeaderValue::from_static("aws:kms"),
            );
            headers.insert(
                header_name("x-amz-server-side-encryption-aws-kms-key-id"),
                header_value(kms_key)?,
            );
        }
        Ok(headers)
    }

    async fn before_write(&self, key: &str) -> Result<(), ToolError> {
        let Some(hook) = self.options.hook_before_write.clone() else {
            return Ok(());
        };
        let (bucket, key) = (self.bucket.clone(), key.to_string());
        let status = tokio::task::spawn_blocking(move || {
            std::process::Command::new(hook)
                .arg(bucket)
                .arg(key)
                .status()
        })
        .await
        .map_err(|e| ToolError::Hook(e.to_string()))?
        .map_err(|e| ToolError::Hook(e.to_string()))?;
        if status.success() {
            Ok(())
        } else {
            Err(ToolError::Hook(status.to_string()))
        }
    }
}

/// User metadata and the content headers that describe the object.
fn preserved_headers(head: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in head {
        let n = name.as_str();
        if n.starts_with("x-amz-meta-") || PRESERVED_HEADERS.contains(&n) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preserves_metadata_and_content_headers_only() {
        let mut head = HeaderMap::new();
        for (name, value) in [
            ("content-type", "text/plain"),
            ("content-length", "12"),
            ("etag", "\"e\""),
            ("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
            ("x-amz-meta-color", "blue"),
            ("cache-control", "no-cache"),
            ("expires", "Thu, 01 Jan 2099 00:00:00 GMT"),
        ] {
            head.insert(name, HeaderValue::from_static(value));
        }
        let kept = preserved_headers(&head);
        let mut names: Vec<&str> = kept.keys().map(|n| n.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "cache-control",
                "content-type",
                "expires",
                "x-amz-meta-color"
            ]
        );
    }
}
