//! The supervisor dashboard (DESIGN §9): server-rendered pages (askama templates in
//! `templates/`), assets embedded from `static/`, a live overview fed by server-sent events,
//! and the admin login that guards all of it.
//!
//! Pages: `/` overview, `/alerts`, `/devices`, a watch and its wearer at `/devices/:sn`,
//! `/traces` (and `/traces/:id`), `/system`, `/login`, `/logout`; live data at `/live` (SSE),
//! `/live.json` and `/devices/:sn/vitals.json`.

mod alerts;
mod assets;
mod devices;
mod feed;
mod format;
mod fragments;
mod login;
mod overview;
mod system;
mod traces;
mod wearer;

pub use feed::{Feed, FeedTask, Live, Sources};

use crate::access::{Auth, Session};

use askama::Template;
use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::middleware::CookieJarManager;
use poem::web::Html;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, post};
use tracing::error;

/// Everything the pages need. Cheap to clone.
#[derive(Clone)]
pub struct Dashboard {
    /// Where the pages read from.
    pub sources: Sources,
    /// Login and sessions.
    pub auth: Auth,
    /// The overview's live data.
    pub feed: Feed,
    /// Rows per table page.
    pub page_size: u64,
    /// The alert rules in force (none when alerts are off): the device page draws them.
    pub rules: Vec<crate::domain::AlertRule>,
}

impl Dashboard {
    /// `route` with the dashboard's routes added. The overview at `/` is dispatched before
    /// `route` sees the request: an endpoint nested at `/` (the API) would otherwise take it.
    pub fn routes(&self, route: Route) -> BoxEndpoint<'static> {
        let guard = |ep| guarded(self.clone(), ep);
        let overview = std::sync::Arc::new(guard(get(overview::page).boxed()));
        route
            .at("/live", guard(get(overview::live_stream).boxed()))
            .at("/live.json", guard(get(overview::live_json).boxed()))
            .at("/alerts", guard(get(alerts::page).boxed()))
            .at(
                "/alerts/:id/acknowledge",
                guard(post(alerts::acknowledge).boxed()),
            )
            .at("/alerts/:id/resolve", guard(post(alerts::resolve).boxed()))
            .at("/devices", guard(get(devices::page).boxed()))
            .at(
                "/devices/:device/replay",
                guard(post(devices::replay).boxed()),
            )
            .at("/devices/find", guard(get(wearer::find).boxed()))
            .at("/devices/:sn", guard(get(wearer::page).boxed()))
            .at(
                "/devices/:sn/vitals.json",
                guard(get(wearer::vitals_json).boxed()),
            )
            .at("/traces", guard(get(traces::list).boxed()))
            .at("/traces/:trace_id", guard(get(traces::waterfall).boxed()))
            .at("/system", guard(get(system::page).boxed()))
            .at(
                "/logout",
                guard(get(login::logout_page).post(login::logout).boxed()),
            )
            .at(
                "/login",
                get(login::show)
                    .post(login::submit)
                    .data(self.clone())
                    .with(CookieJarManager::new()),
            )
            .nest("/static", assets::endpoint())
            .around(move |ep, req| {
                let overview = overview.clone();
                async move {
                    if req.uri().path() == "/" {
                        overview.call(req).await
                    } else {
                        ep.call(req).await.map(IntoResponse::into_response)
                    }
                }
            })
            .boxed()
    }
}

