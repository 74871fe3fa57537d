//! The hosted pages on the public listener: plain HTML forms, usable without JavaScript. Each handler
//! extracts the request, makes one call on the flow engine, and renders the outcome.
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tessera_core::CoreError;
use tessera_core::flows::links::LinkOutcome;
use tessera_core::flows::{FlowContext, FlowInput, FlowOutcome, FlowStart};
use tessera_core::sessions::ClientInfo;
use tessera_model::flow::{Flow, FlowChannel, FlowId, FlowKind};

use crate::AppState;
use crate::extract::client_ip;
use crate::views::{FlowLinks, Locale, MessagePage, PageForm};

/// How long a browser keeps its known-device token: 400 days, the most browsers allow.
const DEVICE_COOKIE_MAX_AGE: i64 = 400 * 24 * 3600;

/// Cookie names and attributes for this deployment (SES-03).
#[derive(Debug, Clone)]
pub struct Cookies {
    pub session: &'static str,
    pub flow: &'static str,
    /// The known-device token (RL-02): outlives sessions, so a returning customer is known.
    pub device: &'static str,
    pub secure: bool,
}

impl Cookies {
    /// `__Host-` names with `Secure` everywhere, except plain-http development where browsers would drop them.
    pub fn for_base(base: &url::Url, dev_mode: bool) -> Self {
        if dev_mode && base.scheme() == "http" {
            Cookies {
                session: "tessera_session",
                flow: "tessera_flow",
                device: "tessera_device",
                secure: false,
            }
        } else {
            Cookies {
                session: "__Host-tessera_session",
                flow: "__Host-tessera_flow",
                device: "__Host-tessera_device",
                secure: true,
            }
        }
    }

    fn set(&self, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let age = max_age
            .map(|a| format!("; Max-Age={a}"))
            .unwrap_or_default();
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{age}"
        ))
        .unwrap_or(HeaderValue::from_static(""))
    }
}

/// Reads one cookie's value.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// Query parameters any flow start accepts.
#[derive(Debug, Default, Deserialize)]
pub struct StartParams {
    pub return_to: Option<String>,
    pub client_id: Option<String>,
    pub ui_locales: Option<String>,
    pub login_hint: Option<String>,
}

/// Query parameters of a flow page.
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    pub ui_locales: Option<String>,
    pub token: Option<String>,
}

fn locale(app: &AppState, ui_locales: Option<&str>, headers: &HeaderMap) -> Locale {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    app.views.negotiate(ui_locales, accept)
}

