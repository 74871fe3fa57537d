//! Admin API keys.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use tessera_core::api_keys::NewApiKey;
use tessera_model::ApiKeyId;
use tessera_model::api_key::ApiKey;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Admin, ApiJson, ApiPath};

/// A freshly minted key: the only time its secret is ever shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MintedKeyView {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The secret. Store it now: Tessera keeps only a keyed hash.
    pub secret: String,
}

/// Lists keys (never their secrets).
#[utoipa::path(get, path = "/admin/v1/api-keys", tag = "api keys",
    responses((status = 200, body = Vec<ApiKey>), (status = 403, body = Problem)))]
pub async fn list(
    State(app): State<AppState>,
    Admin(c): Admin,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    Ok(Json(app.tessera.api_keys().list(&c).await?))
}

/// Mints a key with a role no wider than the caller's.
#[utoipa::path(post, path = "/admin/v1/api-keys", tag = "api keys", request_body = NewApiKey,
    responses((status = 201, body = MintedKeyView), (status = 403, body = Problem),
        (status = 404, description = "`tenant` names no tenant the caller can see.", body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiJson(req): ApiJson<NewApiKey>,
) -> Result<(StatusCode, Json<MintedKeyView>), ApiError> {
    let minted = app.tessera.api_keys().create(&c, req).await?;
    Ok((
        StatusCode::CREATED,
        Json(MintedKeyView {
            key: minted.key,
            secret: minted.secret.expose().to_owned(),
        }),
    ))
}

/// Revokes a key; it stops working on the next request.
#[utoipa::path(delete, path = "/admin/v1/api-keys/{id}", tag = "api keys", params(("id" = ApiKeyId, Path)),
    responses((status = 200, body = ApiKey), (status = 404, body = Problem)))]
pub async fn revoke(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(id): ApiPath<ApiKeyId>,
) -> Result<Json<ApiKey>, ApiError> {
    Ok(Json(app.tessera.api_keys().revoke(&c, id).await?))
}
