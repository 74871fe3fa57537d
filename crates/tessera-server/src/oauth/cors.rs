//! CORS for the token, userinfo and revocation endpoints (WEB-04), so a browser app can call them from
//! an origin its client registered, and no other page can read the answers. A preflight is answered for
//! an origin any client of the tenant registered (it does not say which client it is for); an actual
//! response echoes the origin only if the client it was for (set by the handler as [`CorsClient`])
//! registered it, or, when the handler did not know the client, any client of the tenant did. Never
//! `*`, never `Access-Control-Allow-Credentials`: these endpoints take credentials in headers and
//! bodies, not cookies.
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tessera_core::oauth::ClientAuth;

use crate::AppState;

/// Request headers a browser app may send: the client or bearer credentials, the form type, a DPoP
/// proof.
const ALLOW_HEADERS: &str = "authorization, content-type, dpop";
/// Response headers a browser app may read besides the simple ones.
const EXPOSE_HEADERS: &str = "www-authenticate, dpop-nonce";
/// How long a browser may reuse a preflight answer, in seconds.
const MAX_AGE: &str = "600";

/// The client an answer was for, put in the response's extensions by the handler.
#[derive(Debug, Clone)]
pub struct CorsClient(pub String);

/// The client id a request's client authentication names, if it names one.
pub fn client_named(auth: &ClientAuth) -> Option<String> {
    match auth {
        ClientAuth::Basic { client_id, .. }
        | ClientAuth::Post { client_id, .. }
        | ClientAuth::None { client_id } => Some(client_id.clone()),
        ClientAuth::Assertion { client_id, .. } => client_id.clone(),
    }
}

fn origin_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn allows(app: &AppState, tenant: &str, origin: &str, client: Option<&str>) -> bool {
    match app
        .tessera
        .oauth()
        .cors_allows(tenant, origin, client)
        .await
    {
        Ok(ok) => ok,
        Err(e) => {
            tracing::warn!(error = %e, "CORS origin check failed; answering without CORS headers");
            false
        }
    }
}

/// `OPTIONS` on a CORS-enabled endpoint: `204`, with the CORS headers only for a registered origin.
pub async fn preflight(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = origin_of(&headers) else {
        return r;
    };
    if !allows(&app, &tenant, &origin, None).await {
        return r;
    }
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE),
        );
    }
    r
}

/// Middleware on the CORS-enabled endpoints: echoes a registered `Origin` on the actual response.
pub async fn actual(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    req: Request,
    next: Next,
) -> Response {
    let origin = (req.method() != Method::OPTIONS)
        .then(|| origin_of(req.headers()))
        .flatten();
    let mut r = next.run(req).await;
    let Some(origin) = origin else {
        return r;
    };
    r.headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
    let client = r.extensions().get::<CorsClient>().map(|c| c.0.clone());
    if allows(&app, &tenant, &origin, client.as_deref()).await
        && let Ok(v) = HeaderValue::from_str(&origin)
    {
        let h = r.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    r
}
