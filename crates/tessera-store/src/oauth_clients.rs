//! OAuth clients, their secrets' keyed hashes, the `jti`s of their assertions, and revoked access tokens.
//! The registration is one JSON document the core reads and checks as a whole.
use tessera_model::TenantId;
use time::OffsetDateTime;

use crate::{Cols, Exec, Result, Ts, on_engine};

/// A client row: the registration document and the secret hashes, which never leave the core.
#[derive(Clone)]
pub struct StoredClient {
    pub tenant_id: TenantId,
    pub client_id: String,
    pub data: serde_json::Value,
    pub secret_hash: Option<Vec<u8>>,
    pub previous_secret_hash: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

impl std::fmt::Debug for StoredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredClient")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

macro_rules! columns {
    () => {
        "tenant_id, client_id, data, secret_hash, previous_secret_hash, previous_secret_expires_at, created_at, updated_at, version"
    };
}

fn from_row(r: &impl Cols) -> Result<StoredClient> {
    Ok(StoredClient {
        tenant_id: TenantId(r.uuid("tenant_id")?),
        client_id: r.text("client_id")?,
        data: r.json("data")?,
        secret_hash: r.opt_bytes("secret_hash")?,
        previous_secret_hash: r.opt_bytes("previous_secret_hash")?,
        previous_secret_expires_at: r.opt_ts("previous_secret_expires_at")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
        version: r.int("version")?,
    })
}

/// Adds a client; a client id already used in the tenant is a `Conflict`.
pub async fn insert(x: &mut impl Exec, c: &StoredClient) -> Result<()> {
    let data = sqlx::types::Json(&c.data);
    on_engine!(x, |conn| {
        let sql = concat!(
            "INSERT INTO oauth_clients (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        sqlx::query(sql)
            .bind(c.tenant_id.0)
            .bind(&c.client_id)
            .bind(data)
            .bind(c.secret_hash.as_deref())
            .bind(c.previous_secret_hash.as_deref())
            .bind(c.previous_secret_expires_at.map(Ts))
            .bind(Ts(c.created_at))
            .bind(Ts(c.updated_at))
            .bind(c.version)
            .execute(&mut *conn)
            .await
            .map(drop)?
    });
    Ok(())
}

/// The client, if the tenant has it.
pub async fn get(
    x: &mut impl Exec,
    tenant: TenantId,
    client_id: &str,
) -> Result<Option<StoredClient>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM oauth_clients WHERE tenant_id = $1 AND client_id = $2"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(client_id)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// The tenant's clients in client-id order, `limit` of them after `after`.
pub async fn list(
    x: &mut impl Exec,
    tenant: TenantId,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<StoredClient>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM oauth_clients WHERE tenant_id = $1 AND client_id > $2 ORDER BY client_id LIMIT $3"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect())
}

/// Replaces the registration document and secret hashes if the row is still at `expected_version`;
/// the caller has set `c.version` to the next one. False when the row changed (or went) meanwhile.
pub async fn update(x: &mut impl Exec, c: &StoredClient, expected_version: i64) -> Result<bool> {
    let data = sqlx::types::Json(&c.data);
    let sql = "UPDATE oauth_clients SET data = $1, secret_hash = $2, previous_secret_hash = $3, \
               previous_secret_expires_at = $4, updated_at = $5, version = $6 \
               WHERE tenant_id = $7 AND client_id = $8 AND version = $9";
    let done = on_engine!(x, |conn| sqlx::query(sql)
        .bind(data)
        .bind(c.secret_hash.as_deref())
        .bind(c.previous_secret_hash.as_deref())
        .bind(c.previous_secret_expires_at.map(Ts))
        .bind(Ts(c.updated_at))
        .bind(c.version)
        .bind(c.tenant_id.0)
        .bind(&c.client_id)
        .bind(expected_version)
        .execute(&mut *conn)
        .await?
        .rows_affected());
    Ok(done == 1)
}

/// Removes the client. Whether it existed.
pub async fn delete(x: &mut impl Exec, tenant: TenantId, client_id: &str) -> Result<bool> {
    let sql = "DELETE FROM oauth_clients WHERE tenant_id = $1 AND client_id = $2";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(client_id)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Records an assertion's `jti` for the client until `expires_at`; false when it was already used.
pub async fn use_jti(
    x: &mut impl Exec,
    tenant: TenantId,
    client_id: &str,
    jti: &str,
    expires_at: OffsetDateTime,
) -> Result<bool> {
    let sql = "INSERT INTO oauth_client_jtis (tenant_id, client_id, jti, expires_at) \
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(client_id)
        .bind(jti)
        .bind(Ts(expires_at))
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Marks an access token revoked until it would have expired anyway.
pub async fn revoke_token(
    x: &mut impl Exec,
    tenant: TenantId,
    jti: &str,
    expires_at: OffsetDateTime,
) -> Result<()> {
    let sql = "INSERT INTO oauth_revoked_tokens (tenant_id, jti, expires_at) VALUES ($1, $2, $3) \
               ON CONFLICT DO NOTHING";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(jti)
        .bind(Ts(expires_at))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Whether the access token with this `jti` was revoked.
pub async fn is_revoked(x: &mut impl Exec, tenant: TenantId, jti: &str) -> Result<bool> {
    let sql = "SELECT 1 AS one FROM oauth_revoked_tokens WHERE tenant_id = $1 AND jti = $2";
    on_engine!(x, |c| Ok(sqlx::query(sql)
        .bind(tenant.0)
        .bind(jti)
        .fetch_optional(&mut *c)
        .await?
        .is_some()))
}

/// Forgets used `jti`s and revocations whose tokens have expired; how many rows went.
pub async fn purge_expired(x: &mut impl Exec, now: OffsetDateTime) -> Result<u64> {
    let mut n = 0;
    for sql in [
        "DELETE FROM oauth_client_jtis WHERE expires_at < $1",
        "DELETE FROM oauth_revoked_tokens WHERE expires_at < $1",
    ] {
        n += on_engine!(x, |c| sqlx::query(sql)
            .bind(Ts(now))
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    Ok(n)
}
