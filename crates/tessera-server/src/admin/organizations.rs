//! Organizations and their members.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tessera_core::organizations::{MemberInput, MemberRoles, NewOrganization, OrganizationPatch};
use tessera_model::organization::{Member, Organization};
use tessera_model::{IdentityId, OrganizationId};

use super::Etagged;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Admin, ApiJson, ApiPath, IfMatch};

/// Creates an organization.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/organizations", tag = "organizations", params(("tenant" = String, Path)),
    request_body = NewOrganization,
    responses((status = 201, body = Organization), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(t): ApiPath<String>,
    ApiJson(req): ApiJson<NewOrganization>,
) -> Result<Etagged<Organization>, ApiError> {
    let o = app.tessera.organizations().create(&c, &t, req).await?;
    Ok(Etagged(StatusCode::CREATED, o.version, o))
}

/// All organizations of a tenant.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/organizations", tag = "organizations", params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<Organization>)))]
pub async fn list(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(t): ApiPath<String>,
) -> Result<Json<Vec<Organization>>, ApiError> {
    Ok(Json(app.tessera.organizations().list(&c, &t).await?))
}

/// One organization.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/organizations/{org}", tag = "organizations",
    params(("tenant" = String, Path), ("org" = OrganizationId, Path)),
    responses((status = 200, body = Organization), (status = 404, body = Problem)))]
pub async fn get(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((t, org)): ApiPath<(String, OrganizationId)>,
) -> Result<Etagged<Organization>, ApiError> {
    let o = app.tessera.organizations().get(&c, &t, org).await?;
    Ok(Etagged(StatusCode::OK, o.version, o))
}

/// Renames an organization or replaces its domains.
#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/organizations/{org}", tag = "organizations",
    params(("tenant" = String, Path), ("org" = OrganizationId, Path), ("If-Match" = Option<String>, Header)),
    request_body = OrganizationPatch,
    responses((status = 200, body = Organization), (status = 409, body = Problem), (status = 412, body = Problem)))]
pub async fn update(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((t, org)): ApiPath<(String, OrganizationId)>,
    IfMatch(v): IfMatch,
    ApiJson(patch): ApiJson<OrganizationPatch>,
) -> Result<Etagged<Organization>, ApiError> {
    let o = app
        .tessera
        .organizations()
        .update(&c, &t, org, patch, v)
        .await?;
    Ok(Etagged(StatusCode::OK, o.version, o))
}

/// Deletes an organization and its memberships.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/organizations/{org}", tag = "organizations",
    params(("tenant" = String, Path), ("org" = OrganizationId, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((t, org)): ApiPath<(String, OrganizationId)>,
) -> Result<StatusCode, ApiError> {
    app.tessera.organizations().delete(&c, &t, org).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The members of an organization.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/organizations/{org}/members", tag = "organizations",
    params(("tenant" = String, Path), ("org" = OrganizationId, Path)),
    responses((status = 200, body = Vec<Member>), (status = 404, body = Problem)))]
pub async fn members(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((t, org)): ApiPath<(String, OrganizationId)>,
) -> Result<Json<Vec<Member>>, ApiError> {
    Ok(Json(
        app.tessera
            .organizations()
            .list_members(&c, &t, org)
            .await?,
    ))
}

/// Adds a member with roles.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/organizations/{org}/members", tag = "organizations",
    params(("tenant" = String, Path), ("org" = OrganizationId, Path)), request_body = MemberInput,
    responses((status = 201, body = Member), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn add_member(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((t, org)): ApiPath<(String, OrganizationId)>,
    ApiJson(req): ApiJson<MemberInput>,
) -> Result<(StatusCode, Json<Member>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(
            app.tessera
                .organizations()
                .add_member(&c, &t, org, req)
                .await?,
        ),
    ))
}

/// Replaces a member's roles.
#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/organizations/{org}/members/{identity}", tag = "organizations",
    params(("tenant" = String, Path), ("org" = OrganizationId, Path), ("identity" = IdentityId, Path)), request_body = MemberRoles,
    responses((status = 200, body = Member), (status = 404, body = Problem)))]
pub async fn set_member(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((t, org, identity)): ApiPath<(String, OrganizationId, IdentityId)>,
    ApiJson(req): ApiJson<MemberRoles>,
) -> Result<Json<Member>, ApiError> {
    Ok(Json(
        app.tessera
            .organizations()
            .set_member_roles(&c, &t, org, identity, req)
            .await?,
    ))
}

/// Removes a member.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/organizations/{org}/members/{identity}", tag = "organizations",
    params(("tenant" = String, Path), ("org" = OrganizationId, Path), ("identity" = IdentityId, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn remove_member(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((t, org, identity)): ApiPath<(String, OrganizationId, IdentityId)>,
) -> Result<StatusCode, ApiError> {
    app.tessera
        .organizations()
        .remove_member(&c, &t, org, identity)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
