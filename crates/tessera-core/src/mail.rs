//! The mail outbox as the delivery worker and the development mailbox see it.
use tessera_store::mail::Mail;

use crate::{Result, Tessera};

/// A queued mail with the slug of its tenant (templates and texts are chosen per tenant).
#[derive(Debug, Clone)]
pub struct OutboxMail {
    pub mail: Mail,
    pub tenant_slug: String,
}

impl Tessera {
    async fn with_slugs(&self, mails: Vec<Mail>) -> Result<Vec<OutboxMail>> {
        let mut conn = self.db.conn().await?;
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

    /// Mails waiting to be sent, oldest first.
    pub async fn pending_mail(&self, limit: u32) -> Result<Vec<OutboxMail>> {
        let mut conn = self.db.conn().await?;
        let mails = tessera_store::mail::unsent(&mut conn, limit, self.now()).await?;
        drop(conn);
        self.with_slugs(mails).await
    }

    /// The newest mails, for the development mailbox.
    pub async fn recent_mail(&self, limit: u32) -> Result<Vec<OutboxMail>> {
        let mut conn = self.db.conn().await?;
        let mails = tessera_store::mail::recent(&mut conn, limit, self.now()).await?;
        drop(conn);
        self.with_slugs(mails).await
    }

    /// Records a delivery; false when another node delivered it first.
    pub async fn mail_sent(&self, id: uuid::Uuid) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let won = tessera_store::mail::mark_sent(&mut tx, id, self.now()).await?;
        tx.commit().await?;
        Ok(won)
    }

    /// Scrubs the codes and links of unsent mails whose codes expired (they are never sent afterwards).
    pub async fn scrub_expired_mail(&self) -> Result<u64> {
        let mut tx = self.db.begin().await?;
        let n = tessera_store::mail::scrub_expired(&mut tx, self.now()).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Records a failed delivery attempt.
    pub async fn mail_failed(&self, id: uuid::Uuid, error: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        tessera_store::mail::mark_failed(&mut tx, id, error).await?;
        tx.commit().await?;
        Ok(())
    }
}
