//! Writes that wait behind a transaction, so that several of them reach the database in one round trip.
//!
//! A step's conclusion writes four or five rows that nothing reads back before the commit (the session,
//! its events, the guard's settlement, the flow). Sent one by one, each costs a round trip: on SQLite a
//! hop to the connection's worker thread and back (two context switches, on a core that is also hashing
//! passwords), on PostgreSQL a network round trip. A [`Write`] built by a store function runs at once on a
//! plain connection; on a transaction it is queued, and the queue goes in one trip when the transaction
//! commits or when a statement needs to see what is queued:
//!
//! - SQLite runs the queued statements as one multi-statement query (parameters `$N` count across the
//!   statements, so each statement's are renumbered as it joins).
//! - PostgreSQL runs them as one statement: each write becomes a data-modifying `WITH` clause, and the
//!   clauses run in no set order, see the same snapshot and not each other's effects, so a second write
//!   to a table already in the queue sends the queue first.
//!
//! A write that must change an exact number of rows (an update guarded by a version) says so with
//! [`Write::expect_rows`]; in the same trip a check follows it that offers the table `stale_writes`
//! (whose constraint refuses every row) a row when it changed another number, so the trip fails before
//! its `COMMIT`, with [`StoreError::Stale`], and the transaction, dropped, undoes everything it held.
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgArguments;
use sqlx::sqlite::SqliteArguments;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Exec, RawConn, Result, StoreError, Ts};

/// One parameter, owned and engine-neutral until the statement is sent.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    I64(i64),
    OptI64(Option<i64>),
    Bool(bool),
    Text(String),
    OptText(Option<String>),
    Bytes(Vec<u8>),
    OptBytes(Option<Vec<u8>>),
    Uuid(Uuid),
    OptUuid(Option<Uuid>),
    Ts(OffsetDateTime),
    OptTs(Option<OffsetDateTime>),
}

macro_rules! value_from {
    ($($t:ty => $v:ident $(($conv:expr))?),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(x: $t) -> Self {
                Value::$v($($conv)?(x))
            }
        })*
    };
}

value_from! {
    i64 => I64,
    i32 => I64(i64::from),
    Option<i64> => OptI64,
    bool => Bool,
    String => Text,
    &str => Text(str::to_owned),
    &String => Text(String::clone),
    Option<String> => OptText,
    Option<&str> => OptText(|s: Option<&str>| s.map(str::to_owned)),
    Vec<u8> => Bytes,
    &[u8] => Bytes(<[u8]>::to_vec),
    &Vec<u8> => Bytes(Vec::clone),
    Option<Vec<u8>> => OptBytes,
    Option<&[u8]> => OptBytes(|b: Option<&[u8]>| b.map(<[u8]>::to_vec)),
    Uuid => Uuid,
    Option<Uuid> => OptUuid,
    Ts => Ts(|t: Ts| t.0),
    Option<Ts> => OptTs(|t: Option<Ts>| t.map(|t| t.0)),
}

/// Parameters on their way to one engine.
enum Args {
    Sqlite(SqliteArguments),
    Postgres(PgArguments),
}

impl Args {
    fn for_engine(conn: &RawConn<'_>) -> Self {
        match conn {
            RawConn::Sqlite(_) => Args::Sqlite(SqliteArguments::default()),
            RawConn::Postgres(_) => Args::Postgres(PgArguments::default()),
        }
    }

    fn add(&mut self, v: Value) -> Result<()> {
        match self {
            Args::Sqlite(a) => add_to(a, v),
            Args::Postgres(a) => add_to(a, v),
        }
        .map_err(|e| StoreError::Other(format!("a parameter could not be encoded: {e}")))
    }
}

fn add_to<A>(a: &mut A, v: Value) -> std::result::Result<(), sqlx::error::BoxDynError>
where
    A: sqlx::Arguments,
    i64: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    bool: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    String: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Vec<u8>: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Uuid: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Ts: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Option<i64>: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Option<String>: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Option<Vec<u8>>: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Option<Uuid>: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
    Option<Ts>: for<'q> sqlx::Encode<'q, A::Database> + sqlx::Type<A::Database>,
{
    match v {
        Value::I64(x) => a.add(x),
        Value::OptI64(x) => a.add(x),
        Value::Bool(x) => a.add(x),
        Value::Text(x) => a.add(x),
        Value::OptText(x) => a.add(x),
        Value::Bytes(x) => a.add(x),
        Value::OptBytes(x) => a.add(x),
        Value::Uuid(x) => a.add(x),
        Value::OptUuid(x) => a.add(x),
        Value::Ts(x) => a.add(Ts(x)),
        Value::OptTs(x) => a.add(x.map(Ts)),
    }
}

/// A write statement whose rows nobody reads back: run at once, or queued behind a transaction.
#[must_use = "a write does nothing until it is run"]
pub(crate) struct Write {
    table: &'static str,
    sql: String,
    values: Vec<Value>,
    expect: Option<u64>,
}

