//! OpenID Connect sign-in as an app sees it: an independent relying party (the `openidconnect` crate)
//! discovers the tenant's issuer, sends the customer's browser to authorize, the customer signs in on the
//! hosted form over HTTP, and the app redeems the code, verifies the ID token against the JWKS and reads
//! userinfo. Single sign-on, `prompt`, `max_age` and `acr_values` with an existing session. Every test
//! runs on SQLite and PostgreSQL. The attacks are in `oidc_attacks`.
use std::future::Future;
use std::pin::Pin;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AsyncHttpClient, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    HttpRequest, HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    RedirectUrl, Scope, TokenResponse,
};
use serde_json::{Value, json};
use tessera_testkit::{Engine, TestServer, engine_tests};

use crate::flows::{PASSWORD, sign_up};
use crate::pages::{browser, csrf};

pub(crate) const CLIENTS: &str = "/admin/v1/tenants/default/clients";
pub(crate) const REDIRECT: &str = "http://127.0.0.1/cb";
pub(crate) const EMAIL: &str = "ada@example.com";

/// The relying party's HTTP client: the workspace's reqwest, following no redirect (as an RP must not at
/// the token endpoint).
pub(crate) struct RpHttp(reqwest::Client);

#[derive(Debug)]
pub(crate) struct RpHttpError(String);

impl std::fmt::Display for RpHttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RpHttpError {}

impl<'c> AsyncHttpClient<'c> for RpHttp {
    type Error = RpHttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, RpHttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let e = |e: reqwest::Error| RpHttpError(e.to_string());
            let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
                .map_err(|e| RpHttpError(e.to_string()))?;
            let mut req = self.0.request(method, parts.uri.to_string()).body(body);
            for (k, v) in &parts.headers {
                req = req.header(k.as_str(), v.as_bytes());
            }
            let resp = req.send().await.map_err(e)?;
            let mut out = openidconnect::http::Response::builder().status(resp.status().as_u16());
            for (k, v) in resp.headers() {
                out = out.header(k.as_str(), v.as_bytes());
            }
            let bytes = resp.bytes().await.map_err(e)?;
            out.body(bytes.to_vec())
                .map_err(|e| RpHttpError(e.to_string()))
        })
    }
}

pub(crate) fn rp_http() -> RpHttp {
    RpHttp(
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    )
}

pub(crate) fn issuer(s: &TestServer) -> String {
    format!("{}/t/default", s.public)
}

