//! `POST /t/{tenant}/oauth2/revoke` (RFC 7009): an authenticated client revokes a token it holds.
//! Success is `200` with an empty body whether or not the token existed (§2.2).
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::cors::{CorsClient, client_named};
use super::form;
use crate::AppState;
use crate::error::oauth::{ClientAuthUsed, OAuthCode, OAuthError};
use crate::extract::ApiPath;

/// Revokes a refresh token (and its family) or an access token of the calling client.
pub async fn revoke(
    State(app): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut used = ClientAuthUsed::Other;
    let mut client = None;
    let answer = async {
        let mut p = form::form_body(&headers, &body)?;
        let (auth, how) = form::client_auth(&headers, &mut p)?;
        used = how;
        client = client_named(&auth);
        let token = p
            .get("token")
            .ok_or_else(|| OAuthError::new(OAuthCode::InvalidRequest, "token is required"))?;
        let hint = p.get("token_type_hint").map(String::as_str);
        app.tessera
            .oauth()
            .revoke(&tenant, &auth, token, hint)
            .await
            .map_err(|e| OAuthError::from_core(&e))
    }
    .await;
    let mut r = match answer {
        Ok(()) => {
            let mut r = StatusCode::OK.into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => e.at_token_endpoint(used),
    };
    if let Some(c) = client {
        r.extensions_mut().insert(CorsClient(c));
    }
    r
}
