//! The application facade, [`Tessera`]: what the edges hold and call. Its fields are private to this
//! file; the rest of the core reaches them through the accessors below, and the capabilities hang off it
//! as borrowed sub-facades (`t.identities()`, `t.policies()`…, and for customers `t.flows()` and
//! `t.sessions()`), each declared with its constructor in its own module, so no one grows a field of its
//! own or swaps the clock behind the others' backs.
use std::sync::Arc;

use tessera_store::Db;
use time::OffsetDateTime;

use crate::{
    Clock, CoreError, FlowSettings, Keys, Result, guard, methods, passwords, signing_keys,
};

/// The application facade: cheap to clone, shared by every request and job.
#[derive(Clone, Debug)]
pub struct Tessera {
    db: Db,
    keys: Arc<Keys>,
    clock: Arc<dyn Clock>,
    passwords: passwords::PasswordService,
    breach_check: Option<Arc<dyn passwords::BreachCheck>>,
    settings: Arc<FlowSettings>,
    methods: Arc<methods::Methods>,
    tenants: Arc<crate::tenant_cache::TenantCache>,
    signing_cache: Arc<signing_keys::KeyCache>,
    oauth_cache: Arc<crate::oauth::cache::OAuthCache>,
}

impl Tessera {
    /// Wires the facade with default password parameters and no online breach check. Migrations and the
    /// first-start bootstrap are separate steps (see `bootstrap`).
    pub fn new(db: Db, keys: Keys, clock: Arc<dyn Clock>, base_url: url::Url) -> Self {
        Self {
            db,
            keys: Arc::new(keys),
            clock,
            passwords: passwords::PasswordService::new(
                tessera_crypto::password::PasswordParams::default(),
                None,
                passwords::PasswordService::default_concurrency(),
            ),
            breach_check: None,
            settings: Arc::new(FlowSettings {
                base_url,
                quotas: guard::Quotas::default(),
                key_ring: signing_keys::RingSettings::default(),
            }),
            methods: Arc::new(methods::Methods::builtin()),
            tenants: Arc::default(),
            signing_cache: Arc::default(),
            oauth_cache: Arc::default(),
        }
    }

    /// Uses these quotas on flow starts and mail sends.
    pub fn with_quotas(mut self, quotas: guard::Quotas) -> Self {
        let mut settings = (*self.settings).clone();
        settings.quotas = quotas;
        self.settings = Arc::new(settings);
        self
    }

    /// Uses these key-ring settings (the longest a token may live).
    pub fn with_key_ring(mut self, ring: signing_keys::RingSettings) -> Self {
        let mut settings = (*self.settings).clone();
        settings.key_ring = ring;
        self.settings = Arc::new(settings);
        self
    }

    /// Parsed signing keys by tenant and kid (a kid's key never changes, so nothing here goes stale).
    pub(crate) fn signing_cache(&self) -> &signing_keys::KeyCache {
        &self.signing_cache
    }

    /// Clients and discovery documents as the OAuth endpoints read them (see [`crate::oauth::cache`]).
    pub(crate) fn oauth_cache(&self) -> &crate::oauth::cache::OAuthCache {
        &self.oauth_cache
    }

    /// Adds a sign-in method (or replaces the built-in one with its id). Journeys need no change: a
    /// tenant's policy offers it by its id.
    pub fn with_method(mut self, method: Arc<dyn methods::Method>) -> Self {
        let mut all = (*self.methods).clone();
        all.register(method);
        self.methods = Arc::new(all);
        self
    }

    /// The sign-in methods this deployment knows.
    pub fn methods(&self) -> &methods::Methods {
        &self.methods
    }

    /// Uses these password hashing settings.
    pub fn with_passwords(mut self, service: passwords::PasswordService) -> Self {
        self.passwords = service;
        self
    }

    /// Turns on the online breached-password check.
    pub fn with_breach_check(mut self, check: Arc<dyn passwords::BreachCheck>) -> Self {
        self.breach_check = Some(check);
        self
    }

    /// The password service, whose operation counter tests and benchmarks read.
    pub fn passwords(&self) -> &passwords::PasswordService {
        &self.passwords
    }

    /// The database handle, for readiness checks and pool metrics.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Checkpoints SQLite's write-ahead log off the request path (see `Db::checkpoint`): the pages in
    /// the log and those now in the database file.
    pub async fn checkpoint_log(&self) -> crate::Result<(i64, i64)> {
        Ok(self.db.checkpoint().await?)
    }

    /// The keys: the master key's derivations, the keyed hasher of bearer secrets.
    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The clock, for workers that keep their own copy.
    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The online breached-password check, when it is on.
    pub(crate) fn breach_check(&self) -> Option<&Arc<dyn passwords::BreachCheck>> {
        self.breach_check.as_ref()
    }

    /// The deployment settings the flows need.
    pub(crate) fn settings(&self) -> &FlowSettings {
        &self.settings
    }

    /// Tenants by slug, as the hosted journeys read them (see [`crate::tenant_cache`]).
    pub(crate) fn tenant_cache(&self) -> &crate::tenant_cache::TenantCache {
        &self.tenants
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Ready means: the database answers and every migration this build ships has been applied.
    pub async fn ready(&self) -> Result<()> {
        self.db.ping().await?;
        if self.db.migrations_current().await? {
            Ok(())
        } else {
            Err(CoreError::Unavailable)
        }
    }
}
