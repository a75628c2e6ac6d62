//! Untrusted input: s3seal's metadata headers as returned by the upstream.
#![no_main]
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use s3seal::seal::SealedObjectMetadata;

const NAMES: [&str; 9] = [
    "x-amz-meta-s3seal-format",
    "x-amz-meta-s3seal-alg",
    "x-amz-meta-s3seal-key-id",
    "x-amz-meta-s3seal-key-version",
    "x-amz-meta-s3seal-dk",
    "x-amz-meta-s3seal-len",
    "x-amz-meta-s3seal-sse",
    "x-amz-meta-s3seal-ctx",
    "x-amz-meta-s3seal-bke",
];

fuzz_target!(|values: Vec<Vec<u8>>| {
    let mut headers = HeaderMap::new();
    for (name, value) in NAMES.iter().zip(values) {
        if let Ok(v) = HeaderValue::from_bytes(&value) {
            headers.insert(*name, v);
        }
    }
    if let Ok(Some(meta)) = SealedObjectMetadata::from_headers(&headers) {
        // What parses must survive a round trip unchanged.
        let mut again = HeaderMap::new();
        meta.to_headers(&mut again).unwrap();
        assert_eq!(SealedObjectMetadata::from_headers(&again).unwrap(), Some(meta));
    }
});
