//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0; OIDC-07): when an SSO session ends for
//! any reason (an app's logout request, the hosted sign-out, a customer or admin revoking sessions, a
//! password reset), every app that got a code in it and registered a `backchannel_logout_uri` is told,
//! server to server, with a logout token.
//!
//! Participation is recorded when a code is issued (`participate`); whatever ends sessions calls
//! `sessions_ended` in its own transaction, which makes the notices of the identity's ended sessions due.
//! The notices are a queue of the worker framework ([`crate::jobs`]): claimed once across nodes with a
//! lease, retried with backoff, given up after the configured attempts with an
//! `oauth.backchannel_logout_failed` event. Delivery (HTTP, with its guard against requests into private
//! networks) is the server's, behind [`LogoutSender`].
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Value, json};
use tessera_model::IdentityId;
use tessera_model::event::{NewEvent, identity_subject, types};
use tessera_model::oauth_client::OAuthClient;
use tessera_store::Tx;
use tessera_store::oauth_logout::{self as store, LogoutNotice};
use tessera_store::sessions::StoredSession;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::jobs::{Failure, Lease, Queue};
use crate::oauth::id_token::alg_of;
use crate::{Caller, CoreError, Result, Tessera};

/// The `typ` of a logout token (Back-Channel Logout §2.4).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";
/// The event a logout token carries.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token is good for: a receiver must get it now or never.
pub const LOGOUT_TOKEN_TTL: time::Duration = time::Duration::minutes(2);

/// Records that `client` got a code in `session`, when it wants to hear of the session's end.
pub(crate) async fn participate(
    t: &Tessera,
    tx: &mut Tx,
    session: &StoredSession,
    client: &OAuthClient,
) -> Result<()> {
    if client.backchannel_logout_uri.is_none() {
        return Ok(());
    }
    store::participate(
        tx,
        session.id,
        session.tenant_id,
        &client.client_id,
        session.identity_id,
        t.now(),
    )
    .await?;
    Ok(())
}

/// Makes the notices of every ended session of `identity` due. Call it in the transaction that ended them.
pub(crate) async fn sessions_ended(t: &Tessera, tx: &mut Tx, identity: IdentityId) -> Result<u64> {
    Ok(store::sessions_ended(tx, identity, t.now()).await?)
}

/// The claims of a logout token for `client` about `session` of `subject`, issued at `now`: `iss`, `aud`,
/// `iat`, `exp`, `jti`, `sub`, `sid` and the back-channel logout event, and never a `nonce` (§2.4).
pub fn logout_claims(
    issuer: &str,
    client: &OAuthClient,
    subject: IdentityId,
    session: Uuid,
    now: OffsetDateTime,
) -> Value {
    let iat = now.unix_timestamp();
    json!({
        "iss": issuer,
        "aud": client.client_id,
        "iat": iat,
        "exp": iat + LOGOUT_TOKEN_TTL.whole_seconds(),
        "jti": Uuid::new_v4().to_string(),
        "sub": subject.0.to_string(),
        "sid": session.to_string(),
        "events": { LOGOUT_EVENT: {} },
    })
}

/// What delivers a logout token to a client's receiver (an HTTP POST; the server implements it).
pub trait LogoutSender: Send + Sync {
    /// POSTs `logout_token` to `uri`. A failure says whether trying again can help.
    fn send<'a>(
        &'a self,
        uri: &'a str,
        logout_token: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + 'a>>;
}

/// The queue of due back-channel logout notices.
pub struct LogoutQueue {
    tessera: Tessera,
    sender: Arc<dyn LogoutSender>,
}

impl LogoutQueue {
    pub fn new(tessera: Tessera, sender: Arc<dyn LogoutSender>) -> Self {
        Self { tessera, sender }
    }

