//! The password: a knowledge factor, `amr` `pwd`, one per identity (its credential's handle is empty),
//! stored as an argon2id PHC string. Sign-in does exactly one argon2id run on every path, against a dummy
//! hash when there is no real one, so an unknown identifier, a wrong password and an account that cannot
//! sign in get the same answer after the same work (RL-05).
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_model::event::{NewEvent, identity_subject, types};
use tessera_model::flow::{Flow, UiMessage, UiNode};
use tessera_model::identifier::IdentifierKind;
use tessera_model::identity::IdentityState;
use tessera_model::password_policy::{
    self, Advice, Blocklist, PasswordContext, PasswordPolicy, Strength,
};
use tessera_model::tenant::Tenant;
use tessera_model::{IdentityId, TenantId};
use tessera_store::Tx;
use time::OffsetDateTime;

use super::{
    Account, Changed, Charge, Factor, Method, MethodFuture, Secret, SettingsChange, SignIn, Verdict,
};
use crate::flows::codes::mail_vars;
use crate::flows::{FlowInput, field, nodes, raw_field, required};
use crate::{Caller, CoreError, Result, Tessera};

/// The id, credential kind and UI group of the password.
pub const ID: &str = "password";

/// The password's typed credential data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordData {
    /// The argon2id hash in PHC form.
    pub phc: String,
}

impl PasswordData {
    fn parse(data: &str) -> Result<Self> {
        serde_json::from_str(data)
            .map_err(|e| CoreError::Internal(format!("password credential data: {e}")))
    }

    fn to_text(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| CoreError::Internal(e.to_string()))
    }
}

/// The password method.
#[derive(Debug, Clone, Copy, Default)]
pub struct Password;

impl Method for Password {
    fn id(&self) -> &'static str {
        ID
    }

    fn amr(&self) -> &'static str {
        "pwd"
    }

    fn factor(&self) -> Factor {
        Factor::Knowledge
    }

    fn allowed_at_aal2(&self) -> bool {
        true
    }

    fn sign_in_nodes(&self, _second: bool) -> Vec<UiNode> {
        vec![
            nodes::password(ID, "password", false),
            nodes::button(ID, "method", ID, "button-sign-in", "Sign in"),
        ]
    }

    fn charge(&self, identity: Option<IdentityId>, _: Option<&Value>, input: &FlowInput) -> Charge {
        if raw_field(input, "password").is_none() {
            return Charge::Nothing;
        }
        let account = match (identity, field(input, "identifier")) {
            (Some(id), _) => Account::Identity(id),
            (None, Some(raw)) => Account::Identifier(raw.to_owned()),
            (None, None) => return Charge::Nothing,
        };
        Charge::Guess {
            account,
            secret: Secret::Password,
        }
    }

    fn sign_in<'a>(&'a self, s: SignIn<'a>) -> MethodFuture<'a, (Verdict, Option<Tx>)> {
        Box::pin(sign_in(s))
    }

    fn settings_nodes(&self) -> Vec<UiNode> {
        vec![
            nodes::password(ID, "current_password", false),
            nodes::password(ID, "new_password", true),
            nodes::button(ID, "method", ID, "button-save", "Save"),
        ]
    }

    fn settings_charge(&self, identity: IdentityId, input: &FlowInput) -> Charge {
        if raw_field(input, "current_password").is_none() {
            return Charge::Nothing;
        }
        Charge::Guess {
            account: Account::Identity(identity),
            secret: Secret::Password,
        }
    }

    fn settings_hashes(&self, input: &FlowInput) -> bool {
        raw_field(input, "new_password").is_some()
    }

    fn settings_change<'a>(
        &'a self,
        s: SettingsChange<'a>,
    ) -> MethodFuture<'a, (Changed, Option<Tx>)> {
        Box::pin(settings_change(s))
    }
}

