//! The guard before every step (RL-01, RL-03, RL-06): every guessable secret on every path counts
//! against one per-account state, keyed on the normalised identifier; attempts are reserved before the
//! secret is checked, so parallel guesses are each counted; clients are counted per IPv4 address and per
//! IPv6 /64 and /48; flow starts and mail sends have quotas answered with 429 and `Retry-After`.
use std::collections::HashMap;

use serde_json::{Value, json};
use tessera_testkit::{Engine, Resp, TestServer, engine_tests};

use crate::flows::messages;

const PASSWORD: &str = "correct horse battery staple 42";

fn api(s: &TestServer, path: &str) -> String {
    format!("{}/t/default/api/flows/{path}", s.public)
}

/// Cheap password hashing, and the loopback proxy trusted so tests can speak for many clients.
fn settings(
    extra: &'static [(&'static str, &'static str)],
) -> impl FnOnce(&mut HashMap<String, String>) {
    move |env| {
        env.insert("TESSERA_ARGON2_MEMORY_KIB".into(), "64".into());
        env.insert("TESSERA_ARGON2_ITERATIONS".into(), "1".into());
        env.insert("TESSERA_TRUSTED_PROXIES".into(), "127.0.0.1, ::1".into());
        // Parallel guesses at one account queue on its bucket's row lock; a busy machine may keep a
        // connection waiting longer than the testkit's default allows.
        env.insert("TESSERA_DB_ACQUIRE_TIMEOUT_MS".into(), "15000".into());
        for (k, v) in extra {
            env.insert((*k).into(), (*v).into());
        }
    }
}

async fn server(
    engine: Engine,
    extra: &'static [(&'static str, &'static str)],
) -> Option<TestServer> {
    TestServer::start_with(engine, settings(extra)).await
}

/// Lets time pass for the server, on the testkit's clock.
fn let_time_pass(s: &TestServer, d: std::time::Duration) {
    s.clock.advance(d);
}

