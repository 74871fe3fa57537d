//! Tessera's storage: the only crate that knows SQL.
//!
//! One set of queries serves both engines. SQL text uses `$1`-style parameters, which SQLite and
//! PostgreSQL both accept; where the dialects differ a query says so next to the text. Each aggregate has
//! its own module with plain functions over an [`Exec`] (a pooled connection or a transaction), and
//! [`on_engine!`] expands one query body once per engine, so the code is written once and type-checked
//! twice.
//!
//! Timestamps travel as [`Ts`]: INTEGER microseconds on SQLite (so they sort and compare as numbers),
//! TIMESTAMPTZ on PostgreSQL.
#![forbid(unsafe_code)]

use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Postgres, Row as _, Sqlite};
use time::OffsetDateTime;
use uuid::Uuid;

pub use behind::Behind;

pub mod api_keys;
mod behind;
pub mod codes;
pub mod credentials;
pub mod events;
pub mod flows;
pub mod identities;
pub mod mail;
pub mod meta;
pub mod oauth_access_tokens;
pub mod oauth_clients;
pub mod oauth_consents;
pub mod oauth_device_grants;
pub mod oauth_logout;
pub mod oauth_pushed_requests;
pub mod oauth_refresh_tokens;
pub mod oauth_requests;
pub mod organizations;
pub mod policies;
pub mod profile;
pub mod schemas;
pub mod sessions;
pub mod signing_keys;
pub mod tenants;
pub mod throttles;

/// A storage failure, classified by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is overloaded; retrying later may work.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint refused the write. `on` names the constraint or its columns.
    #[error("conflict on {on}")]
    Conflict { on: String },
    /// A row could not be read back into the domain (a bug or a hand-edited database).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The configuration (URL, options) is wrong.
    #[error("database configuration: {0}")]
    Config(String),
    /// Migrations failed or the schema is from a newer Tessera.
    #[error("migration: {0}")]
    Migration(String),
    /// A write that had to change an exact number of rows (an update guarded by a version) changed
    /// another: someone else changed the row first. Its transaction is to be dropped.
    #[error("a row of {table} changed meanwhile")]
    Stale { table: &'static str },
    /// Anything else the driver reported.
    #[error("database error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match e {
            E::Io(e) => Self::Unavailable(e.to_string()),
            E::Tls(e) => Self::Unavailable(e.to_string()),
            E::PoolTimedOut => {
                Self::Unavailable("timed out waiting for a database connection".into())
            }
            E::PoolClosed => Self::Unavailable("the connection pool is closed".into()),
            E::Protocol(m) => Self::Unavailable(m),
            E::WorkerCrashed => Self::Unavailable("the database worker stopped".into()),
            E::Configuration(e) => Self::Config(e.to_string()),
            E::Database(db) => {
                if db.constraint() == Some(STALE_WRITE) || db.message().contains(STALE_WRITE) {
                    // A queued write's check (see `behind.rs`); the queue names the table.
                    Self::Stale { table: "" }
                } else if db.is_unique_violation() {
                    let on = db
                        .constraint()
                        .map(str::to_owned)
                        .unwrap_or_else(|| db.message().to_owned());
                    Self::Conflict { on }
                } else {
                    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                    // SQLite: 5 BUSY, 6 LOCKED (and their extended codes); PostgreSQL: class 57 (operator
                    // intervention, e.g. shutdown), 08 (connection), 53 (resources), 40001 (serialization).
                    let transient = code == "5"
                        || code == "6"
                        || code.starts_with("5_")
                        || code.starts_with("57")
                        || code.starts_with("08")
                        || code.starts_with("53")
                        || code == "40001"
                        || db.message().contains("database is locked");
                    if transient {
                        Self::Unavailable(db.message().to_owned())
                    } else {
                        Self::Other(db.message().to_owned())
                    }
                }
            }
            E::ColumnDecode { index, source } => Self::Corrupt(format!("column {index}: {source}")),
            E::Decode(e) => Self::Corrupt(e.to_string()),
            E::ColumnNotFound(c) => Self::Corrupt(format!("column {c} missing")),
            E::Migrate(e) => Self::Migration(e.to_string()),
            other => Self::Other(other.to_string()),
        }
    }
}

