//! Typed ids: a `TenantId` can never be passed where an `IdentityId` is expected. All are UUIDv7, so they
//! sort by creation time, which keyset pagination relies on.
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid)))
                    .into()
            }
        }
        impl utoipa::ToSchema for $name {}
    };
}

typed_id!(
    /// A tenant: one brand or product with its own customers, policy and keys.
    TenantId
);
typed_id!(
    /// A customer identity inside a tenant.
    IdentityId
);
typed_id!(
    /// A B2B organization inside a tenant.
    OrganizationId
);
typed_id!(
    /// An admin API key.
    ApiKeyId
);
typed_id!(
    /// An event in the log; stable across deliveries, so receivers can deduplicate on it.
    EventId
);
typed_id!(
    /// A credential of an identity (a password, a passkey…); an identity may hold many of one kind.
    CredentialId
);
