//! Credentials: what an identity proves itself with, one row each, any number per kind. `handle` tells
//! credentials of one kind of one identity apart (empty for a kind held once, such as the password);
//! `data` is the kind's own typed data as JSON, which only the method owning the kind reads.
use tessera_model::{CredentialId, IdentityId, TenantId};
use time::OffsetDateTime;

use crate::{Cols, Exec, Result, Ts, on_engine};

/// A credential as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCredential {
    pub id: CredentialId,
    pub tenant_id: TenantId,
    pub identity_id: IdentityId,
    pub kind: String,
    pub handle: String,
    /// The kind's data as JSON text, exactly as stored (compare-and-set uses it).
    pub data: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

macro_rules! columns {
    () => {
        "id, tenant_id, identity_id, kind, handle, data, created_at, updated_at, last_used_at"
    };
}

fn from_row(r: &impl Cols) -> Result<StoredCredential> {
    Ok(StoredCredential {
        id: CredentialId(r.uuid("id")?),
        tenant_id: TenantId(r.uuid("tenant_id")?),
        identity_id: IdentityId(r.uuid("identity_id")?),
        kind: r.text("kind")?,
        handle: r.text("handle")?,
        data: r.text("data")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
        last_used_at: r.opt_ts("last_used_at")?,
    })
}

/// The credentials of one kind an identity holds, oldest first.
pub async fn of_kind(
    x: &mut impl Exec,
    identity: IdentityId,
    kind: &str,
) -> Result<Vec<StoredCredential>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM credentials WHERE identity_id = $1 AND kind = $2 ORDER BY created_at, id"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(identity.0)
        .bind(kind)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect())
}

/// Every credential of an identity, oldest first.
pub async fn of_identity(x: &mut impl Exec, identity: IdentityId) -> Result<Vec<StoredCredential>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM credentials WHERE identity_id = $1 ORDER BY created_at, id"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(identity.0)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect())
}

/// Creates the credential `(identity, kind, handle)`, or replaces its data when the identity already holds
/// it (a new password replaces the old one; a passkey registered twice is one passkey).
pub async fn put(
    x: &mut impl Exec,
    tenant: TenantId,
    identity: IdentityId,
    kind: &str,
    handle: &str,
    data: &str,
    now: OffsetDateTime,
) -> Result<()> {
    let sql = "INSERT INTO credentials (id, identity_id, tenant_id, kind, handle, data, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
               ON CONFLICT (identity_id, kind, handle) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(CredentialId::new().0)
        .bind(identity.0)
        .bind(tenant.0)
        .bind(kind)
        .bind(handle)
        .bind(data)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Replaces a credential's data only if it is still `old` (a rehash racing a password change must not
/// win), and records the use.
pub async fn replace_if(
    x: &mut impl Exec,
    id: CredentialId,
    old: &str,
    new: &str,
    now: OffsetDateTime,
) -> Result<bool> {
    let sql = "UPDATE credentials SET data = $1, updated_at = $2, last_used_at = $2 WHERE id = $3 AND data = $4";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(new)
        .bind(Ts(now))
        .bind(id.0)
        .bind(old)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Removes one credential of an identity; false when it holds no such credential.
pub async fn delete(x: &mut impl Exec, identity: IdentityId, id: CredentialId) -> Result<bool> {
    let sql = "DELETE FROM credentials WHERE identity_id = $1 AND id = $2";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(identity.0)
        .bind(id.0)
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
