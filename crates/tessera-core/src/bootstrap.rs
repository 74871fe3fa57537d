//! Opening a deployment: master key, database, migrations, the `default` tenant and the first admin key.
//!
//! Every step is idempotent and safe when several nodes start together: the default tenant and the
//! "bootstrap key issued" flag are claimed with unique constraints, so exactly one node prints a key.
use std::sync::Arc;

use serde_json::json;
use tessera_crypto::BearerSecret;
use tessera_model::api_key::{ApiKey, Role};
use tessera_model::event::{NewEvent, types};
use tessera_model::tenant::{DEFAULT_TENANT_SLUG, Tenant};
use tessera_model::{ApiKeyId, TenantId};
use tessera_store::{Db, Exec};

use crate::config::Config;
use crate::keys::{Keys, MasterKeyOrigin, load_or_create_master_key};
use crate::{Caller, Clock, CoreError, Result, Tessera};

const META_KEY_CHECK: &str = "master_key_check";
const META_BOOTSTRAP_ISSUED: &str = "bootstrap_key_issued";
/// Name of the key created at first start (or from `TESSERA_BOOTSTRAP_ADMIN_KEY`).
pub const BOOTSTRAP_KEY_NAME: &str = "bootstrap";

/// What opening the deployment did, for the start-up message.
#[derive(Debug)]
pub struct Opened {
    pub tessera: Tessera,
    /// The one-time key to print, on the very first start only.
    pub printed_key: Option<(BearerSecret, time::OffsetDateTime)>,
    /// True when `bootstrap_admin_key` is set but the deployment was bootstrapped with another key: the
    /// setting grants nothing (ADM-04), and the operator should be told.
    pub configured_key_ignored: bool,
    pub master_key: MasterKeyOrigin,
    pub default_tenant_created: bool,
}

/// What [`Tessera::ensure_bootstrap_key`] did.
struct BootstrapOutcome {
    printed: Option<(BearerSecret, time::OffsetDateTime)>,
    configured_key_ignored: bool,
}

/// The password service a configuration asks for; bad parameters or a malformed pepper stop the start.
pub fn password_service(config: &Config) -> Result<crate::passwords::PasswordService> {
    let params = tessera_crypto::password::PasswordParams {
        memory_kib: config.argon2_memory_kib,
        iterations: config.argon2_iterations,
        parallelism: config.argon2_parallelism,
    };
    params.validate().map_err(|_| {
        CoreError::bad_request(
            "bad_password_params",
            "argon2_memory_kib, argon2_iterations or argon2_parallelism is out of range",
        )
    })?;
    let pepper = match &config.password_pepper {
        Some(t) => Some(tessera_crypto::SecretKey::from_text(t).map_err(|_| {
            CoreError::bad_request(
                "bad_pepper",
                "password_pepper must be base64url of 32 bytes",
            )
        })?),
        None => None,
    };
    Ok(crate::passwords::PasswordService::new(
        params,
        pepper,
        crate::passwords::PasswordService::default_concurrency(),
    ))
}

/// Connects and checks the master key, without migrating or bootstrapping (for CLI commands that only read).
pub async fn connect(config: &Config, clock: Arc<dyn Clock>) -> Result<Tessera> {
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            CoreError::Internal(format!(
                "creating data directory {}: {e}",
                config.data_dir.display()
            ))
        })?;
    }
    let (master, _) =
        load_or_create_master_key(config.master_key.as_deref(), &config.master_key_file)?;
    let db = Db::connect(&config.db_options()).await?;
    Ok(Tessera::new(
        db,
        Keys::from_master(&master),
        clock,
        config.base_url.clone(),
    )
    .with_passwords(password_service(config)?)
    .with_quotas(config.quotas)
    .with_key_ring(crate::signing_keys::RingSettings {
        // At most ten years, so the date arithmetic stays in range.
        max_token_lifetime: time::Duration::seconds(
            i64::try_from(config.max_token_lifetime_secs.min(315_360_000)).unwrap_or(315_360_000),
        ),
    }))
}

/// Opens everything `serve` needs: migrations applied, default tenant present, first key issued.
pub async fn open(config: &Config, clock: Arc<dyn Clock>) -> Result<Opened> {
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            CoreError::Internal(format!(
                "creating data directory {}: {e}",
                config.data_dir.display()
            ))
        })?;
    }
    let (master, origin) =
        load_or_create_master_key(config.master_key.as_deref(), &config.master_key_file)?;
    let db = Db::connect(&config.db_options()).await?;
    db.migrate().await?;
    let tessera = Tessera::new(
        db,
        Keys::from_master(&master),
        clock,
        config.base_url.clone(),
    )
    .with_passwords(password_service(config)?)
    .with_quotas(config.quotas)
    .with_key_ring(crate::signing_keys::RingSettings {
        // At most ten years, so the date arithmetic stays in range.
        max_token_lifetime: time::Duration::seconds(
            i64::try_from(config.max_token_lifetime_secs.min(315_360_000)).unwrap_or(315_360_000),
        ),
    });
    tessera.check_master_key().await?;
    let default_tenant_created = tessera.ensure_default_tenant().await?;
    // Tenants made before the key ring existed get theirs now, before anything signs with them.
    tessera.signing_keys().ensure_all().await?;
    let bootstrap = tessera.ensure_bootstrap_key(config).await?;
    Ok(Opened {
        tessera,
        printed_key: bootstrap.printed,
        configured_key_ignored: bootstrap.configured_key_ignored,
        master_key: origin,
        default_tenant_created,
    })
}

