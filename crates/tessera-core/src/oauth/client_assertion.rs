//! `private_key_jwt` client authentication (RFC 7523 §2.2, §3). Not built yet: every assertion is
//! refused as an unauthenticated client, so a client registered with `private_key_jwt` cannot get
//! tokens until this lands.
use tessera_model::oauth_client::OAuthClient;
use tessera_model::tenant::Tenant;

use super::OAuth;
use crate::{CoreError, Result};

/// The client an assertion claims to be (its `iss`), read before its signature is checked.
pub(crate) fn claimed_client(_jwt: &str) -> Result<String> {
    Err(CoreError::Unauthenticated)
}

/// Checks an assertion against the client's registered keys.
pub(crate) async fn verify(
    _oauth: &OAuth<'_>,
    _tenant: &Tenant,
    _client: &OAuthClient,
    _jwt: &str,
) -> Result<()> {
    Err(CoreError::Unauthenticated)
}
