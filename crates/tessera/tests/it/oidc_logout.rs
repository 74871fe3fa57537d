//! Logout as apps see it: RP-initiated logout at the `end_session_endpoint` (SES-05, OIDC-06) and
//! back-channel logout (OIDC-07), where a real HTTP listener in the test plays the app's receiver and
//! checks the logout token on its own (its signature against the published JWKS with aws-lc-rs, not
//! Tessera's JOSE code). Retries and giving up move the server's clock. Every test runs on SQLite and
//! PostgreSQL.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tessera_testkit::{Engine, TestServer, engine_tests};
use uuid::Uuid;

use crate::oidc_attacks::jwt_part;
use crate::oidc_flow::{
    REDIRECT, auth_url, authorize, customer, issuer, location, param, query_of, redeem, register,
};
use crate::pages::browser;

const BYE: &str = "http://127.0.0.1/bye";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// What the receiver got: the path, the content type and the body of each POST.
type Received = Arc<Mutex<Vec<(String, String, String)>>>;

/// An app's back-channel logout receiver on a loopback port: records every POST and answers `status`.
pub(crate) struct Receiver {
    pub(crate) base: String,
    got: Received,
}

impl Receiver {
    pub(crate) async fn start(status: StatusCode) -> Receiver {
        let got: Received = Arc::default();
        let app = axum::Router::new()
            .fallback(
                |State((got, status)): State<(Received, StatusCode)>,
                 uri: Uri,
                 headers: HeaderMap,
                 body: String| async move {
                    let ct = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    got.lock().unwrap().push((uri.path().to_owned(), ct, body));
                    // A redirect answer points elsewhere on the receiver (where a follower would post).
                    (status, [("location", "/elsewhere")])
                },
            )
            .with_state((got.clone(), status));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { base, got }
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// Waits (up to 30 s: the server's worker polls) until `n` posts arrived.
    pub(crate) async fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.count() < n {
            assert!(Instant::now() < deadline, "{} posts, not {n}", self.count());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The logout token of post `i`, checking it came as a form to `path`.
    pub(crate) fn token(&self, i: usize, path: &str) -> String {
        let got = self.got.lock().unwrap();
        let (p, ct, body) = &got[i];
        assert_eq!(p, path);
        assert_eq!(ct, "application/x-www-form-urlencoded");
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(pairs.len(), 1, "{body}");
        assert_eq!(pairs[0].0, "logout_token");
        pairs[0].1.clone()
    }
}

/// A server whose back-channel receivers may be on loopback (the test's listener), giving up after three
/// attempts with a first wait of a minute (so only the test's clock makes a retry due).
pub(crate) async fn server(engine: Engine, allow_private: bool) -> Option<TestServer> {
    TestServer::start_with(engine, |env| {
        if allow_private {
            env.insert(
                "TESSERA_BACKCHANNEL_ALLOW_PRIVATE_NETWORKS".into(),
                "true".into(),
            );
        }
        env.insert("TESSERA_BACKCHANNEL_RETRY_BASE_MS".into(), "60000".into());
        env.insert("TESSERA_BACKCHANNEL_MAX_ATTEMPTS".into(), "3".into());
    })
    .await
}

fn logout_url(s: &TestServer, params: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&format!("{}/oauth2/logout", issuer(s))).unwrap();
    for (k, v) in params {
        u.query_pairs_mut().append_pair(k, v);
    }
    u.to_string()
}

/// Signs the customer in through `client` in a fresh browser and redeems the code; returns the browser
/// and the ID token.
async fn signed_in(s: &TestServer, client: (&str, &str)) -> (reqwest::Client, String) {
    let (c, body) = tokens(s, client).await;
    (c, body["id_token"].as_str().unwrap().to_owned())
}

/// [`signed_in`], returning the token endpoint's whole answer.
async fn tokens(s: &TestServer, client: (&str, &str)) -> (reqwest::Client, Value) {
    let c = browser();
    let (url, verifier) = auth_url(s, client.0, &[]);
    let back = authorize(s, &c, &url).await;
    let code = param(&query_of(&back), "code").unwrap().to_owned();
    let (status, body) = redeem(s, client, &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200, "{body}");
    (c, body)
}

/// Refreshes at the token endpoint; returns the status and answer.
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

/// Whether the browser's SSO session still answers an authorization request without the sign-in form.
async fn still_signed_in(s: &TestServer, c: &reqwest::Client, client: &str) -> bool {
    let (url, _) = auth_url(s, client, &[]);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(
        to.starts_with(REDIRECT) || to.contains("/flows/login/"),
        "{to}"
    );
    to.starts_with(REDIRECT)
}

/// The hidden fields of the page's form, unescaped.
pub(crate) fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let unescape = |v: &str| {
        v.replace("&#x2f;", "/")
            .replace("&#x2F;", "/")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once('"').unwrap();
            let value = rest
                .split_once("value=\"")
                .unwrap()
                .1
                .split('"')
                .next()
                .unwrap();
            (unescape(name), unescape(value))
        })
        .collect()
}

