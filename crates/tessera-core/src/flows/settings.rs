//! Self-service basics for a signed-in customer: edit the attributes the schema lets customers edit,
//! change password (needs the current one and a recent sign-in), change email (pending until the new
//! address is confirmed from the session that asked; the old address is told, with a "not me" link that
//! freezes the account: REC-04), list and revoke sessions, and see and withdraw the consents given to apps
//! ("Apps with access", CON-02). Password and email changes need a sign-in
//! younger than [`RECENT_LOGIN`] (SES-08).
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_model::event::{NewEvent, identity_subject, types as ev_types};
use tessera_model::flow::{Flow, UiMessage};
use tessera_model::identifier::{self, IdentifierKind};
use tessera_model::identity::{Identifier, Identity, IdentityState};
use tessera_model::tenant::Tenant;
use tessera_store::Tx;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::codes::{CodeRefusal, UNDO_TTL, mail_vars};
use super::state::JourneyState;
use super::{
    FlowContext, FlowInput, RECENT_LOGIN, Step, field, invalid_email, nodes, required, types,
};
use crate::sessions::ActiveSession;
use crate::{Caller, CoreError, Result, Tessera};

/// Where a settings flow is (see [`super::state`]): one page, with the email change that waits for its
/// code, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum SettingsState {
    Edit { pending_email: Option<String> },
}

impl JourneyState for SettingsState {
    const KIND: tessera_model::flow::FlowKind = tessera_model::flow::FlowKind::Settings;

    fn name(&self) -> &'static str {
        match self {
            Self::Edit { .. } => "edit",
        }
    }
}

/// The new address an email change of this flow waits to have proven: the guard counts guesses at its
/// code against that address too.
pub(crate) fn pending_email(flow: &Flow) -> Option<String> {
    match SettingsState::of(flow) {
        Ok(SettingsState::Edit { pending_email }) => pending_email,
        Err(_) => None,
    }
}

fn editable(schema: &tessera_model::attributes::AttributeSchema) -> Vec<String> {
    schema
        .attributes
        .iter()
        .filter(|a| a.customer_editable)
        .map(|a| a.name.clone())
        .collect()
}

pub(crate) async fn init(
    t: &Tessera,
    tenant: &Tenant,
    flow: &mut Flow,
    session: &ActiveSession,
) -> Result<()> {
    SettingsState::Edit {
        pending_email: None,
    }
    .set(flow);
    render(t, tenant, flow, session).await
}

