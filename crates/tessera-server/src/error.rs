//! The one place where errors become HTTP. [`classify`] maps every core error to its status, stable code
//! and `Retry-After`; here the API's failures leave the server as RFC 9457 `application/problem+json`
//! documents with that `code`, and the hosted pages draw the same errors as HTML (`public::respond`)
//! from the same mapping. The OAuth endpoints answer in OAuth's forms ([`oauth`]) and SCIM in its
//! error schema ([`scim`]).
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

/// How an error leaves the server, whatever its form: every rendering of a [`CoreError`] (the
/// problem+json answer here, the hosted pages' error page in `public::respond`) takes its status, its
/// stable code and its `Retry-After` from this one mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorClass {
    pub status: StatusCode,
    /// The error's stable code ([`CoreError::code`]).
    pub code: &'static str,
    /// Seconds to wait before trying again, for errors that pass (sent as `Retry-After`).
    pub retry_after: Option<i64>,
}

impl ErrorClass {
    /// Sets `Retry-After` on `resp` when the error passes.
    pub fn add_headers(&self, resp: &mut Response) {
        if let Some(v) = self
            .retry_after
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
}

/// The one mapping from core errors to HTTP.
pub fn classify(e: &CoreError) -> ErrorClass {
    let (status, retry_after) = match e {
        CoreError::NotFound { .. } => (StatusCode::NOT_FOUND, None),
        CoreError::Conflict { .. } => (StatusCode::CONFLICT, None),
        CoreError::VersionMismatch { .. } => (StatusCode::PRECONDITION_FAILED, None),
        CoreError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, None),
        // A form that fails its CSRF token or its browser binding is refused, not misunderstood
        // (browser flows only: apps hold a flow secret instead).
        CoreError::BadRequest {
            code: "csrf" | "flow_binding",
            ..
        } => (StatusCode::FORBIDDEN, None),
        CoreError::BadRequest { .. } => (StatusCode::BAD_REQUEST, None),
        CoreError::Unauthenticated => (StatusCode::UNAUTHORIZED, None),
        CoreError::Forbidden { .. } | CoreError::ReauthenticationRequired { .. } => {
            (StatusCode::FORBIDDEN, None)
        }
        CoreError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, Some(5)),
        CoreError::RateLimited { retry_after } => {
            (StatusCode::TOO_MANY_REQUESTS, Some((*retry_after).max(1)))
        }
        CoreError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
    };
    ErrorClass {
        status,
        code: e.code(),
        retry_after,
    }
}

