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
use crate::oauth::refresh_tokens::{self, GraceAnswer, Prepared, Rotated};
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
        match refresh_tokens::prepare(t, tenant, client, refresh_token, scope).await? {
            Prepared::Rotate(prepared) => *prepared,
            Prepared::Replay(answer) => return Ok(replayed(oauth, answer)),
        };
    let family = &rotation.family;
    // A client deleted and registered again under the same id is another client: the grants of the
    // first one are not its own.
    if family.created_at < client.created_at {
        return Err(crate::oauth::refuse(
            "invalid_grant",
            "the refresh token is unknown, used or expired",
        ));
    }
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
    let next = match refresh_tokens::rotate(t, client, &judged, &rotation, &issued).await? {
        Rotated::New(next) => next,
        Rotated::Replay(answer) => return Ok(replayed(oauth, answer)),
    };
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token: Some(next),
        id_token: None,
        scope: rotation.scopes.join(" "),
    })
}

/// The answer a refresh within the client's reuse grace gets: the same one the first use got.
fn replayed(oauth: &OAuth<'_>, a: GraceAnswer) -> TokenResponse {
    TokenResponse {
        access_token: a.access_token,
        token_type: "Bearer",
        expires_in: (a.access_expires_at - oauth.t.now().unix_timestamp()).max(0),
        refresh_token: Some(a.refresh_token),
        id_token: None,
        scope: a.scopes.join(" "),
    }
}
