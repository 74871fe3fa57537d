//! Sessions as a browser holds them, on a server running as production runs: the cookie on every
//! response (SES-03), idle and absolute expiry moved with the test clock (SES-04), sign-out that ends the
//! session on the server (SES-05), and the headers of every HTML page (WEB-01, WEB-03).
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::cookie::CookieStore;
use reqwest::redirect::Policy;
use serde_json::json;
use tessera_testkit::{Engine, TestServer, engine_tests};

const PASSWORD: &str = "correct horse battery staple 42";
const SESSION_COOKIE: &str = "__Host-tessera_session";

/// One response as the browser saw it.
#[derive(Debug, Clone)]
struct Seen {
    url: String,
    status: u16,
    headers: reqwest::header::HeaderMap,
}

/// A browser without JavaScript that keeps cookies and remembers every response's headers.
struct Browser {
    http: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
    seen: Mutex<Vec<Seen>>,
}

impl Browser {
    fn new() -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(Policy::none())
            .build()
            .unwrap();
        Browser {
            http,
            jar,
            seen: Mutex::new(Vec::new()),
        }
    }

    async fn keep(&self, url: &str, r: reqwest::Response) -> (u16, String, String) {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.seen.lock().unwrap().push(Seen {
            url: url.to_owned(),
            status,
            headers,
        });
        (status, location, r.text().await.unwrap())
    }

    /// GET; returns status, `Location` and body.
    async fn get(&self, url: &str) -> (u16, String, String) {
        let r = self.http.get(url).send().await.unwrap();
        self.keep(url, r).await
    }

    /// A form POST.
    async fn post(&self, url: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let r = self.http.post(url).form(form).send().await.unwrap();
        self.keep(url, r).await
    }

    /// Opens a journey (`/t/default/<kind>`), following its redirect; returns the flow URL and page.
    async fn open(&self, s: &TestServer, kind: &str) -> (String, String) {
        let (status, loc, _) = self.get(&format!("{}/t/default/{kind}", s.public)).await;
        assert_eq!(status, 303, "{kind}");
        let url = format!("{}{loc}", s.public);
        let (status, _, html) = self.get(&url).await;
        assert_eq!(status, 200, "{kind}: {html}");
        (url, html)
    }

    /// The session cookie's value in the jar.
    fn session(&self, s: &TestServer) -> Option<String> {
        let url = url::Url::parse(&s.public).unwrap();
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .unwrap()
            .split("; ")
            .find_map(|kv| kv.strip_prefix(&format!("{SESSION_COOKIE}=")))
            .map(str::to_owned)
    }

    /// True when the settings page opens (a live session), false when it sends the browser to sign in.
    async fn signed_in(&self, s: &TestServer) -> bool {
        let (status, loc, _) = self.get(&format!("{}/t/default/settings", s.public)).await;
        assert_eq!(status, 303);
        if loc.starts_with("/t/default/login") {
            return false;
        }
        assert!(loc.starts_with("/t/default/flows/settings/"), "{loc}");
        true
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn csrf(html: &str) -> String {
    let i =
        html.find("name=\"csrf_token\" value=\"").unwrap() + "name=\"csrf_token\" value=\"".len();
    html[i..].split('"').next().unwrap().to_owned()
}

/// Signs a new customer up through the forms (address, emailed link, password); the browser ends
/// signed in.
async fn sign_up(s: &TestServer, b: &Browser, email: &str) {
    let (url, html) = b.open(s, "registration").await;
    let (status, _, _) = b
        .post(
            &url,
            &[
                ("csrf_token", &csrf(&html)),
                ("email", email),
                ("method", "email"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let link = s.link_for(email).await.unwrap();
    let (status, _, details) = b.get(&link).await;
    assert_eq!(status, 200, "{details}");
    let (status, loc, body) = b
        .post(
            &url,
            &[
                ("csrf_token", &csrf(&details)),
                ("password", PASSWORD),
                ("method", "password"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(loc, "/t/default/settings");
}

/// Signs in through the sign-in form.
async fn sign_in(s: &TestServer, b: &Browser, email: &str) {
    let (url, html) = b.open(s, "login").await;
    let (status, _, body) = b
        .post(
            &url,
            &[
                ("csrf_token", &csrf(&html)),
                ("identifier", email),
                ("password", PASSWORD),
                ("method", "password"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{body}");
}

/// Signs out with the settings page's button.
async fn sign_out(s: &TestServer, b: &Browser) {
    let (url, html) = b.open(s, "settings").await;
    let (status, loc, body) = b
        .post(
            &url,
            &[("csrf_token", &csrf(&html)), ("method", "sign_out")],
        )
        .await;
    let page = if status == 303 {
        b.get(&format!("{}{loc}", s.public)).await.2
    } else {
        body
    };
    assert!(page.contains("You are signed out"), "{status}: {page}");
}

/// Sets the tenant's session lifetimes.
async fn session_policy(s: &TestServer, idle_minutes: u32, absolute_hours: u32) {
    let r = s
        .put(
            "/admin/v1/tenants/default/policy",
            json!({
                "document": {"sessions": {
                    "idle_timeout_minutes": idle_minutes,
                    "absolute_lifetime_hours": absolute_hours,
                }},
                "reason": "session lifetime test",
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}

const MINUTE: Duration = Duration::from_secs(60);

async fn ses_04_a_session_ends_after_the_idle_timeout(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    session_policy(&s, 5, 1).await;
    let b = Browser::new();
    sign_up(&s, &b, "idle@example.com").await;
    assert!(b.signed_in(&s).await);
    // Activity moves the idle deadline: two gaps just under five minutes keep the session.
    s.clock.advance(4 * MINUTE);
    assert!(b.signed_in(&s).await, "4 minutes idle");
    s.clock.advance(4 * MINUTE);
    assert!(b.signed_in(&s).await, "4 more minutes idle after activity");
    s.clock.advance(5 * MINUTE + Duration::from_secs(1));
    assert!(
        !b.signed_in(&s).await,
        "5 minutes without activity end the session"
    );
    s.clock.advance(MINUTE);
    assert!(!b.signed_in(&s).await, "and it stays ended");
}

async fn ses_04_an_active_session_ends_at_its_absolute_lifetime(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    session_policy(&s, 5, 1).await;
    let b = Browser::new();
    sign_up(&s, &b, "absolute@example.com").await;
    // Active every four minutes for 56 minutes: the idle timeout never strikes.
    for _ in 0..14 {
        s.clock.advance(4 * MINUTE);
        assert!(b.signed_in(&s).await);
    }
    s.clock.advance(4 * MINUTE + Duration::from_secs(1));
    assert!(
        !b.signed_in(&s).await,
        "one hour after sign-in the session ends however active it was"
    );
    // A fresh sign-in gives a fresh lifetime.
    sign_in(&s, &b, "absolute@example.com").await;
    assert!(b.signed_in(&s).await);
}

async fn ses_04_the_lifetimes_are_configurable_per_tenant(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    // The defaults (AAL1: a password or an emailed code): 30 days absolute, 3 days idle.
    let b = Browser::new();
    sign_up(&s, &b, "defaults@example.com").await;
    s.clock.advance(3 * 24 * 60 * MINUTE - MINUTE);
    assert!(b.signed_in(&s).await, "just under three days idle");
    s.clock.advance(3 * 24 * 60 * MINUTE + MINUTE);
    assert!(!b.signed_in(&s).await, "three days idle end it by default");
    // A tenant asks for 15 minutes idle: new sessions follow it.
    session_policy(&s, 15, 12).await;
    sign_in(&s, &b, "defaults@example.com").await;
    s.clock.advance(15 * MINUTE + Duration::from_secs(1));
    assert!(
        !b.signed_in(&s).await,
        "15 minutes idle under the new policy"
    );
}

async fn ses_05_sign_out_ends_the_session_on_the_server(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let b = Browser::new();
    sign_up(&s, &b, "leaving@example.com").await;
    let token = b.session(&s).expect("a session cookie");
    sign_out(&s, &b).await;
    assert_eq!(
        b.session(&s),
        None,
        "the browser was told to drop the cookie"
    );
    assert!(!b.signed_in(&s).await);
    // Someone who kept a copy of the cookie gets nothing from it.
    let copy = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let r = copy
        .get(format!("{}/t/default/settings", s.public))
        .header("cookie", format!("{SESSION_COOKIE}={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/t/default/login"),
        "the server ended the session: {:?}",
        r.headers()
    );
    let r = copy
        .get(format!("{}/t/default/api/sessions", s.public))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "nor through the API");
}

/// Drives every journey a customer can take through the pages: sign-up, sign-in, settings, sign-out,
/// recovery, an expired and an unknown flow.
async fn every_journey(s: &TestServer, b: &Browser) {
    let email = "journeys@example.com";
    sign_up(s, b, email).await;
    sign_out(s, b).await;
    sign_in(s, b, email).await;
    b.open(s, "settings").await;
    sign_out(s, b).await;
    let (url, html) = b.open(s, "recovery").await;
    b.post(
        &url,
        &[
            ("csrf_token", &csrf(&html)),
            ("email", email),
            ("method", "email"),
        ],
    )
    .await;
    b.open(s, "verification").await;
    let (url, _) = b.open(s, "login").await;
    s.clock
        .advance(tessera_core::flows::FLOW_TTL.unsigned_abs() + MINUTE);
    b.get(&url).await;
    b.get(&format!(
        "{}/t/default/flows/login/00000000-0000-7000-8000-000000000000",
        s.public
    ))
    .await;
    b.get(&format!("{}/t/default/flows/link?token=nonsense", s.public))
        .await;
}

async fn ses_03_every_set_cookie_is_host_prefixed_secure_http_only_and_same_site(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let b = Browser::new();
    every_journey(&s, &b).await;
    let mut cookies = 0;
    let mut names = std::collections::BTreeSet::new();
    for r in b.seen() {
        for v in r.headers.get_all("set-cookie") {
            let v = v.to_str().unwrap();
            cookies += 1;
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').unwrap();
            names.insert(name.to_owned());
            let attrs: Vec<String> = attrs
                .split(';')
                .map(|a| a.trim().to_ascii_lowercase())
                .collect();
            let has = |a: &str| attrs.iter().any(|x| x == a);
            assert!(name.starts_with("__Host-"), "{}: {v}", r.url);
            assert!(
                has("secure") && has("httponly") && has("path=/"),
                "{}: {v}",
                r.url
            );
            assert!(
                has("samesite=lax") || has("samesite=strict"),
                "{}: {v}",
                r.url
            );
            assert!(
                !attrs.iter().any(|a| a.starts_with("domain")),
                "{}: {v}",
                r.url
            );
            assert!(
                !value.contains('@') && !value.contains("%40") && !value.contains("journeys"),
                "no personal data in {}: {v}",
                r.url
            );
        }
    }
    assert!(
        names.contains(SESSION_COOKIE) && names.contains("__Host-tessera_flow"),
        "the journeys set both cookies: {names:?}"
    );
    assert!(cookies >= 4, "{cookies}");
}

async fn web_01_web_03_every_html_response_carries_the_security_headers(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let b = Browser::new();
    every_journey(&s, &b).await;
    let seen = b.seen();
    let mut pages = 0;
    for r in &seen {
        let h = |n: &str| {
            r.headers
                .get(n)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        if r.url.contains("/t/") {
            assert_eq!(h("cache-control"), "no-store", "{} {}", r.status, r.url);
            assert_eq!(h("x-content-type-options"), "nosniff", "{}", r.url);
        }
        if !h("content-type").starts_with("text/html") {
            continue;
        }
        pages += 1;
        let csp = h("content-security-policy");
        for directive in [
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{directive}: {} {csp}", r.url);
        }
        assert_eq!(h("x-frame-options"), "DENY", "{}", r.url);
        assert_eq!(h("referrer-policy"), "no-referrer", "{}", r.url);
        assert_eq!(h("cross-origin-opener-policy"), "same-origin", "{}", r.url);
        let hsts = h("strict-transport-security");
        let max_age: u64 = hsts
            .split(';')
            .find_map(|p| p.trim().strip_prefix("max-age="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no HSTS max-age on {} {}: {hsts:?}", r.status, r.url));
        assert!(max_age >= 31_536_000, "{hsts}");
        assert!(hsts.contains("includeSubDomains"), "{hsts}");
    }
    let statuses: std::collections::BTreeSet<u16> = seen
        .iter()
        .filter(|r| {
            r.headers
                .get("content-type")
                .is_some_and(|v| v.to_str().unwrap().starts_with("text/html"))
        })
        .map(|r| r.status)
        .collect();
    assert!(pages >= 10, "{pages} HTML pages");
    assert!(
        statuses.len() >= 2,
        "pages and error pages were both seen: {statuses:?}"
    );
}

async fn hsts_is_left_out_in_plain_http_development(engine: Engine) {
    let Some(s) = TestServer::start_with(engine, |env| {
        env.insert("TESSERA_DEV_MODE".into(), "true".into());
    })
    .await
    else {
        return;
    };
    let b = Browser::new();
    b.open(&s, "login").await;
    let page = b.seen().pop().unwrap();
    assert!(
        page.headers.get("strict-transport-security").is_none(),
        "a browser would ignore it over http, and it would pin localhost to https"
    );
    assert_eq!(
        page.headers["x-frame-options"], "DENY",
        "the other headers stay"
    );
}

/// The value a response sets for cookie `name`.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

/// Signs in through the hosted form with the cookies given; the flow cookie it was given before signing
/// in and the session cookie it got.
async fn form_sign_in(s: &TestServer, email: &str, session: Option<&str>) -> (String, String) {
    let c = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let with = |flow: Option<&str>| {
        let mut parts = Vec::new();
        if let Some(f) = flow {
            parts.push(format!("__Host-tessera_flow={f}"));
        }
        if let Some(t) = session {
            parts.push(format!("__Host-tessera_session={t}"));
        }
        parts.join("; ")
    };
    let r = c
        .get(format!("{}/t/default/login", s.public))
        .header("cookie", with(None))
        .send()
        .await
        .unwrap();
    let flow = set_cookie(&r, "__Host-tessera_flow").expect("a pre-login cookie");
    let page = format!("{}{}", s.public, r.headers()["location"].to_str().unwrap());
    let html = c
        .get(&page)
        .header("cookie", with(Some(&flow)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = c
        .post(&page)
        .header("cookie", with(Some(&flow)))
        .form(&[
            ("csrf_token", crate::pages::csrf(&html).as_str()),
            ("identifier", email),
            ("password", crate::flows::PASSWORD),
            ("method", "password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "signed in");
    let session = set_cookie(&r, "__Host-tessera_session").expect("a session cookie");
    (flow, session)
}

async fn ses_01_a_sign_in_issues_a_new_session_id_and_the_old_one_is_refused(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    crate::flows::sign_up(&s, "fixation@example.com", json!({})).await;
    let (pre_login, first) = form_sign_in(&s, "fixation@example.com", None).await;
    assert_ne!(pre_login, first, "the pre-login cookie is never promoted");
    assert_eq!(
        crate::flows::whoami(&s, &pre_login).await,
        401,
        "the pre-login cookie is no session"
    );
    assert_eq!(crate::flows::whoami(&s, &first).await, 200);
    // Signing in again in the same browser, which still holds the first session.
    let (_, second) = form_sign_in(&s, "fixation@example.com", Some(&first)).await;
    assert_ne!(second, first, "a new id on every authentication");
    assert_eq!(
        crate::flows::whoami(&s, &first).await,
        401,
        "the old id is refused on the server"
    );
    assert_eq!(crate::flows::whoami(&s, &second).await, 200);
}

engine_tests!(
    ses_01_a_sign_in_issues_a_new_session_id_and_the_old_one_is_refused,
    ses_03_every_set_cookie_is_host_prefixed_secure_http_only_and_same_site,
    ses_04_a_session_ends_after_the_idle_timeout,
    ses_04_an_active_session_ends_at_its_absolute_lifetime,
    ses_04_the_lifetimes_are_configurable_per_tenant,
    ses_05_sign_out_ends_the_session_on_the_server,
    web_01_web_03_every_html_response_carries_the_security_headers,
    hsts_is_left_out_in_plain_http_development,
);
