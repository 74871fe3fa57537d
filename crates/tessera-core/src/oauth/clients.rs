//! Client registrations as the admin API and `tessera apply` manage them. A secret is 256 random bits
//! Tessera generates (or, for `apply`, one the operator generated and keeps in a file, at least as
//! long), shown once and stored only as a keyed hash: a token request costs a hash, never a password
//! hash (the argon2 rate would cap the token endpoint).
use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;
use tessera_crypto::BearerSecret;
use tessera_model::TenantId;
use tessera_model::api_key::Permission;
use tessera_model::event::{NewEvent, types};
use tessera_model::oauth_client::{
    AccessTokenFormat, ClientKind, GrantType, OAuthClient, TokenEndpointAuth,
};
use tessera_model::tenant::Tenant;
use tessera_store::oauth_clients::{self as store, StoredClient};
use time::{Duration, OffsetDateTime};

use super::OAuth;
use crate::{Caller, CoreError, FieldProblem, Result, conflict_as};

/// The prefix of every client secret Tessera generates, so secret scanners can recognise leaked ones.
pub const SECRET_PREFIX: &str = "tcs_";

/// The shortest secret an operator may supply from a file (Tessera's own are 47 characters).
pub const MIN_SUPPLIED_SECRET_CHARS: usize = 32;

/// The longest a rotated-out secret may stay valid beside the new one.
pub const MAX_ROTATION_GRACE: Duration = Duration::days(7);

fn default_true() -> bool {
    true
}

/// A registration as the admin API and `tessera apply` take it; every field but `name` has a default.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// Chosen by Tessera when absent.
    #[serde(default)]
    pub client_id: Option<String>,
    pub name: String,
    #[serde(default = "confidential")]
    pub kind: ClientKind,
    #[serde(default)]
    pub first_party: bool,
    /// Default: `client_secret_basic` for confidential clients, `none` for public ones.
    #[serde(default)]
    pub token_endpoint_auth: Option<TokenEndpointAuth>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default: `authorization_code` and `refresh_token`.
    #[serde(default)]
    pub grant_types: Option<Vec<GrantType>>,
    /// Default: `openid`, `profile`, `email`.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default = "default_true")]
    pub require_pkce: bool,
    #[serde(default)]
    pub require_par: bool,
    #[serde(default)]
    pub signing_alg: Option<String>,
    #[serde(default)]
    pub access_token_format: Option<AccessTokenFormat>,
    #[serde(default)]
    pub access_token_ttl_secs: Option<i64>,
    #[serde(default)]
    pub id_token_ttl_secs: Option<i64>,
    #[serde(default)]
    pub refresh_token_ttl_secs: Option<i64>,
    /// 0 to 5 seconds; 0 (the default) makes every reuse of a spent refresh token revoke the grant.
    #[serde(default)]
    pub refresh_reuse_grace_secs: Option<i64>,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// The client's public keys (a JWKS object) for `private_key_jwt`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Attributes of the tenant's attribute schema this app needs: its sign-in asks the customer for any
    /// missing before a code is issued (progressive profiling). Checked against the schema.
    #[serde(default)]
    pub required_attributes: Vec<String>,
}

fn confidential() -> ClientKind {
    ClientKind::Confidential
}

/// A client with the secret just generated for it: the only time the secret exists outside a hash.
#[derive(Debug)]
pub struct ClientWithSecret {
    pub client: OAuthClient,
    pub secret: Option<BearerSecret>,
}

