//! Token revocation (RFC 7009) for an authenticated client (OA-22). A refresh token revokes its whole
//! family and the access tokens minted with it; an access token is remembered as revoked by its `jti`
//! until it would have expired. A token that is unknown, already dead, or another client's changes
//! nothing and still succeeds (§2.2), so the endpoint tells nobody whether a token exists. The
//! `token_type_hint` only decides which kind is looked for first (§2.1).
use serde_json::json;
use tessera_model::event::{NewEvent, identity_subject, types};
use tessera_model::oauth_client::OAuthClient;
use tessera_model::tenant::Tenant;
use time::OffsetDateTime;

use super::refresh_tokens::{self, Dead};
use super::{ClientAuth, OAuth};
use crate::{Caller, CoreError, Result};

/// The two kinds of token a hint can name (RFC 7009 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Access,
    Refresh,
}

/// The order to look a token up in: the hinted kind first, an unknown hint ignored (RFC 7662 §2.1 and
/// RFC 7009 §2.1 both extend the search to every kind).
pub(crate) fn search_order(hint: Option<&str>) -> [Kind; 2] {
    match hint {
        Some("access_token") => [Kind::Access, Kind::Refresh],
        _ => [Kind::Refresh, Kind::Access],
    }
}

impl OAuth<'_> {
    /// Revokes a token the authenticated client holds. Client authentication failures are
    /// `Unauthenticated`; everything else about the token succeeds silently.
    pub async fn revoke(
        &self,
        slug: &str,
        auth: &ClientAuth,
        token: &str,
        hint: Option<&str>,
    ) -> Result<()> {
        let (tenant, client) = self.authenticate_client(slug, auth).await?;
        for kind in search_order(hint) {
            let found = match kind {
                Kind::Refresh => self.revoke_refresh(&tenant, &client, token).await?,
                Kind::Access => self.revoke_access(&tenant, &client, token).await?,
            };
            if found {
                break;
            }
        }
        Ok(())
    }

    /// Revokes the family of a refresh token of this client; whether the token was one.
    async fn revoke_refresh(
        &self,
        tenant: &Tenant,
        client: &OAuthClient,
        token: &str,
    ) -> Result<bool> {
        let judged = match refresh_tokens::judge(self.t, tenant, &client.client_id, token).await? {
            Ok(j) => j,
            Err((Dead::Unknown | Dead::Foreign, _)) | Err((_, None)) => return Ok(false),
            Err((_, Some(j))) => j,
        };
        let mut tx = self.t.db().begin().await?;
        refresh_tokens::revoke_family(self.t, &mut tx, &judged.token.family, "client").await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records an access token of this client as revoked; whether the token was a live one of ours.
    async fn revoke_access(
        &self,
        tenant: &Tenant,
        client: &OAuthClient,
        token: &str,
    ) -> Result<bool> {
        let claims = match self.verify_access_token_in(tenant, token).await {
            Ok(c) => c,
            Err(CoreError::BadRequest { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        if claims.client_id != client.client_id {
            return Ok(false);
        }
        let exp = OffsetDateTime::from_unix_timestamp(claims.exp)
            .map_err(|e| CoreError::Internal(format!("access token exp: {e}")))?;
        let mut tx = self.t.db().begin().await?;
        tessera_store::oauth_clients::revoke_token(&mut tx, tenant.id, &claims.jti, exp).await?;
        let subject = match claims.sub.parse() {
            Ok(id) if claims.for_identity => identity_subject(id),
            _ => format!("client:{}", client.client_id),
        };
        let ev = NewEvent::new(
            tenant.id,
            types::ACCESS_TOKEN_REVOKED,
            subject,
            json!({"client_id": client.client_id, "jti": claims.jti}),
        );
        self.t.record(&mut tx, &Caller::system(), ev, None).await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_orders_the_search_but_never_limits_it() {
        assert_eq!(
            search_order(Some("access_token")),
            [Kind::Access, Kind::Refresh]
        );
        assert_eq!(
            search_order(Some("refresh_token")),
            [Kind::Refresh, Kind::Access]
        );
        assert_eq!(
            search_order(Some("id_token")),
            [Kind::Refresh, Kind::Access]
        );
        assert_eq!(search_order(None), [Kind::Refresh, Kind::Access]);
    }
}
