//! Lingering close: a connection that ends while its client is still sending (an answer given
//! before the request's body was read: `413`, `401`, `400`) first shuts its write side, so that
//! the answer is complete, then reads and discards what the client still sends, for a bounded
//! time and amount, before it closes. Closing with unread bytes makes the kernel reset the
//! connection, and a client that writes its whole body before reading (Python's `urllib`,
//! `requests`) would then see the reset instead of the answer. nginx does the same.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// The longest a closing connection reads on.
const LINGER_TIME: Duration = Duration::from_secs(5);

/// The longest a closing connection waits for the client's next bytes: a client that sends
/// nothing more is closed at once, one that is still sending is drained.
const LINGER_SILENCE: Duration = Duration::from_millis(250);

/// The most a closing connection reads and discards.
const LINGER_BYTES: usize = 64 * 1024 * 1024;

/// A TCP connection that lingers on close.
pub(crate) struct Lingering {
    stream: TcpStream,
    close: Option<Closing>,
}

/// Where a lingering close is.
struct Closing {
    /// The write side is shut.
    write_shut: bool,
    drained: usize,
    until: Instant,
    silence: Pin<Box<Sleep>>,
}

impl Lingering {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            close: None,
        }
    }
}

impl AsyncRead for Lingering {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    /// Shuts the write side, then drains what the client still sends (see the module's doc).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let close = this.close.get_or_insert_with(|| Closing {
            write_shut: false,
            drained: 0,
            until: Instant::now() + LINGER_TIME,
            silence: Box::pin(tokio::time::sleep(LINGER_SILENCE)),
        });
        if !close.write_shut {
            ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
            close.write_shut = true;
        }
        let mut scratch = [0_u8; 16 * 1024];
        loop {
            if close.drained >= LINGER_BYTES || Instant::now() >= close.until {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.stream).poll_read(cx, &mut buf) {
                // The client has sent everything (or the connection broke): done.
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    close.drained += buf.filled().len();
                    let next = (Instant::now() + LINGER_SILENCE).min(close.until);
                    close.silence.as_mut().reset(next);
                }
                Poll::Pending => {
                    ready!(close.silence.as_mut().poll(cx));
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}
