//! Versioned policy documents, per tenant and per organization.
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_model::OrganizationId;
use tessera_model::api_key::Permission;
use tessera_model::event::{NewEvent, types};
use tessera_model::policy::{PolicyDocument, merge_override};
use tessera_store::Exec;
use tessera_store::policies::PolicyVersion;
use time::OffsetDateTime;

use crate::{Caller, CoreError, FieldProblem, Result, Tessera};

/// Whose policy: the tenant's, or one organization's override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyScope {
    Tenant,
    Organization(OrganizationId),
}

impl PolicyScope {
    fn key(&self) -> String {
        match self {
            PolicyScope::Tenant => "tenant".into(),
            PolicyScope::Organization(o) => format!("organization:{o}"),
        }
    }
}

/// A request to change a policy: the whole new document and why.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyChange {
    /// For a tenant: the full document. For an organization: only what it overrides.
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
    /// Why the change is made; kept with the version forever.
    pub reason: String,
}

/// One stored version of a policy.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicyVersionView {
    pub scope: String,
    /// 0 means "never set": the built-in defaults apply.
    pub version: i64,
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
    pub author: Option<String>,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
}

impl From<PolicyVersion> for PolicyVersionView {
    fn from(p: PolicyVersion) -> Self {
        Self {
            scope: p.scope,
            version: p.version,
            document: p.document,
            author: Some(p.author),
            reason: Some(p.reason),
            created_at: Some(p.created_at),
        }
    }
}

/// The policy that applies, after merging an organization's override into its tenant's document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EffectivePolicy {
    pub tenant_version: i64,
    pub organization_version: Option<i64>,
    pub policy: PolicyDocument,
}

fn policy_problems(problems: Vec<tessera_model::policy::PolicyProblem>) -> CoreError {
    let detail = problems
        .iter()
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect::<Vec<_>>()
        .join("; ");
    let problems = problems
        .into_iter()
        .map(|p| FieldProblem {
            field: p.path,
            code: "invalid".into(),
            message: p.message,
        })
        .collect();
    CoreError::invalid("invalid_policy", detail, problems)
}

/// Policies as the admin API manages them, borrowed from the facade: `t.policies().put(..)`.
#[derive(Clone, Copy, Debug)]
pub struct Policies<'a> {
    t: &'a Tessera,
}

impl Tessera {
    /// Policy administration.
    pub fn policies(&self) -> Policies<'_> {
        Policies { t: self }
    }
}

