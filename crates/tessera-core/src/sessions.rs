//! Customer sessions: created on sign-in with a fresh random token (never promoted from anything the
//! browser held before), stored server-side under a keyed hash, bounded by the tenant's idle and absolute
//! lifetimes, listed and revoked by the customer and the admin API.
use serde::Serialize;
use serde_json::json;
use tessera_model::event::{NewEvent, identity_subject};
use tessera_model::policy::SessionPolicy;
use tessera_model::{IdentityId, TenantId};
use tessera_store::Tx;
use tessera_store::sessions::StoredSession;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Caller, CoreError, Result, Tessera};

/// Event kinds, from the one catalogue (`docs/events.md`).
pub use tessera_model::event::types;

/// A live session as its owner (or an admin) sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub identity_id: IdentityId,
    pub aal: i64,
    pub amr: Vec<String>,
    /// When each sign-in method (by id) was last proven in this session (RFC 3339).
    pub factors: std::collections::BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub authenticated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// True for the session making the request.
    pub current: bool,
}

impl SessionView {
    fn from(s: StoredSession, current: Option<Uuid>) -> Self {
        Self {
            current: Some(s.id) == current,
            id: s.id,
            identity_id: s.identity_id,
            aal: s.aal,
            amr: s.amr,
            factors: s
                .factors
                .iter()
                .map(|(m, t)| {
                    let at = t
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default();
                    (m.clone(), at)
                })
                .collect(),
            created_at: s.created_at,
            authenticated_at: s.authenticated_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            user_agent: s.user_agent,
            ip: s.ip,
        }
    }
}

/// Who is signed in, resolved from a session token.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    pub session: StoredSession,
}

/// Where a request comes from, recorded with the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Tessera {
    /// Opens a session for an identity inside the caller's transaction; returns the token for the cookie
    /// and the `session.created` event, which the caller must record in the same transaction (with the
    /// sign-in's own event, in one statement). `proven` are the ids of the methods the sign-in used: the
    /// session's `amr`, its assurance level and the time of each factor come from them, never from the
    /// journey.
    pub(crate) async fn open_session(
        &self,
        tx: &mut Tx,
        tenant: TenantId,
        identity: IdentityId,
        proven: &[crate::methods::Proof],
        policy: &SessionPolicy,
        client: &ClientInfo,
    ) -> Result<(String, NewEvent)> {
        let token = tessera_crypto::random_token()?;
        let now = self.now();
        let methods = self.methods();
        let used: Vec<&dyn crate::methods::Method> = proven
            .iter()
            .filter_map(|p| methods.get(&p.method))
            .map(|m| m.as_ref())
            .collect();
        if used.len() != proven.len() || used.is_empty() {
            return Err(CoreError::Internal(format!(
                "a sign-in proved by unknown methods {proven:?}"
            )));
        }
        let mut amr: Vec<String> = Vec::new();
        for m in &used {
            if !amr.iter().any(|a| a == m.amr()) {
                amr.push(m.amr().into());
            }
        }
        if used.len() > 1 && !amr.iter().any(|a| a == "mfa") {
            amr.push("mfa".into());
        }
        let s = StoredSession {
            id: Uuid::now_v7(),
            tenant_id: tenant,
            identity_id: identity,
            aal: crate::methods::aal(used.iter().copied()),
            amr,
            factors: proven.iter().map(|p| (p.method.clone(), p.at)).collect(),
            created_at: now,
            // The sign-in is as recent as its earliest factor (SES-08 measures from it).
            authenticated_at: proven.iter().map(|p| p.at).min().unwrap_or(now),
            last_seen_at: now,
            idle_expires_at: now + time::Duration::minutes(i64::from(policy.idle_timeout_minutes)),
            expires_at: now + time::Duration::hours(i64::from(policy.absolute_lifetime_hours)),
            revoked_at: None,
            user_agent: client
                .user_agent
                .as_ref()
                .map(|u| u.chars().take(300).collect()),
            ip: client.ip.clone(),
        };
        tessera_store::sessions::insert(tx, &s, &self.keys().secret_hasher.hash(&token)).await?;
        let ev = NewEvent::new(
            tenant,
            types::SESSION_CREATED,
            identity_subject(identity),
            json!({"identity_id": identity, "session_id": s.id, "aal": s.aal, "amr": s.amr}),
        )
        .with_personal(identity, json!({"ip": s.ip, "user_agent": s.user_agent}));
        Ok((token, ev))
    }
}