/// The constraint a queued write's check breaks when the write changed another number of rows than it
/// must (the table `stale_writes` stays empty: every row it is offered is refused).
const STALE_WRITE: &str = "stale_write";

/// Shorthand for store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// How to open the database.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// `sqlite://path/to/file.db` or `postgres://user:pass@host/db`.
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a connection before it gets a 503.
    pub acquire_timeout: Duration,
    /// SQLite only: `FULL` makes every commit durable across power loss at the cost of an fsync.
    pub sqlite_synchronous_full: bool,
}

impl DbOptions {
    /// Sensible defaults for a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
            sqlite_synchronous_full: true,
        }
    }
}

/// How many pages SQLite's write-ahead log may hold before a commit checkpoints it itself: a safety net
/// ten times SQLite's default, since a serving node's `wal_checkpointer` job ([`Db::checkpoint`]) moves
/// the log every second off the request path.
pub const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// PostgreSQL connections idle at least this long are pinged before use.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(5);

/// A handle to the database: cheap to clone, shared by every request.
///
/// SQLite gets two pools: many readers, and a single writer connection whose transactions start with
/// `BEGIN IMMEDIATE`, so writers queue in Tessera instead of failing with `SQLITE_BUSY` on lock upgrade.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite {
        read: sqlx::SqlitePool,
        write: sqlx::SqlitePool,
        /// What opens a write transaction: `BEGIN IMMEDIATE` after setting the configured durability
        /// again, since [`Db::begin_unflushed`] lowers it on the one writer connection.
        begin: &'static str,
    },
    Postgres(sqlx::PgPool),
}

