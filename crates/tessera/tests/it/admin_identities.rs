//! What the admin API does to a customer's account beyond its data: the life cycle ends sessions for good
//! (SES-06), and marking an identifier verified, which hands over recovery, is a permission of its own,
//! an event, and a notice to the address it replaces (REG-01).
use serde_json::{Value, json};
use tessera_testkit::{Engine, Resp, TestServer, engine_tests};

use crate::flows::{PASSWORD, start, submit};

const IDS: &str = "/admin/v1/tenants/default/identities";

/// Signs up through the JSON API; returns the identity id and the session token.
async fn sign_up(s: &TestServer, email: &str) -> (String, String) {
    let flow = start(s, "registration", json!({})).await;
    let r = submit(s, &flow, json!({"email": email})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let code = s.code_for(email).await.expect("a code was mailed");
    let r = submit(s, &flow, json!({"code": code})).await;
    assert_eq!(r.json["flow"]["state"], "details", "{r:?}");
    let r = submit(s, &flow, json!({"password": PASSWORD})).await;
    let token = r.json["session_token"].as_str().unwrap().to_owned();
    let id = s.get(&format!("{IDS}?identifier={email}")).await.json["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (id, token)
}

async fn sign_in(s: &TestServer, email: &str) -> Resp {
    let flow = start(s, "login", json!({})).await;
    submit(s, &flow, json!({"identifier": email, "password": PASSWORD})).await
}

async fn whoami(s: &TestServer, token: &str) -> u16 {
    s.http
        .get(format!("{}/t/default/api/sessions", s.public))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn event_types(s: &TestServer, id: &str) -> Vec<String> {
    s.get(&format!(
        "/admin/v1/tenants/default/events?subject=identity:{id}&limit=1000"
    ))
    .await
    .json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn ses_06_suspension_and_deletion_end_sessions_for_good(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let (id, token) = sign_up(&s, "suspended@example.com").await;
    assert_eq!(whoami(&s, &token).await, 200);
    let r = s.post(&format!("{IDS}/{id}/suspend"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(whoami(&s, &token).await, 401);
    let r = s.post(&format!("{IDS}/{id}/reactivate"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        whoami(&s, &token).await,
        401,
        "reactivation does not bring the old session back"
    );
    let listed = s.get(&format!("{IDS}/{id}/sessions")).await;
    assert_eq!(listed.json, json!([]), "{listed:?}");
    assert!(
        event_types(&s, &id)
            .await
            .contains(&"session.revoked".to_owned())
    );

    let fresh = sign_in(&s, "suspended@example.com").await;
    let token = fresh.json["session_token"].as_str().unwrap().to_owned();
    assert_eq!(whoami(&s, &token).await, 200, "a new sign-in works");
    let r = s
        .post(&format!("{IDS}/{id}/schedule-deletion"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    s.post(&format!("{IDS}/{id}/reactivate"), json!({})).await;
    assert_eq!(whoami(&s, &token).await, 401);

    let (id, token) = sign_up(&s, "erased@example.com").await;
    let r = s.delete(&format!("{IDS}/{id}")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(whoami(&s, &token).await, 401);
    assert_eq!(s.get(&format!("{IDS}/{id}/sessions")).await.json, json!([]));
}

async fn reg_01_marking_an_identifier_verified_needs_its_own_permission_and_notifies(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let support = s.mint_key("desk", "support", None).await;
    let as_support = |method: reqwest::Method, path: String, body: Value| {
        let req = s.admin_req_as(&support, method, &path).json(&body);
        async move { Resp::from(req.send().await.unwrap()).await }
    };
    let (id, token) = sign_up(&s, "customer@example.com").await;
    let path = format!("{IDS}/{id}");
    let before = s.get(&path).await;

    // The finding: a support key replaced the address with its own, marked verified.
    let takeover =
        json!({"identifiers": [{"kind": "email", "value": "thief@example.com", "verified": true}]});
    let r = as_support(reqwest::Method::PATCH, path.clone(), takeover).await;
    r.assert_problem(403, "forbidden");
    assert_eq!(
        s.get(&path).await.json,
        before.json,
        "a refused request changes nothing"
    );
    let r = as_support(
        reqwest::Method::POST,
        IDS.into(),
        json!({"identifiers": [{"kind": "email", "value": "new@example.com", "verified": true}]}),
    )
    .await;
    r.assert_problem(403, "forbidden");

    // Support may still edit identifiers; left out, `verified` keeps what the identity has.
    let r = as_support(
        reqwest::Method::PATCH,
        path.clone(),
        json!({"identifiers": [
            {"kind": "email", "value": "customer@example.com"},
            {"kind": "username", "value": "customer"}
        ]}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let kept = &r.json["identifiers"];
    assert!(
        kept.as_array()
            .unwrap()
            .iter()
            .any(|i| i["value"] == "customer@example.com" && i["verified"] == true),
        "{kept}"
    );
    assert!(
        !event_types(&s, &id)
            .await
            .contains(&"identity.identifiers_marked_verified".to_owned())
    );

    // A key with `identity:verify` may replace the address; the old one is told, and it is an event.
    let r = s
        .patch(
            &path,
            json!({"identifiers": [{"kind": "email", "value": "moved@example.com", "verified": true}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["identifiers"][0]["verified"], true);
    let notice = s
        .last_mail_to("customer@example.com")
        .await
        .expect("the old address is told");
    assert_eq!(notice["template"], "email_changed_notice", "{notice}");
    let types = event_types(&s, &id).await;
    assert!(
        types.contains(&"identity.identifiers_marked_verified".to_owned()),
        "{types:?}"
    );
    let marked = s
        .get(&format!(
            "/admin/v1/tenants/default/events?subject=identity:{id}&type=identity.identifiers_marked_verified"
        ))
        .await;
    let ev = &marked.json["items"][0];
    assert_eq!(ev["data"]["identifier_kinds"], json!(["email"]), "{ev}");
    assert!(
        ev["actor"].as_str().unwrap().starts_with("api_key:"),
        "{ev}"
    );
    assert_eq!(
        whoami(&s, &token).await,
        200,
        "nothing is revoked behind the customer's back; the notice lets them act"
    );
}

async fn reg_01_support_cannot_replace_or_unverify_a_verified_address(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let support = s.mint_key("desk", "support", None).await;
    let as_support = |body: Value, path: String| {
        let req = s
            .admin_req_as(&support, reqwest::Method::PATCH, &path)
            .json(&body);
        async move { Resp::from(req.send().await.unwrap()).await }
    };
    let (id, _token) = sign_up(&s, "victim@example.com").await;
    let path = format!("{IDS}/{id}");
    let before = s.get(&path).await;
    let events_before = event_types(&s, &id).await;
    let mails_before = s.mailbox().await.len();

    // The finding: the verified address replaced by the agent's own unverified one, which the public
    // verification flow would then prove; also a downgrade in place, and a removal behind a username.
    let refused = [
        json!({"identifiers": [{"kind": "email", "value": "sup2@evil.test", "verified": false}]}),
        json!({"identifiers": [{"kind": "email", "value": "sup2@evil.test"}]}),
        json!({"identifiers": [{"kind": "email", "value": "victim@example.com", "verified": false}]}),
        json!({"identifiers": [{"kind": "username", "value": "victim"}]}),
        json!({"identifiers": [
            {"kind": "email", "value": "victim@example.com", "verified": false},
            {"kind": "email", "value": "sup2@evil.test"}
        ]}),
    ];
    for body in refused {
        let r = as_support(body.clone(), path.clone()).await;
        r.assert_problem(403, "forbidden");
        assert_eq!(
            s.get(&path).await.json,
            before.json,
            "a refused request changes nothing: {body}"
        );
    }
    assert_eq!(
        event_types(&s, &id).await,
        events_before,
        "a refused request writes no event"
    );
    assert_eq!(s.mailbox().await.len(), mails_before, "and sends no mail");

    // Nor may support attach an address of its own beside the proven one (the red team's next step:
    // prove it through the public verification flow, then recover the account through it).
    let r = as_support(
        json!({"identifiers": [
            {"kind": "email", "value": "victim@example.com"},
            {"kind": "email", "value": "second@example.com", "verified": false}
        ]}),
        path.clone(),
    )
    .await;
    r.assert_problem(403, "forbidden");
    assert_eq!(s.get(&path).await.json, before.json, "nothing attached");

    // A username beside the verified address (no recovery channel) stays support's to add, and to take
    // away again, since it was never verified.
    let r = as_support(
        json!({"identifiers": [
            {"kind": "email", "value": "victim@example.com"},
            {"kind": "username", "value": "victim42"}
        ]}),
        path.clone(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let idents = r.json["identifiers"].as_array().unwrap().clone();
    assert!(
        idents
            .iter()
            .any(|i| i["value"] == "victim@example.com" && i["verified"] == true),
        "{idents:?}"
    );
    assert!(
        idents.iter().any(|i| i["value"] == "victim42"),
        "{idents:?}"
    );
    let r = as_support(
        json!({"identifiers": [{"kind": "email", "value": "victim@example.com"}]}),
        path.clone(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");

    // A key with `identity:verify` may replace the verified address with an unverified one; the old
    // address is told.
    let r = s
        .patch(
            &path,
            json!({"identifiers": [{"kind": "email", "value": "fresh@example.com", "verified": false}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["identifiers"][0]["verified"], false);
    let notice = s
        .last_mail_to("victim@example.com")
        .await
        .expect("the replaced address is told");
    assert_eq!(notice["template"], "email_changed_notice", "{notice}");
}

engine_tests!(
    ses_06_suspension_and_deletion_end_sessions_for_good,
    reg_01_marking_an_identifier_verified_needs_its_own_permission_and_notifies,
    reg_01_support_cannot_replace_or_unverify_a_verified_address,
);
