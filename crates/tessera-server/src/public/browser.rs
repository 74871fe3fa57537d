//! What a browser brings to the hosted pages, taken apart once for every handler: the tenant, the page
//! language, the flow context its cookies and connection give, and for form posts the checks every
//! submission passes (same site, form encoding, one value per field). Each rejection is a page.
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use tessera_core::CoreError;
use tessera_core::flows::{FlowContext, FlowInput, FlowOutcome, Started};
use tessera_core::sessions::ClientInfo;
use tessera_model::flow::{Flow, FlowChannel, FlowId, FlowKind};

use super::respond::{Pages, has_errors, see_other};
use crate::AppState;
use crate::extract::client_ip;
use crate::views::Locale;

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

    /// The flow-binding cookie with `value`, for the browser's session.
    pub fn flow_cookie(&self, value: &str) -> HeaderValue {
        self.set(self.flow, value, None)
    }

    /// Clears the session cookie (after a sign-out).
    pub fn clear_session(&self) -> HeaderValue {
        self.set(self.session, "", Some(0))
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

/// A browser's request to a hosted page under `/t/{tenant}/…`.
#[derive(Debug)]
pub struct Browser {
    pub tenant: String,
    /// From `ui_locales` in the query, else `Accept-Language` (see [`crate::views::Views::negotiate`]).
    pub locale: Locale,
    /// The flow context the request's cookies (binding, session, known device) and connection give.
    pub ctx: FlowContext,
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let params = RawPathParams::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let tenant = path_param(&params, "tenant").unwrap_or_default().to_owned();
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let ui_locales = parts.uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "ui_locales")
                .map(|(_, v)| v.into_owned())
        });
        let headers = &parts.headers;
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let locale = app.views.negotiate(ui_locales.as_deref(), accept);
        let ctx = FlowContext {
            tenant: tenant.clone(),
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
            locale: Some(locale.as_str().to_owned()),
        };
        Ok(Browser {
            tenant,
            locale,
            ctx,
        })
    }
}

fn path_param<'a>(params: &'a RawPathParams, name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
}

impl Browser {
    /// The pages of this request.
    pub fn pages<'a>(&'a self, app: &'a AppState) -> Pages<'a> {
        Pages {
            views: &app.views,
            https: app.cookies.secure,
            tenant: &self.tenant,
            locale: self.locale,
        }
    }

    /// The answer to a core error in a journey of `kind`. Without a session the browser is sent to
    /// sign in and back to its settings (the only journey that needs one); every other error is a page.
    pub fn error(&self, app: &AppState, kind: FlowKind, e: CoreError) -> Response {
        match e {
            CoreError::Unauthenticated => Redirect::to(&format!(
                "/t/{t}/login?return_to=/t/{t}/settings",
                t = self.tenant
            ))
            .into_response(),
            // SES-08: sign in again, then back to the settings.
            CoreError::ReauthenticationRequired { sign_in } => see_other(&sign_in),
            e => self.pages(app).error(kind, &e),
        }
    }

    /// Sends the browser to a flow it just started, giving it the flow's binding cookie if it is new.
    pub fn started(&self, app: &AppState, started: Started) -> Response {
        let mut r = see_other(&self.flow_path(&started.flow));
        if let Some(b) = started.new_binding {
            r.headers_mut().append(
                header::SET_COOKIE,
                app.cookies.set(app.cookies.flow, &b, None),
            );
        }
        r
    }

    fn flow_path(&self, flow: &Flow) -> String {
        format!(
            "/t/{}/flows/{}/{}",
            self.tenant,
            flow.kind.as_str(),
            flow.id
        )
    }

