//! The one place where errors become HTTP. The admin and flow APIs answer RFC 9457
//! `application/problem+json` with a stable `code` (this file); the OAuth endpoints answer in OAuth's
//! forms ([`oauth`]) and SCIM in its error schema ([`scim`]); the hosted pages render HTML error pages.
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::{CoreError, FieldProblem};

pub mod oauth;
pub mod scim;

/// A problem document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:tessera:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable, machine-readable error code.
    pub code: String,
    pub detail: String,
    /// One entry per invalid field, for 422 answers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// With `reauthentication_required` (403): the hosted sign-in to send the person to; it comes back
    /// to the settings, and the new session may make the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<String>,
}

/// Every error an HTTP handler can return.
#[derive(Debug)]
pub enum ApiError {
    Core(CoreError),
    /// The request itself is malformed (bad JSON, bad query, bad header).
    BadRequest {
        code: &'static str,
        detail: String,
    },
    /// Well-formed JSON of the wrong shape: unknown fields, wrong types.
    Unprocessable {
        code: &'static str,
        detail: String,
    },
    PayloadTooLarge {
        limit: usize,
    },
    UnsupportedMediaType,
    NotFound,
    /// The flow API needs a signed-in customer: their session token, not an admin key.
    NoSession,
    MethodNotAllowed,
    PreconditionFailed(String),
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError::Core(e)
    }
}

fn title(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("Error").to_owned()
}

/// Builds a problem response; used by extractors and fallbacks too.
pub fn problem(
    status: StatusCode,
    code: &str,
    detail: impl Into<String>,
    errors: Vec<FieldProblem>,
) -> Response {
    let body = Problem {
        kind: format!("urn:tessera:problem:{code}"),
        title: title(status),
        status: status.as_u16(),
        code: code.to_owned(),
        detail: detail.into(),
        errors,
        sign_in: None,
    };
    problem_body(status, body)
}

fn problem_body(status: StatusCode, body: Problem) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Core(e) => core_response(e),
            ApiError::BadRequest { code, detail } => {
                problem(StatusCode::BAD_REQUEST, code, detail, vec![])
            }
            ApiError::Unprocessable { code, detail } => {
                problem(StatusCode::UNPROCESSABLE_ENTITY, code, detail, vec![])
            }
            ApiError::PayloadTooLarge { limit } => problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body exceeds {limit} bytes"),
                vec![],
            ),
            ApiError::UnsupportedMediaType => problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
                vec![],
            ),
            ApiError::NotFound => problem(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such resource",
                vec![],
            ),
            ApiError::NoSession => {
                let mut r = problem(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "sign in first, and send the session token as `Authorization: Bearer …`",
                    vec![],
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"tessera\""),
                );
                r
            }
            ApiError::MethodNotAllowed => problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this resource does not support that method",
                vec![],
            ),
            ApiError::PreconditionFailed(d) => problem(
                StatusCode::PRECONDITION_FAILED,
                "version_mismatch",
                d,
                vec![],
            ),
        }
    }
}

fn core_response(e: CoreError) -> Response {
    let code = e.code();
    match e {
        CoreError::NotFound { .. } => problem(StatusCode::NOT_FOUND, code, e.to_string(), vec![]),
        CoreError::Conflict { .. } => problem(StatusCode::CONFLICT, code, e.to_string(), vec![]),
        CoreError::VersionMismatch { .. } => {
            problem(StatusCode::PRECONDITION_FAILED, code, e.to_string(), vec![])
        }
        CoreError::Invalid {
            detail, problems, ..
        } => problem(StatusCode::UNPROCESSABLE_ENTITY, code, detail, problems),
        CoreError::BadRequest { .. } => {
            problem(StatusCode::BAD_REQUEST, code, e.to_string(), vec![])
        }
        CoreError::Unauthenticated => {
            let mut r = problem(
                StatusCode::UNAUTHORIZED,
                code,
                "send a valid admin API key as `Authorization: Bearer tsk_…`",
                vec![],
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tessera-admin\""),
            );
            r
        }
        CoreError::Forbidden { .. } => problem(StatusCode::FORBIDDEN, code, e.to_string(), vec![]),
        CoreError::ReauthenticationRequired { ref sign_in } => problem_body(
            StatusCode::FORBIDDEN,
            Problem {
                kind: format!("urn:tessera:problem:{code}"),
                title: title(StatusCode::FORBIDDEN),
                status: StatusCode::FORBIDDEN.as_u16(),
                code: code.to_owned(),
                detail: e.to_string(),
                errors: vec![],
                sign_in: Some(sign_in.clone()),
            },
        ),
        CoreError::Unavailable => {
            let mut r = problem(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                "the database is unavailable; retry shortly",
                vec![],
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
        CoreError::RateLimited { retry_after } => {
            let mut r = problem(
                StatusCode::TOO_MANY_REQUESTS,
                code,
                format!("too many requests from this network; retry after {retry_after} seconds"),
                vec![],
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after.max(1).to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        CoreError::Internal(detail) => {
            tracing::error!(%detail, "internal error");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                code,
                "something went wrong on our side",
                vec![],
            )
        }
    }
}
