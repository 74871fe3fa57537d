//! `POST /t/{tenant}/oauth2/device_authorization` (RFC 8628 §3.1): a device asks to sign a customer in
//! and gets the codes to show and to poll with. Client authentication and errors as at the token endpoint
//! (OA-12).
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::form;
use crate::AppState;
use crate::error::oauth::{ClientAuthUsed, OAuthError};
use crate::extract::{ApiPath, client_ip};

/// Starts a device authorization: 200 with `device_code`, `user_code`, `verification_uri`,
/// `verification_uri_complete`, `expires_in` and `interval`. Never cached. Past a quota (per client
/// address, per client: R8-3), the OAuth renderer's throttling answer: `temporarily_unavailable` with
/// `Retry-After`.
pub async fn device_authorization(
    State(app): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut used = ClientAuthUsed::Other;
    let answer = async {
        // Refuses a non-form body and repeated parameters (OA-17) before anything else.
        let mut p = form::form_body(&headers, &body)?;
        let (auth, how) = form::client_auth(&headers, &mut p)?;
        used = how;
        // Forwarding headers count only from a configured proxy (RL-04).
        let ip = client_ip(peer, &headers, &app.trusted_proxies).to_string();
        app.tessera
            .oauth()
            .device_authorization(
                &tenant,
                &auth,
                p.get("scope").map(String::as_str),
                Some(&ip),
            )
            .await
            .map_err(|e| OAuthError::from_core(&e))
    }
    .await;
    match answer {
        Ok(granted) => {
            let mut r = axum::Json(granted).into_response();
            let h = r.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            r
        }
        Err(e) => e.at_token_endpoint(used),
    }
}
