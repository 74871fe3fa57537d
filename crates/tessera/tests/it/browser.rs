//! The hosted pages in a real browser: Debian's headless Chromium, driven over the DevTools protocol
//! (chromiumoxide), against an in-process Tessera on SQLite. A customer signs up, proves the address,
//! signs in and out, recovers the account; the pages work without JavaScript, label every field,
//! announce errors, and refuse to be framed by another site.
//!
//! Chromium comes from `/usr/bin/chromium` (`scripts/test-env.sh` installs it). Without it these tests
//! print a notice and pass, unless `TESSERA_REQUIRE_BROWSER=1`, in which case they fail.
use std::path::Path;
use std::time::{Duration, Instant};

use chromiumoxide::cdp::browser_protocol::dom::ScrollIntoViewIfNeededParams;
use chromiumoxide::cdp::browser_protocol::emulation::SetScriptExecutionDisabledParams;
use chromiumoxide::cdp::browser_protocol::page::{
    CreateIsolatedWorldParams, FrameId, FrameTree, GetFrameTreeParams, NavigateParams,
};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::element::Element;
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures::StreamExt;
use serde_json::Value;
use tessera_testkit::{Engine, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHROMIUM: &str = "/usr/bin/chromium";
const PASSWORD: &str = "correct horse battery staple 42";
const NEW_PASSWORD: &str = "violet lanterns drift over quiet harbours 7";
const WAIT: Duration = Duration::from_secs(20);
const TEST_LIMIT: Duration = Duration::from_secs(180);

/// Generates the test functions: each runs on SQLite, with a time limit (a hung browser must fail the
/// test, not stall the suite).
macro_rules! browser_tests {
    ($($name:ident => $body:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if tokio::time::timeout(TEST_LIMIT, $body()).await.is_err() {
                    panic!("{} took longer than {TEST_LIMIT:?}", stringify!($name));
                }
            }
        )*
    };
}

browser_tests!(
    sign_up_verify_sign_in_sign_out_recover_and_sign_in_again => sign_up_verify_sign_in_sign_out_recover_and_sign_in_again_in_chromium,
    the_pages_work_without_javascript_and_label_every_input => the_pages_work_without_javascript_and_label_every_input_in_chromium,
    a_sign_in_error_is_tied_to_its_field_and_announced => a_sign_in_error_is_tied_to_its_field_and_announced_in_chromium,
    the_sign_in_page_cannot_be_framed => the_sign_in_page_cannot_be_framed_in_chromium,
    an_emailed_code_signs_in_through_the_hosted_page => an_emailed_code_signs_in_through_the_hosted_page_in_chromium,
    web_03_a_method_script_runs_and_an_injected_inline_script_is_blocked => web_03_a_method_script_runs_and_an_injected_inline_script_is_blocked_in_chromium,
    the_demo_app_signs_in_with_openid_connect_through_the_hosted_pages => the_demo_app_signs_in_with_openid_connect_through_the_hosted_pages_in_chromium,
);

/// A headless Chromium with its own profile. Dropping it (a failed test) kills the browser and removes
/// the profile; [`Chrome::close`] shuts it down politely.
struct Chrome {
    browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    profile: Option<tempfile::TempDir>,
}

/// Launches Chromium, or returns `None` (with a notice) when it is not installed and not required.
async fn chrome() -> Option<Chrome> {
    chrome_with(&[]).await
}

