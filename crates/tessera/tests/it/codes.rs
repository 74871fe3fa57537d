//! One-time codes and links, recovery, the email change and its undo, and what the code steps reveal:
//! codes are single-use and die with every password change and session revocation (REC-02), the old
//! address can undo a change (REC-04), every step answers the same whether or not an account exists
//! (RL-05), `return_to` never leaves the base origin (WEB-05), and proving a second address keeps the
//! owner's credentials (REG-04). Every test runs on SQLite and PostgreSQL.
use serde_json::{Value, json};
use tessera_testkit::{Engine, Resp, TestServer, engine_tests};

use crate::flows::{PASSWORD, messages, sign_in, sign_up, start, submit, submit_as, whoami};

/// What a step answered, without ids and times: status, state and message ids.
fn answer(r: &Resp) -> (u16, Value, Vec<String>) {
    (r.status, r.json["flow"]["state"].clone(), messages(r))
}

/// A six-digit code that is not `code`.
fn wrong(code: Option<&str>) -> &'static str {
    if code == Some("123456") {
        "654321"
    } else {
        "123456"
    }
}

/// Lifts a suspension with `key`, giving a reason; the status it answered.
async fn reactivate_as(s: &TestServer, key: &str, id: &str) -> u16 {
    s.admin_req_as(
        key,
        reqwest::Method::POST,
        &format!("/admin/v1/tenants/default/identities/{id}/reactivate"),
    )
    .json(&json!({"reason": "checked with the customer"}))
    .send()
    .await
    .unwrap()
    .status()
    .as_u16()
}

pub(crate) async fn identity_id(s: &TestServer, email: &str) -> String {
    let r = s
        .get(&format!(
            "/admin/v1/tenants/default/identities?identifier={email}"
        ))
        .await;
    r.json["items"][0]["id"].as_str().unwrap().to_owned()
}

