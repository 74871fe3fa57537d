//! The append-only event log and its sealed checkpoints.
use crate::behind::Write;
use sqlx::AssertSqlSafe;
use tessera_model::event::{Checkpoint, StoredEvent};
use tessera_model::{EventId, IdentityId, TenantId};
use time::OffsetDateTime;

use crate::{Cols, Exec, Result, Ts, on_engine};

macro_rules! columns {
    () => {
        "seq, id, tenant_id, type, subject, actor, request_id, occurred_at, data, sealed, sealed_for, hash"
    };
}

fn from_row(r: &impl Cols) -> Result<StoredEvent> {
    Ok(StoredEvent {
        seq: r.int("seq")?,
        id: EventId(r.uuid("id")?),
        tenant_id: TenantId(r.uuid("tenant_id")?),
        kind: r.text("type")?,
        subject: r.text("subject")?,
        actor: r.text("actor")?,
        request_id: r.opt_text("request_id")?,
        occurred_at: r.ts("occurred_at")?,
        data: r.text("data")?,
        sealed: r.opt_bytes("sealed")?,
        sealed_for: r.opt_uuid("sealed_for")?.map(IdentityId),
        hash: r.bytes("hash")?,
    })
}

/// Appends an event (its `seq` is assigned by the database and returned). Runs inside the transaction of
/// the change it records; no lock is shared between writers beyond the insert itself.
pub async fn append(x: &mut impl Exec, e: &StoredEvent) -> Result<i64> {
    let sql = "INSERT INTO events (id, tenant_id, type, subject, actor, request_id, occurred_at, data, sealed, sealed_for, hash) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING seq";
    Ok(on_engine!(x, |c| sqlx::query_scalar(sql)
        .bind(e.id.0)
        .bind(e.tenant_id.0)
        .bind(&e.kind)
        .bind(&e.subject)
        .bind(&e.actor)
        .bind(e.request_id.as_deref())
        .bind(Ts(e.occurred_at))
        .bind(&e.data)
        .bind(e.sealed.as_deref())
        .bind(e.sealed_for.map(|i| i.0))
        .bind(&e.hash)
        .fetch_one(&mut *c)
        .await?))
}

/// Appends several events in one statement, in the order given (their `seq` follows it). For the
/// events of one change, in its transaction: one round trip instead of one per event.
pub async fn append_all(x: &mut impl Exec, events: &[StoredEvent]) -> Result<()> {
    const WIDTH: usize = 11;
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..events.len())
        .map(|i| {
            let p: Vec<String> = (1..=WIDTH).map(|k| format!("${}", i * WIDTH + k)).collect();
            format!("({})", p.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO events (id, tenant_id, type, subject, actor, request_id, occurred_at, data, sealed, sealed_for, hash) \
         VALUES {}",
        rows.join(", ")
    );
    // Queued behind a transaction: nothing reads an event back before the commit.
    let mut w = Write::new("events", sql);
    for e in events {
        w = w
            .bind(e.id.0)
            .bind(e.tenant_id.0)
            .bind(&e.kind)
            .bind(&e.subject)
            .bind(&e.actor)
            .bind(e.request_id.as_deref())
            .bind(Ts(e.occurred_at))
            .bind(&e.data)
            .bind(e.sealed.as_deref())
            .bind(e.sealed_for.map(|i| i.0))
            .bind(&e.hash);
    }
    w.run(x).await
}

/// What an event query is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub subject: Option<String>,
    pub kind: Option<String>,
    pub from: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

/// A page of a tenant's events in log order, after sequence number `after`.
pub async fn query(
    x: &mut impl Exec,
    tenant: TenantId,
    f: &EventFilter,
    after: i64,
    limit: u32,
) -> Result<Vec<StoredEvent>> {
    let mut sql = String::from(concat!(
        "SELECT ",
        columns!(),
        " FROM events WHERE tenant_id = $1 AND seq > $2"
    ));
    let mut n = 2;
    let mut next = || {
        n += 1;
        n
    };
    if f.subject.is_some() {
        sql.push_str(&format!(" AND subject = ${}", next()));
    }
    if f.kind.is_some() {
        sql.push_str(&format!(" AND type = ${}", next()));
    }
    if f.from.is_some() {
        sql.push_str(&format!(" AND occurred_at >= ${}", next()));
    }
    if f.until.is_some() {
        sql.push_str(&format!(" AND occurred_at < ${}", next()));
    }
    sql.push_str(&format!(" ORDER BY seq LIMIT ${}", next()));
    on_engine!(x, |c| {
        let mut q = sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(tenant.0)
            .bind(after);
        if let Some(s) = &f.subject {
            q = q.bind(s.as_str());
        }
        if let Some(k) = &f.kind {
            q = q.bind(k.as_str());
        }
        if let Some(t) = f.from {
            q = q.bind(Ts(t));
        }
        if let Some(t) = f.until {
            q = q.bind(Ts(t));
        }
        q.bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(from_row)
            .collect()
    })
}

/// A tenant's events in `(after, upto]`, in order; `upto = i64::MAX` reads to the end.
pub async fn range(
    x: &mut impl Exec,
    tenant: TenantId,
    after: i64,
    upto: i64,
    limit: u32,
) -> Result<Vec<StoredEvent>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM events WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(after)
        .bind(upto)
        .bind(i64::from(limit))
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect())
}