/// Rebuilds the settings UI from the current account.
async fn render(
    t: &Tessera,
    tenant: &Tenant,
    flow: &mut Flow,
    session: &ActiveSession,
) -> Result<()> {
    let mut conn = t.db().conn().await?;
    let identity =
        tessera_store::identities::get(&mut conn, tenant.id, session.session.identity_id)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
    let schema = t.schema_of(&mut conn, tenant.id).await?.schema;
    drop(conn);
    let sessions = t.sessions().mine(session).await?;
    let email = identity
        .identifiers
        .iter()
        .find(|i| i.kind == IdentifierKind::Email)
        .map(|i| i.value.clone())
        .unwrap_or_default();
    let mut ui = Vec::new();
    for name in editable(&schema) {
        if let Some(def) = schema.get(&name)
            && let Some(n) =
                nodes::attribute("profile", def, identity.attributes.get(&name), def.required)
        {
            ui.push(n);
        }
    }
    if ui.iter().any(|n| n.group == "profile") {
        ui.push(nodes::button(
            "profile",
            "method",
            "profile",
            "button-save",
            "Save",
        ));
    }
    ui.push(nodes::text(
        "email",
        "current_email",
        UiMessage::info("label-current-email", "Current email").arg("email", email.as_str()),
    ));
    ui.push(nodes::email("email", None, "email"));
    ui.push(nodes::button(
        "email",
        "method",
        "email",
        "button-save",
        "Save",
    ));
    if pending_email(flow).is_some() {
        ui.push(nodes::code("email_confirm"));
        ui.push(nodes::button(
            "email_confirm",
            "method",
            "confirm_email",
            "button-verify",
            "Verify",
        ));
    }
    // Each offered sign-in method manages its own credential here.
    let policy = t.effective_policy_doc(tenant.id).await?;
    for m in t.methods().offered(&policy.authentication) {
        ui.extend(m.settings_nodes());
    }
    ui.push(nodes::button(
        "sign_out",
        "method",
        "sign_out",
        "button-sign-out",
        "Sign out",
    ));
    for s in sessions {
        let what = s
            .user_agent
            .clone()
            .unwrap_or_else(|| "unknown device".into());
        // Times as RFC 3339 in UTC: apps and pages format them for the reader's language, and the
        // pages keep this form as the machine-readable value.
        let msg = UiMessage::info(
            if s.current {
                "info-session-current"
            } else {
                "info-session"
            },
            &what,
        )
        .arg("created_at", rfc3339(s.created_at))
        .arg("last_seen_at", rfc3339(s.last_seen_at))
        .arg("expires_at", rfc3339(s.expires_at))
        .arg("current", s.current)
        .arg("ip", s.ip.clone().unwrap_or_default());
        ui.push(nodes::text("sessions", &format!("session_{}", s.id), msg));
        if !s.current {
            ui.push(nodes::button(
                "sessions",
                "revoke_session",
                &s.id.to_string(),
                "button-revoke",
                "Sign out this session",
            ));
        }
    }
    // Apps with access: the third-party apps the customer allowed, each withdrawable (CON-02).
    for c in t.oauth().my_consents(tenant, session).await? {
        let name = c.client_name.clone().unwrap_or_else(|| c.client_id.clone());
        let msg = UiMessage::info("info-consent", &format!("{name}: {}", c.scopes.join(", ")))
            .arg("client", name.as_str())
            .arg("scopes", c.scopes.join(" "))
            .arg("granted_at", rfc3339(c.created_at));
        ui.push(nodes::text(
            "apps",
            &format!("consent_{}", c.client_id),
            msg,
        ));
        ui.push(nodes::button(
            "apps",
            "revoke_consent",
            &c.client_id,
            "button-revoke-consent",
            "Remove this app's access",
        ));
    }
    flow.ui.nodes = ui;
    Ok(())
}

/// A timestamp as RFC 3339 in UTC, to whole seconds (HTML's `datetime` takes at most milliseconds, and
/// nobody needs more to recognise a session); null in the impossible case that it cannot be formatted.
fn rfc3339(at: OffsetDateTime) -> serde_json::Value {
    let utc = at.to_offset(UtcOffset::UTC);
    utc.replace_nanosecond(0)
        .unwrap_or(utc)
        .format(&Rfc3339)
        .map_or(serde_json::Value::Null, serde_json::Value::String)
}

fn recent(t: &Tessera, s: &ActiveSession) -> bool {
    t.now() - s.session.authenticated_at <= RECENT_LOGIN
}

/// Whether a settings submission changes how the account is proven or reached, and so needs a recent
/// sign-in (SES-08): the email, and any sign-in method's credential.
fn sensitive(t: &Tessera, method: &str) -> bool {
    method == "email" || t.methods().get(method).is_some()
}

/// Refuses a sensitive settings change from a session whose sign-in is older than [`RECENT_LOGIN`]
/// (SES-08), before the guard counts anything or the step runs: the refusal changes nothing and says
/// where to sign in again. The hosted sign-in comes back to the settings, and its fresh session is recent.
pub(crate) async fn require_recent(
    t: &Tessera,
    ctx: &FlowContext,
    flow: &Flow,
    input: &FlowInput,
) -> Result<()> {
    if !input.get("method").is_some_and(|m| sensitive(t, m)) || input.contains_key("revoke_session")
    {
        return Ok(());
    }
    let session = match &ctx.session_token {
        Some(tok) => t.sessions().from_token(&ctx.tenant, tok).await?,
        None => None,
    };
    match session.filter(|s| Some(s.session.identity_id) == flow.identity_id) {
        Some(s) => ensure_recent(t, &ctx.tenant, &s),
        // The step refuses a missing or foreign session as unauthenticated.
        None => Ok(()),
    }
}

fn ensure_recent(t: &Tessera, tenant_slug: &str, s: &ActiveSession) -> Result<()> {
    if recent(t, s) {
        return Ok(());
    }
    let back: String =
        url::form_urlencoded::byte_serialize(format!("/t/{tenant_slug}/settings").as_bytes())
            .collect();
    Err(CoreError::ReauthenticationRequired {
        sign_in: t
            .flows()
            .public_url(tenant_slug, &format!("/login?return_to={back}")),
    })
}

