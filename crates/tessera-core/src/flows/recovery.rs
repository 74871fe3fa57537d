//! Account recovery by email code or link. The answer is the same whether or not the account exists;
//! links come from the configured base URL only; a reset signs out every session, voids other recovery
//! codes and notifies the customer. Recovery never opens a session itself: the customer signs in with
//! the new password afterwards, so a second factor, once one exists, cannot be skipped (REC-01).
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
use super::registration::{check_new_password, code_error};
use super::state::{Awaits, JourneyState};
use super::{
    FlowContext, FlowInput, Step, field, invalid_email, nodes, raw_field, required, stay, types,
};
use crate::{Caller, Result, Tessera};

/// Where a recovery is (see [`super::state`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum RecoveryState {
    /// Asking for the account's address.
    EnterEmail,
    /// A code (or a decoy) went to `email`; nothing is proven yet.
    SentEmail { email: String },
    /// A code or link proved `email`, of `identity`: only this state sets a password, and only while the
    /// flow's recovery grant lives.
    SetPassword { email: String, identity: IdentityId },
}

impl JourneyState for RecoveryState {
    const KIND: tessera_model::flow::FlowKind = tessera_model::flow::FlowKind::Recovery;

    fn name(&self) -> &'static str {
        match self {
            Self::EnterEmail => "enter_email",
            Self::SentEmail { .. } => "sent_email",
            Self::SetPassword { .. } => "set_password",
        }
    }
}

/// What a recovery's step waits for, for the guard and links.
pub(crate) fn awaits(flow: &Flow) -> Awaits {
    match RecoveryState::of(flow) {
        Ok(RecoveryState::EnterEmail) => Awaits::Address,
        Ok(RecoveryState::SentEmail { email }) => Awaits::Code {
            email,
            resend: false,
        },
        Ok(RecoveryState::SetPassword { .. }) => Awaits::NewPassword,
        Err(_) => Awaits::Other,
    }
}

pub(crate) fn init(flow: &mut Flow, email: Option<&str>) {
    RecoveryState::EnterEmail.set(flow);
    nodes::ask_email(flow, email);
}

