//! The token endpoint's logic (RFC 6749 §3.2): authenticate the client by its registered method, check
//! it may use the grant, and hand the request to the grant's own file under `grants/`.
use std::collections::BTreeMap;

use serde::Serialize;

use super::{ClientAuth, OAuth, grants, refuse};
use crate::Result;
use tessera_model::oauth_client::GrantType;

/// A token request, one variant per grant Tessera implements. There is no implicit and no password
/// grant: asking for one is `unsupported_grant_type`.
#[derive(Clone)]
pub enum TokenRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<String>,
    },
    ClientCredentials {
        scope: Option<String>,
    },
    /// RFC 8628 §3.4.
    DeviceCode {
        device_code: String,
    },
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.grant().as_str())
    }
}

impl TokenRequest {
    /// Reads the request from the endpoint's parameters (each present at most once: the server refuses
    /// repeats before this). Client-authentication parameters are the caller's business.
    pub fn from_params(p: &BTreeMap<String, String>) -> Result<Self> {
        let get = |k: &str| p.get(k).filter(|v| !v.is_empty()).cloned();
        let need = |k: &'static str| {
            get(k).ok_or_else(|| refuse("invalid_request", format!("{k} is required")))
        };
        let Some(grant) = get("grant_type") else {
            return Err(refuse("invalid_request", "grant_type is required"));
        };
        match GrantType::parse(&grant) {
            Some(GrantType::AuthorizationCode) => Ok(Self::AuthorizationCode {
                code: need("code")?,
                redirect_uri: get("redirect_uri"),
                code_verifier: get("code_verifier"),
            }),
            Some(GrantType::RefreshToken) => Ok(Self::RefreshToken {
                refresh_token: need("refresh_token")?,
                scope: get("scope"),
            }),
            Some(GrantType::ClientCredentials) => Ok(Self::ClientCredentials {
                scope: get("scope"),
            }),
            Some(GrantType::DeviceCode) => Ok(Self::DeviceCode {
                device_code: need("device_code")?,
            }),
            None => Err(refuse(
                "unsupported_grant_type",
                "grant_type must be authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:device_code",
            )),
        }
    }

    /// The grant this request uses.
    pub fn grant(&self) -> GrantType {
        match self {
            Self::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            Self::RefreshToken { .. } => GrantType::RefreshToken,
            Self::ClientCredentials { .. } => GrantType::ClientCredentials,
            Self::DeviceCode { .. } => GrantType::DeviceCode,
        }
    }
}

/// A successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The scopes granted, space-separated.
    pub scope: String,
}

impl OAuth<'_> {
    /// Answers a token request of an authenticated client.
    pub async fn token(
        &self,
        slug: &str,
        auth: &ClientAuth,
        req: TokenRequest,
    ) -> Result<TokenResponse> {
        let (tenant, client) = self.authenticate_client(slug, auth).await?;
        if !client.allows_grant(req.grant()) {
            return Err(refuse(
                "unauthorized_client",
                format!("this client may not use {}", req.grant().as_str()),
            ));
        }
        match req {
            TokenRequest::ClientCredentials { scope } => {
                grants::client_credentials::grant(self, &tenant, &client, scope.as_deref()).await
            }
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                grants::authorization_code::grant(
                    self,
                    &tenant,
                    &client,
                    &code,
                    redirect_uri.as_deref(),
                    code_verifier.as_deref(),
                )
                .await
            }
            TokenRequest::DeviceCode { device_code } => {
                grants::device_code::grant(self, &tenant, &client, &device_code).await
            }
            TokenRequest::RefreshToken {
                refresh_token,
                scope,
            } => {
                grants::refresh_token::grant(
                    self,
                    &tenant,
                    &client,
                    &refresh_token,
                    scope.as_deref(),
                )
                .await
            }
        }
    }
}
