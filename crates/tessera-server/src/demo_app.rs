//! The demo app of a development node, on the public listener at `/dev/demo-app`: a small relying party
//! that does what any app does, over HTTP like any app. "Sign in with Tessera" sends the browser to the
//! default tenant's authorization endpoint (code flow, PKCE S256, `state`, `nonce`); the callback checks
//! `state` and `iss`, redeems the code at the token endpoint, verifies the ID token's signature against the
//! published JWKS and its `iss`, `aud`, `nonce` and `exp`, calls userinfo with the access token, and shows
//! the claims. Served only in development mode with a loopback base URL; elsewhere its paths are 404.
use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tessera_core::oauth::demo::DEMO_CLIENT_ID;
use tessera_crypto::jws::{self, Jwk, VerifyingKey};

use crate::AppState;

/// The tenant the demo app signs in to.
const TENANT: &str = "default";
const COOKIE: &str = "tessera_demo";
const PATH: &str = "/dev/demo-app";

/// The demo app's redirect URI on a node with this base URL, when the demo app runs there: development
/// mode and a loopback IP base URL (a redirect to `http://localhost` cannot be registered, OA-03).
pub fn redirect_uri(config: &tessera_core::config::Config) -> Option<String> {
    let uri = format!(
        "{}{PATH}/callback",
        config.base_url.as_str().trim_end_matches('/')
    );
    let loopback = tessera_core::config::is_loopback_url(&config.base_url);
    (config.dev_mode && loopback && tessera_model::redirect_uri::registrable(&uri).is_ok())
        .then_some(uri)
}

fn base(app: &AppState) -> String {
    app.tessera
        .flows()
        .public_url(TENANT, "")
        .trim_end_matches('/')
        .to_owned()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>Tessera demo app</title><link rel=stylesheet href=\"/assets/tessera.css\"></head><body><main>\
         <h1>Tessera demo app</h1><p>A development-mode example of an app that signs its customers in with \
         OpenID Connect through the <code>{TENANT}</code> tenant.</p>{body}</main></body></html>"
    );
    let mut r = (status, html).into_response();
    crate::public::html_headers(&mut r, false, None);
    r
}

fn problem(what: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        &format!(
            "<p role=alert>{}</p><p><a href=\"{PATH}\">Start again</a></p>",
            escape(what)
        ),
    )
}

/// `GET /dev/demo-app`: the button.
pub async fn home(State(app): State<AppState>) -> Response {
    if app.demo_redirect.is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    page(
        StatusCode::OK,
        &format!(
            "<p><a class=button id=sign-in href=\"{PATH}/start\">Sign in with Tessera</a></p>"
        ),
    )
}

/// `GET /dev/demo-app/start`: a fresh `state`, `nonce` and PKCE verifier kept in a cookie, and the
/// browser sent to the authorization endpoint.
pub async fn start(State(app): State<AppState>) -> Response {
    let Some(redirect) = app.demo_redirect.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let fresh = || tessera_crypto::random_token();
    let (Ok(state), Ok(nonce), Ok(verifier)) = (fresh(), fresh(), fresh()) else {
        return problem("No randomness available.");
    };
    let base_url = base(&app);
    let mut to = match url::Url::parse(&format!("{base_url}/oauth2/authorize")) {
        Ok(u) => u,
        Err(_) => return problem("The base URL is not a URL."),
    };
    to.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", DEMO_CLIENT_ID)
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", "openid profile email")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &tessera_crypto::pkce_s256(&verifier))
        .append_pair("code_challenge_method", "S256");
    let mut r = StatusCode::SEE_OTHER.into_response();
    let cookie = format!(
        "{COOKIE}={state}.{nonce}.{verifier}; Path={PATH}; HttpOnly; SameSite=Lax; Max-Age=600"
    );
    for (name, value) in [
        (header::LOCATION, to.as_str()),
        (header::SET_COOKIE, &cookie),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            r.headers_mut().insert(name, v);
        }
    }
    r
}

fn cookie_value(headers: &HeaderMap) -> Option<(String, String, String)> {
    let raw = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_owned)
        })?;
    let mut parts = raw.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(s), Some(n), Some(v), None) => Some((s.into(), n.into(), v.into())),
        _ => None,
    }
}

