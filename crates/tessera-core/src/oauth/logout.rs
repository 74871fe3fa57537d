//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at `end_session_endpoint`.
//!
//! An app sends the browser here with `id_token_hint`, `client_id`, `post_logout_redirect_uri`, `state`
//! and `ui_locales`. The browser's SSO session ends at once only when the hint is an ID token this issuer
//! signed (its expiry does not matter: a hint is usually old) naming the browser's current session by
//! `sid` (SES-05, OIDC-06); any other request shows a confirmation whose form carries a token bound to
//! the session cookie, so a page on another site cannot sign anyone out. The browser goes back only to a
//! post-logout URI the client registered, compared as a whole string, and only once the client is known
//! from the hint or `client_id`; a request that fails any check gets an error page and is never
//! redirected. Ending the session notifies every app that got tokens in it (`backchannel`), and the
//! session's refresh tokens and access tokens stop working with it (they check their session on use).

use serde_json::{Value, json};
use tessera_model::event::{NewEvent, identity_subject, types};
use tessera_model::flow::FlowChannel;
use tessera_model::oauth_client::OAuthClient;
use tessera_model::tenant::Tenant;

use crate::flows::FlowContext;
use crate::oauth::OAuth;
use crate::oauth::authorize::RawParams;
use crate::sessions::ActiveSession;
use crate::{Caller, CoreError, Result, Tessera};

/// What the end-session endpoint decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// The request cannot be followed: an error page, never a redirect. `detail` is for the app's
    /// developer and never quotes the request.
    Refused { detail: &'static str },
    /// Ask the customer first: the page's form posts `fields` back to the confirmation endpoint.
    Confirm {
        fields: Vec<(String, String)>,
        /// The app asking, when it is known.
        client_name: Option<String>,
    },
    /// The session ended (`ended`), or there was none. `redirect`: the registered post-logout URI with
    /// `state`; none: show "you are signed out".
    SignedOut {
        redirect: Option<String>,
        ended: bool,
    },
}

/// A checked request: the client it came from (if known) and where to send the browser afterwards.
struct Checked {
    client: Option<OAuthClient>,
    redirect: Option<String>,
    /// The hint's `(sub, sid)`, when a hint was given and holds.
    hinted: Option<(String, String)>,
}

fn refused(detail: &'static str) -> LogoutOutcome {
    LogoutOutcome::Refused { detail }
}

