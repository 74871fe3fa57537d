//! Sign-in. Combined form (identifier and password). No account enumeration: unknown identifiers, wrong
//! passwords and accounts that cannot sign in get the same answer after the same work (one argon2id run,
//! against a dummy hash when there is no real one). The engine's guard counts every attempt per account
//! and per client before this code runs. Progressive
//! profiling asks, once, for what the client application needs and the customer has not given yet.
use serde_json::json;
use tessera_model::event::{NewEvent, identity_subject};
use tessera_model::flow::{Flow, UiMessage};
use tessera_model::identity::{Identity, IdentityState};
use tessera_model::tenant::Tenant;
use tessera_store::Tx;
use tessera_store::identities::SignInCandidate;

use super::{FlowContext, FlowInput, Step, field, nodes, raw_field, required, stay, types};
use crate::{Caller, Result, Tessera};

pub(crate) fn init(flow: &mut Flow, identifier: Option<&str>) {
    flow.state = "choose_method".into();
    flow.ui.nodes = vec![
        nodes::identifier(identifier.map(str::to_owned)),
        nodes::password("password", "password", false),
        nodes::button(
            "password",
            "method",
            "password",
            "button-sign-in",
            "Sign in",
        ),
    ];
}

/// The sign-in candidate an identifier names, whatever its kind: one query on every path, hit or miss
/// (RL-05). An identifier that cannot be normalised names nobody.
async fn candidate(t: &Tessera, tenant: &Tenant, raw: &str) -> Result<Option<SignInCandidate>> {
    let Some(n) = crate::guard::normalised_identifier(raw) else {
        return Ok(None);
    };
    let mut conn = t.db().conn().await?;
    Ok(tessera_store::identities::sign_in_candidate(
        &mut conn, tenant.id, n.kind, &n.value, "password",
    )
    .await?)
}

/// The one answer to every failed sign-in (the guard counted the attempt before it was checked).
fn refuse(flow: &mut Flow) -> Result<(Step, Option<Tx>)> {
    flow.ui.messages.push(UiMessage::error(
        "error-invalid-credentials",
        "The email or password is wrong.",
    ));
    stay("invalid_credentials")
}

pub(crate) async fn submit(
    t: &Tessera,
    _ctx: &FlowContext,
    tenant: &Tenant,
    flow: &mut Flow,
    input: &FlowInput,
) -> Result<(Step, Option<Tx>)> {
    match flow.state.as_str() {
        "profile" => return submit_profile(t, tenant, flow, input).await,
        "choose_method" => {}
        _ => {
            return stay("unknown_state");
        }
    }
    let identifier = field(input, "identifier");
    let password = raw_field(input, "password");
    if let Some(node) = flow.ui.nodes.iter_mut().find(|n| n.name == "identifier") {
        node.value = identifier.map(str::to_owned);
    }
    let (Some(identifier), Some(password)) = (identifier, password) else {
        for (name, present) in [
            ("identifier", identifier.is_some()),
            ("password", password.is_some()),
        ] {
            if !present {
                flow.ui.field_error(name, required());
            }
        }
        return stay("missing_field");
    };
    let candidate = candidate(t, tenant, identifier).await?;
    let credential = candidate.as_ref().and_then(|c| c.secret.clone());
    // Exactly one argon2id run on every path (RL-05).
    let (matches, needs_rehash) = match &credential {
        Some(phc) => {
            let c = t.passwords().verify(password, phc).await?;
            (c.matches, c.needs_rehash)
        }
        None => {
            t.passwords().verify_against_dummy(password).await?;
            (false, false)
        }
    };
    let usable = candidate
        .as_ref()
        .is_some_and(|c| c.state == IdentityState::Active);
    let Some(candidate) = candidate.filter(|_| matches && usable) else {
        return refuse(flow);
    };
    // Only with the password proven, and only when a client application may need more of the profile,
    // is the whole identity read (progressive profiling).
    let missing = match &flow.client_id {
        None => Vec::new(),
        Some(_) => {
            let mut conn = t.db().conn().await?;
            let identity =
                tessera_store::identities::get(&mut conn, tenant.id, candidate.identity).await?;
            drop(conn);
            match identity {
                Some(identity) => {
                    let missing = missing_profile(t, tenant, flow, &identity).await?;
                    if !missing.is_empty() {
                        show_profile(t, tenant, flow, &identity, &missing).await?;
                    }
                    missing
                }
                // Deleted between the two reads: as if it had never existed.
                None => return refuse(flow),
            }
        }
    };
    // Hashed before the write transaction begins, so the writer is never held during argon2id.
    let rehashed = match (needs_rehash, &credential) {
        (true, Some(old)) => Some((old, t.passwords().hash(password).await?)),
        _ => None,
    };
    flow.identity_id = Some(candidate.identity);
    let step = if missing.is_empty() {
        Step::SignIn {
            identity: candidate.identity,
            amr: vec!["pwd".into()],
        }
    } else {
        Step::Advance
    };
    let mut tx = t.db().begin().await?;
    if let Some((old, new)) = rehashed {
        tessera_store::credentials::replace_if(
            &mut tx,
            candidate.identity,
            "password",
            old,
            &new,
            t.now(),
        )
        .await?;
    }
    Ok((step, Some(tx)))
}

/// The attributes the flow's client needs that the identity lacks, with the purpose given for them.
async fn missing_profile(
    t: &Tessera,
    tenant: &Tenant,
    flow: &Flow,
    identity: &Identity,
) -> Result<Vec<(String, String)>> {
    let Some(client) = &flow.client_id else {
        return Ok(Vec::new());
    };
    let policy = t.effective_policy_doc(tenant.id).await?;
    let mut out = Vec::new();
    for req in policy
        .registration
        .progressive_profiling
        .iter()
        .filter(|r| &r.client_id == client)
    {
        for a in &req.attributes {
            let absent = identity.attributes.get(a).is_none_or(|v| v.is_null());
            if absent && !out.iter().any(|(n, _)| n == a) {
                out.push((a.clone(), req.purpose.clone()));
            }
        }
    }
    Ok(out)
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
    flow.state = "profile".into();
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
    flow.internal = json!({"missing": missing});
    Ok(())
}

async fn submit_profile(
    t: &Tessera,
    tenant: &Tenant,
    flow: &mut Flow,
    input: &FlowInput,
) -> Result<(Step, Option<Tx>)> {
    let Some(identity_id) = flow.identity_id else {
        return stay("unknown_state");
    };
    let missing: Vec<(String, String)> =
        serde_json::from_value(super::internal(flow, "missing").clone()).unwrap_or_default();
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
    for (name, purpose) in &missing {
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
    Ok((
        Step::SignIn {
            identity: identity.id,
            amr: vec!["pwd".into()],
        },
        Some(tx),
    ))
}
