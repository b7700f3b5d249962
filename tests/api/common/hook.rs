//! A webhook receiver for alert notifications.

use super::Loopback;
use poem::web::{Data, Json};
use poem::{EndpointExt, Route, handler, http::StatusCode, post};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A webhook endpoint on a loopback port that records what it receives and answers 500 to
/// the first `failures` calls.
pub struct Hook {
    /// Where it listens.
    pub url: String,
    received: Arc<Mutex<Vec<Value>>>,
    calls: Arc<AtomicUsize>,
    server: Loopback,
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
    pub fn start(failures: usize) -> Hook {
        let state = HookState {
            received: Arc::default(),
            calls: Arc::default(),
            failures,
        };
        let server = Loopback::serve(Route::new().at("/hook", post(receive)).data(state.clone()));
        Hook {
            url: format!("http://{}/hook", server.addr),
            received: state.received,
            calls: state.calls,
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
    pub async fn stop(self) {
        self.server.stop().await;
    }
}
