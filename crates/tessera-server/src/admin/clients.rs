//! OAuth clients: the apps customers sign in to through the tenant's issuer.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tessera_core::oauth::{ClientWithSecret, NewClient};
use tessera_model::oauth_client::OAuthClient;

use super::{Etagged, ListPage};
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Admin, ApiJson, ApiPath, ApiQuery, IfMatch, OptionalJson};

/// A client, with its secret when one was just generated: the only time it is ever shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    #[serde(flatten)]
    pub client: OAuthClient,
    /// Store it now: Tessera keeps only a keyed hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl From<ClientWithSecret> for ClientView {
    fn from(c: ClientWithSecret) -> Self {
        Self {
            client: c.client,
            client_secret: c.secret.map(|s| s.expose().to_owned()),
        }
    }
}

/// Paging of the client list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClientListQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (more reads as 200, 0 as 1); default 50.
    pub limit: Option<u32>,
}

/// How long the old secret keeps working after a rotation.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRotation {
    /// 0 (the default: the old secret stops at once) to 604800 (seven days).
    #[serde(default, deserialize_with = "whole_number")]
    pub grace_secs: i64,
}

/// A JSON number that is a whole number, written as `3600` or `3600.0` alike (JSON does not tell them
/// apart, and neither does the OpenAPI document's `integer`).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    n.as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        })
        .ok_or_else(|| serde::de::Error::custom("a whole number of seconds"))
}

/// Registers a client; a secret is generated for `client_secret_basic` and `client_secret_post`.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/clients", tag = "clients", params(("tenant" = String, Path)),
    request_body = NewClient,
    responses((status = 201, body = ClientView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The tenant already has a client with this id."),
        (status = 422, body = Problem, description = "The registration breaks a rule; `errors` lists each.")))]
pub async fn create(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(t): ApiPath<String>,
    ApiJson(req): ApiJson<NewClient>,
) -> Result<Etagged<ClientView>, ApiError> {
    let made = app.tessera.oauth().create(&c, &t, req).await?;
    Ok(Etagged(
        StatusCode::CREATED,
        made.client.version,
        made.into(),
    ))
}

/// The tenant's clients, in client-id order.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/clients", tag = "clients",
    params(("tenant" = String, Path), ClientListQuery),
    responses((status = 200, body = ListPage<OAuthClient>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(t): ApiPath<String>,
    ApiQuery(q): ApiQuery<ClientListQuery>,
) -> Result<Json<ListPage<OAuthClient>>, ApiError> {
    let limit = i64::from(q.limit.unwrap_or(50).clamp(1, 200));
    let items = app
        .tessera
        .oauth()
        .list(&c, &t, q.cursor.as_deref(), limit)
        .await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|c| c.client_id.clone()))
        .flatten();
    Ok(Json(ListPage { items, next_cursor }))
}

/// One client (never its secret).
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/clients/{client_id}", tag = "clients",
    params(("tenant" = String, Path), ("client_id" = String, Path)),
    responses((status = 200, body = OAuthClient), (status = 404, body = Problem)))]
pub async fn get(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((t, id)): ApiPath<(String, String)>,
) -> Result<Etagged<OAuthClient>, ApiError> {
    let client = app.tessera.oauth().get(&c, &t, &id).await?;
    Ok(Etagged(StatusCode::OK, client.version, client))
}

/// Replaces a client's registration (its secret stays; switching to a secret method generates one).
#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/clients/{client_id}", tag = "clients",
    params(("tenant" = String, Path), ("client_id" = String, Path)), request_body = NewClient,
    responses((status = 200, body = ClientView), (status = 404, body = Problem), (status = 412, body = Problem),
        (status = 422, body = Problem)))]
pub async fn replace(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((t, id)): ApiPath<(String, String)>,
    IfMatch(v): IfMatch,
    ApiJson(req): ApiJson<NewClient>,
) -> Result<Etagged<ClientView>, ApiError> {
    let made = app.tessera.oauth().replace(&c, &t, &id, req, v).await?;
    Ok(Etagged(StatusCode::OK, made.client.version, made.into()))
}

/// Generates a new secret; the old one works for `grace_secs` more.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/clients/{client_id}/secret", tag = "clients",
    params(("tenant" = String, Path), ("client_id" = String, Path)), request_body = Option<SecretRotation>,
    responses((status = 200, body = ClientView), (status = 400, body = Problem,
            description = "The grace period is out of range."),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The client authenticates without a secret.")))]
pub async fn rotate_secret(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((t, id)): ApiPath<(String, String)>,
    OptionalJson(req): OptionalJson<SecretRotation>,
) -> Result<Json<ClientView>, ApiError> {
    let made = app
        .tessera
        .oauth()
        .rotate_secret(&c, &t, &id, time::Duration::seconds(req.grace_secs), None)
        .await?;
    Ok(Json(made.into()))
}

/// Deletes a client.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/clients/{client_id}", tag = "clients",
    params(("tenant" = String, Path), ("client_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((t, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.tessera.oauth().delete(&c, &t, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