/// The form's action, made absolute.
pub(crate) fn form_action(s: &TestServer, html: &str) -> String {
    let action = html
        .split("<form method=\"post\" action=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&");
    format!("{}{action}", s.public)
}

async fn ses_05_a_logout_request_without_a_hint_asks_first_and_a_cross_site_post_is_refused(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let (id, secret) = register(&s, "shop", json!({"post_logout_redirect_uris": [BYE]})).await;
    let (c, _) = signed_in(&s, (&id, &secret)).await;
    let url = logout_url(
        &s,
        &[
            ("client_id", "shop"),
            ("post_logout_redirect_uri", BYE),
            ("state", "s1"),
        ],
    );
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "a confirmation page, not a redirect");
    let html = r.text().await.unwrap();
    assert!(still_signed_in(&s, &c, "shop").await, "a GET ends nothing");
    let action = form_action(&s, &html);
    assert!(action.contains("/oauth2/logout/confirm"), "{action}");
    let fields = hidden_fields(&html);
    assert!(fields.iter().any(|(k, _)| k == "csrf_token"), "{fields:?}");
    // A page on another site posting the form: refused, even with the right token.
    let r = c
        .post(&action)
        .header("sec-fetch-site", "cross-site")
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Without the token (what a cross-site form could send): refused.
    let without: Vec<_> = fields.iter().filter(|(k, _)| k != "csrf_token").collect();
    let r = c.post(&action).form(&without).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // The token of another browser's session does not fit this one.
    let (other, _) = signed_in(&s, (&id, &secret)).await;
    let r = other.get(&url).send().await.unwrap();
    let other_fields = hidden_fields(&r.text().await.unwrap());
    let r = c.post(&action).form(&other_fields).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(still_signed_in(&s, &c, "shop").await, "nothing ended yet");
    // The customer confirms on the page: signed out, back at the app with its state.
    let r = c.post(&action).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("{BYE}?state=s1"));
    assert!(!still_signed_in(&s, &c, "shop").await, "the session ended");
    assert!(
        still_signed_in(&s, &other, "shop").await,
        "only this browser's session"
    );
    // With no app named: the same confirmation, then the plain "signed out" page.
    let r = other.get(logout_url(&s, &[])).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let r = other
        .post(form_action(&s, &html))
        .form(&hidden_fields(&html))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("You are signed out"));
    assert!(!still_signed_in(&s, &other, "shop").await);
}

