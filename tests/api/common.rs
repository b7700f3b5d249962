//! The test harness: a fresh database per test on each backend, and the real server on a
//! loopback port.
//!
//! SQLite always runs. MariaDB and PostgreSQL run when `BIGSCREEN_TEST_MYSQL_URL` and
//! `BIGSCREEN_TEST_POSTGRES_URL` are set (`.ci/run` sets both); when a set URL cannot be reached
//! the test fails instead of skipping.

use ljwx_bigscreen::devices::DeviceDirectory;
use ljwx_bigscreen::store::{DeviceImport, Store};
use ljwx_bigscreen::{App, Config};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::Value;
use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Runs `sql` on `db`, returning one integer (a `COUNT(*)`, an INTEGER column, or a `SUM`
/// that MySQL and PostgreSQL type as DECIMAL).
pub async fn scalar_on(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .expect("query")
        .expect("one row");
    row.try_get_by_index::<i64>(0)
        .or_else(|_| row.try_get_by_index::<i32>(0).map(i64::from))
        .or_else(|_| {
            row.try_get_by_index::<sea_orm::prelude::Decimal>(0)
                .map(|d| i64::try_from(d).expect("integral"))
        })
        .expect("integer column")
}

/// Polls `check` until it holds, failing the test with `what` after `within`.
pub async fn eventually(
    what: &str,
    within: std::time::Duration,
    mut check: impl AsyncFnMut() -> bool,
) {
    eventually_some(what, within, async || check().await.then_some(())).await;
}

/// Polls `check` until it gives a value and returns it, failing the test with `what` after
/// `within`. Every test that waits for something waits through here (or [`eventually`]).
pub async fn eventually_some<T>(
    what: &str,
    within: std::time::Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Whether this is a CI run (`CI=true`): then a part of the suite that cannot run fails
/// instead of being skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The value of the environment variable `var`; when it is unset, `None` (the caller skips
/// `what`) — or, under CI, a failed test.
pub fn configured(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) => Some(value),
        Err(_) => {
            assert!(
                !in_ci(),
                "{var} is not set, so {what} cannot run: under CI=true that is a failure"
            );
            eprintln!("{var} is not set: {what} not run");
            None
        }
    }
}

/// A database engine the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MariaDb,
    Postgres,
    /// SQLite with the Redis cache level and counters (`BIGSCREEN_TEST_REDIS_URL`).
    SqliteRedis,
}

impl Backend {
    fn admin_url_var(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite | Backend::SqliteRedis => None,
            Backend::MariaDb => Some("BIGSCREEN_TEST_MYSQL_URL"),
            Backend::Postgres => Some("BIGSCREEN_TEST_POSTGRES_URL"),
        }
    }
}

/// Redis for tests: `BIGSCREEN_TEST_REDIS_URL`, or `None` when unset (a failure under CI).
pub fn redis_url() -> Option<String> {
    configured("BIGSCREEN_TEST_REDIS_URL", "the Redis tests")
}

