//! The client of the demo app a development node serves (`/dev/demo-app`): a first-party public client
//! with PKCE, registered in the default tenant when a development node starts, so a newcomer can click
//! "Sign in with Tessera" and see what an app receives. Production nodes never register it.
use tessera_model::oauth_client::{ClientKind, GrantType};

use super::{NewClient, OAuth};
use crate::{Caller, CoreError, Result};

/// The demo app's client id.
pub const DEMO_CLIENT_ID: &str = "tessera-demo";

impl OAuth<'_> {
    /// Registers the demo app's client in tenant `slug` with this redirect URI, unless it exists.
    pub async fn ensure_demo_client(&self, slug: &str, redirect_uri: &str) -> Result<()> {
        match self.client(slug, DEMO_CLIENT_ID).await {
            Ok(_) => return Ok(()),
            Err(CoreError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let req = NewClient {
            client_id: Some(DEMO_CLIENT_ID.into()),
            name: "Tessera demo app".into(),
            kind: ClientKind::Public,
            first_party: true,
            token_endpoint_auth: None,
            redirect_uris: vec![redirect_uri.into()],
            post_logout_redirect_uris: Vec::new(),
            grant_types: Some(vec![GrantType::AuthorizationCode]),
            scopes: Some(
                ["openid", "profile", "email", "phone", "address"]
                    .map(str::to_owned)
                    .to_vec(),
            ),
            require_pkce: true,
            require_par: false,
            signing_alg: None,
            access_token_format: None,
            access_token_ttl_secs: None,
            id_token_ttl_secs: None,
            refresh_token_ttl_secs: None,
            refresh_reuse_grace_secs: None,
            allowed_origins: Vec::new(),
            backchannel_logout_uri: None,
            required_attributes: vec![],
            jwks: None,
        };
        match self.create(&Caller::system(), slug, req).await {
            Ok(_) | Err(CoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
