//! Giving up on an upstream that stops answering.
//!
//! A store that hangs (a stuck disk, a half-open connection, a load balancer
//! that swallows packets) would otherwise hold every client request sent to
//! it open forever. The difficulty is telling a hung store from a slow
//! *client*: a PUT streams the client's body through to the upstream, and
//! while s3seal waits for the client's next bytes the upstream is rightly
//! idle. So only time spent waiting **on the upstream** counts:
//!
//! - while sending a request: from the moment the upstream connection has
//!   taken every body byte s3seal had ready (or the whole body) until it
//!   takes more, or answers — [`TrackedBody`] and [`Progress`] record which
//!   side is being waited on, and [`await_response`] watches them;
//! - while reading a response body: each wait for the next frame
//!   ([`tower_http::timeout::TimeoutBody`], see [`super::UpstreamBody`]).
//!   Time a slow client takes to read is not counted: the body is not polled.
//!
//! Waiting on the client is bounded separately, by
//! `limits.body_idle_timeout_seconds`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

/// Which side an upstream request is waiting on, and since when.
#[derive(Clone)]
pub struct Progress(Arc<Mutex<ProgressState>>);

#[derive(Clone, Copy)]
struct ProgressState {
    since: Instant,
    waiting_on_upstream: bool,
}

impl Progress {
    /// A request about to be sent: the upstream is what s3seal waits on
    /// (to connect, to take the head, to take the body).
    pub fn new() -> Self {
        Progress(Arc::new(Mutex::new(ProgressState {
            since: Instant::now(),
            waiting_on_upstream: true,
        })))
    }

    fn set(&self, waiting_on_upstream: bool) {
        if let Ok(mut state) = self.0.lock() {
            *state = ProgressState {
                since: Instant::now(),
                waiting_on_upstream,
            };
        }
    }

    fn get(&self) -> ProgressState {
        self.0.lock().map(|state| *state).unwrap_or(ProgressState {
            since: Instant::now(),
            waiting_on_upstream: false,
        })
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// A request body that tells [`Progress`] whether the upstream connection
/// or the body's own source (the client) is being waited on.
pub struct TrackedBody<B> {
    inner: B,
    progress: Progress,
}

impl<B> TrackedBody<B> {
    pub fn new(inner: B, progress: Progress) -> Self {
        TrackedBody { inner, progress }
    }
}

impl<B> Body for TrackedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        // Being polled means the connection wants more: the wait, if any,
        // is now on the body's source.
        self.progress.set(false);
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            // A frame handed over, or the body finished: the upstream is next.
            Poll::Ready(Some(Ok(_))) | Poll::Ready(None) => self.progress.set(true),
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The upstream waited on for longer than the idle timeout.
#[derive(Debug)]
pub struct UpstreamIdle;

/// `response` (an upstream request's response future), or [`UpstreamIdle`]
/// once the upstream has been waited on for `idle_timeout` at a stretch.
/// A stall is noticed between `idle_timeout` and twice that after it began.
pub async fn await_response<F: Future>(
    response: F,
    progress: &Progress,
    idle_timeout: Duration,
) -> Result<F::Output, UpstreamIdle> {
    tokio::pin!(response);
    loop {
        let state = progress.get();
        let check_at = if state.waiting_on_upstream {
            let deadline = state.since + idle_timeout;
            if Instant::now() >= deadline {
                return Err(UpstreamIdle);
            }
            deadline
        } else {
            Instant::now() + idle_timeout
        };
        tokio::select! {
            output = &mut response => return Ok(output),
            _ = tokio::time::sleep_until(check_at) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tokio::sync::mpsc;

    const IDLE: Duration = Duration::from_secs(10);

    /// A body fed by hand, as a client's would be; it ends when `tx` drops.
    struct Chunks(mpsc::Receiver<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
        }
    }

    fn client_body() -> (mpsc::Sender<Bytes>, Chunks) {
        let (tx, rx) = mpsc::channel(1);
        (tx, Chunks(rx))
    }

    fn byte() -> Bytes {
        Bytes::from_static(b"x")
    }

    #[tokio::test(start_paused = true)]
    async fn an_upstream_that_never_answers_is_given_up_on() {
        let progress = Progress::new();
        let never = std::future::pending::<()>();
        let started = Instant::now();
        assert!(await_response(never, &progress, IDLE).await.is_err());
        assert_eq!(started.elapsed(), IDLE);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_in_time_is_returned() {
        let progress = Progress::new();
        let answer = async {
            tokio::time::sleep(IDLE - Duration::from_millis(1)).await;
            42
        };
        assert_eq!(await_response(answer, &progress, IDLE).await.unwrap(), 42);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_on_a_slow_client_is_not_the_upstreams_fault() {
        let progress = Progress::new();
        let (tx, body) = client_body();
        let mut body = TrackedBody::new(body, progress.clone());
        // The "upstream" reads the body as fast as it comes, then answers.
        let upstream = async move {
            let mut n = 0;
            while let Some(frame) = body.frame().await {
                n += frame.unwrap().into_data().unwrap().len();
            }
            n
        };
        // The client sends a byte every 3 idle timeouts.
        let client = async move {
            for _ in 0..3 {
                tokio::time::sleep(IDLE * 3).await;
                tx.send(byte()).await.unwrap();
            }
        };
        let (received, ()) = tokio::join!(await_response(upstream, &progress, IDLE), client);
        assert_eq!(received.unwrap(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_upstream_that_stops_reading_the_body_is_given_up_on() {
        let progress = Progress::new();
        let (tx, body) = client_body();
        let mut body = TrackedBody::new(body, progress.clone());
        tx.send(byte()).await.unwrap();
        // Takes one frame, then neither reads nor answers.
        let upstream = async move {
            let _ = body.frame().await;
            std::future::pending::<()>().await
        };
        let started = Instant::now();
        assert!(await_response(upstream, &progress, IDLE).await.is_err());
        assert!(started.elapsed() >= IDLE && started.elapsed() <= IDLE * 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_upstream_silent_after_the_whole_body_is_given_up_on() {
        let progress = Progress::new();
        let (tx, body) = client_body();
        let mut body = TrackedBody::new(body, progress.clone());
        let upstream = async move {
            while body.frame().await.is_some() {}
            std::future::pending::<()>().await
        };
        let client = async move {
            tokio::time::sleep(IDLE * 5).await;
            tx.send(byte()).await.unwrap();
            // tx dropped: the body ends.
        };
        let started = Instant::now();
        let (answer, ()) = tokio::join!(await_response(upstream, &progress, IDLE), client);
        assert!(answer.is_err());
        let elapsed = started.elapsed();
        assert!(elapsed >= IDLE * 6 && elapsed <= IDLE * 7, "{elapsed:?}");
    }
}