impl NewClient {
    /// The registration this request makes, with every default filled in.
    fn into_client(self, tenant: &Tenant, client_id: String, now: OffsetDateTime) -> OAuthClient {
        let auth = self.token_endpoint_auth.unwrap_or(match self.kind {
            ClientKind::Confidential => TokenEndpointAuth::ClientSecretBasic,
            ClientKind::Public => TokenEndpointAuth::None,
        });
        OAuthClient {
            tenant_id: tenant.id,
            client_id,
            name: self.name,
            kind: self.kind,
            first_party: self.first_party,
            token_endpoint_auth: auth,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            grant_types: self
                .grant_types
                .unwrap_or_else(|| vec![GrantType::AuthorizationCode, GrantType::RefreshToken]),
            scopes: self
                .scopes
                .unwrap_or_else(|| ["openid", "profile", "email"].map(str::to_owned).to_vec()),
            require_pkce: self.require_pkce,
            require_par: self.require_par,
            signing_alg: self.signing_alg.unwrap_or_else(|| "ES256".into()),
            access_token_format: self.access_token_format.unwrap_or(AccessTokenFormat::Jwt),
            access_token_ttl_secs: self.access_token_ttl_secs.unwrap_or(600),
            id_token_ttl_secs: self.id_token_ttl_secs.unwrap_or(600),
            refresh_token_ttl_secs: self.refresh_token_ttl_secs.unwrap_or(30 * 24 * 3600),
            refresh_reuse_grace_secs: self.refresh_reuse_grace_secs.unwrap_or(0),
            allowed_origins: self.allowed_origins,
            backchannel_logout_uri: self.backchannel_logout_uri,
            jwks: self.jwks.map(|j| j.to_string()),
            required_attributes: self.required_attributes,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

/// The registration's problems as a 422, or nothing.
fn check(client: &OAuthClient) -> Result<()> {
    let mut problems: Vec<FieldProblem> = client
        .problems()
        .into_iter()
        .map(|p| FieldProblem {
            field: p.field,
            code: p.code.into(),
            message: p.message,
        })
        .collect();
    if let Some(jwks) = &client.jwks
        && super::client_auth::parse_client_jwks(jwks).is_err()
    {
        problems.push(FieldProblem {
            field: "jwks".into(),
            code: "invalid_jwks".into(),
            message: "a JWKS of EC P-256, RSA (2048 bits or more) or Ed25519 public keys".into(),
        });
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "invalid_client_registration",
            "the client registration is invalid",
            problems,
        ))
    }
}

/// The client's `required_attributes` against the tenant's attribute schema (the model cannot see it):
/// each must be an attribute the schema defines, named once, that customers may edit (the app asks the
/// customer for it; an attribute only admins may set is not the customer's to give).
async fn check_required_attributes(
    t: &crate::Tessera,
    x: &mut impl tessera_store::Exec,
    tenant: &Tenant,
    client: &OAuthClient,
) -> Result<()> {
    if client.required_attributes.is_empty() {
        return Ok(());
    }
    let schema = t.schema_of(x, tenant.id).await?.schema;
    let mut problems = Vec::new();
    for (i, name) in client.required_attributes.iter().enumerate() {
        let repeated = client.required_attributes.iter().take(i).any(|n| n == name);
        let code = match schema.get(name) {
            _ if repeated => Some("duplicate_attribute"),
            None => Some("unknown_attribute"),
            Some(def) if !def.customer_editable => Some("not_customer_editable"),
            Some(_) => None,
        };
        if let Some(code) = code {
            problems.push(FieldProblem {
                field: format!("required_attributes[{i}]"),
                code: code.into(),
                message:
                    "each a customer-editable attribute of the tenant's attribute schema, once"
                        .into(),
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "invalid_client_registration",
            "the client registration is invalid",
            problems,
        ))
    }
}

/// The stored document: the registration without what has columns of its own.
fn document(c: &OAuthClient) -> Result<serde_json::Value> {
    serde_json::to_value(c).map_err(|e| CoreError::Internal(format!("client document: {e}")))
}

/// Reads a stored client back; a document that no longer parses is corrupt data, not a client.
pub(crate) fn from_stored(s: &StoredClient) -> Result<OAuthClient> {
    let mut data = s.data.clone();
    if let Some(obj) = data.as_object_mut() {
        obj.insert("created_at".into(), json!(time_text(s.created_at)?));
        obj.insert("updated_at".into(), json!(time_text(s.updated_at)?));
        obj.insert("version".into(), json!(s.version));
        obj.insert("client_id".into(), json!(s.client_id));
    }
    let mut c: OAuthClient = serde_json::from_value(data)
        .map_err(|e| CoreError::Internal(format!("stored client {}: {e}", s.client_id)))?;
    c.tenant_id = s.tenant_id;
    Ok(c)
}

fn time_text(t: OffsetDateTime) -> Result<String> {
    t.format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| CoreError::Internal(e.to_string()))
}

impl OAuth<'_> {
    /// The client of the tenant with this slug, for the protocol endpoints (no caller: the client id is
    /// public). Unknown tenant or client: `NotFound`.
    pub async fn client(&self, slug: &str, client_id: &str) -> Result<(Tenant, OAuthClient)> {
        let tenant = self.t.tenant_by_slug(slug).await?;
        let client = self.client_of(&tenant, client_id).await?;
        Ok((tenant, client))
    }

    pub(crate) async fn client_of(&self, tenant: &Tenant, client_id: &str) -> Result<OAuthClient> {
        Ok(self.stored_client(tenant, client_id).await?.0)
    }

