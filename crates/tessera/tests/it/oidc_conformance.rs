//! The OpenID Foundation certification modules (Basic, Config, RP-initiated and back-channel logout
//! plans) that no other test already proves, one test per module, named after it;
//! `docs/oidc-conformance.md` maps every module of those plans to the test that proves it. The client
//! is registered as a conformance run would register it: confidential, `client_secret_basic`, PKCE not
//! required (the suite sends PKCE only in its PKCE module), so these tests also show that such a
//! client works. Every test runs on SQLite and PostgreSQL.
use std::time::Duration;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, RedirectUrl,
    TokenResponse,
};
use serde_json::{Value, json};
use tessera_testkit::{Engine, TestServer, engine_tests};

use crate::oidc_attacks::jwt_part;
use crate::oidc_flow::{
    EMAIL, REDIRECT, absolute, authorize, customer, issuer, location, param, query_of, redeem,
    register, rp_http, sign_in_on_the_form,
};
use crate::oidc_logout::{Receiver, check_logout_token, form_action, hidden_fields};
use crate::pages::browser;

const SUITE: &str = "suite";
const BYE: &str = "http://127.0.0.1/bye";
const PHONE: &str = "+14155550100";

/// The client a conformance run registers; returns its id and secret.
async fn suite_client(s: &TestServer) -> (String, String) {
    register(
        s,
        SUITE,
        json!({
            "require_pkce": false,
            "grant_types": ["authorization_code", "refresh_token"],
            "post_logout_redirect_uris": [BYE],
        }),
    )
    .await
}

/// The parameters of the suite's plain authorization request.
fn suite_params() -> Vec<(&'static str, &'static str)> {
    vec![
        ("response_type", "code"),
        ("client_id", SUITE),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "st4te"),
        ("nonce", "n0nce"),
    ]
}

/// [`suite_params`] with `name` set to `value` (added at the end when absent).
fn with(
    mut p: Vec<(&'static str, &'static str)>,
    name: &'static str,
    value: &'static str,
) -> Vec<(&'static str, &'static str)> {
    match p.iter_mut().find(|(k, _)| *k == name) {
        Some(kv) => kv.1 = value,
        None => p.push((name, value)),
    }
    p
}

/// The authorization URL carrying exactly these parameters, in this order.
fn url_with(s: &TestServer, params: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&format!("{}/oauth2/authorize", issuer(s))).unwrap();
    for (k, v) in params {
        u.query_pairs_mut().append_pair(k, v);
    }
    u.to_string()
}

