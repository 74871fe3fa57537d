//! The refresh token grant (RFC 6749 §6): a client trades its refresh token for a new access token and
//! a new refresh token (rotation on every use, RFC 9700 §4.14.2). The rules live in
//! `oauth/refresh_tokens.rs`; this file puts them in order: judge the token (a spent one revokes its
//! family), mint the access token, then spend the old token and store its successor in one transaction
//! whose conditional spend decides any race.
use tessera_model::IdentityId;
use tessera_model::oauth_client::OAuthClient;
use tessera_model::tenant::Tenant;

use crate::Result;
use crate::oauth::access_tokens::{self, AccessGrant};
use crate::oauth::refresh_tokens;
use crate::oauth::{OAuth, TokenResponse};

pub(crate) async fn grant(
    oauth: &OAuth<'_>,
    tenant: &Tenant,
    client: &OAuthClient,
    refresh_token: &str,
    scope: Option<&str>,
) -> Result<TokenResponse> {
    let t = oauth.t;
    let (judged, rotation) =
        refresh_tokens::prepare(t, tenant, client, refresh_token, scope).await?;
    let family = &rotation.family;
    let issued = access_tokens::mint(
        t,
        tenant,
        client,
        AccessGrant {
            subject: Some(IdentityId(family.identity_id.0)),
            scopes: rotation.scopes.clone(),
            session_id: family.session_id.map(|s| s.to_string()),
            auth_time: family.auth_time,
            acr: family.acr.clone(),
            amr: family.amr.clone(),
        },
    )
    .await?;
    let next = refresh_tokens::rotate(
        t,
        client,
        &judged,
        &rotation,
        (&issued.jti, issued.expires_at),
    )
    .await?;
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token: Some(next),
        id_token: None,
        scope: rotation.scopes.join(" "),
    })
}
