//! Untrusted input: KMS ciphertext blobs (wrapped data keys from object metadata).
#![no_main]
use libfuzzer_sys::fuzz_target;
use s3seal::kms::CiphertextBlob;

fuzz_target!(|data: &[u8]| {
    if let Ok(blob) = CiphertextBlob::decode(data) {
        assert_eq!(blob.encode(), data);
    }
});
