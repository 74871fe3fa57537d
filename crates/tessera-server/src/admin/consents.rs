//! The consents an identity gave to third-party apps (CON-02): list them, withdraw one (which revokes
//! that app's refresh tokens for the identity). Reading needs `identity:read`, withdrawing
//! `identity:write`.
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tessera_core::oauth::consent::GrantedConsent;
use tessera_model::IdentityId;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Admin, ApiPath};

/// The apps an identity allowed access, with the scopes allowed.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/identities/{id}/consents", tag = "identities",
    params(("tenant" = String, Path), ("id" = IdentityId, Path)),
    responses((status = 200, body = Vec<GrantedConsent>), (status = 404, body = Problem)))]
pub async fn list(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((tenant, id)): ApiPath<(String, IdentityId)>,
) -> Result<Json<Vec<GrantedConsent>>, ApiError> {
    Ok(Json(
        app.tessera.oauth().admin_consents(&c, &tenant, id).await?,
    ))
}

/// Withdraws an identity's consent to an app; the app's refresh tokens for the identity stop working.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/identities/{id}/consents/{client_id}", tag = "identities",
    params(("tenant" = String, Path), ("id" = IdentityId, Path), ("client_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn revoke(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((tenant, id, client)): ApiPath<(String, IdentityId, String)>,
) -> Result<StatusCode, ApiError> {
    app.tessera
        .oauth()
        .admin_revoke_consent(&c, &tenant, id, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