/// `ep` behind the login: requests without a live session go to the login page (pages) or
/// get 401 (the live feed); authenticated ones carry their [`Session`] and the [`Dashboard`].
fn guarded(dashboard: Dashboard, ep: BoxEndpoint<'static>) -> BoxEndpoint<'static> {
    ep.around(move |ep, mut req| {
        let dashboard = dashboard.clone();
        async move {
            let session = match dashboard.auth.session(&req).await {
                Ok(session) => session,
                Err(err) => {
                    error!(error = %err, "Dashboard: session lookup failed.");
                    return Ok(unavailable());
                }
            };
            let Some((session, renewed)) = session else {
                return Ok(to_login(&req));
            };
            req.extensions_mut().insert(session);
            req.extensions_mut().insert(dashboard);
            let response = ep.call(req).await?.into_response();
            Ok(match renewed {
                Some(cookie) => with_cookie(response, &cookie),
                None => response,
            })
        }
    })
    .with(CookieJarManager::new())
    .boxed()
}

/// `response` setting `cookie` (added beside any other cookie it sets).
fn with_cookie(mut response: Response, cookie: &poem::web::cookie::Cookie) -> Response {
    if let Ok(value) = cookie.to_string().parse() {
        response.headers_mut().append("set-cookie", value);
    }
    response
}

/// Where an unauthenticated request goes.
fn to_login(req: &Request) -> Response {
    let path = req.uri().path();
    // Data the pages fetch themselves: they go to the login page when told 401.
    if path.starts_with("/live") || path.ends_with(".json") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // Only GET pages are worth coming back to; a form post is not replayed.
    let next = if req.method() == poem::http::Method::GET && path != "/logout" {
        req.uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned()
    } else {
        "/".to_owned()
    };
    poem::web::Redirect::see_other(format!("/login?next={}", encode(&next))).into_response()
}

/// A message about the last action, above a page's table.
struct Flash {
    /// `ok` or `error` (its CSS class).
    kind: &'static str,
    text: String,
}

impl Flash {
    fn ok(text: String) -> Self {
        Self { kind: "ok", text }
    }

    fn error(text: String) -> Self {
        Self {
            kind: "error",
            text,
        }
    }
}

/// The top bar's state: which page is open, and the session's CSRF token for logout.
pub struct Nav {
    /// Name of the open page.
    pub active: &'static str,
    /// The session's CSRF token.
    pub csrf: String,
}

impl Nav {
    fn new(active: &'static str, session: &Session) -> Self {
        Self {
            active,
            csrf: session.csrf_token.clone(),
        }
    }
}

/// What dashboard pages may load and do: only this site's own scripts, styles and forms (no
/// inline script runs; inline `style` attributes position the waterfall bars), never inside a
/// frame of another site.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// An HTML response with the dashboard's security headers; never cached (pages show live,
/// per-session data).
fn secured(body: String) -> Response {
    Html(body)
        .with_header("cache-control", "no-store")
        .with_header("content-security-policy", CONTENT_SECURITY_POLICY)
        .with_header("x-frame-options", "DENY")
        .with_header("x-content-type-options", "nosniff")
        .with_header("referrer-policy", "same-origin")
        .into_response()
}

/// Renders `page` as an HTML response; a template error is a logged 500.
fn html(page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => secured(body),
        Err(err) => {
            error!(error = %err, "Dashboard page failed to render.");
            plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Nav,
    title: &'a str,
    message: &'a str,
}

/// An error page with the top bar, for a logged-in supervisor.
fn error_page(status: StatusCode, session: &Session, title: &str, message: &str) -> Response {
    let mut response = html(&ErrorPage {
        nav: Nav::new("error", session),
        title,
        message,
    });
    response.set_status(status);
    response
}

/// A bare error page (no session to build the top bar from).
fn plain_error(status: StatusCode, message: &str) -> Response {
    // A wall display that hit a passing outage must come back by itself.
    let refresh = if status == StatusCode::SERVICE_UNAVAILABLE {
        "<meta http-equiv=refresh content=10>"
    } else {
        ""
    };
    secured(format!(
        "<!doctype html><title>{status}</title>{refresh}\
         <link rel=stylesheet href=/static/app.css>\
         <body class=page-login><div class=\"card login\"><h1>{status}</h1><p>{}</p>\
         <p><a href=/>Overview</a></p></div>",
        escape(message)
    ))
    .with_status(status)
    .into_response()
}

/// 503 while the database cannot be reached.
fn unavailable() -> Response {
    plain_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "The database is unreachable; this page will work again when it is back.",
    )
    .with_header("retry-after", 5)
    .into_response()
}

/// 403 for a form without its session's CSRF token.
fn csrf_refused(session: &Session) -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        session,
        "Form expired",
        "The form did not carry this session's security token. Reload the page and try again.",
    )
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// JSON for a `<script type="application/json">` block: `</` cannot end the script early.
fn script_json(value: &impl serde::Serialize) -> String {
    script_safe(&serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()))
}

/// JSON text made safe for a `<script>` block.
fn script_safe(json: &str) -> String {
    json.replace("</", "<\\/")
}

/// Page navigation under a table.
#[derive(Template)]
#[template(path = "fragments/pager.html")]
struct Pager {
    page: u64,
    pages: u64,
    total: u64,
    prev: Option<String>,
    next: Option<String>,
}

impl Pager {
    /// HTML of the navigation for page `page` of `total` rows; `href(n)` links page `n`.
    fn html(page: u64, page_size: u64, total: u64, href: impl Fn(u64) -> String) -> String {
        let pages = total.div_ceil(page_size.max(1)).max(1);
        let pager = Pager {
            page,
            pages,
            total,
            prev: (page > 1).then(|| href(page - 1)),
            next: (page < pages).then(|| href(page + 1)),
        };
        fragments::render(&pager)
    }
}

/// Navigation under a list paged by key (no page numbers, no total): back to the first page,
/// and on to the rows after the last one shown.
#[derive(Template)]
#[template(path = "fragments/keyset_pager.html")]
struct KeysetPager {
    first: Option<String>,
    next: Option<String>,
}

impl KeysetPager {
    /// HTML of the navigation; `first` links the first page (none on it), `next` the rows
    /// after this page (none on the last).
    fn html(first: Option<String>, next: Option<String>) -> String {
        fragments::render(&KeysetPager { first, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_encodes() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            encode("/alerts?status=open&page=2"),
            "/alerts%3Fstatus%3Dopen%26page%3D2"
        );
        assert_eq!(script_json(&"</script>"), "\"<\\/script>\"");
    }
}
