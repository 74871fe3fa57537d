//! The flow engine. Every customer journey is a persisted state machine (`tessera_model::flow::Flow`);
//! the engine loads it, checks expiry, CSRF token and browser binding, hands the submission to the
//! journey's step function, persists the new state with a version check (two concurrent submissions cannot
//! both advance a flow), records the step in the event log, and tells the edge what to do next.
//!
//! Step functions do their expensive work (password hashing) before opening a write transaction, so the
//! single SQLite writer is never held during hashing.
use std::collections::BTreeMap;

use serde_json::{Value, json};
use tessera_model::IdentityId;
use tessera_model::event::NewEvent;
use tessera_model::flow::{Flow, FlowChannel, FlowId, FlowKind, Ui, UiMessage, UiNode};
use tessera_model::tenant::Tenant;
use tessera_store::Tx;
use time::Duration;

use crate::sessions::ClientInfo;
use crate::{Caller, CoreError, Result, Tessera};

pub mod codes;
mod copy;
pub mod links;
pub mod login;
pub mod nodes;
pub mod recovery;
pub mod registration;
pub mod settings;
pub(crate) mod state;
pub mod verification;

/// Event kinds, from the one catalogue (`docs/events.md`).
pub use tessera_model::event::types;

/// How long a flow lives, and a one-time code (MFA-04: at most 10 minutes).
pub const FLOW_TTL: Duration = Duration::minutes(30);
pub const CODE_TTL: Duration = Duration::minutes(10);
/// How recent a sign-in must be for sensitive settings (SES-08's default).
pub const RECENT_LOGIN: Duration = Duration::minutes(5);

/// What the edge knows about the request that drives a flow.
#[derive(Debug, Clone)]
pub struct FlowContext {
    pub tenant: String,
    pub channel: FlowChannel,
    /// Browser flows: the value of the flow-binding cookie, if the browser sent one.
    pub browser_binding: Option<String>,
    /// API flows: the flow secret the app presented. The id alone drives nothing (it is in events and
    /// request logs); see [`Started::secret`].
    pub flow_secret: Option<String>,
    /// The customer's session token, if signed in.
    pub session_token: Option<String>,
    /// The known-device token the browser or app presented (RL-02; see [`crate::known_devices`]).
    pub device: Option<String>,
    pub client: ClientInfo,
    /// The negotiated UI locale.
    pub locale: Option<String>,
}

/// Options when starting a flow.
#[derive(Debug, Clone, Default)]
pub struct FlowStart {
    pub return_to: Option<String>,
    pub client_id: Option<String>,
    /// Pre-fills the identifier (e.g. from a "sign in with this email" link).
    pub identifier: Option<String>,
    /// A sign-in must reach at least this assurance level (an app's `acr_values`), on top of the policy's.
    pub requested_aal: Option<i64>,
}

/// A submission: field name to value. The edge rejects duplicated fields before building this.
pub type FlowInput = BTreeMap<String, String>;

/// What the edge should do after a flow call.
#[derive(Debug)]
pub enum FlowOutcome {
    /// Show this flow (its next step, or the same step with errors).
    Show(Flow),
    /// The flow had expired or was unusable: here is a fresh one (with its own secret or binding),
    /// carrying a message.
    Restarted(Started),
    /// A session was created: set its cookie (or hand the token to the app) and go on.
    SignedIn {
        flow: Flow,
        session_token: String,
        redirect: String,
        /// The device token to keep (cookie or app storage): this device is now known to the account.
        device_token: String,
    },
    /// The journey is over without a new session (recovery, verification): show its final UI.
    Done { flow: Flow },
    /// The journey is over within the session the browser already holds, which is kept as it is (a
    /// profile step an app's request needed of a signed-in customer): go on to
    /// `redirect`, setting no cookie.
    Continue { flow: Flow, redirect: String },
}

/// A started flow and what its driver must keep to drive it.
#[derive(Debug)]
pub struct Started {
    pub flow: Flow,
    /// Set this as the flow-binding cookie (browser flows that arrived without one).
    pub new_binding: Option<String>,
    /// API flows: the flow secret, handed to the app once and sent with every read and submission. Only
    /// its keyed hash is stored.
    pub secret: Option<tessera_crypto::BearerSecret>,
}

/// What flow secrets start with, so that secret scanners can recognise a leaked one.
pub const FLOW_SECRET_PREFIX: &str = "tfs_";

