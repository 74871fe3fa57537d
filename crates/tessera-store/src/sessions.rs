//! Server-side sessions. The cookie holds a random token; only its keyed hash is stored.
use crate::behind::Write;
use tessera_model::{IdentityId, TenantId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Cols, Exec, Result, Ts, on_engine};

/// A session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSession {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub identity_id: IdentityId,
    /// Authenticator assurance level reached (1 = one factor).
    pub aal: i64,
    /// Methods used (`pwd`, `otp`…), as in OIDC `amr`.
    pub amr: Vec<String>,
    /// When each method (by its id) was last proven in this session: step-up asks for recent factors.
    pub factors: std::collections::BTreeMap<String, OffsetDateTime>,
    pub created_at: OffsetDateTime,
    /// When the customer last proved a factor (for "recent sign-in" checks).
    pub authenticated_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub idle_expires_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl StoredSession {
    /// Not revoked, and neither its absolute nor its idle lifetime over at `now`: the one test of a
    /// session's life, wherever something hangs on it (a code, a device grant, an access token).
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at && now < self.idle_expires_at
    }
}

macro_rules! columns {
    () => {
        "id, tenant_id, identity_id, aal, amr, factors, created_at, authenticated_at, last_seen_at, idle_expires_at, expires_at, revoked_at, user_agent, ip"
    };
}

fn from_row(r: &impl Cols) -> Result<StoredSession> {
    Ok(StoredSession {
        id: r.uuid("id")?,
        tenant_id: TenantId(r.uuid("tenant_id")?),
        identity_id: IdentityId(r.uuid("identity_id")?),
        aal: r.int("aal")?,
        amr: serde_json::from_str(&r.text("amr")?)
            .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?,
        factors: factors_from_text(&r.text("factors")?)?,
        created_at: r.ts("created_at")?,
        authenticated_at: r.ts("authenticated_at")?,
        last_seen_at: r.ts("last_seen_at")?,
        idle_expires_at: r.ts("idle_expires_at")?,
        expires_at: r.ts("expires_at")?,
        revoked_at: r.opt_ts("revoked_at")?,
        user_agent: r.opt_text("user_agent")?,
        ip: r.opt_text("ip")?,
    })
}

/// Factor times are stored as JSON: method id to Unix time in microseconds (what both engines keep).
fn factors_to_text(f: &std::collections::BTreeMap<String, OffsetDateTime>) -> Result<String> {
    let m: std::collections::BTreeMap<&str, i64> = f
        .iter()
        .map(|(k, t)| {
            let us = i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX);
            (k.as_str(), us)
        })
        .collect();
    serde_json::to_string(&m).map_err(|e| crate::StoreError::Other(e.to_string()))
}

fn factors_from_text(text: &str) -> Result<std::collections::BTreeMap<String, OffsetDateTime>> {
    let m: std::collections::BTreeMap<String, i64> =
        serde_json::from_str(text).map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
    m.into_iter()
        .map(|(k, us)| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
                .map(|t| (k, t))
                .map_err(|e| crate::StoreError::Corrupt(e.to_string()))
        })
        .collect()
}

/// A session by id, whatever its state.
pub async fn get(x: &mut impl Exec, id: Uuid) -> Result<Option<StoredSession>> {
    let sql = concat!("SELECT ", columns!(), " FROM sessions WHERE id = $1");
    on_engine!(x, |c| sqlx::query(sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// Stores a new session under the hash of its token.
pub async fn insert(x: &mut impl Exec, s: &StoredSession, token_hash: &[u8]) -> Result<()> {
    let sql = concat!(
        "INSERT INTO sessions (token_hash, ",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    );
    let amr = serde_json::to_string(&s.amr).map_err(|e| crate::StoreError::Other(e.to_string()))?;
    Write::new("sessions", sql)
        .bind(token_hash)
        .bind(s.id)
        .bind(s.tenant_id.0)
        .bind(s.identity_id.0)
        .bind(s.aal)
        .bind(amr)
        .bind(factors_to_text(&s.factors)?)
        .bind(Ts(s.created_at))
        .bind(Ts(s.authenticated_at))
        .bind(Ts(s.last_seen_at))
        .bind(Ts(s.idle_expires_at))
        .bind(Ts(s.expires_at))
        .bind(s.revoked_at.map(Ts))
        .bind(s.user_agent.as_deref())
        .bind(s.ip.as_deref())
        .run(x)
        .await
}

/// The session whose token hashes to `token_hash`, in any state; the caller checks expiry and revocation.
pub async fn by_token_hash(x: &mut impl Exec, token_hash: &[u8]) -> Result<Option<StoredSession>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM sessions WHERE token_hash = $1"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(token_hash)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// Records activity: pushes the idle deadline forward.
pub async fn touch(
    x: &mut impl Exec,
    id: Uuid,
    now: OffsetDateTime,
    idle_expires_at: OffsetDateTime,
) -> Result<()> {
    let sql = "UPDATE sessions SET last_seen_at = $1, idle_expires_at = $2 WHERE id = $3 AND revoked_at IS NULL";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(Ts(idle_expires_at))
        .bind(id)
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Live sessions of an identity, newest first.
pub async fn list_live(
    x: &mut impl Exec,
    identity: IdentityId,
    now: OffsetDateTime,
) -> Result<Vec<StoredSession>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM sessions WHERE identity_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND idle_expires_at > $2 ORDER BY created_at DESC"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(identity.0)
        .bind(Ts(now))
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect())
}

/// Revokes one session of an identity; false if it was not live.
pub async fn revoke(
    x: &mut impl Exec,
    identity: IdentityId,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<bool> {
    let sql = "UPDATE sessions SET revoked_at = $1 WHERE identity_id = $2 AND id = $3 AND revoked_at IS NULL";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(identity.0)
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Revokes every session of an identity except `keep`; returns how many.
pub async fn revoke_all(
    x: &mut impl Exec,
    identity: IdentityId,
    keep: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<u64> {
    let n = match keep {
        Some(k) => {
            let sql = "UPDATE sessions SET revoked_at = $1 WHERE identity_id = $2 AND id <> $3 AND revoked_at IS NULL";
            on_engine!(x, |c| sqlx::query(sql)
                .bind(Ts(now))
                .bind(identity.0)
                .bind(k)
                .execute(&mut *c)
                .await?
                .rows_affected())
        }
        None => {
            let sql =
                "UPDATE sessions SET revoked_at = $1 WHERE identity_id = $2 AND revoked_at IS NULL";
            on_engine!(x, |c| sqlx::query(sql)
                .bind(Ts(now))
                .bind(identity.0)
                .execute(&mut *c)
                .await?
                .rows_affected())
        }
    };
    Ok(n)
}
