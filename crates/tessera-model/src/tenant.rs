//! Tenants: the outermost isolation boundary. Every other record belongs to exactly one tenant.
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::TenantId;

/// The tenant every deployment has from its first start.
pub const DEFAULT_TENANT_SLUG: &str = "default";

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: TenantId,
    /// URL-safe name used in paths (`/t/{slug}`) and in config files.
    pub slug: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Bumped on every change; the ETag of the resource.
    pub version: i64,
}

/// Why a tenant slug or name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantFieldError {
    #[error("a tenant slug is 1 to 63 characters of a-z, 0-9 and '-', starting with a letter")]
    BadSlug,
    #[error("a tenant name is 1 to 200 characters")]
    BadName,
}

/// Slugs appear in URLs and issuer identifiers, so they are kept to a conservative alphabet.
pub fn check_slug(slug: &str) -> Result<(), TenantFieldError> {
    let mut chars = slug.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if first_ok && rest_ok && slug.len() <= 63 && !slug.ends_with('-') {
        Ok(())
    } else {
        Err(TenantFieldError::BadSlug)
    }
}

/// Display names are free text but bounded.
pub fn check_name(name: &str) -> Result<(), TenantFieldError> {
    let n = name.trim().chars().count();
    if (1..=200).contains(&n) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(TenantFieldError::BadName)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_dns_like_labels() {
        assert!(check_slug("default").is_ok());
        assert!(check_slug("acme-eu-2").is_ok());
        for bad in [
            "",
            "Acme",
            "2acme",
            "acme-",
            "ac me",
            "acme_eu",
            &"a".repeat(64),
        ] {
            assert!(check_slug(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn names_are_bounded_and_printable() {
        assert!(check_name("Acme Corp").is_ok());
        assert!(check_name("  ").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(201)).is_err());
    }
}
