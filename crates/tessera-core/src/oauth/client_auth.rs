//! Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3, OIDC Core
//! §9). Every failure is the same `Unauthenticated` (rendered `invalid_client`): an unknown client, a
//! wrong secret and a method the client did not register are not told apart. A client uses exactly the
//! method it registered (a `client_secret_basic` client sending its secret in the body is refused).
use std::collections::BTreeMap;

use tessera_crypto::jws::{Jwk, VerifyingKey};
use tessera_model::oauth_client::{OAuthClient, TokenEndpointAuth};
use tessera_model::tenant::Tenant;

use super::OAuth;
use crate::{CoreError, Result};

/// How a client presented itself.
#[derive(Clone)]
pub enum ClientAuth {
    /// `Authorization: Basic` with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    Basic { client_id: String, secret: String },
    /// `client_id` and `client_secret` in the body.
    Post { client_id: String, secret: String },
    /// `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` (RFC 7523).
    Assertion {
        client_id: Option<String>,
        jwt: String,
    },
    /// A public client names itself and proves nothing.
    None { client_id: String },
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { client_id, .. } => write!(f, "Basic({client_id})"),
            Self::Post { client_id, .. } => write!(f, "Post({client_id})"),
            Self::Assertion { client_id, .. } => write!(f, "Assertion({client_id:?})"),
            Self::None { client_id } => write!(f, "None({client_id})"),
        }
    }
}

impl ClientAuth {
    /// The method this presentation is, to compare with the registered one.
    fn method(&self) -> TokenEndpointAuth {
        match self {
            Self::Basic { .. } => TokenEndpointAuth::ClientSecretBasic,
            Self::Post { .. } => TokenEndpointAuth::ClientSecretPost,
            Self::Assertion { .. } => TokenEndpointAuth::PrivateKeyJwt,
            Self::None { .. } => TokenEndpointAuth::None,
        }
    }
}

/// Why a client's JWKS cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "a JWKS of 1 to 20 signing keys (EC P-256, RSA of 2048 bits or more, Ed25519), each with a unique kid, its alg and use sig"
)]
pub struct UnusableJwks;

/// Parses a client's registered JWKS into verifying keys by `kid`. Each key needs `kid` and `alg`
/// (Tessera verifies a key with its one algorithm only, JWT-01); at most 20 keys, kids unique.
pub fn parse_client_jwks(
    text: &str,
) -> std::result::Result<BTreeMap<String, VerifyingKey>, UnusableJwks> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<Jwk>,
    }
    let set: Set = serde_json::from_str(text).map_err(|_| UnusableJwks)?;
    if set.keys.is_empty() || set.keys.len() > 20 {
        return Err(UnusableJwks);
    }
    let mut out = BTreeMap::new();
    for k in &set.keys {
        if k.kid.is_empty() || k.kid.len() > 200 || k.use_ != "sig" {
            return Err(UnusableJwks);
        }
        let key = VerifyingKey::from_jwk(k).map_err(|_| UnusableJwks)?;
        if out.insert(k.kid.clone(), key).is_some() {
            return Err(UnusableJwks);
        }
    }
    Ok(out)
}

impl OAuth<'_> {
    /// Authenticates a client of the tenant with this slug by the method it registered.
    pub async fn authenticate_client(
        &self,
        slug: &str,
        auth: &ClientAuth,
    ) -> Result<(Tenant, OAuthClient)> {
        let tenant = self.t.tenant_by_slug(slug).await?;
        let client = self.authenticate_in(&tenant, auth).await?;
        Ok((tenant, client))
    }

    pub(crate) async fn authenticate_in(
        &self,
        tenant: &Tenant,
        auth: &ClientAuth,
    ) -> Result<OAuthClient> {
        let claimed = match auth {
            ClientAuth::Basic { client_id, .. }
            | ClientAuth::Post { client_id, .. }
            | ClientAuth::None { client_id } => client_id.clone(),
            ClientAuth::Assertion { client_id, jwt } => match client_id {
                Some(id) => id.clone(),
                None => super::client_assertion::claimed_client(jwt)?,
            },
        };
        let found = match self.cached_client(tenant.id, &claimed).await {
            Ok(found) => found,
            Err(CoreError::NotFound { .. }) => return Err(CoreError::Unauthenticated),
            Err(e) => return Err(e),
        };
        let (client, stored) = (found.0.clone(), &found.1);
        if client.token_endpoint_auth != auth.method() {
            return Err(CoreError::Unauthenticated);
        }
        match auth {
            ClientAuth::None { .. } => Ok(client),
            ClientAuth::Basic { secret, .. } | ClientAuth::Post { secret, .. } => {
                if secret.is_empty() || secret.len() > 200 {
                    return Err(CoreError::Unauthenticated);
                }
                let presented = self.t.keys().secret_hasher.hash(secret);
                let current = stored
                    .secret_hash
                    .as_deref()
                    .is_some_and(|h| tessera_crypto::constant_time_eq(h, &presented));
                let previous = stored
                    .previous_secret_expires_at
                    .is_some_and(|until| self.t.now() < until)
                    && stored
                        .previous_secret_hash
                        .as_deref()
                        .is_some_and(|h| tessera_crypto::constant_time_eq(h, &presented));
                if current || previous {
                    Ok(client)
                } else {
                    Err(CoreError::Unauthenticated)
                }
            }
            ClientAuth::Assertion { jwt, .. } => {
                super::client_assertion::verify(self, tenant, &client, jwt).await?;
                Ok(client)
            }
        }
    }
}
