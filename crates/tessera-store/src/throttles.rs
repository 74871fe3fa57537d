//! The guard's counters, kept in the database so they hold across nodes and restarts.
//!
//! A bucket is a row that carries its own rule, so one conditional upsert reserves an attempt in every
//! bucket it concerns: the attempt is counted before the secret it carries is checked, and N parallel
//! attempts count N. Progressive buckets hold attempts back for `2^(hits - free)` seconds (capped)
//! after each hit beyond `free`, and forget a day (their window) after the last hit; quota buckets let
//! `free` hits through per window and then hold back until the window ends. Times are plain
//! microseconds on both engines, because the reserving statement does arithmetic on them. The SQL is
//! built only from numbered parameters and constants, never from input.
use crate::behind::Write;
use sqlx::AssertSqlSafe;
use time::OffsetDateTime;

use crate::{Db, Exec, Result, on_engine, to_micros};

/// Seconds a progressive bucket holds back after the `free`-th hit, the one after, and so on; the last
/// value is the cap (slowed, never locked out for good: RL-02).
pub const DELAYS_SECS: [i64; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 300];

/// One bucket an attempt is counted in, with its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub key: String,
    /// Hits let through before the bucket holds back.
    pub free: i64,
    /// Progressive: forget this long after the last hit. Quota: the length of one counting window.
    pub window_us: i64,
    /// A quota (refused until the window ends) rather than progressive delays.
    pub quota: bool,
    /// Progressive, and after [`ABSOLUTE_LIMIT`] hits held for its whole window (RL-01: an account takes
    /// at most so many consecutive failures).
    pub capped: bool,
}

/// Hits after which a capped bucket holds for its whole window.
pub const ABSOLUTE_LIMIT: i64 = 100;

impl Bucket {
    /// How the row stores the rule: 0 progressive, 1 quota, 2 progressive with the absolute limit.
    fn mode(&self) -> i64 {
        match (self.quota, self.capped) {
            (true, _) => 1,
            (false, true) => 2,
            (false, false) => 0,
        }
    }
}

/// `$first, $first+stride, …` for `n` rows: the numbered parameters of a multi-row statement.
fn params(n: usize, first: usize, stride: usize, width: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let base = first + i * stride;
            (base..base + width)
                .map(|p| format!("${p}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect()
}

/// The time the next attempt may come, for a bucket whose `n`-th hit this is (SQL over `$1` = now).
/// Within the free allowance it is 0, not now: two attempts read the clock before their statements run,
/// so the later statement may carry the earlier time and must not find the bucket holding it back.
fn next_sql(n: &str, start: &str, free: &str, window: &str, quota: &str) -> String {
    let steps: Vec<String> = DELAYS_SECS
        .iter()
        .enumerate()
        .take(DELAYS_SECS.len() - 1)
        .map(|(i, s)| format!("WHEN {i} THEN {s}"))
        .collect();
    let cap = DELAYS_SECS.len() - 1;
    let max = DELAYS_SECS.last().copied().unwrap_or(1);
    format!(
        "CASE WHEN {n} < {free} THEN 0 \
              WHEN {quota} = 1 THEN {start} + {window} \
              WHEN {quota} = 2 AND {n} >= {ABSOLUTE_LIMIT} THEN $1 + {window} \
              WHEN {n} - {free} >= {cap} THEN $1 + {max}000000 \
              ELSE $1 + 1000000 * (CASE {n} - {free} {} ELSE {max} END) END",
        steps.join(" ")
    )
}

/// Reserves one attempt in every bucket, atomically: either no bucket holds the attempt back and each
/// counts it, or none does, but for a race on PostgreSQL (another transaction's commit fills a bucket
/// after this statement checked it), where a bucket's own limit still holds and some buckets may count an
/// attempt the others refuse. Returns the keys that counted it; the attempt may go ahead only if that is
/// all of them, and otherwise its transaction must not commit.
///
/// This runs in the caller's transaction; [`reserve_alone`] runs it by itself.
pub async fn reserve(
    x: &mut impl Exec,
    now: OffsetDateTime,
    buckets: &[Bucket],
) -> Result<Vec<String>> {
    if buckets.is_empty() {
        return Ok(Vec::new());
    }
    // On SQLite a transaction nothing has opened yet opens in the same round trip.
    let opening = x
        .take_opening()
        .map(|o| format!("{o}; "))
        .unwrap_or_default();
    let sql = format!("{opening}{}", reserve_sql(buckets.len()));
    run_reserve(x, sql, now, buckets).await
}

/// Runs a reserving statement (`sql`, around [`reserve_sql`]) with its bindings.
async fn run_reserve(
    x: &mut impl Exec,
    sql: String,
    now: OffsetDateTime,
    buckets: &[Bucket],
) -> Result<Vec<String>> {
    let now = to_micros(now);
    Ok(on_engine!(x, |c| {
        let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql.clone())).bind(now);
        for b in buckets {
            q = q
                .bind(b.key.as_str())
                .bind(b.free)
                .bind(b.window_us)
                .bind(b.mode());
        }
        q.fetch_all(&mut *c).await?
    }))
}