async fn start_from(s: &TestServer, kind: &str, xff: &str) -> Resp {
    Resp::from(
        s.http
            .post(api(s, kind))
            .header("x-forwarded-for", xff)
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// The started flow, carrying the secret answered beside it (as `secret`) for later submissions.
fn with_secret(r: &Resp) -> Value {
    let mut flow = r.json["flow"].clone();
    flow["secret"] = r.json["flow_secret"].clone();
    flow
}

async fn start(s: &TestServer, kind: &str) -> Value {
    let r = start_from(s, kind, "192.0.2.1").await;
    assert_eq!(r.status, 201, "{r:?}");
    with_secret(&r)
}

async fn submit_from(
    s: &TestServer,
    flow: &Value,
    body: Value,
    xff: &str,
    token: Option<&str>,
) -> Resp {
    submit_on_device(s, flow, body, xff, token, None).await
}

/// A submission from `xff`, presenting `device` as the app's known-device token.
async fn submit_on_device(
    s: &TestServer,
    flow: &Value,
    body: Value,
    xff: &str,
    token: Option<&str>,
    device: Option<&str>,
) -> Resp {
    let kind = flow["kind"].as_str().unwrap();
    let id = flow["id"].as_str().unwrap();
    let mut req = s
        .http
        .post(api(s, &format!("{kind}/{id}")))
        .header("x-forwarded-for", xff)
        .header(
            crate::flows::FLOW_SECRET,
            flow["secret"].as_str().unwrap_or_default(),
        )
        .json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(d) = device {
        req = req.header("tessera-device", d);
    }
    Resp::from(req.send().await.unwrap()).await
}

async fn submit(s: &TestServer, flow: &Value, body: Value) -> Resp {
    submit_from(s, flow, body, "192.0.2.1", None).await
}

fn throttled(r: &Resp) -> bool {
    messages(r).contains(&"error-throttled".to_owned())
}

fn refused(r: &Resp) -> bool {
    messages(r).contains(&"error-invalid-credentials".to_owned())
}

async fn sign_up(s: &TestServer, email: &str) -> String {
    let flow = start(s, "registration").await;
    let r = submit(s, &flow, json!({"email": email})).await;
    assert_eq!(r.json["flow"]["state"], "sent_email", "{r:?}");
    let code = s.code_for(email).await.expect("a code was mailed");
    let r = submit(s, &flow, json!({"code": code})).await;
    assert_eq!(r.json["flow"]["state"], "details", "{r:?}");
    let r = submit(s, &flow, json!({"password": PASSWORD})).await;
    r.json["session_token"]
        .as_str()
        .expect("signed in after sign-up")
        .to_owned()
}

/// One sign-in attempt on a fresh flow, from `xff`.
async fn sign_in_from(s: &TestServer, identifier: &str, password: &str, xff: &str) -> Resp {
    let flow = start(s, "login").await;
    submit_from(
        s,
        &flow,
        json!({"identifier": identifier, "password": password}),
        xff,
        None,
    )
    .await
}

/// One sign-in attempt on a fresh flow, from `xff`, on the device `device` names.
async fn sign_in_on_device(
    s: &TestServer,
    identifier: &str,
    password: &str,
    xff: &str,
    device: Option<&str>,
) -> Resp {
    let flow = start(s, "login").await;
    let body = json!({"identifier": identifier, "password": password});
    submit_on_device(s, &flow, body, xff, None, device).await
}

fn signed_in(r: &Resp) -> bool {
    r.json["session_token"].is_string()
}

async fn sign_in(s: &TestServer, identifier: &str, password: &str) -> Resp {
    sign_in_from(s, identifier, password, "192.0.2.1").await
}

async fn settings_flow(s: &TestServer, token: &str) -> Value {
    let r = Resp::from(
        s.http
            .post(api(s, "settings"))
            .header("x-forwarded-for", "192.0.2.1")
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    with_secret(&r)
}

async fn events(s: &TestServer, kind: &str) -> Vec<Value> {
    s.get(&format!(
        "/admin/v1/tenants/default/events?type={kind}&limit=1000"
    ))
    .await
    .json["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn rl_03_every_spelling_of_an_identifier_counts_against_one_account(engine: Engine) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    sign_up(&s, "user@example.com").await;
    for spelling in [
        "user@example.com.",
        "USER@Example.com",
        "\u{FF55}\u{FF53}\u{FF45}\u{FF52}@example.com",
        " user@EXAMPLE.COM. ",
        "user\u{FF20}example.com",
    ] {
        let r = sign_in(&s, spelling, "not the password at all").await;
        assert!(refused(&r), "{spelling}: {r:?}");
    }
    let r = sign_in(&s, "user@example.com", PASSWORD).await;
    assert!(
        throttled(&r) && r.json["session_token"].is_null(),
        "five guesses under five spellings are five guesses at one account: {r:?}"
    );
    let failed = events(&s, "flow.failed").await;
    assert!(
        failed
            .iter()
            .any(|e| e["data"]["guard"]["verdict"] == "delay"
                && e["data"]["guard"]["reasons"] == json!(["account_client"])),
        "the guard's verdict and its reason are on the flow's event: {failed:?}"
    );
}

/// The owner's device token, from a sign-in on their usual address.
async fn owners_device(s: &TestServer, email: &str) -> String {
    let r = sign_in_from(s, email, PASSWORD, "192.0.2.1").await;
    assert!(signed_in(&r), "{r:?}");
    r.json["device_token"]
        .as_str()
        .expect("a sign-in answers a device token")
        .to_owned()
}

async fn rl_02_a_flood_from_many_addresses_does_not_keep_the_owner_out_on_a_known_device(
    engine: Engine,
) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    sign_up(&s, "owner@example.com").await;
    sign_up(&s, "someone@example.com").await;
    let device = owners_device(&s, "owner@example.com").await;
    let elsewhere = owners_device(&s, "someone@example.com").await;
    // Forty guesses, each from another address: no address reaches its own limit, the account does.
    for i in 1..=40 {
        let r = sign_in_from(
            &s,
            "owner@example.com",
            "guess guess guess",
            &format!("198.51.100.{i}"),
        )
        .await;
        assert!(refused(&r) || throttled(&r), "{i}: {r:?}");
    }
    let stranger = sign_in_from(&s, "owner@example.com", PASSWORD, "203.0.113.9").await;
    assert!(
        throttled(&stranger) && !signed_in(&stranger),
        "the flood holds the account back for unknown devices: {stranger:?}"
    );
    let forged = sign_in_on_device(
        &s,
        "owner@example.com",
        PASSWORD,
        "192.0.2.1",
        Some(&elsewhere),
    )
    .await;
    assert!(
        throttled(&forged),
        "a device known to another account is a stranger here: {forged:?}"
    );
    let owner = sign_in_on_device(
        &s,
        "owner@example.com",
        PASSWORD,
        "192.0.2.1",
        Some(&device),
    )
    .await;
    assert!(
        signed_in(&owner),
        "the owner on a known device is not held back by others' failures: {owner:?}"
    );
}

async fn rl_02_a_password_flood_does_not_hold_back_recovery_by_code(engine: Engine) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    sign_up(&s, "flooded@example.com").await;
    for i in 1..=30 {
        let r = sign_in_from(
            &s,
            "flooded@example.com",
            "guess guess guess",
            &format!("198.51.100.{i}"),
        )
        .await;
        assert!(refused(&r) || throttled(&r), "{i}: {r:?}");
    }
    let r = sign_in_from(&s, "flooded@example.com", PASSWORD, "203.0.113.7").await;
    assert!(throttled(&r), "the passwords are held back: {r:?}");
    // The owner, on a new device, recovers with the mailed code: another authenticator, its own count.
    let flow = start(&s, "recovery").await;
    let r = submit_from(
        &s,
        &flow,
        json!({"email": "flooded@example.com"}),
        "203.0.113.7",
        None,
    )
    .await;
    assert_eq!(r.json["flow"]["state"], "sent_email", "{r:?}");
    let code = s.code_for("flooded@example.com").await.unwrap();
    let r = submit_from(&s, &flow, json!({"code": code}), "203.0.113.7", None).await;
    assert_eq!(r.json["flow"]["state"], "set_password", "{r:?}");
}

async fn rl_02_guesses_from_one_address_do_not_hold_back_the_owner_elsewhere(engine: Engine) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    sign_up(&s, "victim@example.com").await;
    for _ in 0..5 {
        let r = sign_in_from(
            &s,
            "victim@example.com",
            "guess guess guess",
            "198.51.100.7",
        )
        .await;
        assert!(refused(&r), "{r:?}");
    }
    let r = sign_in_from(&s, "victim@example.com", PASSWORD, "198.51.100.7").await;
    assert!(throttled(&r), "the guessing address is held back: {r:?}");
    let r = sign_in_from(&s, "victim@example.com", PASSWORD, "192.0.2.44").await;
    assert!(
        signed_in(&r),
        "the owner, from another address and on no known device, is not: {r:?}"
    );
}

async fn rl_02_a_known_device_is_limited_on_its_own(engine: Engine) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    sign_up(&s, "stolen@example.com").await;
    let device = owners_device(&s, "stolen@example.com").await;
    // Whoever copied the token gets the allowance of one client, not a free run at the account.
    for i in 0..5 {
        let r = sign_in_on_device(
            &s,
            "stolen@example.com",
            "guess guess guess",
            &format!("198.51.100.{}", 50 + i),
            Some(&device),
        )
        .await;
        assert!(refused(&r), "{i}: {r:?}");
    }
    let r = sign_in_on_device(
        &s,
        "stolen@example.com",
        PASSWORD,
        "198.51.100.60",
        Some(&device),
    )
    .await;
    assert!(throttled(&r), "{r:?}");
    let failed = events(&s, "flow.failed").await;
    assert!(
        failed
            .iter()
            .any(|e| e["data"]["guard"]["reasons"] == json!(["account_device"])),
        "{failed:?}"
    );
    let r = sign_in_from(&s, "stolen@example.com", PASSWORD, "192.0.2.80").await;
    assert!(
        signed_in(&r),
        "the device's failures are its own, not the account's: {r:?}"
    );
}

