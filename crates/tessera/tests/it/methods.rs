//! Sign-in methods are plug-ins: the tenant's policy says which are offered and what assurance a sign-in
//! must reach, and the sign-in journey follows without naming any. A method this file defines, which no
//! journey knows, becomes a second factor by registering it and naming it in the policy; the emailed
//! sign-in code works as a first factor. Every test runs on SQLite and PostgreSQL.
use std::sync::Arc;

use serde_json::{Value, json};
use tessera_core::flows::nodes;
use tessera_core::methods::{
    Account, Charge, Factor, Method, MethodFuture, Secret, SignIn, Verdict,
};
use tessera_model::IdentityId;
use tessera_model::flow::UiNode;
use tessera_testkit::{Engine, Resp, TestServer, engine_tests};

use crate::codes::identity_id;
use crate::flows::{PASSWORD, messages, node, sign_up, start, submit};

/// A stand-in for a security key: it cannot say who you are (a second factor only), and it proves the
/// identity when the response is `signed-by-<identity id>`.
#[derive(Debug)]
struct TestKey;

impl Method for TestKey {
    fn id(&self) -> &'static str {
        "test_key"
    }
    fn amr(&self) -> &'static str {
        "hwk"
    }
    fn factor(&self) -> Factor {
        Factor::Possession
    }
    fn allowed_at_aal2(&self) -> bool {
        true
    }
    fn identifies(&self) -> bool {
        false
    }
    fn sign_in_nodes(&self, _second: bool) -> Vec<UiNode> {
        vec![
            UiNode::input(
                "test_key",
                "test_key_response",
                "text",
                tessera_model::flow::UiMessage::info("label-code", "Key response"),
            ),
            nodes::button("test_key", "method", "test_key", "button-verify", "Verify"),
        ]
    }
    fn charge(
        &self,
        identity: Option<IdentityId>,
        _: Option<&Value>,
        input: &tessera_core::flows::FlowInput,
    ) -> Charge {
        match (identity, input.get("test_key_response")) {
            (Some(id), Some(_)) => Charge::Guess {
                account: Account::Identity(id),
                secret: Secret::Code,
            },
            _ => Charge::Nothing,
        }
    }
    fn sign_in<'a>(
        &'a self,
        s: SignIn<'a>,
    ) -> MethodFuture<'a, (Verdict, Option<tessera_store::Tx>)> {
        Box::pin(async move {
            let verdict = match (s.identity, s.input.get("test_key_response")) {
                (_, None) => Verdict::Missing(vec!["test_key_response"]),
                (Some(id), Some(r)) if *r == format!("signed-by-{id}") => {
                    Verdict::Proven { identity: id }
                }
                _ => Verdict::Refused,
            };
            Ok((verdict, None))
        })
    }
}

async fn set_policy(s: &TestServer, authentication: Value) -> Resp {
    s.put(
        "/admin/v1/tenants/default/policy",
        json!({"document": {"authentication": authentication}, "reason": "sign-in methods"}),
    )
    .await
}

