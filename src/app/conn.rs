//! Timeouts of one connection between requests: a request's header must arrive within the
//! header timeout of its first byte (and a new connection's first request within the header
//! timeout of its opening), and a keep-alive connection without a request closes after the
//! idle timeout. While a request is being served its body has pace rules of its own
//! (`api::body`), and no timeout here applies.
//!
//! hyper's own `header_read_timeout` also runs while a keep-alive connection waits for its
//! next request, so it cannot tell "idle for 75 s" from "sending a header for 10 s"; this
//! wrapper around the socket can, because the service tells it when requests start and end.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// The HTTP/2 connection preface: such a connection has no header phase between requests.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// The timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From a header's first byte (or the connection's opening) to its end.
    pub header: Duration,
    /// Without any request in flight.
    pub idle: Duration,
}

/// Requests in flight on one connection, shared by the socket wrapper and the service.
#[derive(Debug, Default)]
pub struct Requests {
    in_flight: AtomicUsize,
    ended: AtomicU64,
    /// The connection's last pending read. hyper does not read again after an answer until
    /// the socket has data, so the end of the last request in flight wakes it: the idle
    /// timeout starts then.
    reader: Mutex<Option<Waker>>,
    /// Told when the connection's first request begins.
    first: Notify,
}

impl Requests {
    /// A request's header arrived; the returned guard ends it when dropped (after its
    /// response body was sent).
    pub fn begin(self: &Arc<Self>) -> RequestGuard {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) == 0
            && self.ended.load(Ordering::Acquire) == 0
        {
            self.first.notify_one();
        }
        RequestGuard(Arc::clone(self))
    }

    /// Completes once a request has begun on the connection (at once if one ever did).
    pub async fn first_began(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 && self.ended.load(Ordering::Acquire) == 0 {
            // `notify_one` keeps its permit for a waiter that comes after it.
            self.first.notified().await;
        }
    }
}

/// Marks a request in flight until dropped.
#[derive(Debug)]
pub struct RequestGuard(Arc<Requests>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.ended.fetch_add(1, Ordering::AcqRel);
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            let reader = self
                .0
                .reader
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(reader) = reader {
                reader.wake();
            }
        }
    }
}

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for the next request since this time.
    Idle(Instant),
    /// Receiving a header that started at this time.
    Header(Instant),
}

/// A socket that fails its reads with `TimedOut` when a timeout passes; hyper then closes
/// the connection.
pub struct TimedIo<T> {
    inner: T,
    sleep: Pin<Box<Sleep>>,
    requests: Arc<Requests>,
    timeouts: Timeouts,
    phase: Phase,
    ended_seen: u64,
    http2: Option<bool>,
}

impl<T> TimedIo<T> {
    /// Wraps a connection opened now.
    pub fn new(inner: T, requests: Arc<Requests>, timeouts: Timeouts) -> Self {
        let now = Instant::now();
        Self {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(now + timeouts.header)),
            requests,
            timeouts,
            // Its first request must come as soon as any header would.
            phase: Phase::Header(now),
            ended_seen: 0,
            http2: None,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let ended = this.requests.ended.load(Ordering::Acquire);
        if ended != this.ended_seen {
            // A response went out since the last read: the connection idles from now.
            this.ended_seen = ended;
            this.phase = Phase::Idle(Instant::now());
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.requests.in_flight.load(Ordering::Acquire) > 0 {
            if read.is_pending() {
                *this
                    .requests
                    .reader
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
                // The last request may have ended before the waker was in place.
                if this.requests.in_flight.load(Ordering::Acquire) == 0 {
                    cx.waker().wake_by_ref();
                }
            }
            return read;
        }
        if let Poll::Ready(result) = read {
            let got = &buf.filled()[before..];
            if result.is_ok() && !got.is_empty() {
                let http2 = *this
                    .http2
                    .get_or_insert_with(|| got.starts_with(H2_PREFACE));
                if !http2 && let Phase::Idle(_) = this.phase {
                    this.phase = Phase::Header(Instant::now());
                }
            }
            return Poll::Ready(result);
        }
        let deadline = match this.phase {
            Phase::Header(since) => since + this.timeouts.header,
            Phase::Idle(since) => since + this.timeouts.idle,
        };
        if this.sleep.deadline() != deadline {
            this.sleep.as_mut().reset(deadline);
        }
        ready!(this.sleep.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            match this.phase {
                Phase::Header(_) => "request header timeout",
                Phase::Idle(_) => "idle timeout",
            },
        )))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
