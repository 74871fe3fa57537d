//! The authorization code flow's state: stored authorization requests (kept while the customer signs in)
//! and authorization codes. Codes are stored only as keyed hashes and redeemed by one conditional
//! statement, so of any number of concurrent redemptions exactly one wins (OA-04, A-22).
use tessera_model::{IdentityId, TenantId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Cols, Exec, Result, Ts, on_engine};

/// A stored authorization request. `request` is the core's typed request as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRequest {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub client_id: String,
    /// Keyed hash of the flow-binding cookie of the browser that made the request.
    pub binding_hash: Vec<u8>,
    pub request: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub consumed_at: Option<OffsetDateTime>,
}

macro_rules! request_columns {
    () => {
        "id, tenant_id, client_id, binding_hash, request, created_at, expires_at, consumed_at"
    };
}

fn request_from_row(r: &impl Cols) -> Result<StoredRequest> {
    Ok(StoredRequest {
        id: r.uuid("id")?,
        tenant_id: TenantId(r.uuid("tenant_id")?),
        client_id: r.text("client_id")?,
        binding_hash: r.bytes("binding_hash")?,
        request: r.text("request")?,
        created_at: r.ts("created_at")?,
        expires_at: r.ts("expires_at")?,
        consumed_at: r.opt_ts("consumed_at")?,
    })
}

/// Stores a request.
pub async fn insert_request(x: &mut impl Exec, r: &StoredRequest) -> Result<()> {
    let sql = concat!(
        "INSERT INTO oauth_authorization_requests (",
        request_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(r.id)
        .bind(r.tenant_id.0)
        .bind(&r.client_id)
        .bind(&r.binding_hash)
        .bind(&r.request)
        .bind(Ts(r.created_at))
        .bind(Ts(r.expires_at))
        .bind(r.consumed_at.map(Ts))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// A request of the tenant by id, in any state; the caller checks binding, expiry and consumption.
pub async fn request(
    x: &mut impl Exec,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<StoredRequest>> {
    let sql = concat!(
        "SELECT ",
        request_columns!(),
        " FROM oauth_authorization_requests WHERE tenant_id = $1 AND id = $2"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| request_from_row(&r))
        .transpose())
}

/// Consumes a live request; true for exactly one caller.
pub async fn consume_request(x: &mut impl Exec, id: Uuid, now: OffsetDateTime) -> Result<bool> {
    let sql = "UPDATE oauth_authorization_requests SET consumed_at = $1 WHERE id = $2 AND consumed_at IS NULL AND expires_at > $1";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// An authorization code as stored (without the code: only its keyed hash).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCode {
    pub code_hash: Vec<u8>,
    pub tenant_id: TenantId,
    pub client_id: String,
    pub identity_id: IdentityId,
    pub session_id: Uuid,
    /// Exactly as the authorization request sent it; the token request must send the same string.
    pub redirect_uri: String,
    /// The S256 challenge, when the request had one.
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    /// Space-separated, as granted.
    pub scopes: String,
    pub auth_time: OffsetDateTime,
    /// JSON array of `amr` values.
    pub amr: String,
    pub acr: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub reused_at: Option<OffsetDateTime>,
    pub access_token_jti: Option<String>,
    pub access_token_expires_at: Option<OffsetDateTime>,
    pub refresh_family: Option<String>,
}

macro_rules! code_columns {
    () => {
        "code_hash, tenant_id, client_id, identity_id, session_id, redirect_uri, code_challenge, nonce, scopes, auth_time, amr, acr, created_at, expires_at, used_at, reused_at, access_token_jti, access_token_expires_at, refresh_family"
    };
}

fn code_from_row(r: &impl Cols) -> Result<StoredCode> {
    Ok(StoredCode {
        code_hash: r.bytes("code_hash")?,
        tenant_id: TenantId(r.uuid("tenant_id")?),
        client_id: r.text("client_id")?,
        identity_id: IdentityId(r.uuid("identity_id")?),
        session_id: r.uuid("session_id")?,
        redirect_uri: r.text("redirect_uri")?,
        code_challenge: r.opt_text("code_challenge")?,
        nonce: r.opt_text("nonce")?,
        scopes: r.text("scopes")?,
        auth_time: r.ts("auth_time")?,
        amr: r.text("amr")?,
        acr: r.opt_text("acr")?,
        created_at: r.ts("created_at")?,
        expires_at: r.ts("expires_at")?,
        used_at: r.opt_ts("used_at")?,
        reused_at: r.opt_ts("reused_at")?,
        access_token_jti: r.opt_text("access_token_jti")?,
        access_token_expires_at: r.opt_ts("access_token_expires_at")?,
        refresh_family: r.opt_text("refresh_family")?,
    })
}

/// Stores a new code.
pub async fn insert_code(x: &mut impl Exec, k: &StoredCode) -> Result<()> {
    let sql = concat!(
        "INSERT INTO oauth_codes (",
        code_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(&k.code_hash)
        .bind(k.tenant_id.0)
        .bind(&k.client_id)
        .bind(k.identity_id.0)
        .bind(k.session_id)
        .bind(&k.redirect_uri)
        .bind(k.code_challenge.as_deref())
        .bind(k.nonce.as_deref())
        .bind(&k.scopes)
        .bind(Ts(k.auth_time))
        .bind(&k.amr)
        .bind(k.acr.as_deref())
        .bind(Ts(k.created_at))
        .bind(Ts(k.expires_at))
        .bind(k.used_at.map(Ts))
        .bind(k.reused_at.map(Ts))
        .bind(k.access_token_jti.as_deref())
        .bind(k.access_token_expires_at.map(Ts))
        .bind(k.refresh_family.as_deref())
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Marks the client's code used if nobody did before, returning it; `None` when unknown, another client's,
/// or already used. One statement, so exactly one of concurrent callers gets the code. Expiry is the
/// caller's check (an expired code is burned all the same).
pub async fn redeem_code(
    x: &mut impl Exec,
    tenant: TenantId,
    client_id: &str,
    code_hash: &[u8],
    now: OffsetDateTime,
) -> Result<Option<StoredCode>> {
    let sql = concat!(
        "UPDATE oauth_codes SET used_at = $1 WHERE tenant_id = $2 AND client_id = $3 AND code_hash = $4 AND used_at IS NULL RETURNING ",
        code_columns!()
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(tenant.0)
        .bind(client_id)
        .bind(code_hash)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| code_from_row(&r))
        .transpose())
}

/// Burns the identity's unredeemed codes of a client (its consent was withdrawn): each is marked used,
/// so redeeming it is refused like any used code. How many went.
pub async fn burn_codes(
    x: &mut impl Exec,
    tenant: TenantId,
    identity: IdentityId,
    client_id: &str,
    now: OffsetDateTime,
) -> Result<u64> {
    let sql = "UPDATE oauth_codes SET used_at = $1 WHERE expires_at > $1 AND tenant_id = $2 \
               AND identity_id = $3 AND client_id = $4 AND used_at IS NULL";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(tenant.0)
        .bind(identity.0)
        .bind(client_id)
        .execute(&mut *c)
        .await?
        .rows_affected()))
}

/// Records that a used code of the client was presented again, returning the code as it stands (what its
/// first redemption issued, to revoke); `None` when the client has no such used code.
pub async fn mark_reused(
    x: &mut impl Exec,
    tenant: TenantId,
    client_id: &str,
    code_hash: &[u8],
    now: OffsetDateTime,
) -> Result<Option<StoredCode>> {
    let sql = concat!(
        "UPDATE oauth_codes SET reused_at = COALESCE(reused_at, $1) WHERE tenant_id = $2 AND client_id = $3 AND code_hash = $4 AND used_at IS NOT NULL RETURNING ",
        code_columns!()
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(tenant.0)
        .bind(client_id)
        .bind(code_hash)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| code_from_row(&r))
        .transpose())
}

