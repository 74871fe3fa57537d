//! Each tenant's token-signing keys. A key moves forward only (next, active, retiring, retired), each move
//! one conditional statement on the state it expects, so two nodes rotating at once cannot both move the
//! same key; the partial unique indexes keep one active and one next key per tenant and algorithm.
use tessera_model::TenantId;
use tessera_model::signing_key::KeyState;
use time::OffsetDateTime;

use crate::{Cols, Exec, Result, Ts, on_engine, parse_text};

/// A signing key as stored. `private_key` is sealed by the core (the store never sees it in the clear)
/// and `None` once the key is retired.
#[derive(Clone, PartialEq)]
pub struct StoredSigningKey {
    pub tenant_id: TenantId,
    pub kid: String,
    /// The JOSE algorithm name (`ES256`, `RS256`, `EdDSA`).
    pub alg: String,
    pub state: KeyState,
    pub private_key: Option<Vec<u8>>,
    /// The public JWK as JSON text, exactly as the JWKS publishes it.
    pub public_jwk: String,
    pub created_at: OffsetDateTime,
    pub activated_at: Option<OffsetDateTime>,
    pub retiring_at: Option<OffsetDateTime>,
    pub retired_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("tenant_id", &self.tenant_id)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

macro_rules! columns {
    () => {
        "tenant_id, kid, alg, state, private_key, public_jwk, created_at, activated_at, retiring_at, retired_at"
    };
}

fn from_row(r: &impl Cols) -> Result<StoredSigningKey> {
    let state = r.text("state")?;
    Ok(StoredSigningKey {
        tenant_id: TenantId(r.uuid("tenant_id")?),
        kid: r.text("kid")?,
        alg: r.text("alg")?,
        state: parse_text("state", &state, KeyState::parse)?,
        private_key: r.opt_bytes("private_key")?,
        public_jwk: r.text("public_jwk")?,
        created_at: r.ts("created_at")?,
        activated_at: r.opt_ts("activated_at")?,
        retiring_at: r.opt_ts("retiring_at")?,
        retired_at: r.opt_ts("retired_at")?,
    })
}

/// Adds a key. A second active or next key of the same tenant and algorithm, or a kid used before in the
/// tenant, is a `Conflict`.
pub async fn insert(x: &mut impl Exec, k: &StoredSigningKey) -> Result<()> {
    let sql = concat!(
        "INSERT INTO signing_keys (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(k.tenant_id.0)
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(k.state.as_str())
        .bind(k.private_key.as_deref())
        .bind(&k.public_jwk)
        .bind(Ts(k.created_at))
        .bind(k.activated_at.map(Ts))
        .bind(k.retiring_at.map(Ts))
        .bind(k.retired_at.map(Ts))
        .execute(&mut *c)
        .await
        .map(drop)?);
    Ok(())
}

/// The tenant's keys that are not retired (what the JWKS publishes), oldest first.
pub async fn published(x: &mut impl Exec, tenant: TenantId) -> Result<Vec<StoredSigningKey>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM signing_keys WHERE tenant_id = $1 AND state <> 'retired' ORDER BY created_at, kid"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect())
}

/// Every key the tenant ever had, retired ones included, oldest first.
pub async fn all(x: &mut impl Exec, tenant: TenantId) -> Result<Vec<StoredSigningKey>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at, kid"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect())
}

/// The key of `alg` in `state` (at most one for `next` and `active`).
pub async fn in_state(
    x: &mut impl Exec,
    tenant: TenantId,
    alg: &str,
    state: KeyState,
) -> Result<Vec<StoredSigningKey>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM signing_keys WHERE tenant_id = $1 AND alg = $2 AND state = $3 ORDER BY created_at, kid"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(alg)
        .bind(state.as_str())
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect())
}

/// Moves a key from `from` to the next state, stamping the time of the move (and wiping the private key
/// when it retires), only if it is still in `from`. False when another writer moved it first.
pub async fn advance(
    x: &mut impl Exec,
    tenant: TenantId,
    kid: &str,
    from: KeyState,
    now: OffsetDateTime,
) -> Result<bool> {
    let sql = match from.successor() {
        KeyState::Active => {
            "UPDATE signing_keys SET state = 'active', activated_at = $1 \
             WHERE tenant_id = $2 AND kid = $3 AND state = $4"
        }
        KeyState::Retiring => {
            "UPDATE signing_keys SET state = 'retiring', retiring_at = $1 \
             WHERE tenant_id = $2 AND kid = $3 AND state = $4"
        }
        KeyState::Retired | KeyState::Next => {
            "UPDATE signing_keys SET state = 'retired', retired_at = $1, private_key = NULL \
             WHERE tenant_id = $2 AND kid = $3 AND state = $4 AND state <> 'retired'"
        }
    };
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(now))
        .bind(tenant.0)
        .bind(kid)
        .bind(from.as_str())
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// The tenant's retiring keys that began retiring at or before `cutoff`: every token they signed has
/// expired by now, so they may retire.
pub async fn retiring_since(
    x: &mut impl Exec,
    tenant: TenantId,
    cutoff: OffsetDateTime,
) -> Result<Vec<StoredSigningKey>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM signing_keys WHERE tenant_id = $1 AND state = 'retiring' AND retiring_at <= $2 ORDER BY created_at, kid"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(Ts(cutoff))
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(from_row)
        .collect())
}