/// Launches Chromium with extra flags (names without the leading dashes).
async fn chrome_with(extra: &[&str]) -> Option<Chrome> {
    if !Path::new(CHROMIUM).exists() {
        if std::env::var("TESSERA_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!(
                "TESSERA_REQUIRE_BROWSER=1 but {CHROMIUM} is missing: the browser tests must run"
            );
        }
        eprintln!(
            "notice: browser tests skipped: {CHROMIUM} not found (scripts/test-env.sh installs it)"
        );
        return None;
    }
    let profile = tempfile::Builder::new()
        .prefix("tessera-chromium-")
        .tempdir()
        .unwrap();
    let config = BrowserConfig::builder()
        .chrome_executable(CHROMIUM)
        .no_sandbox()
        .user_data_dir(profile.path())
        // Flag names without dashes: chromiumoxide adds them. Headless is its default (`--headless`).
        .args([
            "disable-gpu",
            "disable-quic",
            "no-first-run",
            "disable-background-networking",
            "disable-component-update",
            "disable-sync",
        ])
        .args(extra.iter().copied())
        .launch_timeout(Duration::from_secs(60))
        .request_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let (browser, mut handler) = Browser::launch(config).await.unwrap();
    // The handler must be polled for the whole session, or every command hangs.
    let handler = tokio::spawn(async move {
        while let Some(ev) = handler.next().await {
            if let Err(e) = ev {
                eprintln!("cdp: {e:?}");
            }
        }
    });
    Some(Chrome {
        browser,
        handler,
        profile: Some(profile),
    })
}

impl Chrome {
    /// A new tab showing `url`.
    async fn page(&self, url: &str) -> Page {
        let page = self.tab().await;
        goto(&page, url).await;
        page
    }

    /// A new, empty tab.
    async fn tab(&self) -> Page {
        step("open a tab");
        self.browser.new_page("about:blank").await.unwrap()
    }

    async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
        self.handler.abort();
        if let Some(p) = self.profile.take() {
            let _ = p.close();
        }
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        // The child is kill-on-drop; the handler task would otherwise outlive the test.
        self.handler.abort();
    }
}

fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

async fn eval<T: serde::de::DeserializeOwned>(page: &Page, expr: &str) -> T {
    page.evaluate(expr)
        .await
        .unwrap_or_else(|e| panic!("evaluating {expr}: {e}"))
        .into_value()
        .unwrap()
}

