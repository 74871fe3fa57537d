//! Admin API keys, their roles, and what each role may do.
//!
//! The permission table in [`Role::allows`] is the single source of truth: the admin API checks it on
//! every request, the docs print it (`docs/admin-roles.md`), and a test walks every role against every
//! endpoint.
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{ApiKeyId, TenantId};

/// The job an admin key is for. Each team of the business gets the least it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including tenants and keys.
    Owner,
    /// Security team: policies, keys, audit log.
    Security,
    /// Product team: journeys, attribute schema, policies.
    Product,
    /// Customer support: customers and organizations, the event log.
    Support,
    /// Privacy/legal: reads data and events, erases customers.
    Privacy,
    /// Read-only dashboards; no personal data from the event log.
    Readonly,
    /// Operations: keeps delivery running (the mail queue's dead letters, and replaying them), with a
    /// read-only view of tenants and settings. Sees a dead mail's recipient, never its content.
    Operations,
}

/// Every action the admin API can take, as checked per endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    TenantRead,
    TenantWrite,
    IdentityRead,
    IdentityWrite,
    /// Marking identifiers verified through the admin API, taking a verified one away, or attaching a
    /// new email or phone to a proven identity (REG-01): trusted for sign-in and recovery, so not part
    /// of `identity:write`.
    IdentityVerify,
    IdentityDelete,
    SchemaRead,
    SchemaWrite,
    PolicyRead,
    PolicyWrite,
    OrganizationRead,
    OrganizationWrite,
    ApiKeyRead,
    ApiKeyWrite,
    EventRead,
    AuditVerify,
    /// Listing the mail queue's dead letters: recipient, template, attempts, last error; never content.
    MailRead,
    /// Putting a dead letter back in the mail queue.
    MailReplay,
    /// Reading OAuth client registrations (never their secrets).
    ClientRead,
    /// Registering, changing and deleting OAuth clients and minting their secrets: a client decides
    /// which apps customers sign in to, so it is a security-level right.
    ClientWrite,
}

impl Permission {
    /// Every permission, for documentation and exhaustive tests.
    pub const ALL: [Permission; 20] = [
        Self::TenantRead,
        Self::TenantWrite,
        Self::IdentityRead,
        Self::IdentityWrite,
        Self::IdentityVerify,
        Self::IdentityDelete,
        Self::SchemaRead,
        Self::SchemaWrite,
        Self::PolicyRead,
        Self::PolicyWrite,
        Self::OrganizationRead,
        Self::OrganizationWrite,
        Self::ApiKeyRead,
        Self::ApiKeyWrite,
        Self::EventRead,
        Self::AuditVerify,
        Self::MailRead,
        Self::MailReplay,
        Self::ClientRead,
        Self::ClientWrite,
    ];

    /// Stable name, used in docs and in 403 problem details.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::TenantRead => "tenant:read",
            Self::TenantWrite => "tenant:write",
            Self::IdentityRead => "identity:read",
            Self::IdentityWrite => "identity:write",
            Self::IdentityVerify => "identity:verify",
            Self::IdentityDelete => "identity:delete",
            Self::SchemaRead => "schema:read",
            Self::SchemaWrite => "schema:write",
            Self::PolicyRead => "policy:read",
            Self::PolicyWrite => "policy:write",
            Self::OrganizationRead => "organization:read",
            Self::OrganizationWrite => "organization:write",
            Self::ApiKeyRead => "api_key:read",
            Self::ApiKeyWrite => "api_key:write",
            Self::EventRead => "event:read",
            Self::AuditVerify => "audit:verify",
            Self::MailRead => "mail:read",
            Self::MailReplay => "mail:replay",
            Self::ClientRead => "client:read",
            Self::ClientWrite => "client:write",
        }
    }
}

impl Role {
    /// Every role, for documentation and exhaustive tests.
    pub const ALL: [Role; 7] = [
        Self::Owner,
        Self::Security,
        Self::Product,
        Self::Support,
        Self::Privacy,
        Self::Readonly,
        Self::Operations,
    ];

