//! Writing and reading the event log.
//!
//! Events are written by [`Tessera::record`] inside the transaction of the change they describe. Personal
//! data goes into a separate part sealed with the key of the identity it belongs to; destroying that key
//! (erasure) makes it unreadable while the log, whose hashes cover only ciphertext, stays verifiable.
use serde::Serialize;
use tessera_crypto::SecretKey;
use tessera_model::event::{NewEvent, StoredEvent};
use tessera_model::{EventId, IdentityId, TenantId};
use tessera_store::events::EventFilter;
use tessera_store::{Exec, Tx};
use time::OffsetDateTime;

use crate::{Caller, CoreError, Paged, Result, Tessera};

/// The content hash of an event: everything but `seq` (assigned by the database) and the hash itself.
pub(crate) fn event_hash(e: &StoredEvent) -> [u8; 32] {
    let micros = (e.occurred_at.unix_timestamp_nanos() / 1000).to_string();
    let sealed_for = e.sealed_for.map(|i| i.0.to_string()).unwrap_or_default();
    tessera_crypto::sha256(&[
        b"tessera-event-v1",
        e.tenant_id.0.as_bytes(),
        e.id.0.as_bytes(),
        e.kind.as_bytes(),
        e.subject.as_bytes(),
        e.actor.as_bytes(),
        e.request_id.as_deref().unwrap_or("").as_bytes(),
        micros.as_bytes(),
        e.data.as_bytes(),
        e.sealed.as_deref().unwrap_or(&[]),
        sealed_for.as_bytes(),
    ])
}

/// An event as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub seq: i64,
    pub id: EventId,
    #[serde(rename = "type")]
    pub kind: String,
    pub subject: String,
    pub actor: String,
    pub request_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// The personal part, when the caller may see it and it has not been erased.
    #[schema(value_type = Option<Object>)]
    pub personal: Option<serde_json::Value>,
    /// True when the event carried personal data whose key has been destroyed.
    pub personal_erased: bool,
}

/// What an event query asks for.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub subject: Option<String>,
    pub kind: Option<String>,
    pub from: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

impl Tessera {
    /// Creates the sealing key of a new identity and stores it wrapped. Returns the plain key so the
    /// caller can seal the identity's first event without reading it back.
    pub(crate) async fn create_identity_key(
        &self,
        tx: &mut Tx,
        tenant: TenantId,
        id: IdentityId,
    ) -> Result<SecretKey> {
        let key = SecretKey::generate()?;
        let wrapped = self
            .keys()
            .identity_wrap
            .seal(key.as_bytes(), id.0.as_bytes())?;
        tessera_store::identities::insert_key(tx, tenant, id, &wrapped, self.now()).await?;
        Ok(key)
    }

    /// The sealing key of an identity, or `None` once it was destroyed.
    pub(crate) async fn identity_key(
        &self,
        x: &mut impl Exec,
        id: IdentityId,
    ) -> Result<Option<SecretKey>> {
        let Some(wrapped) = tessera_store::identities::key(x, id).await? else {
            return Ok(None);
        };
        let raw = self.keys().identity_wrap.open(&wrapped, id.0.as_bytes())?;
        Ok(Some(SecretKey::from_bytes(&raw)?))
    }

    /// Appends an event in the caller's transaction. `key` is the identity key for the personal part,
    /// when the caller already holds it.
    pub(crate) async fn record(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        ev: NewEvent,
        key: Option<&SecretKey>,
    ) -> Result<()> {
        let stored = self.sealed_event(tx, caller, ev, key).await?;
        // Queued behind the transaction with the change's other writes (its `seq` is not needed here).
        tessera_store::events::append_all(tx, &[stored]).await?;
        Ok(())
    }

    /// Appends the events of one change in the caller's transaction, in order, with one statement.
    pub(crate) async fn record_all(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        events: Vec<NewEvent>,
    ) -> Result<()> {
        let mut stored = Vec::with_capacity(events.len());
        for ev in events {
            stored.push(self.sealed_event(tx, caller, ev, None).await?);
        }
        tessera_store::events::append_all(tx, &stored).await?;
        Ok(())
    }

