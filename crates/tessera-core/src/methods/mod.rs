//! Sign-in methods as plug-ins. A method is everything one way of proving who you are needs: the UI
//! nodes it shows, how it checks a submission, what the guard counts for it, the `amr` value and the kind
//! of factor it gives. Journeys never name a method: the sign-in asks the tenant's policy which methods it
//! offers and this registry for them, and dispatches on the `method` field of the submission.
//!
//! Adding a method is a new file here (or anywhere: a [`Method`] is a trait object) and one line in
//! [`Methods::builtin`], or [`crate::Tessera::with_method`] for one the embedding program brings; the
//! integration tests register a test-only method that way and sign in with it as a second factor
//! without any journey knowing it exists.
//!
//! Assurance follows NIST SP 800-63B: one proven factor is AAL1; two proven factors of different kinds,
//! each allowed at AAL2, make AAL2. An emailed code is not allowed at AAL2 (email is no out-of-band
//! authenticator there), so a password and an emailed code stay AAL1.
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use tessera_model::flow::{Flow, UiNode};
use tessera_model::policy::AuthenticationPolicy;
use tessera_model::tenant::Tenant;
use tessera_model::{IdentityId, policy::PolicyProblem};
use tessera_store::Tx;

use crate::flows::{FlowContext, FlowInput};
use crate::{Result, Tessera};

pub mod email_code;
pub mod password;

/// The kind of factor a method proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Factor {
    /// Something the customer knows (a password).
    Knowledge,
    /// Something the customer has (a mailbox, a phone, a security key).
    Possession,
    /// Something the customer is (a biometric unlocking a passkey).
    Inherence,
}

/// One method proven in a sign-in, and when: the session records the time of each factor, and a sign-in
/// finished in a later step checks that the account did not change since (see `flows::login`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proof {
    pub method: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
}

/// A future a method returns; methods are trait objects, so their async work is boxed.
pub type MethodFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Whose account a submission to a method concerns, for the guard's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// What the customer typed to sign in (normalised by the guard).
    Identifier(String),
    /// The identity a first factor already proved.
    Identity(IdentityId),
}

/// What the guard charges for a submission to a method, before the method's own code runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charge {
    /// Nothing guessable is checked and nothing is sent.
    Nothing,
    /// A guess at a secret of the account: a password, or a code.
    Guess { account: Account, secret: Secret },
    /// A mail is sent for the account.
    Mail { account: Account },
}

/// What kind of secret a guess is at. Guesses are counted per kind (RL-01): a flood of wrong passwords
/// does not hold back the code that recovers the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    Password,
    Code,
}

/// What a method needs to know to check a sign-in submission.
pub struct SignIn<'a> {
    pub t: &'a Tessera,
    pub ctx: &'a FlowContext,
    pub tenant: &'a Tenant,
    pub flow: &'a Flow,
    /// The identity an earlier factor proved, when this is a second factor.
    pub identity: Option<IdentityId>,
    /// What the method kept from its previous step in this flow (a code sent to an address).
    pub pending: Option<&'a Value>,
    pub input: &'a FlowInput,
    /// What the guard read about the identifier typed, when it read it for this method: see
    /// [`SignIn::looked_up`].
    pub lookup: Option<&'a Lookup>,
}

/// The sign-in candidate the guard read to name the account it counted a submission against: the
/// identifier's row with its identity's state and the method's credential, in the one indexed read a
/// method would otherwise repeat. Read the same way on a hit and a miss (RL-05).
#[derive(Debug, Clone)]
pub struct Lookup {
    pub kind: tessera_model::identifier::IdentifierKind,
    /// The normalised identifier.
    pub value: String,
    /// The kind of credential read with it (the method's id).
    pub credential_kind: &'static str,
    pub candidate: Option<tessera_store::identities::SignInCandidate>,
}

impl SignIn<'_> {
    /// The candidate the guard already read for this normalised identifier and credential kind:
    /// `Some(None)` when nobody holds it, `None` when the guard read nothing that fits (read it then).
    pub fn looked_up(
        &self,
        kind: tessera_model::identifier::IdentifierKind,
        value: &str,
        credential_kind: &str,
    ) -> Option<Option<&tessera_store::identities::SignInCandidate>> {
        self.lookup
            .filter(|l| l.kind == kind && l.value == value && l.credential_kind == credential_kind)
            .map(|l| l.candidate.as_ref())
    }
}

