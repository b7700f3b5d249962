//! Dashboard login through the server: pages need a session, the password and CSRF token are
//! checked, sessions are shared by instances, forms without the session's token are refused,
//! and a generated password is written once to a private file.

use crate::backend_tests;
use crate::common::{
    Backend, TEST_PASSWORD, TestApp, cookie_client, location, now, start_server_process,
};
use serde_json::json;

backend_tests!(
    pages_need_a_session,
    login_checks_password_and_csrf_and_sessions_are_shared,
    forms_without_the_session_token_are_refused,
);

/// Id of the newest alert of `device`.
async fn alert_id(app: &TestApp, device: &str) -> i64 {
    app.scalar(&format!(
        "SELECT MAX(id) FROM t_alert_info WHERE device_sn = '{device}'"
    ))
    .await
}

async fn alert_status(app: &TestApp, id: i64) -> String {
    use sea_orm::ConnectionTrait;
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.backend(),
            format!("SELECT status FROM t_alert_info WHERE id = {id}"),
        ))
        .await
        .expect("query")
        .expect("row");
    row.try_get_by_index(0).expect("status")
}

async fn pages_need_a_session(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let client = cookie_client();
    for path in ["/", "/alerts?status=all", "/devices", "/traces", "/system"] {
        let reply = client.get(app.url(path)).send().await.expect("get");
        assert_eq!(reply.status(), 303, "{path}");
        let to = reply.headers()["location"].to_str().expect("location");
        assert!(to.starts_with("/login?next=/"), "{path} → {to}");
    }
    let live = client.get(app.url("/live")).send().await.expect("live");
    assert_eq!(
        live.status(),
        401,
        "the live feed answers 401, it does not redirect"
    );
    // A forged cookie is no session.
    let forged = app
        .client
        .get(app.url("/live.json"))
        .header("cookie", "ljwx_session=00ff")
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status(), 401);
    // Actions need a session too, and change nothing without one.
    app.bind("DASH0001", 1, 1, 1).await;
    let t = now() - 60;
    app.upload(
        json!([{"deviceSn": "DASH0001", "bloodOxygen": 84, "timestamp": t}]),
        None,
    )
    .await;
    let id = alert_id(&app, "DASH0001").await;
    let post = client
        .post(app.url(&format!("/alerts/{id}/acknowledge")))
        .form(&[("csrf", "anything")])
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 303);
    assert_eq!(alert_status(&app, id).await, "NEW");
    // The login page and the assets are public.
    let login = client.get(app.url("/login")).send().await.expect("login");
    assert_eq!(login.status(), 200);
    let css = client
        .get(app.url("/static/app.css"))
        .send()
        .await
        .expect("css");
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/css"))
    );
    app.stop().await;
}

async fn login_checks_password_and_csrf_and_sessions_are_shared(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.admin.login_attempts_per_minute = 4).await
    else {
        return;
    };
    // Wrong password: the form again, with the reason, and no session.
    let (wrong, client) = app.login_with("not the password").await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert!(wrong.text.contains("Wrong password"), "{}", wrong.text);
    assert_eq!(client.get("/").await.status, 303);

    // A login post without the form's CSRF token is refused even with the right password.
    let bare = cookie_client();
    let no_csrf = bare
        .post(app.url("/login"))
        .form(&[("password", TEST_PASSWORD)])
        .send()
        .await
        .expect("post");
    assert_eq!(no_csrf.status(), 403);
    assert!(
        no_csrf
            .headers()
            .get("set-cookie")
            .is_none_or(|c| { !c.to_str().unwrap_or_default().starts_with("ljwx_session=") })
    );

    // The right password: a session cookie, HttpOnly and SameSite=Strict, and the page that
    // was asked for.
    let form_client = cookie_client();
    let form = form_client
        .get(app.url("/login?next=/traces"))
        .send()
        .await
        .expect("form");
    let html = form.text().await.expect("html");
    let csrf = crate::common::form_value(&html, "csrf").expect("csrf");
    let ok = form_client
        .post(app.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", TEST_PASSWORD),
            ("next", "/traces"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/traces");
    let cookie = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("ljwx_session="))
        .expect("session cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Max-Age="), "{cookie}");
    let token = cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("token");
    // Only a hash of the token is stored.
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM t_admin_session WHERE token_hash = '{token}'"
        ))
        .await,
        0
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM t_admin_session").await, 1);

    // Another instance on the same database accepts the session (operators run several).
    let other = app.another_instance(|_| {}).await;
    let there = cookie_client()
        .get(other.url("/traces"))
        .header("cookie", format!("ljwx_session={token}"))
        .send()
        .await
        .expect("other instance");
    assert_eq!(there.status(), 200);
    other.stop().await;

    // Attempts are limited per client: 4 per minute here (three made above), then 429 with
    // Retry-After, even for the right password.
    let (fourth, _) = app.login_with("wrong again").await;
    assert_eq!(fourth.status, 401);
    let (limited, _) = app.login_with(TEST_PASSWORD).await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert!(limited.headers.contains_key("retry-after"));
    assert!(limited.text.contains("Too many attempts"));
    app.stop().await;
}

