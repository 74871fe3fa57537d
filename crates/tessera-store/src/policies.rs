//! Policy documents: every change is a new version; old versions stay readable.
use tessera_model::TenantId;
use time::OffsetDateTime;

use crate::{Cols, Exec, Result, Ts, on_engine};

/// One version of a policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyVersion {
    pub tenant_id: TenantId,
    /// `tenant`, or `organization:<id>` for an organization's override.
    pub scope: String,
    pub version: i64,
    pub document: serde_json::Value,
    pub author: String,
    pub reason: String,
    pub created_at: OffsetDateTime,
}

fn from_row(r: &impl Cols) -> Result<PolicyVersion> {
    let text = r.text("document")?;
    Ok(PolicyVersion {
        tenant_id: TenantId(r.uuid("tenant_id")?),
        scope: r.text("scope")?,
        version: r.int("version")?,
        document: serde_json::from_str(&text)
            .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?,
        author: r.text("author")?,
        reason: r.text("reason")?,
        created_at: r.ts("created_at")?,
    })
}

macro_rules! columns {
    () => {
        "tenant_id, scope, version, document, author, reason, created_at"
    };
}

/// Appends a version. Two concurrent writers of the same next version collide on the primary key, and the
/// loser gets a `Conflict`, so no version is ever overwritten.
pub async fn insert(x: &mut impl Exec, p: &PolicyVersion) -> Result<()> {
    let sql = "INSERT INTO policies (tenant_id, scope, version, document, author, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let text = p.document.to_string();
    on_engine!(x, |c| sqlx::query(sql)
        .bind(p.tenant_id.0)
        .bind(&p.scope)
        .bind(p.version)
        .bind(&text)
        .bind(&p.author)
        .bind(&p.reason)
        .bind(Ts(p.created_at))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// The newest version in a scope.
pub async fn latest(
    x: &mut impl Exec,
    tenant: TenantId,
    scope: &str,
) -> Result<Option<PolicyVersion>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM policies WHERE tenant_id = $1 AND scope = $2 ORDER BY version DESC LIMIT 1"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(scope)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// One version.
pub async fn version(
    x: &mut impl Exec,
    tenant: TenantId,
    scope: &str,
    version: i64,
) -> Result<Option<PolicyVersion>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM policies WHERE tenant_id = $1 AND scope = $2 AND version = $3"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(scope)
        .bind(version)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// Every version in a scope, newest first.
pub async fn history(
    x: &mut impl Exec,
    tenant: TenantId,
    scope: &str,
) -> Result<Vec<PolicyVersion>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM policies WHERE tenant_id = $1 AND scope = $2 ORDER BY version DESC"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(scope)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect())
}
