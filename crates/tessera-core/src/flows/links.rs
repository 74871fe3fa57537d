//! Following a link from an email. A link proves control of the address like the code does, but it may
//! be opened anywhere: it only advances a browser flow in the browser that started it (otherwise a person
//! who started a sign-up with someone else's address could finish it once the owner clicks), and it is
//! consumed only once that check passed. Two links need no flow: confirming an email change (only in the
//! browser signed in with the session that asked, while it is alive) and the "not me" link of the notice
//! to the old address (REC-04).
//!
//! The "not me" link does nothing when opened: mail scanners and link prefetchers open links, so a GET
//! (or HEAD) only shows what confirming would do, with a form that posts back. The form is bound to the
//! browser that opened the page like every hosted form (the flow-binding cookie, and a CSRF token
//! derived from it and the link), and only that post uses the link up.
use tessera_model::flow::{FlowChannel, UiMessage};

use super::state::{self, Awaits};
use super::{
    FlowContext, FlowOutcome, Flows, Step, codes, recovery, registration, settings, verification,
};
use crate::{CoreError, Result, Tessera};

/// What following a link led to.
#[derive(Debug)]
pub enum LinkOutcome {
    /// The flow moved on; show it.
    Flow(Box<FlowOutcome>),
    /// A change was confirmed (email change): show this message.
    Confirmed(UiMessage),
    /// A "not me" link, opened: ask before freezing the account. The page's form posts `token` and
    /// `csrf_token` back from the same browser.
    ConfirmNotMe {
        csrf_token: String,
        /// Set this as the flow-binding cookie (the browser arrived without one).
        new_binding: Option<String>,
    },
    /// A "not me" link, confirmed: the account is frozen until support lifts it.
    Frozen,
    /// The link belongs to a flow started in another browser: enter the code there instead.
    OtherBrowser,
    /// Unknown, used or expired.
    Invalid,
}

impl Flows<'_> {
    /// Follows an emailed link.
    pub async fn follow_link(&self, ctx: &FlowContext, token: &str) -> Result<LinkOutcome> {
        if token.is_empty() || token.len() > 100 {
            return Ok(LinkOutcome::Invalid);
        }
        let tenant = self.t.tenant_by_slug(&ctx.tenant).await?;
        let now = self.t.now();
        let mut conn = self.t.db().conn().await?;
        let Some(code) =
            tessera_store::codes::live_by_link(&mut conn, &self.t.link_hash(token), now).await?
        else {
            return Ok(LinkOutcome::Invalid);
        };
        if code.tenant_id != tenant.id || codes::is_decoy(&code) {
            return Ok(LinkOutcome::Invalid);
        }
        if code.purpose == codes::EMAIL_UNDO {
            // Opening it changes nothing; see the module documentation.
            let (binding, new_binding) = match ctx.browser_binding.as_deref() {
                Some(b) if !b.is_empty() && b.len() <= 100 => (b.to_owned(), None),
                _ => {
                    let b = tessera_crypto::random_token()?;
                    (b.clone(), Some(b))
                }
            };
            return Ok(LinkOutcome::ConfirmNotMe {
                csrf_token: self.t.not_me_csrf(&binding, token),
                new_binding,
            });
        }
        if code.purpose == "email_change" {
            drop(conn);
            let Some(identity) = code.identity_id else {
                return Ok(LinkOutcome::Invalid);
            };
            // The change dies with the session that asked for it (REC-02).
            if !self.t.requester_alive(&code).await? {
                return Ok(LinkOutcome::Invalid);
            }
            // Only the browser signed in with the session that asked confirms by link: a mail
            // scanner or link prefetcher at the new address has no such session, and its visit must not
            // prove the address (REG-01). Anywhere else, the code from the same mail is typed instead.
            let asked_here = match (&ctx.session_token, code.session_id) {
                (Some(token), Some(asked)) => self
                    .t
                    .sessions()
                    .from_token(&ctx.tenant, token)
                    .await?
                    .is_some_and(|s| s.session.id == asked),
                _ => false,
            };
            if !asked_here {
                return Ok(LinkOutcome::OtherBrowser);
            }
            let mut tx = self.t.db().begin().await?;
            if !tessera_store::codes::consume(&mut tx, code.id, now).await? {
                return Ok(LinkOutcome::Invalid);
            }
            settings::apply_email_change(
                self.t,
                &mut tx,
                &tenant,
                identity,
                &code.target,
                ctx.locale.as_deref(),
            )
            .await?;
            tx.commit().await?;
            return Ok(LinkOutcome::Confirmed(UiMessage::success(
                "success-verified",
                "Your email address is confirmed.",
            )));
        }
        let Some(flow_id) = code.flow_id else {
            return Ok(LinkOutcome::Invalid);
        };
        let Some(stored) = tessera_store::flows::get(&mut conn, tenant.id, flow_id).await? else {
            return Ok(LinkOutcome::Invalid);
        };
        drop(conn);
        let bound = match (
            &stored.browser_binding,
            &ctx.browser_binding,
            stored.flow.channel,
        ) {
            (Some(h), Some(b), FlowChannel::Browser) => {
                tessera_crypto::constant_time_eq(h, &self.t.binding_hash(b))
            }
            _ => false,
        };
        if !bound {
            return Ok(LinkOutcome::OtherBrowser);
        }
        let mut flow = stored.flow;
        if flow.is_expired(now) || !matches!(state::awaits(&flow), Awaits::Code { .. }) {
            return Ok(LinkOutcome::Invalid);
        }
        let expected = flow.version;
        let before = flow.state.clone();
        let mut tx = self.t.db().begin().await?;
        if !tessera_store::codes::consume(&mut tx, code.id, now).await? {
            return Ok(LinkOutcome::Invalid);
        }
        flow.ui.messages.clear();
        let step = match flow.kind {
            tessera_model::flow::FlowKind::Registration => {
                registration::proven_by_link(self.t, &mut tx, &tenant, &mut flow, &code.target)
                    .await?;
                Step::Advance
            }
            tessera_model::flow::FlowKind::Recovery => {
                let (target, identity) = (&code.target, code.identity_id);
                recovery::proven_by_link(self.t, &mut tx, &tenant, &mut flow, target, identity)
                    .await?;
                Step::Advance
            }
            tessera_model::flow::FlowKind::Verification => {
                let (target, identity) = (&code.target, code.identity_id);
                verification::proven_by_link(self.t, &mut tx, &tenant, &mut flow, target, identity)
                    .await?;
                Step::Finish
            }
            _ => {
                return Err(CoreError::bad_request(
                    "bad_link",
                    "this link does not belong to a flow that takes one",
                ));
            }
        };
        let outcome = self
            .t
            .conclude(ctx, &tenant, flow, expected, &before, step, Some(tx))
            .await?;
        Ok(LinkOutcome::Flow(Box::new(outcome)))
    }
}

