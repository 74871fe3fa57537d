//! The mail outbox as the delivery worker, the development mailbox and the admin API see it.
//!
//! The outbox is the mail queue of the worker framework ([`crate::jobs`]): [`MailQueue`] claims due mails
//! with a lease, hands each to a [`MailSender`] (rendering and SMTP live in the server), and records the
//! outcome under the claim: sent (its variables, which may hold codes and links, are dropped), due again
//! after a backoff, or a dead letter. Dead letters are listed and replayed through the admin API.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use tessera_model::api_key::Permission;
use tessera_model::event::{NewEvent, types};
use tessera_store::mail::{Mail, QueuedMail};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::jobs::{Failure, Lease, Queue};
use crate::{Caller, CoreError, Paged, Result, Tessera};

/// A queued mail with the slug of its tenant (templates and texts are chosen per tenant).
#[derive(Debug, Clone)]
pub struct OutboxMail {
    pub mail: Mail,
    pub tenant_slug: String,
}

/// What delivers a mail: renders it with the tenant's templates and hands it to a mail server. Implemented
/// by the server, which knows templates and SMTP.
pub trait MailSender: Send + Sync {
    /// Sends one mail. A failure says whether trying again can help.
    fn send<'a>(
        &'a self,
        mail: &'a OutboxMail,
    ) -> Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + 'a>>;
}

/// The mail queue: the outbox's due mails, delivered through a [`MailSender`].
pub struct MailQueue {
    tessera: Tessera,
    sender: Arc<dyn MailSender>,
}

impl MailQueue {
    pub fn new(tessera: Tessera, sender: Arc<dyn MailSender>) -> Self {
        Self { tessera, sender }
    }
}

impl Queue for MailQueue {
    type Item = OutboxMail;

    fn name(&self) -> &'static str {
        "mail"
    }

    async fn claim(
        &self,
        lease: &Lease,
        until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMail>> {
        self.tessera
            .outbox()
            .claim(&lease.owner, until, limit)
            .await
    }

    async fn process(&self, item: &OutboxMail) -> Result<(), Failure> {
        self.sender.send(item).await
    }

    async fn complete(&self, lease: &Lease, item: &OutboxMail) -> Result<bool> {
        self.tessera
            .outbox()
            .mark_sent(&lease.owner, item.mail.id)
            .await
    }

    async fn retry(
        &self,
        lease: &Lease,
        item: &OutboxMail,
        at: OffsetDateTime,
        error: &str,
    ) -> Result<bool> {
        self.tessera
            .outbox()
            .mark_failed(&lease.owner, item, Some(at), error)
            .await
    }

    async fn bury(&self, lease: &Lease, item: &OutboxMail, error: &str) -> Result<bool> {
        self.tessera
            .outbox()
            .mark_failed(&lease.owner, item, None, error)
            .await
    }

    fn attempts(item: &OutboxMail) -> u32 {
        u32::try_from(item.mail.attempts).unwrap_or(u32::MAX)
    }

    fn id(item: &OutboxMail) -> Uuid {
        item.mail.id
    }
}

/// A dead letter of the mail queue as the admin API lists it: whom it was for and why it failed, never
/// what it said (its codes and links stay in the outbox; LOG-01).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadMail {
    pub id: Uuid,
    /// The recipient.
    pub to: String,
    /// Which mail it is (`verification_code`, `email_changed_notice`, …).
    pub template: String,
    pub locale: String,
    #[serde(with = "time::serde::rfc3339")]
    pub queued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub dead_at: OffsetDateTime,
    /// Delivery attempts made.
    pub attempts: i64,
    /// Why the last attempt failed (values of the mail's variables are masked).
    pub last_error: Option<String>,
    /// When the code the mail carries expires; absent: it carries none.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// False once its code has expired: a replay is refused, and the customer asks for a new code.
    pub replayable: bool,
}

/// A dead letter put back in the queue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReplayedMail {
    pub id: Uuid,
    pub template: String,
    /// From when it is sent again, with a fresh count of attempts.
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
}

/// A mail's queue state, for tests and operators' tools that read one mail.
#[derive(Debug, Clone)]
pub struct MailState {
    pub attempts: i64,
    pub next_attempt_at: OffsetDateTime,
    pub lease_owner: Option<String>,
    pub lease_until: Option<OffsetDateTime>,
    pub sent_at: Option<OffsetDateTime>,
    pub dead_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
}