pub(crate) async fn submit(
    t: &Tessera,
    ctx: &FlowContext,
    tenant: &Tenant,
    flow: &mut Flow,
    input: &FlowInput,
) -> Result<(Step, Option<Tx>)> {
    let session = match &ctx.session_token {
        Some(tok) => t.sessions().from_token(&ctx.tenant, tok).await?,
        None => None,
    };
    let Some(session) = session.filter(|s| Some(s.session.identity_id) == flow.identity_id) else {
        return Err(CoreError::Unauthenticated);
    };
    // An unreadable state is refused before any secret is checked: the guard counted nothing for it.
    if SettingsState::read(flow).is_none() {
        return super::stay("unknown_state");
    }
    let method = input.get("method").map(String::as_str).unwrap_or("");
    if method == "sign_out" {
        t.sessions().sign_out(&session).await?;
        flow.ui.messages = vec![UiMessage::success(
            "success-signed-out",
            "You are signed out.",
        )];
        flow.ui.nodes = Vec::new();
        return Ok((Step::Finish, None));
    }
    let revoke = input.get("revoke_session").cloned();
    let consent = input.get("revoke_consent").cloned();
    let (step, tx, msg) = match (method, revoke) {
        (_, None) if consent.is_some() => {
            let client = consent.unwrap_or_default();
            t.oauth()
                .revoke_my_consent(tenant, &session, &client)
                .await?;
            (
                Step::Saved,
                None,
                Some(UiMessage::success(
                    "success-consent-revoked",
                    "That app no longer has access to your account.",
                )),
            )
        }
        (_, Some(id)) => {
            let id =
                uuid::Uuid::parse_str(&id).map_err(|_| CoreError::NotFound { what: "session" })?;
            t.sessions().revoke(&session, id).await?;
            (
                Step::Saved,
                None,
                Some(UiMessage::success(
                    "success-session-revoked",
                    "That session was signed out.",
                )),
            )
        }
        ("profile", None) => profile(t, tenant, flow, &session, input).await?,
        ("email", None) => email(t, ctx, tenant, flow, &session, input).await?,
        ("confirm_email", None) => confirm_email(t, tenant, flow, &session, input).await?,
        (m, None) => match t.offered_method(tenant.id, m).await? {
            Some(method) => {
                ensure_recent(t, &tenant.slug, &session)?;
                let change = crate::methods::SettingsChange {
                    t,
                    tenant,
                    flow,
                    session: &session,
                    input,
                };
                match method.settings_change(change).await? {
                    (crate::methods::Changed::Saved, tx) => (Step::Saved, tx, None),
                    (crate::methods::Changed::Unchanged(reason), tx) => {
                        (Step::Stay { reason }, tx, None)
                    }
                }
            }
            None => (
                Step::Stay {
                    reason: "unknown_method",
                },
                None,
                None,
            ),
        },
    };
    // Re-render from the current account; messages a step attached to a field go back on the fresh field
    // of the same name (a refused new password keeps its reasons and hints beside it), or to the form
    // level when the fresh UI has no such field, so nothing is dropped.
    let field_messages: Vec<(String, Vec<UiMessage>)> = flow
        .ui
        .nodes
        .iter()
        .filter(|n| !n.messages.is_empty())
        .map(|n| (n.name.clone(), n.messages.clone()))
        .collect();
    let mut form_messages = std::mem::take(&mut flow.ui.messages);
    render(t, tenant, flow, &session).await?;
    for (name, messages) in field_messages {
        match flow.ui.nodes.iter_mut().find(|n| n.name == name) {
            Some(n) => n.messages = messages,
            None => {
                for m in messages {
                    if !form_messages.contains(&m) {
                        form_messages.push(m);
                    }
                }
            }
        }
    }
    flow.ui.messages = form_messages;
    if let Some(m) = msg {
        flow.ui.messages.push(m);
    }
    Ok((step, tx))
}

type Outcome = (Step, Option<Tx>, Option<UiMessage>);

/// A settings step that changes nothing and says nothing more: `reason` goes to `flow.failed`.
fn unchanged(reason: &'static str) -> Result<Outcome> {
    Ok((Step::Stay { reason }, None, None))
}