/// What a step function decided.
pub(crate) enum Step {
    /// Same state; errors were attached to the UI. `reason` is recorded in `flow.failed`.
    Stay { reason: &'static str },
    /// Held back by the guard before the step's own code ran (a delay or a challenge): recorded in
    /// `flow.failed` like a stay, but the flow is not written, so its version does not move and a
    /// held submission never wins the race against a parallel one that was checked.
    Held { reason: &'static str },
    /// Same state, with a change saved (settings): recorded as `flow.saved`, never as a failure.
    Saved,
    /// The flow moved to a new state (already set on the flow).
    Advance,
    /// Authenticated by these methods (in the order used, with when): open a session.
    SignIn {
        identity: IdentityId,
        proven: Vec<crate::methods::Proof>,
    },
    /// The profile step of a customer whose live session answered an app's request is done: nothing was
    /// authenticated, so `session` stays (no new id: SES-01 is about authentication), and the flow goes
    /// back to its request.
    KeepSession {
        identity: IdentityId,
        session: uuid::Uuid,
    },
    /// Finished without a session.
    Finish,
}

impl Step {
    /// Whether the step went through, so a secret it checked was right: the guard then resets the
    /// account's failures.
    pub(crate) fn proved(&self) -> bool {
        !matches!(self, Step::Stay { .. } | Step::Held { .. })
    }
}

impl Tessera {
    fn binding_hash(&self, binding: &str) -> Vec<u8> {
        self.keys()
            .secret_hasher
            .hash(&format!("flow-binding\u{0}{binding}"))
    }

    fn flow_secret_hash(&self, secret: &str) -> Vec<u8> {
        self.keys()
            .secret_hasher
            .hash(&format!("flow-secret\u{0}{secret}"))
    }

    /// Whether the caller of an API flow presented the secret the flow was started with. Compared in
    /// constant time (CRY-02); a flow stored without a secret (from before they existed) opens for nobody.
    fn holds_flow_secret(
        &self,
        ctx: &FlowContext,
        stored: &tessera_store::flows::StoredFlow,
    ) -> bool {
        match (&stored.secret_hash, ctx.flow_secret.as_deref()) {
            (Some(h), Some(s)) if !s.is_empty() => {
                tessera_crypto::constant_time_eq(h, &self.flow_secret_hash(s))
            }
            _ => false,
        }
    }

    pub(crate) async fn tenant_by_slug(&self, slug: &str) -> Result<Tenant> {
        if let Some(t) = self.tenant_cache().get(slug) {
            return Ok(t);
        }
        let mut conn = self.db().conn().await?;
        let t = tessera_store::tenants::by_slug(&mut conn, slug)
            .await?
            .ok_or(CoreError::NotFound { what: "tenant" })?;
        self.tenant_cache().put(&t);
        Ok(t)
    }

    /// Checks a `return_to` against the configured base URL (WEB-05); see [`same_origin_target`].
    fn safe_return_to(&self, return_to: Option<&str>) -> Option<String> {
        same_origin_target(&self.settings().base_url, return_to?)
    }

    /// Where a finished sign-in goes when the flow named no `return_to`.
    fn default_redirect(&self, tenant: &str) -> String {
        format!("/t/{tenant}/settings")
    }
}

/// The customer journeys, borrowed from the facade: `t.flows().start(ctx, kind, start)`. Starting,
/// reading and submitting a flow, following an emailed link, and the sweep of abandoned flows; the
/// engine's crate-internal helpers (`conclude`, the bindings, the guard) stay on the facade.
#[derive(Clone, Copy, Debug)]
pub struct Flows<'a> {
    t: &'a Tessera,
}

impl Tessera {
    /// The flow engine.
    pub fn flows(&self) -> Flows<'_> {
        Flows { t: self }
    }
}

