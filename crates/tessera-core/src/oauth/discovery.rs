//! OpenID Provider metadata (OIDC Discovery 1.0 §3; RFC 8414): what a tenant's issuer offers, listing only
//! what exists. The document is the same for every request of a tenant, so relying parties may cache it.
use serde_json::{Value, json};

use crate::Result;
use crate::oauth::OAuth;
use crate::oauth::authorize::ACR_VALUES;

/// How long relying parties may cache the document (`Cache-Control: max-age`).
pub const MAX_AGE_SECS: u64 = 300;

/// The grants the token endpoint implements.
pub const GRANT_TYPES: [&str; 4] = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
];

/// How clients may authenticate at the token endpoint.
pub const TOKEN_AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// The metadata document of an issuer.
pub fn document(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "pushed_authorization_request_endpoint": format!("{issuer}/oauth2/par"),
        "require_pushed_authorization_requests": false,
        "device_authorization_endpoint": format!("{issuer}/oauth2/device_authorization"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "scopes_supported": crate::oauth::claims::STANDARD_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GRANT_TYPES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": tessera_model::oauth_client::SIGNING_ALGS,
        "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": tessera_model::oauth_client::SIGNING_ALGS,
        "revocation_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "claims_supported": crate::oauth::claims::supported(),
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "acr_values_supported": ACR_VALUES,
        "ui_locales_supported": ["en", "de"],
    })
}

impl OAuth<'_> {
    /// The metadata document of the tenant with this slug (an unknown tenant is not found).
    pub async fn discovery(&self, slug: &str) -> Result<Value> {
        let tenant = self.t.tenant_by_slug(slug).await?;
        let mut doc = document(&self.issuer(&tenant));
        let schema = {
            let mut conn = self.t.db().conn().await?;
            self.t.schema_of(&mut conn, tenant.id).await?.schema
        };
        with_tenant_scopes(&mut doc, &schema);
        Ok(doc)
    }

    /// [`Self::discovery`] rendered, as the endpoint serves it: kept per slug for
    /// [`super::cache::DISCOVERY_TTL`], so the document is built and serialised a few times a minute.
    pub async fn discovery_json(&self, slug: &str) -> Result<std::sync::Arc<str>> {
        let cache = &self.t.oauth_cache().discovery;
        let now = self.t.now();
        if let Some(doc) = cache.get(slug, now) {
            return Ok(doc);
        }
        let ticket = cache.ticket();
        let doc: std::sync::Arc<str> = serde_json::to_string(&self.discovery(slug).await?)
            .map_err(|e| crate::CoreError::Internal(format!("discovery document: {e}")))?
            .into();
        cache.put(ticket, slug.to_owned(), doc.clone(), now);
        Ok(doc)
    }
}

/// Adds the tenant's own scopes and the attribute claims they release to the document's lists.
fn with_tenant_scopes(doc: &mut Value, schema: &tessera_model::attributes::AttributeSchema) {
    if let Some(Value::Array(scopes)) = doc.get_mut("scopes_supported") {
        scopes.extend(schema.scopes().into_iter().map(|s| json!(s)));
    }
    if let Some(Value::Array(claims)) = doc.get_mut("claims_supported") {
        claims.extend(
            schema
                .attributes
                .iter()
                .filter(|d| d.scope.is_some())
                .map(|d| json!(d.name)),
        );
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn oidc_02_oa_16_the_document_lists_what_exists() {
        let d = document("https://id.example/t/shop");
        assert_eq!(d["issuer"], "https://id.example/t/shop");
        assert_eq!(
            d["authorization_endpoint"],
            "https://id.example/t/shop/oauth2/authorize"
        );
        assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(d["authorization_response_iss_parameter_supported"], true);
        assert_eq!(d["response_types_supported"], json!(["code"]));
        assert!(
            d["scopes_supported"]
                .as_array()
                .is_some_and(|s| s.contains(&json!("openid")))
        );
        let grants = d["grant_types_supported"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!grants.contains(&json!("implicit")) && !grants.contains(&json!("password")));
        assert!(grants.contains(&json!("urn:ietf:params:oauth:grant-type:device_code")));
        assert_eq!(
            d["device_authorization_endpoint"],
            "https://id.example/t/shop/oauth2/device_authorization"
        );
    }
}
