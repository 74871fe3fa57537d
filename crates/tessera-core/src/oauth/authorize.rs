//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2): a request taken apart and checked
//! into a typed [`AuthorizationRequest`], in two phases whose order is the rule that keeps Tessera from
//! being an open redirector (OA-02):
//!
//! 1. [`target`]: the tenant, `client_id` and `redirect_uri`. Until the redirect URI matched one the
//!    client registered ([`RegisteredRedirect::matching`]), every problem is a [`Refusal`]: an error page
//!    in the browser, never a redirect.
//! 2. [`validate`]: everything else. From here on an error goes back to the client ([`AuthzError`],
//!    with `state` and `iss`).
//!
//! Then [`decide`] says whether the browser's session answers at once, must sign in, or (`prompt=none`)
//! gets `login_required`. The service around these (storing the request, starting the sign-in, issuing
//! the code) is in `OAuth::authorize` and `OAuth::authorize_continue` below.
//!
//! **Assurance (`acr_values`).** Tessera's `acr` values are `aal1` and `aal2` (NIST SP 800-63B
//! authenticator assurance levels: one factor; two factors of different kinds allowed at AAL2). Requested
//! `acr_values` are voluntary (OIDC Core §3.1.2.1): the sign-in is asked for the highest requested level
//! the tenant's sign-in methods can reach, unknown values are ignored, and the ID token's `acr` says what
//! the session actually reached. An acr asked for as *essential* through the `claims` parameter
//! ([`super::claims_request`]) is a requirement instead: a request none of whose values the tenant's
//! methods can reach, or whose sign-in (made for it) fell short, gets `unmet_authentication_requirements`,
//! and the ID token's `acr` is the highest requested value the session meets.
//!
//! **`id_token_hint`** must be an ID token this issuer signed for this client (expired ones too); a
//! browser session of another customer than its `sub` does not answer the request (`prompt=none` gets
//! `login_required`, otherwise the customer signs in), unless that sign-in was made for this request.
//! `display` is ignored.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tessera_model::flow::FlowKind;
use tessera_model::identity::Identity;
use tessera_model::oauth_client::{ClientKind, GrantType, OAuthClient};
use tessera_model::redirect_uri::RegisteredRedirect;
use tessera_model::tenant::Tenant;
use tessera_store::oauth_requests::StoredRequest;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::flows::{FlowContext, FlowStart};
use crate::oauth::OAuth;
use crate::{CoreError, Result, Tessera};

/// Most parameters one request may carry; more is no authorization request.
pub const MAX_PARAMS: usize = 100;
/// The longest `id_token_hint` read; an ID token of ours is far shorter.
const MAX_ID_TOKEN_HINT: usize = 8192;
/// How long a stored request waits for the customer to sign in (a flow's lifetime).
pub const REQUEST_TTL: time::Duration = time::Duration::minutes(30);
/// The `acr` values Tessera knows, by assurance level.
pub const ACR_VALUES: [&str; 2] = ["aal1", "aal2"];

/// The `acr` value of an assurance level (1 or 2; anything below 1 is reported as `aal1`).
pub fn acr_of(aal: i64) -> &'static str {
    if aal >= 2 { "aal2" } else { "aal1" }
}

fn aal_of(acr: &str) -> Option<i64> {
    match acr {
        "aal1" => Some(1),
        "aal2" => Some(2),
        _ => None,
    }
}

/// The parameters of a request (query string or form body), each name once; names that came more than
/// once are listed apart (OA-17), and the first value is kept only for a name that came once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawParams {
    values: BTreeMap<String, String>,
    repeated: Vec<String>,
    too_many: bool,
}

impl RawParams {
    /// Parses `application/x-www-form-urlencoded` text. An empty value counts as absent (RFC 6749 §3.1).
    pub fn parse(text: &str) -> Self {
        let mut out = RawParams::default();
        // Every name seen, empty or not: `a=x&a=` repeats `a` as much as `a=x&a=y` does (OA-17).
        let mut seen: Vec<String> = Vec::new();
        for (i, (k, v)) in url::form_urlencoded::parse(text.as_bytes()).enumerate() {
            if i >= MAX_PARAMS {
                out.too_many = true;
                break;
            }
            let k = k.into_owned();
            if seen.contains(&k) {
                out.values.remove(&k);
                if !out.repeated.contains(&k) {
                    out.repeated.push(k);
                }
                continue;
            }
            seen.push(k.clone());
            if !v.is_empty() {
                out.values.insert(k, v.into_owned());
            }
        }
        out
    }

    /// The value of a parameter that came once.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether a name came more than once or there were too many parameters (OA-17).
    pub fn is_ambiguous(&self) -> bool {
        !self.repeated.is_empty() || self.too_many
    }

    fn repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|r| r == name)
    }

    /// Whether `name` came at all, once or more.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name) || self.repeated(name)
    }

    /// `state` as the client sent it, when it sent exactly one: every answer to the client echoes it.
    pub fn state(&self) -> Option<&str> {
        self.get("state")
    }
}

/// Why a request cannot even be answered to the client: shown as an error page (OA-02). `detail` is for
/// the developer of the app and never quotes the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub detail: &'static str,
}

pub(crate) fn refuse(code: &'static str, detail: &'static str) -> Refusal {
    Refusal { code, detail }
}

/// The registered error codes the authorization endpoint sends to the client (RFC 6749 §4.1.2.1,
/// OIDC Core §3.1.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthzErrorCode {
    InvalidRequest,
    UnauthorizedClient,
    AccessDenied,
    UnsupportedResponseType,
    InvalidScope,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    RequestNotSupported,
    InvalidRequestUri,
    /// A `request_uri` that is not a pushed request's: Tessera fetches no request objects by reference
    /// (discovery says `request_uri_parameter_supported: false`).
    RequestUriNotSupported,
    /// An essential `acr` cannot be met (OpenID Connect Core Unmet Authentication Requirements 1.0).
    UnmetAuthenticationRequirements,
}