/// Follows `url` in `c` to the client (signing in on the form when needed) and redeems the code;
/// returns the token response.
async fn tokens(
    s: &TestServer,
    client: &(String, String),
    c: &reqwest::Client,
    url: &str,
) -> Value {
    let back = authorize(s, c, url).await;
    let code = param(&query_of(&back), "code").expect(&back).to_owned();
    let (status, body) = redeem(s, (&client.0, &client.1), &code, None, REDIRECT).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn userinfo(s: &TestServer, access: &str) -> (u16, Value) {
    let r = s
        .http
        .get(format!("{}/oauth2/userinfo", issuer(s)))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The customer of [`customer`] with every standard claim the scopes release: a full name, an address
/// and a proven phone number besides the proven email. Returns the identity id.
async fn rich_customer(s: &TestServer) -> String {
    let id = customer(s).await;
    let schema = json!({"attributes": [
        {"name": "given_name", "type": "string"},
        {"name": "family_name", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "address", "type": "object", "properties": [
            {"name": "street_address", "type": "string"},
            {"name": "locality", "type": "string"},
            {"name": "postal_code", "type": "string"},
            {"name": "country", "type": "string"}
        ]}
    ]});
    let r = s
        .put("/admin/v1/tenants/default/attribute-schema", schema)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = s
        .patch(
            &format!("/admin/v1/tenants/default/identities/{id}"),
            json!({
                "attributes": {
                    "name": "Ada Lovelace",
                    "address": {
                        "street_address": "12 St James's Square",
                        "locality": "London",
                        "postal_code": "SW1Y 4JH",
                        "country": "GB"
                    }
                },
                "identifiers": [
                    {"kind": "email", "value": EMAIL, "verified": true},
                    {"kind": "phone", "value": PHONE, "verified": true}
                ]
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    id
}

async fn conformance_oidcc_response_type_missing(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    suite_client(&s).await;
    let p: Vec<_> = suite_params()
        .into_iter()
        .filter(|(k, _)| *k != "response_type")
        .collect();
    let r = browser().get(url_with(&s, &p)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.starts_with(REDIRECT), "back to the client: {to}");
    let q = query_of(&to);
    assert_eq!(param(&q, "error"), Some("invalid_request"));
    assert_eq!(param(&q, "state"), Some("st4te"));
    assert_eq!(param(&q, "iss"), Some(issuer(&s).as_str()));
}

async fn conformance_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let client = suite_client(&s).await;
    let p: Vec<_> = suite_params()
        .into_iter()
        .filter(|(k, _)| *k != "nonce")
        .collect();
    let body = tokens(&s, &client, &browser(), &url_with(&s, &p)).await;
    let claims = jwt_part(body["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["sub"], sub);
    assert!(claims.get("nonce").is_none(), "no nonce asked, none given");
}

async fn conformance_oidcc_userinfo_post_header(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let client = suite_client(&s).await;
    let url = url_with(&s, &with(suite_params(), "scope", "openid email"));
    let body = tokens(&s, &client, &browser(), &url).await;
    // A POST with the token in the Authorization header and no body at all.
    let r = s
        .http
        .post(format!("{}/oauth2/userinfo", issuer(&s)))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["sub"], sub);
    assert_eq!(info["email"], EMAIL);
}

/// The ID token's claims and the userinfo answer for a request of `scope`.
async fn claims_for(s: &TestServer, scope: &'static str) -> (Value, Value) {
    let client = suite_client(s).await;
    let url = url_with(s, &with(suite_params(), "scope", scope));
    let body = tokens(s, &client, &browser(), &url).await;
    assert_eq!(body["scope"], scope);
    let (status, info) = userinfo(s, body["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{info}");
    (jwt_part(body["id_token"].as_str().unwrap(), 1), info)
}

async fn conformance_oidcc_scope_phone(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = rich_customer(&s).await;
    let (id_token, info) = claims_for(&s, "openid phone").await;
    assert_eq!(info["sub"], sub);
    assert_eq!(id_token["sub"], sub);
    assert_eq!(info["phone_number"], PHONE);
    assert_eq!(info["phone_number_verified"], true);
    for other in ["email", "address", "name"] {
        assert!(info.get(other).is_none(), "{other} needs its own scope");
    }
}

async fn conformance_oidcc_scope_address(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = rich_customer(&s).await;
    let (_, info) = claims_for(&s, "openid address").await;
    assert_eq!(info["sub"], sub);
    assert_eq!(
        info["address"],
        json!({
            "street_address": "12 St James's Square",
            "locality": "London",
            "postal_code": "SW1Y 4JH",
            "country": "GB"
        })
    );
    for other in ["email", "phone_number", "name"] {
        assert!(info.get(other).is_none(), "{other} needs its own scope");
    }
}

async fn conformance_oidcc_scope_all(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = rich_customer(&s).await;
    let (_, info) = claims_for(&s, "openid profile email address phone").await;
    assert_eq!(info["sub"], sub);
    assert_eq!(info["name"], "Ada Lovelace");
    assert_eq!(info["given_name"], "Ada");
    assert_eq!(info["family_name"], "Lovelace");
    assert!(info["updated_at"].is_i64());
    assert_eq!(info["email"], EMAIL);
    assert_eq!(info["email_verified"], true);
    assert_eq!(info["phone_number"], PHONE);
    assert_eq!(info["address"]["locality"], "London");
}

async fn conformance_oidcc_alternate_happy_flow(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let client = suite_client(&s).await;
    // The parameters in another order and the scopes reversed: order means nothing (RFC 6749 §3.3).
    let reordered = [
        ("nonce", "n0nce"),
        ("state", "st4te"),
        ("scope", "email openid"),
        ("redirect_uri", REDIRECT),
        ("client_id", SUITE),
        ("response_type", "code"),
    ];
    let body = tokens(&s, &client, &browser(), &url_with(&s, &reordered)).await;
    let granted: Vec<&str> = body["scope"].as_str().unwrap().split(' ').collect();
    assert!(
        granted.contains(&"openid") && granted.contains(&"email"),
        "{body}"
    );
    assert_eq!(jwt_part(body["id_token"].as_str().unwrap(), 1)["sub"], sub);
    let (_, info) = userinfo(&s, body["access_token"].as_str().unwrap()).await;
    assert_eq!(info["email"], EMAIL);
}

/// `display` is ignored: the request goes to the sign-in form like any other and ends with tokens.
async fn display(engine: Engine, value: &'static str) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let client = suite_client(&s).await;
    let url = url_with(&s, &with(suite_params(), "display", value));
    let c = browser();
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).contains("/flows/login/"), "{}", location(&r));
    let body = tokens(&s, &client, &c, &url).await;
    assert!(body["id_token"].is_string());
}

async fn conformance_oidcc_display_page(engine: Engine) {
    display(engine, "page").await;
}

async fn conformance_oidcc_display_popup(engine: Engine) {
    display(engine, "popup").await;
}

async fn conformance_oidcc_claims_locales(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let client = suite_client(&s).await;
    let url = url_with(&s, &with(suite_params(), "claims_locales", "de en"));
    let body = tokens(&s, &client, &browser(), &url).await;
    assert_eq!(jwt_part(body["id_token"].as_str().unwrap(), 1)["sub"], sub);
}

async fn conformance_oidcc_max_age_1(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let client = suite_client(&s).await;
    let c = browser();
    let first = tokens(&s, &client, &c, &url_with(&s, &suite_params())).await;
    let first = jwt_part(first["id_token"].as_str().unwrap(), 1)["auth_time"]
        .as_i64()
        .unwrap();
    s.clock.advance(Duration::from_secs(2));
    let url = url_with(&s, &with(suite_params(), "max_age", "1"));
    let r = c.get(&url).send().await.unwrap();
    let login = location(&r);
    assert!(login.contains("/flows/login/"), "signs in again: {login}");
    let back = sign_in_on_the_form(&s, &c, &absolute(&s, &login)).await;
    let code = param(&query_of(&back), "code").expect(&back).to_owned();
    let (status, body) = redeem(&s, (&client.0, &client.1), &code, None, REDIRECT).await;
    assert_eq!(status, 200, "{body}");
    let second = jwt_part(body["id_token"].as_str().unwrap(), 1)["auth_time"]
        .as_i64()
        .expect("auth_time whenever max_age was asked");
    assert!(
        second >= first + 2,
        "a fresh sign-in: {first} then {second}"
    );
}

async fn conformance_oidcc_max_age_10000(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let client = suite_client(&s).await;
    let c = browser();
    let first = tokens(&s, &client, &c, &url_with(&s, &suite_params())).await;
    let first = jwt_part(first["id_token"].as_str().unwrap(), 1)["auth_time"].clone();
    s.clock.advance(Duration::from_secs(2));
    let url = url_with(&s, &with(suite_params(), "max_age", "10000"));
    let r = c.get(&url).send().await.unwrap();
    assert!(
        location(&r).starts_with(REDIRECT),
        "the session answers: {}",
        location(&r)
    );
    let code = param(&query_of(&location(&r)), "code").unwrap().to_owned();
    let (status, body) = redeem(&s, (&client.0, &client.1), &code, None, REDIRECT).await;
    assert_eq!(status, 200, "{body}");
    let second = jwt_part(body["id_token"].as_str().unwrap(), 1);
    assert_eq!(
        second["auth_time"], first,
        "the same sign-in, as auth_time says"
    );
}

async fn conformance_oidcc_codereuse_30seconds(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let client = suite_client(&s).await;
    let back = authorize(&s, &browser(), &url_with(&s, &suite_params())).await;
    let code = param(&query_of(&back), "code").unwrap().to_owned();
    let (status, first) = redeem(&s, (&client.0, &client.1), &code, None, REDIRECT).await;
    assert_eq!(status, 200, "{first}");
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&s, access).await.0, 200);
    s.clock.advance(Duration::from_secs(30));
    let (status, again) = redeem(&s, (&client.0, &client.1), &code, None, REDIRECT).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        userinfo(&s, access).await.0,
        401,
        "the tokens of the first redemption are revoked"
    );
}

async fn conformance_oidcc_ensure_post_request_succeeds(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let client = suite_client(&s).await;
    let c = browser();
    let r = c
        .post(format!("{}/oauth2/authorize", issuer(&s)))
        .form(&suite_params())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let login = location(&r);
    assert!(login.contains("/flows/login/"), "{login}");
    let back = sign_in_on_the_form(&s, &c, &absolute(&s, &login)).await;
    let q = query_of(&back);
    assert_eq!(param(&q, "state"), Some("st4te"));
    let code = param(&q, "code").expect(&back).to_owned();
    let (status, body) = redeem(&s, (&client.0, &client.1), &code, None, REDIRECT).await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_part(body["id_token"].as_str().unwrap(), 1);
    assert_eq!(
        (claims["sub"].as_str(), claims["nonce"].as_str()),
        (Some(sub.as_str()), Some("n0nce"))
    );
}

async fn conformance_oidcc_server_client_secret_post(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let (id, secret) = register(
        &s,
        SUITE,
        json!({"require_pkce": false, "token_endpoint_auth": "client_secret_post"}),
    )
    .await;
    let http = rp_http();
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer(&s)).unwrap(), &http)
        .await
        .unwrap();
    let rp = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(id),
        Some(ClientSecret::new(secret)),
    )
    .set_auth_type(AuthType::RequestBody)
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .url();
    let back = authorize(&s, &browser(), url.as_str()).await;
    let q = query_of(&back);
    assert_eq!(param(&q, "state"), Some(state.secret().as_str()));
    let code = param(&q, "code").expect(&back).to_owned();
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .request_async(&http)
        .await
        .expect("the secret in the form body authenticates the client");
    let verifier = rp
        .id_token_verifier()
        .set_allowed_algs([CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&verifier, &nonce)
        .unwrap();
    assert_eq!(claims.subject().as_str(), sub);
}

