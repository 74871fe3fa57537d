//! Tessera's HTTP edge: the public and admin listeners, their routes and middleware, the OpenAPI
//! document, and the background jobs a serving node runs. The only crate that knows HTTP.
#![forbid(unsafe_code)]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use tessera_core::Tessera;
use tessera_core::config::{Config, MailDelivery, TrustedProxies};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub mod admin;
pub mod backchannel;
pub mod demo_app;
pub mod error;
pub mod extract;
pub mod flow_api;
pub mod hibp;
pub mod jobs;
pub mod jwks;
pub mod logging;
pub mod mail;
pub mod oauth;
pub mod openapi;
pub mod public;
pub mod views;

use error::{ApiError, problem};

/// What every handler can reach: a handle to [`Shared`], so the clone axum makes for every extractor of
/// every request is one reference count, not a copy of the facade's handles and the cookie rules.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The state behind [`AppState`], built once per listener.
#[derive(Debug)]
pub struct Shared {
    pub tessera: Tessera,
    pub max_body_bytes: usize,
    pub views: views::Views,
    pub cookies: public::Cookies,
    /// Where mail goes ([`Config::mail_delivery`]); `/readyz` reports it.
    pub mail: MailDelivery,
    /// True only on a dev-mode node with a loopback base URL and no SMTP: mails are shown at
    /// `/dev/mailbox` on the admin listener, to loopback clients only.
    pub dev_mailbox: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed; see [`extract::client_ip`] (RL-04).
    pub trusted_proxies: Arc<TrustedProxies>,
    /// The demo app's redirect URI on a development node with a loopback base URL; `None` elsewhere,
    /// where `/dev/demo-app` is 404 (see `demo_app`).
    pub demo_redirect: Option<String>,
}

impl AppState {
    /// The state for a configuration: views (with the theme directory) and cookie rules.
    pub fn new(tessera: Tessera, config: &Config) -> Result<Self, String> {
        let views = views::Views::new(config.theme_dir.clone()).map_err(|e| e.to_string())?;
        Ok(Self(Arc::new(Shared {
            tessera,
            max_body_bytes: config.max_body_bytes,
            views,
            cookies: public::Cookies::for_base(&config.base_url, config.dev_mode),
            mail: config.mail_delivery(),
            dev_mailbox: config.mail_delivery() == MailDelivery::DevMailbox,
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            demo_redirect: demo_app::redirect_uri(config),
        })))
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide metrics recorder once; later calls reuse it.
fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// Counts and times every request by listener, route template and status.
async fn record_metrics(
    State(listener): State<&'static str>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [
        ("listener", listener.to_owned()),
        ("route", route),
        ("method", method),
        ("status", status),
    ];
    metrics::counter!("tessera_http_requests_total", &labels).increment(1);
    metrics::histogram!("tessera_http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    resp
}

/// A panic inside a handler becomes a generic 500 problem; nothing about it reaches the client (LOG-03).
/// The panic's message is not logged either: it may quote whatever the handler held.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "something went wrong on our side",
        vec![],
    )
}