impl AuthzErrorCode {
    /// The registered name of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InteractionRequired => "interaction_required",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
        }
    }
}

/// An error for the client, sent to its registered redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzError {
    pub code: AuthzErrorCode,
    pub description: &'static str,
}

pub(crate) fn err(code: AuthzErrorCode, description: &'static str) -> AuthzError {
    AuthzError { code, description }
}

/// A `prompt` value (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    None,
    Login,
    Consent,
    SelectAccount,
}

impl Prompt {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "login" => Self::Login,
            "consent" => Self::Consent,
            "select_account" => Self::SelectAccount,
            _ => return None,
        })
    }
}

/// A checked authorization request, as stored while the customer signs in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    /// Exactly as sent (it matched a registered URI); the token request must repeat it byte for byte.
    pub redirect_uri: String,
    /// Granted scopes, each allowed to the client, without duplicates, in the order asked.
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The PKCE S256 challenge.
    pub code_challenge: Option<String>,
    pub prompt: Vec<Prompt>,
    /// Seconds; the session's sign-in must be at most this old.
    pub max_age: Option<i64>,
    /// The assurance level the sign-in is asked for (from `acr_values`, capped at what the tenant's
    /// methods can reach); 0 when the request asked for none.
    pub requested_aal: i64,
    /// The levels an essential `acr` accepts (ascending; empty when none was essential): the sign-in
    /// must reach the lowest, and the ID token reports the highest the session meets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub essential_aal: Vec<i64>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    /// As sent; checked (signature, issuer, audience) each time the request is answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_hint: Option<String>,
}

impl AuthorizationRequest {
    /// Whether this is an OpenID Connect request (an ID token is issued).
    pub fn is_openid(&self) -> bool {
        self.scopes.iter().any(|s| s == "openid")
    }

    fn prompts(&self, p: Prompt) -> bool {
        self.prompt.contains(&p)
    }

    /// The `acr` to report for a session at `aal`: the highest essential level it meets, else its own.
    pub fn acr_for(&self, aal: i64) -> &'static str {
        self.essential_aal
            .iter()
            .rev()
            .find(|level| **level <= aal)
            .map_or_else(|| acr_of(aal), |level| acr_of(*level))
    }

    /// Whether a sign-in made for this request (at or after `signed_in_since`) fell short of its
    /// essential `acr`: signing in again would not help, so the request fails.
    pub fn essential_acr_unmet(
        &self,
        session: Option<SessionFacts>,
        signed_in_since: Option<OffsetDateTime>,
    ) -> bool {
        let (Some(s), Some(since), Some(min)) =
            (session, signed_in_since, self.essential_aal.first())
        else {
            return false;
        };
        s.auth_time >= since && s.aal < *min
    }
}

/// Phase 1: `client_id` and `redirect_uri`, each present once. The caller looks the client up and
/// matches the redirect URI with [`match_redirect`]; until both succeed, only error pages.
pub fn target(params: &RawParams) -> Result<(&str, &str), Refusal> {
    if params.too_many {
        return Err(refuse("invalid_request", "too many parameters"));
    }
    if params.repeated("client_id") {
        return Err(refuse(
            "invalid_request",
            "client_id appears more than once",
        ));
    }
    let client_id = params
        .get("client_id")
        .ok_or(refuse("invalid_request", "client_id is missing"))?;
    if params.repeated("redirect_uri") {
        return Err(refuse(
            "invalid_request",
            "redirect_uri appears more than once",
        ));
    }
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or(refuse("invalid_request", "redirect_uri is missing"))?;
    Ok((client_id, redirect_uri))
}

/// The client's registered redirect URI the request names, or the page that says it is not one (OA-01).
pub fn match_redirect(
    client: &OAuthClient,
    redirect_uri: &str,
) -> Result<RegisteredRedirect, Refusal> {
    RegisteredRedirect::matching(
        client.redirect_uris.iter().map(String::as_str),
        redirect_uri,
    )
    .ok_or(refuse(
        "invalid_redirect_uri",
        "redirect_uri is not one the client registered (compared exactly)",
    ))
}