/// Customer sessions, borrowed from the facade: `t.sessions().from_token(tenant, token)`. A customer's
/// own sessions (resolve a token, list, revoke one, sign out) and the admin API's list and revoke;
/// opening a session and revoking all of an identity's stay crate-internal helpers on the facade.
#[derive(Clone, Copy, Debug)]
pub struct Sessions<'a> {
    t: &'a Tessera,
}

impl Tessera {
    /// Customer sessions.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { t: self }
    }
}

impl Sessions<'_> {
    /// Resolves a session token of a tenant; expired, idle or revoked sessions resolve to `None`.
    /// Activity moves the idle deadline (written at most once a minute).
    pub async fn from_token(
        &self,
        tenant_slug: &str,
        token: &str,
    ) -> Result<Option<ActiveSession>> {
        if token.is_empty() || token.len() > 100 {
            return Ok(None);
        }
        // The tenant from this node's copy (its id never changes); the session and its customer are
        // read now, never cached.
        let tenant = match self.t.tenant_by_slug(tenant_slug).await {
            Ok(t) => t,
            Err(CoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut conn = self.t.db().conn().await?;
        let hash = self.t.keys().secret_hasher.hash(token);
        let Some(s) = tessera_store::sessions::by_token_hash(&mut conn, &hash).await? else {
            return Ok(None);
        };
        let now = self.t.now();
        if s.tenant_id != tenant.id || !s.is_live(now) {
            return Ok(None);
        }
        let state = tessera_store::identities::state(&mut conn, tenant.id, s.identity_id).await?;
        if state != Some(tessera_model::identity::IdentityState::Active) {
            return Ok(None);
        }
        drop(conn);
        if now - s.last_seen_at > time::Duration::minutes(1) {
            let policy = self.t.effective_policy_doc(tenant.id).await?.sessions;
            let idle = (now + time::Duration::minutes(i64::from(policy.idle_timeout_minutes)))
                .min(s.expires_at);
            let mut tx = self.t.db().begin().await?;
            tessera_store::sessions::touch(&mut tx, s.id, now, idle).await?;
            tx.commit().await?;
        }
        Ok(Some(ActiveSession { session: s }))
    }

    /// The live sessions of the signed-in customer.
    pub async fn mine(&self, active: &ActiveSession) -> Result<Vec<SessionView>> {
        let mut conn = self.t.db().conn().await?;
        let all =
            tessera_store::sessions::list_live(&mut conn, active.session.identity_id, self.t.now())
                .await?;
        Ok(all
            .into_iter()
            .map(|s| SessionView::from(s, Some(active.session.id)))
            .collect())
    }

    /// Revokes one of the customer's own sessions (or the current one, which signs out).
    pub async fn revoke(&self, active: &ActiveSession, id: Uuid) -> Result<()> {
        let mut tx = self.t.db().begin().await?;
        let s = &active.session;
        if !tessera_store::sessions::revoke(&mut tx, s.identity_id, id, self.t.now()).await? {
            return Err(CoreError::NotFound { what: "session" });
        }
        let ev = NewEvent::new(
            s.tenant_id,
            types::SESSION_REVOKED,
            identity_subject(s.identity_id),
            json!({"identity_id": s.identity_id, "session_id": id, "by": "customer"}),
        );
        self.t.record(&mut tx, &Caller::system(), ev, None).await?;
        crate::oauth::backchannel::sessions_ended(self.t, &mut tx, s.identity_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Signs out: revokes the current session.
    pub async fn sign_out(&self, active: &ActiveSession) -> Result<()> {
        self.revoke(active, active.session.id).await
    }
}

impl Tessera {
    /// Revokes every session of an identity except `keep`, recording why, and voids its pending codes and
    /// links (REC-02: an email change or recovery in flight must not outlive the sessions). Every app
    /// grant of the identity ends too except those bound to `keep`: its refresh-token families, offline
    /// ones included, and the access tokens they brought (REC-07, SES-06, R10-1), so neither a stolen
    /// offline grant outlives a password change nor a later reactivation brings any grant back.
    pub(crate) async fn revoke_sessions_of(
        &self,
        tx: &mut Tx,
        tenant: TenantId,
        identity: IdentityId,
        keep: Option<Uuid>,
        reason: &'static str,
    ) -> Result<u64> {
        // The identity's row first (the security stamp), then its sessions: a family's creation locks
        // the identity alone, so every path that ends grants takes the same first lock (R11-2).
        self.void_codes_of(tx, identity).await?;
        let n = tessera_store::sessions::revoke_all(tx, identity, keep, self.now()).await?;
        crate::oauth::refresh_tokens::revoke_families_of(
            self, tx, tenant, identity, None, keep, reason,
        )
        .await?;
        if n > 0 {
            crate::oauth::backchannel::sessions_ended(self, tx, identity).await?;
            let ev = NewEvent::new(
                tenant,
                types::SESSION_REVOKED,
                identity_subject(identity),
                json!({"identity_id": identity, "count": n, "reason": reason}),
            );
            self.record(tx, &Caller::system(), ev, None).await?;
        }
        Ok(n)
    }
}

impl Sessions<'_> {
    /// Admin: the live sessions of an identity.
    pub async fn admin_list(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        identity: IdentityId,
    ) -> Result<Vec<SessionView>> {
        caller.require(tessera_model::api_key::Permission::IdentityRead)?;
        let mut conn = self.t.db().conn().await?;
        let t = self
            .t
            .tenant_in_scope(&mut conn, caller, tenant_slug)
            .await?;
        tessera_store::identities::get(&mut conn, t.id, identity)
            .await?
            .ok_or(CoreError::NotFound { what: "identity" })?;
        let all = tessera_store::sessions::list_live(&mut conn, identity, self.t.now()).await?;
        Ok(all
            .into_iter()
            .map(|s| SessionView::from(s, None))
            .collect())
    }

    /// Admin: revokes every session of an identity and voids its pending codes and links (REC-02), and
    /// ends every app grant of the identity, offline refresh tokens included (SES-07).
    pub async fn admin_revoke(
        &self,
        caller: &Caller,
        tenant_slug: &str,
        identity: IdentityId,
    ) -> Result<u64> {
        caller.require(tessera_model::api_key::Permission::IdentityWrite)?;
        let mut tx = self.t.db().begin().await?;
        let t = self.t.tenant_in_scope(&mut tx, caller, tenant_slug).await?;
        tessera_store::identities::get(&mut tx, t.id, identity)
            .await?
            .ok_or(CoreError::NotFound { what: "identity" })?;
        // The identity's row before its sessions, as in `revoke_sessions_of` (R11-2).
        self.t.void_codes_of(&mut tx, identity).await?;
        let n = tessera_store::sessions::revoke_all(&mut tx, identity, None, self.t.now()).await?;
        crate::oauth::refresh_tokens::revoke_families_of(
            self.t,
            &mut tx,
            t.id,
            identity,
            None,
            None,
            "sessions_revoked_by_admin",
        )
        .await?;
        crate::oauth::backchannel::sessions_ended(self.t, &mut tx, identity).await?;
        let ev = NewEvent::new(
            t.id,
            types::SESSION_REVOKED,
            identity_subject(identity),
            json!({"identity_id": identity, "count": n, "by": "admin"}),
        );
        self.t.record(&mut tx, caller, ev, None).await?;
        tx.commit().await?;
        Ok(n)
    }
}

impl Tessera {
    /// The tenant's effective policy document (tenant scope), for flows.
    pub(crate) async fn effective_policy_doc(
        &self,
        tenant: TenantId,
    ) -> Result<tessera_model::policy::PolicyDocument> {
        if let Some(p) = self.tenant_cache().policy(tenant) {
            return Ok(p);
        }
        let mut conn = self.db().conn().await?;
        let doc = tessera_store::policies::latest(&mut conn, tenant, "tenant")
            .await?
            .map(|p| p.document)
            .unwrap_or(json!({}));
        let policy: tessera_model::policy::PolicyDocument = serde_json::from_value(doc)
            .map_err(|e| CoreError::Internal(format!("stored policy: {e}")))?;
        self.tenant_cache().put_policy(tenant, &policy);
        Ok(policy)
    }
}
