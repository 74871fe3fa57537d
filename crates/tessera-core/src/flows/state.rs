//! Typed flow states. Each journey keeps where its flow is, and every fact a later step decides on (which
//! address a code went to, that the address was proven, which identity sign-up claims, the pending email
//! of a change), as one serde-tagged enum of its own. The enum is serialised into the flow row's `internal`
//! column, and the row's `state` column is the variant's stable name (for events, headings and the API),
//! written by the same setter, never by hand. A journey reads its state once per step with
//! [`JourneyState::of`]; a proof is a variant, not a flag, so a step that needs it cannot be reached
//! without it.
//!
//! A stored state that does not parse, names another variant than the row's `state`, or belongs to
//! another kind of flow is a typed [`StateError`]; the step then stays and changes nothing, and the guard
//! counts nothing for it. Flows stored before these types existed would read as such errors; none exist in
//! production, and flows live for 30 minutes, so no data migration is needed.
//!
//! Other modules (the guard, links) learn what a flow waits for through [`awaits`], never by matching a
//! journey's state names.
use serde::Serialize;
use serde::de::DeserializeOwned;
use tessera_model::flow::{Flow, FlowKind};

use super::{recovery, registration, verification};

/// Why a flow's stored state is not a state of its journey.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StateError {
    #[error("a {} flow has no {} state", found.as_str(), expected.as_str())]
    WrongKind { expected: FlowKind, found: FlowKind },
    #[error("the stored state does not parse: {0}")]
    Unreadable(String),
    #[error("the flow is named {named:?} but its stored state is {typed:?}")]
    Mismatch { named: String, typed: &'static str },
}

/// A journey's typed state.
pub(crate) trait JourneyState: Serialize + DeserializeOwned {
    /// The kind of flow this is the state of.
    const KIND: FlowKind;

    /// The variant's stable name (the serde tag), as stored in `Flow::state`.
    fn name(&self) -> &'static str;

    /// Reads the flow's state.
    fn of(flow: &Flow) -> Result<Self, StateError> {
        if flow.kind != Self::KIND {
            return Err(StateError::WrongKind {
                expected: Self::KIND,
                found: flow.kind,
            });
        }
        let state =
            Self::deserialize(&flow.internal).map_err(|e| StateError::Unreadable(e.to_string()))?;
        if state.name() != flow.state {
            return Err(StateError::Mismatch {
                named: flow.state.clone(),
                typed: state.name(),
            });
        }
        Ok(state)
    }

    /// [`Self::of`], logging a refusal: for steps, which then stay.
    fn read(flow: &Flow) -> Option<Self> {
        Self::of(flow)
            .inspect_err(|e| {
                tracing::warn!(flow_id = %flow.id, kind = flow.kind.as_str(), error = %e, "unreadable flow state");
            })
            .ok()
    }

    /// Stores the state in the flow, with its name.
    fn set(self, flow: &mut Flow) {
        flow.state = self.name().to_owned();
        // Plain enums of strings and ids always serialise; were one not to, the flow would hold no state
        // and its next step would stay (see `of`), never act on a stale one.
        flow.internal = serde_json::to_value(&self).unwrap_or_else(|e| {
            tracing::error!(flow_id = %flow.id, error = %e, "flow state did not serialise");
            serde_json::Value::Null
        });
    }
}

/// The error when a proof arrives for a flow that no longer waits for it (another tab moved it on).
pub(crate) fn changed() -> crate::CoreError {
    crate::CoreError::Conflict {
        code: "flow_changed",
        detail: "this step was already submitted".into(),
    }
}

/// What the step a flow is at waits for, as the guard counts it and a link may satisfy it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Awaits {
    /// An address to send a code to.
    Address,
    /// The code mailed to `email`; `resend`: the step also takes a request for a new one.
    Code { email: String, resend: bool },
    /// A new password, which costs an argon2id hash.
    NewPassword,
    /// Nothing of the above (including an unreadable state, which the step refuses).
    Other,
}

