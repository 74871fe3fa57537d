//! Organizations: B2B customers inside a tenant, with their domains and members.
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{IdentityId, OrganizationId, TenantId};

/// An organization as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Organization {
    pub id: OrganizationId,
    pub tenant_id: TenantId,
    pub name: String,
    /// Email domains that belong to this organization (normalised, ASCII). Unique per tenant, so a
    /// domain routes to exactly one organization.
    pub domains: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

/// A membership of an identity in an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Member {
    pub organization_id: OrganizationId,
    pub identity_id: IdentityId,
    /// Free-form role names defined by the business (`admin`, `billing`, ...).
    pub roles: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Why an organization field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrganizationFieldError {
    #[error("an organization name is 1 to 200 characters")]
    BadName,
    #[error("{0:?} is not a valid domain name")]
    BadDomain(String),
    #[error("a member role is 1 to 64 characters of a-z, 0-9, '_' and '-'")]
    BadRole,
    #[error("at most 100 domains and 50 roles")]
    TooMany,
}

/// Normalises a domain to its lowercase ASCII (punycode) form, the same way email domains are.
pub fn normalize_domain(raw: &str) -> Result<String, OrganizationFieldError> {
    let probe = format!("x@{}", raw.trim());
    crate::identifier::normalize(crate::identifier::IdentifierKind::Email, &probe)
        .ok()
        .and_then(|n| n.value.split_once('@').map(|(_, d)| d.to_owned()))
        .ok_or_else(|| OrganizationFieldError::BadDomain(raw.to_owned()))
}

/// Checks and normalises an organization's editable fields; returns the normalised domains.
pub fn check_fields(name: &str, domains: &[String]) -> Result<Vec<String>, OrganizationFieldError> {
    crate::tenant::check_name(name).map_err(|_| OrganizationFieldError::BadName)?;
    if domains.len() > 100 {
        return Err(OrganizationFieldError::TooMany);
    }
    let mut out: Vec<String> = Vec::with_capacity(domains.len());
    for d in domains {
        let n = normalize_domain(d)?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

/// Member roles are names an application matches on, so they stay simple.
pub fn check_roles(roles: &[String]) -> Result<(), OrganizationFieldError> {
    if roles.len() > 50 {
        return Err(OrganizationFieldError::TooMany);
    }
    for r in roles {
        let ok = (1..=64).contains(&r.len())
            && r.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !ok {
            return Err(OrganizationFieldError::BadRole);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_and_deduplicated() {
        let got = check_fields(
            "Globex",
            &[
                "Globex.COM".into(),
                "globex.com.".into(),
                "bücher.example".into(),
            ],
        );
        assert_eq!(
            got,
            Ok(vec![
                "globex.com".to_owned(),
                "xn--bcher-kva.example".to_owned()
            ])
        );
    }

    #[test]
    fn bad_domains_and_roles_are_refused() {
        assert!(check_fields("Globex", &["not a domain".into()]).is_err());
        assert!(check_fields("", &[]).is_err());
        assert!(check_roles(&["Admin".into()]).is_err());
        assert!(check_roles(&["admin".into(), "billing-viewer".into()]).is_ok());
    }
}
