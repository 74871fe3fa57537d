//! Tenants.
use serde::Deserialize;
use serde_json::json;
use tessera_model::TenantId;
use tessera_model::api_key::Permission;
use tessera_model::event::{NewEvent, types};
use tessera_model::tenant::{self, Tenant};
use tessera_store::Exec;

use crate::{Caller, CoreError, FieldProblem, Result, Tessera, check_version, conflict_as};

/// A request to create a tenant.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
}

/// A change to a tenant.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    pub name: Option<String>,
}

fn field_problem(field: &str, e: tenant::TenantFieldError) -> CoreError {
    CoreError::invalid(
        "invalid_field",
        e.to_string(),
        vec![FieldProblem {
            field: field.into(),
            code: "invalid".into(),
            message: e.to_string(),
        }],
    )
}

impl Tessera {
    /// Resolves a tenant slug, hiding tenants outside the caller's scope.
    pub(crate) async fn tenant_in_scope(
        &self,
        x: &mut impl Exec,
        caller: &Caller,
        slug: &str,
    ) -> Result<Tenant> {
        let t = tessera_store::tenants::by_slug(x, slug)
            .await?
            .ok_or(CoreError::NotFound { what: "tenant" })?;
        caller.check_tenant(t.id)?;
        Ok(t)
    }
}

/// Tenants as the admin API and the CLI manage them, borrowed from the facade: `t.tenants().create(..)`.
#[derive(Clone, Copy, Debug)]
pub struct Tenants<'a> {
    t: &'a Tessera,
}

impl Tessera {
    /// Tenant administration.
    pub fn tenants(&self) -> Tenants<'_> {
        Tenants { t: self }
    }
}

impl Tenants<'_> {
    /// Creates a tenant. Only deployment-wide owners may: a tenant-scoped key cannot make siblings.
    pub async fn create(&self, caller: &Caller, req: NewTenant) -> Result<Tenant> {
        caller.require(Permission::TenantWrite)?;
        if caller.tenant_scope.is_some() {
            return Err(CoreError::Forbidden {
                permission: "tenant:write (deployment-wide keys only)",
            });
        }
        tenant::check_slug(&req.slug).map_err(|e| field_problem("slug", e))?;
        tenant::check_name(&req.name).map_err(|e| field_problem("name", e))?;
        let now = self.t.now();
        let t = Tenant {
            id: TenantId::new(),
            slug: req.slug,
            name: req.name.trim().to_owned(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut tx = self.t.db().begin().await?;
        tessera_store::tenants::insert(&mut tx, &t)
            .await
            .map_err(|e| {
                conflict_as(
                    e,
                    "slug_taken",
                    format!("a tenant with slug {:?} already exists", t.slug),
                )
            })?;
        let ev = NewEvent::new(
            t.id,
            types::TENANT_CREATED,
            "tenant",
            json!({"tenant_id": t.id, "slug": t.slug, "name": t.name}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        // A tenant never exists without signing keys: its JWKS is complete from the first request.
        self.t
            .signing_keys()
            .ensure_in(&mut tx, caller, t.id, crate::signing_keys::DEFAULT_ALG)
            .await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Tenants the caller can see.
    pub async fn list(&self, caller: &Caller) -> Result<Vec<Tenant>> {
        caller.require(Permission::TenantRead)?;
        let mut conn = self.t.db().conn().await?;
        let all = tessera_store::tenants::list(&mut conn).await?;
        Ok(all
            .into_iter()
            .filter(|t| caller.check_tenant(t.id).is_ok())
            .collect())
    }

    /// One tenant by slug.
    pub async fn get(&self, caller: &Caller, slug: &str) -> Result<Tenant> {
        caller.require(Permission::TenantRead)?;
        let mut conn = self.t.db().conn().await?;
        self.t.tenant_in_scope(&mut conn, caller, slug).await
    }

    /// Renames a tenant; `if_match` guards against lost updates.
    pub async fn update(
        &self,
        caller: &Caller,
        slug: &str,
        patch: TenantPatch,
        if_match: Option<i64>,
    ) -> Result<Tenant> {
        caller.require(Permission::TenantWrite)?;
        let mut tx = self.t.db().begin().await?;
        let mut t = self.t.tenant_in_scope(&mut tx, caller, slug).await?;
        check_version(if_match, t.version)?;
        let Some(name) = patch.name else { return Ok(t) };
        tenant::check_name(&name).map_err(|e| field_problem("name", e))?;
        if name.trim() == t.name {
            return Ok(t);
        }
        let expected = t.version;
        t.name = name.trim().to_owned();
        t.version += 1;
        t.updated_at = self.t.now();
        if !tessera_store::tenants::update(&mut tx, &t, expected).await? {
            return Err(CoreError::VersionMismatch {
                expected,
                found: expected + 1,
            });
        }
        let ev = NewEvent::new(
            t.id,
            types::TENANT_UPDATED,
            "tenant",
            json!({"tenant_id": t.id, "name": t.name, "version": t.version}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        self.t.tenant_cache().forget(&t.slug);
        Ok(t)
    }
}
