//! Opaque access tokens: what each would say as a JWT, kept under the token's keyed hash until it
//! expires. Only the hash is stored, so the table alone cannot be used to call an API.
use tessera_model::TenantId;
use time::OffsetDateTime;

use crate::{Cols, Exec, Result, Ts, on_engine};

/// Stores a new token's claims (JSON text) under its hash.
pub async fn insert(
    x: &mut impl Exec,
    token_hash: &[u8],
    tenant: TenantId,
    claims: &str,
    expires_at: OffsetDateTime,
) -> Result<()> {
    let sql = "INSERT INTO oauth_access_tokens (token_hash, tenant_id, claims, expires_at) \
               VALUES ($1, $2, $3, $4)";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(token_hash)
        .bind(tenant.0)
        .bind(claims)
        .bind(Ts(expires_at))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// The claims (JSON text) and expiry of the tenant's token with this hash, if there is one.
pub async fn get(
    x: &mut impl Exec,
    tenant: TenantId,
    token_hash: &[u8],
) -> Result<Option<(String, OffsetDateTime)>> {
    let sql = "SELECT claims, expires_at FROM oauth_access_tokens \
               WHERE token_hash = $1 AND tenant_id = $2";
    on_engine!(x, |c| {
        match sqlx::query(sql)
            .bind(token_hash)
            .bind(tenant.0)
            .fetch_optional(&mut *c)
            .await?
        {
            Some(r) => Ok(Some((r.text("claims")?, r.ts("expires_at")?))),
            None => Ok(None),
        }
    })
}

/// Forgets tokens that have expired; how many went.
pub async fn purge_expired(x: &mut impl Exec, now: OffsetDateTime) -> Result<u64> {
    let sql = "DELETE FROM oauth_access_tokens WHERE expires_at < $1";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .execute(&mut *c)
        .await?
        .rows_affected()))
}
