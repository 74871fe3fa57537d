//! The device authorization grant (RFC 8628). A device without a usable browser (a TV, a terminal)
//! authenticates as at the token endpoint (OA-12) and gets a `device_code` to poll with and a short
//! `user_code` to show; the customer types the user code on the hosted page `/t/{tenant}/device` from
//! another device, signs in there, and allows or denies. The token endpoint's `device_code` grant
//! (`grants/device_code.rs`) answers the polls.
//!
//! - The device code has 256 random bits; the user code 8 letters from an alphabet without vowels or
//!   look-alikes (20^8, about 2^34.6), shown as `XXXX-XXXX`. Both are stored only as keyed hashes, the
//!   user code normalised (case and dashes do not matter).
//! - The user code is short, so guessing it is throttled per client address and for the whole tenant
//!   through the guard's buckets (RL-03); a grant lives 10 minutes.
//! - A customer who is not signed in goes through the hosted sign-in, which comes back by the grant's
//!   stored id only; the decision needs the session and the page's CSRF token, bound to the browser.
//! - The confirmation opens only in the browser that typed the code (R8-2, RFC 8628 §5.4): the way back
//!   from the sign-in carries a MAC of the browser's binding cookie, the grant and the code, so a link
//!   to it sent to someone else opens nothing (one-click device phishing); the page shows the code to
//!   compare with the device's screen.
//! - An app's `required_attributes` are asked for before the confirmation, as at `/authorize` (R8-4).
//! - The confirmation names the signed-in account and what the app may do. Besides its CSRF token (a
//!   MAC of the browser and the grant) its form carries a MAC of the browser, the grant and the session
//!   the page was drawn for (R9-4). A decision posted from another session (the browser switched
//!   accounts) decides nothing: the page is drawn again for the account signed in now, which asks for
//!   that account's missing details first.
use serde::Serialize;
use serde_json::json;
use tessera_model::event::{NewEvent, identity_subject, types};
use tessera_model::flow::{FlowChannel, FlowKind};
use tessera_model::oauth_client::{GrantType, OAuthClient, TokenEndpointAuth};
use tessera_model::tenant::Tenant;
use tessera_store::oauth_device_grants::{self as store, Approval, DeviceGrant, DeviceStatus};
use time::Duration;
use uuid::Uuid;

use super::{ClientAuth, OAuth, parse_scope, refuse};
use crate::flows::{FlowContext, FlowStart, Started};
use crate::guard::UserCodeGuard;
use crate::{Caller, CoreError, Result, Tessera};

/// How long a device authorization waits for the customer (RFC 8628 §3.2 `expires_in`).
pub const DEVICE_TTL: Duration = Duration::seconds(600);
/// The polling interval a device starts with (RFC 8628 §3.2 `interval`); each `slow_down` adds 5 s.
pub const INTERVAL_SECS: i64 = 5;
/// What a `slow_down` adds to the interval (RFC 8628 §3.5).
pub const SLOW_DOWN_SECS: i64 = 5;
/// The user code's letters: consonants only, without look-alikes, so it spells no word and reads aloud.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code.
pub const USER_CODE_LEN: usize = 8;

/// The device authorization response (RFC 8628 §3.2).
#[derive(Debug, Clone, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// The code entry form's token, and the binding cookie to set when the browser had none.
#[derive(Debug, Clone)]
pub struct DeviceForm {
    pub csrf_token: String,
    pub new_binding: Option<String>,
}

/// Where the device page goes next.
#[derive(Debug)]
pub enum DeviceStep {
    /// No pending grant has this code (or it cannot be one): the form again, with an error.
    Unknown,
    /// The grant can no longer be decided.
    Gone,
    /// Sign in first; the sign-in comes back by the grant's id.
    SignIn(Box<Started>),
    /// The confirmation was opened without proof that this browser typed the code (a link from
    /// someone else, another browser): the customer must type the code on the device page.
    Retype,
    /// Ask the signed-in customer, with the decision form's CSRF token (bound to this browser and the
    /// grant), `drawn_for` (bound to this browser, the grant and the session) and the proof that this
    /// browser typed the code (to draw the page again).
    Confirm {
        request: DeviceRequest,
        csrf_token: String,
        drawn_for: String,
        proof: String,
        new_binding: Option<String>,
    },
    /// The tenant-wide quota of guesses holds anonymous entries back (R9-2): a signed-in customer's
    /// codes are counted per account instead, so the page offers the sign-in first.
    SignInFirst { retry_after: i64 },
}

