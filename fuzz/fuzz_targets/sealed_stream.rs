//! Untrusted input: a whole object body from the upstream, fed to the unsealer
//! in arbitrary chunks. With a fresh random key nothing can authenticate, so
//! every input must end in an error: never a panic, never released bytes.
#![no_main]
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use libfuzzer_sys::fuzz_target;
use s3seal::kms::DataKey;
use s3seal::seal::{ReadPlan, UnsealingBody};

struct Frames(std::vec::IntoIter<Bytes>);

impl futures_core::Stream for Frames {
    type Item = Result<Frame<Bytes>, std::convert::Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.next().map(|b| Ok(Frame::data(b))))
    }
}

fuzz_target!(|input: (u32, u16, Vec<u8>)| {
    let (plaintext_len, chunk, data) = input;
    let chunk = usize::from(chunk.max(1));
    let frames: Vec<Bytes> = data.chunks(chunk).map(Bytes::copy_from_slice).collect();
    let body = StreamBody::new(Frames(frames.into_iter()));
    let key = DataKey::generate().unwrap();
    let plan = ReadPlan::whole_single_stream(0, u64::from(plaintext_len));
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let result = rt.block_on(UnsealingBody::new(body, key, plan).collect());
    assert!(result.is_err(), "unauthenticated input was accepted");
});