async fn profile(
    t: &Tessera,
    tenant: &Tenant,
    flow: &mut Flow,
    session: &ActiveSession,
    input: &FlowInput,
) -> Result<Outcome> {
    let mut conn = t.db().conn().await?;
    let schema = t.schema_of(&mut conn, tenant.id).await?.schema;
    drop(conn);
    let names = editable(&schema);
    let values = match nodes::parse_attributes(&schema, &names, input) {
        Ok(v) => v,
        Err(p) => {
            form_errors(flow, &p);
            return unchanged("invalid_attributes");
        }
    };
    let mut tx = t.db().begin().await?;
    let Some(mut identity) =
        tessera_store::identities::get(&mut tx, tenant.id, session.session.identity_id).await?
    else {
        return Err(CoreError::Unauthenticated);
    };
    let before = identity.attributes.clone();
    for n in &names {
        match values.get(n) {
            Some(v) => identity.attributes.insert(n.clone(), v.clone()),
            None => identity.attributes.remove(n),
        };
    }
    if let Err(p) = schema.validate(
        &identity.attributes,
        tessera_model::attributes::ValidationMode::Full,
    ) {
        let p: Vec<crate::FieldProblem> = p
            .into_iter()
            .map(|p| crate::FieldProblem {
                field: format!("attributes.{}", p.attribute),
                code: p.code.into(),
                message: p.message,
            })
            .collect();
        form_errors(flow, &p);
        return unchanged("invalid_attributes");
    }
    let changed: Vec<&String> = names
        .iter()
        .filter(|n| before.get(*n) != identity.attributes.get(*n))
        .collect();
    if changed.is_empty() {
        return Ok((
            Step::Saved,
            None,
            Some(UiMessage::success("success-settings-saved", "Saved.")),
        ));
    }
    save(t, &mut tx, &mut identity).await?;
    let personal: serde_json::Map<_, _> = changed
        .iter()
        .map(|k| {
            (
                (*k).clone(),
                identity.attributes.get(*k).cloned().unwrap_or_default(),
            )
        })
        .collect();
    let ev = NewEvent::new(
        tenant.id,
        ev_types::IDENTITY_UPDATED,
        identity_subject(identity.id),
        json!({"identity_id": identity.id, "changed_attributes": changed, "by": "customer", "version": identity.version}),
    )
    .with_personal(identity.id, json!({"attributes": personal}));
    t.record(&mut tx, &Caller::system(), ev, None).await?;
    Ok((
        Step::Saved,
        Some(tx),
        Some(UiMessage::success("success-settings-saved", "Saved.")),
    ))
}

fn form_errors(flow: &mut Flow, problems: &[crate::FieldProblem]) {
    for p in problems {
        flow.ui.messages.push(
            UiMessage::error("error-attribute-invalid", &p.message)
                .arg("attribute", p.field.trim_start_matches("attributes.")),
        );
    }
}

async fn save(t: &Tessera, tx: &mut Tx, identity: &mut Identity) -> Result<()> {
    let expected = identity.version;
    identity.version += 1;
    identity.updated_at = t.now();
    if !tessera_store::identities::update(tx, identity, expected).await? {
        return Err(CoreError::Conflict {
            code: "identity_changed",
            detail: "the account changed meanwhile; please retry".into(),
        });
    }
    Ok(())
}