async fn conformance_oidcc_claims_essential(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    rich_customer(&s).await;
    let client = suite_client(&s).await;
    let p = with(
        with(suite_params(), "scope", "openid profile"),
        "claims",
        r#"{"userinfo":{"name":{"essential":true}}}"#,
    );
    let body = tokens(&s, &client, &browser(), &url_with(&s, &p)).await;
    let id_token = jwt_part(body["id_token"].as_str().unwrap(), 1);
    assert!(id_token.get("name").is_none(), "asked for in userinfo only");
    let (_, info) = userinfo(&s, body["access_token"].as_str().unwrap()).await;
    assert_eq!(info["name"], "Ada Lovelace");
}

async fn conformance_oidcc_ensure_request_object_with_redirect_uri(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    suite_client(&s).await;
    // An unsigned request object with the registered redirect URI, and another one outside it.
    let claims = json!({
        "iss": SUITE, "aud": issuer(&s), "response_type": "code", "client_id": SUITE,
        "redirect_uri": REDIRECT, "scope": "openid", "state": "st4te", "nonce": "n0nce",
    });
    let request = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let p = [
        ("response_type", "code"),
        ("client_id", SUITE),
        ("scope", "openid"),
        ("redirect_uri", "https://suite.example/not-registered"),
        ("request", request.as_str()),
    ];
    let r = browser().get(url_with(&s, &p)).send().await.unwrap();
    assert_eq!(r.status(), 400, "an invalid redirect_uri error page");
    assert!(r.headers().get("location").is_none(), "never a redirect");
}

