//! Refresh tokens (RFC 6749 §6) in families, rotated on every use (RFC 9700 §4.14.2).
//!
//! A family is one grant: the code exchange that started it and every token rotated from it share the
//! client, the customer, the SSO session (unless `offline_access` was granted) and the sign-in's
//! `auth_time`, `acr` and `amr`. Each use spends the presented token in one conditional UPDATE, so of any
//! number of concurrent uses exactly one wins; a spent token presented again (a replay, or the loser of
//! such a race) revokes the whole family and the access tokens minted with it (OA-10, A-14), because
//! Tessera cannot tell the thief from the customer. Tokens are random and stored only as keyed hashes,
//! like session tokens.
//!
//! A client may set a reuse grace of up to five seconds (OA-11): the winning refresh then keeps its answer
//! (successor and access token, sealed, bound to the spent token's hash) and the first request that
//! presents the spent token again within the grace gets that *same* answer instead of revoking the
//! family; a second reuse, or one after the grace, revokes it as always.
use serde_json::json;
use tessera_model::event::{NewEvent, identity_subject, types};
use tessera_model::identity::IdentityState;
use tessera_model::oauth_client::OAuthClient;
use tessera_model::tenant::Tenant;
use tessera_model::{IdentityId, TenantId};
use tessera_store::Tx;
use tessera_store::oauth_refresh_tokens::{self as store, Family, NewToken, Token};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::refuse;
use crate::{Caller, CoreError, Result, Tessera};

/// The scope that lets a family outlive the SSO session it came from (OIDC Core §11).
pub const OFFLINE_ACCESS: &str = "offline_access";

/// The longest a family lives, however often it rotates (OA-10: an absolute lifetime even when each
/// token's own lifetime slides). A session-bound family also ends with its session.
pub const FAMILY_LIFETIME: Duration = Duration::days(90);

/// A refresh token's prefix, so secret scanners can recognise a leaked one.
const PREFIX: &str = "trt_";

/// Longest refresh token accepted for a look-up; ours are 47 characters.
const MAX_TOKEN_LEN: usize = 200;

/// What a new family starts from (the code exchange fills it in).
#[derive(Debug, Clone)]
pub(crate) struct NewRefresh {
    pub tenant_id: TenantId,
    pub client_id: String,
    pub identity_id: IdentityId,
    /// The SSO session the grant came from.
    pub session_id: Option<String>,
    /// `offline_access` was granted: the family does not end with the session.
    pub offline: bool,
    pub scopes: Vec<String>,
    pub auth_time: Option<OffsetDateTime>,
    pub acr: Option<String>,
    pub amr: Vec<String>,
}

/// A started family: its first refresh token and its id, which the code exchange records on the code so
/// that presenting the code again revokes the family ([`revoke_family_by_id`], OA-04).
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub token: String,
    pub family_id: String,
}

/// Starts a family and returns its first refresh token. The token lives the client's
/// `refresh_token_ttl_secs`, the family [`FAMILY_LIFETIME`] or, when session-bound, at most as long as
/// the session; a session that already ended, or a customer no longer active, refuses the grant
/// (`invalid_grant`).
// Used by the test hook below; the code exchange calls `issue_with_access`.
#[allow(dead_code)]
pub(crate) async fn issue(t: &Tessera, n: NewRefresh) -> Result<String> {
    Ok(issue_with_access(t, n, None).await?.token)
}

/// [`issue`], recording the access token minted with the refresh token (`jti`, expiry) so that revoking
/// the family revokes it too, and returning the family's id as well.
pub(crate) async fn issue_with_access(
    t: &Tessera,
    n: NewRefresh,
    access: Option<(&str, OffsetDateTime)>,
) -> Result<Issued> {
    let mut tx = t.db().begin().await?;
    let stored = tessera_store::oauth_clients::get(&mut tx, n.tenant_id, &n.client_id)
        .await?
        .ok_or(CoreError::NotFound { what: "client" })?;
    let client = super::clients::from_stored(&stored)?;
    let issued = issue_in(t, &mut tx, &client, n, access).await?;
    tx.commit().await?;
    Ok(issued)
}