async fn rl_02_a_recovery_flood_does_not_keep_the_owner_from_recovering_on_a_known_device(
    engine: Engine,
) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    sign_up(&s, "forgetful@example.com").await;
    let device = owners_device(&s, "forgetful@example.com").await;
    let ask = |xff: String, device: Option<String>| {
        let s = &s;
        async move {
            let flow = start(s, "recovery").await;
            let body = json!({"email": "forgetful@example.com"});
            submit_on_device(s, &flow, body, &xff, None, device.as_deref()).await
        }
    };
    for i in 1..=12 {
        let r = ask(format!("198.51.100.{i}"), None).await;
        assert!(r.status < 500, "{r:?}");
    }
    let r = ask("203.0.113.5".into(), None).await;
    assert!(
        throttled(&r),
        "mails for the account from everywhere together are slowed: {r:?}"
    );
    s.wait_for_outbox().await;
    let before = s.mailbox().await.len();
    let r = ask("192.0.2.1".into(), Some(device)).await;
    assert_eq!(r.json["flow"]["state"], "sent_email", "{r:?}");
    assert!(!throttled(&r), "{r:?}");
    s.wait_for_outbox().await;
    assert_eq!(
        s.mailbox().await.len(),
        before + 1,
        "the owner's own request is sent"
    );
}

