//! The authorization code flow under attack, each test named after the rule of security.md it proves:
//! the redirect URI mutation corpus and unknown clients (OA-01, OA-02, A-01, A-03), repeated parameters
//! (OA-17), response types and request objects (OA-09, OA-20), PKCE (OA-06, OA-07, OA-08, A-04), code
//! reuse and concurrent redemption (OA-04, A-13), the code's bindings (OA-05), mix-up (OA-16),
//! `prompt=none` without a session (SES-09), and a stolen continue URL (A-08). SQLite and PostgreSQL.
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tessera_testkit::{Engine, TestServer, engine_tests};

use crate::oidc_flow::{
    REDIRECT, auth_url, authorize, customer, issuer, location, param, query_of, redeem, register,
};
use crate::pages::browser;

pub(crate) fn jwt_part(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The authorization URL with `redirect_uri` replaced by `uri` (raw, already encoded as wanted).
fn with_redirect(s: &TestServer, client: &str, uri: &str) -> String {
    format!(
        "{}/oauth2/authorize?response_type=code&client_id={client}&redirect_uri={uri}&scope=openid&state=x&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        issuer(s)
    )
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// An error page: 400 HTML, and no `Location` anywhere (the server is no open redirector).
async fn assert_page(r: reqwest::Response, what: &str) {
    assert_eq!(r.status(), 400, "{what}");
    assert!(r.headers().get("location").is_none(), "{what}");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<html") || html.contains("<!doctype"),
        "{what}"
    );
}

/// An error sent back to the client: 303 to the registered URI with `error`, `state` and `iss`.
fn assert_to_client(s: &TestServer, r: &reqwest::Response, error: &str, state: Option<&str>) {
    assert_eq!(r.status(), 303);
    let to = location(r);
    assert!(to.starts_with(REDIRECT), "{to}");
    let q = query_of(&to);
    assert_eq!(param(&q, "error"), Some(error), "{to}");
    assert_eq!(param(&q, "state"), state, "{to}");
    assert_eq!(
        param(&q, "iss"),
        Some(issuer(s).as_str()),
        "OA-16: errors carry iss too"
    );
}

async fn oa_01_oa_02_a_mutated_redirect_uri_or_unknown_client_gets_a_page_never_a_redirect(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    register(
        &s,
        "shop",
        json!({"redirect_uris": [REDIRECT, "https://app.example/cb?tenant=1"]}),
    )
    .await;
    let c = browser();
    let corpus = [
        "http://127.0.0.1/cb/",
        "http://127.0.0.1/CB",
        "http://127.0.0.1/cb?x=1",
        "http://127.0.0.1/cb#frag",
        "http://127.0.0.1/cb/../cb",
        "http://127.0.0.1/c%62",
        "http://127.0.0.1/cb%00",
        "http://127.0.0.1./cb",
        "http://127.0.0.2/cb",
        "http://localhost/cb",
        "https://127.0.0.1/cb",
        "http://evil.example@127.0.0.1/cb",
        "http://127.0.0.1@evil.example/cb",
        "http://a@b@127.0.0.1/cb",
        "http://127.0.0.1\\@evil.example/cb",
        "http://127.0.0.1/cb/..;/evil",
        "//evil.example/cb",
        "http://[::1]/cb",
        "http://0x7f.0.0.1/cb",
        "javascript:alert(1)",
        "https://app.example/cb",
        "https://app.example/cb?tenant=1&x=2",
        "https://app.example/cb?tenant=2",
        "https://APP.example/cb?tenant=1",
        "https://app.example.evil.test/cb?tenant=1",
        "https://app.example:443/cb?tenant=1",
        "http://app.example/cb?tenant=1",
        "",
    ];
    for uri in corpus {
        let r = c
            .get(with_redirect(&s, "shop", &enc(uri)))
            .send()
            .await
            .unwrap();
        assert_page(r, uri).await;
    }
    // The one exception: a loopback redirect with another port (RFC 8252 §7.3).
    let r = c
        .get(with_redirect(&s, "shop", &enc("http://127.0.0.1:51234/cb")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = c
        .get(with_redirect(&s, "nobody", &enc(REDIRECT)))
        .send()
        .await
        .unwrap();
    assert_page(r, "an unknown client").await;
    let twice = format!(
        "{}&redirect_uri={}",
        with_redirect(&s, "shop", &enc(REDIRECT)),
        enc(REDIRECT)
    );
    assert_page(c.get(twice).send().await.unwrap(), "redirect_uri twice").await;
    let twice = format!(
        "{}&client_id=shop",
        with_redirect(&s, "shop", &enc(REDIRECT))
    );
    assert_page(c.get(twice).send().await.unwrap(), "client_id twice").await;
}

async fn oa_17_oa_09_oa_20_bad_requests_go_back_to_the_client_with_their_errors(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    register(&s, "shop", json!({})).await;
    let c = browser();
    let (good, _) = auth_url(&s, "shop", &[]);
    let cases = [
        (format!("{good}&scope=profile"), "invalid_request"),
        (
            good.replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            good.replace("response_type=code", "response_type=code+id_token"),
            "unsupported_response_type",
        ),
        (
            format!("{good}&request=eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
        ),
        (
            format!("{good}&request_uri={}", enc("https://evil.example/r")),
            "request_uri_not_supported",
        ),
        (
            good.replace("scope=openid+email", "scope=openid+admin"),
            "invalid_scope",
        ),
        (format!("{good}&response_mode=fragment"), "invalid_request"),
        (format!("{good}&prompt=none+login"), "invalid_request"),
    ];
    for (url, error) in cases {
        let r = c.get(&url).send().await.unwrap();
        assert_to_client(&s, &r, error, Some("st4te"));
    }
    let r = c.get(format!("{good}&state=other")).send().await.unwrap();
    assert_to_client(&s, &r, "invalid_request", None);
    // Unknown parameters are ignored.
    let r = c.get(format!("{good}&unknown=1")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).contains("/flows/login/"), "{}", location(&r));
    // The same checks on a form POST.
    let (path, query) = good.split_once('?').unwrap();
    let r = c
        .post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{query}&request=x"))
        .send()
        .await
        .unwrap();
    assert_to_client(&s, &r, "request_not_supported", Some("st4te"));
}

async fn oa_06_pkce_is_required_and_s256_only(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    register(&s, "shop", json!({})).await;
    let c = browser();
    let (good, _) = auth_url(&s, "shop", &[]);
    let plain = good.replace("code_challenge_method=S256", "code_challenge_method=plain");
    let r = c.get(&plain).send().await.unwrap();
    assert_to_client(&s, &r, "invalid_request", Some("st4te"));
    let no_method = good.replace("&code_challenge_method=S256", "");
    let r = c.get(&no_method).send().await.unwrap();
    assert_to_client(&s, &r, "invalid_request", Some("st4te"));
    let u = url::Url::parse(&good).unwrap();
    let mut none = u.clone();
    none.query_pairs_mut().clear().extend_pairs(
        u.query_pairs()
            .filter(|(k, _)| !k.starts_with("code_challenge")),
    );
    let r = c.get(none.as_str()).send().await.unwrap();
    assert_to_client(&s, &r, "invalid_request", Some("st4te"));
}

async fn ses_09_prompt_none_without_a_session_is_login_required(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    register(&s, "shop", json!({})).await;
    let c = browser();
    let (url, _) = auth_url(&s, "shop", &[("prompt", "none")]);
    let r = c.get(&url).send().await.unwrap();
    assert_to_client(&s, &r, "login_required", Some("st4te"));
    assert!(
        r.headers().get("set-cookie").is_none(),
        "nothing is created without the customer"
    );
    // With a session, prompt=none answers at once.
    let (url, _) = auth_url(&s, "shop", &[]);
    authorize(&s, &c, &url).await;
    let (url, _) = auth_url(&s, "shop", &[("prompt", "none")]);
    let r = c.get(&url).send().await.unwrap();
    assert!(param(&query_of(&location(&r)), "code").is_some());
}

/// A code for the customer through `c`, with its PKCE verifier.
async fn code_for(
    s: &TestServer,
    c: &reqwest::Client,
    client: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (url, verifier) = auth_url(s, client, extra);
    let back = authorize(s, c, &url).await;
    let q = query_of(&back);
    assert_eq!(param(&q, "iss"), Some(issuer(s).as_str()), "OA-16");
    (param(&q, "code").expect(&back).to_owned(), verifier)
}

async fn oa_04_a_reused_code_is_refused_and_revokes_what_it_gave(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let (id, secret) = register(
        &s,
        "shop",
        json!({"grant_types": ["authorization_code", "refresh_token"]}),
    )
    .await;
    let c = browser();
    let (code, verifier) = code_for(&s, &c, "shop", &[]).await;
    let (status, first) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{first}");
    let access = first["access_token"].as_str().unwrap().to_owned();
    let refresh_token = first["refresh_token"]
        .as_str()
        .expect("a client allowed to refresh gets a refresh token with its code")
        .to_owned();
    let userinfo = |token: String| {
        let s = &s;
        async move {
            s.http
                .get(format!("{}/oauth2/userinfo", issuer(s)))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(userinfo(access.clone()).await, 200);
    let (status, again) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 400);
    assert_eq!(again["error"], "invalid_grant");
    assert_eq!(
        userinfo(access).await,
        401,
        "A-13: the first redemption's access token is revoked"
    );
    let r = s
        .http
        .post(format!("{}/oauth2/token", issuer(&s)))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        400,
        "A-13: the first redemption's refresh token is revoked"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    let events = s
        .get("/admin/v1/tenants/default/events?type=oauth.code_reused")
        .await;
    let items = events.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{events:?}");
    assert_eq!(items[0]["data"]["client_id"], "shop");
    let all = s.get("/admin/v1/tenants/default/events?limit=1000").await;
    let seen =
        crate::events::assert_events_match_the_catalogue(all.json["items"].as_array().unwrap());
    assert!(seen.iter().any(|k| k == "oauth.code_issued"), "{seen:?}");
    // An expired code: 60 seconds.
    let (code, verifier) = code_for(&s, &c, "shop", &[]).await;
    s.clock.advance(std::time::Duration::from_secs(61));
    let (status, body) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

async fn oa_04_fifty_concurrent_redemptions_give_exactly_one_token(engine: Engine) {
    // Fifty token requests at once on a busy test machine may wait for a database connection longer
    // than the suite's short acquire timeout; this test is about the code, not the pool.
    let Some(s) = TestServer::start_with(engine, |env| {
        env.insert("TESSERA_DB_ACQUIRE_TIMEOUT_MS".into(), "30000".into());
    })
    .await
    else {
        return;
    };
    customer(&s).await;
    let (id, secret) = register(&s, "shop", json!({})).await;
    let c = browser();
    let (code, verifier) = code_for(&s, &c, "shop", &[]).await;
    let attempts = (0..50).map(|_| redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT));
    let results = futures::future::join_all(attempts).await;
    let ok = results.iter().filter(|(st, _)| *st == 200).count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|(st, _)| *st != 200)
            .all(|(st, b)| *st == 400 && b["error"] == "invalid_grant"),
        "every other one is invalid_grant, never a 5xx: {results:?}"
    );
}

async fn oa_05_a_code_is_bound_to_its_client_and_redirect_uri(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let (id, secret) = register(
        &s,
        "shop",
        json!({"redirect_uris": [REDIRECT, "http://127.0.0.1/other"]}),
    )
    .await;
    let (other, other_secret) = register(&s, "other", json!({})).await;
    let c = browser();
    let (code, verifier) = code_for(&s, &c, "shop", &[]).await;
    let (status, body) = redeem(
        &s,
        (&other, &other_secret),
        &code,
        Some(&verifier),
        REDIRECT,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = redeem(
        &s,
        (&id, &secret),
        &code,
        Some(&verifier),
        "http://127.0.0.1/other",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (code, verifier) = code_for(&s, &c, "shop", &[]).await;
    let (status, body) = redeem(
        &s,
        (&id, "not the secret"),
        &code,
        Some(&verifier),
        REDIRECT,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, _) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(
        status, 200,
        "a refused client authentication does not burn the code"
    );
}

async fn oa_07_oa_08_pkce_downgrade_and_wrong_verifiers_are_refused(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let (id, secret) = register(&s, "shop", json!({})).await;
    let (lax, lax_secret) = register(&s, "lax", json!({"require_pkce": false})).await;
    let c = browser();
    // Downgrade: a code asked for without a challenge, redeemed with a verifier.
    let (url, _) = auth_url(&s, "lax", &[]);
    let mut u = url::Url::parse(&url).unwrap();
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    u.query_pairs_mut().clear().extend_pairs(kept);
    let back = authorize(&s, &c, u.as_str()).await;
    let code = param(&query_of(&back), "code").unwrap().to_owned();
    let (status, body) = redeem(
        &s,
        (&lax, &lax_secret),
        &code,
        Some(&"a".repeat(43)),
        REDIRECT,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // A challenge sent, no verifier at the token endpoint.
    let (code, _) = code_for(&s, &c, "shop", &[]).await;
    let (status, body) = redeem(&s, (&id, &secret), &code, None, REDIRECT).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // A malformed verifier is invalid_request; a wrong one burns the code, so the right one fails after.
    let (code, verifier) = code_for(&s, &c, "shop", &[]).await;
    for bad in ["a".to_owned(), "a".repeat(129)] {
        let (status, body) = redeem(&s, (&id, &secret), &code, Some(&bad), REDIRECT).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request"))
        );
    }
    let (status, body) = redeem(&s, (&id, &secret), &code, Some(&"b".repeat(43)), REDIRECT).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

async fn a_stolen_continue_url_does_nothing_in_another_browser(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    register(&s, "shop", json!({})).await;
    let victim = browser();
    let (url, _) = auth_url(&s, "shop", &[]);
    let login = location(&victim.get(&url).send().await.unwrap());
    let continue_url = crate::oidc_flow::submit_the_form(&s, &victim, &login).await;
    // Another browser, even one signed in to the same account, gets a page and no code (A-08).
    let attacker = browser();
    let (url, _) = auth_url(&s, "shop", &[]);
    authorize(&s, &attacker, &url).await;
    assert_page(
        attacker.get(&continue_url).send().await.unwrap(),
        "someone else's continue URL",
    )
    .await;
    // The browser that made the request gets its code, once.
    let r = victim.get(&continue_url).send().await.unwrap();
    assert!(
        param(&query_of(&location(&r)), "code").is_some(),
        "{}",
        location(&r)
    );
    assert_page(
        victim.get(&continue_url).send().await.unwrap(),
        "a used request",
    )
    .await;
    let unknown = format!(
        "{}/oauth2/authorize/continue?request=0190aaaa-0000-7000-8000-000000000000",
        issuer(&s)
    );
    assert_page(
        victim.get(&unknown).send().await.unwrap(),
        "unknown request",
    )
    .await;
}

async fn oidc_04_userinfo_needs_a_bearer_token_with_openid(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let (id, secret) = register(&s, "shop", json!({})).await;
    let ui = format!("{}/oauth2/userinfo", issuer(&s));
    let r = s.http.get(&ui).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"tessera\"");
    let r = s.http.get(&ui).bearer_auth("garbage").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    let c = browser();
    let (code, verifier) = code_for(&s, &c, "shop", &[]).await;
    let (_, tokens) = redeem(&s, (&id, &secret), &code, Some(&verifier), REDIRECT).await;
    let access = tokens["access_token"].as_str().unwrap();
    let r = s
        .http
        .post(&ui)
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the token in a form body");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["email"], crate::oidc_flow::EMAIL);
    assert!(
        body.get("given_name").is_none(),
        "no profile scope, no profile"
    );
    let r = s
        .http
        .post(&ui)
        .bearer_auth(access)
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "one method only");
}

engine_tests!(
    oa_01_oa_02_a_mutated_redirect_uri_or_unknown_client_gets_a_page_never_a_redirect,
    oa_17_oa_09_oa_20_bad_requests_go_back_to_the_client_with_their_errors,
    oa_06_pkce_is_required_and_s256_only,
    ses_09_prompt_none_without_a_session_is_login_required,
    oa_04_a_reused_code_is_refused_and_revokes_what_it_gave,
    oa_04_fifty_concurrent_redemptions_give_exactly_one_token,
    oa_05_a_code_is_bound_to_its_client_and_redirect_uri,
    oa_07_oa_08_pkce_downgrade_and_wrong_verifiers_are_refused,
    a_stolen_continue_url_does_nothing_in_another_browser,
    oidc_04_userinfo_needs_a_bearer_token_with_openid,
);