/// A PKCE value's alphabet and length (RFC 7636 §4.1: 43 to 128 of `[A-Za-z0-9-._~]`).
pub fn pkce_syntax(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn printable(s: &str, max: usize) -> bool {
    s.len() <= max && !s.chars().any(char::is_control)
}

/// Phase 2: everything after the redirect URI, for a client whose redirect matched. The one validator of
/// authorization requests: `/authorize` and the PAR endpoint both call it. `reachable_aal` is
/// the highest assurance the tenant's sign-in methods can reach.
pub fn validate(
    params: &RawParams,
    client: &OAuthClient,
    redirect_uri: &str,
    reachable_aal: i64,
) -> Result<AuthorizationRequest, AuthzError> {
    use AuthzErrorCode::*;
    if !params.repeated.is_empty() {
        return Err(err(InvalidRequest, "a parameter appears more than once"));
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(err(
            UnauthorizedClient,
            "the client may not use the authorization code grant",
        ));
    }
    if params.get("request").is_some() {
        return Err(err(
            RequestNotSupported,
            "request objects are not supported",
        ));
    }
    // `/authorize` takes a `request_uri` apart (`OAuth::authorize_pushed`); here it can only be inside a
    // pushed request, where RFC 9126 §2.1 forbids it.
    if params.has("request_uri") {
        return Err(err(
            InvalidRequest,
            "request_uri cannot be part of a pushed request",
        ));
    }
    match params.get("response_type") {
        None => return Err(err(InvalidRequest, "response_type is missing")),
        Some("code") => {}
        Some(_) => {
            return Err(err(
                UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    match params.get("response_mode") {
        None | Some("query") => {}
        Some(_) => return Err(err(InvalidRequest, "only response_mode=query is supported")),
    }
    let mut scopes: Vec<String> = Vec::new();
    for s in params
        .get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        if !client.allows_scope(s) {
            return Err(err(
                InvalidScope,
                "a requested scope is not allowed to this client",
            ));
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_owned());
        }
    }
    if scopes.is_empty() {
        return Err(err(InvalidScope, "scope is missing"));
    }
    // PKCE (OA-06): S256 only. A challenge without a method means `plain`, which is refused.
    let challenge = params.get("code_challenge");
    let method = params.get("code_challenge_method");
    let code_challenge = match (challenge, method) {
        (Some(c), Some("S256")) if c.len() == 43 && pkce_syntax(c) => Some(c.to_owned()),
        (Some(_), Some("S256")) => {
            return Err(err(
                InvalidRequest,
                "code_challenge is not an S256 challenge",
            ));
        }
        (Some(_), _) => {
            return Err(err(
                InvalidRequest,
                "code_challenge_method must be S256 (plain is not supported)",
            ));
        }
        (None, Some(_)) => {
            return Err(err(
                InvalidRequest,
                "code_challenge_method without code_challenge",
            ));
        }
        (None, None) if client.require_pkce || client.kind == ClientKind::Public => {
            return Err(err(
                InvalidRequest,
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            ));
        }
        (None, None) => None,
    };
    let state = params.state().map(str::to_owned);
    if state.as_deref().is_some_and(|s| !printable(s, 2000)) {
        return Err(err(InvalidRequest, "state is too long"));
    }
    let nonce = params.get("nonce").map(str::to_owned);
    if nonce.as_deref().is_some_and(|s| !printable(s, 1000)) {
        return Err(err(InvalidRequest, "nonce is too long"));
    }
    let mut prompt = Vec::new();
    for p in params
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        let Some(p) = Prompt::parse(p) else {
            return Err(err(InvalidRequest, "unknown prompt value"));
        };
        if !prompt.contains(&p) {
            prompt.push(p);
        }
    }
    if prompt.contains(&Prompt::None) && prompt.len() > 1 {
        return Err(err(
            InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 && v.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(err(InvalidRequest, "max_age must be a number of seconds")),
        },
    };
    let requested_aal = params
        .get("acr_values")
        .unwrap_or("")
        .split(' ')
        .filter_map(aal_of)
        .filter(|a| *a <= reachable_aal.max(1))
        .max()
        .unwrap_or(0);
    let essential_aal = match super::claims_request::essential_acr(params.get("claims")) {
        Err(why) => return Err(err(InvalidRequest, why)),
        Ok(None) => Vec::new(),
        Ok(Some(values)) => {
            let mut levels: Vec<i64> = values
                .iter()
                .filter_map(|v| aal_of(v))
                .filter(|a| *a <= reachable_aal.max(1))
                .collect();
            levels.sort_unstable();
            levels.dedup();
            if levels.is_empty() {
                return Err(err(
                    UnmetAuthenticationRequirements,
                    "no essential acr value asked for can be reached with this tenant's sign-in methods",
                ));
            }
            levels
        }
    };
    let requested_aal = requested_aal.max(essential_aal.first().copied().unwrap_or(0));
    let login_hint = params
        .get("login_hint")
        .filter(|h| printable(h, 320))
        .map(str::to_owned);
    let id_token_hint = match params.get("id_token_hint") {
        Some(h) if h.len() > MAX_ID_TOKEN_HINT || !printable(h, MAX_ID_TOKEN_HINT) => {
            return Err(err(InvalidRequest, "id_token_hint is too long"));
        }
        h => h.map(str::to_owned),
    };
    let ui_locales = params
        .get("ui_locales")
        .filter(|h| printable(h, 100))
        .map(str::to_owned);
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state,
        nonce,
        code_challenge,
        prompt,
        max_age,
        requested_aal,
        essential_aal,
        login_hint,
        ui_locales,
        id_token_hint,
    })
}

/// What [`decide`] needs of the browser's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFacts {
    pub aal: i64,
    /// When the customer signed in (OIDC `auth_time`).
    pub auth_time: OffsetDateTime,
}

/// What to do with a valid request, given the browser's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The session answers: issue a code.
    Answer,
    /// The customer must sign in (again, or at a higher level) first.
    SignIn,
    /// `prompt=none` and the session cannot answer (SES-09).
    LoginRequired,
}

/// Whether the session answers the request (OIDC Core §3.1.2.3): not with `prompt=login` unless the
/// sign-in happened after `signed_in_since` (the request's creation, on its return from the sign-in),
/// not when `max_age` passed since the sign-in (unless that sign-in was made for this request), not
/// below the requested assurance.
pub fn decide(
    req: &AuthorizationRequest,
    session: Option<SessionFacts>,
    now: OffsetDateTime,
    signed_in_since: Option<OffsetDateTime>,
) -> Decision {
    let none = req.prompts(Prompt::None);
    let answers = session.is_some_and(|s| {
        let fresh = match (req.prompts(Prompt::Login), signed_in_since) {
            (false, _) => true,
            (true, Some(since)) => s.auth_time >= since,
            (true, None) => false,
        };
        // A sign-in made for this very request satisfies `max_age` whatever its value: it is as fresh as
        // an authentication can be (`max_age=0` would otherwise send a two-factor customer, whose
        // sign-in dates from its first factor, back to sign in forever).
        let signed_in_for_it = signed_in_since.is_some_and(|since| s.auth_time >= since);
        let young = signed_in_for_it
            || req
                .max_age
                .is_none_or(|m| (now - s.auth_time).whole_seconds() <= m);
        fresh && young && s.aal >= req.requested_aal
    });
    match (answers, none) {
        (true, _) => Decision::Answer,
        (false, true) => Decision::LoginRequired,
        (false, false) => Decision::SignIn,
    }
}

