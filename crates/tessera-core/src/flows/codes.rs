//! One-time codes and links sent by email, and the mail queue.
//!
//! A code is six digits from the CSPRNG, a link token 256 bits; only keyed hashes are stored. A code has a
//! small attempt cap (MFA-05) and every wrong guess also counts against the account, so requesting
//! new codes never resets the budget.
//!
//! A step that must not tell whether an account exists (RL-05) stores a *decoy* when nobody may get a
//! code: it is refused, counted and voided exactly like a real code that was guessed wrong, but no code
//! or link for it is ever known to anyone, and it never redeems.
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

/// The purpose of a decoy code (see the module documentation).
const DECOY: &str = "decoy";

/// The purpose of the "not me" link sent to the old address of an email change (REC-04); the stored
/// name is older than what the link does now (it freezes the account, see `links`).
pub(crate) const EMAIL_UNDO: &str = "email_undo";

/// The purpose of a recovery's accepted proof: a recovery flow that proved the address holds one while it
/// waits for the new password, and setting the password consumes it. It is voided with every other proof
/// in flight, so a password change, another finished reset or revoked sessions end a waiting recovery
/// too (REC-02, REC-07).
const RECOVERY_GRANT: &str = "recovery_grant";

/// How long the "not me" link of an email change works: long enough for the owner to read the notice,
/// short enough that whoever picks up a mailbox the owner left behind cannot freeze the account long after.
pub const UNDO_TTL: time::Duration = time::Duration::hours(72);

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
        self.keys()
            .secret_hasher
            .hash(&format!("otc\u{0}{id}\u{0}{code}"))
    }

    /// The keyed hash of a link token, as stored.
    pub(crate) fn link_hash(&self, token: &str) -> Vec<u8> {
        self.keys().secret_hasher.hash(&format!("otl\u{0}{token}"))
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
        let code = NewCode {
            identity,
            flow: Some(flow),
            purpose,
            target,
            session: None,
            ttl: CODE_TTL,
        };
        self.store_code(tx, tenant_slug, flow.tenant_id, code).await
    }

    /// Issues the code of an email change, tied to the session that asked for it: confirming needs that
    /// session still alive (REC-02).
    pub(crate) async fn issue_email_change_code(
        &self,
        tx: &mut Tx,
        tenant_slug: &str,
        flow: &Flow,
        identity: IdentityId,
        session: Uuid,
        target: &str,
    ) -> Result<Issued> {
        let code = NewCode {
            identity: Some(identity),
            flow: Some(flow),
            purpose: "email_change",
            target,
            session: Some(session),
            ttl: CODE_TTL,
        };
        self.store_code(tx, tenant_slug, flow.tenant_id, code).await
    }

    /// Stores a decoy in place of a code for a flow whose address gets none, so that guesses are
    /// answered exactly as for an address that got one (RL-05). Its code and link are thrown away.
    pub(crate) async fn issue_decoy(
        &self,
        tx: &mut Tx,
        tenant_slug: &str,
        flow: &Flow,
    ) -> Result<()> {
        let code = NewCode {
            identity: None,
            flow: Some(flow),
            purpose: DECOY,
            target: "",
            session: None,
            ttl: CODE_TTL,
        };
        self.store_code(tx, tenant_slug, flow.tenant_id, code)
            .await
            .map(drop)
    }

    /// Records that a recovery flow proved its address and may now set the password (see
    /// [`RECOVERY_GRANT`]); it lives as long as the flow. Its code and link are thrown away.
    pub(crate) async fn issue_recovery_grant(
        &self,
        tx: &mut Tx,
        tenant_slug: &str,
        flow: &Flow,
        identity: IdentityId,
    ) -> Result<()> {
        let code = NewCode {
            identity: Some(identity),
            flow: Some(flow),
            purpose: RECOVERY_GRANT,
            target: "",
            session: None,
            ttl: (flow.expires_at - self.now()).max(time::Duration::ZERO),
        };
        self.store_code(tx, tenant_slug, flow.tenant_id, code)
            .await
            .map(drop)
    }

    /// Consumes the recovery grant of `flow` for `identity`; `false` when it was voided meanwhile (or
    /// never issued), and then the password must not be set.
    pub(crate) async fn take_recovery_grant(
        &self,
        tx: &mut Tx,
        flow: &Flow,
        identity: IdentityId,
    ) -> Result<bool> {
        let now = self.now();
        let Some(grant) = tessera_store::codes::live_for_flow(tx, flow.id, now).await? else {
            return Ok(false);
        };
        if grant.purpose != RECOVERY_GRANT || grant.identity_id != Some(identity) {
            return Ok(false);
        }
        Ok(tessera_store::codes::consume(tx, grant.id, now).await?)
    }

    /// Issues the "not me" link of an email change, for the old address `target` (REC-04). It belongs
    /// to no flow and survives the voiding that password changes and revocations do: the person it
    /// protects may be the one locked out.
    pub(crate) async fn issue_undo_link(
        &self,
        tx: &mut Tx,
        tenant_slug: &str,
        tenant: TenantId,
        identity: IdentityId,
        target: &str,
    ) -> Result<String> {
        let code = NewCode {
            identity: Some(identity),
            flow: None,
            purpose: EMAIL_UNDO,
            target,
            session: None,
            ttl: UNDO_TTL,
        };
        Ok(self.store_code(tx, tenant_slug, tenant, code).await?.link)
    }

    async fn store_code(
        &self,
        tx: &mut Tx,
        tenant_slug: &str,
        tenant: TenantId,
        new: NewCode<'_>,
    ) -> Result<Issued> {
        let now = self.now();
        if let Some(flow) = new.flow {
            tessera_store::codes::void_for_flow(tx, flow.id, now).await?;
            // A recovery that proved the address supersedes any other one waiting for its password. Codes
            // are not voided across flows: anyone who knows an address may start a recovery for it, and
            // that must not kill the code the owner is typing (each code is bound to its flow and counted).
            if let (Some(identity), RECOVERY_GRANT) = (new.identity, new.purpose) {
                tessera_store::codes::void_purpose_for_identity(tx, identity, new.purpose, now)
                    .await?;
            }
        }
        let id = Uuid::now_v7();
        let code = six_digits()?;
        let token = tessera_crypto::random_token()?;
        let stored = StoredCode {
            id,
            tenant_id: tenant,
            identity_id: new.identity,
            flow_id: new.flow.map(|f| f.id),
            purpose: new.purpose.into(),
            target: new.target.into(),
            session_id: new.session,
            code_hash: self.code_hash(id, &code),
            link_hash: self.link_hash(&token),
            attempts: 0,
            expires_at: now + new.ttl,
            consumed_at: None,
            created_at: now,
        };
        tessera_store::codes::insert(tx, &stored).await?;
        let link = self
            .flows()
            .public_url(tenant_slug, &format!("/flows/link?token={token}"));
        Ok(Issued { code, link })
    }

    /// Voids every pending code and link of an identity but the undo links of email changes: a
    /// password change or reset and revoked sessions end every proof in flight (REC-02), including a
    /// recovery that proved its address and waits for the password.
    pub(crate) async fn void_codes_of(&self, tx: &mut Tx, identity: IdentityId) -> Result<u64> {
        // Whatever voids the codes also ends sign-ins parked between two steps (see `flows::login`).
        tessera_store::identities::bump_security_stamp(tx, identity).await?;
        Ok(tessera_store::codes::void_for_identity(tx, identity, EMAIL_UNDO, self.now()).await?)
    }

    /// Voids every pending code and link of an identity, undo links included (an account frozen from
    /// an email-change notice).
    pub(crate) async fn void_every_code_of(
        &self,
        tx: &mut Tx,
        identity: IdentityId,
    ) -> Result<u64> {
        tessera_store::identities::bump_security_stamp(tx, identity).await?;
        Ok(tessera_store::codes::void_all_for_identity(tx, identity, self.now()).await?)
    }

    /// Whether the session that asked for `code` (if one did) is still alive: an email change dies
    /// with the session that requested it.
    pub(crate) async fn requester_alive(&self, code: &StoredCode) -> Result<bool> {
        let Some(id) = code.session_id else {
            return Ok(true);
        };
        let mut conn = self.db().conn().await?;
        let now = self.now();
        Ok(tessera_store::sessions::get(&mut conn, id)
            .await?
            .is_some_and(|s| s.is_live(now) && Some(s.identity_id) == code.identity_id))
    }

    /// Checks a typed code against the flow's live code and consumes it on success, inside the step's
    /// transaction: the consumption commits with the flow's move, or not at all, so of two parallel
    /// redemptions exactly one wins (a loser's refusal can never overtake the winner: REC-02).
    pub(crate) async fn redeem_code(
        &self,
        tx: &mut Tx,
        flow: &Flow,
        typed: &str,
    ) -> Result<std::result::Result<StoredCode, CodeRefusal>> {
        let now = self.now();
        let Some(code) = tessera_store::codes::live_for_flow(tx, flow.id, now).await? else {
            return Ok(Err(CodeRefusal::Expired));
        };
        let typed: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let matches =
            tessera_crypto::constant_time_eq(&self.code_hash(code.id, &typed), &code.code_hash);
        if !matches || code.purpose == DECOY {
            let attempts = tessera_store::codes::count_attempt(tx, code.id).await?;
            if attempts >= MAX_CODE_ATTEMPTS {
                tessera_store::codes::consume(tx, code.id, now).await?;
            }
            return Ok(Err(CodeRefusal::Invalid));
        }
        if tessera_store::codes::consume(tx, code.id, now).await? {
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

/// What a new code is for.
struct NewCode<'a> {
    identity: Option<IdentityId>,
    flow: Option<&'a Flow>,
    purpose: &'a str,
    target: &'a str,
    session: Option<Uuid>,
    ttl: time::Duration,
}

/// Whether a stored code is a decoy (never redeemable, not even by its link).
pub(crate) fn is_decoy(code: &StoredCode) -> bool {
    code.purpose == DECOY
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
