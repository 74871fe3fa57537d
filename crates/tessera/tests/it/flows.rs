//! Hosted flows through the JSON API (what native and single-page apps use) and through plain form posts:
//! sign-up with email proof, sign-in, recovery, settings, light-account claiming, progressive profiling,
//! and the attacks these flows must resist. Every test runs on SQLite and PostgreSQL.
use serde_json::{Value, json};
use tessera_core::flows::FLOW_TTL;
use tessera_testkit::{Engine, Resp, TestServer, engine_tests};

pub(crate) const PASSWORD: &str = "correct horse battery staple 42";

/// The header an app sends a flow's secret in.
pub(crate) const FLOW_SECRET: &str = "tessera-flow-secret";

pub(crate) fn api(s: &TestServer, path: &str) -> String {
    format!("{}/t/default/api/flows/{path}", s.public)
}

/// Starts a flow as an app does. The flow secret, answered once beside the flow, is kept inside the
/// returned value (as `secret`) so that `submit` can send it.
pub(crate) async fn start(s: &TestServer, kind: &str, body: Value) -> Value {
    start_as(s, kind, body, None).await
}

/// Starts a flow as an app does, signed in with `token` when given (settings).
pub(crate) async fn start_as(
    s: &TestServer,
    kind: &str,
    body: Value,
    token: Option<&str>,
) -> Value {
    let mut req = s.http.post(api(s, kind)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = Resp::from(req.send().await.unwrap()).await;
    assert_eq!(r.status, 201, "{r:?}");
    let mut flow = r.json["flow"].clone();
    flow["secret"] = r.json["flow_secret"].clone();
    flow
}

/// A request to a started flow's URL, carrying its secret.
pub(crate) fn flow_req(
    s: &TestServer,
    method: reqwest::Method,
    flow: &Value,
) -> reqwest::RequestBuilder {
    let kind = flow["kind"].as_str().unwrap();
    let id = flow["id"].as_str().unwrap();
    let secret = flow["secret"].as_str().expect("a flow started by `start`");
    s.http
        .request(method, api(s, &format!("{kind}/{id}")))
        .header(FLOW_SECRET, secret)
}

pub(crate) async fn submit(s: &TestServer, flow: &Value, body: Value) -> Resp {
    submit_as(s, flow, body, None).await
}

pub(crate) async fn submit_as(
    s: &TestServer,
    flow: &Value,
    body: Value,
    token: Option<&str>,
) -> Resp {
    let mut req = flow_req(s, reqwest::Method::POST, flow).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Resp::from(req.send().await.unwrap()).await
}

pub(crate) fn messages(r: &Resp) -> Vec<String> {
    let f = &r.json["flow"]["ui"];
    let mut out: Vec<String> = f["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| m["id"].as_str().unwrap_or("").to_owned())
        .collect();
    for n in f["nodes"].as_array().cloned().unwrap_or_default() {
        for m in n["messages"].as_array().cloned().unwrap_or_default() {
            out.push(m["id"].as_str().unwrap_or("").to_owned());
        }
    }
    out
}

pub(crate) fn node<'a>(r: &'a Value, name: &str) -> Option<&'a Value> {
    r["ui"]["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == name)
}

/// Signs up through the API and returns the session token.
pub(crate) async fn sign_up(s: &TestServer, email: &str, extra: Value) -> String {
    let flow = start(s, "registration", json!({})).await;
    let r = submit(s, &flow, json!({"email": email})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["flow"]["state"], "sent_email");
    let code = s.code_for(email).await.expect("a code was mailed");
    let r = submit(s, &flow, json!({"code": code})).await;
    assert_eq!(r.json["flow"]["state"], "details", "{r:?}");
    let mut details = json!({"password": PASSWORD});
    if let (Value::Object(d), Value::Object(e)) = (&mut details, extra) {
        d.extend(e);
    }
    let r = submit(s, &flow, details).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.json["session_token"]
        .as_str()
        .expect("signed in after sign-up")
        .to_owned()
}

pub(crate) async fn sign_in(s: &TestServer, identifier: &str, password: &str) -> Resp {
    let flow = start(s, "login", json!({})).await;
    submit(
        s,
        &flow,
        json!({"identifier": identifier, "password": password}),
    )
    .await
}

pub(crate) async fn whoami(s: &TestServer, token: &str) -> u16 {
    s.http
        .get(format!("{}/t/default/api/sessions", s.public))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn sign_up_proves_the_email_then_signs_in(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let token = sign_up(&s, "new@example.com", json!({})).await;
    assert_eq!(whoami(&s, &token).await, 200);
    let listed = s
        .get("/admin/v1/tenants/default/identities?identifier=new@example.com")
        .await;
    assert_eq!(listed.json["items"][0]["identifiers"][0]["verified"], true);
    let r = sign_in(&s, "NEW@example.com", PASSWORD).await;
    assert!(r.json["session_token"].is_string(), "{r:?}");
    let kinds: Vec<String> = s
        .get("/admin/v1/tenants/default/events?limit=1000")
        .await
        .json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    for k in [
        "flow.started",
        "flow.advanced",
        "flow.succeeded",
        "identity.created",
        "session.created",
        "identity.email_verified",
    ] {
        assert!(kinds.iter().any(|x| x == k), "no {k} event in {kinds:?}");
    }
}

/// A sign-in's last transaction writes its session's event and its own in one statement: both are
/// there, in that order, one after the other, and the session's personal part (sealed with the
/// identity's key) opens.
async fn a_sign_in_records_its_session_and_its_success_together(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "pair@example.com", json!({})).await;
    let r = sign_in(&s, "pair@example.com", PASSWORD).await;
    assert!(r.json["session_token"].is_string(), "{r:?}");
    let items = s
        .get("/admin/v1/tenants/default/events?limit=1000")
        .await
        .json["items"]
        .as_array()
        .cloned()
        .unwrap();
    let last = |kind: &str| {
        items
            .iter()
            .rev()
            .find(|e| e["type"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} in {items:?}"))
    };
    let (created, succeeded) = (last("session.created"), last("flow.succeeded"));
    assert_eq!(
        succeeded["seq"].as_i64().unwrap(),
        created["seq"].as_i64().unwrap() + 1,
        "{created:?} {succeeded:?}"
    );
    assert_eq!(succeeded["data"]["methods"], json!(["password"]));
    assert_eq!(
        created["data"]["identity_id"],
        succeeded["data"]["identity_id"]
    );
    assert!(created["personal"].is_object(), "{created:?}");
    assert_eq!(created["personal_erased"], false);
}

async fn sign_up_asks_for_required_attributes_and_terms(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.put(
        "/admin/v1/tenants/default/attribute-schema",
        json!({"attributes": [{"name": "given_name", "type": "string", "required": true}]}),
    )
    .await;
    s.put(
        "/admin/v1/tenants/default/policy",
        json!({"document": {"registration": {"terms_version": "2026-11"}}, "reason": "terms"}),
    )
    .await;
    let flow = start(&s, "registration", json!({})).await;
    assert!(node(&flow, "accept_terms").is_some());
    let r = submit(&s, &flow, json!({"email": "t@example.com"})).await;
    assert_eq!(r.status, 400);
    assert!(messages(&r).contains(&"error-terms-required".to_owned()));
    let r = submit(
        &s,
        &flow,
        json!({"email": "t@example.com", "accept_terms": "true"}),
    )
    .await;
    assert_eq!(r.json["flow"]["state"], "sent_email");
    let code = s.code_for("t@example.com").await.unwrap();
    let r = submit(&s, &flow, json!({"code": code})).await;
    assert!(
        node(&r.json["flow"], "attributes.given_name").is_some(),
        "{r:?}"
    );
    let r = submit(&s, &flow, json!({"password": PASSWORD})).await;
    assert!(messages(&r).contains(&"error-required".to_owned()), "{r:?}");
    let r = submit(
        &s,
        &flow,
        json!({"password": PASSWORD, "attributes.given_name": "Tess"}),
    )
    .await;
    assert!(r.json["session_token"].is_string(), "{r:?}");
    let id = s
        .get("/admin/v1/tenants/default/identities?identifier=t@example.com")
        .await
        .json["items"][0]
        .clone();
    assert_eq!(id["attributes"]["given_name"], "Tess");
    let ev = s
        .get("/admin/v1/tenants/default/events?type=identity.terms_accepted")
        .await;
    assert_eq!(
        ev.json["items"][0]["data"]["version"], "2026-11",
        "the accepted version is recorded"
    );
}

async fn pw_01_pw_04_weak_and_common_passwords_are_refused_with_a_reason(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let flow = start(&s, "registration", json!({})).await;
    submit(&s, &flow, json!({"email": "weak@example.com"})).await;
    let code = s.code_for("weak@example.com").await.unwrap();
    submit(&s, &flow, json!({"code": code})).await;
    for (pw, id) in [
        ("fourteen chars", "error-password-too-short"),
        ("passwordpassword", "error-password-common"),
        ("weak@example.comweak", "error-password-contains-context"),
    ] {
        let r = submit(&s, &flow, json!({"password": pw})).await;
        assert_eq!(r.status, 400, "{pw}: {r:?}");
        assert!(
            messages(&r).contains(&id.to_owned()),
            "{pw}: {:?}",
            messages(&r)
        );
    }
    let r = submit(&s, &flow, json!({"password": "fifteen chars!!"})).await;
    assert!(
        r.json["session_token"].is_string(),
        "15 characters are enough: {r:?}"
    );
}

/// The ids of the messages on one node, each with its kind.
fn node_messages(r: &Resp, name: &str) -> Vec<(String, String)> {
    node(&r.json["flow"], name)
        .and_then(|n| n["messages"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap_or("").to_owned(),
                m["kind"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn has(messages: &[(String, String)], id: &str, kind: &str) -> bool {
    messages.iter().any(|(i, k)| i == id && k == kind)
}

async fn pw_04_refused_passwords_come_with_hints_for_a_better_one(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let flow = start(&s, "registration", json!({})).await;
    submit(&s, &flow, json!({"email": "hints@example.com"})).await;
    let code = s.code_for("hints@example.com").await.unwrap();
    submit(&s, &flow, json!({"code": code})).await;

    // On the list, and a keyboard walk: the refusal says why, the hints say what is weak about it.
    let r = submit(&s, &flow, json!({"password": "qwertyuiop12345"})).await;
    assert_eq!(r.status, 400, "{r:?}");
    let on_field = node_messages(&r, "password");
    assert!(
        has(&on_field, "error-password-common", "error"),
        "{on_field:?}"
    );
    assert!(
        has(&on_field, "info-password-advice-keyboard", "info"),
        "{on_field:?}"
    );
    let advice = node(&r.json["flow"], "password").unwrap()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "info-password-advice-keyboard")
        .unwrap()
        .clone();
    assert!(
        advice["text"]
            .as_str()
            .unwrap()
            .contains("Keyboard patterns"),
        "an English default for apps without the translation: {advice}"
    );
    // Too short: the refusal already says how long, so no "make it longer" on top.
    let r = submit(&s, &flow, json!({"password": "qwertyuiopasdf"})).await;
    let on_field = node_messages(&r, "password");
    assert!(
        has(&on_field, "error-password-too-short", "error"),
        "{on_field:?}"
    );
    assert!(
        has(&on_field, "info-password-advice-keyboard", "info"),
        "{on_field:?}"
    );
    assert!(
        !has(&on_field, "info-password-advice-longer", "info"),
        "{on_field:?}"
    );
    // Strength only advises: a weak password that meets the policy is taken, with no hints in the way.
    let r = submit(&s, &flow, json!({"password": "qwertyuiopasdfgh"})).await;
    assert!(r.json["session_token"].is_string(), "{r:?}");
    let token = r.json["session_token"].as_str().unwrap().to_owned();

    // Settings: a refused new password keeps its reasons and hints on the field.
    let settings = start_as(&s, "settings", json!({}), Some(&token)).await;
    let r = submit_as(
        &s,
        &settings,
        json!({"method": "password", "current_password": "qwertyuiopasdfgh", "new_password": "qwertyuiop12345"}),
        Some(&token),
    )
    .await;
    let on_field = node_messages(&r, "new_password");
    assert!(
        has(&on_field, "error-password-common", "error")
            && has(&on_field, "info-password-advice-keyboard", "info"),
        "{r:?}"
    );
    // A weak one that passes is saved, with a note and the hints after the confirmation.
    let r = submit_as(
        &s,
        &settings,
        json!({"method": "password", "current_password": "qwertyuiopasdfgh", "new_password": "asdfghjklzxcvbnm"}),
        Some(&token),
    )
    .await;
    let form: Vec<String> = r.json["flow"]["ui"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        form.get(..3),
        Some(
            &[
                "success-password-changed".to_owned(),
                "info-password-weak".to_owned(),
                "info-password-advice-keyboard".to_owned()
            ][..]
        ),
        "{r:?}"
    );
    // A strong one gets the confirmation alone.
    let r = submit_as(
        &s,
        &settings,
        json!({"method": "password", "current_password": "asdfghjklzxcvbnm", "new_password": "vq7#Lp2!xZ9&mR4t"}),
        Some(&token),
    )
    .await;
    assert_eq!(messages(&r), ["success-password-changed"], "{r:?}");
}

async fn settings_list_sessions_with_machine_readable_times(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "times@example.com", json!({})).await;
    let second = sign_in(&s, "times@example.com", PASSWORD).await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = Resp::from(
        s.http
            .post(api(&s, "settings"))
            .bearer_auth(&second)
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let sessions: Vec<Value> = r.json["flow"]["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["group"] == "sessions" && n["type"] == "text")
        .cloned()
        .collect();
    assert_eq!(sessions.len(), 2, "{r:?}");
    let mut current = 0;
    for n in &sessions {
        let label = &n["label"];
        let args = &label["args"];
        for key in ["created_at", "last_seen_at", "expires_at"] {
            let v = args[key].as_str().unwrap_or_default();
            assert!(
                time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                    .is_ok()
                    && v.ends_with('Z'),
                "{key}: {v:?} is RFC 3339 in UTC"
            );
        }
        if args["current"] == true {
            current += 1;
            assert_eq!(label["id"], "info-session-current");
        } else {
            assert_eq!(label["id"], "info-session");
        }
    }
    assert_eq!(current, 1, "exactly the requesting session is current");
}

async fn rl_05_sign_in_does_not_reveal_whether_an_account_exists(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "known@example.com", json!({})).await;
    let before = s.tessera.passwords().operations();
    let wrong = sign_in(&s, "known@example.com", "not the password at all").await;
    let after_wrong = s.tessera.passwords().operations();
    let unknown = sign_in(&s, "nobody@example.com", "not the password at all").await;
    let after_unknown = s.tessera.passwords().operations();
    assert_eq!(
        after_wrong - before,
        1,
        "one argon2id run for a known account"
    );
    assert_eq!(
        after_unknown - after_wrong,
        1,
        "and the same work for an unknown one"
    );
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(messages(&wrong), messages(&unknown));
    let strip = |r: &Resp| {
        let mut f = r.json["flow"].clone();
        for k in ["id", "issued_at", "expires_at"] {
            f[k] = Value::Null;
        }
        f["ui"]["action"] = Value::Null;
        if let Some(n) = f["ui"]["nodes"]
            .as_array_mut()
            .and_then(|n| n.iter_mut().find(|n| n["name"] == "identifier"))
        {
            n["value"] = Value::Null;
        }
        f
    };
    assert_eq!(
        strip(&wrong),
        strip(&unknown),
        "the answers are identical but for ids and times"
    );
}

async fn rl_05_sign_up_and_recovery_answer_the_same_for_known_addresses(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "taken@example.com", json!({})).await;
    for kind in ["registration", "recovery"] {
        let a = submit(
            &s,
            &start(&s, kind, json!({})).await,
            json!({"email": "taken@example.com"}),
        )
        .await;
        let b = submit(
            &s,
            &start(&s, kind, json!({})).await,
            json!({"email": "free@example.com"}),
        )
        .await;
        assert_eq!(
            (a.status, &a.json["flow"]["state"], messages(&a)),
            (b.status, &b.json["flow"]["state"], messages(&b)),
            "{kind}"
        );
    }
    let m = s.last_mail_to("taken@example.com").await.unwrap();
    assert_eq!(m["template"], "recovery_code");
    let mails: Vec<Value> = s
        .mailbox()
        .await
        .into_iter()
        .filter(|m| m["to"] == "taken@example.com")
        .collect();
    assert!(
        mails.iter().any(|m| m["template"] == "account_exists"),
        "the owner is told someone tried to sign up"
    );
}

async fn rl_01_repeated_failures_slow_the_account_down(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "slow@example.com", json!({})).await;
    for _ in 0..5 {
        let r = sign_in(&s, "slow@example.com", "wrong password here").await;
        assert!(messages(&r).contains(&"error-invalid-credentials".to_owned()));
    }
    let r = sign_in(&s, "slow@example.com", PASSWORD).await;
    assert!(
        messages(&r).contains(&"error-throttled".to_owned()),
        "even the right password waits: {r:?}"
    );
    assert!(r.json["session_token"].is_null());
}

async fn codes_are_single_use_and_capped(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let flow = start(&s, "registration", json!({})).await;
    submit(&s, &flow, json!({"email": "c@example.com"})).await;
    let code = s.code_for("c@example.com").await.unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let r = submit(&s, &flow, json!({"code": wrong})).await;
        assert!(
            messages(&r).contains(&"error-code-invalid".to_owned()),
            "{r:?}"
        );
    }
    let r = submit(&s, &flow, json!({"code": code})).await;
    assert_eq!(
        r.json["flow"]["state"], "sent_email",
        "five wrong guesses void the code (MFA-05)"
    );
    assert!(
        messages(&r)
            .iter()
            .any(|m| m.starts_with("error-code") || m == "error-throttled"),
        "{r:?}"
    );
    submit(&s, &flow, json!({"method": "resend"})).await;
    let fresh = s.code_for("c@example.com").await.unwrap();
    let other = start(&s, "registration", json!({})).await;
    submit(&s, &other, json!({"email": "c2@example.com"})).await;
    let r = submit(&s, &other, json!({"code": fresh})).await;
    assert_ne!(
        r.json["flow"]["state"], "details",
        "a code only works in the flow it was sent for"
    );
}

async fn an_expired_flow_restarts_with_a_message(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let flow = start(&s, "login", json!({})).await;
    s.clock
        .advance(FLOW_TTL.unsigned_abs() + std::time::Duration::from_secs(1));
    let r = submit(
        &s,
        &flow,
        json!({"identifier": "a@example.com", "password": "x"}),
    )
    .await;
    assert_eq!(r.status, 410);
    assert_eq!(r.json["restarted"], true);
    assert_ne!(r.json["flow"]["id"], flow["id"]);
    assert!(messages(&r).contains(&"error-flow-expired".to_owned()));
}

async fn recovery_resets_the_password_and_signs_out_everywhere(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let old_session = sign_up(&s, "r@example.com", json!({})).await;
    let flow = start(&s, "recovery", json!({})).await;
    submit(&s, &flow, json!({"email": "r@example.com"})).await;
    let code = s.code_for("r@example.com").await.unwrap();
    let r = submit(&s, &flow, json!({"code": code})).await;
    assert_eq!(r.json["flow"]["state"], "set_password");
    let new_pw = "a whole new passphrase 77";
    let r = submit(&s, &flow, json!({"password": new_pw})).await;
    assert_eq!(r.json["done"], true, "{r:?}");
    assert!(
        r.json["session_token"].is_null(),
        "recovery never signs in by itself (REC-01)"
    );
    assert_eq!(
        whoami(&s, &old_session).await,
        401,
        "REC-07: other sessions end"
    );
    assert_eq!(
        s.last_mail_to("r@example.com").await.unwrap()["template"],
        "password_changed_notice"
    );
    assert!(sign_in(&s, "r@example.com", PASSWORD).await.json["session_token"].is_null());
    assert!(sign_in(&s, "r@example.com", new_pw).await.json["session_token"].is_string());
    let replay = submit(
        &s,
        &start(&s, "recovery", json!({})).await,
        json!({"email": "r@example.com"}),
    )
    .await;
    assert_eq!(replay.json["flow"]["state"], "sent_email");
}

async fn rec_03_links_use_the_configured_base_url_not_the_host_header(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "h@example.com", json!({})).await;
    let flow = start(&s, "recovery", json!({})).await;
    flow_req(&s, reqwest::Method::POST, &flow)
        .header("host", "evil.test")
        .header("x-forwarded-host", "evil.test")
        .header("forwarded", "host=evil.test")
        .json(&json!({"email": "h@example.com"}))
        .send()
        .await
        .unwrap();
    let link = s
        .link_for("h@example.com")
        .await
        .expect("a link was mailed");
    assert!(
        link.starts_with(&format!("{}/t/default/flows/link?token=", s.public)),
        "{link}"
    );
    assert!(!link.contains("evil"));
}

async fn a_prospect_is_claimed_after_proof_keeping_its_id_and_attributes(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.put("/admin/v1/tenants/default/attribute-schema", json!({"attributes": [{"name": "given_name", "type": "string", "required": true}, {"name": "source", "type": "string"}]})).await;
    let p = s.post("/admin/v1/tenants/default/identities", json!({"identifiers": [{"kind": "email", "value": "lead@example.com"}], "state": "prospect", "attributes": {"given_name": "Lea", "source": "webinar"}})).await;
    let prospect_id = p.json["id"].as_str().unwrap().to_owned();
    let flow = start(&s, "registration", json!({})).await;
    let r = submit(&s, &flow, json!({"email": "lead@example.com"})).await;
    assert!(
        node(&r.json["flow"], "attributes.given_name").is_none(),
        "nothing about the prospect shows before proof"
    );
    let code = s.code_for("lead@example.com").await.unwrap();
    let r = submit(&s, &flow, json!({"code": code})).await;
    assert_eq!(
        node(&r.json["flow"], "attributes.given_name").unwrap()["value"],
        "Lea",
        "pre-filled after proof"
    );
    let r = submit(
        &s,
        &flow,
        json!({"password": PASSWORD, "attributes.given_name": "Lea"}),
    )
    .await;
    assert!(r.json["session_token"].is_string(), "{r:?}");
    let list = s
        .get("/admin/v1/tenants/default/identities?identifier=lead@example.com")
        .await;
    let items = list.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "no duplicate identity");
    assert_eq!(items[0]["id"], prospect_id.as_str(), "same id");
    assert_eq!(items[0]["state"], "active");
    assert_eq!(
        items[0]["attributes"]["source"], "webinar",
        "attributes kept"
    );
}