/// [`reserve`] committed on its own, without waiting for a flush to the disk: the reservation holds the
/// buckets' row locks until it commits, and every attempt at one account queues on them, so an fsync
/// per guess would cost more than the guess's own bookkeeping. A power loss may forget the last few
/// counts. On either engine the one statement is its own transaction, sent with its durability setting
/// in a single round trip (where `BEGIN`, the statement and `COMMIT` took three).
///
/// `now` is read once the writer is this reservation's, so a wait for it does not shorten the delays the
/// reservation sets. Returns the time it used with the keys.
pub async fn reserve_alone(
    db: &Db,
    now: impl FnOnce() -> OffsetDateTime,
    buckets: &[Bucket],
) -> Result<(OffsetDateTime, Vec<String>)> {
    match db {
        Db::Sqlite { write, .. } => {
            let mut conn = crate::Conn::Sqlite(write.acquire().await?);
            let now = now();
            // `synchronous` is set again by the next durable `Db::begin`, as after `begin_unflushed`.
            if buckets.is_empty() {
                return Ok((now, Vec::new()));
            }
            let sql = format!(
                "PRAGMA synchronous = NORMAL; {}",
                reserve_sql(buckets.len())
            );
            let counted = run_reserve(&mut conn, sql, now, buckets).await?;
            Ok((now, counted))
        }
        Db::Postgres(pool) => {
            let mut conn = crate::Conn::Postgres(pool.acquire().await?);
            let now = now();
            if buckets.is_empty() {
                return Ok((now, Vec::new()));
            }
            // A concurrent commit can fill a bucket after the statement's check and before its write,
            // so the statement may count the attempt in some buckets and not in the others. Such an
            // attempt is refused and must count nowhere: the check clause then offers `stale_writes`
            // a row, which it refuses, and the whole statement (its own transaction) is undone. The
            // statement's transaction does not wait for the disk (`set_config(…, true)` lasts until its
            // commit), and it is one round trip where `BEGIN`, the statement and `COMMIT` were three.
            let sql = format!(
                "WITH unflushed AS (SELECT set_config('synchronous_commit', 'off', true) AS s), \
                 r AS ({}), \
                 partial AS (INSERT INTO stale_writes (tbl) SELECT 'guard_buckets' \
                             WHERE (SELECT count(*) FROM r) BETWEEN 1 AND {}) \
                 SELECT key FROM r WHERE (SELECT s FROM unflushed) IS NOT NULL",
                reserve_sql(buckets.len()),
                buckets.len() - 1
            );
            match run_reserve(&mut conn, sql, now, buckets).await {
                Ok(counted) => Ok((now, counted)),
                Err(crate::StoreError::Stale { .. }) => Ok((now, Vec::new())),
                Err(e) => Err(e),
            }
        }
    }
}

