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
    /// Logs in to the dashboard at `base` with `password` as a browser would: the login form
    /// (its CSRF token and cookie), the post, the session cookie. Returns the reply to the
    /// post and the logged-in client.
    pub async fn login_at(base: &str, password: &str) -> (Reply, Supervisor) {
        let client = cookie_client();
        let form = read(
            client
                .get(format!("{base}/login"))
                .send()
                .await
                .expect("login form"),
        )
        .await;
        assert_eq!(form.status, 200, "{}", form.text);
        let csrf = form_value(&form.text, "csrf").expect("login form has a csrf field");
        let reply = read(
            client
                .post(format!("{base}/login"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("password", password),
                    ("next", "/"),
                ])
                .send()
                .await
                .expect("login"),
        )
        .await;
        let mut supervisor = Supervisor {
            client,
            csrf: String::new(),
            base: base.to_owned(),
        };
        if reply.status == 303 {
            let page = supervisor.get("/system").await;
            supervisor.csrf = form_value(&page.text, "csrf").unwrap_or_default();
        }
        (reply, supervisor)
    }

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

    /// `GET path` at `base` (another instance, the session cookie going to any port of the
    /// host) without following redirects.
    pub async fn get_at(&self, base: &str, path: &str) -> Reply {
        read(
            self.client
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// `GET path` of `app` (another instance, or this one after a restart: the session
    /// cookie goes to any port of the host) without following redirects.
    pub async fn get_from(&self, app: &TestApp, path: &str) -> Reply {
        self.get_at(&app.url(""), path).await
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
