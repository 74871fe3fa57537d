//! `POST /t/{tenant}/oauth2/token` (RFC 6749 §3.2).
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tessera_core::oauth::TokenRequest;

use super::form;
use crate::AppState;
use crate::error::oauth::{ClientAuthUsed, OAuthError};
use crate::extract::ApiPath;

/// Issues tokens to an authenticated client. Never cached.
pub async fn token(
    State(app): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut used = ClientAuthUsed::Other;
    let mut cors_client = None;
    let answer = async {
        let mut p = form::form_body(&headers, &body)?;
        let (auth, how) = form::client_auth(&headers, &mut p)?;
        used = how;
        cors_client = super::cors::client_named(&auth);
        let req = TokenRequest::from_params(&p).map_err(|e| OAuthError::from_core(&e))?;
        app.tessera
            .oauth()
            .token(&tenant, &auth, req)
            .await
            .map_err(|e| OAuthError::from_core(&e))
    }
    .await;
    let mut r = match answer {
        Ok(tokens) => {
            let mut r = axum::Json(tokens).into_response();
            let h = r.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            r
        }
        Err(e) => e.at_token_endpoint(used),
    };
    // The CORS layer echoes the origin only if this client registered it (WEB-04).
    if let Some(c) = cors_client {
        r.extensions_mut().insert(super::cors::CorsClient(c));
    }
    r
}
