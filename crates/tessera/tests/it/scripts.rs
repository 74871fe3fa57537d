//! A method's script on the hosted pages (WEB-03): a script node names a file Tessera ships, the page
//! loads it with its SRI hash and a nonce fresh for each response, and the response's CSP allows that
//! nonce and nothing else; pages without a script node allow no script at all. JSON clients get the
//! node as data. A test-only method, which no journey knows, shows the script as its second factor.
//! The browser half (the script runs, an injected inline script does not) is in `browser.rs`.
use std::sync::Arc;

use serde_json::{Value, json};
use tessera_core::flows::{FlowInput, nodes};
use tessera_core::methods::{
    Account, Charge, Factor, Method, MethodFuture, Secret, SignIn, Verdict,
};
use tessera_model::IdentityId;
use tessera_model::flow::UiNode;
use tessera_testkit::{Engine, TestServer, engine_tests};

use crate::flows::{PASSWORD, node, sign_up, start, submit};
use crate::pages::{browser, csrf};

/// What the method's page hands its script, with characters that must stay data in HTML.
pub(crate) const CHALLENGE: &str = "c-\"></script><script>document.title='x'</script>&amp;";
/// The shipped script the method names.
pub(crate) const SRC: &str = "/assets/webauthn.js";

/// A stand-in for a passkey: the page's script fills `probe_response` with what it found
/// (`webauthn:` or `none:`, then the challenge it was given), and the method takes a response that
/// carries the challenge intact as proof. It cannot say who you are (a second factor only).
#[derive(Debug)]
pub(crate) struct ScriptProbe;

impl Method for ScriptProbe {
    fn id(&self) -> &'static str {
        "script_probe"
    }
    fn amr(&self) -> &'static str {
        "swk"
    }
    fn factor(&self) -> Factor {
        Factor::Possession
    }
    fn allowed_at_aal2(&self) -> bool {
        true
    }
    fn identifies(&self) -> bool {
        false
    }
    fn sign_in_nodes(&self, _second: bool) -> Vec<UiNode> {
        let mut response = UiNode::hidden("probe_response", "");
        response.group = "script_probe".into();
        response.required = false;
        vec![
            response,
            UiNode::script(
                "script_probe",
                "probe_script",
                SRC,
                Some(&json!({"field": "probe_response", "challenge": CHALLENGE})),
            ),
            nodes::button(
                "script_probe",
                "method",
                "script_probe",
                "button-verify",
                "Verify",
            ),
        ]
    }
    fn charge(&self, identity: Option<IdentityId>, _: Option<&Value>, input: &FlowInput) -> Charge {
        match (identity, input.get("probe_response")) {
            (Some(id), Some(_)) => Charge::Guess {
                account: Account::Identity(id),
                secret: Secret::Code,
            },
            _ => Charge::Nothing,
        }
    }
    fn sign_in<'a>(
        &'a self,
        s: SignIn<'a>,
    ) -> MethodFuture<'a, (Verdict, Option<tessera_store::Tx>)> {
        Box::pin(async move {
            let answer = s.input.get("probe_response").map(String::as_str);
            let verdict = match (s.identity, answer) {
                (_, None | Some("")) => Verdict::Missing(vec!["probe_response"]),
                (Some(id), Some(r))
                    if [format!("webauthn:{CHALLENGE}"), format!("none:{CHALLENGE}")]
                        .iter()
                        .any(|ok| ok == r) =>
                {
                    Verdict::Proven { identity: id }
                }
                _ => Verdict::Refused,
            };
            Ok((verdict, None))
        })
    }
}