async fn rl_03_every_identifier_of_an_account_counts_against_it(engine: Engine) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    sign_up(&s, "two@example.com").await;
    let id = s
        .get("/admin/v1/tenants/default/identities?limit=100")
        .await
        .json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i.to_string().contains("two@example.com"))
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .expect("the identity");
    let r = s
        .patch(
            &format!("/admin/v1/tenants/default/identities/{id}"),
            json!({"identifiers": [
                {"kind": "email", "value": "two@example.com", "verified": true},
                {"kind": "username", "value": "twofold"}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    // Three guesses by email and two by username are five at one account.
    for (i, who) in [
        "two@example.com",
        "twofold",
        "two@example.com",
        "twofold",
        "TWOFOLD",
    ]
    .into_iter()
    .enumerate()
    {
        let r = sign_in(&s, who, "guess guess guess").await;
        assert!(refused(&r), "{i} {who}: {r:?}");
    }
    let r = sign_in(&s, "two@example.com", PASSWORD).await;
    assert!(throttled(&r), "{r:?}");
}

async fn rl_01_parallel_guesses_are_each_counted(engine: Engine) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    sign_up(&s, "race@example.com").await;
    let mut flows = Vec::new();
    for _ in 0..12 {
        flows.push(start(&s, "login").await);
    }
    let guess = |flow: Value| {
        let s = &s;
        async move {
            submit(
                s,
                &flow,
                json!({"identifier": "race@example.com", "password": "guess guess guess"}),
            )
            .await
        }
    };
    let answers = futures::future::join_all(flows.into_iter().map(guess)).await;
    let checked = answers.iter().filter(|r| refused(r)).count();
    let held = answers.iter().filter(|r| throttled(r)).count();
    assert_eq!(
        (checked, held),
        (5, 7),
        "twelve guesses released together: five free ones checked, the rest held back: {:?}",
        answers
            .iter()
            .map(|r| (r.status, messages(r), r.text.clone()))
            .collect::<Vec<_>>()
    );
    // When the delay ends, twelve more released together: only one is checked.
    let_time_pass(&s, std::time::Duration::from_millis(1100));
    let mut flows = Vec::new();
    for _ in 0..12 {
        flows.push(start(&s, "login").await);
    }
    let answers = futures::future::join_all(flows.into_iter().map(guess)).await;
    let checked = answers.iter().filter(|r| refused(r)).count();
    assert_eq!(checked, 1, "{answers:?}");
    assert_eq!(answers.iter().filter(|r| throttled(r)).count(), 11);
}

/// Red team R14-1: ten submissions of the right password on one flow at once. Five are checked and five
/// held back; a held one writes nothing to the flow, so it cannot win the race and leave everyone out.
async fn rl_01_parallel_right_passwords_on_one_flow_let_exactly_one_in(engine: Engine) {
    // Real hashing cost, so the checked submissions are still hashing when the held ones answer.
    let real_cost = &[
        ("TESSERA_ARGON2_MEMORY_KIB", "19456"),
        ("TESSERA_ARGON2_ITERATIONS", "2"),
    ];
    let Some(s) = server(engine, real_cost).await else {
        return;
    };
    sign_up(&s, "eager@example.com").await;
    let flow = start(&s, "login").await;
    let answers = futures::future::join_all((0..10).map(|_| {
        submit(
            &s,
            &flow,
            json!({"identifier": "eager@example.com", "password": PASSWORD}),
        )
    }))
    .await;
    let summary: Vec<_> = answers
        .iter()
        .map(|r| (r.status, messages(r), r.json["code"].clone()))
        .collect();
    assert_eq!(
        answers.iter().filter(|r| signed_in(r)).count(),
        1,
        "exactly one submission signs in: {summary:?}"
    );
    // The others were held back, lost the race (409), or came after the winner finished the flow (410).
    assert!(
        answers
            .iter()
            .all(|r| signed_in(r) || [400, 409, 410].contains(&r.status)),
        "{summary:?}"
    );
}

async fn rl_01_a_success_resets_the_account(engine: Engine) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    sign_up(&s, "reset@example.com").await;
    for _ in 0..4 {
        assert!(refused(
            &sign_in(&s, "reset@example.com", "nope nope nope").await
        ));
    }
    let r = sign_in(&s, "reset@example.com", PASSWORD).await;
    assert!(r.json["session_token"].is_string(), "{r:?}");
    for i in 0..5 {
        let r = sign_in(&s, "reset@example.com", "nope nope nope").await;
        assert!(
            refused(&r),
            "failure {i} after the success starts from zero: {r:?}"
        );
    }
    assert!(throttled(&sign_in(&s, "reset@example.com", PASSWORD).await));
}

async fn rl_03_ipv6_clients_are_counted_per_64_and_per_48(engine: Engine) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    // Thirty failures from thirty addresses of one /64, each at another (unknown) account.
    for i in 0..30 {
        let r = sign_in_from(
            &s,
            &format!("nobody{i}@example.com"),
            "guess guess guess",
            &format!("2001:db8:1:1:{i:x}::{i:x}"),
        )
        .await;
        assert!(refused(&r), "{i}: {r:?}");
    }
    let r = sign_in_from(
        &s,
        "fresh@example.com",
        "guess guess guess",
        "2001:db8:1:1:ffff::1",
    )
    .await;
    assert!(
        throttled(&r),
        "a new address in the same /64 is the same client: {r:?}"
    );
    let r = sign_in_from(
        &s,
        "fresh@example.com",
        "guess guess guess",
        "2001:db8:1:2::1",
    )
    .await;
    assert!(refused(&r), "another /64 is another client: {r:?}");
    // A /48 holds 65,536 /64 networks: it is counted as well (31 failures so far, 100 let through).
    for i in 0..69 {
        let r = sign_in_from(
            &s,
            &format!("other{i}@example.com"),
            "guess guess guess",
            &format!("2001:db8:1:{:x}::1", 0x100 + i),
        )
        .await;
        assert!(refused(&r), "{i}: {r:?}");
    }
    let r = sign_in_from(
        &s,
        "last@example.com",
        "guess guess guess",
        "2001:db8:1:ffff::1",
    )
    .await;
    assert!(throttled(&r), "a hundred failures fill the /48: {r:?}");
    let r = sign_in_from(&s, "last@example.com", "guess guess guess", "2001:db8:2::1").await;
    assert!(refused(&r), "another /48 is not held back: {r:?}");
}

