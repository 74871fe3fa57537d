//! Organizations, their domains and members.
use tessera_model::organization::{Member, Organization};
use tessera_model::{IdentityId, OrganizationId, TenantId};

use crate::{Cols, Exec, Result, Ts, on_engine};

macro_rules! columns {
    () => {
        "id, tenant_id, name, created_at, updated_at, version"
    };
}

fn from_row(r: &impl Cols) -> Result<Organization> {
    Ok(Organization {
        id: OrganizationId(r.uuid("id")?),
        tenant_id: TenantId(r.uuid("tenant_id")?),
        name: r.text("name")?,
        domains: Vec::new(),
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
        version: r.int("version")?,
    })
}

/// Inserts an organization and its domains; a taken name or domain is a `Conflict`.
pub async fn insert(x: &mut impl Exec, o: &Organization) -> Result<()> {
    let sql = "INSERT INTO organizations (id, tenant_id, name, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6)";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(o.id.0)
        .bind(o.tenant_id.0)
        .bind(&o.name)
        .bind(Ts(o.created_at))
        .bind(Ts(o.updated_at))
        .bind(o.version)
        .execute(&mut *c)
        .await
        .map(drop)?);
    set_domains(x, o).await
}

async fn set_domains(x: &mut impl Exec, o: &Organization) -> Result<()> {
    let del = "DELETE FROM organization_domains WHERE organization_id = $1";
    on_engine!(x, |c| sqlx::query(del)
        .bind(o.id.0)
        .execute(&mut *c)
        .await
        .map(drop)?);
    let ins =
        "INSERT INTO organization_domains (tenant_id, domain, organization_id) VALUES ($1, $2, $3)";
    for d in &o.domains {
        on_engine!(x, |c| sqlx::query(ins)
            .bind(o.tenant_id.0)
            .bind(d)
            .bind(o.id.0)
            .execute(&mut *c)
            .await
            .map(drop)?);
    }
    Ok(())
}

async fn domains_of(x: &mut impl Exec, id: OrganizationId) -> Result<Vec<String>> {
    let sql = "SELECT domain FROM organization_domains WHERE organization_id = $1 ORDER BY domain";
    Ok(on_engine!(x, |c| sqlx::query_scalar(sql)
        .bind(id.0)
        .fetch_all(&mut *c)
        .await?))
}

/// One organization of a tenant.
pub async fn get(
    x: &mut impl Exec,
    tenant: TenantId,
    id: OrganizationId,
) -> Result<Option<Organization>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM organizations WHERE tenant_id = $1 AND id = $2"
    );
    let found = on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())?;
    let Some(mut org) = found else {
        return Ok(None);
    };
    org.domains = domains_of(x, id).await?;
    Ok(Some(org))
}

/// One organization of a tenant, by its name.
pub async fn by_name(
    x: &mut impl Exec,
    tenant: TenantId,
    name: &str,
) -> Result<Option<Organization>> {
    let sql = "SELECT id FROM organizations WHERE tenant_id = $1 AND name = $2";
    let id: Option<uuid::Uuid> = on_engine!(x, |c| sqlx::query_scalar(sql)
        .bind(tenant.0)
        .bind(name)
        .fetch_optional(&mut *c)
        .await?);
    match id {
        Some(id) => get(x, tenant, OrganizationId(id)).await,
        None => Ok(None),
    }
}

/// A tenant's organizations by name.
pub async fn list(x: &mut impl Exec, tenant: TenantId) -> Result<Vec<Organization>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM organizations WHERE tenant_id = $1 ORDER BY name"
    );
    let mut orgs: Vec<Organization> = on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<_>>())?;
    for o in &mut orgs {
        o.domains = domains_of(x, o.id).await?;
    }
    // Sorted here, by byte order, so the order does not depend on the PostgreSQL database's collation.
    orgs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(orgs)
}