/// Migrations per engine: `(version, description, sql)`. Both lists must carry the same versions (a test
/// checks it), so a schema change is never shipped for one engine only.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/sqlite/0001_foundation.sql"),
    ),
    (
        2,
        "flows_sessions",
        include_str!("../migrations/sqlite/0002_flows_sessions.sql"),
    ),
    (
        3,
        "mail_expiry",
        include_str!("../migrations/sqlite/0003_mail_expiry.sql"),
    ),
    (
        4,
        "guard_buckets",
        include_str!("../migrations/sqlite/0004_guard_buckets.sql"),
    ),
    (
        5,
        "flow_secret",
        include_str!("../migrations/sqlite/0005_flow_secret.sql"),
    ),
    (
        6,
        "code_requester",
        include_str!("../migrations/sqlite/0006_code_requester.sql"),
    ),
    (
        7,
        "mail_queue",
        include_str!("../migrations/sqlite/0007_mail_queue.sql"),
    ),
    (
        8,
        "methods",
        include_str!("../migrations/sqlite/0008_methods.sql"),
    ),
    (
        9,
        "signing_keys",
        include_str!("../migrations/sqlite/0009_signing_keys.sql"),
    ),
    (
        10,
        "oauth_clients",
        include_str!("../migrations/sqlite/0010_oauth_clients.sql"),
    ),
    (
        11,
        "oauth_authorization",
        include_str!("../migrations/sqlite/0011_oauth_authorization.sql"),
    ),
    (
        12,
        "refresh_tokens",
        include_str!("../migrations/sqlite/0012_refresh_tokens.sql"),
    ),
    (
        13,
        "backchannel_logout",
        include_str!("../migrations/sqlite/0013_backchannel_logout.sql"),
    ),
    (
        14,
        "oauth_consents",
        include_str!("../migrations/sqlite/0014_oauth_consents.sql"),
    ),
    (
        15,
        "pushed_requests",
        include_str!("../migrations/sqlite/0015_pushed_requests.sql"),
    ),
    (
        16,
        "opaque_access_tokens",
        include_str!("../migrations/sqlite/0016_opaque_access_tokens.sql"),
    ),
    (
        17,
        "refresh_reuse_grace",
        include_str!("../migrations/sqlite/0017_refresh_reuse_grace.sql"),
    ),
    (
        18,
        "device_grant",
        include_str!("../migrations/sqlite/0018_device_grant.sql"),
    ),
    (
        19,
        "stale_writes",
        include_str!("../migrations/sqlite/0019_stale_writes.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/postgres/0001_foundation.sql"),
    ),
    (
        2,
        "flows_sessions",
        include_str!("../migrations/postgres/0002_flows_sessions.sql"),
    ),
    (
        3,
        "mail_expiry",
        include_str!("../migrations/postgres/0003_mail_expiry.sql"),
    ),
    (
        4,
        "guard_buckets",
        include_str!("../migrations/postgres/0004_guard_buckets.sql"),
    ),
    (
        5,
        "flow_secret",
        include_str!("../migrations/postgres/0005_flow_secret.sql"),
    ),
    (
        6,
        "code_requester",
        include_str!("../migrations/postgres/0006_code_requester.sql"),
    ),
    (
        7,
        "mail_queue",
        include_str!("../migrations/postgres/0007_mail_queue.sql"),
    ),
    (
        8,
        "methods",
        include_str!("../migrations/postgres/0008_methods.sql"),
    ),
    (
        9,
        "signing_keys",
        include_str!("../migrations/postgres/0009_signing_keys.sql"),
    ),
    (
        10,
        "oauth_clients",
        include_str!("../migrations/postgres/0010_oauth_clients.sql"),
    ),
    (
        11,
        "oauth_authorization",
        include_str!("../migrations/postgres/0011_oauth_authorization.sql"),
    ),
    (
        12,
        "refresh_tokens",
        include_str!("../migrations/postgres/0012_refresh_tokens.sql"),
    ),
    (
        13,
        "backchannel_logout",
        include_str!("../migrations/postgres/0013_backchannel_logout.sql"),
    ),
    (
        14,
        "oauth_consents",
        include_str!("../migrations/postgres/0014_oauth_consents.sql"),
    ),
    (
        15,
        "pushed_requests",
        include_str!("../migrations/postgres/0015_pushed_requests.sql"),
    ),
    (
        16,
        "opaque_access_tokens",
        include_str!("../migrations/postgres/0016_opaque_access_tokens.sql"),
    ),
    (
        17,
        "refresh_reuse_grace",
        include_str!("../migrations/postgres/0017_refresh_reuse_grace.sql"),
    ),
    (
        18,
        "device_grant",
        include_str!("../migrations/postgres/0018_device_grant.sql"),
    ),
    (
        19,
        "stale_writes",
        include_str!("../migrations/postgres/0019_stale_writes.sql"),
    ),
];

fn migrations(engine: Engine) -> &'static [(i64, &'static str, &'static str)] {
    match engine {
        Engine::Sqlite => SQLITE_MIGRATIONS,
        Engine::Postgres => POSTGRES_MIGRATIONS,
    }
}

fn migrator(engine: Engine) -> sqlx::migrate::Migrator {
    sqlx::migrate::Migrator::with_migrations(
        migrations(engine)
            .iter()
            .map(|(v, d, sql)| {
                sqlx::migrate::Migration::new(
                    *v,
                    std::borrow::Cow::Borrowed(*d),
                    sqlx::migrate::MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(*sql),
                    false,
                )
            })
            .collect(),
    )
}

/// The migration versions shipped for one engine, for the parity test and readiness checks.
pub fn migration_versions(engine: Engine) -> Vec<i64> {
    migrations(engine).iter().map(|m| m.0).collect()
}

