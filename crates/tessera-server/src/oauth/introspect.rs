//! `POST /t/{tenant}/oauth2/introspect` (RFC 7662): an authenticated client asks whether a token it
//! holds is active and what it carries. Not a browser endpoint: no CORS.
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::form;
use crate::AppState;
use crate::error::oauth::{ClientAuthUsed, OAuthCode, OAuthError};
use crate::extract::ApiPath;

/// Answers `{"active": ...}` with the token's claims when it is active for the caller.
pub async fn introspect(
    State(app): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut used = ClientAuthUsed::Other;
    let answer = async {
        let mut p = form::form_body(&headers, &body)?;
        let (auth, how) = form::client_auth(&headers, &mut p)?;
        used = how;
        let token = p
            .get("token")
            .ok_or_else(|| OAuthError::new(OAuthCode::InvalidRequest, "token is required"))?;
        let hint = p.get("token_type_hint").map(String::as_str);
        app.tessera
            .oauth()
            .introspect(&tenant, &auth, token, hint)
            .await
            .map_err(|e| OAuthError::from_core(&e))
    }
    .await;
    match answer {
        Ok(found) => {
            let mut r = axum::Json(found).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => e.at_token_endpoint(used),
    }
}
