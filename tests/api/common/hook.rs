//! A webhook receiver for alert notifications.

use poem::listener::TcpAcceptor;
use poem::web::{Data, Json};
use poem::{EndpointExt, Route, Server, handler, http::StatusCode, post};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A webhook endpoint on a loopback port that records what it receives and answers 500 to
/// the first `failures` calls.
pub struct Hook {
    /// Where it listens.
    pub url: String,
    received: Arc<Mutex<Vec<Value>>>,
    calls: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct HookState {
    received: Arc<Mutex<Vec<Value>>>,
    calls: Arc<AtomicUsize>,
    failures: usize,
}

#[handler]
fn receive(Data(state): Data<&HookState>, Json(body): Json<Value>) -> StatusCode {
    if state.calls.fetch_add(1, Ordering::SeqCst) < state.failures {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    state.received.lock().expect("lock").push(body);
    StatusCode::NO_CONTENT
}

impl Hook {
    /// A hook on a port of its own; the first `failures` calls are answered 500.
    pub async fn start(failures: usize) -> Hook {
        let state = HookState {
            received: Arc::default(),
            calls: Arc::default(),
            failures,
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        listener.set_nonblocking(true).expect("nonblocking");
        let acceptor = TcpAcceptor::from_std(listener).expect("acceptor");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let route = Route::new().at("/hook", post(receive)).data(state.clone());
        let server = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    route,
                    async {
                        let _ = rx.await;
                    },
                    Some(Duration::from_secs(1)),
                )
                .await;
        });
        Hook {
            url,
            received: state.received,
            calls: state.calls,
            stop: Some(tx),
            server,
        }
    }

    /// Every notification received so far, in order.
    pub fn received(&self) -> Vec<Value> {
        self.received.lock().expect("lock").clone()
    }

    /// Calls received so far, answered with a failure or not.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Stops listening.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = self.server.await;
    }
}
