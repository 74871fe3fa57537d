//! The admin OpenAPI 3.1 document, generated from the handlers' annotations.
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::admin;

/// Declares the bearer-key security scheme and applies it to every operation.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tsk_…")
                    .description(Some("An admin API key. Its role decides what it may do; see docs/admin-roles.md."))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Tessera admin API", description = "Manage tenants, customer identities, attribute schemas, policies, organizations, API keys and the event log. Errors are application/problem+json with a stable `code`."),
    security(("admin_key" = [])),
    modifiers(&BearerKey),
    paths(
        admin::tenants::list, admin::tenants::create, admin::tenants::get, admin::tenants::update,
        admin::identities::create, admin::identities::list, admin::identities::get, admin::identities::update,
        admin::identities::suspend, admin::identities::reactivate, admin::identities::schedule_deletion, admin::identities::delete,
        admin::identities::sessions, admin::identities::revoke_sessions,
        crate::flow_api::start, crate::flow_api::get, crate::flow_api::submit, crate::flow_api::sessions, crate::flow_api::sign_out,
        admin::policies::get_schema, admin::policies::put_schema,
        admin::policies::get_tenant_policy, admin::policies::put_tenant_policy, admin::policies::tenant_policy_history,
        admin::policies::tenant_policy_version, admin::policies::effective_policy,
        admin::policies::get_org_policy, admin::policies::put_org_policy,
        admin::organizations::create, admin::organizations::list, admin::organizations::get, admin::organizations::update,
        admin::organizations::delete, admin::organizations::members, admin::organizations::add_member,
        admin::organizations::set_member, admin::organizations::remove_member,
        admin::keys::list, admin::keys::create, admin::keys::revoke,
        admin::events::list, admin::events::verify,
    ),
    tags(
        (name = "tenants"), (name = "identities"), (name = "attribute schema"), (name = "policy"),
        (name = "organizations"), (name = "api keys"), (name = "events"),
        (name = "flows", description = "Public listener: the hosted flows for native and single-page apps (JSON)."),
    )
)]
struct AdminApi;

/// The document as a value.
pub fn document() -> utoipa::openapi::OpenApi {
    AdminApi::openapi()
}

/// The document as pretty JSON.
pub fn document_json() -> Result<String, String> {
    document().to_pretty_json().map_err(|e| e.to_string())
}
