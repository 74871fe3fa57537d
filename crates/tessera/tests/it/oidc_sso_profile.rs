//! An app's profile step inside a live SSO session (red team round 7, R7-3). A customer signed in through
//! one app (A) opens another (B) whose client requires an attribute they lack: the session answers B only
//! after the profile step. Giving an attribute is no authentication, so the step keeps the session (SES-01
//! asks for a new id on an authentication, never on this): same `sid` in B's ID token, A's session-bound
//! tokens live on, and no back-channel logout is owed to A (SES-05: only a logout fires one). A real
//! re-authentication the request asks for (`prompt=login`, `max_age`) still replaces the session, and a
//! parked step is never attached to a session that is not the browser's current one of the same customer.
//! The outbox of logout notices is read directly, so "nothing was sent" needs no wait. SQLite and
//! PostgreSQL.
use serde_json::{Value, json};
use tessera_testkit::{Engine, TestServer, engine_tests};
use uuid::Uuid;

use crate::flows::{PASSWORD, sign_up};
use crate::oidc_attacks::jwt_part;
use crate::oidc_flow::{
    EMAIL, REDIRECT, absolute, auth_url, authorize, customer, issuer, location, param, query_of,
    redeem, register,
};
use crate::pages::{browser, csrf};

const BOB: &str = "bob@example.com";

/// A customer Ada, an attribute `company` customers may give (and `fax`), the app `shop` (A) that
/// refreshes and wants to hear of the session's end, and the apps `b2b` and `fax` (B) that require
/// `company` and `fax`. Returns Ada's id and the credentials of A, `b2b` and `fax`.
async fn setup(s: &TestServer) -> (String, Creds, Creds, Creds) {
    let sub = customer(s).await;
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
    // Nothing listens there: only the queue of notices is looked at, never a delivery.
    let shop = register(
        s,
        "shop",
        json!({"grant_types": ["authorization_code", "refresh_token"],
               "backchannel_logout_uri": "http://127.0.0.1:9/bcl/shop"}),
    )
    .await;
    let b2b = register(
        s,
        "b2b",
        json!({"name": "B2B", "required_attributes": ["company"]}),
    )
    .await;
    let fax = register(
        s,
        "fax",
        json!({"name": "Fax", "required_attributes": ["fax"]}),
    )
    .await;
    (sub, shop, b2b, fax)
}

/// A client's id and secret.
type Creds = (String, String);

