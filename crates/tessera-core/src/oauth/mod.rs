//! Tessera as an OAuth 2.0 authorization server and OpenID Connect provider, one issuer per tenant
//! (`{base_url}/t/{tenant}`). Borrowed from the facade as `t.oauth()`.
//!
//! - `clients`: registrations, their generated secrets (kept as keyed hashes), rotation;
//! - `client_auth`: who is calling the token, introspection and revocation endpoints;
//! - `access_tokens`: minting and checking access tokens (RFC 9068 JWTs or opaque references);
//! - `token`: the token endpoint, one file per grant under `grants/`;
//! - `par`: pushed authorization requests (RFC 9126);
//! - `logout`: RP-initiated logout; `backchannel`: telling apps a session ended (back-channel logout);
//! - `device`: the device authorization grant (RFC 8628) and its hosted page's decisions.
//!
//! Protocol refusals travel as `CoreError::BadRequest` whose code is the registered OAuth error code
//! (`invalid_grant`, `invalid_scope`…): the server's OAuth renderer gives them their form.
use tessera_model::tenant::Tenant;

use crate::{CoreError, Tessera};

pub mod access_tokens;
pub mod authorize;
pub mod backchannel;
pub mod cache;
pub mod claims;
pub mod claims_request;
mod client_assertion;
pub mod client_auth;
pub mod clients;
pub mod codes;
pub mod consent;
mod cors;
pub mod demo;
pub mod device;
pub mod discovery;
mod grants;
pub mod id_token;
pub mod introspection;
pub mod logout;
pub mod par;
pub mod refresh_tokens;
mod revocation;
pub mod token;
pub mod userinfo;

pub use access_tokens::{AccessClaims, AccessGrant, IssuedAccessToken};
pub use client_auth::ClientAuth;
pub use clients::{ClientWithSecret, NewClient};
pub use token::{TokenRequest, TokenResponse};

/// The OAuth and OpenID Connect side of Tessera, borrowed from the facade.
#[derive(Clone, Copy, Debug)]
pub struct OAuth<'a> {
    t: &'a Tessera,
}

impl Tessera {
    /// Clients, tokens and the OAuth endpoints' logic.
    pub fn oauth(&self) -> OAuth<'_> {
        OAuth { t: self }
    }
}

impl OAuth<'_> {
    /// The issuer identifier of a tenant: `{base_url}/t/{slug}`, no trailing slash (OIDC Discovery §4.3:
    /// compared as a string, so it is built in one place).
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
    CoreError::bad_request(code, detail)
}

/// Splits a `scope` parameter (RFC 6749 §3.3: space-delimited, each a scope token), refusing an empty
/// token or a character outside %x21 / %x23-5B / %x5D-7E.
pub(crate) fn parse_scope(scope: &str) -> Result<Vec<String>, CoreError> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.split(' ') {
        let ok = !s.is_empty()
            && s.len() <= 200
            && s.bytes()
                .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E));
        if !ok {
            return Err(refuse("invalid_scope", "the scope parameter is malformed"));
        }
        if !out.iter().any(|x| x == s) {
            out.push(s.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_split_on_single_spaces_and_deduplicated() {
        assert_eq!(
            parse_scope("openid profile openid").ok(),
            Some(vec!["openid".to_owned(), "profile".to_owned()])
        );
        for bad in ["", "a  b", " a", "a\"b", "a\\b", "é"] {
            assert!(parse_scope(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_issuer_has_no_trailing_slash() {
        let base = url::Url::parse("https://id.example/").unwrap();
        assert_eq!(issuer_of(&base, "shop"), "https://id.example/t/shop");
    }
}
