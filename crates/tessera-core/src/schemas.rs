//! Attribute schemas.
use serde_json::json;
use tessera_model::api_key::Permission;
use tessera_model::attributes::AttributeSchema;
use tessera_model::event::{NewEvent, types};
use tessera_store::Exec;

use crate::{Caller, CoreError, FieldProblem, Result, Tessera, check_version};

/// A tenant's schema with its version (the ETag).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct VersionedSchema {
    #[serde(flatten)]
    pub schema: AttributeSchema,
    pub version: i64,
}

impl Tessera {
    /// The tenant's current schema; an empty one (version 0) if none was ever set.
    pub(crate) async fn schema_of(
        &self,
        x: &mut impl Exec,
        tenant: tessera_model::TenantId,
    ) -> Result<VersionedSchema> {
        match tessera_store::schemas::get(x, tenant).await? {
            None => Ok(VersionedSchema {
                schema: AttributeSchema::default(),
                version: 0,
            }),
            Some(s) => {
                let schema = serde_json::from_value(s.document)
                    .map_err(|e| CoreError::Internal(format!("stored schema: {e}")))?;
                Ok(VersionedSchema {
                    schema,
                    version: s.version,
                })
            }
        }
    }
}

/// Attribute schemas as the admin API manages them, borrowed from the facade: `t.schemas().put(..)`.
#[derive(Clone, Copy, Debug)]
pub struct Schemas<'a> {
    t: &'a Tessera,
}

impl Tessera {
    /// Attribute schema administration.
    pub fn schemas(&self) -> Schemas<'_> {
        Schemas { t: self }
    }
}

impl Schemas<'_> {
    /// Reads a tenant's attribute schema.
    pub async fn get(&self, caller: &Caller, tenant_slug: &str) -> Result<VersionedSchema> {
        caller.require(Permission::SchemaRead)?;
        let mut conn = self.t.db().conn().await?;
        let t = self
            .t
            .tenant_in_scope(&mut conn, caller, tenant_slug)
            .await?;
        self.t.schema_of(&mut conn, t.id).await
    }

    /// Replaces a tenant's attribute schema. Existing identities are not rewritten: their values are
    /// checked against the new schema on their next write.
    pub async fn put(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        schema: AttributeSchema,
        if_match: Option<i64>,
    ) -> Result<VersionedSchema> {
        caller.require(Permission::SchemaWrite)?;
        if let Err(problems) = schema.check() {
            let problems = problems
                .into_iter()
                .map(|p| FieldProblem {
                    field: p.path,
                    code: p.code.into(),
                    message: p.message,
                })
                .collect();
            return Err(CoreError::invalid(
                "invalid_schema",
                "the attribute schema is not valid",
                problems,
            ));
        }
        let mut tx = self.t.db().begin().await?;
        let t = self.t.tenant_in_scope(&mut tx, caller, tenant_slug).await?;
        let current = self.t.schema_of(&mut tx, t.id).await?;
        check_version(if_match, current.version)?;
        if current.schema == schema {
            return Ok(current);
        }
        let doc = serde_json::to_value(&schema).map_err(|e| CoreError::Internal(e.to_string()))?;
        if !tessera_store::schemas::put(&mut tx, t.id, &doc, current.version, self.t.now()).await? {
            return Err(CoreError::VersionMismatch {
                expected: current.version,
                found: current.version + 1,
            });
        }
        let names: Vec<&str> = schema.attributes.iter().map(|a| a.name.as_str()).collect();
        let ev = NewEvent::new(
            t.id,
            types::ATTRIBUTE_SCHEMA_UPDATED,
            "attribute_schema",
            json!({"version": current.version + 1, "attributes": names}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        // The discovery document lists the schema's scopes: this node serves the new ones at once.
        self.t.oauth_cache().discovery.forget(t.slug.as_str());
        Ok(VersionedSchema {
            schema,
            version: current.version + 1,
        })
    }
}
