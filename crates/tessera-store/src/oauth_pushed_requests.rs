//! Pushed authorization requests (RFC 9126): stored under a keyed hash of their `request_uri`'s random
//! part, bound to the client that pushed them, and taken by one conditional statement, so a
//! `request_uri` serves exactly one authorization request (OA-21).
use tessera_model::TenantId;
use time::OffsetDateTime;

use crate::{Cols, Exec, Result, Ts, on_engine};

/// A pushed request as stored. `request` is the core's typed request as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct PushedRequest {
    pub handle_hash: Vec<u8>,
    pub tenant_id: TenantId,
    pub client_id: String,
    pub request: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// Stores a pushed request.
pub async fn insert(x: &mut impl Exec, r: &PushedRequest) -> Result<()> {
    let sql = "INSERT INTO oauth_pushed_requests (handle_hash, tenant_id, client_id, request, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(&r.handle_hash)
        .bind(r.tenant_id.0)
        .bind(&r.client_id)
        .bind(&r.request)
        .bind(Ts(r.created_at))
        .bind(Ts(r.expires_at))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Takes the client's live, unused request with this handle hash, marking it used; its JSON, or `None`
/// when it is unknown, another client's, expired or used, or pushed before `client_since` (by a client of
/// the same id that was deleted since). One statement: of concurrent callers exactly one gets it, and
/// another client's attempt does not burn it.
pub async fn take(
    x: &mut impl Exec,
    tenant: TenantId,
    client_id: &str,
    client_since: OffsetDateTime,
    handle_hash: &[u8],
    now: OffsetDateTime,
) -> Result<Option<String>> {
    let sql = "UPDATE oauth_pushed_requests SET used_at = $1 WHERE tenant_id = $2 AND client_id = $3 AND handle_hash = $4 AND used_at IS NULL AND expires_at > $1 AND created_at >= $5 RETURNING request";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(tenant.0)
        .bind(client_id)
        .bind(handle_hash)
        .bind(Ts(client_since))
        .fetch_optional(&mut *c)
        .await?
        .map(|r| r.text("request"))
        .transpose())
}

/// Deletes requests that expired before `before`; how many went.
pub async fn purge_expired(x: &mut impl Exec, before: OffsetDateTime) -> Result<u64> {
    let sql = "DELETE FROM oauth_pushed_requests WHERE expires_at < $1";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(before))
        .execute(&mut *c)
        .await?
        .rows_affected()))
}