/// The confirmation form as posted: the grant's id, the code shown, this browser's proof that it typed
/// it, the confirmation's CSRF token and its MAC of the session it was drawn for.
#[derive(Debug, Clone, Copy)]
pub struct DeviceDecision<'a> {
    pub request: &'a str,
    pub user_code: &'a str,
    pub proof: &'a str,
    pub csrf_token: &'a str,
    pub drawn_for: &'a str,
}

/// What a decision did.
#[derive(Debug)]
pub enum DeviceDecided {
    Allowed,
    Denied,
    /// Expired, decided already, or unknown.
    Gone,
    /// The browser's session ended after the page was drawn: nothing was decided; sign in again and
    /// type the code (I-2).
    SignedOut,
    /// The browser is signed in with another session than the page was drawn for (or the account now
    /// lacks a detail the app requires): nothing was decided; where the page goes now (R9-4).
    Redraw(Box<DeviceStep>),
}

/// A pending device authorization as the hosted page shows it.
#[derive(Debug, Clone)]
pub struct DeviceRequest {
    /// The stored id the page and the sign-in carry.
    pub id: Uuid,
    /// The application's registered name.
    pub client_name: String,
    pub scopes: Vec<String>,
    /// The user code as the device shows it (`XXXX-XXXX`), for the customer to compare (RFC 8628 §5.4).
    pub user_code: String,
    /// The signed-in account the approval would go to, as the customer knows it (an email address,
    /// phone number or username); empty until the page is drawn for a session.
    pub account: String,
}

pub(crate) fn device_code_hash(t: &Tessera, code: &str) -> Vec<u8> {
    t.keys()
        .secret_hasher
        .hash(&format!("oauth-device-code\u{0}{code}"))
}

fn user_code_hash(t: &Tessera, normalised: &str) -> Vec<u8> {
    t.keys()
        .secret_hasher
        .hash(&format!("oauth-user-code\u{0}{normalised}"))
}

/// A user code as typed, normalised: upper case, dashes and spaces dropped. `None` when it cannot be
/// one of ours (wrong length or a letter outside the alphabet).
pub fn normalise_user_code(typed: &str) -> Option<String> {
    if typed.len() > 40 {
        return None;
    }
    let s: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (s.len() == USER_CODE_LEN && s.bytes().all(|b| USER_CODE_ALPHABET.contains(&b))).then_some(s)
}

/// A new user code, normalised (no dash). Uniform over the alphabet: bytes from 240 up are drawn again.
fn new_user_code() -> Result<String> {
    let mut out = String::with_capacity(USER_CODE_LEN);
    while out.len() < USER_CODE_LEN {
        for b in tessera_crypto::random_bytes::<16>()? {
            if out.len() < USER_CODE_LEN && b < 240 {
                let i = usize::from(b % 20);
                if let Some(c) = USER_CODE_ALPHABET.get(i) {
                    out.push(char::from(*c));
                }
            }
        }
    }
    Ok(out)
}

/// `BCDFGHJK` as shown: `BCDF-GHJK`.
pub fn display_user_code(normalised: &str) -> String {
    let (a, b) = normalised.split_at(normalised.len().min(USER_CODE_LEN / 2));
    format!("{a}-{b}")
}