async fn forms_without_the_session_token_are_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.bind("DASH0002", 2, 1, 1).await;
    let t = now() - 60;
    app.upload(
        json!([{"deviceSn": "DASH0002", "bloodOxygen": 84, "timestamp": t}]),
        None,
    )
    .await;
    let id = alert_id(&app, "DASH0002").await;
    let supervisor = app.login().await;
    let path = format!("/alerts/{id}/acknowledge");
    let missing = supervisor.post(&path, &[("back", "status=open")]).await;
    assert_eq!(missing.status, 403, "{}", missing.text);
    let wrong = supervisor
        .post(&path, &[("csrf", "0123"), ("back", "")])
        .await;
    assert_eq!(wrong.status, 403);
    assert_eq!(alert_status(&app, id).await, "NEW");

    let done = supervisor
        .post(
            &path,
            &[("csrf", &supervisor.csrf), ("back", "status=open&page=1")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.text);
    assert_eq!(
        location(&done),
        format!("/alerts?status=open&page=1&done=acknowledged&id={id}")
    );
    assert_eq!(alert_status(&app, id).await, "ACKNOWLEDGED");
    let page = supervisor.get(&location(&done)).await;
    assert!(
        page.text.contains(&format!("Alert #{id} acknowledged.")),
        "{}",
        page.text
    );
    let resolved = supervisor
        .post(
            &format!("/alerts/{id}/resolve"),
            &[("csrf", &supervisor.csrf)],
        )
        .await;
    assert_eq!(resolved.status, 303);
    assert_eq!(alert_status(&app, id).await, "RESOLVED");
    // Acknowledging a resolved alert is refused, and said so.
    let late = supervisor.post(&path, &[("csrf", &supervisor.csrf)]).await;
    let page = supervisor.get(&location(&late)).await;
    assert!(
        page.text.contains("cannot be acknowledged"),
        "{}",
        page.text
    );
    assert_eq!(alert_status(&app, id).await, "RESOLVED");

    // Logout needs the token as well; after it the session is gone.
    let refused = supervisor.post("/logout", &[]).await;
    assert_eq!(refused.status, 403);
    assert_eq!(supervisor.get("/").await.status, 200);
    let out = supervisor
        .post("/logout", &[("csrf", &supervisor.csrf)])
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(location(&out), "/login");
    assert_eq!(supervisor.get("/").await.status, 303);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM t_admin_session").await, 0);
    app.stop().await;
}

/// With no password configured, the first start generates one and writes it once to a file
/// only its owner can read (never to the log); the next start leaves it and the same password
/// works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_password_is_written_once_to_a_private_file_and_kept_as_a_hash() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/ljwx.db?mode=rwc", dir.path().display());
    let data_dir = dir.path().join("data");
    let file = data_dir.join("admin-password");
    let env = [("LJWX_DATA_DIR", data_dir.display().to_string())];
    let login = async |base: &str, password: &str| -> u16 {
        let client = cookie_client();
        let form = client
            .get(format!("{base}/login"))
            .send()
            .await
            .expect("form");
        let html = form.text().await.expect("html");
        let csrf = crate::common::form_value(&html, "csrf").expect("csrf");
        client
            .post(format!("{base}/login"))
            .form(&[("csrf", csrf.as_str()), ("password", password)])
            .send()
            .await
            .expect("login")
            .status()
            .as_u16()
    };

    let (mut first, base, printed) = start_server_process(&url, &env).await;
    let password = std::fs::read_to_string(&file)
        .unwrap_or_else(|err| panic!("no password file ({err}): {printed}"))
        .trim()
        .to_owned();
    assert_eq!(password.len(), 20);
    let mode = std::fs::metadata(&file)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
    assert!(!printed.contains(&password), "never in the log: {printed}");
    assert!(
        printed.contains(&file.display().to_string()),
        "the log says where it is: {printed}"
    );
    assert_eq!(login(&base, "wrong").await, 401);
    assert_eq!(login(&base, &password).await, 303);
    let _ = first.kill();
    let _ = first.wait();

    // Only the hash is stored.
    let db = sea_orm::Database::connect(&url).await.expect("db");
    use sea_orm::ConnectionTrait;
    let stored: String = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT value FROM t_admin_setting WHERE name = 'admin_password_hash'",
        ))
        .await
        .expect("query")
        .expect("row")
        .try_get_by_index(0)
        .expect("value");
    assert!(stored.starts_with("$argon2id$") && !stored.contains(&password));
    db.close().await.expect("close");

    let written = std::fs::metadata(&file)
        .and_then(|m| m.modified())
        .expect("mtime");
    let (mut second, base, printed) = start_server_process(&url, &env).await;
    assert!(!printed.contains("Generated"), "generated again: {printed}");
    assert_eq!(
        std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .expect("mtime"),
        written,
        "the file is written once"
    );
    assert_eq!(login(&base, &password).await, 303);
    let _ = second.kill();
    let _ = second.wait();
}
