//! Consent and progressive profiling per client, as a browser and an app see them: a third-party app's
//! consent page bound to its request and browser (CON-01, WEB-02), Allow, Deny, `prompt=none`, a
//! remembered consent and a new scope, withdrawing a consent in the settings and through the admin API
//! (CON-02), and a client's `required_attributes` asked for during its sign-in, with the `openidconnect`
//! crate as the relying party. SQLite and PostgreSQL.
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    RedirectUrl, Scope, TokenResponse,
};
use serde_json::{Value, json};
use tessera_testkit::{Engine, TestServer, engine_tests};

use crate::oidc_flow::{
    EMAIL, REDIRECT, absolute, auth_url, customer, issuer, location, param, query_of, redeem,
    register, rp_http, submit_the_form,
};
use crate::pages::{browser, csrf};

/// A third-party app that may refresh.
async fn partner(s: &TestServer) -> (String, String) {
    register(
        s,
        "partner",
        json!({"first_party": false, "name": "Partner Maps",
               "grant_types": ["authorization_code", "refresh_token"]}),
    )
    .await
}

/// The value of the hidden field `name` in a form.
fn hidden(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let i = html
        .find(&key)
        .unwrap_or_else(|| panic!("{name} in {html}"))
        + key.len();
    html[i..].split('"').next().unwrap().to_owned()
}

/// The consent page's request id and CSRF token.
fn consent_form(html: &str) -> (String, String) {
    (hidden(html, "request"), csrf(html))
}

/// Opens `url` in `c` (signing in on the form when asked) and expects the consent page; its HTML.
async fn to_consent_page(s: &TestServer, c: &reqwest::Client, url: &str) -> String {
    let r = c.get(url).send().await.unwrap();
    let r = if r.status() == 303 && location(&r).contains("/flows/login/") {
        let back = submit_the_form(s, c, &location(&r)).await;
        c.get(back).send().await.unwrap()
    } else {
        r
    };
    assert_eq!(r.status(), 200, "the consent page");
    r.text().await.unwrap()
}