    /// The client and its row as the protocol endpoints see it: from this node's copy when it is
    /// fresh (at most [`super::cache::CLIENT_TTL`] behind another node's change), else from the store.
    pub(crate) async fn stored_client(
        &self,
        tenant: &Tenant,
        client_id: &str,
    ) -> Result<(OAuthClient, StoredClient)> {
        let found = self.cached_client(tenant.id, client_id).await?;
        Ok((found.0.clone(), found.1.clone()))
    }

    /// [`Self::stored_client`] without the copies.
    pub(crate) async fn cached_client(
        &self,
        tenant: TenantId,
        client_id: &str,
    ) -> Result<super::cache::CachedClient> {
        if client_id.is_empty() || client_id.len() > 200 {
            return Err(CoreError::NotFound { what: "client" });
        }
        let cache = &self.t.oauth_cache().clients;
        let key = (tenant, client_id.to_owned());
        let now = self.t.now();
        if let Some(c) = cache.get(&key, now) {
            return Ok(c);
        }
        let ticket = cache.ticket();
        let found = self.fresh_client(tenant, client_id).await?;
        cache.put(ticket, key, found.clone(), now);
        Ok(found)
    }

    /// The client and its row read from the store now (the admin API reads these: what it shows and
    /// the version it compares must be current).
    async fn fresh_client(
        &self,
        tenant: TenantId,
        client_id: &str,
    ) -> Result<super::cache::CachedClient> {
        if client_id.is_empty() || client_id.len() > 200 {
            return Err(CoreError::NotFound { what: "client" });
        }
        let mut conn = self.t.db().conn().await?;
        let stored = store::get(&mut conn, tenant, client_id)
            .await?
            .ok_or(CoreError::NotFound { what: "client" })?;
        Ok(Arc::new((from_stored(&stored)?, stored)))
    }

    /// Forgets this node's copy of a client, once a change to it committed.
    fn forget_client(&self, tenant: TenantId, client_id: &str) {
        self.t
            .oauth_cache()
            .clients
            .forget(&(tenant, client_id.to_owned()));
    }

    /// Registers a client and generates its secret when its authentication method uses one.
    pub async fn create(
        &self,
        caller: &Caller,
        slug: &str,
        req: NewClient,
    ) -> Result<ClientWithSecret> {
        self.create_with(caller, slug, req, None).await
    }