impl Policies<'_> {
    async fn check_scope(
        &self,
        x: &mut impl Exec,
        tenant: tessera_model::TenantId,
        scope: PolicyScope,
    ) -> Result<()> {
        if let PolicyScope::Organization(o) = scope {
            tessera_store::organizations::get(x, tenant, o)
                .await?
                .ok_or(CoreError::NotFound {
                    what: "organization",
                })?;
        }
        Ok(())
    }

    /// The current version of a policy (version 0 with `{}` when never set).
    pub async fn get(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        scope: PolicyScope,
    ) -> Result<PolicyVersionView> {
        caller.require(Permission::PolicyRead)?;
        let mut conn = self.t.db().conn().await?;
        let t = self
            .t
            .tenant_in_scope(&mut conn, caller, tenant_slug)
            .await?;
        self.check_scope(&mut conn, t.id, scope).await?;
        Ok(
            match tessera_store::policies::latest(&mut conn, t.id, &scope.key()).await? {
                Some(p) => p.into(),
                None => PolicyVersionView {
                    scope: scope.key(),
                    version: 0,
                    document: json!({}),
                    author: None,
                    reason: None,
                    created_at: None,
                },
            },
        )
    }

    /// Every version of a policy, newest first.
    pub async fn history(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        scope: PolicyScope,
    ) -> Result<Vec<PolicyVersionView>> {
        caller.require(Permission::PolicyRead)?;
        let mut conn = self.t.db().conn().await?;
        let t = self
            .t
            .tenant_in_scope(&mut conn, caller, tenant_slug)
            .await?;
        self.check_scope(&mut conn, t.id, scope).await?;
        Ok(
            tessera_store::policies::history(&mut conn, t.id, &scope.key())
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        )
    }

    /// One old version of a policy.
    pub async fn version(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        scope: PolicyScope,
        version: i64,
    ) -> Result<PolicyVersionView> {
        caller.require(Permission::PolicyRead)?;
        let mut conn = self.t.db().conn().await?;
        let t = self
            .t
            .tenant_in_scope(&mut conn, caller, tenant_slug)
            .await?;
        tessera_store::policies::version(&mut conn, t.id, &scope.key(), version)
            .await?
            .map(Into::into)
            .ok_or(CoreError::NotFound {
                what: "policy version",
            })
    }

    /// Validates and stores a new version. An organization's override is validated merged into the tenant
    /// policy, so it can never produce an invalid effective policy. `if_match` is the version the change
    /// was based on.
    pub async fn put(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        scope: PolicyScope,
        change: PolicyChange,
        if_match: Option<i64>,
    ) -> Result<PolicyVersionView> {
        caller.require(Permission::PolicyWrite)?;
        let reason = change.reason.trim().to_owned();
        if reason.is_empty() || reason.chars().count() > 1000 {
            return Err(CoreError::invalid(
                "invalid_policy",
                "say why the policy changes (1 to 1000 characters)",
                vec![FieldProblem {
                    field: "reason".into(),
                    code: "required".into(),
                    message: "give a reason".into(),
                }],
            ));
        }
        if !change.document.is_object() {
            return Err(CoreError::invalid(
                "invalid_policy",
                "the policy document is a JSON object",
                vec![FieldProblem {
                    field: "document".into(),
                    code: "wrong_type".into(),
                    message: "expected an object".into(),
                }],
            ));
        }
        let mut tx = self.t.db().begin().await?;
        let t = self.t.tenant_in_scope(&mut tx, caller, tenant_slug).await?;
        self.check_scope(&mut tx, t.id, scope).await?;
        let schema = self.t.schema_of(&mut tx, t.id).await?;
        let known: Vec<&str> = schema.schema.names().collect();
        let effective = match scope {
            PolicyScope::Tenant => change.document.clone(),
            PolicyScope::Organization(_) => {
                let tenant_doc = tessera_store::policies::latest(&mut tx, t.id, "tenant")
                    .await?
                    .map(|p| p.document)
                    .unwrap_or(json!({}));
                merge_override(&tenant_doc, &change.document)
            }
        };
        let parsed = PolicyDocument::parse(&effective, &known).map_err(policy_problems)?;
        let unknown = self.t.methods().check(&parsed.authentication);
        if !unknown.is_empty() {
            return Err(policy_problems(unknown));
        }
        let current = tessera_store::policies::latest(&mut tx, t.id, &scope.key()).await?;
        let current_version = current.as_ref().map(|p| p.version).unwrap_or(0);
        crate::check_version(if_match, current_version)?;
        if current
            .as_ref()
            .is_some_and(|p| p.document == change.document)
        {
            return current
                .map(Into::into)
                .ok_or(CoreError::Internal("unreachable".into()));
        }
        let version = PolicyVersion {
            tenant_id: t.id,
            scope: scope.key(),
            version: current_version + 1,
            document: change.document,
            author: caller.actor.0.clone(),
            reason,
            created_at: self.t.now(),
        };
        tessera_store::policies::insert(&mut tx, &version)
            .await
            .map_err(|e| match e {
                tessera_store::StoreError::Conflict { .. } => CoreError::VersionMismatch {
                    expected: current_version,
                    found: current_version + 1,
                },
                other => other.into(),
            })?;
        let ev = NewEvent::new(
            t.id,
            types::POLICY_UPDATED,
            format!("policy:{}", scope.key()),
            json!({"scope": scope.key(), "version": version.version, "reason": version.reason}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        self.t.tenant_cache().forget_policy(t.id);
        Ok(version.into())
    }

    /// The policy in force for a tenant, or for an organization within it.
    pub async fn effective(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        org: Option<OrganizationId>,
    ) -> Result<EffectivePolicy> {
        caller.require(Permission::PolicyRead)?;
        let mut conn = self.t.db().conn().await?;
        let t = self
            .t
            .tenant_in_scope(&mut conn, caller, tenant_slug)
            .await?;
        let tenant_p = tessera_store::policies::latest(&mut conn, t.id, "tenant").await?;
        let tenant_version = tenant_p.as_ref().map(|p| p.version).unwrap_or(0);
        let mut doc = tenant_p.map(|p| p.document).unwrap_or(json!({}));
        let mut organization_version = None;
        if let Some(o) = org {
            self.check_scope(&mut conn, t.id, PolicyScope::Organization(o))
                .await?;
            if let Some(p) = tessera_store::policies::latest(
                &mut conn,
                t.id,
                &PolicyScope::Organization(o).key(),
            )
            .await?
            {
                doc = merge_override(&doc, &p.document);
                organization_version = Some(p.version);
            }
        }
        // Stored documents were validated against the schema of their day; read them leniently.
        let policy: PolicyDocument = serde_json::from_value(doc)
            .map_err(|e| CoreError::Internal(format!("stored policy: {e}")))?;
        Ok(EffectivePolicy {
            tenant_version,
            organization_version,
            policy,
        })
    }
}