/// Registers a first-party confidential client with `extra` fields; returns its id and secret.
pub(crate) async fn register(s: &TestServer, id: &str, extra: Value) -> (String, String) {
    let mut body = json!({
        "client_id": id,
        "name": "Shop",
        "first_party": true,
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code"],
        "scopes": ["openid", "profile", "email", "phone", "address"],
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let r = s.post(CLIENTS, body).await;
    assert_eq!(r.status, 201, "{r:?}");
    (
        r.json["client_id"].as_str().unwrap().to_owned(),
        r.json["client_secret"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// A customer with a proven email and a password; returns the identity id.
pub(crate) async fn customer(s: &TestServer) -> String {
    let schema = json!({"attributes": [
        {"name": "given_name", "type": "string"},
        {"name": "family_name", "type": "string"}
    ]});
    assert_eq!(
        s.put("/admin/v1/tenants/default/attribute-schema", schema)
            .await
            .status,
        200
    );
    sign_up(s, EMAIL, json!({})).await;
    let id = crate::codes::identity_id(s, EMAIL).await;
    let r = s
        .patch(
            &format!("/admin/v1/tenants/default/identities/{id}"),
            json!({"attributes": {"given_name": "Ada", "family_name": "Lovelace"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    id
}

/// The query pairs of a `Location`.
pub(crate) fn query_of(location: &str) -> Vec<(String, String)> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub(crate) fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub(crate) fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Makes `path` (absolute, or relative to the server) absolute.
pub(crate) fn absolute(s: &TestServer, path: &str) -> String {
    if path.starts_with("http") {
        path.to_owned()
    } else {
        format!("{}{path}", s.public)
    }
}

/// Follows an authorization request in `c` to the client's redirect: through the hosted sign-in form
/// with the customer's password when the browser has no session that answers. Returns the final
/// `Location` (at the client's redirect URI).
pub(crate) async fn authorize(s: &TestServer, c: &reqwest::Client, url: &str) -> String {
    let r = c.get(url).send().await.unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let to = location(&r);
    if to.starts_with(REDIRECT) || !to.contains("/flows/login/") {
        return to;
    }
    sign_in_on_the_form(s, c, &to).await
}

/// Signs in on the hosted form at `login`; returns where the sign-in sends the browser back to (the
/// continue URL of the stored request), without following it.
pub(crate) async fn submit_the_form(s: &TestServer, c: &reqwest::Client, login: &str) -> String {
    let page_url = absolute(s, login);
    let html = c.get(&page_url).send().await.unwrap().text().await.unwrap();
    let r = c
        .post(page_url.split('?').next().unwrap())
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("identifier", EMAIL),
            ("password", PASSWORD),
            ("method", "password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let back = location(&r);
    assert!(
        back.contains("/oauth2/authorize/continue?request="),
        "{back}"
    );
    absolute(s, &back)
}

/// Signs in on the hosted form at `login` and follows the way back; returns the final `Location`.
pub(crate) async fn sign_in_on_the_form(
    s: &TestServer,
    c: &reqwest::Client,
    login: &str,
) -> String {
    let back = submit_the_form(s, c, login).await;
    let r = c.get(back).send().await.unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    location(&r)
}

/// An authorization URL for `client` with PKCE and these extra parameters; returns it with the verifier.
pub(crate) fn auth_url(s: &TestServer, client: &str, extra: &[(&str, &str)]) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut u = url::Url::parse(&format!("{}/oauth2/authorize", issuer(s))).unwrap();
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid email")
        .append_pair("state", "st4te")
        .append_pair("nonce", "n0nce")
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        u.query_pairs_mut().append_pair(k, v);
    }
    (u.to_string(), verifier.secret().clone())
}

/// Redeems a code at the token endpoint with client_secret_basic.
pub(crate) async fn redeem(
    s: &TestServer,
    client: (&str, &str),
    code: &str,
    verifier: Option<&str>,
    redirect_uri: &str,
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    let r = s
        .http
        .post(format!("{}/oauth2/token", issuer(s)))
        .basic_auth(client.0, Some(client.1))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn an_independent_relying_party_signs_a_customer_in_through_the_hosted_form(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let (id, secret) = register(&s, "shop", json!({})).await;
    let http = rp_http();
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer(&s)).unwrap(), &http)
        .await
        .unwrap();
    let rp = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(id),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let c = browser();
    let back = authorize(&s, &c, url.as_str()).await;
    assert!(back.starts_with(REDIRECT), "{back}");
    let q = query_of(&back);
    assert_eq!(param(&q, "state"), Some(state.secret().as_str()));
    assert_eq!(
        param(&q, "iss"),
        Some(issuer(&s).as_str()),
        "RFC 9207: the response names its issuer"
    );
    let code = param(&q, "code").unwrap().to_owned();
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens
        .id_token()
        .expect("an ID token for an openid request");
    let verifier = rp
        .id_token_verifier()
        .set_allowed_algs([CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = id_token.claims(&verifier, &nonce).unwrap();
    assert_eq!(claims.subject().as_str(), sub);
    assert_eq!(claims.issuer().as_str(), issuer(&s));
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some("aal1"));
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    let info: CoreUserInfoClaims = rp
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.subject().as_str(), sub, "OIDC-04: the same sub");
    assert_eq!(info.email().map(|e| e.as_str()), Some(EMAIL));
    assert_eq!(info.email_verified(), Some(true));
    assert_eq!(
        info.given_name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str()),
        Some("Ada")
    );
    assert!(info.phone_number().is_none(), "no phone scope, no phone");
    // Single sign-on: the same browser asks again and is answered at once, without the form.
    let (url, _) = auth_url(&s, "shop", &[]);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with(REDIRECT), "{}", location(&r));
    assert!(param(&query_of(&location(&r)), "code").is_some());
}

async fn discovery_names_the_issuer_and_only_what_exists(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let r = s
        .http
        .get(format!("{}/.well-known/openid-configuration", issuer(&s)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["issuer"], issuer(&s));
    assert_eq!(
        d["jwks_uri"],
        format!("{}/.well-known/jwks.json", issuer(&s))
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["response_types_supported"], json!(["code"]));
    let jwks = s
        .http
        .get(d["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200, "the advertised JWKS is there");
    let missing = s
        .http
        .get(format!(
            "{}/t/nope/.well-known/openid-configuration",
            s.public
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

async fn oidc_03_prompt_login_and_max_age_ask_for_a_fresh_sign_in(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    register(&s, "shop", json!({})).await;
    let c = browser();
    let (url, _) = auth_url(&s, "shop", &[]);
    assert!(authorize(&s, &c, &url).await.starts_with(REDIRECT));
    // With a session: prompt=login shows the form again.
    let (url, _) = auth_url(&s, "shop", &[("prompt", "login")]);
    let r = c.get(&url).send().await.unwrap();
    assert!(location(&r).contains("/flows/login/"), "{}", location(&r));
    let back = sign_in_on_the_form(&s, &c, &location(&r)).await;
    assert!(param(&query_of(&back), "code").is_some(), "{back}");
    // max_age: an hour later a ten-minute max_age needs the form, a two-hour one does not.
    s.clock.advance(std::time::Duration::from_secs(50 * 60));
    let (url, _) = auth_url(&s, "shop", &[("max_age", "7200")]);
    let r = c.get(&url).send().await.unwrap();
    assert!(location(&r).starts_with(REDIRECT), "{}", location(&r));
    let (url, _) = auth_url(&s, "shop", &[("max_age", "600")]);
    let r = c.get(&url).send().await.unwrap();
    assert!(location(&r).contains("/flows/login/"), "{}", location(&r));
    let (url, _) = auth_url(&s, "shop", &[("max_age", "600"), ("prompt", "none")]);
    let r = c.get(&url).send().await.unwrap();
    let q = query_of(&location(&r));
    assert_eq!(param(&q, "error"), Some("login_required"));
}

async fn oidc_01_the_id_token_carries_auth_time_nonce_acr_amr_and_sid(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let (id, secret) = register(&s, "shop", json!({"signing_alg": "RS256"})).await;
    let c = browser();
    let (url, verifier) = auth_url(&s, "shop", &[("acr_values", "aal2 aal1")]);
    let back = authorize(&s, &c, &url).await;
    let code = param(&query_of(&back), "code").unwrap().to_owned();
    let (status, body) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid email");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh_token grant registered"
    );
    let token = body["id_token"].as_str().unwrap();
    let header = crate::oidc_attacks::jwt_part(token, 0);
    assert_eq!(header["alg"], "RS256", "the client's algorithm");
    assert_eq!(header["typ"], "JWT");
    assert!(header["kid"].is_string());
    let claims = crate::oidc_attacks::jwt_part(token, 1);
    assert_eq!(claims["sub"], sub);
    assert_eq!(claims["aud"], "shop");
    assert_eq!(claims["nonce"], "n0nce");
    assert_eq!(
        claims["acr"], "aal1",
        "honest: AAL2 was asked for, the tenant's methods reach AAL1"
    );
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert!(claims["sid"].is_string() && claims["auth_time"].is_i64());
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
}

async fn oidc_03_an_essential_acr_is_met_or_the_request_fails_with_unmet_authentication_requirements(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let (id, secret) = register(&s, "shop", json!({})).await;
    let c = browser();
    // The tenant's methods reach aal1: an essential aal2 fails at once, back at the client.
    let essential_aal2 = r#"{"id_token":{"acr":{"essential":true,"value":"aal2"}}}"#;
    let (url, _) = auth_url(&s, "shop", &[("claims", essential_aal2)]);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let q = query_of(&location(&r));
    assert!(location(&r).starts_with(REDIRECT), "{}", location(&r));
    assert_eq!(
        param(&q, "error"),
        Some("unmet_authentication_requirements")
    );
    assert_eq!(param(&q, "state"), Some("st4te"));
    assert_eq!(param(&q, "iss"), Some(issuer(&s).as_str()));
    // An essential acr the sign-in can meet is met, and the ID token names a value that was asked for.
    let either = r#"{"id_token":{"acr":{"essential":true,"values":["aal2","aal1"]}}}"#;
    let (url, verifier) = auth_url(&s, "shop", &[("claims", either)]);
    let back = authorize(&s, &c, &url).await;
    let code = param(&query_of(&back), "code").expect(&back).to_owned();
    let (status, body) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{body}");
    let claims = crate::oidc_attacks::jwt_part(body["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["acr"], "aal1");
    // A claims parameter that is not JSON is the client's error, not a page.
    let (url, _) = auth_url(&s, "shop", &[("claims", "{not json")]);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(
        param(&query_of(&location(&r)), "error"),
        Some("invalid_request")
    );
    let d: Value = s
        .http
        .get(format!("{}/.well-known/openid-configuration", issuer(&s)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["claims_parameter_supported"], true);
}

async fn oidc_03_id_token_hint_names_the_customer_the_session_must_be(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let (id, secret) = register(&s, "shop", json!({})).await;
    register(&s, "blog", json!({})).await;
    let c = browser();
    let (url, verifier) = auth_url(&s, "shop", &[]);
    let back = authorize(&s, &c, &url).await;
    let code = param(&query_of(&back), "code").unwrap().to_owned();
    let (_, body) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    let ada_hint = body["id_token"].as_str().unwrap().to_owned();
    let error_of =
        |r: &reqwest::Response| param(&query_of(&location(r)), "error").map(str::to_owned);

    // The hinted customer's own session answers, even once the hint has expired.
    s.clock.advance(std::time::Duration::from_secs(3600));
    let (url, _) = auth_url(
        &s,
        "shop",
        &[("id_token_hint", &ada_hint), ("prompt", "none")],
    );
    let r = c.get(&url).send().await.unwrap();
    assert!(
        param(&query_of(&location(&r)), "code").is_some(),
        "{}",
        location(&r)
    );

    // Another customer's session does not answer for Ada.
    let bob = sign_up(&s, "bob@example.com", json!({})).await;
    let bobs_browser = |url: String| {
        let req = browser()
            .get(url)
            .header("cookie", format!("__Host-tessera_session={bob}"));
        async move { req.send().await.unwrap() }
    };
    let (url, _) = auth_url(&s, "shop", &[("prompt", "none")]);
    assert!(param(&query_of(&location(&bobs_browser(url).await)), "code").is_some());
    let (url, _) = auth_url(
        &s,
        "shop",
        &[("id_token_hint", &ada_hint), ("prompt", "none")],
    );
    assert_eq!(
        error_of(&bobs_browser(url).await).as_deref(),
        Some("login_required")
    );
    let (url, _) = auth_url(&s, "shop", &[("id_token_hint", &ada_hint)]);
    let r = bobs_browser(url).await;
    assert!(
        location(&r).contains("/flows/login/"),
        "signs in: {}",
        location(&r)
    );

    // A hint that is not ours, or was issued to another app, is the app's error.
    let mut forged = ada_hint.clone();
    forged.pop();
    for (hint, client) in [
        (forged.as_str(), "shop"),
        ("not.a.jwt", "shop"),
        (ada_hint.as_str(), "blog"),
    ] {
        let (url, _) = auth_url(&s, client, &[("id_token_hint", hint), ("prompt", "none")]);
        let r = c.get(&url).send().await.unwrap();
        assert_eq!(
            error_of(&r).as_deref(),
            Some("invalid_request"),
            "{client} {hint}"
        );
    }
}

async fn oidc_03_login_hint_and_ui_locales_reach_the_sign_in_page(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    register(&s, "shop", json!({})).await;
    let c = browser();
    let (url, _) = auth_url(
        &s,
        "shop",
        &[("login_hint", "hint@example.com"), ("ui_locales", "de")],
    );
    let r = c.get(&url).send().await.unwrap();
    let login = location(&r);
    assert!(login.contains("/flows/login/"), "{login}");
    let html = c
        .get(absolute(&s, &login))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("value=\"hint@example.com\""),
        "the identifier is pre-filled"
    );
    assert!(html.contains("<html lang=\"de\""), "the page is in German");
}

engine_tests!(
    an_independent_relying_party_signs_a_customer_in_through_the_hosted_form,
    discovery_names_the_issuer_and_only_what_exists,
    oidc_03_prompt_login_and_max_age_ask_for_a_fresh_sign_in,
    oidc_01_the_id_token_carries_auth_time_nonce_acr_amr_and_sid,
    oidc_03_login_hint_and_ui_locales_reach_the_sign_in_page,
    oidc_03_id_token_hint_names_the_customer_the_session_must_be,
    oidc_03_an_essential_acr_is_met_or_the_request_fails_with_unmet_authentication_requirements,
);
