//! Tenants.
use tessera_model::TenantId;
use tessera_model::tenant::Tenant;

use crate::{Cols, Exec, Result, Ts, on_engine};

macro_rules! columns {
    () => {
        "id, slug, name, created_at, updated_at, version"
    };
}

fn from_row(r: &impl Cols) -> Result<Tenant> {
    Ok(Tenant {
        id: TenantId(r.uuid("id")?),
        slug: r.text("slug")?,
        name: r.text("name")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
        version: r.int("version")?,
    })
}

/// Inserts a new tenant; a taken slug is a `Conflict`.
pub async fn insert(x: &mut impl Exec, t: &Tenant) -> Result<()> {
    let sql = "INSERT INTO tenants (id, slug, name, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6)";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(t.id.0)
        .bind(&t.slug)
        .bind(&t.name)
        .bind(Ts(t.created_at))
        .bind(Ts(t.updated_at))
        .bind(t.version)
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Looks a tenant up by its slug.
pub async fn by_slug(x: &mut impl Exec, slug: &str) -> Result<Option<Tenant>> {
    let sql = concat!("SELECT ", columns!(), " FROM tenants WHERE slug = $1");
    on_engine!(x, |c| sqlx::query(sql)
        .bind(slug)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// Looks a tenant up by id.
pub async fn by_id(x: &mut impl Exec, id: TenantId) -> Result<Option<Tenant>> {
    let sql = concat!("SELECT ", columns!(), " FROM tenants WHERE id = $1");
    on_engine!(x, |c| sqlx::query(sql)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// Every tenant, by slug. Deployments have few tenants, so this is not paginated.
pub async fn list(x: &mut impl Exec) -> Result<Vec<Tenant>> {
    let sql = concat!("SELECT ", columns!(), " FROM tenants ORDER BY slug");
    on_engine!(x, |c| sqlx::query(sql)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect())
}

/// Writes a changed name if the stored version is still `expected_version`; returns false otherwise.
pub async fn update(x: &mut impl Exec, t: &Tenant, expected_version: i64) -> Result<bool> {
    let sql = "UPDATE tenants SET name = $1, updated_at = $2, version = $3 WHERE id = $4 AND version = $5";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(&t.name)
        .bind(Ts(t.updated_at))
        .bind(t.version)
        .bind(t.id.0)
        .bind(expected_version)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}
