//! Tenants.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tessera_core::tenants::{NewTenant, TenantPatch};
use tessera_model::tenant::Tenant;

use super::Etagged;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Admin, ApiJson, ApiPath, IfMatch};

/// Lists the tenants the key can see.
#[utoipa::path(get, path = "/admin/v1/tenants", tag = "tenants",
    responses((status = 200, body = Vec<Tenant>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(app): State<AppState>,
    Admin(c): Admin,
) -> Result<Json<Vec<Tenant>>, ApiError> {
    Ok(Json(app.tessera.tenants().list(&c).await?))
}

/// Creates a tenant (deployment-wide owner keys only).
#[utoipa::path(post, path = "/admin/v1/tenants", tag = "tenants", request_body = NewTenant,
    responses((status = 201, body = Tenant), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiJson(req): ApiJson<NewTenant>,
) -> Result<Etagged<Tenant>, ApiError> {
    let t = app.tessera.tenants().create(&c, req).await?;
    Ok(Etagged(StatusCode::CREATED, t.version, t))
}

/// One tenant.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}", tag = "tenants", params(("tenant" = String, Path)),
    responses((status = 200, body = Tenant), (status = 404, body = Problem)))]
pub async fn get(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(tenant): ApiPath<String>,
) -> Result<Etagged<Tenant>, ApiError> {
    let t = app.tessera.tenants().get(&c, &tenant).await?;
    Ok(Etagged(StatusCode::OK, t.version, t))
}

/// Renames a tenant.
#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}", tag = "tenants", params(("tenant" = String, Path)), request_body = TenantPatch,
    responses((status = 200, body = Tenant), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(tenant): ApiPath<String>,
    IfMatch(v): IfMatch,
    ApiJson(req): ApiJson<TenantPatch>,
) -> Result<Etagged<Tenant>, ApiError> {
    let t = app.tessera.tenants().update(&c, &tenant, req, v).await?;
    Ok(Etagged(StatusCode::OK, t.version, t))
}
