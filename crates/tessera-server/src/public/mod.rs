//! The hosted pages on the public listener: plain HTML forms, usable without JavaScript. Each handler
//! takes the browser's request apart with an extractor (`browser`: tenant, language, cookies, the form
//! and its checks), makes one call on the flow engine, and answers with a page (`respond`).
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tessera_core::flows::FlowStart;
use tessera_core::flows::links::LinkOutcome;
use tessera_model::flow::FlowKind;

use crate::AppState;

mod browser;
mod respond;

pub use browser::{Browser, BrowserFlow, Cookies, FlowPage, FlowSubmission, cookie, parse_form};
pub use respond::{Pages, html_headers};

/// Query parameters any flow start accepts (`ui_locales` is read by [`Browser`]).
#[derive(Debug, Default, Deserialize)]
pub struct StartParams {
    pub return_to: Option<String>,
    pub client_id: Option<String>,
    pub login_hint: Option<String>,
}

/// Query parameters of an emailed link.
#[derive(Debug, Default, Deserialize)]
pub struct LinkParams {
    pub token: Option<String>,
}

/// `GET /t/{tenant}/{login|registration|recovery|verification|settings}`: starts a flow and redirects to it.
pub async fn start(
    State(app): State<AppState>,
    req: BrowserFlow,
    Query(q): Query<StartParams>,
) -> Response {
    let start = FlowStart {
        return_to: q.return_to,
        client_id: q.client_id,
        identifier: q.login_hint,
    };
    let b = &req.browser;
    match app.tessera.start_flow(&b.ctx, req.kind, start).await {
        Ok(started) => b.started(&app, started),
        Err(e) => b.error(&app, req.kind, e),
    }
}

/// `GET /t/{tenant}/flows/{kind}/{id}`: shows a flow (an expired one restarts).
pub async fn show(State(app): State<AppState>, page: FlowPage) -> Response {
    let (b, kind) = (&page.flow.browser, page.flow.kind);
    match app.tessera.get_flow(&b.ctx, kind, page.id).await {
        Ok(out) => b.outcome(&app, out),
        Err(e) => b.error(&app, kind, e),
    }
}

/// `POST /t/{tenant}/flows/{kind}/{id}`: submits a step from a form.
pub async fn submit(State(app): State<AppState>, sub: FlowSubmission) -> Response {
    let (b, kind) = (&sub.flow.browser, sub.flow.kind);
    match app
        .tessera
        .submit_flow(&b.ctx, kind, sub.id, sub.input)
        .await
    {
        Ok(out) => b.outcome(&app, out),
        Err(e) => b.error(&app, kind, e),
    }
}

/// `GET /t/{tenant}/flows/link?token=…`: follows a link from an email.
pub async fn link(
    State(app): State<AppState>,
    b: Browser,
    Query(q): Query<LinkParams>,
) -> Response {
    let pages = b.pages(&app);
    match app
        .tessera
        .follow_link(&b.ctx, q.token.as_deref().unwrap_or(""))
        .await
    {
        Ok(LinkOutcome::Flow(out)) => b.outcome(&app, *out),
        Ok(LinkOutcome::Confirmed(m)) => {
            pages.message(StatusCode::OK, "page-confirmed-title", &m.id, None)
        }
        Ok(LinkOutcome::OtherBrowser) => pages.message(
            StatusCode::BAD_REQUEST,
            "page-other-browser-title",
            "page-other-browser-text",
            None,
        ),
        Ok(LinkOutcome::Invalid) => pages.message(
            StatusCode::BAD_REQUEST,
            "page-link-invalid-title",
            "page-link-invalid-text",
            Some((format!("/t/{}/login", b.tenant), "link-sign-in")),
        ),
        Err(e) => b.error(&app, FlowKind::Login, e),
    }
}

/// `GET /t/{tenant}/logout`: sign-out lives on the settings page (a POST with the flow's token), so a
/// plain link can never sign anyone out.
pub async fn logout(Path(tenant): Path<String>) -> Response {
    respond::see_other(&format!("/t/{tenant}/settings"))
}

/// `GET /assets/tessera.css`.
pub async fn css(State(app): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        app.views.css(),
    )
        .into_response()
}

/// `GET /t/{tenant}/theme.css`: the tenant's colours.
pub async fn theme_css(State(app): State<AppState>, Path(tenant): Path<String>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        app.views.theme_css(&tenant),
    )
        .into_response()
}