impl Db {
    /// Opens a pool. Does not touch the schema; call [`Db::migrate`] for that. Connections are made lazily,
    /// so a database that is down at start makes `/readyz` fail rather than the process.
    pub async fn connect(opts: &DbOptions) -> Result<Self> {
        if opts.url.starts_with("postgres://") || opts.url.starts_with("postgresql://") {
            let connect = PgConnectOptions::from_str(&opts.url)
                .map_err(|e| StoreError::Config(e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(opts.max_connections)
                .acquire_timeout(opts.acquire_timeout)
                // A ping costs a round trip; one before every acquire was a dozen per sign-in. A
                // connection used moments ago is live (and one can die between a ping and its use
                // anyway); only one that sat idle for a while is checked before it is handed out.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PING_IF_IDLE_FOR {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .idle_timeout(Duration::from_secs(300))
                .connect_lazy_with(connect);
            Ok(Db::Postgres(pool))
        } else if opts.url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(&opts.url)
                .map_err(|e| StoreError::Config(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(if opts.sqlite_synchronous_full {
                    SqliteSynchronous::Full
                } else {
                    SqliteSynchronous::Normal
                })
                .busy_timeout(Duration::from_secs(5))
                .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
                .foreign_keys(true);
            // A SQLite connection is a handle on a local file that cannot drop away underneath, so
            // neither pool pings before handing one out (each ping is a round trip to the connection's
            // worker thread, and a sign-in acquires a dozen connections).
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(opts.acquire_timeout.max(Duration::from_secs(10)))
                .connect_with(connect.clone())
                .await?;
            // Reads of a local file run on the server's own cores and never wait on a network, so
            // more read connections than twice the cores add no throughput; each one costs its own
            // worker thread, page cache and statement cache (megabytes once warm, refilled after
            // every commit in WAL mode).
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let reads = u32::try_from(cores.saturating_mul(2)).unwrap_or(u32::MAX);
            let read = SqlitePoolOptions::new()
                .max_connections(opts.max_connections.min(reads).max(2))
                .test_before_acquire(false)
                .acquire_timeout(opts.acquire_timeout)
                .connect_lazy_with(connect.read_only(false));
            let begin = if opts.sqlite_synchronous_full {
                "PRAGMA synchronous = FULL; BEGIN IMMEDIATE"
            } else {
                "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE"
            };
            Ok(Db::Sqlite { read, write, begin })
        } else {
            Err(StoreError::Config(format!(
                "unsupported database URL scheme in {:?}: use sqlite:// or postgres://",
                redact_url(&opts.url)
            )))
        }
    }

    /// Which engine this is.
    pub fn engine(&self) -> Engine {
        match self {
            Db::Sqlite { .. } => Engine::Sqlite,
            Db::Postgres(_) => Engine::Postgres,
        }
    }

    /// Whether write transactions run one at a time (SQLite's single writer). Two of them back to back
    /// then cost two commits and buy no concurrency: a caller may fold them into one.
    pub fn single_writer(&self) -> bool {
        matches!(self, Db::Sqlite { .. })
    }

    /// Applies pending migrations. Safe to run from several nodes at once (the migrator takes a lock).
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Db::Sqlite { write, .. } => migrator(Engine::Sqlite)
                .run(write)
                .await
                .map_err(migrate_error),
            Db::Postgres(pool) => migrator(Engine::Postgres)
                .run(pool)
                .await
                .map_err(migrate_error),
        }
    }

    /// True when every shipped migration has been applied, for `/readyz`.
    pub async fn migrations_current(&self) -> Result<bool> {
        let sql = "SELECT version FROM _sqlx_migrations WHERE success = $1 ORDER BY version";
        let applied: Vec<i64> = match self {
            Db::Sqlite { read, .. } => sqlx::query_scalar(sql).bind(true).fetch_all(read).await?,
            Db::Postgres(pool) => sqlx::query_scalar(sql).bind(true).fetch_all(pool).await?,
        };
        Ok(migration_versions(self.engine())
            .iter()
            .all(|v| applied.contains(v)))
    }

    /// A round trip to the database.
    pub async fn ping(&self) -> Result<()> {
        match self {
            Db::Sqlite { read, .. } => sqlx::query("SELECT 1").execute(read).await.map(drop)?,
            Db::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop)?,
        }
        Ok(())
    }