async fn email(
    t: &Tessera,
    ctx: &FlowContext,
    tenant: &Tenant,
    flow: &mut Flow,
    session: &ActiveSession,
    input: &FlowInput,
) -> Result<Outcome> {
    ensure_recent(t, &tenant.slug, session)?;
    let Some(Ok(n)) =
        field(input, "email").map(|raw| identifier::normalize(IdentifierKind::Email, raw))
    else {
        flow.ui.messages.push(invalid_email());
        return unchanged("invalid_email");
    };
    let new = n.value;
    let id = session.session.identity_id;
    let mut tx = t.db().begin().await?;
    let identity = tessera_store::identities::get(&mut tx, tenant.id, id)
        .await?
        .ok_or(CoreError::Unauthenticated)?;
    let old: Vec<String> = identity
        .identifiers
        .iter()
        .filter(|i| i.kind == IdentifierKind::Email && i.verified)
        .map(|i| i.value.clone())
        .collect();
    let taken =
        tessera_store::identities::by_identifier(&mut tx, tenant.id, IdentifierKind::Email, &new)
            .await?
            .is_some();
    SettingsState::Edit {
        pending_email: Some(new.clone()),
    }
    .set(flow);
    if taken {
        // The code step then answers as for a free address (RL-05).
        t.issue_decoy(&mut tx, &ctx.tenant, flow).await?;
    } else {
        let issued = t
            .issue_email_change_code(&mut tx, &ctx.tenant, flow, id, session.session.id, &new)
            .await?;
        let vars = mail_vars(
            &tenant.name,
            &new,
            json!({"code": issued.code, "link": issued.link}),
        );
        t.queue_mail(
            &mut tx,
            tenant.id,
            &new,
            "email_change_code",
            flow.locale.as_deref(),
            vars,
        )
        .await?;
    }
    for addr in &old {
        let undo = t
            .issue_undo_link(&mut tx, &ctx.tenant, tenant.id, id, addr)
            .await?;
        let vars = mail_vars(
            &tenant.name,
            addr,
            json!({"new_email": new, "change": "pending", "link": undo, "undo_hours": UNDO_TTL.whole_hours()}),
        );
        t.queue_mail(
            &mut tx,
            tenant.id,
            addr,
            "email_changed_notice",
            flow.locale.as_deref(),
            vars,
        )
        .await?;
    }
    let ev = NewEvent::new(
        tenant.id,
        types::EMAIL_CHANGE_REQUESTED,
        identity_subject(id),
        json!({"identity_id": id}),
    )
    .with_personal(id, json!({"new_email": new}));
    t.record(&mut tx, &Caller::system(), ev, None).await?;
    Ok((
        Step::Advance,
        Some(tx),
        Some(
            UiMessage::success(
                "success-email-change-pending",
                "Check your new address for a code to confirm the change.",
            )
            .arg("email", new.as_str()),
        ),
    ))
}

async fn confirm_email(
    t: &Tessera,
    tenant: &Tenant,
    flow: &mut Flow,
    session: &ActiveSession,
    input: &FlowInput,
) -> Result<Outcome> {
    let Some(code) = field(input, "code") else {
        flow.ui.messages.push(required());
        return unchanged("missing_field");
    };
    let mut tx = t.db().begin().await?;
    let redeemed = match t.redeem_code(&mut tx, flow, code).await? {
        // The change dies with the session that asked for it (REC-02).
        Ok(stored) if !t.requester_alive(&stored).await? => Err(CodeRefusal::Expired),
        Ok(stored)
            if stored.purpose != "email_change"
                || stored.identity_id != Some(session.session.identity_id) =>
        {
            Err(CodeRefusal::Invalid)
        }
        other => other,
    };
    match redeemed {
        Ok(stored) => {
            apply_email_change(
                t,
                &mut tx,
                tenant,
                session.session.identity_id,
                &stored.target,
                flow.locale.as_deref(),
            )
            .await?;
            SettingsState::Edit {
                pending_email: None,
            }
            .set(flow);
            Ok((
                Step::Saved,
                Some(tx),
                Some(UiMessage::success(
                    "success-verified",
                    "Your email address is confirmed.",
                )),
            ))
        }
        Err(r) => {
            let msg = match r {
                CodeRefusal::Invalid => {
                    UiMessage::error("error-code-invalid", "That code is not right.")
                }
                CodeRefusal::Expired => {
                    UiMessage::error("error-code-expired", "That code has expired.")
                }
            };
            Ok((
                Step::Stay {
                    reason: "invalid_code",
                },
                Some(tx),
                Some(msg),
            ))
        }
    }
}

