//! The real server, started in-process on a loopback port.

use super::{Backend, Supervisor, TEST_PASSWORD, TestDb, scalar_on};
use ljwx_bigscreen::app::Stop;
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
        if let Some(url) = db.backend.redis() {
            config.redis.url = url.map(ljwx_bigscreen::config::Secret::new);
            config.redis.key_prefix = db.redis_prefix.clone();
        }
        configure(&mut config);
        let app = App::build(config).await.expect("app builds");
        let store = app.store().clone();
        let devices = app.devices().clone();
        let listener = ljwx_bigscreen::app::listen(([127, 0, 0, 1], 0).into()).expect("listen");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.serve(listener, async {
            let _ = rx.await;
            Stop::Now
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
        Supervisor::login_at(&self.url(""), password).await
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

/// The `Location` header of `reply`, or empty.
pub fn location(reply: &Reply) -> String {
    reply
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
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
