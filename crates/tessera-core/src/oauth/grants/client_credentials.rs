//! The client credentials grant (RFC 6749 §4.4): a confidential client asks for a token for itself. No
//! customer is involved, so the scopes that describe a customer (`openid`, `profile`…, `offline_access`)
//! are refused, and no refresh token is issued (§4.4.3).
use tessera_model::oauth_client::OAuthClient;
use tessera_model::tenant::Tenant;

use crate::Result;
use crate::oauth::access_tokens::{self, AccessGrant};
use crate::oauth::{OAuth, TokenResponse, parse_scope, refuse};

/// Scopes about a customer, meaningless when the client acts for itself.
const CUSTOMER_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "phone",
    "address",
    "offline_access",
];

pub(crate) async fn grant(
    oauth: &OAuth<'_>,
    tenant: &Tenant,
    client: &OAuthClient,
    scope: Option<&str>,
) -> Result<TokenResponse> {
    let scopes = match scope {
        Some(s) => {
            let asked = parse_scope(s)?;
            if let Some(bad) = asked.iter().find(|s| CUSTOMER_SCOPES.contains(&s.as_str())) {
                return Err(refuse(
                    "invalid_scope",
                    format!(
                        "{bad} describes a customer; a client acting for itself cannot have it"
                    ),
                ));
            }
            if let Some(bad) = asked.iter().find(|s| !client.allows_scope(s)) {
                return Err(refuse(
                    "invalid_scope",
                    format!("this client may not ask for {bad}"),
                ));
            }
            asked
        }
        None => client
            .scopes
            .iter()
            .filter(|s| !CUSTOMER_SCOPES.contains(&s.as_str()))
            .cloned()
            .collect(),
    };
    let issued = access_tokens::mint(
        oauth.t,
        tenant,
        client,
        AccessGrant {
            scopes: scopes.clone(),
            ..AccessGrant::default()
        },
    )
    .await?;
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token: None,
        id_token: None,
        scope: scopes.join(" "),
    })
}