/// A database created for one test and dropped after it.
pub struct TestDb {
    /// URL of the test's own database.
    pub url: String,
    /// Redis key prefix of this test, unique like the database.
    pub redis_prefix: String,
    backend: Backend,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh, empty database; `None` when the backend is not configured for this run.
    pub async fn create(backend: Backend) -> Option<TestDb> {
        let name = format!("ljwx_t_{}", uuid_simple());
        if backend == Backend::SqliteRedis && redis_url().is_none() {
            return None;
        }
        let Some(var) = backend.admin_url_var() else {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}/ljwx.db?mode=rwc", dir.path().display());
            return Some(TestDb {
                url,
                redis_prefix: format!("{name}:"),
                backend,
                admin_url: None,
                name,
                _dir: Some(dir),
            });
        };
        let admin_url = configured(var, &format!("the {backend:?} variant"))?;
        let admin = Database::connect(&admin_url)
            .await
            .unwrap_or_else(|err| panic!("{var}={admin_url} is set but unreachable: {err}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.expect("close admin connection");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        Some(TestDb {
            url: format!("{base}/{name}"),
            redis_prefix: format!("{name}:"),
            backend,
            admin_url: Some(admin_url),
            name,
            _dir: None,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(admin_url) = self.admin_url.clone() else {
            return;
        };
        let sql = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            _ => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        // Drop runs inside the test's runtime: use a thread with its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let admin = Database::connect(&admin_url).await?;
                admin.execute_unprepared(&sql).await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

fn uuid_simple() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}_{:x}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The dashboard password of every [`TestApp`] unless a test configures another.
pub const TEST_PASSWORD: &str = "test-dashboard-password";

/// A browser-like client logged in to the dashboard: it keeps cookies and knows its
/// session's CSRF token.
pub struct Supervisor {
    /// Client with the session cookie.
    pub client: reqwest::Client,
    /// The session's CSRF token, as its forms carry it.
    pub csrf: String,
    base: String,
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

/// The real server, started in-process on `127.0.0.1:0`.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A client for it.
    pub client: reqwest::Client,
    /// A separate connection to the same database, for assertions.
    pub db: DatabaseConnection,
    /// The server's own storage handle (for binding devices as the CLI does).
    pub store: Store,
    /// URL of the test database.
    pub database_url: String,
    /// Redis key prefix of this test (used when the variant has Redis).
    pub redis_prefix: String,
    /// The server's device directory (cache levels and their counters).
    pub devices: DeviceDirectory,
    /// Which backend variant this is.
    pub variant: Backend,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    /// Kept last so the database is dropped after the server stopped.
    _db: TestDb,
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestApp {
    /// A server on a fresh database with the default configuration.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// A server on a fresh database, with `configure` applied to the configuration.
    pub async fn spawn_with(
        backend: Backend,
        configure: impl FnOnce(&mut Config),
    ) -> Option<TestApp> {
        let db = TestDb::create(backend).await?;
        Some(Self::start(db, configure).await)
    }

    /// A server on an existing test database.
    pub async fn start(db: TestDb, configure: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = Config::default();
        config.database.url = ljwx_bigscreen::config::Secret::new(db.url.clone());
        config.admin.password = Some(ljwx_bigscreen::config::Secret::new(TEST_PASSWORD));
        config.database.max_connections = 5;
        if db.backend == Backend::SqliteRedis {
            config.redis.url = redis_url().map(ljwx_bigscreen::config::Secret::new);
            config.redis.key_prefix = db.redis_prefix.clone();
        }
        configure(&mut config);
        let app = App::build(config).await.expect("app builds");
        let store = app.store().clone();
        let devices = app.devices().clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.serve(listener, async {
            let _ = rx.await;
        }));
        let assert_db = Database::connect(&db.url)
            .await
            .expect("assertion connection");
        TestApp {
            variant: db.backend,
            addr,
            client: reqwest::Client::new(),
            db: assert_db,
            store,
            database_url: db.url.clone(),
            redis_prefix: db.redis_prefix.clone(),
            devices,
            shutdown: Some(tx),
            server: Some(server),
            _db: db,
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs `body` as JSON to `path`.
    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        read(
            self.client
                .post(self.url(path))
                .json(body)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// POSTs raw bytes to `path`, with `content_type` if given.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
    ) -> Reply {
        let mut req = self.client.post(self.url(path)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        read(req.send().await.expect("request")).await
    }

    /// `POST /upload_health_data_batch` with `{"data": records}` plus `batchId` if given.
    pub async fn upload(&self, records: Value, batch_id: Option<&str>) -> Reply {
        let mut body = serde_json::json!({ "data": records });
        if let Some(id) = batch_id {
            body["batchId"] = Value::from(id);
        }
        self.post_json("/upload_health_data_batch", &body).await
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> Reply {
        read(
            self.client
                .get(self.url(path))
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// Binds `device` to `user_id` as `devices import` does.
    pub async fn bind(&self, device: &str, user_id: i64, customer_id: i64, org_id: i64) {
        self.store
            .bind_devices(&[DeviceImport {
                device_sn: device.to_owned(),
                user_id,
                customer_id: Some(customer_id),
                org_id: Some(org_id),
            }])
            .await
            .expect("bind device");
    }

    /// The backend of the database.
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Folds the committed counts into the daily counters now, as the server's own task
    /// does every `writer.fold_ms`, so a test can read "today" without waiting for it.
    pub async fn fold_counts(&self) {
        while self
            .store
            .fold_daily_counts(500)
            .await
            .expect("fold counts")
            > 0
        {}
    }

    /// Runs `sql` returning one integer (see [`scalar_on`]).
    pub async fn scalar(&self, sql: &str) -> i64 {
        scalar_on(&self.db, sql).await
    }

    /// The first column of every row `sql` returns, as integers.
    pub async fn column(&self, sql: &str) -> Vec<i64> {
        let rows = self
            .db
            .query_all_raw(Statement::from_string(self.backend(), sql.to_owned()))
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
        rows.iter()
            .map(|row| {
                row.try_get_by_index::<i64>(0)
                    .unwrap_or_else(|err| panic!("{sql}: {err}"))
            })
            .collect()
    }

    /// Runs a statement on the test database (as ljwx-boot or an operator would).
    pub async fn exec(&self, sql: &str) {
        self.db
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
    }

    /// Stops the server gracefully and waits for it; the database stays for assertions.
    pub async fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }

    /// Stops the server gracefully, waits for it, and drops the database.
    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    /// Stops the server gracefully and starts a new one on the same database, with
    /// `configure` applied to a fresh default configuration.
    pub async fn restart(mut self, configure: impl FnOnce(&mut Config)) -> TestApp {
        self.shut_down().await;
        Self::start(self._db, configure).await
    }

    /// A second server (another instance of the service) on the same database. Stopping it
    /// leaves the database to this one.
    pub async fn another_instance(&self, configure: impl FnOnce(&mut Config)) -> TestApp {
        let shared = TestDb {
            url: self.database_url.clone(),
            redis_prefix: self.redis_prefix.clone(),
            backend: self.variant,
            admin_url: None,
            name: String::new(),
            _dir: None,
        };
        Self::start(shared, configure).await
    }

    /// Logs in to the dashboard with `password` as a browser would: the login form (its CSRF
    /// token and cookie), the post, the session cookie. Returns the reply to the post and
    /// the logged-in client.
    pub async fn login_with(&self, password: &str) -> (Reply, Supervisor) {
        let client = cookie_client();
        let form = read(
            client
                .get(self.url("/login"))
                .send()
                .await
                .expect("login form"),
        )
        .await;
        assert_eq!(form.status, 200, "{}", form.text);
        let csrf = form_value(&form.text, "csrf").expect("login form has a csrf field");
        let reply = read(
            client
                .post(self.url("/login"))
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
            base: self.url(""),
        };
        if reply.status == 303 {
            let page = supervisor.get("/system").await;
            supervisor.csrf = form_value(&page.text, "csrf").unwrap_or_default();
        }
        (reply, supervisor)
    }

    /// A supervisor logged in with [`TEST_PASSWORD`].
    pub async fn login(&self) -> Supervisor {
        let (reply, supervisor) = self.login_with(TEST_PASSWORD).await;
        assert_eq!(reply.status, 303, "login: {}", reply.text);
        assert!(
            !supervisor.csrf.is_empty(),
            "logged-in pages carry a csrf token"
        );
        supervisor
    }

    /// `GET path` with the admin bearer `token`.
    pub async fn admin_get(&self, path: &str, token: &str) -> Reply {
        self.admin(self.client.get(self.url(path)), token).await
    }

    /// Sends `req` with the admin bearer `token` and reads the reply.
    pub async fn admin(&self, req: reqwest::RequestBuilder, token: &str) -> Reply {
        read(req.bearer_auth(token).send().await.expect("request")).await
    }
}

/// Reads `resp` whole.
pub async fn read(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Runs each listed `async fn name(backend: Backend)` once per backend, as
/// `sqlite::name`, `mariadb::name`, `postgres::name` and `sqlite_redis::name`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod mariadb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::MariaDb).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
        mod sqlite_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::SqliteRedis).await
                }
            )*
        }
    };
}

/// The service binary started as a process of its own on `database_url` with `env` set, on a
/// port it picks itself (`127.0.0.1:0`: no port is chosen here and handed over). Returns it,
/// its base URL once it listens, and what it logged until then (JSON lines).
pub async fn start_server_process(
    database_url: &str,
    env: &[(&str, String)],
) -> (std::process::Child, String, String) {
    use std::io::{BufRead, BufReader};
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ljwx-bigscreen"));
    command
        .args(["--config", "/nonexistent/bigscreen.toml", "serve"])
        .env("DATABASE_URL", database_url)
        .env("LJWX_LISTEN", "127.0.0.1:0")
        .env("LJWX_LOG__FORMAT", "json")
        .env("RUST_LOG", "warn,ljwx_bigscreen=info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut server = command.spawn().expect("start server");
    let stderr = server.stderr.take().expect("stderr");
    // The log up to "Listening.", then the rest read and dropped so the server never blocks
    // on a full pipe; the reader ends with the server.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
        let mut seen = String::new();
        let mut address = None;
        for line in lines.by_ref() {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("Listening.") {
                address = serde_json::from_str::<Value>(&line)
                    .ok()
                    .and_then(|l| l["fields"]["address"].as_str().map(str::to_owned));
                break;
            }
        }
        let _ = tx.send((address, seen));
        lines.for_each(drop);
    });
    let (address, log) = tokio::time::timeout(std::time::Duration::from_secs(30), rx)
        .await
        .expect("the server starts within 30 s")
        .expect("log reader");
    let address = address.unwrap_or_else(|| panic!("the server did not start: {log}"));
    (server, format!("http://{address}"), log)
}
