//! The tenants the hosted journeys name by slug, and their policies, kept in memory for a few seconds:
//! every page view and every submission reads its tenant, and a sign-in read it four times and its
//! policy three (the methods offered, the session lifetimes).
//!
//! Policies: the node that stores a tenant's new policy forgets its entry at once; every other node
//! follows within [`TTL`], so a method a tenant stops offering can still be used there for a few seconds.
//!
//! Why it is correct: a tenant's id and slug never change and a tenant is never deleted, so a cached
//! entry can only be behind on its name (and version and update time). The node that renames a tenant
//! drops its entry at once; every other node sees the new name within [`TTL`]. Journeys use the name
//! only in the text of the mails they send. A slug that names no tenant is not cached, so a tenant
//! created on another node is found at once.
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tessera_model::TenantId;
use tessera_model::policy::PolicyDocument;
use tessera_model::tenant::Tenant;

/// How long another node's rename may take to show.
const TTL: Duration = Duration::from_secs(5);
/// Entries kept at most; beyond that the cache starts again empty (tenants are few, slugs asked for
/// that name nobody are never stored).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct TenantCache {
    by_slug: Mutex<HashMap<String, (Instant, Tenant)>>,
    policies: Mutex<HashMap<TenantId, (Instant, PolicyDocument)>>,
}

impl TenantCache {
    /// The cached tenant of `slug`, while it is fresh.
    pub(crate) fn get(&self, slug: &str) -> Option<Tenant> {
        let map = self.by_slug.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(slug)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, t)| t.clone())
    }

    pub(crate) fn put(&self, tenant: &Tenant) {
        let mut map = self.by_slug.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(tenant.slug.clone(), (Instant::now(), tenant.clone()));
    }

    /// The cached tenant-wide policy of `tenant`, while it is fresh.
    pub(crate) fn policy(&self, tenant: TenantId) -> Option<PolicyDocument> {
        let map = self.policies.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&tenant)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, p)| p.clone())
    }

    pub(crate) fn put_policy(&self, tenant: TenantId, policy: &PolicyDocument) {
        let mut map = self.policies.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(tenant, (Instant::now(), policy.clone()));
    }

    /// Forgets the policy of `tenant` (this node stored a new one).
    pub(crate) fn forget_policy(&self, tenant: TenantId) {
        self.policies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&tenant);
    }

    /// Forgets `slug` (this node changed it).
    pub(crate) fn forget(&self, slug: &str) {
        self.by_slug
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(slug);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tenant(slug: &str, name: &str) -> Tenant {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        Tenant {
            id: tessera_model::TenantId::new(),
            slug: slug.into(),
            name: name.into(),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    #[test]
    fn a_forgotten_or_unknown_slug_is_a_miss() {
        let c = TenantCache::default();
        assert!(c.get("a").is_none());
        c.put(&tenant("a", "A"));
        assert_eq!(c.get("a").unwrap().name, "A");
        assert!(c.get("b").is_none());
        c.forget("a");
        assert!(c.get("a").is_none());
    }

    #[test]
    fn a_policy_stored_on_this_node_is_forgotten_at_once() {
        let c = TenantCache::default();
        let t = tessera_model::TenantId::new();
        assert!(c.policy(t).is_none());
        c.put_policy(t, &PolicyDocument::default());
        assert_eq!(c.policy(t), Some(PolicyDocument::default()));
        c.forget_policy(t);
        assert!(c.policy(t).is_none());
    }
}