/// [`issue_with_access`] inside the caller's transaction, for `client` as the caller read it: the code
/// exchange starts the family and records what the code issued in one transaction.
pub(crate) async fn issue_in(
    t: &Tessera,
    tx: &mut Tx,
    client: &OAuthClient,
    n: NewRefresh,
    access: Option<(&str, OffsetDateTime)>,
) -> Result<Issued> {
    let now = t.now();
    let session_id = n
        .session_id
        .as_deref()
        .map(|s| Uuid::parse_str(s).map_err(|_| CoreError::Internal(format!("session id {s:?}"))))
        .transpose()?;
    let mut family_end = now + FAMILY_LIFETIME;
    if !n.offline && session_id.is_none() {
        return Err(CoreError::Internal(
            "a refresh token without offline_access needs the session it came from".into(),
        ));
    }
    // The customer is read under lock in this transaction (R10-2): whatever ends an identity's
    // grants (a suspension, a recovery, a password change, an end of sessions) writes the identity
    // first, so it either committed before and is seen here, or waits for this family and then revokes
    // it. Only the identity is locked, never the session, so the two cannot deadlock (R11-2).
    let active = tessera_store::identities::state_locked(tx, n.tenant_id, n.identity_id).await?
        == Some(IdentityState::Active);
    if !active {
        return Err(refuse("invalid_grant", "the sign-in session has ended"));
    }
    if let Some(sid) = session_id {
        match tessera_store::sessions::get(tx, sid).await? {
            Some(s) if session_live(&s, n.tenant_id, n.identity_id, now) => {
                if !n.offline {
                    family_end = family_end.min(s.expires_at);
                }
            }
            _ => return Err(refuse("invalid_grant", "the sign-in session has ended")),
        }
    }
    let family = Family {
        id: Uuid::now_v7(),
        tenant_id: n.tenant_id,
        client_id: n.client_id,
        identity_id: n.identity_id,
        session_id: if n.offline { None } else { session_id },
        offline: n.offline,
        auth_time: n.auth_time,
        acr: n.acr,
        amr: n.amr,
        created_at: now,
        expires_at: family_end,
        revoked_at: None,
        revoked_reason: None,
    };
    store::insert_family(tx, &family).await?;
    let token = new_token(t, tx, &family, client, &n.scopes, access).await?;
    Ok(Issued {
        token,
        family_id: family.id.to_string(),
    })
}

/// Revokes a family of `tenant` by the id [`issue_with_access`] gave, inside the caller's transaction
/// (the code exchange, when a code comes back: OA-04). An id that is not a family of the tenant is
/// `false` and changes nothing.
pub(crate) async fn revoke_family_by_id(
    t: &Tessera,
    tx: &mut Tx,
    tenant: TenantId,
    family_id: &str,
    reason: &'static str,
) -> Result<bool> {
    let Ok(id) = Uuid::parse_str(family_id) else {
        return Ok(false);
    };
    match store::family(tx, id).await? {
        Some(f) if f.tenant_id == tenant => revoke_family(t, tx, &f, reason).await,
        _ => Ok(false),
    }
}

/// Revokes every live family of `identity` in `tenant` (only `client_id`'s when given), offline ones
/// included, with the access tokens minted with them, inside the caller's transaction; how many it
/// revoked. Families bound to `keep_session` stay: a password change keeps the browser that made it
/// and the apps signed in through it for as long as that session lives, and ends every other grant,
/// offline ones included even when that browser made them (they outlive every session, so the change
/// of the password is when they end; REC-07, R10-1, R11-1). One helper for whatever ends an
/// identity's grants: a withdrawn consent (CON-02), a password change, and the end of every session
/// for a recovery, a suspension, a deletion or the admin (REC-07, SES-06), after which a reactivation
/// finds nothing to bring back.
pub(crate) async fn revoke_families_of(
    t: &Tessera,
    tx: &mut Tx,
    tenant: TenantId,
    identity: IdentityId,
    client_id: Option<&str>,
    keep_session: Option<Uuid>,
    reason: &'static str,
) -> Result<u64> {
    let families = store::live_families_of(tx, tenant, identity, client_id).await?;
    let mut revoked = 0;
    for id in families {
        if let Some(f) = store::family(tx, id).await?
            && keep_session.is_none_or(|k| f.session_id != Some(k))
            && revoke_family(t, tx, &f, reason).await?
        {
            revoked += 1;
        }
    }
    Ok(revoked)
}

/// Adds a fresh token to a family; returns it.
async fn new_token(
    t: &Tessera,
    tx: &mut Tx,
    family: &Family,
    client: &OAuthClient,
    scopes: &[String],
    access: Option<(&str, OffsetDateTime)>,
) -> Result<String> {
    let now = t.now();
    let token = tessera_crypto::BearerSecret::generate(PREFIX)?;
    let hash = t.keys().secret_hasher.hash(token.expose());
    let expires_at =
        (now + Duration::seconds(client.refresh_token_ttl_secs)).min(family.expires_at);
    store::insert_token(
        tx,
        &NewToken {
            token_hash: &hash,
            family_id: family.id,
            scopes,
            created_at: now,
            expires_at,
            access_jti: access.map(|a| a.0),
            access_expires_at: access.map(|a| a.1),
        },
    )
    .await?;
    Ok(token.expose().to_owned())
}

