//! `private_key_jwt` client authentication (RFC 7523 §2.2, §3; OIDC Core §9): the client signs a short
//! JWT with a key of the JWKS it registered. Checked here (OA-12, A-15, JWT-01, JWT-02): the signature
//! by a registered key only (`jku`, `jwk`, `x5u`, `x5c` and `crit` refuse the assertion, `kid` is only
//! compared with the registered kids, `alg` must be the key's: no `none`, no HMAC); `iss` and `sub` are
//! the client id; `aud` is the issuer or the token endpoint, as one string; `exp` is present, not past
//! and at most a few minutes ahead; and the `jti` is used once (kept until the assertion expires, in a
//! table every node shares). Every refusal is the same `Unauthenticated` (`invalid_client`); the reason
//! goes to the debug log only.
use serde_json::Value;
use tessera_crypto::jws;
use tessera_model::oauth_client::OAuthClient;
use tessera_model::tenant::Tenant;
use time::OffsetDateTime;

use super::OAuth;
use crate::{CoreError, Result};

/// Clock skew tolerated on `exp`, `iat` and `nbf` (JWT-03: at most 60 s).
const SKEW_SECS: i64 = 60;

/// The furthest ahead an assertion's `exp` may be: it authenticates one request, so it is short-lived
/// (and its `jti` is remembered only this long).
const MAX_LIFETIME_SECS: i64 = 300;

/// The `typ` values an assertion may carry, when it carries one (RFC 7523 needs none;
/// `client-authentication+jwt` is the explicit type of the current drafts).
const TYPS: [&str; 2] = ["JWT", "client-authentication+jwt"];

fn refuse(why: &str) -> CoreError {
    tracing::debug!(why, "client assertion refused");
    CoreError::Unauthenticated
}

/// The client an assertion claims to be (its `iss`), read before its signature is checked and only to
/// find the keys to check it with.
pub(crate) fn claimed_client(jwt: &str) -> Result<String> {
    let claims =
        jws::unverified_claims(jwt).map_err(|_| refuse("not a JWS with a JSON payload"))?;
    claims
        .get("iss")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| refuse("no iss"))
}

/// A NumericDate claim as whole seconds (fractions allowed by RFC 7519 §2 are cut).
fn seconds(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e15)
            .map(|f| f.trunc() as i64)
    })
}

/// Checks an assertion against the client's registered keys and records its `jti`.
pub(crate) async fn verify(
    oauth: &OAuth<'_>,
    tenant: &Tenant,
    client: &OAuthClient,
    jwt: &str,
) -> Result<()> {
    let jwks = client
        .jwks
        .as_deref()
        .ok_or_else(|| refuse("the client has no JWKS"))?;
    let keys =
        jws::foreign_keys(jwks).map_err(|_| refuse("the client's JWKS has no usable key"))?;
    let verified = jws::verify_foreign(jwt, &TYPS, &keys).map_err(|e| {
        tracing::debug!(error = %e, "client assertion signature");
        CoreError::Unauthenticated
    })?;
    let c = &verified.claims;
    let text = |k: &str| c.get(k).and_then(Value::as_str);
    let id = client.client_id.as_str();
    if text("iss") != Some(id) || text("sub") != Some(id) {
        return Err(refuse("iss and sub must be the client id"));
    }
    let issuer = oauth.issuer(tenant);
    let token_endpoint = format!("{issuer}/oauth2/token");
    match c.get("aud") {
        Some(Value::String(a)) if *a == issuer || *a == token_endpoint => {}
        _ => {
            return Err(refuse(
                "aud must be the issuer or the token endpoint, as one string",
            ));
        }
    }
    let now = oauth.t.now().unix_timestamp();
    let exp = seconds(c.get("exp")).ok_or_else(|| refuse("no exp"))?;
    if exp + SKEW_SECS <= now {
        return Err(refuse("expired"));
    }
    if exp > now + MAX_LIFETIME_SECS + SKEW_SECS {
        return Err(refuse("exp too far ahead"));
    }
    for claim in ["iat", "nbf"] {
        if let Some(v) = c.get(claim) {
            let at = seconds(Some(v)).ok_or_else(|| refuse("iat or nbf not a NumericDate"))?;
            if at > now + SKEW_SECS {
                return Err(refuse("iat or nbf in the future"));
            }
        }
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= 200)
        .ok_or_else(|| refuse("no jti"))?;
    let keep_until = OffsetDateTime::from_unix_timestamp(exp + SKEW_SECS)
        .map_err(|_| refuse("exp out of range"))?;
    let mut tx = oauth.t.db().begin().await?;
    let first =
        tessera_store::oauth_clients::use_jti(&mut tx, tenant.id, id, jti, keep_until).await?;
    tx.commit().await?;
    if first {
        Ok(())
    } else {
        Err(refuse("jti replayed"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_claimed_client_is_the_unverified_iss_and_junk_is_refused() {
        // {"iss":"app","sub":"app"}
        let p = "eyJpc3MiOiJhcHAiLCJzdWIiOiJhcHAifQ";
        assert_eq!(claimed_client(&format!("e30.{p}.sig")).unwrap(), "app");
        for bad in ["", "abc", "e30.!!.x", "e30.e30.x", "e30.WzFd.x"] {
            assert!(claimed_client(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numeric_dates_may_have_fractions_but_nothing_else() {
        assert_eq!(seconds(Some(&serde_json::json!(10))), Some(10));
        assert_eq!(seconds(Some(&serde_json::json!(10.9))), Some(10));
        assert_eq!(seconds(Some(&serde_json::json!("10"))), None);
        assert_eq!(seconds(Some(&serde_json::json!(1e300))), None);
        assert_eq!(seconds(None), None);
    }
}