impl Flows<'_> {
    /// The public URL of a path under the tenant, built from the configured base URL only (REC-03).
    pub fn public_url(&self, tenant: &str, path: &str) -> String {
        let base = self.t.settings().base_url.as_str().trim_end_matches('/');
        format!("{base}/t/{tenant}{path}")
    }

    /// Starts a flow of any kind.
    pub async fn start(
        &self,
        ctx: &FlowContext,
        kind: FlowKind,
        start: FlowStart,
    ) -> Result<Started> {
        let tenant = self.t.tenant_by_slug(&ctx.tenant).await?;
        // Checked before the quota counts the start: refused input changes nothing.
        let client_id = checked_client_id(start.client_id)?;
        // Where writes run one at a time (SQLite), the quota is reserved in the transaction that
        // inserts the flow (one commit instead of two); elsewhere first, in a transaction of its own that
        // does not wait for the disk, so the buckets' row locks are never held through the flow's commit.
        let fold = self.t.db().single_writer();
        if !fold
            && let crate::guard::Verdict::Deny { seconds, .. } =
                self.t.guard_start(ctx, kind).await?.verdict
        {
            return Err(CoreError::RateLimited {
                retry_after: seconds,
            });
        }
        let now = self.t.now();
        // What binds the flow to its driver: the browser's binding cookie (a new one when it sent none), or
        // for an app a fresh secret of the flow's own. Only keyed hashes are stored.
        let (new_binding, secret, binding_hash) = match (ctx.channel, &ctx.browser_binding) {
            (FlowChannel::Browser, Some(b)) if !b.is_empty() && b.len() <= 100 => {
                (None, None, self.t.binding_hash(b))
            }
            (FlowChannel::Browser, _) => {
                let b = tessera_crypto::random_token()?;
                let h = self.t.binding_hash(&b);
                (Some(b), None, h)
            }
            (FlowChannel::Api, _) => {
                let s = tessera_crypto::BearerSecret::generate(FLOW_SECRET_PREFIX)?;
                let h = self.t.flow_secret_hash(s.expose());
                (None, Some(s), h)
            }
        };
        let binding = match ctx.channel {
            FlowChannel::Api => tessera_store::flows::Binding::Secret(&binding_hash),
            FlowChannel::Browser => tessera_store::flows::Binding::Browser(&binding_hash),
        };
        let mut flow = Flow {
            id: FlowId::random(),
            tenant_id: tenant.id,
            kind,
            channel: ctx.channel,
            state: String::new(),
            issued_at: now,
            expires_at: now + FLOW_TTL,
            csrf_token: tessera_crypto::random_token()?,
            return_to: self.t.safe_return_to(start.return_to.as_deref()),
            client_id,
            journey: "default".into(),
            locale: ctx.locale.clone(),
            identity_id: None,
            ui: Ui::default(),
            internal: json!({}),
            version: 1,
            requested_aal: 1,
        };
        let session = match &ctx.session_token {
            Some(t) => self.t.sessions().from_token(&ctx.tenant, t).await?,
            None => None,
        };
        match kind {
            FlowKind::Login => {
                login::init(self.t, &tenant, &mut flow, start.identifier.as_deref()).await?;
                flow.requested_aal = flow.requested_aal.max(start.requested_aal.unwrap_or(0));
            }
            FlowKind::Registration => registration::init(self.t, &tenant, &mut flow).await?,
            FlowKind::Verification => verification::init(&mut flow, start.identifier.as_deref()),
            FlowKind::Recovery => recovery::init(&mut flow, start.identifier.as_deref()),
            FlowKind::Settings => {
                let Some(s) = session else {
                    return Err(CoreError::Unauthenticated);
                };
                flow.identity_id = Some(s.session.identity_id);
                settings::init(self.t, &tenant, &mut flow, &s).await?;
            }
        }
        self.t.finish_ui(&ctx.tenant, &mut flow);
        // A flow nobody has used yet, its quota counts and its `flow.started` are not waited on to reach
        // the disk: a power loss may forget the last few starts (the browser then starts afresh), and
        // every page view of a sign-in page would otherwise wait for an fsync. What a step commits (a
        // session, a credential, its events) stays durable.
        let mut tx = self.t.db().begin_unflushed().await?;
        if fold
            && let crate::guard::Verdict::Deny { seconds, .. } =
                self.t.guard_start_in(&mut tx, ctx, kind).await?.verdict
        {
            // Nothing was counted or written, and nothing may be: a quota the statement counted before
            // a concurrent commit filled another one is not kept (see `throttles::reserve`).
            tx.rollback().await?;
            return Err(CoreError::RateLimited {
                retry_after: seconds,
            });
        }
        tessera_store::flows::insert(&mut tx, &flow, binding).await?;
        self.t
            .flow_event(
                &mut tx,
                &flow,
                types::FLOW_STARTED,
                json!({"client_id": flow.client_id}),
            )
            .await?;
        tx.commit().await?;
        Ok(Started {
            flow,
            new_binding,
            secret,
        })
    }
}

impl Tessera {
    /// Adds the CSRF token node and the form action every flow UI needs, and the page's heading and
    /// intro for the flow's state (see [`copy`]).
    fn finish_ui(&self, tenant: &str, flow: &mut Flow) {
        copy::apply(flow);
        flow.ui.action = format!("/t/{tenant}/flows/{}/{}", flow.kind.as_str(), flow.id);
        flow.ui.method = "POST".into();
        flow.ui.nodes.retain(|n| n.name != "csrf_token");
        if flow.channel == FlowChannel::Browser {
            flow.ui
                .nodes
                .insert(0, UiNode::hidden("csrf_token", &flow.csrf_token));
        }
    }

    async fn flow_event(
        &self,
        tx: &mut Tx,
        flow: &Flow,
        kind: &'static types::EventKind,
        extra: Value,
    ) -> Result<()> {
        let ev = flow_new_event(flow, kind, extra);
        self.record(tx, &Caller::system(), ev, None).await
    }
}

