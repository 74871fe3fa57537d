//! OAuth refresh tokens and their families (one family per grant). Tokens are kept only as keyed hashes;
//! spending one is a single conditional UPDATE, so of any number of concurrent uses exactly one wins.
use tessera_model::{IdentityId, TenantId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Cols, Exec, Result, Ts, on_engine};

/// A family: what every token of one grant shares.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub client_id: String,
    pub identity_id: IdentityId,
    /// The SSO session the family lives and dies with; `None` for an offline grant.
    pub session_id: Option<Uuid>,
    pub offline: bool,
    pub auth_time: Option<OffsetDateTime>,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    pub created_at: OffsetDateTime,
    /// The absolute end, however often the tokens rotate.
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_reason: Option<String>,
}

/// One refresh token (by its hash) and the family it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub family: Family,
    pub scopes: Vec<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub spent_at: Option<OffsetDateTime>,
    pub access_jti: Option<String>,
    pub access_expires_at: Option<OffsetDateTime>,
}

/// A token to add to a family.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub token_hash: &'a [u8],
    pub family_id: Uuid,
    pub scopes: &'a [String],
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The access token minted together with this refresh token, so revoking the family reaches it.
    pub access_jti: Option<&'a str>,
    pub access_expires_at: Option<OffsetDateTime>,
}

fn corrupt(e: impl std::fmt::Display) -> crate::StoreError {
    crate::StoreError::Corrupt(e.to_string())
}

fn family_from_row(r: &impl Cols) -> Result<Family> {
    Ok(Family {
        id: r.uuid("family_id")?,
        tenant_id: TenantId(r.uuid("tenant_id")?),
        client_id: r.text("client_id")?,
        identity_id: IdentityId(r.uuid("identity_id")?),
        session_id: r.opt_uuid("session_id")?,
        offline: r.flag("offline")?,
        auth_time: r.opt_ts("auth_time")?,
        acr: r.opt_text("acr")?,
        amr: serde_json::from_str(&r.text("amr")?).map_err(corrupt)?,
        created_at: r.ts("family_created_at")?,
        expires_at: r.ts("family_expires_at")?,
        revoked_at: r.opt_ts("revoked_at")?,
        revoked_reason: r.opt_text("revoked_reason")?,
    })
}

fn token_from_row(r: &impl Cols) -> Result<Token> {
    Ok(Token {
        family: family_from_row(r)?,
        scopes: r
            .text("scopes")?
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: r.ts("created_at")?,
        expires_at: r.ts("expires_at")?,
        spent_at: r.opt_ts("spent_at")?,
        access_jti: r.opt_text("access_jti")?,
        access_expires_at: r.opt_ts("access_expires_at")?,
    })
}

/// Starts a family.
pub async fn insert_family(x: &mut impl Exec, f: &Family) -> Result<()> {
    let sql = "INSERT INTO oauth_refresh_families (id, tenant_id, client_id, identity_id, session_id, \
               offline, auth_time, acr, amr, created_at, expires_at, revoked_at, revoked_reason) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
    let amr = serde_json::to_string(&f.amr).map_err(|e| crate::StoreError::Other(e.to_string()))?;
    on_engine!(x, |c| sqlx::query(sql)
        .bind(f.id)
        .bind(f.tenant_id.0)
        .bind(&f.client_id)
        .bind(f.identity_id.0)
        .bind(f.session_id)
        .bind(f.offline)
        .bind(f.auth_time.map(Ts))
        .bind(f.acr.as_deref())
        .bind(&amr)
        .bind(Ts(f.created_at))
        .bind(Ts(f.expires_at))
        .bind(f.revoked_at.map(Ts))
        .bind(f.revoked_reason.as_deref())
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Adds a token to a family.
pub async fn insert_token(x: &mut impl Exec, t: &NewToken<'_>) -> Result<()> {
    let sql = "INSERT INTO oauth_refresh_tokens (token_hash, family_id, scopes, created_at, expires_at, \
               spent_at, access_jti, access_expires_at) VALUES ($1, $2, $3, $4, $5, NULL, $6, $7)";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(t.token_hash)
        .bind(t.family_id)
        .bind(t.scopes.join(" "))
        .bind(Ts(t.created_at))
        .bind(Ts(t.expires_at))
        .bind(t.access_jti)
        .bind(t.access_expires_at.map(Ts))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// The token whose keyed hash this is, with its family, in whatever state; the caller judges it.
pub async fn by_hash(x: &mut impl Exec, token_hash: &[u8]) -> Result<Option<Token>> {
    let sql = "SELECT t.scopes, t.created_at, t.expires_at, t.spent_at, t.access_jti, \
               t.access_expires_at, f.id AS family_id, f.tenant_id, f.client_id, f.identity_id, \
               f.session_id, f.offline, f.auth_time, f.acr, f.amr, f.created_at AS family_created_at, \
               f.expires_at AS family_expires_at, f.revoked_at, f.revoked_reason \
               FROM oauth_refresh_tokens t JOIN oauth_refresh_families f ON f.id = t.family_id \
               WHERE t.token_hash = $1";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(token_hash)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| token_from_row(&r))
        .transpose())
}

/// The family with id `$1`, its columns named as [`family_from_row`] reads them.
macro_rules! family_by_id {
    () => {
        "SELECT id AS family_id, tenant_id, client_id, identity_id, session_id, offline, auth_time, \
         acr, amr, created_at AS family_created_at, expires_at AS family_expires_at, revoked_at, \
         revoked_reason FROM oauth_refresh_families WHERE id = $1"
    };
}

/// A family by its id.
pub async fn family(x: &mut impl Exec, id: Uuid) -> Result<Option<Family>> {
    on_engine!(x, |c| sqlx::query(family_by_id!())
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| family_from_row(&r))
        .transpose())
}

