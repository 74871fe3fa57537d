//! An OAuth 2.0 / OpenID Connect client (a relying party): an application of the tenant's business that
//! signs its customers in through Tessera or asks for tokens of its own. What it may do is all here, so
//! every endpoint checks the same record: the grants and scopes it may use, where it may be sent back to,
//! how it authenticates, and how long its tokens live.
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::TenantId;
use crate::redirect_uri::registrable;

/// Whether the client can keep a secret (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// A server-side application: authenticates at the token endpoint.
    Confidential,
    /// A browser or native application: cannot hold a secret, so it must use PKCE.
    Public,
}

/// How the client authenticates at the token, introspection and revocation endpoints (OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuth {
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed with a key from the client's registered JWKS, each `jti` used once.
    PrivateKeyJwt,
    /// Public clients only.
    None,
}

impl TokenEndpointAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::ClientSecretBasic,
            Self::ClientSecretPost,
            Self::PrivateKeyJwt,
            Self::None,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }

    /// Whether the method uses a secret Tessera generated.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

/// The grants Tessera implements. There is no implicit and no password grant (RFC 9700 §2.1.2, §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8628.
    DeviceCode,
}

impl GrantType {
    /// The `grant_type` value at the token endpoint.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::AuthorizationCode,
            Self::RefreshToken,
            Self::ClientCredentials,
            Self::DeviceCode,
        ]
        .into_iter()
        .find(|g| g.as_str() == s)
    }
}

/// The form of the access tokens the client receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessTokenFormat {
    /// A signed JWT (RFC 9068) a resource server can check alone.
    Jwt,
    /// A random reference only introspection can read.
    Opaque,
}

/// A registered client, as every endpoint reads it. The secret is never here: only its keyed hash is
/// stored, beside, by the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OAuthClient {
    #[serde(skip, default = "unset_tenant")]
    pub tenant_id: TenantId,
    /// Public identifier, unique in the tenant.
    pub client_id: String,
    /// Shown to customers on the consent page.
    pub name: String,
    pub kind: ClientKind,
    /// A first-party application of the tenant's own business signs customers in without a consent page.
    pub first_party: bool,
    pub token_endpoint_auth: TokenEndpointAuth,
    /// Exact redirect URIs (a loopback `http` one matches any port, RFC 8252 §7.3).
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards.
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    /// The scopes the client may ask for (`openid`, `profile`, `offline_access`, custom ones…).
    pub scopes: Vec<String>,
    /// PKCE (S256) on every authorization request; always true for public clients.
    pub require_pkce: bool,
    /// Authorization requests only through pushed authorization requests (RFC 9126).
    pub require_par: bool,
    /// `ES256` (default), `RS256` or `EdDSA`, for ID tokens and JWT access tokens.
    pub signing_alg: String,
    pub access_token_format: AccessTokenFormat,
    pub access_token_ttl_secs: i64,
    pub id_token_ttl_secs: i64,
    /// How long a refresh token lives unused (each use rotates it).
    pub refresh_token_ttl_secs: i64,
    /// Seconds (0 to 5, 0 by default) after a refresh during which the spent token may be presented
    /// once more and gets the *same* successor instead of revoking the grant (OA-11): two tabs or a
    /// retried request racing with one token then do not sign the customer out.
    #[serde(default)]
    pub refresh_reuse_grace_secs: i64,
    /// Browser origins allowed to call the token, userinfo and revocation endpoints (CORS).
    pub allowed_origins: Vec<String>,
    /// Back-channel logout 1.0 receiver.
    pub backchannel_logout_uri: Option<String>,
    /// The client's public keys (a JWKS, JSON text) for `private_key_jwt`.
    pub jwks: Option<String>,
    /// Attributes of the tenant's schema this app needs: a sign-in for it asks for any the customer
    /// has not given yet (progressive profiling) before a code is issued.
    #[serde(default)]
    pub required_attributes: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

/// A registration read from JSON belongs to no tenant until the reader says which.
fn unset_tenant() -> TenantId {
    TenantId(uuid::Uuid::nil())
}

/// The longest lifetimes a client may set, in seconds.
pub const MAX_ACCESS_TOKEN_TTL_SECS: i64 = 24 * 3600;
pub const MAX_ID_TOKEN_TTL_SECS: i64 = 24 * 3600;
pub const MAX_REFRESH_TOKEN_TTL_SECS: i64 = 365 * 24 * 3600;
/// The longest refresh reuse grace (OA-11: a few seconds, for racing requests, not for replays).
pub const MAX_REFRESH_REUSE_GRACE_SECS: i64 = 5;

/// The signing algorithms a client may choose.
pub const SIGNING_ALGS: [&str; 3] = ["ES256", "RS256", "EdDSA"];

/// Why a client registration was refused: the field and a stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientProblem {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

fn problem(
    field: impl Into<String>,
    code: &'static str,
    message: impl Into<String>,
) -> ClientProblem {
    ClientProblem {
        field: field.into(),
        code,
        message: message.into(),
    }
}

