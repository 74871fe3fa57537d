//! Verifying an email address that an identity holds unproven (for example one an admin or an import
//! created). Proving the first address of an identity wipes any credentials and sessions set on it
//! before the proof (REG-04): whoever set them never showed they own anything. An identity that already
//! has a proven address keeps them. Every address gets the same answers (RL-05).
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_model::IdentityId;
use tessera_model::event::{NewEvent, identity_subject};
use tessera_model::flow::{Flow, UiMessage};
use tessera_model::identifier::{self, IdentifierKind};
use tessera_model::identity::IdentityState;
use tessera_model::tenant::Tenant;
use tessera_store::Tx;

use super::codes::mail_vars;
use super::registration::code_error;
use super::state::{Awaits, JourneyState};
use super::{FlowContext, FlowInput, Step, field, invalid_email, nodes, required, stay, types};
use crate::{Caller, Result, Tessera};

/// Where a verification is (see [`super::state`]). Proving the address finishes the flow, so no state
/// holds a proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum VerificationState {
    /// Asking for the address.
    EnterEmail,
    /// A code (or a decoy) went to `email`.
    SentEmail { email: String },
}

impl JourneyState for VerificationState {
    const KIND: tessera_model::flow::FlowKind = tessera_model::flow::FlowKind::Verification;

    fn name(&self) -> &'static str {
        match self {
            Self::EnterEmail => "enter_email",
            Self::SentEmail { .. } => "sent_email",
        }
    }
}

/// What a verification's step waits for, for the guard and links.
pub(crate) fn awaits(flow: &Flow) -> Awaits {
    match VerificationState::of(flow) {
        Ok(VerificationState::EnterEmail) => Awaits::Address,
        Ok(VerificationState::SentEmail { email }) => Awaits::Code {
            email,
            resend: false,
        },
        Err(_) => Awaits::Other,
    }
}

pub(crate) fn init(flow: &mut Flow, email: Option<&str>) {
    VerificationState::EnterEmail.set(flow);
    nodes::ask_email(flow, email);
}

fn show_code_step(flow: &mut Flow, email: &str) {
    nodes::ask_code(
        flow,
        UiMessage::info(
            "info-verification-sent",
            "If this address needs verifying, we sent it a code.",
        )
        .arg("email", email),
    );
}

pub(crate) async fn submit(
    t: &Tessera,
    ctx: &FlowContext,
    tenant: &Tenant,
    flow: &mut Flow,
    input: &FlowInput,
) -> Result<(Step, Option<Tx>)> {
    match VerificationState::read(flow) {
        Some(VerificationState::EnterEmail) => {}
        Some(VerificationState::SentEmail { email }) => {
            return submit_code(t, tenant, flow, input, &email).await;
        }
        None => return stay("unknown_state"),
    }
    let Some(Ok(n)) =
        field(input, "email").map(|raw| identifier::normalize(IdentifierKind::Email, raw))
    else {
        flow.ui.field_error("email", invalid_email());
        return stay("invalid_email");
    };
    let email = n.value;
    let mut tx = t.db().begin().await?;
    VerificationState::SentEmail {
        email: email.clone(),
    }
    .set(flow);
    let holder = match tessera_store::identities::by_identifier(
        &mut tx,
        tenant.id,
        IdentifierKind::Email,
        &email,
    )
    .await?
    {
        Some(id) => tessera_store::identities::get(&mut tx, tenant.id, id).await?,
        None => None,
    };
    let needs = holder.filter(|h| {
        matches!(h.state, IdentityState::Active | IdentityState::Prospect)
            && h.identifiers
                .iter()
                .any(|x| x.kind == IdentifierKind::Email && x.value == email && !x.verified)
    });
    if let Some(h) = needs {
        let issued = t
            .issue_code(
                &mut tx,
                &ctx.tenant,
                flow,
                Some(h.id),
                "verification",
                &email,
            )
            .await?;
        let vars = mail_vars(
            &tenant.name,
            &email,
            json!({"code": issued.code, "link": issued.link}),
        );
        t.queue_mail(
            &mut tx,
            tenant.id,
            &email,
            "verification_code",
            flow.locale.as_deref(),
            vars,
        )
        .await?;
    } else {
        t.issue_decoy(&mut tx, &ctx.tenant, flow).await?;
    }
    show_code_step(flow, &email);
    Ok((Step::Advance, Some(tx)))
}

