//! The hosted pages' answers as HTML: flow pages, message pages and the error page, each drawn in one
//! place. An error's status and `Retry-After` come from the one mapping in [`crate::error::classify`],
//! so a page and a problem document never disagree about what happened.
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_core::CoreError;
use tessera_model::flow::{Flow, FlowKind, MessageKind};

use crate::error::classify;
use crate::views::{FlowLinks, Locale, MessagePage, PageForm, Views, scripts};

/// The CSP of every HTML page: nothing but the stylesheets, images and same-origin form posts; no script
/// at all (`default-src 'none'` and no `script-src`).
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data: https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// The CSP of a page that runs a method's script (WEB-03): [`CSP`] plus `script-src 'nonce-…'` and
/// nothing else, so only the script elements the page itself drew with this response's nonce run. No
/// `'self'` (any same-origin URL would do, JSON answers included), no `'strict-dynamic'` (the shipped
/// scripts load nothing, so no trust needs to pass to scripts they would create), and no
/// `'unsafe-inline'`. Trusted Types are required, so a DOM sink cannot turn a string into script either.
fn csp_with_nonce(nonce: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{CSP}; script-src 'nonce-{nonce}'; require-trusted-types-for 'script'"
    ))
    .ok()
}

/// A fresh nonce for one response's CSP: 256 random bits, URL-safe base64 (a valid CSP nonce).
pub fn script_nonce() -> Option<String> {
    tessera_crypto::random_token().ok()
}

/// Adds the headers every HTML page carries (WEB-01, WEB-03). `nonce`: the response draws a method's
/// script with it (see [`csp_with_nonce`]); without one the page may run no script at all.
pub fn html_headers(resp: &mut Response, https: bool, nonce: Option<&str>) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        nonce
            .and_then(csp_with_nonce)
            .unwrap_or(HeaderValue::from_static(CSP)),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
}

/// Where a journey of `kind` starts (`/t/{tenant}/{path}`).
pub fn start_path(kind: FlowKind) -> &'static str {
    match kind {
        FlowKind::Login => "login",
        FlowKind::Registration => "registration",
        FlowKind::Verification => "verification",
        FlowKind::Recovery => "recovery",
        FlowKind::Settings => "settings",
    }
}

/// A `303 See Other` to `to`.
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// Draws the pages of one request: the renderer, the tenant, the language, and whether the node is
/// served over https (then pages carry HSTS).
#[derive(Clone, Copy)]
pub struct Pages<'a> {
    pub views: &'a Views,
    pub https: bool,
    pub tenant: &'a str,
    pub locale: Locale,
}

