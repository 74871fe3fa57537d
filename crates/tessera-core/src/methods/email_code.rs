//! Sign-in with a code sent by email (`amr` `otp`): the customer gives their address, gets a six-digit
//! code, and types it in. It proves control of the mailbox, a possession factor, but email is no
//! authenticator at AAL2 (NIST SP 800-63B), so it signs in at AAL1 only. It holds no credential of its
//! own: the account's email identifier is what it proves.
//!
//! Whether the address has an account never shows (RL-05): an unknown address, or an account that
//! cannot sign in, gets a decoy that is refused and counted exactly like a wrong code, behind the same
//! notice.
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_model::IdentityId;
use tessera_model::flow::{UiMessage, UiNode};
use tessera_model::identifier::{self, IdentifierKind};
use tessera_model::identity::IdentityState;
use tessera_store::Tx;

use super::{Account, Charge, Factor, Method, MethodFuture, Secret, SignIn, Verdict};
use crate::flows::{FlowInput, field, nodes};
use crate::{CoreError, Result};

/// The id and UI group of the emailed sign-in code.
pub const ID: &str = "email_code";

/// What the method keeps between sending the code and checking it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sent {
    /// The normalised address the code went to (or would have).
    email: String,
}

impl Sent {
    fn of(pending: Option<&Value>) -> Option<Self> {
        pending.and_then(|p| serde_json::from_value(p.clone()).ok())
    }
}

/// The emailed sign-in code.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmailCode;

impl Method for EmailCode {
    fn id(&self) -> &'static str {
        ID
    }

    fn amr(&self) -> &'static str {
        "otp"
    }

    fn factor(&self) -> Factor {
        Factor::Possession
    }

    fn allowed_at_aal2(&self) -> bool {
        false
    }

    fn sign_in_nodes(&self, _second: bool) -> Vec<UiNode> {
        vec![
            nodes::button(
                ID,
                "method",
                ID,
                "button-email-code",
                "Email me a sign-in code",
            )
            .secondary(),
        ]
    }

    fn charge(&self, _: Option<IdentityId>, pending: Option<&Value>, input: &FlowInput) -> Charge {
        match (
            Sent::of(pending),
            field(input, "code"),
            field(input, "identifier"),
        ) {
            (Some(sent), Some(_), _) => Charge::Guess {
                account: Account::Identifier(sent.email),
                secret: Secret::Code,
            },
            (None, _, Some(raw)) => Charge::Mail {
                account: Account::Identifier(raw.to_owned()),
            },
            _ => Charge::Nothing,
        }
    }

    fn sign_in<'a>(&'a self, s: SignIn<'a>) -> MethodFuture<'a, (Verdict, Option<Tx>)> {
        Box::pin(sign_in(s))
    }
}

fn code_nodes() -> Vec<UiNode> {
    vec![
        nodes::code(ID),
        nodes::button(ID, "method", ID, "button-verify", "Verify"),
    ]
}

async fn sign_in(s: SignIn<'_>) -> Result<(Verdict, Option<Tx>)> {
    match Sent::of(s.pending) {
        None => send(s).await,
        Some(sent) => check(s, sent).await,
    }
}

/// Sends a code to the address typed as the identifier (a decoy when nobody may get one).
async fn send(s: SignIn<'_>) -> Result<(Verdict, Option<Tx>)> {
    let t = s.t;
    let Some(raw) = field(s.input, "identifier") else {
        return Ok((Verdict::Missing(vec!["identifier"]), None));
    };
    let Ok(email) = identifier::normalize(IdentifierKind::Email, raw) else {
        return Ok((Verdict::Refused, None));
    };
    let holder = active_holder(&s, &email.value).await?;
    let mut tx = t.db().begin().await?;
    match holder {
        Some(identity) => {
            let issued = t
                .issue_code(
                    &mut tx,
                    &s.tenant.slug,
                    s.flow,
                    Some(identity),
                    "sign_in",
                    &email.value,
                )
                .await?;
            let vars = json!({
                "code": issued.code,
                "expires_minutes": crate::flows::CODE_TTL.whole_minutes(),
            });
            t.queue_mail(
                &mut tx,
                s.tenant.id,
                &email.value,
                "sign_in_code",
                s.flow.locale.as_deref(),
                vars,
            )
            .await?;
        }
        None => t.issue_decoy(&mut tx, &s.tenant.slug, s.flow).await?,
    }
    let pending = serde_json::to_value(Sent {
        email: email.value.clone(),
    })
    .map_err(|e| CoreError::Internal(e.to_string()))?;
    Ok((
        Verdict::Pending {
            pending,
            nodes: code_nodes(),
            notice: UiMessage::info(
                "info-code-sent",
                "If an account exists for this address, we sent it a code.",
            )
            .arg("email", email.value),
        },
        Some(tx),
    ))
}

/// Checks the code; the attempt it counts commits with the step whatever the answer.
async fn check(s: SignIn<'_>, sent: Sent) -> Result<(Verdict, Option<Tx>)> {
    let t = s.t;
    let Some(code) = field(s.input, "code") else {
        return Ok((Verdict::Missing(vec!["code"]), None));
    };
    // Read before the write transaction opens: the account may have been frozen or deleted since the
    // code went out.
    let holder = active_holder(&s, &sent.email).await?;
    let mut tx = t.db().begin().await?;
    let verdict = match (t.redeem_code(&mut tx, s.flow, code).await?, holder) {
        (Ok(stored), Some(holder)) if stored.identity_id == Some(holder) => {
            Verdict::Proven { identity: holder }
        }
        _ => Verdict::Refused,
    };
    Ok((verdict, Some(tx)))
}

/// The active identity that holds this email address and proved it, if any: a code to an address nobody
/// proved would sign in whoever added it to the account (an admin, a half-finished sign-up), so such an
/// address gets the decoy like an unknown one (REG-01, REG-04). The guard read it already when it named
/// the account it counted.
async fn active_holder(s: &SignIn<'_>, email: &str) -> Result<Option<IdentityId>> {
    let candidate = match s.looked_up(IdentifierKind::Email, email, ID) {
        Some(c) => c.cloned(),
        None => {
            let mut conn = s.t.db().conn().await?;
            tessera_store::identities::sign_in_candidate(
                &mut conn,
                s.tenant.id,
                IdentifierKind::Email,
                email,
                ID,
            )
            .await?
        }
    };
    Ok(candidate
        .filter(|c| c.state == IdentityState::Active && c.verified)
        .map(|c| c.identity))
}