/// The mail queue at a glance, for metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MailQueueStats {
    /// Mails still to be delivered, claimed ones included (expired codes are not counted).
    pub depth: i64,
    /// Seconds since the oldest of them was queued (0 when there is none).
    pub oldest_age_secs: f64,
    /// Dead letters that could still be replayed.
    pub dead: i64,
}

/// Masks every value of the mail's variables that appears in an error text, so nothing that may be a
/// code or a link reaches the outbox's `last_error`, the logs or the admin API, whatever a mail server
/// echoed back.
fn mask(error: &str, vars: &Value) -> String {
    let mut out = error.to_owned();
    if let Value::Object(m) = vars {
        for v in m.values() {
            if let Value::String(s) = v
                && s.len() >= 4
            {
                out = out.replace(s.as_str(), "[masked]");
            }
        }
    }
    out.chars().take(1000).collect()
}

fn dead_view(q: QueuedMail, now: OffsetDateTime) -> Option<DeadMail> {
    let dead_at = q.dead_at?;
    let m = q.mail;
    Some(DeadMail {
        id: m.id,
        to: m.to_address,
        template: m.template,
        locale: m.locale,
        queued_at: m.created_at,
        dead_at,
        attempts: m.attempts,
        last_error: m.last_error,
        expires_at: m.expires_at,
        replayable: m.expires_at.is_none_or(|e| e > now),
    })
}

/// The mail outbox, borrowed from the facade: the worker's claims (`t.outbox().claim(..)`), the
/// development mailbox (`recent`) and the admin API's dead letters (`dead_letters`, `replay`).
#[derive(Clone, Copy, Debug)]
pub struct Outbox<'a> {
    t: &'a Tessera,
}

impl Tessera {
    /// The mail outbox.
    pub fn outbox(&self) -> Outbox<'_> {
        Outbox { t: self }
    }
}