impl Tessera {
    /// The CSRF token of the "not me" form: bound to the browser that opened the page and to the link.
    fn not_me_csrf(&self, binding: &str, token: &str) -> String {
        self.keys()
            .secret_hasher
            .hash(&format!("not-me-csrf\u{0}{binding}\u{0}{token}"))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl Flows<'_> {
    /// Confirms a "not me" link from the form its page showed (REC-04): freezes the account (see
    /// `settings::freeze_by_notice`) and uses the link up, in one transaction. A form that is not the
    /// page's own (no binding cookie, wrong token) is refused like any hosted form's, changing nothing.
    pub async fn confirm_not_me(
        &self,
        ctx: &FlowContext,
        token: &str,
        csrf_token: &str,
    ) -> Result<LinkOutcome> {
        if token.is_empty() || token.len() > 100 {
            return Ok(LinkOutcome::Invalid);
        }
        let bound = ctx
            .browser_binding
            .as_deref()
            .filter(|b| !b.is_empty() && b.len() <= 100)
            .is_some_and(|b| {
                tessera_crypto::constant_time_eq(
                    self.t.not_me_csrf(b, token).as_bytes(),
                    csrf_token.as_bytes(),
                )
            });
        if ctx.channel != FlowChannel::Browser || !bound {
            return Err(CoreError::BadRequest {
                code: "csrf",
                detail: "the form's security token is missing or wrong".into(),
            });
        }
        let tenant = self.t.tenant_by_slug(&ctx.tenant).await?;
        let now = self.t.now();
        let mut tx = self.t.db().begin().await?;
        let Some(code) =
            tessera_store::codes::live_by_link(&mut tx, &self.t.link_hash(token), now).await?
        else {
            return Ok(LinkOutcome::Invalid);
        };
        let Some(identity) = code
            .identity_id
            .filter(|_| code.tenant_id == tenant.id && code.purpose == codes::EMAIL_UNDO)
        else {
            return Ok(LinkOutcome::Invalid);
        };
        if !tessera_store::codes::consume(&mut tx, code.id, now).await?
            || !settings::freeze_by_notice(self.t, &mut tx, &tenant, identity, &code.target).await?
        {
            return Ok(LinkOutcome::Invalid);
        }
        tx.commit().await?;
        Ok(LinkOutcome::Frozen)
    }
}
