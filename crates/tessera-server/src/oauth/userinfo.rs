//! `GET` and `POST /t/{tenant}/oauth2/userinfo` (OIDC Core §5.3, OIDC-04): the claims a bearer access
//! token may read of its customer. The token comes in the `Authorization: Bearer` header (RFC 6750 §2.1)
//! or, on a form POST, in the `access_token` field (§2.2), never both and never in the query; every
//! refusal is a `WWW-Authenticate: Bearer` challenge.
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use tessera_core::CoreError;

use crate::AppState;
use crate::error::oauth::{OAuthCode, OAuthError};
use crate::extract::ApiPath;

const REALM: &str = "tessera";

/// Where the request put its token: `Ok(None)` when it sent none.
fn bearer(method: &Method, headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, OAuthError> {
    let mut auths = headers.get_all(header::AUTHORIZATION).iter();
    let header_token = match (auths.next(), auths.next()) {
        (None, _) => None,
        (Some(v), None) => {
            let v = v.to_str().unwrap_or("");
            match v.split_once(' ') {
                Some((scheme, t))
                    if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() =>
                {
                    Some(t.trim().to_owned())
                }
                _ => {
                    return Err(OAuthError::new(
                        OAuthCode::InvalidRequest,
                        "the Authorization header is not a bearer token",
                    ));
                }
            }
        }
        _ => {
            return Err(OAuthError::new(
                OAuthCode::InvalidRequest,
                "more than one Authorization header",
            ));
        }
    };
    let form = method == Method::POST
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let mut body_tokens = if form {
        url::form_urlencoded::parse(body)
            .filter(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
            .collect::<Vec<_>>()
    } else {
        Vec::new()
    };
    match (header_token, body_tokens.len()) {
        (Some(t), 0) => Ok(Some(t)),
        (None, 0) => Ok(None),
        (None, 1) => Ok(body_tokens.pop()),
        _ => Err(OAuthError::new(
            OAuthCode::InvalidRequest,
            "the access token must be sent once, by one method",
        )),
    }
}

/// The userinfo endpoint: JSON claims, or a bearer challenge.
pub async fn userinfo(
    State(app): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = match bearer(&method, &headers, &body) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return OAuthError::new(OAuthCode::InvalidToken, "no access token")
                .at_resource(REALM, false);
        }
        Err(e) => return e.at_resource(REALM, true),
    };
    match app.tessera.oauth().userinfo(&tenant, &token).await {
        Ok(info) => {
            let mut r = axum::Json(info.claims).into_response();
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            r.extensions_mut()
                .insert(super::cors::CorsClient(info.client_id));
            r
        }
        Err(CoreError::NotFound { .. }) => OAuthError::new(
            OAuthCode::InvalidToken,
            "the access token is not valid here",
        )
        .at_resource(REALM, true),
        Err(e) => {
            let mut err = OAuthError::from_core(&e);
            if err.code == OAuthCode::InvalidClient {
                err.code = OAuthCode::InvalidToken;
            }
            err.at_resource(REALM, true)
        }
    }
}