fn session_live(
    s: &tessera_store::sessions::StoredSession,
    tenant: TenantId,
    identity: IdentityId,
    now: OffsetDateTime,
) -> bool {
    s.tenant_id == tenant && s.identity_id == identity && s.is_live(now)
}

/// The keyed hash a presented refresh token is looked up by; `None` for what cannot be one of ours.
pub(crate) fn lookup_hash(t: &Tessera, token: &str) -> Option<Vec<u8>> {
    (token.starts_with(PREFIX) && token.len() <= MAX_TOKEN_LEN)
        .then(|| t.keys().secret_hasher.hash(token))
}

/// Why a presented refresh token cannot be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dead {
    Unknown,
    /// Another tenant's or another client's.
    Foreign,
    Revoked,
    /// Already rotated: presenting it again is reuse.
    Spent,
    Expired,
    /// The session it was bound to ended, or the customer may no longer sign in.
    Ended,
}

/// A refresh token found and judged.
pub(crate) struct Judged {
    pub hash: Vec<u8>,
    pub token: Token,
}

/// Finds a refresh token and judges it for `client` of `tenant`: usable, or why not. Reads only.
pub(crate) async fn judge(
    t: &Tessera,
    tenant: &Tenant,
    client_id: &str,
    presented: &str,
) -> Result<std::result::Result<Judged, (Dead, Option<Judged>)>> {
    let Some(hash) = lookup_hash(t, presented) else {
        return Ok(Err((Dead::Unknown, None)));
    };
    let mut conn = t.db().conn().await?;
    let Some(token) = store::by_hash(&mut conn, &hash).await? else {
        return Ok(Err((Dead::Unknown, None)));
    };
    let f = &token.family;
    let now = t.now();
    let dead = if f.tenant_id != tenant.id || f.client_id != client_id {
        Some(Dead::Foreign)
    } else if f.revoked_at.is_some() {
        Some(Dead::Revoked)
    } else if token.spent_at.is_some() {
        Some(Dead::Spent)
    } else if now >= token.expires_at || now >= f.expires_at {
        Some(Dead::Expired)
    } else {
        None
    };
    let dead = match dead {
        Some(d) => Some(d),
        None => {
            let identity =
                tessera_store::identities::get(&mut conn, tenant.id, f.identity_id).await?;
            let active = identity.is_some_and(|i| i.state == IdentityState::Active);
            let session_ok = match (f.offline, f.session_id) {
                (true, _) => true,
                (false, Some(sid)) => tessera_store::sessions::get(&mut conn, sid)
                    .await?
                    .is_some_and(|s| session_live(&s, tenant.id, f.identity_id, now)),
                (false, None) => false,
            };
            (!active || !session_ok).then_some(Dead::Ended)
        }
    };
    let judged = Judged { hash, token };
    Ok(match dead {
        None => Ok(judged),
        Some(Dead::Foreign) => Err((Dead::Foreign, None)),
        Some(d) => Err((d, Some(judged))),
    })
}

/// A refresh's answer, kept sealed for its reuse grace.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct GraceAnswer {
    pub refresh_token: String,
    pub access_token: String,
    pub access_expires_at: i64,
    pub scopes: Vec<String>,
}

/// What [`prepare`] decided: rotate the token, or (in the grace) hand back the answer already given.
pub(crate) enum Prepared {
    Rotate(Box<(Judged, Rotation)>),
    Replay(GraceAnswer),
}

/// What [`rotate`] did: a new successor, or (having lost a race within the grace) the winner's answer.
pub(crate) enum Rotated {
    New(String),
    Replay(GraceAnswer),
}

/// The kept answer of a spent token, if its grace allows one more use now. A tampered or foreign
/// sealed answer is an internal error, never a token.
async fn take_grace(t: &Tessera, tx: &mut Tx, hash: &[u8]) -> Result<Option<GraceAnswer>> {
    let Some(sealed) = store::take_grace(tx, hash, t.now()).await? else {
        return Ok(None);
    };
    let plain = t
        .keys()
        .refresh_grace_wrap
        .open(&sealed, hash)
        .map_err(|_| CoreError::Internal("a refresh grace answer does not open".into()))?;
    serde_json::from_slice(&plain)
        .map(Some)
        .map_err(|e| CoreError::Internal(format!("refresh grace answer: {e}")))
}

