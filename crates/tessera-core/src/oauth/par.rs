//! Pushed authorization requests (RFC 9126, OA-21). A client posts its authorization request to the PAR
//! endpoint, authenticated as at the token endpoint (OA-12); the request is checked by the one validator
//! of authorization requests ([`validate`]) and stored, and the client gets a `request_uri` to send the
//! browser to `/authorize` with. That `request_uri` lives 60 seconds, works only with the client that
//! pushed it, and only once. `/authorize` ignores every other parameter next to it but `client_id`
//! (RFC 9126 §4), and a client registered with `require_par` must come this way.
use serde::Serialize;
use tessera_store::oauth_pushed_requests::{self as store, PushedRequest};
use time::Duration;

use super::authorize::{
    AuthorizationRequest, Authorized, AuthzErrorCode, Back, RawParams, err, match_redirect, refuse,
    target, validate,
};
use super::{ClientAuth, OAuth};
use crate::flows::FlowContext;
use crate::{CoreError, Result, Tessera};

/// What every `request_uri` Tessera hands out starts with (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a pushed request waits for its `/authorize` (RFC 9126 §2.2 suggests 5 to 600 seconds).
pub const PAR_TTL: Duration = Duration::seconds(60);

/// The PAR endpoint's answer (RFC 9126 §2.2), sent with 201 Created.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    pub request_uri: String,
    pub expires_in: i64,
}

fn handle_hash(t: &Tessera, handle: &str) -> Vec<u8> {
    t.keys()
        .secret_hasher
        .hash(&format!("oauth-par\u{0}{handle}"))
}

impl OAuth<'_> {
    /// `POST /t/{tenant}/oauth2/par`: authenticates the client, checks the request as `/authorize` would,
    /// and stores it. Errors are the token endpoint's kind (RFC 9126 §2.3).
    pub async fn push(&self, slug: &str, auth: &ClientAuth, params: &RawParams) -> Result<Pushed> {
        let (tenant, client) = self.authenticate_client(slug, auth).await?;
        if params
            .get("client_id")
            .is_some_and(|c| c != client.client_id)
        {
            return Err(super::refuse(
                "invalid_request",
                "client_id differs from the authenticated client",
            ));
        }
        let Some(redirect_uri) = params.get("redirect_uri") else {
            return Err(super::refuse(
                "invalid_request",
                "redirect_uri is missing or repeated",
            ));
        };
        let redirect_uri = match match_redirect(&client, redirect_uri) {
            Ok(_) => redirect_uri,
            Err(r) => return Err(super::refuse("invalid_request", r.detail)),
        };
        let reachable = self.reachable_aal(&tenant).await?;
        let req = validate(params, &client, redirect_uri, reachable)
            .map_err(|e| super::refuse(e.code.as_str(), e.description))?;
        let handle = tessera_crypto::random_token()?;
        let now = self.t.now();
        let row = PushedRequest {
            handle_hash: handle_hash(self.t, &handle),
            tenant_id: tenant.id,
            client_id: client.client_id.clone(),
            request: serde_json::to_string(&req).map_err(|e| CoreError::Internal(e.to_string()))?,
            created_at: now,
            expires_at: now + PAR_TTL,
        };
        let mut tx = self.t.db().begin().await?;
        store::insert(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(Pushed {
            request_uri: format!("{REQUEST_URI_PREFIX}{handle}"),
            expires_in: PAR_TTL.whole_seconds(),
        })
    }

    /// `/authorize` with a `request_uri`: only `client_id` counts next to it (RFC 9126 §4). A
    /// `request_uri` that is not a pushed request's is `request_uri_not_supported` (no request objects
    /// are fetched by reference); one that is unknown, used, expired or another client's is
    /// `invalid_request_uri`; both on an error page unless a registered redirect URI came with it
    /// (OA-02, OA-20, OA-21).
    pub(crate) async fn authorize_pushed(
        &self,
        ctx: &FlowContext,
        params: &RawParams,
    ) -> Result<Authorized> {
        let bad_uri = |detail| Ok(Authorized::Page(refuse("invalid_request_uri", detail)));
        let Some(client_id) = params.get("client_id") else {
            return Ok(Authorized::Page(refuse(
                "invalid_request",
                "client_id is missing or repeated",
            )));
        };
        let (tenant, client) = match self.client(&ctx.tenant, client_id).await {
            Ok(x) => x,
            Err(CoreError::NotFound { .. }) => {
                return Ok(Authorized::Page(refuse(
                    "invalid_client",
                    "client_id is not a client of this tenant",
                )));
            }
            Err(e) => return Err(e),
        };
        let Some(request_uri) = params.get("request_uri") else {
            return bad_uri("request_uri is repeated");
        };
        let Some(handle) = request_uri.strip_prefix(REQUEST_URI_PREFIX) else {
            // Not a pushed request: answered at the client's redirect URI when the request named a
            // registered one, else on a page.
            if let Ok((_, redirect_uri)) = target(params)
                && let Ok(to) = match_redirect(&client, redirect_uri)
            {
                let back = Back {
                    to,
                    state: params.state().map(str::to_owned),
                    issuer: self.issuer(&tenant),
                };
                return Ok(back.error(err(
                    AuthzErrorCode::RequestUriNotSupported,
                    "only request_uri values from the PAR endpoint are accepted",
                )));
            }
            return Ok(Authorized::Page(refuse(
                "request_uri_not_supported",
                "only request_uri values from the PAR endpoint are accepted",
            )));
        };
        let mut tx = self.t.db().begin().await?;
        let taken = store::take(
            &mut tx,
            tenant.id,
            &client.client_id,
            client.created_at,
            &handle_hash(self.t, handle),
            self.t.now(),
        )
        .await?;
        tx.commit().await?;
        let Some(json) = taken else {
            return bad_uri(
                "this request_uri is unknown, used, expired or another client's: push the request again",
            );
        };
        let req: AuthorizationRequest = serde_json::from_str(&json)
            .map_err(|e| CoreError::Internal(format!("stored pushed request: {e}")))?;
        let to = match match_redirect(&client, &req.redirect_uri) {
            Ok(to) => to,
            Err(r) => return Ok(Authorized::Page(r)),
        };
        let back = Back {
            to,
            state: req.state.clone(),
            issuer: self.issuer(&tenant),
        };
        self.proceed(ctx, &tenant, &client, back, req, None, false)
            .await
    }
}

/// Forgets pushed requests that expired. Run with the flow sweeper, next to the codes'.
pub(crate) async fn sweep(t: &Tessera) -> Result<u64> {
    let mut tx = t.db().begin().await?;
    let n = store::purge_expired(&mut tx, t.now()).await?;
    tx.commit().await?;
    Ok(n)
}
