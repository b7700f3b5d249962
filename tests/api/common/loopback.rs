//! An endpoint of a test's own on a loopback port, for what the service calls out to
//! (webhooks, an OTLP collector).

use poem::listener::TcpAcceptor;
use poem::{IntoEndpoint, Server};
use std::net::SocketAddr;
use std::time::Duration;

/// `endpoint` served on a port of its own until [`Loopback::stop`].
pub struct Loopback {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

impl Loopback {
    /// Serves `endpoint` on `127.0.0.1` and a port the kernel picks.
    pub fn serve<E>(endpoint: E) -> Loopback
    where
        E: IntoEndpoint + Send + 'static,
        E::Endpoint: 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let acceptor = TcpAcceptor::from_std(listener).expect("acceptor");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    endpoint,
                    async {
                        let _ = stopped.await;
                    },
                    Some(Duration::from_secs(1)),
                )
                .await;
        });
        Loopback {
            addr,
            stop: Some(stop),
            server,
        }
    }

    /// Stops listening, and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.server.await;
    }
}