/// Writes name and domains if the version still matches; false otherwise.
pub async fn update(x: &mut impl Exec, o: &Organization, expected_version: i64) -> Result<bool> {
    let sql = "UPDATE organizations SET name = $1, updated_at = $2, version = $3 WHERE tenant_id = $4 AND id = $5 AND version = $6";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(&o.name)
        .bind(Ts(o.updated_at))
        .bind(o.version)
        .bind(o.tenant_id.0)
        .bind(o.id.0)
        .bind(expected_version)
        .execute(&mut *c)
        .await?
        .rows_affected());
    if n != 1 {
        return Ok(false);
    }
    set_domains(x, o).await?;
    Ok(true)
}

/// Deletes an organization with its domains and memberships (the identities stay).
pub async fn delete(x: &mut impl Exec, tenant: TenantId, id: OrganizationId) -> Result<bool> {
    for sql in [
        "DELETE FROM organization_members WHERE tenant_id = $1 AND organization_id = $2",
        "DELETE FROM organization_domains WHERE tenant_id = $1 AND organization_id = $2",
    ] {
        on_engine!(x, |c| sqlx::query(sql)
            .bind(tenant.0)
            .bind(id.0)
            .execute(&mut *c)
            .await
            .map(drop)?);
    }
    let sql = "DELETE FROM organizations WHERE tenant_id = $1 AND id = $2";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

fn member_from_row(r: &impl Cols) -> Result<Member> {
    let roles_text = r.text("roles")?;
    Ok(Member {
        organization_id: OrganizationId(r.uuid("organization_id")?),
        identity_id: IdentityId(r.uuid("identity_id")?),
        roles: serde_json::from_str(&roles_text)
            .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?,
        created_at: r.ts("created_at")?,
    })
}

/// Adds a member; an existing membership is a `Conflict`.
pub async fn add_member(x: &mut impl Exec, tenant: TenantId, m: &Member) -> Result<()> {
    let sql = "INSERT INTO organization_members (organization_id, identity_id, tenant_id, roles, created_at) VALUES ($1, $2, $3, $4, $5)";
    let roles =
        serde_json::to_string(&m.roles).map_err(|e| crate::StoreError::Other(e.to_string()))?;
    on_engine!(x, |c| sqlx::query(sql)
        .bind(m.organization_id.0)
        .bind(m.identity_id.0)
        .bind(tenant.0)
        .bind(&roles)
        .bind(Ts(m.created_at))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Replaces a member's roles; false when not a member.
pub async fn set_member_roles(
    x: &mut impl Exec,
    org: OrganizationId,
    identity: IdentityId,
    roles: &[String],
) -> Result<bool> {
    let sql = "UPDATE organization_members SET roles = $1 WHERE organization_id = $2 AND identity_id = $3";
    let roles =
        serde_json::to_string(roles).map_err(|e| crate::StoreError::Other(e.to_string()))?;
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(&roles)
        .bind(org.0)
        .bind(identity.0)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Removes a member; false when not a member.
pub async fn remove_member(
    x: &mut impl Exec,
    org: OrganizationId,
    identity: IdentityId,
) -> Result<bool> {
    let sql = "DELETE FROM organization_members WHERE organization_id = $1 AND identity_id = $2";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(org.0)
        .bind(identity.0)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Removes an identity from every organization (on erasure).
pub async fn remove_identity_everywhere(x: &mut impl Exec, identity: IdentityId) -> Result<()> {
    let sql = "DELETE FROM organization_members WHERE identity_id = $1";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(identity.0)
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// One membership.
pub async fn member(
    x: &mut impl Exec,
    org: OrganizationId,
    identity: IdentityId,
) -> Result<Option<Member>> {
    let sql = "SELECT organization_id, identity_id, roles, created_at FROM organization_members WHERE organization_id = $1 AND identity_id = $2";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(org.0)
        .bind(identity.0)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| member_from_row(&r))
        .transpose())
}

/// The members of an organization, oldest first.
pub async fn members(x: &mut impl Exec, org: OrganizationId) -> Result<Vec<Member>> {
    let sql = "SELECT organization_id, identity_id, roles, created_at FROM organization_members WHERE organization_id = $1 ORDER BY created_at, identity_id";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(org.0)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(member_from_row)
        .collect())
}