impl Pages<'_> {
    /// `/t/{tenant}/{kind's start}`: where "start again" leads.
    pub fn start_href(&self, kind: FlowKind) -> String {
        format!("/t/{}/{}", self.tenant, start_path(kind))
    }

    fn page(&self, status: StatusCode, html: String) -> Response {
        self.page_with_nonce(status, html, None)
    }

    fn page_with_nonce(&self, status: StatusCode, html: String, nonce: Option<&str>) -> Response {
        let mut r = (status, html).into_response();
        html_headers(&mut r, self.https, nonce);
        r
    }

    /// The HTML of a message page; `None` (logged) when it cannot be drawn.
    fn message_html(
        &self,
        status: StatusCode,
        title: &str,
        text: &str,
        args: serde_json::Map<String, serde_json::Value>,
        link: Option<(String, &str)>,
    ) -> Option<String> {
        let mp = MessagePage {
            title_id: title.into(),
            text_id: text.into(),
            args,
            link: link.map(|(h, l)| (h, l.to_owned())),
            status: status.as_u16(),
        };
        self.views
            .render_message(self.tenant, &self.locale, &mp)
            .map_err(|e| tracing::error!(error = %e, "rendering a message page failed"))
            .ok()
    }

    /// [`Self::message`] with arguments for the texts (a developer-facing `detail`, say).
    pub fn message_with(
        &self,
        status: StatusCode,
        title: &str,
        text: &str,
        args: serde_json::Map<String, serde_json::Value>,
        link: Option<(String, &str)>,
    ) -> Response {
        match self.message_html(status, title, text, args, link) {
            Some(html) => self.page(status, html),
            None => self.message(status, title, text, None),
        }
    }

    /// A page that says what happened and what to do next.
    pub fn message(
        &self,
        status: StatusCode,
        title: &str,
        text: &str,
        link: Option<(String, &str)>,
    ) -> Response {
        match self.message_html(status, title, text, Default::default(), link) {
            Some(html) => self.page(status, html),
            None => self.page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>Something went wrong. Please try again."
                    .into(),
            ),
        }
    }

    /// The consent page (CON-01).
    pub fn consent(&self, form: &crate::views::ConsentForm) -> Response {
        match self.views.render_consent(self.tenant, &self.locale, form) {
            Ok(html) => self.page(StatusCode::OK, html),
            Err(e) => {
                tracing::error!(error = %e, "rendering the consent page failed");
                self.message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "page-error-title",
                    "page-error-text",
                    None,
                )
            }
        }
    }

    /// A page that asks before acting: its text says what the button does, and the button posts `form`
    /// (the "not me" link of REC-04).
    pub fn confirmation(&self, title: &str, text: &str, form: &PageForm) -> Response {
        self.confirmation_with(StatusCode::OK, title, text, Default::default(), form)
    }

    /// [`Self::confirmation`] with a status and arguments for the texts (the application's name).
    pub fn confirmation_with(
        &self,
        status: StatusCode,
        title: &str,
        text: &str,
        args: serde_json::Map<String, serde_json::Value>,
        form: &PageForm,
    ) -> Response {
        let mp = MessagePage {
            title_id: title.into(),
            text_id: text.into(),
            args,
            link: None,
            status: status.as_u16(),
        };
        match self
            .views
            .render_confirmation(self.tenant, &self.locale, &mp, form)
        {
            Ok(html) => self.page(status, html),
            Err(e) => {
                tracing::error!(error = %e, "rendering a confirmation page failed");
                self.message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "page-error-title",
                    "page-error-text",
                    None,
                )
            }
        }
    }

    /// "Page not found".
    pub fn not_found(&self) -> Response {
        self.message(
            StatusCode::NOT_FOUND,
            "page-not-found-title",
            "page-not-found-text",
            None,
        )
    }

    /// The HTML rendering of a core error met in a journey of `kind`: status and `Retry-After` from
    /// [`classify`], a text that says what to do, and a way to start the journey again.
    pub fn error(&self, kind: FlowKind, e: &CoreError) -> Response {
        let class = classify(e);
        let again = Some((self.start_href(kind), "link-start-again"));
        let (title, text, link) = match e {
            CoreError::NotFound { .. } => ("page-not-found-title", "page-not-found-text", None),
            CoreError::BadRequest {
                code: "csrf" | "flow_binding",
                ..
            } => ("page-forbidden-title", "page-forbidden-text", again),
            CoreError::BadRequest { .. }
            | CoreError::Invalid { .. }
            | CoreError::Conflict { .. } => {
                ("page-bad-request-title", "page-bad-request-text", again)
            }
            CoreError::Unavailable => ("page-unavailable-title", "page-unavailable-text", again),
            CoreError::RateLimited { .. } => {
                ("page-rate-limited-title", "page-rate-limited-text", again)
            }
            CoreError::Unauthenticated => (
                "page-error-title",
                "page-error-text",
                Some((format!("/t/{}/login", self.tenant), "link-sign-in")),
            ),
            // Browsers are sent to sign in again before this (SES-08); the page says where to go.
            CoreError::ReauthenticationRequired { sign_in } => (
                "page-error-title",
                "page-error-text",
                Some((sign_in.clone(), "link-sign-in")),
            ),
            CoreError::Forbidden { .. }
            | CoreError::VersionMismatch { .. }
            | CoreError::Internal(_) => {
                tracing::error!(error = %e, "flow error");
                ("page-error-title", "page-error-text", again)
            }
        };
        let mut args = serde_json::Map::new();
        if let CoreError::RateLimited { retry_after } = e {
            // Says how long to wait, in minutes a person can act on (RL-06).
            args.insert("minutes".into(), serde_json::json!((retry_after + 59) / 60));
        }
        // A page that cannot be drawn changes nothing about what happened: the status stays.
        let html = self
            .message_html(class.status, title, text, args, link)
            .unwrap_or_else(|| match e {
                CoreError::RateLimited { .. } => "<!doctype html><title>Too many requests</title><p>Please wait a few minutes and try again.".into(),
                _ => "<!doctype html><title>Error</title><p>Something went wrong. Please try again.".into(),
            });
        let mut r = self.page(class.status, html);
        class.add_headers(&mut r);
        r
    }

    /// A flow in its current state, answered with `status`. A flow showing a method's script gets a
    /// fresh nonce for this response alone, in the page and in its CSP.
    pub fn flow(&self, flow: &Flow, status: StatusCode) -> Response {
        let nonce = if scripts::has_script(flow) {
            script_nonce()
        } else {
            None
        };
        match self.views.render_flow_with_nonce(
            self.tenant,
            &self.locale,
            flow,
            &links(self.tenant, flow.kind),
            nonce.as_deref(),
        ) {
            Ok(html) => self.page_with_nonce(status, html, nonce.as_deref()),
            Err(e) => {
                tracing::error!(error = %e, "rendering a flow failed");
                self.message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "page-error-title",
                    "page-error-text",
                    None,
                )
            }
        }
    }
}

fn links(tenant: &str, kind: FlowKind) -> FlowLinks {
    let p = |s: &str| Some(format!("/t/{tenant}/{s}"));
    FlowLinks {
        sign_in: p("login"),
        sign_up: p("registration"),
        recovery: p("recovery"),
        verification: p("verification"),
        settings: (kind == FlowKind::Settings).then(|| format!("/t/{tenant}/settings")),
        ..FlowLinks::default()
    }
}

/// Whether a flow shows an error (a step that did not go through is answered 400).
pub fn has_errors(flow: &Flow) -> bool {
    flow.ui
        .messages
        .iter()
        .chain(flow.ui.nodes.iter().flat_map(|n| n.messages.iter()))
        .any(|m| m.kind == MessageKind::Error)
}
