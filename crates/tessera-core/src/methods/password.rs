//! The password: a knowledge factor, `amr` `pwd`, one per identity (its credential's handle is empty),
//! stored as an argon2id PHC string. Sign-in does exactly one argon2id run on every path, against a dummy
//! hash when there is no real one, so an unknown identifier, a wrong password and an account that cannot
//! sign in get the same answer after the same work (RL-05).
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_model::flow::UiNode;
use tessera_model::identity::IdentityState;
use tessera_model::{IdentityId, TenantId};
use tessera_store::Tx;
use time::OffsetDateTime;

use super::{Account, Charge, Factor, Method, MethodFuture, Secret, SignIn, Verdict};
use crate::flows::{FlowInput, field, nodes, raw_field};
use crate::{CoreError, Result, Tessera};

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
                let mut conn = t.db().conn().await?;
                tessera_store::identities::sign_in_candidate(
                    &mut conn,
                    s.tenant.id,
                    n.kind,
                    &n.value,
                    ID,
                )
                .await?
                .map(|c| (c.identity, c.state, c.credential))
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
