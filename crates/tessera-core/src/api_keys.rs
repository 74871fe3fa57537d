//! Admin API keys: minting, authentication, listing, revocation.
//!
//! A key is shown once when minted; only its keyed hash is stored. Every request looks the key up
//! again, so a revocation or role change takes effect on the very next request (ADM-02).
use serde::Deserialize;
use serde_json::json;
use tessera_crypto::BearerSecret;
use tessera_model::api_key::{self, ApiKey, Permission, Role};
use tessera_model::event::{Actor, NewEvent, types};
use tessera_model::{ApiKeyId, TenantId};
use time::OffsetDateTime;

use crate::{Caller, CoreError, FieldProblem, Result, Tessera, conflict_as};

/// The prefix of every admin key, so secret scanners can recognise leaked ones.
pub const KEY_PREFIX: &str = "tsk_";

/// A request to mint a key.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    pub name: String,
    pub role: Role,
    /// Restrict the key to one tenant (by slug). Tenant-scoped callers can only mint keys for their tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

/// A freshly minted key with its secret, which is never retrievable again.
#[derive(Debug)]
pub struct MintedKey {
    pub key: ApiKey,
    pub secret: BearerSecret,
}

/// Admin API keys, borrowed from the facade: `t.api_keys().authenticate(..)`.
#[derive(Clone, Copy, Debug)]
pub struct ApiKeys<'a> {
    t: &'a Tessera,
}

impl Tessera {
    /// Admin API key minting, authentication and revocation.
    pub fn api_keys(&self) -> ApiKeys<'_> {
        ApiKeys { t: self }
    }
}

impl ApiKeys<'_> {
    /// Resolves a bearer secret to a caller. Unknown, expired and revoked keys all answer the same.
    pub async fn authenticate(&self, secret: &str, request_id: Option<String>) -> Result<Caller> {
        if !secret.starts_with(KEY_PREFIX) || secret.len() > 200 {
            return Err(CoreError::Unauthenticated);
        }
        let hash = self.t.keys().secret_hasher.hash(secret);
        let mut conn = self.t.db().conn().await?;
        let key = tessera_store::api_keys::by_secret_hash(&mut conn, &hash)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        if !key.is_usable(self.t.now()) {
            return Err(CoreError::Unauthenticated);
        }
        Ok(Caller {
            actor: Actor::api_key(key.id),
            role: key.role,
            tenant_scope: key.tenant_id,
            request_id,
        })
    }

    /// Mints a key. A caller can never mint a key with rights it lacks, nor one wider than its tenant.
    pub async fn create(&self, caller: &Caller, req: NewApiKey) -> Result<MintedKey> {
        caller.require(Permission::ApiKeyWrite)?;
        if !api_key::check_key_name(&req.name) {
            return Err(CoreError::invalid(
                "invalid_field",
                "a key name is 1 to 64 characters of letters, digits, '-', '_' and '.'",
                vec![FieldProblem {
                    field: "name".into(),
                    code: "invalid".into(),
                    message: "invalid key name".into(),
                }],
            ));
        }
        if !caller.role.can_grant(req.role) {
            return Err(CoreError::Forbidden {
                permission: "api_key:write (cannot grant a role with more rights than your own)",
            });
        }
        let now = self.t.now();
        if req.expires_at.is_some_and(|e| e <= now) {
            return Err(CoreError::invalid(
                "invalid_field",
                "expires_at must be in the future",
                vec![FieldProblem {
                    field: "expires_at".into(),
                    code: "in_the_past".into(),
                    message: "must be in the future".into(),
                }],
            ));
        }
        let mut tx = self.t.db().begin().await?;
        let tenant: Option<TenantId> = match (&req.tenant, caller.tenant_scope) {
            (Some(slug), _) => Some(self.t.tenant_in_scope(&mut tx, caller, slug).await?.id),
            (None, Some(scope)) => Some(scope),
            (None, None) => None,
        };
        let secret = BearerSecret::generate(KEY_PREFIX)?;
        let key = ApiKey {
            id: ApiKeyId::new(),
            tenant_id: tenant,
            name: req.name,
            role: req.role,
            prefix: secret.display_prefix(),
            created_at: now,
            created_by: caller.actor.0.clone(),
            expires_at: req.expires_at,
            revoked_at: None,
        };
        self.insert(&mut tx, caller, &key, &secret).await?;
        tx.commit().await?;
        Ok(MintedKey { key, secret })
    }

    pub(crate) async fn insert(
        &self,
        tx: &mut tessera_store::Tx,
        caller: &Caller,
        key: &ApiKey,
        secret: &BearerSecret,
    ) -> Result<()> {
        let hash = self.t.keys().secret_hasher.hash(secret.expose());
        tessera_store::api_keys::insert(tx, key, &hash)
            .await
            .map_err(|e| {
                conflict_as(
                    e,
                    "name_taken",
                    format!("a live key named {:?} already exists", key.name),
                )
            })?;
        // A deployment-wide key belongs to no tenant; its events go to the default tenant's log, which is
        // the deployment's own.
        let log_tenant = match key.tenant_id {
            Some(t) => t,
            None => self.t.default_tenant_id(tx).await?,
        };
        let ev = NewEvent::new(
            log_tenant,
            types::API_KEY_CREATED,
            format!("api_key:{}", key.id),
            json!({"api_key_id": key.id, "name": key.name, "role": key.role, "tenant_id": key.tenant_id, "expires_at": key.expires_at.map(|e| e.unix_timestamp())}),
        );
        self.t.record(tx, caller, ev, None).await
    }

    /// Keys the caller may see: all of them for deployment-wide callers, else those of its tenant.
    pub async fn list(&self, caller: &Caller) -> Result<Vec<ApiKey>> {
        caller.require(Permission::ApiKeyRead)?;
        let mut conn = self.t.db().conn().await?;
        Ok(tessera_store::api_keys::list(&mut conn, caller.tenant_scope).await?)
    }

    /// Revokes a key; it stops working on the next request.
    pub async fn revoke(&self, caller: &Caller, id: ApiKeyId) -> Result<ApiKey> {
        caller.require(Permission::ApiKeyWrite)?;
        let mut tx = self.t.db().begin().await?;
        let key = tessera_store::api_keys::by_id(&mut tx, id)
            .await?
            .ok_or(CoreError::NotFound { what: "api key" })?;
        if caller.tenant_scope.is_some() && key.tenant_id != caller.tenant_scope {
            return Err(CoreError::NotFound { what: "api key" });
        }
        if !caller.role.can_grant(key.role) {
            return Err(CoreError::Forbidden {
                permission: "api_key:write (cannot revoke a key with more rights than your own)",
            });
        }
        let now = self.t.now();
        if !tessera_store::api_keys::revoke(&mut tx, id, now).await? {
            return Ok(key);
        }
        let log_tenant = match key.tenant_id {
            Some(t) => t,
            None => self.t.default_tenant_id(&mut tx).await?,
        };
        let ev = NewEvent::new(
            log_tenant,
            types::API_KEY_REVOKED,
            format!("api_key:{id}"),
            json!({"api_key_id": id, "name": key.name}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        Ok(ApiKey {
            revoked_at: Some(now),
            ..key
        })
    }
}