/// What the browser is sent to after an authorization request (or its return from the sign-in).
#[derive(Debug)]
pub enum Authorized {
    /// Nothing may go back to the client: an error page (OA-02).
    Page(Refusal),
    /// An error for the client, at its registered redirect URI, with `state` and `iss` (OA-16).
    Error {
        to: RegisteredRedirect,
        state: Option<String>,
        issuer: String,
        error: AuthzError,
    },
    /// The code, at the client's registered redirect URI, with `state` and `iss` (RFC 9207).
    Code {
        to: RegisteredRedirect,
        state: Option<String>,
        issuer: String,
        code: String,
    },
    /// Sign in first: the browser goes to `location` (a sign-in flow that returns to the stored request),
    /// carrying `new_binding` as its flow-binding cookie when it had none.
    SignIn {
        location: String,
        new_binding: Option<String>,
    },
    /// The customer is asked whether the app may have what it asks for (CON-01): a page with Allow and
    /// Deny, posting to [`consent_path`] bound to the stored request and this browser.
    Consent {
        page: super::consent::ConsentPage,
        new_binding: Option<String>,
    },
}

/// The path a finished sign-in comes back to: the stored request's id, nothing else.
pub fn continue_path(tenant: &str, id: Uuid) -> String {
    format!("/t/{tenant}/oauth2/authorize/continue?request={id}")
}

/// Where the consent page posts.
pub fn consent_path(tenant: &str) -> String {
    format!("/t/{tenant}/oauth2/consent")
}

/// Where a checked request goes back to.
pub(crate) struct Back {
    pub(crate) to: RegisteredRedirect,
    pub(crate) state: Option<String>,
    pub(crate) issuer: String,
}

impl Back {
    pub(crate) fn error(&self, error: AuthzError) -> Authorized {
        Authorized::Error {
            to: self.to.clone(),
            state: self.state.clone(),
            issuer: self.issuer.clone(),
            error,
        }
    }
}

pub(super) fn request_binding_hash(t: &Tessera, binding: &str) -> Vec<u8> {
    t.keys()
        .secret_hasher
        .hash(&format!("oauth-request-binding\u{0}{binding}"))
}

/// The browser's flow-binding cookie, when it sent a usable one.
pub(super) fn binding_of(ctx: &FlowContext) -> Option<&str> {
    ctx.browser_binding
        .as_deref()
        .filter(|b| !b.is_empty() && b.len() <= 100)
}

