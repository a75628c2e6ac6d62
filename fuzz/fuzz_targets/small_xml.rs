//! Untrusted input: small XML documents s3seal reads — upstream error bodies
//! and results, clients' CreateBucketConfiguration, CompleteMultipartUpload
//! DeleteObjects (round trip) and ObjectEncryption bodies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use s3seal::s3::{bucket, upstream_response, xml};

fuzz_target!(|data: &[u8]| {
    let _ = upstream_response::error_code(data);
    let _ = bucket::location_constraint(data);
    if let Ok(complete) = xml::CompleteMultipartUpload::parse(data) {
        // What s3seal writes back must parse to the same parts.
        let body = complete.upstream_body().expect("serialisable");
        let again = xml::CompleteMultipartUpload::parse(body.as_bytes()).expect("re-parses");
        assert_eq!(again, complete);
    }
    if let Ok(delete) = xml::parse_xml::<xml::DeleteRequest>(data) {
        // The upstream deletes exactly the keys s3seal authorised.
        let body = delete.upstream_body().expect("serialisable");
        let again = xml::parse_xml::<xml::DeleteRequest>(body.as_bytes()).expect("re-parses");
        assert_eq!(again, delete);
    }
    let _ = xml::ObjectEncryption::parse(data);
    let _ = xml::parse_upstream::<xml::InitiateMultipartUploadResult>(data, "x");
    let _ = xml::parse_upstream::<xml::ListPartsResult>(data, "x");
    let _ = xml::parse_upstream::<xml::CopyResult>(data, "x");
    let _ = xml::parse_upstream::<xml::DeleteResult>(data, "x");
});
