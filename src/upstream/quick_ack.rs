//! TCP connections to the upstream that acknowledge small reads at once.
//!
//! Why: a store that writes a response's headers and its body in two small
//! writes without `TCP_NODELAY` (Garage 2.5 does, for small objects) holds the
//! body back under Nagle's algorithm until its headers are acknowledged,
//! while Linux delays that acknowledgement by up to 40 ms on a kept-alive
//! connection. Every small GET over a pooled connection then takes ~40 ms
//! more, whatever the store's own speed (measured: 44 ms vs 1.5 ms for a
//! 4 KiB GET; see docs/benchmarks.md). Setting `TCP_QUICKACK` after a read
//! sends the pending acknowledgement now. It is not sticky in Linux, so it is
//! set again after each small read; large reads are part of a bulk transfer
//! whose acknowledgements are not delayed.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Reads up to this many bytes are acknowledged at once.
const QUICK_ACK_BELOW: usize = 16 * 1024;

/// [`HttpConnector`] whose connections acknowledge small reads at once.
#[derive(Clone)]
pub struct QuickAckConnector {
    inner: HttpConnector,
}

impl QuickAckConnector {
    pub fn new(inner: HttpConnector) -> Self {
        QuickAckConnector { inner }
    }
}

impl tower::Service<Uri> for QuickAckConnector {
    type Response = TokioIo<QuickAckStream>;
    type Error = <HttpConnector as tower::Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        Box::pin(async move {
            let stream = connecting.await?.into_inner();
            Ok(TokioIo::new(QuickAckStream { inner: stream }))
        })
    }
}

/// A TCP connection that sets `TCP_QUICKACK` after each small read.
pub struct QuickAckStream {
    inner: TcpStream,
}

impl AsyncRead for QuickAckStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if matches!(result, Poll::Ready(Ok(()))) && read > 0 && read < QUICK_ACK_BELOW {
            // Best effort: without it a read is only slower, never wrong.
            let _ = socket2::SockRef::from(&self.inner).set_tcp_quickack(true);
        }
        result
    }
}

impl AsyncWrite for QuickAckStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Connection for QuickAckStream {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}
