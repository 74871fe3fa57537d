//! TEMPORARY stand-in for the orchestrator's `oauth/mod.rs` ("OAuth clients" commit), mirroring the
//! interfaces of the contract so the authz helper's modules compile before it lands. On merge, main's
//! file wins and only the authz modules' `pub mod` lines (and `grants::authorization_code`) are added.
use tessera_model::oauth_client::OAuthClient;
use tessera_model::tenant::Tenant;

use crate::{CoreError, Result, Tessera};

pub mod authorize;
pub mod claims;
pub mod codes;
pub mod discovery;
pub mod id_token;
pub mod userinfo;

#[allow(dead_code)] // Stand-in: main's token endpoint dispatches to the grant.
pub(crate) mod grants {
    pub(crate) mod authorization_code;
}

/// Stand-in for main's `access_tokens`.
pub mod access_tokens {
    use tessera_model::IdentityId;
    use tessera_model::oauth_client::OAuthClient;
    use tessera_model::tenant::Tenant;
    use time::OffsetDateTime;

    use crate::{CoreError, Result, Tessera};

    #[derive(Debug, Clone, Default)]
    pub struct AccessGrant {
        pub subject: Option<IdentityId>,
        pub scopes: Vec<String>,
        pub session_id: Option<String>,
        pub auth_time: Option<OffsetDateTime>,
        pub acr: Option<String>,
        pub amr: Vec<String>,
    }

    pub struct IssuedAccessToken {
        pub token: String,
        pub expires_in: i64,
        pub jti: String,
        pub expires_at: OffsetDateTime,
    }

    #[derive(Debug, Clone)]
    pub struct AccessClaims {
        pub sub: String,
        pub for_identity: bool,
        pub client_id: String,
        pub scopes: Vec<String>,
        pub jti: String,
        pub iat: i64,
        pub exp: i64,
        pub session_id: Option<String>,
    }

    pub async fn mint(
        t: &Tessera,
        tenant: &Tenant,
        client: &OAuthClient,
        grant: AccessGrant,
    ) -> Result<IssuedAccessToken> {
        let _ = (t, tenant, client, grant);
        Err(CoreError::Internal("stand-in".into()))
    }
}

/// Stand-in for main's `TokenResponse`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub scope: String,
}

/// OAuth 2.0 and OpenID Connect, borrowed from the facade: `t.oauth()`.
#[derive(Clone, Copy, Debug)]
pub struct OAuth<'a> {
    t: &'a Tessera,
}

impl Tessera {
    /// OAuth 2.0 and OpenID Connect.
    pub fn oauth(&self) -> OAuth<'_> {
        OAuth { t: self }
    }
}

impl OAuth<'_> {
    /// Stand-in: the orchestrator's lookup of a registered client.
    pub async fn client(
        &self,
        tenant_slug: &str,
        client_id: &str,
    ) -> Result<(Tenant, OAuthClient)> {
        let _ = (self.t, tenant_slug, client_id);
        Err(CoreError::NotFound { what: "client" })
    }

    /// Stand-in: main's access token check.
    pub async fn verify_access_token(
        &self,
        slug: &str,
        token: &str,
    ) -> Result<access_tokens::AccessClaims> {
        let _ = (slug, token);
        Err(refuse("invalid_token", "stand-in"))
    }

    /// The issuer identifier of a tenant.
    pub fn issuer(&self, tenant: &Tenant) -> String {
        issuer_of(&self.t.settings().base_url, &tenant.slug)
    }
}

/// The issuer for a base URL and tenant slug.
pub fn issuer_of(base: &url::Url, slug: &str) -> String {
    format!("{}/t/{slug}", base.as_str().trim_end_matches('/'))
}

/// A protocol refusal with its registered OAuth error code.
pub(crate) fn refuse(code: &'static str, detail: impl Into<String>) -> CoreError {
    CoreError::BadRequest {
        code,
        detail: detail.into(),
    }
}
