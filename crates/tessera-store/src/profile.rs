//! What a customer accepted (terms, privacy notice versions) and when and why attributes were collected.
use tessera_model::{IdentityId, TenantId};
use time::OffsetDateTime;

use crate::{Cols, Exec, Result, Ts, on_engine};

/// Records that an identity accepted a document version; accepting again is a no-op.
pub async fn accept(
    x: &mut impl Exec,
    tenant: TenantId,
    identity: IdentityId,
    document: &str,
    version: &str,
    now: OffsetDateTime,
) -> Result<()> {
    let sql = "INSERT INTO acceptances (identity_id, tenant_id, document, version, accepted_at) VALUES ($1, $2, $3, $4, $5) \
               ON CONFLICT (identity_id, document, version) DO NOTHING";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(identity.0)
        .bind(tenant.0)
        .bind(document)
        .bind(version)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// The versions of a document an identity accepted, with when.
pub async fn acceptances(
    x: &mut impl Exec,
    identity: IdentityId,
    document: &str,
) -> Result<Vec<(String, OffsetDateTime)>> {
    let sql = "SELECT version, accepted_at FROM acceptances WHERE identity_id = $1 AND document = $2 ORDER BY accepted_at";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(identity.0)
        .bind(document)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| Ok((r.text("version")?, r.ts("accepted_at")?)))
        .collect())
}

/// Records when, for which client and why an attribute was collected.
pub async fn record_collection(
    x: &mut impl Exec,
    tenant: TenantId,
    identity: IdentityId,
    attribute: &str,
    client_id: &str,
    purpose: &str,
    now: OffsetDateTime,
) -> Result<()> {
    let sql = "INSERT INTO attribute_collections (identity_id, tenant_id, attribute, client_id, purpose, collected_at) VALUES ($1, $2, $3, $4, $5, $6) \
               ON CONFLICT (identity_id, attribute) DO UPDATE SET client_id = excluded.client_id, purpose = excluded.purpose, collected_at = excluded.collected_at";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(identity.0)
        .bind(tenant.0)
        .bind(attribute)
        .bind(client_id)
        .bind(purpose)
        .bind(Ts(now))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// Collection records of an identity: `(attribute, client_id, purpose, collected_at)`.
pub async fn collections(
    x: &mut impl Exec,
    identity: IdentityId,
) -> Result<Vec<(String, String, String, OffsetDateTime)>> {
    let sql = "SELECT attribute, client_id, purpose, collected_at FROM attribute_collections WHERE identity_id = $1 ORDER BY attribute";
    on_engine!(x, |c| sqlx::query(sql)
        .bind(identity.0)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| Ok((
            r.text("attribute")?,
            r.text("client_id")?,
            r.text("purpose")?,
            r.ts("collected_at")?
        )))
        .collect())
}
