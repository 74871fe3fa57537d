//! The device authorization grant's state (RFC 8628). Device and user codes are stored only as keyed
//! hashes. Every change of state is one conditional statement: a poll's bookkeeping is a compare-and-swap
//! on `polls`, a decision only moves a pending grant, and the redemption only takes an approved one, so
//! of any number of concurrent polls exactly one gets the tokens.
use tessera_model::{IdentityId, TenantId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Cols, Exec, Result, Ts, on_engine};

/// Where a device grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Waiting for the customer.
    Pending,
    /// The customer allowed it; the next poll gets the tokens.
    Approved,
    /// The customer refused it.
    Denied,
    /// A poll got the tokens.
    Redeemed,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Redeemed => "redeemed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "redeemed" => Self::Redeemed,
            other => {
                return Err(crate::StoreError::Corrupt(format!(
                    "device grant status {other}"
                )));
            }
        })
    }
}

/// A device grant as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceGrant {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub client_id: String,
    pub device_code_hash: Vec<u8>,
    pub user_code_hash: Vec<u8>,
    /// Space-separated.
    pub scopes: String,
    pub status: DeviceStatus,
    pub interval_secs: i64,
    pub polls: i64,
    pub last_polled_at: Option<OffsetDateTime>,
    /// Who decided, once decided (approved: the sign-in behind the tokens).
    pub identity_id: Option<IdentityId>,
    pub session_id: Option<Uuid>,
    pub auth_time: Option<OffsetDateTime>,
    pub acr: Option<String>,
    /// JSON array of method references.
    pub amr: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub decided_at: Option<OffsetDateTime>,
}

/// The sign-in that approved a grant.
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    pub identity_id: IdentityId,
    pub session_id: Uuid,
    pub auth_time: OffsetDateTime,
    pub acr: Option<String>,
    pub amr: String,
}

macro_rules! columns {
    () => {
        "id, tenant_id, client_id, device_code_hash, user_code_hash, scopes, status, interval_secs, polls, last_polled_at, identity_id, session_id, auth_time, acr, amr, created_at, expires_at, decided_at"
    };
}

fn from_row(r: &impl Cols) -> Result<DeviceGrant> {
    Ok(DeviceGrant {
        id: r.uuid("id")?,
        tenant_id: TenantId(r.uuid("tenant_id")?),
        client_id: r.text("client_id")?,
        device_code_hash: r.bytes("device_code_hash")?,
        user_code_hash: r.bytes("user_code_hash")?,
        scopes: r.text("scopes")?,
        status: DeviceStatus::parse(&r.text("status")?)?,
        interval_secs: r.int("interval_secs")?,
        polls: r.int("polls")?,
        last_polled_at: r.opt_ts("last_polled_at")?,
        identity_id: r.opt_uuid("identity_id")?.map(IdentityId),
        session_id: r.opt_uuid("session_id")?,
        auth_time: r.opt_ts("auth_time")?,
        acr: r.opt_text("acr")?,
        amr: r.opt_text("amr")?,
        created_at: r.ts("created_at")?,
        expires_at: r.ts("expires_at")?,
        decided_at: r.opt_ts("decided_at")?,
    })
}

