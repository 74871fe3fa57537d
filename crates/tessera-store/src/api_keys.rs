//! Admin API keys. Only keyed hashes of the secrets are stored.
use tessera_model::api_key::{ApiKey, Role};
use tessera_model::{ApiKeyId, TenantId};
use time::OffsetDateTime;

use crate::{Cols, Exec, Result, Ts, on_engine, parse_text};

macro_rules! columns {
    () => {
        "id, tenant_id, name, role, display_prefix, created_at, created_by, expires_at, revoked_at"
    };
}

fn from_row(r: &impl Cols) -> Result<ApiKey> {
    Ok(ApiKey {
        id: ApiKeyId(r.uuid("id")?),
        tenant_id: r.opt_uuid("tenant_id")?.map(TenantId),
        name: r.text("name")?,
        role: parse_text("role", &r.text("role")?, Role::parse)?,
        prefix: r.text("display_prefix")?,
        created_at: r.ts("created_at")?,
        created_by: r.text("created_by")?,
        expires_at: r.opt_ts("expires_at")?,
        revoked_at: r.opt_ts("revoked_at")?,
    })
}

/// Stores a key with the keyed hash of its secret. A live key with the same name is a `Conflict`.
pub async fn insert(x: &mut impl Exec, k: &ApiKey, secret_hash: &[u8]) -> Result<()> {
    let sql = "INSERT INTO api_keys (id, tenant_id, name, role, secret_hash, display_prefix, created_at, created_by, expires_at, revoked_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(k.id.0)
        .bind(k.tenant_id.map(|t| t.0))
        .bind(&k.name)
        .bind(k.role.as_str())
        .bind(secret_hash)
        .bind(&k.prefix)
        .bind(Ts(k.created_at))
        .bind(&k.created_by)
        .bind(k.expires_at.map(Ts))
        .bind(k.revoked_at.map(Ts))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// The key whose secret hashes to `hash`, whatever its state; the caller checks expiry and revocation.
pub async fn by_secret_hash(x: &mut impl Exec, hash: &[u8]) -> Result<Option<ApiKey>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM api_keys WHERE secret_hash = $1"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(hash)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// Whether `hash` is the secret hash of the key with this id (used by `apply` to leave matching keys alone).
pub async fn secret_matches(x: &mut impl Exec, id: ApiKeyId, hash: &[u8]) -> Result<bool> {
    let sql = "SELECT COUNT(*) FROM api_keys WHERE id = $1 AND secret_hash = $2";
    let n: i64 = on_engine!(x, |c| sqlx::query_scalar(sql)
        .bind(id.0)
        .bind(hash)
        .fetch_one(&mut *c)
        .await?);
    Ok(n == 1)
}

/// One key by id.
pub async fn by_id(x: &mut impl Exec, id: ApiKeyId) -> Result<Option<ApiKey>> {
    let sql = concat!("SELECT ", columns!(), " FROM api_keys WHERE id = $1");
    on_engine!(x, |c| sqlx::query(sql)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// The live (unrevoked) key with this name.
pub async fn live_by_name(x: &mut impl Exec, name: &str) -> Result<Option<ApiKey>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM api_keys WHERE name = $1 AND revoked_at IS NULL"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(name)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// Keys visible to a scope: `None` lists every key, `Some(t)` only that tenant's.
pub async fn list(x: &mut impl Exec, tenant: Option<TenantId>) -> Result<Vec<ApiKey>> {
    match tenant {
        None => {
            let sql = concat!(
                "SELECT ",
                columns!(),
                " FROM api_keys ORDER BY created_at, id"
            );
            on_engine!(x, |c| sqlx::query(sql)
                .fetch_all(&mut *c)
                .await?
                .iter()
                .map(from_row)
                .collect())
        }
        Some(t) => {
            let sql = concat!(
                "SELECT ",
                columns!(),
                " FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id"
            );
            on_engine!(x, |c| sqlx::query(sql)
                .bind(t.0)
                .fetch_all(&mut *c)
                .await?
                .iter()
                .map(from_row)
                .collect())
        }
    }
}

/// Revokes a key now; false if it was already revoked or does not exist.
pub async fn revoke(x: &mut impl Exec, id: ApiKeyId, now: OffsetDateTime) -> Result<bool> {
    let sql = "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(id.0)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// How many keys exist at all; zero means the deployment still needs its bootstrap key.
pub async fn count(x: &mut impl Exec) -> Result<i64> {
    Ok(on_engine!(x, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_keys"
    )
    .fetch_one(&mut *c)
    .await?))
}
