//! The UserInfo endpoint's answer (OIDC Core §5.3; OIDC-04): the claims of the token's customer that its
//! scopes release (see [`super::claims`]), with `sub` equal to the ID token's. The token must be a
//! customer's (not a client's own, from client credentials), carry `openid`, and its customer must still
//! be active. Refusals are `invalid_token` or `insufficient_scope`, for the resource endpoint's challenge.
use serde_json::{Map, Value, json};
use tessera_model::IdentityId;
use tessera_model::identity::IdentityState;

use crate::Result;
use crate::oauth::{OAuth, claims, refuse};

/// A userinfo answer: the claims, and the client the token was issued to (whose registered origins
/// may read the answer from a browser).
#[derive(Debug, Clone)]
pub struct UserInfo {
    pub claims: Map<String, Value>,
    pub client_id: String,
}

impl OAuth<'_> {
    /// The claims the bearer `token` may read of its customer.
    pub async fn userinfo(&self, slug: &str, token: &str) -> Result<UserInfo> {
        let at = self.verify_access_token(slug, token).await?;
        if !at.for_identity {
            return Err(refuse(
                "invalid_token",
                "this token is a client's own and has no customer",
            ));
        }
        if !at.scopes.iter().any(|s| s == "openid") {
            return Err(refuse(
                "insufficient_scope",
                "userinfo needs a token with the openid scope",
            ));
        }
        let Ok(id) = at.sub.parse::<uuid::Uuid>() else {
            return Err(refuse("invalid_token", "the token names no customer"));
        };
        // The tenant from this node's copy (its id never changes); the customer's state is read now,
        // never cached: a suspended customer is refused at once on every node.
        let tenant = match self.t.tenant_by_slug(slug).await {
            Ok(t) => t,
            Err(crate::CoreError::NotFound { .. }) => {
                return Err(refuse("invalid_token", "unknown issuer"));
            }
            Err(e) => return Err(e),
        };
        let mut conn = self.t.db().conn().await?;
        let identity = tessera_store::identities::get(&mut conn, tenant.id, IdentityId(id))
            .await?
            .filter(|i| i.state == IdentityState::Active)
            .ok_or_else(|| refuse("invalid_token", "the token's customer is not active"))?;
        // Only a token granted one of the tenant's own scopes costs the schema read.
        let schema = if claims::has_tenant_scope(&at.scopes) {
            Some(self.t.schema_of(&mut conn, tenant.id).await?.schema)
        } else {
            None
        };
        drop(conn);
        let mut out = Map::new();
        out.insert("sub".into(), json!(identity.id.to_string()));
        out.extend(claims::for_scopes(&identity, &at.scopes));
        if let Some(schema) = schema {
            out.extend(claims::for_tenant_scopes(&identity, &schema, &at.scopes));
        }
        Ok(UserInfo {
            claims: out,
            client_id: at.client_id,
        })
    }
}
