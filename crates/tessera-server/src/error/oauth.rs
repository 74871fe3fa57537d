//! OAuth 2.0 and OpenID Connect errors, in the three forms the specifications give them, each made here
//! and nowhere else:
//! - the token, revocation, introspection and PAR endpoints answer JSON (RFC 6749 §5.2), `401` with a
//!   `WWW-Authenticate` challenge when the client failed to authenticate through the `Authorization`
//!   header;
//! - the authorization endpoint sends the error back to the client, but only to a
//!   [`RegisteredRedirect`] (so only after the redirect URI matched the client's registration, OA-02),
//!   with `state` and `iss` (RFC 9207, OA-16), by `303` (OA-18);
//! - resource endpoints (userinfo) challenge with `WWW-Authenticate: Bearer` (RFC 6750 §3).
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::CoreError;
use tessera_model::redirect_uri::RegisteredRedirect;

/// The registered error codes (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1; OIDC Core §3.1.2.6; RFC 8628 §3.5;
/// RFC 9126 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    AccountSelectionRequired,
    InvalidRequestUri,
    RequestNotSupported,
    RequestUriNotSupported,
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    InvalidToken,
    InsufficientScope,
    UnmetAuthenticationRequirements,
}

impl OAuthCode {
    /// Every code, for parsing.
    const ALL: [OAuthCode; 23] = [
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::UnsupportedResponseType,
        Self::InvalidScope,
        Self::AccessDenied,
        Self::ServerError,
        Self::TemporarilyUnavailable,
        Self::LoginRequired,
        Self::ConsentRequired,
        Self::InteractionRequired,
        Self::AccountSelectionRequired,
        Self::InvalidRequestUri,
        Self::RequestNotSupported,
        Self::RequestUriNotSupported,
        Self::AuthorizationPending,
        Self::SlowDown,
        Self::ExpiredToken,
        Self::InvalidToken,
        Self::InsufficientScope,
        Self::UnmetAuthenticationRequirements,
    ];

    /// The code with this registered name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::AccountSelectionRequired => "account_selection_required",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
        }
    }
}

/// One OAuth error. `description` is for the developer, never for a customer, and never holds input
/// echoed back unchecked: it is limited to the characters RFC 6749 §5.2 allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: OAuthCode,
    pub description: Option<String>,
    /// Seconds to wait, for `slow_down`, `temporarily_unavailable` and rate limits.
    pub retry_after: Option<i64>,
    /// A quota refused the request (RL-06): `temporarily_unavailable` in the body, as RFC 6749 has no
    /// code of its own for it, but HTTP 429 rather than 503, so clients and proxies see a rate limit and
    /// not an outage.
    pub rate_limited: bool,
}