/// Records what the redemption of a code issued. Returns whether the code was presented again meanwhile
/// (then the caller revokes what it just issued).
pub async fn record_issued(
    x: &mut impl Exec,
    code_hash: &[u8],
    access_token_jti: &str,
    access_token_expires_at: OffsetDateTime,
    refresh_family: Option<&str>,
) -> Result<bool> {
    let sql = "UPDATE oauth_codes SET access_token_jti = $1, access_token_expires_at = $2, refresh_family = $3 WHERE code_hash = $4 RETURNING reused_at";
    let row = on_engine!(x, |c| sqlx::query(sql)
        .bind(access_token_jti)
        .bind(Ts(access_token_expires_at))
        .bind(refresh_family)
        .bind(code_hash)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| r.opt_ts("reused_at"))
        .transpose()?);
    Ok(matches!(row, Some(Some(_))))
}

/// Deletes requests that expired before `requests_before` and codes that expired before `codes_before`;
/// how many rows went.
pub async fn purge_expired(
    x: &mut impl Exec,
    requests_before: OffsetDateTime,
    codes_before: OffsetDateTime,
) -> Result<u64> {
    let mut n = 0;
    for (sql, before) in [
        (
            "DELETE FROM oauth_authorization_requests WHERE expires_at < $1",
            requests_before,
        ),
        (
            "DELETE FROM oauth_codes WHERE expires_at < $1",
            codes_before,
        ),
    ] {
        n += on_engine!(x, |c| sqlx::query(sql)
            .bind(Ts(before))
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    Ok(n)
}