    /// Turns a flow outcome into a browser response.
    pub fn outcome(&self, app: &AppState, out: FlowOutcome) -> Response {
        let pages = self.pages(app);
        match out {
            FlowOutcome::Show(flow) => {
                let status = if has_errors(&flow) {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::OK
                };
                pages.flow(&flow, status)
            }
            FlowOutcome::Restarted(started) => see_other(&self.flow_path(&started.flow)),
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
            // The session the browser holds is kept: its cookie stays as it is.
            FlowOutcome::Continue { redirect, .. } => see_other(&redirect),
            FlowOutcome::Done { flow } => {
                let mut r = pages.flow(&flow, StatusCode::OK);
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
}

/// A browser's request about a journey: `/t/{tenant}/{kind}` or `/t/{tenant}/flows/{kind}/…`. An
/// unknown kind is answered with "page not found".
#[derive(Debug)]
pub struct BrowserFlow {
    pub browser: Browser,
    pub kind: FlowKind,
    /// The path's `{id}`, if the route has one.
    id: Option<String>,
}

impl FromRequestParts<AppState> for BrowserFlow {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let browser = Browser::from_request_parts(parts, app).await?;
        let params = RawPathParams::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let id = path_param(&params, "id").map(str::to_owned);
        match path_param(&params, "kind").and_then(FlowKind::parse) {
            Some(kind) => Ok(BrowserFlow { browser, kind, id }),
            None => Err(browser.pages(app).not_found()),
        }
    }
}

impl BrowserFlow {
    /// The flow the path names, if its id is well formed.
    fn flow_id(&self) -> Option<FlowId> {
        self.id.as_deref().and_then(|id| id.parse().ok())
    }

    /// Where a malformed flow id sends the browser: to start the journey afresh.
    fn start_afresh(&self, app: &AppState) -> Response {
        see_other(&self.browser.pages(app).start_href(self.kind))
    }
}

/// `GET /t/{tenant}/flows/{kind}/{id}`: a journey's flow, by id.
#[derive(Debug)]
pub struct FlowPage {
    pub flow: BrowserFlow,
    pub id: FlowId,
}

impl FromRequestParts<AppState> for FlowPage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let flow = BrowserFlow::from_request_parts(parts, app).await?;
        match flow.flow_id() {
            Some(id) => Ok(FlowPage { flow, id }),
            None => Err(flow.start_afresh(app)),
        }
    }
}

/// `POST /t/{tenant}/flows/{kind}/{id}`: a step submitted from a form. Refused with a page before the
/// engine sees it: a post from another site (WEB-02; the engine checks the CSRF token as well), a body
/// that is not form-encoded, and a form with a field twice or too many fields.
#[derive(Debug)]
pub struct FlowSubmission {
    pub flow: BrowserFlow,
    pub id: FlowId,
    pub input: FlowInput,
}

impl FromRequest<AppState> for FlowSubmission {
    type Rejection = Response;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let flow = BrowserFlow::from_request_parts(&mut parts, app).await?;
        let pages = flow.browser.pages(app);
        let refuse = |status, title, text| {
            pages.message(
                status,
                title,
                text,
                Some((pages.start_href(flow.kind), "link-start-again")),
            )
        };
        if cross_site(app, &parts.headers) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "page-forbidden-title",
                "page-forbidden-text",
            ));
        }
        let form_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !form_type.starts_with("application/x-www-form-urlencoded") {
            return Err(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "page-bad-request-title",
                "page-bad-request-text",
            ));
        }
        // The body limit answers 413 here.
        let body = Bytes::from_request(Request::from_parts(parts, body), app)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(input) = parse_form(&body) else {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "page-bad-request-title",
                "page-bad-request-text",
            ));
        };
        match flow.flow_id() {
            Some(id) => Ok(FlowSubmission { flow, id, input }),
            None => Err(flow.start_afresh(app)),
        }
    }
}

/// A form posted to a hosted page that is not a flow step (the "not me" confirmation): the same checks
/// as a step's form (same site, form encoding, well-formed), every refusal a page.
pub struct PagePost {
    pub browser: Browser,
    pub input: FlowInput,
}

impl FromRequest<AppState> for PagePost {
    type Rejection = Response;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let browser = Browser::from_request_parts(&mut parts, app).await?;
        let pages = browser.pages(app);
        if cross_site(app, &parts.headers) {
            return Err(pages.message(
                StatusCode::FORBIDDEN,
                "page-forbidden-title",
                "page-forbidden-text",
                None,
            ));
        }
        let form_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !form_type.starts_with("application/x-www-form-urlencoded") {
            return Err(pages.message(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "page-bad-request-title",
                "page-bad-request-text",
                None,
            ));
        }
        let body = Bytes::from_request(Request::from_parts(parts, body), app)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(input) = parse_form(&body) else {
            return Err(pages.message(
                StatusCode::BAD_REQUEST,
                "page-bad-request-title",
                "page-bad-request-text",
                None,
            ));
        };
        Ok(PagePost { browser, input })
    }
}

/// Whether a form post comes from another site (WEB-02): by `Sec-Fetch-Site`, else by `Origin` against
/// the base URL and the request's own host.
fn cross_site(app: &AppState, headers: &HeaderMap) -> bool {
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return true;
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None | Some("null") => false,
        Some(origin) => {
            let base = app.tessera.flows().public_url("", "");
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
