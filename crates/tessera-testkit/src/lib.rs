//! Test harness: a real Tessera, in-process, on 127.0.0.1:0, over a temporary SQLite file or a fresh
//! PostgreSQL database, plus a small HTTP client. Every integration test runs on both engines through
//! [`engine_tests!`].
//!
//! Test servers run as production runs: no dev mode (so `__Host-` cookies with `Secure`), and mail goes
//! over SMTP to a capture listener the testkit starts for each server ([`SmtpCapture`]); read it with
//! [`TestServer::mailbox`], [`TestServer::code_for`], [`TestServer::link_for`]. Dev mode is for tests
//! about dev mode: set `TESSERA_DEV_MODE=true` in [`TestServer::start_with`]; such a server keeps the
//! development mailbox, and the same calls read that instead.
//!
//! Every server runs on a [`TestClock`] (`server.clock`): it starts at the real now, and
//! `server.clock.advance(d)` moves it, so lifetimes and windows are tested without sleeping.
//!
//! [`capture_logs`] (called before starting a server) keeps every log line the process writes, as the
//! binary's JSON lines; [`captured_logs`] returns them, for tests that grep logs.
//!
//! PostgreSQL comes from `TESSERA_TEST_PG_URL` (a database where the role may `CREATE DATABASE`); each test
//! gets its own database, dropped afterwards. Without the variable the PostgreSQL half prints a notice
//! and passes, unless `TESSERA_REQUIRE_PG=1`, in which case it fails.
#![forbid(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod clock;
mod logs;
mod smtp;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;
use tessera_core::Tessera;
use tessera_core::config::Config;

pub use clock::TestClock;
pub use logs::{capture_logs, captured_logs};
pub use smtp::{CapturedMail, SmtpCapture};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The PostgreSQL URL for tests, or `None` (with a notice) when not configured and not required.
pub fn pg_url() -> Option<String> {
    match std::env::var("TESSERA_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("TESSERA_REQUIRE_PG").is_ok_and(|v| v == "1") {
                panic!(
                    "TESSERA_REQUIRE_PG=1 but TESSERA_TEST_PG_URL is not set: the PostgreSQL half of the suite must run"
                );
            }
            eprintln!(
                "notice: PostgreSQL half skipped (set TESSERA_TEST_PG_URL to run it; scripts/test.sh does)"
            );
            None
        }
    }
}