/// The event of a flow's step.
fn flow_new_event(flow: &Flow, kind: &'static types::EventKind, extra: Value) -> NewEvent {
    let mut data = json!({
        "flow_id": flow.id,
        "kind": flow.kind.as_str(),
        "channel": flow.channel,
        "state": flow.state,
        "journey": flow.journey,
        "identity_id": flow.identity_id,
    });
    if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
        d.extend(e);
    }
    NewEvent::new(flow.tenant_id, kind, format!("flow:{}", flow.id), data)
}

impl Tessera {
    /// A sign-in ends the session the browser or app held before it (SES-01): the new session has a new
    /// id, and the old id is refused from now on, whoever it belonged to.
    async fn replace_previous_session(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        ctx: &FlowContext,
    ) -> Result<()> {
        let Some(old) = ctx
            .session_token
            .as_deref()
            .filter(|t| !t.is_empty() && t.len() <= 100)
        else {
            return Ok(());
        };
        let hash = self.keys().secret_hasher.hash(old);
        let Some(prev) = tessera_store::sessions::by_token_hash(tx, &hash).await? else {
            return Ok(());
        };
        if prev.tenant_id != tenant.id
            || !tessera_store::sessions::revoke(tx, prev.identity_id, prev.id, self.now()).await?
        {
            return Ok(());
        }
        let ev = NewEvent::new(
            tenant.id,
            types::SESSION_REVOKED,
            tessera_model::event::identity_subject(prev.identity_id),
            json!({"identity_id": prev.identity_id, "session_id": prev.id, "by": "sign_in", "reason": "replaced"}),
        );
        crate::oauth::backchannel::sessions_ended(self, tx, prev.identity_id).await?;
        self.record(tx, &Caller::system(), ev, None).await
    }
}

impl Flows<'_> {
    /// Loads a flow for its driver, restarting it when it expired.
    pub async fn get(&self, ctx: &FlowContext, kind: FlowKind, id: FlowId) -> Result<FlowOutcome> {
        match self.t.load_flow(ctx, kind, id, None).await? {
            Loaded::Usable(flow) => Ok(FlowOutcome::Show(flow)),
            Loaded::Restart(started) => Ok(FlowOutcome::Restarted(started)),
        }
    }
}

impl Tessera {
    async fn load_flow(
        &self,
        ctx: &FlowContext,
        kind: FlowKind,
        id: FlowId,
        csrf: Option<&str>,
    ) -> Result<Loaded> {
        let tenant = self.tenant_by_slug(&ctx.tenant).await?;
        let mut conn = self.db().conn().await?;
        let stored = tessera_store::flows::get(&mut conn, tenant.id, id).await?;
        drop(conn);
        // An API flow's id is in events and request logs, so it is no credential: without its secret the
        // flow does not exist for the caller. 404 rather than 403, the same as for an unknown id, so that
        // someone holding only the id learns nothing (not even that the flow is live), and nothing changes.
        if ctx.channel == FlowChannel::Api
            && !stored
                .as_ref()
                .is_some_and(|s| self.holds_flow_secret(ctx, s))
        {
            return Err(CoreError::NotFound { what: "flow" });
        }
        let Some(stored) = stored.filter(|s| s.flow.kind == kind && s.flow.channel == ctx.channel)
        else {
            return self
                .restart(
                    ctx,
                    kind,
                    None,
                    "error-flow-expired",
                    "That took too long, so we started over. Please try again.",
                )
                .await;
        };
        if ctx.channel == FlowChannel::Browser {
            let bound = match (&stored.browser_binding, &ctx.browser_binding) {
                (Some(h), Some(b)) => tessera_crypto::constant_time_eq(h, &self.binding_hash(b)),
                _ => false,
            };
            if !bound {
                return Err(CoreError::BadRequest {
                    code: "flow_binding",
                    detail: "this flow was started in another browser".into(),
                });
            }
            if let Some(token) = csrf
                && !tessera_crypto::constant_time_eq(
                    token.as_bytes(),
                    stored.flow.csrf_token.as_bytes(),
                )
            {
                return Err(CoreError::BadRequest {
                    code: "csrf",
                    detail: "the form's security token is missing or wrong".into(),
                });
            }
        }
        let flow = stored.flow;
        if flow.is_expired(self.now()) || flow.state == "done" {
            let expired = flow.state != "done";
            if expired {
                let mut tx = self.db().begin().await?;
                self.flow_event(&mut tx, &flow, types::FLOW_EXPIRED, json!({}))
                    .await?;
                tx.commit().await?;
            }
            let start = FlowStart {
                return_to: flow.return_to.clone(),
                client_id: flow.client_id.clone(),
                identifier: None,
                requested_aal: Some(flow.requested_aal),
            };
            return self
                .restart(
                    ctx,
                    kind,
                    Some(start),
                    "error-flow-expired",
                    "That took too long, so we started over. Please try again.",
                )
                .await;
        }
        Ok(Loaded::Usable(flow))
    }

