//! Customer identities and the states they move through.
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::identifier::IdentifierKind;
use crate::{IdentityId, TenantId};

/// Where an identity is in its life. The allowed moves are in [`IdentityState::can_become`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentityState {
    /// A light account: known by an identifier, no credential yet. Claimed later by proving control.
    Prospect,
    Active,
    /// Cannot sign in; everything else is kept.
    Suspended,
    /// Scheduled for erasure; can still be restored until the erasure runs.
    PendingDeletion,
    /// Erased: identifiers released, attributes cleared, personal data in events crypto-shredded.
    /// The row stays as a tombstone so references in the event log still resolve.
    Deleted,
}

impl IdentityState {
    /// Stable text form, used in storage and on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Prospect => "prospect",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::PendingDeletion => "pending_deletion",
            Self::Deleted => "deleted",
        }
    }

    /// Inverse of [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "prospect" => Self::Prospect,
            "active" => Self::Active,
            "suspended" => Self::Suspended,
            "pending_deletion" => Self::PendingDeletion,
            "deleted" => Self::Deleted,
            _ => return None,
        })
    }

    /// The state machine of an identity. `Deleted` is final; a prospect becomes active only by a claim
    /// (which proves control of its identifier) or an admin activation.
    pub fn can_become(self, next: IdentityState) -> bool {
        use IdentityState::*;
        matches!(
            (self, next),
            (Prospect, Active)
                | (Prospect, Suspended)
                | (Active, Suspended)
                | (Suspended, Active)
                | (Prospect | Active | Suspended, PendingDeletion)
                | (PendingDeletion, Active)
                | (Prospect | Active | Suspended | PendingDeletion, Deleted)
        )
    }
}

/// One identifier of an identity, already normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Identifier {
    pub kind: IdentifierKind,
    /// The normalised form: what uniqueness and look-ups use.
    pub value: String,
    pub verified: bool,
}

/// A customer identity as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Identity {
    pub id: IdentityId,
    pub tenant_id: TenantId,
    pub state: IdentityState,
    pub identifiers: Vec<Identifier>,
    /// Validated against the tenant's attribute schema on every write.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Bumped on every change; the ETag of the resource, checked by `If-Match`.
    pub version: i64,
}

#[cfg(test)]
mod tests {
    use super::IdentityState::*;
    use super::*;

    const ALL: [IdentityState; 5] = [Prospect, Active, Suspended, PendingDeletion, Deleted];

    #[test]
    fn deleted_is_final() {
        for s in ALL {
            assert!(!Deleted.can_become(s));
        }
    }

    #[test]
    fn nothing_returns_to_prospect() {
        for s in ALL {
            assert!(!s.can_become(Prospect));
        }
    }

    #[test]
    fn suspension_is_reversible_and_deletion_can_be_restored_before_it_runs() {
        assert!(Active.can_become(Suspended) && Suspended.can_become(Active));
        assert!(PendingDeletion.can_become(Active) && PendingDeletion.can_become(Deleted));
    }

    #[test]
    fn text_form_round_trips() {
        for s in ALL {
            assert_eq!(IdentityState::parse(s.as_str()), Some(s));
        }
        assert_eq!(IdentityState::parse("Active"), None);
    }
}