async fn sign_in(s: SignIn<'_>) -> Result<(Verdict, Option<Tx>)> {
    let t = s.t;
    let identifier = field(s.input, "identifier");
    let password = raw_field(s.input, "password");
    let Some(password) = password else {
        let mut missing = vec!["password"];
        if s.identity.is_none() && identifier.is_none() {
            missing.insert(0, "identifier");
        }
        return Ok((Verdict::Missing(missing), None));
    };
    // Who is signing in, with their password credential: one query on every path, hit or miss (RL-05).
    let candidate = match (s.identity, identifier) {
        (Some(id), _) => {
            let mut conn = t.db().conn().await?;
            let cred = tessera_store::credentials::of_kind(&mut conn, id, ID).await?;
            cred.into_iter()
                .next()
                .map(|c| (id, IdentityState::Active, Some((c.id, c.data))))
        }
        (None, Some(raw)) => match crate::guard::normalised_identifier(raw) {
            Some(n) => {
                // The guard read this row to name the account it counted the guess against.
                let found = match s.looked_up(n.kind, &n.value, ID) {
                    Some(c) => c.cloned(),
                    None => {
                        let mut conn = t.db().conn().await?;
                        tessera_store::identities::sign_in_candidate(
                            &mut conn,
                            s.tenant.id,
                            n.kind,
                            &n.value,
                            ID,
                        )
                        .await?
                    }
                };
                found.map(|c| (c.identity, c.state, c.credential))
            }
            None => None,
        },
        (None, None) => return Ok((Verdict::Missing(vec!["identifier"]), None)),
    };
    let credential = match candidate.as_ref().and_then(|(_, _, c)| c.as_ref()) {
        Some((id, data)) => Some((*id, data.clone(), PasswordData::parse(data)?)),
        None => None,
    };
    // Exactly one argon2id run on every path (RL-05).
    let (matches, needs_rehash) = match &credential {
        Some((_, _, d)) => {
            let c = t.passwords().verify(password, &d.phc).await?;
            (c.matches, c.needs_rehash)
        }
        None => {
            t.passwords().verify_against_dummy(password).await?;
            (false, false)
        }
    };
    let Some((identity, state, _)) = candidate else {
        return Ok((Verdict::Refused, None));
    };
    if !matches || state != IdentityState::Active {
        return Ok((Verdict::Refused, None));
    }
    // Hashed before the write transaction begins, so the writer is never held during argon2id.
    let rehash = match (needs_rehash, &credential) {
        (true, Some((id, old, _))) => Some((*id, old.clone(), t.passwords().hash(password).await?)),
        _ => None,
    };
    let tx = match rehash {
        Some((id, old, phc)) => {
            let mut tx = t.db().begin().await?;
            let new = PasswordData { phc }.to_text()?;
            tessera_store::credentials::replace_if(&mut tx, id, &old, &new, t.now()).await?;
            Some(tx)
        }
        None => None,
    };
    Ok((Verdict::Proven { identity }, tx))
}

/// The identity's password hash, if it has a password.
pub(crate) async fn current(t: &Tessera, identity: IdentityId) -> Result<Option<String>> {
    let mut conn = t.db().conn().await?;
    let creds = tessera_store::credentials::of_kind(&mut conn, identity, ID).await?;
    match creds.into_iter().next() {
        Some(c) => Ok(Some(PasswordData::parse(&c.data)?.phc)),
        None => Ok(None),
    }
}

/// Sets (or replaces) the identity's password to an already computed argon2id hash.
pub(crate) async fn store(
    tx: &mut Tx,
    tenant: TenantId,
    identity: IdentityId,
    phc: &str,
    now: OffsetDateTime,
) -> Result<()> {
    let data = PasswordData {
        phc: phc.to_owned(),
    }
    .to_text()?;
    tessera_store::credentials::put(tx, tenant, identity, ID, "", &data, now).await?;
    Ok(())
}

/// Checks a new password against the policy, the blocklist and the context. A refusal attaches its
/// reasons to `field_name`, followed by the strength estimate's hints as info messages, so the person
/// learns what a better password looks like, not only that this one is refused. Returns the advisory
/// strength of an accepted password (`None` when refused) so the caller may mention the hints even then;
/// strength never refuses anything.
pub(crate) async fn check_new(
    t: &Tessera,
    tenant: &Tenant,
    flow: &mut Flow,
    field_name: &str,
    password: &str,
    context: &[&str],
) -> Result<Option<Strength>> {
    let policy = PasswordPolicy::default();
    let mut words: Vec<&str> = context.to_vec();
    words.push(&tenant.name);
    words.push(&tenant.slug);
    words.push("tessera");
    let ctx = PasswordContext {
        has_second_factor: false,
        context_words: words,
    };
    let strength = match password_policy::check(&policy, password, &ctx, Blocklist::shipped()) {
        Ok(strength) => strength,
        Err(problems) => {
            let mut too_short = false;
            let mut too_long = false;
            for p in problems {
                let (id, text) = match p.code {
                    "too_short" => ("error-password-too-short", p.message.as_str()),
                    "too_long" => ("error-password-too-long", p.message.as_str()),
                    "common" => ("error-password-common", p.message.as_str()),
                    _ => ("error-password-contains-context", p.message.as_str()),
                };
                too_short |= p.code == "too_short";
                too_long |= p.code == "too_long";
                let msg = UiMessage::error(id, text)
                    .arg("min", policy.min_length)
                    .arg("max", policy.max_length);
                flow.ui.field_error(field_name, msg);
            }
            // Over-long input is not worth estimating (and "make it longer" would be wrong); a
            // too-short one already says how long to make it.
            if !too_long {
                let strength = password_policy::estimate(password, Blocklist::shipped());
                let skip = too_short.then_some(Advice::Longer);
                attach_advice(flow, field_name, &strength, skip);
            }
            return Ok(None);
        }
    };
    if let Some(check) = &t.breach_check() {
        match check.is_breached(password).await {
            Ok(true) => {
                flow.ui.field_error(
                    field_name,
                    UiMessage::error(
                        "error-password-breached",
                        "This password appeared in a data breach. Please choose another.",
                    ),
                );
                attach_advice(flow, field_name, &strength, None);
                return Ok(None);
            }
            Ok(false) => {}
            // Advisory check: an outage does not block sign-up; the shipped blocklist still applied.
            Err(e) => tracing::warn!(error = %e, "breached-password check unavailable"),
        }
    }
    Ok(Some(strength))
}

