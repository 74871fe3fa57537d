//! One-time codes and links sent by email, and the mail queue.
//!
//! A code is six digits from the CSPRNG, a link token 256 bits; only keyed hashes are stored. A code has a
//! small attempt cap (MFA-05) and every wrong guess also counts against the account, so requesting
//! new codes never resets the budget.
use serde_json::{Value, json};
use tessera_model::flow::Flow;
use tessera_model::{IdentityId, TenantId};
use tessera_store::Tx;
use tessera_store::codes::StoredCode;
use tessera_store::mail::Mail;
use uuid::Uuid;

use super::CODE_TTL;
use crate::{CoreError, Result, Tessera};

/// Wrong guesses allowed on one code before it is void.
pub const MAX_CODE_ATTEMPTS: i64 = 5;

/// A code and link just issued, to put in a mail.
pub struct Issued {
    pub code: String,
    pub link: String,
}

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefusal {
    Invalid,
    Expired,
}

fn six_digits() -> Result<String> {
    // Rejection sampling keeps the distribution uniform.
    loop {
        let b = tessera_crypto::random_bytes::<4>()?;
        let n = u32::from_be_bytes(b);
        if n < 4_294_000_000 {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

impl Tessera {
    fn code_hash(&self, id: Uuid, code: &str) -> Vec<u8> {
        self.keys
            .secret_hasher
            .hash(&format!("otc\u{0}{id}\u{0}{code}"))
    }

    /// The keyed hash of a link token, as stored.
    pub(crate) fn link_hash(&self, token: &str) -> Vec<u8> {
        self.keys.secret_hasher.hash(&format!("otl\u{0}{token}"))
    }

    /// Issues a code for a flow (voiding the flow's earlier codes).
    pub(crate) async fn issue_code(
        &self,
        tx: &mut Tx,
        tenant_slug: &str,
        flow: &Flow,
        identity: Option<IdentityId>,
        purpose: &str,
        target: &str,
    ) -> Result<Issued> {
        let now = self.now();
        tessera_store::codes::void_for_flow(tx, flow.id, now).await?;
        let id = Uuid::now_v7();
        let code = six_digits()?;
        let token = tessera_crypto::random_token()?;
        let stored = StoredCode {
            id,
            tenant_id: flow.tenant_id,
            identity_id: identity,
            flow_id: Some(flow.id),
            purpose: purpose.into(),
            target: target.into(),
            code_hash: self.code_hash(id, &code),
            link_hash: self.link_hash(&token),
            attempts: 0,
            expires_at: now + CODE_TTL,
            consumed_at: None,
            created_at: now,
        };
        tessera_store::codes::insert(tx, &stored).await?;
        let link = self.public_url(tenant_slug, &format!("/flows/link?token={token}"));
        Ok(Issued { code, link })
    }

    /// Checks a typed code against the flow's live code and consumes it on success.
    pub(crate) async fn redeem_code(
        &self,
        flow: &Flow,
        typed: &str,
    ) -> Result<std::result::Result<StoredCode, CodeRefusal>> {
        let now = self.now();
        let mut conn = self.db.conn().await?;
        let live = tessera_store::codes::live_for_flow(&mut conn, flow.id, now).await?;
        drop(conn);
        let Some(code) = live else {
            return Ok(Err(CodeRefusal::Expired));
        };
        let typed: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let mut tx = self.db.begin().await?;
        if !tessera_crypto::constant_time_eq(&self.code_hash(code.id, &typed), &code.code_hash) {
            let attempts = tessera_store::codes::count_attempt(&mut tx, code.id).await?;
            if attempts >= MAX_CODE_ATTEMPTS {
                tessera_store::codes::consume(&mut tx, code.id, now).await?;
            }
            tx.commit().await?;
            return Ok(Err(CodeRefusal::Invalid));
        }
        let won = tessera_store::codes::consume(&mut tx, code.id, now).await?;
        tx.commit().await?;
        if won {
            Ok(Ok(code))
        } else {
            Ok(Err(CodeRefusal::Invalid))
        }
    }

    /// Queues a mail; it is rendered and sent by the delivery worker (or shown in the dev mailbox). A
    /// mail carrying a one-time code (a `code` variable) expires with the code: unsent by then, it is
    /// never sent and its variables are scrubbed.
    pub(crate) async fn queue_mail(
        &self,
        tx: &mut Tx,
        tenant: TenantId,
        to: &str,
        template: &str,
        locale: Option<&str>,
        vars: Value,
    ) -> Result<()> {
        let now = self.now();
        let m = Mail {
            id: Uuid::now_v7(),
            tenant_id: tenant,
            to_address: to.into(),
            template: template.into(),
            locale: locale.unwrap_or("en").into(),
            expires_at: vars.get("code").map(|_| now + CODE_TTL),
            vars,
            created_at: now,
            sent_at: None,
            attempts: 0,
            last_error: None,
        };
        tessera_store::mail::enqueue(tx, &m).await?;
        Ok(())
    }
}

/// Variables every mail template can use.
pub(crate) fn mail_vars(tenant_name: &str, email: &str, extra: Value) -> Value {
    let mut v = json!({"tenant_name": tenant_name, "email": email, "expires_minutes": CODE_TTL.whole_minutes()});
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v
}

impl From<CodeRefusal> for CoreError {
    fn from(r: CodeRefusal) -> Self {
        match r {
            CodeRefusal::Invalid => CoreError::bad_request("code_invalid", "the code is wrong"),
            CodeRefusal::Expired => CoreError::bad_request("code_expired", "the code expired"),
        }
    }
}