    async fn restart(
        &self,
        ctx: &FlowContext,
        kind: FlowKind,
        start: Option<FlowStart>,
        id: &str,
        text: &str,
    ) -> Result<Loaded> {
        let mut started = self
            .flows()
            .start(ctx, kind, start.unwrap_or_default())
            .await?;
        started.flow.ui.messages.push(UiMessage::info(id, text));
        Ok(Loaded::Restart(started))
    }
}

impl Flows<'_> {
    /// Starts a sign-in already at its profile step, for a signed-in customer whose session answers an
    /// app's authorization request but lacks attributes the app requires (see
    /// [`login::park_at_profile`]).
    pub(crate) async fn start_at_profile(
        &self,
        ctx: &FlowContext,
        tenant: &Tenant,
        start: FlowStart,
        session: &tessera_store::sessions::StoredSession,
        identity: &tessera_model::identity::Identity,
        missing: Vec<(String, String)>,
    ) -> Result<Started> {
        let mut started = self.start(ctx, FlowKind::Login, start).await?;
        let mut flow = started.flow.clone();
        let expected = flow.version;
        let before = flow.state.clone();
        login::park_at_profile(self.t, tenant, &mut flow, session, identity, missing).await?;
        match self
            .t
            .conclude(ctx, tenant, flow, expected, &before, Step::Advance, None)
            .await?
        {
            FlowOutcome::Show(f) => started.flow = f,
            _ => {
                return Err(CoreError::Internal(
                    "a sign-in parked at its profile step ended".into(),
                ));
            }
        }
        Ok(started)
    }

    /// Submits a step. CSRF is checked for browser flows (`csrf_token` field).
    pub async fn submit(
        &self,
        ctx: &FlowContext,
        kind: FlowKind,
        id: FlowId,
        input: FlowInput,
    ) -> Result<FlowOutcome> {
        let csrf = match ctx.channel {
            FlowChannel::Browser => Some(input.get("csrf_token").map(String::as_str).unwrap_or("")),
            FlowChannel::Api => None,
        };
        let mut flow = match self.t.load_flow(ctx, kind, id, csrf).await? {
            Loaded::Usable(f) => f,
            Loaded::Restart(f) => return Ok(FlowOutcome::Restarted(f)),
        };
        let tenant = self.t.tenant_by_slug(&ctx.tenant).await?;
        let expected = flow.version;
        let before = flow.state.clone();
        for n in &mut flow.ui.nodes {
            n.messages.clear();
        }
        flow.ui.messages.clear();
        // A sensitive settings change from a stale session is refused before anything is counted.
        if kind == FlowKind::Settings {
            settings::require_recent(self.t, ctx, &flow, &input).await?;
        }
        // The guard runs before the step's own code; a step never throttles by itself.
        let guarded = self.t.guard_step(ctx, &flow, &input).await?;
        let (step, tx) = match &guarded.verdict {
            crate::guard::Verdict::Allow => {
                self.t
                    .run_step(
                        ctx,
                        &tenant,
                        kind,
                        &mut flow,
                        &input,
                        guarded.lookup.as_ref(),
                    )
                    .await?
            }
            crate::guard::Verdict::Deny { seconds, .. } => {
                return Err(CoreError::RateLimited {
                    retry_after: *seconds,
                });
            }
            crate::guard::Verdict::Delay { seconds, .. } => throttled(&mut flow, *seconds)?,
            crate::guard::Verdict::Challenge { .. } => (
                Step::Held {
                    reason: "challenge",
                },
                None,
            ),
        };
        let tx = match tx {
            Some(mut tx) => {
                self.t.guard_settle(&mut tx, &guarded, &step).await?;
                Some(tx)
            }
            None if step.proved() => {
                let mut tx = self.t.conclusion_tx(kind).await?;
                self.t.guard_settle(&mut tx, &guarded, &step).await?;
                Some(tx)
            }
            None => None,
        };
        self.t
            .conclude_guarded(
                ctx,
                &tenant,
                flow,
                expected,
                &before,
                step,
                tx,
                guarded.event(),
            )
            .await
    }
}

impl Tessera {
    /// Hands a submission the guard allowed to its journey's step function.
    async fn run_step(
        &self,
        ctx: &FlowContext,
        tenant: &Tenant,
        kind: FlowKind,
        flow: &mut Flow,
        input: &FlowInput,
        lookup: Option<&crate::methods::Lookup>,
    ) -> Result<(Step, Option<Tx>)> {
        Ok(match kind {
            FlowKind::Login => login::submit(self, ctx, tenant, flow, input, lookup).await?,
            FlowKind::Registration => registration::submit(self, ctx, tenant, flow, input).await?,
            FlowKind::Verification => verification::submit(self, ctx, tenant, flow, input).await?,
            FlowKind::Recovery => recovery::submit(self, ctx, tenant, flow, input).await?,
            FlowKind::Settings => settings::submit(self, ctx, tenant, flow, input).await?,
        })
    }