/// Polls a boolean expression until it holds. Errors count as "not yet": the document may be changing.
async fn wait_until(page: &Page, expr: &str, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(r) = page.evaluate(expr).await
            && r.into_value::<bool>().unwrap_or(false)
        {
            return;
        }
        if Instant::now() > deadline {
            let url = page.url().await.ok().flatten().unwrap_or_default();
            let text = page
                .evaluate("document.body ? document.body.innerText : ''")
                .await
                .ok()
                .and_then(|r| r.into_value::<String>().ok());
            panic!("timed out waiting for {what} ({expr}); at {url}: {text:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Goes to a URL and waits for the page (after redirects) to be loaded. A plain `Page.navigate`:
/// chromiumoxide's own `goto` follows lifecycle events and can wait forever when it misses one.
async fn goto(page: &Page, url: &str) {
    step(&format!("go to {url}"));
    mark_document(page).await;
    let r = page.execute(NavigateParams::new(url)).await.unwrap();
    assert!(
        r.result.error_text.is_none(),
        "navigating to {url}: {:?}",
        r.result.error_text
    );
    wait_new_document(page, url).await;
}

/// Says what the test does next: shown when it fails or hangs.
fn step(what: &str) {
    eprintln!("browser test: {what}");
}

async fn mark_document(page: &Page) {
    let _: bool = eval(page, "window.__tesseraOld = true").await;
}

async fn wait_new_document(page: &Page, what: &str) {
    wait_until(
        page,
        "window.__tesseraOld !== true && document.readyState === 'complete'",
        &format!("the page after {what}"),
    )
    .await;
}

/// Clicks an element with the mouse, through DOM and input commands only. (chromiumoxide's
/// `Element::click` first awaits a promise in the page, which never settles when scripts are disabled.)
async fn press(page: &Page, selector: &str) -> Element {
    let el = page
        .find_element(selector)
        .await
        .unwrap_or_else(|e| panic!("no {selector} on the page: {e}"));
    let scroll = ScrollIntoViewIfNeededParams::builder()
        .backend_node_id(el.backend_node_id)
        .build();
    page.execute(scroll).await.unwrap();
    let point = el.clickable_point().await.unwrap();
    page.click(point).await.unwrap();
    el
}

/// Clicks an element that submits a form, and waits for the next page. (Waiting for "navigation" right
/// after a click races; a mark on the old document does not.)
async fn click_and_wait(page: &Page, selector: &str) {
    step(&format!("click {selector}"));
    mark_document(page).await;
    press(page, selector).await;
    wait_new_document(page, &format!("clicking {selector}")).await;
}

/// Types into a field, the way a person does: click it, then type.
async fn fill(page: &Page, selector: &str, text: &str) {
    step(&format!("fill {selector}"));
    let el = press(page, selector).await;
    el.type_str(text).await.unwrap();
    let typed: String = eval(
        page,
        &format!("document.querySelector({}).value", js(selector)),
    )
    .await;
    assert_eq!(typed, text, "typing into {selector}");
}

async fn path(page: &Page) -> String {
    eval(page, "location.pathname").await
}

async fn text(page: &Page) -> String {
    eval(page, "document.body.innerText").await
}

async fn exists(page: &Page, selector: &str) -> bool {
    eval(
        page,
        &format!("document.querySelector({}) !== null", js(selector)),
    )
    .await
}

/// The HTTP status of the current document.
async fn status(page: &Page) -> u16 {
    eval(
        page,
        "performance.getEntriesByType('navigation')[0].responseStatus",
    )
    .await
}

fn mails_to(mails: &[Value], to: &str) -> usize {
    mails.iter().filter(|m| m["to"] == to).count()
}

/// Waits for a new mail (`template`) to `to` after `before` mails, and returns its six-digit code.
async fn new_code(s: &TestServer, to: &str, before: usize, template: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let mails = s.mailbox().await;
        if mails_to(&mails, to) > before {
            let newest = mails.iter().find(|m| m["to"] == to).unwrap();
            assert_eq!(newest["template"], template, "{newest}");
            return s
                .code_for(to)
                .await
                .unwrap_or_else(|| panic!("no code in {newest}"));
        }
        assert!(Instant::now() < deadline, "no {template} mail to {to}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_in(page: &Page, s: &TestServer, email: &str, password: &str) {
    goto(page, &format!("{}/t/default/login", s.public)).await;
    assert!(
        path(page).await.starts_with("/t/default/flows/login/"),
        "{}",
        path(page).await
    );
    fill(page, "input[name=identifier]", email).await;
    fill(page, "input[name=password]", password).await;
    click_and_wait(page, "button[name=method][value=password]").await;
}

async fn assert_on_settings(page: &Page, email: &str) {
    let p = path(page).await;
    assert!(
        p.starts_with("/t/default/flows/settings/"),
        "expected the settings page, got {p}: {}",
        text(page).await
    );
    let body = text(page).await;
    assert!(
        body.contains(email),
        "the settings page shows the account's email: {body}"
    );
    assert!(exists(page, "button[name=method][value=sign_out]").await);
}

async fn sign_out(page: &Page) {
    click_and_wait(page, "button[name=method][value=sign_out]").await;
    let body = text(page).await;
    assert!(body.contains("You are signed out."), "{body}");
    // Settings now sends the browser to the sign-in page.
    let settings = eval::<String>(page, "location.origin").await + "/t/default/settings";
    goto(page, &settings).await;
    assert!(
        path(page).await.starts_with("/t/default/flows/login/"),
        "signed out: {}",
        path(page).await
    );
}

async fn sign_up_verify_sign_in_sign_out_recover_and_sign_in_again_in_chromium() {
    let Some(chrome) = chrome().await else { return };
    let s = TestServer::start(Engine::Sqlite).await.unwrap();
    let email = "ada.browser@example.com";
    let page = chrome
        .page(&format!("{}/t/default/registration", s.public))
        .await;

    // Sign up: email, then the code from the mail, then a password.
    assert!(
        path(&page)
            .await
            .starts_with("/t/default/flows/registration/"),
        "{}",
        path(&page).await
    );
    fill(&page, "input[name=email]", email).await;
    click_and_wait(&page, "button[name=method][value=email]").await;
    let code = new_code(&s, email, 0, "verification_code").await;
    assert_eq!(code.len(), 6);
    fill(&page, "input[name=code]", &code).await;
    click_and_wait(&page, "button[name=method][value=code]").await;
    assert!(
        text(&page).await.contains("confirmed"),
        "{}",
        text(&page).await
    );
    fill(&page, "input[name=password]", PASSWORD).await;
    click_and_wait(&page, "button[name=method][value=password]").await;
    assert_on_settings(&page, email).await;
    sign_out(&page).await;

    // Sign in with the password.
    sign_in(&page, &s, email, PASSWORD).await;
    assert_on_settings(&page, email).await;
    sign_out(&page).await;

    // Recover: a code to the address, then a new password.
    let before = mails_to(&s.mailbox().await, email);
    goto(&page, &format!("{}/t/default/recovery", s.public)).await;
    assert!(
        path(&page).await.starts_with("/t/default/flows/recovery/"),
        "{}",
        path(&page).await
    );
    fill(&page, "input[name=email]", email).await;
    click_and_wait(&page, "button[name=method][value=email]").await;
    let code = new_code(&s, email, before, "recovery_code").await;
    fill(&page, "input[name=code]", &code).await;
    click_and_wait(&page, "button[name=method][value=code]").await;
    fill(&page, "input[name=password]", NEW_PASSWORD).await;
    click_and_wait(&page, "button[name=method][value=password]").await;
    let body = text(&page).await;
    assert!(body.contains("Your password has been changed"), "{body}");

    // The new password works, the old one no longer does.
    sign_in(&page, &s, email, NEW_PASSWORD).await;
    assert_on_settings(&page, email).await;
    sign_out(&page).await;
    sign_in(&page, &s, email, PASSWORD).await;
    let p = path(&page).await;
    assert!(
        p.starts_with("/t/default/flows/login/"),
        "the old password is refused: {p}"
    );
    let body = text(&page).await;
    assert!(body.contains("did not work"), "{body}");
    assert!(exists(&page, "input[name=password]").await);
    assert_eq!(status(&page).await, 400);

    chrome.close().await;
    s.stop().await;
}

/// A tenant that offers the emailed sign-in code: the customer types the address, leaves the password
/// empty (the secondary button skips the form's required fields), and signs in with the mailed code.
async fn an_emailed_code_signs_in_through_the_hosted_page_in_chromium() {
    let Some(chrome) = chrome().await else { return };
    let s = TestServer::start(Engine::Sqlite).await.unwrap();
    let email = "code.browser@example.com";
    crate::flows::sign_up(&s, email, serde_json::json!({})).await;
    let r = s
        .put(
            "/admin/v1/tenants/default/policy",
            serde_json::json!({"document": {"authentication": {"methods": ["password", "email_code"]}}, "reason": "codes"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let before = mails_to(&s.mailbox().await, email);
    let page = chrome.page(&format!("{}/t/default/login", s.public)).await;
    fill(&page, "input[name=identifier]", email).await;
    click_and_wait(&page, "button[name=method][value=email_code]").await;
    let body = text(&page).await;
    assert!(body.contains("Check your email"), "{body}");
    let code = new_code(&s, email, before, "sign_in_code").await;
    fill(&page, "input[name=code]", &code).await;
    click_and_wait(&page, "button[name=method][value=email_code]").await;
    assert_on_settings(&page, email).await;
    chrome.close().await;
    s.stop().await;
}

/// Every visible form control on the page: (name, type, autocomplete, the text of its label).
async fn controls(page: &Page) -> Vec<Value> {
    eval(
        page,
        "Array.from(document.querySelectorAll('input, select, textarea'))
            .filter(e => e.type !== 'hidden')
            .map(e => {
                const labels = e.id ? Array.from(document.querySelectorAll('label[for=\"' + CSS.escape(e.id) + '\"]')) : [];
                return { name: e.name, type: e.type, autocomplete: e.getAttribute('autocomplete'),
                         labels: labels.map(l => l.textContent.trim()) };
            })",
    )
    .await
}

fn assert_labelled(controls: &[Value], expected: &[(&str, &str)], page: &str) {
    for c in controls {
        let labels = c["labels"].as_array().unwrap();
        assert_eq!(
            labels.len(),
            1,
            "{page}: exactly one <label for> per field: {c}"
        );
        assert!(
            !labels[0].as_str().unwrap().is_empty(),
            "{page}: the label has text: {c}"
        );
    }
    for (name, autocomplete) in expected {
        let c = controls
            .iter()
            .find(|c| c["name"] == *name)
            .unwrap_or_else(|| panic!("{page}: no field {name}: {controls:?}"));
        assert_eq!(c["autocomplete"], *autocomplete, "{page}: {c}");
    }
}

async fn the_pages_work_without_javascript_and_label_every_input_in_chromium() {
    let Some(chrome) = chrome().await else { return };
    let s = TestServer::start(Engine::Sqlite).await.unwrap();
    let page = chrome.tab().await;
    // Scripts off for the page; the test still reads the DOM through DevTools, which this does not stop.
    page.execute(SetScriptExecutionDisabledParams::new(true))
        .await
        .unwrap();

    goto(&page, &format!("{}/t/default/login", s.public)).await;
    assert!(path(&page).await.starts_with("/t/default/flows/login/"));
    assert_eq!(
        eval::<u32>(&page, "document.scripts.length").await,
        0,
        "the pages carry no script"
    );
    let login = controls(&page).await;
    assert_eq!(login.len(), 2, "{login:?}");
    assert_labelled(
        &login,
        &[("identifier", "username"), ("password", "current-password")],
        "login",
    );

    goto(&page, &format!("{}/t/default/registration", s.public)).await;
    assert!(
        path(&page)
            .await
            .starts_with("/t/default/flows/registration/")
    );
    assert_eq!(eval::<u32>(&page, "document.scripts.length").await, 0);
    let reg = controls(&page).await;
    assert_labelled(&reg, &[("email", "email")], "registration");

    // The form works with scripts off: the next step comes from the server.
    fill(&page, "input[name=email]", "grace.nojs@example.com").await;
    click_and_wait(&page, "button[name=method][value=email]").await;
    let step = controls(&page).await;
    assert_labelled(
        &step,
        &[("code", "one-time-code")],
        "registration code step",
    );
    let code = new_code(&s, "grace.nojs@example.com", 0, "verification_code").await;
    fill(&page, "input[name=code]", &code).await;
    click_and_wait(&page, "button[name=method][value=code]").await;
    let details = controls(&page).await;
    assert_labelled(
        &details,
        &[("password", "new-password")],
        "registration details step",
    );

    chrome.close().await;
    s.stop().await;
}

async fn a_sign_in_error_is_tied_to_its_field_and_announced_in_chromium() {
    let Some(chrome) = chrome().await else { return };
    let s = TestServer::start(Engine::Sqlite).await.unwrap();
    let page = chrome.page(&format!("{}/t/default/login", s.public)).await;
    let flow = path(&page).await;
    assert!(flow.starts_with("/t/default/flows/login/"), "{flow}");

    // A wrong password: the same flow page again, refused, with the error in an alert.
    fill(&page, "input[name=identifier]", "nobody@example.com").await;
    fill(
        &page,
        "input[name=password]",
        "not the right password at all",
    )
    .await;
    click_and_wait(&page, "button[name=method][value=password]").await;
    assert_eq!(path(&page).await, flow, "the flow page is shown again");
    assert_eq!(status(&page).await, 400);
    let alerts: Vec<String> = eval(
        &page,
        "Array.from(document.querySelectorAll('[role=alert]')).map(e => e.textContent.trim())",
    )
    .await;
    assert!(
        alerts.iter().any(|a| a.contains("did not work")),
        "{alerts:?}"
    );
    let kept: String = eval(
        &page,
        "document.querySelector('input[name=identifier]').value",
    )
    .await;
    assert_eq!(kept, "nobody@example.com", "the identifier is kept");
    let pw: String = eval(
        &page,
        "document.querySelector('input[name=password]').value",
    )
    .await;
    assert_eq!(pw, "", "the password is never sent back");

    // A missing field (the browser's own check switched off): the error belongs to that field.
    let _: bool = eval(
        &page,
        "document.querySelectorAll('form').forEach(f => f.noValidate = true), true",
    )
    .await;
    let _: bool = eval(
        &page,
        "document.querySelector('input[name=identifier]').value = '', true",
    )
    .await;
    fill(&page, "input[name=password]", "whatever it may be").await;
    click_and_wait(&page, "button[name=method][value=password]").await;
    assert_eq!(path(&page).await, flow);
    assert_eq!(status(&page).await, 400);
    let field: Value = eval(
        &page,
        "(() => { const f = document.querySelector('input[name=identifier]');
                 const ids = (f.getAttribute('aria-describedby') || '').split(/\\s+/).filter(x => x);
                 const els = ids.map(id => document.getElementById(id)).filter(e => e);
                 return { invalid: f.getAttribute('aria-invalid'), described: els.length, ids: ids.length,
                          text: els.map(e => e.textContent.trim()).join(' | '),
                          alert: els.some(e => e.getAttribute('role') === 'alert') }; })()",
    )
    .await;
    assert_eq!(field["invalid"], "true", "{field}");
    assert_eq!(
        field["described"], field["ids"],
        "every aria-describedby id exists: {field}"
    );
    assert!(
        field["text"]
            .as_str()
            .unwrap()
            .contains("Please fill in this field."),
        "{field}"
    );
    assert_eq!(field["alert"], true, "{field}");
    let marked: bool = eval(
        &page,
        "document.querySelector('input[name=password]').hasAttribute('aria-invalid')",
    )
    .await;
    assert!(!marked, "only the empty field is marked");

    chrome.close().await;
    s.stop().await;
}

/// A page on another origin that frames `victim`, and a harmless page as a control.
async fn framing_site(victim: String) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let victim = victim.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 65536 {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&req);
                let body = if head.starts_with("GET /control") {
                    "<!doctype html><title>control</title><p id=control>framed fine</p>".to_owned()
                } else {
                    format!(
                        "<!doctype html><title>other site</title>\
                         <iframe id=victim name=victim src=\"{victim}\" width=600 height=400></iframe>\
                         <iframe id=control name=control src=\"http://localhost:{port}/control\" width=200 height=100></iframe>"
                    )
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (port, task)
}

fn frame_named<'a>(tree: &'a FrameTree, name: &str) -> Option<&'a FrameTree> {
    tree.child_frames
        .iter()
        .flatten()
        .find(|k| k.frame.name.as_deref() == Some(name))
}

/// Evaluates an expression inside one frame, through an isolated world (DevTools is not bound by the
/// same-origin policy, so this reads a cross-origin frame's document).
async fn eval_in_frame(page: &Page, frame: &FrameId, expr: &str) -> Value {
    let world = page
        .execute(
            CreateIsolatedWorldParams::builder()
                .frame_id(frame.clone())
                .world_name("tessera-test")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let params = EvaluateParams::builder()
        .expression(expr)
        .context_id(world.result.execution_context_id)
        .return_by_value(true)
        .build()
        .unwrap();
    page.evaluate_expression(params)
        .await
        .unwrap()
        .into_value()
        .unwrap()
}

async fn the_sign_in_page_cannot_be_framed_in_chromium() {
    // Cross-site frames live in their own renderer, which this driver does not attach to; with site
    // isolation off they share the page's, so the frame tree and the frames' documents can be read.
    // Framing rules (X-Frame-Options, CSP frame-ancestors) are enforced the same either way.
    let Some(chrome) = chrome_with(&[
        "disable-site-isolation-trials",
        "disable-features=IsolateOrigins,site-per-process",
    ])
    .await
    else {
        return;
    };
    let s = TestServer::start(Engine::Sqlite).await.unwrap();
    let login = format!("{}/t/default/login", s.public);
    let (port, site) = framing_site(login.clone()).await;
    // 127.0.0.1 and localhost are different origins and sites: the framing page is another site.
    let page = chrome.page(&format!("http://127.0.0.1:{port}/")).await;
    let control = format!("http://localhost:{port}/control");

    let deadline = Instant::now() + WAIT;
    let (victim, ctl) = loop {
        let tree = page
            .execute(GetFrameTreeParams::default())
            .await
            .unwrap()
            .result
            .frame_tree;
        let v = frame_named(&tree, "victim").map(|f| f.frame.clone());
        let c = frame_named(&tree, "control").map(|f| f.frame.clone());
        if let (Some(v), Some(c)) = (v, c)
            && c.url == control
            && !v.url.is_empty()
            && v.url != "about:blank"
        {
            break (v, c);
        }
        assert!(
            Instant::now() < deadline,
            "the frames never loaded: {tree:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The control: a cross-site page that allows framing renders in its frame.
    let shown = eval_in_frame(
        &page,
        &ctl.id,
        "document.getElementById('control') ? document.getElementById('control').textContent : ''",
    )
    .await;
    assert_eq!(shown, "framed fine", "the control frame rendered ({ctl:?})");
    // The sign-in page does not: the browser put an error page in its place.
    assert!(
        !victim.url.contains("/t/default/"),
        "the sign-in page rendered inside another site's frame: {victim:#?}"
    );
    assert!(
        victim
            .unreachable_url
            .as_deref()
            .is_some_and(|u| u.contains("/t/default/flows/login/")),
        "the frame did fetch the sign-in page, and the browser refused to show it: {victim:#?}"
    );
    let form = eval_in_frame(&page, &victim.id, "[location.href, document.querySelectorAll('input[name=password], input[name=identifier], form').length]").await;
    assert_eq!(
        form[1], 0,
        "no sign-in form in the frame: {form} ({victim:#?})"
    );

    site.abort();
    chrome.close().await;
    s.stop().await;
}

/// A method's script runs on its page (it fills its hidden field, which the form then carries to a
/// sign-in), while an inline script a tenant's template override slipped into every page, without the
/// response's nonce, is refused by the CSP and reported.
async fn web_03_a_method_script_runs_and_an_injected_inline_script_is_blocked_in_chromium() {
    use crate::scripts::{CHALLENGE, probe_server};
    let Some(chrome) = chrome().await else { return };
    let theme = tempfile::tempdir().unwrap();
    let templates = theme.path().join("default").join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    let layout = include_str!("../../../../assets/templates/layout.html").replace(
        "</body>",
        "<script>document.documentElement.dataset.injected = 'ran';</script>\n</body>",
    );
    assert!(layout.contains("dataset.injected"));
    std::fs::write(templates.join("layout.html"), layout).unwrap();
    let theme_dir = theme.path().display().to_string();
    let s = probe_server(Engine::Sqlite, |env| {
        env.insert("TESSERA_THEME_DIR".into(), theme_dir);
    })
    .await
    .unwrap();
    let page = chrome.tab().await;
    // A DevTools script (which no page CSP governs) records every violation from each document's start.
    page.evaluate_on_new_document(
        "window.__violations = []; document.addEventListener('securitypolicyviolation', \
         e => window.__violations.push({directive: e.effectiveDirective, blocked: e.blockedURI}));",
    )
    .await
    .unwrap();
    sign_in(&page, &s, "ada@example.com", PASSWORD).await;
    assert!(
        exists(&page, "script[src='/assets/webauthn.js'][nonce]").await,
        "the second factor's page: {}",
        text(&page).await
    );
    wait_until(
        &page,
        "document.querySelector('input[name=probe_response]').value !== ''",
        "the method's script to fill its field",
    )
    .await;
    let value: String = eval(
        &page,
        "document.querySelector('input[name=probe_response]').value",
    )
    .await;
    assert!(
        value == format!("webauthn:{CHALLENGE}") || value == format!("none:{CHALLENGE}"),
        "the script read its data intact: {value:?}"
    );
    // The injected inline script did not run, and the browser says why.
    let injected: String = eval(&page, "String(document.documentElement.dataset.injected)").await;
    assert_eq!(injected, "undefined", "the inline script ran");
    let violations: Vec<Value> = eval(&page, "window.__violations").await;
    assert!(
        violations.iter().any(|v| v["blocked"] == "inline"
            && v["directive"]
                .as_str()
                .unwrap_or("")
                .starts_with("script-src")),
        "{violations:?}"
    );
    assert!(
        !violations.iter().any(|v| v["blocked"]
            .as_str()
            .unwrap_or("")
            .ends_with("/assets/webauthn.js")),
        "the method's script was not refused: {violations:?}"
    );
    // The form carries what the script wrote: the second factor signs in.
    click_and_wait(&page, "button[name=method][value=script_probe]").await;
    assert_on_settings(&page, "ada@example.com").await;
    chrome.close().await;
    s.stop().await;
}

/// Item 10 of the OIDC issue: a newcomer clicks "Sign in with Tessera" on a development node's demo app,
/// signs in through the hosted pages, and sees the verified ID token's claims and the userinfo answer.
async fn the_demo_app_signs_in_with_openid_connect_through_the_hosted_pages_in_chromium() {
    let Some(chrome) = chrome().await else { return };
    let s = TestServer::start_with(Engine::Sqlite, |env| {
        env.insert("TESSERA_DEV_MODE".into(), "true".into());
        env.insert("TESSERA_BASE_URL".into(), "http://127.0.0.1:0/".into());
    })
    .await
    .unwrap();
    let email = "demo.browser@example.com";
    crate::flows::sign_up(&s, email, serde_json::json!({})).await;
    let page = chrome.page(&format!("{}/dev/demo-app", s.public)).await;
    step("the demo app's button starts the code flow");
    click_and_wait(&page, "#sign-in").await;
    assert!(
        path(&page).await.starts_with("/t/default/flows/login/"),
        "the hosted sign-in: {}",
        path(&page).await
    );
    fill(&page, "input[name=identifier]", email).await;
    fill(&page, "input[name=password]", PASSWORD).await;
    click_and_wait(&page, "button[name=method][value=password]").await;
    let body = text(&page).await;
    assert_eq!(path(&page).await, "/dev/demo-app/callback", "{body}");
    assert!(exists(&page, "#signed-in").await, "{body}");
    let claims: Value = serde_json::from_str(
        &eval::<String>(
            &page,
            "document.getElementById('id-token-claims').textContent",
        )
        .await,
    )
    .unwrap();
    let userinfo: Value = serde_json::from_str(
        &eval::<String>(&page, "document.getElementById('userinfo').textContent").await,
    )
    .unwrap();
    assert_eq!(claims["aud"], "tessera-demo", "{claims}");
    assert_eq!(claims["iss"], format!("{}/t/default", s.public), "{claims}");
    assert_eq!(userinfo["sub"], claims["sub"], "{userinfo}");
    assert_eq!(userinfo["email"], email, "{userinfo}");
    chrome.close().await;
    s.stop().await;
}
