//! Logging and error rules (security.md LOG-01, LOG-02, LOG-03) and constant-time comparison of secrets
//! (CRY-02), checked against a real server.
use std::sync::Arc;

use serde_json::json;
use tessera_testkit::{Engine, Resp, TestServer, engine_tests};

use crate::flows::{FLOW_SECRET, PASSWORD};

/// A breached-password check that panics: the port a test can plug in to make a handler panic, so that
/// no panic path ships in the server.
#[derive(Debug)]
struct Panics;

impl tessera_core::passwords::BreachCheck for Panics {
    fn is_breached<'a>(
        &'a self,
        _password: &'a str,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<bool, tessera_core::CoreError>> + Send + 'a>,
    > {
        Box::pin(async { panic!("LOG-03 canary: secret detail 7f3a in the panic message") })
    }
}

/// Serves the public routes of `s` again, on a node whose breach check panics. Same database, same
/// middleware; only the port differs.
async fn panicking_public(s: &TestServer) -> String {
    let node = s.tessera.clone().with_breach_check(Arc::new(Panics));
    let state = tessera_server::AppState::new(node, &s.config).unwrap();
    let app = tessera_server::public_router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    format!("http://{addr}")
}

async fn log_03_a_panicking_handler_answers_a_generic_500_and_creates_nothing(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let public = panicking_public(&s).await;
    let url = |path: &str| format!("{public}/t/default/api/flows/{path}");
    let r = Resp::from(
        s.http
            .post(url("registration"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.json["flow"]["id"].as_str().unwrap().to_owned();
    let secret = r.json["flow_secret"].as_str().unwrap().to_owned();
    let post = |body: serde_json::Value| {
        s.http
            .post(url(&format!("registration/{id}")))
            .header(FLOW_SECRET, &secret)
            .json(&body)
            .send()
    };
    Resp::from(post(json!({"email": "panic@example.com"})).await.unwrap()).await;
    let code = s.code_for("panic@example.com").await.unwrap();
    let r = Resp::from(post(json!({"code": code})).await.unwrap()).await;
    assert_eq!(r.json["flow"]["state"], "details", "{r:?}");
    let events = || async {
        s.get("/admin/v1/tenants/default/events?limit=1000")
            .await
            .json["items"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let before = events().await;

    // Setting the password consults the breach check, which panics inside the handler.
    let r = Resp::from(post(json!({"password": PASSWORD})).await.unwrap()).await;
    r.assert_problem(500, "internal");
    assert_eq!(r.json["detail"], "something went wrong on our side");
    for leak in ["canary", "7f3a", "panicked", ".rs:", "stack", "backtrace"] {
        assert!(
            !r.text.contains(leak),
            "no detail of the panic reaches the client: {r:?}"
        );
    }
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "the usual headers: {r:?}"
    );
    assert_eq!(r.header("cache-control"), Some("no-store"), "{r:?}");
    assert!(r.header("x-request-id").is_some(), "{r:?}");

    // Nothing was created: no session, no event, and the flow is where it was.
    assert_eq!(
        events().await,
        before,
        "no event, so no session.created either"
    );
    let identity = s
        .get("/admin/v1/tenants/default/identities?identifier=panic@example.com")
        .await
        .json["items"][0]["id"]
        .as_str()
        .map(str::to_owned);
    if let Some(identity) = identity {
        let live = s
            .get(&format!(
                "/admin/v1/tenants/default/identities/{identity}/sessions"
            ))
            .await;
        assert_eq!(live.json.as_array().map_or(0, Vec::len), 0, "{live:?}");
    }
    let r = Resp::from(
        s.http
            .get(format!(
                "{}/t/default/api/flows/registration/{id}",
                s.public
            ))
            .header(FLOW_SECRET, &secret)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.json["flow"]["state"], "details", "{r:?}");
    // The node goes on serving after the panic.
    let r = s
        .http
        .get(format!("{public}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

engine_tests!(log_03_a_panicking_handler_answers_a_generic_500_and_creates_nothing);

/// Operands of `==` or `!=` that name a secret kind but compare no secret, each with the reason:
/// `(file under crates/, operand, why)`.
const NOT_SECRET: &[(&str, &str, &str)] = &[
    (
        "tessera-core/src/oauth/client_auth.rs",
        "if client.token_endpoint_auth",
        "the client's registered authentication method, an enum, not a token",
    ),
    (
        "tessera-model/src/oauth_client.rs",
        "if self.token_endpoint_auth",
        "the client's registered authentication method, an enum, not a token",
    ),
    (
        "tessera-server/src/openapi/flow.rs",
        "SECRET",
        "the name of the flow-secret header (`Tessera-Flow-Secret`) in the OpenAPI document, not a secret",
    ),
    (
        "tessera-core/src/audit.rs",
        "cp.prev_digest",
        "chain digests are public SHA-256 values; the checkpoint MAC is checked by verify_mac",
    ),
    (
        "tessera-core/src/audit.rs",
        "digest",
        "chain digests are public SHA-256 values; the checkpoint MAC is checked by verify_mac",
    ),
    (
        "tessera-core/src/audit.rs",
        "cp.digest",
        "chain digests are public SHA-256 values; the checkpoint MAC is checked by verify_mac",
    ),
    (
        "tessera-core/src/audit.rs",
        "if event_hash(e).as_slice()",
        "an event's content hash is public",
    ),
    (
        "tessera-core/src/audit.rs",
        "e.hash.as_slice()",
        "an event's content hash is public",
    ),
    (
        "tessera-crypto/src/password.rs",
        "hash_pepper.is_none()",
        "whether a pepper is present, not its value",
    ),
    (
        "tessera-crypto/src/password.rs",
        "pepper.is_none()",
        "whether a pepper is present, not its value",
    ),
    (
        "tessera-model/src/password_policy.rs",
        "folded_password",
        "matches a candidate password against shipped word lists; verifies nothing",
    ),
    (
        "tessera-core/src/oauth/client_assertion.rs",
        "token_endpoint",
        "an assertion's `aud` against the public token endpoint URL, not a secret",
    ),
];

/// The parts of names (split at `_` and `.`) that mark a secret or a value derived from one.
const SECRET_WORDS: &[&str] = &[
    "secret", "token", "csrf", "mac", "digest", "hash", "binding", "password", "pepper",
];

/// Characters that end an operand (outside brackets).
const STOPS: &[char] = &['{', '}', ',', ';', '|', '&', '=', '!', '<', '>', '?'];

/// One side of a comparison: from the operator to the nearest delimiter outside brackets.
fn operand(text: &str, left: bool) -> String {
    let (open, close): (&[char], &[char]) = if left {
        (&[')', ']'], &['(', '['])
    } else {
        (&['(', '['], &[')', ']'])
    };
    let chars: Vec<char> = if left {
        text.chars().rev().collect()
    } else {
        text.chars().collect()
    };
    let mut depth = 0;
    let mut taken = Vec::new();
    for c in chars {
        if open.contains(&c) {
            depth += 1;
        } else if close.contains(&c) {
            if depth == 0 {
                break;
            }
            depth -= 1;
        } else if depth == 0 && STOPS.contains(&c) {
            break;
        }
        taken.push(c);
    }
    if left {
        taken.reverse();
    }
    taken.into_iter().collect::<String>().trim().to_owned()
}

fn names_a_secret(operand: &str) -> bool {
    operand
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .flat_map(|w| w.split('_'))
        .any(|part| SECRET_WORDS.contains(&part.to_ascii_lowercase().as_str()))
}

/// A line with the contents of its string literals removed, so that text is not read as code.
fn strip_literals(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        match (in_str, c) {
            (true, '\\') => {
                chars.next();
            }
            (true, '"') | (false, '"') => {
                in_str = !in_str;
                out.push('"');
            }
            (true, _) => {}
            (false, _) => out.push(c),
        }
    }
    out
}

/// The `==`/`!=` comparisons in `src` (outside its tests) with an operand that names a secret kind.
fn eq_on_secrets(src: &str) -> Vec<(usize, String)> {
    // Unit tests sit at the end of a file, after `#[cfg(test)]`.
    let src = src.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = Vec::new();
    for (n, line) in src.lines().enumerate() {
        let code = strip_literals(line);
        let code = code.split("//").next().unwrap_or_default();
        for op in ["==", "!="] {
            for (at, _) in code.match_indices(op) {
                for side in [operand(&code[..at], true), operand(&code[at + 2..], false)] {
                    if names_a_secret(&side) {
                        out.push((n + 1, side));
                    }
                }
            }
        }
    }
    out
}

/// The Rust sources of the workspace's crates (not the testkit), relative to `crates/`.
fn sources() -> Vec<(String, String)> {
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    let mut dirs = vec![crates.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p
                .strip_prefix(&crates)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let depth = rel.split('/').count();
            if p.is_dir() && (depth == 1 || rel.split('/').nth(1) == Some("src")) {
                dirs.push(p);
            } else if rel.ends_with(".rs")
                && rel.split('/').nth(1) == Some("src")
                && !rel.starts_with("tessera-testkit/")
            {
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out
}

/// CRY-02, statically: outside tests, nothing whose name marks it as a secret, a hash of one or a MAC is
/// compared with `==` or `!=` (which stop at the first differing byte); such comparisons go through
/// `tessera_crypto::constant_time_eq` or `SecretKey::verify_mac`. Codes, tokens and keys are found by their
/// keyed hash in the database, so a look-up compares nothing in Rust. `BearerSecret` has no `PartialEq`.
#[test]
fn cry_02_secrets_are_never_compared_with_eq() {
    let files = sources();
    assert!(
        files
            .iter()
            .any(|(f, _)| f == "tessera-core/src/flows/mod.rs"),
        "the scan reads the sources"
    );
    let mut found = Vec::new();
    let mut used = vec![false; NOT_SECRET.len()];
    for (rel, src) in &files {
        for (line, side) in eq_on_secrets(src) {
            match NOT_SECRET
                .iter()
                .position(|(f, o, _)| f == rel && *o == side)
            {
                Some(i) => used[i] = true,
                None => found.push(format!("{rel}:{line}: compares `{side}`")),
            }
        }
    }
    assert!(
        found.is_empty(),
        "compare these with tessera_crypto::constant_time_eq (or, when no secret is compared, add the operand to NOT_SECRET with the reason):\n{}",
        found.join("\n")
    );
    let stale: Vec<_> = NOT_SECRET
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(e, _)| e)
        .collect();
    assert!(
        stale.is_empty(),
        "allow-list entries that match nothing any more: {stale:?}"
    );
}

/// The scan itself finds what it must, and not what it must not.
#[test]
fn cry_02_the_scan_finds_eq_on_secrets() {
    let src = r#"
        if stored.token_hash == presented_hash { }
        let ok = flow.csrf_token.as_bytes() != token.as_bytes();
        if key.verify(&mac) && tag == expected(x, y) {}
        if n.name != "csrf_token" { }
        // if secret == other
        let same = a == b;
        #[cfg(test)]
        assert!(secret == secret);
    "#;
    let hits: Vec<String> = eq_on_secrets(src).into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        hits,
        [
            "if stored.token_hash",
            "presented_hash",
            "flow.csrf_token.as_bytes()",
            "token.as_bytes()"
        ]
    );
}

/// Every log event the process writes, captured through the subscriber the binary uses (JSON, `debug`).
/// Installed once per process; each test reads what was written after it started.
fn captured() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOG: std::sync::OnceLock<&'static std::sync::Mutex<Vec<u8>>> =
        std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        use tracing_subscriber::util::SubscriberInitExt;
        let buf: &'static std::sync::Mutex<Vec<u8>> = Box::leak(Box::default());
        let sub = tessera_server::logging::subscriber(
            tessera_core::config::LogFormat::Json,
            "debug",
            move || CaptureWriter(buf),
        );
        sub.try_init()
            .expect("this test binary installs no other subscriber");
        buf
    })
}

struct CaptureWriter(&'static std::sync::Mutex<Vec<u8>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A browser without JavaScript: keeps cookies itself (whatever their `Secure` flag, as browsers do on
/// http://localhost) and never follows redirects.
struct Browser {
    http: reqwest::Client,
    cookies: std::collections::BTreeMap<String, String>,
    /// Every cookie value ever set.
    seen: Vec<String>,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Default::default(),
            seen: Vec::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Resp {
        let jar: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let r = Resp::from(req.header("cookie", jar.join("; ")).send().await.unwrap()).await;
        for c in r.headers.get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
                self.seen.push(v.to_owned());
            }
        }
        assert!(r.status < 500, "{r:?}");
        r
    }

    async fn get(&mut self, url: &str) -> Resp {
        let req = self.http.get(url);
        self.send(req).await
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Resp {
        let req = self.http.post(url).form(form);
        self.send(req).await
    }
}

/// The CSRF token of the form on a page.
fn csrf(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let at = html.find(marker).expect("a form with a CSRF token") + marker.len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// Whether `code` (six digits) occurs in `text` as a number of its own: not inside a longer number, and
/// not as the fraction of a timestamp or a piece of a UUID, where six digits occur by chance.
fn has_code(text: &str, code: &str) -> bool {
    text.match_indices(code).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + code.len()..].chars().next();
        let apart =
            |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric() && c != '.' && c != '-');
        apart(before) && apart(after)
    })
}

