//! Dashboard sessions at the edge: live feeds end with their session, sessions have an
//! absolute lifetime and end when the password changes, logins are counted per client
//! behind trusted proxies, and the page after login is always this site's.

use crate::backend_tests;
use crate::common::{Backend, Reply, TEST_PASSWORD, TestApp, cookie_client, form_value, read};
use chrono::Utc;
use ljwx_bigscreen::config::Secret;
use sea_orm::EntityTrait;
use sea_orm::sea_query::Expr;
use std::time::{Duration, Instant};

backend_tests!(
    a_session_past_its_lifetime_is_refused_however_often_it_is_used,
    a_new_password_ends_older_sessions,
);

async fn a_session_past_its_lifetime_is_refused_however_often_it_is_used(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let supervisor = app.login().await;
    assert_eq!(supervisor.get("/alerts").await.status, 200);
    // Logged in 8 days ago and used ever since (the idle expiry kept being renewed).
    use entity::admin_session::{Column, Entity};
    Entity::update_many()
        .col_expr(
            Column::CreatedAt,
            Expr::value(Utc::now() - chrono::Duration::days(8)),
        )
        .exec(&app.db)
        .await
        .expect("age the session");
    let page = supervisor.get("/alerts").await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert!(
        page.headers["location"]
            .to_str()
            .is_ok_and(|l| l.starts_with("/login"))
    );
    app.stop().await;
}

async fn a_new_password_ends_older_sessions(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let supervisor = app.login().await;
    assert_eq!(supervisor.get("/alerts").await.status, 200);
    // The same password after a restart keeps the session.
    let app = app.restart(|_| {}).await;
    let again = supervisor.get_from(&app, "/alerts").await;
    assert_eq!(again.status, 200, "{}", again.text);
    let app = app
        .restart(|c| c.admin.password = Some(Secret::new("a brand new password")))
        .await;
    let refused = supervisor.get_from(&app, "/alerts").await;
    assert_eq!(refused.status, 303, "{}", refused.text);
    let (ok, _) = app.login_with("a brand new password").await;
    assert_eq!(ok.status, 303);
    let (old, _) = app.login_with(TEST_PASSWORD).await;
    assert_eq!(old.status, 401);
    app.stop().await;
}

#[tokio::test]
async fn a_live_feed_ends_when_its_session_is_logged_out() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.dashboard.refresh_ms = 200)
        .await
        .expect("sqlite always runs");
    let supervisor = app.login().await;
    let mut stream = supervisor
        .client
        .get(app.url("/live"))
        .send()
        .await
        .expect("live");
    assert_eq!(stream.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
        .await
        .expect("a first event")
        .expect("stream");
    assert!(first.is_some());
    let logout = supervisor
        .post("/logout", &[("csrf", supervisor.csrf.as_str())])
        .await;
    assert_eq!(logout.status, 303);
    // Updates keep coming every 200 ms until the feed notices: then it ends.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the feed outlived its session");
        match tokio::time::timeout(Duration::from_secs(10), stream.chunk()).await {
            Ok(Ok(None)) => break,
            Ok(Ok(Some(_))) => {}
            Ok(Err(err)) => panic!("the feed broke instead of ending: {err}"),
            Err(_) => panic!("the feed stalled"),
        }
    }
    // And it cannot be opened again.
    let again = supervisor
        .client
        .get(app.url("/live"))
        .send()
        .await
        .expect("live");
    assert_eq!(again.status(), 401);
    app.stop().await;
}

/// Posts the login form as a client behind a proxy that sent `forwarded_for`.
async fn login_from(app: &TestApp, forwarded_for: &str, password: &str, next: &str) -> Reply {
    let client = cookie_client();
    let form = read(client.get(app.url("/login")).send().await.expect("form")).await;
    let csrf = form_value(&form.text, "csrf").expect("csrf");
    read(
        client
            .post(app.url("/login"))
            .header("x-forwarded-for", forwarded_for)
            .form(&[
                ("csrf", csrf.as_str()),
                ("password", password),
                ("next", next),
            ])
            .send()
            .await
            .expect("login"),
    )
    .await
}

#[tokio::test]
async fn login_attempts_are_counted_per_client_behind_trusted_proxies() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.admin.login_attempts_per_minute = 2;
        c.server.trusted_proxies = vec!["127.0.0.0/8".parse().expect("net")];
    })
    .await
    .expect("sqlite always runs");
    // The client writes whatever it likes first; the proxy appends the address it saw.
    for spoof in ["1.1.1.1", "2.2.2.2"] {
        let reply = login_from(&app, &format!("{spoof}, 203.0.113.5"), "wrong", "/").await;
        assert_eq!(reply.status, 401, "{}", reply.text);
    }
    let limited = login_from(&app, "3.3.3.3, 203.0.113.5", TEST_PASSWORD, "/").await;
    assert_eq!(limited.status, 429, "a new first entry is the same client");
    let other = login_from(&app, "203.0.113.6", TEST_PASSWORD, "/").await;
    assert_eq!(other.status, 303, "another client is not limited");
    app.stop().await;

    // Without trusted proxies the header is not believed: every attempt is the peer's.
    let direct = TestApp::spawn_with(Backend::Sqlite, |c| c.admin.login_attempts_per_minute = 2)
        .await
        .expect("sqlite always runs");
    for client in ["203.0.113.7", "203.0.113.8"] {
        assert_eq!(login_from(&direct, client, "wrong", "/").await.status, 401);
    }
    assert_eq!(
        login_from(&direct, "203.0.113.9", TEST_PASSWORD, "/")
            .await
            .status,
        429
    );
    direct.stop().await;
}

#[tokio::test]
async fn the_page_after_login_is_always_this_sites() {
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    for (next, goes_to) in [
        ("/alerts?status=NEW", "/alerts?status=NEW"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("https://evil.example", "/"),
    ] {
        let reply = login_from(&app, "203.0.113.1", TEST_PASSWORD, next).await;
        assert_eq!(reply.status, 303, "{next:?}: {}", reply.text);
        assert_eq!(reply.headers["location"], goes_to, "{next:?}");
    }
    app.stop().await;
}