    /// The transaction a step's conclusion commits in when the step brought none. A sign-in's
    /// conclusion (the session, its events, the guard's settlement, the flow) does not wait for the
    /// disk: the commit is atomic, so a power loss that forgets it forgets the session together with its
    /// record, and the customer signs in again (the next durable commit carries it to the disk anyway).
    /// Every other journey concludes with what the customer is told is done (an account, a verified
    /// address, a new password), and waits.
    async fn conclusion_tx(&self, kind: FlowKind) -> Result<Tx> {
        Ok(match kind {
            FlowKind::Login => self.db().begin_unflushed().await?,
            FlowKind::Registration
            | FlowKind::Verification
            | FlowKind::Recovery
            | FlowKind::Settings => self.db().begin().await?,
        })
    }

    /// Persists the flow after a step, records it, and turns the step into an outcome.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn conclude(
        &self,
        ctx: &FlowContext,
        tenant: &Tenant,
        flow: Flow,
        expected: i64,
        before: &str,
        step: Step,
        tx: Option<Tx>,
    ) -> Result<FlowOutcome> {
        self.conclude_guarded(ctx, tenant, flow, expected, before, step, tx, None)
            .await
    }

    /// [`Self::conclude`], recording the guard's verdict (`guard`) on the step's event.
    #[allow(clippy::too_many_arguments)]
    async fn conclude_guarded(
        &self,
        ctx: &FlowContext,
        tenant: &Tenant,
        mut flow: Flow,
        expected: i64,
        before: &str,
        step: Step,
        tx: Option<Tx>,
        guard: Option<Value>,
    ) -> Result<FlowOutcome> {
        let guard = guard
            .map(|g| json!({"guard": g}))
            .unwrap_or_else(|| json!({}));
        let with_guard = |mut extra: Value| {
            if let (Value::Object(e), Value::Object(g)) = (&mut extra, guard.clone()) {
                e.extend(g);
            }
            extra
        };
        let mut tx = match tx {
            Some(t) => t,
            None => self.conclusion_tx(flow.kind).await?,
        };
        let held = matches!(step, Step::Held { .. });
        if !held {
            flow.version = expected + 1;
        }
        let mut session_token = None;
        match &step {
            Step::Stay { reason } | Step::Held { reason } => {
                self.flow_event(
                    &mut tx,
                    &flow,
                    types::FLOW_FAILED,
                    with_guard(json!({"reason": reason})),
                )
                .await?;
            }
            Step::Saved => {
                self.flow_event(&mut tx, &flow, types::FLOW_SAVED, with_guard(json!({})))
                    .await?;
            }
            Step::Advance => {
                self.flow_event(
                    &mut tx,
                    &flow,
                    types::FLOW_ADVANCED,
                    with_guard(json!({"from": before, "to": flow.state})),
                )
                .await?;
            }
            Step::SignIn { identity, proven } => {
                self.replace_previous_session(&mut tx, tenant, ctx).await?;
                let policy = self.effective_policy_doc(tenant.id).await?;
                let (token, created) = self
                    .open_session(
                        &mut tx,
                        tenant.id,
                        *identity,
                        proven,
                        &policy.sessions,
                        &ctx.client,
                    )
                    .await?;
                let device = self.remember_device(
                    ctx.device.as_deref(),
                    &flow.tenant_id.to_string(),
                    &crate::guard::identity_account(*identity),
                )?;
                session_token = Some((token, device));
                flow.identity_id = Some(*identity);
                flow.state = "done".into();
                let succeeded = flow_new_event(
                    &flow,
                    types::FLOW_SUCCEEDED,
                    with_guard(
                        json!({"methods": proven.iter().map(|p| &p.method).collect::<Vec<_>>()}),
                    ),
                );
                self.record_all(&mut tx, &Caller::system(), vec![created, succeeded])
                    .await?;
            }
            Step::KeepSession { identity, session } => {
                flow.identity_id = Some(*identity);
                flow.state = "done".into();
                self.flow_event(
                    &mut tx,
                    &flow,
                    types::FLOW_SUCCEEDED,
                    with_guard(json!({"session_id": session, "session": "kept"})),
                )
                .await?;
            }
            Step::Finish => {
                flow.state = "done".into();
                self.flow_event(&mut tx, &flow, types::FLOW_SUCCEEDED, with_guard(json!({})))
                    .await?;
            }
        }
        self.finish_ui(&ctx.tenant, &mut flow);
        // The update waits behind the transaction with the step's other writes, and checks the
        // version when they all go, at the commit: a lost race commits nothing.
        let stale = |e: tessera_store::StoreError| match e {
            tessera_store::StoreError::Stale { table: "flows" } => CoreError::Conflict {
                code: "flow_changed",
                detail: "this step was already submitted".into(),
            },
            other => other.into(),
        };
        if !held {
            tessera_store::flows::update(&mut tx, &flow, expected)
                .await
                .map_err(stale)?;
        }
        tx.commit().await.map_err(stale)?;
        Ok(match (step, session_token) {
            (Step::SignIn { .. }, Some((token, device_token))) => {
                let redirect = flow
                    .return_to
                    .clone()
                    .unwrap_or_else(|| self.default_redirect(&ctx.tenant));
                FlowOutcome::SignedIn {
                    flow,
                    session_token: token,
                    redirect,
                    device_token,
                }
            }
            (Step::KeepSession { .. }, _) => {
                let redirect = flow
                    .return_to
                    .clone()
                    .unwrap_or_else(|| self.default_redirect(&ctx.tenant));
                FlowOutcome::Continue { flow, redirect }
            }
            (Step::Finish, _) => FlowOutcome::Done { flow },
            _ => FlowOutcome::Show(flow),
        })
    }
}

