//! The authorization code grant at the token endpoint (RFC 6749 §4.1.3, OIDC Core §3.1.3; RFC 7636).
//!
//! The code is redeemed first, by one conditional statement that commits on its own (OA-04: of any
//! number of concurrent redemptions exactly one wins, and whatever is wrong with the request after that,
//! the code is gone: one wrong PKCE verifier burns it, OA-08). Then the request must match what the code
//! is bound to: the authenticated client (the redemption only finds the client's own codes, OA-05), the
//! redirect URI, byte for byte, and the PKCE challenge, both ways (a verifier for a code without a
//! challenge is a downgrade, OA-07). A code presented again is `invalid_grant` and revokes what its first
//! redemption issued; if that redemption is still in flight, it finds the mark when it records what it
//! issued and revokes it itself (its answer stays the one success, with tokens already revoked, as if the
//! second presentation had come a moment later).
use serde_json::json;
use tessera_model::event::{NewEvent, identity_subject, types};
use tessera_model::oauth_client::{GrantType, OAuthClient};
use tessera_model::tenant::Tenant;
use tessera_store::Tx;
use tessera_store::oauth_requests::{self as store, StoredCode};

use crate::oauth::access_tokens::{self, AccessGrant};
use crate::oauth::authorize::pkce_syntax;
use crate::oauth::codes::code_hash;
use crate::oauth::id_token::{self, IdTokenFacts};
use crate::oauth::refresh_tokens::{self, NewRefresh};
use crate::oauth::{OAuth, TokenResponse, refuse};
use crate::{Caller, Result, Tessera};

fn invalid_grant(detail: &'static str) -> crate::CoreError {
    refuse("invalid_grant", detail)
}

/// Revokes what a code's first redemption issued (its access token; its refresh-token family once
/// refresh tokens exist).
async fn revoke_issued(t: &Tessera, tx: &mut Tx, tenant: &Tenant, code: &StoredCode) -> Result<()> {
    if let (Some(jti), Some(exp)) = (&code.access_token_jti, code.access_token_expires_at) {
        crate::oauth::codes::revoke_access_token(tx, tenant, jti, exp).await?;
    }
    if let Some(family) = &code.refresh_family {
        refresh_tokens::revoke_family_by_id(t, tx, tenant.id, family, "code_reused").await?;
    }
    let ev = NewEvent::new(
        tenant.id,
        types::OAUTH_CODE_REUSED,
        identity_subject(code.identity_id),
        json!({
            "client_id": code.client_id,
            "identity_id": code.identity_id,
            "session_id": code.session_id,
        }),
    );
    t.record(tx, &Caller::system(), ev, None).await
}

