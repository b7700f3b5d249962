//! Serving HTTP connections: HTTP/1.1 (what watches speak) and HTTP/2, with small
//! per-connection buffers so thousands of mostly idle device connections stay cheap, a cap on
//! open connections, and header and idle timeouts ([`super::conn`]).
//!
//! poem's own `Server` leaves hyper's read buffer free to grow to 400 KiB per connection and
//! keeps it at the size of the largest request the connection ever carried: with 5000 watches
//! each posting ~20 KiB batches, that alone is ~100 MiB of idle buffers. Here the read buffer
//! is capped, and a request body larger than it simply arrives in several reads.

use super::conn::{Requests, TimedIo, Timeouts};
use crate::config::ServerConfig;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use poem::endpoint::BoxEndpoint;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// Largest read buffer of one connection (hyper's minimum).
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// Pause after a failed `accept` (out of file descriptors, say) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// When serving stops, how long a connection without a request yet may still start one (a
/// proxy sends its request right after connecting; a loaded machine may read it late).
const FIRST_REQUEST_WAIT: Duration = Duration::from_secs(2);

/// The body type hyper sends: poem's response body.
type ResponseBody = http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>;

/// How serving ends, once its signal came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Keep serving for `server.drain_secs`, every HTTP/1 answer closing its connection, then
    /// stop accepting (SIGTERM: a rolling restart behind a proxy).
    Drain,
    /// Stop accepting at once (SIGINT, tests).
    Now,
}

/// Serves `endpoint` on `listener` with the limits of `config` until `signal` completes;
/// then drains when it says so ([`Stop::Drain`]), runs `stopping`, takes the connections the
/// kernel has already completed, stops accepting, lets every connection finish its request
/// in flight (closing idle keep-alive connections), and returns once they are done or
/// `grace` has passed.
pub async fn serve(
    listener: TcpListener,
    endpoint: BoxEndpoint<'static>,
    config: &ServerConfig,
    signal: impl Future<Output = Stop>,
    stopping: impl FnOnce(),
    grace: Duration,
) {
    let connections = Connections::new(endpoint, &listener, config);
    let stop = connections.serve_until(&listener, signal).await;
    let drain = config.drain();
    if stop == Stop::Drain && !drain.is_zero() {
        connections.draining.store(true, Ordering::Relaxed);
        info!(
            drain_s = drain.as_secs(),
            "Draining: still serving, every answer closes its connection."
        );
        connections
            .serve_until(&listener, tokio::time::sleep(drain))
            .await;
    }
    stopping();
    // Closing the listener would reset connections the kernel completed and nobody accepted
    // yet, under a request their client may already have sent: take them first.
    let socket = socket2::SockRef::from(&listener);
    while let Ok((accepted, remote)) = socket.accept() {
        let stream = std::net::TcpStream::from(accepted);
        let remote = remote.as_socket();
        if let (Ok(()), Some(remote)) = (stream.set_nonblocking(true), remote)
            && let Ok(stream) = TcpStream::from_std(stream)
        {
            connections.spawn(Some((stream, remote, None)));
        }
    }
    drop(listener);
    info!(
        connections = connections.tasks.len(),
        "Stopped accepting; finishing requests in flight."
    );
    connections.stop.cancel();
    connections.tasks.close();
    tokio::select! {
        () = connections.tasks.wait() => {}
        () = tokio::time::sleep(grace) => {
            warn!(grace_s = grace.as_secs(), "Connections still open after the grace period; closing.");
        }
    }
}

/// An accepted connection, its client, and its place under the connection cap (none for the
/// few taken while stopping).
type Accepted = (TcpStream, SocketAddr, Option<OwnedSemaphorePermit>);

/// What every connection shares: the endpoint, the protocol settings, the cap, the signal
/// to end gracefully and the tasks it ends, and whether the server is draining.
struct Connections {
    endpoint: Arc<BoxEndpoint<'static>>,
    local: Addr,
    builder: auto::Builder<TokioExecutor>,
    timeouts: Timeouts,
    /// At the cap, connections wait in the kernel's accept queue until one closes.
    open: Arc<Semaphore>,
    /// Tells every connection to finish its request in flight and close.
    stop: CancellationToken,
    /// The connections' tasks, awaited when serving stops.
    tasks: TaskTracker,
    draining: Arc<AtomicBool>,
}