    /// A connection for reads outside a transaction.
    pub async fn conn(&self) -> Result<Conn> {
        Ok(match self {
            Db::Sqlite { read, .. } => Conn::Sqlite(read.acquire().await?),
            Db::Postgres(pool) => Conn::Postgres(pool.acquire().await?),
        })
    }

    /// Starts a write transaction. Every change and its event commit through one of these. Nothing is
    /// sent yet (SQLite: the one writer connection is held from here): the transaction opens with its
    /// first statement and its writes wait behind it, so a transaction of writes alone costs one
    /// round trip (see [`Tx`]).
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite { write, begin, .. } => Tx::new(Conn::Sqlite(write.acquire().await?), begin),
            Db::Postgres(pool) => Tx::new(Conn::Postgres(pool.acquire().await?), "BEGIN"),
        })
    }

    /// Starts a write transaction whose commit is atomic, ordered and visible at once like any other,
    /// but is not waited on to reach the disk: a power loss or an operating system crash (never a crash
    /// of the process alone) may forget the last few. For what is cheap to lose: the guard's counters,
    /// whose rows every attempt at one account queues on (an fsync per guess would cost more than the
    /// guess's own bookkeeping), a flow's start (a page view) and a sign-in's conclusion (the session
    /// goes with its record); the next durable commit carries them to the disk anyway. SQLite: `synchronous =
    /// NORMAL` for this commit (WAL mode), set again by the next [`Db::begin`]; PostgreSQL:
    /// `synchronous_commit = off` for this transaction (writes alone go as one statement that sets it for
    /// its own commit).
    pub async fn begin_unflushed(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite { write, .. } => Tx::new(
                Conn::Sqlite(write.acquire().await?),
                "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE",
            ),
            Db::Postgres(pool) => {
                Tx::new(Conn::Postgres(pool.acquire().await?), PG_BEGIN_UNFLUSHED)
            }
        })
    }

    /// Connections open and idle, for metrics.
    pub fn pool_stats(&self) -> PoolStats {
        match self {
            Db::Sqlite { read, write, .. } => PoolStats {
                size: read.size() + write.size(),
                idle: (read.num_idle() + write.num_idle()) as u32,
            },
            Db::Postgres(p) => PoolStats {
                size: p.size(),
                idle: p.num_idle() as u32,
            },
        }
    }

    /// Moves what SQLite's write-ahead log holds into the database file without waiting for anyone (a
    /// PASSIVE checkpoint), so that no request's commit pays for it: left to SQLite, the commit that
    /// fills the log past [`WAL_AUTOCHECKPOINT_PAGES`] copies it over and syncs the file, the slowest
    /// requests of a busy sign-in page. The pages in the log and how many of them are now in the
    /// database file (all, unless a reader still needs older ones); `(0, 0)` on PostgreSQL, which has
    /// nothing to do.
    pub async fn checkpoint(&self) -> Result<(i64, i64)> {
        match self {
            Db::Sqlite { read, .. } => {
                let (_busy, log, moved): (i64, i64, i64) =
                    sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                        .fetch_one(read)
                        .await?;
                Ok((log.max(0), moved.max(0)))
            }
            Db::Postgres(_) => Ok((0, 0)),
        }
    }

    /// Closes every connection; used at shutdown.
    pub async fn close(&self) {
        match self {
            Db::Sqlite { read, write, .. } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(p) => p.close().await,
        }
    }
}

/// Pool occupancy.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
}

fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(inner) => match StoreError::from(inner) {
            StoreError::Unavailable(m) => StoreError::Unavailable(m),
            other => StoreError::Migration(other.to_string()),
        },
        other => StoreError::Migration(other.to_string()),
    }
}

