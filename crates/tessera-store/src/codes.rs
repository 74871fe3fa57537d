//! One-time codes and links (email verification, recovery, email change). Only keyed hashes are stored;
//! every consumption is a single conditional statement, so exactly one concurrent consumer wins.
use tessera_model::flow::FlowId;
use tessera_model::{IdentityId, TenantId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Cols, Exec, Result, Ts, on_engine};

/// A code as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCode {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub identity_id: Option<IdentityId>,
    pub flow_id: Option<FlowId>,
    pub purpose: String,
    /// Where the code was sent (the address being verified).
    pub target: String,
    /// The session that asked for the code, when one did (an email change).
    pub session_id: Option<Uuid>,
    pub code_hash: Vec<u8>,
    pub link_hash: Vec<u8>,
    pub attempts: i64,
    pub expires_at: OffsetDateTime,
    pub consumed_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

macro_rules! columns {
    () => {
        "id, tenant_id, identity_id, flow_id, purpose, target, session_id, code_hash, link_hash, attempts, expires_at, consumed_at, created_at"
    };
}

fn from_row(r: &impl Cols) -> Result<StoredCode> {
    Ok(StoredCode {
        id: r.uuid("id")?,
        tenant_id: TenantId(r.uuid("tenant_id")?),
        identity_id: r.opt_uuid("identity_id")?.map(IdentityId),
        flow_id: r.opt_uuid("flow_id")?.map(FlowId),
        purpose: r.text("purpose")?,
        target: r.text("target")?,
        session_id: r.opt_uuid("session_id")?,
        code_hash: r.bytes("code_hash")?,
        link_hash: r.bytes("link_hash")?,
        attempts: r.int("attempts")?,
        expires_at: r.ts("expires_at")?,
        consumed_at: r.opt_ts("consumed_at")?,
        created_at: r.ts("created_at")?,
    })
}

/// Stores a code.
pub async fn insert(x: &mut impl Exec, code: &StoredCode) -> Result<()> {
    let sql = concat!(
        "INSERT INTO one_time_codes (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(code.id)
        .bind(code.tenant_id.0)
        .bind(code.identity_id.map(|i| i.0))
        .bind(code.flow_id.map(|f| f.0))
        .bind(&code.purpose)
        .bind(&code.target)
        .bind(code.session_id)
        .bind(&code.code_hash)
        .bind(&code.link_hash)
        .bind(code.attempts)
        .bind(Ts(code.expires_at))
        .bind(code.consumed_at.map(Ts))
        .bind(Ts(code.created_at))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Voids every live code of a flow (a new code replaces the old ones).
pub async fn void_for_flow(x: &mut impl Exec, flow: FlowId, now: OffsetDateTime) -> Result<()> {
    let sql =
        "UPDATE one_time_codes SET consumed_at = $1 WHERE flow_id = $2 AND consumed_at IS NULL";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(flow.0)
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Voids every live code and link of an identity except those of `keep_purpose` (a password change,
/// a reset or revoked sessions end every pending proof; the undo links of email changes survive them,
/// since the person they protect may be the one locked out).
pub async fn void_for_identity(
    x: &mut impl Exec,
    identity: IdentityId,
    keep_purpose: &str,
    now: OffsetDateTime,
) -> Result<u64> {
    let sql = "UPDATE one_time_codes SET consumed_at = $1 WHERE identity_id = $2 AND purpose <> $3 AND consumed_at IS NULL";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(identity.0)
        .bind(keep_purpose)
        .execute(&mut *c)
        .await?
        .rows_affected()))
}

/// Voids the live codes of one purpose of an identity: a new one supersedes them, in whichever flow they
/// were issued (REC-02).
pub async fn void_purpose_for_identity(
    x: &mut impl Exec,
    identity: IdentityId,
    purpose: &str,
    now: OffsetDateTime,
) -> Result<u64> {
    let sql = "UPDATE one_time_codes SET consumed_at = $1 WHERE identity_id = $2 AND purpose = $3 AND consumed_at IS NULL";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(identity.0)
        .bind(purpose)
        .execute(&mut *c)
        .await?
        .rows_affected()))
}

/// Voids every live code and link of an identity, undo links included (an account frozen from the
/// notice of an email change keeps no proof in flight at all).
pub async fn void_all_for_identity(
    x: &mut impl Exec,
    identity: IdentityId,
    now: OffsetDateTime,
) -> Result<u64> {
    let sql =
        "UPDATE one_time_codes SET consumed_at = $1 WHERE identity_id = $2 AND consumed_at IS NULL";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(identity.0)
        .execute(&mut *c)
        .await?
        .rows_affected()))
}

/// The newest live code of a flow.
pub async fn live_for_flow(
    x: &mut impl Exec,
    flow: FlowId,
    now: OffsetDateTime,
) -> Result<Option<StoredCode>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM one_time_codes WHERE flow_id = $1 AND consumed_at IS NULL AND expires_at > $2 ORDER BY created_at DESC LIMIT 1"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(flow.0)
        .bind(Ts(now))
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// Counts a failed attempt and returns the new count.
pub async fn count_attempt(x: &mut impl Exec, id: Uuid) -> Result<i64> {
    let sql = "UPDATE one_time_codes SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts";
    Ok(on_engine!(x, |c| sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&mut *c)
        .await?))
}

/// Consumes a code by id if it is still live; true for exactly one caller.
pub async fn consume(x: &mut impl Exec, id: Uuid, now: OffsetDateTime) -> Result<bool> {
    let sql = "UPDATE one_time_codes SET consumed_at = $1 WHERE id = $2 AND consumed_at IS NULL AND expires_at > $1";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Consumes the live code whose link hashes to `link_hash`, returning it; `None` when unknown, used or expired.
pub async fn consume_link(
    x: &mut impl Exec,
    link_hash: &[u8],
    now: OffsetDateTime,
) -> Result<Option<StoredCode>> {
    let sql = concat!(
        "UPDATE one_time_codes SET consumed_at = $1 WHERE link_hash = $2 AND consumed_at IS NULL AND expires_at > $1 RETURNING ",
        columns!()
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(link_hash)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// The live code whose link hashes to `link_hash`, without consuming it.
pub async fn live_by_link(
    x: &mut impl Exec,
    link_hash: &[u8],
    now: OffsetDateTime,
) -> Result<Option<StoredCode>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM one_time_codes WHERE link_hash = $1 AND consumed_at IS NULL AND expires_at > $2"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(link_hash)
        .bind(Ts(now))
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}