impl Write {
    /// A write to `table` (what a later read checks it against), with `$1`-numbered parameters.
    pub(crate) fn new(table: &'static str, sql: impl Into<String>) -> Self {
        Write {
            table,
            sql: sql.into(),
            values: Vec::new(),
            expect: None,
        }
    }

    /// The next parameter.
    pub(crate) fn bind(mut self, v: impl Into<Value>) -> Self {
        self.values.push(v.into());
        self
    }

    /// The write must change exactly `n` rows, or it (and its transaction) fails with
    /// [`StoreError::Stale`] naming its table.
    pub(crate) fn expect_rows(mut self, n: u64) -> Self {
        self.expect = Some(n);
        self
    }

    /// Runs the write now on a connection, or queues it on a transaction.
    pub(crate) async fn run(self, x: &mut impl Exec) -> Result<()> {
        if let Some(queue) = x.behind() {
            if queue.takes(self.table) {
                queue.queued.push(self);
                return Ok(());
            }
            // PostgreSQL: what is queued for this table goes first, then this waits in its place.
            x.ready_reading(&[]).await?;
            if let Some(queue) = x.behind() {
                queue.queued.push(self);
                return Ok(());
            }
        }
        let conn = x.ready().await?;
        self.run_on(conn).await
    }

    /// Runs the write on `conn`, now.
    async fn run_on(self, conn: RawConn<'_>) -> Result<()> {
        let mut args = Args::for_engine(&conn);
        for v in self.values {
            args.add(v)?;
        }
        let changed = match (conn, args) {
            (RawConn::Sqlite(c), Args::Sqlite(a)) => sqlx::query_with(AssertSqlSafe(self.sql), a)
                .execute(&mut *c)
                .await?
                .rows_affected(),
            (RawConn::Postgres(c), Args::Postgres(a)) => {
                sqlx::query_with(AssertSqlSafe(self.sql), a)
                    .execute(&mut *c)
                    .await?
                    .rows_affected()
            }
            _ => return Err(other_engine()),
        };
        check(self.table, self.expect, changed)
    }
}

fn other_engine() -> StoreError {
    StoreError::Other("parameters built for the other engine".into())
}

fn check(table: &'static str, expect: Option<u64>, changed: u64) -> Result<()> {
    match expect {
        Some(n) if n != changed => Err(StoreError::Stale { table }),
        _ => Ok(()),
    }
}

/// The writes a transaction holds back, in order.
#[derive(Default)]
pub struct Behind {
    queued: Vec<Write>,
    /// PostgreSQL: at most one queued write per table. Its `WITH` clauses run in no set order and do
    /// not see each other's effects, so two writes to one table (two batches of events, whose sequence
    /// numbers must follow the order they were written in) never go in one statement.
    one_per_table: bool,
}

impl Behind {
    /// An empty queue for the engine behind `conn`.
    pub(crate) fn for_conn(conn: &RawConn<'_>) -> Self {
        Behind {
            queued: Vec::new(),
            one_per_table: matches!(conn, RawConn::Postgres(_)),
        }
    }

    /// Whether a write to `table` may join the queue as it is.
    fn takes(&self, table: &str) -> bool {
        !self.one_per_table || self.queued.iter().all(|w| w.table != table)
    }
    /// Whether a read of `tables` must wait for the queue (all of it, when `tables` is empty: the read
    /// does not say what it reads).
    pub(crate) fn blocks(&self, tables: &[&str]) -> bool {
        !self.queued.is_empty()
            && (tables.is_empty() || self.queued.iter().any(|w| tables.contains(&w.table)))
    }