pub(crate) async fn grant(
    oauth: &OAuth<'_>,
    tenant: &Tenant,
    client: &OAuthClient,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
) -> Result<TokenResponse> {
    let t = oauth.t;
    // A verifier outside the RFC's syntax cannot match any challenge: refused before the code is touched.
    if code_verifier.is_some_and(|v| !pkce_syntax(v)) {
        return Err(refuse(
            "invalid_request",
            "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
        ));
    }
    if code.is_empty() || code.len() > 200 {
        return Err(invalid_grant("the code is unknown, used or expired"));
    }
    let hash = code_hash(t, code);
    let now = t.now();
    let mut tx = t.db().begin().await?;
    let Some(c) = store::redeem_code(&mut tx, tenant.id, &client.client_id, &hash, now).await?
    else {
        if let Some(used) =
            store::mark_reused(&mut tx, tenant.id, &client.client_id, &hash, now).await?
        {
            revoke_issued(t, &mut tx, tenant, &used).await?;
        }
        tx.commit().await?;
        return Err(invalid_grant("the code is unknown, used or expired"));
    };
    tx.commit().await?;
    // A client deleted and registered again under the same id is another client (its codes are not
    // the new one's).
    if c.expires_at <= now || c.created_at < client.created_at {
        return Err(invalid_grant("the code is unknown, used or expired"));
    }
    if redirect_uri != Some(c.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri must be the one of the authorization request",
        ));
    }
    let pkce_holds = match (&c.code_challenge, code_verifier) {
        (Some(challenge), Some(v)) => tessera_crypto::constant_time_eq(
            tessera_crypto::pkce_s256(v).as_bytes(),
            challenge.as_bytes(),
        ),
        (None, None) => true,
        _ => false,
    };
    if !pkce_holds {
        return Err(invalid_grant("the code_verifier does not match the code"));
    }
    // The code is bound to the session that answered: signed out since, no tokens.
    let mut conn = t.db().conn().await?;
    let session = tessera_store::sessions::get(&mut conn, c.session_id).await?;
    let state = tessera_store::identities::state(&mut conn, tenant.id, c.identity_id).await?;
    drop(conn);
    let live = session.is_some_and(|s| s.is_live(now))
        && state == Some(tessera_model::identity::IdentityState::Active);
    if !live {
        return Err(invalid_grant("the sign-in behind this code has ended"));
    }
    // Only what the client may still have (a scope taken from it since the request is not granted,
    // OA-14) and, if it is third party now, what the customer consented to (R12-1).
    let consented =
        crate::oauth::consent::consented_scopes(t, tenant, client, c.identity_id).await?;
    let scopes: Vec<String> = c
        .scopes
        .split(' ')
        .filter(|s| super::still_granted(client, consented.as_deref(), s))
        .map(str::to_owned)
        .collect();
    let amr: Vec<String> = serde_json::from_str(&c.amr)
        .map_err(|e| crate::CoreError::Internal(format!("stored amr: {e}")))?;
    let issued = access_tokens::mint(
        t,
        tenant,
        client,
        AccessGrant {
            subject: Some(c.identity_id),
            scopes: scopes.clone(),
            session_id: Some(c.session_id.to_string()),
            auth_time: Some(c.auth_time),
            acr: c.acr.clone(),
            amr: amr.clone(),
        },
    )
    .await?;
    let id_token = if scopes.iter().any(|s| s == "openid") {
        let issuer = oauth.issuer(tenant);
        let facts = IdTokenFacts {
            issuer: &issuer,
            subject: c.identity_id,
            session_id: c.session_id,
            auth_time: c.auth_time,
            nonce: c.nonce.as_deref(),
            acr: c.acr.as_deref(),
            amr: &amr,
            access_token: &issued.token,
        };
        Some(id_token::issue(t, tenant, client, &facts).await?)
    } else {
        None
    };
    // A refresh token when the client may refresh: a new family, bound to the session unless the
    // customer granted `offline_access`, recorded on the code so the code's reuse ends it (OA-04). The
    // family and the code's record are written in one transaction.
    let mut tx = t.db().begin().await?;
    let (refresh_token, refresh_family) = if client.allows_grant(GrantType::RefreshToken) {
        let started = refresh_tokens::issue_in(
            t,
            &mut tx,
            client,
            NewRefresh {
                tenant_id: tenant.id,
                client_id: client.client_id.clone(),
                identity_id: c.identity_id,
                session_id: Some(c.session_id.to_string()),
                offline: scopes.iter().any(|s| s == "offline_access"),
                scopes: scopes.clone(),
                auth_time: Some(c.auth_time),
                acr: c.acr.clone(),
                amr: amr.clone(),
            },
            Some((issued.jti.as_str(), issued.expires_at)),
        )
        .await?;
        (Some(started.token), Some(started.family_id))
    } else {
        (None, None)
    };
    let reused = store::record_issued(
        &mut tx,
        &hash,
        &issued.jti,
        issued.expires_at,
        refresh_family.as_deref(),
    )
    .await?;
    if reused {
        // Presented again while this redemption was in flight: what it issued is revoked, as it would have
        // been had the second presentation come a moment later. The answer stays the one success.
        crate::oauth::codes::revoke_access_token(&mut tx, tenant, &issued.jti, issued.expires_at)
            .await?;
        if let Some(family) = &refresh_family {
            refresh_tokens::revoke_family_by_id(t, &mut tx, tenant.id, family, "code_reused")
                .await?;
        }
    }
    tx.commit().await?;
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token,
        id_token,
        scope: scopes.join(" "),
    })
}
