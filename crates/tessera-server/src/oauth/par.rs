//! `POST /t/{tenant}/oauth2/par` (RFC 9126): the client pushes its authorization request and gets a
//! `request_uri` for `/authorize`. Client authentication and errors as at the token endpoint (OA-12).
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_core::oauth::authorize::RawParams;

use super::form;
use crate::AppState;
use crate::error::oauth::{ClientAuthUsed, OAuthCode, OAuthError};
use crate::extract::ApiPath;

/// Stores a pushed request: 201 with `request_uri` and `expires_in`. Never cached.
pub async fn par(
    State(app): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut used = ClientAuthUsed::Other;
    let answer = async {
        // Refuses a non-form body and repeated parameters (OA-17) before anything else.
        let mut p = form::form_body(&headers, &body)?;
        let (auth, how) = form::client_auth(&headers, &mut p)?;
        used = how;
        let text = std::str::from_utf8(&body)
            .map_err(|_| OAuthError::new(OAuthCode::InvalidRequest, "the body is not UTF-8"))?;
        app.tessera
            .oauth()
            .push(&tenant, &auth, &RawParams::parse(text))
            .await
            .map_err(|e| OAuthError::from_core(&e))
    }
    .await;
    match answer {
        Ok(pushed) => {
            let mut r = (StatusCode::CREATED, axum::Json(pushed)).into_response();
            let h = r.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            r
        }
        Err(e) => e.at_token_endpoint(used),
    }
}
