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
use hyper_util::server::graceful::GracefulShutdown;
use poem::endpoint::BoxEndpoint;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{info, warn};

/// Largest read buffer of one connection (hyper's minimum).
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// Pause after a failed `accept` (out of file descriptors, say) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The body type hyper sends: poem's response body.
type ResponseBody = http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>;

/// Serves `endpoint` on `listener` with the limits of `config` until `shutdown` completes;
/// then stops accepting, lets every connection finish its request in flight (closing idle
/// keep-alive connections), and returns once they are done or `grace` has passed.
pub async fn serve(
    listener: TcpListener,
    endpoint: BoxEndpoint<'static>,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let endpoint = Arc::new(endpoint);
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
    let timeouts = Timeouts {
        header: config.header_read_timeout(),
        idle: config.idle_timeout(),
    };
    // At the cap, connections wait in the kernel's accept queue until one closes.
    let open = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let connections = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote, permit) = tokio::select! {
            accepted = async {
                let permit = Arc::clone(&open).acquire_owned().await;
                (listener.accept().await, permit)
            } => match accepted {
                (Ok((stream, remote)), Ok(permit)) => (stream, remote, permit),
                (Err(err), _) => {
                    warn!(error = %err, "Accepting a connection failed.");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
                // The semaphore is never closed.
                (Ok(_), Err(_)) => continue,
            },
            () = &mut shutdown => break,
        };
        // Responses are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let endpoint = Arc::clone(&endpoint);
        let local = local.clone();
        let requests = Arc::new(Requests::default());
        let io = TimedIo::new(stream, Arc::clone(&requests), timeouts);
        let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            // Until its response body is sent, no connection timeout applies.
            let guard = requests.begin();
            let endpoint = Arc::clone(&endpoint);
            let request = poem::Request::from((
                req,
                LocalAddr(local.clone()),
                RemoteAddr(Addr::SocketAddr(remote)),
                poem::http::uri::Scheme::HTTP,
            ));
            async move {
                let response = endpoint.get_response(request).await;
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
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(io), service)
            .into_owned();
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            // A client that goes away mid-request, or is timed out, is not a server error.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    info!(
        connections = connections.count(),
        "Stopped accepting; finishing requests in flight."
    );
    tokio::select! {
        () = connections.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            warn!(grace_s = grace.as_secs(), "Connections still open after the grace period; closing.");
        }
    }
}