fn show_code_step(flow: &mut Flow, email: &str) {
    nodes::ask_code(
        flow,
        UiMessage::info(
            "info-code-sent",
            "If an account exists for this address, we sent it a code.",
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
    let Some(state) = RecoveryState::read(flow) else {
        return stay("unknown_state");
    };
    match state {
        RecoveryState::EnterEmail => submit_email(t, ctx, tenant, flow, input).await,
        RecoveryState::SentEmail { email } => submit_code(t, tenant, flow, input, &email).await,
        RecoveryState::SetPassword { email, identity } => {
            submit_password(t, tenant, flow, input, &email, identity).await
        }
    }
}

async fn submit_email(
    t: &Tessera,
    ctx: &FlowContext,
    tenant: &Tenant,
    flow: &mut Flow,
    input: &FlowInput,
) -> Result<(Step, Option<Tx>)> {
    let Some(raw) = field(input, "email") else {
        flow.ui.field_error("email", required());
        return stay("missing_field");
    };
    let Ok(n) = identifier::normalize(IdentifierKind::Email, raw) else {
        flow.ui.field_error("email", invalid_email());
        return stay("invalid_email");
    };
    let email = n.value;
    let mut tx = t.db().begin().await?;
    RecoveryState::SentEmail {
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
    // Only a proven address of an account that can sign in receives a recovery code.
    let recoverable = holder.filter(|h| {
        h.state == IdentityState::Active
            && h.identifiers
                .iter()
                .any(|x| x.kind == IdentifierKind::Email && x.value == email && x.verified)
    });
    if let Some(h) = recoverable {
        let issued = t
            .issue_code(&mut tx, &ctx.tenant, flow, Some(h.id), "recovery", &email)
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
            "recovery_code",
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
            proven(t, &mut tx, tenant, flow, email, stored.identity_id).await?;
            Ok((Step::Advance, Some(tx)))
        }
        Err(refusal) => {
            show_code_step(flow, email);
            code_error(flow, refusal);
            // The attempt counted on the code commits with the refusal.
            Ok((
                Step::Stay {
                    reason: "invalid_code",
                },
                Some(tx),
            ))
        }
    }
}

/// A link from the code's mail proved `email`: the same as entering the code, for a flow that still
/// waits for a code sent to that address.
pub(crate) async fn proven_by_link(
    t: &Tessera,
    tx: &mut Tx,
    tenant: &Tenant,
    flow: &mut Flow,
    email: &str,
    identity: Option<IdentityId>,
) -> Result<()> {
    match RecoveryState::of(flow) {
        Ok(RecoveryState::SentEmail { email: sent_to }) if sent_to == email => {
            proven(t, tx, tenant, flow, email, identity).await
        }
        _ => Err(super::state::changed()),
    }
}

/// The address is proven: ask for the new password. The flow holds a recovery grant until then, which
/// every later password change, reset or revocation voids (REC-02, REC-07). A proof without an identity
/// (recovery codes always name one, so this does not happen) starts over like a voided grant.
async fn proven(
    t: &Tessera,
    tx: &mut Tx,
    tenant: &Tenant,
    flow: &mut Flow,
    email: &str,
    identity: Option<IdentityId>,
) -> Result<()> {
    let Some(id) = identity else {
        voided(flow, email);
        return Ok(());
    };
    t.issue_recovery_grant(tx, &tenant.slug, flow, id).await?;
    flow.identity_id = Some(id);
    RecoveryState::SetPassword {
        email: email.to_owned(),
        identity: id,
    }
    .set(flow);
    flow.ui.messages = vec![UiMessage::success(
        "success-verified",
        "Your email address is confirmed.",
    )];
    flow.ui.nodes = vec![
        nodes::password("password", "password", true),
        nodes::button("password", "method", "password", "button-save", "Save"),
    ];
    Ok(())
}

/// The recovery's grant was voided while it waited for the password (the password changed, another
/// reset finished, the sessions were revoked or the account was frozen): the customer starts again
/// from the address, and nothing is set.
fn voided(flow: &mut Flow, email: &str) {
    flow.identity_id = None;
    RecoveryState::EnterEmail.set(flow);
    nodes::ask_email(flow, Some(email));
    flow.ui.messages = vec![UiMessage::error(
        "error-recovery-voided",
        "This reset no longer works: the account changed while it waited (its password was changed, for example). Ask for a new code to try again.",
    )];
}

async fn submit_password(
    t: &Tessera,
    tenant: &Tenant,
    flow: &mut Flow,
    input: &FlowInput,
    email: &str,
    identity: IdentityId,
) -> Result<(Step, Option<Tx>)> {
    let email = email.to_owned();
    let Some(password) = raw_field(input, "password") else {
        flow.ui.field_error("password", required());
        return stay("missing_field");
    };
    let local = email.split('@').next().unwrap_or_default().to_owned();
    if check_new_password(t, tenant, flow, "password", password, &[&email, &local])
        .await?
        .is_none()
    {
        return stay("weak_password");
    }
    let hash = t.passwords().hash(password).await?;
    let mut tx = t.db().begin().await?;
    if !t.take_recovery_grant(&mut tx, flow, identity).await? {
        voided(flow, &email);
        return Ok((Step::Advance, None));
    }
    set_password(
        t,
        &mut tx,
        tenant,
        identity,
        &hash,
        None,
        "recovery",
        flow.locale.as_deref(),
    )
    .await?;
    flow.ui.nodes = vec![nodes::text(
        "default",
        "done",
        UiMessage::success(
            "success-password-changed",
            "Your password was changed. Sign in with the new one.",
        ),
    )];
    flow.ui.messages = Vec::new();
    Ok((Step::Finish, Some(tx)))
}

/// Sets a new password, signs out sessions (all but `keep`), which voids every pending code and link of
/// the identity (recovery, verification, email change: REC-02), and tells the customer at every verified
/// address.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn set_password(
    t: &Tessera,
    tx: &mut Tx,
    tenant: &Tenant,
    identity: IdentityId,
    hash: &str,
    keep: Option<uuid::Uuid>,
    via: &str,
    locale: Option<&str>,
) -> Result<()> {
    let now = t.now();
    crate::methods::password::store(tx, tenant.id, identity, hash, now).await?;
    let signed_out = t
        .revoke_sessions_of(tx, tenant.id, identity, keep, "password_changed")
        .await?;
    let ev = NewEvent::new(
        tenant.id,
        types::PASSWORD_CHANGED,
        identity_subject(identity),
        json!({"identity_id": identity, "via": via, "sessions_revoked": signed_out}),
    );
    t.record(tx, &Caller::system(), ev, None).await?;
    if let Some(i) = tessera_store::identities::get(tx, tenant.id, identity).await? {
        for addr in i
            .identifiers
            .iter()
            .filter(|x| x.kind == IdentifierKind::Email && x.verified)
        {
            let vars = mail_vars(
                &tenant.name,
                &addr.value,
                json!({"link": t.flows().public_url(&tenant.slug, "/recovery")}),
            );
            t.queue_mail(
                tx,
                tenant.id,
                &addr.value,
                "password_changed_notice",
                locale,
                vars,
            )
            .await?;
        }
    }
    Ok(())
}
