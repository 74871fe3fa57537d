//! The event log's records. Every change writes one in the same transaction.
//!
//! Event types are `noun.past_tense_verb` (`identity.created`). Later capabilities (webhooks, funnels, the
//! support timeline) subscribe by these names, so a name never changes meaning once shipped.
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{EventId, IdentityId, TenantId};

/// The names of every event type Tessera writes, in one place.
pub mod types {
    pub const TENANT_CREATED: &str = "tenant.created";
    pub const TENANT_UPDATED: &str = "tenant.updated";
    pub const IDENTITY_CREATED: &str = "identity.created";
    pub const IDENTITY_UPDATED: &str = "identity.updated";
    pub const IDENTITY_SUSPENDED: &str = "identity.suspended";
    pub const IDENTITY_REACTIVATED: &str = "identity.reactivated";
    pub const IDENTITY_DELETION_SCHEDULED: &str = "identity.deletion_scheduled";
    pub const IDENTITY_DELETED: &str = "identity.deleted";
    /// An admin marked identifiers verified (REG-01); the clear part names their kinds only.
    pub const IDENTIFIERS_MARKED_VERIFIED: &str = "identity.identifiers_marked_verified";
    pub const ATTRIBUTE_SCHEMA_UPDATED: &str = "attribute_schema.updated";
    pub const POLICY_UPDATED: &str = "policy.updated";
    pub const ORGANIZATION_CREATED: &str = "organization.created";
    pub const ORGANIZATION_UPDATED: &str = "organization.updated";
    pub const ORGANIZATION_DELETED: &str = "organization.deleted";
    pub const ORGANIZATION_MEMBER_ADDED: &str = "organization.member_added";
    pub const ORGANIZATION_MEMBER_UPDATED: &str = "organization.member_updated";
    pub const ORGANIZATION_MEMBER_REMOVED: &str = "organization.member_removed";
    pub const API_KEY_CREATED: &str = "api_key.created";
    pub const API_KEY_REVOKED: &str = "api_key.revoked";
    /// An admin put a dead-lettered mail back in the queue; subject `mail:<id>`, clear part the template.
    pub const MAIL_REPLAYED: &str = "mail.replayed";
}

/// Who caused an event. Stored as text: `api_key:<id>`, `cli`, `system`, later `identity:<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Actor(pub String);

impl Actor {
    pub fn api_key(id: crate::ApiKeyId) -> Self {
        Self(format!("api_key:{id}"))
    }
    pub fn cli(command: &str) -> Self {
        Self(format!("cli:{command}"))
    }
    pub fn system() -> Self {
        Self("system".into())
    }
}

/// An event about to be appended. `personal` holds personal data: it is sealed with the key of
/// `personal_owner` before it reaches storage, so erasing that identity shreds it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub tenant_id: TenantId,
    pub kind: &'static str,
    /// What the event is about: `identity:<id>`, `organization:<id>`, `tenant`, `policy:tenant`...
    pub subject: String,
    pub data: serde_json::Value,
    pub personal: Option<(IdentityId, serde_json::Value)>,
}

impl NewEvent {
    /// An event with no personal data.
    pub fn new(
        tenant_id: TenantId,
        kind: &'static str,
        subject: impl Into<String>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            tenant_id,
            kind,
            subject: subject.into(),
            data,
            personal: None,
        }
    }

    /// Attaches personal data, sealed for `owner`.
    pub fn with_personal(mut self, owner: IdentityId, personal: serde_json::Value) -> Self {
        self.personal = Some((owner, personal));
        self
    }
}

/// The subject string of an identity, shared by every event about it.
pub fn identity_subject(id: IdentityId) -> String {
    format!("identity:{id}")
}

/// An event as stored. `sealed` is the AEAD ciphertext of the personal part, opaque to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Position in the deployment-wide log; increases with insertion, may have gaps.
    pub seq: i64,
    pub id: EventId,
    pub tenant_id: TenantId,
    pub kind: String,
    pub subject: String,
    pub actor: String,
    pub request_id: Option<String>,
    pub occurred_at: OffsetDateTime,
    /// The non-personal data, as the exact JSON text that was hashed.
    pub data: String,
    pub sealed: Option<Vec<u8>>,
    pub sealed_for: Option<IdentityId>,
    /// Hash of the event's content, computed at write time; checkpoints commit to it.
    pub hash: Vec<u8>,
}

/// A sealed checkpoint over a range of a tenant's events: `(after_seq, upto_seq]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub tenant_id: TenantId,
    pub after_seq: i64,
    pub upto_seq: i64,
    pub event_count: i64,
    /// Digest over `(seq, hash)` of every event in the range, chained to `prev_digest`.
    pub digest: Vec<u8>,
    pub prev_digest: Vec<u8>,
    /// MAC over the checkpoint with a key derived from the master key, which is not in the database.
    pub mac: Vec<u8>,
    pub created_at: OffsetDateTime,
}
