//! The admin REST API: identities, tenants, schemas, policies, organizations, and how bad input is
//! answered. Every test runs on SQLite and PostgreSQL.
use serde_json::json;
use tessera_testkit::{Engine, TestServer, engine_tests};

const IDS: &str = "/admin/v1/tenants/default/identities";

async fn identity_count(s: &TestServer) -> i64 {
    s.tessera.identities().count("default").await.unwrap()
}

async fn event_count(s: &TestServer) -> usize {
    s.get("/admin/v1/tenants/default/events?limit=1000")
        .await
        .json["items"]
        .as_array()
        .unwrap()
        .len()
}

async fn creates_reads_and_lists_an_identity(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let r = s
        .post(IDS, json!({"identifiers": [{"kind": "email", "value": "Alice@Example.COM"}, {"kind": "phone", "value": "+1 (415) 555-0100"}]}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json["state"], "active");
    assert_eq!(r.header("etag"), Some("\"1\""));
    let id = r.json["id"].as_str().unwrap().to_owned();
    let values: Vec<&str> = r.json["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    assert!(
        values.contains(&"alice@example.com") && values.contains(&"+14155550100"),
        "{values:?}"
    );
    let got = s.get(&format!("{IDS}/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json["id"], id.as_str());
    let listed = s
        .get(&format!("{IDS}?identifier=email:ALICE@example.com"))
        .await;
    assert_eq!(listed.json["items"][0]["id"], id.as_str(), "{listed:?}");
}

async fn a_prospect_needs_only_an_email_even_when_the_schema_requires_more(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let schema =
        json!({"attributes": [{"name": "given_name", "type": "string", "required": true}]});
    assert_eq!(
        s.put("/admin/v1/tenants/default/attribute-schema", schema)
            .await
            .status,
        200
    );
    let r = s.post(IDS, json!({"identifiers": [{"kind": "email", "value": "lead@example.com"}], "state": "prospect"})).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json["state"], "prospect");
    let full = s
        .post(
            IDS,
            json!({"identifiers": [{"kind": "email", "value": "full@example.com"}]}),
        )
        .await;
    full.assert_problem(422, "invalid_attributes");
    assert!(full.json["detail"].as_str().unwrap().contains("given_name"));
    assert_eq!(full.json["errors"][0]["field"], "attributes.given_name");
}

async fn identifiers_are_unique_after_normalisation(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    assert_eq!(
        s.post(
            IDS,
            json!({"identifiers": [{"kind": "email", "value": "bob@example.com"}]})
        )
        .await
        .status,
        201
    );
    let before = (identity_count(&s).await, event_count(&s).await);
    for variant in [
        "BOB@EXAMPLE.COM",
        "ｂｏｂ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        " bob@Example.com. ",
    ] {
        let r = s
            .post(
                IDS,
                json!({"identifiers": [{"kind": "email", "value": variant}]}),
            )
            .await;
        r.assert_problem(409, "identifier_taken");
    }
    assert_eq!(
        (identity_count(&s).await, event_count(&s).await),
        before,
        "a refused create changes nothing"
    );
    let u = s
        .post(
            IDS,
            json!({"identifiers": [{"kind": "username", "value": "STRASSE"}]}),
        )
        .await;
    assert_eq!(u.status, 201);
    s.post(
        IDS,
        json!({"identifiers": [{"kind": "username", "value": "straße"}]}),
    )
    .await
    .assert_problem(409, "identifier_taken");
}

async fn confusable_and_malformed_identifiers_are_refused(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let before = identity_count(&s).await;
    for (kind, value) in [
        ("email", "p\u{0430}ypal@example.com"),
        ("email", "no-at-sign"),
        ("phone", "4155550100"),
        ("username", "a@b"),
    ] {
        let r = s
            .post(
                IDS,
                json!({"identifiers": [{"kind": kind, "value": value}]}),
            )
            .await;
        r.assert_problem(422, "invalid_identifier");
        assert_eq!(r.json["errors"][0]["field"], "identifiers[0].value");
    }
    s.post(IDS, json!({"identifiers": []}))
        .await
        .assert_problem(422, "invalid_identifier");
    assert_eq!(identity_count(&s).await, before);
}

async fn updates_need_a_current_etag(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.put(
        "/admin/v1/tenants/default/attribute-schema",
        json!({"attributes": [{"name": "plan", "type": "enum", "values": ["free", "pro"]}, {"name": "age", "type": "number", "min": 0}]}),
    )
    .await;
    let id = s.post(IDS, json!({"identifiers": [{"kind": "email", "value": "c@example.com"}], "attributes": {"plan": "free"}})).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("{IDS}/{id}");
    let ok = s
        .admin_req(reqwest::Method::PATCH, &path)
        .header("if-match", "\"1\"")
        .json(&json!({"attributes": {"plan": "pro"}}))
        .send()
        .await
        .unwrap();
    let ok = tessera_testkit::Resp::from(ok).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.header("etag"), Some("\"2\""));
    let stale = s
        .admin_req(reqwest::Method::PATCH, &path)
        .header("if-match", "\"1\"")
        .json(&json!({"attributes": {"plan": "free"}}))
        .send()
        .await
        .unwrap();
    tessera_testkit::Resp::from(stale)
        .await
        .assert_problem(412, "version_mismatch");
    assert_eq!(
        s.get(&path).await.json["attributes"]["plan"],
        "pro",
        "a stale write changes nothing"
    );
    let bad = s
        .patch(
            &path,
            json!({"attributes": {"plan": "enterprise", "age": -1}}),
        )
        .await;
    bad.assert_problem(422, "invalid_attributes");
    let mut fields: Vec<&str> = bad.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        ["attributes.age", "attributes.plan"],
        "every problem is reported, each naming its attribute"
    );
    let removed = s.patch(&path, json!({"attributes": {"plan": null}})).await;
    assert!(
        removed.json["attributes"].get("plan").is_none(),
        "null removes an attribute (merge patch)"
    );
}

