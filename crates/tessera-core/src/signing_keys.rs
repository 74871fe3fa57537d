//! Each tenant's token-signing key ring: `t.signing_keys()`.
//!
//! A tenant holds, per algorithm (ES256 by default; RS256 and EdDSA once something asks for them), one
//! **active** key that signs, one **next** key that is already published in the JWKS and signs nothing
//! yet, and any number of **retiring** keys that sign nothing but stay published until every token they
//! signed has expired; after that they are **retired**: gone from the JWKS, private key wiped (OIDC-05).
//!
//! A rotation moves next to active, active to retiring and publishes a new next key, in one transaction
//! of conditional updates (and partial unique indexes behind them), so two nodes rotating at once give
//! one winner and never two active keys. A next key may only become active once it has been published
//! for [`NEXT_KEY_LEAD`], longer than the JWKS may be cached ([`JWKS_MAX_AGE_SECS`]), so a relying party
//! that honours the cache lifetime always knows a key before it sees a token signed with it. A retiring
//! key retires once `max_token_lifetime` (plus the clock skew verifiers allow) has passed since it
//! stopped signing; `sign` refuses tokens that would outlive that bound.
//!
//! Private keys are stored as PKCS#8 sealed (AES-256-GCM) with a key derived from the master key, the
//! seal bound to the tenant and kid, so a key row copied to another tenant or kid does not open.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use serde::Serialize;
use serde_json::json;
use tessera_crypto::jws::{self, Jwk, JwsAlg, JwsError, SigningKey, VerifyingKey};
use tessera_model::TenantId;
use tessera_model::api_key::Permission;
use tessera_model::event::{NewEvent, types};
use tessera_model::signing_key::KeyState;
use tessera_store::signing_keys::{self as store, StoredSigningKey};
use tessera_store::{StoreError, Tx};
use time::{Duration, OffsetDateTime};

use crate::ttl_cache::TtlCache;
use crate::{Caller, CoreError, Result, Tessera};

/// How long relying parties may cache the JWKS (`Cache-Control: max-age`).
pub const JWKS_MAX_AGE_SECS: u64 = 300;
/// How long a next key is published before it may sign: well beyond the JWKS cache lifetime.
pub const NEXT_KEY_LEAD: Duration = Duration::hours(1);
/// The clock skew verifiers allow on `exp`, `nbf` and `iat` (JWT-03: at most 60 s).
pub const CLOCK_SKEW: Duration = Duration::seconds(60);
/// The algorithm tokens are signed with unless a client asks for another.
pub const DEFAULT_ALG: JwsAlg = JwsAlg::ES256;

/// Deployment settings of the key ring.
#[derive(Debug, Clone, Copy)]
pub struct RingSettings {
    /// The longest any token signed by a tenant key may live; a retiring key is published that long
    /// (plus [`CLOCK_SKEW`]) after it stopped signing.
    pub max_token_lifetime: Duration,
}

impl Default for RingSettings {
    fn default() -> Self {
        Self {
            max_token_lifetime: Duration::days(1),
        }
    }
}

/// Parsed private keys by tenant and kid, so signing does not unseal and parse a key each time. A kid's
/// key never changes; whether it is still the active one is read from the database on every signature.
///
/// It also remembers each tenant's active key per algorithm for [`ACTIVE_KEY_TTL`], so a token endpoint
/// signs without a database read. A rotation on this node forgets it at once; another node's rotation is
/// seen within the TTL, harmless because the key that stopped signing stays published (retiring) far
/// longer than that: every token it signs still verifies.
///
/// And each tenant's published keys (parsed for verifying, and the JWKS as served) for
/// [`PUBLISHED_KEYS_TTL`]: see [`SigningKeys::verify`] for what that bounds.
#[derive(Debug)]
pub struct KeyCache {
    parsed: RwLock<HashMap<(TenantId, String), Arc<SigningKey>>>,
    active: RwLock<HashMap<(TenantId, JwsAlg), ActiveEntry>>,
    published: TtlCache<TenantId, Arc<Published>>,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self {
            parsed: RwLock::default(),
            active: RwLock::default(),
            published: TtlCache::new(PUBLISHED_KEYS_TTL),
        }
    }
}

/// How long a node keeps a tenant's published key set before reading it again: a key another node
/// retired is still accepted here that long (its tokens have all expired by then anyway); a key this
/// node retires or adds is seen at once.
pub const PUBLISHED_KEYS_TTL: Duration = Duration::seconds(5);