    /// An event as it is stored: its personal part sealed, its hash computed.
    async fn sealed_event(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        ev: NewEvent,
        key: Option<&SecretKey>,
    ) -> Result<StoredEvent> {
        let id = EventId::new();
        let (sealed, sealed_for) = match &ev.personal {
            None => (None, None),
            Some((owner, personal)) => {
                let loaded;
                let key = match key {
                    Some(k) => k,
                    None => {
                        loaded = self.identity_key(tx, *owner).await?;
                        match &loaded {
                            Some(k) => k,
                            None => {
                                return Err(CoreError::Internal(format!(
                                    "no sealing key for identity {owner}"
                                )));
                            }
                        }
                    }
                };
                let plain =
                    serde_json::to_vec(personal).map_err(|e| CoreError::Internal(e.to_string()))?;
                (Some(key.seal(&plain, id.0.as_bytes())?), Some(*owner))
            }
        };
        let mut stored = StoredEvent {
            seq: 0,
            id,
            tenant_id: ev.tenant_id,
            kind: ev.kind.to_owned(),
            subject: ev.subject,
            actor: caller.actor.0.clone(),
            request_id: caller.request_id.clone(),
            occurred_at: self.now(),
            data: ev.data.to_string(),
            sealed,
            sealed_for,
            hash: Vec::new(),
        };
        stored.hash = event_hash(&stored).to_vec();
        Ok(stored)
    }
}

/// Reading the event log, borrowed from the facade: `t.events().query(..)`. Writing stays on
/// [`Tessera::record`], inside the transaction of each change.
#[derive(Clone, Copy, Debug)]
pub struct Events<'a> {
    t: &'a Tessera,
}

impl Tessera {
    /// Event log queries.
    pub fn events(&self) -> Events<'_> {
        Events { t: self }
    }
}

impl Events<'_> {
    /// Reads a tenant's events by subject, type and time range, oldest first, with personal data opened.
    pub async fn query(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        q: EventQuery,
    ) -> Result<Paged<EventView>> {
        caller.require(tessera_model::api_key::Permission::EventRead)?;
        let mut conn = self.t.db().conn().await?;
        let tenant = self
            .t
            .tenant_in_scope(&mut conn, caller, tenant_slug)
            .await?;
        let after = match &q.cursor {
            None => 0,
            Some(c) => c.parse::<i64>().map_err(|_| {
                CoreError::bad_request("bad_cursor", "the cursor is not one this API returned")
            })?,
        };
        let limit = q.limit.unwrap_or(100).clamp(1, 1000);
        let filter = EventFilter {
            subject: q.subject,
            kind: q.kind,
            from: q.from,
            until: q.until,
        };
        let rows =
            tessera_store::events::query(&mut conn, tenant.id, &filter, after, limit).await?;
        let mut items = Vec::with_capacity(rows.len());
        for e in rows {
            let (personal, personal_erased) = match (&e.sealed, e.sealed_for) {
                (Some(sealed), Some(owner)) => match self.t.identity_key(&mut conn, owner).await? {
                    Some(k) => {
                        let plain = k.open(sealed, e.id.0.as_bytes())?;
                        (serde_json::from_slice(&plain).ok(), false)
                    }
                    None => (None, true),
                },
                _ => (None, false),
            };
            items.push(EventView {
                seq: e.seq,
                id: e.id,
                kind: e.kind,
                subject: e.subject,
                actor: e.actor,
                request_id: e.request_id,
                occurred_at: e.occurred_at,
                data: serde_json::from_str(&e.data).unwrap_or(serde_json::Value::Null),
                personal,
                personal_erased,
            });
        }
        let next_cursor = if items.len() == limit as usize {
            items.last().map(|e| e.seq.to_string())
        } else {
            None
        };
        Ok(Paged { items, next_cursor })
    }
}