/// The reserving statement for `n` buckets: `$1` is now, then key, free, window and mode per bucket.
fn reserve_sql(n_buckets: usize) -> String {
    let rows: Vec<String> = params(n_buckets, 2, 4, 4)
        .into_iter()
        .map(|p| format!("({p})"))
        .collect();
    let keys: Vec<String> = (0..n_buckets).map(|i| format!("${}", 2 + i * 4)).collect();
    let t = "guard_buckets";
    let stale = format!("({t}.started_us + excluded.window_us <= $1)");
    let n = format!("(CASE WHEN {stale} THEN 1 ELSE {t}.hits + 1 END)");
    let start =
        format!("(CASE WHEN {stale} OR excluded.quota <> 1 THEN $1 ELSE {t}.started_us END)");
    format!(
        "INSERT INTO {t} (key, free, window_us, quota, hits, started_us, next_us) \
         SELECT v.column1, v.column2, v.column3, v.column4, 1, $1, {first} \
         FROM (VALUES {rows}) AS v \
         WHERE NOT EXISTS (SELECT 1 FROM {t} b WHERE b.key IN ({keys}) \
                           AND b.next_us > $1 AND b.started_us + b.window_us > $1) \
         ON CONFLICT (key) DO UPDATE SET \
           hits = {n}, \
           started_us = {start}, \
           next_us = {next}, \
           free = excluded.free, window_us = excluded.window_us, quota = excluded.quota \
         WHERE {t}.next_us <= $1 OR {stale} \
         RETURNING key",
        first = next_sql("1", "$1", "v.column2", "v.column3", "v.column4"),
        rows = rows.join(", "),
        keys = keys.join(", "),
        next = next_sql(
            &n,
            &start,
            "excluded.free",
            "excluded.window_us",
            "excluded.quota"
        ),
    )
}

/// The buckets among `keys` that hold attempts back now, each with the time it lets the next one through.
pub async fn holding(
    x: &mut impl Exec,
    now: OffsetDateTime,
    keys: &[&str],
) -> Result<Vec<(String, OffsetDateTime)>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = (0..keys.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT key, next_us, started_us + window_us AS ends FROM guard_buckets \
         WHERE key IN ({}) AND next_us > $1 AND started_us + window_us > $1",
        list.join(", ")
    );
    let rows: Vec<(String, i64, i64)> = on_engine!(x, |c| {
        let mut q = sqlx::query_as::<_, (String, i64, i64)>(AssertSqlSafe(sql.clone()))
            .bind(to_micros(now));
        for k in keys {
            q = q.bind(*k);
        }
        q.fetch_all(&mut *c).await?
    });
    rows.into_iter()
        .map(|(k, next, ends)| Ok((k, crate::from_micros(next.min(ends))?)))
        .collect()
}

/// Settles a reservation whose attempt proved its secret: the `reset` buckets (the account's) start again
/// from nothing, and the `refund` buckets (the client's) get their hit back, so only failures add up there.
pub async fn settle(
    x: &mut impl Exec,
    now: OffsetDateTime,
    reset: &[&str],
    refund: &[&str],
) -> Result<()> {
    if reset.is_empty() && refund.is_empty() {
        return Ok(());
    }
    let resets: Vec<String> = (0..reset.len()).map(|i| format!("${}", i + 2)).collect();
    let all: Vec<String> = (0..reset.len() + refund.len())
        .map(|i| format!("${}", i + 2))
        .collect();
    // `IN (NULL)` matches nothing, on both engines.
    let resets = if resets.is_empty() {
        "NULL".to_owned()
    } else {
        resets.join(", ")
    };
    let sql = format!(
        "UPDATE guard_buckets SET \
           hits = CASE WHEN key IN ({resets}) THEN 0 WHEN hits > 0 THEN hits - 1 ELSE 0 END, \
           next_us = CASE WHEN key IN ({resets}) THEN 0 ELSE next_us END \
         WHERE key IN ({})",
        all.join(", ")
    );
    let mut w = Write::new("guard_buckets", sql).bind(to_micros(now));
    for k in reset.iter().chain(refund) {
        w = w.bind(*k);
    }
    w.run(x).await
}

/// Removes buckets that neither hold anything back nor remember anything any more.
pub async fn sweep(x: &mut impl Exec, now: OffsetDateTime) -> Result<u64> {
    let sql = "DELETE FROM guard_buckets WHERE next_us <= $1 AND started_us + window_us <= $1";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(to_micros(now))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parameters_per_row() {
        assert_eq!(params(2, 2, 4, 4), vec!["$2, $3, $4, $5", "$6, $7, $8, $9"]);
    }

    #[test]
    fn the_delay_schedule_is_capped() {
        let sql = next_sql("n", "s", "f", "w", "q");
        assert!(sql.contains("WHEN 0 THEN 1 "), "{sql}");
        assert!(sql.contains("WHEN 8 THEN 256 "), "{sql}");
        assert!(sql.contains(">= 9 THEN $1 + 300000000"), "{sql}");
    }
}