impl Outbox<'_> {
    async fn with_slugs(&self, mails: Vec<Mail>) -> Result<Vec<OutboxMail>> {
        let mut conn = self.t.db().conn().await?;
        let tenants = tessera_store::tenants::list(&mut conn).await?;
        Ok(mails
            .into_iter()
            .map(|m| {
                let tenant_slug = tenants
                    .iter()
                    .find(|t| t.id == m.tenant_id)
                    .map(|t| t.slug.clone())
                    .unwrap_or_default();
                OutboxMail {
                    mail: m,
                    tenant_slug,
                }
            })
            .collect())
    }

    /// Mails still to be delivered (not sent, not given up, code not expired), due or not, oldest first.
    pub async fn pending(&self, limit: u32) -> Result<Vec<OutboxMail>> {
        let mut conn = self.t.db().conn().await?;
        let mails = tessera_store::mail::unsent(&mut conn, limit, self.t.now()).await?;
        drop(conn);
        self.with_slugs(mails).await
    }

    /// The newest mails, for the development mailbox.
    pub async fn recent(&self, limit: u32) -> Result<Vec<OutboxMail>> {
        let mut conn = self.t.db().conn().await?;
        let mails = tessera_store::mail::recent(&mut conn, limit, self.t.now()).await?;
        drop(conn);
        self.with_slugs(mails).await
    }

    /// Claims up to `limit` due mails for node `owner` until `until` (see [`MailQueue`]); each claim
    /// counts as an attempt.
    pub async fn claim(
        &self,
        owner: &str,
        until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMail>> {
        let mut tx = self.t.db().begin().await?;
        let claimed =
            tessera_store::mail::claim(&mut tx, owner, until, self.t.now(), limit).await?;
        tx.commit().await?;
        self.with_slugs(claimed.into_iter().map(|q| q.mail).collect())
            .await
    }

    /// Records a mail sent by the node whose claim covers it; false when `owner` lost the claim.
    pub async fn mark_sent(&self, owner: &str, id: Uuid) -> Result<bool> {
        let mut tx = self.t.db().begin().await?;
        let won = tessera_store::mail::complete(&mut tx, id, owner, self.t.now()).await?;
        tx.commit().await?;
        Ok(won)
    }

    /// Records a failed attempt under `owner`'s claim: due again at `retry_at`, or (`None`) a dead letter.
    /// False when `owner` lost the claim.
    pub async fn mark_failed(
        &self,
        owner: &str,
        mail: &OutboxMail,
        retry_at: Option<OffsetDateTime>,
        error: &str,
    ) -> Result<bool> {
        let error = mask(error, &mail.mail.vars);
        let id = mail.mail.id;
        let mut tx = self.t.db().begin().await?;
        let held = match retry_at {
            Some(at) => tessera_store::mail::retry(&mut tx, id, owner, at, &error).await?,
            None => tessera_store::mail::bury(&mut tx, id, owner, self.t.now(), &error).await?,
        };
        tx.commit().await?;
        Ok(held)
    }

    /// One mail's place in the queue.
    pub async fn state(
        &self,
        tenant: tessera_model::TenantId,
        id: Uuid,
    ) -> Result<Option<MailState>> {
        let mut conn = self.t.db().conn().await?;
        Ok(tessera_store::mail::get(&mut conn, tenant, id)
            .await?
            .map(|q| MailState {
                attempts: q.mail.attempts,
                next_attempt_at: q.next_attempt_at,
                lease_owner: q.lease_owner,
                lease_until: q.lease_until,
                sent_at: q.mail.sent_at,
                dead_at: q.dead_at,
                last_error: q.mail.last_error,
            }))
    }

    /// Depth, age of the oldest item and dead letters of the mail queue.
    pub async fn stats(&self) -> Result<MailQueueStats> {
        let now = self.t.now();
        let mut conn = self.t.db().conn().await?;
        let c = tessera_store::mail::counts(&mut conn, now).await?;
        Ok(MailQueueStats {
            depth: c.depth,
            oldest_age_secs: c
                .oldest
                .map_or(0.0, |t| (now - t).as_seconds_f64().max(0.0)),
            dead: c.dead,
        })
    }

    /// Scrubs the codes and links of unsent mails whose codes expired (they are never sent afterwards).
    pub async fn scrub_expired(&self) -> Result<u64> {
        let mut tx = self.t.db().begin().await?;
        let n = tessera_store::mail::scrub_expired(&mut tx, self.t.now()).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// A page of a tenant's dead-lettered mail, in queueing order.
    pub async fn dead_letters(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Paged<DeadMail>> {
        caller.require(Permission::MailRead)?;
        let after = cursor
            .map(|c| {
                Uuid::parse_str(c).map_err(|_| {
                    CoreError::bad_request("bad_cursor", "the cursor is not one this API returned")
                })
            })
            .transpose()?;
        let limit = limit.unwrap_or(100).clamp(1, 1000);
        let mut conn = self.t.db().conn().await?;
        let t = self
            .t
            .tenant_in_scope(&mut conn, caller, tenant_slug)
            .await?;
        let page = tessera_store::mail::dead(&mut conn, t.id, after, limit).await?;
        let now = self.t.now();
        Ok(Paged {
            items: page
                .items
                .into_iter()
                .filter_map(|q| dead_view(q, now))
                .collect(),
            next_cursor: page.next_after.map(|id| id.to_string()),
        })
    }

    /// Puts a dead letter back in the queue, due now, with a fresh count of attempts. A mail whose code
    /// has expired is refused (`mail_expired`): its code is scrubbed, and a new one must be asked for.
    pub async fn replay(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        id: Uuid,
    ) -> Result<ReplayedMail> {
        caller.require(Permission::MailReplay)?;
        let mut tx = self.t.db().begin().await?;
        let t = self.t.tenant_in_scope(&mut tx, caller, tenant_slug).await?;
        let now = self.t.now();
        let Some(q) = tessera_store::mail::replay(&mut tx, t.id, id, now).await? else {
            let known = tessera_store::mail::get(&mut tx, t.id, id).await?;
            return Err(match known {
                Some(q) if q.dead_at.is_some() && q.mail.sent_at.is_none() => CoreError::Conflict {
                    code: "mail_expired",
                    detail: "the code this mail carries has expired; it cannot be sent any more"
                        .into(),
                },
                _ => CoreError::NotFound {
                    what: "dead letter",
                },
            });
        };
        let ev = NewEvent::new(
            t.id,
            types::MAIL_REPLAYED,
            format!("mail:{}", q.mail.id),
            json!({"mail_id": q.mail.id, "template": q.mail.template}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        Ok(ReplayedMail {
            id: q.mail.id,
            template: q.mail.template,
            next_attempt_at: q.next_attempt_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_01_errors_never_carry_a_mail_variable() {
        let vars = json!({"code": "123456", "link": "https://id.example/t/x/flows/link?token=abcdef", "expires_minutes": 10, "x": "ab"});
        let e = mask(
            "550 rejected: body contained 123456 and https://id.example/t/x/flows/link?token=abcdef (ab)",
            &vars,
        );
        assert!(!e.contains("123456") && !e.contains("token=abcdef"), "{e}");
        assert!(e.contains("550 rejected") && e.contains("(ab)"), "{e}");
        assert_eq!(mask(&"x".repeat(5000), &vars).len(), 1000, "bounded");
    }
}
