//! Consent (CON-01, CON-02): a third-party app (or any app sending `prompt=consent`) gets a signed-in
//! customer's code only after the customer allowed it, on a page that names the app and what it will
//! see. Consents are remembered per identity and client as the union of the scopes allowed, so a later
//! request for scopes already allowed skips the page and a new scope asks again (listing only the new
//! ones). The page's form is bound to the stored authorization request and the browser: its CSRF token
//! is a keyed hash of the request's id and the browser's binding cookie, so a POST naming another
//! request (of this browser or any other) is refused. Withdrawing a consent (the customer's settings, the
//! admin API) revokes the client's refresh-token families for the identity in the same transaction.
use serde::Serialize;
use serde_json::json;
use tessera_model::IdentityId;
use tessera_model::api_key::Permission;
use tessera_model::event::{NewEvent, identity_subject, types};
use tessera_model::oauth_client::OAuthClient;
use tessera_model::tenant::Tenant;
use tessera_store::Tx;
use tessera_store::oauth_consents::{self as store, Consent};
use time::OffsetDateTime;
use uuid::Uuid;

use super::OAuth;
use super::authorize::{
    AuthorizationRequest, Authorized, AuthzError, AuthzErrorCode, Back, Prompt, Resumed, binding_of,
};
use crate::flows::FlowContext;
use crate::sessions::ActiveSession;
use crate::{Caller, CoreError, Result, Tessera};

/// What the consent page shows and posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentPage {
    /// The stored authorization request the page answers.
    pub request: Uuid,
    /// Bound to the request and the browser (see the module's doc).
    pub csrf_token: String,
    /// The app's registered name.
    pub client_name: String,
    /// The host of the redirect URI the app will get the answer at.
    pub redirect_host: String,
    /// The scopes to ask for, each shown as one plain line: every requested one for `prompt=consent`,
    /// else those not allowed yet.
    pub scopes: Vec<String>,
}

/// A consent as the admin API and the settings show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GrantedConsent {
    pub client_id: String,
    /// The app's name; absent when the client was deleted since.
    pub client_name: Option<String>,
    /// Every scope the customer allowed the app, in the order first allowed.
    pub scopes: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// The scopes the customer must be asked about before `client` gets a code for `req`, or `None` when no
/// page is needed: first-party apps skip it unless the request says `prompt=consent`; a third-party app
/// skips it when every requested scope was allowed before.
pub(super) async fn to_ask(
    t: &Tessera,
    tenant: &Tenant,
    client: &OAuthClient,
    req: &AuthorizationRequest,
    identity: IdentityId,
) -> Result<Option<Vec<String>>> {
    let forced = req.prompt.contains(&Prompt::Consent);
    if client.first_party && !forced {
        return Ok(None);
    }
    let mut conn = t.db().conn().await?;
    let granted = store::get(&mut conn, tenant.id, identity, &client.client_id)
        .await?
        .map(|c| c.scopes)
        .unwrap_or_default();
    drop(conn);
    if forced {
        return Ok(Some(req.scopes.clone()));
    }
    let new: Vec<String> = req
        .scopes
        .iter()
        .filter(|s| !granted.contains(s))
        .cloned()
        .collect();
    Ok((!new.is_empty()).then_some(new))
}

/// What a grant of `client` to `identity` may still carry, judged by the client as it is now (R10-4,
/// R12-1): `None` for a first-party client (it needs no consent), the consented scopes for a third-party
/// one, and `invalid_grant` when a third-party client holds no consent at all (it was first party
/// when the code or the refresh token was issued).
pub(crate) async fn consented_scopes(
    t: &Tessera,
    tenant: &Tenant,
    client: &OAuthClient,
    identity: IdentityId,
) -> Result<Option<Vec<String>>> {
    if client.first_party {
        return Ok(None);
    }
    let mut conn = t.db().conn().await?;
    match store::get(&mut conn, tenant.id, identity, &client.client_id).await? {
        Some(c) => Ok(Some(c.scopes)),
        None => Err(super::refuse(
            "invalid_grant",
            "the customer has not consented to this app: sign in through it again",
        )),
    }
}