/// A tenant's published keys as read at one moment.
#[derive(Debug)]
struct Published {
    verifying: BTreeMap<String, VerifyingKey>,
    /// The JWKS document, rendered once.
    json: Arc<str>,
}

/// When a node read a tenant's active key of one algorithm, and the key.
type ActiveEntry = (std::time::Instant, Arc<SigningKey>);

/// How long a node keeps signing with the active key it read before reading it again.
pub const ACTIVE_KEY_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Cached keys beyond this are dropped all at once (a deployment has a few keys per tenant).
const CACHE_LIMIT: usize = 4096;

impl KeyCache {
    fn get(&self, tenant: TenantId, kid: &str) -> Option<Arc<SigningKey>> {
        let map = self.parsed.read().ok()?;
        map.get(&(tenant, kid.to_owned())).cloned()
    }

    fn put(&self, tenant: TenantId, key: Arc<SigningKey>) {
        if let Ok(mut map) = self.parsed.write() {
            if map.len() >= CACHE_LIMIT {
                map.clear();
            }
            map.insert((tenant, key.kid().to_owned()), key);
        }
    }

    fn active(&self, tenant: TenantId, alg: JwsAlg) -> Option<Arc<SigningKey>> {
        let map = self.active.read().ok()?;
        map.get(&(tenant, alg))
            .filter(|(at, _)| at.elapsed() < ACTIVE_KEY_TTL)
            .map(|(_, k)| k.clone())
    }

    fn put_active(&self, tenant: TenantId, alg: JwsAlg, key: Arc<SigningKey>) {
        if let Ok(mut map) = self.active.write() {
            if map.len() >= CACHE_LIMIT {
                map.clear();
            }
            map.insert((tenant, alg), (std::time::Instant::now(), key));
        }
    }

    /// Forgets which keys are active and which are published (after this node added, rotated or
    /// retired keys, once that committed).
    fn forget_active(&self) {
        if let Ok(mut map) = self.active.write() {
            map.clear();
        }
        self.published.clear();
    }
}

/// A tenant's public keys as the JWKS publishes them (RFC 7517 §5).
#[derive(Debug, Clone, Serialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// One algorithm's rotation.
#[derive(Debug, Clone, Serialize)]
pub struct Rotation {
    pub tenant: String,
    pub alg: String,
    /// The key that signs from now on.
    pub activated: String,
    /// The key that stopped signing and stays published until its tokens expired.
    pub retiring: String,
    /// The newly published next key.
    pub next: String,
}

/// Why a token did not verify. Callers answer relying parties with their protocol's generic error.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Token(#[from] JwsError),
    #[error("the token has no numeric exp")]
    MissingExpiry,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl From<StoreError> for VerifyError {
    fn from(e: StoreError) -> Self {
        VerifyError::Core(e.into())
    }
}

fn seal_context(tenant: TenantId, kid: &str) -> Vec<u8> {
    let mut c = b"tessera/signing-key/v1".to_vec();
    c.extend_from_slice(tenant.0.as_bytes());
    c.extend_from_slice(kid.as_bytes());
    c
}

fn jws_err(e: JwsError) -> CoreError {
    CoreError::Internal(format!("signing key: {e}"))
}

/// Parses a stored algorithm name.
fn alg_of(k: &StoredSigningKey) -> Result<JwsAlg> {
    JwsAlg::parse(&k.alg).ok_or_else(|| CoreError::Internal(format!("unknown alg {:?}", k.alg)))
}

/// The key ring, borrowed from the facade: `t.signing_keys().sign(..)`.
#[derive(Clone, Copy, Debug)]
pub struct SigningKeys<'a> {
    t: &'a Tessera,
}

impl Tessera {
    /// Each tenant's token-signing keys.
    pub fn signing_keys(&self) -> SigningKeys<'_> {
        SigningKeys { t: self }
    }
}

