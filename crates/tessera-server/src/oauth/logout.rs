//! `GET` and `POST /t/{tenant}/oauth2/logout` (RP-Initiated Logout 1.0, the `end_session_endpoint`) and
//! `POST /t/{tenant}/oauth2/logout/confirm`, the confirmation page's form. Thin: the parameters go to the
//! core as they came; the answer is an error page (never a redirect, OIDC-06), the confirmation page
//! (SES-05), a 303 to the registered post-logout URI, or the "you are signed out" page. The confirmation
//! form is refused like every hosted form when it comes from another site (WEB-02) or without its token.
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use tessera_core::CoreError;
use tessera_core::oauth::authorize::RawParams;
use tessera_core::oauth::logout::LogoutOutcome;
use tessera_model::flow::FlowKind;

use crate::AppState;
use crate::public::{Browser, PagePost, see_other};
use crate::views::PageForm;

/// Draws what the core decided.
fn answer(app: &AppState, b: &Browser, out: Result<LogoutOutcome, CoreError>) -> Response {
    let pages = b.pages(app);
    let mut r = match out {
        Ok(LogoutOutcome::Refused { detail }) => {
            let mut args = serde_json::Map::new();
            args.insert("detail".into(), serde_json::json!(detail));
            return pages.message_with(
                StatusCode::BAD_REQUEST,
                "page-logout-error-title",
                "page-logout-error-text",
                args,
                None,
            );
        }
        Ok(LogoutOutcome::Confirm { fields, .. }) => {
            let form = PageForm {
                action: format!(
                    "/t/{}/oauth2/logout/confirm?ui_locales={}",
                    b.tenant,
                    b.locale.as_str()
                ),
                fields,
                button_id: "button-sign-out".into(),
                input: None,
                choice: None,
                scopes: Vec::new(),
            };
            return pages.confirmation(
                "page-logout-confirm-title",
                "page-logout-confirm-text",
                &form,
            );
        }
        Ok(LogoutOutcome::SignedOut { redirect, .. }) => match redirect {
            Some(to) => see_other(&to),
            None => pages.message(
                StatusCode::OK,
                "page-signed-out-title",
                "page-signed-out-text",
                Some((format!("/t/{}/login", b.tenant), "link-sign-in")),
            ),
        },
        Err(CoreError::BadRequest { code: "csrf", .. }) => {
            return pages.message(
                StatusCode::FORBIDDEN,
                "page-forbidden-title",
                "page-forbidden-text",
                None,
            );
        }
        Err(e) => return pages.error(FlowKind::Login, &e),
    };
    // The browser's session is over (or was already): its cookie goes too.
    r.headers_mut()
        .append(header::SET_COOKIE, app.cookies.clear_session());
    r
}

/// `GET /t/{tenant}/oauth2/logout`.
pub async fn logout_get(
    State(app): State<AppState>,
    b: Browser,
    RawQuery(q): RawQuery,
) -> Response {
    let params = RawParams::parse(q.as_deref().unwrap_or(""));
    let out = app.tessera.oauth().end_session(&b.ctx, &params).await;
    answer(&app, &b, out)
}

/// `POST /t/{tenant}/oauth2/logout`: the same parameters as a form body. It may come from the app's
/// site, so it is treated exactly like the `GET`: it ends a session only with a hint naming it. A post
/// from another site carries no session cookie (`SameSite=Lax`), so without one the browser is sent to
/// the `GET` with the same parameters: a top-level navigation, which does carry it.
pub async fn logout_post(
    State(app): State<AppState>,
    b: Browser,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(text) = super::authorize::browser_form(&headers, &body) else {
        return super::authorize::not_a_form(&app, &b);
    };
    if b.ctx.session_token.is_none() {
        // Encoded afresh: the body's bytes never reach the header as they came.
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(url::form_urlencoded::parse(text.as_bytes()))
            .finish();
        let tenant: String = url::form_urlencoded::byte_serialize(b.tenant.as_bytes()).collect();
        return see_other(&format!("/t/{tenant}/oauth2/logout?{query}"));
    }
    let params = RawParams::parse(text);
    let out = app.tessera.oauth().end_session(&b.ctx, &params).await;
    answer(&app, &b, out)
}

/// `POST /t/{tenant}/oauth2/logout/confirm`: the customer confirmed on the page above.
pub async fn logout_confirm(State(app): State<AppState>, post: PagePost) -> Response {
    let params = {
        let mut text = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &post.input {
            text.append_pair(k, v);
        }
        RawParams::parse(&text.finish())
    };
    let out = app
        .tessera
        .oauth()
        .confirm_end_session(&post.browser.ctx, &params)
        .await;
    answer(&app, &post.browser, out)
}
