//! The HTTP server's edge: connection timeouts and caps, body limits, and which proxies may
//! name the client (DESIGN §10).

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::Duration;

/// Timeouts, caps and limits of the connection loop and of every request body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// The service's address as clients reach it (behind nginx: `https://bigscreen.example`),
    /// for the absolute URLs of FHIR bundles and export manifests. Unset (default): `http://`
    /// and the request's `Host` header.
    pub public_url: Option<String>,
    /// Seconds a client has to send a request's whole header, from its first byte (and a new
    /// connection from its opening). Slower clients are disconnected. Default 10.
    pub header_read_timeout_secs: u64,
    /// Seconds a keep-alive connection may stay open without a request. Default 75.
    pub idle_timeout_secs: u64,
    /// Seconds a request body may take before it must keep up `body_min_bytes_per_sec`; also
    /// the longest pause within a body. A slower body is cut off with 408. Default 10.
    pub body_timeout_secs: u64,
    /// Slowest body accepted once `body_timeout_secs` have passed, in bytes per second (over
    /// the whole body). Default 1024.
    pub body_min_bytes_per_sec: u64,
    /// Most connections open at once; more wait in the kernel's accept queue. Default 20 000.
    pub max_connections: usize,
    /// Most concurrent streams of one HTTP/2 connection. Default 100.
    pub http2_max_streams: u32,
    /// Largest body of any request but an upload (login form, admin API), in bytes; larger
    /// ones get 413 before they are read. Default 8 KiB.
    pub max_form_bytes: usize,
    /// Bytes of upload bodies being received at once over all connections (at least
    /// `ingest.max_body_bytes`). A body waits for room as it arrives, so slow senders hold only
    /// what they sent; an upload that finds no room within `writer.queue_wait_ms` gets 503.
    /// Default 64 MiB.
    pub read_memory_bytes: usize,
    /// Proxies (addresses or CIDR blocks, `["10.0.0.0/8", "127.0.0.1"]`) whose
    /// `X-Forwarded-For` is believed. The client is the right-most address of that header
    /// that is not a trusted proxy; requests from elsewhere are identified by their peer
    /// address. Default: none.
    pub trusted_proxies: Vec<IpNet>,
    /// Seconds an instance keeps serving after SIGTERM before it stops accepting, every
    /// HTTP/1 answer saying `Connection: close`: a proxy's kept-alive connections are each
    /// used once more or closed by the proxy (nginx's upstream `keepalive_timeout` must be
    /// shorter), so none is closed under a request the proxy is sending. 0 stops accepting at
    /// once. Default 5.
    pub drain_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 75,
            body_timeout_secs: 10,
            body_min_bytes_per_sec: 1024,
            max_connections: 20_000,
            http2_max_streams: 100,
            max_form_bytes: 8 * 1024,
            read_memory_bytes: 64 * 1024 * 1024,
            trusted_proxies: Vec::new(),
            drain_secs: 5,
        }
    }
}

impl ServerConfig {
    /// How long to drain after SIGTERM.
    pub fn drain(&self) -> Duration {
        Duration::from_secs(self.drain_secs)
    }

    /// The header read timeout.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs.max(1))
    }

    /// The idle keep-alive timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.max(1))
    }

    /// Whether `address` is a trusted proxy.
    pub fn is_trusted_proxy(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.trusted_proxies
            .iter()
            .any(|net| net.contains(&address))
    }
}

/// Who may read the observability endpoints that show upload detail.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObservabilityConfig {
    /// `true`: `/api/traces*` and `/api/monitor` answer anyone. Default `false`: they need the
    /// admin token or a dashboard session, since traces carry batch ids.
    pub public: bool,
}

/// Cross-origin resource sharing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to call the API from a browser (`https://boot.example.com`). Empty
    /// (default): no CORS headers at all. Credentials are never allowed with `*`.
    pub allowed_origins: Vec<String>,
}
