//! Sign-in. The journey names no method: it offers the methods the tenant's policy lists (see
//! [`crate::methods`]), hands a submission to the method its `method` field names, and signs in once the
//! methods proven reach the flow's requested assurance (`requested_aal`); short of it, it asks for another
//! method of a different kind. The engine's guard counts every attempt, as the method describes it
//! ([`charge`]), before the method's code runs. Progressive profiling then asks, once, for what the
//! client application needs and the customer has not given yet.
//!
//! The journey's state is typed ([`LoginState`]): which identity an earlier factor proved, and which
//! methods, are fields of it, never loose keys of the flow's JSON.
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_model::IdentityId;
use tessera_model::event::{NewEvent, identity_subject};
use tessera_model::flow::{Flow, UiMessage};
use tessera_model::identity::Identity;
use tessera_model::tenant::Tenant;
use tessera_store::Tx;

use super::state::JourneyState;
use super::{FlowContext, FlowInput, Step, nodes, required, stay, types};
use crate::methods::{Charge, Method, Proof, SignIn, Verdict};
use crate::{Caller, CoreError, Result, Tessera};

/// Where a sign-in stands: a journey state (see [`super::state`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum LoginState {
    /// Asking who signs in, and how.
    ChooseMethod,
    /// A method waits for its next submission (a code was sent); `data` is the method's own.
    Pending {
        method: String,
        identity: Option<IdentityId>,
        proven: Vec<Proof>,
        data: Value,
    },
    /// Methods proved `identity`, short of the requested assurance: one more, of another kind.
    /// `stamp` is the identity's security stamp when the sign-in parked here (see [`still_proven`]).
    SecondFactor {
        identity: IdentityId,
        proven: Vec<Proof>,
        stamp: i64,
    },
    /// The client needs more of the profile first; `then` says what finishing it does.
    Profile {
        identity: IdentityId,
        missing: Vec<(String, String)>,
        stamp: i64,
        then: AfterProfile,
    },
}

/// What finishing the profile step does, decided when the flow parked there and stored with it: whether
/// this flow authenticated the customer (a sign-in, which replaces the browser's session: SES-01) or the
/// browser's live session answered the app's request and the step only asks for attributes (no
/// authentication, so that session is kept: no new id, its tokens and its apps untouched).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum AfterProfile {
    /// This flow's methods proved the identity: finishing signs in with them.
    SignIn { proven: Vec<Proof> },
    /// The browser's session `session` answered: finishing keeps it, and only while it is still that
    /// browser's current, live session of the same identity.
    KeepSession { session: uuid::Uuid },
}

impl super::state::JourneyState for LoginState {
    const KIND: tessera_model::flow::FlowKind = tessera_model::flow::FlowKind::Login;

    fn name(&self) -> &'static str {
        match self {
            LoginState::ChooseMethod => "choose_method",
            LoginState::Pending { .. } => "pending",
            LoginState::SecondFactor { .. } => "second_factor",
            LoginState::Profile { .. } => "profile",
        }
    }
}

impl LoginState {
    /// The identity proved so far and the methods that proved it.
    fn proven(&self) -> (Option<IdentityId>, &[Proof]) {
        match self {
            LoginState::ChooseMethod => (None, &[]),
            LoginState::Pending {
                identity, proven, ..
            } => (*identity, proven),
            LoginState::SecondFactor {
                identity, proven, ..
            }
            | LoginState::Profile {
                identity,
                then: AfterProfile::SignIn { proven },
                ..
            } => (Some(*identity), proven),
            // No method of this flow proved anything: the session did, and it stays as it is.
            LoginState::Profile {
                identity,
                then: AfterProfile::KeepSession { .. },
                ..
            } => (Some(*identity), &[]),
        }
    }
}

