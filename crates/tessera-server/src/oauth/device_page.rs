//! The hosted device page (RFC 8628 §3.3): `GET`/`POST /t/{tenant}/device`, where the customer types the
//! code their device shows, and `GET`/`POST /t/{tenant}/device/confirm`, where the signed-in customer
//! allows or denies it ("Sign in to <app> on your other device?", with the code to compare, the account
//! signed in and one plain line per scope, as the consent page draws them). The confirmation opens only
//! in the browser that typed the code (R8-2); elsewhere it says to type the code on the device page. A
//! decision posted after the browser switched accounts draws the page again for the account signed in
//! now (R9-4); one posted signed out says to sign in again and type the code (I-2). When the tenant's
//! quota of anonymous guesses is used up, the page asks to sign in first (R9-2). Plain forms like every
//! hosted page:
//! cross-site posts are refused (`PagePost`), each form carries a CSRF token bound to the browser, and
//! the pages have the hosted pages' CSP. Wrong codes are throttled in the core (RL-03).
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use tessera_core::CoreError;
use tessera_core::oauth::authorize::RawParams;
use tessera_core::oauth::device::{DeviceDecided, DeviceDecision, DeviceStep};
use tessera_model::flow::FlowKind;

use crate::AppState;
use crate::public::{Browser, PagePost};
use crate::views::{PageChoice, PageForm, PageInput};

/// A typed code is at most this long (the page shows back what was typed, escaped).
const MAX_TYPED: usize = 20;

fn with_binding(app: &AppState, mut r: Response, new_binding: Option<String>) -> Response {
    if let Some(b) = new_binding {
        r.headers_mut()
            .append(header::SET_COOKIE, app.cookies.flow_cookie(&b));
    }
    r
}

fn failed(app: &AppState, b: &Browser, e: &CoreError) -> Response {
    b.pages(app).error(FlowKind::Login, e)
}

