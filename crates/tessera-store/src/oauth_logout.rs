//! Back-channel logout (OIDC Back-Channel Logout 1.0): which clients got tokens in which SSO session, and
//! the notices owed to them once the session ends. A row is both the participation and the queue item:
//! it becomes due when its session ends and is claimed with a lease like the mail outbox's rows.
use tessera_model::{IdentityId, TenantId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Cols, Exec, RawConn, Result, Ts, on_engine};

/// A notice owed to a client about one ended session.
#[derive(Debug, Clone, PartialEq)]
pub struct LogoutNotice {
    pub id: Uuid,
    pub session_id: Uuid,
    pub tenant_id: TenantId,
    pub client_id: String,
    pub identity_id: IdentityId,
    /// Attempts made, the current one included once claimed.
    pub attempts: i64,
    /// When it is due (again); `None` while its session has not ended (a participation, owed nothing).
    pub next_attempt_at: Option<OffsetDateTime>,
    pub done_at: Option<OffsetDateTime>,
    pub dead_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
}

macro_rules! columns {
    () => {
        "id, session_id, tenant_id, client_id, identity_id, attempts, next_attempt_at, done_at, dead_at, last_error"
    };
}

fn from_row(r: &impl Cols) -> Result<LogoutNotice> {
    Ok(LogoutNotice {
        id: r.uuid("id")?,
        session_id: r.uuid("session_id")?,
        tenant_id: TenantId(r.uuid("tenant_id")?),
        client_id: r.text("client_id")?,
        identity_id: IdentityId(r.uuid("identity_id")?),
        attempts: r.int("attempts")?,
        next_attempt_at: r.opt_ts("next_attempt_at")?,
        done_at: r.opt_ts("done_at")?,
        dead_at: r.opt_ts("dead_at")?,
        last_error: r.opt_text("last_error")?,
    })
}

/// Records that `client_id` got tokens in `session` (once per pair; later codes change nothing).
pub async fn participate(
    x: &mut impl Exec,
    session: Uuid,
    tenant: TenantId,
    client_id: &str,
    identity: IdentityId,
    now: OffsetDateTime,
) -> Result<()> {
    let sql = "INSERT INTO oauth_session_clients (id, session_id, tenant_id, client_id, identity_id, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id, client_id) DO NOTHING";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(Uuid::now_v7())
        .bind(session)
        .bind(tenant.0)
        .bind(client_id)
        .bind(identity.0)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Makes the notices of every ended (revoked) session of `identity` due at `now`; returns how many
/// became due. Run in the transaction that ended sessions, so the notices exist once the end is visible.
pub async fn sessions_ended(
    x: &mut impl Exec,
    identity: IdentityId,
    now: OffsetDateTime,
) -> Result<u64> {
    let sql = "UPDATE oauth_session_clients SET next_attempt_at = $1 \
               WHERE identity_id = $2 AND next_attempt_at IS NULL AND done_at IS NULL AND dead_at IS NULL \
               AND session_id IN (SELECT s.id FROM sessions s WHERE s.identity_id = $2 AND s.revoked_at IS NOT NULL)";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(identity.0)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n)
}

macro_rules! due {
    () => {
        "n.next_attempt_at IS NOT NULL AND n.next_attempt_at <= $3 AND n.done_at IS NULL \
         AND n.dead_at IS NULL AND (n.lease_until IS NULL OR n.lease_until <= $3)"
    };
}