    /// The receiver and a fresh logout token for a notice; none when there is no one to tell any more
    /// (the client was deleted or no longer has a receiver).
    async fn token_for(&self, n: &LogoutNotice) -> Result<Option<(String, String)>> {
        let t = &self.tessera;
        let mut conn = t.db().conn().await?;
        let Some(tenant) = tessera_store::tenants::by_id(&mut conn, n.tenant_id).await? else {
            return Ok(None);
        };
        drop(conn);
        let client = match t.oauth().client_of(&tenant, &n.client_id).await {
            Ok(c) => c,
            Err(CoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(uri) = client.backchannel_logout_uri.clone() else {
            return Ok(None);
        };
        let claims = logout_claims(
            &t.oauth().issuer(&tenant),
            &client,
            n.identity_id,
            n.session_id,
            t.now(),
        );
        let token = t
            .signing_keys()
            .sign_with(tenant.id, alg_of(&client), LOGOUT_TOKEN_TYP, &claims)
            .await?;
        Ok(Some((uri, token)))
    }
}

impl Queue for LogoutQueue {
    type Item = LogoutNotice;

    fn name(&self) -> &'static str {
        "backchannel_logout"
    }

    async fn claim(
        &self,
        lease: &Lease,
        until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<LogoutNotice>> {
        let mut tx = self.tessera.db().begin().await?;
        let items = store::claim(&mut tx, &lease.owner, until, self.tessera.now(), limit).await?;
        tx.commit().await?;
        Ok(items)
    }

    async fn process(&self, item: &LogoutNotice) -> Result<(), Failure> {
        match self.token_for(item).await {
            Ok(Some((uri, token))) => self.sender.send(&uri, &token).await,
            Ok(None) => Ok(()),
            Err(e) => Err(Failure::transient(e.to_string())),
        }
    }

    async fn complete(&self, lease: &Lease, item: &LogoutNotice) -> Result<bool> {
        let mut tx = self.tessera.db().begin().await?;
        let done = store::complete(&mut tx, item.id, &lease.owner, self.tessera.now()).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn retry(
        &self,
        lease: &Lease,
        item: &LogoutNotice,
        at: OffsetDateTime,
        error: &str,
    ) -> Result<bool> {
        let mut tx = self.tessera.db().begin().await?;
        let ok = store::failed(
            &mut tx,
            item.id,
            &lease.owner,
            Some(at),
            self.tessera.now(),
            error,
        )
        .await?;
        tx.commit().await?;
        Ok(ok)
    }

    /// Gives the notice up and records it, in one transaction.
    async fn bury(&self, lease: &Lease, item: &LogoutNotice, error: &str) -> Result<bool> {
        let t = &self.tessera;
        let mut tx = t.db().begin().await?;
        let ok = store::failed(&mut tx, item.id, &lease.owner, None, t.now(), error).await?;
        if ok {
            let ev = NewEvent::new(
                item.tenant_id,
                types::BACKCHANNEL_LOGOUT_FAILED,
                identity_subject(item.identity_id),
                json!({
                    "client_id": item.client_id,
                    "identity_id": item.identity_id,
                    "session_id": item.session_id,
                    "attempts": item.attempts,
                    "error": error.chars().take(300).collect::<String>(),
                }),
            );
            t.record(&mut tx, &Caller::system(), ev, None).await?;
        }
        tx.commit().await?;
        Ok(ok)
    }

    fn attempts(item: &LogoutNotice) -> u32 {
        u32::try_from(item.attempts).unwrap_or(u32::MAX)
    }

    fn id(item: &LogoutNotice) -> Uuid {
        item.id
    }
}

impl crate::oauth::OAuth<'_> {
    /// The back-channel notices about one session (delivered, due, or given up), for support and tests.
    pub async fn logout_notices(&self, session: Uuid) -> Result<Vec<LogoutNotice>> {
        let mut conn = self.t.db().conn().await?;
        Ok(store::of_session(&mut conn, session).await?)
    }

    /// Forgets notices settled, and participations of sessions ended, more than a day ago.
    pub async fn sweep_logout_notices(&self) -> Result<u64> {
        let mut tx = self.t.db().begin().await?;
        let n = store::purge(&mut tx, self.t.now() - time::Duration::days(1)).await?;
        tx.commit().await?;
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn oidc_07_a_logout_token_names_the_session_and_the_event_and_has_no_nonce() {
        let client: OAuthClient = serde_json::from_value(json!({
            "client_id": "shop", "name": "Shop", "kind": "confidential", "first_party": true,
            "token_endpoint_auth": "client_secret_basic", "redirect_uris": [],
            "post_logout_redirect_uris": [], "grant_types": ["client_credentials"],
            "scopes": [], "require_pkce": true, "require_par": false, "signing_alg": "ES256",
            "access_token_format": "jwt", "access_token_ttl_secs": 600, "id_token_ttl_secs": 600,
            "refresh_token_ttl_secs": 600, "allowed_origins": [],
            "backchannel_logout_uri": "https://shop.example/bcl",
            "jwks": null, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "version": 1
        }))
        .unwrap();
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20000);
        let (sub, sid) = (IdentityId(Uuid::now_v7()), Uuid::now_v7());
        let c = logout_claims("https://id.example/t/shop", &client, sub, sid, now);
        assert_eq!(c["iss"], "https://id.example/t/shop");
        assert_eq!(c["aud"], "shop");
        assert_eq!(c["sub"], sub.0.to_string());
        assert_eq!(c["sid"], sid.to_string());
        assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 120);
        assert_eq!(c["events"], json!({LOGOUT_EVENT: {}}));
        assert!(c["jti"].as_str().is_some_and(|j| !j.is_empty()));
        assert!(c.get("nonce").is_none());
    }
}
