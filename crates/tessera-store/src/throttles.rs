//! Failure counters for throttling, kept in the database so they hold across nodes and restarts.
use time::OffsetDateTime;

use crate::{Exec, Result, Ts, on_engine};

/// Counts one failure atomically and returns `(failures, previous failure time)`. Counters older than
/// `reset_before` start again from one.
pub async fn record_failure(
    x: &mut impl Exec,
    key: &str,
    now: OffsetDateTime,
    reset_before: OffsetDateTime,
) -> Result<i64> {
    let sql = "INSERT INTO throttles (key, failures, last_failure_at) VALUES ($1, 1, $2) \
               ON CONFLICT (key) DO UPDATE SET \
                 failures = CASE WHEN throttles.last_failure_at < $3 THEN 1 ELSE throttles.failures + 1 END, \
                 last_failure_at = excluded.last_failure_at \
               RETURNING failures";
    Ok(on_engine!(x, |c| sqlx::query_scalar(sql)
        .bind(key)
        .bind(Ts(now))
        .bind(Ts(reset_before))
        .fetch_one(&mut *c)
        .await?))
}

/// The current count and time of the last failure, if any.
pub async fn get(x: &mut impl Exec, key: &str) -> Result<Option<(i64, OffsetDateTime)>> {
    let sql = "SELECT failures, last_failure_at FROM throttles WHERE key = $1";
    let row = on_engine!(x, |c| {
        match sqlx::query(sql).bind(key).fetch_optional(&mut *c).await? {
            Some(r) => {
                use crate::Cols;
                Some((r.int("failures")?, r.ts("last_failure_at")?))
            }
            None => None,
        }
    });
    Ok(row)
}

/// Forgets the failures of a key (after a success).
pub async fn clear(x: &mut impl Exec, key: &str) -> Result<()> {
    let sql = "DELETE FROM throttles WHERE key = $1";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(key)
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}