async fn submit_code(
    t: &Tessera,
    tenant: &Tenant,
    flow: &mut Flow,
    input: &FlowInput,
    email: &str,
) -> Result<(Step, Option<Tx>)> {
    let Some(code) = field(input, "code") else {
        show_code_step(flow, email);
        flow.ui.field_error("code", required());
        return stay("missing_field");
    };
    let mut tx = t.db().begin().await?;
    match t.redeem_code(&mut tx, flow, code).await? {
        Ok(stored) => {
            if let Some(id) = stored.identity_id {
                mark_verified(t, &mut tx, tenant, id, email).await?;
            }
            done(flow);
            Ok((Step::Finish, Some(tx)))
        }
        Err(refusal) => {
            show_code_step(flow, email);
            code_error(flow, refusal);
            Ok((
                Step::Stay {
                    reason: "invalid_code",
                },
                Some(tx),
            ))
        }
    }
}

/// A link from the code's mail proved `email`, for a flow that still waits for a code sent to that
/// address: the address is marked proven and the flow shows its end.
pub(crate) async fn proven_by_link(
    t: &Tessera,
    tx: &mut Tx,
    tenant: &Tenant,
    flow: &mut Flow,
    email: &str,
    identity: Option<IdentityId>,
) -> Result<()> {
    match VerificationState::of(flow) {
        Ok(VerificationState::SentEmail { email: sent_to }) if sent_to == email => {
            if let Some(id) = identity {
                mark_verified(t, tx, tenant, id, email).await?;
            }
            done(flow);
            Ok(())
        }
        _ => Err(super::state::changed()),
    }
}

fn done(flow: &mut Flow) {
    flow.ui.messages = Vec::new();
    flow.ui.nodes = vec![nodes::text(
        "default",
        "done",
        UiMessage::success("success-verified", "Your email address is confirmed."),
    )];
}

/// Marks an address proven. When the identity had no proven identifier before, whoever set its
/// credentials and sessions never showed they own anything, so those are wiped (REG-04); an identity
/// that already had a proven owner keeps them (invariant 10 wipes for unproven claimants only).
async fn mark_verified(
    t: &Tessera,
    tx: &mut Tx,
    tenant: &Tenant,
    id: IdentityId,
    email: &str,
) -> Result<()> {
    let Some(mut identity) = tessera_store::identities::get(tx, tenant.id, id).await? else {
        return Ok(());
    };
    let now = t.now();
    if !identity.identifiers.iter().any(|x| x.verified) {
        let wiped = tessera_store::credentials::delete_all(tx, id).await?;
        let sessions = t
            .revoke_sessions_of(tx, tenant.id, id, None, "unverified_claimant")
            .await?;
        if wiped > 0 || sessions > 0 {
            let ev = NewEvent::new(
                tenant.id,
                types::CREDENTIALS_WIPED,
                identity_subject(id),
                json!({"identity_id": id, "credentials": wiped, "sessions": sessions, "reason": "address_proven"}),
            );
            t.record(tx, &Caller::system(), ev, None).await?;
        }
    }
    for ident in &mut identity.identifiers {
        if ident.kind == IdentifierKind::Email && ident.value == email {
            ident.verified = true;
        }
    }
    tessera_store::identities::delete_identifiers(tx, tenant.id, id).await?;
    for ident in &identity.identifiers {
        tessera_store::identities::insert_identifier(tx, tenant.id, id, ident, now).await?;
    }
    let ev = NewEvent::new(
        tenant.id,
        types::EMAIL_VERIFIED,
        identity_subject(id),
        json!({"identity_id": id, "via": "verification"}),
    );
    t.record(tx, &Caller::system(), ev, None).await
}
