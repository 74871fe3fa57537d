//! The ID token (OIDC Core §2, §3.1.3.6; OIDC-01): who signed in, when, how, for which client. Signed
//! with the client's algorithm by the tenant's key ring (`typ: JWT`, JWT-03), `kid` in the header.
//!
//! Claims: `iss` (the tenant's issuer, exactly), `sub` (the identity id: stable, never reassigned, 36
//! ASCII characters), `aud` (the client id alone, so no `azp` is needed), `exp` (the client's ID token
//! lifetime), `iat`, `auth_time` (always), `nonce` (unchanged, when the request had one), `acr` (what the
//! session reached: `aal1` or `aal2`), `amr` (the methods the session was opened with), `sid` (the
//! session id, for logout), `at_hash` (of the access token issued beside it).
use serde_json::{Value, json};
use tessera_crypto::jws::{JwsAlg, half_hash};
use tessera_model::IdentityId;
use tessera_model::oauth_client::OAuthClient;
use tessera_model::tenant::Tenant;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{CoreError, Result, Tessera};

/// What an ID token states.
#[derive(Debug, Clone)]
pub struct IdTokenFacts<'a> {
    pub issuer: &'a str,
    pub subject: IdentityId,
    pub session_id: Uuid,
    pub auth_time: OffsetDateTime,
    pub nonce: Option<&'a str>,
    pub acr: Option<&'a str>,
    pub amr: &'a [String],
    /// The access token issued with it, for `at_hash`.
    pub access_token: &'a str,
}

/// The client's signing algorithm (ES256 when the registration names none Tessera knows, which
/// `OAuthClient::problems` prevents).
pub fn alg_of(client: &OAuthClient) -> JwsAlg {
    JwsAlg::parse(&client.signing_alg).unwrap_or(crate::signing_keys::DEFAULT_ALG)
}

/// The ID token's claims, issued at `now` for `client`.
pub fn claims(f: &IdTokenFacts<'_>, client: &OAuthClient, now: OffsetDateTime) -> Value {
    let iat = now.unix_timestamp();
    let mut c = json!({
        "iss": f.issuer,
        "sub": f.subject.0.to_string(),
        "aud": client.client_id,
        "exp": iat + client.id_token_ttl_secs,
        "iat": iat,
        "auth_time": f.auth_time.unix_timestamp(),
        "amr": f.amr,
        "sid": f.session_id.to_string(),
        "at_hash": half_hash(alg_of(client), f.access_token),
    });
    if let Value::Object(m) = &mut c {
        if let Some(n) = f.nonce {
            m.insert("nonce".into(), json!(n));
        }
        if let Some(a) = f.acr {
            m.insert("acr".into(), json!(a));
        }
    }
    c
}

/// Builds and signs an ID token for `client` of `tenant`.
pub async fn issue(
    t: &Tessera,
    tenant: &Tenant,
    client: &OAuthClient,
    facts: &IdTokenFacts<'_>,
) -> Result<String> {
    let claims = claims(facts, client, t.now());
    if !claims.is_object() {
        return Err(CoreError::Internal(
            "ID token claims are not an object".into(),
        ));
    }
    t.signing_keys()
        .sign_with(tenant.id, alg_of(client), "JWT", &claims)
        .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use tessera_model::TenantId;
    use tessera_model::oauth_client::{
        AccessTokenFormat, ClientKind, GrantType, TokenEndpointAuth,
    };

    use super::*;

    fn client(alg: &str) -> OAuthClient {
        OAuthClient {
            tenant_id: TenantId(Uuid::nil()),
            client_id: "shop".into(),
            name: "Shop".into(),
            kind: ClientKind::Confidential,
            first_party: true,
            token_endpoint_auth: TokenEndpointAuth::ClientSecretBasic,
            redirect_uris: vec!["https://shop.example/cb".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec!["openid".into()],
            require_pkce: true,
            require_par: false,
            signing_alg: alg.into(),
            access_token_format: AccessTokenFormat::Jwt,
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 300,
            refresh_token_ttl_secs: 86400,
            refresh_reuse_grace_secs: 0,
            allowed_origins: vec![],
            backchannel_logout_uri: None,
            required_attributes: vec![],
            jwks: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            version: 1,
        }
    }

    #[test]
    fn oidc_01_the_id_token_states_issuer_subject_audience_times_and_session() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20000);
        let amr = vec!["pwd".to_owned()];
        let id = IdentityId(Uuid::now_v7());
        let sid = Uuid::now_v7();
        let f = IdTokenFacts {
            issuer: "https://id.example/t/default",
            subject: id,
            session_id: sid,
            auth_time: now - time::Duration::seconds(30),
            nonce: Some("n-0S6_WzA2Mj"),
            acr: Some("aal1"),
            amr: &amr,
            access_token: "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
        };
        let c = claims(&f, &client("RS256"), now);
        assert_eq!(c["iss"], "https://id.example/t/default");
        assert_eq!(c["sub"], id.0.to_string());
        assert_eq!(c["aud"], "shop");
        assert_eq!(c["iat"], now.unix_timestamp());
        assert_eq!(c["exp"], now.unix_timestamp() + 300);
        assert_eq!(c["auth_time"], now.unix_timestamp() - 30);
        assert_eq!(c["nonce"], "n-0S6_WzA2Mj");
        assert_eq!(c["acr"], "aal1");
        assert_eq!(c["amr"], json!(["pwd"]));
        assert_eq!(c["sid"], sid.to_string());
        assert_eq!(c["at_hash"], "77QmUPtjPfzWtF2AnpK9RQ");
        assert!(c.get("azp").is_none(), "one audience needs no azp");
        let no_nonce = IdTokenFacts { nonce: None, ..f };
        assert!(
            claims(&no_nonce, &client("ES256"), now)
                .get("nonce")
                .is_none()
        );
    }
}