impl OAuth<'_> {
    /// `GET`/`POST /t/{tenant}/oauth2/authorize`: checks the request (client and redirect URI first),
    /// then answers at once from the browser's session, or stores the request and starts the sign-in.
    pub async fn authorize(&self, ctx: &FlowContext, params: &RawParams) -> Result<Authorized> {
        if params.has("request_uri") {
            return self.authorize_pushed(ctx, params).await;
        }
        let (client_id, redirect_uri) = match target(params) {
            Ok(x) => x,
            Err(r) => return Ok(Authorized::Page(r)),
        };
        let (tenant, client) = match self.client(&ctx.tenant, client_id).await {
            Ok(x) => x,
            Err(CoreError::NotFound { .. }) => {
                return Ok(Authorized::Page(refuse(
                    "invalid_client",
                    "client_id is not a client of this tenant",
                )));
            }
            Err(e) => return Err(e),
        };
        let to = match match_redirect(&client, redirect_uri) {
            Ok(to) => to,
            Err(r) => return Ok(Authorized::Page(r)),
        };
        let back = Back {
            to,
            state: params.state().map(str::to_owned),
            issuer: self.issuer(&tenant),
        };
        if client.require_par {
            return Ok(back.error(err(
                AuthzErrorCode::InvalidRequest,
                "this client must use pushed authorization requests (RFC 9126)",
            )));
        }
        let reachable = self.reachable_aal(&tenant).await?;
        let req = match validate(params, &client, redirect_uri, reachable) {
            Ok(r) => r,
            Err(e) => return Ok(back.error(e)),
        };
        self.proceed(ctx, &tenant, &client, back, req, None, false)
            .await
    }

    /// `GET /t/{tenant}/oauth2/authorize/continue?request=…`: the sign-in came back. The stored request
    /// must be live and made by this browser; then the session must now answer it.
    pub async fn authorize_continue(&self, ctx: &FlowContext, request: &str) -> Result<Authorized> {
        match self.resume(ctx, request).await? {
            Resumed::Live(r) => {
                let Live {
                    tenant,
                    client,
                    back,
                    req,
                    stored,
                } = *r;
                self.proceed(ctx, &tenant, &client, back, req, Some(&stored), false)
                    .await
            }
            Resumed::Answer(a) => Ok(a),
        }
    }

    /// A stored request named by the browser, live and made by this browser, with its client as it is
    /// now; or the page that says why not.
    pub(super) async fn resume(&self, ctx: &FlowContext, request: &str) -> Result<Resumed> {
        let gone = || {
            Ok(Resumed::Answer(Authorized::Page(refuse(
                "invalid_request",
                "this sign-in request is unknown, used or expired: start again from the app",
            ))))
        };
        let Ok(id) = Uuid::parse_str(request) else {
            return gone();
        };
        let tenant = match self.t.tenant_by_slug(&ctx.tenant).await {
            Ok(t) => t,
            Err(CoreError::NotFound { .. }) => return gone(),
            Err(e) => return Err(e),
        };
        let mut conn = self.t.db().conn().await?;
        let stored = tessera_store::oauth_requests::request(&mut conn, tenant.id, id).await?;
        drop(conn);
        let now = self.t.now();
        let Some(stored) = stored.filter(|s| s.consumed_at.is_none() && s.expires_at > now) else {
            return gone();
        };
        let bound = binding_of(ctx).is_some_and(|b| {
            tessera_crypto::constant_time_eq(&request_binding_hash(self.t, b), &stored.binding_hash)
        });
        if !bound {
            return Ok(Resumed::Answer(Authorized::Page(refuse(
                "request_binding",
                "this sign-in request was started in another browser",
            ))));
        }
        let req: AuthorizationRequest = serde_json::from_str(&stored.request)
            .map_err(|e| CoreError::Internal(format!("stored authorization request: {e}")))?;
        // The client may have changed meanwhile: its registration as it is now decides.
        let (tenant, client) = match self.client(&ctx.tenant, &req.client_id).await {
            Ok(x) => x,
            Err(CoreError::NotFound { .. }) => return gone(),
            Err(e) => return Err(e),
        };
        let to = match match_redirect(&client, &req.redirect_uri) {
            Ok(to) => to,
            Err(r) => return Ok(Resumed::Answer(Authorized::Page(r))),
        };
        let back = Back {
            to,
            state: req.state.clone(),
            issuer: self.issuer(&tenant),
        };
        Ok(Resumed::Live(Box::new(Live {
            tenant,
            client,
            back,
            req,
            stored,
        })))
    }

    /// The highest assurance level the tenant's sign-in methods can reach.
    pub(crate) async fn reachable_aal(&self, tenant: &Tenant) -> Result<i64> {
        let policy = self.t.effective_policy_doc(tenant.id).await?;
        Ok(crate::methods::aal(
            self.t
                .methods()
                .offered(&policy.authentication)
                .map(|m| m.as_ref()),
        ))
    }

    /// Answers a checked request from the session, or sends the browser to sign in, to the profile step
    /// or to the consent page first. `consented`: the customer allowed this very request just now.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn proceed(
        &self,
        ctx: &FlowContext,
        tenant: &Tenant,
        client: &OAuthClient,
        back: Back,
        req: AuthorizationRequest,
        stored: Option<&StoredRequest>,
        consented: bool,
    ) -> Result<Authorized> {
        use AuthzErrorCode::*;
        let session = match &ctx.session_token {
            Some(token) => self
                .t
                .sessions()
                .from_token(&ctx.tenant, token)
                .await?
                .map(|a| a.session),
            None => None,
        };
        let since = stored.map(|s| s.created_at);
        let session = match &req.id_token_hint {
            None => session,
            Some(hint) => {
                let Some(h) = self.read_hint(tenant, hint).await? else {
                    return Ok(back.error(err(
                        InvalidRequest,
                        "id_token_hint is not an ID token this issuer signed",
                    )));
                };
                if h.aud != client.client_id {
                    return Ok(back.error(err(
                        InvalidRequest,
                        "id_token_hint was issued to another client",
                    )));
                }
                // Another customer's session does not answer for the one the app named, unless that
                // customer signed in for this very request (they chose to).
                session.filter(|s| {
                    s.identity_id.to_string() == h.sub
                        || since.is_some_and(|since| s.authenticated_at >= since)
                })
            }
        };
        let facts = session.as_ref().map(|s| SessionFacts {
            aal: s.aal,
            auth_time: s.authenticated_at,
        });
        if req.essential_acr_unmet(facts, since) {
            return Ok(back.error(err(
                UnmetAuthenticationRequirements,
                "the sign-in did not reach the essential acr asked for",
            )));
        }
        let decision = decide(&req, facts, self.t.now(), since);
        if decision == Decision::LoginRequired {
            return Ok(back.error(err(LoginRequired, "the customer is not signed in")));
        }
        let session = match (decision, session) {
            (Decision::Answer, Some(s)) => s,
            _ => return self.sign_in(ctx, tenant, &req, stored, None).await,
        };
        // Progressive profiling: a session that answers still gives what the app requires first.
        if let Some((identity, missing)) = self.missing_profile(tenant, client, &session).await? {
            if req.prompts(Prompt::None) {
                return Ok(back.error(err(
                    InteractionRequired,
                    "the app needs details the customer has not given yet",
                )));
            }
            let park = Park {
                session: &session,
                identity: &identity,
                missing,
            };
            return self.sign_in(ctx, tenant, &req, stored, Some(park)).await;
        }
        if !consented
            && let Some(ask) =
                super::consent::to_ask(self.t, tenant, client, &req, session.identity_id).await?
        {
            if req.prompts(Prompt::None) {
                return Ok(back.error(err(
                    ConsentRequired,
                    "this client needs the customer's consent",
                )));
            }
            let (id, new_binding) = match stored {
                Some(s) => (s.id, None),
                None => self.store_request(ctx, tenant, &req).await?,
            };
            let binding = new_binding
                .as_deref()
                .or(binding_of(ctx))
                .unwrap_or_default();
            let page = super::consent::page(self.t, client, &back, id, binding, ask);
            return Ok(Authorized::Consent { page, new_binding });
        }
        let mut tx = self.t.db().begin().await?;
        if let Some(s) = stored
            && !tessera_store::oauth_requests::consume_request(&mut tx, s.id, self.t.now()).await?
        {
            return Ok(Authorized::Page(refuse(
                "invalid_request",
                "this sign-in request was already answered: start again from the app",
            )));
        }
        let code = super::codes::issue(self.t, &mut tx, &req, &session).await?;
        super::backchannel::participate(self.t, &mut tx, &session, client).await?;
        tx.commit().await?;
        Ok(Authorized::Code {
            to: back.to,
            state: back.state,
            issuer: back.issuer,
            code,
        })
    }

    /// The attributes the client needs that the session's identity lacks (none asked: `None`). Reads the
    /// identity only when the client or the policy's progressive profiling names attributes for it.
    pub(crate) async fn missing_profile(
        &self,
        tenant: &Tenant,
        client: &OAuthClient,
        session: &tessera_store::sessions::StoredSession,
    ) -> Result<Option<(Identity, Vec<(String, String)>)>> {
        let policy = self.t.effective_policy_doc(tenant.id).await?;
        let listed = policy
            .registration
            .progressive_profiling
            .iter()
            .any(|p| p.client_id == client.client_id);
        if client.required_attributes.is_empty() && !listed {
            return Ok(None);
        }
        let mut conn = self.t.db().conn().await?;
        let identity =
            tessera_store::identities::get(&mut conn, tenant.id, session.identity_id).await?;
        drop(conn);
        let Some(identity) = identity else {
            return Ok(None);
        };
        let missing =
            crate::flows::login::missing_for(self.t, tenant, &client.client_id, &identity).await?;
        Ok((!missing.is_empty()).then_some((identity, missing)))
    }

    /// Stores the request bound to this browser (giving it a binding cookie when it has none).
    async fn store_request(
        &self,
        ctx: &FlowContext,
        tenant: &Tenant,
        req: &AuthorizationRequest,
    ) -> Result<(Uuid, Option<String>)> {
        let (binding, new_binding) = match binding_of(ctx) {
            Some(b) => (b.to_owned(), None),
            None => {
                let b = tessera_crypto::random_token()?;
                (b.clone(), Some(b))
            }
        };
        let now = self.t.now();
        let row = StoredRequest {
            id: Uuid::now_v7(),
            tenant_id: tenant.id,
            client_id: req.client_id.clone(),
            binding_hash: request_binding_hash(self.t, &binding),
            request: serde_json::to_string(req).map_err(|e| CoreError::Internal(e.to_string()))?,
            created_at: now,
            expires_at: now + REQUEST_TTL,
            consumed_at: None,
        };
        let mut tx = self.t.db().begin().await?;
        tessera_store::oauth_requests::insert_request(&mut tx, &row).await?;
        tx.commit().await?;
        Ok((row.id, new_binding))
    }

    /// Stores the request (once) bound to this browser and starts a sign-in that returns to it; with
    /// `park`, a sign-in already at the profile step for the signed-in customer.
    async fn sign_in(
        &self,
        ctx: &FlowContext,
        tenant: &Tenant,
        req: &AuthorizationRequest,
        stored: Option<&StoredRequest>,
        park: Option<Park<'_>>,
    ) -> Result<Authorized> {
        let (id, new_binding) = match stored {
            Some(s) => (s.id, None),
            None => self.store_request(ctx, tenant, req).await?,
        };
        let mut flow_ctx = ctx.clone();
        if let Some(b) = &new_binding {
            flow_ctx.browser_binding = Some(b.clone());
        }
        let start = FlowStart {
            return_to: Some(continue_path(&ctx.tenant, id)),
            client_id: Some(req.client_id.clone()),
            identifier: req.login_hint.clone(),
            requested_aal: Some(req.requested_aal),
        };
        let started = match park {
            None => {
                self.t
                    .flows()
                    .start(&flow_ctx, FlowKind::Login, start)
                    .await?
            }
            Some(p) => {
                self.t
                    .flows()
                    .start_at_profile(&flow_ctx, tenant, start, p.session, p.identity, p.missing)
                    .await?
            }
        };
        let mut location = format!("/t/{}/flows/login/{}", ctx.tenant, started.flow.id);
        if let Some(l) = &req.ui_locales {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("ui_locales", l)
                .finish();
            location = format!("{location}?{q}");
        }
        Ok(Authorized::SignIn {
            location,
            new_binding,
        })
    }
}