/// What a method concluded from a sign-in submission.
#[derive(Debug)]
pub enum Verdict {
    /// The submission proves this identity.
    Proven { identity: IdentityId },
    /// Wrong, unknown or not allowed: the one answer that tells nothing (RL-05).
    Refused,
    /// These fields are missing: the customer fills them in, nothing was checked.
    Missing(Vec<&'static str>),
    /// The method needs another step (a code was sent): it shows `nodes` and keeps `pending`.
    Pending {
        pending: Value,
        nodes: Vec<UiNode>,
        notice: tessera_model::flow::UiMessage,
    },
}

/// What a method needs to change its credential from the settings page of a signed-in customer (whose
/// session the engine has checked, and found recent enough: SES-08).
pub struct SettingsChange<'a> {
    pub t: &'a Tessera,
    pub tenant: &'a Tenant,
    pub flow: &'a mut Flow,
    pub session: &'a crate::sessions::ActiveSession,
    pub input: &'a FlowInput,
}

/// What a settings change came to. Messages and field errors are on the flow's UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    Saved,
    /// Nothing changed; the reason goes to `flow.failed`.
    Unchanged(&'static str),
}

/// One way of proving who you are.
pub trait Method: Send + Sync + std::fmt::Debug {
    /// The stable id: the policy's name for it, the UI group of its nodes, the `method` value of its
    /// buttons, and the kind of its credentials.
    fn id(&self) -> &'static str;
    /// The `amr` value (RFC 8176) a session records when the method was used.
    fn amr(&self) -> &'static str;
    /// The kind of factor it proves.
    fn factor(&self) -> Factor;
    /// Whether it may be one of the two factors of an AAL2 sign-in.
    fn allowed_at_aal2(&self) -> bool;
    /// Whether it can be the first factor, identifying the customer from what they typed. A method that
    /// needs to know the identity first (a security key without discoverable credentials) says no.
    fn identifies(&self) -> bool {
        true
    }
    /// The nodes it adds to a sign-in step. `second`: the identity is known (a second factor), so no
    /// identifier is asked.
    fn sign_in_nodes(&self, second: bool) -> Vec<UiNode>;
    /// What the guard counts for a submission, before [`Method::sign_in`] sees it.
    fn charge(
        &self,
        identity: Option<IdentityId>,
        pending: Option<&Value>,
        input: &FlowInput,
    ) -> Charge;
    /// Checks a sign-in submission. Expensive work happens before the returned transaction (if any)
    /// opens; what the method writes (a rehash, a code's attempt) commits with the step.
    fn sign_in<'a>(&'a self, s: SignIn<'a>) -> MethodFuture<'a, (Verdict, Option<Tx>)>;

    /// The nodes it adds to the settings page (to set up or change its credential); none by default.
    fn settings_nodes(&self) -> Vec<UiNode> {
        Vec::new()
    }
    /// What the guard counts for a settings submission to it (a current password checked first).
    fn settings_charge(&self, _identity: IdentityId, _input: &FlowInput) -> Charge {
        Charge::Nothing
    }
    /// Whether a settings submission makes it hash a new secret: charged to the client's hashing quota
    /// (RL-06) whatever the step answers.
    fn settings_hashes(&self, _input: &FlowInput) -> bool {
        false
    }
    /// Changes its credential from the settings page.
    fn settings_change<'a>(
        &'a self,
        _s: SettingsChange<'a>,
    ) -> MethodFuture<'a, (Changed, Option<Tx>)> {
        Box::pin(async { Ok((Changed::Unchanged("unknown_method"), None)) })
    }
}

/// The methods a deployment knows, by id.
#[derive(Debug, Clone)]
pub struct Methods {
    all: Vec<Arc<dyn Method>>,
}

impl Methods {
    /// The methods Tessera ships.
    pub fn builtin() -> Self {
        Self {
            all: vec![
                Arc::new(password::Password),
                Arc::new(email_code::EmailCode),
            ],
        }
    }

    /// Adds (or replaces, by id) a method.
    pub fn register(&mut self, method: Arc<dyn Method>) {
        self.all.retain(|m| m.id() != method.id());
        self.all.push(method);
    }