/// The policy's offered methods that can go next: any that identifies the customer first; after a
/// factor, those of another kind allowed at AAL2 that were not used yet.
fn next_methods(
    t: &Tessera,
    policy: &tessera_model::policy::PolicyDocument,
    proven: &[Proof],
) -> Vec<Arc<dyn Method>> {
    let methods = t.methods();
    let used: Vec<&Arc<dyn Method>> = proven
        .iter()
        .filter_map(|p| methods.get(&p.method))
        .collect();
    methods
        .offered(&policy.authentication)
        .filter(|m| {
            if used.is_empty() {
                m.identifies()
            } else {
                m.allowed_at_aal2()
                    && !used
                        .iter()
                        .any(|u| u.id() == m.id() || u.factor() == m.factor())
            }
        })
        .cloned()
        .collect()
}

fn show_methods(
    flow: &mut Flow,
    methods: &[Arc<dyn Method>],
    identifier: Option<String>,
    second: bool,
) {
    flow.ui.nodes = Vec::new();
    if !second {
        flow.ui.nodes.push(nodes::identifier(identifier));
    }
    for m in methods {
        flow.ui.nodes.extend(m.sign_in_nodes(second));
    }
}

pub(crate) async fn init(
    t: &Tessera,
    tenant: &Tenant,
    flow: &mut Flow,
    identifier: Option<&str>,
) -> Result<()> {
    let policy = t.effective_policy_doc(tenant.id).await?;
    flow.requested_aal = policy.authentication.aal;
    let methods = next_methods(t, &policy, &[]);
    show_methods(flow, &methods, identifier.map(str::to_owned), false);
    LoginState::ChooseMethod.set(flow);
    Ok(())
}

/// What the guard counts for a sign-in submission: what the chosen method says it checks or sends. A
/// method the tenant does not offer is counted as nothing, as the step will refuse it unchecked.
/// With the charge, the id of the method it is for (the kind of credential it checks).
pub(crate) async fn charge(
    t: &Tessera,
    flow: &Flow,
    input: &FlowInput,
) -> Result<(Charge, Option<&'static str>)> {
    let Ok(state) = LoginState::of(flow) else {
        return Ok((Charge::Nothing, None));
    };
    let (identity, pending) = match &state {
        LoginState::ChooseMethod => (None, None),
        LoginState::Pending { identity, data, .. } => (*identity, Some(data)),
        LoginState::SecondFactor { identity, .. } => (Some(*identity), None),
        LoginState::Profile { .. } => return Ok((Charge::Nothing, None)),
    };
    Ok(match chosen(t, flow, &state, input).await? {
        Some(m) => (m.charge(identity, pending, input), Some(m.id())),
        None => (Charge::Nothing, None),
    })
}

/// The offered method a submission is for: the pending one, or the `method` field (without one, the
/// deployment's first method: apps written before methods were plug-ins send none).
async fn chosen(
    t: &Tessera,
    flow: &Flow,
    state: &LoginState,
    input: &FlowInput,
) -> Result<Option<Arc<dyn Method>>> {
    let id = match state {
        LoginState::Pending { method, .. } => method.as_str(),
        _ => match input.get("method") {
            Some(id) => id.as_str(),
            None => match t.methods().first() {
                Some(m) => m.id(),
                None => return Ok(None),
            },
        },
    };
    t.offered_method(flow.tenant_id, id).await
}

/// The one answer to every failed sign-in (the guard counted the attempt before it was checked).
fn refuse(flow: &mut Flow) {
    flow.ui.messages.push(UiMessage::error(
        "error-invalid-credentials",
        "The email or password is wrong.",
    ));
}