/// Resolves `value` against `base` the way a browser resolves a `Location` header and accepts it only
/// when the result has the base's origin and no userinfo. Every control character is refused outright
/// (browsers drop TAB, CR and LF inside URLs, so `/\t/evil.example` would become `//evil.example`), and
/// the answer is the resolved URL's own serialisation, never the raw input, so the browser follows exactly
/// what was checked.
pub(crate) fn same_origin_target(base: &url::Url, value: &str) -> Option<String> {
    let v = value.trim_matches(' ');
    if v.is_empty() || v.len() > 2000 || v.chars().any(char::is_control) || v.contains('\\') {
        return None;
    }
    let u = base.join(v).ok()?;
    let same = u.origin() == base.origin()
        && matches!(u.scheme(), "http" | "https")
        && u.username().is_empty()
        && u.password().is_none();
    same.then(|| u.to_string())
}

/// The `client_id` an app started a flow with: an empty one is none, and one that breaks
/// [`tessera_model::flow::check_client_id`] is refused with a field problem (it once reached the database
/// as it came, and a NUL in it was a 500 on PostgreSQL).
fn checked_client_id(client_id: Option<String>) -> Result<Option<String>> {
    match client_id.filter(|c| !c.is_empty()) {
        Some(c) if !tessera_model::flow::check_client_id(&c) => {
            let message = format!(
                "client_id must be at most {} characters, none of them a control character",
                tessera_model::flow::CLIENT_ID_MAX_CHARS
            );
            Err(CoreError::invalid(
                "invalid_field",
                message.clone(),
                vec![crate::FieldProblem {
                    field: "client_id".into(),
                    code: "invalid".into(),
                    message,
                }],
            ))
        }
        c => Ok(c),
    }
}

enum Loaded {
    Usable(Flow),
    Restart(Started),
}

/// Reads a field, trimmed; `None` when absent or blank.
/// A step that changes nothing: the flow stays where it is, and `reason` is recorded in `flow.failed`.
pub(crate) fn stay(reason: &'static str) -> Result<(Step, Option<Tx>)> {
    Ok((Step::Stay { reason }, None))
}

/// A step held back by the guard: the person is told how long to wait, and nothing changes (the flow is
/// not even written: see [`Step::Held`]).
pub(crate) fn throttled(flow: &mut Flow, seconds: i64) -> Result<(Step, Option<Tx>)> {
    flow.ui.messages.push(
        UiMessage::error(
            "error-throttled",
            "Too many attempts. Please wait and try again.",
        )
        .arg("seconds", seconds),
    );
    Ok((
        Step::Held {
            reason: "throttled",
        },
        None,
    ))
}

/// The message an email field gets when what was typed is not an address.
pub(crate) fn invalid_email() -> UiMessage {
    UiMessage::error(
        "error-invalid-email",
        "Enter an email address like name@example.com.",
    )
}

/// The message a field gets when it was left empty.
pub(crate) fn required() -> UiMessage {
    UiMessage::error("error-required", "Please fill in this field.")
}

pub(crate) fn field<'a>(input: &'a FlowInput, name: &str) -> Option<&'a str> {
    input.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// Reads a secret field exactly as sent (passwords are never trimmed: PW-02).
pub(crate) fn raw_field<'a>(input: &'a FlowInput, name: &str) -> Option<&'a str> {
    input
        .get(name)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