/// Claims up to `limit` due notices for `owner` until `until` and counts the attempt (one statement:
/// `FOR UPDATE SKIP LOCKED` on PostgreSQL, atomic on SQLite's single writer), so a notice is worked by one
/// node at a time.
pub async fn claim(
    x: &mut impl Exec,
    owner: &str,
    until: OffsetDateTime,
    now: OffsetDateTime,
    limit: u32,
) -> Result<Vec<LogoutNotice>> {
    const PG: &str = concat!(
        "UPDATE oauth_session_clients SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
         WHERE id = ANY(ARRAY(SELECT n.id FROM oauth_session_clients n WHERE ",
        due!(),
        " ORDER BY n.next_attempt_at, n.id LIMIT $4 FOR UPDATE OF n SKIP LOCKED)) RETURNING ",
        columns!()
    );
    const SQLITE: &str = concat!(
        "UPDATE oauth_session_clients SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT n.id FROM oauth_session_clients n WHERE ",
        due!(),
        " ORDER BY n.next_attempt_at, n.id LIMIT $4) RETURNING ",
        columns!()
    );
    let rows = match x.ready().await? {
        RawConn::Sqlite(c) => sqlx::query(SQLITE)
            .bind(owner)
            .bind(Ts(until))
            .bind(Ts(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(from_row)
            .collect::<Result<Vec<_>>>()?,
        RawConn::Postgres(c) => sqlx::query(PG)
            .bind(owner)
            .bind(Ts(until))
            .bind(Ts(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(from_row)
            .collect::<Result<Vec<_>>>()?,
    };
    Ok(rows)
}

/// Marks a notice done by the node holding its claim. False when another node holds it now.
pub async fn complete(
    x: &mut impl Exec,
    id: Uuid,
    owner: &str,
    now: OffsetDateTime,
) -> Result<bool> {
    let sql = "UPDATE oauth_session_clients SET done_at = $1, lease_until = NULL, last_error = NULL \
               WHERE id = $2 AND lease_owner = $3 AND done_at IS NULL AND dead_at IS NULL";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(id)
        .bind(owner)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Records a failed attempt by the claim holder: due again at `at`, or given up (`at` None) at `now`.
pub async fn failed(
    x: &mut impl Exec,
    id: Uuid,
    owner: &str,
    at: Option<OffsetDateTime>,
    now: OffsetDateTime,
    error: &str,
) -> Result<bool> {
    let error: String = error.chars().take(500).collect();
    let n = match at {
        Some(at) => {
            let sql = "UPDATE oauth_session_clients SET next_attempt_at = $1, lease_until = NULL, last_error = $2 \
                       WHERE id = $3 AND lease_owner = $4 AND done_at IS NULL AND dead_at IS NULL";
            on_engine!(x, |c| sqlx::query(sql)
                .bind(Ts(at))
                .bind(&error)
                .bind(id)
                .bind(owner)
                .execute(&mut *c)
                .await?
                .rows_affected())
        }
        None => {
            let sql = "UPDATE oauth_session_clients SET dead_at = $1, lease_until = NULL, last_error = $2 \
                       WHERE id = $3 AND lease_owner = $4 AND done_at IS NULL AND dead_at IS NULL";
            on_engine!(x, |c| sqlx::query(sql)
                .bind(Ts(now))
                .bind(&error)
                .bind(id)
                .bind(owner)
                .execute(&mut *c)
                .await?
                .rows_affected())
        }
    };
    Ok(n == 1)
}

/// The notices about one session (for tests and support).
pub async fn of_session(x: &mut impl Exec, session: Uuid) -> Result<Vec<LogoutNotice>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM oauth_session_clients WHERE session_id = $1 ORDER BY client_id"
    );
    let rows = on_engine!(x, |c| sqlx::query(sql)
        .bind(session)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>>>()?);
    Ok(rows)
}

/// Forgets participations of sessions that ended (expired or revoked) before `before` and never became
/// due, and notices settled (done or dead) before it.
pub async fn purge(x: &mut impl Exec, before: OffsetDateTime) -> Result<u64> {
    let sql = "DELETE FROM oauth_session_clients WHERE done_at < $1 OR dead_at < $1 \
               OR (next_attempt_at IS NULL AND session_id IN \
                   (SELECT s.id FROM sessions s WHERE s.expires_at < $1 OR s.revoked_at < $1))";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(before))
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n)
}
