//! Which browser origins may call the token, userinfo and revocation endpoints (WEB-04): only those a
//! client of the tenant registered in `allowed_origins`, compared as exact strings (an origin is
//! `scheme://host[:port]`, as browsers send it). The server asks here and answers CORS itself.
use tessera_model::tenant::Tenant;

use super::OAuth;
use super::clients::from_stored;
use crate::{CoreError, Result};

/// Clients read per page while looking for an origin.
const PAGE: i64 = 200;

impl OAuth<'_> {
    /// Whether a browser at `origin` may call the tenant's OAuth endpoints: for `client_id`, when the
    /// request names its client, that client's registered origins; else any client's of the tenant
    /// (a preflight does not say which client it is for). An unknown tenant or client allows nothing.
    pub async fn cors_allows(
        &self,
        slug: &str,
        origin: &str,
        client_id: Option<&str>,
    ) -> Result<bool> {
        if origin.is_empty() || origin == "null" || origin.len() > 300 {
            return Ok(false);
        }
        let tenant = match self.t.tenant_by_slug(slug).await {
            Ok(t) => t,
            Err(CoreError::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        match client_id {
            Some(id) => match self.client_of(&tenant, id).await {
                Ok(c) => Ok(c.allowed_origins.iter().any(|o| o == origin)),
                Err(CoreError::NotFound { .. }) => Ok(false),
                Err(e) => Err(e),
            },
            None => self.any_client_allows(&tenant, origin).await,
        }
    }

    async fn any_client_allows(&self, tenant: &Tenant, origin: &str) -> Result<bool> {
        let mut conn = self.t.db().conn().await?;
        let mut after: Option<String> = None;
        loop {
            let page =
                tessera_store::oauth_clients::list(&mut conn, tenant.id, after.as_deref(), PAGE)
                    .await?;
            for stored in &page {
                if from_stored(stored)?
                    .allowed_origins
                    .iter()
                    .any(|o| o == origin)
                {
                    return Ok(true);
                }
            }
            match page.last() {
                Some(last) if page.len() as i64 == PAGE => after = Some(last.client_id.clone()),
                _ => return Ok(false),
            }
        }
    }
}