/// [`family`] inside a rotation's transaction: on PostgreSQL the row stays locked (`FOR SHARE`) until
/// the transaction ends, so a revocation of the family (reuse, the client's revocation, a withdrawn
/// consent) either committed first and is seen here, or waits and then revokes the access token the
/// rotation adds. SQLite's writers run one at a time, so its plain read already holds.
pub async fn family_locked(tx: &mut crate::Tx, id: Uuid) -> Result<Option<Family>> {
    let sql = match tx.raw() {
        crate::RawConn::Sqlite(_) => family_by_id!(),
        crate::RawConn::Postgres(_) => concat!(family_by_id!(), " FOR SHARE"),
    };
    on_engine!(tx, |c| sqlx::query(sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| family_from_row(&r))
        .transpose())
}

/// Spends a token: true for the one caller that found it unspent in a live family. Concurrent callers
/// serialise on the row (PostgreSQL re-reads it after the winner commits; SQLite has one writer), so
/// the others get false.
pub async fn spend(x: &mut impl Exec, token_hash: &[u8], now: OffsetDateTime) -> Result<bool> {
    let sql =
        "UPDATE oauth_refresh_tokens SET spent_at = $1 WHERE token_hash = $2 AND spent_at IS NULL";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(token_hash)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Keeps a spent token's answer (sealed) for its reuse grace, until `until`.
pub async fn set_grace(
    x: &mut impl Exec,
    token_hash: &[u8],
    until: OffsetDateTime,
    answer: &[u8],
) -> Result<()> {
    let sql =
        "UPDATE oauth_refresh_tokens SET grace_until = $1, grace_answer = $2 WHERE token_hash = $3";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(until))
        .bind(answer)
        .bind(token_hash)
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Takes a spent token's kept answer if its grace has not passed and nobody took it yet: one
/// conditional statement, so of any number of reuses at most one gets it.
pub async fn take_grace(
    x: &mut impl Exec,
    token_hash: &[u8],
    now: OffsetDateTime,
) -> Result<Option<Vec<u8>>> {
    let sql = "UPDATE oauth_refresh_tokens SET grace_taken_at = $1 \
               WHERE token_hash = $2 AND grace_answer IS NOT NULL AND grace_until > $1 \
               AND grace_taken_at IS NULL RETURNING grace_answer";
    on_engine!(x, |c| {
        match sqlx::query(sql)
            .bind(Ts(now))
            .bind(token_hash)
            .fetch_optional(&mut *c)
            .await?
        {
            Some(r) => Ok(Some(r.bytes("grace_answer")?)),
            None => Ok(None),
        }
    })
}

/// Revokes a family; true when this call revoked it (false when it already was, or is unknown).
pub async fn revoke_family(
    x: &mut impl Exec,
    family_id: Uuid,
    now: OffsetDateTime,
    reason: &str,
) -> Result<bool> {
    let sql = "UPDATE oauth_refresh_families SET revoked_at = $1, revoked_reason = $2 \
               WHERE id = $3 AND revoked_at IS NULL";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(reason)
        .bind(family_id)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// The access tokens minted with a family's refresh tokens that have not expired yet: `(jti, exp)`.
pub async fn live_access_tokens(
    x: &mut impl Exec,
    family_id: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<(String, OffsetDateTime)>> {
    let sql = "SELECT access_jti, access_expires_at FROM oauth_refresh_tokens \
               WHERE family_id = $1 AND access_jti IS NOT NULL AND access_expires_at > $2";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(family_id)
        .bind(Ts(now))
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| Ok((r.text("access_jti")?, r.ts("access_expires_at")?)))
        .collect())
}

/// The live families of an identity (optionally only those of one client): for revoking them when the
/// identity's access ends or a consent is withdrawn.
pub async fn live_families_of(
    x: &mut impl Exec,
    tenant: TenantId,
    identity: IdentityId,
    client_id: Option<&str>,
) -> Result<Vec<Uuid>> {
    let sql = "SELECT id FROM oauth_refresh_families WHERE tenant_id = $1 AND identity_id = $2 \
               AND revoked_at IS NULL AND ($3 IS NULL OR client_id = $3)";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(identity.0)
        .bind(client_id)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| r.uuid("id"))
        .collect())
}

/// Deletes families whose absolute lifetime ended before `before`, with their tokens, and erases kept
/// reuse-grace answers whose grace has passed; how many rows went or changed.
pub async fn purge_expired(x: &mut impl Exec, before: OffsetDateTime) -> Result<u64> {
    let tokens = "DELETE FROM oauth_refresh_tokens WHERE family_id IN \
                  (SELECT id FROM oauth_refresh_families WHERE expires_at < $1)";
    let families = "DELETE FROM oauth_refresh_families WHERE expires_at < $1";
    // Kept answers whose grace has passed are erased (the rows stay: they still prove reuse).
    let answers = "UPDATE oauth_refresh_tokens SET grace_answer = NULL \
                   WHERE grace_answer IS NOT NULL AND grace_until < $1";
    let mut n = 0;
    for sql in [tokens, families, answers] {
        n += on_engine!(x, |c| sqlx::query(sql)
            .bind(Ts(before))
            .execute(&mut *c)
            .await?
            .rows_affected());
    }
    Ok(n)
}