async fn rl_03_the_settings_password_counts_against_the_account(engine: Engine) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    let token = sign_up(&s, "settings@example.com").await;
    let flow = settings_flow(&s, &token).await;
    let change = |current: &'static str| json!({"method": "password", "current_password": current, "new_password": "another fine passphrase"});
    for i in 0..9 {
        let r = submit_from(
            &s,
            &flow,
            change("wrong wrong wrong"),
            "192.0.2.1",
            Some(&token),
        )
        .await;
        assert!(refused(&r) || throttled(&r), "{i}: {r:?}");
    }
    let r = submit_from(&s, &flow, change(PASSWORD), "192.0.2.1", Some(&token)).await;
    assert!(
        throttled(&r) && !messages(&r).contains(&"success-password-changed".to_owned()),
        "nine wrong guesses, then the right one waits: {r:?}"
    );
    let r = sign_in(&s, "settings@example.com", PASSWORD).await;
    assert!(
        throttled(&r),
        "and sign-in shares the account's state: {r:?}"
    );
}

async fn rl_03_sign_in_failures_hold_back_the_settings_password(engine: Engine) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    let token = sign_up(&s, "both@example.com").await;
    // The sixth attempt is held for a second: on the test's clock, not the wall's, so a slow machine
    // cannot let the hold pass before it comes.
    s.clock.freeze();
    for _ in 0..5 {
        assert!(refused(
            &sign_in(&s, "Both@Example.com.", "wrong wrong wrong").await
        ));
    }
    let flow = settings_flow(&s, &token).await;
    let r = submit_from(
        &s,
        &flow,
        json!({"method": "password", "current_password": PASSWORD, "new_password": "another fine passphrase"}),
        "192.0.2.1",
        Some(&token),
    )
    .await;
    assert!(throttled(&r), "{r:?}");
}

async fn rl_01_signing_in_again_buys_no_fresh_guesses_at_an_email_change_code(engine: Engine) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    sign_up(&s, "guesser@example.com").await;
    let wrong_at = |code: &str| if code == "000000" { "111111" } else { "000000" }.to_owned();
    for round in 0..2 {
        // Each round: a fresh sign-in (which resets the guesser's own account), a fresh code for an
        // address the guesser does not hold, and guesses at it.
        let token = sign_in(&s, "guesser@example.com", PASSWORD).await.json["session_token"]
            .as_str()
            .unwrap_or_else(|| panic!("round {round}: signed in"))
            .to_owned();
        let flow = settings_flow(&s, &token).await;
        let ask = json!({"method": "email", "email": "someone-else@example.com"});
        let r = submit_from(&s, &flow, ask, "192.0.2.1", Some(&token)).await;
        assert!(
            messages(&r).contains(&"success-email-change-pending".to_owned()),
            "{r:?}"
        );
        let code = s.code_for("someone-else@example.com").await.unwrap();
        let guess = json!({"method": "confirm_email", "code": wrong_at(&code)});
        // The first round has the five free guesses; after them only the progressive delay passes,
        // one guess at a time, however often the guesser signs in again.
        let free = if round == 0 { 5 } else { 1 };
        for i in 0..free {
            let r = submit_from(&s, &flow, guess.clone(), "192.0.2.1", Some(&token)).await;
            assert!(
                messages(&r).iter().any(|m| m.starts_with("error-code")),
                "round {round}, guess {i}: {r:?}"
            );
        }
        let r = submit_from(&s, &flow, guess, "192.0.2.1", Some(&token)).await;
        assert!(
            throttled(&r),
            "round {round}: the address's own count holds the next guess back: {r:?}"
        );
        let_time_pass(&s, std::time::Duration::from_millis(1100));
    }
}