/// The grant as long as the customer may still decide it: pending and unexpired, for a client that
/// still exists, was registered before the grant (not a namesake made since), and is still a
/// first-party client allowed the grant (a client made third-party since would need consent).
async fn live_pending(
    oauth: &OAuth<'_>,
    tenant: &Tenant,
    g: Option<DeviceGrant>,
) -> Result<Option<(DeviceGrant, OAuthClient)>> {
    let Some(g) = g.filter(|g| g.status == DeviceStatus::Pending && g.expires_at > oauth.t.now())
    else {
        return Ok(None);
    };
    match oauth.client(&tenant.slug, &g.client_id).await {
        Ok((_, c))
            if c.created_at <= g.created_at
                && c.first_party
                && c.allows_grant(GrantType::DeviceCode) =>
        {
            Ok(Some((g, c)))
        }
        Ok(_) | Err(CoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `code`: the normalised user code, already checked against the grant.
fn request_of(g: &DeviceGrant, c: &OAuthClient, code: &str) -> DeviceRequest {
    DeviceRequest {
        id: g.id,
        client_name: c.name.clone(),
        user_code: display_user_code(code),
        scopes: g
            .scopes
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        account: String::new(),
    }
}

/// How the page names an account: its email address, else its phone number, else its username.
fn account_name(identity: &tessera_model::identity::Identity) -> String {
    use tessera_model::identifier::IdentifierKind;
    [
        IdentifierKind::Email,
        IdentifierKind::Phone,
        IdentifierKind::Username,
    ]
    .iter()
    .find_map(|k| identity.identifiers.iter().find(|i| i.kind == *k))
    .map(|i| i.value.clone())
    .unwrap_or_default()
}

impl OAuth<'_> {
    /// `POST /t/{tenant}/oauth2/device_authorization` (RFC 8628 §3.1): authenticates the client as the
    /// token endpoint does, checks it may use the device grant and the scopes it asks for, and stores a
    /// pending grant. Errors are the token endpoint's kind (§3.2). Counted per client address (`ip`)
    /// and per client once the client is known (RL-06, R8-3): `RateLimited` past either quota.
    pub async fn device_authorization(
        &self,
        slug: &str,
        auth: &ClientAuth,
        scope: Option<&str>,
        ip: Option<&str>,
    ) -> Result<DeviceAuthorization> {
        let (tenant, client) = self.authenticate_client(slug, auth).await?;
        if !client.allows_grant(GrantType::DeviceCode) {
            return Err(refuse(
                "unauthorized_client",
                "this client may not use the device authorization grant",
            ));
        }
        // The confirmation page is no consent screen: a third-party client would need one (as at
        // `/authorize`), which does not exist yet.
        if !client.first_party {
            return Err(refuse(
                "unauthorized_client",
                "the device grant is open to first-party clients only until consent exists",
            ));
        }
        let scopes = match scope.filter(|s| !s.is_empty()) {
            Some(s) => parse_scope(s)?,
            // No scope: a sign-in (`openid`) when the client may have it.
            None => ["openid"]
                .into_iter()
                .filter(|s| client.allows_scope(s))
                .map(str::to_owned)
                .collect(),
        };
        if let Some(bad) = scopes.iter().find(|s| !client.allows_scope(s)) {
            return Err(refuse(
                "invalid_scope",
                format!("this client may not ask for {bad}"),
            ));
        }
        // Counted once the request is one that would store a grant. Only a client that authenticated is
        // charged per app: anyone can speak for a public one, so strangers could empty its bucket (R9-1).
        let authenticated = !matches!(client.token_endpoint_auth, TokenEndpointAuth::None);
        self.t
            .guard_device_authorization(ip, tenant.id, &client.client_id, authenticated)
            .await?;
        let device_code = tessera_crypto::random_token()?;
        let now = self.t.now();
        // A user code is unique among the tenant's stored grants: on the rare collision, draw again.
        for _ in 0..5 {
            let user_code = new_user_code()?;
            let row = DeviceGrant {
                id: Uuid::now_v7(),
                tenant_id: tenant.id,
                client_id: client.client_id.clone(),
                device_code_hash: device_code_hash(self.t, &device_code),
                user_code_hash: user_code_hash(self.t, &user_code),
                scopes: scopes.join(" "),
                status: DeviceStatus::Pending,
                interval_secs: INTERVAL_SECS,
                polls: 0,
                last_polled_at: None,
                identity_id: None,
                session_id: None,
                auth_time: None,
                acr: None,
                amr: None,
                created_at: now,
                expires_at: now + DEVICE_TTL,
                decided_at: None,
            };
            let mut tx = self.t.db().begin().await?;
            match store::insert(&mut tx, &row).await {
                Ok(()) => {}
                Err(tessera_store::StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
            tx.commit().await?;
            let verification_uri = format!("{}/device", self.issuer(&tenant));
            let shown = display_user_code(&user_code);
            let complete: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("user_code", &shown)
                .finish();
            return Ok(DeviceAuthorization {
                device_code,
                verification_uri_complete: format!("{verification_uri}?{complete}"),
                verification_uri,
                user_code: shown,
                expires_in: DEVICE_TTL.whole_seconds(),
                interval: INTERVAL_SECS,
            });
        }
        Err(CoreError::Internal(
            "no free user code after 5 draws".into(),
        ))
    }

    /// The code entry form's CSRF token, with a new flow-binding cookie when the browser had none. An
    /// unknown tenant is `NotFound` (I-2).
    pub async fn device_entry(&self, ctx: &FlowContext) -> Result<DeviceForm> {
        self.t.tenant_by_slug(&ctx.tenant).await?;
        let (binding, new_binding) = binding_of(ctx)?;
        Ok(DeviceForm {
            csrf_token: self.device_csrf(&binding, "enter"),
            new_binding,
        })
    }

    /// `POST /t/{tenant}/device`: the customer typed a user code. The form's CSRF token must be this
    /// browser's; then every attempt is counted before the code is looked at (RL-03, `RateLimited` when
    /// a bucket holds it back): per client address, and per account for a signed-in browser or for the
    /// tenant for an anonymous one (R9-2: strangers' guesses never lock a signed-in customer out; when
    /// the tenant's quota holds an anonymous entry back, `SignInFirst`). A code that names a pending
    /// grant leads to its confirmation, through the hosted sign-in when the browser has no session.
    pub async fn device_enter(
        &self,
        ctx: &FlowContext,
        typed: &str,
        csrf_token: &str,
    ) -> Result<DeviceStep> {
        self.check_device_csrf(ctx, "enter", csrf_token)?;
        let tenant = self.t.tenant_by_slug(&ctx.tenant).await?;
        let account = self.session_of(ctx).await?.map(|s| s.identity_id);
        let charged = match self.t.guard_user_code(ctx, &tenant, account).await? {
            UserCodeGuard::Allowed(c) => c,
            UserCodeGuard::SignInFirst { retry_after } => {
                return Ok(DeviceStep::SignInFirst { retry_after });
            }
        };
        let Some(code) = normalise_user_code(typed) else {
            return Ok(DeviceStep::Unknown);
        };
        let mut conn = self.t.db().conn().await?;
        let g = store::by_user_code(&mut conn, tenant.id, &user_code_hash(self.t, &code)).await?;
        drop(conn);
        let Some((g, c)) = live_pending(self, &tenant, g).await? else {
            return Ok(DeviceStep::Unknown);
        };
        // A right code gives the address its hit back: only wrong guesses add up.
        self.t.guard_user_code_refund(&charged).await?;
        self.confirm_or_sign_in(ctx, &tenant, &c, request_of(&g, &c, &code))
            .await
    }

    /// `GET /t/{tenant}/device/confirm?request=…&user_code=…&proof=…`: the hosted sign-in (or the
    /// profile step) came back with the grant's stored id (never a URL from the browser). Only the
    /// browser that typed the code holds the `proof` for this grant and code (R8-2); anything else is
    /// `Retype`. The confirmation while the grant is pending, else `Gone`.
    pub async fn device_continue(
        &self,
        ctx: &FlowContext,
        id: &str,
        user_code: &str,
        proof: &str,
    ) -> Result<DeviceStep> {
        let tenant = self.t.tenant_by_slug(&ctx.tenant).await?;
        let (Ok(id), Some(code)) = (Uuid::parse_str(id), normalise_user_code(user_code)) else {
            return Ok(DeviceStep::Retype);
        };
        if self
            .check_device_csrf(ctx, &typed_what(id, &code), proof)
            .is_err()
        {
            return Ok(DeviceStep::Retype);
        }
        let mut conn = self.t.db().conn().await?;
        let g = store::get(&mut conn, tenant.id, id).await?;
        drop(conn);
        // The code shown must be the grant's own (the proof says so too; this keeps the two honest).
        let g = g.filter(|g| {
            tessera_crypto::constant_time_eq(&g.user_code_hash, &user_code_hash(self.t, &code))
        });
        match live_pending(self, &tenant, g).await? {
            Some((g, c)) => {
                self.confirm_or_sign_in(ctx, &tenant, &c, request_of(&g, &c, &code))
                    .await
            }
            None => Ok(DeviceStep::Gone),
        }
    }

    /// The confirmation for a browser that proved it typed the code; else first the hosted sign-in, or
    /// the profile step when the app requires details the signed-in customer has not given (R8-4). Both
    /// come back with this browser's proof.
    async fn confirm_or_sign_in(
        &self,
        ctx: &FlowContext,
        tenant: &Tenant,
        client: &OAuthClient,
        mut req: DeviceRequest,
    ) -> Result<DeviceStep> {
        // `device_enter` checked the entry form's CSRF token, so the browser has its binding already.
        let (binding, new_binding) = binding_of(ctx)?;
        let code = normalise_user_code(&req.user_code).unwrap_or_default();
        let proof = self.device_csrf(&binding, &typed_what(req.id, &code));
        let start = FlowStart {
            return_to: Some(continue_path(&ctx.tenant, req.id, &req.user_code, &proof)),
            client_id: Some(client.client_id.clone()),
            identifier: None,
            requested_aal: None,
        };
        let mut flow_ctx = ctx.clone();
        if let Some(b) = &new_binding {
            flow_ctx.browser_binding = Some(b.clone());
        }
        let Some(session) = self.session_of(ctx).await? else {
            let started = self
                .t
                .flows()
                .start(&flow_ctx, FlowKind::Login, start)
                .await?;
            return Ok(DeviceStep::SignIn(Box::new(started)));
        };
        if let Some((identity, missing)) = self.missing_profile(tenant, client, &session).await? {
            let started = self
                .t
                .flows()
                .start_at_profile(&flow_ctx, tenant, start, &session, &identity, missing)
                .await?;
            return Ok(DeviceStep::SignIn(Box::new(started)));
        }
        let mut conn = self.t.db().conn().await?;
        let identity =
            tessera_store::identities::get(&mut conn, tenant.id, session.identity_id).await?;
        drop(conn);
        req.account = identity.as_ref().map(account_name).unwrap_or_default();
        Ok(DeviceStep::Confirm {
            csrf_token: self.device_csrf(&binding, &confirm_what(req.id)),
            drawn_for: self.device_csrf(&binding, &drawn_for_what(req.id, session.id)),
            proof,
            request: req,
            new_binding,
        })
    }

    async fn session_of(
        &self,
        ctx: &FlowContext,
    ) -> Result<Option<tessera_store::sessions::StoredSession>> {
        Ok(match &ctx.session_token {
            Some(token) => self
                .t
                .sessions()
                .from_token(&ctx.tenant, token)
                .await?
                .map(|a| a.session),
            None => None,
        })
    }

    /// The CSRF token of a device page form (`what`: the entry form, or a grant's id), bound to the
    /// browser's flow-binding cookie.
    fn device_csrf(&self, binding: &str, what: &str) -> String {
        self.t
            .keys()
            .secret_hasher
            .hash(&format!("device-csrf\u{0}{binding}\u{0}{what}"))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn check_device_csrf(&self, ctx: &FlowContext, what: &str, csrf_token: &str) -> Result<()> {
        let bound = ctx.channel == FlowChannel::Browser
            && ctx
                .browser_binding
                .as_deref()
                .filter(|b| !b.is_empty() && b.len() <= 100)
                .is_some_and(|b| {
                    tessera_crypto::constant_time_eq(
                        self.device_csrf(b, what).as_bytes(),
                        csrf_token.as_bytes(),
                    )
                });
        if bound {
            Ok(())
        } else {
            Err(CoreError::BadRequest {
                code: "csrf",
                detail: "the form's security token is missing or wrong".into(),
            })
        }
    }

    /// `POST /t/{tenant}/device/confirm`: the signed-in customer allows (`allow`) or denies grant `id`.
    /// The form's CSRF token and the proof that this browser typed `user_code` must be this browser's
    /// (else a CSRF error); `drawn_for` names the session the page was drawn for. Signed out since: `SignedOut`;
    /// another session now, or (to allow) the account lacks a detail the app requires: `Redraw`, for
    /// the account signed in now (R9-4). Nothing is decided in either case.
    pub async fn device_decide(
        &self,
        ctx: &FlowContext,
        form: &DeviceDecision<'_>,
        allow: bool,
    ) -> Result<DeviceDecided> {
        let (Ok(id), Some(code)) = (
            Uuid::parse_str(form.request),
            normalise_user_code(form.user_code),
        ) else {
            return Ok(DeviceDecided::Gone);
        };
        self.check_device_csrf(ctx, &confirm_what(id), form.csrf_token)?;
        self.check_device_csrf(ctx, &typed_what(id, &code), form.proof)?;
        let Some(session) = self.session_of(ctx).await? else {
            return Ok(DeviceDecided::SignedOut);
        };
        let drawn_for_this_session = self
            .check_device_csrf(ctx, &drawn_for_what(id, session.id), form.drawn_for)
            .is_ok();
        // The client is judged again as it is now: changed since the page was shown, no approval.
        let tenant = self.t.tenant_by_slug(&ctx.tenant).await?;
        let mut conn = self.t.db().conn().await?;
        let g = store::get(&mut conn, tenant.id, id).await?;
        drop(conn);
        let g = g.filter(|g| {
            tessera_crypto::constant_time_eq(&g.user_code_hash, &user_code_hash(self.t, &code))
        });
        let Some((g, c)) = live_pending(self, &tenant, g).await? else {
            return Ok(DeviceDecided::Gone);
        };
        let missing = allow && self.missing_profile(&tenant, &c, &session).await?.is_some();
        if !drawn_for_this_session || missing {
            let step = self
                .confirm_or_sign_in(ctx, &tenant, &c, request_of(&g, &c, &code))
                .await?;
            return Ok(DeviceDecided::Redraw(Box::new(step)));
        }
        let now = self.t.now();
        let mut tx = self.t.db().begin().await?;
        let done = if allow {
            let approval = Approval {
                identity_id: session.identity_id,
                session_id: session.id,
                auth_time: session.authenticated_at,
                acr: Some(super::authorize::acr_of(session.aal).to_owned()),
                amr: serde_json::to_string(&session.amr)
                    .map_err(|e| CoreError::Internal(e.to_string()))?,
            };
            store::approve(&mut tx, session.tenant_id, id, &approval, now).await?
        } else {
            store::deny(&mut tx, session.tenant_id, id, session.identity_id, now).await?
        };
        if done && let Some(g) = store::get(&mut tx, session.tenant_id, id).await? {
            let ev = NewEvent::new(
                session.tenant_id,
                types::OAUTH_DEVICE_DECIDED,
                identity_subject(session.identity_id),
                json!({
                    "client_id": g.client_id,
                    "identity_id": session.identity_id,
                    "session_id": session.id,
                    "decision": if allow { "allowed" } else { "denied" },
                    "scopes": g.scopes.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
                }),
            );
            self.t.record(&mut tx, &Caller::system(), ev, None).await?;
        }
        tx.commit().await?;
        Ok(match (done, allow) {
            (false, _) => DeviceDecided::Gone,
            (true, true) => DeviceDecided::Allowed,
            (true, false) => DeviceDecided::Denied,
        })
    }
}

/// The browser's flow-binding cookie, or a new one to set.
fn binding_of(ctx: &FlowContext) -> Result<(String, Option<String>)> {
    match ctx
        .browser_binding
        .as_deref()
        .filter(|b| !b.is_empty() && b.len() <= 100)
    {
        Some(b) => Ok((b.to_owned(), None)),
        None => {
            let b = tessera_crypto::random_token()?;
            Ok((b.clone(), Some(b)))
        }
    }
}

/// What the proof that a browser typed `code` for grant `id` is a MAC of (with the browser's binding).
fn typed_what(id: Uuid, code: &str) -> String {
    format!("typed\u{0}{id}\u{0}{code}")
}

/// What the confirmation form's CSRF token is a MAC of (with the browser's binding).
fn confirm_what(id: Uuid) -> String {
    format!("confirm\u{0}{id}")
}

/// What the confirmation's `drawn_for` is a MAC of (with the browser's binding): the grant and the
/// session the page was drawn for (R9-4).
fn drawn_for_what(id: Uuid, session: Uuid) -> String {
    format!("drawn-for\u{0}{id}\u{0}{session}")
}

/// Where the hosted sign-in comes back to: the grant's stored id, the code as shown and this browser's
/// proof that it typed it, nothing else.
pub fn continue_path(tenant: &str, id: Uuid, user_code: &str, proof: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("request", &id.to_string())
        .append_pair("user_code", user_code)
        .append_pair("proof", proof)
        .finish();
    format!("/t/{tenant}/device/confirm?{q}")
}

/// Forgets device grants an hour after they expired (until then a late poll still hears
/// `expired_token` rather than `invalid_grant`). Run with the flow sweeper.
pub(crate) async fn sweep(t: &Tessera) -> Result<u64> {
    let mut tx = t.db().begin().await?;
    let n = store::purge_expired(&mut tx, t.now() - Duration::hours(1)).await?;
    tx.commit().await?;
    Ok(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_letters_of_the_alphabet_and_typed_loosely() {
        for _ in 0..200 {
            let c = new_user_code().unwrap();
            assert_eq!(c.len(), USER_CODE_LEN);
            assert!(c.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)), "{c}");
            let shown = display_user_code(&c);
            assert_eq!(shown.len(), 9);
            assert_eq!(normalise_user_code(&shown).as_deref(), Some(c.as_str()));
            assert_eq!(
                normalise_user_code(&shown.to_ascii_lowercase()).as_deref(),
                Some(c.as_str())
            );
        }
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ1",
            "ÉCDF-GHJK",
        ] {
            assert_eq!(normalise_user_code(bad), None, "{bad}");
        }
        assert_eq!(
            normalise_user_code(" bcdf ghjk ").as_deref(),
            Some("BCDFGHJK")
        );
    }
}
