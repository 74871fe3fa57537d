//! The OpenAPI documents are contracts: every answer an operation gives is a status its operation lists,
//! and every error is `application/problem+json` as declared. Each operation is probed here with the
//! requests its extractors refuse; `scripts/openapi-fuzz.sh` (Schemathesis, in CI) explores the rest.
use reqwest::Method;
use serde_json::Value;
use tessera_testkit::{Engine, Resp, TestServer, engine_tests};

/// A resource id that is well formed and names nothing.
const NO_SUCH_ID: &str = "01900000-0000-7000-8000-000000000000";

/// The operations of a document: (method, path template, operation).
fn operations(doc: &Value) -> Vec<(Method, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(m) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            out.push((m, path.clone(), op.clone()));
        }
    }
    out
}

/// The path with every parameter filled: the default tenant, ids that name nothing, or `bad` garbage.
fn fill(template: &str, garbage_ids: bool) -> String {
    let id = if garbage_ids { "not-an-id" } else { NO_SUCH_ID };
    template
        .replace("{tenant}", "default")
        .replace("{kind}", "login")
        .replace("{version}", if garbage_ids { "x" } else { "99999" })
        .replace("{id}", id)
        .replace("{org}", id)
        .replace("{identity}", id)
}

/// A probe and what it sends.
enum Body {
    None,
    Json(&'static str),
    Text,
    Huge(usize),
}

async fn probe(
    s: &TestServer,
    base: &str,
    method: &Method,
    path: &str,
    key: Option<&str>,
    body: Body,
) -> (u16, Option<String>, String) {
    let mut req = s.http.request(method.clone(), format!("{base}{path}"));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req = match body {
        Body::None => req,
        Body::Json(text) => req.header("content-type", "application/json").body(text),
        Body::Text => req.header("content-type", "text/plain").body("hello"),
        Body::Huge(n) => req
            .header("content-type", "application/json")
            .body(format!("\"{}\"", "a".repeat(n))),
    };
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, ct, r.text().await.unwrap_or_default())
}

/// Checks one answer against the operation's declared responses.
fn check(
    op: &Value,
    what: &str,
    answer: &(u16, Option<String>, String),
    failures: &mut Vec<String>,
) {
    let (status, ct, body) = answer;
    let Some(declared) = op["responses"].get(status.to_string()) else {
        failures.push(format!(
            "{what}: {status} is not listed (lists {:?}): {body}",
            op["responses"]
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
        ));
        return;
    };
    if *status >= 400 {
        if ct.as_deref() != Some("application/problem+json") {
            failures.push(format!("{what}: {status} answered as {ct:?}"));
        }
        if declared["content"]
            .get("application/problem+json")
            .is_none()
        {
            failures.push(format!(
                "{what}: {status} does not declare application/problem+json: {}",
                declared["content"]
            ));
        }
    }
}

async fn fetch(s: &TestServer, url: String) -> Value {
    s.http.get(url).send().await.unwrap().json().await.unwrap()
}

/// Probes every operation of a document with what its extractors refuse.
async fn probe_document(s: &TestServer, base: &str, doc: &Value, key: Option<&str>) -> Vec<String> {
    let limit = s.config.max_body_bytes;
    let mut failures = Vec::new();
    for (method, template, op) in operations(doc) {
        let what = |probe: &str| format!("{method} {template} ({probe})");
        let path = fill(&template, false);
        let has = |place: &str| {
            op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == place))
        };
        let secured = key.is_some();
        if secured {
            let a = probe(s, base, &method, &path, None, Body::None).await;
            check(&op, &what("no key"), &a, &mut failures);
            let a = probe(s, base, &method, &path, Some("tsk_wrong"), Body::None).await;
            check(&op, &what("unknown key"), &a, &mut failures);
        }
        if has("path") {
            let bad = fill(&template, true);
            let a = probe(s, base, &method, &bad, key, Body::None).await;
            check(&op, &what("malformed path parameter"), &a, &mut failures);
            let a = probe(s, base, &method, &path, key, Body::Json("{}")).await;
            check(&op, &what("nothing there"), &a, &mut failures);
        }
        if has("query") {
            let a = probe(
                s,
                base,
                &method,
                &format!("{path}?bogus=1"),
                key,
                Body::None,
            )
            .await;
            check(&op, &what("unknown query parameter"), &a, &mut failures);
        }
        if op.get("requestBody").is_some() {
            for (name, body) in [
                ("no body", Body::None),
                ("not JSON", Body::Json("{")),
                ("wrong shape", Body::Json("[1]")),
                ("trailing data", Body::Json("{} {}")),
                ("text/plain", Body::Text),
                ("too large", Body::Huge(limit + 1)),
            ] {
                let a = probe(s, base, &method, &path, key, body).await;
                check(&op, &what(name), &a, &mut failures);
            }
        }
        if has("header") {
            let a = s
                .http
                .request(method.clone(), format!("{base}{path}"))
                .bearer_auth(key.unwrap_or_default())
                .header("if-match", "\"not-a-version\"")
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = a.status().as_u16();
            let ct = a
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let answer = (status, ct, a.text().await.unwrap_or_default());
            check(&op, &what("bad If-Match"), &answer, &mut failures);
        }
    }
    failures
}

