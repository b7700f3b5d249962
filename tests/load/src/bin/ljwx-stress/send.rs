//! The HTTP side: the target check, the one shared client, and sending one batch.

use crate::stats::{
    Ack, KIND_CONNECT, KIND_INVALID_RESPONSE, KIND_OTHER_IO, KIND_TIMEOUT, Outcome,
};
use anyhow::{Context, bail};
use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Client, StatusCode, Url};
use std::net::IpAddr;
use std::time::Duration;

/// Path of the batch upload endpoint.
const UPLOAD_PATH: &str = "/upload_health_data_batch";

/// Parses `--url` and returns the upload endpoint on it, refusing any host that is not
/// loopback (127.0.0.0/8, `localhost`, `::1`): this tool floods whatever it is pointed at, so
/// it must not be able to hit another machine by mistake.
///
/// A URL ending in the endpoint path is used as is; otherwise the path is appended.
pub fn upload_url(raw: &str) -> anyhow::Result<Url> {
    let url = Url::parse(raw).with_context(|| format!("--url {raw:?} is not a URL"))?;
    if url.scheme() != "http" {
        // Built without TLS: loopback needs none.
        bail!("--url must use http://, got {}://", url.scheme());
    }
    let host = url.host_str().unwrap_or("");
    // The parser has already normalised IPv4 forms (`2130706433` → `127.0.0.1`) and
    // bracketed IPv6 literals.
    let loopback = match host.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(ip) => is_loopback(ip),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    };
    if !loopback {
        bail!(
            "--url host {host:?} is not loopback; ljwx-stress only targets 127.0.0.0/8, localhost or ::1"
        );
    }
    if url.path().ends_with(UPLOAD_PATH) {
        return Ok(url);
    }
    let mut url = url;
    let path = format!("{}{UPLOAD_PATH}", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    Ok(url)
}

/// Checks that every address `url`'s host resolves to is loopback: `localhost` is a name, and
/// a hosts file could point it elsewhere.
pub async fn check_resolves_to_loopback(url: &Url) -> anyhow::Result<()> {
    let name = url.host_str().unwrap_or("");
    if name.starts_with('[') || name.parse::<IpAddr>().is_ok() {
        return Ok(()); // an IP literal, already checked by `upload_url`
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<_> = tokio::net::lookup_host((name, port))
        .await
        .with_context(|| format!("cannot resolve {name}"))?
        .collect();
    if addrs.is_empty() {
        bail!("{name} resolves to no address");
    }
    if let Some(bad) = addrs.iter().find(|a| !is_loopback(a.ip())) {
        bail!("{name} resolves to {bad}, which is not loopback");
    }
    Ok(())
}

/// Whether `ip` is a loopback address.
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

/// The one client of the run: one connection pool, HTTP/1.1, a total timeout per request,
/// and with a device `key` an `Authorization: Bearer` header on every request.
pub fn client(timeout: Duration, key: Option<&str>) -> anyhow::Result<Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = key {
        let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
            .context("--key must be printable ASCII")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    Client::builder()
        .timeout(timeout)
        .default_headers(headers)
        .http1_only()
        // Each closed-loop user keeps one connection busy; keep them all in the pool between
        // requests instead of reconnecting.
        .pool_max_idle_per_host(usize::MAX)
        .tcp_nodelay(true)
        // Never leave loopback: no proxy from the environment, no redirects.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot build the HTTP client")
}

/// POSTs one batch body and reads the whole answer. The caller measures the latency.
pub async fn post(client: &Client, url: &Url, body: Bytes) -> Outcome {
    let response = client
        .post(url.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(body)
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(err) => return Outcome::Failed(error_kind(&err)),
    };
    let status = response.status();
    let retry_after = response.headers().get(RETRY_AFTER).map(|value| {
        value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(1)
    });
    // Read the body in every case: it is part of the latency, and a fully read answer lets
    // the connection go back to the pool.
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(err) => return Outcome::Failed(error_kind(&err)),
    };
    if status != StatusCode::OK {
        return Outcome::Status {
            code: status.as_u16(),
            retry_after,
        };
    }
    match serde_json::from_slice::<Ack>(&body) {
        Ok(ack) => Outcome::Accepted(ack),
        Err(_) => Outcome::Failed(KIND_INVALID_RESPONSE),
    }
}

/// The error kind of a transport failure.
fn error_kind(err: &reqwest::Error) -> &'static str {
    // A connect that times out is a timeout: the limit is what stopped it.
    if err.is_timeout() {
        KIND_TIMEOUT
    } else if err.is_connect() {
        KIND_CONNECT
    } else {
        KIND_OTHER_IO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_accepted() {
        for (raw, want) in [
            (
                "http://127.0.0.1:8001",
                "http://127.0.0.1:8001/upload_health_data_batch",
            ),
            (
                "http://127.1.2.3:80/",
                "http://127.1.2.3/upload_health_data_batch",
            ),
            (
                "http://localhost:18001",
                "http://localhost:18001/upload_health_data_batch",
            ),
            (
                "http://LOCALHOST:18001",
                "http://localhost:18001/upload_health_data_batch",
            ),
            (
                "http://[::1]:8001",
                "http://[::1]:8001/upload_health_data_batch",
            ),
            (
                "http://127.0.0.1:8001/upload_health_data_batch",
                "http://127.0.0.1:8001/upload_health_data_batch",
            ),
            (
                "http://127.0.0.1:8001/prefix/",
                "http://127.0.0.1:8001/prefix/upload_health_data_batch",
            ),
        ] {
            let url = upload_url(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(url.as_str(), want, "{raw}");
        }
    }

    #[test]
    fn other_hosts_are_refused() {
        for raw in [
            "http://10.0.0.1:8001",
            "http://0.0.0.0:8001",
            "http://128.0.0.1:8001",
            "http://example.com",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "http://[::2]:8001",
            "http://[::ffff:10.0.0.1]:8001",
            "http://[::]:8001",
            "https://127.0.0.1:8001",
            "127.0.0.1:8001",
            "not a url",
        ] {
            assert!(upload_url(raw).is_err(), "{raw} was accepted");
        }
    }
}
