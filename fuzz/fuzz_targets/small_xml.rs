//! Untrusted input: small XML documents s3seal reads — upstream error bodies
//! and clients' CreateBucketConfiguration.
#![no_main]
use libfuzzer_sys::fuzz_target;
use s3seal::s3::{bucket, upstream_response};

fuzz_target!(|data: &[u8]| {
    let _ = upstream_response::error_code(data);
    let _ = bucket::location_constraint(data);
});