/// What a successful rotation hands the grant.
pub(crate) struct Rotation {
    pub family: Family,
    /// The scopes of the new tokens (the old ones, or fewer if the request narrowed them).
    pub scopes: Vec<String>,
}

/// Checks a refresh request before anything is minted: the token is usable by this client, and the
/// requested `scope` (if any) is within what the token carries and the client may still have
/// (`invalid_scope` otherwise, RFC 6749 §6). A spent token revokes its family here (reuse).
pub(crate) async fn prepare(
    t: &Tessera,
    tenant: &Tenant,
    client: &OAuthClient,
    presented: &str,
    scope: Option<&str>,
) -> Result<Prepared> {
    let judged = match judge(t, tenant, &client.client_id, presented).await? {
        Ok(j) => j,
        Err((Dead::Spent, Some(j))) => {
            let mut tx = t.db().begin().await?;
            if client.refresh_reuse_grace_secs > 0
                && let Some(answer) = take_grace(t, &mut tx, &j.hash).await?
            {
                tx.commit().await?;
                return Ok(Prepared::Replay(answer));
            }
            revoke_family(t, &mut tx, &j.token.family, "reuse").await?;
            tx.commit().await?;
            return Err(refuse(
                "invalid_grant",
                "the refresh token was already used",
            ));
        }
        Err((why, _)) => return Err(refuse("invalid_grant", dead_message(why))),
    };
    let granted = &judged.token.scopes;
    let scopes = match scope {
        None => granted.clone(),
        Some(s) => {
            let asked = super::parse_scope(s)?;
            if let Some(bad) = asked.iter().find(|a| !granted.contains(a)) {
                return Err(refuse(
                    "invalid_scope",
                    format!("{bad} was not granted with this refresh token"),
                ));
            }
            asked
        }
    };
    // The client is judged as it is now (R10-4): a client made third-party since the grant needs the
    // customer's consent, so a grant with no consent record refreshes no more, and one withdrawn in
    // settings has already revoked the family (CON-02).
    let consented =
        super::consent::consented_scopes(t, tenant, client, judged.token.family.identity_id)
            .await?;
    // A grant that outlives the session needs `offline_access` as the client and the customer allow it
    // now: a client no longer allowed it, or a consent that does not name it, ends the offline grant
    // rather than narrowing it to a scope that would keep it alive (R11-3).
    let family = &judged.token.family;
    let still = |scope: &str| super::grants::still_granted(client, consented.as_deref(), scope);
    if family.offline && !still(OFFLINE_ACCESS) {
        // Ended, not merely refused: giving the scope back later does not revive it (R12-I1).
        let mut tx = t.db().begin().await?;
        revoke_family(t, &mut tx, family, "offline_access_withdrawn").await?;
        tx.commit().await?;
        return Err(refuse(
            "invalid_grant",
            "this app may no longer keep the customer signed in: sign in through it again",
        ));
    }
    // A scope the client may no longer ask for, or the customer no longer consents to, is dropped
    // rather than carried on.
    let scopes: Vec<String> = scopes.into_iter().filter(|s| still(s)).collect();
    let rotation = Rotation {
        family: judged.token.family.clone(),
        scopes,
    };
    Ok(Prepared::Rotate(Box::new((judged, rotation))))
}

fn dead_message(why: Dead) -> &'static str {
    match why {
        Dead::Unknown | Dead::Foreign => "the refresh token is not valid",
        Dead::Revoked => "the refresh token was revoked",
        Dead::Spent => "the refresh token was already used",
        Dead::Expired => "the refresh token expired",
        Dead::Ended => "the sign-in this refresh token came from has ended",
    }
}