/// A URL with its password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A pooled connection for reads.
pub enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// What opens a PostgreSQL transaction begun with [`Db::begin_unflushed`].
const PG_BEGIN_UNFLUSHED: &str = "BEGIN; SET LOCAL synchronous_commit TO OFF";

/// A write transaction on one held connection, opened lazily and finished in as few round trips as
/// its statements allow:
///
/// - writes built as a `Write` (see `behind.rs`) wait in a queue instead of going one by one;
/// - the `BEGIN` goes with the first statement that must run inside the transaction (SQLite: in the
///   same trip as the queued writes, or as the reservation's prefix, see [`Exec::take_opening`]);
/// - [`Tx::commit`] sends what is queued with the `COMMIT` in one trip (SQLite), or, when nothing opened
///   the transaction, as one statement that is atomic by itself (PostgreSQL).
///
/// Dropping it without [`Tx::commit`] undoes everything: what is queued is forgotten, and a connection
/// whose transaction was opened goes away instead of back to the pool (closing it rolls back), so no
/// later user of the pool ever finds a transaction left open.
pub struct Tx {
    conn: Conn,
    /// What opens the transaction, engine syntax without parameters.
    opening: &'static str,
    /// Whether `opening` was sent and no `COMMIT` or `ROLLBACK` has finished since.
    open: bool,
    behind: Behind,
}

impl Tx {
    fn new(mut conn: Conn, opening: &'static str) -> Self {
        let behind = Behind::for_conn(&conn.raw());
        Tx {
            conn,
            opening,
            open: false,
            behind,
        }
    }

    /// Opens the transaction if it is not yet, and sends what is queued.
    async fn open_and_flush(&mut self) -> Result<()> {
        if self.open && self.behind.is_empty() {
            return Ok(());
        }
        let opening = (!self.open).then_some(self.opening);
        // From here the transaction may be open, whatever the answer (see `Drop`).
        self.open = true;
        let conn = self.conn.raw();
        match (&conn, opening) {
            (RawConn::Postgres(_), Some(begin)) => {
                behind::simple(conn, begin).await?;
                self.behind.flush(self.conn.raw(), None, false, false).await
            }
            (_, opening) => self.behind.flush(conn, opening, false, false).await,
        }
    }

    /// How many writes wait behind the transaction, for tests of the queue.
    pub fn queued(&self) -> usize {
        self.behind.len()
    }

    /// Makes every write in the transaction durable, or none of them: the queued writes go first, and
    /// if one of them fails (or changes another number of rows than it must) nothing is committed.
    pub async fn commit(mut self) -> Result<()> {
        if !self.open {
            if self.behind.is_empty() {
                return Ok(());
            }
            // Nothing ran inside the transaction yet: the writes alone make it.
            return match self.conn.raw() {
                RawConn::Sqlite(_) => {
                    self.open = true;
                    let opening = Some(self.opening);
                    self.behind
                        .flush(self.conn.raw(), opening, true, false)
                        .await?;
                    self.open = false;
                    Ok(())
                }
                RawConn::Postgres(_) => {
                    let unflushed = self.opening == PG_BEGIN_UNFLUSHED;
                    self.behind
                        .flush(self.conn.raw(), None, false, unflushed)
                        .await
                }
            };
        }
        match self.conn.raw() {
            RawConn::Sqlite(_) => {
                self.behind
                    .flush(self.conn.raw(), None, true, false)
                    .await?
            }
            RawConn::Postgres(_) => {
                self.behind
                    .flush(self.conn.raw(), None, false, false)
                    .await?;
                behind::simple(self.conn.raw(), "COMMIT").await?;
            }
        }
        self.open = false;
        Ok(())
    }

