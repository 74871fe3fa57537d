//! The same flows for native and single-page apps, as JSON. No cookies: the app keeps the flow id and the
//! flow secret it was given once at the start, and sends the secret in the `Tessera-Flow-Secret` header with
//! every read and submission (never in a URL: the id is in URLs, events and logs, and is no credential).
//! After sign-in it receives the session token, which it sends as `Authorization: Bearer` (for example to
//! drive a settings flow).
use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_core::CoreError;
use tessera_core::flows::{FlowContext, FlowInput, FlowOutcome, FlowStart};
use tessera_core::sessions::{ClientInfo, SessionView};
use tessera_model::flow::{Flow, FlowChannel, FlowId, FlowKind};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, OptionalJson, client_ip};

/// The header an app sends its flow secret in.
pub const FLOW_SECRET_HEADER: &str = "tessera-flow-secret";
/// The header an app sends its known-device token in (RL-02): the `device_token` answered at sign-in.
pub const DEVICE_HEADER: &str = "tessera-device";

/// Options when an app starts a flow.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartFlow {
    /// Where the customer goes when the flow is done; kept only when it has the base URL's origin,
    /// otherwise ignored (WEB-05).
    pub return_to: Option<String>,
    pub client_id: Option<String>,
    /// Pre-fills the identifier (login) or address (verification, recovery).
    pub login_hint: Option<String>,
    /// Preferred locales, space-separated (`fr-CA fr en`); unknown ones are ignored.
    pub ui_locales: Option<String>,
}

/// A flow answer: the flow (next step or errors), and after sign-in the session token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlowResponse {
    pub flow: Flow,
    /// `true` when the flow is finished.
    pub done: bool,
    /// Present once, right after sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// Present once, when the flow starts (201) or restarts (410): send it in the `Tessera-Flow-Secret`
    /// header with every read and submission of this flow. Without it the flow answers 404.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_secret: Option<String>,
    /// Present once, right after sign-in: where the customer goes next (the flow's `return_to`, else the
    /// settings page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    /// Present after sign-in: keep it on the device and send it in the `Tessera-Device` header with later
    /// sign-ins, so failures caused by others elsewhere never slow this device down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    /// `true` when the flow read or submitted had expired or was finished and this is its replacement
    /// (410, with its own `flow_secret`).
    pub restarted: bool,
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let h = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    h.strip_prefix("Bearer ").map(|t| t.trim().to_owned())
}