async fn lists_page_with_a_cursor_and_filter(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.put(
        "/admin/v1/tenants/default/attribute-schema",
        json!({"attributes": [{"name": "plan", "type": "string"}]}),
    )
    .await;
    for i in 0..5 {
        let plan = if i % 2 == 0 { "pro" } else { "free" };
        s.post(IDS, json!({"identifiers": [{"kind": "email", "value": format!("u{i}@example.com")}], "attributes": {"plan": plan}})).await;
    }
    let mut seen = Vec::new();
    let mut url = format!("{IDS}?limit=2");
    loop {
        let page = s.get(&url).await;
        assert_eq!(page.status, 200);
        for i in page.json["items"].as_array().unwrap() {
            seen.push(i["id"].as_str().unwrap().to_owned());
        }
        match page.json["next_cursor"].as_str() {
            Some(c) => url = format!("{IDS}?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let pro = s.get(&format!("{IDS}?attribute=plan:pro")).await;
    assert_eq!(pro.json["items"].as_array().unwrap().len(), 3);
    s.get(&format!("{IDS}?cursor=garbage"))
        .await
        .assert_problem(400, "bad_cursor");
    s.get(&format!("{IDS}?colour=red"))
        .await
        .assert_problem(400, "invalid_query");
    s.get(&format!("{IDS}?attribute=shoe:42"))
        .await
        .assert_problem(400, "bad_filter");
}

async fn life_cycle_moves_follow_the_state_machine(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let r = s
        .post(
            IDS,
            json!({"identifiers": [{"kind": "email", "value": "d@example.com"}]}),
        )
        .await;
    let path = format!("{IDS}/{}", r.json["id"].as_str().unwrap());
    assert_eq!(
        s.post(&format!("{path}/suspend"), json!({"reason": "chargeback"}))
            .await
            .json["state"],
        "suspended"
    );
    assert_eq!(
        s.post(&format!("{path}/suspend"), json!({})).await.status,
        409
    );
    assert_eq!(
        s.post(&format!("{path}/reactivate"), json!({})).await.json["state"],
        "active"
    );
    let gone = s.delete(&path).await;
    assert_eq!(gone.json["state"], "deleted");
    assert_eq!(gone.json["identifiers"], json!([]));
    s.post(&format!("{path}/reactivate"), json!({}))
        .await
        .assert_problem(409, "invalid_state_transition");
    assert_eq!(
        s.post(
            IDS,
            json!({"identifiers": [{"kind": "email", "value": "d@example.com"}]})
        )
        .await
        .status,
        201,
        "erasure releases identifiers"
    );
}

/// Red team R9-5 and R10-3: a NUL in an attribute value was a 500 on PostgreSQL (its JSONB refuses it)
/// and stored on SQLite, and a value of invisible characters could stand in for a required attribute.
async fn attribute_values_with_control_characters_are_a_field_problem_everywhere(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.put(
        "/admin/v1/tenants/default/attribute-schema",
        json!({"attributes": [{"name": "plan", "type": "string", "customer_editable": true}]}),
    )
    .await;
    let id = s
        .post(
            IDS,
            json!({"identifiers": [{"kind": "email", "value": "nul@example.com"}], "attributes": {"plan": "basic"}}),
        )
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("{IDS}/{id}");
    for bad in ["a\u{0}b", "\u{0}", "\u{202e}gpj.exe", "\u{200b}\u{feff}"] {
        let r = s.patch(&path, json!({"attributes": {"plan": bad}})).await;
        r.assert_problem(422, "invalid_attributes");
        assert_eq!(r.json["errors"][0]["field"], "attributes.plan", "{bad:?}");
        let r = s
            .post(
                IDS,
                json!({"identifiers": [{"kind": "email", "value": "nul2@example.com"}], "attributes": {"plan": bad}}),
            )
            .await;
        r.assert_problem(422, "invalid_attributes");
    }
    assert_eq!(s.get(&path).await.json["attributes"]["plan"], "basic");
    // The customer's own settings: the form stays with the problem, nothing is saved.
    let token = crate::flows::sign_up(&s, "self@example.com", json!({})).await;
    let flow = crate::flows::start_as(&s, "settings", json!({}), Some(&token)).await;
    let r = crate::flows::submit_as(
        &s,
        &flow,
        json!({"method": "profile", "attributes.plan": "x\u{0}"}),
        Some(&token),
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    let r = crate::flows::submit_as(
        &s,
        &flow,
        json!({"method": "profile", "attributes.plan": "pro"}),
        Some(&token),
    )
    .await;
    assert!(
        r.status < 300,
        "a clean value is saved after the refusal: {r:?}"
    );
}

async fn bad_input_is_a_typed_problem_and_changes_nothing(engine: Engine) {
    let Some(s) = TestServer::start_with(engine, |env| {
        env.insert("TESSERA_MAX_BODY_BYTES".into(), "2048".into());
    })
    .await
    else {
        return;
    };
    let before = (identity_count(&s).await, event_count(&s).await);
    let post_raw = |body: String, ct: &'static str| {
        s.admin_req(reqwest::Method::POST, IDS)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let r =
        tessera_testkit::Resp::from(post_raw("{".into(), "application/json").await.unwrap()).await;
    r.assert_problem(400, "malformed_json");
    let r = tessera_testkit::Resp::from(
        post_raw(
            r#"{"identifiers":[],"colour":1}"#.into(),
            "application/json",
        )
        .await
        .unwrap(),
    )
    .await;
    r.assert_problem(422, "invalid_body");
    assert!(
        r.json["detail"].as_str().unwrap().contains("colour"),
        "{r:?}"
    );
    let r = tessera_testkit::Resp::from(
        post_raw(r#"{"identifiers":"x"}"#.into(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(422, "invalid_body");
    let r = tessera_testkit::Resp::from(
        post_raw("identifiers=x".into(), "application/x-www-form-urlencoded")
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(415, "unsupported_media_type");
    let big = format!(
        r#"{{"identifiers":[{{"kind":"email","value":"{}@example.com"}}]}}"#,
        "a".repeat(4096)
    );
    let r = tessera_testkit::Resp::from(post_raw(big, "application/json").await.unwrap()).await;
    r.assert_problem(413, "payload_too_large");
    s.get("/admin/v1/tenants/nope/identities")
        .await
        .assert_problem(404, "not_found");
    s.get(&format!("{IDS}/not-a-uuid"))
        .await
        .assert_problem(404, "not_found");
    s.get(&format!("{IDS}/{}", uuid::Uuid::now_v7()))
        .await
        .assert_problem(404, "not_found");
    s.get("/admin/v1/nowhere")
        .await
        .assert_problem(404, "not_found");
    s.delete("/admin/v1/tenants")
        .await
        .assert_problem(405, "method_not_allowed");
    assert_eq!((identity_count(&s).await, event_count(&s).await), before);
}

async fn every_request_needs_a_valid_key(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let none = tessera_testkit::Resp::from(
        s.http
            .get(format!("{}{IDS}", s.admin))
            .send()
            .await
            .unwrap(),
    )
    .await;
    none.assert_problem(401, "unauthenticated");
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    let wrong = tessera_testkit::Resp::from(
        s.admin_req_as("tsk_wrong", reqwest::Method::GET, IDS)
            .send()
            .await
            .unwrap(),
    )
    .await;
    wrong.assert_problem(401, "unauthenticated");
    let key = s.mint_key("temp", "support", None).await;
    assert_eq!(
        s.admin_req_as(&key, reqwest::Method::GET, IDS)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let id = s
        .get("/admin/v1/api-keys")
        .await
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "temp")
        .unwrap()["id"]
        .clone();
    assert_eq!(
        s.delete(&format!("/admin/v1/api-keys/{}", id.as_str().unwrap()))
            .await
            .status,
        200
    );
    let after = tessera_testkit::Resp::from(
        s.admin_req_as(&key, reqwest::Method::GET, IDS)
            .send()
            .await
            .unwrap(),
    )
    .await;
    after.assert_problem(401, "unauthenticated");
}

async fn adm_01_a_tenant_scoped_key_cannot_see_other_tenants(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    assert_eq!(
        s.post("/admin/v1/tenants", json!({"slug": "acme", "name": "Acme"}))
            .await
            .status,
        201
    );
    let other = s
        .post(
            IDS,
            json!({"identifiers": [{"kind": "email", "value": "x@example.com"}]}),
        )
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let acme_key = s.mint_key("acme-owner", "owner", Some("acme")).await;
    let as_acme = |m, p: String| s.admin_req_as(&acme_key, m, &p).send();
    let r = tessera_testkit::Resp::from(
        as_acme(reqwest::Method::GET, format!("{IDS}/{other}"))
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(404, "not_found");
    let r = tessera_testkit::Resp::from(
        as_acme(reqwest::Method::GET, "/admin/v1/tenants".into())
            .await
            .unwrap(),
    )
    .await;
    let slugs: Vec<&str> = r
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["acme"]);
    let r = tessera_testkit::Resp::from(
        s.admin_req_as(&acme_key, reqwest::Method::POST, "/admin/v1/tenants")
            .json(&json!({"slug": "evil", "name": "Evil"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(403, "forbidden");
    let r = tessera_testkit::Resp::from(
        as_acme(
            reqwest::Method::GET,
            "/admin/v1/tenants/acme/identities".into(),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
}

async fn adm_02_role_changes_take_effect_on_the_next_request(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let key = s.mint_key("support-1", "support", None).await;
    let get = || s.admin_req_as(&key, reqwest::Method::GET, IDS).send();
    assert_eq!(get().await.unwrap().status(), 200);
    let id = s
        .get("/admin/v1/api-keys")
        .await
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "support-1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.delete(&format!("/admin/v1/api-keys/{id}")).await;
    assert_eq!(
        get().await.unwrap().status(),
        401,
        "no cached permission survives revocation"
    );
}

async fn no_role_can_mint_a_key_with_more_rights_than_its_own(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let security = s.mint_key("sec", "security", None).await;
    let r = tessera_testkit::Resp::from(
        s.admin_req_as(&security, reqwest::Method::POST, "/admin/v1/api-keys")
            .json(&json!({"name": "x", "role": "owner"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(403, "forbidden");
    let r = tessera_testkit::Resp::from(
        s.admin_req_as(&security, reqwest::Method::POST, "/admin/v1/api-keys")
            .json(&json!({"name": "ro", "role": "readonly"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert!(r.json["secret"].as_str().unwrap().starts_with("tsk_"));
    let listed = s.get("/admin/v1/api-keys").await;
    assert!(
        !listed.text.contains(r.json["secret"].as_str().unwrap()),
        "secrets are shown once, never listed"
    );
}

async fn policies_are_versioned_with_author_and_reason(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let p = "/admin/v1/tenants/default/policy";
    assert_eq!(s.get(p).await.json["version"], 0);
    let v1 = s.put(p, json!({"document": {"sessions": {"idle_timeout_minutes": 60}}, "reason": "shorter sessions"})).await;
    assert_eq!(v1.status, 200, "{v1:?}");
    assert_eq!(v1.json["version"], 1);
    assert!(v1.json["author"].as_str().unwrap().starts_with("api_key:"));
    let v2 = s.put(p, json!({"document": {"sessions": {"idle_timeout_minutes": 30}}, "reason": "audit finding"})).await;
    assert_eq!(v2.json["version"], 2);
    assert_eq!(
        s.get(&format!("{p}/versions/1")).await.json["document"]["sessions"]["idle_timeout_minutes"],
        60
    );
    assert_eq!(
        s.get(&format!("{p}/versions"))
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        2
    );
    s.put(p, json!({"document": {"sesions": {}}, "reason": "typo"}))
        .await
        .assert_problem(422, "invalid_policy");
    s.put(p, json!({"document": {}, "reason": ""}))
        .await
        .assert_problem(422, "invalid_policy");
    s.put(
        p,
        json!({"document": {"registration": {"required_attributes": ["nope"]}}, "reason": "x"}),
    )
    .await
    .assert_problem(422, "invalid_policy");
    let stale = s
        .admin_req(reqwest::Method::PUT, p)
        .header("if-match", "\"1\"")
        .json(&json!({"document": {}, "reason": "x"}))
        .send()
        .await
        .unwrap();
    tessera_testkit::Resp::from(stale)
        .await
        .assert_problem(412, "version_mismatch");
    assert_eq!(
        s.get(p).await.json["version"],
        2,
        "refused changes write no version"
    );
}

async fn organizations_have_domains_members_and_policy_overrides(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let orgs = "/admin/v1/tenants/default/organizations";
    let o = s
        .post(orgs, json!({"name": "Globex", "domains": ["Globex.COM"]}))
        .await;
    assert_eq!(o.status, 201, "{o:?}");
    assert_eq!(o.json["domains"], json!(["globex.com"]));
    let oid = o.json["id"].as_str().unwrap().to_owned();
    s.post(orgs, json!({"name": "Initech", "domains": ["globex.com"]}))
        .await
        .assert_problem(409, "domain_taken");
    s.post(orgs, json!({"name": "Globex"}))
        .await
        .assert_problem(409, "name_taken");
    let who = s
        .post(
            IDS,
            json!({"identifiers": [{"kind": "email", "value": "m@globex.com"}]}),
        )
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let m = s
        .post(
            &format!("{orgs}/{oid}/members"),
            json!({"identity_id": who, "roles": ["admin"]}),
        )
        .await;
    assert_eq!(m.status, 201, "{m:?}");
    s.post(
        &format!("{orgs}/{oid}/members"),
        json!({"identity_id": who}),
    )
    .await
    .assert_problem(409, "already_member");
    let members = s.get(&format!("{IDS}?organization={oid}")).await;
    assert_eq!(members.json["items"][0]["id"], who.as_str());
    s.put(
        "/admin/v1/tenants/default/policy",
        json!({"document": {"sessions": {"idle_timeout_minutes": 600}}, "reason": "b2c"}),
    )
    .await;
    let over = s.put(&format!("{orgs}/{oid}/policy"), json!({"document": {"sessions": {"idle_timeout_minutes": 15}}, "reason": "b2b customer asks"})).await;
    assert_eq!(over.status, 200, "{over:?}");
    let eff = s
        .get(&format!(
            "/admin/v1/tenants/default/policy/effective?organization={oid}"
        ))
        .await;
    assert_eq!(eff.json["policy"]["sessions"]["idle_timeout_minutes"], 15);
    assert_eq!(
        eff.json["policy"]["sessions"]["absolute_lifetime_hours"],
        720
    );
    let tenant_eff = s.get("/admin/v1/tenants/default/policy/effective").await;
    assert_eq!(
        tenant_eff.json["policy"]["sessions"]["idle_timeout_minutes"],
        600
    );
    assert_eq!(
        s.delete(&format!("{orgs}/{oid}/members/{who}"))
            .await
            .status,
        204
    );
    assert_eq!(s.delete(&format!("{orgs}/{oid}")).await.status, 204);
    s.get(&format!("{orgs}/{oid}"))
        .await
        .assert_problem(404, "not_found");
}

async fn tenants_are_created_once_and_validated(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    assert_eq!(
        s.post("/admin/v1/tenants", json!({"slug": "shop", "name": "Shop"}))
            .await
            .status,
        201
    );
    s.post(
        "/admin/v1/tenants",
        json!({"slug": "shop", "name": "Shop 2"}),
    )
    .await
    .assert_problem(409, "slug_taken");
    s.post(
        "/admin/v1/tenants",
        json!({"slug": "Bad Slug", "name": "x"}),
    )
    .await
    .assert_problem(422, "invalid_field");
    let r = s
        .patch("/admin/v1/tenants/shop", json!({"name": "The Shop"}))
        .await;
    assert_eq!((r.status, r.json["name"].as_str()), (200, Some("The Shop")));
}

async fn serves_openapi_3_1_with_its_security_scheme(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let doc: serde_json::Value = s
        .http
        .get(format!("{}/openapi.json", s.admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        doc["components"]["securitySchemes"]["admin_key"]["scheme"],
        "bearer"
    );
    assert!(doc["paths"]["/admin/v1/tenants/{tenant}/identities/{id}"]["patch"].is_object());
    assert!(doc["components"]["schemas"]["Identity"].is_object());
}

async fn health_and_metrics_are_served(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    for base in [&s.admin, &s.public] {
        assert_eq!(
            s.http
                .get(format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            s.http
                .get(format!("{base}/readyz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    s.get(IDS).await;
    let metrics = s
        .http
        .get(format!("{}/metrics", s.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("tessera_http_requests_total"), "{metrics}");
    assert!(
        metrics.contains("route=\"/admin/v1/tenants/{tenant}/identities\""),
        "{metrics}"
    );
    assert!(metrics.contains("tessera_db_pool_connections"));
    let r = s
        .http
        .get(format!("{}/healthz", s.admin))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers().get("x-request-id").is_some(),
        "every response carries its request id"
    );
}

engine_tests!(
    creates_reads_and_lists_an_identity,
    a_prospect_needs_only_an_email_even_when_the_schema_requires_more,
    identifiers_are_unique_after_normalisation,
    confusable_and_malformed_identifiers_are_refused,
    updates_need_a_current_etag,
    lists_page_with_a_cursor_and_filter,
    life_cycle_moves_follow_the_state_machine,
    bad_input_is_a_typed_problem_and_changes_nothing,
    attribute_values_with_control_characters_are_a_field_problem_everywhere,
    every_request_needs_a_valid_key,
    adm_01_a_tenant_scoped_key_cannot_see_other_tenants,
    adm_02_role_changes_take_effect_on_the_next_request,
    no_role_can_mint_a_key_with_more_rights_than_its_own,
    policies_are_versioned_with_author_and_reason,
    organizations_have_domains_members_and_policy_overrides,
    tenants_are_created_once_and_validated,
    serves_openapi_3_1_with_its_security_scheme,
    health_and_metrics_are_served,
);
