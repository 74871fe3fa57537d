//! Authorization codes (OA-04): 256 random bits, stored only as a keyed hash, live 60 seconds, used once,
//! and bound to everything the token request must match (client, redirect URI, PKCE challenge) and to
//! what the tokens will say (identity, session, `auth_time`, `amr`, `acr`, scopes, nonce).
use serde_json::json;
use tessera_model::event::{NewEvent, identity_subject, types};
use tessera_store::Tx;
use tessera_store::oauth_requests::{self as store, StoredCode};
use tessera_store::sessions::StoredSession;
use time::Duration;

use crate::oauth::authorize::AuthorizationRequest;
use crate::{Caller, CoreError, Result, Tessera};

/// How long a code may wait for its redemption (ASVS L3: at most 60 s).
pub const CODE_TTL: Duration = Duration::seconds(60);

/// The keyed hash a code is stored and looked up under.
pub(crate) fn code_hash(t: &Tessera, code: &str) -> Vec<u8> {
    t.keys()
        .secret_hasher
        .hash(&format!("oauth-code\u{0}{code}"))
}

/// Stores a new code for `req`, answered by `session`, in the caller's transaction; returns the code.
pub(crate) async fn issue(
    t: &Tessera,
    tx: &mut Tx,
    req: &AuthorizationRequest,
    session: &StoredSession,
) -> Result<String> {
    let code = tessera_crypto::random_token()?;
    let now = t.now();
    let amr =
        serde_json::to_string(&session.amr).map_err(|e| CoreError::Internal(e.to_string()))?;
    let row = StoredCode {
        code_hash: code_hash(t, &code),
        tenant_id: session.tenant_id,
        client_id: req.client_id.clone(),
        identity_id: session.identity_id,
        session_id: session.id,
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone(),
        nonce: req.nonce.clone(),
        scopes: req.scopes.join(" "),
        auth_time: session.authenticated_at,
        amr,
        acr: Some(req.acr_for(session.aal).to_owned()),
        created_at: now,
        expires_at: now + CODE_TTL,
        used_at: None,
        reused_at: None,
        access_token_jti: None,
        access_token_expires_at: None,
        refresh_family: None,
    };
    store::insert_code(tx, &row).await?;
    let ev = NewEvent::new(
        session.tenant_id,
        types::OAUTH_CODE_ISSUED,
        identity_subject(session.identity_id),
        json!({
            "client_id": req.client_id,
            "identity_id": session.identity_id,
            "session_id": session.id,
            "scopes": req.scopes,
        }),
    );
    t.record(tx, &Caller::system(), ev, None).await?;
    Ok(code)
}

/// Revokes an access token a code's redemption issued (OA-04), until it would have expired anyway.
pub(crate) async fn revoke_access_token(
    tx: &mut Tx,
    tenant: &tessera_model::tenant::Tenant,
    jti: &str,
    expires_at: time::OffsetDateTime,
) -> Result<()> {
    tessera_store::oauth_clients::revoke_token(tx, tenant.id, jti, expires_at).await?;
    Ok(())
}

/// Forgets expired authorization requests, and codes once every token their redemption could have issued
/// has expired too (until then a code presented again must still find what to revoke). Run with the flow
/// sweeper.
pub(crate) async fn sweep(t: &Tessera) -> Result<u64> {
    let now = t.now();
    let keep_codes = t.settings().key_ring.max_token_lifetime + CODE_TTL;
    let mut tx = t.db().begin().await?;
    let n = store::purge_expired(&mut tx, now, now - keep_codes).await?;
    tx.commit().await?;
    Ok(n)
}
