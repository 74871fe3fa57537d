//! Sign-up, identifier first: email (and terms) → a code or link proves control of the address → password
//! and the attributes the tenant needs → signed in.
//!
//! Nothing merges before that proof. Once the address is proven: a prospect with that email is claimed
//! (same id, its attributes pre-fill the form); an account that someone registered with the address but
//! never verified loses its credentials and sessions (pre-account hijacking, REG-04); and an address of an
//! account with a proven owner never gets a code — it gets an "account exists" mail, and the flow a decoy
//! — so every step answers the same either way (RL-05).
use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_model::IdentityId;
use tessera_model::attributes::ValidationMode;
use tessera_model::event::{NewEvent, identity_subject, types as ev_types};
use tessera_model::flow::{Flow, UiMessage};
use tessera_model::identifier::{self, IdentifierKind};
use tessera_model::identity::{Identifier, Identity, IdentityState};
use tessera_model::policy::PolicyDocument;
use tessera_model::tenant::Tenant;
use tessera_store::Tx;

use super::codes::{CodeRefusal, mail_vars};
use super::state::{Awaits, JourneyState};
use super::{
    FlowContext, FlowInput, Step, field, invalid_email, nodes, raw_field, required, stay, ticked,
    types,
};
use crate::{Caller, CoreError, FieldProblem, Result, Tessera};

/// Where a sign-up is (see [`super::state`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum RegistrationState {
    /// Asking for the address (and the acceptance of the terms, when the tenant has terms).
    EnterEmail,
    /// A code (or a decoy) went to `email`; nothing is proven yet.
    SentEmail {
        email: String,
        consent: Option<Consent>,
    },
    /// `email` was proven by a code or a link: only this state takes the password and attributes.
    Details {
        email: String,
        claim: Option<Claim>,
        consent: Option<Consent>,
    },
}

impl JourneyState for RegistrationState {
    const KIND: tessera_model::flow::FlowKind = tessera_model::flow::FlowKind::Registration;

    fn name(&self) -> &'static str {
        match self {
            Self::EnterEmail => "enter_email",
            Self::SentEmail { .. } => "sent_email",
            Self::Details { .. } => "details",
        }
    }
}

/// The versions of the documents the person accepted at the first step, recorded once the account exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Consent {
    pub(crate) terms_version: String,
    pub(crate) privacy_notice_version: Option<String>,
}

/// The identity a proven address lets sign-up take over: a prospect (its attributes pre-fill the form),
/// or an account whose unproven claimant was wiped (`reset_attributes`: what they entered is dropped too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claim {
    pub(crate) identity: IdentityId,
    pub(crate) reset_attributes: bool,
}

/// What a sign-up's step waits for, for the guard and links.
pub(crate) fn awaits(flow: &Flow) -> Awaits {
    match RegistrationState::of(flow) {
        Ok(RegistrationState::EnterEmail) => Awaits::Address,
        Ok(RegistrationState::SentEmail { email, .. }) => Awaits::Code {
            email,
            resend: true,
        },
        Ok(RegistrationState::Details { .. }) => Awaits::NewPassword,
        Err(_) => Awaits::Other,
    }
}

static DISPOSABLE: OnceLock<HashSet<&'static str>> = OnceLock::new();