/// A core error as problem+json.
fn core_response(e: CoreError) -> Response {
    let class = classify(&e);
    let unauthenticated = matches!(e, CoreError::Unauthenticated);
    let sign_in = match &e {
        CoreError::ReauthenticationRequired { sign_in } => Some(sign_in.clone()),
        _ => None,
    };
    let (detail, problems) = match e {
        CoreError::Invalid {
            detail, problems, ..
        } => (detail, problems),
        CoreError::Unauthenticated => (
            "send a valid admin API key as `Authorization: Bearer tsk_…`".to_owned(),
            vec![],
        ),
        CoreError::Unavailable => (
            "the database is unavailable; retry shortly".to_owned(),
            vec![],
        ),
        CoreError::RateLimited { retry_after } => (
            format!("too many requests from this network; retry after {retry_after} seconds"),
            vec![],
        ),
        CoreError::Internal(detail) => {
            tracing::error!(%detail, "internal error");
            ("something went wrong on our side".to_owned(), vec![])
        }
        other => (other.to_string(), vec![]),
    };
    let body = Problem {
        kind: format!("urn:tessera:problem:{}", class.code),
        title: title(class.status),
        status: class.status.as_u16(),
        code: class.code.to_owned(),
        detail,
        errors: problems,
        sign_in,
    };
    let mut r = problem_body(class.status, body);
    class.add_headers(&mut r);
    if unauthenticated {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"tessera-admin\""),
        );
    }
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::public::Pages;
    use crate::views::{Locale, Views};
    use tessera_model::flow::FlowKind;

    /// One of every variant (and of each `BadRequest` the mapping tells apart). The match has no
    /// wildcard, so a new variant does not compile until it is listed here.
    fn every_error() -> Vec<CoreError> {
        let all = vec![
            CoreError::NotFound { what: "flow" },
            CoreError::Conflict {
                code: "flow_changed",
                detail: "x".into(),
            },
            CoreError::VersionMismatch {
                expected: 1,
                found: 2,
            },
            CoreError::Invalid {
                code: "invalid",
                detail: "x".into(),
                problems: vec![],
            },
            CoreError::BadRequest {
                code: "csrf",
                detail: "x".into(),
            },
            CoreError::BadRequest {
                code: "flow_binding",
                detail: "x".into(),
            },
            CoreError::BadRequest {
                code: "code_invalid",
                detail: "x".into(),
            },
            CoreError::Unauthenticated,
            CoreError::Forbidden {
                permission: "tenants.write",
            },
            CoreError::ReauthenticationRequired {
                sign_in: "/t/acme/login?return_to=/t/acme/settings".into(),
            },
            CoreError::Unavailable,
            CoreError::RateLimited { retry_after: 61 },
            CoreError::Internal("db row 7 is corrupt".into()),
        ];
        for e in &all {
            match e {
                CoreError::NotFound { .. }
                | CoreError::Conflict { .. }
                | CoreError::VersionMismatch { .. }
                | CoreError::Invalid { .. }
                | CoreError::BadRequest { .. }
                | CoreError::Unauthenticated
                | CoreError::Forbidden { .. }
                | CoreError::ReauthenticationRequired { .. }
                | CoreError::Unavailable
                | CoreError::RateLimited { .. }
                | CoreError::Internal(_) => {}
            }
        }
        all
    }

    #[tokio::test]
    async fn every_core_error_has_one_status_as_a_problem_and_as_a_page() {
        let views = Views::new(None).unwrap();
        let pages = Pages {
            views: &views,
            https: true,
            tenant: "acme",
            locale: Locale::En,
        };
        for (for_api, for_page) in every_error().into_iter().zip(every_error()) {
            let name = format!("{for_api:?}");
            let class = classify(&for_api);
            let problem = ApiError::Core(for_api).into_response();
            let page = pages.error(FlowKind::Login, &for_page);
            assert_eq!(problem.status(), class.status, "{name}: problem");
            assert_eq!(page.status(), class.status, "{name}: page");
            assert_eq!(
                problem.headers().get(header::RETRY_AFTER),
                page.headers().get(header::RETRY_AFTER),
                "{name}: Retry-After"
            );
            assert_eq!(
                class
                    .retry_after
                    .map(|s| HeaderValue::from_str(&s.to_string()).unwrap()),
                page.headers().get(header::RETRY_AFTER).cloned(),
                "{name}"
            );
            assert_eq!(
                problem.headers()[header::CONTENT_TYPE],
                "application/problem+json"
            );
            assert_eq!(
                page.headers()[header::CONTENT_TYPE],
                "text/html; charset=utf-8"
            );
            let body = axum::body::to_bytes(problem.into_body(), 1 << 20)
                .await
                .unwrap();
            assert!(
                !String::from_utf8_lossy(&body).contains("corrupt"),
                "{name}: internal details stay in the log"
            );
            let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(doc["code"], class.code, "{name}");
            assert_eq!(doc["status"], class.status.as_u16(), "{name}");
            let html = axum::body::to_bytes(page.into_body(), 1 << 20)
                .await
                .unwrap();
            let html = String::from_utf8(html.to_vec()).unwrap();
            assert!(html.starts_with("<!doctype html>"), "{name}: {html}");
            assert!(!html.contains("corrupt"), "{name}");
        }
        // The statuses themselves, so the mapping cannot drift unnoticed.
        let statuses: Vec<u16> = every_error()
            .iter()
            .map(|e| classify(e).status.as_u16())
            .collect();
        assert_eq!(
            statuses,
            [
                404, 409, 412, 422, 403, 403, 400, 401, 403, 403, 503, 429, 500
            ]
        );
    }

    #[tokio::test]
    async fn a_rate_limited_page_says_how_many_minutes_to_wait() {
        let views = Views::new(None).unwrap();
        let pages = Pages {
            views: &views,
            https: false,
            tenant: "acme",
            locale: Locale::En,
        };
        let page = pages.error(FlowKind::Login, &CoreError::RateLimited { retry_after: 61 });
        assert_eq!(page.headers()[header::RETRY_AFTER], "61");
        let html = axum::body::to_bytes(page.into_body(), 1 << 20)
            .await
            .unwrap();
        let html = String::from_utf8(html.to_vec()).unwrap();
        assert!(html.contains("2 minutes"), "{html}");
        assert!(
            html.contains("href=\"/t/acme/login\""),
            "start again: {html}"
        );
    }
}