async fn rl_01_a_new_email_change_code_does_not_reset_the_count(engine: Engine) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    let token = sign_up(&s, "owner@example.com").await;
    let flow = settings_flow(&s, &token).await;
    let ask = json!({"method": "email", "email": "target@example.com"});
    let r = submit_from(&s, &flow, ask.clone(), "192.0.2.1", Some(&token)).await;
    assert!(
        messages(&r).contains(&"success-email-change-pending".to_owned()),
        "{r:?}"
    );
    let code = s.code_for("target@example.com").await.unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for i in 0..5 {
        let r = submit_from(
            &s,
            &flow,
            json!({"method": "confirm_email", "code": wrong}),
            "192.0.2.1",
            Some(&token),
        )
        .await;
        assert!(
            messages(&r).iter().any(|m| m.starts_with("error-code")),
            "{i}: {r:?}"
        );
    }
    // A fresh code: the account's count goes on.
    let r = submit_from(&s, &flow, ask.clone(), "192.0.2.1", Some(&token)).await;
    assert!(
        messages(&r).contains(&"success-email-change-pending".to_owned()),
        "{r:?}"
    );
    let fresh = s.code_for("target@example.com").await.unwrap();
    let r = submit_from(
        &s,
        &flow,
        json!({"method": "confirm_email", "code": fresh}),
        "192.0.2.1",
        Some(&token),
    )
    .await;
    assert!(
        throttled(&r) && !messages(&r).contains(&"success-verified".to_owned()),
        "a new code never resets the count (RL-01, A-25): {r:?}"
    );
    // And fresh codes cannot be asked for without limit.
    let mut held = false;
    for _ in 0..8 {
        let r = submit_from(&s, &flow, ask.clone(), "192.0.2.1", Some(&token)).await;
        held |= throttled(&r);
    }
    assert!(held, "the account's mails are counted too");
}

async fn rl_03_the_verification_code_counts_against_the_account(engine: Engine) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    let r = s
        .post(
            "/admin/v1/tenants/default/identities",
            json!({"identifiers": [{"kind": "email", "value": "unproven@example.com"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let flow = start(&s, "verification").await;
    submit(&s, &flow, json!({"email": "unproven@example.com"})).await;
    let code = s.code_for("unproven@example.com").await.unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        submit(&s, &flow, json!({"code": wrong})).await;
    }
    // One more guess in another flow for the same address: the fifth at this account.
    let other = start(&s, "verification").await;
    submit(&s, &other, json!({"email": "unproven@example.com"})).await;
    let fresh = s.code_for("unproven@example.com").await.unwrap();
    let wrong = if fresh == "000000" {
        "111111"
    } else {
        "000000"
    };
    submit(&s, &other, json!({"code": wrong})).await;
    let r = submit(&s, &other, json!({"code": fresh})).await;
    assert!(
        throttled(&r) && r.json["done"] != true,
        "the verification code step counts against the account: {r:?}"
    );
}

async fn rl_06_flow_starts_have_a_quota_per_client(engine: Engine) {
    let Some(s) = server(engine, &[("TESSERA_QUOTA_FLOW_STARTS_PER_CLIENT", "5")]).await else {
        return;
    };
    for i in 0..5 {
        let r = start_from(&s, "login", "198.51.100.7").await;
        assert_eq!(r.status, 201, "{i}: {r:?}");
    }
    let r = start_from(&s, "recovery", "198.51.100.7").await;
    r.assert_problem(429, "rate_limited");
    let wait: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=600).contains(&wait), "{wait}");
    // The hosted page says what to do, with the same status.
    let page = s
        .http
        .get(format!("{}/t/default/login", s.public))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    let html = page.text().await.unwrap();
    assert!(html.contains("Please wait"), "{html}");
    let r = start_from(&s, "login", "198.51.100.8").await;
    assert_eq!(r.status, 201, "another client starts flows: {r:?}");
    let started = events(&s, "flow.started").await.len();
    assert_eq!(started, 6, "a refused start writes nothing");
}

async fn rl_06_flow_starts_have_a_global_quota(engine: Engine) {
    let Some(s) = server(engine, &[("TESSERA_QUOTA_FLOW_STARTS_GLOBAL", "4")]).await else {
        return;
    };
    for i in 0..4 {
        let r = start_from(&s, "registration", &format!("203.0.113.{i}")).await;
        assert_eq!(r.status, 201, "{i}: {r:?}");
    }
    let r = start_from(&s, "registration", "203.0.113.99").await;
    r.assert_problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
}

async fn rl_06_new_passwords_have_a_quota_per_client(engine: Engine) {
    let Some(s) = server(engine, &[("TESSERA_QUOTA_PASSWORD_HASHES_PER_CLIENT", "3")]).await else {
        return;
    };
    // A sign-up whose address is proven, then taken by a twin flow: every submission at its details
    // step still costs a hash (red team round 2, F4). Three are let through from one address.
    let mut twins = Vec::new();
    for _ in 0..2 {
        let flow = start(&s, "registration").await;
        submit(&s, &flow, json!({"email": "twin@example.com"})).await;
        let code = s.code_for("twin@example.com").await.unwrap();
        let r = submit(&s, &flow, json!({"code": code})).await;
        assert_eq!(r.json["flow"]["state"], "details", "{r:?}");
        twins.push(flow);
    }
    let r = submit(&s, &twins[0], json!({"password": PASSWORD})).await;
    assert!(signed_in(&r), "{r:?}");
    for i in 0..2 {
        let body = json!({"password": format!("{PASSWORD} {i} but not quite")});
        let r = submit_from(&s, &twins[1], body, "192.0.2.1", None).await;
        assert_ne!(r.status, 429, "{i}: {r:?}");
    }
    let r = submit_from(
        &s,
        &twins[1],
        json!({"password": PASSWORD}),
        "192.0.2.1",
        None,
    )
    .await;
    r.assert_problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
}

async fn rl_06_a_settings_password_change_counts_against_the_hashing_quota(engine: Engine) {
    let Some(s) = server(engine, &[("TESSERA_QUOTA_PASSWORD_HASHES_PER_CLIENT", "3")]).await else {
        return;
    };
    // Sign-up's own password is the first of three from this address (red team round 3, N1).
    let token = sign_up(&s, "changer@example.com").await;
    let flow = settings_flow(&s, &token).await;
    let mut current = PASSWORD.to_owned();
    for i in 0..2 {
        let next = format!("{PASSWORD} changed {i}");
        let body = json!({"method": "password", "current_password": current, "new_password": next});
        let r = submit_from(&s, &flow, body, "192.0.2.1", Some(&token)).await;
        assert_ne!(r.status, 429, "{i}: {r:?}");
        current = next;
    }
    let body = json!({"method": "password", "current_password": current, "new_password": "yet another long passphrase"});
    let r = submit_from(&s, &flow, body, "192.0.2.1", Some(&token)).await;
    r.assert_problem(429, "rate_limited");
}

async fn rl_06_mails_to_one_address_are_counted_per_recipient_whoever_asks(engine: Engine) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    // Three accounts on three addresses each ask, four times, to move to one recipient's address.
    let mut askers = Vec::new();
    for i in 0..3 {
        let token = sign_up(&s, &format!("asker{i}@example.com")).await;
        askers.push((token, format!("198.51.100.{}", 30 + i)));
    }
    let mut held = 0;
    for round in 0..4 {
        for (token, ip) in &askers {
            let flow = settings_flow(&s, token).await;
            let ask = json!({"method": "email", "email": "recipient@example.com"});
            let r = submit_from(&s, &flow, ask, ip, Some(token)).await;
            if throttled(&r) {
                held += 1;
            } else {
                assert!(
                    messages(&r).contains(&"success-email-change-pending".to_owned()),
                    "round {round}: {r:?}"
                );
            }
        }
    }
    assert!(
        held >= 2,
        "the recipient's own mail count holds the 11th and 12th back: {held}"
    );
}

