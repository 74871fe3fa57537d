//! What the OAuth endpoints read on every request, kept on each node for a few seconds (see
//! [`crate::ttl_cache`] for how a local change is seen at once):
//!
//! - a client's registration and secret hashes, by tenant and client id, for [`CLIENT_TTL`]. A client
//!   deleted, re-registered or given a new secret on this node is read afresh on the next request; on
//!   another node the old registration (a deleted client, a secret rotated out with no grace) is
//!   honoured at most [`CLIENT_TTL`] longer. A rotated-out secret's grace end is checked against the
//!   clock on every request, cached or not. An unknown client id is never cached, so a client
//!   registered on another node works there at once.
//! - the discovery document of each tenant slug, rendered, for [`DISCOVERY_TTL`] (it depends on the
//!   issuer, whose slug never changes, and on the scopes of the tenant's attribute schema: a schema
//!   saved on this node is seen at once, on another within the TTL).
//!
//! Revocations of tokens and the sessions behind them are not cached: they are read on every request.
use std::sync::Arc;

use tessera_model::TenantId;
use tessera_model::oauth_client::OAuthClient;
use tessera_store::oauth_clients::StoredClient;
use time::Duration;

use crate::ttl_cache::TtlCache;

/// How long another node's change to a client (deletion, secret rotation, new settings) may take to
/// show on this one.
pub const CLIENT_TTL: Duration = Duration::seconds(5);

/// How long a node serves the discovery document it rendered.
pub const DISCOVERY_TTL: Duration = Duration::seconds(5);

/// A client as read from the store: its parsed registration and the row (secret hashes).
pub(crate) type CachedClient = Arc<(OAuthClient, StoredClient)>;

pub(crate) struct OAuthCache {
    pub(crate) clients: TtlCache<(TenantId, String), CachedClient>,
    pub(crate) discovery: TtlCache<String, Arc<str>>,
}

/// Secret hashes stay out of debug output.
impl std::fmt::Debug for OAuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthCache").finish_non_exhaustive()
    }
}

impl Default for OAuthCache {
    fn default() -> Self {
        Self {
            clients: TtlCache::new(CLIENT_TTL),
            discovery: TtlCache::new(DISCOVERY_TTL),
        }
    }
}
