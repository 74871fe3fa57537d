//! Tamper evidence for the event log: sealed checkpoints over ranges of each tenant's events.
//!
//! Writers never wait for the audit log: an event is one insert carrying its own content hash. A sealer
//! (a background job on any node; the primary key on `(tenant, after_seq)` makes concurrent sealers
//! harmless) later covers each new range `(after, upto]` with a checkpoint: a hash chain over
//! `(seq, event hash)` of every event in the range, linked to the previous checkpoint and MACed with a
//! key derived from the master key. Verification recomputes everything from the rows, so an edited,
//! removed, inserted or reordered event breaks either an event hash, a range digest, a count or the chain.
//!
//! Only events older than a safety margin are sealed, so a transaction that took its `seq` early but
//! commits late is not skipped. What no checkpoint scheme can catch alone: deleting the newest
//! checkpoint together with the events after it. Operators who need that anchor the head digest that
//! `tessera audit verify` prints somewhere outside the database.
use serde::Serialize;
use tessera_model::TenantId;
use tessera_model::event::Checkpoint;
use tessera_store::Exec;

use crate::events::event_hash;
use crate::{CoreError, Result, Tessera};

const BATCH: u32 = 5_000;

fn genesis(tenant: TenantId) -> Vec<u8> {
    tessera_crypto::sha256(&[b"tessera-audit-genesis-v1", tenant.0.as_bytes()]).to_vec()
}

fn chain(prev: &[u8], seq: i64, hash: &[u8]) -> Vec<u8> {
    tessera_crypto::sha256(&[prev, &seq.to_be_bytes(), hash]).to_vec()
}

fn mac_parts(cp: &Checkpoint) -> [Vec<u8>; 6] {
    [
        cp.tenant_id.0.as_bytes().to_vec(),
        cp.after_seq.to_be_bytes().to_vec(),
        cp.upto_seq.to_be_bytes().to_vec(),
        cp.event_count.to_be_bytes().to_vec(),
        cp.digest.clone(),
        cp.prev_digest.clone(),
    ]
}

/// The outcome of verifying one tenant's log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditReport {
    pub tenant: String,
    pub checkpoints: usize,
    pub sealed_events: i64,
    /// Events after the last checkpoint: checked against their own hashes only.
    pub unsealed_events: i64,
    /// Hex digest of the newest checkpoint; anchor it outside the database to detect truncation.
    pub head_digest: String,
    /// Empty when the log is intact.
    pub problems: Vec<String>,
}

impl AuditReport {
    /// Whether no tampering was found.
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The sealed audit log, borrowed from the facade: `t.audit().seal(..)`, `t.audit().verify(..)`.
#[derive(Clone, Copy, Debug)]
pub struct Audit<'a> {
    t: &'a Tessera,
}

impl Tessera {
    /// Sealing and verifying the audit log.
    pub fn audit(&self) -> Audit<'_> {
        Audit { t: self }
    }
}