async fn emails_of(s: &TestServer, id: &str) -> Vec<String> {
    let r = s
        .get(&format!("/admin/v1/tenants/default/identities/{id}"))
        .await;
    r.json["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "email")
        .map(|i| i["value"].as_str().unwrap().to_owned())
        .collect()
}

async fn settings_flow(s: &TestServer, token: &str) -> Value {
    crate::flows::start_as(s, "settings", json!({}), Some(token)).await
}

/// Asks, from a signed-in session, to move the account to `new`.
async fn request_email_change(s: &TestServer, token: &str, new: &str) -> Value {
    let flow = settings_flow(s, token).await;
    let r = submit_as(
        s,
        &flow,
        json!({"method": "email", "email": new}),
        Some(token),
    )
    .await;
    assert!(
        messages(&r).contains(&"success-email-change-pending".to_owned()),
        "{r:?}"
    );
    flow
}

/// Follows an emailed link with a fresh client; the status of the page.
async fn follow(s: &TestServer, link: &str) -> u16 {
    s.http.get(link).send().await.unwrap().status().as_u16()
}

/// Follows an emailed link in a browser signed in with `session`; the status of the page.
async fn follow_signed_in(s: &TestServer, link: &str, session: &str) -> u16 {
    s.http
        .get(link)
        .header("cookie", format!("__Host-tessera_session={session}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Resets the password of `email` through recovery.
async fn recover(s: &TestServer, email: &str, new_password: &str) {
    let flow = start(s, "recovery", json!({})).await;
    submit(s, &flow, json!({"email": email})).await;
    let code = s.code_for(email).await.unwrap();
    let r = submit(s, &flow, json!({"code": code})).await;
    assert_eq!(r.json["flow"]["state"], "set_password", "{r:?}");
    let r = submit(s, &flow, json!({"password": new_password})).await;
    assert_eq!(r.json["done"], true, "{r:?}");
}

// ---- WEB-05 ----

async fn web_05_return_to_never_leaves_the_base_origin(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "web@example.com", json!({})).await;
    let evil = [
        "/\t/evil.example/x",
        "/\t\t/evil.example",
        "\t//evil.example",
        "//evil.example/x",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "java\tscript:alert(1)",
        "https://localhost@evil.example/",
    ];
    for bad in evil {
        let flow = start(&s, "login", json!({"return_to": bad})).await;
        let r = submit(
            &s,
            &flow,
            json!({"identifier": "web@example.com", "password": PASSWORD}),
        )
        .await;
        let to = r.json["redirect"].as_str().unwrap_or_default().to_owned();
        assert!(
            to == "/t/default/settings" || to.starts_with(&format!("{}/", s.public)),
            "{bad:?} sent the browser to {to:?}"
        );
        assert!(!to.contains("evil"), "{bad:?} sent the browser to {to:?}");
    }
    let flow = start(
        &s,
        "login",
        json!({"return_to": "/t/default/settings?tab=1"}),
    )
    .await;
    let r = submit(
        &s,
        &flow,
        json!({"identifier": "web@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        r.json["redirect"],
        format!("{}/t/default/settings?tab=1", s.public),
        "a same-origin target is kept, resolved against the base URL"
    );
}

// ---- RL-05 ----

async fn rl_05_recovery_answers_the_same_at_every_step(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "known@example.com", json!({})).await;
    let mut runs = Vec::new();
    for email in ["known@example.com", "nobody@example.com"] {
        let flow = start(&s, "recovery", json!({})).await;
        let mut steps = vec![answer(&submit(&s, &flow, json!({"email": email})).await)];
        let code = s.code_for(email).await;
        for _ in 0..7 {
            let r = submit(&s, &flow, json!({"code": wrong(code.as_deref())})).await;
            steps.push(answer(&r));
        }
        runs.push(steps);
    }
    assert!(
        runs[0][1].2.contains(&"error-code-invalid".to_owned()),
        "a wrong guess is called wrong: {runs:?}"
    );
    assert_eq!(runs[0], runs[1], "known and unknown addresses answer alike");
}

async fn rl_05_sign_up_answers_the_same_at_every_step(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "taken@example.com", json!({})).await;
    let mut runs = Vec::new();
    for email in ["taken@example.com", "free@example.com"] {
        let flow = start(&s, "registration", json!({})).await;
        let mut steps = vec![answer(&submit(&s, &flow, json!({"email": email})).await)];
        let code = s.code_for(email).await;
        for _ in 0..3 {
            steps.push(answer(
                &submit(&s, &flow, json!({"code": wrong(code.as_deref())})).await,
            ));
        }
        steps.push(answer(
            &submit(&s, &flow, json!({"method": "resend"})).await,
        ));
        let code = s.code_for(email).await;
        for _ in 0..6 {
            steps.push(answer(
                &submit(&s, &flow, json!({"code": wrong(code.as_deref())})).await,
            ));
        }
        runs.push(steps);
    }
    assert!(
        runs[0][1].2.contains(&"error-code-invalid".to_owned()),
        "{runs:?}"
    );
    assert_eq!(runs[0], runs[1], "known and unknown addresses answer alike");
}

async fn rl_05_verification_answers_the_same_at_every_step(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.post(
        "/admin/v1/tenants/default/identities",
        json!({"identifiers": [{"kind": "email", "value": "unproven@example.com"}]}),
    )
    .await;
    sign_up(&s, "proven@example.com", json!({})).await;
    let mut runs = Vec::new();
    for email in [
        "unproven@example.com",
        "proven@example.com",
        "nobody@example.com",
    ] {
        let flow = start(&s, "verification", json!({})).await;
        let mut steps = vec![answer(&submit(&s, &flow, json!({"email": email})).await)];
        let code = s.code_for(email).await;
        for _ in 0..6 {
            steps.push(answer(
                &submit(&s, &flow, json!({"code": wrong(code.as_deref())})).await,
            ));
        }
        runs.push(steps);
    }
    assert!(
        runs[0][1].2.contains(&"error-code-invalid".to_owned()),
        "{runs:?}"
    );
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0], runs[2]);
}

async fn rl_05_settings_email_change_answers_the_same_for_taken_addresses(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "other@example.com", json!({})).await;
    let mut runs = Vec::new();
    // One mover per run: wrong guesses count against the account (RL-03), so a second run by the same
    // mover would meet the guard's delay instead of the code step's answers.
    for (mover, new) in [
        ("mover1@example.com", "other@example.com"),
        ("mover2@example.com", "unused@example.com"),
    ] {
        let token = sign_up(&s, mover, json!({})).await;
        let flow = settings_flow(&s, &token).await;
        let r = submit_as(
            &s,
            &flow,
            json!({"method": "email", "email": new}),
            Some(&token),
        )
        .await;
        let mut steps = vec![messages(&r)];
        for _ in 0..6 {
            let r = submit_as(
                &s,
                &flow,
                json!({"method": "confirm_email", "code": "123456"}),
                Some(&token),
            )
            .await;
            steps.push(messages(&r));
        }
        runs.push(steps);
    }
    assert!(
        runs[0][1].contains(&"error-code-invalid".to_owned()),
        "{runs:?}"
    );
    assert_eq!(runs[0], runs[1], "a taken address answers like a free one");
}

// ---- REG-04 / invariant 10 ----

