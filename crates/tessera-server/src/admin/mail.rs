//! The mail queue's dead letters: listed (whom and why, never what they said) and replayed.
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use tessera_core::mail::{DeadMail, ReplayedMail};
use uuid::Uuid;

use super::ListPage;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Admin, ApiPath, ApiQuery};

/// Paging for the dead letters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterParams {
    pub cursor: Option<String>,
    /// 1 to 1000; default 100.
    pub limit: Option<u32>,
}

/// Mails of a tenant whose delivery was given up, oldest first: the recipient, the template, the attempts
/// and the last error. Their codes and links are never shown.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/mail/dead-letters", tag = "mail",
    params(("tenant" = String, Path), DeadLetterParams),
    responses((status = 200, body = ListPage<DeadMail>), (status = 400, body = Problem)))]
pub async fn dead_letters(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath(tenant): ApiPath<String>,
    ApiQuery(p): ApiQuery<DeadLetterParams>,
) -> Result<Json<ListPage<DeadMail>>, ApiError> {
    let page = app
        .tessera
        .outbox()
        .dead_letters(&c, &tenant, p.cursor.as_deref(), p.limit)
        .await?;
    Ok(Json(page.into()))
}

/// Puts a dead letter back in the queue: it is sent again from now, with a fresh count of attempts.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/mail/dead-letters/{id}/replay", tag = "mail",
    params(("tenant" = String, Path), ("id" = Uuid, Path)),
    responses((status = 200, body = ReplayedMail), (status = 404, body = Problem),
        (status = 409, description = "The code the mail carries has expired (`mail_expired`); the customer asks for a new one.", body = Problem)))]
pub async fn replay(
    State(app): State<AppState>,
    Admin(c): Admin,
    ApiPath((tenant, id)): ApiPath<(String, Uuid)>,
) -> Result<Json<ReplayedMail>, ApiError> {
    Ok(Json(app.tessera.outbox().replay(&c, &tenant, id).await?))
}