async fn rl_01_a_hundred_failures_stop_the_account_for_a_day(engine: Engine) {
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    sign_up(&s, "target@example.com").await;
    for i in 0..100 {
        let r = sign_in_from(
            &s,
            "target@example.com",
            "guess guess guess",
            "198.51.100.40",
        )
        .await;
        assert!(
            refused(&r),
            "failure {i} is checked once its delay passed: {r:?}"
        );
        let_time_pass(&s, std::time::Duration::from_secs(301));
    }
    let r = sign_in_from(&s, "target@example.com", PASSWORD, "198.51.100.40").await;
    assert!(
        throttled(&r),
        "after a hundred failures even the right password waits: {r:?}"
    );
    let_time_pass(&s, std::time::Duration::from_secs(23 * 3600));
    let r = sign_in_from(&s, "target@example.com", PASSWORD, "198.51.100.40").await;
    assert!(throttled(&r), "for a day: {r:?}");
    let_time_pass(&s, std::time::Duration::from_secs(3600 + 60));
    let r = sign_in_from(&s, "target@example.com", PASSWORD, "198.51.100.40").await;
    assert!(signed_in(&r), "and then no longer: {r:?}");
}

async fn rl_06_mail_sends_have_a_quota_per_client(engine: Engine) {
    let Some(s) = server(engine, &[("TESSERA_QUOTA_MAILS_PER_CLIENT", "3")]).await else {
        return;
    };
    for i in 0..3 {
        let flow = start(&s, "recovery").await;
        let r = submit_from(
            &s,
            &flow,
            json!({"email": format!("m{i}@example.com")}),
            "198.51.100.9",
            None,
        )
        .await;
        assert_eq!(r.json["flow"]["state"], "sent_email", "{i}: {r:?}");
    }
    let flow = start(&s, "registration").await;
    let r = submit_from(
        &s,
        &flow,
        json!({"email": "m9@example.com"}),
        "198.51.100.9",
        None,
    )
    .await;
    r.assert_problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    assert!(
        s.code_for("m9@example.com").await.is_none(),
        "nothing was sent"
    );
    let r = submit_from(
        &s,
        &flow,
        json!({"email": "m9@example.com"}),
        "198.51.100.10",
        None,
    )
    .await;
    assert_eq!(
        r.json["flow"]["state"], "sent_email",
        "another client may: {r:?}"
    );
}

