//! Migrating an object too large for one PUT: a multipart upload through
//! s3seal, each part a ranged GET (pinned to the object's ETag) piped into
//! UploadPart, completed with `If-Match` and aborted on any failure.

use std::future::Future;

use http::{HeaderMap, HeaderValue};

use super::ToolError;
use super::client::{S3Client, UploadBody};

/// The part size for objects above the single-PUT limit.
pub const DEFAULT_PART_SIZE: u64 = 64 * 1024 * 1024;
/// S3's limits on a multipart upload.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
const MAX_PARTS: u64 = 10_000;

/// One part: its number and the plaintext range (first and last byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartRange {
    pub number: u32,
    pub first: u64,
    pub last: u64,
}

impl PartRange {
    pub fn byte_count(&self) -> u64 {
        self.last - self.first + 1
    }
}

/// The parts of an object of `size` bytes: `part_size` each (raised to S3's
/// minimum, and so that there are at most 10,000), the last one shorter.
pub fn plan_parts(size: u64, part_size: u64) -> Vec<PartRange> {
    let part_size = part_size.max(MIN_PART_SIZE).max(size.div_ceil(MAX_PARTS));
    let mut parts = Vec::new();
    let mut first = 0;
    let mut number = 1;
    while first < size {
        let last = (first + part_size).min(size) - 1;
        parts.push(PartRange {
            number,
            first,
            last,
        });
        first = last + 1;
        number += 1;
    }
    parts
}

/// One object's multipart copy onto itself.
pub struct MultipartCopy<'a> {
    pub client: &'a S3Client,
    pub bucket: &'a str,
    pub key: &'a str,
    /// The version being migrated: every read and the completion are pinned to it.
    pub etag: &'a HeaderValue,
    pub size: u64,
    pub part_size: u64,
}

impl MultipartCopy<'_> {
    /// Creates the upload with `headers`, copies the parts, runs
    /// `before_complete`, and completes; aborts the upload on failure.
    pub async fn run<F, Fut>(&self, headers: HeaderMap, before_complete: F) -> Result<(), ToolError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), ToolError>>,
    {
        let upload_id = self
            .client
            .create_multipart(self.bucket, self.key, headers)
            .await?;
        let result = self.copy_and_complete(&upload_id, before_complete).await;
        if result.is_err() {
            self.client
                .abort_multipart(self.bucket, self.key, &upload_id)
                .await;
        }
        result
    }

    async fn copy_and_complete<F, Fut>(
        &self,
        upload_id: &str,
        before_complete: F,
    ) -> Result<(), ToolError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), ToolError>>,
    {
        let mut completed = Vec::new();
        for part in plan_parts(self.size, self.part_size) {
            let etag = self.copy_part(upload_id, part).await?;
            completed.push((part.number, etag));
        }
        before_complete().await?;
        let mut conditions = HeaderMap::new();
        conditions.insert(http::header::IF_MATCH, self.etag.clone());
        self.client
            .complete_multipart(self.bucket, self.key, upload_id, &completed, conditions)
            .await
    }

    async fn copy_part(&self, upload_id: &str, part: PartRange) -> Result<String, ToolError> {
        let source = self
            .client
            .get(
                self.bucket,
                self.key,
                Some(self.etag),
                Some((part.first, part.last)),
            )
            .await?;
        let body = crate::body::boxed(source.into_body());
        self.client
            .upload_part(
                self.bucket,
                self.key,
                (upload_id, part.number),
                UploadBody::unsigned(body, part.byte_count()),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn parts_cover_the_object_exactly() {
        let parts = plan_parts(12 * MIB + 1, 5 * MIB);
        let lens: Vec<u64> = parts.iter().map(PartRange::byte_count).collect();
        assert_eq!(lens, [5 * MIB, 5 * MIB, 2 * MIB + 1]);
        assert_eq!(parts[2].number, 3);
        assert_eq!(parts[2].last, 12 * MIB);
        assert_eq!(plan_parts(10 * MIB, 5 * MIB).len(), 2);
    }

    #[test]
    fn parts_respect_s3_limits() {
        assert_eq!(plan_parts(20 * MIB, 1)[0].byte_count(), 5 * MIB);
        let huge = 5 * 1024 * 1024 * MIB; // 5 TiB
        assert!(plan_parts(huge, 5 * MIB).len() as u64 <= MAX_PARTS);
        assert!(plan_parts(0, 5 * MIB).is_empty());
    }
}