impl SigningKeys<'_> {
    /// A fresh key in `state`, sealed for storage, and its parsed form.
    fn new_key(
        &self,
        tenant: TenantId,
        alg: JwsAlg,
        state: KeyState,
        now: OffsetDateTime,
    ) -> Result<(StoredSigningKey, SigningKey)> {
        // 128 random bits: unique per tenant in practice; the primary key catches the impossible.
        let kid = tessera_crypto::random_token()?
            .chars()
            .take(22)
            .collect::<String>();
        let pkcs8 = jws::generate_pkcs8(alg).map_err(jws_err)?;
        let key = SigningKey::from_pkcs8(alg, &kid, &pkcs8).map_err(jws_err)?;
        let sealed = self
            .t
            .keys()
            .signing_wrap
            .seal(&pkcs8, &seal_context(tenant, &kid))?;
        let public_jwk = serde_json::to_string(&key.public_jwk())
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        let stored = StoredSigningKey {
            tenant_id: tenant,
            kid,
            alg: alg.as_str().to_owned(),
            state,
            private_key: Some(sealed),
            public_jwk,
            created_at: now,
            activated_at: (state == KeyState::Active).then_some(now),
            retiring_at: None,
            retired_at: None,
        };
        Ok((stored, key))
    }

    /// Inserts a new key and records its event, in the caller's transaction.
    async fn add(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        tenant: TenantId,
        alg: JwsAlg,
        state: KeyState,
    ) -> Result<String> {
        let (stored, key) = self.new_key(tenant, alg, state, self.t.now())?;
        store::insert(tx, &stored).await?;
        let ev = NewEvent::new(
            tenant,
            types::SIGNING_KEY_CREATED,
            format!("signing_key:{}", stored.kid),
            json!({"kid": stored.kid, "alg": stored.alg, "state": state.as_str()}),
        );
        self.t.record(tx, caller, ev, None).await?;
        self.t.signing_cache().put(tenant, Arc::new(key));
        Ok(stored.kid)
    }

    /// Gives the tenant an active and a next key of `alg` where it lacks them, in the caller's
    /// transaction (tenant creation uses this so a tenant never exists without keys).
    pub(crate) async fn ensure_in(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        tenant: TenantId,
        alg: JwsAlg,
    ) -> Result<bool> {
        let mut created = false;
        for state in [KeyState::Active, KeyState::Next] {
            if store::in_state(tx, tenant, alg.as_str(), state)
                .await?
                .is_empty()
            {
                self.add(tx, caller, tenant, alg, state).await?;
                created = true;
            }
        }
        Ok(created)
    }

    /// Gives the tenant an active and a next key of `alg` where it lacks them. Call it when something
    /// first needs an algorithm (a client registered for RS256), so its next key is published before
    /// tokens depend on it. Another node doing the same at once is fine: one of them wins.
    pub async fn ensure(&self, caller: &Caller, tenant: TenantId, alg: JwsAlg) -> Result<()> {
        let mut tx = self.t.db().begin().await?;
        match self.ensure_in(&mut tx, caller, tenant, alg).await {
            Ok(true) => {
                let committed = tx.commit().await;
                self.t.signing_cache().forget_active();
                match committed {
                    Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Ok(false) => Ok(()),
            Err(CoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Makes sure every tenant has a default-algorithm ring (first start, upgrades, the periodic job).
    pub async fn ensure_all(&self) -> Result<()> {
        let mut conn = self.t.db().conn().await?;
        let tenants = tessera_store::tenants::list(&mut conn).await?;
        drop(conn);
        for t in tenants {
            self.ensure(&Caller::system(), t.id, DEFAULT_ALG).await?;
        }
        Ok(())
    }

    /// The parsed private key of a stored key, from the cache or by unsealing it.
    fn private(&self, k: &StoredSigningKey) -> Result<Arc<SigningKey>> {
        if let Some(key) = self.t.signing_cache().get(k.tenant_id, &k.kid) {
            return Ok(key);
        }
        let sealed = k.private_key.as_deref().ok_or_else(|| {
            CoreError::Internal(format!("signing key {} has no private key", k.kid))
        })?;
        let pkcs8 = zeroize::Zeroizing::new(
            self.t
                .keys()
                .signing_wrap
                .open(sealed, &seal_context(k.tenant_id, &k.kid))?,
        );
        let key = Arc::new(SigningKey::from_pkcs8(alg_of(k)?, &k.kid, &pkcs8).map_err(jws_err)?);
        self.t.signing_cache().put(k.tenant_id, key.clone());
        Ok(key)
    }

    /// Signs `claims` with the tenant's active key of the default algorithm (ES256).
    pub async fn sign(
        &self,
        tenant: TenantId,
        typ: &str,
        claims: &serde_json::Value,
    ) -> Result<String> {
        self.sign_with(tenant, DEFAULT_ALG, typ, claims).await
    }

    /// Signs `claims` (a JSON object with a numeric `exp` no later than the configured maximum token
    /// lifetime from now) with the tenant's active key of `alg`; the header carries its `kid`. A tenant
    /// without a ring of `alg` gets one first.
    pub async fn sign_with(
        &self,
        tenant: TenantId,
        alg: JwsAlg,
        typ: &str,
        claims: &serde_json::Value,
    ) -> Result<String> {
        let now = self.t.now();
        let exp = claims.get("exp").and_then(serde_json::Value::as_i64);
        let limit = now + self.t.settings().key_ring.max_token_lifetime;
        match exp {
            Some(exp) if exp <= limit.unix_timestamp() => {}
            _ => {
                return Err(CoreError::Internal(
                    "a token to sign needs an exp within the maximum token lifetime".into(),
                ));
            }
        }
        let key = match self.t.signing_cache().active(tenant, alg) {
            Some(key) => key,
            None => {
                let active = self.active(tenant, alg).await?;
                let key = self.private(&active)?;
                self.t.signing_cache().put_active(tenant, alg, key.clone());
                key
            }
        };
        key.sign(typ, claims).map_err(jws_err)
    }

    async fn active(&self, tenant: TenantId, alg: JwsAlg) -> Result<StoredSigningKey> {
        for _ in 0..2 {
            let mut conn = self.t.db().conn().await?;
            let found = store::in_state(&mut conn, tenant, alg.as_str(), KeyState::Active).await?;
            drop(conn);
            if let Some(k) = found.into_iter().next() {
                return Ok(k);
            }
            self.ensure(&Caller::system(), tenant, alg).await?;
        }
        Err(CoreError::Internal(format!(
            "tenant {tenant} has no active {alg} key"
        )))
    }

    /// The tenant's published keys (next, active and retiring, public parts only), from this node's
    /// cache while it is fresh, else read, parsed and rendered once; `reload` reads them regardless.
    async fn published(&self, tenant: TenantId, reload: bool) -> Result<Arc<Published>> {
        let cache = &self.t.signing_cache().published;
        let now = self.t.now();
        if !reload && let Some(p) = cache.get(&tenant, now) {
            return Ok(p);
        }
        let ticket = cache.ticket();
        let mut conn = self.t.db().conn().await?;
        let stored = store::published(&mut conn, tenant).await?;
        drop(conn);
        let mut verifying = BTreeMap::new();
        let mut keys = Vec::with_capacity(stored.len());
        for k in &stored {
            let jwk: Jwk = serde_json::from_str(&k.public_jwk)
                .map_err(|e| CoreError::Internal(format!("stored JWK {}: {e}", k.kid)))?;
            verifying.insert(
                k.kid.clone(),
                VerifyingKey::from_jwk(&jwk).map_err(jws_err)?,
            );
            keys.push(jwk);
        }
        let json = serde_json::to_string(&Jwks { keys })
            .map_err(|e| CoreError::Internal(format!("JWKS: {e}")))?;
        let p = Arc::new(Published {
            verifying,
            json: json.into(),
        });
        cache.put(ticket, tenant, p.clone(), now);
        Ok(p)
    }

    /// The JWKS document (RFC 7517 §5) of the tenant with this slug, as the public endpoint serves it
    /// (an unknown tenant is not found).
    pub async fn jwks_json(&self, slug: &str) -> Result<Arc<str>> {
        let tenant = self.t.tenant_by_slug(slug).await?;
        Ok(self.published(tenant.id, false).await?.json.clone())
    }

    /// Verifies a token the tenant signed: the key is found by `kid` among the published keys only,
    /// its algorithm is the key's (JWT-01, JWT-02), `typ` must be `expected_typ`, and `exp` (required),
    /// `nbf` and `iat` hold with [`CLOCK_SKEW`] (JWT-03). Returns the claims.
    ///
    /// The published keys come from this node's copy, at most [`PUBLISHED_KEYS_TTL`] old: a key retired
    /// on this node stops verifying at once, one retired on another node within that time.
    pub async fn verify(
        &self,
        tenant: TenantId,
        token: &str,
        expected_typ: &str,
    ) -> std::result::Result<serde_json::Map<String, serde_json::Value>, VerifyError> {
        let claims = self.verify_signature(tenant, token, expected_typ).await?;
        let now = self.t.now();
        let time = |name: &str| claims.get(name).map(|v| v.as_i64());
        let at = |secs: i64| OffsetDateTime::from_unix_timestamp(secs).ok();
        match time("exp") {
            Some(Some(exp)) => match at(exp) {
                Some(exp) if now <= exp + CLOCK_SKEW => {}
                _ => return Err(VerifyError::Expired),
            },
            _ => return Err(VerifyError::MissingExpiry),
        }
        for name in ["nbf", "iat"] {
            match time(name) {
                None => {}
                Some(Some(t)) if at(t).is_some_and(|t| t <= now + CLOCK_SKEW) => {}
                Some(_) => return Err(VerifyError::NotYetValid),
            }
        }
        Ok(claims)
    }

    /// [`Self::verify`] without the time checks, for the one token whose age does not matter: an
    /// `id_token_hint` (RP-Initiated Logout §2; at authorize it only names a customer). Signature by a
    /// published key, algorithm of the key, `typ`.
    pub async fn verify_signature(
        &self,
        tenant: TenantId,
        token: &str,
        expected_typ: &str,
    ) -> std::result::Result<serde_json::Map<String, serde_json::Value>, VerifyError> {
        // A kid missing from this node's copy may be a key another node published a moment ago (a
        // ring for a new algorithm): read the set again once before refusing. That read is what every
        // verification cost before the cache, so a token naming made-up kids gains an attacker nothing.
        let published = self.published(tenant, false).await?;
        let verified = match jws::verify(token, expected_typ, &published.verifying) {
            Err(JwsError::UnknownKey) => {
                let fresh = self.published(tenant, true).await?;
                jws::verify(token, expected_typ, &fresh.verifying)?
            }
            other => other?,
        };
        Ok(verified.claims)
    }

    /// Rotates the keys of every algorithm of the tenant with this slug (the operator's `tessera keys
    /// rotate`), then retires what is due. A next key published for less than [`NEXT_KEY_LEAD`] is not
    /// promoted: the answer says when it may be.
    pub async fn rotate(&self, caller: &Caller, slug: &str) -> Result<Vec<Rotation>> {
        caller.require(Permission::TenantWrite)?;
        let mut conn = self.t.db().conn().await?;
        let tenant = self.t.tenant_in_scope(&mut conn, caller, slug).await?;
        drop(conn);
        self.ensure(caller, tenant.id, DEFAULT_ALG).await?;
        let mut tx = self.t.db().begin().await?;
        let mut algs: Vec<JwsAlg> = Vec::new();
        for k in store::published(&mut tx, tenant.id).await? {
            let alg = alg_of(&k)?;
            if k.state == KeyState::Active && !algs.contains(&alg) {
                algs.push(alg);
            }
        }
        algs.sort();
        let mut done = Vec::new();
        for alg in algs {
            done.push(
                self.rotate_in(&mut tx, caller, &tenant.slug, tenant.id, alg)
                    .await?,
            );
        }
        self.retire_due_in(&mut tx, caller, tenant.id).await?;
        tx.commit().await.map_err(raced)?;
        self.t.signing_cache().forget_active();
        Ok(done)
    }

    /// One algorithm's rotation, in the caller's transaction.
    async fn rotate_in(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        slug: &str,
        tenant: TenantId,
        alg: JwsAlg,
    ) -> Result<Rotation> {
        let now = self.t.now();
        let one = |v: Vec<StoredSigningKey>| v.into_iter().next();
        let active = one(store::in_state(tx, tenant, alg.as_str(), KeyState::Active).await?)
            .ok_or_else(|| CoreError::Internal(format!("no active {alg} key")))?;
        let next = one(store::in_state(tx, tenant, alg.as_str(), KeyState::Next).await?)
            .ok_or_else(|| CoreError::Internal(format!("no next {alg} key")))?;
        let ready_at = next.created_at + NEXT_KEY_LEAD;
        if now < ready_at {
            return Err(CoreError::Conflict {
                code: "next_key_too_new",
                detail: format!(
                    "the next {alg} key {} has been published since {}; it may sign from {} on, once relying parties have fetched it",
                    next.kid, next.created_at, ready_at
                ),
            });
        }
        // Each move is conditional on the state read above: a node that rotated first makes these
        // touch nothing, and this rotation is refused rather than doubled.
        let retiring = store::advance(tx, tenant, &active.kid, KeyState::Active, now)
            .await
            .map_err(raced)?;
        let activated = store::advance(tx, tenant, &next.kid, KeyState::Next, now)
            .await
            .map_err(raced)?;
        if !(retiring && activated) {
            return Err(race());
        }
        let new_next = self.add(tx, caller, tenant, alg, KeyState::Next).await?;
        let ev = NewEvent::new(
            tenant,
            types::SIGNING_KEY_ROTATED,
            "tenant",
            json!({"alg": alg.as_str(), "activated": next.kid, "retiring": active.kid, "next": new_next}),
        );
        self.t.record(tx, caller, ev, None).await?;
        Ok(Rotation {
            tenant: slug.to_owned(),
            alg: alg.as_str().to_owned(),
            activated: next.kid,
            retiring: active.kid,
            next: new_next,
        })
    }

    /// Retires the tenant's retiring keys whose tokens have all expired, in the caller's transaction.
    async fn retire_due_in(&self, tx: &mut Tx, caller: &Caller, tenant: TenantId) -> Result<u64> {
        let now = self.t.now();
        let cutoff = now - self.t.settings().key_ring.max_token_lifetime - CLOCK_SKEW;
        let mut retired = 0;
        for k in store::retiring_since(tx, tenant, cutoff).await? {
            if store::advance(tx, tenant, &k.kid, KeyState::Retiring, now).await? {
                let ev = NewEvent::new(
                    tenant,
                    types::SIGNING_KEY_RETIRED,
                    format!("signing_key:{}", k.kid),
                    json!({"kid": k.kid, "alg": k.alg}),
                );
                self.t.record(tx, caller, ev, None).await?;
                retired += 1;
            }
        }
        Ok(retired)
    }

    /// The periodic job: every tenant gets a ring if it lacks one, keys whose tokens have all expired
    /// retire, and when `rotate_every` is set, a ring whose active key has signed that long rotates (once
    /// its next key has been published for [`NEXT_KEY_LEAD`]). Nodes running it at once are harmless:
    /// each move is conditional, and a lost race is skipped until the next run.
    pub async fn maintain(&self, rotate_every: Option<Duration>) -> Result<MaintenanceReport> {
        self.ensure_all().await?;
        let mut conn = self.t.db().conn().await?;
        let tenants = tessera_store::tenants::list(&mut conn).await?;
        drop(conn);
        let caller = Caller::system();
        let mut report = MaintenanceReport::default();
        for tenant in tenants {
            let now = self.t.now();
            let mut tx = self.t.db().begin().await?;
            let mut due = Vec::new();
            if let Some(every) = rotate_every {
                for k in store::published(&mut tx, tenant.id).await? {
                    let since = k.activated_at.unwrap_or(k.created_at);
                    if k.state == KeyState::Active && now >= since + every {
                        due.push(alg_of(&k)?);
                    }
                }
            }
            let mut rotated = Vec::new();
            for alg in due {
                match self
                    .rotate_in(&mut tx, &caller, &tenant.slug, tenant.id, alg)
                    .await
                {
                    Ok(r) => rotated.push(r),
                    // Too new a next key, or another node rotated first: the next run looks again.
                    Err(CoreError::Conflict { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            let retired = self.retire_due_in(&mut tx, &caller, tenant.id).await?;
            match tx.commit().await {
                Ok(()) => {
                    if !rotated.is_empty() || retired > 0 {
                        self.t.signing_cache().forget_active();
                    }
                    report.rotated.extend(rotated);
                    report.retired += retired;
                }
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }

    /// Every key the tenant ever had (retired ones included), for operators and tests: kid, alg, state
    /// and times, never private parts.
    pub async fn list(&self, caller: &Caller, slug: &str) -> Result<Vec<KeyInfo>> {
        caller.require(Permission::TenantRead)?;
        let mut conn = self.t.db().conn().await?;
        let tenant = self.t.tenant_in_scope(&mut conn, caller, slug).await?;
        Ok(store::all(&mut conn, tenant.id)
            .await?
            .into_iter()
            .map(|k| KeyInfo {
                kid: k.kid,
                alg: k.alg,
                state: k.state.as_str(),
                created_at: k.created_at,
                activated_at: k.activated_at,
                retiring_at: k.retiring_at,
                retired_at: k.retired_at,
                has_private_key: k.private_key.is_some(),
            })
            .collect())
    }
}

/// A lost race (a conditional move that touched nothing, or a unique index that refused a second active
/// or next key) as the typed conflict callers can retry or skip.
fn race() -> CoreError {
    CoreError::Conflict {
        code: "key_rotation_conflict",
        detail: "another rotation of these keys happened at the same time; nothing changed".into(),
    }
}

/// A store error, with a unique-index refusal read as a lost race.
fn raced(e: StoreError) -> CoreError {
    match e {
        StoreError::Conflict { .. } => race(),
        other => other.into(),
    }
}

/// What a maintenance run did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct MaintenanceReport {
    pub rotated: Vec<Rotation>,
    pub retired: u64,
}

/// A key as operators see it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    pub state: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub activated_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub retiring_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
    pub has_private_key: bool,
}