/// Headers every response carries: no sniffing, no caching of API answers, no framing.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// The middleware of both listeners. The panic catcher sits innermost, so a panic's 500 is counted in the
/// metrics and carries the security headers and request id like any other answer.
fn with_common_layers(router: Router, listener: &'static str, max_body: usize) -> Router {
    router
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(listener, record_metrics))
        .layer(middleware::from_fn(security_headers))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |req: &Request| {
                    let rid = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    // The path only, never the query: filters may carry personal data (identifiers).
                    tracing::info_span!("request", listener, request_id = %rid, method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// `/healthz`: the process is alive. Never touches the database.
async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

/// `/readyz`: the database answers and the schema is current; else 503 with `Retry-After`. Says where
/// mail goes, and warns when it goes nowhere.
async fn readyz(State(app): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    app.tessera.ready().await?;
    Ok(Json(match app.mail {
        MailDelivery::Disabled => {
            serde_json::json!({"status": "ready", "mail": app.mail.as_str(), "warnings": [NO_MAIL_WARNING]})
        }
        _ => serde_json::json!({"status": "ready", "mail": app.mail.as_str()}),
    }))
}

/// What a node without mail delivery says at start and in `/readyz`.
pub const NO_MAIL_WARNING: &str = "no mail can be sent: smtp_url is not set (TESSERA_SMTP_URL), so codes and links for sign-up, verification and recovery never reach anyone";

/// Prometheus text exposition, with the database pool and the queues sampled at scrape time.
async fn metrics_endpoint(State(app): State<AppState>) -> Response {
    let stats = app.tessera.db().pool_stats();
    metrics::gauge!("tessera_db_pool_connections").set(f64::from(stats.size));
    metrics::gauge!("tessera_db_pool_idle_connections").set(f64::from(stats.idle));
    jobs::sample_queue_metrics(&app.tessera).await;
    match prometheus() {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics_unavailable",
            "the metrics recorder could not be installed",
            vec![],
        ),
    }
}

/// The admin API's OpenAPI document (admin listener).
async fn openapi_json() -> Response {
    json_document(openapi::document_json())
}

/// The flow API's OpenAPI document (public listener).
async fn flow_openapi_json() -> Response {
    json_document(openapi::flow_document_json())
}

fn json_document(doc: Result<String, String>) -> Response {
    match doc {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(e) => ApiError::Core(tessera_core::CoreError::Internal(e)).into_response(),
    }
}

/// The public listener: customer-facing routes (flows and pages arrive with their capabilities).
pub fn public_router(state: AppState) -> Router {
    let max = state.max_body_bytes;
    let r = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(flow_openapi_json))
        .route("/assets/tessera.css", get(public::css))
        .route("/t/{tenant}/theme.css", get(public::theme_css))
        .route("/t/{tenant}/logout", get(public::logout))
        .route("/t/{tenant}/.well-known/jwks.json", get(jwks::jwks))
        .route(
            "/t/{tenant}/oauth2/token",
            post(oauth::token::token)
                .options(oauth::cors::preflight)
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    oauth::cors::actual,
                )),
        )
        .route(
            "/t/{tenant}/oauth2/revoke",
            post(oauth::revoke::revoke)
                .options(oauth::cors::preflight)
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    oauth::cors::actual,
                )),
        )
        .route(
            "/t/{tenant}/oauth2/introspect",
            post(oauth::introspect::introspect),
        )
        .route("/t/{tenant}/oauth2/par", post(oauth::par::par))
        .route(
            "/t/{tenant}/oauth2/device_authorization",
            post(oauth::device::device_authorization),
        )
        .route(
            "/t/{tenant}/device",
            get(oauth::device_page::device_get).post(oauth::device_page::device_post),
        )
        .route(
            "/t/{tenant}/device/confirm",
            get(oauth::device_page::confirm_get).post(oauth::device_page::confirm_post),
        )
        .route(
            "/t/{tenant}/.well-known/openid-configuration",
            get(oauth::discovery::openid_configuration),
        )
        .route(
            "/t/{tenant}/oauth2/authorize",
            get(oauth::authorize::authorize_get).post(oauth::authorize::authorize_post),
        )
        .route(
            "/t/{tenant}/oauth2/authorize/continue",
            get(oauth::authorize::authorize_continue),
        )
        .route(
            "/t/{tenant}/oauth2/logout",
            get(oauth::logout::logout_get).post(oauth::logout::logout_post),
        )
        .route(
            "/t/{tenant}/oauth2/logout/confirm",
            post(oauth::logout::logout_confirm),
        )
        .route(
            "/t/{tenant}/oauth2/consent",
            post(oauth::authorize::consent_post),
        )
        .route(
            "/t/{tenant}/oauth2/userinfo",
            get(oauth::userinfo::userinfo)
                .post(oauth::userinfo::userinfo)
                .options(oauth::cors::preflight)
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    oauth::cors::actual,
                )),
        )
        .route(
            "/t/{tenant}/flows/link",
            get(public::link).post(public::confirm_link),
        )
        .route(
            "/t/{tenant}/flows/{kind}/{id}",
            get(public::show).post(public::submit),
        )
        .route("/t/{tenant}/api/flows/{kind}", post(flow_api::start))
        .route(
            "/t/{tenant}/api/flows/{kind}/{id}",
            get(flow_api::get).post(flow_api::submit),
        )
        .route("/t/{tenant}/api/sessions", get(flow_api::sessions))
        .route(
            "/t/{tenant}/api/sessions/current",
            axum::routing::delete(flow_api::sign_out),
        )
        .route("/dev/demo-app", get(demo_app::home))
        .route("/dev/demo-app/start", get(demo_app::start))
        .route("/dev/demo-app/callback", get(demo_app::callback))
        .route("/t/{tenant}/{kind}", get(public::start));
    // The scripts a method's script node may name, each at its own path.
    let r = views::scripts::shipped()
        .iter()
        .fold(r, |r, s| r.route(s.path, get(move || public::script(s))))
        .with_state(state);
    with_common_layers(r, "public", max)
}

