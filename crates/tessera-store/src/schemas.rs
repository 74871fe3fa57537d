//! Attribute schemas, one current document per tenant.
use tessera_model::TenantId;
use time::OffsetDateTime;

use crate::{Cols, Exec, Result, Ts, on_engine};

/// A tenant's schema document as stored, with its version (the ETag).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSchema {
    pub document: serde_json::Value,
    pub version: i64,
    pub updated_at: OffsetDateTime,
}

/// The current schema of a tenant, if one was ever set.
pub async fn get(x: &mut impl Exec, tenant: TenantId) -> Result<Option<StoredSchema>> {
    let sql = "SELECT document, version, updated_at FROM attribute_schemas WHERE tenant_id = $1";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| -> Result<StoredSchema> {
            let text = r.text("document")?;
            let document = serde_json::from_str(&text)
                .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
            Ok(StoredSchema {
                document,
                version: r.int("version")?,
                updated_at: r.ts("updated_at")?,
            })
        })
        .transpose())
}

/// Writes a new schema version. `expected_version` 0 means "no schema yet". Returns false when another
/// writer got there first.
pub async fn put(
    x: &mut impl Exec,
    tenant: TenantId,
    document: &serde_json::Value,
    expected_version: i64,
    now: OffsetDateTime,
) -> Result<bool> {
    let text = document.to_string();
    let n = if expected_version == 0 {
        let sql = "INSERT INTO attribute_schemas (tenant_id, document, version, updated_at) VALUES ($1, $2, 1, $3) \
                   ON CONFLICT (tenant_id) DO NOTHING";
        on_engine!(x, |c| sqlx::query(sql)
            .bind(tenant.0)
            .bind(&text)
            .bind(Ts(now))
            .execute(&mut *c)
            .await?
            .rows_affected())
    } else {
        let sql = "UPDATE attribute_schemas SET document = $1, version = version + 1, updated_at = $2 WHERE tenant_id = $3 AND version = $4";
        on_engine!(x, |c| sqlx::query(sql)
            .bind(&text)
            .bind(Ts(now))
            .bind(tenant.0)
            .bind(expected_version)
            .execute(&mut *c)
            .await?
            .rows_affected())
    };
    Ok(n == 1)
}
