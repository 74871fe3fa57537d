//! SCIM 2.0 errors (RFC 7644 §3.12), made here and nowhere else: `application/scim+json` with the
//! error schema, the status as a string, and a `scimType` where the RFC defines one for the failure.
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::CoreError;

/// The SCIM error schema URN.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` values of RFC 7644 Table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
            Self::InvalidVers => "invalidVers",
            Self::Sensitive => "sensitive",
        }
    }
}

#[derive(Debug, Serialize)]
struct Body {
    schemas: [&'static str; 1],
    status: String,
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    scim_type: Option<&'static str>,
    detail: String,
}

/// One SCIM error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<ScimType>,
    pub detail: String,
}

impl ScimError {
    /// The SCIM form of a core failure.
    pub fn from_core(e: &CoreError) -> Self {
        let (status, scim_type) = match e {
            CoreError::NotFound { .. } => (StatusCode::NOT_FOUND, None),
            CoreError::Conflict { .. } => (StatusCode::CONFLICT, Some(ScimType::Uniqueness)),
            CoreError::VersionMismatch { .. } => (StatusCode::PRECONDITION_FAILED, None),
            CoreError::Invalid { .. } => (StatusCode::BAD_REQUEST, Some(ScimType::InvalidValue)),
            CoreError::BadRequest { .. } => {
                (StatusCode::BAD_REQUEST, Some(ScimType::InvalidSyntax))
            }
            CoreError::Unauthenticated => (StatusCode::UNAUTHORIZED, None),
            CoreError::Forbidden { .. } | CoreError::ReauthenticationRequired { .. } => {
                (StatusCode::FORBIDDEN, None)
            }
            CoreError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, None),
            CoreError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, None),
            CoreError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        let detail = match e {
            CoreError::Internal(_) => "something went wrong on our side".to_owned(),
            CoreError::Unauthenticated => "send a valid bearer token".to_owned(),
            other => other.to_string(),
        };
        Self {
            status,
            scim_type,
            detail,
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let body = Body {
            schemas: [ERROR_SCHEMA],
            status: self.status.as_u16().to_string(),
            scim_type: self.scim_type.map(ScimType::as_str),
            detail: self.detail,
        };
        let mut r = (self.status, axum::Json(body)).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/scim+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tessera-scim\""),
            );
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_scim_error_carries_the_schema_a_string_status_and_its_type() {
        let e = ScimError::from_core(&CoreError::Conflict {
            code: "identifier_taken",
            detail: "userName is taken".into(),
        });
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/scim+json");
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["schemas"], serde_json::json!([ERROR_SCHEMA]));
        assert_eq!(v["status"], "409");
        assert_eq!(v["scimType"], "uniqueness");
    }

    #[test]
    fn internals_stay_inside_and_no_admin_key_is_mentioned() {
        let e = ScimError::from_core(&CoreError::Internal("hunter2".into()));
        assert!(!e.detail.contains("hunter2"));
        let e = ScimError::from_core(&CoreError::Unauthenticated);
        assert!(!e.detail.contains("admin"));
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
    }
}
