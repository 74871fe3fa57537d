//! `GET` and `POST /t/{tenant}/oauth2/authorize` and the sign-in's way back,
//! `GET /t/{tenant}/oauth2/authorize/continue?request=…` (RFC 6749 §4.1, OIDC Core §3.1.2). Thin: the
//! request's parameters go to the core as they came (it refuses repeats, OA-17) and the answer is drawn:
//! an error page until the client and its redirect URI are known (OA-02), else a 303 to the registered
//! redirect URI with `code` or `error`, `state` and `iss` (RFC 9207, OA-16, OA-18), or a 303 to the
//! hosted sign-in with the browser's binding cookie, or the consent page, whose answer is
//! `POST /t/{tenant}/oauth2/consent` (CON-01).
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_core::oauth::authorize::{Authorized, AuthzErrorCode, RawParams, consent_path};
use tessera_model::flow::FlowKind;
use tessera_model::redirect_uri::RegisteredRedirect;

use crate::AppState;
use crate::error::oauth::{OAuthCode, OAuthError};
use crate::public::Browser;

fn oauth_code(c: AuthzErrorCode) -> OAuthCode {
    match c {
        AuthzErrorCode::InvalidRequest => OAuthCode::InvalidRequest,
        AuthzErrorCode::UnauthorizedClient => OAuthCode::UnauthorizedClient,
        AuthzErrorCode::AccessDenied => OAuthCode::AccessDenied,
        AuthzErrorCode::UnsupportedResponseType => OAuthCode::UnsupportedResponseType,
        AuthzErrorCode::InvalidScope => OAuthCode::InvalidScope,
        AuthzErrorCode::ServerError => OAuthCode::ServerError,
        AuthzErrorCode::TemporarilyUnavailable => OAuthCode::TemporarilyUnavailable,
        AuthzErrorCode::LoginRequired => OAuthCode::LoginRequired,
        AuthzErrorCode::ConsentRequired => OAuthCode::ConsentRequired,
        AuthzErrorCode::InteractionRequired => OAuthCode::InteractionRequired,
        AuthzErrorCode::RequestNotSupported => OAuthCode::RequestNotSupported,
        AuthzErrorCode::InvalidRequestUri => OAuthCode::InvalidRequestUri,
        AuthzErrorCode::RequestUriNotSupported => OAuthCode::RequestUriNotSupported,
        AuthzErrorCode::UnmetAuthenticationRequirements => {
            OAuthCode::UnmetAuthenticationRequirements
        }
    }
}

