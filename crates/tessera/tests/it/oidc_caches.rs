//! What each node keeps in memory for the OIDC endpoints (clients, published keys, the JWKS and
//! discovery documents) and the bound on how stale it may be: a change made on the node that serves the
//! request is honoured at once; a change made on another node within the cache's TTL
//! (`tessera_core::oauth::cache::CLIENT_TTL`, `tessera_core::signing_keys::PUBLISHED_KEYS_TTL`), moved
//! here with the controllable clock. Token revocations, sessions and customers' states are never cached.
//!
//! "Another node" is a second `Tessera` opened on the same database and clock, as a second server
//! process would be.
use std::time::Duration;

use serde_json::{Value, json};
use tessera_core::oauth::cache::CLIENT_TTL;
use tessera_core::oauth::client_auth::ClientAuth;
use tessera_core::signing_keys::{NEXT_KEY_LEAD, PUBLISHED_KEYS_TTL, VerifyError};
use tessera_core::{Caller, Clock as _, Tessera};
use tessera_crypto::jws::{JwsAlg, JwsError};
use tessera_model::IdentityId;
use tessera_testkit::{Engine, Resp, TestServer, engine_tests};

use crate::flows::sign_up;

const CLIENTS: &str = "/admin/v1/tenants/default/clients";

/// A second node on the server's database and clock, with caches of its own.
async fn other_node(s: &TestServer) -> Tessera {
    tessera_core::bootstrap::open(&s.config, s.clock.clone())
        .await
        .unwrap()
        .tessera
}

fn secs(d: time::Duration) -> Duration {
    Duration::from_secs(d.whole_seconds().unsigned_abs())
}

fn service(id: &str) -> Value {
    json!({
        "client_id": id,
        "name": id,
        "grant_types": ["client_credentials"],
        "scopes": ["invoices:read"],
    })
}

/// A client credentials request to the serving node; the status and the access token.
async fn cc_token(s: &TestServer, id: &str, secret: &str) -> (u16, Option<String>) {
    let r = s
        .http
        .post(format!("{}/t/default/oauth2/token", s.public))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let r = Resp::from(r).await;
    (r.status, r.json["access_token"].as_str().map(str::to_owned))
}

/// OA-13: a secret rotated out (no grace) or a client deleted on another node is honoured here at most
/// `CLIENT_TTL` longer, and the tokens of a deleted client stop within that time too; a client
/// registered on another node works here at once (an unknown client id is never cached).
async fn oa_13_a_client_changed_on_another_node_stops_here_within_the_client_ttl(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let other = other_node(&s).await;
    let caller = Caller::cli("test");
    let r = s.post(CLIENTS, service("billing")).await;
    assert_eq!(r.status, 201, "{r:?}");
    let old = r.json["client_secret"].as_str().unwrap().to_owned();
    s.clock.freeze();
    let (status, at) = cc_token(&s, "billing", &old).await;
    assert_eq!(status, 200);
    let at = at.unwrap();

    let rotated = other
        .oauth()
        .rotate_secret(&caller, "default", "billing", time::Duration::ZERO, None)
        .await
        .unwrap();
    let new = rotated.secret.unwrap().expose().to_owned();
    let auth = |secret: &str| ClientAuth::Basic {
        client_id: "billing".into(),
        secret: secret.into(),
    };
    assert!(
        other
            .oauth()
            .authenticate_client("default", &auth(&old))
            .await
            .is_err(),
        "the node that rotated refuses the old secret at once"
    );
    // The bound, not less: the serving node read the client a moment ago.
    assert_eq!(cc_token(&s, "billing", &old).await.0, 200);
    s.clock.advance(secs(CLIENT_TTL) - Duration::from_millis(1));
    assert_eq!(cc_token(&s, "billing", &old).await.0, 200);
    s.clock.advance(Duration::from_millis(1));
    assert_eq!(
        cc_token(&s, "billing", &old).await.0,
        401,
        "the old secret stops here once CLIENT_TTL has passed"
    );
    let (status, _) = cc_token(&s, "billing", &new).await;
    assert_eq!(status, 200);

    // Deleted on the other node: its secret and its tokens stop here within CLIENT_TTL.
    assert!(
        s.tessera
            .oauth()
            .verify_access_token("default", &at)
            .await
            .is_ok()
    );
    other
        .oauth()
        .delete(&caller, "default", "billing")
        .await
        .unwrap();
    assert!(
        other
            .oauth()
            .verify_access_token("default", &at)
            .await
            .is_err(),
        "the node that deleted it refuses its tokens at once"
    );
    s.clock.advance(secs(CLIENT_TTL));
    assert_eq!(cc_token(&s, "billing", &new).await.0, 401);
    let gone = s.tessera.oauth().verify_access_token("default", &at).await;
    assert!(
        matches!(&gone, Err(e) if e.code() == "invalid_token"),
        "{gone:?}"
    );

    // Registered again on the other node under the same id: works here at once, and the first
    // registration's token stays refused (it predates the client).
    let req = serde_json::from_value(service("billing")).unwrap();
    let again = other.oauth().create(&caller, "default", req).await.unwrap();
    let secret = again.secret.unwrap().expose().to_owned();
    assert_eq!(cc_token(&s, "billing", &secret).await.0, 200);
    assert!(
        s.tessera
            .oauth()
            .verify_access_token("default", &at)
            .await
            .is_err()
    );
}

