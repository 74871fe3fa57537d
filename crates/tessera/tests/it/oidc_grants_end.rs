//! An identity's app grants end with its account's security events (R9-3): a completed recovery
//! (REC-07), a suspension, a scheduled deletion and an erasure (SES-06), and an admin ending every
//! session (SES-07) revoke every refresh-token family of the identity, `offline_access` ones and a
//! device's included, with the access tokens they brought (an opaque one reads `active: false` at
//! introspection). A reactivation brings none of them back; a grant made afterwards works. Through the
//! real flows, over HTTP, on SQLite and PostgreSQL.
use serde_json::{Value, json};
use tessera_testkit::{Engine, Resp, TestServer, engine_tests};

use crate::flows::{PASSWORD, sign_in, start, submit};
use crate::oidc_device::{authorize_device, decide, poll, signed_in_browser, type_code};
use crate::oidc_flow::{EMAIL, customer, issuer, register};
use crate::oidc_tokens::{Client, refresh_token_for};

const IDS: &str = "/admin/v1/tenants/default/identities";
const NEW_PASSWORD: &str = "a whole new passphrase 77";

/// A first-party web app with opaque access tokens that may ask for `offline_access` (redirect
/// `https://vault.example/cb`, as `refresh_token_for` expects).
async fn vault(s: &TestServer) -> Client {
    let (id, secret) = register(
        s,
        "vault",
        json!({
            "redirect_uris": ["https://vault.example/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "email", "offline_access"],
            "access_token_format": "opaque",
        }),
    )
    .await;
    Client {
        id,
        secret: Some(secret),
    }
}

fn creds(c: &Client) -> (&str, &str) {
    (&c.id, c.secret.as_deref().unwrap_or_default())
}

async fn refresh(s: &TestServer, c: (&str, &str), token: &str) -> Resp {
    let r = s
        .http
        .post(format!("{}/oauth2/token", issuer(s)))
        .basic_auth(c.0, Some(c.1))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap();
    Resp::from(r).await
}

async fn introspect(s: &TestServer, c: (&str, &str), token: &str) -> Value {
    let r = s
        .http
        .post(format!("{}/oauth2/introspect", issuer(s)))
        .basic_auth(c.0, Some(c.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let r = Resp::from(r).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.json
}

fn ended(r: &Resp) {
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (400, Some("invalid_grant")),
        "{r:?}"
    );
}

/// The customer signed in anew with `password`: the session token.
async fn session(s: &TestServer, password: &str) -> String {
    let r = sign_in(s, EMAIL, password).await;
    r.json["session_token"].as_str().unwrap().to_owned()
}

/// An `offline_access` grant of `app` in `session`, rotated once: the live refresh token and the opaque
/// access token the rotation brought (active at introspection).
async fn offline_grant(s: &TestServer, app: &Client, session: &str) -> (String, String) {
    let first = refresh_token_for(s, app, session, &["openid", "offline_access"]).await;
    let r = refresh(s, creds(app), &first).await;
    assert_eq!(r.status, 200, "{r:?}");
    let at = r.json["access_token"].as_str().unwrap().to_owned();
    assert!(at.starts_with("tat_"), "{at}");
    assert_eq!(introspect(s, creds(app), &at).await["active"], true);
    (r.json["refresh_token"].as_str().unwrap().to_owned(), at)
}

/// An `offline_access` device grant of a new client `id`, approved in a browser signed in as the
/// customer: the client's credentials and the device's refresh token.
async fn device_grant(s: &TestServer, id: &str) -> ((String, String), String) {
    let tv = register(
        s,
        id,
        json!({"grant_types": ["device_code", "refresh_token"], "scopes": ["openid", "offline_access"],
               "name": "Living Room TV"}),
    )
    .await;
    let c = signed_in_browser(s).await;
    let (status, body) = authorize_device(s, (&tv.0, &tv.1), Some("openid offline_access")).await;
    assert_eq!(status, 200, "{body}");
    let r = type_code(s, &c, body["user_code"].as_str().unwrap()).await;
    let html = r.text().await.unwrap();
    assert_eq!(decide(s, &c, &html, "allow").await.0, 200);
    let (status, tokens) = poll(s, (&tv.0, &tv.1), body["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(
        tokens["scope"].as_str().unwrap().contains("offline_access"),
        "{tokens}"
    );
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    (tv, rt)
}

async fn rec_07_a_recovery_ends_every_app_grant_offline_and_device_ones_included(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let app = vault(&s).await;
    let (rt, at) = offline_grant(&s, &app, &session(&s, PASSWORD).await).await;
    let (tv, device_rt) = device_grant(&s, "tv").await;

    let flow = start(&s, "recovery", json!({})).await;
    submit(&s, &flow, json!({"email": EMAIL})).await;
    let code = s.code_for(EMAIL).await.unwrap();
    let r = submit(&s, &flow, json!({"code": code})).await;
    assert_eq!(r.json["flow"]["state"], "set_password", "{r:?}");
    let r = submit(&s, &flow, json!({"password": NEW_PASSWORD})).await;
    assert_eq!(r.json["done"], true, "{r:?}");

    ended(&refresh(&s, creds(&app), &rt).await);
    assert_eq!(
        introspect(&s, creds(&app), &at).await,
        json!({"active": false})
    );
    ended(&refresh(&s, (&tv.0, &tv.1), &device_rt).await);
    // Only what came before ends: the app's grant from the new sign-in works.
    offline_grant(&s, &app, &session(&s, NEW_PASSWORD).await).await;
}

async fn ses_06_suspension_and_deletion_end_app_grants_and_a_reactivation_brings_none_back(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let app = vault(&s).await;
    for pause in ["suspend", "schedule-deletion"] {
        let (rt, at) = offline_grant(&s, &app, &session(&s, PASSWORD).await).await;
        let r = s.post(&format!("{IDS}/{sub}/{pause}"), json!({})).await;
        assert_eq!(r.status, 200, "{pause}: {r:?}");
        ended(&refresh(&s, creds(&app), &rt).await);
        assert_eq!(
            introspect(&s, creds(&app), &at).await,
            json!({"active": false})
        );
        let r = s.post(&format!("{IDS}/{sub}/reactivate"), json!({})).await;
        assert_eq!(r.status, 200, "{r:?}");
        ended(&refresh(&s, creds(&app), &rt).await);
        assert_eq!(
            introspect(&s, creds(&app), &at).await,
            json!({"active": false}),
            "{pause}: the reactivation brings no token back"
        );
    }
    // The erasure revokes the families too, not only refuses them while the tombstone stands.
    let (rt, at) = offline_grant(&s, &app, &session(&s, PASSWORD).await).await;
    let r = s.delete(&format!("{IDS}/{sub}")).await;
    assert_eq!(r.status, 200, "{r:?}");
    ended(&refresh(&s, creds(&app), &rt).await);
    assert_eq!(
        introspect(&s, creds(&app), &at).await,
        json!({"active": false})
    );
    let events = s
        .get("/admin/v1/tenants/default/events?type=refresh_token.revoked&limit=1000")
        .await;
    let reasons: Vec<&str> = events.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["data"]["reason"].as_str())
        .collect();
    for reason in [
        "identity.suspended",
        "identity.deletion_scheduled",
        "identity.deleted",
    ] {
        assert!(reasons.contains(&reason), "{reason}: {reasons:?}");
    }
}

async fn ses_07_an_admin_ending_every_session_ends_offline_and_device_grants_too(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let app = vault(&s).await;
    let (rt, at) = offline_grant(&s, &app, &session(&s, PASSWORD).await).await;
    let (tv, device_rt) = device_grant(&s, "tv").await;
    let r = s.delete(&format!("{IDS}/{sub}/sessions")).await;
    assert!(r.status < 300, "{r:?}");
    ended(&refresh(&s, creds(&app), &rt).await);
    assert_eq!(
        introspect(&s, creds(&app), &at).await,
        json!({"active": false})
    );
    ended(&refresh(&s, (&tv.0, &tv.1), &device_rt).await);
    offline_grant(&s, &app, &session(&s, PASSWORD).await).await;
}

engine_tests!(
    rec_07_a_recovery_ends_every_app_grant_offline_and_device_ones_included,
    ses_06_suspension_and_deletion_end_app_grants_and_a_reactivation_brings_none_back,
    ses_07_an_admin_ending_every_session_ends_offline_and_device_grants_too,
);
