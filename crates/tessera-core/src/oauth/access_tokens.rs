//! Access tokens as JWTs (RFC 9068: `typ` `at+jwt`), signed by the tenant's key ring with the client's
//! algorithm, so a resource server checks them with the JWKS alone. Each has a `jti`, so one revoked
//! before it expires (RFC 7009) is refused by Tessera's own resource endpoints and by introspection.
//!
//! A client registered with `access_token_format: "opaque"` gets a random `tat_…` token instead: the
//! same claims are stored under its keyed hash (`oauth_access_tokens`), so the token says nothing to
//! whoever holds it, a resource server must introspect it, and every check below runs on the stored
//! claims exactly as on a JWT's. It costs one write per token that a JWT does not.
//!
//! The audience is the tenant's issuer: Tessera's own resources (userinfo) and the business's APIs that
//! trust the tenant share it until resource indicators (RFC 8707) arrive.
use serde_json::{Value, json};
use tessera_crypto::jws::JwsAlg;
use tessera_model::IdentityId;
use tessera_model::oauth_client::{AccessTokenFormat, OAuthClient};
use tessera_model::tenant::Tenant;
use time::OffsetDateTime;

use super::OAuth;
use crate::signing_keys::VerifyError;
use crate::{CoreError, Result, Tessera};

/// The media type of a JWT access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// How an opaque access token starts (a JWT starts with `ey`), so verification knows where to look.
pub const OPAQUE_PREFIX: &str = "tat_";

fn opaque_hash(t: &Tessera, token: &str) -> Vec<u8> {
    t.keys()
        .secret_hasher
        .hash(&format!("oauth-access-token\u{0}{token}"))
}

/// What an access token grants.
#[derive(Debug, Clone, Default)]
pub struct AccessGrant {
    /// The customer the token acts for; `None` for a client acting for itself (client credentials).
    pub subject: Option<IdentityId>,
    pub scopes: Vec<String>,
    /// The SSO session the token came from (`sid`).
    pub session_id: Option<String>,
    pub auth_time: Option<OffsetDateTime>,
    pub acr: Option<String>,
    pub amr: Vec<String>,
}

/// A minted access token.
#[derive(Debug, Clone)]
pub struct IssuedAccessToken {
    pub token: String,
    pub expires_in: i64,
    pub jti: String,
    pub expires_at: OffsetDateTime,
}

/// What a verified access token says.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessClaims {
    /// The identity id, or the client id for a client acting for itself.
    pub sub: String,
    /// Whether `sub` is a customer (else the token is the client's own: RFC 9068 §2.2 makes `sub` the
    /// client id then; a client id is never shaped like an identity id, so the two cannot be confused).
    pub for_identity: bool,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub session_id: Option<String>,
}

/// The JOSE algorithm the client signs with (checked when it registered).
pub(crate) fn client_alg(client: &OAuthClient) -> Result<JwsAlg> {
    JwsAlg::parse(&client.signing_alg).ok_or_else(|| {
        CoreError::Internal(format!(
            "client {} has signing_alg {:?}",
            client.client_id, client.signing_alg
        ))
    })
}

/// Mints an access token for `client` under `tenant`.
pub async fn mint(
    t: &Tessera,
    tenant: &Tenant,
    client: &OAuthClient,
    grant: AccessGrant,
) -> Result<IssuedAccessToken> {
    let now = t.now();
    let expires_at = now + time::Duration::seconds(client.access_token_ttl_secs);
    let issuer = t.oauth().issuer(tenant);
    let jti = tessera_crypto::random_token()?;
    let sub = match grant.subject {
        Some(id) => id.to_string(),
        None => client.client_id.clone(),
    };
    let mut claims = json!({
        "iss": issuer,
        "sub": sub,
        "aud": issuer,
        "client_id": client.client_id,
        "iat": now.unix_timestamp(),
        "exp": expires_at.unix_timestamp(),
        "jti": jti,
        "scope": grant.scopes.join(" "),
    });
    if let Some(obj) = claims.as_object_mut() {
        if let Some(at) = grant.auth_time {
            obj.insert("auth_time".into(), json!(at.unix_timestamp()));
        }
        if let Some(acr) = grant.acr {
            obj.insert("acr".into(), json!(acr));
        }
        if !grant.amr.is_empty() {
            obj.insert("amr".into(), json!(grant.amr));
        }
        if let Some(sid) = grant.session_id {
            obj.insert("sid".into(), json!(sid));
        }
    }
    let token = match client.access_token_format {
        AccessTokenFormat::Jwt => {
            t.signing_keys()
                .sign_with(tenant.id, client_alg(client)?, ACCESS_TOKEN_TYP, &claims)
                .await?
        }
        AccessTokenFormat::Opaque => {
            let token = format!("{OPAQUE_PREFIX}{}", tessera_crypto::random_token()?);
            let mut tx = t.db().begin().await?;
            tessera_store::oauth_access_tokens::insert(
                &mut tx,
                &opaque_hash(t, &token),
                tenant.id,
                &claims.to_string(),
                expires_at,
            )
            .await?;
            tx.commit().await?;
            token
        }
    };
    Ok(IssuedAccessToken {
        token,
        expires_in: client.access_token_ttl_secs,
        jti,
        expires_at,
    })
}