/// A signed-in customer the profile step is for.
struct Park<'a> {
    session: &'a tessera_store::sessions::StoredSession,
    identity: &'a Identity,
    missing: Vec<(String, String)>,
}

/// A stored request taken up again.
pub(super) enum Resumed {
    Live(Box<Live>),
    /// Nothing to take up: this is the answer (an error page).
    Answer(Authorized),
}

/// A live stored request of this browser, its client as it is now, and where it goes back to.
pub(super) struct Live {
    pub tenant: Tenant,
    pub client: OAuthClient,
    pub back: Back,
    pub req: AuthorizationRequest,
    pub stored: StoredRequest,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use tessera_model::TenantId;
    use tessera_model::oauth_client::{AccessTokenFormat, TokenEndpointAuth};

    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client() -> OAuthClient {
        OAuthClient {
            tenant_id: TenantId(uuid::Uuid::nil()),
            client_id: "shop".into(),
            name: "Shop".into(),
            kind: ClientKind::Confidential,
            first_party: true,
            token_endpoint_auth: TokenEndpointAuth::ClientSecretBasic,
            redirect_uris: vec!["https://shop.example/cb".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            require_pkce: true,
            require_par: false,
            signing_alg: "ES256".into(),
            access_token_format: AccessTokenFormat::Jwt,
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 600,
            refresh_token_ttl_secs: 86400,
            refresh_reuse_grace_secs: 0,
            allowed_origins: vec![],
            backchannel_logout_uri: None,
            required_attributes: vec![],
            jwks: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            version: 1,
        }
    }

    fn good() -> String {
        format!(
            "response_type=code&client_id=shop&redirect_uri=https%3A%2F%2Fshop.example%2Fcb&scope=openid%20profile&state=s1&nonce=n1&code_challenge={CHALLENGE}&code_challenge_method=S256"
        )
    }

    fn check(q: &str) -> Result<AuthorizationRequest, AuthzError> {
        let p = RawParams::parse(q);
        let (_, redirect) = target(&p).unwrap();
        validate(&p, &client(), redirect, 1)
    }

    fn code(q: &str) -> AuthzErrorCode {
        check(q).unwrap_err().code
    }

    #[test]
    fn a_good_request_is_typed() {
        let r = check(&good()).unwrap();
        assert_eq!(r.scopes, ["openid", "profile"]);
        assert_eq!(r.state.as_deref(), Some("s1"));
        assert_eq!(r.nonce.as_deref(), Some("n1"));
        assert_eq!(r.code_challenge.as_deref(), Some(CHALLENGE));
        assert!(r.is_openid());
        assert_eq!(r.requested_aal, 0);
    }

    #[test]
    fn oa_02_the_client_and_redirect_come_first_and_fail_as_pages() {
        for q in [
            "response_type=code",
            "client_id=shop",
            "client_id=shop&client_id=other&redirect_uri=https%3A%2F%2Fshop.example%2Fcb",
            "client_id=shop&redirect_uri=https%3A%2F%2Fshop.example%2Fcb&redirect_uri=https%3A%2F%2Fevil.example%2F",
        ] {
            assert!(target(&RawParams::parse(q)).is_err(), "{q}");
        }
        assert!(match_redirect(&client(), "https://shop.example/cb/").is_err());
        assert!(match_redirect(&client(), "https://shop.example/cb").is_ok());
    }

    #[test]
    fn oa_17_a_repeated_parameter_is_invalid_request() {
        assert_eq!(
            code(&format!("{}&scope=openid", good())),
            AuthzErrorCode::InvalidRequest
        );
        let p = RawParams::parse(&format!("{}&state=again", good()));
        assert_eq!(p.state(), None, "an ambiguous state is not echoed");
        assert!(
            check(&format!("{}&unknown=1", good())).is_ok(),
            "unknown parameters are ignored"
        );
    }

    #[test]
    fn oa_09_only_the_code_response_type() {
        let g = good();
        for rt in ["token", "id_token", "code%20id_token", "none"] {
            let q = g.replace("response_type=code", &format!("response_type={rt}"));
            assert_eq!(code(&q), AuthzErrorCode::UnsupportedResponseType, "{rt}");
        }
        assert_eq!(
            code(&g.replace("response_type=code&", "")),
            AuthzErrorCode::InvalidRequest
        );
    }

    #[test]
    fn oa_20_request_objects_are_refused_with_their_own_errors() {
        assert_eq!(
            code(&format!("{}&request=eyJhbGciOiJub25lIn0.e30.", good())),
            AuthzErrorCode::RequestNotSupported
        );
        assert_eq!(
            code(&format!(
                "{}&request_uri=https%3A%2F%2Fevil.example%2Fr",
                good()
            )),
            AuthzErrorCode::InvalidRequest,
            "a pushed request carries no request_uri (RFC 9126 §2.1)"
        );
    }

    #[test]
    fn oa_06_pkce_is_s256_only_and_required() {
        let g = good();
        let plain = g.replace("code_challenge_method=S256", "code_challenge_method=plain");
        assert_eq!(code(&plain), AuthzErrorCode::InvalidRequest);
        let no_method = g.replace("&code_challenge_method=S256", "");
        assert_eq!(
            code(&no_method),
            AuthzErrorCode::InvalidRequest,
            "no method means plain"
        );
        let none = g
            .replace("&code_challenge_method=S256", "")
            .replace(&format!("&code_challenge={CHALLENGE}"), "");
        assert_eq!(
            code(&none),
            AuthzErrorCode::InvalidRequest,
            "required by default"
        );
        let short = g.replace(CHALLENGE, "abc");
        assert_eq!(code(&short), AuthzErrorCode::InvalidRequest);
        let mut optional = client();
        optional.require_pkce = false;
        let p = RawParams::parse(&none);
        assert!(validate(&p, &optional, "https://shop.example/cb", 1).is_ok());
        optional.kind = ClientKind::Public;
        assert!(
            validate(&p, &optional, "https://shop.example/cb", 1).is_err(),
            "always for public clients"
        );
    }

    #[test]
    fn oa_14_scopes_are_those_of_the_client() {
        let g = good();
        assert_eq!(
            code(&g.replace("scope=openid%20profile", "scope=openid%20admin")),
            AuthzErrorCode::InvalidScope
        );
        assert_eq!(
            code(&g.replace("scope=openid%20profile&", "")),
            AuthzErrorCode::InvalidScope
        );
        let r =
            check(&g.replace("scope=openid%20profile", "scope=openid%20openid%20email")).unwrap();
        assert_eq!(r.scopes, ["openid", "email"]);
    }

    #[test]
    fn prompts_max_age_and_acr() {
        let g = good();
        assert_eq!(
            code(&format!("{g}&prompt=none%20login")),
            AuthzErrorCode::InvalidRequest
        );
        assert_eq!(
            code(&format!("{g}&prompt=bogus")),
            AuthzErrorCode::InvalidRequest
        );
        assert_eq!(
            code(&format!("{g}&max_age=-1")),
            AuthzErrorCode::InvalidRequest
        );
        assert_eq!(
            code(&format!("{g}&max_age=%2B5")),
            AuthzErrorCode::InvalidRequest
        );
        let r = check(&format!("{g}&prompt=login%20consent&max_age=0")).unwrap();
        assert_eq!(r.prompt, [Prompt::Login, Prompt::Consent]);
        assert_eq!(r.max_age, Some(0));
        let p = RawParams::parse(&format!("{g}&acr_values=urn%3Ax%20aal2%20aal1"));
        assert_eq!(
            validate(&p, &client(), "https://shop.example/cb", 2)
                .unwrap()
                .requested_aal,
            2
        );
        assert_eq!(
            validate(&p, &client(), "https://shop.example/cb", 1)
                .unwrap()
                .requested_aal,
            1,
            "capped at what the tenant can reach"
        );
        assert_eq!(
            code(&format!("{g}&response_mode=fragment")),
            AuthzErrorCode::InvalidRequest
        );
    }

    fn with_claims(claims: &str) -> String {
        let enc: String = url::form_urlencoded::byte_serialize(claims.as_bytes()).collect();
        format!("{}&claims={enc}", good())
    }

    #[test]
    fn oidc_03_an_essential_acr_the_tenant_cannot_reach_is_unmet_and_a_reachable_one_is_required() {
        let aal2 = with_claims(r#"{"id_token":{"acr":{"essential":true,"value":"aal2"}}}"#);
        let p = RawParams::parse(&aal2);
        assert_eq!(
            validate(&p, &client(), "https://shop.example/cb", 1)
                .unwrap_err()
                .code,
            AuthzErrorCode::UnmetAuthenticationRequirements,
            "the tenant's methods reach aal1 only"
        );
        let r = validate(&p, &client(), "https://shop.example/cb", 2).unwrap();
        assert_eq!((r.requested_aal, r.essential_aal.clone()), (2, vec![2]));
        let unknown = with_claims(r#"{"id_token":{"acr":{"essential":true,"values":["urn:x"]}}}"#);
        assert_eq!(
            code(&unknown),
            AuthzErrorCode::UnmetAuthenticationRequirements
        );
        let either = with_claims(
            r#"{"id_token":{"acr":{"essential":true,"values":["aal2","urn:x","aal1"]}}}"#,
        );
        let r = check(&either).unwrap();
        assert_eq!((r.requested_aal, r.essential_aal.clone()), (1, vec![1]));
        assert_eq!(code(&with_claims("{")), AuthzErrorCode::InvalidRequest);
        let voluntary = check(&with_claims(r#"{"id_token":{"acr":{"values":["aal2"]}}}"#)).unwrap();
        assert!(voluntary.essential_aal.is_empty());
    }

    #[test]
    fn oidc_03_the_reported_acr_is_one_the_essential_request_named() {
        let mut r = check(&good()).unwrap();
        assert_eq!(r.acr_for(2), "aal2", "no requirement: what was reached");
        r.essential_aal = vec![1];
        assert_eq!(
            r.acr_for(2),
            "aal1",
            "an aal2 session meets, and reports, aal1"
        );
        r.essential_aal = vec![1, 2];
        assert_eq!(r.acr_for(2), "aal2");
        assert_eq!(r.acr_for(1), "aal1");
    }

    #[test]
    fn oidc_03_a_sign_in_made_for_the_request_that_falls_short_fails_it() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1000);
        let since = now - time::Duration::seconds(60);
        let session = |aal, ago| SessionFacts {
            aal,
            auth_time: now - time::Duration::seconds(ago),
        };
        let mut r = check(&good()).unwrap();
        r.essential_aal = vec![2];
        r.requested_aal = 2;
        assert!(r.essential_acr_unmet(Some(session(1, 10)), Some(since)));
        assert!(
            !r.essential_acr_unmet(Some(session(1, 100)), Some(since)),
            "an older session is sent to sign in again, not failed"
        );
        assert!(!r.essential_acr_unmet(Some(session(2, 10)), Some(since)));
        assert!(
            !r.essential_acr_unmet(Some(session(1, 10)), None),
            "first arrival"
        );
        assert!(!r.essential_acr_unmet(None, Some(since)));
        r.essential_aal = vec![];
        assert!(!r.essential_acr_unmet(Some(session(1, 10)), Some(since)));
    }

    #[test]
    fn ses_09_and_oidc_03_the_session_decides() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1000);
        let s = SessionFacts {
            aal: 1,
            auth_time: now - time::Duration::seconds(100),
        };
        let mut r = check(&good()).unwrap();
        assert_eq!(decide(&r, Some(s), now, None), Decision::Answer);
        assert_eq!(decide(&r, None, now, None), Decision::SignIn);
        r.prompt = vec![Prompt::None];
        assert_eq!(decide(&r, None, now, None), Decision::LoginRequired);
        r.max_age = Some(99);
        assert_eq!(decide(&r, Some(s), now, None), Decision::LoginRequired);
        r.prompt = vec![];
        assert_eq!(decide(&r, Some(s), now, None), Decision::SignIn);
        r.max_age = Some(100);
        assert_eq!(decide(&r, Some(s), now, None), Decision::Answer);
        r.requested_aal = 2;
        assert_eq!(decide(&r, Some(s), now, None), Decision::SignIn);
        r.requested_aal = 1;
        r.prompt = vec![Prompt::Login];
        assert_eq!(decide(&r, Some(s), now, None), Decision::SignIn);
        assert_eq!(
            decide(&r, Some(s), now, Some(now - time::Duration::seconds(101))),
            Decision::Answer,
            "signed in again since the request"
        );
        assert_eq!(
            decide(&r, Some(s), now, Some(now - time::Duration::seconds(99))),
            Decision::SignIn
        );
    }

    #[test]
    fn oidc_03_a_sign_in_made_for_the_request_satisfies_max_age_zero() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1000);
        // Two factors: the sign-in dates from the first, 30 s before the return to the request.
        let s = SessionFacts {
            aal: 2,
            auth_time: now - time::Duration::seconds(30),
        };
        let mut r = check(&good()).unwrap();
        r.max_age = Some(0);
        assert_eq!(decide(&r, Some(s), now, None), Decision::SignIn);
        let request_made = now - time::Duration::seconds(40);
        assert_eq!(
            decide(&r, Some(s), now, Some(request_made)),
            Decision::Answer,
            "no endless loop back to the sign-in"
        );
        let before_the_request = now - time::Duration::seconds(20);
        assert_eq!(
            decide(&r, Some(s), now, Some(before_the_request)),
            Decision::SignIn
        );
    }

    #[test]
    fn pkce_verifier_syntax() {
        assert!(pkce_syntax(&"a".repeat(43)));
        assert!(pkce_syntax(&"~._-".repeat(32)));
        assert!(!pkce_syntax("a"));
        assert!(!pkce_syntax(&"a".repeat(129)));
        assert!(!pkce_syntax(&format!("{}+", "a".repeat(43))));
    }
}