async fn answer(s: &TestServer, c: &reqwest::Client, form: &[(&str, &str)]) -> reqwest::Response {
    c.post(format!("{}/oauth2/consent", issuer(s)))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Allows the request on `html`'s consent page; the code sent to the app.
async fn allow(s: &TestServer, c: &reqwest::Client, html: &str) -> String {
    let (request, token) = consent_form(html);
    let r = answer(
        s,
        c,
        &[
            ("csrf_token", &token),
            ("request", &request),
            ("decision", "allow"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.starts_with(REDIRECT), "{to}");
    let q = query_of(&to);
    assert_eq!(param(&q, "state"), Some("st4te"));
    assert_eq!(param(&q, "iss"), Some(issuer(s).as_str()), "OA-16");
    param(&q, "code").expect(&to).to_owned()
}

async fn event_types(s: &TestServer) -> Vec<Value> {
    s.get("/admin/v1/tenants/default/events?limit=1000")
        .await
        .json["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn refresh(s: &TestServer, client: (&str, &str), token: &str) -> (u16, Value) {
    let r = s
        .http
        .post(format!("{}/oauth2/token", issuer(s)))
        .basic_auth(client.0, Some(client.1))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn con_01_a_third_party_app_gets_a_consent_page_bound_to_its_request(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let (id, secret) = partner(&s).await;
    let c = browser();
    let (url, verifier) = auth_url(&s, "partner", &[]);
    let first = to_consent_page(&s, &c, &url).await;
    assert!(first.contains("Partner Maps"), "names the app: {first}");
    assert!(first.contains("127.0.0.1"), "names the redirect host");
    assert!(
        first.contains("see your email address"),
        "one line per scope"
    );
    assert!(
        first.contains("know who you are"),
        "openid in plain words too"
    );
    assert!(
        !first.contains("see your phone number"),
        "only what is asked"
    );
    // A second request of the same browser gets its own page (the session answers, no form).
    let (url2, _) = auth_url(&s, "partner", &[]);
    let second = to_consent_page(&s, &c, &url2).await;
    let (r1, t1) = consent_form(&first);
    let (r2, t2) = consent_form(&second);
    assert_ne!(r1, r2);
    // A POST naming the other transaction with this one's token is refused, as are a missing token
    // and a wrong one (WEB-02: 403).
    for form in [
        vec![("csrf_token", t1.as_str()), ("request", r2.as_str())],
        vec![("csrf_token", t2.as_str()), ("request", r1.as_str())],
        vec![("request", r1.as_str())],
        vec![("csrf_token", "0000"), ("request", r1.as_str())],
    ] {
        let mut form = form;
        form.push(("decision", "allow"));
        let r = answer(&s, &c, &form).await;
        assert_eq!(r.status(), 403, "{form:?}");
        assert!(r.headers().get("location").is_none());
    }
    // Another browser holding the first page's fields gets nothing either (the request is bound).
    let other = browser();
    let r = answer(
        &s,
        &other,
        &[("csrf_token", &t1), ("request", &r1), ("decision", "allow")],
    )
    .await;
    assert_eq!(r.status(), 400, "another browser");
    assert!(r.headers().get("location").is_none());
    assert!(
        !event_types(&s)
            .await
            .iter()
            .any(|e| e["type"] == "oauth.consent_given"),
        "nothing was allowed yet"
    );
    // The right answer goes on to the code, which the app redeems.
    let code = allow(&s, &c, &first).await;
    let (status, tokens) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["id_token"].is_string());
    let given: Vec<Value> = event_types(&s)
        .await
        .into_iter()
        .filter(|e| e["type"] == "oauth.consent_given")
        .collect();
    assert_eq!(given.len(), 1);
    assert_eq!(given[0]["data"]["client_id"], "partner");
    // The page answered once: posting it again is a page, not a second code.
    let r = answer(
        &s,
        &c,
        &[("csrf_token", &t1), ("request", &r1), ("decision", "allow")],
    )
    .await;
    assert_eq!(r.status(), 400, "a used request");
    // A first-party app skips the page unless it asks with prompt=consent.
    register(&s, "shop", json!({})).await;
    let (url, _) = auth_url(&s, "shop", &[]);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(param(&query_of(&location(&r)), "code").is_some());
    let (url, _) = auth_url(&s, "shop", &[("prompt", "consent")]);
    let page = to_consent_page(&s, &c, &url).await;
    assert!(page.contains("Shop"), "{page}");
    allow(&s, &c, &page).await;
}

async fn con_01_deny_sends_access_denied_to_the_app(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    partner(&s).await;
    let c = browser();
    let (url, _) = auth_url(&s, "partner", &[]);
    let page = to_consent_page(&s, &c, &url).await;
    let (request, token) = consent_form(&page);
    let r = answer(
        &s,
        &c,
        &[
            ("csrf_token", &token),
            ("request", &request),
            ("decision", "deny"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.starts_with(REDIRECT), "{to}");
    let q = query_of(&to);
    assert_eq!(param(&q, "error"), Some("access_denied"), "{to}");
    assert_eq!(param(&q, "state"), Some("st4te"));
    assert_eq!(param(&q, "iss"), Some(issuer(&s).as_str()));
    assert!(param(&q, "code").is_none());
    // Nothing was remembered: the next request asks again.
    let (url, _) = auth_url(&s, "partner", &[]);
    to_consent_page(&s, &c, &url).await;
}

async fn con_01_prompt_none_when_consent_is_needed_is_consent_required(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    partner(&s).await;
    let c = browser();
    let (url, _) = auth_url(&s, "partner", &[]);
    to_consent_page(&s, &c, &url).await;
    // Signed in now, but the app was never allowed.
    let (url, _) = auth_url(&s, "partner", &[("prompt", "none")]);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let q = query_of(&location(&r));
    assert_eq!(param(&q, "error"), Some("consent_required"));
    assert_eq!(param(&q, "state"), Some("st4te"));
    assert_eq!(param(&q, "iss"), Some(issuer(&s).as_str()));
}

async fn con_01_a_remembered_consent_skips_the_page_and_a_new_scope_asks_again(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    partner(&s).await;
    let c = browser();
    let (url, _) = auth_url(&s, "partner", &[]);
    let page = to_consent_page(&s, &c, &url).await;
    allow(&s, &c, &page).await;
    // The same scopes (and prompt=none): answered at once.
    for extra in [&[][..], &[("prompt", "none")][..]] {
        let (url, _) = auth_url(&s, "partner", extra);
        let r = c.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert!(
            param(&query_of(&location(&r)), "code").is_some(),
            "{}",
            location(&r)
        );
    }
    // A new scope asks again, listing only the new one.
    let (url, _) = auth_url(&s, "partner", &[]);
    let url = url.replace("scope=openid+email", "scope=openid+email+phone");
    let page = to_consent_page(&s, &c, &url).await;
    assert!(page.contains("see your phone number"), "{page}");
    assert!(!page.contains("see your email address"), "allowed before");
    allow(&s, &c, &page).await;
    let consents = s
        .get(&format!(
            "/admin/v1/tenants/default/identities/{}/consents",
            crate::codes::identity_id(&s, EMAIL).await
        ))
        .await;
    assert_eq!(consents.status, 200);
    assert_eq!(
        consents.json[0]["scopes"],
        json!(["openid", "email", "phone"])
    );
    assert_eq!(consents.json[0]["client_name"], "Partner Maps");
    // A client deleted and registered again under the same id is another app: it asks again.
    assert_eq!(
        s.delete(&format!("{}/partner", crate::oidc_flow::CLIENTS))
            .await
            .status,
        204
    );
    partner(&s).await;
    let (url, _) = auth_url(&s, "partner", &[]);
    to_consent_page(&s, &c, &url).await;
}

/// Opens the settings page in `c`: its URL and HTML.
async fn settings_page(s: &TestServer, c: &reqwest::Client) -> (String, String) {
    let r = c
        .get(format!("{}/t/default/settings", s.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let url = absolute(s, r.headers()["location"].to_str().unwrap());
    let html = c.get(&url).send().await.unwrap().text().await.unwrap();
    (url, html)
}

/// Signs in `c` to the partner app through its consent page; the app's refresh and access tokens.
async fn partner_tokens(
    s: &TestServer,
    c: &reqwest::Client,
    client: (&str, &str),
) -> (String, String) {
    let (url, verifier) = auth_url(s, "partner", &[]);
    let page = to_consent_page(s, c, &url).await;
    let code = allow(s, c, &page).await;
    let (status, tokens) = redeem(s, client, &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{tokens}");
    (
        tokens["refresh_token"].as_str().unwrap().to_owned(),
        tokens["access_token"].as_str().unwrap().to_owned(),
    )
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

async fn con_02_withdrawing_a_consent_in_the_settings_or_the_admin_api_stops_its_refresh_tokens(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let identity = customer(&s).await;
    let (id, secret) = partner(&s).await;
    let client = (id.as_str(), secret.as_str());
    let c = browser();
    let (rt, _) = partner_tokens(&s, &c, client).await;
    let (status, body) = refresh(&s, client, &rt).await;
    assert_eq!(status, 200, "{body}");
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    // The customer sees the app in the settings and removes its access.
    let (url, html) = settings_page(&s, &c).await;
    assert!(html.contains("Apps with access"), "{html}");
    assert!(html.contains("Partner Maps"), "{html}");
    assert!(
        html.contains("Allowed"),
        "the consent's date is labelled as such: {html}"
    );
    let r = c
        .post(&url)
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("revoke_consent", "partner"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("no longer has access"), "{html}");
    assert!(!html.contains("Partner Maps"), "{html}");
    let (status, body) = refresh(&s, client, &rt).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    // The next sign-in to the app asks again.
    let consents = format!("/admin/v1/tenants/default/identities/{identity}/consents");
    assert_eq!(s.get(&consents).await.json, json!([]));
    let (rt, access) = partner_tokens(&s, &c, client).await;
    assert_eq!(userinfo(&s, &access).await, 200);
    // An admin withdraws it: listed, then gone, and the refresh token with it.
    let listed = s.get(&consents).await;
    assert_eq!(listed.json[0]["client_id"], "partner", "{listed:?}");
    assert_eq!(s.delete(&format!("{consents}/partner")).await.status, 204);
    assert_eq!(s.delete(&format!("{consents}/partner")).await.status, 404);
    assert_eq!(s.delete(&format!("{consents}/nobody")).await.status, 404);
    assert_eq!(s.delete(&format!("{consents}/a%00b")).await.status, 404);
    let (status, body) = refresh(&s, client, &rt).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        userinfo(&s, &access).await,
        401,
        "the access token minted with it"
    );
    let unknown =
        "/admin/v1/tenants/default/identities/0190aaaa-0000-7000-8000-000000000000/consents";
    assert_eq!(s.get(unknown).await.status, 404);
    let revoked: Vec<Value> = event_types(&s)
        .await
        .into_iter()
        .filter(|e| e["type"] == "oauth.consent_revoked")
        .collect();
    let by: Vec<&str> = revoked
        .iter()
        .map(|e| e["data"]["by"].as_str().unwrap())
        .collect();
    assert_eq!(by.len(), 2, "{revoked:?}");
    assert!(by.contains(&"customer") && by.contains(&"admin"), "{by:?}");
}

async fn con_02_a_code_given_before_the_consent_was_withdrawn_is_refused(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let identity = customer(&s).await;
    let (id, secret) = partner(&s).await;
    let c = browser();
    let (url, verifier) = auth_url(&s, "partner", &[]);
    let page = to_consent_page(&s, &c, &url).await;
    let code = allow(&s, &c, &page).await;
    let consents = format!("/admin/v1/tenants/default/identities/{identity}/consents");
    assert_eq!(s.delete(&format!("{consents}/partner")).await.status, 204);
    let (status, body) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
}

async fn profiling_per_client_asks_for_a_missing_attribute_before_the_code(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
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
    // Names outside the schema are refused when the client is registered.
    let bad = s
        .post(
            crate::oidc_flow::CLIENTS,
            json!({"client_id": "bad", "name": "Bad", "redirect_uris": [REDIRECT],
                   "required_attributes": ["shoe_size"]}),
        )
        .await;
    assert_eq!(bad.status, 422, "{bad:?}");
    assert_eq!(bad.json["errors"][0]["field"], "required_attributes[0]");
    // So are attributes only an admin may set: the customer would be asked to give them (R7-2).
    let s2 = json!({"attributes": [
        {"name": "given_name", "type": "string"},
        {"name": "family_name", "type": "string"},
        {"name": "company", "type": "string", "customer_editable": true},
        {"name": "plan", "type": "string"}
    ]});
    assert_eq!(
        s.put("/admin/v1/tenants/default/attribute-schema", s2)
            .await
            .status,
        200
    );
    let admin_only = s
        .post(
            crate::oidc_flow::CLIENTS,
            json!({"client_id": "upsell", "name": "Upsell", "redirect_uris": [REDIRECT],
                   "required_attributes": ["plan"]}),
        )
        .await;
    assert_eq!(admin_only.status, 422, "{admin_only:?}");
    assert_eq!(
        admin_only.json["errors"][0]["code"],
        "not_customer_editable"
    );
    let (id, secret) = register(&s, "b2b", json!({"required_attributes": ["company"]})).await;
    let http = rp_http();
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer(&s)).unwrap(), &http)
        .await
        .unwrap();
    let rp = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(id),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let c = browser();
    let r = c.get(url.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let login = absolute(&s, &location(&r));
    let html = c.get(&login).send().await.unwrap().text().await.unwrap();
    let post_to = login.split('?').next().unwrap().to_owned();
    let r = c
        .post(&post_to)
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("identifier", EMAIL),
            ("password", crate::flows::PASSWORD),
            ("method", "password"),
        ])
        .send()
        .await
        .unwrap();
    // The sign-in stops at the profile step and asks for the company, and only that.
    let html = if r.status() == 303 {
        let to = absolute(&s, &location(&r));
        assert!(!to.contains("/oauth2/"), "not back to the app yet: {to}");
        c.get(&to).send().await.unwrap().text().await.unwrap()
    } else {
        r.text().await.unwrap()
    };
    assert!(html.contains("name=\"attributes.company\""), "{html}");
    assert!(!html.contains("name=\"attributes.given_name\""));
    let r = c
        .post(&post_to)
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("attributes.company", "Analytical Engines Ltd"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let back = location(&r);
    assert!(back.contains("/oauth2/authorize/continue"), "{back}");
    let r = c.get(absolute(&s, &back)).send().await.unwrap();
    let to = location(&r);
    assert!(to.starts_with(REDIRECT), "{to}");
    let q = query_of(&to);
    assert_eq!(param(&q, "state"), Some(state.secret().as_str()));
    let tokens = rp
        .exchange_code(AuthorizationCode::new(
            param(&q, "code").unwrap().to_owned(),
        ))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let verifier = rp
        .id_token_verifier()
        .set_allowed_algs([CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&verifier, &nonce)
        .unwrap();
    assert_eq!(claims.subject().as_str(), sub);
    let stored = s
        .get(&format!("/admin/v1/tenants/default/identities/{sub}"))
        .await;
    assert_eq!(
        stored.json["attributes"]["company"],
        "Analytical Engines Ltd"
    );
    // Given once: the next request is answered at once.
    let (url, _) = auth_url(&s, "b2b", &[]);
    let r = c.get(&url).send().await.unwrap();
    assert!(param(&query_of(&location(&r)), "code").is_some());
}

async fn profiling_per_client_stops_an_sso_session_that_lacks_an_attribute(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let schema = json!({"attributes": [
        {"name": "given_name", "type": "string"},
        {"name": "family_name", "type": "string"},
        {"name": "company", "type": "string", "customer_editable": true},
        {"name": "fax", "type": "string", "customer_editable": true}
    ]});
    s.put("/admin/v1/tenants/default/attribute-schema", schema)
        .await;
    let (shop, shop_secret) = register(&s, "shop", json!({})).await;
    let (b2b, b2b_secret) = register(&s, "b2b", json!({"required_attributes": ["company"]})).await;
    let c = browser();
    // Signed in through the shop, which needs nothing more.
    let (url, verifier) = auth_url(&s, "shop", &[]);
    let back = crate::oidc_flow::authorize(&s, &c, &url).await;
    let code = param(&query_of(&back), "code").unwrap().to_owned();
    assert_eq!(
        redeem(&s, (&shop, &shop_secret), &code, Some(&verifier), REDIRECT)
            .await
            .0,
        200
    );
    // prompt=none cannot ask: interaction_required.
    let (url, _) = auth_url(&s, "b2b", &[("prompt", "none")]);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(
        param(&query_of(&location(&r)), "error"),
        Some("interaction_required"),
        "{}",
        location(&r)
    );
    // The session answers the b2b app only after the profile step; no password asked again.
    let (url, verifier) = auth_url(&s, "b2b", &[]);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let step = absolute(&s, &location(&r));
    assert!(step.contains("/flows/login/"), "{step}");
    let html = c.get(&step).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("name=\"attributes.company\""), "{html}");
    assert!(!html.contains("name=\"password\""), "{html}");
    let r = c
        .post(step.split('?').next().unwrap())
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("attributes.company", "Difference Ltd"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let r = c.get(absolute(&s, &location(&r))).send().await.unwrap();
    let to = location(&r);
    let code = param(&query_of(&to), "code").expect(&to).to_owned();
    let (status, tokens) = redeem(&s, (&b2b, &b2b_secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{tokens}");
    // An attribute the schema dropped after the client named it holds nobody up.
    register(&s, "legacy", json!({"required_attributes": ["fax"]})).await;
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
    let (url, _) = auth_url(&s, "legacy", &[]);
    let r = c.get(&url).send().await.unwrap();
    assert!(
        param(&query_of(&location(&r)), "code").is_some(),
        "{}",
        location(&r)
    );
}

/// The refresh token of an `openid offline_access` grant that first-party client "atlas" got through
/// browser `c` (signing it in as needed).
async fn offline_refresh_token(
    s: &TestServer,
    c: &reqwest::Client,
    client: (&str, &str),
) -> String {
    let (url, verifier) = auth_url(s, "atlas", &[]);
    let url = url.replace("scope=openid+email", "scope=openid+offline_access");
    let back = crate::oidc_flow::authorize(s, c, &url).await;
    let code = param(&query_of(&back), "code").expect(&back).to_owned();
    let (status, tokens) = redeem(s, client, &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{tokens}");
    tokens["refresh_token"].as_str().unwrap().to_owned()
}

async fn con_01_an_offline_grant_lives_on_only_with_consent_to_offline_access(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let config = |first_party: bool, scopes: &[&str]| {
        json!({"name": "Atlas", "first_party": first_party, "redirect_uris": [REDIRECT],
               "grant_types": ["authorization_code", "refresh_token"], "scopes": scopes})
    };
    let all = ["openid", "email", "offline_access"];
    let (id, secret) = register(&s, "atlas", config(true, &all)).await;
    let client = (id.as_str(), secret.as_str());
    // A first-party app keeps the customer signed in (offline_access, no consent page).
    let c = browser();
    let offline = offline_refresh_token(&s, &c, client).await;
    // The admin makes it third-party and the customer consents to `openid` alone (R11-3): that
    // consent does not keep an offline grant alive.
    let put = s
        .put(
            &format!("{}/atlas", crate::oidc_flow::CLIENTS),
            config(false, &all),
        )
        .await;
    assert_eq!(put.status, 200, "{put:?}");
    let (url, _) = auth_url(&s, "atlas", &[]);
    let url = url.replace("scope=openid+email", "scope=openid");
    let page = to_consent_page(&s, &c, &url).await;
    allow(&s, &c, &page).await;
    let (status, body) = refresh(&s, client, &offline).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
}

async fn oa_14_an_offline_grant_ends_when_the_client_loses_offline_access(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let config = |scopes: &[&str]| {
        json!({"name": "Atlas", "first_party": true, "redirect_uris": [REDIRECT],
               "grant_types": ["authorization_code", "refresh_token"], "scopes": scopes})
    };
    let (id, secret) = register(&s, "atlas", config(&["openid", "offline_access"])).await;
    let client = (id.as_str(), secret.as_str());
    let offline = offline_refresh_token(&s, &browser(), client).await;
    // The client's scopes set to `scopes`, then what a refresh of the offline grant answers.
    let refresh_after = async |scopes: &[&str]| {
        let path = format!("{}/atlas", crate::oidc_flow::CLIENTS);
        let put = s.put(&path, config(scopes)).await;
        assert_eq!(put.status, 200, "{put:?}");
        let (status, body) = refresh(&s, client, &offline).await;
        ((status, body["error"].as_str().map(str::to_owned)), body)
    };
    let (answer, body) = refresh_after(&["openid"]).await;
    assert_eq!(
        answer,
        (400, Some("invalid_grant".into())),
        "an offline grant does not narrow itself into a lasting one: {body}"
    );
    // Ended, not suspended: giving the scope back does not revive it (R12-I1).
    let (answer, body) = refresh_after(&["openid", "offline_access"]).await;
    assert_eq!(answer, (400, Some("invalid_grant".into())), "{body}");
}

engine_tests!(
    con_01_a_third_party_app_gets_a_consent_page_bound_to_its_request,
    con_01_an_offline_grant_lives_on_only_with_consent_to_offline_access,
    oa_14_an_offline_grant_ends_when_the_client_loses_offline_access,
    con_01_deny_sends_access_denied_to_the_app,
    con_01_prompt_none_when_consent_is_needed_is_consent_required,
    con_01_a_remembered_consent_skips_the_page_and_a_new_scope_asks_again,
    con_02_withdrawing_a_consent_in_the_settings_or_the_admin_api_stops_its_refresh_tokens,
    con_02_a_code_given_before_the_consent_was_withdrawn_is_refused,
    profiling_per_client_asks_for_a_missing_attribute_before_the_code,
    profiling_per_client_stops_an_sso_session_that_lacks_an_attribute,
);