/// The successful authorization response: `code`, `state`, `iss` added to the registered URI's query.
fn code_response(
    to: &RegisteredRedirect,
    code: &str,
    state: Option<&str>,
    issuer: &str,
) -> Response {
    let mut target = to.as_url().clone();
    let mut params = url::form_urlencoded::Serializer::new(String::new());
    params.append_pair("code", code);
    if let Some(s) = state {
        params.append_pair("state", s);
    }
    params.append_pair("iss", issuer);
    let params = params.finish();
    let query = match target.query() {
        Some(q) if !q.is_empty() => format!("{q}&{params}"),
        _ => params,
    };
    target.set_query(Some(&query));
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(target.as_str()) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Draws what the core decided.
fn answer(
    app: &AppState,
    b: &Browser,
    out: Result<Authorized, tessera_core::CoreError>,
) -> Response {
    let pages = b.pages(app);
    match out {
        Ok(Authorized::Page(refusal)) => {
            let mut args = serde_json::Map::new();
            args.insert("detail".into(), serde_json::json!(refusal.detail));
            pages.message_with(
                StatusCode::BAD_REQUEST,
                "page-oauth-error-title",
                "page-oauth-error-text",
                args,
                None,
            )
        }
        Ok(Authorized::Error {
            to,
            state,
            issuer,
            error,
        }) => OAuthError::new(oauth_code(error.code), error.description).to_client(
            &to,
            state.as_deref(),
            &issuer,
            false,
        ),
        Ok(Authorized::Code {
            to,
            state,
            issuer,
            code,
        }) => code_response(&to, &code, state.as_deref(), &issuer),
        Ok(Authorized::SignIn {
            location,
            new_binding,
        }) => {
            let mut r = crate::public::see_other(&location);
            if let Some(b) = new_binding {
                r.headers_mut()
                    .append(header::SET_COOKIE, app.cookies.flow_cookie(&b));
            }
            r
        }
        Ok(Authorized::Consent { page, new_binding }) => {
            let form = crate::views::ConsentForm {
                action: consent_path(&b.tenant),
                request: page.request.to_string(),
                csrf_token: page.csrf_token,
                client: page.client_name,
                host: page.redirect_host,
                scopes: page.scopes,
            };
            let mut r = pages.consent(&form);
            if let Some(b) = new_binding {
                r.headers_mut()
                    .append(header::SET_COOKIE, app.cookies.flow_cookie(&b));
            }
            r
        }
        Err(e) => pages.error(FlowKind::Login, &e),
    }
}

/// The text of a form a browser posted to an OAuth page endpoint (authorize, consent, logout); `None`
/// for a body that is not a UTF-8 form, which gets [`not_a_form`], never an OAuth redirect.
pub(super) fn browser_form<'a>(headers: &HeaderMap, body: &'a [u8]) -> Option<&'a str> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    form.then(|| std::str::from_utf8(body).ok()).flatten()
}

/// The 415 page for a body [`browser_form`] did not take.
pub(super) fn not_a_form(app: &AppState, b: &Browser) -> Response {
    b.pages(app).message(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "page-bad-request-title",
        "page-bad-request-text",
        None,
    )
}

/// `GET /t/{tenant}/oauth2/authorize`.
pub async fn authorize_get(
    State(app): State<AppState>,
    b: Browser,
    RawQuery(q): RawQuery,
) -> Response {
    let params = RawParams::parse(q.as_deref().unwrap_or(""));
    let out = app.tessera.oauth().authorize(&b.ctx, &params).await;
    answer(&app, &b, out)
}

/// `POST /t/{tenant}/oauth2/authorize`: the same parameters as a form body (OIDC Core §3.1.2.1).
pub async fn authorize_post(
    State(app): State<AppState>,
    b: Browser,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(text) = browser_form(&headers, &body) else {
        return not_a_form(&app, &b);
    };
    let params = RawParams::parse(text);
    let out = app.tessera.oauth().authorize(&b.ctx, &params).await;
    answer(&app, &b, out)
}

/// `GET /t/{tenant}/oauth2/authorize/continue?request=…`.
pub async fn authorize_continue(
    State(app): State<AppState>,
    b: Browser,
    RawQuery(q): RawQuery,
) -> Response {
    let params = RawParams::parse(q.as_deref().unwrap_or(""));
    let request = params.get("request").unwrap_or("");
    let out = app
        .tessera
        .oauth()
        .authorize_continue(&b.ctx, request)
        .await;
    answer(&app, &b, out)
}

/// `POST /t/{tenant}/oauth2/consent`: Allow or Deny on the consent page. The form carries the stored
/// request's id, its CSRF token and `decision`; the core checks both against this browser.
pub async fn consent_post(
    State(app): State<AppState>,
    b: Browser,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(text) = browser_form(&headers, &body) else {
        return not_a_form(&app, &b);
    };
    let params = RawParams::parse(text);
    let allow = match params.get("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => {
            return b.pages(&app).message(
                StatusCode::BAD_REQUEST,
                "page-bad-request-title",
                "page-bad-request-text",
                None,
            );
        }
    };
    let out = app
        .tessera
        .oauth()
        .consent(
            &b.ctx,
            params.get("request").unwrap_or(""),
            params.get("csrf_token").unwrap_or(""),
            allow,
        )
        .await;
    answer(&app, &b, out)
}