fn context(
    app: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    peer: SocketAddr,
    loc: Locale,
) -> FlowContext {
    FlowContext {
        tenant: tenant.to_owned(),
        channel: FlowChannel::Browser,
        browser_binding: cookie(headers, app.cookies.flow).map(str::to_owned),
        flow_secret: None,
        session_token: cookie(headers, app.cookies.session).map(str::to_owned),
        device: cookie(headers, app.cookies.device).map(str::to_owned),
        client: ClientInfo {
            // Forwarding headers count only from a configured proxy (RL-04).
            ip: Some(client_ip(peer, headers, &app.trusted_proxies).to_string()),
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        },
        locale: Some(loc.as_str().to_owned()),
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

/// Adds the headers every HTML page carries (WEB-01, WEB-03).
pub fn html_headers(resp: &mut Response, https: bool) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data: https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
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

fn page(app: &AppState, status: StatusCode, html: String) -> Response {
    let mut r = (status, html).into_response();
    html_headers(&mut r, app.cookies.secure);
    r
}

/// A page that says what went wrong and what to do next.
fn message(
    app: &AppState,
    tenant: &str,
    loc: Locale,
    status: StatusCode,
    title: &str,
    text: &str,
    link: Option<(String, &str)>,
) -> Response {
    let mp = MessagePage {
        title_id: title.into(),
        text_id: text.into(),
        args: Default::default(),
        link: link.map(|(h, l)| (h, l.to_owned())),
        status: status.as_u16(),
    };
    match app.views.render_message(tenant, &loc, &mp) {
        Ok(html) => page(app, status, html),
        Err(e) => {
            tracing::error!(error = %e, "rendering a message page failed");
            page(
                app,
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>Something went wrong. Please try again."
                    .into(),
            )
        }
    }
}

fn error_page(app: &AppState, tenant: &str, loc: Locale, kind: FlowKind, e: CoreError) -> Response {
    let again = Some((
        format!("/t/{tenant}/{}", start_path(kind)),
        "link-start-again",
    ));
    match e {
        CoreError::NotFound { .. } => message(
            app,
            tenant,
            loc,
            StatusCode::NOT_FOUND,
            "page-not-found-title",
            "page-not-found-text",
            None,
        ),
        CoreError::BadRequest {
            code: "csrf" | "flow_binding",
            ..
        } => message(
            app,
            tenant,
            loc,
            StatusCode::FORBIDDEN,
            "page-forbidden-title",
            "page-forbidden-text",
            again,
        ),
        CoreError::BadRequest { .. } | CoreError::Invalid { .. } => message(
            app,
            tenant,
            loc,
            StatusCode::BAD_REQUEST,
            "page-bad-request-title",
            "page-bad-request-text",
            again,
        ),
        CoreError::Conflict { .. } => message(
            app,
            tenant,
            loc,
            StatusCode::CONFLICT,
            "page-bad-request-title",
            "page-bad-request-text",
            again,
        ),
        CoreError::Unavailable => {
            let mut r = message(
                app,
                tenant,
                loc,
                StatusCode::SERVICE_UNAVAILABLE,
                "page-unavailable-title",
                "page-unavailable-text",
                again,
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
        CoreError::RateLimited { retry_after } => {
            // Says how long to wait, in minutes a person can act on (RL-06).
            let mut args = serde_json::Map::new();
            args.insert("minutes".into(), serde_json::json!((retry_after + 59) / 60));
            let mp = MessagePage {
                title_id: "page-rate-limited-title".into(),
                text_id: "page-rate-limited-text".into(),
                args,
                link: again.map(|(h, l)| (h, l.to_owned())),
                status: StatusCode::TOO_MANY_REQUESTS.as_u16(),
            };
            let mut r = match app.views.render_message(tenant, &loc, &mp) {
                Ok(html) => page(app, StatusCode::TOO_MANY_REQUESTS, html),
                Err(e) => {
                    tracing::error!(error = %e, "rendering a message page failed");
                    page(
                        app,
                        StatusCode::TOO_MANY_REQUESTS,
                        "<!doctype html><title>Too many requests</title><p>Please wait a few minutes and try again."
                            .into(),
                    )
                }
            };
            if let Ok(v) = HeaderValue::from_str(&retry_after.max(1).to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        CoreError::Unauthenticated => {
            Redirect::to(&format!("/t/{tenant}/login?return_to=/t/{tenant}/settings"))
                .into_response()
        }
        // SES-08: sign in again, then back to the settings.
        CoreError::ReauthenticationRequired { sign_in } => see_other(&sign_in),
        other => {
            tracing::error!(error = %other, "flow error");
            message(
                app,
                tenant,
                loc,
                StatusCode::INTERNAL_SERVER_ERROR,
                "page-error-title",
                "page-error-text",
                again,
            )
        }
    }
}

fn start_path(kind: FlowKind) -> &'static str {
    match kind {
        FlowKind::Login => "login",
        FlowKind::Registration => "registration",
        FlowKind::Verification => "verification",
        FlowKind::Recovery => "recovery",
        FlowKind::Settings => "settings",
    }
}

fn flow_path(tenant: &str, flow: &Flow) -> String {
    format!("/t/{tenant}/flows/{}/{}", flow.kind.as_str(), flow.id)
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

fn render_flow(
    app: &AppState,
    tenant: &str,
    loc: Locale,
    flow: &Flow,
    status: StatusCode,
) -> Response {
    match app
        .views
        .render_flow(tenant, &loc, flow, &links(tenant, flow.kind))
    {
        Ok(html) => page(app, status, html),
        Err(e) => {
            tracing::error!(error = %e, "rendering a flow failed");
            message(
                app,
                tenant,
                loc,
                StatusCode::INTERNAL_SERVER_ERROR,
                "page-error-title",
                "page-error-text",
                None,
            )
        }
    }
}

fn has_errors(flow: &Flow) -> bool {
    use tessera_model::flow::MessageKind;
    flow.ui
        .messages
        .iter()
        .chain(flow.ui.nodes.iter().flat_map(|n| n.messages.iter()))
        .any(|m| m.kind == MessageKind::Error)
}

/// Turns a flow outcome into a browser response.
fn outcome(app: &AppState, tenant: &str, loc: Locale, out: FlowOutcome) -> Response {
    match out {
        FlowOutcome::Show(flow) => {
            let status = if has_errors(&flow) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            render_flow(app, tenant, loc, &flow, status)
        }
        FlowOutcome::Restarted(started) => see_other(&flow_path(tenant, &started.flow)),
        FlowOutcome::SignedIn {
            session_token,
            redirect,
            device_token,
            ..
        } => {
            let mut r = see_other(&redirect);
            // A fresh session id on every sign-in (SES-01); the flow cookie is no longer needed.
            r.headers_mut().append(
                header::SET_COOKIE,
                app.cookies.set(app.cookies.session, &session_token, None),
            );
            r.headers_mut().append(
                header::SET_COOKIE,
                app.cookies.set(
                    app.cookies.device,
                    &device_token,
                    Some(DEVICE_COOKIE_MAX_AGE),
                ),
            );
            r
        }
        FlowOutcome::Done { flow } => {
            let mut r = render_flow(app, tenant, loc, &flow, StatusCode::OK);
            if flow.kind == FlowKind::Settings {
                r.headers_mut().append(
                    header::SET_COOKIE,
                    app.cookies.set(app.cookies.session, "", Some(0)),
                );
            }
            r
        }
    }
}

/// `GET /t/{tenant}/{login|registration|recovery|verification|settings}`: starts a flow and redirects to it.
pub async fn start(
    State(app): State<AppState>,
    Path((tenant, kind)): Path<(String, String)>,
    Query(q): Query<StartParams>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let loc = locale(&app, q.ui_locales.as_deref(), &headers);
    let Some(kind) = FlowKind::parse(&kind) else {
        return message(
            &app,
            &tenant,
            loc,
            StatusCode::NOT_FOUND,
            "page-not-found-title",
            "page-not-found-text",
            None,
        );
    };
    let ctx = context(&app, &tenant, &headers, peer, loc);
    let start = FlowStart {
        return_to: q.return_to,
        client_id: q.client_id,
        identifier: q.login_hint,
    };
    match app.tessera.start_flow(&ctx, kind, start).await {
        Ok(started) => {
            let mut r = see_other(&flow_path(&tenant, &started.flow));
            if let Some(b) = started.new_binding {
                r.headers_mut().append(
                    header::SET_COOKIE,
                    app.cookies.set(app.cookies.flow, &b, None),
                );
            }
            r
        }
        Err(e) => error_page(&app, &tenant, loc, kind, e),
    }
}

/// `GET /t/{tenant}/flows/{kind}/{id}`: shows a flow (an expired one restarts).
pub async fn show(
    State(app): State<AppState>,
    Path((tenant, kind, id)): Path<(String, String, String)>,
    Query(q): Query<PageParams>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let loc = locale(&app, q.ui_locales.as_deref(), &headers);
    let Some(kind) = FlowKind::parse(&kind) else {
        return message(
            &app,
            &tenant,
            loc,
            StatusCode::NOT_FOUND,
            "page-not-found-title",
            "page-not-found-text",
            None,
        );
    };
    let Ok(id) = id.parse::<FlowId>() else {
        return see_other(&format!("/t/{tenant}/{}", start_path(kind)));
    };
    let ctx = context(&app, &tenant, &headers, peer, loc);
    match app.tessera.get_flow(&ctx, kind, id).await {
        Ok(out) => outcome(&app, &tenant, loc, out),
        Err(e) => error_page(&app, &tenant, loc, kind, e),
    }
}

/// Parses a form body, refusing duplicated fields (one value per name, or the request is ambiguous).
pub fn parse_form(body: &[u8]) -> Result<FlowInput, &'static str> {
    let mut out = FlowInput::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if out.len() >= 100 {
            return Err("too many fields");
        }
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err("a field appears twice");
        }
    }
    Ok(out)
}

/// Refuses form posts from other sites (WEB-02): the CSRF token is checked by the engine as well.
fn cross_site(app: &AppState, headers: &HeaderMap) -> bool {
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return true;
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None | Some("null") => false,
        Some(origin) => {
            let base = app.tessera.public_url("", "");
            let base = url::Url::parse(&base)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default();
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            origin != base
                && origin != format!("http://{host}")
                && origin != format!("https://{host}")
        }
    }
}

/// `POST /t/{tenant}/flows/{kind}/{id}`: submits a step from a form.
pub async fn submit(
    State(app): State<AppState>,
    Path((tenant, kind, id)): Path<(String, String, String)>,
    Query(q): Query<PageParams>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let loc = locale(&app, q.ui_locales.as_deref(), &headers);
    let Some(kind) = FlowKind::parse(&kind) else {
        return message(
            &app,
            &tenant,
            loc,
            StatusCode::NOT_FOUND,
            "page-not-found-title",
            "page-not-found-text",
            None,
        );
    };
    let again = Some((
        format!("/t/{tenant}/{}", start_path(kind)),
        "link-start-again",
    ));
    if cross_site(&app, &headers) {
        return message(
            &app,
            &tenant,
            loc,
            StatusCode::FORBIDDEN,
            "page-forbidden-title",
            "page-forbidden-text",
            again,
        );
    }
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !form_type.starts_with("application/x-www-form-urlencoded") {
        return message(
            &app,
            &tenant,
            loc,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "page-bad-request-title",
            "page-bad-request-text",
            again,
        );
    }
    let Ok(input) = parse_form(&body) else {
        return message(
            &app,
            &tenant,
            loc,
            StatusCode::BAD_REQUEST,
            "page-bad-request-title",
            "page-bad-request-text",
            again,
        );
    };
    let Ok(id) = id.parse::<FlowId>() else {
        return see_other(&format!("/t/{tenant}/{}", start_path(kind)));
    };
    let ctx = context(&app, &tenant, &headers, peer, loc);
    match app.tessera.submit_flow(&ctx, kind, id, input).await {
        Ok(out) => outcome(&app, &tenant, loc, out),
        Err(e) => error_page(&app, &tenant, loc, kind, e),
    }
}

/// `GET /t/{tenant}/flows/link?token=…`: follows a link from an email. A "not me" link only shows what
/// confirming would do, with the form that confirms it (REC-04).
pub async fn link(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<PageParams>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let loc = locale(&app, q.ui_locales.as_deref(), &headers);
    let ctx = context(&app, &tenant, &headers, peer, loc);
    let token = q.token.as_deref().unwrap_or("");
    match app.tessera.follow_link(&ctx, token).await {
        Ok(LinkOutcome::ConfirmNotMe {
            csrf_token,
            new_binding,
        }) => {
            let mp = MessagePage {
                title_id: "page-not-me-title".into(),
                text_id: "page-not-me-text".into(),
                args: Default::default(),
                link: None,
                status: StatusCode::OK.as_u16(),
            };
            let form = PageForm {
                action: format!("/t/{tenant}/flows/link"),
                fields: vec![
                    ("csrf_token".into(), csrf_token),
                    ("token".into(), token.to_owned()),
                ],
                button_id: "button-freeze-account".into(),
            };
            let mut r = match app.views.render_confirmation(&tenant, &loc, &mp, &form) {
                Ok(html) => page(&app, StatusCode::OK, html),
                Err(e) => {
                    tracing::error!(error = %e, "rendering a confirmation page failed");
                    return message(
                        &app,
                        &tenant,
                        loc,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "page-error-title",
                        "page-error-text",
                        None,
                    );
                }
            };
            if let Some(b) = new_binding {
                r.headers_mut().append(
                    header::SET_COOKIE,
                    app.cookies.set(app.cookies.flow, &b, None),
                );
            }
            r
        }
        other => link_outcome(&app, &tenant, loc, other),
    }
}

/// `POST /t/{tenant}/flows/link`: confirms a "not me" link from the form its page showed (REC-04).
/// Cross-site posts and forms without the page's token are refused like every hosted form's.
pub async fn confirm_link(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<PageParams>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let loc = locale(&app, q.ui_locales.as_deref(), &headers);
    if cross_site(&app, &headers) {
        return message(
            &app,
            &tenant,
            loc,
            StatusCode::FORBIDDEN,
            "page-forbidden-title",
            "page-forbidden-text",
            None,
        );
    }
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !form_type.starts_with("application/x-www-form-urlencoded") {
        return message(
            &app,
            &tenant,
            loc,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "page-bad-request-title",
            "page-bad-request-text",
            None,
        );
    }
    let Ok(input) = parse_form(&body) else {
        return message(
            &app,
            &tenant,
            loc,
            StatusCode::BAD_REQUEST,
            "page-bad-request-title",
            "page-bad-request-text",
            None,
        );
    };
    let field = |name: &str| input.get(name).map(String::as_str).unwrap_or("");
    let ctx = context(&app, &tenant, &headers, peer, loc);
    let out = app
        .tessera
        .confirm_not_me(&ctx, field("token"), field("csrf_token"))
        .await;
    link_outcome(&app, &tenant, loc, out)
}

/// Renders what following or confirming a link led to.
fn link_outcome(
    app: &AppState,
    tenant: &str,
    loc: Locale,
    out: Result<LinkOutcome, CoreError>,
) -> Response {
    match out {
        Ok(LinkOutcome::Flow(out)) => outcome(app, tenant, loc, *out),
        Ok(LinkOutcome::Confirmed(m)) => message(
            app,
            tenant,
            loc,
            StatusCode::OK,
            "page-confirmed-title",
            &m.id,
            None,
        ),
        Ok(LinkOutcome::Frozen) => message(
            app,
            tenant,
            loc,
            StatusCode::OK,
            "page-frozen-title",
            "page-frozen-text",
            None,
        ),
        Ok(LinkOutcome::OtherBrowser) => message(
            app,
            tenant,
            loc,
            StatusCode::BAD_REQUEST,
            "page-other-browser-title",
            "page-other-browser-text",
            None,
        ),
        // `link` shows a confirmation itself; anything else is no usable link.
        Ok(LinkOutcome::Invalid | LinkOutcome::ConfirmNotMe { .. }) => message(
            app,
            tenant,
            loc,
            StatusCode::BAD_REQUEST,
            "page-link-invalid-title",
            "page-link-invalid-text",
            Some((format!("/t/{tenant}/login"), "link-sign-in")),
        ),
        Err(e) => error_page(app, tenant, loc, FlowKind::Login, e),
    }
}

/// `GET /t/{tenant}/logout`: sign-out lives on the settings page (a POST with the flow's token), so a
/// plain link can never sign anyone out.
pub async fn logout(Path(tenant): Path<String>) -> Response {
    see_other(&format!("/t/{tenant}/settings"))
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