/// The estimator's hints as info messages on `field_name` (or the form when there is no such field).
fn attach_advice(flow: &mut Flow, field_name: &str, strength: &Strength, skip: Option<Advice>) {
    for advice in strength.feedback.iter().filter(|a| Some(**a) != skip) {
        flow.ui
            .field_error(field_name, UiMessage::info(advice.id(), advice.text()));
    }
}

/// Sets a new password, signs out sessions (all but `keep`), which voids every pending code and link of
/// the identity (recovery, verification, email change: REC-02), and tells the customer at every verified
/// address.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn set(
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
    store(tx, tenant.id, identity, hash, now).await?;
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

/// Changes the password from the settings page: the current one first (counted by the guard as a
/// guess), then the new one against the rules; other sessions end, and every verified address is told.
async fn settings_change(s: SettingsChange<'_>) -> Result<(Changed, Option<Tx>)> {
    let SettingsChange {
        t,
        tenant,
        flow,
        session,
        input,
    } = s;
    let (Some(current), Some(new)) = (
        raw_field(input, "current_password"),
        raw_field(input, "new_password"),
    ) else {
        flow.ui.messages.push(required());
        return Ok((Changed::Unchanged("missing_field"), None));
    };
    let id = session.session.identity_id;
    let phc = crate::methods::password::current(t, id).await?;
    let mut conn = t.db().conn().await?;
    let identity = tessera_store::identities::get(&mut conn, tenant.id, id)
        .await?
        .ok_or(CoreError::Unauthenticated)?;
    drop(conn);
    let ok = match &phc {
        Some(p) => t.passwords().verify(current, p).await?.matches,
        None => {
            t.passwords().verify_against_dummy(current).await?;
            false
        }
    };
    if !ok {
        flow.ui.messages.push(UiMessage::error(
            "error-invalid-credentials",
            "The current password is wrong.",
        ));
        return Ok((Changed::Unchanged("invalid_credentials"), None));
    }
    let words: Vec<String> = identity
        .identifiers
        .iter()
        .map(|i| i.value.clone())
        .chain(
            identity
                .identifiers
                .iter()
                .filter_map(|i| i.value.split('@').next().map(str::to_owned)),
        )
        .collect();
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let Some(strength) = check_new(t, tenant, flow, "new_password", new, &refs).await? else {
        return Ok((Changed::Unchanged("weak_password"), None));
    };
    let hash = t.passwords().hash(new).await?;
    let mut tx = t.db().begin().await?;
    set(
        t,
        &mut tx,
        tenant,
        id,
        &hash,
        Some(session.session.id),
        "settings",
        flow.locale.as_deref(),
    )
    .await?;
    flow.ui.messages.push(UiMessage::success(
        "success-password-changed",
        "Your password was changed.",
    ));
    // Accepted is accepted; a weak one only earns a note with the hints, after the confirmation.
    if strength.is_weak() && !strength.feedback.is_empty() {
        flow.ui.messages.push(UiMessage::info(
            "info-password-weak",
            "Your new password is saved, but it may be easy to guess.",
        ));
        for advice in &strength.feedback {
            flow.ui
                .messages
                .push(UiMessage::info(advice.id(), advice.text()));
        }
    }
    Ok((Changed::Saved, Some(tx)))
}
