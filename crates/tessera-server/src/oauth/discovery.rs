//! `GET /t/{tenant}/.well-known/openid-configuration`: the issuer's metadata (OIDC Discovery 1.0), the
//! same for every request, so relying parties may cache it for a few minutes.
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tessera_core::oauth::discovery::MAX_AGE_SECS;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiPath;

/// The tenant's OpenID Provider metadata; an unknown tenant is a 404 problem.
pub async fn openid_configuration(
    State(app): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
) -> Result<Response, ApiError> {
    let doc = app.tessera.oauth().discovery_json(&tenant).await?;
    let mut resp = doc.to_string().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={MAX_AGE_SECS}")) {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    Ok(resp)
}
