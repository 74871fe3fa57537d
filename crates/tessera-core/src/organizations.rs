//! Organizations (B2B customers inside a tenant) and their members.
use serde::Deserialize;
use serde_json::json;
use tessera_model::api_key::Permission;
use tessera_model::event::{NewEvent, types};
use tessera_model::identity::IdentityState;
use tessera_model::organization::{self, Member, Organization, OrganizationFieldError};
use tessera_model::{IdentityId, OrganizationId};

use crate::{Caller, CoreError, FieldProblem, Result, Tessera, check_version, conflict_as};

/// A request to create an organization.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    pub name: String,
    #[serde(default)]
    pub domains: Vec<String>,
}

/// A change to an organization; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationPatch {
    pub name: Option<String>,
    pub domains: Option<Vec<String>>,
}

/// A request to add a member or change a member's roles.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberInput {
    pub identity_id: IdentityId,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A request to change a member's roles.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRoles {
    pub roles: Vec<String>,
}

fn org_field_error(field: &str, e: OrganizationFieldError) -> CoreError {
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

fn field_of(e: &OrganizationFieldError) -> &'static str {
    match e {
        OrganizationFieldError::BadName => "name",
        OrganizationFieldError::BadDomain(_) | OrganizationFieldError::TooMany => "domains",
        OrganizationFieldError::BadRole => "roles",
    }
}

fn org_conflict(e: tessera_store::StoreError) -> CoreError {
    let detail = match &e {
        tessera_store::StoreError::Conflict { on } if on.contains("domain") => {
            "a domain already belongs to another organization"
        }
        _ => "an organization with this name already exists",
    };
    let code = if detail.contains("domain") {
        "domain_taken"
    } else {
        "name_taken"
    };
    conflict_as(e, code, detail)
}

/// Organizations and their members as the admin API manages them, borrowed from the facade:
/// `t.organizations().add_member(..)`.
#[derive(Clone, Copy, Debug)]
pub struct Organizations<'a> {
    t: &'a Tessera,
}

impl Tessera {
    /// Organization administration.
    pub fn organizations(&self) -> Organizations<'_> {
        Organizations { t: self }
    }
}