/// A client id or scope: printable ASCII without spaces or quotes, 1 to 200 characters.
fn token_like(s: &str) -> bool {
    (1..=200).contains(&s.len())
        && s.bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

/// An origin as CORS compares it: scheme, host and port, nothing else.
fn is_origin(s: &str) -> bool {
    let Ok(u) = url::Url::parse(s) else {
        return false;
    };
    matches!(u.scheme(), "https" | "http")
        && u.host().is_some()
        && u.path() == "/"
        && u.query().is_none()
        && u.fragment().is_none()
        && u.username().is_empty()
        && !s.ends_with('/')
}

impl OAuthClient {
    /// Every rule a registration must keep, all problems at once. A public client authenticates with
    /// `none` and always uses PKCE; a confidential one never uses `none`; a client of the authorization
    /// code grant has at least one redirect URI; every URI is registrable (OA-03).
    pub fn problems(&self) -> Vec<ClientProblem> {
        let mut out = Vec::new();
        if self.client_id.parse::<uuid::Uuid>().is_ok() {
            out.push(problem(
                "client_id",
                "invalid_client_id",
                "a client id shaped like a UUID could be taken for an identity's id",
            ));
        } else if !token_like(&self.client_id) {
            out.push(problem(
                "client_id",
                "invalid_client_id",
                "1 to 200 printable characters, no spaces or quotes",
            ));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            out.push(problem("name", "invalid_name", "1 to 200 characters"));
        }
        match (self.kind, self.token_endpoint_auth) {
            (ClientKind::Public, TokenEndpointAuth::None) => {}
            (ClientKind::Public, _) => out.push(problem(
                "token_endpoint_auth",
                "public_client_authenticates",
                "a public client cannot keep a secret: use none",
            )),
            (ClientKind::Confidential, TokenEndpointAuth::None) => out.push(problem(
                "token_endpoint_auth",
                "confidential_client_without_authentication",
                "a confidential client must authenticate",
            )),
            _ => {}
        }
        if self.kind == ClientKind::Public && !self.require_pkce {
            out.push(problem(
                "require_pkce",
                "public_client_without_pkce",
                "a public client must use PKCE",
            ));
        }
        if self.kind == ClientKind::Public
            && self.grant_types.contains(&GrantType::ClientCredentials)
        {
            out.push(problem(
                "grant_types",
                "public_client_credentials",
                "client_credentials needs a confidential client",
            ));
        }
        if self.grant_types.is_empty() {
            out.push(problem("grant_types", "no_grant", "at least one grant"));
        }
        if self.grant_types.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty()
        {
            out.push(problem(
                "redirect_uris",
                "no_redirect_uri",
                "the authorization code grant needs a redirect URI",
            ));
        }
        for (i, u) in self.redirect_uris.iter().enumerate() {
            if let Err(why) = registrable(u) {
                out.push(problem(
                    format!("redirect_uris[{i}]"),
                    "invalid_redirect_uri",
                    why,
                ));
            }
        }
        for (i, u) in self.post_logout_redirect_uris.iter().enumerate() {
            if let Err(why) = registrable(u) {
                out.push(problem(
                    format!("post_logout_redirect_uris[{i}]"),
                    "invalid_redirect_uri",
                    why,
                ));
            }
        }
        if let Some(raw) = &self.backchannel_logout_uri
            && !url::Url::parse(raw).is_ok_and(|u| {
                let loopback = matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
                // Written as the parser would write it back: no stray spaces, backslashes or
                // empty authorities that another parser could read differently.
                u.as_str() == raw
                    && u.fragment().is_none()
                    && u.username().is_empty()
                    && (u.scheme() == "https" && u.host_str().is_some()
                        || u.scheme() == "http" && loopback)
            })
        {
            out.push(problem(
                "backchannel_logout_uri",
                "invalid_uri",
                "an absolute https URI in canonical form (http only on a loopback address), without a fragment",
            ));
        }
        for (i, s) in self.scopes.iter().enumerate() {
            if !token_like(s) {
                out.push(problem(
                    format!("scopes[{i}]"),
                    "invalid_scope",
                    "not a scope token",
                ));
            }
        }
        for (i, o) in self.allowed_origins.iter().enumerate() {
            if !is_origin(o) {
                out.push(problem(
                    format!("allowed_origins[{i}]"),
                    "invalid_origin",
                    "an origin: scheme://host[:port], nothing after it",
                ));
            }
        }
        if !SIGNING_ALGS.contains(&self.signing_alg.as_str()) {
            out.push(problem(
                "signing_alg",
                "unsupported_alg",
                "ES256, RS256 or EdDSA",
            ));
        }
        if self.token_endpoint_auth == TokenEndpointAuth::PrivateKeyJwt && self.jwks.is_none() {
            out.push(problem(
                "jwks",
                "jwks_required",
                "private_key_jwt needs the client's public keys",
            ));
        }
        for (field, v, max) in [
            (
                "access_token_ttl_secs",
                self.access_token_ttl_secs,
                MAX_ACCESS_TOKEN_TTL_SECS,
            ),
            (
                "id_token_ttl_secs",
                self.id_token_ttl_secs,
                MAX_ID_TOKEN_TTL_SECS,
            ),
            (
                "refresh_token_ttl_secs",
                self.refresh_token_ttl_secs,
                MAX_REFRESH_TOKEN_TTL_SECS,
            ),
        ] {
            if !(60..=max).contains(&v) {
                out.push(problem(
                    field,
                    "invalid_lifetime",
                    format!("60 to {max} seconds"),
                ));
            }
        }
        if !(0..=MAX_REFRESH_REUSE_GRACE_SECS).contains(&self.refresh_reuse_grace_secs) {
            out.push(problem(
                "refresh_reuse_grace_secs",
                "invalid_lifetime",
                format!("0 to {MAX_REFRESH_REUSE_GRACE_SECS} seconds"),
            ));
        }
        out
    }

    /// Whether the client may use the grant.
    pub fn allows_grant(&self, g: GrantType) -> bool {
        self.grant_types.contains(&g)
    }

    /// Whether the client may ask for the scope.
    pub fn allows_scope(&self, s: &str) -> bool {
        self.scopes.iter().any(|x| x == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web_app() -> OAuthClient {
        OAuthClient {
            tenant_id: TenantId(uuid::Uuid::nil()),
            client_id: "shop".into(),
            name: "Shop".into(),
            kind: ClientKind::Confidential,
            first_party: true,
            token_endpoint_auth: TokenEndpointAuth::ClientSecretBasic,
            redirect_uris: vec!["https://shop.example/cb".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: vec!["openid".into(), "profile".into()],
            require_pkce: true,
            require_par: false,
            signing_alg: "ES256".into(),
            access_token_format: AccessTokenFormat::Jwt,
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 600,
            refresh_token_ttl_secs: 86400,
            refresh_reuse_grace_secs: 0,
            allowed_origins: vec!["https://shop.example".into()],
            backchannel_logout_uri: None,
            required_attributes: vec![],
            jwks: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            version: 1,
        }
    }

    fn codes(c: &OAuthClient) -> Vec<&'static str> {
        c.problems().into_iter().map(|p| p.code).collect()
    }

    #[test]
    fn a_plain_web_app_is_a_valid_client() {
        assert!(
            web_app().problems().is_empty(),
            "{:?}",
            web_app().problems()
        );
    }

    #[test]
    fn oidc_07_a_back_channel_logout_uri_is_registered_only_in_canonical_form() {
        for ok in ["https://shop.example/bcl", "http://127.0.0.1:9000/bcl"] {
            let mut c = web_app();
            c.backchannel_logout_uri = Some(ok.into());
            assert!(c.problems().is_empty(), "{ok}: {:?}", c.problems());
        }
        for bad in [
            " https://shop.example/bcl",
            "https://shop.example/bcl\n",
            "https:\\\\shop.example\\bcl",
            "https:///bcl",
            "HTTPS://shop.example/bcl",
            "https://shop.example/bcl#x",
            "https://u:p@shop.example/bcl",
            "http://shop.example/bcl",
        ] {
            let mut c = web_app();
            c.backchannel_logout_uri = Some(bad.into());
            assert_eq!(codes(&c), ["invalid_uri"], "{bad:?}");
        }
    }

    #[test]
    fn a_public_client_uses_no_secret_and_always_pkce() {
        let mut c = web_app();
        c.kind = ClientKind::Public;
        c.require_pkce = false;
        c.grant_types.push(GrantType::ClientCredentials);
        assert_eq!(
            codes(&c),
            [
                "public_client_authenticates",
                "public_client_without_pkce",
                "public_client_credentials"
            ]
        );
        let mut c = web_app();
        c.token_endpoint_auth = TokenEndpointAuth::None;
        assert_eq!(codes(&c), ["confidential_client_without_authentication"]);
    }

    #[test]
    fn oa_03_redirect_uris_and_origins_are_checked_when_registered() {
        let mut c = web_app();
        c.redirect_uris = vec![
            "javascript:alert(1)".into(),
            "https://shop.example/cb#x".into(),
        ];
        c.allowed_origins = vec!["*".into(), "https://shop.example/".into()];
        assert_eq!(
            codes(&c),
            [
                "invalid_redirect_uri",
                "invalid_redirect_uri",
                "invalid_origin",
                "invalid_origin"
            ]
        );
    }

    #[test]
    fn lifetimes_algorithms_and_keys_have_bounds() {
        let mut c = web_app();
        c.access_token_ttl_secs = 0;
        c.signing_alg = "HS256".into();
        c.token_endpoint_auth = TokenEndpointAuth::PrivateKeyJwt;
        assert_eq!(
            codes(&c),
            ["unsupported_alg", "jwks_required", "invalid_lifetime"]
        );
    }

    #[test]
    fn names_round_trip() {
        for g in [
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
            GrantType::DeviceCode,
        ] {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
        assert_eq!(GrantType::parse("password"), None);
        assert_eq!(GrantType::parse("implicit"), None);
        assert_eq!(
            TokenEndpointAuth::parse("private_key_jwt"),
            Some(TokenEndpointAuth::PrivateKeyJwt)
        );
    }
}
