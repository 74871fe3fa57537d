//! Extractors that turn a request into typed input, answering bad input with problem documents.
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use tessera_core::{Caller, CoreError};

use crate::AppState;
use crate::error::ApiError;

/// A JSON body: `application/json` required (415), size limited (413), syntax checked (400), shape
/// checked (422, naming the field).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

async fn read_json_bytes<S: Send + Sync>(
    req: Request,
    state: &S,
    limit: usize,
) -> Result<Option<Bytes>, ApiError> {
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v != "0")
        || req.headers().get(header::TRANSFER_ENCODING).is_some();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(|r: BytesRejection| {
            if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::BadRequest {
                    code: "unreadable_body",
                    detail: r.body_text(),
                }
            }
        })?;
    if bytes.is_empty() && !has_body {
        return Ok(None);
    }
    let is_json = content_type.as_deref().is_some_and(|ct| {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    });
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    Ok(Some(bytes))
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() || inner.is_io() {
            ApiError::BadRequest {
                code: "malformed_json",
                detail: format!("the body is not valid JSON: {inner}"),
            }
        } else {
            let at = if path == "." || path.is_empty() {
                String::new()
            } else {
                format!(" at `{path}`")
            };
            ApiError::Unprocessable {
                code: "invalid_body",
                detail: format!("the body does not fit the expected shape{at}: {inner}"),
            }
        }
    })?;
    de.end().map_err(|e| ApiError::BadRequest {
        code: "malformed_json",
        detail: format!("trailing data after the JSON value: {e}"),
    })?;
    Ok(value)
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = AppState::from_ref(state).max_body_bytes;
        match read_json_bytes(req, state, limit).await? {
            Some(bytes) => Ok(ApiJson(parse_json(&bytes)?)),
            None => Err(ApiError::BadRequest {
                code: "missing_body",
                detail: "this request needs a JSON body".into(),
            }),
        }
    }
}

/// A JSON body that may be left out entirely (then `T::default()`).
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = AppState::from_ref(state).max_body_bytes;
        match read_json_bytes(req, state, limit).await? {
            Some(bytes) => Ok(OptionalJson(parse_json(&bytes)?)),
            None => Ok(OptionalJson(T::default())),
        }
    }
}

/// Path parameters; a malformed id cannot name anything, so it answers 404.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| ApiError::NotFound)
    }
}

/// Query parameters; unknown or malformed ones answer 400.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str::<T>(q)
            .map(ApiQuery)
            .map_err(|e| ApiError::BadRequest {
                code: "invalid_query",
                detail: format!("query parameters: {e}"),
            })
    }
}

/// The `If-Match` precondition as a resource version. `*` or absent means "no precondition".
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(v) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let text = v
            .to_str()
            .map_err(|_| ApiError::PreconditionFailed("If-Match is not readable".into()))?
            .trim();
        if text == "*" {
            return Ok(IfMatch(None));
        }
        let tag = text.trim_start_matches("W/").trim_matches('"');
        tag.parse::<i64>().map(|v| IfMatch(Some(v))).map_err(|_| {
            ApiError::PreconditionFailed(format!("If-Match {text} is not an ETag this API issued"))
        })
    }
}

/// The request id set by the request-id middleware.
pub fn request_id(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The authenticated admin caller. Every admin handler takes one, so no route is reachable without a key.
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl<S> FromRequestParts<S> for Admin
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or(ApiError::Core(CoreError::Unauthenticated))?;
        let caller = app.tessera.authenticate(token, request_id(parts)).await?;
        Ok(Admin(caller))
    }
}