async fn oidc_06_a_logout_request_redirects_only_to_a_registered_uri_with_a_valid_hint(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let (id, secret) = register(
        &s,
        "shop",
        json!({
            "post_logout_redirect_uris": [BYE],
            "grant_types": ["authorization_code", "refresh_token"],
        }),
    )
    .await;
    register(
        &s,
        "blog",
        json!({"post_logout_redirect_uris": ["http://127.0.0.1/blog-bye"]}),
    )
    .await;
    let (c, body) = tokens(&s, (&id, &secret)).await;
    let hint = body["id_token"].as_str().unwrap().to_owned();
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    let refused = |r: &reqwest::Response| {
        assert_eq!(r.status(), 400, "an error page");
        assert!(r.headers().get("location").is_none(), "never a redirect");
    };
    let bad: Vec<Vec<(&str, String)>> = vec![
        // Not registered for this client (another client's, another host, a query added, a prefix).
        vec![(
            "post_logout_redirect_uri",
            "http://127.0.0.1/blog-bye".into(),
        )],
        vec![(
            "post_logout_redirect_uri",
            "https://evil.example/bye".into(),
        )],
        vec![("post_logout_redirect_uri", format!("{BYE}?next=evil"))],
        vec![("post_logout_redirect_uri", format!("{BYE}/x"))],
        // The hint names another client than client_id.
        vec![
            ("client_id", "blog".into()),
            ("post_logout_redirect_uri", BYE.into()),
        ],
    ];
    for extra in bad {
        let mut params = vec![("id_token_hint", hint.clone()), ("state", "s1".into())];
        params.extend(extra);
        let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = c.get(logout_url(&s, &p)).send().await.unwrap();
        refused(&r);
        let html = r.text().await.unwrap();
        assert!(html.contains("This sign-out link does not work"), "{p:?}");
        assert!(
            !html.contains("evil"),
            "the page does not quote the request"
        );
    }
    // A post-logout URI with no way to know the client.
    let r = c
        .get(logout_url(&s, &[("post_logout_redirect_uri", BYE)]))
        .send()
        .await
        .unwrap();
    refused(&r);
    // A modified hint: another session id in the payload, the signature left as it was; and a forged
    // signature.
    let parts: Vec<&str> = hint.split('.').collect();
    let mut claims = jwt_part(&hint, 1);
    claims["sid"] = json!(Uuid::now_v7().to_string());
    let forged_payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let modified = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[5] ^= 1;
    let resigned = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    for h in [modified.as_str(), resigned.as_str(), "not.a.token"] {
        let r = c
            .get(logout_url(
                &s,
                &[("id_token_hint", h), ("post_logout_redirect_uri", BYE)],
            ))
            .send()
            .await
            .unwrap();
        refused(&r);
    }
    // A repeated parameter is ambiguous.
    let r = c
        .get(format!(
            "{}&state=a&state=b",
            logout_url(&s, &[("id_token_hint", &hint)])
        ))
        .send()
        .await
        .unwrap();
    refused(&r);
    assert!(still_signed_in(&s, &c, "shop").await, "nothing ended");
    // The hint has expired by now: the specification lets it still identify the session.
    s.clock.advance(Duration::from_secs(20 * 60));
    assert!(still_signed_in(&s, &c, "shop").await);
    let (status, body) = refresh(&s, (&id, &secret), &refresh_token).await;
    assert_eq!(status, 200, "{body}");
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    // A valid hint naming this browser's session, posted by the app's page: the post arrives without the
    // session cookie (SameSite=Lax), so the browser is sent on to the same request as a GET, which has it.
    let r = browser()
        .post(format!("{}/oauth2/logout", issuer(&s)))
        .form(&[
            ("id_token_hint", hint.as_str()),
            ("post_logout_redirect_uri", BYE),
            ("state", "a b&c"),
            ("ui_locales", "de"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let get = location(&r);
    assert!(get.starts_with("/t/default/oauth2/logout?"), "{get}");
    assert!(
        still_signed_in(&s, &c, "shop").await,
        "not ended by the post"
    );
    // Signed out at once, back with the state.
    let r = c.get(format!("{}{get}", s.public)).send().await.unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let to = location(&r);
    assert!(to.starts_with(&format!("{BYE}?")), "{to}");
    assert_eq!(
        param(&query_of(&to), "state"),
        Some("a b&c"),
        "state echoed"
    );
    assert!(!still_signed_in(&s, &c, "shop").await, "the session ended");
    let (status, body) = refresh(&s, (&id, &secret), &refresh_token).await;
    assert_eq!(
        status, 400,
        "the session's refresh token died with it: {body}"
    );
    assert_eq!(body["error"], "invalid_grant");
    // A hint naming a session this browser does not have (another browser's) only asks.
    let (c2, _) = signed_in(&s, (&id, &secret)).await;
    let r = c2
        .get(logout_url(&s, &[("id_token_hint", &hint)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a confirmation page");
    assert!(r.text().await.unwrap().contains("csrf_token"));
    assert!(still_signed_in(&s, &c2, "shop").await);
}

/// Checks a logout token independently: `typ`, ES256 signature against the published JWKS, and its
/// claims for `client` about session `sid` of `sub`. Returns the claims.
pub(crate) async fn check_logout_token(
    s: &TestServer,
    token: &str,
    client: &str,
    sub: &str,
    sid: &str,
) -> Value {
    let header = jwt_part(token, 0);
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(header["alg"], "ES256");
    let jwks: Value = s
        .http
        .get(format!("{}/.well-known/jwks.json", issuer(s)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's kid is published");
    assert_eq!(jwk["crv"], "P-256");
    let mut point = vec![4u8];
    point.extend(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap());
    point.extend(URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap());
    let (input, sig) = token.rsplit_once('.').unwrap();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap())
        .expect("the signature verifies against the JWKS");
    let c = jwt_part(token, 1);
    assert_eq!(c["iss"], issuer(s));
    assert_eq!(c["aud"], client);
    assert_eq!(c["sub"], sub);
    assert_eq!(c["sid"], sid);
    assert_eq!(c["events"], json!({EVENT: {}}));
    assert!(c.get("nonce").is_none(), "a logout token has no nonce");
    assert!(c["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 120);
    c
}

/// A sender for [`due_now`]'s round: it posts nothing, and a notice it is handed fails (transiently).
struct NoSend;

impl tessera_core::oauth::backchannel::LogoutSender for NoSend {
    fn send<'a>(
        &'a self,
        _uri: &'a str,
        _logout_token: &'a str,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), tessera_core::jobs::Failure>> + Send + 'a>,
    > {
        Box::pin(async {
            Err(tessera_core::jobs::Failure::transient(
                "claimed by the test",
            ))
        })
    }
}

/// How many logout notices are due now: one round of the worker framework's own queue worker
/// (`run_once`) over the notices, at the server's clock, claiming whatever is due. Notices done, given up
/// or due later are never claimed, so 0 says without waiting that nothing more is sent until the clock
/// moves (a notice it did claim is recorded as a failed attempt: the test fails anyway).
async fn due_now(s: &TestServer) -> usize {
    use tessera_core::jobs::{QueueWorker, RetryPolicy, WorkerSettings};
    let worker = QueueWorker::new(
        &s.tessera,
        tessera_core::oauth::backchannel::LogoutQueue::new(s.tessera.clone(), Arc::new(NoSend)),
        "test",
        WorkerSettings {
            lease: Duration::from_secs(30),
            item_timeout: Duration::from_secs(10),
            batch: 100,
            poll: Duration::from_secs(1),
            retry: RetryPolicy::new(Duration::from_secs(60), Duration::from_secs(3600), 3),
        },
    );
    worker.run_once().await.unwrap()
}

/// Waits (up to 30 s: the server's worker polls) until the notices about `sid` satisfy `settled`;
/// returns them.
async fn notices_when(
    s: &TestServer,
    sid: Uuid,
    settled: impl Fn(&[tessera_store::oauth_logout::LogoutNotice]) -> bool,
) -> Vec<tessera_store::oauth_logout::LogoutNotice> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let notices = s.tessera.oauth().logout_notices(sid).await.unwrap();
        if settled(&notices) {
            return notices;
        }
        assert!(Instant::now() < deadline, "{notices:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn oidc_07_an_app_logout_notifies_every_app_of_the_session_with_a_signed_logout_token(
    engine: Engine,
) {
    let Some(s) = server(engine, true).await else {
        return;
    };
    let sub = customer(&s).await;
    let rx = Receiver::start(StatusCode::OK).await;
    let (id, secret) = register(
        &s,
        "shop",
        json!({
            "signing_alg": "ES256",
            "post_logout_redirect_uris": [BYE],
            "backchannel_logout_uri": format!("{}/bcl/shop", rx.base),
        }),
    )
    .await;
    let (blog, blog_secret) = register(
        &s,
        "blog",
        json!({"signing_alg": "ES256", "backchannel_logout_uri": format!("{}/bcl/blog", rx.base)}),
    )
    .await;
    // A third app with a receiver that never got tokens in this session hears nothing.
    register(
        &s,
        "bystander",
        json!({"backchannel_logout_uri": format!("{}/bcl/bystander", rx.base)}),
    )
    .await;
    let (c, hint) = signed_in(&s, (&id, &secret)).await;
    let sid = jwt_part(&hint, 1)["sid"].as_str().unwrap().to_owned();
    // Single sign-on into the blog in the same session.
    let (url, verifier) = auth_url(&s, &blog, &[]);
    let r = c.get(&url).send().await.unwrap();
    let code = param(&query_of(&location(&r)), "code").unwrap().to_owned();
    let (status, _) = redeem(&s, (&blog, &blog_secret), &code, Some(&verifier), REDIRECT).await;
    assert_eq!(status, 200);
    let r = c
        .get(logout_url(
            &s,
            &[("id_token_hint", &hint), ("post_logout_redirect_uri", BYE)],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    rx.wait_for(2).await;
    let mut paths: Vec<String> = rx.got.lock().unwrap().iter().map(|g| g.0.clone()).collect();
    paths.sort();
    assert_eq!(paths, ["/bcl/blog", "/bcl/shop"]);
    for i in 0..2 {
        let path = rx.got.lock().unwrap()[i].0.clone();
        let client = path.trim_start_matches("/bcl/").to_owned();
        let token = rx.token(i, &path);
        check_logout_token(&s, &token, &client, &sub, &sid).await;
    }
    // The worker marks a notice done after the receiver answered: wait for that, not for a time.
    let deadline = Instant::now() + Duration::from_secs(30);
    let notices = loop {
        let notices = s
            .tessera
            .oauth()
            .logout_notices(Uuid::parse_str(&sid).unwrap())
            .await
            .unwrap();
        if notices.iter().all(|n| n.done_at.is_some()) || Instant::now() > deadline {
            break notices;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(notices.len(), 2, "one per app that got tokens: {notices:?}");
    assert!(
        notices
            .iter()
            .all(|n| n.done_at.is_some() && n.attempts == 1),
        "{notices:?}"
    );
    // Done notices are never sent again, and the bystander has none: each app was told once.
    assert_eq!(rx.count(), 2, "each app told once, the bystander never");
    let events: Value = s
        .get("/admin/v1/tenants/default/events?limit=1000")
        .await
        .json;
    let revoked = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "session.revoked")
        .expect("the end is recorded")
        .clone();
    assert_eq!(revoked["data"]["by"], "app", "{revoked}");
    assert_eq!(revoked["data"]["client_id"], "shop", "{revoked}");
}

async fn oidc_07_a_hosted_sign_out_and_an_admin_revoking_every_session_notify_the_apps(
    engine: Engine,
) {
    let Some(s) = server(engine, true).await else {
        return;
    };
    let sub = customer(&s).await;
    let rx = Receiver::start(StatusCode::NO_CONTENT).await;
    let (id, secret) = register(
        &s,
        "shop",
        json!({"signing_alg": "ES256", "backchannel_logout_uri": format!("{}/bcl", rx.base)}),
    )
    .await;
    // The customer signs out on the hosted settings page: the app hears of that session.
    let (c, hinted) = signed_in(&s, (&id, &secret)).await;
    let r = c
        .get(format!("{}/t/default/settings", s.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = format!("{}{}", s.public, location(&r));
    let html = c.get(&page).send().await.unwrap().text().await.unwrap();
    let r = c
        .post(&page)
        .form(&[
            ("csrf_token", crate::pages::csrf(&html).as_str()),
            ("method", "sign_out"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success() || r.status() == 303,
        "{}",
        r.status()
    );
    assert!(!still_signed_in(&s, &c, "shop").await);
    rx.wait_for(1).await;
    let token = rx.token(0, "/bcl");
    let sid = jwt_part(&hinted, 1)["sid"].as_str().unwrap().to_owned();
    check_logout_token(&s, &token, "shop", &sub, &sid).await;
    // An admin revokes every session of the customer: one token per session that was still live.
    let (_, first) = signed_in(&s, (&id, &secret)).await;
    let (_, second) = signed_in(&s, (&id, &secret)).await;
    let r = s
        .delete(&format!(
            "/admin/v1/tenants/default/identities/{sub}/sessions"
        ))
        .await;
    assert!(r.status < 300, "{r:?}");
    rx.wait_for(3).await;
    let mut want = vec![
        jwt_part(&first, 1)["sid"].as_str().unwrap().to_owned(),
        jwt_part(&second, 1)["sid"].as_str().unwrap().to_owned(),
    ];
    want.sort();
    let mut sids = Vec::new();
    for i in 1..3 {
        let token = rx.token(i, "/bcl");
        let sid = jwt_part(&token, 1)["sid"].as_str().unwrap().to_owned();
        assert!(want.contains(&sid), "{sid} is one of {want:?}");
        check_logout_token(&s, &token, "shop", &sub, &sid).await;
        sids.push(sid);
    }
    sids.sort();
    assert_eq!(sids, want, "one token per ended session");
    // The session ended before is not told of again: each of the three sessions has one notice, sent
    // once and done, and nothing is due (done notices are never claimed).
    for sid in want.iter().chain([&sid]) {
        let notices = notices_when(&s, Uuid::parse_str(sid).unwrap(), |n| {
            n.iter().all(|n| n.done_at.is_some())
        })
        .await;
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert_eq!(notices[0].attempts, 1, "{notices:?}");
    }
    assert_eq!(due_now(&s).await, 0, "nothing more is due");
    assert_eq!(
        rx.count(),
        3,
        "the session ended before is not told of again"
    );
}

async fn oidc_07_a_failing_receiver_is_retried_with_backoff_then_given_up(engine: Engine) {
    let Some(s) = server(engine, true).await else {
        return;
    };
    let sub = customer(&s).await;
    let rx = Receiver::start(StatusCode::SERVICE_UNAVAILABLE).await;
    let (id, secret) = register(
        &s,
        "shop",
        json!({"backchannel_logout_uri": format!("{}/bcl", rx.base)}),
    )
    .await;
    let (_, hint) = signed_in(&s, (&id, &secret)).await;
    let sid = Uuid::parse_str(jwt_part(&hint, 1)["sid"].as_str().unwrap()).unwrap();
    s.delete(&format!(
        "/admin/v1/tenants/default/identities/{sub}/sessions"
    ))
    .await;
    rx.wait_for(1).await;
    let notice = |s: &TestServer| {
        let t = s.tessera.clone();
        async move { t.oauth().logout_notices(sid).await.unwrap().remove(0) }
    };
    // Not tried again before its time (the first wait is 30 to 60 s on the server's clock): once the
    // failure is recorded, the notice is due no sooner than 30 s after it, and a round now claims nothing.
    let n = notices_when(&s, sid, |n| n.iter().all(|n| n.last_error.is_some())).await;
    let n = n[0].clone();
    let now = tessera_core::Clock::now(s.clock.as_ref());
    let due = n.next_attempt_at.expect("due again later");
    assert!(due >= now + time::Duration::seconds(25), "{due} vs {now}");
    assert_eq!(due_now(&s).await, 0, "not due before its time");
    assert_eq!(rx.count(), 1);
    assert_eq!(n.attempts, 1);
    assert!(n.done_at.is_none() && n.dead_at.is_none());
    assert!(
        n.last_error.as_deref().unwrap_or("").contains("503"),
        "{n:?}"
    );
    s.clock.advance(Duration::from_secs(10 * 60));
    rx.wait_for(2).await;
    // The second failure is recorded (its next attempt set from the server's clock) before the clock
    // moves again: moved earlier, the next attempt would be set ten minutes further on.
    let now = tessera_core::Clock::now(s.clock.as_ref());
    notices_when(&s, sid, |n| {
        n.iter()
            .all(|n| n.attempts == 2 && n.next_attempt_at.is_some_and(|due| due > now))
    })
    .await;
    s.clock.advance(Duration::from_secs(10 * 60));
    rx.wait_for(3).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while notice(&s).await.dead_at.is_none() {
        assert!(Instant::now() < deadline, "not given up");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(notice(&s).await.attempts, 3);
    // Given up is final: an hour later on the server's clock a round claims nothing.
    s.clock.advance(Duration::from_secs(60 * 60));
    assert_eq!(due_now(&s).await, 0, "a notice given up is never due again");
    assert_eq!(rx.count(), 3, "three attempts in all");
    let events: Value = s
        .get("/admin/v1/tenants/default/events?limit=1000")
        .await
        .json;
    let failed = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "oauth.backchannel_logout_failed")
        .expect("giving up is recorded")
        .clone();
    assert_eq!(failed["data"]["client_id"], "shop");
    assert_eq!(failed["data"]["session_id"], sid.to_string());
    assert_eq!(failed["data"]["attempts"], 3);
}

async fn oidc_07_a_receiver_on_a_private_address_is_never_contacted_in_production(engine: Engine) {
    let Some(s) = server(engine, false).await else {
        return;
    };
    customer(&s).await;
    // A bare listener that counts connections: any contact at all would show.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let contacts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = contacts.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    // Registration takes these (https, or http on loopback); delivery in production refuses them.
    let receivers = [
        ("shop", format!("https://localhost:{port}/bcl")),
        ("blog", format!("https://127.0.0.1:{port}/bcl")),
        ("wiki", format!("http://127.0.0.1:{port}/bcl")),
    ];
    // Registration refuses plain http off loopback, fragments and credentials in the URI.
    for bad in [
        "http://shop.example/bcl",
        "https://shop.example/bcl#x",
        "https://u:p@shop.example/bcl",
        "javascript:alert(1)",
    ] {
        let r = s
            .post(
                crate::oidc_flow::CLIENTS,
                json!({"client_id": "bad", "name": "Bad", "redirect_uris": [REDIRECT],
                       "backchannel_logout_uri": bad}),
            )
            .await;
        assert_eq!(r.status, 422, "{bad}: {r:?}");
        assert!(r.text.contains("backchannel_logout_uri"), "{r:?}");
    }
    let mut secrets = Vec::new();
    for (client, uri) in &receivers {
        secrets.push(register(&s, client, json!({"backchannel_logout_uri": uri})).await);
    }
    let (c, hint) = signed_in(&s, (&secrets[0].0, &secrets[0].1)).await;
    for client in ["blog", "wiki"] {
        let (url, _) = auth_url(&s, client, &[]);
        let r = c.get(&url).send().await.unwrap();
        assert!(param(&query_of(&location(&r)), "code").is_some());
    }
    let sid = Uuid::parse_str(jwt_part(&hint, 1)["sid"].as_str().unwrap()).unwrap();
    let r = c
        .get(logout_url(&s, &[("id_token_hint", &hint)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "signed out");
    let deadline = Instant::now() + Duration::from_secs(30);
    let notices = loop {
        let all = s.tessera.oauth().logout_notices(sid).await.unwrap();
        if all.len() == 3 && all.iter().all(|n| n.dead_at.is_some()) {
            break all;
        }
        assert!(Instant::now() < deadline, "not given up: {all:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    for n in &notices {
        assert_eq!(n.attempts, 1, "a refusal by the guard is final: {n:?}");
        let error = n.last_error.as_deref().unwrap_or("");
        let want = if n.client_id == "wiki" {
            "not https"
        } else {
            "loopback"
        };
        assert!(error.contains(want), "{n:?}");
    }
    assert_eq!(
        contacts.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the loopback receiver was never contacted"
    );
}

async fn oidc_07_a_receiver_answering_with_a_redirect_is_not_followed(engine: Engine) {
    let Some(s) = server(engine, true).await else {
        return;
    };
    let sub = customer(&s).await;
    let rx = Receiver::start(StatusCode::TEMPORARY_REDIRECT).await;
    let (id, secret) = register(
        &s,
        "shop",
        json!({"backchannel_logout_uri": format!("{}/bcl", rx.base)}),
    )
    .await;
    let (_, hint) = signed_in(&s, (&id, &secret)).await;
    let sid = Uuid::parse_str(jwt_part(&hint, 1)["sid"].as_str().unwrap()).unwrap();
    s.delete(&format!(
        "/admin/v1/tenants/default/identities/{sub}/sessions"
    ))
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let n = loop {
        let n = s
            .tessera
            .oauth()
            .logout_notices(sid)
            .await
            .unwrap()
            .remove(0);
        if n.dead_at.is_some() {
            break n;
        }
        assert!(Instant::now() < deadline, "not given up: {n:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(n.attempts, 1, "{n:?}");
    assert!(
        n.last_error.as_deref().unwrap_or("").contains("307"),
        "{n:?}"
    );
    let paths: Vec<String> = rx.got.lock().unwrap().iter().map(|g| g.0.clone()).collect();
    assert_eq!(paths, ["/bcl"], "the redirect's target never got the token");
}

async fn discovery_names_the_end_session_endpoint_and_back_channel_logout(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let d: Value = s
        .http
        .get(format!("{}/.well-known/openid-configuration", issuer(&s)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        d["end_session_endpoint"],
        format!("{}/oauth2/logout", issuer(&s))
    );
    assert_eq!(d["backchannel_logout_supported"], true);
    assert_eq!(d["backchannel_logout_session_supported"], true);
}

engine_tests!(
    ses_05_a_logout_request_without_a_hint_asks_first_and_a_cross_site_post_is_refused,
    oidc_06_a_logout_request_redirects_only_to_a_registered_uri_with_a_valid_hint,
    oidc_07_an_app_logout_notifies_every_app_of_the_session_with_a_signed_logout_token,
    oidc_07_a_hosted_sign_out_and_an_admin_revoking_every_session_notify_the_apps,
    oidc_07_a_failing_receiver_is_retried_with_backoff_then_given_up,
    oidc_07_a_receiver_on_a_private_address_is_never_contacted_in_production,
    oidc_07_a_receiver_answering_with_a_redirect_is_not_followed,
    discovery_names_the_end_session_endpoint_and_back_channel_logout,
);
