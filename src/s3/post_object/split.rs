//! Splitting one streaming body into a prefix of known length and the rest.
//!
//! [`Prefix::split`] turns a body into two: the first `len` bytes, as a body
//! of their own that an upstream request can own and stream; and a future of
//! the [`Rest`] of the original body, handed back by the prefix the moment
//! its last byte is out. Nothing is copied or buffered beyond the one frame
//! that straddles the cut.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::oneshot;

use crate::body::{BoxError, FailureSlot};
use crate::error::{S3Error, S3ErrorCode};

use super::form::NON_FILE_ALLOWANCE;

/// The first `len` bytes of a body.
pub struct Prefix<B> {
    source: Option<Rest<B>>,
    remaining: u64,
    hand_back: Option<oneshot::Sender<Rest<B>>>,
    failure: FailureSlot,
}

/// What follows the prefix: the frame that straddled the cut, then the
/// original body's remaining frames.
pub struct Rest<B> {
    front: Option<Bytes>,
    inner: B,
}

impl<B> Prefix<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    /// Splits `body` after `len` bytes. The returned future resolves once the
    /// prefix has yielded its last byte (it fails if the prefix is dropped
    /// before, or the body ends early: that failure is recorded in `failure`).
    pub fn split(body: B, len: u64, failure: FailureSlot) -> (Self, oneshot::Receiver<Rest<B>>) {
        let (hand_back, rest) = oneshot::channel();
        let mut prefix = Prefix {
            source: Some(Rest {
                front: None,
                inner: body,
            }),
            remaining: len,
            hand_back: Some(hand_back),
            failure,
        };
        if len == 0 {
            prefix.give_back();
        }
        (prefix, rest)
    }

    fn give_back(&mut self) {
        if let (Some(source), Some(hand_back)) = (self.source.take(), self.hand_back.take()) {
            // The receiver is gone only if the upload was abandoned.
            let _ = hand_back.send(source);
        }
    }
}

impl<B> Body for Prefix<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let Some(source) = this.source.as_mut() else {
            return Poll::Ready(None);
        };
        let mut data = match ready!(Pin::new(&mut *source).poll_frame(cx)) {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                // No trailers in a form's file: skip anything that is not data.
                Err(_) => return Pin::new(this).poll_frame(cx),
            },
            Some(Err(err)) => return Poll::Ready(Some(Err(err))),
            None => {
                // The file is shorter than the request's length promised it
                // to be: the form had more than the allowance besides it.
                let err = S3Error::new(
                    S3ErrorCode::MalformedPOSTRequest,
                    format!(
                        "The form data and boundaries of your POST request, excluding the file, exceed {NON_FILE_ALLOWANCE} bytes"
                    ),
                );
                let message = err.to_string();
                this.failure.record(err);
                this.source = None;
                return Poll::Ready(Some(Err(message.into())));
            }
        };
        if data.len() as u64 >= this.remaining {
            // usize: `remaining` is at most `data.len()` here.
            let rest = data.split_off(this.remaining as usize);
            source.front = (!rest.is_empty()).then_some(rest);
            this.remaining = 0;
            this.give_back();
        } else {
            this.remaining -= data.len() as u64;
        }
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

impl<B> Body for Rest<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(front) = self.front.take() {
            return Poll::Ready(Some(Ok(Frame::data(front))));
        }
        Pin::new(&mut self.inner)
            .poll_frame(cx)
            .map(|frame| frame.map(|result| result.map_err(Into::into)))
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, StreamBody};

    use super::*;

    fn body(frames: &[&'static [u8]]) -> impl Body<Data = Bytes, Error = BoxError> + Unpin {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = frames
            .iter()
            .map(|f| Ok(Frame::data(Bytes::from_static(f))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    async fn collect<B>(body: B) -> Result<Vec<u8>, BoxError>
    where
        B: Body<Data = Bytes, Error = BoxError>,
    {
        Ok(body.collect().await?.to_bytes().to_vec())
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn splits_anywhere_without_losing_a_byte() {
        for cut in 0..=9u64 {
            let (prefix, rest) =
                Prefix::split(body(&[b"abc", b"defg", b"hi"]), cut, FailureSlot::default());
            let (head, tail) = run(async {
                let head = collect(prefix).await.unwrap();
                let tail = collect(rest.await.unwrap()).await.unwrap();
                (head, tail)
            });
            assert_eq!(head, &b"abcdefghi"[..cut as usize], "cut {cut}");
            assert_eq!(tail, &b"abcdefghi"[cut as usize..], "cut {cut}");
        }
    }

    #[test]
    fn a_short_body_fails_the_prefix() {
        let failure = FailureSlot::default();
        let (prefix, rest) = Prefix::split(body(&[b"abc"]), 5, failure.clone());
        assert!(run(collect(prefix)).is_err());
        assert!(run(rest).is_err());
        assert_eq!(
            failure.take().map(|e| e.code),
            Some(S3ErrorCode::MalformedPOSTRequest)
        );
    }
}