async fn openapi_the_admin_document_lists_every_answer_of_every_operation(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let doc = fetch(&s, format!("{}/openapi.json", s.admin)).await;
    assert!(
        operations(&doc).len() > 30,
        "the admin document lists the admin API"
    );
    assert!(
        doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .all(|p| p.starts_with("/admin/v1/")),
        "the admin listener serves only admin paths; the flow API has its own document"
    );
    let failures = probe_document(&s, &s.admin, &doc, Some(&s.key)).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const KINDS: [&str; 5] = [
    "login",
    "registration",
    "verification",
    "recovery",
    "settings",
];

async fn openapi_the_flow_document_is_served_on_the_public_listener(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let doc = fetch(&s, format!("{}/openapi.json", s.public)).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(
        doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .all(|p| p.starts_with("/t/{tenant}/api/") || p == "/t/{tenant}/.well-known/jwks.json"),
        "only the flow API and the tenant's JWKS: {:?}",
        doc["paths"].as_object().unwrap().keys().collect::<Vec<_>>()
    );
    let failures = probe_document(&s, &s.public, &doc, None).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each kind has its own start, read and submit, its own submission schema (strings only: a value of
/// another type is 422, a field no step reads is ignored), and the links of a start's answer name the
/// started flow: following them reads it and submits to it.
async fn openapi_the_flow_document_has_each_kind_and_its_links_lead_to_the_started_flow(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let doc = fetch(&s, format!("{}/openapi.json", s.public)).await;
    let token = crate::flows::sign_up(&s, "links@example.com", serde_json::json!({})).await;
    for kind in KINDS {
        let start_path = format!("/t/{{tenant}}/api/flows/{kind}");
        let flow_path = format!("{start_path}/{{id}}");
        let start = &doc["paths"][&start_path]["post"];
        let submit = &doc["paths"][&flow_path]["post"];
        assert!(doc["paths"][&flow_path]["get"].is_object(), "{kind}");
        assert_eq!(
            start["requestBody"]["required"], false,
            "{kind}: the body may be left out"
        );
        let body = submit["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        let schema = &doc["components"]["schemas"][&body];
        assert_eq!(schema["additionalProperties"]["type"], "string", "{body}");
        assert_eq!(
            start["responses"].get("401").is_some(),
            kind == "settings",
            "{kind}: only settings needs a session"
        );

        // Start the flow, and follow the links of the answer.
        let mut req = s
            .http
            .post(format!("{}/t/default/api/flows/{kind}", s.public));
        if kind == "settings" {
            req = req.bearer_auth(&token);
        }
        let started = Resp::from(req.send().await.unwrap()).await;
        assert_eq!(started.status, 201, "{started:?}");
        let links = start["responses"]["201"]["links"].as_object().unwrap();
        assert_eq!(links.len(), 2, "{kind}: read and submit");
        for link in links.values() {
            let op = link["operationId"].as_str().unwrap();
            let param = |name: &str| {
                let expr = link["parameters"][name].as_str().unwrap();
                let pointer = expr.strip_prefix("$response.body#").unwrap();
                started
                    .json
                    .pointer(pointer)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            };
            let (id, secret) = (param("path.id"), param("header.Tessera-Flow-Secret"));
            assert_eq!(link["parameters"]["path.tenant"], "$request.path.tenant");
            let url = format!("{}/t/default/api/flows/{kind}/{id}", s.public);
            let req = if op == format!("get_{kind}") {
                s.http.get(url)
            } else {
                assert_eq!(op, format!("submit_{kind}"));
                // A field no step reads is ignored; a value that is not a string is refused.
                let wrong = Resp::from(
                    s.http
                        .post(&url)
                        .header(crate::flows::FLOW_SECRET, &secret)
                        .bearer_auth(&token)
                        .json(&serde_json::json!({"method": 1}))
                        .send()
                        .await
                        .unwrap(),
                )
                .await;
                wrong.assert_problem(422, "invalid_body");
                s.http
                    .post(url)
                    .json(&serde_json::json!({"no step reads this": "x"}))
            };
            let r = Resp::from(
                req.header(crate::flows::FLOW_SECRET, &secret)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert!(
                [200, 400].contains(&r.status) && r.json["flow"]["id"] == id.as_str(),
                "{kind} {op}: {r:?}"
            );
        }
    }
}

/// Every property name anywhere in a document's schemas, and every parameter name.
fn field_names(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Object(props)) = o.get("properties") {
                out.extend(props.keys().cloned());
            }
            if let (Some(Value::String(name)), Some(_)) = (o.get("name"), o.get("in")) {
                out.push(name.clone());
            }
            o.values().for_each(|x| field_names(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| field_names(x, out)),
        _ => {}
    }
}

async fn pw_06_no_password_hint_or_security_question_anywhere(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let mut names = Vec::new();
    for url in [
        format!("{}/openapi.json", s.admin),
        format!("{}/openapi.json", s.public),
    ] {
        field_names(&fetch(&s, url).await, &mut names);
    }
    assert!(names.len() > 50, "the documents were read: {names:?}");
    // The attribute schema a tenant starts with, and the nodes of every journey's first step.
    let schema = s.get("/admin/v1/tenants/default/attribute-schema").await;
    field_names(&schema.json, &mut names);
    if let Some(attrs) = schema.json["attributes"].as_object() {
        names.extend(attrs.keys().cloned());
    }
    for kind in ["login", "registration", "recovery", "verification"] {
        let flow = crate::flows::start(&s, kind, serde_json::json!({})).await;
        for n in flow["ui"]["nodes"].as_array().into_iter().flatten() {
            names.extend(n["name"].as_str().map(str::to_owned));
        }
    }
    let banned = ["hint", "question", "answer", "maiden", "memorable"];
    // OpenID Connect's `login_hint` names who is signing in (it pre-fills the identifier): no password hint.
    let allowed = ["login_hint"];
    let found: Vec<&String> = names
        .iter()
        .filter(|n| {
            let n = n.to_lowercase();
            banned.iter().any(|b| n.contains(b)) && !allowed.contains(&n.as_str())
        })
        .collect();
    assert!(
        found.is_empty(),
        "password hints or security questions: {found:?}"
    );
}

/// Every body of both APIs is a JSON object: an array is refused with 422 and changes nothing (serde reads
/// a struct from an array too, and `[null]` once patched a tenant with 200).
async fn openapi_a_body_that_is_not_an_object_is_refused_and_changes_nothing(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let before = s.get("/admin/v1/tenants/default").await;
    let mut probed = 0;
    for (base, key) in [(&s.admin, Some(s.key.as_str())), (&s.public, None)] {
        let doc = fetch(&s, format!("{base}/openapi.json")).await;
        for (method, template, op) in operations(&doc) {
            if op.get("requestBody").is_none() {
                continue;
            }
            for body in ["[null]", "[]", "\"text\"", "1", "null"] {
                let a = probe(
                    &s,
                    base,
                    &method,
                    &fill(&template, false),
                    key,
                    Body::Json(body),
                )
                .await;
                assert_eq!(a.0, 422, "{method} {template} with {body}: {a:?}");
                assert!(a.2.contains("invalid_body"), "{method} {template}: {a:?}");
                probed += 1;
            }
        }
    }
    assert!(probed > 50, "both documents' bodies were probed");
    let after = s.get("/admin/v1/tenants/default").await;
    assert_eq!(after.json, before.json, "nothing changed");
}

engine_tests!(
    pw_06_no_password_hint_or_security_question_anywhere,
    openapi_a_body_that_is_not_an_object_is_refused_and_changes_nothing,
    openapi_the_admin_document_lists_every_answer_of_every_operation,
    openapi_the_flow_document_is_served_on_the_public_listener,
    openapi_the_flow_document_has_each_kind_and_its_links_lead_to_the_started_flow,
);
