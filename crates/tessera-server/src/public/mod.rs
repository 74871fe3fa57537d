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
use crate::views::PageForm;

mod browser;
mod respond;

pub use browser::{
    Browser, BrowserFlow, Cookies, FlowPage, FlowSubmission, PagePost, cookie, parse_form,
};
pub use respond::{Pages, html_headers, see_other};

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
        requested_aal: None,
    };
    let b = &req.browser;
    match app.tessera.flows().start(&b.ctx, req.kind, start).await {
        Ok(started) => b.started(&app, started),
        Err(e) => b.error(&app, req.kind, e),
    }
}

/// `GET /t/{tenant}/flows/{kind}/{id}`: shows a flow (an expired one restarts).
pub async fn show(State(app): State<AppState>, page: FlowPage) -> Response {
    let (b, kind) = (&page.flow.browser, page.flow.kind);
    match app.tessera.flows().get(&b.ctx, kind, page.id).await {
        Ok(out) => b.outcome(&app, out),
        Err(e) => b.error(&app, kind, e),
    }
}

/// `POST /t/{tenant}/flows/{kind}/{id}`: submits a step from a form.
pub async fn submit(State(app): State<AppState>, sub: FlowSubmission) -> Response {
    let (b, kind) = (&sub.flow.browser, sub.flow.kind);
    match app
        .tessera
        .flows()
        .submit(&b.ctx, kind, sub.id, sub.input)
        .await
    {
        Ok(out) => b.outcome(&app, out),
        Err(e) => b.error(&app, kind, e),
    }
}

/// `GET /t/{tenant}/flows/link?token=…`: follows a link from an email. A "not me" link only shows what
/// confirming would do, with the form that confirms it (REC-04).
pub async fn link(
    State(app): State<AppState>,
    b: Browser,
    Query(q): Query<LinkParams>,
) -> Response {
    let token = q.token.as_deref().unwrap_or("");
    match app.tessera.flows().follow_link(&b.ctx, token).await {
        Ok(LinkOutcome::ConfirmNotMe {
            csrf_token,
            new_binding,
        }) => {
            let form = PageForm {
                action: format!("/t/{}/flows/link", b.tenant),
                fields: vec![
                    ("csrf_token".into(), csrf_token),
                    ("token".into(), token.to_owned()),
                ],
                button_id: "button-freeze-account".into(),
                ..PageForm::default()
            };
            let mut r = b
                .pages(&app)
                .confirmation("page-not-me-title", "page-not-me-text", &form);
            if let Some(binding) = new_binding {
                r.headers_mut()
                    .append(header::SET_COOKIE, app.cookies.flow_cookie(&binding));
            }
            r
        }
        other => link_outcome(&app, &b, other),
    }
}

/// `POST /t/{tenant}/flows/link`: confirms a "not me" link from the form its page showed (REC-04).
/// Cross-site posts and forms without the page's token are refused like every hosted form's.
pub async fn confirm_link(State(app): State<AppState>, post: PagePost) -> Response {
    let field = |name: &str| post.input.get(name).map(String::as_str).unwrap_or("");
    let out = app
        .tessera
        .flows()
        .confirm_not_me(&post.browser.ctx, field("token"), field("csrf_token"))
        .await;
    link_outcome(&app, &post.browser, out)
}

/// Renders what following or confirming a link led to.
fn link_outcome(
    app: &AppState,
    b: &Browser,
    out: Result<LinkOutcome, tessera_core::CoreError>,
) -> Response {
    let pages = b.pages(app);
    match out {
        Ok(LinkOutcome::Flow(out)) => b.outcome(app, *out),
        Ok(LinkOutcome::Confirmed(m)) => {
            pages.message(StatusCode::OK, "page-confirmed-title", &m.id, None)
        }
        Ok(LinkOutcome::Frozen) => pages.message(
            StatusCode::OK,
            "page-frozen-title",
            "page-frozen-text",
            None,
        ),
        Ok(LinkOutcome::OtherBrowser) => pages.message(
            StatusCode::BAD_REQUEST,
            "page-other-browser-title",
            "page-other-browser-text",
            None,
        ),
        // `link` shows a confirmation itself; anything else is no usable link.
        Ok(LinkOutcome::Invalid | LinkOutcome::ConfirmNotMe { .. }) => pages.message(
            StatusCode::BAD_REQUEST,
            "page-link-invalid-title",
            "page-link-invalid-text",
            Some((format!("/t/{}/login", b.tenant), "link-sign-in")),
        ),
        Err(e) => b.error(app, FlowKind::Login, e),
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

/// `GET /assets/<name>.js`: a shipped script (see [`crate::views::scripts`]). Fetched again on every
/// use (`no-cache`, and no validator: it is small): after an upgrade the page names the new script's
/// hash, and a cached old copy would fail that SRI check and leave the method without its script.
pub async fn script(s: &'static crate::views::scripts::Script) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        s.source,
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