fn node_names(flow: &Value) -> Vec<String> {
    flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The signed-in session as its owner sees it.
async fn my_session(s: &TestServer, token: &str) -> Value {
    crate::flows::my_sessions(s, token)
        .await
        .into_iter()
        .find(|x| x["current"] == true)
        .expect("the current session is listed")
}

async fn methods_a_method_no_journey_knows_becomes_the_second_factor_of_an_aal2_sign_in(
    engine: Engine,
) {
    let Some(s) = TestServer::start_with_method(engine, Arc::new(TestKey)).await else {
        return;
    };
    sign_up(&s, "ada@example.com", json!({})).await;
    let r = set_policy(&s, json!({"methods": ["password", "test_key"], "aal": 2})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let flow = start(&s, "login", json!({})).await;
    assert_eq!(flow["requested_aal"], 2);
    // A key that cannot say who you are is not offered first.
    assert!(!node_names(&flow).contains(&"test_key_response".into()));
    let r = submit(
        &s,
        &flow,
        json!({"identifier": "ada@example.com", "password": PASSWORD, "method": "password"}),
    )
    .await;
    assert_eq!(r.json["flow"]["state"], "second_factor", "{r:?}");
    assert!(
        r.json["session_token"].is_null(),
        "no session after one factor of two"
    );
    assert!(node_names(&r.json["flow"]).contains(&"test_key_response".into()));
    assert!(!node_names(&r.json["flow"]).contains(&"password".into()));
    let identity = identity_id(&s, "ada@example.com").await;
    // The password cannot be the second factor too, and a wrong response is refused.
    let again = submit(
        &s,
        &flow,
        json!({"password": PASSWORD, "method": "password"}),
    )
    .await;
    assert!(
        messages(&again).contains(&"error-method-unavailable".into()),
        "{again:?}"
    );
    let wrong = submit(
        &s,
        &flow,
        json!({"test_key_response": "signed-by-someone", "method": "test_key"}),
    )
    .await;
    assert!(
        messages(&wrong).contains(&"error-invalid-credentials".into()),
        "{wrong:?}"
    );
    assert!(wrong.json["session_token"].is_null());
    let r = submit(
        &s,
        &flow,
        json!({"test_key_response": format!("signed-by-{identity}"), "method": "test_key"}),
    )
    .await;
    let token = r.json["session_token"]
        .as_str()
        .expect("signed in")
        .to_owned();
    let session = my_session(&s, &token).await;
    assert_eq!(session["aal"], 2, "{session}");
    assert_eq!(session["amr"], json!(["pwd", "hwk", "mfa"]));
    let factors = session["factors"].as_object().unwrap();
    assert!(factors.contains_key("password") && factors.contains_key("test_key"));
}

async fn methods_one_factor_signs_in_at_aal1_and_records_its_method(engine: Engine) {
    let Some(s) = TestServer::start_with_method(engine, Arc::new(TestKey)).await else {
        return;
    };
    sign_up(&s, "ada@example.com", json!({})).await;
    // Offered but not required: the key is never asked for.
    let r = set_policy(&s, json!({"methods": ["password", "test_key"], "aal": 1})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = crate::flows::sign_in(&s, "ada@example.com", PASSWORD).await;
    let token = r.json["session_token"]
        .as_str()
        .expect("signed in")
        .to_owned();
    let session = my_session(&s, &token).await;
    assert_eq!(session["aal"], 1);
    assert_eq!(session["amr"], json!(["pwd"]));
    assert_eq!(
        session["factors"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["password"]
    );
}

async fn methods_a_policy_with_an_unknown_method_or_an_unreachable_aal_is_refused_and_changes_nothing(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    for (authentication, path) in [
        (
            json!({"methods": ["password", "carrier_pigeon"]}),
            "$.authentication.methods[1]",
        ),
        (
            json!({"methods": ["password", "email_code"], "aal": 2}),
            "$.authentication.aal",
        ),
        (json!({"methods": []}), "$.authentication.methods"),
        (json!({"aal": 3}), "$.authentication.aal"),
    ] {
        let r = set_policy(&s, authentication.clone()).await;
        assert_eq!(r.status, 422, "{authentication}: {r:?}");
        assert_eq!(r.json["code"], "invalid_policy");
        assert!(r.json["detail"].as_str().unwrap().contains(path), "{r:?}");
    }
    assert_eq!(
        s.get("/admin/v1/tenants/default/policy").await.json["version"],
        0
    );
}

async fn methods_an_emailed_code_signs_in_without_the_password(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "ada@example.com", json!({})).await;
    let r = set_policy(&s, json!({"methods": ["password", "email_code"]})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let flow = start(&s, "login", json!({})).await;
    let button = flow["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["value"] == "email_code")
        .cloned();
    assert!(button.is_some_and(|b| b["secondary"] == true), "{flow}");
    let r = submit(
        &s,
        &flow,
        json!({"identifier": "ADA@example.com", "method": "email_code"}),
    )
    .await;
    assert_eq!(r.json["flow"]["state"], "pending", "{r:?}");
    assert!(node(&r.json["flow"], "code").is_some());
    assert!(messages(&r).contains(&"info-code-sent".into()));
    let code = s
        .code_for("ada@example.com")
        .await
        .expect("a sign-in code was mailed");
    let r = submit(&s, &flow, json!({"code": code})).await;
    let token = r.json["session_token"]
        .as_str()
        .expect("signed in")
        .to_owned();
    let session = my_session(&s, &token).await;
    assert_eq!(session["amr"], json!(["otp"]));
    assert_eq!(session["aal"], 1);
    // The code is spent.
    let flow = start(&s, "login", json!({})).await;
    submit(
        &s,
        &flow,
        json!({"identifier": "ada@example.com", "method": "email_code"}),
    )
    .await;
    let r = submit(&s, &flow, json!({"code": code})).await;
    assert!(r.json["session_token"].is_null());
}

async fn rl_05_an_emailed_sign_in_code_for_an_unknown_address_looks_the_same_and_never_signs_in(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "ada@example.com", json!({})).await;
    set_policy(&s, json!({"methods": ["password", "email_code"]})).await;
    let known = start(&s, "login", json!({})).await;
    let unknown = start(&s, "login", json!({})).await;
    let a = submit(
        &s,
        &known,
        json!({"identifier": "ada@example.com", "method": "email_code"}),
    )
    .await;
    let b = submit(
        &s,
        &unknown,
        json!({"identifier": "nobody@example.com", "method": "email_code"}),
    )
    .await;
    assert_eq!(a.status, b.status);
    assert_eq!(a.json["flow"]["state"], b.json["flow"]["state"]);
    assert_eq!(messages(&a), messages(&b));
    assert_eq!(node_names(&a.json["flow"]), node_names(&b.json["flow"]));
    assert!(
        s.code_for("nobody@example.com").await.is_none(),
        "no mail to an unknown address"
    );
    for guess in ["000000", "123456"] {
        let r = submit(&s, &unknown, json!({"code": guess})).await;
        assert!(
            messages(&r).contains(&"error-invalid-credentials".into()),
            "{r:?}"
        );
        assert!(r.json["session_token"].is_null());
    }
}

async fn methods_a_method_the_policy_does_not_offer_is_refused(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "ada@example.com", json!({})).await;
    // The default policy offers the password only.
    let flow = start(&s, "login", json!({})).await;
    assert!(
        flow["ui"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["value"] != "email_code")
    );
    let r = submit(
        &s,
        &flow,
        json!({"identifier": "ada@example.com", "method": "email_code"}),
    )
    .await;
    assert!(
        messages(&r).contains(&"error-method-unavailable".into()),
        "{r:?}"
    );
    assert_eq!(r.json["flow"]["state"], "choose_method");
    let mails = s.mailbox().await;
    assert_eq!(mails.len(), 1, "only the sign-up code: {mails:?}");
    let r = submit(
        &s,
        &flow,
        json!({"identifier": "ada@example.com", "method": "carrier_pigeon"}),
    )
    .await;
    assert!(
        messages(&r).contains(&"error-method-unavailable".into()),
        "{r:?}"
    );
}

async fn methods_the_settings_page_manages_the_credentials_of_the_offered_methods_only(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let token = sign_up(&s, "ada@example.com", json!({})).await;
    let settings = crate::flows::start_as(&s, "settings", json!({}), Some(&token)).await;
    assert!(
        node(&settings, "new_password").is_some(),
        "the password is offered: {settings}"
    );
    // A tenant that signs customers in by emailed code only has no password to manage.
    let r = set_policy(&s, json!({"methods": ["email_code"]})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let settings = crate::flows::start_as(&s, "settings", json!({}), Some(&token)).await;
    assert!(node(&settings, "new_password").is_none(), "{settings}");
    let r = crate::flows::submit_as(
        &s,
        &settings,
        json!({"method": "password", "current_password": PASSWORD, "new_password": "another horse battery staple 43"}),
        Some(&token),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    // Nothing changed: the old password still signs in once the tenant offers it again.
    set_policy(&s, json!({"methods": ["password"]})).await;
    let r = crate::flows::sign_in(&s, "ada@example.com", PASSWORD).await;
    assert!(r.json["session_token"].is_string(), "{r:?}");
}

/// Finishes a parked sign-in's profile step and checks it opened no session and started over.
async fn assert_parked_sign_in_starts_over(s: &TestServer, parked: &Value) {
    let r = submit(s, parked, json!({"attributes.postal_code": "10115"})).await;
    assert!(
        r.json["session_token"].is_null(),
        "the parked sign-in must not open a session: {r:?}"
    );
    assert!(
        messages(&r).contains(&"error-sign-in-again".into()),
        "{r:?}"
    );
    assert_eq!(r.json["flow"]["state"], "choose_method", "{r:?}");
}

/// Parks a sign-in at the profile step (the password proven, the client's attribute still missing).
async fn park_at_profile(s: &TestServer, email: &str) -> Value {
    s.put(
        "/admin/v1/tenants/default/attribute-schema",
        json!({"attributes": [{"name": "postal_code", "type": "string"}]}),
    )
    .await;
    let r = s
        .put(
            "/admin/v1/tenants/default/policy",
            json!({"document": {"registration": {"progressive_profiling": [{"client_id": "shop", "attributes": ["postal_code"], "purpose": "delivery"}]}}, "reason": "shop launch"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let flow = start(s, "login", json!({"client_id": "shop"})).await;
    let r = submit(s, &flow, json!({"identifier": email, "password": PASSWORD})).await;
    assert_eq!(r.json["flow"]["state"], "profile", "{r:?}");
    flow
}

async fn rec_07_a_sign_in_parked_before_its_last_step_dies_with_a_password_reset(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "ada@example.com", json!({})).await;
    let parked = park_at_profile(&s, "ada@example.com").await;
    s.clock.advance(std::time::Duration::from_secs(5));
    // The owner resets the password meanwhile.
    let recovery = start(&s, "recovery", json!({})).await;
    submit(&s, &recovery, json!({"email": "ada@example.com"})).await;
    let code = s.code_for("ada@example.com").await.unwrap();
    submit(&s, &recovery, json!({"code": code})).await;
    let r = submit(
        &s,
        &recovery,
        json!({"password": "a brand new horse battery 44"}),
    )
    .await;
    assert_eq!(r.json["done"], true, "{r:?}");
    s.clock.advance(std::time::Duration::from_secs(5));
    assert_parked_sign_in_starts_over(&s, &parked).await;
}

async fn ses_06_a_sign_in_parked_before_its_last_step_dies_with_a_suspension(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "ada@example.com", json!({})).await;
    let parked = park_at_profile(&s, "ada@example.com").await;
    let id = identity_id(&s, "ada@example.com").await;
    s.clock.advance(std::time::Duration::from_secs(5));
    let ids = "/admin/v1/tenants/default/identities";
    assert_eq!(
        s.post(&format!("{ids}/{id}/suspend"), json!({}))
            .await
            .status,
        200
    );
    assert_eq!(
        s.post(&format!("{ids}/{id}/reactivate"), json!({}))
            .await
            .status,
        200
    );
    s.clock.advance(std::time::Duration::from_secs(5));
    assert_parked_sign_in_starts_over(&s, &parked).await;
}

async fn reg_04_an_emailed_sign_in_code_never_goes_to_an_address_nobody_proved(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "ada@example.com", json!({})).await;
    set_policy(&s, json!({"methods": ["password", "email_code"]})).await;
    let id = identity_id(&s, "ada@example.com").await;
    // An admin adds an address to the account without proving it.
    let ids = "/admin/v1/tenants/default/identities";
    let current = s.get(&format!("{ids}/{id}")).await;
    let mut identifiers = current.json["identifiers"].as_array().unwrap().clone();
    identifiers.push(json!({"kind": "email", "value": "mallory@example.com"}));
    let r = s
        .http
        .patch(format!("{}{ids}/{id}", s.admin))
        .bearer_auth(&s.key)
        .header("if-match", current.header("etag").unwrap())
        .json(&json!({"identifiers": identifiers}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let flow = start(&s, "login", json!({})).await;
    let r = submit(
        &s,
        &flow,
        json!({"identifier": "mallory@example.com", "method": "email_code"}),
    )
    .await;
    assert_eq!(
        r.json["flow"]["state"], "pending",
        "the same answer as for any address: {r:?}"
    );
    assert!(
        s.code_for("mallory@example.com").await.is_none(),
        "no code to an unproven address"
    );
}

async fn rl_02_a_method_the_policy_does_not_offer_costs_the_account_nothing(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "ada@example.com", json!({})).await;
    // The default policy offers the password only: asking for codes again and again must neither mail
    // the owner nor hold back the owner's own mail.
    for _ in 0..40 {
        let flow = start(&s, "login", json!({})).await;
        let r = submit(
            &s,
            &flow,
            json!({"identifier": "ada@example.com", "method": "email_code"}),
        )
        .await;
        assert!(
            messages(&r).contains(&"error-method-unavailable".into()),
            "{r:?}"
        );
    }
    let before = s.mailbox().await.len();
    let recovery = start(&s, "recovery", json!({})).await;
    let r = submit(&s, &recovery, json!({"email": "ada@example.com"})).await;
    assert_eq!(
        r.json["flow"]["state"], "sent_email",
        "not held back: {r:?}"
    );
    assert_eq!(
        s.mailbox().await.len(),
        before + 1,
        "the owner's recovery mail goes out"
    );
}

async fn methods_a_code_sent_before_the_policy_stopped_offering_the_method_signs_nobody_in(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "ada@example.com", json!({})).await;
    set_policy(&s, json!({"methods": ["password", "email_code"]})).await;
    let flow = start(&s, "login", json!({})).await;
    submit(
        &s,
        &flow,
        json!({"identifier": "ada@example.com", "method": "email_code"}),
    )
    .await;
    let code = s.code_for("ada@example.com").await.unwrap();
    set_policy(&s, json!({"methods": ["password"]})).await;
    let r = submit(&s, &flow, json!({"code": code})).await;
    assert!(r.json["session_token"].is_null(), "{r:?}");
    assert!(
        messages(&r).contains(&"error-method-unavailable".into()),
        "{r:?}"
    );
}

async fn ses_06_a_sign_in_parked_before_its_last_step_dies_when_an_admin_ends_every_session(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "ada@example.com", json!({})).await;
    let parked = park_at_profile(&s, "ada@example.com").await;
    let id = identity_id(&s, "ada@example.com").await;
    let r = s
        .http
        .delete(format!(
            "{}/admin/v1/tenants/default/identities/{id}/sessions",
            s.admin
        ))
        .bearer_auth(&s.key)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    assert_parked_sign_in_starts_over(&s, &parked).await;
}

async fn methods_a_sign_in_parked_before_its_last_step_dies_when_its_method_is_no_longer_offered(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "ada@example.com", json!({})).await;
    let parked = park_at_profile(&s, "ada@example.com").await;
    let r = s
        .put(
            "/admin/v1/tenants/default/policy",
            json!({"document": {"authentication": {"methods": ["email_code"]}, "registration": {"progressive_profiling": [{"client_id": "shop", "attributes": ["postal_code"], "purpose": "delivery"}]}}, "reason": "codes only"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_parked_sign_in_starts_over(&s, &parked).await;
}

engine_tests!(
    methods_a_method_no_journey_knows_becomes_the_second_factor_of_an_aal2_sign_in,
    methods_one_factor_signs_in_at_aal1_and_records_its_method,
    methods_a_policy_with_an_unknown_method_or_an_unreachable_aal_is_refused_and_changes_nothing,
    methods_an_emailed_code_signs_in_without_the_password,
    rl_05_an_emailed_sign_in_code_for_an_unknown_address_looks_the_same_and_never_signs_in,
    methods_a_method_the_policy_does_not_offer_is_refused,
    methods_the_settings_page_manages_the_credentials_of_the_offered_methods_only,
    rec_07_a_sign_in_parked_before_its_last_step_dies_with_a_password_reset,
    ses_06_a_sign_in_parked_before_its_last_step_dies_with_a_suspension,
    reg_04_an_emailed_sign_in_code_never_goes_to_an_address_nobody_proved,
    rl_02_a_method_the_policy_does_not_offer_costs_the_account_nothing,
    methods_a_code_sent_before_the_policy_stopped_offering_the_method_signs_nobody_in,
    ses_06_a_sign_in_parked_before_its_last_step_dies_when_an_admin_ends_every_session,
    methods_a_sign_in_parked_before_its_last_step_dies_when_its_method_is_no_longer_offered,
);