    /// How many writes wait.
    pub fn len(&self) -> usize {
        self.queued.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Forgets every queued write (the transaction is rolled back).
    pub(crate) fn clear(&mut self) {
        self.queued.clear();
    }

    /// Sends every queued write on `conn` in one round trip, each write that must change an exact number
    /// of rows followed by its check. SQLite: after `opening` (statements without parameters) and
    /// before a `COMMIT` when `commit`; PostgreSQL takes neither (`opening` must be `None`, and a
    /// `COMMIT` is its own statement).
    pub(crate) async fn flush(
        &mut self,
        conn: RawConn<'_>,
        opening: Option<&str>,
        commit: bool,
        unflushed: bool,
    ) -> Result<()> {
        let queued = std::mem::take(&mut self.queued);
        let stale_table = queued.iter().find(|w| w.expect.is_some()).map(|w| w.table);
        let stale = |e: StoreError| match (e, stale_table) {
            (StoreError::Stale { .. }, Some(table)) => StoreError::Stale { table },
            (e, _) => e,
        };
        let mut args = Args::for_engine(&conn);
        let mut params = 0;
        let mut parts = Vec::with_capacity(queued.len());
        for w in queued {
            parts.push((renumber(&w.sql, params), w.table, w.expect));
            params += w.values.len();
            for v in w.values {
                args.add(v)?;
            }
        }
        match (conn, args) {
            (RawConn::Sqlite(c), Args::Sqlite(a)) => {
                let mut sql: Vec<String> = opening.into_iter().map(str::to_owned).collect();
                for (part, table, expect) in parts {
                    sql.push(part);
                    if let Some(n) = expect {
                        sql.push(format!(
                            "INSERT INTO stale_writes (tbl) SELECT {} WHERE changes() <> {n}",
                            literal(table)
                        ));
                    }
                }
                if commit {
                    sql.push("COMMIT".into());
                }
                if sql.is_empty() {
                    return Ok(());
                }
                use futures::TryStreamExt as _;
                use sqlx::Executor as _;
                let mut results = c.fetch_many(sqlx::query_with(AssertSqlSafe(sql.join(";\n")), a));
                while results
                    .try_next()
                    .await
                    .map_err(|e| stale(e.into()))?
                    .is_some()
                {}
                Ok(())
            }
            (RawConn::Postgres(c), Args::Postgres(a)) => {
                if opening.is_some() || commit {
                    return Err(StoreError::Other(
                        "PostgreSQL sends BEGIN and COMMIT on their own".into(),
                    ));
                }
                let sql = match parts.as_slice() {
                    [] => return Ok(()),
                    [(one, _, None)] if !unflushed => one.clone(),
                    _ => {
                        // A statement that is its own transaction does not wait for the disk when the
                        // transaction was begun unflushed: `set_config(…, true)` lasts until its commit,
                        // and the final clause reads it, so it is evaluated.
                        let mut clauses: Vec<String> = unflushed
                            .then(|| {
                                "unflushed AS (SELECT set_config('synchronous_commit', 'off', true) AS s)"
                                    .to_owned()
                            })
                            .into_iter()
                            .collect();
                        clauses.extend(parts.iter().enumerate().map(|(i, (p, _, expect))| {
                            match expect {
                                Some(_) => format!("w{i} AS ({p} RETURNING 1)"),
                                None => format!("w{i} AS ({p})"),
                            }
                        }));
                        let checks: Vec<String> = parts
                            .iter()
                            .enumerate()
                            .filter_map(|(i, (_, table, expect))| {
                                expect.map(|n| {
                                    format!(
                                        "SELECT {} WHERE (SELECT count(*) FROM w{i}) <> {n}",
                                        literal(table)
                                    )
                                })
                            })
                            .collect();
                        let when = if unflushed {
                            " WHERE (SELECT s FROM unflushed) IS NOT NULL"
                        } else {
                            ""
                        };
                        let last = if checks.is_empty() {
                            format!("SELECT 1{when}")
                        } else {
                            format!(
                                "INSERT INTO stale_writes (tbl) SELECT c.t FROM ({}) AS c(t){when}",
                                checks.join(" UNION ALL ")
                            )
                        };
                        format!("WITH {} {last}", clauses.join(", "))
                    }
                };
                sqlx::query_with(AssertSqlSafe(sql), a)
                    .execute(&mut *c)
                    .await
                    .map_err(|e| stale(e.into()))?;
                Ok(())
            }
            _ => Err(other_engine()),
        }
    }
}

/// A table name as an SQL string literal (names are the store's own constants; quotes are doubled
/// all the same).
fn literal(table: &str) -> String {
    format!("'{}'", table.replace('\'', "''"))
}

/// A statement without parameters (`BEGIN`, `COMMIT`, `ROLLBACK`), now.
pub(crate) async fn simple(conn: RawConn<'_>, sql: &'static str) -> Result<()> {
    use sqlx::Executor as _;
    match conn {
        RawConn::Sqlite(c) => c.execute(sqlx::raw_sql(sql)).await.map(drop)?,
        RawConn::Postgres(c) => c.execute(sqlx::raw_sql(sql)).await.map(drop)?,
    }
    Ok(())
}

/// `$N` parameters of `sql` moved up by `offset` (outside quoted literals and identifiers).
pub(crate) fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(ch) = chars.next() {
        match quote {
            Some(q) => {
                out.push(ch);
                if ch == q {
                    quote = None;
                }
            }
            None if ch == '\'' || ch == '"' => {
                quote = Some(ch);
                out.push(ch);
            }
            None if ch == '$' && chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    n.push(d);
                    chars.next();
                }
                match n.parse::<usize>() {
                    Ok(k) => out.push_str(&format!("${}", k + offset)),
                    Err(_) => {
                        out.push('$');
                        out.push_str(&n);
                    }
                }
            }
            None => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::renumber;

    #[test]
    fn renumbering_moves_parameters_and_leaves_literals_alone() {
        assert_eq!(
            renumber(
                "UPDATE t SET a = $1, b = '$2' WHERE c = $10 AND \"$3\" = $2",
                4
            ),
            "UPDATE t SET a = $5, b = '$2' WHERE c = $14 AND \"$3\" = $6"
        );
        assert_eq!(renumber("SELECT $1", 0), "SELECT $1");
        assert_eq!(
            renumber("json_extract(x, '$.a') = $1", 2),
            "json_extract(x, '$.a') = $3"
        );
    }
}
