//! The hosted pages as a browser without JavaScript uses them: plain forms, cookies, redirects. CSRF,
//! framing, cookie attributes, languages, and mail over a real SMTP connection.
use reqwest::redirect::Policy;
use tessera_testkit::{Engine, SmtpCapture, TestServer, engine_tests};

/// A browser without JavaScript: keeps cookies, follows no redirect by itself.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Opens a flow page (following the start redirect) and returns its URL and HTML.
async fn open(
    s: &TestServer,
    c: &reqwest::Client,
    kind: &str,
) -> (String, String, reqwest::header::HeaderMap) {
    let r = c
        .get(format!("{}/t/default/{kind}", s.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let url = format!("{}{loc}", s.public);
    let page = c.get(&url).send().await.unwrap();
    let headers = page.headers().clone();
    (url, page.text().await.unwrap(), headers)
}

pub(crate) fn csrf(html: &str) -> String {
    let i =
        html.find("name=\"csrf_token\" value=\"").unwrap() + "name=\"csrf_token\" value=\"".len();
    html[i..].split('"').next().unwrap().to_owned()
}

async fn web_02_a_form_post_without_the_csrf_token_is_refused(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let c = browser();
    let (url, html, _) = open(&s, &c, "login").await;
    let r = c
        .post(&url)
        .form(&[
            ("identifier", "a@example.com"),
            ("password", "whatever it is"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no token");
    let r = c
        .post(&url)
        .form(&[
            ("csrf_token", "forged"),
            ("identifier", "a@example.com"),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "wrong token");
    let token = csrf(&html);
    let r = c
        .post(&url)
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("csrf_token", token.as_str()),
            ("identifier", "a@example.com"),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a cross-site post, even with the token");
    let other_browser = browser();
    let r = other_browser
        .post(&url)
        .form(&[
            ("csrf_token", token.as_str()),
            ("identifier", "a@example.com"),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "A-08: a flow is bound to the browser that started it"
    );
    let r = c
        .post(&url)
        .form(&[
            ("csrf_token", token.as_str()),
            ("identifier", "a@example.com"),
            ("password", "wrong password here"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        400,
        "a real attempt is answered with the form and its error"
    );
    assert!(r.text().await.unwrap().contains("role=\"alert\""));
}

async fn duplicated_and_oversized_form_fields_are_refused(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let c = browser();
    let (url, html, _) = open(&s, &c, "login").await;
    let token = csrf(&html);
    let body = format!("csrf_token={token}&identifier=a&identifier=b&password=x");
    let r = c
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let huge = format!("csrf_token={token}&identifier={}", "a".repeat(2 << 20));
    // The server may answer 413 and close before the client finished sending (a reset or a broken pipe
    // on a loaded machine); either way it is refused. A client of its own, so the closed connection is
    // not reused by the next request.
    let sent = browser()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await;
    match sent {
        Ok(r) => assert!(r.status() == 413 || r.status() == 400, "{}", r.status()),
        Err(e) => assert!(
            !e.is_timeout(),
            "the server neither refused nor answered: {e}"
        ),
    }
    let r = c
        .post(&url)
        .header("content-type", "text/plain")
        .body("garbage\u{0}\u{1}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
}

async fn web_01_web_03_pages_carry_the_security_headers(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let c = browser();
    for kind in ["login", "registration", "recovery", "verification"] {
        let (_, html, h) = open(&s, &c, kind).await;
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{kind}"
        );
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
        assert!(!html.contains("<script"), "{kind}: no script needed");
    }
}

async fn ses_03_cookies_are_http_only_same_site_and_carry_no_personal_data(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let c = browser();
    let r = c
        .get(format!("{}/t/default/login", s.public))
        .send()
        .await
        .unwrap();
    for v in r.headers().get_all("set-cookie") {
        let v = v.to_str().unwrap();
        assert!(
            v.contains("HttpOnly") && v.contains("SameSite=Lax") && v.contains("Path=/"),
            "{v}"
        );
        assert!(!v.contains('@'));
    }
}

async fn pages_speak_the_language_the_browser_asks_for(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let c = browser();
    let r = c
        .get(format!("{}/t/default/login", s.public))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let de = c
        .get(format!("{}{loc}", s.public))
        .header("accept-language", "de-CH, en;q=0.5")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(de.contains("lang=\"de\""), "{de}");
    let en = c
        .get(format!("{}{loc}?ui_locales=en", s.public))
        .header("accept-language", "de")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        en.contains("lang=\"en\""),
        "ui_locales wins over Accept-Language"
    );
    for ac in [
        "autocomplete=\"username\"",
        "autocomplete=\"current-password\"",
    ] {
        assert!(en.contains(ac), "{ac}");
    }
}

async fn a_full_browser_sign_up_through_forms_sets_the_session_cookie(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let c = browser();
    let (url, html, _) = open(&s, &c, "registration").await;
    let r = c
        .post(&url)
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("email", "form@example.com"),
            ("method", "email"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let link = s.link_for("form@example.com").await.unwrap();
    let r = c.get(&link).send().await.unwrap();
    assert_eq!(
        r.status(),
        200,
        "the emailed link works in the browser that started"
    );
    let details = r.text().await.unwrap();
    assert!(details.contains("autocomplete=\"new-password\""));
    let _ = html;
    let r = c
        .post(&url)
        .form(&[
            ("csrf_token", csrf(&details).as_str()),
            ("password", "correct horse battery staple 42"),
            ("method", "password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("__Host-tessera_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Secure"),
        "{cookie}"
    );
    let device = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("__Host-tessera_device=tdv1."))
        .expect("the browser is now a known device of the account (RL-02)");
    assert!(
        device.contains("HttpOnly") && device.contains("Secure") && device.contains("Max-Age="),
        "{device}"
    );
    assert_eq!(r.headers()["location"], "/t/default/settings");
    let settings = c
        .get(format!("{}/t/default/settings", s.public))
        .send()
        .await
        .unwrap();
    assert_eq!(settings.status(), 303);
    let page = c
        .get(format!(
            "{}{}",
            s.public,
            settings.headers()["location"].to_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("form@example.com"),
        "the settings page shows the account"
    );
    // The session list: times for people, with the machine-readable value in `<time datetime>`, and
    // the session in use marked.
    let marker = "<dt>Signed in</dt> <dd><time datetime=\"";
    let at = page.find(marker).unwrap_or_else(|| panic!("{page}")) + marker.len();
    let datetime = page[at..].split('"').next().unwrap();
    let parsed =
        time::OffsetDateTime::parse(datetime, &time::format_description::well_known::Rfc3339)
            .unwrap();
    assert!(datetime.ends_with('Z'), "{datetime}");
    let human = format!(
        "{} {} {}, {:02}:{:02} UTC",
        parsed.day(),
        &parsed.month().to_string()[..3],
        parsed.year(),
        parsed.hour(),
        parsed.minute()
    );
    assert!(
        page[at..].starts_with(&format!("{datetime}\">{human}</time></dd>")),
        "{human}: {page}"
    );
    assert!(page.contains("<dt>Last active</dt>") && page.contains("<dt>Expires</dt>"));
    assert!(
        page.contains("<div class=\"text-node current\" id=\"text-session_")
            && page.contains("aria-current=\"true\""),
        "{page}"
    );
}

/// The hints of a refused password sit beside the field, in plain HTML: no script is needed to see them.
/// Each step's page has its own heading and intro, and actions beside the step (sign out) are never
/// the main button: the engine names them, the pages draw them.
async fn each_step_shows_its_own_heading_and_the_engine_s_secondary_actions(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let c = browser();
    let (url, html, _) = open(&s, &c, "registration").await;
    assert!(html.contains("<h1>Create your account</h1>"), "{html}");
    assert!(html.contains("It only takes a minute."));
    let r = c
        .post(&url)
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("email", "steps@example.com"),
            ("method", "email"),
        ])
        .send()
        .await
        .unwrap();
    let sent = r.text().await.unwrap();
    assert!(
        sent.contains("We sent a code to your email address. Enter it to continue."),
        "the code step's own intro: {sent}"
    );
    let link = s.link_for("steps@example.com").await.unwrap();
    let details = c.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(details.contains("<h1>Almost done</h1>"), "{details}");
    let r = c
        .post(&url)
        .form(&[
            ("csrf_token", csrf(&details).as_str()),
            ("password", "correct horse battery staple 42"),
            ("method", "password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let settings = c
        .get(format!("{}/t/default/settings", s.public))
        .send()
        .await
        .unwrap();
    let page = c
        .get(format!(
            "{}{}",
            s.public,
            settings.headers()["location"].to_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<h1>Account settings</h1>"), "{page}");
    assert!(
        page.contains("class=\"button button-secondary\" name=\"method\" value=\"sign_out\""),
        "signing out is alone in its form, yet secondary: {page}"
    );
}

async fn pw_04_a_refused_password_shows_its_hints_beside_the_field(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let c = browser();
    let (url, html, _) = open(&s, &c, "registration").await;
    c.post(&url)
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("email", "hint@example.com"),
            ("method", "email"),
        ])
        .send()
        .await
        .unwrap();
    let link = s.link_for("hint@example.com").await.unwrap();
    let details = c.get(&link).send().await.unwrap().text().await.unwrap();
    for (password, refusal) in [
        ("qwertyuiop12345", "This password is very common"),
        ("qwertyuiopasdf", "Use at least 15 characters."),
    ] {
        let r = c
            .post(&url)
            .form(&[
                ("csrf_token", csrf(&details).as_str()),
                ("password", password),
                ("method", "password"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{password}");
        let page = r.text().await.unwrap();
        let field = page
            .find("id=\"field-password\"")
            .unwrap_or_else(|| panic!("{page}"));
        let field_end = field + page[field..].find("</div>").unwrap();
        let around = &page[field..field_end];
        assert!(around.contains(refusal), "{password}: {around}");
        let hint = around
            .find("class=\"field-message info\"><span class=\"message-kind\">Note:</span> Keyboard patterns such as")
            .unwrap_or_else(|| panic!("{password}: no keyboard hint beside the field: {around}"));
        // The field points at its hints, so a screen reader reads them with it.
        let hint_id = around[..hint]
            .rsplit("id=\"")
            .next()
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let input = &around[..around.find('>').unwrap()];
        assert!(
            input.contains("aria-describedby=\"") && input.contains(hint_id),
            "{password}: {input}"
        );
        assert!(!page.contains(password), "a password is never sent back");
    }
}

async fn a_link_opened_in_another_browser_does_not_finish_someone_elses_sign_up(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let attacker = browser();
    let (url, html, _) = open(&s, &attacker, "registration").await;
    attacker
        .post(&url)
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("email", "victim@example.com"),
            ("method", "email"),
        ])
        .send()
        .await
        .unwrap();
    let link = s.link_for("victim@example.com").await.unwrap();
    let victim = browser();
    let r = victim.get(&link).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let page = attacker
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("new-password"),
        "the attacker's flow did not advance"
    );
}

async fn settings_without_a_session_send_the_browser_to_sign_in(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let r = browser()
        .get(format!("{}/t/default/settings", s.public))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/t/default/login"),
        "{:?}",
        r.headers()
    );
}

/// Signs in through the hosted form in browser `c`; the answer's `Location`.
async fn sign_in_with_form(
    s: &TestServer,
    c: &reqwest::Client,
    start: &str,
    password: &str,
) -> String {
    let r = c.get(start).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let url = format!("{}{}", s.public, r.headers()["location"].to_str().unwrap());
    let html = c.get(&url).send().await.unwrap().text().await.unwrap();
    let r = c
        .post(&url)
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("identifier", "stale-page@example.com"),
            ("password", password),
            ("method", "password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "signed in");
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// Opens the settings page in browser `c`: its URL and HTML.
async fn settings_page(s: &TestServer, c: &reqwest::Client) -> (String, String) {
    let r = c
        .get(format!("{}/t/default/settings", s.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let url = format!("{}{}", s.public, r.headers()["location"].to_str().unwrap());
    let html = c.get(&url).send().await.unwrap().text().await.unwrap();
    (url, html)
}

async fn ses_08_a_stale_browser_session_is_sent_to_sign_in_again(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let old = "correct horse battery staple 42";
    crate::flows::sign_up(&s, "stale-page@example.com", serde_json::json!({})).await;
    let c = browser();
    sign_in_with_form(&s, &c, &format!("{}/t/default/login", s.public), old).await;
    let (url, html) = settings_page(&s, &c).await;
    s.clock
        .advance((tessera_core::flows::RECENT_LOGIN + time::Duration::minutes(1)).unsigned_abs());
    let change = |html: &str| {
        [
            ("csrf_token", csrf(html)),
            ("method", "password".to_owned()),
            ("current_password", old.to_owned()),
            ("new_password", "a fresher passphrase 7".to_owned()),
        ]
    };
    let r = c.post(&url).form(&change(&html)).send().await.unwrap();
    assert_eq!(r.status(), 303, "a stale session is sent to sign in again");
    let step_up = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        step_up,
        format!(
            "{}/t/default/login?return_to=%2Ft%2Fdefault%2Fsettings",
            s.public
        )
    );
    // Nothing changed: the old password still signs in.
    assert!(
        crate::flows::sign_in(&s, "stale-page@example.com", old)
            .await
            .json["session_token"]
            .is_string()
    );
    // Signing in again leads back to the settings, where the change now goes through.
    let back = sign_in_with_form(&s, &c, &step_up, old).await;
    assert_eq!(back, format!("{}/t/default/settings", s.public));
    let (url, html) = settings_page(&s, &c).await;
    let r = c.post(&url).form(&change(&html)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        crate::flows::sign_in(&s, "stale-page@example.com", "a fresher passphrase 7")
            .await
            .json["session_token"]
            .is_string()
    );
}

async fn the_dev_mailbox_shows_mail_when_no_smtp_is_configured(engine: Engine) {
    let Some(s) = TestServer::start_with(engine, |env| {
        env.insert("TESSERA_DEV_MODE".into(), "true".into());
    })
    .await
    else {
        return;
    };
    assert!(
        s.smtp.is_none(),
        "a dev-mode test server keeps the dev mailbox"
    );
    let c = browser();
    let (url, html, _) = open(&s, &c, "recovery").await;
    c.post(&url)
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("email", "nobody@example.com"),
        ])
        .send()
        .await
        .unwrap();
    let page = reqwest::get(format!("{}/dev/mailbox", s.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Development mailbox"));
}

async fn mail_goes_out_over_smtp_when_configured(engine: Engine) {
    let capture = SmtpCapture::start().await;
    let Some(s) = TestServer::start_with(engine, |env| {
        env.insert("TESSERA_SMTP_URL".into(), capture.url());
        env.insert(
            "TESSERA_SMTP_FROM".into(),
            "Shop <no-reply@shop.example>".into(),
        );
    })
    .await
    else {
        return;
    };
    assert!(s.smtp.is_none(), "the configured SMTP server is used");
    let c = browser();
    let (url, html, _) = open(&s, &c, "registration").await;
    c.post(&url)
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("email", "smtp@example.com"),
            ("method", "email"),
        ])
        .send()
        .await
        .unwrap();
    s.wait_for_outbox().await;
    let mail = capture
        .mails()
        .into_iter()
        .find(|m| m.to == ["smtp@example.com"])
        .expect("the mail reached the SMTP listener");
    assert!(mail.raw.contains("no-reply@shop.example"), "{}", mail.raw);
    assert_eq!(mail.template, "verification_code");
    assert!(
        mail.text.contains("/t/default/flows/link?token="),
        "the mail carries the link: {}",
        mail.text
    );
    let r = reqwest::get(format!("{}/dev/mailbox.json", s.admin))
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "no dev mailbox once SMTP is configured");
}

engine_tests!(
    web_02_a_form_post_without_the_csrf_token_is_refused,
    duplicated_and_oversized_form_fields_are_refused,
    web_01_web_03_pages_carry_the_security_headers,
    ses_03_cookies_are_http_only_same_site_and_carry_no_personal_data,
    pages_speak_the_language_the_browser_asks_for,
    a_full_browser_sign_up_through_forms_sets_the_session_cookie,
    each_step_shows_its_own_heading_and_the_engine_s_secondary_actions,
    pw_04_a_refused_password_shows_its_hints_beside_the_field,
    a_link_opened_in_another_browser_does_not_finish_someone_elses_sign_up,
    settings_without_a_session_send_the_browser_to_sign_in,
    ses_08_a_stale_browser_session_is_sent_to_sign_in_again,
    the_dev_mailbox_shows_mail_when_no_smtp_is_configured,
    mail_goes_out_over_smtp_when_configured,
);
