//! OAuth clients: registered through the admin API or `tessera apply`, authenticated at the token
//! endpoint by the method they registered, and given tokens for themselves with the client credentials
//! grant. Secrets are Tessera's own 256-bit values (or an operator's, from a file), shown once.
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tessera_core::Caller;
use tessera_testkit::{Engine, TestServer, engine_tests};

const CLIENTS: &str = "/admin/v1/tenants/default/clients";

/// A confidential service client allowed the client credentials grant and two API scopes.
fn service(id: &str) -> Value {
    json!({
        "client_id": id,
        "name": "Billing service",
        "grant_types": ["client_credentials"],
        "scopes": ["invoices:read", "invoices:write"],
    })
}

async fn register(s: &TestServer, body: Value) -> (Value, String) {
    let r = s.post(CLIENTS, body).await;
    assert_eq!(r.status, 201, "{r:?}");
    let secret = r.json["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (r.json, secret)
}

/// A token request with the form body `form` and Basic credentials when given.
async fn token(
    s: &TestServer,
    basic: Option<(&str, &str)>,
    form: &str,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = s
        .http
        .post(format!("{}/t/default/oauth2/token", s.public))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned());
    if let Some((id, secret)) = basic {
        req = req.header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        );
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body, headers)
}

fn jwt_part(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn clients_are_registered_with_a_secret_shown_once_and_managed_by_the_admin_api(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let (made, secret) = register(
        &s,
        json!({"name": "Shop", "redirect_uris": ["https://shop.example/cb"], "first_party": true}),
    )
    .await;
    let id = made["client_id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("tcs_") && secret.len() >= 47, "{secret}");
    assert_eq!(made["token_endpoint_auth"], "client_secret_basic");
    assert_eq!(
        made["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(made["require_pkce"], true);
    let got = s.get(&format!("{CLIENTS}/{id}")).await;
    assert_eq!(got.status, 200);
    assert!(got.json.get("client_secret").is_none() && !got.text.contains(&secret));
    assert_eq!(got.headers["etag"], "\"1\"");
    let list = s.get(CLIENTS).await;
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1);

    let changed = json!({"name": "Shop (new)", "redirect_uris": ["https://shop.example/cb2"]});
    let stale = s
        .admin_req(reqwest::Method::PUT, &format!("{CLIENTS}/{id}"))
        .header("if-match", "\"7\"")
        .json(&changed)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let r = s.put(&format!("{CLIENTS}/{id}"), changed).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["name"], "Shop (new)");
    assert_eq!(r.json["version"], 2);
    assert!(
        r.json.get("client_secret").is_none(),
        "the secret stays and is not shown"
    );

    let events = s
        .get("/admin/v1/tenants/default/events?type=oauth_client.created")
        .await;
    assert_eq!(
        events.json["items"].as_array().map(Vec::len),
        Some(1),
        "{events:?}"
    );
    assert_eq!(s.delete(&format!("{CLIENTS}/{id}")).await.status, 204);
    assert_eq!(s.get(&format!("{CLIENTS}/{id}")).await.status, 404);
}

async fn oa_03_a_registration_breaking_a_rule_is_refused_whole_and_nothing_is_stored(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let r = s
        .post(
            CLIENTS,
            json!({
                "client_id": "bad",
                "name": "Bad",
                "kind": "public",
                "token_endpoint_auth": "client_secret_post",
                "redirect_uris": ["JavaScript:alert(1)", "https://x.example/cb#frag", "https://u:p@x.example/cb"],
                "post_logout_redirect_uris": ["data:text/html,hi"],
                "allowed_origins": ["*"],
                "signing_alg": "HS256",
                "access_token_ttl_secs": 0,
            }),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    let fields: Vec<&str> = r.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "token_endpoint_auth",
        "redirect_uris[0]",
        "redirect_uris[1]",
        "redirect_uris[2]",
        "post_logout_redirect_uris[0]",
        "allowed_origins[0]",
        "signing_alg",
        "access_token_ttl_secs",
    ] {
        assert!(fields.contains(&f), "{f} not reported in {fields:?}");
    }
    let unknown = s
        .post(CLIENTS, json!({"name": "X", "implicit": true}))
        .await;
    assert_eq!(
        (unknown.status, unknown.json["code"].as_str()),
        (422, Some("invalid_body")),
        "unknown fields are refused: {unknown:?}"
    );
    let uuid_like = s
        .post(CLIENTS, json!({"name": "X", "client_id": "0b9f1c8e-9a53-4f57-8d0e-7c1c2b6c3a10", "redirect_uris": ["https://x.example/cb"]}))
        .await;
    assert_eq!(uuid_like.status, 422);
    assert_eq!(s.get(CLIENTS).await.json["items"], json!([]));
    register(&s, service("billing")).await;
    let again = s.post(CLIENTS, service("billing")).await;
    assert_eq!(again.status, 409, "{again:?}");
}

async fn a_service_gets_a_signed_access_token_for_itself_with_client_credentials(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let (_, secret) = register(&s, service("billing")).await;
    let (status, body, headers) = token(
        &s,
        Some(("billing", &secret)),
        "grant_type=client_credentials&scope=invoices:read",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "invoices:read");
    assert_eq!(body["expires_in"], 600);
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let at = body["access_token"].as_str().unwrap();
    let header = jwt_part(at, 0);
    assert_eq!(
        (header["typ"].as_str(), header["alg"].as_str()),
        (Some("at+jwt"), Some("ES256"))
    );
    let claims = jwt_part(at, 1);
    let issuer = format!(
        "{}/t/default",
        s.config.base_url.as_str().trim_end_matches('/')
    );
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["sub"], "billing");
    assert_eq!(claims["client_id"], "billing");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 20));
    let jwks: Value = s
        .http
        .get(format!("{}/t/default/.well-known/jwks.json", s.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == header["kid"]),
        "the signing key is published"
    );
    let verified = s
        .tessera
        .oauth()
        .verify_access_token("default", at)
        .await
        .unwrap();
    assert!(!verified.for_identity);
    assert_eq!(verified.scopes, ["invoices:read"]);
    // Without a scope the client gets every scope it may have.
    let (_, body, _) = token(
        &s,
        Some(("billing", &secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(body["scope"], "invoices:read invoices:write");
    // The same client with its secret in the body is refused: it registered Basic.
    let (status, body, _) = token(
        &s,
        None,
        &format!("grant_type=client_credentials&client_id=billing&client_secret={secret}"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client"))
    );
}

async fn oa_12_a_client_that_fails_to_authenticate_gets_invalid_client_and_nothing(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let (_, secret) = register(&s, service("billing")).await;
    let wrong = format!("{}x", &secret[..secret.len() - 1]);
    for (who, pw) in [
        ("billing", wrong.as_str()),
        ("nobody", secret.as_str()),
        ("billing", ""),
    ] {
        let (status, body, headers) =
            token(&s, Some((who, pw)), "grant_type=client_credentials").await;
        assert_eq!(status, 401, "{who}: {body}");
        assert_eq!(body["error"], "invalid_client");
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        assert!(body.get("access_token").is_none());
    }
    let (status, body, _) = token(&s, None, "grant_type=client_credentials").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client"))
    );
    // A public client has no secret and may not use client credentials at all.
    let public = s
        .post(
            CLIENTS,
            json!({"client_id": "spa", "name": "SPA", "kind": "public", "redirect_uris": ["https://spa.example/cb"]}),
        )
        .await;
    assert_eq!(public.status, 201, "{public:?}");
    assert!(public.json.get("client_secret").is_none());
    let (status, body, _) = token(&s, None, "grant_type=client_credentials&client_id=spa").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
}

async fn oa_09_oa_14_oa_17_grants_and_scopes_are_allowlisted_and_requests_strict(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let (_, secret) = register(&s, service("billing")).await;
    let auth = Some(("billing", secret.as_str()));
    for (form, error) in [
        (
            "grant_type=password&username=a&password=b",
            "unsupported_grant_type",
        ),
        ("grant_type=implicit", "unsupported_grant_type"),
        ("scope=invoices:read", "invalid_request"),
        (
            "grant_type=client_credentials&scope=invoices:delete",
            "invalid_scope",
        ),
        (
            "grant_type=client_credentials&scope=openid",
            "invalid_scope",
        ),
        (
            "grant_type=client_credentials&scope=offline_access",
            "invalid_scope",
        ),
        (
            "grant_type=client_credentials&scope=a%20%20b",
            "invalid_scope",
        ),
        (
            "grant_type=client_credentials&grant_type=client_credentials",
            "invalid_request",
        ),
        (
            "grant_type=authorization_code&code=x",
            "unauthorized_client",
        ),
    ] {
        let (status, body, _) = token(&s, auth, form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{form}: {body}"
        );
    }
    let r = s
        .http
        .post(format!("{}/t/default/oauth2/token", s.public))
        .basic_auth("billing", Some(&secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a JSON body is not a token request");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    let (status, body, _) = token(
        &s,
        None,
        "grant_type=client_credentials&client_id=billing&client_id=x",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let missing = s
        .http
        .post(format!("{}/t/nowhere/oauth2/token", s.public))
        .basic_auth("billing", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400, "an unknown tenant issues nothing");
}

async fn oa_13_a_rotated_secret_overlaps_only_for_its_grace_and_a_deleted_client_stops(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let (_, old) = register(&s, service("billing")).await;
    let r = s
        .post(
            &format!("{CLIENTS}/billing/secret"),
            json!({"grace_secs": 3600}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let new = r.json["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    for secret in [&old, &new] {
        let (status, _, _) = token(
            &s,
            Some(("billing", secret)),
            "grant_type=client_credentials",
        )
        .await;
        assert_eq!(status, 200, "both work during the overlap");
    }
    s.clock.advance(std::time::Duration::from_secs(3601));
    let (status, _, _) = token(&s, Some(("billing", &old)), "grant_type=client_credentials").await;
    assert_eq!(status, 401, "the old secret ended with its grace");
    let r = s
        .post(&format!("{CLIENTS}/billing/secret"), json!({}))
        .await;
    let newest = r.json["client_secret"].as_str().unwrap().to_owned();
    let (status, _, _) = token(&s, Some(("billing", &new)), "grant_type=client_credentials").await;
    assert_eq!(
        status, 401,
        "without a grace the previous secret stops at once"
    );
    let too_long = s
        .post(
            &format!("{CLIENTS}/billing/secret"),
            json!({"grace_secs": 700000}),
        )
        .await;
    assert_eq!(too_long.status, 400);
    let events = s
        .get("/admin/v1/tenants/default/events?type=oauth_client.secret_rotated")
        .await;
    assert_eq!(events.json["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(s.delete(&format!("{CLIENTS}/billing")).await.status, 204);
    let (status, _, _) = token(
        &s,
        Some(("billing", &newest)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(
        status, 401,
        "a deleted client's secret stops on the next request"
    );
}

async fn only_roles_with_client_rights_see_or_change_clients(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let product = s.mint_key("product", "product", None).await;
    let security = s.mint_key("security", "security", None).await;
    let support = s.mint_key("support", "support", None).await;
    let status = |r: reqwest::Response| r.status().as_u16();
    let create = |key: &str| {
        s.admin_req_as(key, reqwest::Method::POST, CLIENTS)
            .json(&service("svc"))
            .send()
    };
    assert_eq!(status(create(&product).await.unwrap()), 403);
    assert_eq!(status(create(&support).await.unwrap()), 403);
    assert_eq!(status(create(&security).await.unwrap()), 201);
    let read = |key: &str| s.admin_req_as(key, reqwest::Method::GET, CLIENTS).send();
    assert_eq!(status(read(&product).await.unwrap()), 200);
    assert_eq!(status(read(&support).await.unwrap()), 403);
}

async fn apply_registers_a_client_whose_secret_comes_from_a_file(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let secret = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5";
    std::fs::write(dir.path().join("billing.secret"), format!("{secret}\n")).unwrap();
    let state = r#"
[[tenants]]
slug = "default"
name = "Default"

[[tenants.clients]]
client_id = "billing"
name = "Billing service"
grant_types = ["client_credentials"]
scopes = ["invoices:read"]
secret_file = "billing.secret"

[[tenants.clients]]
client_id = "shop"
name = "Shop"
redirect_uris = ["https://shop.example/cb"]
"#;
    std::fs::write(dir.path().join("state.toml"), state).unwrap();
    let file = tessera_core::apply::read_state_file(&dir.path().join("state.toml")).unwrap();
    let caller = Caller::cli("apply");
    let first = s.tessera.apply(&caller, &file, false).await.unwrap();
    let lines: Vec<String> = first.changes.iter().map(ToString::to_string).collect();
    assert!(
        lines
            .iter()
            .any(|l| l == "+ create client billing of tenant default"),
        "{lines:?}"
    );
    assert_eq!(first.minted.len(), 1, "only the shop's secret is generated");
    assert_eq!(first.minted[0].0, "secret of client shop of tenant default");
    let (status, body, _) = token(
        &s,
        Some(("billing", secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let second = s.tessera.apply(&caller, &file, false).await.unwrap();
    assert!(!second.changed_anything(), "{:?}", second.changes);

    let rotated = "bmV3c2VjcmV0bmV3c2VjcmV0bmV3c2VjcmV0bmV3c2VjcmV0";
    std::fs::write(dir.path().join("billing.secret"), rotated).unwrap();
    let third = s.tessera.apply(&caller, &file, false).await.unwrap();
    let lines: Vec<String> = third.changes.iter().map(ToString::to_string).collect();
    assert!(
        lines
            .iter()
            .any(|l| l == "~ update client billing of tenant default"),
        "{lines:?}"
    );
    let (status, _, _) = token(
        &s,
        Some(("billing", secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) = token(
        &s,
        Some(("billing", rotated)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, 200);

    std::fs::write(dir.path().join("billing.secret"), "short").unwrap();
    let weak = s.tessera.apply(&caller, &file, false).await.unwrap_err();
    assert_eq!(weak.code(), "weak_client_secret");
}

engine_tests!(
    clients_are_registered_with_a_secret_shown_once_and_managed_by_the_admin_api,
    oa_03_a_registration_breaking_a_rule_is_refused_whole_and_nothing_is_stored,
    a_service_gets_a_signed_access_token_for_itself_with_client_credentials,
    oa_12_a_client_that_fails_to_authenticate_gets_invalid_client_and_nothing,
    oa_09_oa_14_oa_17_grants_and_scopes_are_allowlisted_and_requests_strict,
    oa_13_a_rotated_secret_overlaps_only_for_its_grace_and_a_deleted_client_stops,
    only_roles_with_client_rights_see_or_change_clients,
    apply_registers_a_client_whose_secret_comes_from_a_file,
);