engine_tests!(
    rl_03_every_spelling_of_an_identifier_counts_against_one_account,
    rl_01_parallel_guesses_are_each_counted,
    rl_01_parallel_right_passwords_on_one_flow_let_exactly_one_in,
    rl_01_a_success_resets_the_account,
    rl_03_ipv6_clients_are_counted_per_64_and_per_48,
    rl_02_a_flood_from_many_addresses_does_not_keep_the_owner_out_on_a_known_device,
    rl_02_guesses_from_one_address_do_not_hold_back_the_owner_elsewhere,
    rl_02_a_password_flood_does_not_hold_back_recovery_by_code,
    rl_02_a_known_device_is_limited_on_its_own,
    rl_02_a_recovery_flood_does_not_keep_the_owner_from_recovering_on_a_known_device,
    rl_03_every_identifier_of_an_account_counts_against_it,
    rl_03_the_settings_password_counts_against_the_account,
    rl_03_sign_in_failures_hold_back_the_settings_password,
    rl_01_a_new_email_change_code_does_not_reset_the_count,
    rl_01_signing_in_again_buys_no_fresh_guesses_at_an_email_change_code,
    rl_03_the_verification_code_counts_against_the_account,
    rl_06_flow_starts_have_a_quota_per_client,
    rl_06_flow_starts_have_a_global_quota,
    rl_06_mail_sends_have_a_quota_per_client,
    rl_06_new_passwords_have_a_quota_per_client,
    rl_06_a_settings_password_change_counts_against_the_hashing_quota,
    rl_06_mails_to_one_address_are_counted_per_recipient_whoever_asks,
    rl_01_a_hundred_failures_stop_the_account_for_a_day,
);

/// R13-1: on PostgreSQL, an attempt whose reservation another request's commit overtook (the second
/// bucket fills between the statement's check and its write) is refused, and it counts in none of its
/// buckets: before, the buckets written before the overtaken one kept the refused attempt, so a burst from
/// one address filled the account's shared bucket faster than that address's own allowance implies.
/// SQLite's one writer runs the statement alone, so the check always holds there.
async fn rl_02_a_refused_attempt_leaves_no_count_behind(engine: Engine) {
    use crate::oidc_grants_end::{until, waits};
    use sqlx::Connection;
    let Some(s) = server(engine, &[]).await else {
        return;
    };
    let bucket = |key: &str| tessera_store::throttles::Bucket {
        key: key.into(),
        free: 1,
        window_us: 3_600_000_000,
        quota: false,
        capped: false,
    };
    let buckets = [bucket("test:first"), bucket("test:second")];
    // Another request holds "test:second" mid-commit, about to fill it.
    let mut holder = sqlx::PgConnection::connect(&s.db.url).await.unwrap();
    let mut watcher = sqlx::PgConnection::connect(&s.db.url).await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    let now_us = (now.unix_timestamp_nanos() / 1000) as i64;
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query(
        "INSERT INTO guard_buckets (key, free, window_us, quota, hits, started_us, next_us) \
         VALUES ('test:second', 1, 3600000000, 0, 5, $1, $2)",
    )
    .bind(now_us)
    .bind(now_us + 3_600_000_000)
    .execute(&mut holder)
    .await
    .unwrap();
    let reserve = tessera_store::throttles::reserve_alone(s.tessera.db(), || now, &buckets);
    let release = async {
        until("the reservation waiting for the other commit", async || {
            waits(&mut watcher, "%INSERT INTO guard_buckets").await
        })
        .await;
        sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    };
    let (reserved, ()) = tokio::join!(reserve, release);
    let (_, counted) = reserved.unwrap();
    assert_ne!(
        counted.len(),
        buckets.len(),
        "the full bucket refuses: {counted:?}"
    );
    let first: Option<i64> =
        sqlx::query_scalar("SELECT hits FROM guard_buckets WHERE key = 'test:first'")
            .fetch_optional(&mut watcher)
            .await
            .unwrap();
    assert_eq!(
        first, None,
        "the refused attempt counted in the first bucket"
    );
}

mod rl_02_a_refused_attempt_leaves_no_count_behind {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::rl_02_a_refused_attempt_leaves_no_count_behind(tessera_testkit::Engine::Postgres)
            .await
    }
}