/// The consent form's CSRF token for request `id` in the browser with `binding`.
fn csrf_for(t: &Tessera, id: Uuid, binding: &str) -> String {
    t.keys()
        .secret_hasher
        .hash(&format!("oauth-consent\u{0}{id}\u{0}{binding}"))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The page for request `id` of the browser with `binding`.
pub(super) fn page(
    t: &Tessera,
    client: &OAuthClient,
    back: &Back,
    id: Uuid,
    binding: &str,
    scopes: Vec<String>,
) -> ConsentPage {
    ConsentPage {
        request: id,
        csrf_token: csrf_for(t, id, binding),
        client_name: client.name.clone(),
        redirect_host: back.to.as_url().host_str().unwrap_or_default().to_owned(),
        scopes,
    }
}

fn view(c: Consent, client_name: Option<String>) -> GrantedConsent {
    GrantedConsent {
        client_id: c.client_id,
        client_name,
        scopes: c.scopes,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

impl OAuth<'_> {
    /// `POST /t/{tenant}/oauth2/consent`: the customer's answer on the consent page. The form must carry
    /// the CSRF token of this request in this browser (else `csrf`, a 403 page). Allow: the consent is
    /// remembered and the stored request goes on to its code. Deny: `access_denied` to the app.
    pub async fn consent(
        &self,
        ctx: &FlowContext,
        request: &str,
        csrf: &str,
        allow: bool,
    ) -> Result<Authorized> {
        let forged = || CoreError::BadRequest {
            code: "csrf",
            detail: "the form's security token is missing or wrong".into(),
        };
        if csrf.is_empty() {
            return Err(forged());
        }
        let live = match self.resume(ctx, request).await? {
            Resumed::Live(l) => *l,
            Resumed::Answer(a) => return Ok(a),
        };
        // `resume` checked the browser's binding against the request's.
        let expected = csrf_for(self.t, live.stored.id, binding_of(ctx).unwrap_or_default());
        if !tessera_crypto::constant_time_eq(csrf.as_bytes(), expected.as_bytes()) {
            return Err(forged());
        }
        if !allow {
            let mut tx = self.t.db().begin().await?;
            tessera_store::oauth_requests::consume_request(&mut tx, live.stored.id, self.t.now())
                .await?;
            tx.commit().await?;
            return Ok(live.back.error(AuthzError {
                code: AuthzErrorCode::AccessDenied,
                description: "the customer did not allow the app access",
            }));
        }
        let session = match &ctx.session_token {
            Some(token) => self.t.sessions().from_token(&ctx.tenant, token).await?,
            None => None,
        };
        // Without a session the request goes back to the sign-in, and the page comes again after it.
        let consented = match session {
            Some(s) => {
                self.remember(&live.tenant, &live.client, &live.req, s.session.identity_id)
                    .await?;
                true
            }
            None => false,
        };
        self.proceed(
            ctx,
            &live.tenant,
            &live.client,
            live.back,
            live.req,
            Some(&live.stored),
            consented,
        )
        .await
    }

    /// Remembers that the identity allowed the client the request's scopes (with any allowed before).
    async fn remember(
        &self,
        tenant: &Tenant,
        client: &OAuthClient,
        req: &AuthorizationRequest,
        identity: IdentityId,
    ) -> Result<()> {
        let now = self.t.now();
        let mut tx = self.t.db().begin().await?;
        let before = store::get(&mut tx, tenant.id, identity, &client.client_id).await?;
        let mut scopes = before
            .as_ref()
            .map(|c| c.scopes.clone())
            .unwrap_or_default();
        for s in &req.scopes {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        let consent = Consent {
            tenant_id: tenant.id,
            identity_id: identity,
            client_id: client.client_id.clone(),
            scopes,
            created_at: before.map_or(now, |c| c.created_at),
            updated_at: now,
        };
        store::put(&mut tx, &consent).await?;
        let ev = NewEvent::new(
            tenant.id,
            types::OAUTH_CONSENT_GIVEN,
            identity_subject(identity),
            json!({"client_id": client.client_id, "identity_id": identity, "scopes": consent.scopes, "requested": req.scopes}),
        );
        self.t.record(&mut tx, &Caller::system(), ev, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The consents of an identity with the apps' names.
    async fn granted(&self, tenant: &Tenant, identity: IdentityId) -> Result<Vec<GrantedConsent>> {
        let mut conn = self.t.db().conn().await?;
        let all = store::of_identity(&mut conn, tenant.id, identity).await?;
        drop(conn);
        let mut out = Vec::with_capacity(all.len());
        for c in all {
            let name = match self.client_of(tenant, &c.client_id).await {
                Ok(client) => Some(client.name),
                Err(CoreError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            out.push(view(c, name));
        }
        Ok(out)
    }

    /// Withdraws a consent inside `tx`: the row, the client's codes not yet redeemed for the identity
    /// (else a code given just before would start a grant no consent backs), then the client's
    /// refresh-token families for the identity (with the access tokens minted with them), and the
    /// event. False when there was none.
    async fn withdraw(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        tenant: &Tenant,
        identity: IdentityId,
        client_id: &str,
        by: &str,
    ) -> Result<bool> {
        // No client has such an id; PostgreSQL would refuse a NUL in the query.
        if client_id.is_empty() || client_id.len() > 200 || client_id.chars().any(char::is_control)
        {
            return Ok(false);
        }
        if !store::delete(tx, tenant.id, identity, client_id).await? {
            return Ok(false);
        }
        tessera_store::oauth_requests::burn_codes(tx, tenant.id, identity, client_id, self.t.now())
            .await?;
        let revoked = super::refresh_tokens::revoke_families_of(
            self.t,
            tx,
            tenant.id,
            identity,
            Some(client_id),
            None,
            "consent_revoked",
        )
        .await?;
        let ev = NewEvent::new(
            tenant.id,
            types::OAUTH_CONSENT_REVOKED,
            identity_subject(identity),
            json!({"client_id": client_id, "identity_id": identity, "by": by, "refresh_families_revoked": revoked}),
        );
        self.t.record(tx, caller, ev, None).await?;
        Ok(true)
    }

    /// The signed-in customer's consents ("Apps with access" in the settings).
    pub(crate) async fn my_consents(
        &self,
        tenant: &Tenant,
        active: &ActiveSession,
    ) -> Result<Vec<GrantedConsent>> {
        self.granted(tenant, active.session.identity_id).await
    }

    /// The signed-in customer withdraws their consent to an app (CON-02).
    pub(crate) async fn revoke_my_consent(
        &self,
        tenant: &Tenant,
        active: &ActiveSession,
        client_id: &str,
    ) -> Result<()> {
        let mut tx = self.t.db().begin().await?;
        let s = &active.session;
        if !self
            .withdraw(
                &mut tx,
                &Caller::system(),
                tenant,
                s.identity_id,
                client_id,
                "customer",
            )
            .await?
        {
            return Err(CoreError::NotFound { what: "consent" });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Admin: an identity's consents (`identity:read`).
    pub async fn admin_consents(
        &self,
        caller: &Caller,
        slug: &str,
        identity: IdentityId,
    ) -> Result<Vec<GrantedConsent>> {
        caller.require(Permission::IdentityRead)?;
        let mut conn = self.t.db().conn().await?;
        let tenant = self.t.tenant_in_scope(&mut conn, caller, slug).await?;
        tessera_store::identities::get(&mut conn, tenant.id, identity)
            .await?
            .ok_or(CoreError::NotFound { what: "identity" })?;
        drop(conn);
        self.granted(&tenant, identity).await
    }

    /// Admin: withdraws an identity's consent to a client (`identity:write`); `NotFound` when there is
    /// none.
    pub async fn admin_revoke_consent(
        &self,
        caller: &Caller,
        slug: &str,
        identity: IdentityId,
        client_id: &str,
    ) -> Result<()> {
        caller.require(Permission::IdentityWrite)?;
        let mut tx = self.t.db().begin().await?;
        let tenant = self.t.tenant_in_scope(&mut tx, caller, slug).await?;
        tessera_store::identities::get(&mut tx, tenant.id, identity)
            .await?
            .ok_or(CoreError::NotFound { what: "identity" })?;
        if !self
            .withdraw(&mut tx, caller, &tenant, identity, client_id, "admin")
            .await?
        {
            return Err(CoreError::NotFound { what: "consent" });
        }
        tx.commit().await?;
        Ok(())
    }
}