async fn reg_04_proving_an_address_wipes_credentials_set_without_proof(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    // An account holds the victim's address unverified, with a password someone else chose.
    let r = s
        .post(
            "/admin/v1/tenants/default/identities",
            json!({"identifiers": [{"kind": "email", "value": "victim@example.com"}]}),
        )
        .await;
    let id: tessera_model::IdentityId = r.json["id"].as_str().unwrap().parse().unwrap();
    let hash = s
        .tessera
        .passwords()
        .hash("attacker chose this one")
        .await
        .unwrap();
    let tenant = s
        .tessera
        .tenants()
        .get(&tessera_core::Caller::cli("test"), "default")
        .await
        .unwrap();
    {
        let mut tx = s.tessera.db().begin().await.unwrap();
        tessera_store::credentials::put(
            &mut tx,
            tenant.id,
            id,
            "password",
            "",
            &serde_json::json!({ "phc": hash }).to_string(),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let attacker = sign_in(&s, "victim@example.com", "attacker chose this one").await;
    let attacker_session = attacker.json["session_token"]
        .as_str()
        .expect("the pre-registration could sign in")
        .to_owned();
    // The real owner proves the address.
    let flow = start(&s, "verification", json!({})).await;
    submit(&s, &flow, json!({"email": "victim@example.com"})).await;
    let code = s.code_for("victim@example.com").await.unwrap();
    let r = submit(&s, &flow, json!({"code": code})).await;
    assert_eq!(r.json["done"], true, "{r:?}");
    assert_eq!(
        whoami(&s, &attacker_session).await,
        401,
        "the claimant's session died"
    );
    assert!(
        sign_in(&s, "victim@example.com", "attacker chose this one")
            .await
            .json["session_token"]
            .is_null(),
        "and so did its password"
    );
}

async fn progressive_profiling_asks_once_for_what_a_client_needs(engine: Engine) {
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
    let flow = start(&s, "login", json!({"client_id": "shop"})).await;
    let r = submit(
        &s,
        &flow,
        json!({"identifier": "p@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.json["flow"]["state"], "profile", "{r:?}");
    let asked: Vec<&str> = r.json["flow"]["ui"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["name"].as_str())
        .filter(|n| n.starts_with("attributes."))
        .collect();
    assert_eq!(
        asked,
        ["attributes.postal_code"],
        "exactly what the client needs"
    );
    let r = submit(&s, &flow, json!({"attributes.postal_code": "10115"})).await;
    assert!(r.json["session_token"].is_string(), "{r:?}");
    let again = start(&s, "login", json!({"client_id": "shop"})).await;
    let r = submit(
        &s,
        &again,
        json!({"identifier": "p@example.com", "password": PASSWORD}),
    )
    .await;
    assert!(r.json["session_token"].is_string(), "asked once: {r:?}");
    let ev = s
        .get("/admin/v1/tenants/default/events?type=identity.attributes_collected")
        .await;
    assert_eq!(ev.json["items"][0]["data"]["client_id"], "shop");
    assert_eq!(
        ev.json["items"][0]["data"]["purposes"][0], "delivery",
        "why it was collected is recorded"
    );
}

async fn settings_need_the_session_and_recent_proof(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let token = sign_up(&s, "set@example.com", json!({})).await;
    let r = Resp::from(
        s.http
            .post(api(&s, "settings"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(401, "unauthenticated");
    let flow = start_as(&s, "settings", json!({}), Some(&token)).await;
    let r = submit_as(&s, &flow, json!({"method": "password", "current_password": "wrong one entirely", "new_password": "another fine passphrase"}), Some(&token)).await;
    assert!(
        messages(&r).contains(&"error-invalid-credentials".to_owned()),
        "PW-08: the current password is required"
    );
    let r = submit_as(&s, &flow, json!({"method": "password", "current_password": PASSWORD, "new_password": "another fine passphrase"}), Some(&token)).await;
    assert!(
        messages(&r).contains(&"success-password-changed".to_owned()),
        "{r:?}"
    );
    assert_eq!(
        whoami(&s, &token).await,
        200,
        "the session that changed it stays"
    );
    let r = submit_as(
        &s,
        &flow,
        json!({"method": "email", "email": "moved@example.com"}),
        Some(&token),
    )
    .await;
    assert!(
        messages(&r).contains(&"success-email-change-pending".to_owned()),
        "{r:?}"
    );
    assert_eq!(
        s.last_mail_to("set@example.com").await.unwrap()["template"],
        "email_changed_notice",
        "REC-04: the old address is told"
    );
    let still = s
        .get("/admin/v1/tenants/default/identities?identifier=set@example.com")
        .await;
    assert_eq!(
        still.json["items"].as_array().unwrap().len(),
        1,
        "pending until confirmed"
    );
    let code = s.code_for("moved@example.com").await.unwrap();
    let r = submit_as(
        &s,
        &flow,
        json!({"method": "confirm_email", "code": code}),
        Some(&token),
    )
    .await;
    assert!(
        messages(&r).contains(&"success-verified".to_owned()),
        "{r:?}"
    );
    let moved = s
        .get("/admin/v1/tenants/default/identities?identifier=moved@example.com")
        .await;
    assert_eq!(moved.json["items"].as_array().unwrap().len(), 1);
}

async fn sessions_are_listed_and_revoked(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let first = sign_up(&s, "ses@example.com", json!({})).await;
    let second = sign_in(&s, "ses@example.com", PASSWORD).await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first, second, "a new session id on every sign-in (SES-01)");
    let mine: Vec<Value> = s
        .http
        .get(format!("{}/t/default/api/sessions", s.public))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine.len(), 2);
    let id = s
        .get("/admin/v1/tenants/default/identities?identifier=ses@example.com")
        .await
        .json["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_view = s
        .get(&format!(
            "/admin/v1/tenants/default/identities/{id}/sessions"
        ))
        .await;
    assert_eq!(
        admin_view.json.as_array().map(Vec::len),
        Some(2),
        "{admin_view:?}"
    );
    assert_eq!(
        s.delete(&format!(
            "/admin/v1/tenants/default/identities/{id}/sessions"
        ))
        .await
        .status,
        200
    );
    assert_eq!(whoami(&s, &first).await, 401);
    assert_eq!(whoami(&s, &second).await, 401);
}

async fn disposable_addresses_are_refused_when_the_policy_says_so(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.put("/admin/v1/tenants/default/policy", json!({"document": {"registration": {"block_disposable_email": true, "allowed_email_domains": ["mailinator.com"], "blocked_email_domains": ["spam.example"]}}, "reason": "abuse"})).await;
    for (email, refused) in [
        ("x@0-mail.com", true),
        ("x@spam.example", true),
        ("x@mailinator.com", false),
        ("x@example.com", false),
    ] {
        let r = submit(
            &s,
            &start(&s, "registration", json!({})).await,
            json!({"email": email}),
        )
        .await;
        assert_eq!(
            messages(&r).contains(&"error-disposable-email".to_owned()),
            refused,
            "{email}: {r:?}"
        );
    }
}

engine_tests!(
    sign_up_proves_the_email_then_signs_in,
    a_sign_in_records_its_session_and_its_success_together,
    sign_up_asks_for_required_attributes_and_terms,
    pw_01_pw_04_weak_and_common_passwords_are_refused_with_a_reason,
    pw_04_refused_passwords_come_with_hints_for_a_better_one,
    settings_list_sessions_with_machine_readable_times,
    rl_05_sign_in_does_not_reveal_whether_an_account_exists,
    rl_05_sign_up_and_recovery_answer_the_same_for_known_addresses,
    rl_01_repeated_failures_slow_the_account_down,
    codes_are_single_use_and_capped,
    an_expired_flow_restarts_with_a_message,
    recovery_resets_the_password_and_signs_out_everywhere,
    rec_03_links_use_the_configured_base_url_not_the_host_header,
    a_prospect_is_claimed_after_proof_keeping_its_id_and_attributes,
    reg_04_proving_an_address_wipes_credentials_set_without_proof,
    progressive_profiling_asks_once_for_what_a_client_needs,
    settings_need_the_session_and_recent_proof,
    sessions_are_listed_and_revoked,
    disposable_addresses_are_refused_when_the_policy_says_so,
);

async fn abandoned_flows_are_recorded_and_removed(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let flow = start(&s, "registration", json!({})).await;
    submit(&s, &flow, json!({"email": "gone@example.com"})).await;
    s.clock
        .advance(FLOW_TTL.unsigned_abs() + std::time::Duration::from_secs(1));
    assert_eq!(s.tessera.flows().sweep().await.unwrap(), 1);
    let ev = s
        .get("/admin/v1/tenants/default/events?type=flow.abandoned")
        .await;
    assert_eq!(
        ev.json["items"][0]["data"]["state"], "sent_email",
        "the step where the customer left is kept for funnels"
    );
    assert_eq!(s.tessera.flows().sweep().await.unwrap(), 0);
}

engine_tests!(abandoned_flows_are_recorded_and_removed);

/// A flow whose stored state its journey cannot read is refused as an unknown state: the step stays,
/// nothing is created, nothing answers 500. The forged row is the shape flows had before their states
/// were typed: the details step with a `verified` flag and no code ever entered.
async fn a_state_the_journey_cannot_read_stays_and_creates_nothing(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let flow = start(&s, "registration", json!({})).await;
    let r = submit(&s, &flow, json!({"email": "forged@example.com"})).await;
    assert_eq!(r.json["flow"]["state"], "sent_email", "{r:?}");
    {
        let mut c = s.tessera.db().conn().await.unwrap();
        let tenant = tessera_store::tenants::by_slug(&mut c, "default")
            .await
            .unwrap()
            .unwrap();
        let id = flow["id"].as_str().unwrap().parse().unwrap();
        let mut stored = tessera_store::flows::get(&mut c, tenant.id, id)
            .await
            .unwrap()
            .unwrap()
            .flow;
        stored.state = "details".into();
        stored.internal = json!({"email": "forged@example.com", "verified": true});
        let version = stored.version;
        tessera_store::flows::update(&mut c, &stored, version)
            .await
            .unwrap();
    }
    let r = submit(&s, &flow, json!({"password": PASSWORD})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["flow"]["state"], "details", "{r:?}");
    assert!(r.json["session_token"].is_null(), "{r:?}");
    let listed = s
        .get("/admin/v1/tenants/default/identities?identifier=forged@example.com")
        .await;
    assert_eq!(listed.json["items"], json!([]), "{listed:?}");
    let failed = s
        .get("/admin/v1/tenants/default/events?type=flow.failed")
        .await;
    assert_eq!(
        failed.json["items"][0]["data"]["reason"], "unknown_state",
        "{failed:?}"
    );
}

engine_tests!(a_state_the_journey_cannot_read_stays_and_creates_nothing);

async fn pw_09_hashes_are_upgraded_at_sign_in_when_parameters_change(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "up@example.com", json!({})).await;
    let id: tessera_model::IdentityId = s
        .get("/admin/v1/tenants/default/identities?identifier=up@example.com")
        .await
        .json["items"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let stored = || async {
        let mut c = s.tessera.db().conn().await.unwrap();
        let all = tessera_store::credentials::of_kind(&mut c, id, "password")
            .await
            .unwrap();
        assert_eq!(all.len(), 1, "one password per identity");
        all[0].data.clone()
    };
    assert!(stored().await.contains("t=2"), "{}", stored().await);
    let mut stronger = s.config.clone();
    stronger.argon2_iterations = 3;
    let node =
        tessera_core::bootstrap::open(&stronger, std::sync::Arc::new(tessera_core::SystemClock))
            .await
            .unwrap()
            .tessera;
    let ctx = tessera_core::flows::FlowContext {
        tenant: "default".into(),
        channel: tessera_model::flow::FlowChannel::Api,
        browser_binding: None,
        flow_secret: None,
        session_token: None,
        device: None,
        client: Default::default(),
        locale: None,
    };
    let kind = tessera_model::flow::FlowKind::Login;
    let started = node
        .flows()
        .start(&ctx, kind, Default::default())
        .await
        .unwrap();
    let flow = started.flow;
    // The app drives the flow with the secret it was given at the start.
    let ctx = tessera_core::flows::FlowContext {
        flow_secret: started.secret.map(|s| s.expose().to_owned()),
        ..ctx
    };
    let input = [("identifier", "up@example.com"), ("password", PASSWORD)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let out = node
        .flows()
        .submit(&ctx, kind, flow.id, input)
        .await
        .unwrap();
    assert!(
        matches!(out, tessera_core::flows::FlowOutcome::SignedIn { .. }),
        "{out:?}"
    );
    assert!(
        stored().await.contains("t=3"),
        "rehashed with the new parameters: {}",
        stored().await
    );
    assert!(
        sign_in(&s, "up@example.com", PASSWORD).await.json["session_token"].is_string(),
        "the upgraded hash still verifies"
    );
}

async fn pw_04_the_online_breach_check_refuses_breached_passwords(engine: Engine) {
    use axum::routing::get;
    let breached = "this one leaked in 2024 sadly";
    let sha = tessera_crypto::password::sha1_hex_upper(breached.as_bytes());
    let (prefix, suffix) = sha.split_at(5);
    let table = format!("{suffix}:42\r\n0000000000000000000000000000000000A:0\r\n");
    let prefix = prefix.to_owned();
    let app = axum::Router::new().route(
        "/range/{p}",
        get(move |axum::extract::Path(p): axum::extract::Path<String>| {
            let body = if p == prefix {
                table.clone()
            } else {
                String::new()
            };
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let check = tessera_server::hibp::HibpRangeCheck::new(
        url::Url::parse(&format!("http://{addr}/")).unwrap(),
    )
    .unwrap();
    // The served node has no check configured; drive the same flow through a node that has one.
    let node = s
        .tessera
        .clone()
        .with_breach_check(std::sync::Arc::new(check));
    let ctx = tessera_core::flows::FlowContext {
        tenant: "default".into(),
        channel: tessera_model::flow::FlowChannel::Api,
        browser_binding: None,
        flow_secret: None,
        session_token: None,
        device: None,
        client: Default::default(),
        locale: None,
    };
    let kind = tessera_model::flow::FlowKind::Registration;
    let started = node
        .flows()
        .start(&ctx, kind, Default::default())
        .await
        .unwrap();
    let flow = started.flow;
    // The app drives the flow with the secret it was given at the start.
    let ctx = tessera_core::flows::FlowContext {
        flow_secret: started.secret.map(|s| s.expose().to_owned()),
        ..ctx
    };
    let put = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<tessera_core::flows::FlowInput>()
    };
    node.flows()
        .submit(&ctx, kind, flow.id, put(&[("email", "hibp@example.com")]))
        .await
        .unwrap();
    let code = s.code_for("hibp@example.com").await.unwrap();
    node.flows()
        .submit(&ctx, kind, flow.id, put(&[("code", &code)]))
        .await
        .unwrap();
    let out = node
        .flows()
        .submit(&ctx, kind, flow.id, put(&[("password", breached)]))
        .await
        .unwrap();
    let tessera_core::flows::FlowOutcome::Show(f) = out else {
        panic!("a breached password must not pass: {out:?}")
    };
    let ids: Vec<&str> =
        f.ui.nodes
            .iter()
            .flat_map(|n| n.messages.iter())
            .map(|m| m.id.as_str())
            .collect();
    assert!(ids.contains(&"error-password-breached"), "{ids:?}");
    let out = node
        .flows()
        .submit(&ctx, kind, flow.id, put(&[("password", PASSWORD)]))
        .await
        .unwrap();
    assert!(
        matches!(out, tessera_core::flows::FlowOutcome::SignedIn { .. }),
        "{out:?}"
    );
}

engine_tests!(
    pw_09_hashes_are_upgraded_at_sign_in_when_parameters_change,
    pw_04_the_online_breach_check_refuses_breached_passwords
);

/// Settings for tests that make dozens of failed sign-ins: cheap argon2id, and the given trusted proxies.
fn many_attempts(
    trusted_proxies: &str,
) -> impl FnOnce(&mut std::collections::HashMap<String, String>) {
    let trusted_proxies = trusted_proxies.to_owned();
    move |env| {
        env.insert("TESSERA_ARGON2_MEMORY_KIB".into(), "64".into());
        env.insert("TESSERA_ARGON2_ITERATIONS".into(), "1".into());
        env.insert("TESSERA_TRUSTED_PROXIES".into(), trusted_proxies);
    }
}

/// One sign-in attempt on an open login flow, with extra request headers (repeated names are sent as
/// separate header lines).
async fn attempt(s: &TestServer, flow: &Value, identifier: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = flow_req(s, reqwest::Method::POST, flow)
        .json(&json!({"identifier": identifier, "password": "not the password at all"}));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let r = Resp::from(req.send().await.unwrap()).await;
    assert!(r.status < 500, "{identifier} {headers:?}: {r:?}");
    r
}

/// Signs in through the API with `X-Forwarded-For: xff`; the session token.
async fn sign_in_forwarded(s: &TestServer, identifier: &str, xff: &str) -> String {
    let flow = start(s, "login", json!({})).await;
    let r = Resp::from(
        flow_req(s, reqwest::Method::POST, &flow)
            .header("x-forwarded-for", xff)
            .json(&json!({"identifier": identifier, "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.json["session_token"]
        .as_str()
        .expect("signed in")
        .to_owned()
}

fn throttled(r: &Resp) -> bool {
    messages(r).contains(&"error-throttled".to_owned())
}

/// Fails `n` sign-ins on distinct unknown accounts (so only the per-IP bucket fills), each with the
/// headers `headers(i)` gives; every one must be counted as an ordinary failure.
async fn fail_sign_ins<'a>(
    s: &TestServer,
    flow: &Value,
    prefix: &str,
    n: usize,
    headers: impl Fn(usize) -> Vec<(&'a str, String)>,
) {
    for i in 0..n {
        let h = headers(i);
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = attempt(s, flow, &format!("{prefix}{i}@example.com"), &h).await;
        assert_eq!(r.status, 400, "attempt {i} with {h:?}: {r:?}");
        assert!(
            messages(&r).contains(&"error-invalid-credentials".to_owned()),
            "attempt {i} with {h:?} is an ordinary failure: {r:?}"
        );
    }
}

/// A login page opened by a cookie-keeping browser: its URL and CSRF token.
async fn login_page(s: &TestServer, browser: &reqwest::Client) -> (String, String) {
    let r = browser
        .get(format!("{}/t/default/login", s.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let url = format!("{}{}", s.public, r.headers()["location"].to_str().unwrap());
    let html = browser
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let at = html.find(marker).unwrap() + marker.len();
    let token = html[at..].split('"').next().unwrap().to_owned();
    (url, token)
}

/// A sign-in form post from that page; returns the status and whether the page says "throttled".
async fn form_attempt(
    browser: &reqwest::Client,
    (url, token): &(String, String),
    identifier: &str,
    xff: Option<&str>,
) -> (u16, bool) {
    let mut req = browser.post(url).form(&[
        ("csrf_token", token.as_str()),
        ("identifier", identifier),
        ("password", "not the password at all"),
    ]);
    if let Some(v) = xff {
        req = req.header("x-forwarded-for", v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let html = r.text().await.unwrap();
    assert!(status < 500, "{html}");
    // Form-level messages carry no id on the page: match the English text of `error-throttled`.
    (status, html.contains("Too many attempts."))
}

fn cookie_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The signed-in customer's live sessions, as the customer API lists them.
pub(crate) async fn my_sessions(s: &TestServer, token: &str) -> Vec<Value> {
    let r = Resp::from(
        s.http
            .get(format!("{}/t/default/api/sessions", s.public))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.json.as_array().unwrap().clone()
}

async fn session_ips(s: &TestServer, token: &str) -> Vec<(bool, String)> {
    my_sessions(s, token)
        .await
        .iter()
        .map(|v| {
            (
                v["current"].as_bool().unwrap_or(false),
                v["ip"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn rl_04_forwarded_for_ignored_from_untrusted_peer(engine: Engine) {
    let Some(s) = TestServer::start_with(engine, many_attempts("")).await else {
        return;
    };
    // The guard's delays must not run out while the test walks its corpus on a busy machine.
    s.clock.freeze();
    sign_up(&s, "peer@example.com", json!({})).await;
    let token = sign_in_forwarded(&s, "peer@example.com", "203.0.113.20").await;
    assert!(
        session_ips(&s, &token)
            .await
            .contains(&(true, "127.0.0.1".to_owned())),
        "the session records the peer, not the header"
    );

    let browser = cookie_browser();
    let page = login_page(&s, &browser).await;
    let flow = start(&s, "login", json!({})).await;
    // Every attempt claims another client, in every header an attacker might hope is read.
    fail_sign_ins(&s, &flow, "rotating", 30, |i| {
        vec![
            ("x-forwarded-for", format!("203.0.113.{i}")),
            ("forwarded", format!("for=198.51.100.{i}")),
            ("x-real-ip", format!("192.0.2.{i}")),
        ]
    })
    .await;
    let r = attempt(
        &s,
        &flow,
        "rotating-last@example.com",
        &[("x-forwarded-for", "203.0.113.200")],
    )
    .await;
    assert!(
        throttled(&r),
        "31 failures from one peer fill its bucket whatever it forwards: {r:?}"
    );
    let (_, page_throttled) = form_attempt(
        &browser,
        &page,
        "rotating-page@example.com",
        Some("203.0.113.201"),
    )
    .await;
    assert!(page_throttled, "the hosted pages count the same bucket");
}

async fn rl_04_garbage_forwarded_for_lands_in_proxy_bucket(engine: Engine) {
    let Some(s) = TestServer::start_with(engine, many_attempts("127.0.0.1, ::1")).await else {
        return;
    };
    // The guard's delays must not run out while the test walks its corpus on a busy machine.
    s.clock.freeze();
    let trusted_hops = format!("198.51.100.1, {}", vec!["127.0.0.1"; 999].join(", "));
    let garbage_tail = format!("{}a", "198.51.100.2, ".repeat(999));
    let corpus: Vec<Vec<(&str, String)>> = vec![
        vec![("x-forwarded-for", "a".into())],
        vec![("x-forwarded-for", "unknown".into())],
        vec![("x-forwarded-for", "_hidden".into())],
        vec![("x-forwarded-for", "1.2.3.4, a".into())],
        vec![("x-forwarded-for", "1.2.3.4, unknown".into())],
        vec![("x-forwarded-for", "fe80::1%eth0".into())],
        vec![("x-forwarded-for", "[fe80::1%25eth0]:443".into())],
        vec![("x-forwarded-for", String::new())],
        vec![("x-forwarded-for", ",,,".into())],
        vec![("x-forwarded-for", "1.2.3.4:99999".into())],
        vec![("x-forwarded-for", "010.0.0.1".into())],
        vec![
            ("x-forwarded-for", "1.2.3.4".into()),
            ("x-forwarded-for", "_hidden".into()),
        ],
        vec![("forwarded", "for=1.2.3.4".into())],
        vec![("x-forwarded-for", garbage_tail)],
        vec![("x-forwarded-for", trusted_hops)],
    ];
    let flow = start(&s, "login", json!({})).await;
    fail_sign_ins(&s, &flow, "garbage", 30, |i| {
        corpus[i % corpus.len()].clone()
    })
    .await;
    let r = attempt(&s, &flow, "garbage-last@example.com", &[]).await;
    assert!(
        throttled(&r),
        "the garbage was counted in the proxy's own bucket, the same as requests without the header: {r:?}"
    );
    for headers in &corpus {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = attempt(&s, &flow, "garbage-again@example.com", &h).await;
        assert!(throttled(&r), "{h:?} does not escape the bucket: {r:?}");
    }
    let r = attempt(
        &s,
        &flow,
        "elsewhere@example.com",
        &[("x-forwarded-for", "203.0.113.50")],
    )
    .await;
    assert!(
        !throttled(&r) && messages(&r).contains(&"error-invalid-credentials".to_owned()),
        "a well-formed client behind the proxy has its own bucket: {r:?}"
    );
}

async fn rl_04_trusted_proxy_gives_each_forwarded_client_its_own_bucket(engine: Engine) {
    let Some(s) = TestServer::start_with(engine, many_attempts("127.0.0.1, ::1")).await else {
        return;
    };
    // The guard's delays must not run out while the test walks its corpus on a busy machine.
    s.clock.freeze();
    let token = sign_up(&s, "behind@example.com", json!({})).await;
    let second = sign_in_forwarded(&s, "behind@example.com", "198.51.100.9, 203.0.113.20").await;
    assert!(
        session_ips(&s, &second)
            .await
            .contains(&(true, "203.0.113.20".to_owned())),
        "the session records the client the proxy saw"
    );
    assert!(
        session_ips(&s, &token)
            .await
            .contains(&(true, "127.0.0.1".to_owned())),
        "and without the header, the proxy itself"
    );

    let browser = cookie_browser();
    let page = login_page(&s, &browser).await;
    let flow = start(&s, "login", json!({})).await;
    fail_sign_ins(&s, &flow, "one-client", 30, |_| {
        vec![("x-forwarded-for", "203.0.113.7".to_owned())]
    })
    .await;
    for xff in [
        "203.0.113.7",
        "203.0.113.7:4711",
        "198.51.100.1, 203.0.113.7, 127.0.0.1",
    ] {
        let r = attempt(
            &s,
            &flow,
            "one-client-more@example.com",
            &[("x-forwarded-for", xff)],
        )
        .await;
        assert!(
            throttled(&r),
            "{xff}: the 31st failure of one client waits: {r:?}"
        );
    }
    let (_, page_throttled) = form_attempt(
        &browser,
        &page,
        "one-client-page@example.com",
        Some("203.0.113.7"),
    )
    .await;
    assert!(
        page_throttled,
        "the hosted pages resolve the client the same way"
    );
    for xff in [Some("203.0.113.8"), Some("203.0.113.7, 203.0.113.8"), None] {
        let h: Vec<(&str, &str)> = xff.map(|v| ("x-forwarded-for", v)).into_iter().collect();
        let r = attempt(&s, &flow, "another-client@example.com", &h).await;
        assert!(
            !throttled(&r) && messages(&r).contains(&"error-invalid-credentials".to_owned()),
            "{xff:?} is another client with its own bucket: {r:?}"
        );
    }
    let (status, page_throttled) = form_attempt(
        &browser,
        &page,
        "another-page@example.com",
        Some("203.0.113.9"),
    )
    .await;
    assert!(!page_throttled && status == 400);
}

engine_tests!(
    rl_04_forwarded_for_ignored_from_untrusted_peer,
    rl_04_garbage_forwarded_for_lands_in_proxy_bucket,
    rl_04_trusted_proxy_gives_each_forwarded_client_its_own_bucket,
);