/// Spends the presented token and adds its successor, recording the access token minted for it. The
/// spend is the authority: if another request spent the token first, this one is reuse, the family is
/// revoked and the answer is `invalid_grant`, unless the client's reuse grace hands this request the
/// winner's answer. A session-bound family's session counts the use as activity.
pub(crate) async fn rotate(
    t: &Tessera,
    client: &OAuthClient,
    judged: &Judged,
    rotation: &Rotation,
    access: &super::IssuedAccessToken,
) -> Result<Rotated> {
    let now = t.now();
    let family = &rotation.family;
    // Read before the transaction: a request blocked on the row it spends holds a connection, so the
    // one holding the row must not need a second connection to finish.
    let idle_minutes = match family.session_id {
        Some(_) => Some(
            t.effective_policy_doc(family.tenant_id)
                .await?
                .sessions
                .idle_timeout_minutes,
        ),
        None => None,
    };
    let mut tx = t.db().begin().await?;
    // Under the customer's lock, as a family's creation (R11-4), and the family's own (R12-2):
    // whatever ended the grant since it was judged has revoked the family by now, and whatever is
    // ending it (the customer's troubles, a reuse, the client's revocation, a withdrawn consent) waits
    // for this rotation and then revokes the access token it adds.
    let active =
        tessera_store::identities::state_locked(&mut tx, family.tenant_id, family.identity_id)
            .await?
            == Some(IdentityState::Active);
    let live = store::family_locked(&mut tx, family.id)
        .await?
        .is_some_and(|f| f.revoked_at.is_none());
    if !active || !live {
        return Err(refuse("invalid_grant", dead_message(Dead::Ended)));
    }
    if !store::spend(&mut tx, &judged.hash, now).await? {
        if client.refresh_reuse_grace_secs > 0
            && let Some(answer) = take_grace(t, &mut tx, &judged.hash).await?
        {
            tx.commit().await?;
            return Ok(Rotated::Replay(answer));
        }
        revoke_family(t, &mut tx, &rotation.family, "reuse").await?;
        tx.commit().await?;
        return Err(refuse(
            "invalid_grant",
            "the refresh token was already used",
        ));
    }
    if let (Some(sid), Some(minutes)) = (family.session_id, idle_minutes)
        && let Some(s) = tessera_store::sessions::get(&mut tx, sid).await?
        && now - s.last_seen_at > Duration::minutes(1)
    {
        let idle = (now + Duration::minutes(i64::from(minutes))).min(s.expires_at);
        tessera_store::sessions::touch(&mut tx, sid, now, idle).await?;
    }
    let token = new_token(
        t,
        &mut tx,
        family,
        client,
        &rotation.scopes,
        Some((&access.jti, access.expires_at)),
    )
    .await?;
    if client.refresh_reuse_grace_secs > 0 {
        let answer = GraceAnswer {
            refresh_token: token.clone(),
            access_token: access.token.clone(),
            access_expires_at: access.expires_at.unix_timestamp(),
            scopes: rotation.scopes.clone(),
        };
        let plain = serde_json::to_vec(&answer).map_err(|e| CoreError::Internal(e.to_string()))?;
        let sealed = t
            .keys()
            .refresh_grace_wrap
            .seal(&plain, &judged.hash)
            .map_err(|e| CoreError::Internal(format!("sealing a refresh grace answer: {e}")))?;
        let until = now + Duration::seconds(client.refresh_reuse_grace_secs);
        store::set_grace(&mut tx, &judged.hash, until, &sealed).await?;
    }
    tx.commit().await?;
    Ok(Rotated::New(token))
}

/// Revokes a family and the access tokens minted with it that have not expired; records why. Reuse is
/// an event of its own (`refresh_token.reused`): someone holds a token that should be gone.
pub(crate) async fn revoke_family(
    t: &Tessera,
    tx: &mut Tx,
    family: &Family,
    reason: &'static str,
) -> Result<bool> {
    let now = t.now();
    if !store::revoke_family(tx, family.id, now, reason).await? {
        return Ok(false);
    }
    let live = store::live_access_tokens(tx, family.id, now).await?;
    for (jti, exp) in &live {
        tessera_store::oauth_clients::revoke_token(tx, family.tenant_id, jti, *exp).await?;
    }
    let kind = if reason == "reuse" {
        types::REFRESH_TOKEN_REUSED
    } else {
        types::REFRESH_TOKEN_REVOKED
    };
    let ev = NewEvent::new(
        family.tenant_id,
        kind,
        identity_subject(family.identity_id),
        json!({
            "identity_id": family.identity_id,
            "client_id": family.client_id,
            "family_id": family.id,
            "reason": reason,
            "access_tokens_revoked": live.len(),
        }),
    );
    t.record(tx, &Caller::system(), ev, None).await?;
    Ok(true)
}

impl super::OAuth<'_> {
    /// Forgets what can no longer matter: refresh-token families past their absolute end (with their
    /// tokens; a token of a forgotten family is unknown, which is refused the same way), the used
    /// assertion `jti`s and access-token revocations whose tokens have expired, and expired opaque
    /// access tokens. Run periodically on every node; each delete is idempotent. Returns how many rows
    /// went.
    pub async fn sweep_expired(&self) -> Result<u64> {
        let now = self.t.now();
        let mut tx = self.t.db().begin().await?;
        let n = store::purge_expired(&mut tx, now).await?
            + tessera_store::oauth_clients::purge_expired(&mut tx, now).await?
            + tessera_store::oauth_access_tokens::purge_expired(&mut tx, now).await?;
        tx.commit().await?;
        Ok(n)
    }
}