impl Organizations<'_> {
    /// Creates an organization; names and domains are unique within the tenant.
    pub async fn create(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        req: NewOrganization,
    ) -> Result<Organization> {
        caller.require(Permission::OrganizationWrite)?;
        let domains = organization::check_fields(&req.name, &req.domains)
            .map_err(|e| org_field_error(field_of(&e), e))?;
        let mut tx = self.t.db().begin().await?;
        let t = self.t.tenant_in_scope(&mut tx, caller, tenant_slug).await?;
        let now = self.t.now();
        let org = Organization {
            id: OrganizationId::new(),
            tenant_id: t.id,
            name: req.name.trim().to_owned(),
            domains,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        tessera_store::organizations::insert(&mut tx, &org)
            .await
            .map_err(org_conflict)?;
        let ev = NewEvent::new(
            t.id,
            types::ORGANIZATION_CREATED,
            format!("organization:{}", org.id),
            json!({"organization_id": org.id, "name": org.name, "domains": org.domains}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        Ok(org)
    }

    /// One organization.
    pub async fn get(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        id: OrganizationId,
    ) -> Result<Organization> {
        caller.require(Permission::OrganizationRead)?;
        let mut conn = self.t.db().conn().await?;
        let t = self
            .t
            .tenant_in_scope(&mut conn, caller, tenant_slug)
            .await?;
        tessera_store::organizations::get(&mut conn, t.id, id)
            .await?
            .ok_or(CoreError::NotFound {
                what: "organization",
            })
    }

    /// All organizations of a tenant.
    pub async fn list(&self, caller: &Caller, tenant_slug: &str) -> Result<Vec<Organization>> {
        caller.require(Permission::OrganizationRead)?;
        let mut conn = self.t.db().conn().await?;
        let t = self
            .t
            .tenant_in_scope(&mut conn, caller, tenant_slug)
            .await?;
        Ok(tessera_store::organizations::list(&mut conn, t.id).await?)
    }

    /// Renames an organization or replaces its domains.
    pub async fn update(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        id: OrganizationId,
        patch: OrganizationPatch,
        if_match: Option<i64>,
    ) -> Result<Organization> {
        caller.require(Permission::OrganizationWrite)?;
        let mut tx = self.t.db().begin().await?;
        let t = self.t.tenant_in_scope(&mut tx, caller, tenant_slug).await?;
        let mut org = tessera_store::organizations::get(&mut tx, t.id, id)
            .await?
            .ok_or(CoreError::NotFound {
                what: "organization",
            })?;
        check_version(if_match, org.version)?;
        let name = patch.name.unwrap_or_else(|| org.name.clone());
        let domains =
            organization::check_fields(&name, patch.domains.as_deref().unwrap_or(&org.domains))
                .map_err(|e| org_field_error(field_of(&e), e))?;
        if name.trim() == org.name && domains == org.domains {
            return Ok(org);
        }
        let expected = org.version;
        org.name = name.trim().to_owned();
        org.domains = domains;
        org.version += 1;
        org.updated_at = self.t.now();
        if !tessera_store::organizations::update(&mut tx, &org, expected)
            .await
            .map_err(org_conflict)?
        {
            return Err(CoreError::VersionMismatch {
                expected,
                found: expected + 1,
            });
        }
        let ev = NewEvent::new(
            t.id,
            types::ORGANIZATION_UPDATED,
            format!("organization:{id}"),
            json!({"organization_id": id, "name": org.name, "domains": org.domains, "version": org.version}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        Ok(org)
    }

    /// Deletes an organization and its memberships; the member identities stay.
    pub async fn delete(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        id: OrganizationId,
    ) -> Result<()> {
        caller.require(Permission::OrganizationWrite)?;
        let mut tx = self.t.db().begin().await?;
        let t = self.t.tenant_in_scope(&mut tx, caller, tenant_slug).await?;
        if !tessera_store::organizations::delete(&mut tx, t.id, id).await? {
            return Err(CoreError::NotFound {
                what: "organization",
            });
        }
        let ev = NewEvent::new(
            t.id,
            types::ORGANIZATION_DELETED,
            format!("organization:{id}"),
            json!({"organization_id": id}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds an identity of the same tenant to an organization.
    pub async fn add_member(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        org: OrganizationId,
        req: MemberInput,
    ) -> Result<Member> {
        caller.require(Permission::OrganizationWrite)?;
        organization::check_roles(&req.roles).map_err(|e| org_field_error("roles", e))?;
        let mut tx = self.t.db().begin().await?;
        let t = self.t.tenant_in_scope(&mut tx, caller, tenant_slug).await?;
        tessera_store::organizations::get(&mut tx, t.id, org)
            .await?
            .ok_or(CoreError::NotFound {
                what: "organization",
            })?;
        let identity = tessera_store::identities::get(&mut tx, t.id, req.identity_id)
            .await?
            .ok_or(CoreError::NotFound { what: "identity" })?;
        if identity.state == IdentityState::Deleted {
            return Err(CoreError::NotFound { what: "identity" });
        }
        let m = Member {
            organization_id: org,
            identity_id: req.identity_id,
            roles: req.roles,
            created_at: self.t.now(),
        };
        tessera_store::organizations::add_member(&mut tx, t.id, &m)
            .await
            .map_err(|e| conflict_as(e, "already_member", "this identity is already a member"))?;
        let ev = NewEvent::new(
            t.id,
            types::ORGANIZATION_MEMBER_ADDED,
            format!("organization:{org}"),
            json!({"organization_id": org, "identity_id": m.identity_id, "roles": m.roles}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        Ok(m)
    }

    /// Replaces a member's roles.
    pub async fn set_member_roles(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        org: OrganizationId,
        identity: IdentityId,
        req: MemberRoles,
    ) -> Result<Member> {
        caller.require(Permission::OrganizationWrite)?;
        organization::check_roles(&req.roles).map_err(|e| org_field_error("roles", e))?;
        let mut tx = self.t.db().begin().await?;
        let t = self.t.tenant_in_scope(&mut tx, caller, tenant_slug).await?;
        tessera_store::organizations::get(&mut tx, t.id, org)
            .await?
            .ok_or(CoreError::NotFound {
                what: "organization",
            })?;
        if !tessera_store::organizations::set_member_roles(&mut tx, org, identity, &req.roles)
            .await?
        {
            return Err(CoreError::NotFound { what: "member" });
        }
        let m = tessera_store::organizations::member(&mut tx, org, identity)
            .await?
            .ok_or(CoreError::NotFound { what: "member" })?;
        let ev = NewEvent::new(
            t.id,
            types::ORGANIZATION_MEMBER_UPDATED,
            format!("organization:{org}"),
            json!({"organization_id": org, "identity_id": identity, "roles": m.roles}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        Ok(m)
    }

    /// Removes a member.
    pub async fn remove_member(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        org: OrganizationId,
        identity: IdentityId,
    ) -> Result<()> {
        caller.require(Permission::OrganizationWrite)?;
        let mut tx = self.t.db().begin().await?;
        let t = self.t.tenant_in_scope(&mut tx, caller, tenant_slug).await?;
        tessera_store::organizations::get(&mut tx, t.id, org)
            .await?
            .ok_or(CoreError::NotFound {
                what: "organization",
            })?;
        if !tessera_store::organizations::remove_member(&mut tx, org, identity).await? {
            return Err(CoreError::NotFound { what: "member" });
        }
        let ev = NewEvent::new(
            t.id,
            types::ORGANIZATION_MEMBER_REMOVED,
            format!("organization:{org}"),
            json!({"organization_id": org, "identity_id": identity}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The members of an organization.
    pub async fn list_members(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        org: OrganizationId,
    ) -> Result<Vec<Member>> {
        caller.require(Permission::OrganizationRead)?;
        let mut conn = self.t.db().conn().await?;
        let t = self
            .t
            .tenant_in_scope(&mut conn, caller, tenant_slug)
            .await?;
        tessera_store::organizations::get(&mut conn, t.id, org)
            .await?
            .ok_or(CoreError::NotFound {
                what: "organization",
            })?;
        Ok(tessera_store::organizations::members(&mut conn, org).await?)
    }
}
