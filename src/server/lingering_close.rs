//! Lingering close (as nginx's `lingering_close`): when a connection ends
//! while the client is still sending (a request refused before its body was
//! read), closing the socket at once makes the kernel answer the unread bytes
//! with a reset, and the client may lose the response it was sent. So on
//! shutdown the write side is closed first and what still arrives is read and
//! discarded, until the client closes its side, up to [`LINGER_TIME`] and
//! [`LINGER_BYTES`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// How long a closing connection is drained at most.
pub const LINGER_TIME: Duration = Duration::from_secs(5);
/// How much is drained at most.
pub const LINGER_BYTES: u64 = 256 * 1024 * 1024;

pub struct LingeringClose<IO> {
    inner: IO,
    state: Closing,
}

enum Closing {
    Open,
    Draining {
        deadline: Pin<Box<Sleep>>,
        read: u64,
    },
    Closed,
}

impl<IO> LingeringClose<IO> {
    pub fn new(inner: IO) -> Self {
        LingeringClose {
            inner,
            state: Closing::Open,
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> LingeringClose<IO> {
    /// Reads and discards until EOF, an error, or a limit.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Closing::Draining { deadline, read } = &mut self.state else {
            return Poll::Ready(());
        };
        let mut scratch = [0u8; 16 * 1024];
        loop {
            if deadline.as_mut().poll(cx).is_ready() || *read >= LINGER_BYTES {
                return Poll::Ready(());
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(()),
                Poll::Ready(Ok(())) => *read += buf.filled().len() as u64,
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for LingeringClose<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for LingeringClose<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Closing::Open = this.state {
            ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            this.state = Closing::Draining {
                deadline: Box::pin(tokio::time::sleep(LINGER_TIME)),
                read: 0,
            };
        }
        ready!(this.poll_drain(cx));
        this.state = Closing::Closed;
        Poll::Ready(Ok(()))
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn shutdown_reads_what_the_peer_still_sends_until_it_closes() {
        let (server, mut client) = tokio::io::duplex(1024);
        let mut server = LingeringClose::new(server);
        let sender = tokio::spawn(async move {
            // More than the pipe holds: only a draining peer lets this finish.
            client.write_all(&vec![7u8; 64 * 1024]).await.unwrap();
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).await.unwrap();
            client.shutdown().await.unwrap();
            answer
        });
        server.write_all(b"403").await.unwrap();
        server.shutdown().await.unwrap();
        assert_eq!(sender.await.unwrap(), b"403");
    }

    #[tokio::test]
    async fn a_peer_that_never_closes_is_given_up_on() {
        let (server, _client) = tokio::io::duplex(1024);
        let mut server = LingeringClose::new(server);
        let started = tokio::time::Instant::now();
        server.shutdown().await.unwrap();
        assert!(started.elapsed() >= LINGER_TIME);
    }
}