/// `error_description` may hold %x20-21 / %x23-5B / %x5D-7E only.
fn clean_description(d: &str) -> String {
    d.chars()
        .filter(|c| matches!(*c as u32, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        .take(300)
        .collect()
}

#[derive(Serialize)]
struct Body {
    error: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<String>,
}

/// How the client presented its credentials, which decides the challenge of an `invalid_client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthUsed {
    /// `Authorization: Basic` (RFC 6749 §5.2: 401 with a `Basic` challenge).
    Basic,
    /// In the body, as an assertion, or not at all.
    Other,
}

impl OAuthError {
    pub fn new(code: OAuthCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: Some(description.into()),
            retry_after: None,
            rate_limited: false,
        }
    }

    /// The error a core failure is at an OAuth endpoint.
    pub fn from_core(e: &CoreError) -> Self {
        let (code, retry_after) = match e {
            CoreError::Unauthenticated => (OAuthCode::InvalidClient, None),
            CoreError::Forbidden { .. } => (OAuthCode::UnauthorizedClient, None),
            CoreError::ReauthenticationRequired { .. } => (OAuthCode::LoginRequired, None),
            // The core says a protocol refusal with its registered code (`invalid_grant`…).
            CoreError::BadRequest { code, .. } if OAuthCode::parse(code).is_some() => (
                OAuthCode::parse(code).unwrap_or(OAuthCode::InvalidRequest),
                None,
            ),
            CoreError::NotFound { .. }
            | CoreError::Invalid { .. }
            | CoreError::BadRequest { .. }
            | CoreError::Conflict { .. }
            | CoreError::VersionMismatch { .. } => (OAuthCode::InvalidRequest, None),
            CoreError::RateLimited { retry_after } => {
                (OAuthCode::TemporarilyUnavailable, Some(*retry_after))
            }
            CoreError::Unavailable => (OAuthCode::TemporarilyUnavailable, Some(5)),
            CoreError::Internal(_) => (OAuthCode::ServerError, None),
        };
        let description = match e {
            CoreError::Internal(_) => "something went wrong on our side".to_owned(),
            other => other.to_string(),
        };
        Self {
            code,
            description: Some(description),
            retry_after,
            rate_limited: matches!(e, CoreError::RateLimited { .. }),
        }
    }

    fn body(&self) -> Body {
        Body {
            error: self.code.as_str(),
            error_description: self.description.as_deref().map(clean_description),
        }
    }

    /// The answer of the token, revocation, introspection and PAR endpoints.
    pub fn at_token_endpoint(&self, auth: ClientAuthUsed) -> Response {
        let status = match self.code {
            OAuthCode::InvalidClient if auth == ClientAuthUsed::Basic => StatusCode::UNAUTHORIZED,
            OAuthCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            OAuthCode::TemporarilyUnavailable if self.rate_limited => StatusCode::TOO_MANY_REQUESTS,
            OAuthCode::TemporarilyUnavailable if self.retry_after.is_some() => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::BAD_REQUEST,
        };
        let mut r = (status, axum::Json(self.body())).into_response();
        let h = r.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tessera\""),
            );
        }
        self.retry_header(&mut r);
        r
    }

    /// The error sent back to the client from the authorization endpoint: to a redirect URI that matched
    /// the client's registration, never to one taken from the request as it came (OA-02), with the
    /// request's `state` and the issuer (OA-16). `fragment` for `response_mode=fragment`.
    pub fn to_client(
        &self,
        to: &RegisteredRedirect,
        state: Option<&str>,
        issuer: &str,
        fragment: bool,
    ) -> Response {
        let mut target = to.as_url().clone();
        let mut params = url::form_urlencoded::Serializer::new(String::new());
        params.append_pair("error", self.code.as_str());
        if let Some(d) = &self.description {
            params.append_pair("error_description", &clean_description(d));
        }
        if let Some(s) = state {
            params.append_pair("state", s);
        }
        params.append_pair("iss", issuer);
        let params = params.finish();
        if fragment {
            target.set_fragment(Some(&params));
        } else {
            let query = match target.query() {
                Some(q) if !q.is_empty() => format!("{q}&{params}"),
                _ => params,
            };
            target.set_query(Some(&query));
        }
        let mut r = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(target.as_str()) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }

    /// The answer of a resource endpoint (userinfo) to a bad or missing bearer token (RFC 6750 §3): a
    /// request without a token gets the bare challenge, with no error code (§3.1).
    pub fn at_resource(&self, realm: &str, token_sent: bool) -> Response {
        let status = match self.code {
            OAuthCode::InsufficientScope => StatusCode::FORBIDDEN,
            OAuthCode::InvalidRequest => StatusCode::BAD_REQUEST,
            OAuthCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            OAuthCode::TemporarilyUnavailable if self.rate_limited => StatusCode::TOO_MANY_REQUESTS,
            OAuthCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        };
        let realm = clean_description(realm).replace('"', "");
        let mut challenge = format!("Bearer realm=\"{realm}\"");
        if token_sent {
            challenge.push_str(&format!(", error=\"{}\"", self.code.as_str()));
            if let Some(d) = &self.description {
                challenge.push_str(&format!(
                    ", error_description=\"{}\"",
                    clean_description(d).replace('"', "")
                ));
            }
        }
        let mut r = if token_sent {
            (status, axum::Json(self.body())).into_response()
        } else {
            StatusCode::UNAUTHORIZED.into_response()
        };
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        self.retry_header(&mut r);
        r
    }

    fn retry_header(&self, r: &mut Response) {
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.max(1).to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(uri: &str) -> RegisteredRedirect {
        RegisteredRedirect::matching([uri], uri).expect("registered")
    }

    async fn json(r: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or_default()
    }

    #[tokio::test]
    async fn the_token_endpoint_answers_json_and_is_never_cached() {
        let e = OAuthError::new(OAuthCode::InvalidGrant, "the code was already used");
        let r = e.at_token_endpoint(ClientAuthUsed::Other);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(r.headers()[header::PRAGMA], "no-cache");
        assert_eq!(
            json(r).await,
            serde_json::json!({"error": "invalid_grant", "error_description": "the code was already used"})
        );
    }

    #[tokio::test]
    async fn a_failed_basic_authentication_is_challenged() {
        let e = OAuthError::from_core(&CoreError::Unauthenticated);
        let r = e.at_token_endpoint(ClientAuthUsed::Basic);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            r.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap_or_default()
                .starts_with("Basic")
        );
        assert_eq!(json(r).await["error"], "invalid_client");
        let r = e.at_token_endpoint(ClientAuthUsed::Other);
        assert_eq!(
            r.status(),
            StatusCode::BAD_REQUEST,
            "no challenge to answer"
        );
    }

    #[test]
    fn oa_16_an_error_goes_back_with_state_and_iss_by_303() {
        let e = OAuthError::new(OAuthCode::AccessDenied, "the customer said no");
        let r = e.to_client(
            &redirect("https://app.example/cb?tenant=1"),
            Some("xyz"),
            "https://id.example/t/default",
            false,
        );
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let to = url::Url::parse(r.headers()[header::LOCATION].to_str().unwrap()).unwrap();
        let q: Vec<(String, String)> = to.query_pairs().into_owned().collect();
        assert_eq!(
            q,
            vec![
                ("tenant".into(), "1".into()),
                ("error".into(), "access_denied".into()),
                ("error_description".into(), "the customer said no".into()),
                ("state".into(), "xyz".into()),
                ("iss".into(), "https://id.example/t/default".into()),
            ]
        );
        let r = e.to_client(
            &redirect("https://app.example/cb"),
            None,
            "https://id",
            true,
        );
        let loc = r.headers()[header::LOCATION]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            loc.starts_with("https://app.example/cb#error=access_denied"),
            "{loc}"
        );
    }

    #[test]
    fn descriptions_hold_only_the_characters_the_rfc_allows() {
        let e = OAuthError::new(
            OAuthCode::InvalidRequest,
            "bad \"x\"\r\nSet-Cookie: a=b \\ é",
        );
        let r = e.to_client(
            &redirect("https://app.example/cb"),
            None,
            "https://id",
            false,
        );
        let loc = r.headers()[header::LOCATION]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            !loc.contains("%0D") && !loc.contains("%0A") && !loc.contains("%22"),
            "{loc}"
        );
        let r = e.at_resource("tessera", true);
        let challenge = r.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            !challenge.contains('\r') && challenge.matches('"').count() == 6,
            "{challenge}"
        );
    }

    #[tokio::test]
    async fn oidc_04_a_resource_challenges_with_bearer() {
        let e = OAuthError::new(OAuthCode::InvalidToken, "the access token expired");
        let r = e.at_resource("tessera", true);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"tessera\", error=\"invalid_token\", error_description=\"the access token expired\""
        );
        let r = e.at_resource("tessera", false);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"tessera\""
        );
        let scope = OAuthError::new(OAuthCode::InsufficientScope, "needs profile");
        assert_eq!(
            scope.at_resource("tessera", true).status(),
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn every_core_error_has_an_oauth_form_and_internals_stay_inside() {
        let errors = [
            CoreError::Unauthenticated,
            CoreError::Unavailable,
            CoreError::RateLimited { retry_after: 7 },
            CoreError::Internal("db password is hunter2".into()),
        ];
        let codes: Vec<&str> = errors
            .iter()
            .map(|e| OAuthError::from_core(e).code.as_str())
            .collect();
        assert_eq!(
            codes,
            [
                "invalid_client",
                "temporarily_unavailable",
                "temporarily_unavailable",
                "server_error"
            ]
        );
        let internal = OAuthError::from_core(&errors[3]);
        assert!(!internal.description.unwrap_or_default().contains("hunter2"));
        let limited = OAuthError::from_core(&errors[2]).at_token_endpoint(ClientAuthUsed::Other);
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()[header::RETRY_AFTER], "7");
        let down = OAuthError::from_core(&errors[1]).at_token_endpoint(ClientAuthUsed::Other);
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
