//! Finding 3 of issue 7 (LOG-01, invariant 5): a JSON-API flow's id is not a credential. The id is
//! written into events and the request log, so whoever can read those must not be able to drive the
//! flow with it: every read and submission needs the flow secret that only the starting app was given.
use serde_json::{Value, json};
use tessera_testkit::{Engine, Resp, TestServer, engine_tests};

use crate::flows::{FLOW_SECRET, PASSWORD, api, flow_req, sign_in, sign_up, start, submit};

/// Every event of the default tenant, as the owner key sees it.
async fn events(s: &TestServer) -> Vec<Value> {
    s.get("/admin/v1/tenants/default/events?limit=1000")
        .await
        .json["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// How many sessions the admin API lists at `path`.
async fn live_sessions(s: &TestServer, path: &str) -> usize {
    s.get(path).await.json.as_array().map_or(0, Vec::len)
}

/// Reads and submits a flow knowing only its id (and maybe a guessed secret): every way must answer the
/// same 404, and change nothing.
async fn drive_without_the_secret(s: &TestServer, kind: &str, id: &str, body: Value) {
    let before = events(s).await.len();
    let long = "x".repeat(5000);
    for secret in [
        None,
        Some(""),
        Some("tfs_not-the-secret"),
        Some(long.as_str()),
    ] {
        for post in [true, false] {
            let url = api(s, &format!("{kind}/{id}"));
            let mut req = if post {
                s.http.post(url).json(&body)
            } else {
                s.http.get(url)
            };
            if let Some(v) = secret {
                req = req.header(FLOW_SECRET, v);
            }
            let r = Resp::from(req.send().await.unwrap()).await;
            r.assert_problem(404, "not_found");
            assert!(
                r.json.get("flow").is_none(),
                "nothing of the flow is shown: {r:?}"
            );
        }
    }
    assert_eq!(
        events(s).await.len(),
        before,
        "a refused request writes no event"
    );
}

async fn log_01_a_security_key_reading_events_cannot_set_a_password_with_a_flow_id(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "victim@example.com", json!({})).await;
    // The victim's app recovers the password and has reached the last step.
    let flow = start(&s, "recovery", json!({})).await;
    let secret = flow["secret"]
        .as_str()
        .expect("the start answers the flow secret")
        .to_owned();
    assert!(secret.len() >= 40, "at least 128 bits (CRY-01): {secret}");
    assert!(
        !secret.contains(flow["id"].as_str().unwrap()),
        "the secret is not the id"
    );
    submit(&s, &flow, json!({"email": "victim@example.com"})).await;
    let code = s.code_for("victim@example.com").await.unwrap();
    let r = submit(&s, &flow, json!({"code": code})).await;
    assert_eq!(r.json["flow"]["state"], "set_password", "{r:?}");
    assert!(
        r.json.get("flow_secret").is_none(),
        "the secret is answered once, at the start"
    );

    // An insider whose key has only the security role reads the event log and finds the flow.
    let key = s.mint_key("auditor", "security", Some("default")).await;
    let ev = Resp::from(
        s.admin_req_as(
            &key,
            reqwest::Method::GET,
            "/admin/v1/tenants/default/events?type=flow.advanced&limit=100",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(ev.status, 200, "{ev:?}");
    let found = ev.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["data"]["to"] == "set_password")
        .map(|e| e["data"]["flow_id"].as_str().unwrap().to_owned())
        .expect("the flow's id is in the log");
    assert_eq!(found, flow["id"].as_str().unwrap());

    let evil = "the attacker picked this passphrase";
    drive_without_the_secret(&s, "recovery", &found, json!({"password": evil})).await;
    assert!(
        sign_in(&s, "victim@example.com", evil).await.json["session_token"].is_null(),
        "the attacker's password was never set"
    );

    // The app that started the flow still finishes it, and its secret is in no event.
    let r = submit(
        &s,
        &flow,
        json!({"password": "the victim's own new passphrase"}),
    )
    .await;
    assert_eq!(r.json["done"], true, "{r:?}");
    let log = serde_json::to_string(&events(&s).await).unwrap();
    assert!(!log.contains(&secret), "no flow secret in the event log");
}

async fn log_01_a_login_flow_at_the_profile_step_cannot_be_finished_with_its_id_alone(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.put(
        "/admin/v1/tenants/default/attribute-schema",
        json!({"attributes": [{"name": "postal_code", "type": "string"}]}),
    )
    .await;
    s.put(
        "/admin/v1/tenants/default/policy",
        json!({"document": {"registration": {"progressive_profiling": [{"client_id": "shop", "attributes": ["postal_code"], "purpose": "delivery"}]}}, "reason": "shop launch"}),
    )
    .await;
    sign_up(&s, "p@example.com", json!({})).await;
    let identity = s
        .get("/admin/v1/tenants/default/identities?identifier=p@example.com")
        .await
        .json["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sessions_path = format!("/admin/v1/tenants/default/identities/{identity}/sessions");
    let flow = start(&s, "login", json!({"client_id": "shop"})).await;
    let r = submit(
        &s,
        &flow,
        json!({"identifier": "p@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.json["flow"]["state"], "profile", "{r:?}");
    let before = live_sessions(&s, &sessions_path).await;

    let id = flow["id"].as_str().unwrap();
    drive_without_the_secret(&s, "login", id, json!({"attributes.postal_code": "10115"})).await;
    assert_eq!(
        live_sessions(&s, &sessions_path).await,
        before,
        "no session was handed out"
    );

    // Another flow's secret does not open this one either.
    let other = start(&s, "login", json!({})).await;
    let r = Resp::from(
        s.http
            .post(api(&s, &format!("login/{id}")))
            .header(FLOW_SECRET, other["secret"].as_str().unwrap())
            .json(&json!({"attributes.postal_code": "10115"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(404, "not_found");
    assert_eq!(live_sessions(&s, &sessions_path).await, before);

    let r = Resp::from(
        flow_req(&s, reqwest::Method::GET, &flow)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "the app that started it reads it: {r:?}");
    let r = submit(&s, &flow, json!({"attributes.postal_code": "10115"})).await;
    assert!(r.json["session_token"].is_string(), "{r:?}");
}

engine_tests!(
    log_01_a_security_key_reading_events_cannot_set_a_password_with_a_flow_id,
    log_01_a_login_flow_at_the_profile_step_cannot_be_finished_with_its_id_alone,
);