    /// Undoes every write in the transaction, and answers once that is done. Dropping a transaction also
    /// undoes it, but by closing its connection.
    pub async fn rollback(mut self) -> Result<()> {
        self.behind.clear();
        if self.open {
            behind::simple(self.conn.raw(), "ROLLBACK").await?;
            self.open = false;
        }
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.open {
            // Closing the connection rolls its transaction back (SQLite and PostgreSQL alike), and
            // the pool opens a fresh one when it is next needed.
            match &mut self.conn {
                Conn::Sqlite(c) => c.close_on_drop(),
                Conn::Postgres(c) => c.close_on_drop(),
            }
        }
    }
}

/// A borrowed engine connection; what [`on_engine!`] matches on.
pub enum RawConn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// Anything queries can run on: a pooled connection or a transaction.
pub trait Exec: Send {
    /// The underlying connection, as it is: for telling the engine, not for running statements (writes
    /// queued behind a transaction would be skipped).
    fn raw(&mut self) -> RawConn<'_>;

    /// The underlying connection once the writes queued behind it have been sent.
    fn ready(&mut self) -> impl std::future::Future<Output = Result<RawConn<'_>>> + Send {
        self.ready_reading(&[])
    }

    /// [`Exec::ready`] for a read of `tables` only: queued writes are sent first if any of them writes
    /// one of those tables (all of them when `tables` is empty).
    fn ready_reading(
        &mut self,
        tables: &'static [&'static str],
    ) -> impl std::future::Future<Output = Result<RawConn<'_>>> + Send;

    /// Where writes wait to be sent together: a transaction's queue; `None` runs them at once.
    fn behind(&mut self) -> Option<&mut Behind> {
        None
    }

    /// SQLite: the statements that open a transaction nothing has opened yet, for the caller to send
    /// ahead of its own statement in the same round trip (it must send them, and the transaction counts
    /// as open from here). `None` when there is nothing to send or the engine cannot take it this way.
    fn take_opening(&mut self) -> Option<&'static str> {
        None
    }
}

impl Exec for Conn {
    fn raw(&mut self) -> RawConn<'_> {
        match self {
            Conn::Sqlite(c) => RawConn::Sqlite(c),
            Conn::Postgres(c) => RawConn::Postgres(c),
        }
    }

    async fn ready_reading(&mut self, _: &'static [&'static str]) -> Result<RawConn<'_>> {
        Ok(self.raw())
    }
}

impl Exec for Tx {
    fn raw(&mut self) -> RawConn<'_> {
        self.conn.raw()
    }

    async fn ready_reading(&mut self, tables: &'static [&'static str]) -> Result<RawConn<'_>> {
        if tables.is_empty() {
            // A read that does not say what it reads runs inside the transaction.
            self.open_and_flush().await?;
        } else if self.behind.blocks(tables) {
            self.open_and_flush().await?;
        }
        Ok(self.conn.raw())
    }

    fn behind(&mut self) -> Option<&mut Behind> {
        Some(&mut self.behind)
    }

    fn take_opening(&mut self) -> Option<&'static str> {
        match self.conn {
            Conn::Sqlite(_) if !self.open && self.behind.is_empty() => {
                self.open = true;
                Some(self.opening)
            }
            _ => None,
        }
    }
}

/// Expands one query body once per engine: `on_engine!(exec, |c| sqlx::query(..).execute(&mut *c).await)`,
/// after the writes queued behind a transaction have been sent. `on_engine!(exec, reads ["t"], |c| ..)`
/// sends them only if one of them writes a table the body reads.
#[macro_export]
macro_rules! on_engine {
    ($exec:expr, |$c:ident| $body:expr) => {
        match $crate::Exec::ready($exec).await? {
            $crate::RawConn::Sqlite($c) => $body,
            $crate::RawConn::Postgres($c) => $body,
        }
    };
    ($exec:expr, reads [$($t:literal),+], |$c:ident| $body:expr) => {
        match $crate::Exec::ready_reading($exec, &[$($t),+]).await? {
            $crate::RawConn::Sqlite($c) => $body,
            $crate::RawConn::Postgres($c) => $body,
        }
    };
}

