//! Pushed authorization requests (RFC 9126): an independent relying party's authorization request pushed
//! to the PAR endpoint and used through `/authorize`, the `request_uri`'s single use, expiry and client
//! binding (OA-21), a client that must use PAR, and the PAR endpoint's own refusals (OA-12, OA-17,
//! OA-20). SQLite and PostgreSQL.
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
    REDIRECT, auth_url, authorize, customer, issuer, location, param, query_of, register, rp_http,
};
use crate::pages::browser;

/// Pushes the parameters of the authorization URL `url` for `client` (client_secret_basic).
async fn push(s: &TestServer, client: (&str, &str), url: &str) -> (u16, Value) {
    let pairs: Vec<(String, String)> = url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let r = s
        .http
        .post(format!("{}/oauth2/par", issuer(s)))
        .basic_auth(client.0, Some(client.1))
        .form(&pairs)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert_eq!(
        r.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Pushes and returns the `request_uri`.
async fn pushed(s: &TestServer, client: (&str, &str), url: &str) -> String {
    let (status, body) = push(s, client, url).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["expires_in"], 60);
    let uri = body["request_uri"].as_str().unwrap().to_owned();
    assert!(
        uri.starts_with("urn:ietf:params:oauth:request_uri:"),
        "{uri}"
    );
    uri
}

/// The `/authorize` URL that uses a pushed request.
fn by_reference(s: &TestServer, client: &str, request_uri: &str) -> String {
    let mut u = url::Url::parse(&format!("{}/oauth2/authorize", issuer(s))).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", client)
        .append_pair("request_uri", request_uri);
    u.to_string()
}

/// An error page: 400 HTML with no `Location` (nothing was validated to redirect to).
async fn assert_page(r: reqwest::Response, what: &str) {
    assert_eq!(r.status(), 400, "{what}");
    assert!(r.headers().get("location").is_none(), "{what}");
    let html = r.text().await.unwrap();
    assert!(html.contains("<html"), "{what}");
}

async fn a_pushed_request_signs_an_independent_relying_party_in(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let (id, secret) = register(&s, "shop", json!({})).await;
    let http = rp_http();
    let meta_json: Value = s
        .http
        .get(format!("{}/.well-known/openid-configuration", issuer(&s)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta_json["pushed_authorization_request_endpoint"],
        format!("{}/oauth2/par", issuer(&s))
    );
    assert_eq!(meta_json["require_pushed_authorization_requests"], false);
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer(&s)).unwrap(), &http)
        .await
        .unwrap();
    let rp = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(id.clone()),
        Some(ClientSecret::new(secret.clone())),
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
    let request_uri = pushed(&s, (&id, &secret), url.as_str()).await;
    let c = browser();
    let back = authorize(&s, &c, &by_reference(&s, &id, &request_uri)).await;
    assert!(back.starts_with(REDIRECT), "{back}");
    let q = query_of(&back);
    assert_eq!(param(&q, "state"), Some(state.secret().as_str()));
    assert_eq!(param(&q, "iss"), Some(issuer(&s).as_str()));
    let code = param(&q, "code").unwrap().to_owned();
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
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
        .expect("an ID token")
        .claims(&verifier, &nonce)
        .unwrap();
    assert_eq!(claims.subject().as_str(), sub);
    // The pushed request served its one authorization request; the session answers a new push at once.
    let r = c
        .get(by_reference(&s, &id, &request_uri))
        .send()
        .await
        .unwrap();
    assert_page(r, "a used request_uri").await;
    let (url, _) = auth_url(&s, &id, &[]);
    let again = pushed(&s, (&id, &secret), &url).await;
    let r = c.get(by_reference(&s, &id, &again)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with(REDIRECT), "{}", location(&r));
}

async fn oa_21_a_request_uri_is_single_use_short_lived_and_bound_to_its_client(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let (id, secret) = register(&s, "shop", json!({})).await;
    let (other, other_secret) = register(&s, "other", json!({})).await;
    let c = browser();
    let (url, _) = auth_url(&s, &id, &[]);
    // Another client cannot use it, with its own client_id or with the owner's id but its own push.
    let uri = pushed(&s, (&id, &secret), &url).await;
    let r = c.get(by_reference(&s, &other, &uri)).send().await.unwrap();
    assert_page(r, "another client's request_uri").await;
    let (other_url, _) = auth_url(&s, &other, &[]);
    let others = pushed(&s, (&other, &other_secret), &other_url).await;
    let r = c.get(by_reference(&s, &id, &others)).send().await.unwrap();
    assert_page(r, "another client's request_uri under this client's id").await;
    // The attempts did not burn it: its own client uses it, once.
    let r = c.get(by_reference(&s, &id, &uri)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).contains("/flows/login/"), "{}", location(&r));
    let r = c.get(by_reference(&s, &id, &uri)).send().await.unwrap();
    assert_page(r, "reuse").await;
    // Sixty seconds, on the controllable clock.
    let uri = pushed(&s, (&id, &secret), &url).await;
    s.clock.advance(std::time::Duration::from_secs(61));
    let r = c.get(by_reference(&s, &id, &uri)).send().await.unwrap();
    assert_page(r, "an expired request_uri").await;
    let uri = pushed(&s, (&id, &secret), &url).await;
    s.clock.advance(std::time::Duration::from_secs(59));
    let r = c.get(by_reference(&s, &id, &uri)).send().await.unwrap();
    assert_eq!(r.status(), 303, "still live at 59 s");
    // Parameters next to request_uri are ignored (RFC 9126 §4): the pushed redirect and state count.
    let uri = pushed(&s, (&id, &secret), &url).await;
    let r = c
        .get(format!(
            "{}&redirect_uri=https%3A%2F%2Fevil.example%2F&scope=openid+admin&prompt=none",
            by_reference(&s, &id, &uri)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).contains("/flows/login/"), "{}", location(&r));
    // A made-up URN, a tampered one, and no client_id.
    let r = c
        .get(by_reference(
            &s,
            &id,
            "urn:ietf:params:oauth:request_uri:made-up",
        ))
        .send()
        .await
        .unwrap();
    assert_page(r, "an unknown request_uri").await;
    let uri = pushed(&s, (&id, &secret), &url).await;
    let r = c
        .get(by_reference(&s, &id, &format!("{uri}x")))
        .send()
        .await
        .unwrap();
    assert_page(r, "a tampered request_uri").await;
    let r = c
        .get(format!(
            "{}/oauth2/authorize?request_uri={}",
            issuer(&s),
            url::form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        ))
        .send()
        .await
        .unwrap();
    assert_page(r, "no client_id").await;
}

