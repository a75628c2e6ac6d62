//! Untrusted input: a browser POST's multipart/form-data body, in arbitrary
//! pieces, through the form reader: the fields before the file, the file as
//! a stream, the fields after it. Nothing may panic or hang.
#![no_main]
use bytes::Bytes;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use s3seal::body::{BoxError, FailureSlot};
use s3seal::s3::post_object::form::read_head;

fuzz_target!(|input: (u16, Vec<u8>)| {
    let (piece, data) = input;
    let piece = usize::from(piece.max(1));
    let frames: Vec<Result<Bytes, BoxError>> = data
        .chunks(piece)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let request = futures_util::stream::iter(frames);
        let Ok(mut head) = read_head(request, "B".into(), FailureSlot::default()).await else {
            return;
        };
        head.fields.expand_filename(head.filename.as_deref());
        while let Some(frame) = head.file.frame().await {
            if frame.is_err() {
                break;
            }
        }
        head.rest.drain().await;
    });
});
