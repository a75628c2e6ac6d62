//! Untrusted input: the `x-amz-copy-source` header of CopyObject / UploadPartCopy.
#![no_main]
use libfuzzer_sys::fuzz_target;
use s3seal::s3::copy::CopySource;

fuzz_target!(|data: &str| {
    if let Ok(source) = CopySource::parse(data) {
        assert!(!source.bucket.is_empty() && !source.key.is_empty());
    }
});