    /// Stable text form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Security => "security",
            Self::Product => "product",
            Self::Support => "support",
            Self::Privacy => "privacy",
            Self::Readonly => "readonly",
            Self::Operations => "operations",
        }
    }

    /// Inverse of [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Deny by default: a role may do only what is listed here.
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        use Role::*;
        match self {
            Owner => true,
            Security => matches!(
                p,
                TenantRead
                    | IdentityRead
                    | SchemaRead
                    | PolicyRead
                    | PolicyWrite
                    | OrganizationRead
                    | ApiKeyRead
                    | ApiKeyWrite
                    | EventRead
                    | AuditVerify
                    | ClientRead
                    | ClientWrite
            ),
            Product => matches!(
                p,
                TenantRead
                    | IdentityRead
                    | SchemaRead
                    | SchemaWrite
                    | PolicyRead
                    | PolicyWrite
                    | OrganizationRead
                    | ClientRead
            ),
            Support => matches!(
                p,
                TenantRead
                    | IdentityRead
                    | IdentityWrite
                    | SchemaRead
                    | PolicyRead
                    | OrganizationRead
                    | OrganizationWrite
                    | EventRead
            ),
            Privacy => matches!(
                p,
                TenantRead
                    | IdentityRead
                    | IdentityDelete
                    | SchemaRead
                    | PolicyRead
                    | OrganizationRead
                    | EventRead
                    | ClientRead
            ),
            Readonly => matches!(
                p,
                TenantRead | IdentityRead | SchemaRead | PolicyRead | OrganizationRead | ClientRead
            ),
            Operations => matches!(
                p,
                TenantRead | SchemaRead | PolicyRead | MailRead | MailReplay
            ),
        }
    }

    /// A key may only mint keys whose rights are a subset of its own, so no role can escalate itself.
    pub fn can_grant(self, other: Role) -> bool {
        Permission::ALL
            .iter()
            .all(|p| !other.allows(*p) || self.allows(*p))
    }
}

/// An admin API key as stored; the secret itself is never kept, only its keyed hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: ApiKeyId,
    /// `None`: the key works across all tenants (deployment operators). `Some`: only inside that tenant.
    pub tenant_id: Option<TenantId>,
    pub name: String,
    pub role: Role,
    /// The first characters of the secret, so a human can tell keys apart without the secret.
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl ApiKey {
    /// A key works only until it expires or is revoked.
    pub fn is_usable(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// Key names identify keys in config files (`tessera apply`), so they stay simple.
pub fn check_key_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_may_do_everything_and_readonly_never_writes() {
        for p in Permission::ALL {
            assert!(Role::Owner.allows(p));
            if p.as_str().ends_with(":write") || p.as_str().ends_with(":delete") {
                assert!(!Role::Readonly.allows(p), "{}", p.as_str());
            }
        }
    }

    #[test]
    fn readonly_cannot_read_the_event_log_with_its_personal_data() {
        assert!(!Role::Readonly.allows(Permission::EventRead));
    }

    #[test]
    fn reg_01_only_owners_mark_identifiers_verified() {
        for r in Role::ALL {
            assert_eq!(r.allows(Permission::IdentityVerify), r == Role::Owner);
        }
        assert!(Role::Support.allows(Permission::IdentityWrite));
    }

    #[test]
    fn only_owners_and_operations_see_and_replay_dead_mail() {
        for r in Role::ALL {
            let ops = matches!(r, Role::Owner | Role::Operations);
            assert_eq!(r.allows(Permission::MailRead), ops, "{}", r.as_str());
            assert_eq!(r.allows(Permission::MailReplay), ops, "{}", r.as_str());
        }
        assert!(!Role::Operations.allows(Permission::IdentityRead));
        assert!(!Role::Operations.allows(Permission::EventRead));
    }

    #[test]
    fn only_owners_manage_tenants() {
        for r in Role::ALL {
            assert_eq!(r.allows(Permission::TenantWrite), r == Role::Owner);
        }
    }

    #[test]
    fn no_role_can_grant_more_than_it_has() {
        assert!(Role::Owner.can_grant(Role::Security));
        assert!(
            Role::Security.can_grant(Role::Readonly)
                || !Role::Security.allows(Permission::OrganizationRead)
        );
        assert!(!Role::Security.can_grant(Role::Owner));
        assert!(
            !Role::Security.can_grant(Role::Support),
            "support writes identities, security does not"
        );
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
