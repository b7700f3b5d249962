//! `/login` and `/logout`.

use super::{Dashboard, csrf_refused, html, plain_error, unavailable, with_cookie};
use crate::access::{Auth, Session};
use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form, Query, Redirect};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use tracing::{error, info, warn};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    next: &'a str,
    message: Option<&'a str>,
}

/// Query of `GET /login`.
#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    password: Option<String>,
    csrf: Option<String>,
    next: Option<String>,
}

/// The logout form's fields.
#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: Option<String>,
}

/// `GET /login`: the form, with a fresh CSRF token in a cookie and a hidden field.
#[handler]
pub fn show(dashboard: Data<&Dashboard>, query: Query<LoginQuery>) -> Response {
    render_form(
        &dashboard.auth,
        &safe_next(query.0.next.as_deref()),
        None,
        StatusCode::OK,
    )
}

/// `POST /login`: checks the attempt rate, the CSRF token and the password, then opens a
/// session and goes where the supervisor was heading.
#[handler]
pub async fn submit(req: &Request, dashboard: Data<&Dashboard>, form: Form<LoginForm>) -> Response {
    let auth = &dashboard.auth;
    let next = safe_next(form.next.as_deref());
    if let Err(wait) = auth.login_allowed(req) {
        warn!(client = ?auth.client(req), "Dashboard login rate limit reached.");
        return render_form(
            auth,
            &next,
            Some(&format!("Too many attempts. Try again in {wait} s.")),
            StatusCode::TOO_MANY_REQUESTS,
        )
        .with_header("retry-after", wait)
        .into_response();
    }
    if !Auth::login_csrf_ok(req, form.csrf.as_deref()) {
        return render_form(
            auth,
            &next,
            Some("The form expired. Please log in again."),
            StatusCode::FORBIDDEN,
        );
    }
    let password = form.0.password.unwrap_or_default();
    let right = if password.is_empty() {
        false
    } else {
        match auth.password_ok(password).await {
            Ok(right) => right,
            Err(_) => {
                warn!("Dashboard login: too many password checks at once; answered 503.");
                return plain_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many logins at once; try again in a moment.",
                )
                .with_header("retry-after", 5)
                .into_response();
            }
        }
    };
    if !right {
        info!(client = ?auth.client(req), "Dashboard login refused: wrong password.");
        return render_form(
            auth,
            &next,
            Some("Wrong password."),
            StatusCode::UNAUTHORIZED,
        );
    }
    match auth.login(auth.client(req)).await {
        Ok(cookie) => {
            info!(client = ?auth.client(req), "Dashboard login.");
            with_cookie(Redirect::see_other(next).into_response(), &cookie)
        }
        Err(err) => {
            error!(error = %err, "Dashboard login: cannot store the session.");
            unavailable()
        }
    }
}

/// `GET /logout`: logging out changes state, so it takes the form in the top bar.
#[handler]
pub fn logout_page() -> Redirect {
    Redirect::see_other("/")
}

/// `POST /logout`: ends the session.
#[handler]
pub async fn logout(
    dashboard: Data<&Dashboard>,
    session: Data<&Session>,
    form: Form<LogoutForm>,
) -> Response {
    if !session.csrf_ok(form.csrf.as_deref()) {
        return csrf_refused(&session);
    }
    match dashboard.auth.logout(&session).await {
        Ok(cookie) => with_cookie(Redirect::see_other("/login").into_response(), &cookie),
        Err(err) => {
            error!(error = %err, "Dashboard logout failed.");
            plain_error(StatusCode::SERVICE_UNAVAILABLE, "Logout failed; try again.")
        }
    }
}

fn render_form(auth: &Auth, next: &str, message: Option<&str>, status: StatusCode) -> Response {
    let (csrf, cookie) = auth.login_csrf();
    let mut response = html(&LoginPage {
        csrf: &csrf,
        next,
        message,
    });
    response.set_status(status);
    with_cookie(response, &cookie)
}

/// Where to go after login: a path of this site only, so the login form cannot be used to
/// send people elsewhere. Browsers read `//host`, `/\\host` and paths with tabs or line
/// breaks in them (which they drop) as other sites, so none of these is taken.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.contains("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            safe_next(Some("/alerts?status=open")),
            "/alerts?status=open"
        );
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/\n/evil.example")), "/");
        assert_eq!(safe_next(Some("/alerts//x")), "/");
        assert_eq!(safe_next(Some("alerts")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