impl OAuth<'_> {
    /// `GET`/`POST /t/{tenant}/oauth2/logout`: an app's logout request from the browser in `ctx`.
    pub async fn end_session(
        &self,
        ctx: &FlowContext,
        params: &RawParams,
    ) -> Result<LogoutOutcome> {
        let tenant = self.t.tenant_by_slug(&ctx.tenant).await?;
        let checked = match self.check(&tenant, params).await? {
            Ok(c) => c,
            Err(o) => return Ok(o),
        };
        let Some(active) = self.current_session(ctx).await? else {
            return Ok(LogoutOutcome::SignedOut {
                redirect: checked.redirect,
                ended: false,
            });
        };
        let s = &active.session;
        let names_this_session = checked.hinted.as_ref().is_some_and(|(sub, sid)| {
            *sub == s.identity_id.0.to_string() && *sid == s.id.to_string()
        });
        if names_this_session {
            let client_id = checked.client.as_ref().map(|c| c.client_id.as_str());
            self.end(&active, client_id).await?;
            return Ok(LogoutOutcome::SignedOut {
                redirect: checked.redirect,
                ended: true,
            });
        }
        let mut fields = vec![(
            "csrf_token".to_owned(),
            self.t
                .logout_csrf(ctx.session_token.as_deref().unwrap_or("")),
        )];
        for name in ["post_logout_redirect_uri", "state"] {
            if let Some(v) = params.get(name) {
                fields.push((name.to_owned(), v.to_owned()));
            }
        }
        if let Some(c) = &checked.client {
            fields.push(("client_id".to_owned(), c.client_id.clone()));
        }
        Ok(LogoutOutcome::Confirm {
            fields,
            client_name: checked.client.map(|c| c.name),
        })
    }

    /// `POST /t/{tenant}/oauth2/logout/confirm`: the customer confirmed on our own page. The form must
    /// carry the token bound to this browser's session (a cross-site post never has it); the client and
    /// post-logout URI are checked again, as on the way in.
    pub async fn confirm_end_session(
        &self,
        ctx: &FlowContext,
        form: &RawParams,
    ) -> Result<LogoutOutcome> {
        let token = ctx.session_token.as_deref().unwrap_or("");
        let sent = form.get("csrf_token").unwrap_or("");
        let bound = !token.is_empty()
            && tessera_crypto::constant_time_eq(
                self.t.logout_csrf(token).as_bytes(),
                sent.as_bytes(),
            );
        // A browser whose session already ended has nothing left to confirm.
        let active = self.current_session(ctx).await?;
        if ctx.channel != FlowChannel::Browser || (active.is_some() && !bound) {
            return Err(CoreError::BadRequest {
                code: "csrf",
                detail: "the form's security token is missing or wrong".into(),
            });
        }
        let tenant = self.t.tenant_by_slug(&ctx.tenant).await?;
        if form.get("id_token_hint").is_some() {
            return Ok(refused("the confirmation form carries no id_token_hint"));
        }
        let checked = match self.check(&tenant, form).await? {
            Ok(c) => c,
            Err(o) => return Ok(o),
        };
        let ended = match &active {
            Some(a) => {
                let client_id = checked.client.as_ref().map(|c| c.client_id.as_str());
                self.end(a, client_id).await?;
                true
            }
            None => false,
        };
        Ok(LogoutOutcome::SignedOut {
            redirect: checked.redirect,
            ended,
        })
    }

    async fn current_session(&self, ctx: &FlowContext) -> Result<Option<ActiveSession>> {
        match &ctx.session_token {
            Some(token) => self.t.sessions().from_token(&ctx.tenant, token).await,
            None => Ok(None),
        }
    }

    /// Checks the request's parameters; the outer error is a failure, the inner one a refusal page.
    async fn check(
        &self,
        tenant: &Tenant,
        params: &RawParams,
    ) -> Result<std::result::Result<Checked, LogoutOutcome>> {
        if params.is_ambiguous() {
            return Ok(Err(refused("a parameter came more than once")));
        }
        let hinted = match params.get("id_token_hint") {
            Some(hint) => match self.read_hint(tenant, hint).await? {
                Some(h) => Some(h),
                None => {
                    return Ok(Err(refused(
                        "id_token_hint is not an ID token this issuer signed",
                    )));
                }
            },
            None => None,
        };
        let client_id = match (&hinted, params.get("client_id")) {
            (Some(h), Some(c)) if h.aud != c => {
                return Ok(Err(refused(
                    "client_id is not the audience of id_token_hint",
                )));
            }
            (Some(h), _) => Some(h.aud.clone()),
            (None, c) => c.map(str::to_owned),
        };
        let client = match &client_id {
            Some(id) => match self.client(&tenant.slug, id).await {
                Ok((_, c)) => Some(c),
                Err(CoreError::NotFound { .. }) => {
                    return Ok(Err(refused("the client is not registered")));
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let redirect = match params.get("post_logout_redirect_uri") {
            None => None,
            Some(uri) => {
                let Some(c) = &client else {
                    return Ok(Err(refused(
                        "post_logout_redirect_uri needs id_token_hint or client_id",
                    )));
                };
                match post_logout_target(c, uri, params.get("state")) {
                    Some(to) => Some(to),
                    None => {
                        return Ok(Err(refused(
                            "post_logout_redirect_uri is not registered for this client",
                        )));
                    }
                }
            }
        };
        Ok(Ok(Checked {
            client,
            redirect,
            hinted: hinted.map(|h| (h.sub, h.sid)),
        }))
    }

    /// Reads an ID token hint: signed by one of the tenant's published keys with `typ: JWT`, issued by
    /// this tenant, with one audience, `sub` and `sid`. Its expiry is not checked (RP-Initiated Logout
    /// §2: the OP should accept an expired hint). None when anything does not hold.
    pub(crate) async fn read_hint(&self, tenant: &Tenant, hint: &str) -> Result<Option<Hint>> {
        let c = match self
            .t
            .signing_keys()
            .verify_signature(tenant.id, hint, "JWT")
            .await
        {
            Ok(claims) => claims,
            Err(crate::signing_keys::VerifyError::Core(e)) => return Err(e),
            Err(_) => return Ok(None),
        };
        let c = &c;
        let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
        let aud = match c.get("aud") {
            Some(Value::String(a)) => Some(a.clone()),
            Some(Value::Array(a)) if a.len() == 1 => {
                a.first().and_then(Value::as_str).map(str::to_owned)
            }
            _ => None,
        };
        if text("iss").as_deref() != Some(self.issuer(tenant).as_str()) {
            return Ok(None);
        }
        Ok(match (aud, text("sub"), text("sid")) {
            (Some(aud), Some(sub), Some(sid)) => Some(Hint { aud, sub, sid }),
            _ => None,
        })
    }

    /// Ends one session for an app's logout request, recording it, and makes the back-channel notices of
    /// the apps that got tokens in it due, all in one transaction.
    async fn end(&self, active: &ActiveSession, client_id: Option<&str>) -> Result<()> {
        let s = &active.session;
        let mut tx = self.t.db().begin().await?;
        if tessera_store::sessions::revoke(&mut tx, s.identity_id, s.id, self.t.now()).await? {
            let mut data = json!({"identity_id": s.identity_id, "session_id": s.id, "by": "app"});
            if let (Some(id), Value::Object(m)) = (client_id, &mut data) {
                m.insert("client_id".into(), json!(id));
            }
            let ev = NewEvent::new(
                s.tenant_id,
                types::SESSION_REVOKED,
                identity_subject(s.identity_id),
                data,
            );
            self.t.record(&mut tx, &Caller::system(), ev, None).await?;
            super::backchannel::sessions_ended(self.t, &mut tx, s.identity_id).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// What a valid hint says.
pub(crate) struct Hint {
    pub(crate) aud: String,
    pub(crate) sub: String,
    pub(crate) sid: String,
}

/// The post-logout URI with `state` added, when `uri` is one the client registered, character for
/// character (OIDC-06: no prefix, no added query, no other port).
fn post_logout_target(client: &OAuthClient, uri: &str, state: Option<&str>) -> Option<String> {
    if !client.post_logout_redirect_uris.iter().any(|r| r == uri) {
        return None;
    }
    let mut to = url::Url::parse(uri).ok()?;
    if let Some(s) = state {
        to.query_pairs_mut().append_pair("state", s);
    }
    Some(to.to_string())
}

impl Tessera {
    /// The token of the logout confirmation form: bound to the browser's session cookie, which a page on
    /// another site can neither read nor send with a script's form (SameSite).
    fn logout_csrf(&self, session_token: &str) -> String {
        self.keys()
            .secret_hasher
            .hash(&format!("rp-logout-csrf\u{0}{session_token}"))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn oidc_06_only_a_registered_post_logout_uri_is_a_target() {
        let mut c: OAuthClient = serde_json::from_value(json!({
            "client_id": "shop", "name": "Shop", "kind": "confidential", "first_party": true,
            "token_endpoint_auth": "client_secret_basic", "redirect_uris": [],
            "post_logout_redirect_uris": ["https://shop.example/bye"], "grant_types": ["client_credentials"],
            "scopes": [], "require_pkce": true, "require_par": false, "signing_alg": "ES256",
            "access_token_format": "jwt", "access_token_ttl_secs": 600, "id_token_ttl_secs": 600,
            "refresh_token_ttl_secs": 600, "allowed_origins": [], "backchannel_logout_uri": null,
            "jwks": null, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "version": 1
        }))
        .unwrap();
        assert_eq!(
            post_logout_target(&c, "https://shop.example/bye", Some("a b")).as_deref(),
            Some("https://shop.example/bye?state=a+b")
        );
        for bad in [
            "https://shop.example/bye?x=1",
            "https://shop.example/bye/",
            "https://shop.example:443/bye",
            "https://shop.example/by",
            "https://evil.example/bye",
        ] {
            assert_eq!(post_logout_target(&c, bad, None), None, "{bad}");
        }
        c.post_logout_redirect_uris.clear();
        assert_eq!(
            post_logout_target(&c, "https://shop.example/bye", None),
            None
        );
    }
}