/// The highest `seq` of a tenant's events that occurred before `cutoff`: what a checkpoint may cover
/// without racing transactions that are still committing.
pub async fn last_seq_before(
    x: &mut impl Exec,
    tenant: TenantId,
    after: i64,
    cutoff: OffsetDateTime,
) -> Result<Option<i64>> {
    let sql = "SELECT MAX(seq) FROM events WHERE tenant_id = $1 AND seq > $2 AND occurred_at < $3";
    let v: Option<i64> = on_engine!(x, |c| sqlx::query_scalar(sql)
        .bind(tenant.0)
        .bind(after)
        .bind(Ts(cutoff))
        .fetch_one(&mut *c)
        .await?);
    Ok(v)
}

fn checkpoint_from_row(r: &impl Cols) -> Result<Checkpoint> {
    Ok(Checkpoint {
        tenant_id: TenantId(r.uuid("tenant_id")?),
        after_seq: r.int("after_seq")?,
        upto_seq: r.int("upto_seq")?,
        event_count: r.int("event_count")?,
        digest: r.bytes("digest")?,
        prev_digest: r.bytes("prev_digest")?,
        mac: r.bytes("mac")?,
        created_at: r.ts("created_at")?,
    })
}

/// Records a checkpoint. Two sealers racing for the same range collide on the primary key; the loser
/// gets a `Conflict` and its work is discarded.
pub async fn insert_checkpoint(x: &mut impl Exec, cp: &Checkpoint) -> Result<()> {
    let sql = "INSERT INTO audit_checkpoints (tenant_id, after_seq, upto_seq, event_count, digest, prev_digest, mac, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(cp.tenant_id.0)
        .bind(cp.after_seq)
        .bind(cp.upto_seq)
        .bind(cp.event_count)
        .bind(&cp.digest)
        .bind(&cp.prev_digest)
        .bind(&cp.mac)
        .bind(Ts(cp.created_at))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Every checkpoint of a tenant, in order.
pub async fn checkpoints(x: &mut impl Exec, tenant: TenantId) -> Result<Vec<Checkpoint>> {
    let sql = "SELECT tenant_id, after_seq, upto_seq, event_count, digest, prev_digest, mac, created_at \
               FROM audit_checkpoints WHERE tenant_id = $1 ORDER BY after_seq";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(checkpoint_from_row)
        .collect())
}

/// The newest checkpoint of a tenant.
pub async fn last_checkpoint(x: &mut impl Exec, tenant: TenantId) -> Result<Option<Checkpoint>> {
    let sql = "SELECT tenant_id, after_seq, upto_seq, event_count, digest, prev_digest, mac, created_at \
               FROM audit_checkpoints WHERE tenant_id = $1 ORDER BY after_seq DESC LIMIT 1";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| checkpoint_from_row(&r))
        .transpose())
}
