//! Serving HTTP connections: HTTP/1.1 (what watches speak) and HTTP/2, with small
//! per-connection buffers so thousands of mostly idle device connections stay cheap.
//!
//! poem's own `Server` leaves hyper's read buffer free to grow to 400 KiB per connection and
//! keeps it at the size of the largest request the connection ever carried: with 5000 watches
//! each posting ~20 KiB batches, that alone is ~100 MiB of idle buffers. Here the read buffer
//! is capped, and a request body larger than it simply arrives in several reads.

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
use tracing::{info, warn};

/// Largest read buffer of one connection (hyper's minimum).
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// Pause after a failed `accept` (out of file descriptors, say) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The body type hyper sends: poem's response body.
type ResponseBody = http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>;

/// Serves `endpoint` on `listener` until `shutdown` completes; then stops accepting, lets
/// every connection finish its request in flight (closing idle keep-alive connections), and
/// returns once they are done or `grace` has passed.
pub async fn serve(
    listener: TcpListener,
    endpoint: BoxEndpoint<'static>,
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
    let connections = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    warn!(error = %err, "Accepting a connection failed.");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let endpoint = Arc::clone(&endpoint);
        let local = local.clone();
        let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let endpoint = Arc::clone(&endpoint);
            let request = poem::Request::from((
                req,
                LocalAddr(local.clone()),
                RemoteAddr(Addr::SocketAddr(remote)),
                poem::http::uri::Scheme::HTTP,
            ));
            async move {
                let response = endpoint.get_response(request).await;
                Ok::<_, Infallible>(http::Response::<ResponseBody>::from(response))
            }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            // A client that goes away mid-request is not a server error.
            let _ = connection.await;
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