/// A database for one test, removed when dropped.
pub struct TestDb {
    pub url: String,
    pub engine: Engine,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    /// A fresh, empty database; `None` when the engine is not available here.
    pub async fn new(engine: Engine) -> Option<TestDb> {
        let dir = tempfile::tempdir().unwrap();
        match engine {
            Engine::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
                Some(TestDb {
                    url,
                    engine,
                    dir,
                    pg: None,
                })
            }
            Engine::Postgres => {
                let admin = pg_url()?;
                let name = format!("tessera_t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("cannot reach PostgreSQL at TESSERA_TEST_PG_URL: {e}")
                    });
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let _ = conn.close().await;
                let mut u = url::Url::parse(&admin).unwrap();
                u.set_path(&format!("/{name}"));
                Some(TestDb {
                    url: u.to_string(),
                    engine,
                    dir,
                    pg: Some((admin, name)),
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            // Drop runs outside async context: use a private runtime on its own thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        )))
                        .execute(&mut c)
                        .await;
                        let _ = c.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// The environment-style settings a test server starts from: production mode, loopback listeners, a
/// short shutdown grace. Mail is configured by [`TestServer::start_on`].
pub fn base_env(db: &TestDb, key: &str) -> HashMap<String, String> {
    let data = db.dir.path().join("data");
    [
        ("TESSERA_PUBLIC_ADDR", "127.0.0.1:0".to_owned()),
        ("TESSERA_ADMIN_ADDR", "127.0.0.1:0".to_owned()),
        ("TESSERA_DATA_DIR", data.display().to_string()),
        ("TESSERA_DATABASE_URL", db.url.clone()),
        ("TESSERA_BOOTSTRAP_ADMIN_KEY", key.to_owned()),
        ("TESSERA_AUDIT_SEAL_INTERVAL_SECS", "3600".to_owned()),
        // Sweeps stay out of the way of tests that move the clock; tests call them when they need them.
        ("TESSERA_SWEEP_INTERVAL_SECS", "3600".to_owned()),
        ("TESSERA_SHUTDOWN_GRACE_SECS", "5".to_owned()),
        ("TESSERA_DB_ACQUIRE_TIMEOUT_MS", "1500".to_owned()),
        ("TESSERA_BASE_URL", "http://localhost:0/".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// [`base_env`] for a [`TestServer`]: its owner key is the bootstrap key, which expires (ADM-04), so it is
/// given a lifetime longer than any test moves the clock.
fn server_env(db: &TestDb, key: &str) -> HashMap<String, String> {
    let mut env = base_env(db, key);
    env.insert(
        "TESSERA_BOOTSTRAP_KEY_TTL_HOURS".into(),
        (24 * 365 * 10).to_string(),
    );
    env
}

/// Loads a config from settings only (no config file).
pub fn config_from(env: &HashMap<String, String>, dir: &std::path::Path) -> Config {
    let file = dir.join("empty.toml");
    std::fs::write(&file, "").unwrap();
    Config::load(Some(&file), env).unwrap()
}

/// A running Tessera with an owner key.
pub struct TestServer {
    pub admin: String,
    pub public: String,
    /// An owner key (configured as the bootstrap key).
    pub key: String,
    pub tessera: Tessera,
    pub config: Config,
    pub http: reqwest::Client,
    pub db: TestDb,
    /// The server's clock: starts at the real now; `advance` moves it.
    pub clock: Arc<TestClock>,
    /// Where the server's mail goes, unless the test configured its own SMTP or dev mode.
    pub smtp: Option<SmtpCapture>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts a server on `engine`; `None` when the engine is not available here.
    pub async fn start(engine: Engine) -> Option<TestServer> {
        Self::start_with(engine, |_| {}).await
    }

    /// Starts a server after adjusting its settings.
    pub async fn start_with(
        engine: Engine,
        adjust: impl FnOnce(&mut HashMap<String, String>),
    ) -> Option<TestServer> {
        let (db, config, key) = Self::prepare(engine, adjust).await?;
        Some(Self::start_on(db, config, key).await)
    }

    /// Starts a server with a prepared database and configuration. The listeners are bound first, so a
    /// base URL on port 0 becomes `http://localhost:<public port>/`. Without SMTP configured and outside
    /// dev mode, mail goes to a fresh [`SmtpCapture`].
    pub async fn start_on(db: TestDb, config: Config, key: String) -> TestServer {
        Self::start_on_inner(db, config, key, true, Vec::new()).await
    }

    /// Starts a server whose deployment knows one more sign-in method (as an embedding program would
    /// register its own): nothing else changes.
    pub async fn start_with_method(
        engine: Engine,
        method: Arc<dyn tessera_core::methods::Method>,
    ) -> Option<TestServer> {
        Self::start_with_method_and(engine, method, |_| {}).await
    }

    /// [`TestServer::start_with_method`] after adjusting the server's settings.
    pub async fn start_with_method_and(
        engine: Engine,
        method: Arc<dyn tessera_core::methods::Method>,
        adjust: impl FnOnce(&mut HashMap<String, String>),
    ) -> Option<TestServer> {
        let (db, config, key) = Self::prepare(engine, adjust).await?;
        Some(Self::start_on_inner(db, config, key, true, vec![method]).await)
    }

    /// A fresh database, a configuration adjusted by `adjust`, and an owner key.
    async fn prepare(
        engine: Engine,
        adjust: impl FnOnce(&mut HashMap<String, String>),
    ) -> Option<(TestDb, Config, String)> {
        let db = TestDb::new(engine).await?;
        let key = tessera_crypto::BearerSecret::generate("tsk_")
            .unwrap()
            .expose()
            .to_owned();
        let mut env = server_env(&db, &key);
        adjust(&mut env);
        let config = config_from(&env, db.dir.path());
        Some((db, config, key))
    }

    /// Starts a production-mode server with no SMTP at all (no capture): for tests about a node that
    /// cannot send mail.
    pub async fn start_without_mail(
        engine: Engine,
        adjust: impl FnOnce(&mut HashMap<String, String>),
    ) -> Option<TestServer> {
        let (db, config, key) = Self::prepare(engine, |env| {
            adjust(env);
            env.remove("TESSERA_SMTP_URL");
        })
        .await?;
        Some(Self::start_on_inner(db, config, key, false, Vec::new()).await)
    }

    async fn start_on_inner(
        db: TestDb,
        mut config: Config,
        key: String,
        capture_mail: bool,
        methods: Vec<Arc<dyn tessera_core::methods::Method>>,
    ) -> TestServer {
        let listeners = tessera_server::Listeners::bind(&config).await.unwrap();
        let public_port = listeners.public.local_addr().unwrap().port();
        // Port 0 in the base URL means "the port the listener got"; the host stays (localhost unless the
        // test chose another, e.g. 127.0.0.1 for a loopback redirect URI an app can register).
        if config.base_url.port() == Some(0) {
            config.base_url.set_port(Some(public_port)).unwrap();
        }
        let smtp = if capture_mail && config.smtp_url.is_none() && !config.dev_mode {
            let capture = SmtpCapture::start().await;
            config.smtp_url = Some(capture.url());
            Some(capture)
        } else {
            None
        };
        let clock = Arc::new(TestClock::new());
        let opened = tessera_core::bootstrap::open(&config, clock.clone())
            .await
            .unwrap();
        let admin = format!("http://{}", listeners.admin.local_addr().unwrap());
        // The tests reach the public listener by the base URL's host when it is the IPv4 loopback (so a
        // browser keeps one cookie jar across redirects), else by localhost.
        let host = match config.base_url.host_str() {
            Some("127.0.0.1") => "127.0.0.1",
            _ => "localhost",
        };
        let public = format!("http://{host}:{public_port}");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut tessera = opened.tessera;
        for m in methods {
            tessera = tessera.with_method(m);
        }
        let served = tessera.clone();
        let cfg = config.clone();
        let task = tokio::spawn(async move {
            tessera_server::serve(served, &cfg, listeners, async move {
                let _ = rx.await;
            })
            .await
        });
        TestServer {
            admin,
            public,
            key,
            tessera,
            config,
            http: reqwest::Client::new(),
            db,
            clock,
            smtp,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// A request to the admin listener with the owner key.
    pub fn admin_req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.admin_req_as(&self.key, method, path)
    }

    /// A request to the admin listener with another key.
    pub fn admin_req_as(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(key)
    }

    /// GET with the owner key.
    pub async fn get(&self, path: &str) -> Resp {
        Resp::from(
            self.admin_req(reqwest::Method::GET, path)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// POST JSON with the owner key.
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        Resp::from(
            self.admin_req(reqwest::Method::POST, path)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// PUT JSON with the owner key.
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        Resp::from(
            self.admin_req(reqwest::Method::PUT, path)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// PATCH JSON with the owner key.
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        Resp::from(
            self.admin_req(reqwest::Method::PATCH, path)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// DELETE with the owner key.
    pub async fn delete(&self, path: &str) -> Resp {
        Resp::from(
            self.admin_req(reqwest::Method::DELETE, path)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Mints a key with a role (and optional tenant) and returns its secret.
    pub async fn mint_key(&self, name: &str, role: &str, tenant: Option<&str>) -> String {
        let r = self
            .post(
                "/admin/v1/api-keys",
                serde_json::json!({"name": name, "role": role, "tenant": tenant}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        r.json["secret"].as_str().unwrap().to_owned()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A response read whole: status, headers, and the body as JSON (or `Value::Null`).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Resp {
    /// Reads a reqwest response.
    pub async fn from(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            json,
            text,
        }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json answer with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        assert_eq!(self.json["code"], code, "{self:?}");
        assert_eq!(self.json["status"], status, "{self:?}");
    }
}

/// Generates a `sqlite` and a `postgres` test for each named `async fn(Engine)`.
#[macro_export]
macro_rules! engine_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::Engine::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::Engine::Postgres).await
                }
            }
        )*
    };
}

impl TestServer {
    /// The mails this server sent, newest first, as JSON objects (`to`, `template`, `subject`, `text`,
    /// `html`): what reached the SMTP capture once the outbox is drained, or the development mailbox of
    /// a dev-mode server.
    pub async fn mailbox(&self) -> Vec<Value> {
        let Some(capture) = &self.smtp else {
            let r = self
                .http
                .get(format!("{}/dev/mailbox.json", self.admin))
                .send()
                .await
                .unwrap();
            return r.json::<Vec<Value>>().await.unwrap();
        };
        self.wait_for_outbox().await;
        capture
            .mails()
            .iter()
            .rev()
            .map(CapturedMail::to_json)
            .collect()
    }

    /// Waits until every queued mail has been handed to the SMTP listener (the delivery worker polls).
    pub async fn wait_for_outbox(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let pending = self.tessera.outbox().pending(1).await.unwrap();
            if pending.is_empty() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "mail still unsent after 30 s: {:?}",
                pending.first().map(|m| &m.mail.template)
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The newest mail sent to `to`.
    pub async fn last_mail_to(&self, to: &str) -> Option<Value> {
        self.mailbox().await.into_iter().find(|m| m["to"] == to)
    }

    /// The six-digit code in the newest mail to `to`.
    pub async fn code_for(&self, to: &str) -> Option<String> {
        let m = self.last_mail_to(to).await?;
        let text = m["text"].as_str()?.to_owned();
        text.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .map(str::to_owned)
    }

    /// The link (with token) in the newest mail to `to`.
    pub async fn link_for(&self, to: &str) -> Option<String> {
        let m = self.last_mail_to(to).await?;
        let text = m["text"].as_str()?.to_owned();
        text.split_whitespace()
            .find(|w| w.contains("/flows/link?token="))
            .map(|w| w.trim_end_matches(['.', ',', ')', '>']).to_owned())
    }
}