async fn reg_04_proving_a_second_address_keeps_the_owners_credentials(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let token = sign_up(&s, "owner@example.com", json!({})).await;
    let id: tessera_model::IdentityId = identity_id(&s, "owner@example.com").await.parse().unwrap();
    let tenant = s
        .tessera
        .tenants()
        .get(&tessera_core::Caller::cli("test"), "default")
        .await
        .unwrap();
    {
        let mut tx = s.tessera.db().begin().await.unwrap();
        tessera_store::identities::insert_identifier(
            &mut tx,
            tenant.id,
            id,
            &tessera_model::identity::Identifier {
                kind: tessera_model::identifier::IdentifierKind::Email,
                value: "second@example.com".into(),
                verified: false,
            },
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    // Sign-up with the unproven second address claims nothing: the account has a proven owner.
    let flow = start(&s, "registration", json!({})).await;
    submit(&s, &flow, json!({"email": "second@example.com"})).await;
    if let Some(code) = s.code_for("second@example.com").await {
        let r = submit(&s, &flow, json!({"code": code})).await;
        assert_ne!(r.json["flow"]["state"], "details", "{r:?}");
    }
    assert_eq!(whoami(&s, &token).await, 200);
    // Verifying it marks it proven and leaves the owner's password and session alone.
    let flow = start(&s, "verification", json!({})).await;
    submit(&s, &flow, json!({"email": "second@example.com"})).await;
    let code = s.code_for("second@example.com").await.unwrap();
    let r = submit(&s, &flow, json!({"code": code})).await;
    assert_eq!(r.json["done"], true, "{r:?}");
    assert_eq!(whoami(&s, &token).await, 200, "the owner's session lives");
    assert!(
        sign_in(&s, "owner@example.com", PASSWORD).await.json["session_token"].is_string(),
        "and so does the password"
    );
    let r = s
        .get(&format!("/admin/v1/tenants/default/identities/{id}"))
        .await;
    let second = r.json["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["value"] == "second@example.com")
        .cloned()
        .unwrap();
    assert_eq!(second["verified"], true, "{r:?}");
}

// ---- REC-02 / REC-04 ----

async fn reg_01_a_mail_scanner_opening_an_email_change_link_confirms_nothing(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    // Someone signed in to their own account asks to move it to an address they do not hold; the
    // mail with the link lands in that address's mailbox, whose scanner opens every link.
    let asker = sign_up(&s, "asker@example.com", json!({})).await;
    let id = identity_id(&s, "asker@example.com").await;
    let stranger = sign_up(&s, "stranger@example.com", json!({})).await;
    request_email_change(&s, &asker, "ceo@bigcorp.example").await;
    let link = s.link_for("ceo@bigcorp.example").await.unwrap();
    let head = s.http.head(&link).send().await.unwrap();
    assert_eq!(head.status(), 400);
    assert_eq!(follow(&s, &link).await, 400, "no session: another browser");
    assert_eq!(
        follow_signed_in(&s, &link, &stranger).await,
        400,
        "another customer's session is not the one that asked"
    );
    assert_eq!(
        emails_of(&s, &id).await,
        vec!["asker@example.com"],
        "nobody proved the new address"
    );
    assert_eq!(
        follow_signed_in(&s, &link, &asker).await,
        200,
        "the browser that asked confirms with the link"
    );
    assert_eq!(emails_of(&s, &id).await, vec!["ceo@bigcorp.example"]);
}

async fn rec_02_a_stranger_starting_a_recovery_does_not_void_the_owners_code(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "typing@example.com", json!({})).await;
    let owners = start(&s, "recovery", json!({})).await;
    submit(&s, &owners, json!({"email": "typing@example.com"})).await;
    let code = s.code_for("typing@example.com").await.unwrap();
    // Someone else asks for a recovery of the same address meanwhile (red team round 3, N3).
    let strangers = start(&s, "recovery", json!({})).await;
    submit(&s, &strangers, json!({"email": "typing@example.com"})).await;
    let r = submit(&s, &owners, json!({"code": code})).await;
    assert_eq!(
        r.json["flow"]["state"], "set_password",
        "the owner's code still works in the owner's flow: {r:?}"
    );
}

async fn rec_02_a_password_reset_voids_a_pending_email_change(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "victim@example.com", json!({})).await;
    let id = identity_id(&s, "victim@example.com").await;
    let thief = sign_in(&s, "victim@example.com", PASSWORD).await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    request_email_change(&s, &thief, "thief@example.com").await;
    let link = s.link_for("thief@example.com").await.unwrap();
    recover(&s, "victim@example.com", "the victim's own new passphrase").await;
    assert_eq!(whoami(&s, &thief).await, 401);
    assert_eq!(
        follow_signed_in(&s, &link, &thief).await,
        400,
        "the pending change died with the reset"
    );
    assert_eq!(emails_of(&s, &id).await, vec!["victim@example.com"]);
}

async fn rec_02_a_password_change_voids_every_outstanding_code(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let token = sign_up(&s, "pc@example.com", json!({})).await;
    let id = identity_id(&s, "pc@example.com").await;
    let recovery = start(&s, "recovery", json!({})).await;
    submit(&s, &recovery, json!({"email": "pc@example.com"})).await;
    let recovery_code = s.code_for("pc@example.com").await.unwrap();
    let flow = request_email_change(&s, &token, "pc-new@example.com").await;
    let change_code = s.code_for("pc-new@example.com").await.unwrap();
    let r = submit_as(&s, &flow, json!({"method": "password", "current_password": PASSWORD, "new_password": "another fine passphrase"}), Some(&token)).await;
    assert!(
        messages(&r).contains(&"success-password-changed".to_owned()),
        "{r:?}"
    );
    let r = submit_as(
        &s,
        &flow,
        json!({"method": "confirm_email", "code": change_code}),
        Some(&token),
    )
    .await;
    assert!(
        !messages(&r).contains(&"success-verified".to_owned()),
        "{r:?}"
    );
    assert_eq!(emails_of(&s, &id).await, vec!["pc@example.com"]);
    let r = submit(&s, &recovery, json!({"code": recovery_code})).await;
    assert_eq!(r.json["flow"]["state"], "sent_email", "{r:?}");
}

/// Starts recovery for `email` and proves the address: the flow waits for the new password.
async fn recovery_at_set_password(s: &TestServer, email: &str) -> Value {
    let flow = start(s, "recovery", json!({})).await;
    submit(s, &flow, json!({"email": email})).await;
    let code = s.code_for(email).await.unwrap();
    let r = submit(s, &flow, json!({"code": code})).await;
    assert_eq!(r.json["flow"]["state"], "set_password", "{r:?}");
    flow
}

async fn rec_02_a_recovery_waiting_for_a_password_dies_when_the_password_changes(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let token = sign_up(&s, "wait@example.com", json!({})).await;
    // Someone proved the address, then the owner changed the password in settings.
    let waiting = recovery_at_set_password(&s, "wait@example.com").await;
    let r = submit_as(&s, &settings_flow(&s, &token).await, json!({"method": "password", "current_password": PASSWORD, "new_password": "the owner's new passphrase"}), Some(&token)).await;
    assert!(
        messages(&r).contains(&"success-password-changed".to_owned()),
        "{r:?}"
    );
    let r = submit(
        &s,
        &waiting,
        json!({"password": "a late passphrase of theirs"}),
    )
    .await;
    assert_ne!(r.json["done"], true, "{r:?}");
    assert!(
        messages(&r).contains(&"error-recovery-voided".to_owned()),
        "{r:?}"
    );
    assert!(
        sign_in(&s, "wait@example.com", "a late passphrase of theirs")
            .await
            .json["session_token"]
            .is_null()
    );
    assert!(
        sign_in(&s, "wait@example.com", "the owner's new passphrase")
            .await
            .json["session_token"]
            .is_string()
    );
    // Two recoveries reach the password step: the newer proof supersedes the older (REC-02), and a
    // finished reset would void any other in turn.
    let first = recovery_at_set_password(&s, "wait@example.com").await;
    let second = recovery_at_set_password(&s, "wait@example.com").await;
    let r = submit(
        &s,
        &first,
        json!({"password": "the first reset's passphrase"}),
    )
    .await;
    assert_ne!(r.json["done"], true, "{r:?}");
    let r = submit(
        &s,
        &second,
        json!({"password": "the second reset's passphrase"}),
    )
    .await;
    assert_eq!(r.json["done"], true, "{r:?}");
    assert!(
        sign_in(&s, "wait@example.com", "the second reset's passphrase")
            .await
            .json["session_token"]
            .is_string()
    );
}

async fn rec_02_revoking_the_requesting_session_voids_its_email_change(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let owner = sign_up(&s, "rv@example.com", json!({})).await;
    let id = identity_id(&s, "rv@example.com").await;
    let thief = sign_in(&s, "rv@example.com", PASSWORD).await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    request_email_change(&s, &thief, "rv-thief@example.com").await;
    let link = s.link_for("rv-thief@example.com").await.unwrap();
    // The owner signs the other session out from the settings page.
    let sessions: Vec<Value> = s
        .http
        .get(format!("{}/t/default/api/sessions", s.public))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other = sessions.iter().find(|x| x["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let flow = settings_flow(&s, &owner).await;
    submit_as(&s, &flow, json!({"revoke_session": other}), Some(&owner)).await;
    assert_eq!(whoami(&s, &thief).await, 401);
    assert_eq!(
        follow_signed_in(&s, &link, &thief).await,
        400,
        "the requesting session is gone"
    );
    assert_eq!(emails_of(&s, &id).await, vec!["rv@example.com"]);

    // An admin revoking every session voids the pending change as well.
    let again = sign_in(&s, "rv@example.com", PASSWORD).await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    request_email_change(&s, &again, "rv-two@example.com").await;
    let link = s.link_for("rv-two@example.com").await.unwrap();
    s.delete(&format!(
        "/admin/v1/tenants/default/identities/{id}/sessions"
    ))
    .await;
    assert_eq!(follow_signed_in(&s, &link, &again).await, 400);
    assert_eq!(emails_of(&s, &id).await, vec!["rv@example.com"]);
}

/// The value of a hidden field in a page.
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker)? + marker.len();
    html[at..].split('"').next().map(str::to_owned)
}

/// Opens a "not me" link in browser `c`: the status and the page.
async fn open_not_me(c: &reqwest::Client, link: &str) -> (u16, String) {
    let r = c.get(link).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Sends the form of a "not me" page from browser `c`, with the fields the page holds: the status and
/// the page answered.
async fn confirm_not_me(s: &TestServer, c: &reqwest::Client, page: &str) -> (u16, String) {
    assert!(
        page.contains("method=\"post\" action=\"/t/default/flows/link\""),
        "{page}"
    );
    let form = [
        ("csrf_token", hidden(page, "csrf_token").unwrap()),
        ("token", hidden(page, "token").unwrap()),
    ];
    let r = c
        .post(format!("{}/t/default/flows/link", s.public))
        .form(&form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Opens a "not me" link and confirms it, as its reader does.
async fn not_me(s: &TestServer, link: &str) -> (u16, String) {
    let c = crate::pages::browser();
    let (status, page) = open_not_me(&c, link).await;
    assert_eq!(status, 200, "{page}");
    confirm_not_me(s, &c, &page).await
}

async fn state_of(s: &TestServer, id: &str) -> String {
    let r = s
        .get(&format!("/admin/v1/tenants/default/identities/{id}"))
        .await;
    r.json["state"].as_str().unwrap().to_owned()
}

async fn events(s: &TestServer, kind: &str) -> Vec<Value> {
    s.get(&format!("/admin/v1/tenants/default/events?type={kind}"))
        .await
        .json["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// How many mails went to `to`.
async fn mails_to(s: &TestServer, to: &str) -> usize {
    s.mailbox().await.iter().filter(|m| m["to"] == to).count()
}

/// What recovery answers for `email`: the address step and a guessed code.
async fn recovery_answers(s: &TestServer, email: &str) -> Vec<(u16, Value, Vec<String>)> {
    let flow = start(s, "recovery", json!({})).await;
    let mut steps = vec![answer(&submit(s, &flow, json!({"email": email})).await)];
    steps.push(answer(&submit(s, &flow, json!({"code": "123456"})).await));
    steps
}

/// A frozen account answers sign-in and recovery exactly as an address nobody has (RL-05), and no code
/// reaches any of its addresses.
async fn assert_frozen_like_nobody(s: &TestServer, addresses: &[&str], password: &str) {
    let nobody = recovery_answers(s, "nobody-at-all@example.com").await;
    for addr in addresses {
        let before = mails_to(s, addr).await;
        assert_eq!(recovery_answers(s, addr).await, nobody, "{addr}");
        assert_eq!(
            mails_to(s, addr).await,
            before,
            "no recovery code to {addr}"
        );
        assert_eq!(
            answer(&sign_in(s, addr, password).await),
            answer(&sign_in(s, "nobody-at-all@example.com", password).await),
            "{addr}"
        );
    }
}

async fn rec_04_opening_the_not_me_link_changes_nothing_until_confirmed(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let owner = sign_up(&s, "look@example.com", json!({})).await;
    let id = identity_id(&s, "look@example.com").await;
    request_email_change(&s, &owner, "look-new@example.com").await;
    let link = s.link_for("look@example.com").await.unwrap();
    // Mail scanners and link prefetchers: HEAD, GET without cookies, again and again.
    let head = s.http.head(&link).send().await.unwrap();
    assert_eq!(head.status(), 200);
    for _ in 0..3 {
        assert_eq!(follow(&s, &link).await, 200);
    }
    // A person opens it: the page says what confirming does, and asks first.
    let c = crate::pages::browser();
    let (status, page) = open_not_me(&c, &link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form method=\"post\""), "{page}");
    assert!(
        page.contains("support"),
        "the page says what follows: {page}"
    );
    // Posts that are not the page's own form are refused like every other hosted form (WEB-02).
    let token = hidden(&page, "token").unwrap();
    let csrf = hidden(&page, "csrf_token").unwrap();
    let url = format!("{}/t/default/flows/link", s.public);
    let no_csrf = c
        .post(&url)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);
    let forged = c
        .post(&url)
        .form(&[("token", token.as_str()), ("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let cross_site = c
        .post(&url)
        .header("sec-fetch-site", "cross-site")
        .form(&[("token", token.as_str()), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    let other_browser = crate::pages::browser()
        .post(&url)
        .form(&[("token", token.as_str()), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        other_browser.status(),
        403,
        "the form belongs to the browser that opened it"
    );
    // Nothing changed: the account, its session and the pending change are as they were.
    assert_eq!(state_of(&s, &id).await, "active");
    assert_eq!(whoami(&s, &owner).await, 200);
    assert!(events(&s, "identity.frozen_by_notice").await.is_empty());
    assert!(events(&s, "identity.suspended").await.is_empty());
    // And the link still works for its reader.
    let (status, done) = confirm_not_me(&s, &c, &page).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(state_of(&s, &id).await, "suspended");
}

async fn rec_04_the_not_me_link_cancels_a_pending_email_change_and_freezes_the_account(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "pend@example.com", json!({})).await;
    let id = identity_id(&s, "pend@example.com").await;
    let thief = sign_in(&s, "pend@example.com", PASSWORD).await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let flow = request_email_change(&s, &thief, "pend-thief@example.com").await;
    let asked = s.last_mail_to("pend@example.com").await.unwrap();
    assert_eq!(asked["template"], "email_changed_notice");
    let text = asked["text"].as_str().unwrap();
    assert!(text.contains("Nothing changes until"), "{text}");
    assert!(
        text.contains("asks you to confirm") && text.contains("frozen"),
        "the notice says what the link does: {text}"
    );
    let confirm_code = s.code_for("pend-thief@example.com").await.unwrap();
    let confirm_link = s.link_for("pend-thief@example.com").await.unwrap();
    let undo = s.link_for("pend@example.com").await.unwrap();
    let (status, page) = not_me(&s, &undo).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("support"), "{page}");
    assert_eq!(state_of(&s, &id).await, "suspended");
    assert_eq!(whoami(&s, &thief).await, 401, "every session ended");
    // The pending change is cancelled: neither its code nor its link moves the account.
    let r = submit_as(
        &s,
        &flow,
        json!({"method": "confirm_email", "code": confirm_code}),
        Some(&thief),
    )
    .await;
    assert!(
        !messages(&r).contains(&"success-verified".to_owned()),
        "{r:?}"
    );
    assert_eq!(follow_signed_in(&s, &confirm_link, &thief).await, 400);
    assert_eq!(emails_of(&s, &id).await, vec!["pend@example.com"]);
    let frozen = events(&s, "identity.frozen_by_notice").await;
    assert_eq!(frozen.len(), 1, "{frozen:?}");
    assert_eq!(frozen[0]["data"]["change"], "pending");
    let suspended = events(&s, "identity.suspended").await;
    assert_eq!(suspended[0]["data"]["reason"], "not_me_notice");
    assert_eq!(follow(&s, &undo).await, 400, "the link is single-use");
    assert_frozen_like_nobody(
        &s,
        &["pend@example.com", "pend-thief@example.com"],
        PASSWORD,
    )
    .await;
}

async fn rec_04_the_not_me_link_freezes_the_account_after_a_landed_email_change(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let owner = sign_up(&s, "undo@example.com", json!({})).await;
    let id = identity_id(&s, "undo@example.com").await;
    let thief = sign_in(&s, "undo@example.com", PASSWORD).await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    request_email_change(&s, &thief, "undo-thief@example.com").await;
    let confirm = s.link_for("undo-thief@example.com").await.unwrap();
    assert_eq!(follow_signed_in(&s, &confirm, &thief).await, 200);
    assert_eq!(emails_of(&s, &id).await, vec!["undo-thief@example.com"]);
    let notice = s.last_mail_to("undo@example.com").await.unwrap();
    assert_eq!(notice["template"], "email_changed_notice");
    let undo = s
        .link_for("undo@example.com")
        .await
        .expect("the notice to the old address carries a link");
    // The thief resets the password through the new address: that must not void the link.
    recover(&s, "undo-thief@example.com", "the thief's own passphrase").await;
    let thief = sign_in(&s, "undo-thief@example.com", "the thief's own passphrase")
        .await
        .json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, page) = not_me(&s, &undo).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(state_of(&s, &id).await, "suspended");
    assert_eq!(
        emails_of(&s, &id).await,
        vec!["undo-thief@example.com"],
        "the address is not moved back: support decides"
    );
    assert_eq!(whoami(&s, &thief).await, 401, "every session ended");
    assert_eq!(whoami(&s, &owner).await, 401);
    let frozen = events(&s, "identity.frozen_by_notice").await;
    assert_eq!(frozen[0]["data"]["change"], "landed", "{frozen:?}");
    assert_eq!(follow(&s, &undo).await, 400, "the link is single-use");
    assert_frozen_like_nobody(
        &s,
        &["undo@example.com", "undo-thief@example.com"],
        "the thief's own passphrase",
    )
    .await;
    // Support lifts the freeze through the admin API: it needs `identity:write`, and it is recorded.
    let readonly = s.mint_key("ro", "readonly", None).await;
    assert_eq!(reactivate_as(&s, &readonly, &id).await, 403);
    assert_eq!(state_of(&s, &id).await, "suspended");
    let support = s.mint_key("support", "support", None).await;
    assert_eq!(reactivate_as(&s, &support, &id).await, 200);
    assert_eq!(state_of(&s, &id).await, "active");
    let reactivated = events(&s, "identity.reactivated").await;
    assert_eq!(
        reactivated[0]["data"]["reason"],
        "checked with the customer"
    );
}

async fn rec_04_the_old_mailbox_cannot_take_the_account_back_with_the_not_me_link(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    // The owner moves away from a mailbox they no longer control, and confirms the new one.
    let owner = sign_up(&s, "lost@example.com", json!({})).await;
    let id = identity_id(&s, "lost@example.com").await;
    let flow = request_email_change(&s, &owner, "kept@example.com").await;
    let code = s.code_for("kept@example.com").await.unwrap();
    let r = submit_as(
        &s,
        &flow,
        json!({"method": "confirm_email", "code": code}),
        Some(&owner),
    )
    .await;
    assert!(
        messages(&r).contains(&"success-verified".to_owned()),
        "{r:?}"
    );
    // Whoever now reads the old mailbox uses the notice's link, then tries to recover the account.
    let undo = s.link_for("lost@example.com").await.unwrap();
    let (status, _) = not_me(&s, &undo).await;
    assert_eq!(status, 200);
    assert_eq!(state_of(&s, &id).await, "suspended");
    assert_eq!(emails_of(&s, &id).await, vec!["kept@example.com"]);
    let before = (
        mails_to(&s, "lost@example.com").await,
        mails_to(&s, "kept@example.com").await,
    );
    for addr in ["lost@example.com", "kept@example.com"] {
        let flow = start(&s, "recovery", json!({})).await;
        submit(&s, &flow, json!({"email": addr})).await;
    }
    assert_eq!(
        (
            mails_to(&s, "lost@example.com").await,
            mails_to(&s, "kept@example.com").await,
        ),
        before,
        "no recovery code reaches the old mailbox, nor the new one while frozen"
    );
    assert_frozen_like_nobody(&s, &["lost@example.com", "kept@example.com"], PASSWORD).await;
}

async fn rec_02_used_codes_and_links_cannot_be_replayed(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "replay@example.com", json!({})).await;
    let flow = start(&s, "recovery", json!({})).await;
    submit(&s, &flow, json!({"email": "replay@example.com"})).await;
    let code = s.code_for("replay@example.com").await.unwrap();
    let link = s.link_for("replay@example.com").await.unwrap();
    let r = submit(&s, &flow, json!({"code": code})).await;
    assert_eq!(r.json["flow"]["state"], "set_password");
    assert_eq!(follow(&s, &link).await, 400, "the link died with its code");
    let r = submit(&s, &flow, json!({"password": "a brand new passphrase 9"})).await;
    assert_eq!(r.json["done"], true);
    let r = submit(&s, &flow, json!({"code": code})).await;
    assert_ne!(r.json["flow"]["state"], "set_password", "{r:?}");
    // A second recovery flow does not take the first one's code.
    let other = start(&s, "recovery", json!({})).await;
    submit(&s, &other, json!({"email": "replay@example.com"})).await;
    let r = submit(&s, &other, json!({"code": code})).await;
    assert_eq!(r.json["flow"]["state"], "sent_email");
    assert!(
        messages(&r).contains(&"error-code-invalid".to_owned()),
        "{r:?}"
    );
}

async fn rec_02_an_old_code_fails_after_a_resend(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let flow = start(&s, "registration", json!({})).await;
    submit(&s, &flow, json!({"email": "resend@example.com"})).await;
    let old = s.code_for("resend@example.com").await.unwrap();
    let old_link = s.link_for("resend@example.com").await.unwrap();
    submit(&s, &flow, json!({"method": "resend"})).await;
    let new = s.code_for("resend@example.com").await.unwrap();
    if old != new {
        let r = submit(&s, &flow, json!({"code": old})).await;
        assert_eq!(r.json["flow"]["state"], "sent_email", "{r:?}");
    }
    assert_eq!(follow(&s, &old_link).await, 400);
    let r = submit(&s, &flow, json!({"code": new})).await;
    assert_eq!(r.json["flow"]["state"], "details", "{r:?}");
}

async fn rec_02_two_parallel_redemptions_have_one_winner(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    // The same code submitted twice at once.
    let flow = start(&s, "registration", json!({})).await;
    submit(&s, &flow, json!({"email": "race@example.com"})).await;
    let code = s.code_for("race@example.com").await.unwrap();
    let (a, b) = tokio::join!(
        submit(&s, &flow, json!({"code": code})),
        submit(&s, &flow, json!({"code": code}))
    );
    let won = [&a, &b]
        .iter()
        .filter(|r| r.status == 200 && r.json["flow"]["state"] == "details")
        .count();
    assert_eq!(won, 1, "{a:?} {b:?}");
    // The same email-change link opened twice at once.
    let token = sign_up(&s, "race2@example.com", json!({})).await;
    request_email_change(&s, &token, "race3@example.com").await;
    let link = s.link_for("race3@example.com").await.unwrap();
    let (a, b) = tokio::join!(
        follow_signed_in(&s, &link, &token),
        follow_signed_in(&s, &link, &token)
    );
    let mut got = [a, b];
    got.sort_unstable();
    assert_eq!(got, [200, 400]);
}

// ---- SES-08 and PW-04 ----

/// The events recorded about one flow.
async fn flow_events(s: &TestServer, flow: &Value) -> usize {
    let mut n = 0;
    for kind in ["flow.failed", "flow.advanced", "flow.succeeded"] {
        n += events(s, kind)
            .await
            .iter()
            .filter(|e| e["data"]["flow_id"] == flow["id"])
            .count();
    }
    n
}

async fn ses_08_a_stale_session_gets_403_and_a_step_up_link(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let token = sign_up(&s, "stale@example.com", json!({})).await;
    let id = identity_id(&s, "stale@example.com").await;
    let flow = settings_flow(&s, &token).await;
    // The sign-in is older than the recent-sign-in window; the session itself is still alive.
    s.clock
        .advance((tessera_core::flows::RECENT_LOGIN + time::Duration::minutes(1)).unsigned_abs());
    let recorded = flow_events(&s, &flow).await;
    let step_up = format!(
        "{}/t/default/login?return_to=%2Ft%2Fdefault%2Fsettings",
        s.public
    );
    for change in [
        json!({"method": "password", "current_password": PASSWORD, "new_password": "another fine passphrase"}),
        json!({"method": "email", "email": "elsewhere@example.com"}),
    ] {
        let r = submit_as(&s, &flow, change.clone(), Some(&token)).await;
        r.assert_problem(403, "reauthentication_required");
        assert_eq!(r.json["sign_in"], step_up.as_str(), "{r:?}");
    }
    // The refused requests changed nothing and recorded nothing.
    assert_eq!(flow_events(&s, &flow).await, recorded);
    assert!(s.last_mail_to("elsewhere@example.com").await.is_none());
    assert_eq!(whoami(&s, &token).await, 200);
    assert_eq!(emails_of(&s, &id).await, vec!["stale@example.com"]);
    // Signing in again gives a session that may make the change, in the same settings flow.
    let fresh = sign_in(&s, "stale@example.com", PASSWORD).await.json["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = submit_as(&s, &flow, json!({"method": "password", "current_password": PASSWORD, "new_password": "another fine passphrase"}), Some(&fresh)).await;
    assert!(
        messages(&r).contains(&"success-password-changed".to_owned()),
        "{r:?}"
    );
    let r = submit_as(
        &s,
        &flow,
        json!({"method": "email", "email": "elsewhere@example.com"}),
        Some(&fresh),
    )
    .await;
    assert!(
        messages(&r).contains(&"success-email-change-pending".to_owned()),
        "{r:?}"
    );
}

async fn pw_04_the_recovery_reset_refuses_blocked_and_context_passwords(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    sign_up(&s, "quentin.quarterback@example.com", json!({})).await;
    let flow = start(&s, "recovery", json!({})).await;
    submit(
        &s,
        &flow,
        json!({"email": "quentin.quarterback@example.com"}),
    )
    .await;
    let code = s.code_for("quentin.quarterback@example.com").await.unwrap();
    let r = submit(&s, &flow, json!({"code": code})).await;
    assert_eq!(r.json["flow"]["state"], "set_password");
    for (bad, why) in [
        ("passwordpassword", "error-password-common"),
        ("quentin.quarterback", "error-password-contains-context"),
        (
            "quentin.quarterback@example.com",
            "error-password-contains-context",
        ),
        ("short", "error-password-too-short"),
    ] {
        let r = submit(&s, &flow, json!({"password": bad})).await;
        assert_eq!(r.json["flow"]["state"], "set_password", "{bad}: {r:?}");
        assert!(messages(&r).contains(&why.to_owned()), "{bad}: {r:?}");
    }
    assert!(
        sign_in(&s, "quentin.quarterback@example.com", PASSWORD)
            .await
            .json["session_token"]
            .is_string(),
        "nothing changed"
    );
}

engine_tests!(
    web_05_return_to_never_leaves_the_base_origin,
    rl_05_recovery_answers_the_same_at_every_step,
    rl_05_sign_up_answers_the_same_at_every_step,
    rl_05_verification_answers_the_same_at_every_step,
    rl_05_settings_email_change_answers_the_same_for_taken_addresses,
    reg_01_a_mail_scanner_opening_an_email_change_link_confirms_nothing,
    rec_02_a_stranger_starting_a_recovery_does_not_void_the_owners_code,
    reg_04_proving_a_second_address_keeps_the_owners_credentials,
    rec_02_a_password_reset_voids_a_pending_email_change,
    rec_02_a_password_change_voids_every_outstanding_code,
    rec_02_revoking_the_requesting_session_voids_its_email_change,
    rec_02_a_recovery_waiting_for_a_password_dies_when_the_password_changes,
    rec_04_opening_the_not_me_link_changes_nothing_until_confirmed,
    rec_04_the_not_me_link_cancels_a_pending_email_change_and_freezes_the_account,
    rec_04_the_not_me_link_freezes_the_account_after_a_landed_email_change,
    rec_04_the_old_mailbox_cannot_take_the_account_back_with_the_not_me_link,
    rec_02_used_codes_and_links_cannot_be_replayed,
    rec_02_an_old_code_fails_after_a_resend,
    rec_02_two_parallel_redemptions_have_one_winner,
    ses_08_a_stale_session_gets_403_and_a_step_up_link,
    pw_04_the_recovery_reset_refuses_blocked_and_context_passwords,
);