/// A timestamp parameter: microseconds on SQLite, TIMESTAMPTZ on PostgreSQL.
#[derive(Debug, Clone, Copy)]
pub struct Ts(pub OffsetDateTime);

fn to_micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

fn from_micros(m: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1000)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl sqlx::Type<Sqlite> for Ts {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <i64 as sqlx::Type<Sqlite>>::type_info()
    }
}
impl<'q> sqlx::Encode<'q, Sqlite> for Ts {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as sqlx::Database>::ArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <i64 as sqlx::Encode<'q, Sqlite>>::encode(to_micros(self.0), buf)
    }
}
impl sqlx::Type<Postgres> for Ts {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <OffsetDateTime as sqlx::Type<Postgres>>::type_info()
    }
}
impl<'q> sqlx::Encode<'q, Postgres> for Ts {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as sqlx::Database>::ArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <OffsetDateTime as sqlx::Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

/// Column access that hides the engines' type differences, so row mapping is written once.
pub(crate) trait Cols {
    fn uuid(&self, col: &str) -> Result<Uuid>;
    fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>>;
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn flag(&self, col: &str) -> Result<bool>;
    fn bytes(&self, col: &str) -> Result<Vec<u8>>;
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>>;
    fn ts(&self, col: &str) -> Result<OffsetDateTime>;
    fn opt_ts(&self, col: &str) -> Result<Option<OffsetDateTime>>;
    /// A JSON document column (TEXT on SQLite, JSONB on PostgreSQL).
    fn json(&self, col: &str) -> Result<serde_json::Value>;
}

macro_rules! common_cols {
    () => {
        fn uuid(&self, col: &str) -> Result<Uuid> {
            Ok(self.try_get(col)?)
        }
        fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>> {
            Ok(self.try_get(col)?)
        }
        fn text(&self, col: &str) -> Result<String> {
            Ok(self.try_get(col)?)
        }
        fn opt_text(&self, col: &str) -> Result<Option<String>> {
            Ok(self.try_get(col)?)
        }
        fn int(&self, col: &str) -> Result<i64> {
            Ok(self.try_get(col)?)
        }
        fn flag(&self, col: &str) -> Result<bool> {
            Ok(self.try_get(col)?)
        }
        fn bytes(&self, col: &str) -> Result<Vec<u8>> {
            Ok(self.try_get(col)?)
        }
        fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>> {
            Ok(self.try_get(col)?)
        }
    };
}

impl Cols for SqliteRow {
    common_cols!();
    fn ts(&self, col: &str) -> Result<OffsetDateTime> {
        from_micros(self.try_get(col)?)
    }
    fn opt_ts(&self, col: &str) -> Result<Option<OffsetDateTime>> {
        self.try_get::<Option<i64>, _>(col)?
            .map(from_micros)
            .transpose()
    }
    fn json(&self, col: &str) -> Result<serde_json::Value> {
        let text: String = self.try_get(col)?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
    }
}

impl Cols for PgRow {
    common_cols!();
    fn ts(&self, col: &str) -> Result<OffsetDateTime> {
        Ok(self.try_get(col)?)
    }
    fn opt_ts(&self, col: &str) -> Result<Option<OffsetDateTime>> {
        Ok(self.try_get(col)?)
    }
    fn json(&self, col: &str) -> Result<serde_json::Value> {
        let v: sqlx::types::Json<serde_json::Value> = self.try_get(col)?;
        Ok(v.0)
    }
}

/// A page of results and the cursor for the next one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The last id of this page when more may follow.
    pub next_after: Option<Uuid>,
}

/// Parses a stored enum text, reporting corrupt data instead of panicking.
pub(crate) fn parse_text<T>(
    col: &str,
    value: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T> {
    parse(value).ok_or_else(|| StoreError::Corrupt(format!("{col}: unknown value {value:?}")))
}