async fn log_01_no_secret_reaches_a_log_line_or_an_event_after_every_journey(engine: Engine) {
    let log = captured();
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let from = log.lock().unwrap().len();
    // Letters only: the addresses appear in mails, where the testkit takes the first six digits as the code.
    let tag: String = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from(b'g' + d as u8),
            None => c,
        })
        .collect();
    let mut secrets: Vec<(&str, String)> = vec![("admin key", s.key.clone())];
    let mut codes: Vec<String> = Vec::new();
    let api = |path: &str| format!("{}/t/default/api/flows/{path}", s.public);
    let email = format!("canary-{tag}@example.com");
    let password = format!("canary password one {tag}");

    // API: sign-up with an emailed code.
    let start = |kind: &'static str, token: Option<String>| {
        let mut req = s.http.post(api(kind)).json(&json!({}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { Resp::from(req.send().await.unwrap()).await }
    };
    let flow_call = |kind: &str, started: &Resp, body: serde_json::Value, token: Option<&str>| {
        let mut req = s
            .http
            .post(api(&format!(
                "{kind}/{}",
                started.json["flow"]["id"].as_str().unwrap()
            )))
            .header(FLOW_SECRET, started.json["flow_secret"].as_str().unwrap())
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { Resp::from(req.send().await.unwrap()).await }
    };
    let reg = start("registration", None).await;
    secrets.push((
        "flow secret",
        reg.json["flow_secret"].as_str().unwrap().to_owned(),
    ));
    flow_call("registration", &reg, json!({"email": email}), None).await;
    let code = s.code_for(&email).await.unwrap();
    codes.push(code.clone());
    flow_call("registration", &reg, json!({"code": code}), None).await;
    let r = flow_call("registration", &reg, json!({"password": password}), None).await;
    let token = r.json["session_token"]
        .as_str()
        .expect("signed up")
        .to_owned();
    secrets.push(("password", password.clone()));
    secrets.push(("session token", token.clone()));

    // API: a failed and a good sign-in; the failure carries CR and LF in what was typed (LOG-02).
    let login = start("login", None).await;
    secrets.push((
        "flow secret",
        login.json["flow_secret"].as_str().unwrap().to_owned(),
    ));
    let wrong = format!("wrong\r\npassword {tag}");
    flow_call(
        "login",
        &login,
        json!({"identifier": format!("{email}\r\n2026-01-01T00:00:00Z INFO forged"), "password": wrong}),
        None,
    )
    .await;
    secrets.push(("wrong password", wrong));
    let r = flow_call(
        "login",
        &login,
        json!({"identifier": email, "password": password}),
        None,
    )
    .await;
    let second = r.json["session_token"]
        .as_str()
        .expect("signed in")
        .to_owned();
    secrets.push(("session token", second.clone()));

    // API settings: a new password, then an email change confirmed with a code.
    let settings = start("settings", Some(second.clone())).await;
    secrets.push((
        "flow secret",
        settings.json["flow_secret"].as_str().unwrap().to_owned(),
    ));
    let password2 = format!("canary password two {tag}");
    let r = flow_call(
        "settings",
        &settings,
        json!({"method": "password", "current_password": password, "new_password": password2}),
        Some(&second),
    )
    .await;
    assert!(r.text.contains("success-password-changed"), "{r:?}");
    secrets.push(("password", password2.clone()));
    let moved = format!("moved-{tag}@example.com");
    let r = flow_call(
        "settings",
        &settings,
        json!({"method": "email", "email": moved}),
        Some(&second),
    )
    .await;
    assert!(r.text.contains("success-email-change-pending"), "{r:?}");
    let code = s.code_for(&moved).await.unwrap();
    codes.push(code.clone());
    let r = flow_call(
        "settings",
        &settings,
        json!({"method": "confirm_email", "code": code}),
        Some(&second),
    )
    .await;
    assert!(r.text.contains("success-verified"), "{r:?}");
    let r = Resp::from(
        s.http
            .delete(format!("{}/t/default/api/sessions/current", s.public))
            .bearer_auth(&second)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");

    // Pages: recovery by the emailed link, then a hosted sign-in with the new password.
    let mut b = Browser::new();
    let r = b.get(&format!("{}/t/default/recovery", s.public)).await;
    let page = format!("{}{}", s.public, r.header("location").unwrap());
    let html = b.get(&page).await.text;
    let form_token = csrf(&html);
    b.post(&page, &[("csrf_token", &form_token), ("email", &moved)])
        .await;
    secrets.push(("csrf token", form_token));
    let link = s.link_for(&moved).await.expect("a recovery link");
    let link_token = link.split("token=").nth(1).unwrap().to_owned();
    secrets.push(("link token", link_token));
    let code = s.code_for(&moved).await.unwrap();
    codes.push(code);
    let r = b.get(&link).await;
    let page = match r.header("location") {
        Some(l) => format!("{}{}", s.public, l),
        None => page,
    };
    let html = b.get(&page).await.text;
    let form_token = csrf(&html);
    let password3 = format!("canary password three {tag}");
    let r = b
        .post(
            &page,
            &[("csrf_token", &form_token), ("password", &password3)],
        )
        .await;
    assert!(r.status < 400, "{r:?}");
    secrets.push(("csrf token", form_token));
    secrets.push(("password", password3.clone()));
    let r = b.get(&format!("{}/t/default/login", s.public)).await;
    let page = format!("{}{}", s.public, r.header("location").unwrap());
    let html = b.get(&page).await.text;
    let form_token = csrf(&html);
    let r = b
        .post(
            &page,
            &[
                ("csrf_token", &form_token),
                ("identifier", &moved),
                ("password", &password3),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "signed in: {r:?}");
    secrets.push(("csrf token", form_token));
    assert!(
        b.seen.len() >= 2,
        "a binding and a session cookie: {:?}",
        b.seen.len()
    );
    for v in &b.seen {
        secrets.push(("cookie", v.clone()));
    }

    // Everything the server logged since this test began, and every event, clear and personal parts.
    let text = String::from_utf8(log.lock().unwrap()[from..].to_vec()).unwrap();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("LOG-02: every line is one JSON event ({e}): {line:?}"));
        assert!(v.is_object(), "{line}");
    }
    assert!(
        text.contains("/t/default/flows/link"),
        "the request log saw the link (so its absence of tokens means something)"
    );
    assert!(
        !text.contains("token="),
        "no query string of a link in the request log"
    );
    let items = s
        .get("/admin/v1/tenants/default/events?limit=1000")
        .await
        .json["items"]
        .clone();
    crate::events::assert_events_match_the_catalogue(items.as_array().unwrap());
    let events = serde_json::to_string(&items).unwrap();
    assert!(events.contains("flow.succeeded"), "the events were read");
    for (what, secret) in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a {what} is in the log: {secret}"
        );
        assert!(
            !events.contains(secret.as_str()),
            "a {what} is in an event: {secret}"
        );
    }
    for code in &codes {
        assert!(!has_code(&text, code), "a code is in the log: {code}");
        assert!(!has_code(&events, code), "a code is in an event: {code}");
    }
}

engine_tests!(log_01_no_secret_reaches_a_log_line_or_an_event_after_every_journey);
