//! The event log and its verification.
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use tessera_core::audit::AuditReport;
use tessera_core::events::{EventQuery, EventView};
use tessera_model::api_key::Permission;
use time::OffsetDateTime;

use super::ListPage;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Admin, ApiPath, ApiQuery};

/// Filters and paging for the event log.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// e.g. `identity:0190…`.
    pub subject: Option<String>,
    /// e.g. `identity.created`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// RFC 3339; inclusive.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<OffsetDateTime>,
    /// RFC 3339; exclusive.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<OffsetDateTime>,
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (more reads as 1000, 0 as 1); default 100.
    pub limit: Option<u32>,
}

/// A tenant's events, oldest first.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/events", tag = "events", params(("tenant" = String, Path), EventParams),
    responses((status = 200, body = ListPage<EventView>), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(t): ApiPath<String>,
    ApiQuery(p): ApiQuery<EventParams>,
) -> Result<Json<ListPage<EventView>>, ApiError> {
    let q = EventQuery {
        subject: p.subject,
        kind: p.kind,
        from: p.from,
        until: p.until,
        cursor: p.cursor,
        limit: p.limit,
    };
    Ok(Json(app.tessera.events().query(&c, &t, q).await?.into()))
}

/// Which tenant's log to verify.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerifyParams {
    pub tenant: Option<String>,
}

/// Verifies the tamper-evident log (all tenants in scope, or one).
#[utoipa::path(get, path = "/admin/v1/audit/verify", tag = "events", params(VerifyParams),
    responses((status = 200, body = Vec<AuditReport>), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, description = "No such tenant, or one outside the key's tenant.", body = Problem)))]
pub async fn verify(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiQuery(p): ApiQuery<VerifyParams>,
) -> Result<Json<Vec<AuditReport>>, ApiError> {
    c.require(Permission::AuditVerify)?;
    let slug = match (&p.tenant, c.tenant_scope) {
        (Some(s), _) => Some(app.tessera.tenants().get(&c, s).await?.slug),
        (None, Some(_)) => {
            return Err(ApiError::BadRequest {
                code: "tenant_required",
                detail: "a tenant-scoped key must name its tenant".into(),
            });
        }
        (None, None) => None,
    };
    Ok(Json(app.tessera.audit().verify(slug.as_deref()).await?))
}
