//! The mail outbox: mail is queued in the transaction of the change that causes it and delivered later,
//! so a slow mail server never slows (or reveals anything through the timing of) a request.
//!
//! The outbox is also the mail queue of the worker framework (`tessera_core::jobs`): a row carries its own
//! lease (`lease_owner`, `lease_until`), attempt count, next attempt and dead-letter mark, rather than a
//! row in a separate jobs table. The row already is the unit of work and the state the dev mailbox, the
//! code scrubbing (LOG-01) and the admin API read; a second table would have to agree with it in every
//! transaction. A later queue (webhook deliveries) gets the same columns on its own table and the same
//! statement shapes: claim, complete, retry, bury, replay.
use tessera_model::TenantId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Cols, Exec, Page, RawConn, Result, Ts, on_engine};

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

/// Queues a mail, due at once.
pub async fn enqueue(x: &mut impl Exec, m: &Mail) -> Result<()> {
    // Due at once: `next_attempt_at` is the queueing time.
    let sql = concat!(
        "INSERT INTO mail_outbox (",
        columns!(),
        ", next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $7)"
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

/// Mails still to be delivered (not sent, not dead, code not expired), due or not, oldest first.
pub async fn unsent(x: &mut impl Exec, limit: u32, now: OffsetDateTime) -> Result<Vec<Mail>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM mail_outbox WHERE sent_at IS NULL AND dead_at IS NULL AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at LIMIT $1"
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

/// A mail with its place in the delivery queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedMail {
    pub mail: Mail,
    /// Not claimed before this time.
    pub next_attempt_at: OffsetDateTime,
    /// The node that claimed it last; kept once sent, so it names the node that sent it.
    pub lease_owner: Option<String>,
    /// The claim holds until then; absent or past, the mail may be claimed (again).
    pub lease_until: Option<OffsetDateTime>,
    /// When delivery was given up: a dead letter until it is replayed.
    pub dead_at: Option<OffsetDateTime>,
}

macro_rules! queued_columns {
    () => {
        concat!(
            columns!(),
            ", next_attempt_at, lease_owner, lease_until, dead_at"
        )
    };
}

fn queued_from_row(r: &impl Cols) -> Result<QueuedMail> {
    Ok(QueuedMail {
        mail: from_row(r)?,
        next_attempt_at: r.ts("next_attempt_at")?,
        lease_owner: r.opt_text("lease_owner")?,
        lease_until: r.opt_ts("lease_until")?,
        dead_at: r.opt_ts("dead_at")?,
    })
}

/// Due: not sent, not dead, its time has come, nobody holds a live lease, its code has not expired, and
/// no older mail to the same recipient is still to be delivered (mail to one address goes out in the
/// order it was queued: the newest code is the last to arrive).
macro_rules! due {
    () => {
        "m.sent_at IS NULL AND m.dead_at IS NULL AND m.next_attempt_at <= $3 \
         AND (m.lease_until IS NULL OR m.lease_until <= $3) AND (m.expires_at IS NULL OR m.expires_at > $3) \
         AND NOT EXISTS (SELECT 1 FROM mail_outbox o WHERE o.tenant_id = m.tenant_id \
         AND o.to_address = m.to_address AND o.id < m.id AND o.sent_at IS NULL AND o.dead_at IS NULL \
         AND (o.expires_at IS NULL OR o.expires_at > $3))"
    };
}

/// Claims up to `limit` due mails for `owner` until `until`, oldest due first, and counts the attempt. One
/// statement: on PostgreSQL the rows are locked with `FOR UPDATE SKIP LOCKED`, so concurrent claims take
/// disjoint rows without waiting (a row another claim updated first is re-checked and skipped); SQLite
/// serialises writers, so the statement runs alone. Either way no two live leases cover one mail, and a
/// claim never holds two mails to one recipient.
pub async fn claim(
    x: &mut impl Exec,
    owner: &str,
    until: OffsetDateTime,
    now: OffsetDateTime,
    limit: u32,
) -> Result<Vec<QueuedMail>> {
    // PostgreSQL: `ARRAY(subquery)` is evaluated once, so the locked set is exactly the updated set.
    const PG: &str = concat!(
        "UPDATE mail_outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
         WHERE id = ANY(ARRAY(SELECT m.id FROM mail_outbox m WHERE ",
        due!(),
        " ORDER BY m.next_attempt_at, m.id LIMIT $4 FOR UPDATE OF m SKIP LOCKED)) RETURNING ",
        queued_columns!()
    );
    const SQLITE: &str = concat!(
        "UPDATE mail_outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT m.id FROM mail_outbox m WHERE ",
        due!(),
        " ORDER BY m.next_attempt_at, m.id LIMIT $4) RETURNING ",
        queued_columns!()
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
            .map(queued_from_row)
            .collect::<Result<Vec<_>>>()?,
        RawConn::Postgres(c) => sqlx::query(PG)
            .bind(owner)
            .bind(Ts(until))
            .bind(Ts(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(queued_from_row)
            .collect::<Result<Vec<_>>>()?,
    };
    Ok(rows)
}

/// Marks a mail sent by the node that holds its claim, releases the claim and drops the variables (they
/// may hold one-time codes). False when `owner` no longer holds it: another node claimed it after this
/// node's lease ran out.
pub async fn complete(
    x: &mut impl Exec,
    id: Uuid,
    owner: &str,
    now: OffsetDateTime,
) -> Result<bool> {
    let sql = "UPDATE mail_outbox SET sent_at = $1, vars = '{}', lease_until = NULL \
               WHERE id = $2 AND lease_owner = $3 AND sent_at IS NULL AND dead_at IS NULL";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(id)
        .bind(owner)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Records a failed attempt by the claim holder and releases the claim: the mail is tried again from
/// `at`. False when `owner` no longer holds it.
pub async fn retry(
    x: &mut impl Exec,
    id: Uuid,
    owner: &str,
    at: OffsetDateTime,
    error: &str,
) -> Result<bool> {
    let sql = "UPDATE mail_outbox SET next_attempt_at = $1, last_error = $2, lease_until = NULL \
               WHERE id = $3 AND lease_owner = $4 AND sent_at IS NULL AND dead_at IS NULL";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(at))
        .bind(error)
        .bind(id)
        .bind(owner)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Gives a mail up: the claim holder makes it a dead letter with its last error. False when `owner` no
/// longer holds it.
pub async fn bury(
    x: &mut impl Exec,
    id: Uuid,
    owner: &str,
    now: OffsetDateTime,
    error: &str,
) -> Result<bool> {
    let sql = "UPDATE mail_outbox SET dead_at = $1, last_error = $2, lease_until = NULL \
               WHERE id = $3 AND lease_owner = $4 AND sent_at IS NULL AND dead_at IS NULL";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(error)
        .bind(id)
        .bind(owner)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// One mail of a tenant with its queue state.
pub async fn get(x: &mut impl Exec, tenant: TenantId, id: Uuid) -> Result<Option<QueuedMail>> {
    let sql = concat!(
        "SELECT ",
        queued_columns!(),
        " FROM mail_outbox WHERE tenant_id = $1 AND id = $2"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .as_ref()
        .map(queued_from_row)
        .transpose())
}

/// A page of a tenant's dead letters in queueing order, after `after`.
pub async fn dead(
    x: &mut impl Exec,
    tenant: TenantId,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Page<QueuedMail>> {
    // UUIDv7 ids sort by creation on both engines; the nil id is before every one.
    let after_param = after.unwrap_or(Uuid::nil());
    let sql = concat!(
        "SELECT ",
        queued_columns!(),
        " FROM mail_outbox WHERE tenant_id = $1 AND dead_at IS NOT NULL AND sent_at IS NULL \
          AND id > $2 ORDER BY id LIMIT $3"
    );
    let items: Vec<QueuedMail> = on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(after_param)
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(queued_from_row)
        .collect::<Result<Vec<_>>>()?);
    let more = items.len() > limit as usize;
    let items: Vec<QueuedMail> = items.into_iter().take(limit as usize).collect();
    let next_after = if more {
        items.last().map(|m| m.mail.id)
    } else {
        None
    };
    Ok(Page { items, next_after })
}

/// Puts a dead letter of a tenant back in the queue, due now, with a fresh count of attempts. Refused
/// (`None`) when it is not a dead letter or its code has expired (its variables are scrubbed by then).
pub async fn replay(
    x: &mut impl Exec,
    tenant: TenantId,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<Option<QueuedMail>> {
    let sql = concat!(
        "UPDATE mail_outbox SET dead_at = NULL, attempts = 0, next_attempt_at = $1, lease_owner = NULL, \
         lease_until = NULL WHERE tenant_id = $2 AND id = $3 AND dead_at IS NOT NULL AND sent_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $1) RETURNING ",
        queued_columns!()
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(tenant.0)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .as_ref()
        .map(queued_from_row)
        .transpose())
}

/// The mail queue at a glance, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCounts {
    /// Mails still to be delivered (claimed ones included).
    pub depth: i64,
    /// When the oldest of them was queued.
    pub oldest: Option<OffsetDateTime>,
    /// Dead letters that could still be replayed (no code, or a code that has not expired).
    pub dead: i64,
}

/// Counts the queue: one pass over the mails not sent whose codes have not expired.
pub async fn counts(x: &mut impl Exec, now: OffsetDateTime) -> Result<QueueCounts> {
    let sql = "SELECT COUNT(CASE WHEN dead_at IS NULL THEN 1 END) AS depth, \
               MIN(CASE WHEN dead_at IS NULL THEN created_at END) AS oldest, \
               COUNT(CASE WHEN dead_at IS NOT NULL THEN 1 END) AS dead \
               FROM mail_outbox WHERE sent_at IS NULL AND (expires_at IS NULL OR expires_at > $1)";
    on_engine!(x, |c| {
        let r = sqlx::query(sql).bind(Ts(now)).fetch_one(&mut *c).await?;
        Ok(QueueCounts {
            depth: r.int("depth")?,
            oldest: r.opt_ts("oldest")?,
            dead: r.int("dead")?,
        })
    })
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