async fn oa_21_concurrent_uses_of_one_request_uri_have_one_winner(engine: Engine) {
    // Twenty requests at once on a busy test machine may wait for a database connection longer than the
    // suite's short acquire timeout; this test is about the request_uri, not the pool.
    let Some(s) = TestServer::start_with(engine, |env| {
        env.insert("TESSERA_DB_ACQUIRE_TIMEOUT_MS".into(), "30000".into());
    })
    .await
    else {
        return;
    };
    let (id, secret) = register(&s, "shop", json!({})).await;
    let (url, _) = auth_url(&s, &id, &[]);
    let uri = pushed(&s, (&id, &secret), &url).await;
    let target = by_reference(&s, &id, &uri);
    let attempts = (0..20).map(|_| {
        let c = browser();
        let target = target.clone();
        async move { c.get(target).send().await.unwrap().status().as_u16() }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        19,
        "{statuses:?}"
    );
}

async fn oa_20_a_request_uri_that_is_not_a_pushed_request_is_not_supported(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    register(&s, "shop", json!({})).await;
    let c = browser();
    let (good, _) = auth_url(&s, "shop", &[]);
    // With a registered redirect URI next to it, the client hears it; without one, a page.
    let r = c
        .get(format!("{good}&request_uri=https%3A%2F%2Fevil.example%2Fr"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let q = query_of(&location(&r));
    assert!(location(&r).starts_with(REDIRECT));
    assert_eq!(param(&q, "error"), Some("request_uri_not_supported"));
    assert_eq!(param(&q, "state"), Some("st4te"));
    let r = c
        .get(by_reference(&s, "shop", "https://evil.example/r"))
        .send()
        .await
        .unwrap();
    assert_page(r, "a foreign request_uri without a redirect").await;
    // Request objects stay unsupported.
    let r = c
        .get(format!("{good}&request=eyJhbGciOiJub25lIn0.e30."))
        .send()
        .await
        .unwrap();
    assert_eq!(
        param(&query_of(&location(&r)), "error"),
        Some("request_not_supported")
    );
}

async fn oa_12_oa_17_the_par_endpoint_authenticates_and_validates(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let (id, secret) = register(&s, "shop", json!({})).await;
    let (good, _) = auth_url(&s, &id, &[]);
    let (status, body) = push(&s, (&id, "wrong"), &good).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = push(
        &s,
        ("nobody", "x"),
        &good.replace("client_id=shop", "client_id=nobody"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let cases = [
        (format!("{good}&scope=profile"), "invalid_request"),
        (
            format!("{good}&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax"),
            "invalid_request",
        ),
        (
            format!("{good}&request=eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
        ),
        (
            good.replace(
                "redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb",
                "redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
            ),
            "invalid_request",
        ),
        (
            good.replace("client_id=shop", "client_id=other"),
            "invalid_request",
        ),
        (
            good.replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            good.replace("scope=openid+email", "scope=openid+admin"),
            "invalid_scope",
        ),
        (
            good.replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "invalid_request",
        ),
    ];
    for (url, error) in cases {
        let (status, body) = push(&s, (&id, &secret), &url).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{url}"
        );
    }
    // Only a form body.
    let r = s
        .http
        .post(format!("{}/oauth2/par", issuer(&s)))
        .basic_auth(&id, Some(&secret))
        .json(&json!({"client_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Public clients push with their client_id alone.
    let (public, _) = register(&s, "spa", json!({"kind": "public"})).await;
    let (url, _) = auth_url(&s, &public, &[]);
    let pairs: Vec<(String, String)> = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let r = s
        .http
        .post(format!("{}/oauth2/par", issuer(&s)))
        .form(&pairs)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
}

async fn a_client_that_requires_par_is_refused_a_plain_authorization_request(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let (id, secret) = register(&s, "shop", json!({"require_par": true})).await;
    let c = browser();
    let (url, _) = auth_url(&s, &id, &[]);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.starts_with(REDIRECT), "{to}");
    let q = query_of(&to);
    assert_eq!(param(&q, "error"), Some("invalid_request"));
    assert_eq!(param(&q, "state"), Some("st4te"));
    assert!(param(&q, "code").is_none());
    let uri = pushed(&s, (&id, &secret), &url).await;
    let r = c.get(by_reference(&s, &id, &uri)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).contains("/flows/login/"), "{}", location(&r));
}

engine_tests!(
    a_pushed_request_signs_an_independent_relying_party_in,
    oa_21_a_request_uri_is_single_use_short_lived_and_bound_to_its_client,
    oa_21_concurrent_uses_of_one_request_uri_have_one_winner,
    oa_20_a_request_uri_that_is_not_a_pushed_request_is_not_supported,
    oa_12_oa_17_the_par_endpoint_authenticates_and_validates,
    a_client_that_requires_par_is_refused_a_plain_authorization_request,
);