fn ctx(
    app: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    peer: SocketAddr,
    locale: Option<String>,
) -> FlowContext {
    FlowContext {
        tenant: tenant.to_owned(),
        channel: FlowChannel::Api,
        browser_binding: None,
        flow_secret: headers
            .get(FLOW_SECRET_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        session_token: bearer(headers),
        device: headers
            .get(DEVICE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        client: ClientInfo {
            // Forwarding headers count only from a configured proxy (RL-04).
            ip: Some(client_ip(peer, headers, &app.trusted_proxies).to_string()),
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        },
        locale,
    }
}

/// The flow API's answer to a core error: a missing sign-in asks for the customer's session token, not
/// for the admin key the shared mapping names.
fn flow_error(e: CoreError) -> ApiError {
    match e {
        CoreError::Unauthenticated => ApiError::NoSession,
        e => ApiError::Core(e),
    }
}

fn kind_of(s: &str) -> Result<FlowKind, ApiError> {
    FlowKind::parse(s).ok_or(ApiError::NotFound)
}

/// The answer to a read (`submitted` false) or a submission. A submission the flow shows errors for
/// answers 400: the customer must retry the step. A read answers 200 whatever the flow shows: the errors
/// of the last submission are part of the flow, and the read itself was fine.
fn respond(out: FlowOutcome, submitted: bool) -> Response {
    use tessera_model::flow::MessageKind;
    let (status, body) = match out {
        FlowOutcome::Show(flow) => {
            let errors = submitted
                && flow
                    .ui
                    .messages
                    .iter()
                    .chain(flow.ui.nodes.iter().flat_map(|n| n.messages.iter()))
                    .any(|m| m.kind == MessageKind::Error);
            let status = if errors {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            (
                status,
                FlowResponse {
                    flow,
                    done: false,
                    session_token: None,
                    flow_secret: None,
                    redirect: None,
                    device_token: None,
                    restarted: false,
                },
            )
        }
        FlowOutcome::Restarted(started) => (
            StatusCode::GONE,
            FlowResponse {
                flow: started.flow,
                done: false,
                session_token: None,
                flow_secret: started.secret.map(|s| s.expose().to_owned()),
                redirect: None,
                device_token: None,
                restarted: true,
            },
        ),
        FlowOutcome::SignedIn {
            flow,
            session_token,
            redirect,
            device_token,
        } => (
            StatusCode::OK,
            FlowResponse {
                flow,
                done: true,
                session_token: Some(session_token),
                flow_secret: None,
                redirect: Some(redirect),
                device_token: Some(device_token),
                restarted: false,
            },
        ),
        // Done within the session the app already holds: no new token.
        FlowOutcome::Continue { flow, redirect } => (
            StatusCode::OK,
            FlowResponse {
                flow,
                done: true,
                session_token: None,
                flow_secret: None,
                redirect: Some(redirect),
                device_token: None,
                restarted: false,
            },
        ),
        FlowOutcome::Done { flow } => (
            StatusCode::OK,
            FlowResponse {
                flow,
                done: true,
                session_token: None,
                flow_secret: None,
                redirect: None,
                device_token: None,
                restarted: false,
            },
        ),
    };
    answer(status, body)
}

/// A flow answer is never cached: it may carry a flow secret or a session token. Script nodes carry the
/// SRI hash of the script they name, for an app that loads it itself.
fn answer(status: StatusCode, mut body: FlowResponse) -> Response {
    crate::views::scripts::fill_integrity(&mut body.flow);
    let mut r = (status, Json(body)).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

/// Starts a flow of `kind` for an app.
#[utoipa::path(post, path = "/t/{tenant}/api/flows/{kind}", tag = "flows", params(("tenant" = String, Path), ("kind" = FlowKind, Path)),
    request_body = Option<StartFlow>,
    responses((status = 201, body = FlowResponse, description = "The new flow."),
        (status = 401, body = crate::error::Problem, description = "A settings flow without a signed-in customer."),
        (status = 404, body = crate::error::Problem, description = "No such tenant or kind."),
        (status = 429, body = crate::error::Problem, description = "A quota of flow starts is used up.")))]
pub async fn start(
    State(app): State<AppState>,
    ApiPath((tenant, kind)): ApiPath<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    OptionalJson(req): OptionalJson<StartFlow>,
) -> Result<Response, ApiError> {
    let kind = kind_of(&kind)?;
    let locale = Some(
        app.views
            .negotiate(
                req.ui_locales.as_deref(),
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            )
            .as_str()
            .to_owned(),
    );
    let c = ctx(&app, &tenant, &headers, peer, locale);
    let started = app
        .tessera
        .flows()
        .start(
            &c,
            kind,
            FlowStart {
                return_to: req.return_to,
                client_id: req.client_id,
                identifier: req.login_hint,
                requested_aal: None,
            },
        )
        .await
        .map_err(flow_error)?;
    Ok(answer(
        StatusCode::CREATED,
        FlowResponse {
            flow: started.flow,
            done: false,
            session_token: None,
            flow_secret: started.secret.map(|s| s.expose().to_owned()),
            redirect: None,
            device_token: None,
            restarted: false,
        },
    ))
}

/// Reads a flow.
#[utoipa::path(get, path = "/t/{tenant}/api/flows/{kind}/{id}", tag = "flows",
    params(("tenant" = String, Path), ("kind" = FlowKind, Path), ("id" = FlowId, Path),
        ("Tessera-Flow-Secret" = String, Header, description = "The flow secret answered when the flow started")),
    responses((status = 200, body = FlowResponse, description = "The flow at its current step."),
        (status = 404, body = crate::error::Problem, description = "No such flow, or not the flow's secret"),
        (status = 410, body = FlowResponse, description = "The flow was replaced by a new one."),
        (status = 429, body = crate::error::Problem, description = "Replacing the flow would exceed a quota of flow starts.")))]
