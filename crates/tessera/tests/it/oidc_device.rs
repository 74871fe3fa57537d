//! The device authorization grant (RFC 8628): the device authorization endpoint (client authentication
//! as at the token endpoint, OA-12), the codes it hands out, the token endpoint's polling answers
//! (`authorization_pending`, `slow_down`, `access_denied`, `expired_token`) on the controllable clock,
//! the hosted device page end to end (code, sign-in, allow or deny, CSRF), one winner among concurrent
//! polls, and throttled user-code guesses (RL-03); the confirmation bound to the browser that typed the
//! code (R8-2), quotas on device authorizations (RL-06, R8-3), an app's required attributes (R8-4), an
//! unknown tenant's page (I-2) and back-channel logout for device tokens (OIDC-07); round 9: the decision
//! bound to the session the page was drawn for and the account named (R9-4, I-1), the client judged at
//! the poll (R9-6), no per-app quota for public apps (R9-1), and signed-in customers counted per account,
//! not against the tenant's guesses (R9-2). SQLite and PostgreSQL.
use std::time::Duration;

use serde_json::{Value, json};
use tessera_testkit::{Engine, TestServer, engine_tests};

use crate::flows::PASSWORD;
use crate::oidc_flow::{EMAIL, absolute, customer, issuer, location, register};
use crate::pages::{browser, csrf};

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
    let meta: Value = s
        .http
        .get(format!("{}/.well-known/openid-configuration", issuer(&s)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["device_authorization_endpoint"],
        format!("{}/oauth2/device_authorization", issuer(&s))
    );
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(DEVICE_GRANT))
    );
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
    // A third-party client: the confirmation page is no consent page, so not yet.
    let (third, third_secret) = register(
        &s,
        "partner-tv",
        json!({"grant_types": ["device_code"], "first_party": false}),
    )
    .await;
    let (status, body) = authorize_device(&s, (&third, &third_secret), Some("openid")).await;
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

/// Types `user_code` on the device page in browser `c`; the answer.
pub(crate) async fn type_code(
    s: &TestServer,
    c: &reqwest::Client,
    user_code: &str,
) -> reqwest::Response {
    let page = format!("{}/device", issuer(s));
    let r = c.get(&page).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    c.post(&page)
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("user_code", user_code),
        ])
        .send()
        .await
        .unwrap()
}

/// Signs in on the hosted form at `login`; returns where the sign-in sends the browser back to.
async fn sign_in_at(s: &TestServer, c: &reqwest::Client, login: &str) -> String {
    sign_in_as(s, c, login, EMAIL).await
}

/// Signs in as `email` on the hosted form at `login`; returns where the sign-in sends the browser.
async fn sign_in_as(s: &TestServer, c: &reqwest::Client, login: &str, email: &str) -> String {
    let page_url = absolute(s, login);
    let html = c.get(&page_url).send().await.unwrap().text().await.unwrap();
    let r = c
        .post(page_url.split('?').next().unwrap())
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("identifier", email),
            ("password", PASSWORD),
            ("method", "password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    absolute(s, &location(&r))
}

/// The value of the hidden field `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let k = format!("name=\"{name}\" value=\"");
    let i = html.find(&k).unwrap() + k.len();
    html[i..].split('"').next().unwrap().to_owned()
}

/// Decides on the confirmation page `html` in browser `c`; the answer.
async fn decide_r(
    s: &TestServer,
    c: &reqwest::Client,
    html: &str,
    decision: &str,
) -> reqwest::Response {
    c.post(format!("{}/device/confirm", issuer(s)))
        .form(&[
            ("csrf_token", csrf(html).as_str()),
            ("request", hidden(html, "request").as_str()),
            ("user_code", hidden(html, "user_code").as_str()),
            ("proof", hidden(html, "proof").as_str()),
            ("drawn_for", hidden(html, "drawn_for").as_str()),
            ("decision", decision),
        ])
        .send()
        .await
        .unwrap()
}