/// `GET /dev/demo-app/callback`: what an app does with the answer.
pub async fn callback(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(redirect) = app.demo_redirect.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let issuer = base(&app);
    let Some((state, nonce, verifier)) = cookie_value(&headers) else {
        return problem("This browser did not start a sign-in here (no demo cookie).");
    };
    if q.get("state") != Some(&state) {
        return problem("The state does not match the one this browser sent: refused.");
    }
    if q.get("iss") != Some(&issuer) {
        return problem("The answer does not name the expected issuer (RFC 9207): refused.");
    }
    if let Some(e) = q.get("error") {
        let d = q.get("error_description").cloned().unwrap_or_default();
        return problem(&format!("Tessera answered {e}: {d}"));
    }
    let Some(code) = q.get("code") else {
        return problem("The answer has no code.");
    };
    match redeem(&issuer, &redirect, code, &verifier, &nonce).await {
        Ok(shown) => {
            let mut r = page(StatusCode::OK, &shown);
            if let Ok(v) = HeaderValue::from_str(&format!("{COOKIE}=; Path={PATH}; Max-Age=0")) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(why) => problem(&why),
    }
}

/// The code exchanged, the ID token verified, userinfo fetched: the page body, or why it failed.
async fn redeem(
    issuer: &str,
    redirect: &str,
    code: &str,
    verifier: &str,
    nonce: &str,
) -> Result<String, String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let tokens: Value = http
        .post(format!("{issuer}/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("client_id", DEMO_CLIENT_ID),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .map_err(|e| format!("the token endpoint did not answer: {e}"))?
        .json()
        .await
        .map_err(|e| format!("the token endpoint's answer is not JSON: {e}"))?;
    if let Some(e) = tokens.get("error").and_then(Value::as_str) {
        return Err(format!("the token endpoint refused the code: {e}"));
    }
    let text = |k: &str| tokens.get(k).and_then(Value::as_str).unwrap_or_default();
    let (id_token, access_token) = (text("id_token"), text("access_token"));
    let claims = verify_id_token(&http, issuer, id_token, nonce).await?;
    let userinfo: Value = http
        .get(format!("{issuer}/oauth2/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .map_err(|e| format!("userinfo did not answer: {e}"))?
        .json()
        .await
        .map_err(|e| format!("userinfo's answer is not JSON: {e}"))?;
    let pretty = |v: &Value| escape(&serde_json::to_string_pretty(v).unwrap_or_default());
    Ok(format!(
        "<p id=signed-in>Signed in. The ID token's signature, issuer, audience, nonce and expiry checked out.</p>\
         <h2>ID token claims</h2><pre id=id-token-claims>{}</pre>\
         <h2>Userinfo</h2><pre id=userinfo>{}</pre>\
         <p><a href=\"{PATH}\">Sign in again</a></p>",
        pretty(&Value::Object(claims)),
        pretty(&userinfo)
    ))
}

/// Checks an ID token as an app must (OIDC Core §3.1.3.7): signed by a key of the issuer's JWKS with
/// that key's algorithm, `iss` the issuer, `aud` this client, our `nonce`, not expired.
async fn verify_id_token(
    http: &reqwest::Client,
    issuer: &str,
    id_token: &str,
    nonce: &str,
) -> Result<serde_json::Map<String, Value>, String> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<Jwk>,
    }
    let set: Set = http
        .get(format!("{issuer}/.well-known/jwks.json"))
        .send()
        .await
        .map_err(|e| format!("the JWKS did not answer: {e}"))?
        .json()
        .await
        .map_err(|e| format!("the JWKS is not a key set: {e}"))?;
    let keys: BTreeMap<String, VerifyingKey> = set
        .keys
        .iter()
        .filter_map(|k| VerifyingKey::from_jwk(k).ok().map(|v| (k.kid.clone(), v)))
        .collect();
    let verified = jws::verify(id_token, "JWT", &keys)
        .map_err(|e| format!("the ID token does not verify: {e}"))?;
    let c = verified.claims;
    let s = |k: &str| c.get(k).and_then(Value::as_str);
    if s("iss") != Some(issuer) {
        return Err("the ID token names another issuer".into());
    }
    let aud_ok = match c.get("aud") {
        Some(Value::String(a)) => a == DEMO_CLIENT_ID,
        Some(Value::Array(a)) => a.iter().any(|x| x == DEMO_CLIENT_ID),
        _ => false,
    };
    if !aud_ok {
        return Err("the ID token is for another app".into());
    }
    if s("nonce") != Some(nonce) {
        return Err("the ID token's nonce is not ours".into());
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if c.get("exp")
        .and_then(Value::as_i64)
        .is_none_or(|exp| exp < now)
    {
        return Err("the ID token expired".into());
    }
    Ok(c)
}