    /// The first method: what a sign-in submission naming none is for (the password, built in).
    pub fn first(&self) -> Option<&Arc<dyn Method>> {
        self.all.first()
    }

    /// The method with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<dyn Method>> {
        self.all.iter().find(|m| m.id() == id)
    }

    /// The methods a policy offers, in its order (ids it names that this deployment lacks are skipped;
    /// [`Methods::check`] refuses such a policy when it is stored).
    pub fn offered<'a>(
        &'a self,
        policy: &'a AuthenticationPolicy,
    ) -> impl Iterator<Item = &'a Arc<dyn Method>> + 'a {
        policy.methods.iter().filter_map(|id| self.get(id))
    }

    /// The policy problems only the registry can see: methods it does not know, and an AAL the offered
    /// methods cannot reach.
    pub fn check(&self, policy: &AuthenticationPolicy) -> Vec<PolicyProblem> {
        let mut out = Vec::new();
        for (i, id) in policy.methods.iter().enumerate() {
            if self.get(id).is_none() {
                let known: Vec<&str> = self.all.iter().map(|m| m.id()).collect();
                out.push(PolicyProblem {
                    path: format!("$.authentication.methods[{i}]"),
                    message: format!("no sign-in method {id:?}; known: {}", known.join(", ")),
                });
            }
        }
        let offered: Vec<&Arc<dyn Method>> = self.offered(policy).collect();
        if !offered.iter().any(|m| m.identifies()) {
            out.push(PolicyProblem {
                path: "$.authentication.methods".into(),
                message: "offer at least one method that can start a sign-in".into(),
            });
        }
        let reachable = aal(offered.iter().map(|m| m.as_ref()));
        if policy.aal > reachable {
            out.push(PolicyProblem {
                path: "$.authentication.aal".into(),
                message: format!(
                    "the offered methods reach AAL{reachable} at most: AAL2 needs two factors of different kinds allowed at AAL2"
                ),
            });
        }
        out
    }
}

impl Tessera {
    /// The sign-in method the tenant's policy offers under this id, if any: only an offered method is
    /// counted by the guard, checks a sign-in or manages a credential in settings.
    pub(crate) async fn offered_method(
        &self,
        tenant: tessera_model::TenantId,
        id: &str,
    ) -> Result<Option<Arc<dyn Method>>> {
        let policy = self.effective_policy_doc(tenant).await?;
        Ok(self
            .methods()
            .offered(&policy.authentication)
            .find(|m| m.id() == id)
            .cloned())
    }
}

/// The assurance level a set of proven methods reaches: 0 for none, 1 for any, 2 when two of different
/// factor kinds are allowed at AAL2.
pub fn aal<'a>(proven: impl Iterator<Item = &'a dyn Method>) -> i64 {
    let mut any = false;
    let mut kinds = BTreeMap::new();
    for m in proven {
        any = true;
        if m.allowed_at_aal2() {
            kinds.insert(m.factor(), ());
        }
    }
    match (any, kinds.len()) {
        (false, _) => 0,
        (true, 0 | 1) => 1,
        (true, _) => 2,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_password_alone_or_with_an_emailed_code_is_aal1() {
        let m = Methods::builtin();
        let pwd = m.get("password").unwrap().as_ref();
        let code = m.get("email_code").unwrap().as_ref();
        assert_eq!(aal(std::iter::empty()), 0);
        assert_eq!(aal([pwd].into_iter()), 1);
        assert_eq!(aal([pwd, code].into_iter()), 1);
    }

    #[test]
    fn a_policy_naming_an_unknown_method_or_an_unreachable_aal_is_refused() {
        let m = Methods::builtin();
        let ok = AuthenticationPolicy::default();
        assert!(m.check(&ok).is_empty());
        let unknown = AuthenticationPolicy {
            methods: vec!["password".into(), "carrier_pigeon".into()],
            aal: 1,
        };
        let p = m.check(&unknown);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, "$.authentication.methods[1]");
        let unreachable = AuthenticationPolicy {
            methods: vec!["password".into(), "email_code".into()],
            aal: 2,
        };
        assert_eq!(m.check(&unreachable)[0].path, "$.authentication.aal");
    }
}
