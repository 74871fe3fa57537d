//! Red team round 6 (the OpenID Connect provider, attacked live in production mode), each finding a test
//! named after its rule: what a client loses stops at once, and so does a customer's signed-out session.
use serde_json::json;
use tessera_testkit::{Engine, TestServer, engine_tests};

use crate::oidc_flow::{
    CLIENTS, REDIRECT, auth_url, authorize, customer, issuer, param, query_of, redeem, register,
};
use crate::pages::browser;

async fn code_for(
    s: &TestServer,
    c: &reqwest::Client,
    client: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (url, verifier) = auth_url(s, client, extra);
    let back = authorize(s, c, &url).await;
    let q = query_of(&back);
    (param(&q, "code").expect(&back).to_owned(), verifier)
}

async fn userinfo(s: &TestServer, token: &str) -> u16 {
    s.http
        .get(format!("{}/oauth2/userinfo", issuer(s)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn oa_14_a_scope_taken_from_the_client_is_not_granted_at_redemption(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let scopes = json!({"scopes": ["openid", "email", "payments:write"]});
    let (id, secret) = register(&s, "sc", scopes).await;
    let c = browser();
    let (url, verifier) = auth_url(&s, "sc", &[]);
    let url = url.replace("scope=openid+email", "scope=openid+email+payments%3Awrite");
    let back = authorize(&s, &c, &url).await;
    let code = param(&query_of(&back), "code").expect(&back).to_owned();
    let cut = s
        .put(
            &format!("{CLIENTS}/sc"),
            json!({"name": "Shop", "first_party": true, "redirect_uris": [REDIRECT],
                   "grant_types": ["authorization_code"], "scopes": ["openid"]}),
        )
        .await;
    assert_eq!(cut.status, 200, "{cut:?}");
    let (status, body) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["scope"], "openid",
        "only what the client may still have"
    );
}

async fn oa_14_offline_access_is_not_granted_once_the_client_may_no_longer_refresh(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let config = |grants: &[&str]| {
        json!({"name": "Shop", "first_party": true, "redirect_uris": [REDIRECT],
               "grant_types": grants, "scopes": ["openid", "offline_access"]})
    };
    let (id, secret) = register(&s, "off", config(&["authorization_code", "refresh_token"])).await;
    let c = browser();
    let (url, verifier) = auth_url(&s, "off", &[]);
    let url = url.replace("scope=openid+email", "scope=openid+offline_access");
    let back = authorize(&s, &c, &url).await;
    let code = param(&query_of(&back), "code").expect(&back).to_owned();
    // Between the sign-in and the redemption the admin takes the refresh token grant away (I-1).
    let cut = s
        .put(&format!("{CLIENTS}/off"), config(&["authorization_code"]))
        .await;
    assert_eq!(cut.status, 200, "{cut:?}");
    let (status, body) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(
        body["scope"], "openid",
        "the answer names no grant it did not give"
    );
}

async fn con_01_a_code_issued_before_the_app_became_third_party_needs_consent(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let config = |first_party: bool| {
        json!({"name": "Shop", "first_party": first_party, "redirect_uris": [REDIRECT],
               "grant_types": ["authorization_code"], "scopes": ["openid", "email"]})
    };
    let (id, secret) = register(&s, "tp", config(true)).await;
    let c = browser();
    let (code, verifier) = code_for(&s, &c, "tp", &[]).await;
    // Between the sign-in and the redemption the admin makes the app third party (R12-1).
    let cut = s.put(&format!("{CLIENTS}/tp"), config(false)).await;
    assert_eq!(cut.status, 200, "{cut:?}");
    let (status, body) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "no consent, no tokens: {body}"
    );
}

async fn oa_05_a_client_registered_again_under_a_deleted_ones_id_gets_none_of_its_grants(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let (id, secret) = register(&s, "rot", json!({})).await;
    let c = browser();
    let (code, verifier) = code_for(&s, &c, "rot", &[]).await;
    let (status, first) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{first}");
    let access = first["access_token"].as_str().unwrap().to_owned();
    let (code, verifier) = code_for(&s, &c, "rot", &[]).await;
    assert_eq!(s.delete(&format!("{CLIENTS}/rot")).await.status, 204);
    assert_eq!(
        userinfo(&s, &access).await,
        401,
        "a deleted client's tokens stop"
    );
    s.clock.advance(std::time::Duration::from_secs(1));
    let (id, secret) = register(&s, "rot", json!({})).await;
    let (status, body) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "the old client's code is not the new one's: {body}"
    );
    assert_eq!(userinfo(&s, &access).await, 401);
}

async fn ses_07_revoking_a_customers_sessions_stops_their_access_tokens_at_userinfo(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let identity = customer(&s).await;
    let (id, secret) = register(&s, "web", json!({})).await;
    let c = browser();
    let (code, verifier) = code_for(&s, &c, "web", &[]).await;
    let (status, tokens) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&s, access).await, 200);
    let r = s
        .delete(&format!(
            "/admin/v1/tenants/default/identities/{identity}/sessions"
        ))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        userinfo(&s, access).await,
        401,
        "the sign-in behind the token ended"
    );
}

async fn oa_17_a_parameter_repeated_with_an_empty_value_is_still_repeated(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    register(&s, "web", json!({})).await;
    let (url, _) = auth_url(&s, "web", &[]);
    for name in ["redirect_uri", "client_id"] {
        let r = browser()
            .get(format!("{url}&{name}="))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            400,
            "{name} repeated: an error page, never a redirect"
        );
    }
    let r = browser().get(format!("{url}&scope=")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let back = crate::oidc_flow::location(&r);
    let q = query_of(&back);
    assert_eq!(param(&q, "error"), Some("invalid_request"), "{back}");
}

engine_tests!(
    oa_14_a_scope_taken_from_the_client_is_not_granted_at_redemption,
    oa_14_offline_access_is_not_granted_once_the_client_may_no_longer_refresh,
    con_01_a_code_issued_before_the_app_became_third_party_needs_consent,
    oa_05_a_client_registered_again_under_a_deleted_ones_id_gets_none_of_its_grants,
    ses_07_revoking_a_customers_sessions_stops_their_access_tokens_at_userinfo,
    oa_17_a_parameter_repeated_with_an_empty_value_is_still_repeated,
);
