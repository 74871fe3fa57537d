//! The device authorization grant at the token endpoint (RFC 8628 §3.4, §3.5): the device polls with its
//! `device_code` until the customer decides on the hosted device page.
//!
//! - Only the client the device code was issued to finds it (another client's poll is `invalid_grant`).
//! - While pending: `authorization_pending`; a poll sooner than the interval after the last one is
//!   `slow_down` and raises the interval by 5 s for good. The poll's bookkeeping is a compare-and-swap,
//!   so concurrent polls cannot both pass as "on time".
//! - Denied: `access_denied`; past its life: `expired_token`.
//! - The client is judged as it is now, as the decision judges it: one made third-party (it would need
//!   consent, which the device page does not ask) or no longer allowed the grant since gets
//!   `access_denied` and no tokens, even for a grant approved before the change (R9-6).
//! - Approved: one conditional statement takes the grant, so of any number of concurrent polls exactly
//!   one gets tokens; every later poll is `invalid_grant`.
//! - The tokens are those of the sign-in that approved (identity, session, `auth_time`, `acr`, `amr`), as
//!   for an authorization code, with an ID token when `openid` was granted; the client is recorded in
//!   that session's back-channel logout list, as for a code.
use tessera_model::oauth_client::{GrantType, OAuthClient};
use tessera_model::tenant::Tenant;
use tessera_store::oauth_device_grants::{self as store, DeviceStatus};
use time::Duration;

use crate::oauth::access_tokens::{self, AccessGrant};
use crate::oauth::device::{SLOW_DOWN_SECS, device_code_hash};
use crate::oauth::id_token::{self, IdTokenFacts};
use crate::oauth::refresh_tokens::{self, NewRefresh};
use crate::oauth::{OAuth, TokenResponse, refuse};
use crate::{CoreError, Result};

fn invalid_grant(detail: &'static str) -> CoreError {
    refuse("invalid_grant", detail)
}

pub(crate) async fn grant(
    oauth: &OAuth<'_>,
    tenant: &Tenant,
    client: &OAuthClient,
    device_code: &str,
) -> Result<TokenResponse> {
    let t = oauth.t;
    if device_code.is_empty() || device_code.len() > 200 {
        return Err(invalid_grant("the device_code is unknown or used"));
    }
    let now = t.now();
    let mut conn = t.db().conn().await?;
    let g = store::by_device_code(
        &mut conn,
        tenant.id,
        &client.client_id,
        &device_code_hash(t, device_code),
    )
    .await?;
    drop(conn);
    // A client deleted and registered again under the same id is another client.
    let Some(g) = g.filter(|g| g.created_at >= client.created_at) else {
        return Err(invalid_grant("the device_code is unknown or used"));
    };
    if g.status == DeviceStatus::Redeemed {
        return Err(invalid_grant("the device_code is unknown or used"));
    }
    if g.expires_at <= now {
        return Err(refuse(
            "expired_token",
            "the device_code expired: start a new device authorization",
        ));
    }
    if !client.first_party || !client.allows_grant(GrantType::DeviceCode) {
        return Err(refuse(
            "access_denied",
            "this client may no longer use the device grant without consent",
        ));
    }
    match g.status {
        DeviceStatus::Denied => {
            return Err(refuse("access_denied", "the customer denied the request"));
        }
        DeviceStatus::Pending => {
            let too_fast = g
                .last_polled_at
                .is_some_and(|last| now - last < Duration::seconds(g.interval_secs));
            let interval = if too_fast {
                g.interval_secs + SLOW_DOWN_SECS
            } else {
                g.interval_secs
            };
            let mut tx = t.db().begin().await?;
            let recorded = store::record_poll(&mut tx, g.id, g.polls, now, interval).await?;
            tx.commit().await?;
            // A poll that lost the race to another one came at the same moment: too fast as well.
            return Err(if too_fast || !recorded {
                refuse(
                    "slow_down",
                    format!("poll at most every {interval} seconds"),
                )
            } else {
                refuse("authorization_pending", "the customer has not decided yet")
            });
        }
        DeviceStatus::Approved | DeviceStatus::Redeemed => {}
    }
    let mut tx = t.db().begin().await?;
    let won = store::redeem(&mut tx, g.id, now).await?;
    tx.commit().await?;
    let (Some(identity_id), Some(session_id), Some(auth_time), Some(amr)) =
        (g.identity_id, g.session_id, g.auth_time, g.amr.as_deref())
    else {
        return Err(invalid_grant("the device_code is unknown or used"));
    };
    if !won {
        return Err(invalid_grant("the device_code is unknown or used"));
    }
    // Bound to the sign-in that approved: signed out since, no tokens.
    let mut conn = t.db().conn().await?;
    let session = tessera_store::sessions::get(&mut conn, session_id).await?;
    let state = tessera_store::identities::state(&mut conn, tenant.id, identity_id).await?;
    drop(conn);
    let session = session.filter(|s| s.is_live(now));
    let active = state == Some(tessera_model::identity::IdentityState::Active);
    let Some(session) = session.filter(|_| active) else {
        return Err(invalid_grant(
            "the sign-in that approved this device has ended",
        ));
    };
    // The session's end reaches this client too, as for a code issued in it (back-channel logout).
    let mut tx = t.db().begin().await?;
    crate::oauth::backchannel::participate(t, &mut tx, &session, client).await?;
    tx.commit().await?;
    // Only what the client may still have (OA-14).
    let scopes: Vec<String> = g
        .scopes
        .split(' ')
        .filter(|s| !s.is_empty() && super::still_granted(client, None, s))
        .map(str::to_owned)
        .collect();
    let amr: Vec<String> =
        serde_json::from_str(amr).map_err(|e| CoreError::Internal(format!("stored amr: {e}")))?;
    let issued = access_tokens::mint(
        t,
        tenant,
        client,
        AccessGrant {
            subject: Some(identity_id),
            scopes: scopes.clone(),
            session_id: Some(session_id.to_string()),
            auth_time: Some(auth_time),
            acr: g.acr.clone(),
            amr: amr.clone(),
        },
    )
    .await?;
    let id_token = if scopes.iter().any(|s| s == "openid") {
        let issuer = oauth.issuer(tenant);
        let facts = IdTokenFacts {
            issuer: &issuer,
            subject: identity_id,
            session_id,
            auth_time,
            nonce: None,
            acr: g.acr.as_deref(),
            amr: &amr,
            access_token: &issued.token,
        };
        Some(id_token::issue(t, tenant, client, &facts).await?)
    } else {
        None
    };
    let refresh_token = if client.allows_grant(GrantType::RefreshToken) {
        let started = refresh_tokens::issue_with_access(
            t,
            NewRefresh {
                tenant_id: tenant.id,
                client_id: client.client_id.clone(),
                identity_id,
                session_id: Some(session_id.to_string()),
                offline: scopes.iter().any(|s| s == "offline_access"),
                scopes: scopes.clone(),
                auth_time: Some(auth_time),
                acr: g.acr.clone(),
                amr: amr.clone(),
            },
            Some((issued.jti.as_str(), issued.expires_at)),
        )
        .await?;
        Some(started.token)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token,
        id_token,
        scope: scopes.join(" "),
    })
}