/// Replaces the identity's email with the proven new one and tells the old address, with a "not me"
/// link (see [`freeze_by_notice`]).
pub(crate) async fn apply_email_change(
    t: &Tessera,
    tx: &mut Tx,
    tenant: &Tenant,
    id: tessera_model::IdentityId,
    new: &str,
    locale: Option<&str>,
) -> Result<()> {
    let Some(identity) = tessera_store::identities::get(tx, tenant.id, id).await? else {
        return Err(CoreError::Unauthenticated);
    };
    let old: Vec<Identifier> = identity
        .identifiers
        .iter()
        .filter(|i| i.kind == IdentifierKind::Email)
        .cloned()
        .collect();
    let mut idents: Vec<Identifier> = identity
        .identifiers
        .iter()
        .filter(|i| i.kind != IdentifierKind::Email)
        .cloned()
        .collect();
    idents.push(Identifier {
        kind: IdentifierKind::Email,
        value: new.to_owned(),
        verified: true,
    });
    let now = t.now();
    tessera_store::identities::delete_identifiers(tx, tenant.id, id).await?;
    // A new address ends sign-ins parked between two steps (see `flows::login`).
    tessera_store::identities::bump_security_stamp(tx, id).await?;
    for ident in &idents {
        tessera_store::identities::insert_identifier(tx, tenant.id, id, ident, now)
            .await
            .map_err(|e| {
                crate::conflict_as(
                    e,
                    "identifier_taken",
                    "this address already belongs to another account",
                )
            })?;
    }
    for o in old.iter().filter(|o| o.verified && o.value != new) {
        let undo = t
            .issue_undo_link(tx, &tenant.slug, tenant.id, id, &o.value)
            .await?;
        let vars = mail_vars(
            &tenant.name,
            &o.value,
            json!({"new_email": new, "change": "done", "link": undo, "undo_hours": UNDO_TTL.whole_hours()}),
        );
        t.queue_mail(
            tx,
            tenant.id,
            &o.value,
            "email_changed_notice",
            locale,
            vars,
        )
        .await?;
    }
    let ev = NewEvent::new(
        tenant.id,
        types::EMAIL_CHANGED,
        identity_subject(id),
        json!({"identity_id": id}),
    )
    .with_personal(
        id,
        json!({"old": old.iter().map(|o| &o.value).collect::<Vec<_>>(), "new": new}),
    );
    t.record(tx, &Caller::system(), ev, None).await
}

/// Freezes an account from the "not me" link of an email-change notice (REC-04). Whoever holds the old
/// mailbox may be the owner fighting a thief, or someone who picked up a mailbox the owner left behind,
/// so the link gives the account to neither: it cancels a pending change and every other proof in flight
/// (codes and links, undo links included), ends every session and suspends the identity with the reason
/// recorded. The addresses stay as they are; support lifts the suspension through the admin API once it
/// has checked who the owner is. `false` when the identity is gone or cannot be suspended (nothing
/// changes then).
pub(crate) async fn freeze_by_notice(
    t: &Tessera,
    tx: &mut Tx,
    tenant: &Tenant,
    id: tessera_model::IdentityId,
    notice_to: &str,
) -> Result<bool> {
    let Some(mut identity) = tessera_store::identities::get(tx, tenant.id, id).await? else {
        return Ok(false);
    };
    let from = identity.state;
    let already = from == IdentityState::Suspended;
    if !already && !from.can_become(IdentityState::Suspended) {
        return Ok(false);
    }
    // The notice's address still on the account: the change it announced had not landed yet.
    let change = if identity
        .identifiers
        .iter()
        .any(|i| i.kind == IdentifierKind::Email && i.value == notice_to)
    {
        "pending"
    } else {
        "landed"
    };
    if !already {
        identity.state = IdentityState::Suspended;
        save(t, tx, &mut identity).await?;
    }
    let voided = t.void_every_code_of(tx, id).await?;
    let sessions = t
        .revoke_sessions_of(tx, tenant.id, id, None, NOT_ME)
        .await?;
    if !already {
        let ev = NewEvent::new(
            tenant.id,
            ev_types::IDENTITY_SUSPENDED,
            identity_subject(id),
            json!({"identity_id": id, "from": from, "to": IdentityState::Suspended, "reason": NOT_ME, "by": "not_me_link", "version": identity.version, "sessions_revoked": sessions}),
        );
        t.record(tx, &Caller::system(), ev, None).await?;
    }
    let ev = NewEvent::new(
        tenant.id,
        types::IDENTITY_FROZEN_BY_NOTICE,
        identity_subject(id),
        json!({"identity_id": id, "change": change, "codes_voided": voided, "sessions_revoked": sessions, "already_suspended": already}),
    )
    .with_personal(id, json!({"notice_to": notice_to}));
    t.record(tx, &Caller::system(), ev, None).await?;
    Ok(true)
}

/// Why an account was frozen from an email-change notice, as recorded.
const NOT_ME: &str = "not_me_notice";