/// The admin listener: the admin REST API, its OpenAPI document, health and metrics.
pub fn admin_router(state: AppState) -> Router {
    use admin::{
        clients, consents, events, identities, keys, mail as dead_mail, organizations, policies,
        tenants,
    };
    let _ = prometheus();
    let max = state.max_body_bytes;
    let t = "/admin/v1/tenants/{tenant}";
    let r = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_endpoint))
        .route("/openapi.json", get(openapi_json))
        .route("/assets/tessera.css", get(public::css))
        .route("/dev/mailbox", get(mail::mailbox_page))
        .route("/dev/mailbox.json", get(mail::mailbox_json))
        .route(
            "/admin/v1/tenants",
            get(tenants::list).post(tenants::create),
        )
        .route(t, get(tenants::get).patch(tenants::update))
        .route(
            &format!("{t}/identities"),
            get(identities::list).post(identities::create),
        )
        .route(
            &format!("{t}/identities/{{id}}"),
            get(identities::get)
                .patch(identities::update)
                .delete(identities::delete),
        )
        .route(
            &format!("{t}/identities/{{id}}/sessions"),
            get(identities::sessions).delete(identities::revoke_sessions),
        )
        .route(
            &format!("{t}/identities/{{id}}/consents"),
            get(consents::list),
        )
        .route(
            &format!("{t}/identities/{{id}}/consents/{{client_id}}"),
            axum::routing::delete(consents::revoke),
        )
        .route(
            &format!("{t}/identities/{{id}}/suspend"),
            post(identities::suspend),
        )
        .route(
            &format!("{t}/identities/{{id}}/reactivate"),
            post(identities::reactivate),
        )
        .route(
            &format!("{t}/identities/{{id}}/schedule-deletion"),
            post(identities::schedule_deletion),
        )
        .route(
            &format!("{t}/attribute-schema"),
            get(policies::get_schema).put(policies::put_schema),
        )
        .route(
            &format!("{t}/policy"),
            get(policies::get_tenant_policy).put(policies::put_tenant_policy),
        )
        .route(
            &format!("{t}/policy/versions"),
            get(policies::tenant_policy_history),
        )
        .route(
            &format!("{t}/policy/versions/{{version}}"),
            get(policies::tenant_policy_version),
        )
        .route(
            &format!("{t}/policy/effective"),
            get(policies::effective_policy),
        )
        .route(
            &format!("{t}/organizations"),
            get(organizations::list).post(organizations::create),
        )
        .route(
            &format!("{t}/organizations/{{org}}"),
            get(organizations::get)
                .patch(organizations::update)
                .delete(organizations::delete),
        )
        .route(
            &format!("{t}/organizations/{{org}}/policy"),
            get(policies::get_org_policy).put(policies::put_org_policy),
        )
        .route(
            &format!("{t}/organizations/{{org}}/members"),
            get(organizations::members).post(organizations::add_member),
        )
        .route(
            &format!("{t}/organizations/{{org}}/members/{{identity}}"),
            axum::routing::put(organizations::set_member).delete(organizations::remove_member),
        )
        .route(
            &format!("{t}/clients"),
            get(clients::list).post(clients::create),
        )
        .route(
            &format!("{t}/clients/{{client_id}}"),
            get(clients::get)
                .put(clients::replace)
                .delete(clients::delete),
        )
        .route(
            &format!("{t}/clients/{{client_id}}/secret"),
            post(clients::rotate_secret),
        )
        .route(&format!("{t}/events"), get(events::list))
        .route(
            &format!("{t}/mail/dead-letters"),
            get(dead_mail::dead_letters),
        )
        .route(
            &format!("{t}/mail/dead-letters/{{id}}/replay"),
            post(dead_mail::replay),
        )
        .route("/admin/v1/audit/verify", get(events::verify))
        .route("/admin/v1/api-keys", get(keys::list).post(keys::create))
        .route(
            "/admin/v1/api-keys/{id}",
            axum::routing::delete(keys::revoke),
        )
        .with_state(state);
    with_common_layers(r, "admin", max)
}