/// The code entry form, prefilled with `typed`, with an error under the field when `wrong`.
async fn entry(app: &AppState, b: &Browser, typed: &str, wrong: bool) -> Response {
    let form = match app.tessera.oauth().device_entry(&b.ctx).await {
        Ok(f) => f,
        Err(e) => return failed(app, b, &e),
    };
    let typed: String = typed.chars().take(MAX_TYPED).collect();
    let page = PageForm {
        action: format!("/t/{}/device", b.tenant),
        fields: vec![("csrf_token".into(), form.csrf_token)],
        button_id: "button-device-continue".into(),
        input: Some(PageInput {
            name: "user_code".into(),
            label_id: "label-user-code".into(),
            value: typed,
            error_id: wrong.then(|| "error-user-code".into()),
        }),
        choice: None,
        scopes: Vec::new(),
    };
    let status = if wrong {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let r = b.pages(app).confirmation_with(
        status,
        "page-device-title",
        "page-device-text",
        Default::default(),
        &page,
    );
    with_binding(app, r, form.new_binding)
}

/// Draws where the page goes next.
async fn step(
    app: &AppState,
    b: &Browser,
    typed: &str,
    out: Result<DeviceStep, CoreError>,
) -> Response {
    match out {
        Ok(DeviceStep::Unknown) => entry(app, b, typed, true).await,
        Ok(DeviceStep::Retype) => b.pages(app).message(
            StatusCode::BAD_REQUEST,
            "page-device-retype-title",
            "page-device-retype-text",
            Some((format!("/t/{}/device", b.tenant), "link-device-page")),
        ),
        Ok(DeviceStep::Gone) => b.pages(app).message(
            StatusCode::BAD_REQUEST,
            "page-device-gone-title",
            "page-device-gone-text",
            None,
        ),
        Ok(DeviceStep::SignIn(started)) => b.started(app, *started),
        Ok(DeviceStep::SignInFirst { retry_after }) => {
            let mut r = b.pages(app).message(
                StatusCode::TOO_MANY_REQUESTS,
                "page-device-sign-in-first-title",
                "page-device-sign-in-first-text",
                Some((
                    format!("/t/{t}/login?return_to=/t/{t}/device", t = b.tenant),
                    "link-sign-in",
                )),
            );
            if let Ok(v) = header::HeaderValue::from_str(&retry_after.max(1).to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Ok(DeviceStep::Confirm {
            request,
            csrf_token,
            drawn_for,
            proof,
            new_binding,
        }) => {
            let form = PageForm {
                action: format!("/t/{}/device/confirm", b.tenant),
                fields: vec![
                    ("csrf_token".into(), csrf_token),
                    ("request".into(), request.id.to_string()),
                    ("user_code".into(), request.user_code.clone()),
                    ("proof".into(), proof),
                    ("drawn_for".into(), drawn_for),
                ],
                button_id: "button-device-allow".into(),
                input: None,
                choice: Some(PageChoice {
                    name: "decision".into(),
                    value: "allow".into(),
                    other_value: "deny".into(),
                    other_label_id: "button-device-deny".into(),
                }),
                scopes: request.scopes.clone(),
            };
            let mut args = serde_json::Map::new();
            args.insert("app".into(), serde_json::json!(request.client_name));
            args.insert("code".into(), serde_json::json!(request.user_code));
            args.insert("account".into(), serde_json::json!(request.account));
            let r = b.pages(app).confirmation_with(
                StatusCode::OK,
                "page-device-confirm-title",
                "page-device-confirm-text",
                args,
                &form,
            );
            with_binding(app, r, new_binding)
        }
        Err(e) => failed(app, b, &e),
    }
}

/// `GET /t/{tenant}/device[?user_code=…]`: the code entry form (`verification_uri_complete` prefills it;
/// the customer still submits it).
pub async fn device_get(
    State(app): State<AppState>,
    b: Browser,
    RawQuery(q): RawQuery,
) -> Response {
    let params = RawParams::parse(q.as_deref().unwrap_or(""));
    entry(&app, &b, params.get("user_code").unwrap_or(""), false).await
}

/// `POST /t/{tenant}/device`: a typed code.
pub async fn device_post(State(app): State<AppState>, post: PagePost) -> Response {
    let field = |name: &str| post.input.get(name).map(String::as_str).unwrap_or("");
    let out = app
        .tessera
        .oauth()
        .device_enter(&post.browser.ctx, field("user_code"), field("csrf_token"))
        .await;
    step(&app, &post.browser, field("user_code"), out).await
}

/// `GET /t/{tenant}/device/confirm?request=…&user_code=…&proof=…`: the hosted sign-in came back.
pub async fn confirm_get(
    State(app): State<AppState>,
    b: Browser,
    RawQuery(q): RawQuery,
) -> Response {
    let params = RawParams::parse(q.as_deref().unwrap_or(""));
    let out = app
        .tessera
        .oauth()
        .device_continue(
            &b.ctx,
            params.get("request").unwrap_or(""),
            params.get("user_code").unwrap_or(""),
            params.get("proof").unwrap_or(""),
        )
        .await;
    step(&app, &b, "", out).await
}

/// `POST /t/{tenant}/device/confirm`: allow or deny.
pub async fn confirm_post(State(app): State<AppState>, post: PagePost) -> Response {
    let field = |name: &str| post.input.get(name).map(String::as_str).unwrap_or("");
    let b = &post.browser;
    let allow = match field("decision") {
        "allow" => true,
        "deny" => false,
        _ => {
            return b.pages(&app).message(
                StatusCode::BAD_REQUEST,
                "page-bad-request-title",
                "page-bad-request-text",
                None,
            );
        }
    };
    let form = DeviceDecision {
        request: field("request"),
        user_code: field("user_code"),
        proof: field("proof"),
        csrf_token: field("csrf_token"),
        drawn_for: field("drawn_for"),
    };
    let out = app
        .tessera
        .oauth()
        .device_decide(&b.ctx, &form, allow)
        .await;
    let pages = b.pages(&app);
    match out {
        Ok(DeviceDecided::Allowed) => pages.message(
            StatusCode::OK,
            "page-device-allowed-title",
            "page-device-allowed-text",
            None,
        ),
        Ok(DeviceDecided::Denied) => pages.message(
            StatusCode::OK,
            "page-device-denied-title",
            "page-device-denied-text",
            None,
        ),
        Ok(DeviceDecided::Gone) => pages.message(
            StatusCode::BAD_REQUEST,
            "page-device-gone-title",
            "page-device-gone-text",
            None,
        ),
        Ok(DeviceDecided::SignedOut) => pages.message(
            StatusCode::UNAUTHORIZED,
            "page-device-signed-out-title",
            "page-device-signed-out-text",
            Some((format!("/t/{}/device", b.tenant), "link-device-page")),
        ),
        Ok(DeviceDecided::Redraw(next)) => step(&app, b, "", Ok(*next)).await,
        Err(e) => failed(&app, b, &e),
    }
}
