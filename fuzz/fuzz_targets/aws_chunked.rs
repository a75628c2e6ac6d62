//! Untrusted input: an aws-chunked request body (SigV4 streaming), signed and
//! unsigned, fed in arbitrary pieces. Nothing may panic; a signed body made of
//! random bytes must never decode successfully.
#![no_main]
use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use libfuzzer_sys::fuzz_target;
use s3seal::body::FailureSlot;
use s3seal::integrity::aws_chunked::{AwsChunkedBody, ChunkSigning};
use zeroize::Zeroizing;

fuzz_target!(|input: (bool, u16, Vec<u8>)| {
    let (signed, piece, data) = input;
    let piece = usize::from(piece.max(1));
    let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = data
        .chunks(piece)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let inner = StreamBody::new(futures_util::stream::iter(frames));
    let signing = signed.then(|| ChunkSigning {
        signing_key: Zeroizing::new([7u8; 32]),
        amz_date: "20260101T000000Z".into(),
        scope: "20260101/us-east-1/s3/aws4_request".into(),
        seed_signature: "0".repeat(64),
    });
    let body = AwsChunkedBody::new(inner, signing, FailureSlot::default());
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let result = rt.block_on(body.collect());
    if signed {
        // Only a body whose every chunk carries a valid signature decodes; with
        // random input that means none (short of forging HMAC-SHA256).
        if let Ok(collected) = result {
            assert!(collected.to_bytes().is_empty() && data.is_empty(), "a forged signed body decoded");
        }
    }
});