/// Whether a checkbox was ticked.
pub(crate) fn ticked(input: &FlowInput, name: &str) -> bool {
    matches!(
        input.get(name).map(String::as_str),
        Some("true" | "on" | "1" | "yes")
    )
}

impl Flows<'_> {
    /// Records `flow.abandoned` for flows that expired unfinished and removes them and other expired flows.
    /// Runs on any node; deleting the row decides which node records the event.
    pub async fn sweep(&self) -> Result<u64> {
        let cutoff = self.t.now();
        let mut conn = self.t.db().conn().await?;
        let stale = tessera_store::flows::expired_unfinished(&mut conn, cutoff, 500).await?;
        drop(conn);
        let mut n = 0;
        for flow in stale {
            let mut tx = self.t.db().begin().await?;
            if tessera_store::flows::delete(&mut tx, flow.id).await? {
                self.t
                    .flow_event(&mut tx, &flow, types::FLOW_ABANDONED, json!({}))
                    .await?;
                tx.commit().await?;
                n += 1;
            }
        }
        let mut tx = self.t.db().begin().await?;
        tessera_store::flows::delete_expired(&mut tx, cutoff - Duration::hours(1)).await?;
        tx.commit().await?;
        crate::oauth::codes::sweep(self.t).await?;
        crate::oauth::par::sweep(self.t).await?;
        crate::oauth::device::sweep(self.t).await?;
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::same_origin_target;
    use proptest::prelude::*;

    fn base() -> url::Url {
        url::Url::parse("https://id.example.com:8443/").unwrap()
    }

    #[test]
    fn web_05_return_to_corpus() {
        let refused = [
            "/\t/evil.example/x",
            "/\t\t/evil.example",
            "\t//evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/\u{0}/evil.example",
            "/\u{7f}/evil.example",
            "/\u{85}/evil.example",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\\/evil.example",
            "\\/evil.example",
            "https://evil.example/",
            "http://id.example.com:8443/",
            "https://id.example.com/",
            "https://id.example.com:8443@evil.example/",
            "https://user@id.example.com:8443/",
            "https://user:pw@id.example.com:8443/",
            "https://evil.example\\@id.example.com:8443/",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "https://id.example.com.evil.example:8443/",
            "https://xn--80ak6aa92e.com/",
            "https://аррӏе.com/",
            "https://id.example.com\u{3002}evil.example/",
            "https://ｅｖｉｌ.example/",
            "",
            "   ",
        ];
        for r in refused {
            assert_eq!(same_origin_target(&base(), r), None, "{r:?}");
        }
        let long = format!("/{}", "a".repeat(3000));
        assert_eq!(same_origin_target(&base(), &long), None);
        let accepted = [
            (
                "/t/default/settings",
                "https://id.example.com:8443/t/default/settings",
            ),
            (
                "/%2F%2Fevil.example/x",
                "https://id.example.com:8443/%2F%2Fevil.example/x",
            ),
            (
                "/%5Cevil.example",
                "https://id.example.com:8443/%5Cevil.example",
            ),
            (
                "/a?next=//evil.example",
                "https://id.example.com:8443/a?next=//evil.example",
            ),
            (
                "https://id.example.com:8443/app#x",
                "https://id.example.com:8443/app#x",
            ),
            (
                "HTTPS://ID.EXAMPLE.COM:8443/app",
                "https://id.example.com:8443/app",
            ),
            ("settings", "https://id.example.com:8443/settings"),
            (
                "https:evil.example",
                "https://id.example.com:8443/evil.example",
            ),
            ("/../../x", "https://id.example.com:8443/x"),
        ];
        for (r, want) in accepted {
            assert_eq!(
                same_origin_target(&base(), r).as_deref(),
                Some(want),
                "{r:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Whatever comes in, what goes out resolves, in a browser's URL parser, to the base origin
        /// and carries no control character or userinfo.
        #[test]
        fn web_05_accepted_return_to_resolves_to_the_base_origin(
            input in prop_oneof![
                any::<String>(),
                "[/\\\\\t\n\r :@.%a-zA-Z0-9?#]{0,40}",
                "(https?:|javascript:|//|/|\\\\|/\t/|/%2F)[a-z.@:/\\\\\t%]{0,30}",
            ]
        ) {
            if let Some(out) = same_origin_target(&base(), &input) {
                prop_assert!(!out.chars().any(char::is_control));
                let u = url::Url::parse(&out).unwrap();
                prop_assert_eq!(u.origin(), base().origin());
                prop_assert!(u.username().is_empty() && u.password().is_none());
                // Resolving the answer again, as the browser does with `Location`, changes nothing.
                let again = base().join(&out).unwrap();
                prop_assert_eq!(again.as_str(), out.as_str());
            }
        }
    }
}