async fn conformance_oidcc_discovery_endpoint_verification(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let iss = issuer(&s);
    let d: Value = s
        .http
        .get(format!("{iss}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], iss);
    for e in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ] {
        assert!(
            d[e].as_str().unwrap().starts_with(&format!("{iss}/")),
            "{e}"
        );
    }
    let has = |list: &str, v: &str| d[list].as_array().unwrap().iter().any(|x| x == v);
    assert!(has("scopes_supported", "openid"));
    assert!(has("response_types_supported", "code"));
    assert!(has("subject_types_supported", "public"));
    assert!(
        has("id_token_signing_alg_values_supported", "RS256"),
        "RS256 must be offered (OIDC Discovery §3)"
    );
    assert!(
        !has("id_token_signing_alg_values_supported", "none"),
        "unsigned ID tokens are not offered"
    );
    assert!(has(
        "token_endpoint_auth_methods_supported",
        "client_secret_basic"
    ));
    assert!(has(
        "token_endpoint_auth_methods_supported",
        "client_secret_post"
    ));
    assert!(has("grant_types_supported", "authorization_code"));
    assert_eq!(d["claims_parameter_supported"], true);
    assert_eq!(d["request_parameter_supported"], false);
    assert_eq!(d["request_uri_parameter_supported"], false);
    assert!(
        d.get("request_object_signing_alg_values_supported")
            .is_none()
    );
    // The JWKS: public keys only, each with a kid, its type and its use.
    let jwks: Value = s
        .http
        .get(d["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for k in keys {
        assert!(k["kid"].is_string() && k["kty"].is_string(), "{k}");
        assert_eq!(k["use"], "sig", "{k}");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(k.get(private).is_none(), "no private member {private}: {k}");
        }
    }
    let kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    let mut unique = kids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), kids.len(), "kids are unique");
}

