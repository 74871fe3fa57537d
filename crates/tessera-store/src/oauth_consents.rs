//! Consents customers gave to third-party apps: per (identity, client), the scopes allowed.
use tessera_model::{IdentityId, TenantId};
use time::OffsetDateTime;

use crate::{Cols, Exec, Result, Ts, on_engine};

/// A consent as stored. `scopes` are the union of every consent given to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Consent {
    pub tenant_id: TenantId,
    pub identity_id: IdentityId,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

fn from_row(r: &impl Cols) -> Result<Consent> {
    Ok(Consent {
        tenant_id: TenantId(r.uuid("tenant_id")?),
        identity_id: IdentityId(r.uuid("identity_id")?),
        client_id: r.text("client_id")?,
        scopes: r
            .text("scopes")?
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

macro_rules! columns {
    () => {
        "tenant_id, identity_id, client_id, scopes, created_at, updated_at"
    };
}

/// The identity's consent to the client, if it gave one.
pub async fn get(
    x: &mut impl Exec,
    tenant: TenantId,
    identity: IdentityId,
    client_id: &str,
) -> Result<Option<Consent>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM oauth_consents WHERE tenant_id = $1 AND identity_id = $2 AND client_id = $3"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(identity.0)
        .bind(client_id)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// Stores the consent, replacing the scopes of an earlier one (the caller passes the union).
pub async fn put(x: &mut impl Exec, c: &Consent) -> Result<()> {
    let sql = concat!(
        "INSERT INTO oauth_consents (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, identity_id, client_id) \
         DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at"
    );
    on_engine!(x, |conn| sqlx::query(sql)
        .bind(c.tenant_id.0)
        .bind(c.identity_id.0)
        .bind(&c.client_id)
        .bind(c.scopes.join(" "))
        .bind(Ts(c.created_at))
        .bind(Ts(c.updated_at))
        .execute(&mut *conn)
        .await
        .map(drop)?);
    Ok(())
}

/// The identity's consents, by client id.
pub async fn of_identity(
    x: &mut impl Exec,
    tenant: TenantId,
    identity: IdentityId,
) -> Result<Vec<Consent>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM oauth_consents WHERE tenant_id = $1 AND identity_id = $2 ORDER BY client_id"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(identity.0)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect())
}

/// Withdraws the consent; whether there was one.
pub async fn delete(
    x: &mut impl Exec,
    tenant: TenantId,
    identity: IdentityId,
    client_id: &str,
) -> Result<bool> {
    let sql =
        "DELETE FROM oauth_consents WHERE tenant_id = $1 AND identity_id = $2 AND client_id = $3";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(identity.0)
        .bind(client_id)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Forgets every consent given to a client (it was deleted); how many went.
pub async fn delete_for_client(
    x: &mut impl Exec,
    tenant: TenantId,
    client_id: &str,
) -> Result<u64> {
    let sql = "DELETE FROM oauth_consents WHERE tenant_id = $1 AND client_id = $2";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(client_id)
        .execute(&mut *c)
        .await?
        .rows_affected()))
}