/// The shipped list of disposable-mail domains (see assets/data/disposable-email/ for source and licence).
fn disposable() -> &'static HashSet<&'static str> {
    DISPOSABLE.get_or_init(|| {
        include_str!("../../../../assets/data/disposable-email/disposable-email-domains.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Whether a tenant's policy refuses this (normalised) email's domain.
pub(crate) fn domain_refused(policy: &PolicyDocument, email: &str) -> bool {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let r = &policy.registration;
    let norm = |d: &String| tessera_model::organization::normalize_domain(d).unwrap_or_default();
    if r.allowed_email_domains
        .iter()
        .map(norm)
        .any(|d| d == domain)
    {
        return false;
    }
    if r.blocked_email_domains
        .iter()
        .map(norm)
        .any(|d| d == domain)
    {
        return true;
    }
    // A subdomain of a listed domain is refused too (`x.mailinator.com`).
    let mut suffixes =
        std::iter::successors(Some(domain), |d| d.split_once('.').map(|(_, rest)| rest))
            .filter(|d| d.contains('.'));
    r.block_disposable_email && suffixes.any(|d| disposable().contains(d))
}

/// The attributes the sign-up form asks for: required in the schema, required by the policy, and what
/// the client needs.
fn asked_attributes(
    policy: &PolicyDocument,
    schema: &tessera_model::attributes::AttributeSchema,
    client: Option<&str>,
) -> Vec<String> {
    let mut out: Vec<String> = schema
        .attributes
        .iter()
        .filter(|a| a.required)
        .map(|a| a.name.clone())
        .collect();
    for a in &policy.registration.required_attributes {
        if !out.contains(a) {
            out.push(a.clone());
        }
    }
    if let Some(c) = client {
        for req in policy
            .registration
            .progressive_profiling
            .iter()
            .filter(|r| r.client_id == c)
        {
            for a in &req.attributes {
                if !out.contains(a) {
                    out.push(a.clone());
                }
            }
        }
    }
    out
}

pub(crate) async fn init(t: &Tessera, tenant: &Tenant, flow: &mut Flow) -> Result<()> {
    let policy = t.effective_policy_doc(tenant.id).await?;
    RegistrationState::EnterEmail.set(flow);
    flow.ui.nodes = vec![nodes::email("default", None, "email")];
    if let Some(v) = &policy.registration.terms_version {
        flow.ui.nodes.push(nodes::accept_terms(v));
    }
    flow.ui.nodes.push(nodes::button(
        "default",
        "method",
        "email",
        "button-continue",
        "Continue",
    ));
    if !policy.registration.enabled {
        flow.ui.messages.push(UiMessage::error(
            "error-registration-closed",
            "Sign-up is closed.",
        ));
    }
    Ok(())
}

pub(crate) async fn submit(
    t: &Tessera,
    ctx: &FlowContext,
    tenant: &Tenant,
    flow: &mut Flow,
    input: &FlowInput,
) -> Result<(Step, Option<Tx>)> {
    let Some(state) = RegistrationState::read(flow) else {
        return stay("unknown_state");
    };
    match state {
        RegistrationState::EnterEmail => submit_email(t, ctx, tenant, flow, input).await,
        RegistrationState::SentEmail { email, .. }
            if input.get("method").map(String::as_str) == Some("resend") =>
        {
            resend(t, ctx, tenant, flow, &email).await
        }
        RegistrationState::SentEmail { email, consent } => {
            submit_code(t, tenant, flow, input, &email, consent).await
        }
        RegistrationState::Details {
            email,
            claim,
            consent,
        } => submit_details(t, tenant, flow, input, &email, claim, consent).await,
    }
}

async fn submit_email(
    t: &Tessera,
    ctx: &FlowContext,
    tenant: &Tenant,
    flow: &mut Flow,
    input: &FlowInput,
) -> Result<(Step, Option<Tx>)> {
    let policy = t.effective_policy_doc(tenant.id).await?;
    if !policy.registration.enabled {
        return stay("registration_closed");
    }
    let raw = field(input, "email");
    if let Some(n) = flow.ui.nodes.iter_mut().find(|n| n.name == "email") {
        n.value = raw.map(str::to_owned);
    }
    let Some(raw) = raw else {
        flow.ui.field_error("email", required());
        return stay("missing_field");
    };
    let email = match identifier::normalize(IdentifierKind::Email, raw) {
        Ok(n) => n.value,
        Err(_) => {
            flow.ui.field_error("email", invalid_email());
            return stay("invalid_email");
        }
    };
    if domain_refused(&policy, &email) {
        flow.ui.field_error(
            "email",
            UiMessage::error(
                "error-disposable-email",
                "Please use a permanent email address.",
            ),
        );
        return stay("disposable_email");
    }
    let mut consent = None;
    if let Some(v) = &policy.registration.terms_version {
        if !ticked(input, "accept_terms") {
            flow.ui.field_error(
                "accept_terms",
                UiMessage::error(
                    "error-terms-required",
                    "Please accept the terms to continue.",
                ),
            );
            return stay("terms_not_accepted");
        }
        consent = Some(Consent {
            terms_version: v.clone(),
            privacy_notice_version: policy.registration.privacy_notice_version.clone(),
        });
    }
    RegistrationState::SentEmail {
        email: email.clone(),
        consent,
    }
    .set(flow);
    let mut tx = t.db().begin().await?;
    send(t, &mut tx, ctx, tenant, flow, &email).await?;
    show_code_step(flow, &email);
    Ok((Step::Advance, Some(tx)))
}

/// Whether an account has an owner who proved an identifier: nobody else may claim it by proving another
/// of its addresses (invariant 10).
fn has_proven_owner(i: &Identity) -> bool {
    i.state != IdentityState::Prospect && i.identifiers.iter().any(|x| x.verified)
}

/// Sends the code, or an "account exists" mail when the address belongs to an account with a proven
/// owner.
async fn send(
    t: &Tessera,
    tx: &mut Tx,
    ctx: &FlowContext,
    tenant: &Tenant,
    flow: &Flow,
    email: &str,
) -> Result<()> {
    let holder =
        match tessera_store::identities::by_identifier(tx, tenant.id, IdentifierKind::Email, email)
            .await?
        {
            Some(id) => tessera_store::identities::get(tx, tenant.id, id).await?,
            None => None,
        };
    if holder.as_ref().is_some_and(has_proven_owner) {
        // A decoy keeps the code step answering as it does for a free address (RL-05).
        t.issue_decoy(tx, &ctx.tenant, flow).await?;
        let vars = mail_vars(
            &tenant.name,
            email,
            json!({"link": t.flows().public_url(&ctx.tenant, "/login"), "recovery_link": t.flows().public_url(&ctx.tenant, "/recovery")}),
        );
        t.queue_mail(
            tx,
            tenant.id,
            email,
            "account_exists",
            flow.locale.as_deref(),
            vars,
        )
        .await?;
    } else {
        let issued = t
            .issue_code(tx, &ctx.tenant, flow, None, "registration", email)
            .await?;
        let vars = mail_vars(
            &tenant.name,
            email,
            json!({"code": issued.code, "link": issued.link}),
        );
        t.queue_mail(
            tx,
            tenant.id,
            email,
            "verification_code",
            flow.locale.as_deref(),
            vars,
        )
        .await?;
    }
    Ok(())
}

/// The code step's UI (the state is set by whoever moves the flow there).
fn show_code_step(flow: &mut Flow, email: &str) {
    flow.ui.nodes = vec![
        nodes::code("code"),
        nodes::button("code", "method", "code", "button-verify", "Verify"),
        nodes::button(
            "resend",
            "method",
            "resend",
            "button-resend",
            "Send a new code",
        ),
    ];
    flow.ui.messages = vec![
        UiMessage::info(
            "info-code-sent",
            "If this address can be used, we sent it a code.",
        )
        .arg("email", email),
    ];
}

async fn resend(
    t: &Tessera,
    ctx: &FlowContext,
    tenant: &Tenant,
    flow: &mut Flow,
    email: &str,
) -> Result<(Step, Option<Tx>)> {
    let mut tx = t.db().begin().await?;
    send(t, &mut tx, ctx, tenant, flow, email).await?;
    show_code_step(flow, email);
    Ok((
        Step::Stay {
            reason: "code_resent",
        },
        Some(tx),
    ))
}

async fn submit_code(
    t: &Tessera,
    tenant: &Tenant,
    flow: &mut Flow,
    input: &FlowInput,
    email: &str,
    consent: Option<Consent>,
) -> Result<(Step, Option<Tx>)> {
    let Some(code) = field(input, "code") else {
        show_code_step(flow, email);
        flow.ui.field_error("code", required());
        return stay("missing_field");
    };
    let mut tx = t.db().begin().await?;
    match t.redeem_code(&mut tx, flow, code).await? {
        Ok(_) => {
            proven(t, &mut tx, tenant, flow, email, consent).await?;
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

pub(crate) fn code_error(flow: &mut Flow, refusal: CodeRefusal) {
    let msg = match refusal {
        CodeRefusal::Invalid => UiMessage::error(
            "error-code-invalid",
            "That code is not right. Check the email and try again.",
        ),
        CodeRefusal::Expired => UiMessage::error(
            "error-code-expired",
            "That code has expired. Ask for a new one.",
        ),
    };
    flow.ui.field_error("code", msg);
}

/// A link from the code's mail proved `email`: the same as entering the code, for a flow that still
/// waits for a code sent to that address.
pub(crate) async fn proven_by_link(
    t: &Tessera,
    tx: &mut Tx,
    tenant: &Tenant,
    flow: &mut Flow,
    email: &str,
) -> Result<()> {
    match RegistrationState::of(flow) {
        Ok(RegistrationState::SentEmail {
            email: sent_to,
            consent,
        }) if sent_to == email => proven(t, tx, tenant, flow, email, consent).await,
        _ => Err(super::state::changed()),
    }
}

/// The address is proven by a code or link: decide what the sign-up claims and show the details step.
async fn proven(
    t: &Tessera,
    tx: &mut Tx,
    tenant: &Tenant,
    flow: &mut Flow,
    email: &str,
    consent: Option<Consent>,
) -> Result<()> {
    let holder =
        match tessera_store::identities::by_identifier(tx, tenant.id, IdentifierKind::Email, email)
            .await?
        {
            Some(id) => tessera_store::identities::get(tx, tenant.id, id).await?,
            None => None,
        };
    let mut prefill = serde_json::Map::new();
    let mut claim = None;
    if let Some(h) = &holder {
        if h.state == IdentityState::Prospect
            || (!has_proven_owner(h) && matches!(h.state, IdentityState::Active))
        {
            // What an unproven claimant entered is not the owner's data either.
            let reset_attributes = h.state != IdentityState::Prospect;
            if reset_attributes {
                wipe_unproven_claimant(t, tx, tenant, h.id).await?;
            } else {
                prefill = h.attributes.clone();
            }
            claim = Some(Claim {
                identity: h.id,
                reset_attributes,
            });
        } else {
            return Err(CoreError::Conflict {
                code: "identifier_taken",
                detail: "this address already has an account".into(),
            });
        }
    }
    RegistrationState::Details {
        email: email.to_owned(),
        claim,
        consent,
    }
    .set(flow);
    flow.identity_id = holder.as_ref().map(|h| h.id);
    let policy = t.effective_policy_doc(tenant.id).await?;
    let schema = t.schema_of(tx, tenant.id).await?.schema;
    flow.ui.messages = vec![UiMessage::success(
        "success-verified",
        "Your email address is confirmed.",
    )];
    flow.ui.nodes = vec![
        nodes::email("default", Some(email.to_owned()), "email"),
        nodes::password("password", "password", true),
    ];
    if let Some(n) = flow.ui.nodes.first_mut() {
        n.node_type = tessera_model::flow::NodeType::Text;
        n.label = Some(UiMessage::info("label-email", "Email").arg("value", email));
    }
    for name in asked_attributes(&policy, &schema, flow.client_id.as_deref()) {
        if let Some(def) = schema.get(&name)
            && let Some(n) = nodes::attribute("profile", def, prefill.get(&name), true)
        {
            flow.ui.nodes.push(n);
        }
    }
    flow.ui.nodes.push(nodes::button(
        "password",
        "method",
        "password",
        "button-sign-up",
        "Create account",
    ));
    Ok(())
}

/// REG-04: someone set a password on an account whose address they never proved. The real owner just
/// proved it, so that password and every session opened with it stop working.
async fn wipe_unproven_claimant(
    t: &Tessera,
    tx: &mut Tx,
    tenant: &Tenant,
    id: IdentityId,
) -> Result<()> {
    let wiped = tessera_store::credentials::delete_all(tx, id).await?;
    let sessions = t
        .revoke_sessions_of(tx, tenant.id, id, None, "unverified_claimant")
        .await?;
    let ev = NewEvent::new(
        tenant.id,
        types::CREDENTIALS_WIPED,
        identity_subject(id),
        json!({"identity_id": id, "credentials": wiped, "sessions": sessions, "reason": "address_proven_by_another"}),
    );
    t.record(tx, &Caller::system(), ev, None).await
}

/// The details step: reached only through [`proven`], so `email` is proven.
async fn submit_details(
    t: &Tessera,
    tenant: &Tenant,
    flow: &mut Flow,
    input: &FlowInput,
    email: &str,
    claim: Option<Claim>,
    consent: Option<Consent>,
) -> Result<(Step, Option<Tx>)> {
    let email = email.to_owned();
    let policy = t.effective_policy_doc(tenant.id).await?;
    let mut conn = t.db().conn().await?;
    let schema = t.schema_of(&mut conn, tenant.id).await?.schema;
    drop(conn);
    let asked = asked_attributes(&policy, &schema, flow.client_id.as_deref());
    let Some(password) = raw_field(input, "password") else {
        flow.ui.field_error("password", required());
        return stay("missing_field");
    };
    let local = email.split('@').next().unwrap_or_default().to_owned();
    let values = nodes::parse_attributes(&schema, &asked, input);
    for n in flow
        .ui
        .nodes
        .iter_mut()
        .filter(|n| n.name.starts_with("attributes."))
    {
        n.value = input
            .get(&n.name)
            .cloned()
            .filter(|_| n.node_type != tessera_model::flow::NodeType::Checkbox)
            .or(n.value.take());
    }
    let password_ok = crate::methods::password::check_new(
        t,
        tenant,
        flow,
        "password",
        password,
        &[&email, &local],
    )
    .await?
    .is_some();
    let mut values = match values {
        Ok(v) => v,
        Err(problems) => {
            nodes::attach_problems(&mut flow.ui, &problems);
            return stay("invalid_attributes");
        }
    };
    let mut missing = false;
    for a in &asked {
        if values.get(a).is_none_or(Value::is_null) {
            flow.ui.field_error(&format!("attributes.{a}"), required());
            missing = true;
        }
    }
    if !password_ok || missing {
        return Ok((
            Step::Stay {
                reason: if missing {
                    "missing_field"
                } else {
                    "weak_password"
                },
            },
            None,
        ));
    }
    let hash = t.passwords().hash(password).await?;
    let mut tx = t.db().begin().await?;
    let now = t.now();
    let identity_id = match claim {
        Some(Claim {
            identity: id,
            reset_attributes,
        }) => {
            let Some(mut identity) = tessera_store::identities::get(&mut tx, tenant.id, id).await?
            else {
                return Err(CoreError::Conflict {
                    code: "identity_changed",
                    detail: "the account changed meanwhile; please start again".into(),
                });
            };
            let mut merged = if reset_attributes {
                serde_json::Map::new()
            } else {
                identity.attributes.clone()
            };
            merged.append(&mut values);
            if let Err(p) = schema.validate(&merged, ValidationMode::Full) {
                attach(flow, p);
                return stay("invalid_attributes");
            }
            let from = identity.state;
            identity.attributes = merged;
            identity.state = IdentityState::Active;
            let expected = identity.version;
            identity.version += 1;
            identity.updated_at = now;
            for ident in &mut identity.identifiers {
                if ident.kind == IdentifierKind::Email && ident.value == email {
                    ident.verified = true;
                }
            }
            tessera_store::identities::delete_identifiers(&mut tx, tenant.id, id).await?;
            for ident in &identity.identifiers {
                tessera_store::identities::insert_identifier(&mut tx, tenant.id, id, ident, now)
                    .await?;
            }
            if !tessera_store::identities::update(&mut tx, &identity, expected).await? {
                return Err(CoreError::Conflict {
                    code: "identity_changed",
                    detail: "the account changed meanwhile; please start again".into(),
                });
            }
            let ev = NewEvent::new(
                tenant.id,
                types::IDENTITY_CLAIMED,
                identity_subject(id),
                json!({"identity_id": id, "from": from, "flow_id": flow.id}),
            )
            .with_personal(id, json!({"attributes": identity.attributes}));
            t.record(&mut tx, &Caller::system(), ev, None).await?;
            id
        }
        None => {
            if let Err(p) = schema.validate(&values, ValidationMode::Full) {
                attach(flow, p);
                return stay("invalid_attributes");
            }
            let identity = Identity {
                id: IdentityId::new(),
                tenant_id: tenant.id,
                state: IdentityState::Active,
                identifiers: vec![Identifier {
                    kind: IdentifierKind::Email,
                    value: email.clone(),
                    verified: true,
                }],
                attributes: values,
                created_at: now,
                updated_at: now,
                version: 1,
            };
            tessera_store::identities::insert(&mut tx, &identity)
                .await
                .map_err(|e| {
                    crate::conflict_as(e, "identifier_taken", "this address already has an account")
                })?;
            let key = t
                .create_identity_key(&mut tx, tenant.id, identity.id)
                .await?;
            let ev = NewEvent::new(
                tenant.id,
                ev_types::IDENTITY_CREATED,
                identity_subject(identity.id),
                json!({"identity_id": identity.id, "state": "active", "identifier_kinds": ["email"], "source": "registration", "flow_id": flow.id}),
            )
            .with_personal(identity.id, json!({"identifiers": identity.identifiers, "attributes": identity.attributes}));
            t.record(&mut tx, &Caller::system(), ev, Some(&key)).await?;
            identity.id
        }
    };
    crate::methods::password::store(&mut tx, tenant.id, identity_id, &hash, now).await?;
    let accepted = consent.iter().flat_map(|c| {
        [
            ("terms", Some(c.terms_version.as_str())),
            ("privacy_notice", c.privacy_notice_version.as_deref()),
        ]
    });
    for (doc, version) in accepted {
        if let Some(v) = version {
            tessera_store::profile::accept(&mut tx, tenant.id, identity_id, doc, v, now).await?;
            let ev = NewEvent::new(
                tenant.id,
                types::TERMS_ACCEPTED,
                identity_subject(identity_id),
                json!({"identity_id": identity_id, "document": doc, "version": v}),
            );
            t.record(&mut tx, &Caller::system(), ev, None).await?;
        }
    }
    let ev = NewEvent::new(
        tenant.id,
        types::EMAIL_VERIFIED,
        identity_subject(identity_id),
        json!({"identity_id": identity_id, "via": "registration"}),
    );
    t.record(&mut tx, &Caller::system(), ev, None).await?;
    Ok((
        Step::SignIn {
            identity: identity_id,
            proven: vec![crate::methods::Proof {
                method: crate::methods::password::ID.into(),
                at: t.now(),
            }],
        },
        Some(tx),
    ))
}

fn attach(flow: &mut Flow, problems: Vec<tessera_model::attributes::AttributeProblem>) {
    let problems: Vec<FieldProblem> = problems
        .into_iter()
        .map(|p| FieldProblem {
            field: format!("attributes.{}", p.attribute),
            code: p.code.into(),
            message: p.message,
        })
        .collect();
    nodes::attach_problems(&mut flow.ui, &problems);
}
