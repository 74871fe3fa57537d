//! Following a link from an email. A link proves control of the address like the code does, but it may
//! be opened anywhere: it only advances a browser flow in the browser that started it (otherwise a person
//! who started a sign-up with someone else's address could finish it once the owner clicks), and it is
//! consumed only once that check passed. Two links need no flow: confirming an email change (only while
//! the session that asked is alive) and undoing one from the notice to the old address (REC-04).
use serde_json::json;
use tessera_model::flow::{FlowChannel, UiMessage};

use super::{
    FlowContext, FlowOutcome, Step, codes, recovery, registration, settings, verification,
};
use crate::{CoreError, Result, Tessera};

/// What following a link led to.
#[derive(Debug)]
pub enum LinkOutcome {
    /// The flow moved on; show it.
    Flow(Box<FlowOutcome>),
    /// A change was confirmed (email change): show this message.
    Confirmed(UiMessage),
    /// The link belongs to a flow started in another browser: enter the code there instead.
    OtherBrowser,
    /// Unknown, used or expired.
    Invalid,
}

impl Tessera {
    /// Follows an emailed link.
    pub async fn follow_link(&self, ctx: &FlowContext, token: &str) -> Result<LinkOutcome> {
        if token.is_empty() || token.len() > 100 {
            return Ok(LinkOutcome::Invalid);
        }
        let tenant = self.tenant_by_slug(&ctx.tenant).await?;
        let now = self.now();
        let mut conn = self.db.conn().await?;
        let Some(code) =
            tessera_store::codes::live_by_link(&mut conn, &self.link_hash(token), now).await?
        else {
            return Ok(LinkOutcome::Invalid);
        };
        if code.tenant_id != tenant.id || codes::is_decoy(&code) {
            return Ok(LinkOutcome::Invalid);
        }
        if code.purpose == codes::EMAIL_UNDO {
            drop(conn);
            let Some(identity) = code.identity_id else {
                return Ok(LinkOutcome::Invalid);
            };
            let mut tx = self.db.begin().await?;
            if !tessera_store::codes::consume(&mut tx, code.id, now).await?
                || !settings::undo_email_change(self, &mut tx, &tenant, identity, &code.target)
                    .await?
            {
                return Ok(LinkOutcome::Invalid);
            }
            tx.commit().await?;
            return Ok(LinkOutcome::Confirmed(UiMessage::success(
                "success-email-change-undone",
                "Your email address is back. Every device was signed out; set a new password to sign in.",
            )));
        }
        if code.purpose == "email_change" {
            drop(conn);
            let Some(identity) = code.identity_id else {
                return Ok(LinkOutcome::Invalid);
            };
            // The change dies with the session that asked for it (REC-02).
            if !self.requester_alive(&code).await? {
                return Ok(LinkOutcome::Invalid);
            }
            let mut tx = self.db.begin().await?;
            if !tessera_store::codes::consume(&mut tx, code.id, now).await? {
                return Ok(LinkOutcome::Invalid);
            }
            settings::apply_email_change(
                self,
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
                tessera_crypto::constant_time_eq(h, &self.binding_hash(b))
            }
            _ => false,
        };
        if !bound {
            return Ok(LinkOutcome::OtherBrowser);
        }
        let mut flow = stored.flow;
        if flow.is_expired(now) || flow.state != "sent_email" {
            return Ok(LinkOutcome::Invalid);
        }
        let expected = flow.version;
        let before = flow.state.clone();
        let mut tx = self.db.begin().await?;
        if !tessera_store::codes::consume(&mut tx, code.id, now).await? {
            return Ok(LinkOutcome::Invalid);
        }
        flow.ui.messages.clear();
        let step = match flow.kind {
            tessera_model::flow::FlowKind::Registration => {
                registration::proven(self, &mut tx, &tenant, &mut flow, &code.target).await?;
                Step::Advance
            }
            tessera_model::flow::FlowKind::Recovery => {
                recovery::proven(&mut flow, code.identity_id);
                Step::Advance
            }
            tessera_model::flow::FlowKind::Verification => {
                if let Some(id) = code.identity_id {
                    verification::mark_verified(self, &mut tx, &tenant, id, &code.target).await?;
                }
                verification::done(&mut flow);
                Step::Finish
            }
            _ => {
                return Err(CoreError::bad_request(
                    "bad_link",
                    "this link does not belong to a flow that takes one",
                ));
            }
        };
        super::put(&mut flow, "via", json!("link"));
        let outcome = self
            .conclude(ctx, &tenant, flow, expected, &before, step, Some(tx))
            .await?;
        Ok(LinkOutcome::Flow(Box::new(outcome)))
    }
}