/// Decides on the confirmation page `html` in browser `c`; the answer's status and text.
pub(crate) async fn decide(
    s: &TestServer,
    c: &reqwest::Client,
    html: &str,
    decision: &str,
) -> (u16, String) {
    let r = decide_r(s, c, html, decision).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The claims of a JWT, unverified (the token endpoint's own answer, just received).
fn claims(jwt: &str) -> Value {
    use base64::Engine as _;
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn a_device_signs_a_customer_in_through_the_device_page(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.clock.freeze();
    let sub = customer(&s).await;
    let (id, secret) = device_client(&s, "tv").await;
    let client = (id.as_str(), secret.as_str());
    let (_, body) = authorize_device(&s, client, Some("openid email")).await;
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    let user_code = body["user_code"].as_str().unwrap().to_owned();
    // The complete URI prefills the form; the page is a hosted page with its CSP and no framing.
    let c = browser();
    let r = c
        .get(body["verification_uri_complete"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains(&format!("value=\"{user_code}\"")), "{html}");
    // Typed in lower case without the dash: the same code. Not signed in: to the hosted sign-in.
    let loose = user_code.replace('-', "").to_lowercase();
    let r = c
        .post(format!("{}/device", issuer(&s)))
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("user_code", loose.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let login = location(&r);
    assert!(login.contains("/flows/login/"), "{login}");
    let pending = poll(&s, client, &device_code).await;
    assert_eq!(error_of(&pending), "authorization_pending");
    // The sign-in comes back by the grant's id, to the confirmation naming the app.
    let back = sign_in_at(&s, &c, &login).await;
    assert!(
        back.contains("/t/default/device/confirm?request="),
        "{back}"
    );
    let r = c.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Sign in to Living Room TV on your other device?"),
        "{html}"
    );
    // A decision without this browser's token changes nothing.
    let forged = html.replace(&csrf(&html), "forged");
    let (status, _) = decide(&s, &c, &forged, "allow").await;
    assert_eq!(status, 403);
    s.clock.advance(Duration::from_secs(5));
    assert_eq!(
        error_of(&poll(&s, client, &device_code).await),
        "authorization_pending"
    );
    let (status, text) = decide(&s, &c, &html, "allow").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Your device is signed in"), "{text}");
    // Decided once: the form again is gone.
    let (status, _) = decide(&s, &c, &html, "deny").await;
    assert_eq!(status, 400);
    s.clock.advance(Duration::from_secs(5));
    let (status, tokens) = poll(&s, client, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid email");
    assert!(tokens["refresh_token"].is_string());
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["sub"], sub.as_str());
    assert_eq!(id_token["aud"], "tv");
    assert_eq!(id_token["iss"], issuer(&s));
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["sub"], sub.as_str());
    // Tokens exactly once.
    s.clock.advance(Duration::from_secs(5));
    assert_eq!(
        error_of(&poll(&s, client, &device_code).await),
        "invalid_grant"
    );
    // The user code is spent: typing it again is an unknown code.
    let r = type_code(&s, &c, &user_code).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("This code is not valid"));
}

async fn device_a_denied_request_is_access_denied(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.clock.freeze();
    customer(&s).await;
    let (id, secret) = device_client(&s, "tv").await;
    let client = (id.as_str(), secret.as_str());
    let c = browser();
    // Signed in first, on the hosted sign-in page.
    let r = c.get(format!("{}/login", issuer(&s))).send().await.unwrap();
    sign_in_at(&s, &c, &location(&r)).await;
    let (_, body) = authorize_device(&s, client, None).await;
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    // With a session, the code leads straight to the confirmation.
    let r = type_code(&s, &c, body["user_code"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Living Room TV"), "{html}");
    let (status, text) = decide(&s, &c, &html, "deny").await;
    assert_eq!(status, 200, "{text}");
    let denied = poll(&s, client, &device_code).await;
    assert_eq!((denied.0, error_of(&denied)), (400, "access_denied"));
    let events = s
        .get("/admin/v1/tenants/default/events?type=oauth.device_decided")
        .await;
    let items = events.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{events:?}");
    assert_eq!(items[0]["data"]["decision"], "denied");
    assert_eq!(items[0]["data"]["client_id"], "tv");
    let all = s.get("/admin/v1/tenants/default/events?limit=1000").await;
    crate::events::assert_events_match_the_catalogue(all.json["items"].as_array().unwrap());
    // A confirmation left open past the grant's ten minutes decides nothing.
    let (_, body) = authorize_device(&s, client, None).await;
    let late_code = body["device_code"].as_str().unwrap().to_owned();
    let r = type_code(&s, &c, body["user_code"].as_str().unwrap()).await;
    let html = r.text().await.unwrap();
    s.clock.advance(Duration::from_secs(601));
    let (status, text) = decide(&s, &c, &html, "allow").await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("no longer valid"), "{text}");
    assert_eq!(
        error_of(&poll(&s, client, &late_code).await),
        "expired_token"
    );
    // A browser without a session cannot decide.
    let (_, body) = authorize_device(&s, client, None).await;
    let r = type_code(&s, &c, body["user_code"].as_str().unwrap()).await;
    let html = r.text().await.unwrap();
    let stranger = browser();
    let (status, _) = decide(&s, &stranger, &html, "allow").await;
    assert_eq!(status, 403, "no binding cookie, no session");
}

async fn device_concurrent_polls_of_an_approved_request_have_one_winner(engine: Engine) {
    // Twelve polls at once queue for the pool's connections; on a loaded test machine that queue can
    // outlast the test kit's 1.5 s wait for a connection and answer 503 (the designed overload answer,
    // not a redemption failure), so the wait is raised: one winner, the rest invalid_grant, never a 5xx.
    let Some(s) = TestServer::start_with(engine, |env| {
        env.insert("TESSERA_DB_ACQUIRE_TIMEOUT_MS".into(), "20000".into());
    })
    .await
    else {
        return;
    };
    s.clock.freeze();
    customer(&s).await;
    let (id, secret) = device_client(&s, "tv").await;
    let client = (id.as_str(), secret.as_str());
    let c = browser();
    let r = c.get(format!("{}/login", issuer(&s))).send().await.unwrap();
    sign_in_at(&s, &c, &location(&r)).await;
    let (_, body) = authorize_device(&s, client, Some("openid")).await;
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    let r = type_code(&s, &c, body["user_code"].as_str().unwrap()).await;
    let html = r.text().await.unwrap();
    assert_eq!(decide(&s, &c, &html, "allow").await.0, 200);
    let polls: Vec<_> = (0..12).map(|_| poll(&s, client, &device_code)).collect();
    let answers = futures::future::join_all(polls).await;
    let won = answers.iter().filter(|a| a.0 == 200).count();
    assert_eq!(won, 1, "{answers:?}");
    for a in answers.iter().filter(|a| a.0 != 200) {
        assert_eq!((a.0, error_of(a)), (400, "invalid_grant"), "{a:?}");
    }
}

async fn rl_03_user_code_guesses_are_throttled_per_address(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.clock.freeze();
    customer(&s).await;
    let (id, secret) = device_client(&s, "tv").await;
    let (_, body) = authorize_device(&s, (&id, &secret), None).await;
    let user_code = body["user_code"].as_str().unwrap().to_owned();
    let wrong = if user_code == "BBBB-BBBB" {
        "CCCC-CCCC"
    } else {
        "BBBB-BBBB"
    };
    let c = browser();
    // Ten wrong codes are answered as wrong, one by one.
    for _ in 0..10 {
        let r = type_code(&s, &c, wrong).await;
        assert_eq!(r.status(), 400);
    }
    // Then the address is held back, before any code is looked at: the right one too.
    let r = type_code(&s, &c, wrong).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let r = type_code(&s, &c, &user_code).await;
    assert_eq!(r.status(), 429, "the right code is held back as well");
    // A form without the page's token is refused before anything is counted or looked up.
    let r = c
        .post(format!("{}/device", issuer(&s)))
        .form(&[("csrf_token", "forged"), ("user_code", user_code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Once the delay has passed the right code goes through (to the sign-in: no session here).
    s.clock.advance(Duration::from_secs(3600));
    let (_, body) = authorize_device(&s, (&id, &secret), None).await;
    let r = type_code(&s, &c, body["user_code"].as_str().unwrap()).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).contains("/flows/login/"));
}

async fn rl_03_right_codes_never_use_up_the_tenants_guess_quota(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.clock.freeze();
    customer(&s).await;
    let (id, secret) = device_client(&s, "tv").await;
    let (_, body) = authorize_device(&s, (&id, &secret), None).await;
    let user_code = body["user_code"].as_str().unwrap().to_owned();
    let c = browser();
    let r = type_code(&s, &c, &user_code).await;
    sign_in_at(&s, &c, &location(&r)).await;
    // Signed in, more right codes than the tenant's whole quota of guesses: each gives its hit back,
    // so nobody closes the page for the tenant by typing their own code over and over (R8-1).
    for i in 0..1_005 {
        let r = type_code(&s, &c, &user_code).await;
        assert!(
            r.status() == 200 || r.status() == 303,
            "right code number {i}: {}",
            r.status()
        );
    }
}

async fn device_an_approval_judges_the_client_as_it_is_now(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.clock.freeze();
    customer(&s).await;
    let (id, secret) = device_client(&s, "tv").await;
    let (_, body) = authorize_device(&s, (&id, &secret), None).await;
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    let c = browser();
    let r = type_code(&s, &c, body["user_code"].as_str().unwrap()).await;
    let back = sign_in_at(&s, &c, &location(&r)).await;
    let html = c.get(&back).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Living Room TV"), "{html}");
    // While the page is open, the admin makes the app third-party: it would need consent now (R8-5).
    let r = s
        .put(
            &format!("{}/tv", crate::oidc_flow::CLIENTS),
            json!({"name": "Living Room TV", "first_party": false,
                   "redirect_uris": [crate::oidc_flow::REDIRECT],
                   "grant_types": ["device_code", "refresh_token"], "scopes": ["openid"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let (_, text) = decide(&s, &c, &html, "allow").await;
    assert!(
        !text.contains("You can go back to your device now"),
        "{text}"
    );
    let answer = poll(&s, (&id, &secret), &device_code).await;
    assert_ne!(answer.0, 200, "no tokens: {:?}", answer.1);
}

/// The confirmation URL a sign-in sends browser `c` back to after it typed `user_code` (no session).
async fn typed_and_signed_in(s: &TestServer, c: &reqwest::Client, user_code: &str) -> String {
    let r = type_code(s, c, user_code).await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    sign_in_at(s, c, &location(&r)).await
}

/// A browser signed in on the hosted sign-in page.
pub(crate) async fn signed_in_browser(s: &TestServer) -> reqwest::Client {
    let c = browser();
    let r = c.get(format!("{}/login", issuer(s))).send().await.unwrap();
    sign_in_at(s, &c, &location(&r)).await;
    c
}

async fn device_the_confirmation_opens_only_in_the_browser_that_typed_the_code(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.clock.freeze();
    customer(&s).await;
    let (id, secret) = device_client(&s, "tv").await;
    let client = (id.as_str(), secret.as_str());
    let (_, body) = authorize_device(&s, client, Some("openid")).await;
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    let user_code = body["user_code"].as_str().unwrap().to_owned();
    // The attacker types his own device's code and signs in, but stops at the way back (R8-2).
    let attacker = browser();
    let back = typed_and_signed_in(&s, &attacker, &user_code).await;
    assert!(back.contains("/device/confirm?request="), "{back}");
    let grant = back
        .split("request=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    // He sends the link to a signed-in victim, and to one who is signed out: neither sees an Allow
    // button, only the advice to type the code on the device page (no sign-in detour either).
    let victim = signed_in_browser(&s).await;
    for (who, c) in [("signed in", &victim), ("signed out", &browser())] {
        let r = c.get(&back).send().await.unwrap();
        assert_eq!(r.status(), 400, "{who}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("Type the code from your device"),
            "{who}: {html}"
        );
        assert!(!html.contains("name=\"decision\""), "{who}: {html}");
        assert!(!html.contains("Living Room TV"), "{who}: {html}");
        assert!(
            html.contains("/t/default/device"),
            "{who}: a link to the device page"
        );
    }
    // The bare id (the link before the fix), and the attacker's proof with another code shown, too.
    let bare = format!("{}/device/confirm?request={grant}", issuer(&s));
    let other = if user_code == "BBBB-BBBB" {
        "CCCC-CCCC"
    } else {
        "BBBB-BBBB"
    };
    let swapped = back.replace(
        &format!("user_code={user_code}"),
        &format!("user_code={other}"),
    );
    assert_ne!(swapped, back);
    for url in [&bare, &swapped] {
        let r = victim.get(url).send().await.unwrap();
        assert_eq!(r.status(), 400, "{url}");
        let html = r.text().await.unwrap();
        assert!(html.contains("Type the code from your device"), "{html}");
    }
    let r = attacker.get(&swapped).send().await.unwrap();
    assert_eq!(r.status(), 400, "a proof names its code");
    // The attacker's own confirmation form, posted from the victim's browser: refused.
    let html = attacker
        .get(&back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (status, _) = decide(&s, &victim, &html, "allow").await;
    assert_eq!(status, 403);
    assert_eq!(
        error_of(&poll(&s, client, &device_code).await),
        "authorization_pending"
    );
    // The browser that typed the code sees the app and the code to compare with the device's screen.
    let r = attacker.get(&back).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Sign in to Living Room TV on your other device?"),
        "{html}"
    );
    assert!(html.contains(&user_code), "the code is shown: {html}");
    // A browser with a session that types the code goes straight to the confirmation, code shown.
    let (_, body) = authorize_device(&s, client, Some("openid")).await;
    let second = body["user_code"].as_str().unwrap().to_owned();
    let r = type_code(&s, &victim, &second).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains(&second), "{html}");
    assert!(html.contains("Living Room TV"), "{html}");
    let (status, text) = decide(&s, &victim, &html, "allow").await;
    assert_eq!(status, 200, "{text}");
}

/// Asks for a device authorization as if from `ip` (the loopback proxy is trusted in this test).
async fn authorize_from(s: &TestServer, client: (&str, &str), ip: &str) -> reqwest::Response {
    s.http
        .post(format!("{}/oauth2/device_authorization", issuer(s)))
        .basic_auth(client.0, Some(client.1))
        .header("x-forwarded-for", ip)
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap()
}

async fn rl_06_device_authorizations_have_a_quota_per_address_and_per_client(engine: Engine) {
    let Some(s) = TestServer::start_with(engine, |env| {
        env.insert("TESSERA_TRUSTED_PROXIES".into(), "127.0.0.1, ::1".into());
        env.insert(
            "TESSERA_QUOTA_DEVICE_AUTHORIZATIONS_PER_ADDRESS".into(),
            "3".into(),
        );
        env.insert(
            "TESSERA_QUOTA_DEVICE_AUTHORIZATIONS_PER_APP".into(),
            "5".into(),
        );
    })
    .await
    else {
        return;
    };
    s.clock.freeze();
    let (id, secret) = device_client(&s, "tv").await;
    let tv = (id.as_str(), secret.as_str());
    let (id2, secret2) = device_client(&s, "tv2").await;
    let tv2 = (id2.as_str(), secret2.as_str());
    let refused = |what: &'static str| {
        move |r: (u16, Option<String>, Value)| {
            assert_eq!(r.0, 429, "{what}: {:?}", r.2);
            assert_eq!(r.2["error"], "temporarily_unavailable", "{what}");
            assert!(r.2.get("device_code").is_none(), "{what}");
            assert!(
                r.1.as_deref()
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v >= 1),
                "{what}: Retry-After {:?}",
                r.1
            );
        }
    };
    let answer = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (
            status,
            retry,
            r.json::<Value>().await.unwrap_or(Value::Null),
        )
    };
    // Three from one address, then that address waits (R8-3).
    for _ in 0..3 {
        assert_eq!(authorize_from(&s, tv, "203.0.113.1").await.status(), 200);
    }
    refused("per address")(answer(authorize_from(&s, tv, "203.0.113.1").await).await);
    // Another address may ask until the app's five in ten minutes are used up, from everywhere.
    for _ in 0..2 {
        assert_eq!(authorize_from(&s, tv, "203.0.113.2").await.status(), 200);
    }
    refused("per app")(answer(authorize_from(&s, tv, "203.0.113.3").await).await);
    // Another app from a fresh address is not held back by the first app's quota.
    assert_eq!(authorize_from(&s, tv2, "203.0.113.4").await.status(), 200);
    // Once the window has passed, the first address asks again.
    s.clock.advance(Duration::from_secs(601));
    assert_eq!(authorize_from(&s, tv, "203.0.113.1").await.status(), 200);
}

async fn device_an_apps_required_attributes_are_asked_for_before_the_confirmation(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.clock.freeze();
    let sub = customer(&s).await;
    let schema = json!({"attributes": [
        {"name": "given_name", "type": "string"},
        {"name": "family_name", "type": "string"},
        {"name": "company", "type": "string", "customer_editable": true},
        {"name": "fax", "type": "string", "customer_editable": true}
    ]});
    assert_eq!(
        s.put("/admin/v1/tenants/default/attribute-schema", schema)
            .await
            .status,
        200
    );
    let (id, secret) = register(
        &s,
        "tv",
        json!({"grant_types": ["device_code"], "name": "Living Room TV",
               "required_attributes": ["company"]}),
    )
    .await;
    let (id2, secret2) = register(
        &s,
        "fax-tv",
        json!({"grant_types": ["device_code"], "name": "Fax TV",
               "required_attributes": ["fax"]}),
    )
    .await;
    /// Fills the profile step `html` (its form posts to `at`) with `field`; where it sends the browser.
    async fn fill(
        s: &TestServer,
        c: &reqwest::Client,
        at: &str,
        html: &str,
        field: &str,
    ) -> String {
        assert!(
            html.contains(&format!("name=\"attributes.{field}\"")),
            "{html}"
        );
        assert!(
            !html.contains("name=\"decision\""),
            "no Allow before the profile: {html}"
        );
        let r = c
            .post(at.split('?').next().unwrap())
            .form(&[
                ("csrf_token", csrf(html).as_str()),
                (format!("attributes.{field}").as_str(), "Analytical Engines"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{:?}", r.text().await);
        absolute(s, &location(&r))
    }
    // Not signed in: the sign-in stops at the profile step before coming back (R8-4).
    let (_, body) = authorize_device(&s, (&id, &secret), Some("openid")).await;
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    let c = browser();
    let r = type_code(&s, &c, body["user_code"].as_str().unwrap()).await;
    let login = absolute(&s, &location(&r));
    let html = c.get(&login).send().await.unwrap().text().await.unwrap();
    let r = c
        .post(login.split('?').next().unwrap())
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("identifier", EMAIL),
            ("password", PASSWORD),
            ("method", "password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the sign-in stays for the profile step");
    let html = r.text().await.unwrap();
    let back = fill(&s, &c, &login, &html, "company").await;
    assert!(back.contains("/device/confirm?request="), "{back}");
    let html = c.get(&back).send().await.unwrap().text().await.unwrap();
    assert_eq!(decide(&s, &c, &html, "allow").await.0, 200);
    let (status, tokens) = poll(&s, (&id, &secret), &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    // Signed in already (SSO), for an app that needs another detail: the profile step first too.
    let (_, body) = authorize_device(&s, (&id2, &secret2), Some("openid")).await;
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    let r = type_code(&s, &c, body["user_code"].as_str().unwrap()).await;
    assert_eq!(r.status(), 303, "to the profile step, not the confirmation");
    let profile = absolute(&s, &location(&r));
    assert!(profile.contains("/flows/login/"), "{profile}");
    assert_eq!(
        error_of(&poll(&s, (&id2, &secret2), &device_code).await),
        "authorization_pending"
    );
    let html = c.get(&profile).send().await.unwrap().text().await.unwrap();
    let back = fill(&s, &c, &profile, &html, "fax").await;
    let html = c.get(&back).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Fax TV"), "{html}");
    assert_eq!(decide(&s, &c, &html, "allow").await.0, 200);
    s.clock.advance(Duration::from_secs(5));
    let (status, tokens) = poll(&s, (&id2, &secret2), &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    let stored = s
        .get(&format!("/admin/v1/tenants/default/identities/{sub}"))
        .await;
    assert_eq!(stored.json["attributes"]["company"], "Analytical Engines");
    assert_eq!(stored.json["attributes"]["fax"], "Analytical Engines");
    // Given once: the next device of the app goes straight to the confirmation.
    let (_, body) = authorize_device(&s, (&id, &secret), Some("openid")).await;
    let r = type_code(&s, &c, body["user_code"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
}

async fn device_an_unknown_tenants_device_page_is_not_found(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    for path in ["/t/nowhere/device", "/t/nowhere/device?user_code=BCDF-GHJK"] {
        let r = s
            .http
            .get(format!("{}{path}", s.public))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(
            r.headers().get("set-cookie").is_none(),
            "{path}: no binding cookie"
        );
        let html = r.text().await.unwrap();
        assert!(!html.contains("name=\"user_code\""), "{path}: {html}");
    }
    let r = s
        .http
        .get(format!(
            "{}/t/nowhere/device/confirm?request=01a25086-f10e-76c7-a383-d7d0a483fa93",
            s.public
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

async fn oidc_07_a_device_grants_app_hears_when_the_approving_session_ends(engine: Engine) {
    let Some(s) = crate::oidc_logout::server(engine, true).await else {
        return;
    };
    let sub = customer(&s).await;
    let rx = crate::oidc_logout::Receiver::start(axum::http::StatusCode::NO_CONTENT).await;
    let (id, secret) = register(
        &s,
        "tv",
        json!({"grant_types": ["device_code"], "name": "Living Room TV", "signing_alg": "ES256",
               "backchannel_logout_uri": format!("{}/bcl", rx.base)}),
    )
    .await;
    let c = signed_in_browser(&s).await;
    let (_, body) = authorize_device(&s, (&id, &secret), Some("openid")).await;
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    let r = type_code(&s, &c, body["user_code"].as_str().unwrap()).await;
    let html = r.text().await.unwrap();
    assert_eq!(decide(&s, &c, &html, "allow").await.0, 200);
    let (status, tokens) = poll(&s, (&id, &secret), &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    let sid = claims(tokens["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    // The session that approved ends: the device's app gets a logout token for it.
    let r = s
        .delete(&format!(
            "/admin/v1/tenants/default/identities/{sub}/sessions"
        ))
        .await;
    assert!(r.status < 300, "{r:?}");
    rx.wait_for(1).await;
    let token = rx.token(0, "/bcl");
    crate::oidc_logout::check_logout_token(&s, &token, "tv", &sub, &sid).await;
}

/// Signs browser `c` in again as `email` (a code flow with `prompt=login` for app `shop`, registered
/// by the caller): the new sign-in replaces the browser's session.
async fn switch_account(s: &TestServer, c: &reqwest::Client, email: &str) {
    let (url, _) = crate::oidc_flow::auth_url(s, "shop", &[("prompt", "login")]);
    let r = c.get(&url).send().await.unwrap();
    let login = location(&r);
    assert!(login.contains("/flows/login/"), "{login}");
    let back = sign_in_as(s, c, &login, email).await;
    let r = c.get(&back).send().await.unwrap();
    assert!(
        location(&r).starts_with(crate::oidc_flow::REDIRECT),
        "{}",
        location(&r)
    );
}

async fn con_01_a_device_decision_counts_only_for_the_session_it_was_shown_to(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.clock.freeze();
    let ada = customer(&s).await;
    let schema = json!({"attributes": [
        {"name": "given_name", "type": "string"},
        {"name": "family_name", "type": "string"},
        {"name": "company", "type": "string", "customer_editable": true}
    ]});
    assert_eq!(
        s.put("/admin/v1/tenants/default/attribute-schema", schema)
            .await
            .status,
        200
    );
    let r = s
        .patch(
            &format!("/admin/v1/tenants/default/identities/{ada}"),
            json!({"attributes": {"company": "Analytical Engines"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    const BOB: &str = "bob@example.com";
    crate::flows::sign_up(&s, BOB, json!({})).await;
    register(&s, "shop", json!({})).await;
    let (id, secret) = register(
        &s,
        "tv",
        json!({"grant_types": ["device_code", "refresh_token"], "name": "Living Room TV",
               "scopes": ["openid", "offline_access"]}),
    )
    .await;
    let tv = (id.as_str(), secret.as_str());
    let (pid, psecret) = register(
        &s,
        "prof",
        json!({"grant_types": ["device_code"], "name": "Profiler TV",
               "required_attributes": ["company"]}),
    )
    .await;
    let prof = (pid.as_str(), psecret.as_str());
    let c = signed_in_browser(&s).await;

    // The page names the account and what the app may do (I-1), in English and German.
    let (_, body) = authorize_device(&s, tv, Some("openid offline_access")).await;
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    let r = type_code(&s, &c, body["user_code"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("You are signed in as ada@example.com"),
        "{html}"
    );
    assert!(
        html.contains("keep access while you are signed out"),
        "{html}"
    );
    assert!(
        html.contains("know who you are when you sign in to it"),
        "{html}"
    );
    let back = format!(
        "{}/device/confirm?request={}&user_code={}&proof={}&ui_locales=de",
        issuer(&s),
        hidden(&html, "request"),
        hidden(&html, "user_code"),
        hidden(&html, "proof")
    );
    let de = c.get(&back).send().await.unwrap().text().await.unwrap();
    assert!(
        de.contains("Sie sind als ada@example.com angemeldet"),
        "{de}"
    );
    assert!(de.contains("Zugriff behalten"), "{de}");

    // The browser switches to Bob before Allow on Ada's page (R9-4): nothing is decided, and the
    // page is drawn again for Bob, with a token for his session.
    switch_account(&s, &c, BOB).await;
    let (status, again) = decide(&s, &c, &html, "allow").await;
    assert_eq!(status, 200, "{again}");
    assert!(!again.contains("Your device is signed in"), "{again}");
    assert!(
        again.contains("You are signed in as bob@example.com"),
        "{again}"
    );
    assert_ne!(hidden(&again, "drawn_for"), hidden(&html, "drawn_for"));
    assert_eq!(
        error_of(&poll(&s, tv, &device_code).await),
        "authorization_pending"
    );
    // Deny on the old page decides nothing either.
    let (status, text) = decide(&s, &c, &html, "deny").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("bob@example.com"), "{text}");
    s.clock.advance(Duration::from_secs(5));
    assert_eq!(
        error_of(&poll(&s, tv, &device_code).await),
        "authorization_pending"
    );
    // Bob's own page approves as Bob.
    let (status, text) = decide(&s, &c, &again, "allow").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Your device is signed in"), "{text}");
    s.clock.advance(Duration::from_secs(5));
    let (status, tokens) = poll(&s, tv, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    let bob = crate::codes::identity_id(&s, BOB).await;
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["sub"],
        bob.as_str()
    );

    // An app that requires a detail: Ada's page, then Bob (who lacks it) signs in and posts Allow.
    // The page is drawn again for Bob: his profile step first, no approval.
    switch_account(&s, &c, EMAIL).await;
    let (_, body) = authorize_device(&s, prof, Some("openid")).await;
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    let r = type_code(&s, &c, body["user_code"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("ada@example.com"), "{html}");
    switch_account(&s, &c, BOB).await;
    let r = decide_r(&s, &c, &html, "allow").await;
    assert_eq!(r.status(), 303, "to Bob's profile step");
    assert!(location(&r).contains("/flows/login/"), "{}", location(&r));
    let step = c
        .get(absolute(&s, &location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(step.contains("name=\"attributes.company\""), "{step}");
    assert_eq!(
        error_of(&poll(&s, prof, &device_code).await),
        "authorization_pending"
    );

    // Signed out after the page was drawn (I-2): a page that says to sign in again and type the
    // code, with a link to the device page; nothing decided.
    let (_, body) = authorize_device(&s, tv, Some("openid")).await;
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    let r = type_code(&s, &c, body["user_code"].as_str().unwrap()).await;
    let html = r.text().await.unwrap();
    let r = s
        .delete(&format!(
            "/admin/v1/tenants/default/identities/{bob}/sessions"
        ))
        .await;
    assert!(r.status < 300, "{r:?}");
    for decision in ["allow", "deny"] {
        let (status, text) = decide(&s, &c, &html, decision).await;
        assert_eq!(status, 401, "{text}");
        assert!(text.contains("You are no longer signed in"), "{text}");
        assert!(text.contains("/t/default/device"), "{text}");
        assert!(!text.contains("Something went wrong"), "{text}");
    }
    assert_eq!(
        error_of(&poll(&s, tv, &device_code).await),
        "authorization_pending"
    );
    // The same form from a browser that did not type the code is still refused outright.
    let other = signed_in_browser(&s).await;
    let (status, _) = decide(&s, &other, &html, "allow").await;
    assert_eq!(status, 403);
}

async fn con_01_a_device_app_made_third_party_after_the_approval_gets_no_tokens(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.clock.freeze();
    customer(&s).await;
    let (id, secret) = register(
        &s,
        "tv",
        json!({"grant_types": ["device_code", "refresh_token"], "name": "Living Room TV",
               "scopes": ["openid", "offline_access"]}),
    )
    .await;
    let tv = (id.as_str(), secret.as_str());
    let (_, body) = authorize_device(&s, tv, Some("openid offline_access")).await;
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    let c = signed_in_browser(&s).await;
    let r = type_code(&s, &c, body["user_code"].as_str().unwrap()).await;
    let html = r.text().await.unwrap();
    let (status, text) = decide(&s, &c, &html, "allow").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Your device is signed in"), "{text}");
    // Between the Allow and the device's next poll the admin makes the app third-party (R9-6).
    let r = s
        .put(
            &format!("{}/tv", crate::oidc_flow::CLIENTS),
            json!({"name": "Living Room TV", "first_party": false,
                   "redirect_uris": [crate::oidc_flow::REDIRECT],
                   "grant_types": ["device_code", "refresh_token"],
                   "scopes": ["openid", "offline_access"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let answer = poll(&s, tv, &device_code).await;
    assert_eq!(
        (answer.0, error_of(&answer)),
        (400, "access_denied"),
        "{answer:?}"
    );
    assert!(answer.1.get("access_token").is_none(), "{answer:?}");
    assert!(answer.1.get("refresh_token").is_none(), "{answer:?}");
}

async fn rl_02_strangers_cannot_use_up_a_public_device_apps_authorizations(engine: Engine) {
    let Some(s) = TestServer::start_with(engine, |env| {
        env.insert("TESSERA_TRUSTED_PROXIES".into(), "127.0.0.1, ::1".into());
        env.insert(
            "TESSERA_QUOTA_DEVICE_AUTHORIZATIONS_PER_ADDRESS".into(),
            "3".into(),
        );
        env.insert(
            "TESSERA_QUOTA_DEVICE_AUTHORIZATIONS_PER_APP".into(),
            "5".into(),
        );
    })
    .await
    else {
        return;
    };
    s.clock.freeze();
    let (cli, _) = register(
        &s,
        "cli",
        json!({"kind": "public", "grant_types": ["device_code"], "name": "Public CLI"}),
    )
    .await;
    let ask = |ip: &'static str| {
        let s = &s;
        let cli = cli.clone();
        async move {
            s.http
                .post(format!("{}/oauth2/device_authorization", issuer(s)))
                .header("x-forwarded-for", ip)
                .form(&[("client_id", cli.as_str()), ("scope", "openid")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Strangers on three addresses spend their own quotas: nine, more than the per-app five (R9-1).
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        for _ in 0..3 {
            assert_eq!(ask(ip).await, 200, "{ip}");
        }
        assert_eq!(ask(ip).await, 429, "{ip}: the address is still braked");
    }
    // A real customer's device on a fresh address is not refused by their use.
    assert_eq!(ask("198.51.100.7").await, 200);
}

async fn rl_02_wrong_user_codes_from_many_addresses_do_not_lock_out_a_signed_in_customer(
    engine: Engine,
) {
    let Some(s) = TestServer::start_with(engine, |env| {
        env.insert("TESSERA_TRUSTED_PROXIES".into(), "127.0.0.1, ::1".into());
    })
    .await
    else {
        return;
    };
    s.clock.freeze();
    customer(&s).await;
    let (id, secret) = device_client(&s, "tv").await;
    let tv = (id.as_str(), secret.as_str());
    let (_, body) = authorize_device(&s, tv, Some("openid")).await;
    let user_code = body["user_code"].as_str().unwrap().to_owned();
    let wrong = if user_code == "BBBB-BBBB" {
        "CCCC-CCCC"
    } else {
        "BBBB-BBBB"
    };
    let page = format!("{}/device", issuer(&s));
    let post = |c: &reqwest::Client, token: &str, ip: String, code: &str| {
        c.post(&page)
            .header("x-forwarded-for", ip)
            .form(&[("csrf_token", token), ("user_code", code)])
            .send()
    };
    // Strangers on 100 addresses type 10 wrong codes each: the tenant's 1000 anonymous guesses (R9-2).
    let attacker = browser();
    let html = attacker
        .get(&page)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf(&html);
    for a in 1..=100 {
        for _ in 0..10 {
            let r = post(&attacker, &token, format!("198.51.{a}.1"), wrong)
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "address {a}");
        }
    }
    // An anonymous browser on a fresh address, with the right code: held back, and told to sign in
    // first, with a sign-in that comes back to the device page.
    let c = browser();
    let html = c.get(&page).send().await.unwrap().text().await.unwrap();
    let r = post(&c, &csrf(&html), "192.0.2.77".into(), &user_code)
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let text = r.text().await.unwrap();
    assert!(text.contains("Sign in first"), "{text}");
    let link = "/t/default/login?return_to=/t/default/device";
    assert!(text.contains(link), "{text}");
    let r = c.get(absolute(&s, link)).send().await.unwrap();
    let back = sign_in_at(&s, &c, &location(&r)).await;
    assert!(back.ends_with("/t/default/device"), "{back}");
    // Signed in, the same right code is counted for the account, not the tenant: the confirmation.
    let html = c.get(&page).send().await.unwrap().text().await.unwrap();
    let r = post(&c, &csrf(&html), "192.0.2.77".into(), &user_code)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Living Room TV"), "{html}");
    // A signed-in customer's own wrong codes are slowed per account, wherever they come from.
    let html = c.get(&page).send().await.unwrap().text().await.unwrap();
    let token = csrf(&html);
    for i in 0..10 {
        let r = post(&c, &token, format!("192.0.2.{}", 100 + i), wrong)
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "wrong code {i}");
    }
    let r = post(&c, &token, "192.0.2.200".into(), wrong).await.unwrap();
    assert_eq!(r.status(), 429, "the account's own allowance is spent");
}

engine_tests!(
    con_01_a_device_decision_counts_only_for_the_session_it_was_shown_to,
    con_01_a_device_app_made_third_party_after_the_approval_gets_no_tokens,
    rl_02_strangers_cannot_use_up_a_public_device_apps_authorizations,
    rl_02_wrong_user_codes_from_many_addresses_do_not_lock_out_a_signed_in_customer,
    device_the_confirmation_opens_only_in_the_browser_that_typed_the_code,
    rl_06_device_authorizations_have_a_quota_per_address_and_per_client,
    device_an_apps_required_attributes_are_asked_for_before_the_confirmation,
    device_an_unknown_tenants_device_page_is_not_found,
    oidc_07_a_device_grants_app_hears_when_the_approving_session_ends,
    device_an_approval_judges_the_client_as_it_is_now,
    rl_03_right_codes_never_use_up_the_tenants_guess_quota,
    oa_12_the_device_authorization_endpoint_authenticates_the_client_and_answers_the_codes,
    device_polls_are_pending_then_slow_down_then_expired_token,
    a_device_signs_a_customer_in_through_the_device_page,
    device_a_denied_request_is_access_denied,
    device_concurrent_polls_of_an_approved_request_have_one_winner,
    rl_03_user_code_guesses_are_throttled_per_address,
);