impl Tessera {
    /// Refuses to run with a master key other than the one the database was initialised with: it could not
    /// open what was sealed before, and would seal new data under a key the other nodes lack.
    pub async fn check_master_key(&self) -> Result<()> {
        let mut tx = self.db().begin().await?;
        let check = self.keys().check_value().to_owned();
        tessera_store::meta::put_if_absent(&mut tx, META_KEY_CHECK, &check).await?;
        let stored = tessera_store::meta::get(&mut tx, META_KEY_CHECK).await?;
        tx.commit().await?;
        if stored.as_deref() == Some(check.as_str()) {
            Ok(())
        } else {
            Err(CoreError::bad_request(
                "master_key_mismatch",
                "the master key does not match the one this database was initialised with; configure the original master_key",
            ))
        }
    }

    /// Creates the `default` tenant if it is missing; returns whether this call created it.
    pub async fn ensure_default_tenant(&self) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        if tessera_store::tenants::by_slug(&mut tx, DEFAULT_TENANT_SLUG)
            .await?
            .is_some()
        {
            return Ok(false);
        }
        let now = self.now();
        let t = Tenant {
            id: TenantId::new(),
            slug: DEFAULT_TENANT_SLUG.into(),
            name: "Default".into(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        match tessera_store::tenants::insert(&mut tx, &t).await {
            Ok(()) => {}
            Err(tessera_store::StoreError::Conflict { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let ev = NewEvent::new(
            t.id,
            types::TENANT_CREATED,
            "tenant",
            json!({"tenant_id": t.id, "slug": t.slug, "name": t.name}),
        );
        self.record(&mut tx, &Caller::system(), ev, None).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(crate) async fn default_tenant_id(&self, x: &mut impl Exec) -> Result<TenantId> {
        tessera_store::tenants::by_slug(x, DEFAULT_TENANT_SLUG)
            .await?
            .map(|t| t.id)
            .ok_or_else(|| CoreError::Internal("the default tenant is missing".into()))
    }

    /// On the first start, mints a one-time owner key that expires (ADM-04): the printed one, or the
    /// configured `bootstrap_admin_key`, each living `bootstrap_key_ttl_hours`. Only the start that claims
    /// the "bootstrap key issued" flag mints; later starts leave the key as it is, so a revoked or expired
    /// bootstrap key stays dead and the node still starts. A configured key that is not the one issued is
    /// ignored (reported in [`Opened::configured_key_ignored`]); more keys come from the admin API or
    /// `tessera apply`.
    async fn ensure_bootstrap_key(&self, config: &Config) -> Result<BootstrapOutcome> {
        let configured = match &config.bootstrap_admin_key {
            Some(given) if !given.starts_with(crate::api_keys::KEY_PREFIX) => {
                return Err(CoreError::bad_request(
                    "bad_bootstrap_key",
                    format!(
                        "bootstrap_admin_key must start with {:?}",
                        crate::api_keys::KEY_PREFIX
                    ),
                ));
            }
            Some(given) => Some(BearerSecret::from_string(given.clone())),
            None => None,
        };
        let mut tx = self.db().begin().await?;
        let origin = if configured.is_some() {
            "configured"
        } else {
            "printed"
        };
        if !tessera_store::meta::put_if_absent(&mut tx, META_BOOTSTRAP_ISSUED, origin).await? {
            let ignored = match &configured {
                Some(secret) => {
                    let hash = self.keys().secret_hasher.hash(secret.expose());
                    tessera_store::api_keys::by_secret_hash(&mut tx, &hash)
                        .await?
                        .is_none()
                }
                None => false,
            };
            return Ok(BootstrapOutcome {
                printed: None,
                configured_key_ignored: ignored,
            });
        }
        let expires =
            self.now() + time::Duration::hours(i64::from(config.bootstrap_key_ttl_hours.max(1)));
        let (secret, printed) = match configured {
            Some(secret) => (secret, false),
            None => (BearerSecret::generate(crate::api_keys::KEY_PREFIX)?, true),
        };
        let key = self.bootstrap_key_record(&secret, Some(expires));
        self.api_keys()
            .insert(&mut tx, &Caller::system(), &key, &secret)
            .await?;
        tx.commit().await?;
        Ok(BootstrapOutcome {
            printed: printed.then_some((secret, expires)),
            configured_key_ignored: false,
        })
    }

    fn bootstrap_key_record(
        &self,
        secret: &BearerSecret,
        expires_at: Option<time::OffsetDateTime>,
    ) -> ApiKey {
        ApiKey {
            id: ApiKeyId::new(),
            tenant_id: None,
            name: BOOTSTRAP_KEY_NAME.into(),
            role: Role::Owner,
            prefix: secret.display_prefix(),
            created_at: self.now(),
            created_by: "system".into(),
            expires_at,
            revoked_at: None,
        }
    }
}
