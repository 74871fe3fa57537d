//! Deployment-wide facts the database must remember (for example, that the first start happened).
use crate::{Exec, Result, on_engine};

/// A stored value.
pub async fn get(x: &mut impl Exec, key: &str) -> Result<Option<String>> {
    let sql = "SELECT value FROM instance_meta WHERE key = $1";
    Ok(on_engine!(x, |c| sqlx::query_scalar(sql)
        .bind(key)
        .fetch_optional(&mut *c)
        .await?))
}

/// Stores a value only if the key is not set yet; returns whether this call set it. Two nodes starting
/// together therefore agree on one value.
pub async fn put_if_absent(x: &mut impl Exec, key: &str, value: &str) -> Result<bool> {
    let sql = "INSERT INTO instance_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(key)
        .bind(value)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}