/// Both listeners, bound and ready to serve.
pub struct Listeners {
    pub public: tokio::net::TcpListener,
    pub admin: tokio::net::TcpListener,
}

impl Listeners {
    /// Binds both addresses; an address in use is reported with the address.
    pub async fn bind(config: &Config) -> std::io::Result<Self> {
        let public = tokio::net::TcpListener::bind(config.public_addr)
            .await
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("binding public_addr {}: {e}", config.public_addr),
                )
            })?;
        let admin = tokio::net::TcpListener::bind(config.admin_addr)
            .await
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("binding admin_addr {}: {e}", config.admin_addr),
                )
            })?;
        Ok(Self { public, admin })
    }
}

/// Serves both listeners until `shutdown` resolves, then lets in-flight requests finish (up to the
/// configured grace period), and the background jobs ([`jobs`]) the work in hand (up to the grace period
/// again).
pub async fn serve(
    tessera: Tessera,
    config: &Config,
    listeners: Listeners,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = AppState::new(tessera.clone(), config).map_err(std::io::Error::other)?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let public = axum::serve(
        listeners.public,
        public_router(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(stop(rx.clone()));
    let admin = axum::serve(
        listeners.admin,
        admin_router(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(stop(rx.clone()));
    match state.mail {
        MailDelivery::Smtp => {}
        MailDelivery::DevMailbox => tracing::warn!(
            "DEVELOPMENT MODE: mail is not sent; it is shown at /dev/mailbox on the admin listener to this machine only. Never use dev mode for real customers"
        ),
        MailDelivery::Disabled => tracing::warn!("{NO_MAIL_WARNING}"),
    }
    if config.dev_mode && state.mail != MailDelivery::DevMailbox {
        tracing::warn!(
            "DEVELOPMENT MODE: cookies work over plain http; the dev mailbox is off (it needs a loopback base_url and no smtp_url)"
        );
    }
    if let Some(redirect) = &state.demo_redirect {
        match tessera
            .oauth()
            .ensure_demo_client("default", redirect)
            .await
        {
            Ok(()) => tracing::warn!(
                "DEVELOPMENT MODE: a demo app signs in through the default tenant at {}/dev/demo-app",
                config.base_url.as_str().trim_end_matches('/')
            ),
            Err(e) => tracing::warn!(error = %e, "the demo app's client could not be registered"),
        }
    }
    let jobs =
        jobs::start(&tessera, config, &state.views, rx.clone()).map_err(std::io::Error::other)?;
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let tx = Arc::new(tx);
    let signal_tx = tx.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = signal_tx.send(true);
    });
    let servers = async { tokio::try_join!(async { public.await }, async { admin.await }) };
    let mut stopped = rx.clone();
    let result = tokio::select! {
        r = servers => r.map(drop),
        _ = async {
            let _ = stopped.wait_for(|v| *v).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("grace period over; dropping remaining connections");
            Ok(())
        }
    };
    let _ = tx.send(true);
    jobs.join(grace).await;
    result
}