    /// Registers a client; `supplied` is an operator's secret (from a file, for `tessera apply`), else
    /// Tessera generates one when the method needs it.
    pub async fn create_with(
        &self,
        caller: &Caller,
        slug: &str,
        req: NewClient,
        supplied: Option<BearerSecret>,
    ) -> Result<ClientWithSecret> {
        caller.require(Permission::ClientWrite)?;
        let mut tx = self.t.db().begin().await?;
        let tenant = self.t.tenant_in_scope(&mut tx, caller, slug).await?;
        let now = self.t.now();
        let client_id = match &req.client_id {
            Some(id) => id.clone(),
            None => tessera_crypto::random_token()?.chars().take(22).collect(),
        };
        let client = req.into_client(&tenant, client_id, now);
        check(&client)?;
        check_required_attributes(self.t, &mut tx, &tenant, &client).await?;
        let secret = self.secret_for(&client, supplied)?;
        let stored = StoredClient {
            tenant_id: tenant.id,
            client_id: client.client_id.clone(),
            data: document(&client)?,
            secret_hash: secret
                .as_ref()
                .map(|s| self.t.keys().secret_hasher.hash(s.expose())),
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        store::insert(&mut tx, &stored).await.map_err(|e| {
            conflict_as(
                e,
                "client_id_taken",
                format!("the tenant already has a client {:?}", client.client_id),
            )
        })?;
        let ev = NewEvent::new(
            tenant.id,
            types::OAUTH_CLIENT_CREATED,
            format!("oauth_client:{}", client.client_id),
            json!({"client_id": client.client_id, "kind": client.kind, "first_party": client.first_party}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        self.forget_client(tenant.id, &client.client_id);
        self.ring_for(&client).await?;
        Ok(ClientWithSecret { client, secret })
    }

    /// Makes sure the tenant has keys of the client's algorithm now, at registration, so they are in the
    /// JWKS before the client's first token rather than appearing with it (OIDC-05).
    async fn ring_for(&self, client: &OAuthClient) -> Result<()> {
        let alg = super::access_tokens::client_alg(client)?;
        self.t
            .signing_keys()
            .ensure(&Caller::system(), client.tenant_id, alg)
            .await
    }

    /// The secret a new registration gets: the operator's (long enough) or a fresh one, and none for a
    /// method without secrets (a supplied one is then an error, not silently dropped).
    fn secret_for(
        &self,
        client: &OAuthClient,
        supplied: Option<BearerSecret>,
    ) -> Result<Option<BearerSecret>> {
        match (client.token_endpoint_auth.uses_secret(), supplied) {
            (false, None) => Ok(None),
            (false, Some(_)) => Err(CoreError::bad_request(
                "secret_not_used",
                format!(
                    "a client authenticating with {} has no secret",
                    client.token_endpoint_auth.as_str()
                ),
            )),
            (true, Some(s)) => {
                let chars = s.expose().chars().count();
                let printable = s.expose().bytes().all(|b| (0x21..=0x7e).contains(&b));
                if !(MIN_SUPPLIED_SECRET_CHARS..=200).contains(&chars) || !printable {
                    return Err(CoreError::bad_request(
                        "weak_client_secret",
                        format!(
                            "a client secret is {MIN_SUPPLIED_SECRET_CHARS} to 200 printable characters (generate one with `openssl rand -base64 32`)"
                        ),
                    ));
                }
                Ok(Some(s))
            }
            (true, None) => Ok(Some(BearerSecret::generate(SECRET_PREFIX)?)),
        }
    }

    /// One client, for the admin API.
    pub async fn get(&self, caller: &Caller, slug: &str, client_id: &str) -> Result<OAuthClient> {
        caller.require(Permission::ClientRead)?;
        let mut conn = self.t.db().conn().await?;
        let tenant = self.t.tenant_in_scope(&mut conn, caller, slug).await?;
        drop(conn);
        Ok(self.fresh_client(tenant.id, client_id).await?.0.clone())
    }

    /// The tenant's clients in client-id order, at most `limit` after `after`.
    pub async fn list(
        &self,
        caller: &Caller,
        slug: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OAuthClient>> {
        caller.require(Permission::ClientRead)?;
        let mut conn = self.t.db().conn().await?;
        let tenant = self.t.tenant_in_scope(&mut conn, caller, slug).await?;
        store::list(&mut conn, tenant.id, after, limit.clamp(1, 200))
            .await?
            .iter()
            .map(from_stored)
            .collect()
    }

    /// Replaces a registration (not its secret). `if_match`: the version the caller read. Changing the
    /// authentication method to one with a secret generates one, returned here once.
    pub async fn replace(
        &self,
        caller: &Caller,
        slug: &str,
        client_id: &str,
        req: NewClient,
        if_match: Option<i64>,
    ) -> Result<ClientWithSecret> {
        caller.require(Permission::ClientWrite)?;
        if req.client_id.as_deref().is_some_and(|id| id != client_id) {
            return Err(CoreError::invalid(
                "invalid_client_registration",
                "the body names another client than the path",
                vec![FieldProblem {
                    field: "client_id".into(),
                    code: "client_id_mismatch".into(),
                    message: "leave it out, or name the client of the path".into(),
                }],
            ));
        }
        let mut tx = self.t.db().begin().await?;
        let tenant = self.t.tenant_in_scope(&mut tx, caller, slug).await?;
        let stored = store::get(&mut tx, tenant.id, client_id)
            .await?
            .ok_or(CoreError::NotFound { what: "client" })?;
        if let Some(expected) = if_match
            && expected != stored.version
        {
            return Err(CoreError::VersionMismatch {
                expected,
                found: stored.version,
            });
        }
        let old = from_stored(&stored)?;
        let now = self.t.now();
        let mut client = req.into_client(&tenant, client_id.to_owned(), now);
        client.created_at = old.created_at;
        client.version = stored.version + 1;
        check(&client)?;
        check_required_attributes(self.t, &mut tx, &tenant, &client).await?;
        let mut next = StoredClient {
            data: document(&client)?,
            updated_at: now,
            version: client.version,
            ..stored.clone()
        };
        let mut secret = None;
        if !client.token_endpoint_auth.uses_secret() {
            next.secret_hash = None;
            next.previous_secret_hash = None;
            next.previous_secret_expires_at = None;
        } else if next.secret_hash.is_none() {
            let s = BearerSecret::generate(SECRET_PREFIX)?;
            next.secret_hash = Some(self.t.keys().secret_hasher.hash(s.expose()));
            secret = Some(s);
        }
        if !store::update(&mut tx, &next, stored.version).await? {
            return Err(CoreError::VersionMismatch {
                expected: stored.version,
                found: stored.version + 1,
            });
        }
        let ev = NewEvent::new(
            tenant.id,
            types::OAUTH_CLIENT_UPDATED,
            format!("oauth_client:{client_id}"),
            json!({"client_id": client_id, "version": client.version}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        self.forget_client(tenant.id, client_id);
        self.ring_for(&client).await?;
        Ok(ClientWithSecret { client, secret })
    }

    /// Gives the client a new secret. The old one keeps working for `grace` (at most seven days, zero to
    /// end it at once), so a deployment can roll the new one out first. `supplied`: an operator's secret.
    pub async fn rotate_secret(
        &self,
        caller: &Caller,
        slug: &str,
        client_id: &str,
        grace: Duration,
        supplied: Option<BearerSecret>,
    ) -> Result<ClientWithSecret> {
        caller.require(Permission::ClientWrite)?;
        if grace.is_negative() || grace > MAX_ROTATION_GRACE {
            return Err(CoreError::bad_request(
                "invalid_grace",
                "the grace period is 0 to 604800 seconds",
            ));
        }
        let mut tx = self.t.db().begin().await?;
        let tenant = self.t.tenant_in_scope(&mut tx, caller, slug).await?;
        let stored = store::get(&mut tx, tenant.id, client_id)
            .await?
            .ok_or(CoreError::NotFound { what: "client" })?;
        let client = from_stored(&stored)?;
        if !client.token_endpoint_auth.uses_secret() {
            return Err(CoreError::Conflict {
                code: "secret_not_used",
                detail: format!(
                    "a client authenticating with {} has no secret",
                    client.token_endpoint_auth.as_str()
                ),
            });
        }
        let secret = self.secret_for(&client, supplied)?;
        let now = self.t.now();
        let keep_old = grace.is_positive() && stored.secret_hash.is_some();
        let next = StoredClient {
            secret_hash: secret
                .as_ref()
                .map(|s| self.t.keys().secret_hasher.hash(s.expose())),
            previous_secret_hash: keep_old.then(|| stored.secret_hash.clone()).flatten(),
            previous_secret_expires_at: keep_old.then_some(now + grace),
            updated_at: now,
            version: stored.version + 1,
            ..stored.clone()
        };
        if !store::update(&mut tx, &next, stored.version).await? {
            return Err(CoreError::VersionMismatch {
                expected: stored.version,
                found: stored.version + 1,
            });
        }
        let ev = NewEvent::new(
            tenant.id,
            types::OAUTH_CLIENT_SECRET_ROTATED,
            format!("oauth_client:{client_id}"),
            json!({"client_id": client_id, "previous_valid_until": next.previous_secret_expires_at.map(|t| t.unix_timestamp())}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        self.forget_client(tenant.id, client_id);
        Ok(ClientWithSecret {
            client: from_stored(&next)?,
            secret,
        })
    }

    /// Whether `req` describes exactly `current` (apart from times and version), so `tessera apply`
    /// leaves an unchanged client alone.
    pub(crate) fn registers_as(&self, current: &OAuthClient, req: &NewClient) -> bool {
        let tenant = Tenant {
            id: current.tenant_id,
            slug: String::new(),
            name: String::new(),
            created_at: current.created_at,
            updated_at: current.updated_at,
            version: 0,
        };
        let mut wanted =
            req.clone()
                .into_client(&tenant, current.client_id.clone(), current.updated_at);
        wanted.created_at = current.created_at;
        wanted.version = current.version;
        wanted == *current
    }

    /// Whether `secret` is the client's current secret.
    pub(crate) async fn secret_is(
        &self,
        slug: &str,
        client_id: &str,
        secret: &BearerSecret,
    ) -> Result<bool> {
        let tenant = self.t.tenant_by_slug(slug).await?;
        let found = self.fresh_client(tenant.id, client_id).await?;
        let stored = &found.1;
        let presented = self.t.keys().secret_hasher.hash(secret.expose());
        Ok(stored
            .secret_hash
            .as_deref()
            .is_some_and(|h| tessera_crypto::constant_time_eq(h, &presented)))
    }

    /// Deletes a client: its secret stops working on the next request.
    pub async fn delete(&self, caller: &Caller, slug: &str, client_id: &str) -> Result<()> {
        caller.require(Permission::ClientWrite)?;
        let mut tx = self.t.db().begin().await?;
        let tenant = self.t.tenant_in_scope(&mut tx, caller, slug).await?;
        if !store::delete(&mut tx, tenant.id, client_id).await? {
            return Err(CoreError::NotFound { what: "client" });
        }
        // A client registered later under the same id is another app: it inherits no consent.
        tessera_store::oauth_consents::delete_for_client(&mut tx, tenant.id, client_id).await?;
        let ev = NewEvent::new(
            tenant.id,
            types::OAUTH_CLIENT_DELETED,
            format!("oauth_client:{client_id}"),
            json!({"client_id": client_id}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        self.forget_client(tenant.id, client_id);
        Ok(())
    }
}