impl Audit<'_> {
    /// Seals every tenant's events older than `margin` into checkpoints. Returns how many events were sealed.
    pub async fn seal(&self, margin: time::Duration) -> Result<i64> {
        let mut conn = self.t.db().conn().await?;
        let tenants = tessera_store::tenants::list(&mut conn).await?;
        drop(conn);
        let mut sealed = 0;
        for t in tenants {
            sealed += self.seal_tenant(t.id, margin).await?;
        }
        Ok(sealed)
    }

    async fn seal_tenant(&self, tenant: TenantId, margin: time::Duration) -> Result<i64> {
        let mut total = 0;
        loop {
            let mut conn = self.t.db().conn().await?;
            let last = tessera_store::events::last_checkpoint(&mut conn, tenant).await?;
            let (after, prev_digest) = match &last {
                Some(cp) => (cp.upto_seq, cp.digest.clone()),
                None => (0, genesis(tenant)),
            };
            let cutoff = self.t.now() - margin;
            let Some(limit_seq) =
                tessera_store::events::last_seq_before(&mut conn, tenant, after, cutoff).await?
            else {
                return Ok(total);
            };
            let events =
                tessera_store::events::range(&mut conn, tenant, after, limit_seq, BATCH).await?;
            drop(conn);
            let Some(upto) = events.last().map(|e| e.seq) else {
                return Ok(total);
            };
            let mut digest = prev_digest.clone();
            for e in &events {
                digest = chain(&digest, e.seq, &e.hash);
            }
            let mut cp = Checkpoint {
                tenant_id: tenant,
                after_seq: after,
                upto_seq: upto,
                event_count: events.len() as i64,
                digest,
                prev_digest,
                mac: Vec::new(),
                created_at: self.t.now(),
            };
            let parts = mac_parts(&cp);
            cp.mac = self
                .t
                .keys()
                .audit
                .mac(&parts.iter().map(Vec::as_slice).collect::<Vec<_>>())
                .to_vec();
            let mut tx = self.t.db().begin().await?;
            match tessera_store::events::insert_checkpoint(&mut tx, &cp).await {
                Ok(()) => tx.commit().await?,
                // Another node sealed this range first; its checkpoint stands.
                Err(tessera_store::StoreError::Conflict { .. }) => return Ok(total),
                Err(e) => return Err(e.into()),
            }
            total += cp.event_count;
            if events.len() < BATCH as usize {
                return Ok(total);
            }
        }
    }

    /// Verifies the log of one tenant (by slug) or of every tenant.
    pub async fn verify(&self, tenant_slug: Option<&str>) -> Result<Vec<AuditReport>> {
        let mut conn = self.t.db().conn().await?;
        let tenants = match tenant_slug {
            Some(s) => vec![
                tessera_store::tenants::by_slug(&mut conn, s)
                    .await?
                    .ok_or(CoreError::NotFound { what: "tenant" })?,
            ],
            None => tessera_store::tenants::list(&mut conn).await?,
        };
        let mut reports = Vec::new();
        for t in tenants {
            reports.push(self.verify_tenant(&mut conn, t.id, &t.slug).await?);
        }
        Ok(reports)
    }

    async fn verify_tenant(
        &self,
        conn: &mut impl Exec,
        tenant: TenantId,
        slug: &str,
    ) -> Result<AuditReport> {
        let mut problems = Vec::new();
        let checkpoints = tessera_store::events::checkpoints(conn, tenant).await?;
        let mut expected_after = 0;
        let mut expected_prev = genesis(tenant);
        let mut sealed_events = 0;
        for cp in &checkpoints {
            let parts = mac_parts(cp);
            if !self.t.keys().audit.verify_mac(
                &parts.iter().map(Vec::as_slice).collect::<Vec<_>>(),
                &cp.mac,
            ) {
                problems.push(format!(
                    "checkpoint ({}, {}]: its seal does not verify (forged or edited)",
                    cp.after_seq, cp.upto_seq
                ));
            }
            if cp.after_seq != expected_after || cp.prev_digest != expected_prev {
                problems.push(format!(
                    "checkpoint ({}, {}]: does not follow the previous checkpoint (a checkpoint was removed or reordered)",
                    cp.after_seq, cp.upto_seq
                ));
            }
            let (count, digest) = self
                .replay(
                    conn,
                    tenant,
                    cp.after_seq,
                    cp.upto_seq,
                    &cp.prev_digest,
                    &mut problems,
                )
                .await?;
            if count != cp.event_count || digest != cp.digest {
                problems.push(format!(
                    "events ({}, {}]: {} found where {} were sealed, or their order or content changed (removed, inserted or reordered events)",
                    cp.after_seq, cp.upto_seq, count, cp.event_count
                ));
            }
            sealed_events += cp.event_count;
            expected_after = cp.upto_seq;
            expected_prev = cp.digest.clone();
        }
        let (unsealed, _) = self
            .replay(
                conn,
                tenant,
                expected_after,
                i64::MAX,
                &expected_prev,
                &mut problems,
            )
            .await?;
        Ok(AuditReport {
            tenant: slug.to_owned(),
            checkpoints: checkpoints.len(),
            sealed_events,
            unsealed_events: unsealed,
            head_digest: hex(&expected_prev),
            problems,
        })
    }

    /// Re-reads `(after, upto]`, checks each event against its hash, and rebuilds the chain digest.
    async fn replay(
        &self,
        conn: &mut impl Exec,
        tenant: TenantId,
        after: i64,
        upto: i64,
        prev: &[u8],
        problems: &mut Vec<String>,
    ) -> Result<(i64, Vec<u8>)> {
        let mut digest = prev.to_vec();
        let mut count = 0;
        let mut cursor = after;
        loop {
            let events = tessera_store::events::range(conn, tenant, cursor, upto, BATCH).await?;
            for e in &events {
                if event_hash(e).as_slice() != e.hash.as_slice() {
                    problems.push(format!(
                        "event seq {}: its content does not match its hash (edited)",
                        e.seq
                    ));
                }
                digest = chain(&digest, e.seq, &e.hash);
                count += 1;
            }
            match events.last() {
                Some(last) if events.len() == BATCH as usize => cursor = last.seq,
                _ => return Ok((count, digest)),
            }
        }
    }
}
