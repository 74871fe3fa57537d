//! Customer identities.
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tessera_core::identities::{IdentityPatch, IdentityQuery, NewIdentity};
use tessera_model::identity::{Identity, IdentityState};
use tessera_model::{IdentityId, OrganizationId};

use super::{Etagged, ListPage, ReasonBody};
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Admin, ApiJson, ApiPath, ApiQuery, IfMatch, OptionalJson};

/// Filters and paging for the identity list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    pub state: Option<IdentityState>,
    /// `email:alice@example.com`, `phone:+14155550100`, `username:alice`, or a bare value.
    pub identifier: Option<String>,
    /// `name:value`, for scalar attributes.
    pub attribute: Option<String>,
    pub organization: Option<OrganizationId>,
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (more reads as 500, 0 as 1); default 50.
    pub limit: Option<u32>,
}

/// Creates an identity; with `"state": "prospect"` a light account that needs only an identifier.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/identities", tag = "identities", params(("tenant" = String, Path)),
    request_body = NewIdentity,
    responses((status = 201, body = Identity), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(tenant): ApiPath<String>,
    ApiJson(req): ApiJson<NewIdentity>,
) -> Result<Etagged<Identity>, ApiError> {
    let i = app.tessera.identities().create(&c, &tenant, req).await?;
    Ok(Etagged(StatusCode::CREATED, i.version, i))
}

/// Lists identities, oldest first, with cursor pagination.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/identities", tag = "identities", params(("tenant" = String, Path), ListParams),
    responses((status = 200, body = ListPage<Identity>), (status = 400, body = Problem)))]
pub async fn list(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(tenant): ApiPath<String>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<axum::Json<ListPage<Identity>>, ApiError> {
    let q = IdentityQuery {
        state: p.state,
        identifier: p.identifier,
        attribute: p.attribute,
        organization: p.organization,
        cursor: p.cursor,
        limit: p.limit,
    };
    Ok(axum::Json(
        app.tessera.identities().list(&c, &tenant, q).await?.into(),
    ))
}

/// One identity; its ETag is its version.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/identities/{id}", tag = "identities",
    params(("tenant" = String, Path), ("id" = IdentityId, Path)),
    responses((status = 200, body = Identity), (status = 404, body = Problem)))]
pub async fn get(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((tenant, id)): ApiPath<(String, IdentityId)>,
) -> Result<Etagged<Identity>, ApiError> {
    let i = app.tessera.identities().get(&c, &tenant, id).await?;
    Ok(Etagged(StatusCode::OK, i.version, i))
}

/// Changes attributes (JSON merge patch) or replaces identifiers; send `If-Match` to avoid lost updates.
/// Needs `identity:write`; also `identity:verify` (REG-01) to mark an identifier verified, or to remove,
/// replace or mark unverified one that is verified today, or to attach a new email or phone to an
/// identity that has a verified identifier: refused with 403 before anything changes. Every verified
/// address the change takes off the identity is told by mail.
#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/identities/{id}", tag = "identities",
    params(("tenant" = String, Path), ("id" = IdentityId, Path), ("If-Match" = Option<String>, Header)),
    request_body = IdentityPatch,
    responses((status = 200, body = Identity), (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((tenant, id)): ApiPath<(String, IdentityId)>,
    IfMatch(v): IfMatch,
    ApiJson(patch): ApiJson<IdentityPatch>,
) -> Result<Etagged<Identity>, ApiError> {
    let i = app
        .tessera
        .identities()
        .update(&c, &tenant, id, patch, v)
        .await?;
    Ok(Etagged(StatusCode::OK, i.version, i))
}

macro_rules! transition {
    ($name:ident, $path:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "identities",
            params(("tenant" = String, Path), ("id" = IdentityId, Path), ("If-Match" = Option<String>, Header)),
            request_body = Option<ReasonBody>,
            responses((status = 200, body = Identity), (status = 404, body = Problem), (status = 409, body = Problem)))]
        pub async fn $name(
            State(app): State<AppState>,
            Admin(c): Admin,
            ApiPath((tenant, id)): ApiPath<(String, IdentityId)>,
            IfMatch(v): IfMatch,
            OptionalJson(body): OptionalJson<ReasonBody>,
        ) -> Result<Etagged<Identity>, ApiError> {
            let i = app.tessera.identities().$name(&c, &tenant, id, body.reason, v).await?;
            Ok(Etagged(StatusCode::OK, i.version, i))
        }
    };
}

transition!(
    suspend,
    "/admin/v1/tenants/{tenant}/identities/{id}/suspend",
    "Suspends an identity: it can no longer sign in."
);
transition!(
    reactivate,
    "/admin/v1/tenants/{tenant}/identities/{id}/reactivate",
    "Reactivates a suspended identity, restores one scheduled for deletion, or activates a prospect."
);
transition!(
    schedule_deletion,
    "/admin/v1/tenants/{tenant}/identities/{id}/schedule-deletion",
    "Marks an identity for erasure; it can still be reactivated."
);

/// Erases an identity now; the tombstone stays with state `deleted`.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/identities/{id}", tag = "identities",
    params(("tenant" = String, Path), ("id" = IdentityId, Path), ("If-Match" = Option<String>, Header)),
    request_body = Option<ReasonBody>,
    responses((status = 200, body = Identity), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((tenant, id)): ApiPath<(String, IdentityId)>,
    IfMatch(v): IfMatch,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<Etagged<Identity>, ApiError> {
    let i = app
        .tessera
        .identities()
        .delete(&c, &tenant, id, body.reason, v)
        .await?;
    Ok(Etagged(StatusCode::OK, i.version, i))
}

/// The live sessions of an identity.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/identities/{id}/sessions", tag = "identities",
    params(("tenant" = String, Path), ("id" = IdentityId, Path)),
    responses((status = 200, body = Vec<tessera_core::sessions::SessionView>), (status = 404, body = Problem)))]
pub async fn sessions(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((tenant, id)): ApiPath<(String, IdentityId)>,
) -> Result<axum::Json<Vec<tessera_core::sessions::SessionView>>, ApiError> {
    Ok(axum::Json(
        app.tessera.sessions().admin_list(&c, &tenant, id).await?,
    ))
}

/// Revokes every session of an identity (it is signed out everywhere).
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/identities/{id}/sessions", tag = "identities",
    params(("tenant" = String, Path), ("id" = IdentityId, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)))]
pub async fn revoke_sessions(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((tenant, id)): ApiPath<(String, IdentityId)>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let n = app.tessera.sessions().admin_revoke(&c, &tenant, id).await?;
    Ok(axum::Json(serde_json::json!({"revoked": n})))
}
