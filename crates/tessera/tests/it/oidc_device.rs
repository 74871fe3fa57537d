//! The device authorization grant (RFC 8628): the device authorization endpoint (client authentication
//! as at the token endpoint, OA-12), the codes it hands out, and the token endpoint's polling answers
//! (`authorization_pending`, `slow_down`, `expired_token`) on the controllable clock. SQLite and
//! PostgreSQL.
use std::time::Duration;

use serde_json::{Value, json};
use tessera_testkit::{Engine, TestServer, engine_tests};

use crate::oidc_flow::{issuer, register};

pub(crate) const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Registers a confidential client that may use the device grant; returns its id and secret.
pub(crate) async fn device_client(s: &TestServer, id: &str) -> (String, String) {
    register(
        s,
        id,
        json!({"grant_types": ["device_code", "refresh_token"], "name": "Living Room TV"}),
    )
    .await
}

/// Asks for a device authorization with client_secret_basic; the status and the body.
pub(crate) async fn authorize_device(
    s: &TestServer,
    client: (&str, &str),
    scope: Option<&str>,
) -> (u16, Value) {
    let form: Vec<(&str, &str)> = scope.map(|s| ("scope", s)).into_iter().collect();
    let r = s
        .http
        .post(format!("{}/oauth2/device_authorization", issuer(s)))
        .basic_auth(client.0, Some(client.1))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status == 200 {
        assert_eq!(
            r.headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store")
        );
    }
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls the token endpoint with a device code; the status and the body.
pub(crate) async fn poll(s: &TestServer, client: (&str, &str), device_code: &str) -> (u16, Value) {
    let r = s
        .http
        .post(format!("{}/oauth2/token", issuer(s)))
        .basic_auth(client.0, Some(client.1))
        .form(&[("grant_type", DEVICE_GRANT), ("device_code", device_code)])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn error_of(answer: &(u16, Value)) -> &str {
    answer.1["error"].as_str().unwrap_or("")
}

async fn oa_12_the_device_authorization_endpoint_authenticates_the_client_and_answers_the_codes(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let (id, secret) = device_client(&s, "tv").await;
    let (status, body) = authorize_device(&s, (&id, &secret), Some("openid email")).await;
    assert_eq!(status, 200, "{body}");
    let device_code = body["device_code"].as_str().unwrap();
    assert_eq!(device_code.len(), 43, "256 random bits, base64url");
    let user_code = body["user_code"].as_str().unwrap();
    let letters = "BCDFGHJKLMNPQRSTVWXZ";
    assert_eq!(user_code.len(), 9, "{user_code}");
    for (i, ch) in user_code.chars().enumerate() {
        if i == 4 {
            assert_eq!(ch, '-', "{user_code}");
        } else {
            assert!(letters.contains(ch), "{user_code}");
        }
    }
    assert_eq!(body["verification_uri"], format!("{}/device", issuer(&s)));
    assert_eq!(
        body["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", issuer(&s))
    );
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["interval"], 5);
    // Two requests, two different codes.
    let (_, again) = authorize_device(&s, (&id, &secret), None).await;
    assert_ne!(again["device_code"], body["device_code"]);
    assert_ne!(again["user_code"], body["user_code"]);

    // A wrong secret, an unknown client: invalid_client (401 with the Basic challenge), nothing issued.
    let (status, body) = authorize_device(&s, (&id, "wrong"), Some("openid")).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    assert!(body.get("device_code").is_none());
    let (status, body) = authorize_device(&s, ("nobody", "x"), Some("openid")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // A client not registered for the grant, a scope the client may not have.
    let (shop, shop_secret) = register(&s, "shop", json!({})).await;
    let (status, body) = authorize_device(&s, (&shop, &shop_secret), Some("openid")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, body) = authorize_device(&s, (&id, &secret), Some("openid admin")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // A repeated parameter and a JSON body are invalid_request (OA-17).
    let r = s
        .http
        .post(format!("{}/oauth2/device_authorization", issuer(&s)))
        .basic_auth(&id, Some(&secret))
        .body("scope=openid&scope=email")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = s
        .http
        .post(format!("{}/oauth2/device_authorization", issuer(&s)))
        .basic_auth(&id, Some(&secret))
        .json(&json!({"scope": "openid"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A public client names itself with client_id.
    let (public, _) = register(
        &s,
        "cli",
        json!({"kind": "public", "grant_types": ["device_code"]}),
    )
    .await;
    let r = s
        .http
        .post(format!("{}/oauth2/device_authorization", issuer(&s)))
        .form(&[("client_id", public.as_str()), ("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

async fn device_polls_are_pending_then_slow_down_then_expired_token(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.clock.freeze();
    let (id, secret) = device_client(&s, "tv").await;
    let client = (id.as_str(), secret.as_str());
    let (_, body) = authorize_device(&s, client, Some("openid")).await;
    let code = body["device_code"].as_str().unwrap().to_owned();
    let first = poll(&s, client, &code).await;
    assert_eq!((first.0, error_of(&first)), (400, "authorization_pending"));
    // Sooner than the interval (5 s): slow_down, and the interval is now 10 s.
    s.clock.advance(Duration::from_secs(4));
    let fast = poll(&s, client, &code).await;
    assert_eq!((fast.0, error_of(&fast)), (400, "slow_down"));
    s.clock.advance(Duration::from_secs(6));
    let still_fast = poll(&s, client, &code).await;
    assert_eq!(error_of(&still_fast), "slow_down", "6 s < the raised 10 s");
    // 15 s after the last poll (the interval is 15 s now): on time again.
    s.clock.advance(Duration::from_secs(15));
    let on_time = poll(&s, client, &code).await;
    assert_eq!(error_of(&on_time), "authorization_pending");
    // Another client cannot poll this device code; an unknown code is invalid_grant.
    let (other, other_secret) = device_client(&s, "other-tv").await;
    let theirs = poll(&s, (&other, &other_secret), &code).await;
    assert_eq!(error_of(&theirs), "invalid_grant");
    let unknown = poll(&s, client, "not-a-device-code").await;
    assert_eq!(error_of(&unknown), "invalid_grant");
    // A client not registered for the grant may not poll at all.
    let (shop, shop_secret) = register(&s, "shop", json!({})).await;
    let refused = poll(&s, (&shop, &shop_secret), &code).await;
    assert_eq!(error_of(&refused), "unauthorized_client");
    // Ten minutes after the authorization: expired_token.
    s.clock.advance(Duration::from_secs(600));
    let expired = poll(&s, client, &code).await;
    assert_eq!((expired.0, error_of(&expired)), (400, "expired_token"));
}

engine_tests!(
    oa_12_the_device_authorization_endpoint_authenticates_the_client_and_answers_the_codes,
    device_polls_are_pending_then_slow_down_then_expired_token,
);
