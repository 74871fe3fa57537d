//! Persisted flows.
use crate::behind::Write;
use tessera_model::flow::{Flow, FlowChannel, FlowId, FlowKind, Ui};
use tessera_model::{IdentityId, TenantId};
use time::OffsetDateTime;

use crate::{Cols, Exec, Result, StoreError, Ts, on_engine, parse_text};

/// A stored flow with the keyed hashes of what its driver must present: the browser's binding cookie
/// (browser flows) or the flow secret (API flows).
#[derive(Debug, Clone)]
pub struct StoredFlow {
    pub flow: Flow,
    pub browser_binding: Option<Vec<u8>>,
    pub secret_hash: Option<Vec<u8>>,
}

/// The hash a new flow is bound to, per channel.
#[derive(Debug, Clone, Copy)]
pub enum Binding<'a> {
    /// The hash of the browser's binding cookie.
    Browser(&'a [u8]),
    /// The hash of the API flow's secret.
    Secret(&'a [u8]),
}

macro_rules! columns {
    () => {
        "id, tenant_id, kind, channel, state, csrf_token, browser_binding, return_to, client_id, journey, locale, identity_id, ui, internal, issued_at, expires_at, version, secret_hash, requested_aal"
    };
}

fn from_row(r: &impl Cols) -> Result<StoredFlow> {
    let ui: Ui = serde_json::from_str(&r.text("ui")?)
        .map_err(|e| StoreError::Corrupt(format!("flow ui: {e}")))?;
    let internal = serde_json::from_str(&r.text("internal")?)
        .map_err(|e| StoreError::Corrupt(format!("flow internal: {e}")))?;
    let channel = match r.text("channel")?.as_str() {
        "browser" => FlowChannel::Browser,
        "api" => FlowChannel::Api,
        other => return Err(StoreError::Corrupt(format!("flow channel {other:?}"))),
    };
    Ok(StoredFlow {
        flow: Flow {
            id: FlowId(r.uuid("id")?),
            tenant_id: TenantId(r.uuid("tenant_id")?),
            kind: parse_text("kind", &r.text("kind")?, FlowKind::parse)?,
            channel,
            state: r.text("state")?,
            issued_at: r.ts("issued_at")?,
            expires_at: r.ts("expires_at")?,
            csrf_token: r.text("csrf_token")?,
            return_to: r.opt_text("return_to")?,
            client_id: r.opt_text("client_id")?,
            journey: r.text("journey")?,
            locale: r.opt_text("locale")?,
            identity_id: r.opt_uuid("identity_id")?.map(IdentityId),
            ui,
            internal,
            version: r.int("version")?,
            requested_aal: r.int("requested_aal")?,
        },
        browser_binding: r.opt_bytes("browser_binding")?,
        secret_hash: r.opt_bytes("secret_hash")?,
    })
}

fn channel_text(c: FlowChannel) -> &'static str {
    match c {
        FlowChannel::Browser => "browser",
        FlowChannel::Api => "api",
    }
}

/// Stores a new flow with what binds it to its driver.
pub async fn insert(x: &mut impl Exec, f: &Flow, binding: Binding<'_>) -> Result<()> {
    let sql = concat!(
        "INSERT INTO flows (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
    );
    let (browser_binding, secret_hash) = match binding {
        Binding::Browser(h) => (Some(h), None),
        Binding::Secret(h) => (None, Some(h)),
    };
    let ui = serde_json::to_string(&f.ui).map_err(|e| StoreError::Other(e.to_string()))?;
    let internal = f.internal.to_string();
    Write::new("flows", sql)
        .bind(f.id.0)
        .bind(f.tenant_id.0)
        .bind(f.kind.as_str())
        .bind(channel_text(f.channel))
        .bind(&f.state)
        .bind(&f.csrf_token)
        .bind(browser_binding)
        .bind(f.return_to.as_deref())
        .bind(f.client_id.as_deref())
        .bind(&f.journey)
        .bind(f.locale.as_deref())
        .bind(f.identity_id.map(|i| i.0))
        .bind(ui)
        .bind(internal)
        .bind(Ts(f.issued_at))
        .bind(Ts(f.expires_at))
        .bind(f.version)
        .bind(secret_hash)
        .bind(f.requested_aal)
        .run(x)
        .await
}

/// One flow of a tenant.
pub async fn get(x: &mut impl Exec, tenant: TenantId, id: FlowId) -> Result<Option<StoredFlow>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM flows WHERE tenant_id = $1 AND id = $2"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(tenant.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| from_row(&r))
        .transpose())
}

/// Writes a flow's new state if nobody else advanced it since `expected_version`; false otherwise, so
/// two concurrent submissions of one flow cannot both succeed.
/// Fails with [`StoreError::Stale`](crate::StoreError::Stale) when the flow is no longer at
/// `expected_version` (another submission of the same step won); on a transaction the check comes at the
/// latest with the commit, which then commits nothing.
pub async fn update(x: &mut impl Exec, f: &Flow, expected_version: i64) -> Result<()> {
    let sql = "UPDATE flows SET state = $1, identity_id = $2, ui = $3, internal = $4, expires_at = $5, version = $6, locale = $7 \
               WHERE id = $8 AND version = $9";
    let ui = serde_json::to_string(&f.ui).map_err(|e| StoreError::Other(e.to_string()))?;
    let internal = f.internal.to_string();
    Write::new("flows", sql)
        .bind(&f.state)
        .bind(f.identity_id.map(|i| i.0))
        .bind(ui)
        .bind(internal)
        .bind(Ts(f.expires_at))
        .bind(f.version)
        .bind(f.locale.as_deref())
        .bind(f.id.0)
        .bind(expected_version)
        .expect_rows(1)
        .run(x)
        .await
}

/// Deletes flows that expired before `cutoff`; returns how many.
pub async fn delete_expired(x: &mut impl Exec, cutoff: OffsetDateTime) -> Result<u64> {
    let sql = "DELETE FROM flows WHERE expires_at < $1";
    Ok(on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(cutoff))
        .execute(&mut *c)
        .await?
        .rows_affected()))
}

/// Flows that expired before `cutoff` without finishing, oldest first (for the abandonment sweep).
pub async fn expired_unfinished(
    x: &mut impl Exec,
    cutoff: OffsetDateTime,
    limit: u32,
) -> Result<Vec<Flow>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM flows WHERE expires_at < $1 AND state <> 'done' ORDER BY expires_at LIMIT $2"
    );
    on_engine!(x, |c| sqlx::query(sql)
        .bind(Ts(cutoff))
        .bind(i64::from(limit))
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| from_row(r).map(|s| s.flow))
        .collect())
}

/// Deletes one flow.
pub async fn delete(x: &mut impl Exec, id: FlowId) -> Result<bool> {
    let sql = "DELETE FROM flows WHERE id = $1";
    let n = on_engine!(x, |c| sqlx::query(sql)
        .bind(id.0)
        .execute(&mut *c)
        .await?
        .rows_affected());
    Ok(n == 1)
}