pub(crate) async fn submit(
    t: &Tessera,
    ctx: &FlowContext,
    tenant: &Tenant,
    flow: &mut Flow,
    input: &FlowInput,
    lookup: Option<&crate::methods::Lookup>,
) -> Result<(Step, Option<Tx>)> {
    let Some(state) = LoginState::read(flow) else {
        return stay("unknown_state");
    };
    if let LoginState::Profile {
        identity,
        missing,
        stamp,
        then,
    } = &state
    {
        let parked = Parked {
            identity: *identity,
            then,
            stamp: *stamp,
        };
        return submit_profile(t, ctx, tenant, flow, parked, missing, input).await;
    }
    let policy = t.effective_policy_doc(tenant.id).await?;
    let (identity, proven) = state.proven();
    let proven = proven.to_vec();
    let allowed = next_methods(t, &policy, &proven);
    let method = match chosen(t, flow, &state, input).await? {
        // A pending method goes on; otherwise only what this step offers may be used.
        Some(m)
            if matches!(state, LoginState::Pending { .. })
                || allowed.iter().any(|a| a.id() == m.id()) =>
        {
            m
        }
        _ => {
            flow.ui.messages.push(UiMessage::error(
                "error-method-unavailable",
                "That way of signing in is not available here. Choose one of those shown.",
            ));
            return stay("method_unavailable");
        }
    };
    if let Some(node) = flow.ui.nodes.iter_mut().find(|n| n.name == "identifier") {
        node.value = super::field(input, "identifier").map(str::to_owned);
    }
    let pending = match &state {
        LoginState::Pending { data, .. } => Some(data),
        _ => None,
    };
    let (verdict, tx) = method
        .sign_in(SignIn {
            t,
            ctx,
            tenant,
            flow,
            identity,
            pending,
            input,
            lookup,
        })
        .await?;
    match verdict {
        Verdict::Missing(fields) => {
            for name in fields {
                flow.ui.field_error(name, required());
            }
            Ok((
                Step::Stay {
                    reason: "missing_field",
                },
                tx,
            ))
        }
        Verdict::Refused => {
            refuse(flow);
            Ok((
                Step::Stay {
                    reason: "invalid_credentials",
                },
                tx,
            ))
        }
        Verdict::Pending {
            pending,
            nodes,
            notice,
        } => {
            flow.ui.nodes = nodes;
            flow.ui.messages = vec![notice];
            LoginState::Pending {
                method: method.id().into(),
                identity,
                proven,
                data: pending,
            }
            .set(flow);
            Ok((Step::Advance, tx))
        }
        Verdict::Proven { identity: who } => {
            // A second factor proves the identity the first one did, or nothing.
            if identity.is_some_and(|first| first != who) {
                refuse(flow);
                return Ok((
                    Step::Stay {
                        reason: "invalid_credentials",
                    },
                    tx,
                ));
            }
            let mut proven = proven;
            proven.push(Proof {
                method: method.id().into(),
                at: t.now(),
            });
            let stamp = match &state {
                LoginState::SecondFactor { stamp, .. } => Some(*stamp),
                _ => None,
            };
            proceed(t, tenant, flow, who, proven, stamp, tx).await
        }
    }
}