pub async fn get(
    State(app): State<AppState>,
    ApiPath((tenant, kind, id)): ApiPath<(String, String, FlowId)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let kind = kind_of(&kind)?;
    let c = ctx(&app, &tenant, &headers, peer, None);
    Ok(respond(
        app.tessera
            .flows()
            .get(&c, kind, id)
            .await
            .map_err(flow_error)?,
        false,
    ))
}

/// Submits a step: a JSON object of field names to string values (the node names of the flow's UI).
#[utoipa::path(post, path = "/t/{tenant}/api/flows/{kind}/{id}", tag = "flows",
    params(("tenant" = String, Path), ("kind" = FlowKind, Path), ("id" = FlowId, Path),
        ("Tessera-Flow-Secret" = String, Header, description = "The flow secret answered when the flow started"),
        ("Tessera-Device" = Option<String>, Header, description = "The `device_token` of an earlier sign-in on this device (RL-02): its failures are counted on their own, so a flood against the account from elsewhere does not slow this device down")),
    request_body = Object,
    responses((status = 200, body = FlowResponse, description = "The flow after the step."),
        (status = 400, body = FlowResponse, description = "A step the customer must retry: the flow with its error messages."),
        (status = 401, body = crate::error::Problem, description = "Settings: no live session of the flow's account in `Authorization: Bearer`"),
        (status = 403, body = crate::error::Problem, description = "Settings: a password or email change from a session signed in more than 5 minutes ago (`reauthentication_required`, SES-08). Nothing changed; sign in again (`sign_in` is the hosted sign-in, or start a login flow) and retry with the new session."),
        (status = 404, body = crate::error::Problem, description = "No such flow, or not the flow's secret"),
        (status = 409, body = crate::error::Problem, description = "Another submission of the step won."),
        (status = 410, body = FlowResponse, description = "The flow was replaced by a new one."),
        (status = 422, body = crate::error::Problem, description = "A value is not a string (`invalid_body`)."),
        (status = 429, body = crate::error::Problem, description = "A quota is used up.")))]
pub async fn submit(
    State(app): State<AppState>,
    ApiPath((tenant, kind, id)): ApiPath<(String, String, FlowId)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<FlowInput>,
) -> Result<Response, ApiError> {
    let kind = kind_of(&kind)?;
    let c = ctx(&app, &tenant, &headers, peer, None);
    Ok(respond(
        app.tessera
            .flows()
            .submit(&c, kind, id, input)
            .await
            .map_err(flow_error)?,
        true,
    ))
}

/// The signed-in customer's sessions.
#[utoipa::path(get, path = "/t/{tenant}/api/sessions", tag = "flows", params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<SessionView>, description = "The customer's live sessions."),
        (status = 401, body = crate::error::Problem, description = "No session token, or one that is unknown, revoked or expired.")))]
pub async fn sessions(
    State(app): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let token = bearer(&headers).unwrap_or_default();
    let s = app
        .tessera
        .sessions()
        .from_token(&tenant, &token)
        .await?
        .ok_or(ApiError::NoSession)?;
    Ok(Json(app.tessera.sessions().mine(&s).await?))
}

/// Signs out the session whose token is presented.
#[utoipa::path(delete, path = "/t/{tenant}/api/sessions/current", tag = "flows", params(("tenant" = String, Path)),
    responses((status = 204, description = "The session is signed out."),
        (status = 401, body = crate::error::Problem, description = "No session token, or one that is unknown, revoked or expired.")))]
pub async fn sign_out(
    State(app): State<AppState>,
    ApiPath(tenant): ApiPath<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = bearer(&headers).unwrap_or_default();
    let s = app
        .tessera
        .sessions()
        .from_token(&tenant, &token)
        .await?
        .ok_or(ApiError::NoSession)?;
    app.tessera.sessions().sign_out(&s).await?;
    Ok(StatusCode::NO_CONTENT)
}