/// Why an access token is refused, said once for the resource endpoints (`invalid_token`).
fn invalid(detail: &str) -> CoreError {
    super::refuse("invalid_token", detail)
}

impl OAuth<'_> {
    /// Checks an access token the tenant issued: signature by a published key of the tenant (so a token
    /// of another tenant fails), `typ` `at+jwt`, issuer and audience this tenant's, not expired, not
    /// revoked. Every refusal is `invalid_token`.
    pub async fn verify_access_token(&self, slug: &str, token: &str) -> Result<AccessClaims> {
        let tenant = self.t.tenant_by_slug(slug).await?;
        self.verify_access_token_in(&tenant, token).await
    }

    pub(crate) async fn verify_access_token_in(
        &self,
        tenant: &Tenant,
        token: &str,
    ) -> Result<AccessClaims> {
        let claims = if token.starts_with(OPAQUE_PREFIX) {
            self.opaque_claims(tenant, token).await?
        } else {
            match self
                .t
                .signing_keys()
                .verify(tenant.id, token, ACCESS_TOKEN_TYP)
                .await
            {
                Ok(c) => c,
                Err(VerifyError::Core(e)) => return Err(e),
                Err(VerifyError::Expired) => return Err(invalid("the access token expired")),
                Err(_) => return Err(invalid("the access token is not valid")),
            }
        };
        let issuer = self.issuer(tenant);
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
        if text("iss").as_deref() != Some(issuer.as_str())
            || text("aud").as_deref() != Some(issuer.as_str())
        {
            return Err(invalid("the access token is not for this issuer"));
        }
        let (Some(sub), Some(client_id), Some(jti)) = (text("sub"), text("client_id"), text("jti"))
        else {
            return Err(invalid("the access token is not valid"));
        };
        let num = |k: &str| claims.get(k).and_then(Value::as_i64).unwrap_or_default();
        // The client must still exist, as the one that got the token (not one registered again under
        // its id since). It comes from this node's copy: a client deleted on another node stops its
        // tokens here within `cache::CLIENT_TTL`, one deleted on this node at once.
        let client = match self.cached_client(tenant.id, &client_id).await {
            Ok(c) => Some(c),
            Err(CoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let iat = num("iat");
        if client.is_none_or(|c| c.1.created_at.unix_timestamp() > iat) {
            return Err(invalid("the access token's client is gone"));
        }
        // Revocation and the session are read on every request, never cached: a token from a
        // sign-in ends with that sign-in's session, and revoking either stops it at once everywhere.
        let mut conn = self.t.db().conn().await?;
        if tessera_store::oauth_clients::is_revoked(&mut conn, tenant.id, &jti).await? {
            return Err(invalid("the access token was revoked"));
        }
        let sid = text("sid");
        if let Some(sid) = &sid {
            let live = match uuid::Uuid::parse_str(sid) {
                Ok(id) => tessera_store::sessions::get(&mut conn, id)
                    .await?
                    .is_some_and(|s| s.is_live(self.t.now())),
                Err(_) => false,
            };
            if !live {
                return Err(invalid("the sign-in behind the access token has ended"));
            }
        }
        drop(conn);
        let scopes = text("scope")
            .map(|s| {
                s.split(' ')
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(AccessClaims {
            for_identity: sub != client_id,
            sub,
            client_id,
            scopes,
            jti,
            iat: num("iat"),
            exp: num("exp"),
            session_id: text("sid"),
        })
    }

    /// The stored claims of an opaque token of this tenant, unless it is unknown or expired.
    async fn opaque_claims(
        &self,
        tenant: &Tenant,
        token: &str,
    ) -> Result<serde_json::Map<String, Value>> {
        let mut conn = self.t.db().conn().await?;
        let found = tessera_store::oauth_access_tokens::get(
            &mut conn,
            tenant.id,
            &opaque_hash(self.t, token),
        )
        .await?;
        drop(conn);
        let Some((claims, expires_at)) = found else {
            return Err(invalid("the access token is not valid"));
        };
        if self.t.now() >= expires_at {
            return Err(invalid("the access token expired"));
        }
        match serde_json::from_str(&claims) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(CoreError::Internal("stored access token claims".into())),
        }
    }
}
