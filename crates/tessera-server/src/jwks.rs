//! The tenant's JSON Web Key Set (RFC 7517 §5) on the public listener: the keys relying parties verify
//! Tessera's tokens with. It lists the next, active and retiring keys (never a retired key, never a
//! private part) and may be cached for less time than a next key is published before it signs
//! (`tessera_core::signing_keys`), so a relying party that honours `Cache-Control` always knows a key
//! before it sees a token signed with it.
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::signing_keys::JWKS_MAX_AGE_SECS;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiPath;

/// A public key as the JWKS lists it.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct JwkDoc {
    /// `EC`, `RSA` or `OKP`.
    kty: String,
    kid: String,
    /// `ES256`, `RS256` or `EdDSA`: the one algorithm this key signs with.
    alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    use_: String,
    /// `P-256` (EC) or `Ed25519` (OKP).
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// The document's shape, for the OpenAPI description.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct JwksDoc {
    keys: Vec<JwkDoc>,
}

/// The tenant's published signing keys.
#[utoipa::path(get, path = "/t/{tenant}/.well-known/jwks.json", tag = "keys", params(("tenant" = String, Path)),
    responses((status = 200, body = JwksDoc, content_type = "application/jwk-set+json",
            description = "The tenant's next, active and retiring public keys."),
        (status = 404, body = crate::error::Problem, description = "No such tenant.")))]
pub async fn jwks(
    State(app): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
) -> Result<Response, ApiError> {
    let body = app.tessera.signing_keys().jwks_json(&tenant).await?;
    let mut resp = body.to_string().into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={JWKS_MAX_AGE_SECS}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    Ok(resp)
}