/// What `flow` waits for, asked of its journey.
pub(crate) fn awaits(flow: &Flow) -> Awaits {
    match flow.kind {
        FlowKind::Registration => registration::awaits(flow),
        FlowKind::Recovery => recovery::awaits(flow),
        FlowKind::Verification => verification::awaits(flow),
        FlowKind::Login | FlowKind::Settings => Awaits::Other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::flows::login::{AfterProfile, LoginState};
    use crate::flows::registration::{Claim, Consent, RegistrationState};
    use crate::flows::settings::SettingsState;
    use crate::flows::{recovery::RecoveryState, verification::VerificationState};
    use serde_json::json;
    use tessera_model::flow::{FlowChannel, FlowId, Ui};
    use tessera_model::{IdentityId, TenantId};
    use time::OffsetDateTime;

    fn flow(kind: FlowKind) -> Flow {
        let now = OffsetDateTime::now_utc();
        Flow {
            id: FlowId::random(),
            tenant_id: TenantId::new(),
            kind,
            channel: FlowChannel::Browser,
            state: String::new(),
            issued_at: now,
            expires_at: now,
            csrf_token: String::new(),
            return_to: None,
            client_id: None,
            journey: "default".into(),
            locale: None,
            identity_id: None,
            ui: Ui::default(),
            internal: json!({}),
            version: 1,
            requested_aal: 1,
        }
    }

    /// Setting then reading gives the same state, the row's name is the serde tag, and the stored JSON
    /// survives the text column (as the store writes and reads it).
    fn round_trips<S: JourneyState + Clone + PartialEq + std::fmt::Debug>(states: Vec<S>) {
        for s in states {
            let mut f = flow(S::KIND);
            s.clone().set(&mut f);
            assert_eq!(f.state, s.name());
            assert_eq!(f.internal["state"], json!(s.name()));
            f.internal = serde_json::from_str(&f.internal.to_string()).unwrap();
            assert_eq!(S::of(&f).unwrap(), s);
        }
    }

    #[test]
    fn every_journey_state_round_trips() {
        let id = IdentityId::new();
        let consent = Some(Consent {
            terms_version: "2026-01".into(),
            privacy_notice_version: None,
        });
        round_trips(vec![
            RegistrationState::EnterEmail,
            RegistrationState::SentEmail {
                email: "a@example.com".into(),
                consent: consent.clone(),
            },
            RegistrationState::Details {
                email: "a@example.com".into(),
                claim: Some(Claim {
                    identity: id,
                    reset_attributes: true,
                }),
                consent,
            },
            RegistrationState::Details {
                email: "a@example.com".into(),
                claim: None,
                consent: None,
            },
        ]);
        round_trips(vec![
            RecoveryState::EnterEmail,
            RecoveryState::SentEmail {
                email: "a@example.com".into(),
            },
            RecoveryState::SetPassword {
                email: "a@example.com".into(),
                identity: id,
            },
        ]);
        round_trips(vec![
            VerificationState::EnterEmail,
            VerificationState::SentEmail {
                email: "a@example.com".into(),
            },
        ]);
        round_trips(vec![
            LoginState::ChooseMethod,
            LoginState::Pending {
                method: "email_code".into(),
                identity: None,
                proven: vec![],
                data: json!({"email": "a@example.com"}),
            },
            LoginState::SecondFactor {
                stamp: 3,
                identity: id,
                proven: vec![crate::methods::Proof {
                    method: "password".into(),
                    at: OffsetDateTime::UNIX_EPOCH,
                }],
            },
            LoginState::Profile {
                stamp: 3,
                identity: id,
                missing: vec![("nickname".into(), "greeting".into())],
                then: AfterProfile::SignIn {
                    proven: vec![crate::methods::Proof {
                        method: "password".into(),
                        at: OffsetDateTime::UNIX_EPOCH,
                    }],
                },
            },
            LoginState::Profile {
                stamp: 3,
                identity: id,
                missing: vec![("nickname".into(), "greeting".into())],
                then: AfterProfile::KeepSession {
                    session: uuid::Uuid::nil(),
                },
            },
        ]);
        round_trips(vec![
            SettingsState::Edit {
                pending_email: None,
            },
            SettingsState::Edit {
                pending_email: Some("new@example.com".into()),
            },
        ]);
    }

    #[test]
    fn an_unknown_or_corrupt_state_is_refused() {
        let cases = [
            // A name no variant has.
            ("set_password", json!({"state": "set_password"})),
            // The proof the old untyped state carried as a flag is no variant.
            (
                "details",
                json!({"email": "a@example.com", "verified": true}),
            ),
            // Reaching the details step needs the proven address.
            ("details", json!({"state": "details"})),
            // A field of the wrong type.
            (
                "details",
                json!({"state": "details", "email": "a@example.com", "claim": {"identity": "not an id", "reset_attributes": false}}),
            ),
            ("sent_email", json!(null)),
            ("sent_email", json!("sent_email")),
        ];
        for (name, internal) in cases {
            let mut f = flow(FlowKind::Registration);
            f.state = name.into();
            f.internal = internal.clone();
            assert!(
                matches!(RegistrationState::of(&f), Err(StateError::Unreadable(_))),
                "{internal}"
            );
            assert_eq!(awaits(&f), Awaits::Other, "{internal}");
        }
    }

    /// Whether a profile step keeps the browser's session is the state's typed `then`, never a flag: a
    /// stored profile state without it (the shape before it existed), with an unknown kind or with a
    /// kept session that names none, is no state at all.
    #[test]
    fn a_profile_state_says_what_finishing_it_does_or_is_refused() {
        let id = IdentityId::new();
        let cases = [
            json!({"state": "profile", "identity": id, "proven": [], "missing": [], "stamp": 1}),
            json!({"state": "profile", "identity": id, "missing": [], "stamp": 1,
                   "then": {"kind": "keep_session"}}),
            json!({"state": "profile", "identity": id, "missing": [], "stamp": 1,
                   "then": {"kind": "keep_session", "session": "not a session"}}),
            json!({"state": "profile", "identity": id, "missing": [], "stamp": 1,
                   "then": {"kind": "attach", "session": uuid::Uuid::nil()}}),
            json!({"state": "profile", "identity": id, "missing": [], "stamp": 1, "keep_session": true,
                   "then": {"kind": "sign_in", "proven": []}}),
        ];
        for internal in cases {
            let mut f = flow(FlowKind::Login);
            f.state = "profile".into();
            f.internal = internal.clone();
            assert!(
                matches!(LoginState::of(&f), Err(StateError::Unreadable(_))),
                "{internal}"
            );
        }
    }

    #[test]
    fn a_state_that_disagrees_with_the_name_or_the_kind_is_refused() {
        let mut f = flow(FlowKind::Recovery);
        RecoveryState::SentEmail {
            email: "a@example.com".into(),
        }
        .set(&mut f);
        // The row says the password step, the stored state says the code was not yet entered.
        f.state = "set_password".into();
        assert_eq!(
            RecoveryState::of(&f),
            Err(StateError::Mismatch {
                named: "set_password".into(),
                typed: "sent_email"
            })
        );
        assert_eq!(awaits(&f), Awaits::Other);
        // A verification flow's state read as a recovery's.
        let mut v = flow(FlowKind::Verification);
        VerificationState::SentEmail {
            email: "a@example.com".into(),
        }
        .set(&mut v);
        assert!(matches!(
            RecoveryState::of(&v),
            Err(StateError::WrongKind {
                expected: FlowKind::Recovery,
                found: FlowKind::Verification
            })
        ));
    }

    #[test]
    fn the_guard_and_links_learn_what_a_step_waits_for() {
        let mut f = flow(FlowKind::Registration);
        RegistrationState::EnterEmail.set(&mut f);
        assert_eq!(awaits(&f), Awaits::Address);
        RegistrationState::SentEmail {
            email: "a@example.com".into(),
            consent: None,
        }
        .set(&mut f);
        assert_eq!(
            awaits(&f),
            Awaits::Code {
                email: "a@example.com".into(),
                resend: true
            }
        );
        let mut r = flow(FlowKind::Recovery);
        RecoveryState::SentEmail {
            email: "b@example.com".into(),
        }
        .set(&mut r);
        assert_eq!(
            awaits(&r),
            Awaits::Code {
                email: "b@example.com".into(),
                resend: false
            }
        );
        RecoveryState::SetPassword {
            email: "b@example.com".into(),
            identity: IdentityId::new(),
        }
        .set(&mut r);
        assert_eq!(awaits(&r), Awaits::NewPassword);
        // Settings and sign-in wait for none of these.
        let mut s = flow(FlowKind::Settings);
        SettingsState::Edit {
            pending_email: Some("c@example.com".into()),
        }
        .set(&mut s);
        assert_eq!(awaits(&s), Awaits::Other);
        assert_eq!(
            crate::flows::settings::pending_email(&s).as_deref(),
            Some("c@example.com")
        );
    }
}
