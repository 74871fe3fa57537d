//! Token introspection (RFC 7662) for an authenticated client (OA-22). A token is active only if it is
//! one of this tenant's, live (not expired, revoked, spent, or cut off with its session or customer:
//! an access token is inactive once its customer is suspended or deleted)
//! and issued to the asking client: another client's token answers `{"active": false}` like an unknown
//! one, so introspection reveals nothing about tokens the caller does not hold (§4).
use serde::Serialize;
use tessera_model::IdentityId;
use tessera_model::identity::IdentityState;
use tessera_model::tenant::Tenant;

use super::refresh_tokens;
use super::revocation::{Kind, search_order};
use super::{ClientAuth, OAuth};
use crate::{CoreError, Result};

/// The answer (RFC 7662 §2.2); only `active` when the token is not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// `Bearer` for access tokens, `refresh_token` for refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The SSO session the token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl Introspection {
    fn inactive() -> Self {
        Self::default()
    }
}

impl OAuth<'_> {
    /// Introspects a token for the authenticated client. Client authentication failures are
    /// `Unauthenticated`; a token that is not active for this client is `active: false`.
    pub async fn introspect(
        &self,
        slug: &str,
        auth: &ClientAuth,
        token: &str,
        hint: Option<&str>,
    ) -> Result<Introspection> {
        let (tenant, client) = self.authenticate_client(slug, auth).await?;
        let issuer = self.issuer(&tenant);
        for kind in search_order(hint) {
            match kind {
                Kind::Refresh => {
                    if let Ok(j) =
                        refresh_tokens::judge(self.t, &tenant, &client.client_id, token).await?
                    {
                        let f = &j.token.family;
                        return Ok(Introspection {
                            active: true,
                            scope: Some(j.token.scopes.join(" ")),
                            client_id: Some(f.client_id.clone()),
                            sub: Some(f.identity_id.to_string()),
                            exp: Some(j.token.expires_at.unix_timestamp()),
                            iat: Some(j.token.created_at.unix_timestamp()),
                            token_type: Some("refresh_token".into()),
                            iss: Some(issuer),
                            aud: None,
                            jti: None,
                            sid: f.session_id.map(|s| s.to_string()),
                        });
                    }
                }
                Kind::Access => match self.verify_access_token_in(&tenant, token).await {
                    Ok(c) if c.client_id == client.client_id => {
                        if c.for_identity && !self.identity_active(&tenant, &c.sub).await? {
                            return Ok(Introspection::inactive());
                        }
                        return Ok(Introspection {
                            active: true,
                            scope: Some(c.scopes.join(" ")),
                            client_id: Some(c.client_id),
                            sub: Some(c.sub),
                            exp: Some(c.exp),
                            iat: Some(c.iat),
                            token_type: Some("Bearer".into()),
                            aud: Some(issuer.clone()),
                            iss: Some(issuer),
                            jti: Some(c.jti),
                            sid: c.session_id,
                        });
                    }
                    Ok(_) | Err(CoreError::BadRequest { .. }) => {}
                    Err(e) => return Err(e),
                },
            }
        }
        Ok(Introspection::inactive())
    }
}

impl OAuth<'_> {
    /// Whether the customer a token acts for may still use it (not suspended, deleted or unknown).
    async fn identity_active(&self, tenant: &Tenant, sub: &str) -> Result<bool> {
        let Ok(id) = sub.parse::<IdentityId>() else {
            return Ok(false);
        };
        let mut conn = self.t.db().conn().await?;
        let found = tessera_store::identities::get(&mut conn, tenant.id, id).await?;
        Ok(found.is_some_and(|i| i.state == IdentityState::Active))
    }
}