/// After a method proved `identity`: ask for another factor while the assurance is short, then for the
/// profile the client needs, then sign in.
async fn proceed(
    t: &Tessera,
    tenant: &Tenant,
    flow: &mut Flow,
    identity: IdentityId,
    proven: Vec<Proof>,
    stamp: Option<i64>,
    tx: Option<Tx>,
) -> Result<(Step, Option<Tx>)> {
    flow.identity_id = Some(identity);
    // The identity's security stamp as of the first proof: read when the sign-in first parks.
    let stamp_now = || async {
        let mut conn = t.db().conn().await?;
        Ok::<_, CoreError>(
            tessera_store::identities::security_stamp(&mut conn, identity)
                .await?
                .unwrap_or_default(),
        )
    };
    let methods = t.methods();
    let reached = crate::methods::aal(
        proven
            .iter()
            .filter_map(|p| methods.get(&p.method))
            .map(|m| m.as_ref()),
    );
    if reached < flow.requested_aal {
        let policy = t.effective_policy_doc(tenant.id).await?;
        let next = next_methods(t, &policy, &proven);
        if next.is_empty() {
            // The policy was checked when stored; a method removed since leaves nothing to offer.
            return Err(CoreError::Conflict {
                code: "assurance_unreachable",
                detail: format!(
                    "no offered method can raise this sign-in to AAL{}",
                    flow.requested_aal
                ),
            });
        }
        show_methods(flow, &next, None, true);
        flow.ui.messages = vec![UiMessage::info(
            "info-second-factor",
            "One more step: confirm it is you another way.",
        )];
        let stamp = match stamp {
            Some(s) => s,
            None => stamp_now().await?,
        };
        LoginState::SecondFactor {
            identity,
            proven,
            stamp,
        }
        .set(flow);
        return Ok((Step::Advance, tx));
    }
    // Only with the identity proven, and only when a client application may need more of the profile,
    // is the whole identity read (progressive profiling).
    if flow.client_id.is_some() {
        let mut conn = t.db().conn().await?;
        let found = tessera_store::identities::get(&mut conn, tenant.id, identity).await?;
        drop(conn);
        let Some(found) = found else {
            // Deleted between the two reads: as if it had never existed.
            refuse(flow);
            return Ok((
                Step::Stay {
                    reason: "invalid_credentials",
                },
                tx,
            ));
        };
        let missing = missing_profile(t, tenant, flow, &found).await?;
        if !missing.is_empty() {
            show_profile(t, tenant, flow, &found, &missing).await?;
            let stamp = match stamp {
                Some(s) => s,
                None => stamp_now().await?,
            };
            LoginState::Profile {
                identity,
                missing,
                stamp,
                then: AfterProfile::SignIn { proven },
            }
            .set(flow);
            return Ok((Step::Advance, tx));
        }
    }
    if let Some(stamp) = stamp
        && !still_proven(t, tenant, identity, &proven, stamp).await?
    {
        return Ok((start_over(t, tenant, flow).await?, tx));
    }
    let tx = match tx {
        Some(tx) => tx,
        None => {
            t.conclusion_tx(tessera_model::flow::FlowKind::Login)
                .await?
        }
    };
    Ok((Step::SignIn { identity, proven }, Some(tx)))
}

/// Whether the account is still as it was when the earliest of `proven` was proven: active, not changed
/// since (a suspension, a reactivation, an admin's edit), no credential set or changed since (a password
/// reset), its security stamp where it was when the sign-in parked (anything that voids its codes or ends
/// its sessions moves it: a revoke, an email change), and every method used still offered. A sign-in finished in a later step (a second factor, the profile) signs in on proofs
/// made earlier, and a flow parked between the two must not outlive what the owner did meanwhile
/// (REC-07, SES-06).
async fn still_proven(
    t: &Tessera,
    tenant: &Tenant,
    identity: IdentityId,
    proven: &[Proof],
    stamp: i64,
) -> Result<bool> {
    let Some(earliest) = proven.iter().map(|p| p.at).min() else {
        return Ok(false);
    };
    // Every method used is still one the tenant offers.
    for p in proven {
        if t.offered_method(tenant.id, &p.method).await?.is_none() {
            return Ok(false);
        }
    }
    let mut conn = t.db().conn().await?;
    if tessera_store::identities::security_stamp(&mut conn, identity).await? != Some(stamp) {
        return Ok(false);
    }
    let Some(found) = tessera_store::identities::get(&mut conn, tenant.id, identity).await? else {
        return Ok(false);
    };
    let credentials = tessera_store::credentials::of_identity(&mut conn, identity).await?;
    Ok(
        found.state == tessera_model::identity::IdentityState::Active
            && found.updated_at <= earliest
            && credentials.iter().all(|c| c.updated_at <= earliest),
    )
}