/// Stores a new pending grant.
pub async fn insert(x: &mut impl Exec, g: &DeviceGrant) -> Result<()> {
    let sql = concat!(
        "INSERT INTO oauth_device_grants (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(g.id)
        .bind(g.tenant_id.0)
        .bind(&g.client_id)
        .bind(&g.device_code_hash)
        .bind(&g.user_code_hash)
        .bind(&g.scopes)
        .bind(g.status.as_str())
        .bind(g.interval_secs)
        .bind(g.polls)
        .bind(g.last_polled_at.map(Ts))
        .bind(g.identity_id.map(|i| i.0))
        .bind(g.session_id)
        .bind(g.auth_time.map(Ts))
        .bind(&g.acr)
        .bind(&g.amr)
        .bind(Ts(g.created_at))
        .bind(Ts(g.expires_at))
        .bind(g.decided_at.map(Ts))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// The client's grant with this device code hash, in any state.
pub async fn by_device_code(
    x: &mut impl Exec,
    tenant: TenantId,
    client_id: &str,
    device_code_hash: &[u8],
) -> Result<Option<DeviceGrant>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM oauth_device_grants WHERE tenant_id = $1 AND client_id = $2 AND device_code_hash = $3"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(client_id)
        .bind(device_code_hash)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// The tenant's grant with this user code hash, in any state.
pub async fn by_user_code(
    x: &mut impl Exec,
    tenant: TenantId,
    user_code_hash: &[u8],
) -> Result<Option<DeviceGrant>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM oauth_device_grants WHERE tenant_id = $1 AND user_code_hash = $2"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(user_code_hash)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// The tenant's grant by id, in any state.
pub async fn get(x: &mut impl Exec, tenant: TenantId, id: Uuid) -> Result<Option<DeviceGrant>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM oauth_device_grants WHERE tenant_id = $1 AND id = $2"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// Records a poll when nobody polled since the caller read `seen_polls`: sets the poll time and the
/// interval. False when another poll came first.
pub async fn record_poll(
    x: &mut impl Exec,
    id: Uuid,
    seen_polls: i64,
    now: OffsetDateTime,
    interval_secs: i64,
) -> Result<bool> {
    let sql = "UPDATE oauth_device_grants SET polls = polls + 1, last_polled_at = $1, interval_secs = $2 WHERE id = $3 AND polls = $4";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(interval_secs)
        .bind(id)
        .bind(seen_polls)
        .execute(&mut *c)
        .await?
        .rows_affected())
        == 1)
}

/// Approves a live pending grant for the sign-in `a`. False when it is no longer pending or expired.
pub async fn approve(
    x: &mut impl Exec,
    tenant: TenantId,
    id: Uuid,
    a: &Approval,
    now: OffsetDateTime,
) -> Result<bool> {
    let sql = "UPDATE oauth_device_grants SET status = 'approved', identity_id = $1, session_id = $2, auth_time = $3, acr = $4, amr = $5, decided_at = $6 WHERE tenant_id = $7 AND id = $8 AND status = 'pending' AND expires_at > $6";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(a.identity_id.0)
        .bind(a.session_id)
        .bind(Ts(a.auth_time))
        .bind(&a.acr)
        .bind(&a.amr)
        .bind(Ts(now))
        .bind(tenant.0)
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected())
        == 1)
}

/// Denies a live pending grant. False when it is no longer pending or expired.
pub async fn deny(
    x: &mut impl Exec,
    tenant: TenantId,
    id: Uuid,
    identity: IdentityId,
    now: OffsetDateTime,
) -> Result<bool> {
    let sql = "UPDATE oauth_device_grants SET status = 'denied', identity_id = $1, decided_at = $2 WHERE tenant_id = $3 AND id = $4 AND status = 'pending' AND expires_at > $2";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(identity.0)
        .bind(Ts(now))
        .bind(tenant.0)
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected())
        == 1)
}

/// Takes an approved, unexpired grant for its tokens: true for exactly one caller.
pub async fn redeem(x: &mut impl Exec, id: Uuid, now: OffsetDateTime) -> Result<bool> {
    let sql = "UPDATE oauth_device_grants SET status = 'redeemed' WHERE id = $1 AND status = 'approved' AND expires_at > $2";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(id)
        .bind(Ts(now))
        .execute(&mut *c)
        .await?
        .rows_affected())
        == 1)
}

/// Deletes grants that expired before `before`; how many went.
pub async fn purge_expired(x: &mut impl Exec, before: OffsetDateTime) -> Result<u64> {
    let sql = "DELETE FROM oauth_device_grants WHERE expires_at < $1";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(before))
        .execute(&mut *c)
        .await?
        .rows_affected()))
}
