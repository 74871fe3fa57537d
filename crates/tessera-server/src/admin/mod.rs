//! The admin REST API, served on the admin listener under `/admin/v1`. Each handler extracts, makes one
//! call on the core facade, and renders; permissions are checked in the core, per operation.
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub mod clients;
pub mod consents;
pub mod events;
pub mod identities;
pub mod keys;
pub mod mail;
pub mod organizations;
pub mod policies;
pub mod tenants;

/// A JSON response carrying the resource version as a strong ETag, for `If-Match` on the next write.
pub struct Etagged<T>(pub StatusCode, pub i64, pub T);

impl<T: Serialize> IntoResponse for Etagged<T> {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(self.2)).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", self.1)) {
            r.headers_mut().insert(header::ETAG, v);
        }
        r
    }
}

/// A page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> From<tessera_core::Paged<T>> for ListPage<T> {
    fn from(p: tessera_core::Paged<T>) -> Self {
        Self {
            items: p.items,
            next_cursor: p.next_cursor,
        }
    }
}

/// An optional reason for a state change, recorded in the event.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    pub reason: Option<String>,
}
