//! Attribute schemas and policy documents.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tessera_core::policies::{EffectivePolicy, PolicyChange, PolicyScope, PolicyVersionView};
use tessera_core::schemas::VersionedSchema;
use tessera_model::OrganizationId;
use tessera_model::attributes::AttributeSchema;

use super::Etagged;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Admin, ApiJson, ApiPath, ApiQuery, IfMatch};

/// The tenant's attribute schema (version 0 when never set).
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/attribute-schema", tag = "attribute schema", params(("tenant" = String, Path)),
    responses((status = 200, body = VersionedSchema), (status = 404, body = Problem)))]
pub async fn get_schema(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(t): ApiPath<String>,
) -> Result<Etagged<VersionedSchema>, ApiError> {
    let s = app.tessera.schemas().get(&c, &t).await?;
    Ok(Etagged(StatusCode::OK, s.version, s))
}

/// Replaces the tenant's attribute schema.
#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/attribute-schema", tag = "attribute schema",
    params(("tenant" = String, Path), ("If-Match" = Option<String>, Header)), request_body = AttributeSchema,
    responses((status = 200, body = VersionedSchema), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn put_schema(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(t): ApiPath<String>,
    IfMatch(v): IfMatch,
    ApiJson(schema): ApiJson<AttributeSchema>,
) -> Result<Etagged<VersionedSchema>, ApiError> {
    let s = app.tessera.schemas().put(&c, &t, schema, v).await?;
    Ok(Etagged(StatusCode::OK, s.version, s))
}

/// The tenant's current policy document.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/policy", tag = "policy", params(("tenant" = String, Path)),
    responses((status = 200, body = PolicyVersionView), (status = 404, body = Problem)))]
pub async fn get_tenant_policy(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(t): ApiPath<String>,
) -> Result<Etagged<PolicyVersionView>, ApiError> {
    let p = app
        .tessera
        .policies()
        .get(&c, &t, PolicyScope::Tenant)
        .await?;
    Ok(Etagged(StatusCode::OK, p.version, p))
}

/// Stores a new version of the tenant's policy, with the reason for the change.
#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/policy", tag = "policy",
    params(("tenant" = String, Path), ("If-Match" = Option<String>, Header)), request_body = PolicyChange,
    responses((status = 200, body = PolicyVersionView), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn put_tenant_policy(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(t): ApiPath<String>,
    IfMatch(v): IfMatch,
    ApiJson(change): ApiJson<PolicyChange>,
) -> Result<Etagged<PolicyVersionView>, ApiError> {
    let p = app
        .tessera
        .policies()
        .put(&c, &t, PolicyScope::Tenant, change, v)
        .await?;
    Ok(Etagged(StatusCode::OK, p.version, p))
}

/// Every version of the tenant's policy, newest first.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/policy/versions", tag = "policy", params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<PolicyVersionView>)))]
pub async fn tenant_policy_history(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(t): ApiPath<String>,
) -> Result<Json<Vec<PolicyVersionView>>, ApiError> {
    Ok(Json(
        app.tessera
            .policies()
            .history(&c, &t, PolicyScope::Tenant)
            .await?,
    ))
}

/// One past version of the tenant's policy.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/policy/versions/{version}", tag = "policy",
    params(("tenant" = String, Path), ("version" = i64, Path)),
    responses((status = 200, body = PolicyVersionView), (status = 404, body = Problem)))]
pub async fn tenant_policy_version(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((t, version)): ApiPath<(String, i64)>,
) -> Result<Json<PolicyVersionView>, ApiError> {
    Ok(Json(
        app.tessera
            .policies()
            .version(&c, &t, PolicyScope::Tenant, version)
            .await?,
    ))
}

/// Which organization's effective policy to compute.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EffectiveParams {
    pub organization: Option<OrganizationId>,
}

/// The policy in force: the tenant's, merged with an organization's override when one is named.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/policy/effective", tag = "policy", params(("tenant" = String, Path), EffectiveParams),
    responses((status = 200, body = EffectivePolicy), (status = 404, body = Problem)))]
pub async fn effective_policy(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(t): ApiPath<String>,
    ApiQuery(p): ApiQuery<EffectiveParams>,
) -> Result<Json<EffectivePolicy>, ApiError> {
    Ok(Json(
        app.tessera
            .policies()
            .effective(&c, &t, p.organization)
            .await?,
    ))
}

/// An organization's policy override.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/organizations/{org}/policy", tag = "policy",
    params(("tenant" = String, Path), ("org" = OrganizationId, Path)),
    responses((status = 200, body = PolicyVersionView), (status = 404, body = Problem)))]
pub async fn get_org_policy(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((t, org)): ApiPath<(String, OrganizationId)>,
) -> Result<Etagged<PolicyVersionView>, ApiError> {
    let p = app
        .tessera
        .policies()
        .get(&c, &t, PolicyScope::Organization(org))
        .await?;
    Ok(Etagged(StatusCode::OK, p.version, p))
}

/// Stores a new version of an organization's override (only the parts it overrides).
#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/organizations/{org}/policy", tag = "policy",
    params(("tenant" = String, Path), ("org" = OrganizationId, Path), ("If-Match" = Option<String>, Header)), request_body = PolicyChange,
    responses((status = 200, body = PolicyVersionView), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn put_org_policy(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((t, org)): ApiPath<(String, OrganizationId)>,
    IfMatch(v): IfMatch,
    ApiJson(change): ApiJson<PolicyChange>,
) -> Result<Etagged<PolicyVersionView>, ApiError> {
    let p = app
        .tessera
        .policies()
        .put(&c, &t, PolicyScope::Organization(org), change, v)
        .await?;
    Ok(Etagged(StatusCode::OK, p.version, p))
}
