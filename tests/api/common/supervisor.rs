//! A supervisor's browser-like client for the dashboard.

use super::{Reply, TestApp, read};

/// The dashboard password of every [`TestApp`] unless a test configures another.
pub const TEST_PASSWORD: &str = "test-dashboard-password";

/// A browser-like client logged in to the dashboard: it keeps cookies and knows its
/// session's CSRF token.
pub struct Supervisor {
    /// Client with the session cookie.
    pub client: reqwest::Client,
    /// The session's CSRF token, as its forms carry it.
    pub csrf: String,
    pub(super) base: String,
}

impl Supervisor {
    /// `GET path` without following redirects.
    pub async fn get(&self, path: &str) -> Reply {
        read(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// `GET path` of `app` (another instance, or this one after a restart: the session
    /// cookie goes to any port of the host) without following redirects.
    pub async fn get_from(&self, app: &TestApp, path: &str) -> Reply {
        read(
            self.client
                .get(app.url(path))
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// Posts `form` to `path` without following redirects.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        read(
            self.client
                .post(format!("{}{path}", self.base))
                .form(form)
                .send()
                .await
                .expect("request"),
        )
        .await
    }
}

/// A client that keeps cookies and does not follow redirects (tests look at them).
pub fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The value of the first `name="…" value="…"` form field in `html`.
pub fn form_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    rest.split('"').next().map(str::to_owned)
}
