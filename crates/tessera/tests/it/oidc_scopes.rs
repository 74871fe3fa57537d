//! Tenant-defined scopes: an attribute of the tenant's schema names the scope that releases it
//! (`loyalty` for `loyalty_tier`), discovery lists the scope and the claim, and userinfo answers the
//! claim only to a token granted that scope, only while the schema still says so. A scope may not
//! shadow a standard one (OIDC-04). SQLite and PostgreSQL.
use openidconnect::PkceCodeChallenge;
use serde_json::{Value, json};
use tessera_testkit::{Engine, TestServer, engine_tests};

use crate::flows::sign_up;
use crate::oidc_flow::{EMAIL, REDIRECT, authorize, issuer, param, query_of, redeem, register};
use crate::pages::browser;

const SCHEMA: &str = "/admin/v1/tenants/default/attribute-schema";

/// A schema with two attributes under `loyalty`, one under no scope; a customer holding all three.
async fn loyal_customer(s: &TestServer) {
    let schema = json!({"attributes": [
        {"name": "given_name", "type": "string"},
        {"name": "loyalty_tier", "type": "string", "scope": "loyalty"},
        {"name": "points", "type": "number", "scope": "loyalty"},
        {"name": "internal_note", "type": "string"}
    ]});
    let r = s.put(SCHEMA, schema).await;
    assert_eq!(r.status, 200, "{r:?}");
    sign_up(s, EMAIL, json!({})).await;
    let id = crate::codes::identity_id(s, EMAIL).await;
    let r = s
        .patch(
            &format!("/admin/v1/tenants/default/identities/{id}"),
            json!({"attributes": {"given_name": "Ada", "loyalty_tier": "gold", "points": 120,
                                   "internal_note": "vip"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}

/// An authorization URL asking for exactly `scope`, with PKCE; returns it with the verifier.
fn url_for(s: &TestServer, client: &str, scope: &str) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut u = url::Url::parse(&format!("{}/oauth2/authorize", issuer(s))).unwrap();
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "st4te")
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    (u.to_string(), verifier.secret().clone())
}

/// Signs the customer in for `scope` and returns the userinfo answer of the access token.
async fn userinfo_for(
    s: &TestServer,
    c: &reqwest::Client,
    client: (&str, &str),
    scope: &str,
) -> Value {
    let (url, verifier) = url_for(s, client.0, scope);
    let back = authorize(s, c, &url).await;
    let code = param(&query_of(&back), "code").expect(&back).to_owned();
    let (status, tokens) = redeem(s, client, &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], scope);
    access_userinfo(s, tokens["access_token"].as_str().unwrap()).await
}

async fn scopes_supported(s: &TestServer) -> Vec<Value> {
    let d: Value = s
        .http
        .get(format!("{}/.well-known/openid-configuration", issuer(s)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    d["scopes_supported"].as_array().unwrap().clone()
}

async fn access_userinfo(s: &TestServer, access: &str) -> Value {
    let r = s
        .http
        .get(format!("{}/oauth2/userinfo", issuer(s)))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn oidc_04_a_tenant_scope_releases_its_attributes_and_only_to_tokens_granted_it(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    loyal_customer(&s).await;
    let (id, secret) = register(
        &s,
        "shop",
        json!({"scopes": ["openid", "profile", "loyalty"]}),
    )
    .await;
    let d: Value = s
        .http
        .get(format!("{}/.well-known/openid-configuration", issuer(&s)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = |field: &str, what: &str| {
        d[field]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_str() == Some(what))
    };
    assert!(listed("scopes_supported", "loyalty"), "{d}");
    assert!(listed("claims_supported", "loyalty_tier") && listed("claims_supported", "points"));
    assert!(
        !listed("claims_supported", "internal_note"),
        "unreleased attributes stay unlisted"
    );

    let c = browser();
    let info = userinfo_for(&s, &c, (&id, &secret), "openid loyalty").await;
    assert_eq!(info["loyalty_tier"], "gold");
    assert_eq!(info["points"], 120);
    assert!(
        info.get("given_name").is_none(),
        "no profile scope, no profile"
    );
    assert!(
        info.get("internal_note").is_none(),
        "an attribute under no scope is never released"
    );

    let info = userinfo_for(&s, &c, (&id, &secret), "openid profile").await;
    assert_eq!(info["given_name"], "Ada");
    assert!(
        info.get("loyalty_tier").is_none(),
        "a token without the scope reads none of its attributes: {info}"
    );
}

async fn oidc_04_a_tenant_scope_follows_the_schema_and_needs_the_clients_permission(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    loyal_customer(&s).await;
    let (id, secret) = register(&s, "shop", json!({"scopes": ["openid", "loyalty"]})).await;
    register(&s, "blog", json!({"scopes": ["openid", "profile"]})).await;
    let c = browser();

    // A client not allowed the scope cannot ask for it.
    let (url, _) = url_for(&s, "blog", "openid loyalty");
    let back = authorize(&s, &c, &url).await;
    assert_eq!(
        param(&query_of(&back), "error"),
        Some("invalid_scope"),
        "{back}"
    );

    // A token granted while the schema released the attribute stops reading it once the schema no
    // longer does: the claim follows the schema, not what it was at sign-in.
    let (url, verifier) = url_for(&s, "shop", "openid loyalty");
    let back = authorize(&s, &c, &url).await;
    let code = param(&query_of(&back), "code").unwrap().to_owned();
    let (_, tokens) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(access_userinfo(&s, access).await["loyalty_tier"], "gold");
    assert!(scopes_supported(&s).await.contains(&json!("loyalty")));
    let schema = json!({"attributes": [
        {"name": "given_name", "type": "string"},
        {"name": "loyalty_tier", "type": "string"},
        {"name": "points", "type": "number"},
        {"name": "internal_note", "type": "string"}
    ]});
    assert_eq!(s.put(SCHEMA, schema).await.status, 200);
    let info = access_userinfo(&s, access).await;
    assert!(info.get("loyalty_tier").is_none(), "{info}");
    assert!(
        !scopes_supported(&s).await.contains(&json!("loyalty")),
        "the node that saved the schema serves the new discovery document at once"
    );
    assert!(info["sub"].is_string(), "the token itself still answers");
}

async fn oidc_04_a_schema_cannot_redefine_a_standard_scope_or_claim(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let before = s.get(SCHEMA).await.json;
    for (attribute, scope, code) in [
        ("tier", "profile", "reserved_scope"),
        ("email", "contact", "reserved_claim"),
        ("tier", "Has Space", "invalid_scope"),
    ] {
        let r = s
            .put(
                SCHEMA,
                json!({"attributes": [{"name": attribute, "type": "string", "scope": scope}]}),
            )
            .await;
        assert_eq!(r.status, 422, "{r:?}");
        assert!(r.json.to_string().contains(code), "{code}: {}", r.json);
    }
    assert_eq!(
        s.get(SCHEMA).await.json,
        before,
        "a refused schema changes nothing"
    );
}

engine_tests!(
    oidc_04_a_tenant_scope_releases_its_attributes_and_only_to_tokens_granted_it,
    oidc_04_a_tenant_scope_follows_the_schema_and_needs_the_clients_permission,
    oidc_04_a_schema_cannot_redefine_a_standard_scope_or_claim,
);
