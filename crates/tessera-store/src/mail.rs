//! The mail outbox: mail is queued in the transaction of the change that causes it and delivered later,
//! so a slow mail server never slows (or reveals anything through the timing of) a request.
use tessera_model::TenantId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Cols, Exec, Result, Ts, on_engine};

/// A queued or sent mail.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub to_address: String,
    /// Which mail template renders it (`verification_code`, …).
    pub template: String,
    pub locale: String,
    /// The template's variables. May hold a one-time code or link; cleared once sent, or once
    /// `expires_at` passes unsent.
    pub vars: serde_json::Value,
    pub created_at: OffsetDateTime,
    /// When the code it carries expires; an unsent mail is never sent after that. `None`: no code.
    pub expires_at: Option<OffsetDateTime>,
    pub sent_at: Option<OffsetDateTime>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

macro_rules! columns {
    () => {
        "id, tenant_id, to_address, template, locale, vars, created_at, expires_at, sent_at, attempts, last_error"
    };
}

fn from_row(r: &impl Cols) -> Result<Mail> {
    Ok(Mail {
        id: r.uuid("id")?,
        tenant_id: TenantId(r.uuid("tenant_id")?),
        to_address: r.text("to_address")?,
        template: r.text("template")?,
        locale: r.text("locale")?,
        vars: serde_json::from_str(&r.text("vars")?)
            .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?,
        created_at: r.ts("created_at")?,
        expires_at: r.opt_ts("expires_at")?,
        sent_at: r.opt_ts("sent_at")?,
        attempts: r.int("attempts")?,
        last_error: r.opt_text("last_error")?,
    })
}

/// Queues a mail.
pub async fn enqueue(x: &mut impl Exec, m: &Mail) -> Result<()> {
    let sql = concat!(
        "INSERT INTO mail_outbox (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(m.id)
        .bind(m.tenant_id.0)
        .bind(&m.to_address)
        .bind(&m.template)
        .bind(&m.locale)
        .bind(m.vars.to_string())
        .bind(Ts(m.created_at))
        .bind(m.expires_at.map(Ts))
        .bind(m.sent_at.map(Ts))
        .bind(m.attempts)
        .bind(m.last_error.as_deref())
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// The newest mails whose codes have not expired, for the development mailbox.
pub async fn recent(x: &mut impl Exec, limit: u32, now: OffsetDateTime) -> Result<Vec<Mail>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM mail_outbox WHERE expires_at IS NULL OR expires_at > $2 ORDER BY created_at DESC LIMIT $1"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(i64::from(limit))
        .bind(Ts(now))
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect())
}

/// Unsent mails whose codes have not expired, oldest first, for the delivery worker.
pub async fn unsent(x: &mut impl Exec, limit: u32, now: OffsetDateTime) -> Result<Vec<Mail>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM mail_outbox WHERE sent_at IS NULL AND attempts < 10 AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at LIMIT $1"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(i64::from(limit))
        .bind(Ts(now))
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect())
}

/// Marks a mail sent and drops its variables (they may hold one-time codes). False if another node sent it.
pub async fn mark_sent(x: &mut impl Exec, id: Uuid, now: OffsetDateTime) -> Result<bool> {
    let sql = "UPDATE mail_outbox SET sent_at = $1, vars = '{}', attempts = attempts + 1 WHERE id = $2 AND sent_at IS NULL";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Records a failed delivery attempt.
pub async fn mark_failed(x: &mut impl Exec, id: Uuid, error: &str) -> Result<()> {
    let sql = "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(error)
        .bind(id)
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Scrubs the variables (codes and links) of unsent mails whose codes expired: they will never be sent,
/// and the outbox keeps no clear secret longer than it could be used. Returns how many.
pub async fn scrub_expired(x: &mut impl Exec, now: OffsetDateTime) -> Result<u64> {
    let sql = "UPDATE mail_outbox SET vars = '{}', last_error = 'expired before it was sent' \
               WHERE sent_at IS NULL AND expires_at <= $1 AND vars <> '{}'";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .execute(&mut *c)
        .await?
        .rows_affected()))
}