/// A server offering the password, then the probe as the second factor, with `ada@example.com`
/// signed up.
pub(crate) async fn probe_server(
    engine: Engine,
    adjust: impl FnOnce(&mut std::collections::HashMap<String, String>),
) -> Option<TestServer> {
    let s = TestServer::start_with_method_and(engine, Arc::new(ScriptProbe), adjust).await?;
    sign_up(&s, "ada@example.com", json!({})).await;
    let r = s
        .put(
            "/admin/v1/tenants/default/policy",
            json!({"document": {"authentication": {"methods": ["password", "script_probe"], "aal": 2}},
                   "reason": "a second factor with a script"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    Some(s)
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> String {
    h.get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The nonce of a CSP's `script-src`, if it has one.
fn csp_nonce(csp: &str) -> Option<String> {
    let src = csp
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("script-src "))?;
    assert_eq!(
        src.split_whitespace().count(),
        1,
        "the nonce and nothing else: {csp}"
    );
    let nonce = src.strip_prefix("'nonce-")?.strip_suffix('\'')?;
    Some(nonce.to_owned())
}

/// The attributes of the page's one script element.
fn script_tag(html: &str) -> &str {
    assert_eq!(html.matches("<script").count(), 1, "one script: {html}");
    let at = html.find("<script").unwrap();
    let end = at + html[at..].find('>').unwrap();
    &html[at..=end]
}

fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let at = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + key.len();
    tag[at..].split('"').next().unwrap()
}

async fn web_03_a_method_script_runs_with_a_fresh_nonce_its_csp_names_and_other_pages_allow_none(
    engine: Engine,
) {
    let Some(s) = probe_server(engine, |_| {}).await else {
        return;
    };
    let c = browser();
    let r = c
        .get(format!("{}/t/default/login", s.public))
        .send()
        .await
        .unwrap();
    let url = format!("{}{}", s.public, header(r.headers(), "location"));
    let r = c.get(&url).send().await.unwrap();
    let csp = header(r.headers(), "content-security-policy");
    let html = r.text().await.unwrap();
    // The first step shows no script: its page may run none.
    assert!(!html.contains("<script"), "{html}");
    assert!(!csp.contains("script-src"), "{csp}");
    assert!(csp.starts_with("default-src 'none';"), "{csp}");
    let r = c
        .post(&url)
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("identifier", "ada@example.com"),
            ("password", PASSWORD),
            ("method", "password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The second factor's page, drawn twice: each answer has its own nonce, in the page and the CSP.
    let mut nonces = Vec::new();
    let mut token = String::new();
    for r in [r, c.get(&url).send().await.unwrap()] {
        let csp = header(r.headers(), "content-security-policy");
        let html = r.text().await.unwrap();
        let nonce = csp_nonce(&csp).unwrap_or_else(|| panic!("a script-src nonce: {csp}"));
        assert!(nonce.len() >= 22, "at least 128 bits: {nonce}");
        for weak in [
            "'unsafe-inline'",
            "'unsafe-eval'",
            "'strict-dynamic'",
            "'self' 'nonce",
        ] {
            assert!(!csp.contains(weak), "{weak}: {csp}");
        }
        for kept in [
            "default-src 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
        ] {
            assert!(csp.contains(kept), "{kept}: {csp}");
        }
        let tag = script_tag(&html);
        assert_eq!(attr(tag, "nonce"), nonce, "{tag}");
        assert_eq!(attr(tag, "src"), SRC);
        // The script's data is an attribute value holding no markup at all, not even escaped: a
        // browser refuses the nonce of a script element with `<script` in an attribute.
        assert!(!html.contains("document.title='x'</script>"), "{html}");
        assert!(!tag.contains("&lt;"), "{tag}");
        assert!(
            attr(tag, "data-value").contains(r"\u003c/script\u003e"),
            "{tag}"
        );
        // The hash is the served file's.
        let js = c.get(format!("{}{SRC}", s.public)).send().await.unwrap();
        assert_eq!(js.status(), 200);
        assert!(header(js.headers(), "content-type").starts_with("text/javascript"));
        assert_eq!(header(js.headers(), "x-content-type-options"), "nosniff");
        let body = js.bytes().await.unwrap();
        assert_eq!(attr(tag, "integrity"), tessera_crypto::sri_sha384(&body));
        nonces.push(nonce);
        token = csrf(&html);
    }
    assert_ne!(nonces[0], nonces[1], "a fresh nonce per response");

    // What the script would write signs in; the page after it runs no script.
    let r = c
        .post(&url)
        .form(&[
            ("csrf_token", token.as_str()),
            ("probe_response", &format!("none:{CHALLENGE}")),
            ("method", "script_probe"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "signed in");
    let settings = format!("{}{}", s.public, header(r.headers(), "location"));
    let mut r = c.get(&settings).send().await.unwrap();
    while r.status() == 303 {
        let next = format!("{}{}", s.public, header(r.headers(), "location"));
        r = c.get(&next).send().await.unwrap();
    }
    assert_eq!(r.status(), 200);
    assert!(!header(r.headers(), "content-security-policy").contains("script-src"));
    assert!(!r.text().await.unwrap().contains("<script"));
}

async fn scripts_an_app_gets_the_script_node_as_data_with_its_hash(engine: Engine) {
    let Some(s) = probe_server(engine, |_| {}).await else {
        return;
    };
    let flow = start(&s, "login", json!({})).await;
    let r = submit(
        &s,
        &flow,
        json!({"identifier": "ada@example.com", "password": PASSWORD, "method": "password"}),
    )
    .await;
    assert_eq!(r.json["flow"]["state"], "second_factor", "{r:?}");
    let script = node(&r.json["flow"], "probe_script").expect("the script node");
    assert_eq!(script["type"], "script");
    assert_eq!(script["src"], SRC);
    let body = s
        .http
        .get(format!("{}{SRC}", s.public))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(script["integrity"], tessera_crypto::sri_sha384(&body));
    let data: Value = serde_json::from_str(script["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        data,
        json!({"field": "probe_response", "challenge": CHALLENGE})
    );
    // An app runs its own code and answers the same field.
    let r = submit(
        &s,
        &flow,
        json!({"probe_response": format!("webauthn:{CHALLENGE}"), "method": "script_probe"}),
    )
    .await;
    assert!(r.json["session_token"].is_string(), "{r:?}");
}

engine_tests!(
    web_03_a_method_script_runs_with_a_fresh_nonce_its_csp_names_and_other_pages_allow_none,
    scripts_an_app_gets_the_script_node_as_data_with_its_hash,
);