impl Connections {
    fn new(endpoint: BoxEndpoint<'static>, listener: &TcpListener, config: &ServerConfig) -> Self {
        let local = listener
            .local_addr()
            .map_or(Addr::Custom("tcp", "unknown".into()), Addr::SocketAddr);
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .max_buf_size(READ_BUFFER_BYTES)
            .keep_alive(true);
        builder
            .http2()
            .max_concurrent_streams(config.http2_max_streams.max(1));
        Self {
            endpoint: Arc::new(endpoint),
            local,
            builder,
            timeouts: Timeouts {
                header: config.header_read_timeout(),
                idle: config.idle_timeout(),
            },
            open: Arc::new(Semaphore::new(config.max_connections.max(1))),
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
            draining: Arc::default(),
        }
    }

    /// Accepts and serves connections on `listener` until `until` completes; its output.
    async fn serve_until<T>(&self, listener: &TcpListener, until: impl Future<Output = T>) -> T {
        tokio::pin!(until);
        loop {
            tokio::select! {
                accepted = self.accept(listener) => self.spawn(accepted),
                done = &mut until => return done,
            }
        }
    }

    /// The next connection under the cap; `None` after a failed `accept` (and a pause).
    async fn accept(&self, listener: &TcpListener) -> Option<Accepted> {
        // The semaphore is never closed.
        let permit = Arc::clone(&self.open).acquire_owned().await.ok()?;
        match listener.accept().await {
            Ok((stream, remote)) => Some((stream, remote, Some(permit))),
            Err(err) => {
                warn!(error = %err, "Accepting a connection failed.");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                None
            }
        }
    }

    /// Serves `accepted` on a task of its own, which ends gracefully when told to stop.
    fn spawn(&self, accepted: Option<Accepted>) {
        let Some((stream, remote, permit)) = accepted else {
            return;
        };
        // Responses are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let endpoint = Arc::clone(&self.endpoint);
        let local = self.local.clone();
        let draining = Arc::clone(&self.draining);
        let requests = Arc::new(Requests::default());
        let first_request = Arc::clone(&requests);
        let io = TimedIo::new(stream, Arc::clone(&requests), self.timeouts);
        let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            // Until its response body is sent, no connection timeout applies.
            let guard = requests.begin();
            let endpoint = Arc::clone(&endpoint);
            let http1 = req.version() < http::Version::HTTP_2;
            let request = poem::Request::from((
                req,
                LocalAddr(local.clone()),
                RemoteAddr(Addr::SocketAddr(remote)),
                poem::http::uri::Scheme::HTTP,
            ));
            let draining = Arc::clone(&draining);
            async move {
                let mut response = endpoint.get_response(request).await;
                // Read when the answer is ready: a request that arrived before the signal
                // but is answered during the drain closes its connection too.
                if http1 && draining.load(Ordering::Relaxed) {
                    response.headers_mut().insert(
                        http::header::CONNECTION,
                        http::HeaderValue::from_static("close"),
                    );
                }
                let response = http::Response::<ResponseBody>::from(response).map(|body| {
                    body.map_frame(move |frame| {
                        let _ = &guard;
                        frame
                    })
                    .boxed()
                });
                Ok::<_, Infallible>(response)
            }
        });
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), service)
            .into_owned();
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            let _permit = permit;
            let mut connection = std::pin::pin!(connection);
            // A client that goes away mid-request, or is timed out, is not a server error.
            tokio::select! {
                _ = connection.as_mut() => return,
                () = stop.cancelled() => {}
            }
            // Told to end before it read anything, hyper-util's connection closes at once (it
            // cannot tell HTTP/1 from HTTP/2 yet) and a request on its way would be reset
            // unread: a proxy's request on a connection it opened just now. Such a
            // connection may still start one request, for FIRST_REQUEST_WAIT.
            tokio::select! {
                _ = connection.as_mut() => return,
                () = first_request.first_began() => {}
                () = tokio::time::sleep(FIRST_REQUEST_WAIT) => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
}
