//! TEMPORARY stand-in for the orchestrator's `oauth/mod.rs` ("OAuth clients" commit), so the authz
//! helper's modules compile before it lands. On merge, main's file wins and only the `pub mod` lines of
//! the authz modules are added to it.
use tessera_model::oauth_client::OAuthClient;
use tessera_model::tenant::Tenant;

use crate::{CoreError, Result, Tessera};

pub mod authorize;
pub mod claims;
pub mod codes;
pub mod discovery;
pub mod id_token;

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
    pub async fn client(&self, tenant_slug: &str, client_id: &str) -> Result<(Tenant, OAuthClient)> {
        let _ = (self.t, tenant_slug, client_id);
        Err(CoreError::NotFound { what: "client" })
    }
}