/// Signs in through `shop` in browser `c` (the sign-in form when the browser's session does not answer)
/// and redeems the code: the token endpoint's answer.
async fn shop_tokens(s: &TestServer, c: &reqwest::Client, shop: &(String, String)) -> Value {
    let (url, verifier) = auth_url(s, &shop.0, &[]);
    let back = authorize(s, c, &url).await;
    let code = param(&query_of(&back), "code").expect(&back).to_owned();
    let (status, body) = redeem(s, (&shop.0, &shop.1), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn sid(tokens: &Value) -> String {
    jwt_part(tokens["id_token"].as_str().unwrap(), 1)["sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn refresh(s: &TestServer, client: &(String, String), token: &str) -> (u16, Value) {
    let r = s
        .http
        .post(format!("{}/oauth2/token", issuer(s)))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn userinfo(s: &TestServer, access: &str) -> u16 {
    s.http
        .get(format!("{}/oauth2/userinfo", issuer(s)))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Whether a back-channel logout is owed (or was sent) to any app about session `sid`: a notice of it
/// became due. A participation alone (the app got a code in the session) owes nothing.
async fn logout_owed(s: &TestServer, sid: &str) -> bool {
    s.tessera
        .oauth()
        .logout_notices(Uuid::parse_str(sid).unwrap())
        .await
        .unwrap()
        .iter()
        .any(|n| n.next_attempt_at.is_some() || n.attempts > 0)
}

/// Opens app `client`'s authorization request in `c`, whose session answers it only after the profile
/// step: returns the step's URL, its page and the PKCE verifier.
async fn profile_step(
    s: &TestServer,
    c: &reqwest::Client,
    client: &str,
    attribute: &str,
) -> (String, String, String) {
    let (url, verifier) = auth_url(s, client, &[]);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let step = absolute(s, &location(&r));
    assert!(step.contains("/flows/login/"), "{step}");
    let html = c.get(&step).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains(&format!("name=\"attributes.{attribute}\"")),
        "{html}"
    );
    assert!(!html.contains("name=\"password\""), "no password asked");
    (step, html, verifier)
}

/// Posts the profile step's form.
async fn give(
    c: &reqwest::Client,
    step: &str,
    html: &str,
    attribute: &str,
    value: &str,
) -> reqwest::Response {
    c.post(step.split('?').next().unwrap())
        .form(&[
            ("csrf_token", csrf(html).as_str()),
            (format!("attributes.{attribute}").as_str(), value),
        ])
        .send()
        .await
        .unwrap()
}

/// The names of the cookies a response sets.
fn cookies_set(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split('=').next().unwrap().to_owned())
        .collect()
}

/// Signs `email` in on the hosted sign-in page in browser `c` (replacing whatever session it held).
async fn hosted_sign_in(s: &TestServer, c: &reqwest::Client, email: &str) {
    let r = c
        .get(format!("{}/t/default/login", s.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = absolute(s, &location(&r));
    let html = c.get(&page).send().await.unwrap().text().await.unwrap();
    let r = c
        .post(&page)
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
    assert!(location(&r).ends_with("/t/default/settings"));
}

/// Signs out on the hosted settings page.
async fn hosted_sign_out(s: &TestServer, c: &reqwest::Client) {
    let r = c
        .get(format!("{}/t/default/settings", s.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = absolute(s, &location(&r));
    let html = c.get(&page).send().await.unwrap().text().await.unwrap();
    let r = c
        .post(&page)
        .form(&[("csrf_token", csrf(&html).as_str()), ("method", "sign_out")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success() || r.status() == 303);
}

async fn attributes(s: &TestServer, id: &str) -> Value {
    s.get(&format!("/admin/v1/tenants/default/identities/{id}"))
        .await
        .json["attributes"]
        .clone()
}

async fn event_count(s: &TestServer, kind: &str) -> usize {
    let events = s
        .get("/admin/v1/tenants/default/events?limit=1000")
        .await
        .json;
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .count()
}

async fn ses_01_a_profile_step_in_a_live_sso_session_keeps_the_session(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let (ada, shop, b2b, _) = setup(&s).await;
    let c = browser();
    let a = shop_tokens(&s, &c, &shop).await;
    let sid_a = sid(&a);
    // Sign-up and this sign-in opened sessions; nothing below may open or end one.
    let created = event_count(&s, "session.created").await;
    let revoked = event_count(&s, "session.revoked").await;
    // B asks for the company first; finishing the step goes back to B's stored request, setting no
    // cookie: the browser's session is the one it had.
    let (step, html, verifier) = profile_step(&s, &c, "b2b", "company").await;
    let r = give(&c, &step, &html, "company", "Difference Ltd").await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    assert!(
        cookies_set(&r).iter().all(|n| !n.contains("session")),
        "{:?}",
        cookies_set(&r)
    );
    let r = c.get(absolute(&s, &location(&r))).send().await.unwrap();
    let to = location(&r);
    let code = param(&query_of(&to), "code").expect(&to).to_owned();
    // B's code is of the same session.
    let (status, b) = redeem(&s, (&b2b.0, &b2b.1), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(sid(&b), sid_a, "B's sign-in is the same session");
    assert_eq!(attributes(&s, &ada).await["company"], "Difference Ltd");
    // A's session-bound tokens live on, and no logout is owed to A.
    assert_eq!(userinfo(&s, a["access_token"].as_str().unwrap()).await, 200);
    let (status, refreshed) = refresh(&s, &shop, a["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{refreshed}");
    assert!(
        !logout_owed(&s, &sid_a).await,
        "no back-channel logout to A"
    );
    assert_eq!(event_count(&s, "session.revoked").await, revoked);
    assert_eq!(event_count(&s, "session.created").await, created);
    // The session goes on answering A at once.
    let again = shop_tokens(&s, &c, &shop).await;
    assert_eq!(sid(&again), sid_a);
    // The step is recorded as done within the kept session, with the catalogue's fields only.
    let events = s
        .get("/admin/v1/tenants/default/events?limit=1000")
        .await
        .json;
    let items = events["items"].as_array().unwrap();
    crate::events::assert_events_match_the_catalogue(items);
    assert!(
        items.iter().any(|e| e["type"] == "flow.succeeded"
            && e["data"]["session"] == "kept"
            && e["data"]["session_id"] == sid_a.as_str()),
        "{events}"
    );
}

async fn ses_01_a_profile_step_after_a_real_reauthentication_still_replaces_the_session(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let (_, shop, b2b, fax) = setup(&s).await;
    let c = browser();
    // prompt=login: the customer signs in again, then gives the company; a new session replaces the old.
    let a = shop_tokens(&s, &c, &shop).await;
    let sid_b = reauthenticate_then_give(&s, &c, &b2b, &[("prompt", "login")], "company").await;
    assert_ne!(sid_b, sid(&a), "SES-01: a new session on re-authentication");
    let (status, _) = refresh(&s, &shop, a["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "the replaced session's refresh token is dead");
    assert!(logout_owed(&s, &sid(&a)).await, "A hears of the end");
    // max_age older than the sign-in: the same.
    let a = shop_tokens(&s, &c, &shop).await;
    assert_eq!(sid(&a), sid_b);
    s.clock.advance(std::time::Duration::from_secs(120));
    let sid_c = reauthenticate_then_give(&s, &c, &fax, &[("max_age", "60")], "fax").await;
    assert_ne!(sid_c, sid_b);
    let (status, _) = refresh(&s, &shop, a["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
    assert!(logout_owed(&s, &sid_b).await);
}

/// Opens `client`'s request with `extra` parameters and follows it through the sign-in form (password)
/// and the profile step for `attribute`; returns the `sid` of the ID token the code gives.
async fn reauthenticate_then_give(
    s: &TestServer,
    c: &reqwest::Client,
    client: &Creds,
    extra: &[(&str, &str)],
    attribute: &str,
) -> String {
    let (url, verifier) = auth_url(s, &client.0, extra);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let step = absolute(s, &location(&r));
    assert!(step.contains("/flows/login/"), "{step}");
    let html = c.get(&step).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("name=\"password\""), "a re-authentication");
    let r = c
        .post(step.split('?').next().unwrap())
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("identifier", EMAIL),
            ("password", PASSWORD),
            ("method", "password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the profile step follows");
    let html = r.text().await.unwrap();
    assert!(html.contains(&format!("name=\"attributes.{attribute}\"")));
    let r = give(c, &step, &html, attribute, "given").await;
    assert_eq!(r.status(), 303);
    assert!(
        cookies_set(&r).iter().any(|n| n.contains("session")),
        "a sign-in sets a new session cookie"
    );
    let r = c.get(absolute(s, &location(&r))).send().await.unwrap();
    let to = location(&r);
    let code = param(&query_of(&to), "code").expect(&to).to_owned();
    let (status, body) = redeem(s, (&client.0, &client.1), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{body}");
    sid(&body)
}

async fn ses_01_a_profile_step_is_never_attached_to_a_session_the_browser_no_longer_holds(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let (ada, shop, _, _) = setup(&s).await;
    sign_up(&s, BOB, json!({})).await;
    let bob = crate::codes::identity_id(&s, BOB).await;
    let c = browser();
    // Signed out meanwhile: the step signs nobody in and writes nothing.
    shop_tokens(&s, &c, &shop).await;
    let (step, html, _) = profile_step(&s, &c, "b2b", "company").await;
    hosted_sign_out(&s, &c).await;
    refused(&c, &step, &html).await;
    // Another customer signed in in this browser meanwhile: the old flow is Ada's, the session Bob's.
    hosted_sign_in(&s, &c, EMAIL).await;
    let (step, html, _) = profile_step(&s, &c, "b2b", "company").await;
    hosted_sign_in(&s, &c, BOB).await;
    refused(&c, &step, &html).await;
    // The same customer signed in again meanwhile: the flow was for the session that was replaced.
    hosted_sign_in(&s, &c, EMAIL).await;
    let (step, html, _) = profile_step(&s, &c, "b2b", "company").await;
    hosted_sign_in(&s, &c, EMAIL).await;
    refused(&c, &step, &html).await;
    for id in [&ada, &bob] {
        assert!(
            attributes(&s, id).await.get("company").is_none(),
            "nothing was written"
        );
    }
    assert_eq!(event_count(&s, "identity.attributes_collected").await, 0);
}

/// The parked step's submission is refused: the sign-in starts over (the password form, an error), no
/// cookie is set, and the step's own form is gone.
async fn refused(c: &reqwest::Client, step: &str, html: &str) {
    let r = give(c, step, html, "company", "Hijack plc").await;
    assert_eq!(r.status(), 400);
    assert!(cookies_set(&r).iter().all(|n| !n.contains("session")));
    let page = r.text().await.unwrap();
    assert!(page.contains("name=\"password\""), "{page}");
    assert!(!page.contains("name=\"attributes.company\""), "{page}");
}

engine_tests!(
    ses_01_a_profile_step_in_a_live_sso_session_keeps_the_session,
    ses_01_a_profile_step_after_a_real_reauthentication_still_replaces_the_session,
    ses_01_a_profile_step_is_never_attached_to_a_session_the_browser_no_longer_holds,
);
