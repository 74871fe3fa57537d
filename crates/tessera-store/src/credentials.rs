//! Credentials: one row per identity and kind (today: `password`, holding a PHC string).
use tessera_model::{IdentityId, TenantId};
use time::OffsetDateTime;

use crate::{Exec, Result, Ts, on_engine};

/// The secret of one credential kind, if the identity has one.
pub async fn get(x: &mut impl Exec, identity: IdentityId, kind: &str) -> Result<Option<String>> {
    let sql = "SELECT secret FROM credentials WHERE identity_id = $1 AND kind = $2";
    Ok(on_engine!(x, |c| sqlx::query_scalar(sql)
        .bind(identity.0)
        .bind(kind)
        .fetch_optional(&mut *c)
        .await?))
}

/// Sets (creates or replaces) a credential.
pub async fn set(
    x: &mut impl Exec,
    tenant: TenantId,
    identity: IdentityId,
    kind: &str,
    secret: &str,
    now: OffsetDateTime,
) -> Result<()> {
    let sql = "INSERT INTO credentials (identity_id, tenant_id, kind, secret, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
               ON CONFLICT (identity_id, kind) DO UPDATE SET secret = excluded.secret, updated_at = excluded.updated_at";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(identity.0)
        .bind(tenant.0)
        .bind(kind)
        .bind(secret)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Replaces a secret only if it is still `old` (a rehash racing a password change must not win).
pub async fn replace_if(
    x: &mut impl Exec,
    identity: IdentityId,
    kind: &str,
    old: &str,
    new: &str,
    now: OffsetDateTime,
) -> Result<bool> {
    let sql = "UPDATE credentials SET secret = $1, updated_at = $2 WHERE identity_id = $3 AND kind = $4 AND secret = $5";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(new)
        .bind(Ts(now))
        .bind(identity.0)
        .bind(kind)
        .bind(old)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Removes every credential of an identity (pre-account hijacking defence, erasure).
pub async fn delete_all(x: &mut impl Exec, identity: IdentityId) -> Result<u64> {
    let sql = "DELETE FROM credentials WHERE identity_id = $1";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(identity.0)
        .execute(&mut *c)
        .await?
        .rows_affected()))
}