/// The kid of the default tenant's active ES256 key.
async fn active_kid(s: &TestServer) -> String {
    let keys = s
        .tessera
        .signing_keys()
        .list(&Caller::system(), "default")
        .await
        .unwrap();
    keys.into_iter()
        .find(|k| k.state == "active" && k.alg == "ES256")
        .unwrap()
        .kid
}

async fn jwks_kids(s: &TestServer) -> Vec<String> {
    let r = s
        .http
        .get(format!("{}/t/default/.well-known/jwks.json", s.public))
        .send()
        .await
        .unwrap();
    let doc: Value = r.json().await.unwrap();
    doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// What verifying `token` on `t` says about its key: known (whatever else is wrong with the token) or
/// unknown.
async fn key_known(t: &Tessera, tenant: tessera_model::TenantId, token: &str) -> bool {
    !matches!(
        t.signing_keys().verify(tenant, token, "JWT").await,
        Err(VerifyError::Token(JwsError::UnknownKey))
    )
}

/// OIDC-05: a key retired on another node stops verifying here, and leaves this node's JWKS,
/// within `PUBLISHED_KEYS_TTL`; a key retired on this node stops at once; a key another node just added
/// verifies here at once.
async fn oidc_05_a_key_retired_on_another_node_stops_verifying_here_within_the_ttl(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let other = other_node(&s).await;
    let keys = s.tessera.signing_keys();
    let caller = Caller::cli("keys rotate");
    let tenant = s
        .tessera
        .tenants()
        .get(&Caller::system(), "default")
        .await
        .unwrap()
        .id;
    let lifetime = time::Duration::days(1); // max_token_lifetime_secs' default
    let lead = secs(NEXT_KEY_LEAD) + Duration::from_secs(1);

    for retire_here in [false, true] {
        s.clock.advance(lead);
        let old = active_kid(&s).await;
        let now = s.clock.now();
        let token = keys
            .sign(
                tenant,
                "JWT",
                &json!({"sub": "x", "exp": (now + lifetime).unix_timestamp()}),
            )
            .await
            .unwrap();
        keys.rotate(&caller, "default").await.unwrap();
        // Once every token the old key signed has expired, maintenance retires it.
        s.clock.advance(secs(lifetime) + Duration::from_secs(61));
        s.clock.freeze();
        assert!(key_known(&s.tessera, tenant, &token).await);
        assert!(jwks_kids(&s).await.contains(&old));
        let node = if retire_here { &s.tessera } else { &other };
        assert_eq!(node.signing_keys().maintain(None).await.unwrap().retired, 1);
        if retire_here {
            assert!(
                !key_known(&s.tessera, tenant, &token).await,
                "retired on this node: unknown at once"
            );
            assert!(!jwks_kids(&s).await.contains(&old));
        } else {
            // The bound, not less: this node read the published keys a moment ago.
            assert!(key_known(&s.tessera, tenant, &token).await);
            assert!(jwks_kids(&s).await.contains(&old));
            s.clock.advance(secs(PUBLISHED_KEYS_TTL));
            assert!(
                !key_known(&s.tessera, tenant, &token).await,
                "retired on another node: unknown here once PUBLISHED_KEYS_TTL has passed"
            );
            assert!(!jwks_kids(&s).await.contains(&old));
        }
        s.clock.resume();
    }

    // A ring the other node creates signs at once; its tokens verify here at once (an unknown kid
    // reads the published keys again before refusing).
    assert!(jwks_kids(&s).await.len() >= 2);
    other
        .signing_keys()
        .ensure(&Caller::system(), tenant, JwsAlg::EdDSA)
        .await
        .unwrap();
    let now = s.clock.now();
    let fresh = other
        .signing_keys()
        .sign_with(
            tenant,
            JwsAlg::EdDSA,
            "JWT",
            &json!({"sub": "y", "exp": (now + time::Duration::minutes(5)).unix_timestamp()}),
        )
        .await
        .unwrap();
    let verified = keys.verify(tenant, &fresh, "JWT").await;
    assert!(verified.is_ok(), "{verified:?}");
}

/// OIDC-04: a customer suspended on another node is refused at UserInfo here at once, and so are their
/// access tokens: customers' states and sessions are read on every request, never cached.
async fn oidc_04_a_customer_suspended_on_another_node_is_refused_here_at_once(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let other = other_node(&s).await;
    let r = s
        .post(
            CLIENTS,
            json!({
                "client_id": "web",
                "name": "web",
                "first_party": true,
                "redirect_uris": ["https://web.example/cb"],
                "grant_types": ["authorization_code", "refresh_token"],
                "scopes": ["openid", "email", "offline_access"],
                "refresh_token_ttl_secs": 3600,
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let secret = r.json["client_secret"].as_str().unwrap().to_owned();
    let session = sign_up(&s, "ann@example.com", json!({})).await;
    let web = crate::oidc_tokens::Client {
        id: "web".into(),
        secret: Some(secret.clone()),
    };
    let rt = crate::oidc_tokens::refresh_token_for(&s, &web, &session, &["openid", "email"]).await;
    let r = s
        .http
        .post(format!("{}/t/default/oauth2/token", s.public))
        .basic_auth("web", Some(&secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .send()
        .await
        .unwrap();
    let r = Resp::from(r).await;
    assert_eq!(r.status, 200, "{r:?}");
    let at = r.json["access_token"].as_str().unwrap().to_owned();
    let userinfo = |s: &TestServer| {
        s.http
            .get(format!("{}/t/default/oauth2/userinfo", s.public))
            .bearer_auth(&at)
            .send()
    };
    let r = Resp::from(userinfo(&s).await.unwrap()).await;
    assert_eq!(r.status, 200, "{r:?}");
    let sub: uuid::Uuid = r.json["sub"].as_str().unwrap().parse().unwrap();

    s.clock.freeze();
    other
        .identities()
        .suspend(&Caller::system(), "default", IdentityId(sub), None, None)
        .await
        .unwrap();
    let r = Resp::from(userinfo(&s).await.unwrap()).await;
    assert_eq!(r.status, 401, "{r:?}");
    assert!(
        s.tessera
            .oauth()
            .verify_access_token("default", &at)
            .await
            .is_err()
    );
}

/// The discovery document and the JWKS come from memory and say the same as a fresh build would.
async fn the_cached_discovery_and_jwks_documents_are_the_fresh_ones(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let url = format!("{}/t/default/.well-known/openid-configuration", s.public);
    let first = s.http.get(&url).send().await.unwrap();
    assert_eq!(
        first.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let first: Value = first.json().await.unwrap();
    let second: Value = s.http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(first, second);
    let fresh =
        serde_json::to_value(s.tessera.oauth().discovery("default").await.unwrap()).unwrap();
    assert_eq!(first, fresh);
    let missing = s
        .http
        .get(format!(
            "{}/t/nobody/.well-known/openid-configuration",
            s.public
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let kids = jwks_kids(&s).await;
    assert_eq!(kids, jwks_kids(&s).await);
    assert_eq!(kids.len(), 2, "active and next: {kids:?}");
}

engine_tests!(
    oa_13_a_client_changed_on_another_node_stops_here_within_the_client_ttl,
    oidc_05_a_key_retired_on_another_node_stops_verifying_here_within_the_ttl,
    oidc_04_a_customer_suspended_on_another_node_is_refused_here_at_once,
    the_cached_discovery_and_jwks_documents_are_the_fresh_ones,
);