/// A browser signed in through the suite's client, and its ID token.
async fn signed_in(s: &TestServer, client: &(String, String)) -> (reqwest::Client, String) {
    let c = browser();
    let body = tokens(s, client, &c, &url_with(s, &suite_params())).await;
    (c, body["id_token"].as_str().unwrap().to_owned())
}

fn logout_url(s: &TestServer, params: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&format!("{}/oauth2/logout", issuer(s))).unwrap();
    for (k, v) in params {
        u.query_pairs_mut().append_pair(k, v);
    }
    u.to_string()
}

/// What `prompt=none` gets in `c` afterwards: `login_required` once the session ended.
async fn prompt_none_error(s: &TestServer, c: &reqwest::Client) -> Option<String> {
    let url = url_with(s, &with(suite_params(), "prompt", "none"));
    let r = c.get(&url).send().await.unwrap();
    param(&query_of(&location(&r)), "error").map(str::to_owned)
}

async fn conformance_oidcc_rp_initiated_logout(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let client = suite_client(&s).await;
    let (c, hint) = signed_in(&s, &client).await;
    assert_eq!(prompt_none_error(&s, &c).await, None, "signed in");
    // The suite's state is 128 characters long, to see that the provider keeps it whole.
    let state = "s".repeat(64) + &"0123456789abcdef".repeat(4);
    let r = c
        .get(logout_url(
            &s,
            &[
                ("id_token_hint", &hint),
                ("post_logout_redirect_uri", BYE),
                ("state", &state),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("{BYE}?state={state}"));
    assert_eq!(
        prompt_none_error(&s, &c).await.as_deref(),
        Some("login_required"),
        "the session ended"
    );
}

async fn conformance_oidcc_rp_initiated_logout_no_state(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let client = suite_client(&s).await;
    let (c, hint) = signed_in(&s, &client).await;
    let r = c
        .get(logout_url(
            &s,
            &[("id_token_hint", &hint), ("post_logout_redirect_uri", BYE)],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), BYE, "no state asked, none added");
    assert_eq!(
        prompt_none_error(&s, &c).await.as_deref(),
        Some("login_required")
    );
}

async fn conformance_oidcc_rp_initiated_logout_no_post_logout_redirect_uri(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let client = suite_client(&s).await;
    let (c, hint) = signed_in(&s, &client).await;
    let r = c
        .get(logout_url(
            &s,
            &[("id_token_hint", &hint), ("state", "st4te")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a page, never a redirect");
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("You are signed out"));
    assert_eq!(
        prompt_none_error(&s, &c).await.as_deref(),
        Some("login_required")
    );
}

async fn conformance_oidcc_rp_initiated_logout_only_state(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let client = suite_client(&s).await;
    let (c, _) = signed_in(&s, &client).await;
    // No hint: the customer is asked first (SES-05), then signed out on the page, never redirected.
    let r = c
        .get(logout_url(&s, &[("state", "st4te")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let r = c
        .post(form_action(&s, &html))
        .form(&hidden_fields(&html))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the signed-out page, not a redirect");
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("You are signed out"));
    assert_eq!(
        prompt_none_error(&s, &c).await.as_deref(),
        Some("login_required")
    );
}

async fn conformance_oidcc_rp_initiated_logout_bad_id_token_hint(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let client = suite_client(&s).await;
    let (c, hint) = signed_in(&s, &client).await;
    // The same claims and a plausible header, signed with the suite's own key instead of the issuer's.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": "suite-key"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(jwt_part(&hint, 1).to_string())
    );
    let sig = key.sign(&rng, input.as_bytes()).unwrap();
    let fake = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
    let r = c
        .get(logout_url(
            &s,
            &[
                ("id_token_hint", &fake),
                ("post_logout_redirect_uri", BYE),
                ("state", "st4te"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "an error page");
    assert!(r.headers().get("location").is_none(), "never a redirect");
    assert_eq!(prompt_none_error(&s, &c).await, None, "nothing ended");
}

async fn conformance_oidcc_backchannel_rp_initiated_logout(engine: Engine) {
    let Some(s) = crate::oidc_logout::server(engine, true).await else {
        return;
    };
    let sub = customer(&s).await;
    let rx = Receiver::start(StatusCode::OK).await;
    let client = register(
        &s,
        SUITE,
        json!({
            "require_pkce": false,
            "post_logout_redirect_uris": [BYE],
            "backchannel_logout_uri": format!("{}/backchannel_logout", rx.base),
        }),
    )
    .await;
    let (c, hint) = signed_in(&s, &client).await;
    let sid = jwt_part(&hint, 1)["sid"].as_str().unwrap().to_owned();
    let state = "b".repeat(128);
    let r = c
        .get(logout_url(
            &s,
            &[
                ("id_token_hint", &hint),
                ("post_logout_redirect_uri", BYE),
                ("state", &state),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("{BYE}?state={state}"));
    rx.wait_for(1).await;
    // Only `logout_token`, as a form; signed by the issuer, about the ID token's `sub` and `sid`.
    let token = rx.token(0, "/backchannel_logout");
    check_logout_token(&s, &token, SUITE, &sub, &sid).await;
    assert_eq!(
        prompt_none_error(&s, &c).await.as_deref(),
        Some("login_required")
    );
}

async fn conformance_oidcc_prompt_login(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let client = suite_client(&s).await;
    let c = browser();
    let first = tokens(&s, &client, &c, &url_with(&s, &suite_params())).await;
    let first = jwt_part(first["id_token"].as_str().unwrap(), 1);
    s.clock.advance(Duration::from_secs(5));
    let url = url_with(&s, &with(suite_params(), "prompt", "login"));
    let r = c.get(&url).send().await.unwrap();
    let login = location(&r);
    assert!(
        login.contains("/flows/login/"),
        "the form again despite the session: {login}"
    );
    let back = sign_in_on_the_form(&s, &c, &absolute(&s, &login)).await;
    let code = param(&query_of(&back), "code").expect(&back).to_owned();
    let (status, body) = redeem(&s, (&client.0, &client.1), &code, None, REDIRECT).await;
    assert_eq!(status, 200, "{body}");
    let second = jwt_part(body["id_token"].as_str().unwrap(), 1);
    assert_eq!(second["sub"], first["sub"]);
    assert!(
        second["auth_time"].as_i64().unwrap() >= first["auth_time"].as_i64().unwrap() + 5,
        "a new sign-in: {first} then {second}"
    );
}

engine_tests!(
    conformance_oidcc_response_type_missing,
    conformance_oidcc_ensure_request_without_nonce_succeeds_for_code_flow,
    conformance_oidcc_userinfo_post_header,
    conformance_oidcc_scope_phone,
    conformance_oidcc_scope_address,
    conformance_oidcc_scope_all,
    conformance_oidcc_alternate_happy_flow,
    conformance_oidcc_display_page,
    conformance_oidcc_display_popup,
    conformance_oidcc_claims_locales,
    conformance_oidcc_max_age_1,
    conformance_oidcc_max_age_10000,
    conformance_oidcc_codereuse_30seconds,
    conformance_oidcc_ensure_post_request_succeeds,
    conformance_oidcc_server_client_secret_post,
    conformance_oidcc_claims_essential,
    conformance_oidcc_ensure_request_object_with_redirect_uri,
    conformance_oidcc_discovery_endpoint_verification,
    conformance_oidcc_rp_initiated_logout,
    conformance_oidcc_rp_initiated_logout_no_state,
    conformance_oidcc_rp_initiated_logout_no_post_logout_redirect_uri,
    conformance_oidcc_rp_initiated_logout_only_state,
    conformance_oidcc_rp_initiated_logout_bad_id_token_hint,
    conformance_oidcc_backchannel_rp_initiated_logout,
    conformance_oidcc_prompt_login,
);
