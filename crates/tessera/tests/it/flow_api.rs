//! The JSON flow API's own answers, as its OpenAPI document states them and the fuzzer found them wrong:
//! a bad `client_id` is a field problem that starts nothing (it was a 500 on PostgreSQL), reading a flow
//! is 200 even after a refused step (it was 400), and a missing session asks for a session token (it
//! asked for an admin key). Every test runs on SQLite and PostgreSQL.
use serde_json::{Value, json};
use tessera_testkit::{Engine, Resp, TestServer, engine_tests};

use crate::flows::{api, flow_req, sign_up, start, submit};

async fn flow_starts(s: &TestServer) -> usize {
    let r = s
        .get("/admin/v1/tenants/default/events?type=flow.started&limit=1000")
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.json["items"].as_array().map_or(0, Vec::len)
}

async fn start_with(s: &TestServer, kind: &str, body: Value) -> Resp {
    Resp::from(s.http.post(api(s, kind)).json(&body).send().await.unwrap()).await
}

async fn flow_api_a_client_id_with_a_control_character_or_too_long_is_a_field_problem(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let before = flow_starts(&s).await;
    for bad in [
        "a\u{0}b".to_owned(),
        "\u{0}".to_owned(),
        "shop\nline".to_owned(),
        "\u{85}".to_owned(),
        "é".repeat(201),
    ] {
        for kind in ["login", "registration", "verification", "recovery"] {
            let r = start_with(&s, kind, json!({"client_id": bad})).await;
            r.assert_problem(422, "invalid_field");
            assert_eq!(r.json["errors"][0]["field"], "client_id", "{r:?}");
        }
    }
    assert_eq!(
        flow_starts(&s).await,
        before,
        "a refused start starts nothing"
    );

    // The hosted start refuses it the same way, as a page.
    let r = Resp::from(
        s.http
            .get(format!("{}/t/default/login?client_id=a%00b", s.public))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        r.status, 422,
        "the page has the problem's status (one mapping): {r:?}"
    );
    assert_eq!(flow_starts(&s).await, before);

    // At the limit, and empty (none), it is kept as it came.
    let at_limit = "é".repeat(200);
    let flow = start(&s, "login", json!({"client_id": at_limit})).await;
    assert_eq!(flow["client_id"], at_limit.as_str());
    let flow = start(&s, "login", json!({"client_id": ""})).await;
    assert!(flow["client_id"].is_null(), "{flow}");
}

async fn flow_api_reading_a_flow_after_a_refused_step_answers_200(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let flow = start(&s, "login", json!({})).await;
    let r = submit(
        &s,
        &flow,
        json!({"identifier": "nobody@example.com", "password": "wrong password 1"}),
    )
    .await;
    assert_eq!(r.status, 400, "a step to retry: {r:?}");
    let read = Resp::from(
        flow_req(&s, reqwest::Method::GET, &flow)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(read.status, 200, "the read itself was fine: {read:?}");
    assert_eq!(
        read.json["flow"]["ui"]["messages"], r.json["flow"]["ui"]["messages"],
        "the flow still shows what went wrong"
    );
}

async fn flow_api_without_a_session_asks_for_the_session_token(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let token = sign_up(&s, "ada@example.com", json!({})).await;
    let sessions = format!("{}/t/default/api/sessions", s.public);
    let answers = [
        s.http.get(&sessions).send().await.unwrap(),
        s.http
            .get(&sessions)
            .bearer_auth("nope")
            .send()
            .await
            .unwrap(),
        s.http
            .delete(format!("{sessions}/current"))
            .send()
            .await
            .unwrap(),
        s.http
            .post(api(&s, "settings"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    ];
    for r in answers {
        let r = Resp::from(r).await;
        r.assert_problem(401, "unauthenticated");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"tessera\"")
        );
        assert!(
            !r.json["detail"].as_str().unwrap().contains("admin"),
            "a customer is not asked for an admin key: {r:?}"
        );
    }
    let r = Resp::from(
        s.http
            .get(&sessions)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
}

engine_tests!(
    flow_api_a_client_id_with_a_control_character_or_too_long_is_a_field_problem,
    flow_api_reading_a_flow_after_a_refused_step_answers_200,
    flow_api_without_a_session_asks_for_the_session_token,
);
