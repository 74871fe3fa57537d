//! The tenants the hosted journeys name by slug, kept in memory for a few seconds: every page view and
//! every submission reads its tenant, and a sign-in read it four times.
//!
//! Why it is correct: a tenant's id and slug never change and a tenant is never deleted, so a cached
//! entry can only be behind on its name (and version and update time). The node that renames a tenant
//! drops its entry at once; every other node sees the new name within [`TTL`]. Journeys use the name
//! only in the text of the mails they send. A slug that names no tenant is not cached, so a tenant
//! created on another node is found at once.
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tessera_model::tenant::Tenant;

/// How long another node's rename may take to show.
const TTL: Duration = Duration::from_secs(5);
/// Entries kept at most; beyond that the cache starts again empty (tenants are few, slugs asked for
/// that name nobody are never stored).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct TenantCache {
    by_slug: Mutex<HashMap<String, (Instant, Tenant)>>,
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
}