/// The account changed while the sign-in waited for a later step: it starts again from the first method,
/// and says why.
async fn start_over(t: &Tessera, tenant: &Tenant, flow: &mut Flow) -> Result<Step> {
    init(t, tenant, flow, None).await?;
    flow.identity_id = None;
    flow.ui.messages = vec![UiMessage::error(
        "error-sign-in-again",
        "Your account changed while you were signing in. Please sign in again.",
    )];
    Ok(Step::Stay {
        reason: "account_changed",
    })
}

/// The attributes the flow's client needs that the identity lacks, with the purpose given for them.
async fn missing_profile(
    t: &Tessera,
    tenant: &Tenant,
    flow: &Flow,
    identity: &Identity,
) -> Result<Vec<(String, String)>> {
    match &flow.client_id {
        Some(client) => missing_for(t, tenant, client, identity).await,
        None => Ok(Vec::new()),
    }
}

/// The attributes `client` needs that the identity lacks, with the purpose given for them: those the
/// policy's progressive profiling lists for it, then those its OAuth registration requires
/// (`required_attributes`, purpose: the app's name).
pub(crate) async fn missing_for(
    t: &Tessera,
    tenant: &Tenant,
    client: &str,
    identity: &Identity,
) -> Result<Vec<(String, String)>> {
    let policy = t.effective_policy_doc(tenant.id).await?;
    // (attribute, purpose, whether only a customer-editable attribute may be asked for)
    let mut wanted: Vec<(String, String, bool)> = Vec::new();
    for req in policy
        .registration
        .progressive_profiling
        .iter()
        .filter(|r| r.client_id == client)
    {
        for a in &req.attributes {
            wanted.push((a.clone(), req.purpose.clone(), false));
        }
    }
    // A flow's client id need not be an OAuth client (an app may start flows with any label).
    match t.oauth().client_of(tenant, client).await {
        Ok(c) => {
            for a in &c.required_attributes {
                wanted.push((a.clone(), c.name.clone(), true));
            }
        }
        Err(CoreError::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    // An attribute the schema no longer defines cannot be asked for: it must not hold the customer up.
    // An app's registration may only ask for what customers may edit (registration checks it; the
    // schema may have changed since); the policy, governed with a reason, may ask for more.
    let mut conn = t.db().conn().await?;
    let schema = t.schema_of(&mut conn, tenant.id).await?.schema;
    drop(conn);
    let mut out: Vec<(String, String)> = Vec::new();
    for (a, purpose, editable_only) in wanted {
        let askable = schema
            .get(&a)
            .is_some_and(|def| def.customer_editable || !editable_only);
        if !askable {
            continue;
        }
        let absent = identity.attributes.get(&a).is_none_or(|v| v.is_null());
        if absent && !out.iter().any(|(n, _)| *n == a) {
            out.push((a, purpose));
        }
    }
    Ok(out)
}

/// Parks a just-started sign-in `flow` at the profile step for a customer whose session already
/// answers an app's request but lacks attributes the app requires (`missing`, from [`missing_for`]):
/// the customer gives them without signing in again. Nothing is authenticated here, so finishing the
/// step keeps that session ([`AfterProfile::KeepSession`]): the other apps' tokens bound to it live on
/// and none of them is told of a logout (R7-3). A re-authentication the request asked for
/// (`prompt=login`, `max_age`, a higher `acr`, another customer) never parks here: it signs in, and its
/// own profile step replaces the session (SES-01).
pub(crate) async fn park_at_profile(
    t: &Tessera,
    tenant: &Tenant,
    flow: &mut Flow,
    session: &tessera_store::sessions::StoredSession,
    identity: &Identity,
    missing: Vec<(String, String)>,
) -> Result<()> {
    if session.identity_id != identity.id || session.tenant_id != tenant.id {
        return Err(CoreError::Internal(
            "a profile step parked for another customer's session".into(),
        ));
    }
    let mut conn = t.db().conn().await?;
    let stamp = tessera_store::identities::security_stamp(&mut conn, identity.id)
        .await?
        .unwrap_or_default();
    drop(conn);
    flow.identity_id = Some(identity.id);
    show_profile(t, tenant, flow, identity, &missing).await?;
    LoginState::Profile {
        identity: identity.id,
        missing,
        stamp,
        then: AfterProfile::KeepSession {
            session: session.id,
        },
    }
    .set(flow);
    Ok(())
}

/// Whether the session a profile step was parked for is still the browser's current one: the session
/// cookie this submission came with names it, it belongs to the flow's customer in this tenant, and it is
/// live (not revoked, not expired, not idle). Checked before the input is read, and again in the step's
/// write transaction, so a logout or a revoke committed meanwhile is seen. Anything else (a flow finished
/// after a sign-out, in a browser now signed in as someone else, or an old flow of a session since
/// replaced) attaches to no session.
async fn session_still_current(
    t: &Tessera,
    x: &mut impl tessera_store::Exec,
    ctx: &FlowContext,
    tenant: &Tenant,
    identity: IdentityId,
    session: uuid::Uuid,
) -> Result<bool> {
    let Some(token) = ctx
        .session_token
        .as_deref()
        .filter(|t| !t.is_empty() && t.len() <= 100)
    else {
        return Ok(false);
    };
    let hash = t.keys().secret_hasher.hash(token);
    let Some(s) = tessera_store::sessions::by_token_hash(x, &hash).await? else {
        return Ok(false);
    };
    let now = t.now();
    Ok(s.id == session && s.tenant_id == tenant.id && s.identity_id == identity && s.is_live(now))
}

/// The browser's session is no longer the one the profile step was for: the sign-in starts from the
/// first method, and says why.
async fn session_changed(t: &Tessera, tenant: &Tenant, flow: &mut Flow) -> Result<Step> {
    init(t, tenant, flow, None).await?;
    flow.identity_id = None;
    flow.ui.messages = vec![UiMessage::error(
        "error-session-changed",
        "You are no longer signed in as before. Please sign in.",
    )];
    Ok(Step::Stay {
        reason: "session_changed",
    })
}

async fn show_profile(
    t: &Tessera,
    tenant: &Tenant,
    flow: &mut Flow,
    identity: &Identity,
    missing: &[(String, String)],
) -> Result<()> {
    let mut conn = t.db().conn().await?;
    let schema = t.schema_of(&mut conn, tenant.id).await?.schema;
    let purpose = missing.first().map(|(_, p)| p.clone()).unwrap_or_default();
    flow.ui.nodes = vec![nodes::text(
        "profile",
        "purpose",
        UiMessage::info(
            "info-profile-needed",
            "This app needs a little more about you.",
        )
        .arg("purpose", purpose),
    )];
    for (name, _) in missing {
        if let Some(def) = schema.get(name)
            && let Some(n) = nodes::attribute("profile", def, identity.attributes.get(name), true)
        {
            flow.ui.nodes.push(n);
        }
    }
    flow.ui.nodes.push(nodes::button(
        "profile",
        "method",
        "profile",
        "button-continue",
        "Continue",
    ));
    Ok(())
}

/// A sign-in parked at the profile step: who, what finishing it does, and the security stamp then.
struct Parked<'a> {
    identity: IdentityId,
    then: &'a AfterProfile,
    stamp: i64,
}

async fn submit_profile(
    t: &Tessera,
    ctx: &FlowContext,
    tenant: &Tenant,
    flow: &mut Flow,
    parked: Parked<'_>,
    missing: &[(String, String)],
    input: &FlowInput,
) -> Result<(Step, Option<Tx>)> {
    let Parked {
        identity: identity_id,
        then,
        stamp,
    } = parked;
    match then {
        AfterProfile::SignIn { proven } => {
            if !still_proven(t, tenant, identity_id, proven, stamp).await? {
                return Ok((start_over(t, tenant, flow).await?, None));
            }
        }
        AfterProfile::KeepSession { session } => {
            let mut conn = t.db().conn().await?;
            let current =
                session_still_current(t, &mut conn, ctx, tenant, identity_id, *session).await?;
            let same = tessera_store::identities::security_stamp(&mut conn, identity_id).await?
                == Some(stamp);
            drop(conn);
            if !current {
                return Ok((session_changed(t, tenant, flow).await?, None));
            }
            if !same {
                return Ok((start_over(t, tenant, flow).await?, None));
            }
        }
    }
    let names: Vec<String> = missing.iter().map(|(n, _)| n.clone()).collect();
    let mut conn = t.db().conn().await?;
    let schema = t.schema_of(&mut conn, tenant.id).await?.schema;
    drop(conn);
    let values = match nodes::parse_attributes(&schema, &names, input) {
        Ok(v) => v,
        Err(problems) => {
            nodes::attach_problems(&mut flow.ui, &problems);
            return stay("invalid_attributes");
        }
    };
    let absent: Vec<&String> = names
        .iter()
        .filter(|n| values.get(*n).is_none_or(|v| v.is_null()))
        .collect();
    if !absent.is_empty() {
        for n in absent {
            flow.ui.field_error(&format!("attributes.{n}"), required());
        }
        return stay("missing_field");
    }
    let mut tx = t.db().begin().await?;
    let Some(mut identity) =
        tessera_store::identities::get(&mut tx, tenant.id, identity_id).await?
    else {
        return stay("identity_gone");
    };
    // Attached to the session only while it is still the browser's, seen by this transaction.
    if let AfterProfile::KeepSession { session } = then
        && (identity.state != tessera_model::identity::IdentityState::Active
            || !session_still_current(t, &mut tx, ctx, tenant, identity_id, *session).await?)
    {
        drop(tx);
        return Ok((session_changed(t, tenant, flow).await?, None));
    }
    for (k, v) in &values {
        identity.attributes.insert(k.clone(), v.clone());
    }
    if let Err(problems) = schema.validate(
        &identity.attributes,
        tessera_model::attributes::ValidationMode::Full,
    ) {
        let problems: Vec<crate::FieldProblem> = problems
            .into_iter()
            .map(|p| crate::FieldProblem {
                field: format!("attributes.{}", p.attribute),
                code: p.code.into(),
                message: p.message,
            })
            .collect();
        nodes::attach_problems(&mut flow.ui, &problems);
        return stay("invalid_attributes");
    }
    let expected = identity.version;
    identity.version += 1;
    identity.updated_at = t.now();
    if !tessera_store::identities::update(&mut tx, &identity, expected).await? {
        return Err(crate::CoreError::Conflict {
            code: "identity_changed",
            detail: "the account changed meanwhile; please retry".into(),
        });
    }
    let client = flow.client_id.clone().unwrap_or_default();
    for (name, purpose) in missing {
        tessera_store::profile::record_collection(
            &mut tx,
            tenant.id,
            identity.id,
            name,
            &client,
            purpose,
            t.now(),
        )
        .await?;
    }
    let ev = NewEvent::new(
        tenant.id,
        types::ATTRIBUTES_COLLECTED,
        identity_subject(identity.id),
        json!({"identity_id": identity.id, "attributes": names, "client_id": client, "purposes": missing.iter().map(|(_, p)| p).collect::<Vec<_>>()}),
    )
    .with_personal(identity.id, json!({"attributes": values}));
    t.record(&mut tx, &Caller::system(), ev, None).await?;
    let step = match then {
        AfterProfile::SignIn { proven } => Step::SignIn {
            identity: identity.id,
            proven: proven.clone(),
        },
        AfterProfile::KeepSession { session } => Step::KeepSession {
            identity: identity.id,
            session: *session,
        },
    };
    Ok((step, Some(tx)))
}
