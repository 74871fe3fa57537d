//! One file per grant of the token endpoint; `token.rs` dispatches to them.
pub(crate) mod authorization_code;
pub(crate) mod client_credentials;
pub(crate) mod device_code;
pub(crate) mod refresh_token;

use tessera_model::oauth_client::{GrantType, OAuthClient};

/// Whether a scope granted earlier (in an authorization request, a device approval or a refresh
/// token) still goes into the tokens its grant issues now: the client may still ask for it (OA-14),
/// the customer's consent names it when the client is third party now (`consented`, from
/// `consent::consented_scopes`; R10-4, R12-1), and `offline_access` only while the client may still
/// hold a refresh token, so an answer's `scope` never names a grant it did not give (red team I-1).
pub(crate) fn still_granted(
    client: &OAuthClient,
    consented: Option<&[String]>,
    scope: &str,
) -> bool {
    client.allows_scope(scope)
        && consented.is_none_or(|c| c.iter().any(|s| s == scope))
        && (scope != super::refresh_tokens::OFFLINE_ACCESS
            || client.allows_grant(GrantType::RefreshToken))
}
