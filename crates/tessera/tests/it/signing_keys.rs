//! The per-tenant signing key ring (OIDC-05): relying parties never fail to verify a token through a
//! rotation, because a key is in the JWKS before it signs and stays there until its tokens expired.
//!
//! The relying party here is independent of Tessera's JOSE code: it fetches the JWKS over HTTP, caches it
//! for exactly as long as `Cache-Control: max-age` allows (on the server's clock), never refetches on an
//! unknown `kid`, and checks ES256 signatures with aws-lc-rs directly from the JWK's `x` and `y`.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tessera_core::signing_keys::{JWKS_MAX_AGE_SECS, NEXT_KEY_LEAD, VerifyError};
use tessera_core::{Caller, Clock as _};
use tessera_crypto::jws::JwsError;
use tessera_model::TenantId;
use tessera_testkit::{Engine, TestServer, engine_tests};
use time::OffsetDateTime;
use tokio::sync::Mutex;

/// A fetched JWKS: when (server clock), its max-age, and its keys by kid.
type CachedJwks = (OffsetDateTime, i64, BTreeMap<String, Value>);

/// A strict relying party: one cached JWKS, refreshed only once its max-age has passed.
struct RelyingParty {
    http: reqwest::Client,
    url: String,
    cache: Mutex<Option<CachedJwks>>,
}

impl RelyingParty {
    fn new(s: &TestServer, tenant: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: format!("{}/t/{tenant}/.well-known/jwks.json", s.public),
            cache: Mutex::new(None),
        }
    }

    async fn fetch(&self) -> (i64, BTreeMap<String, Value>) {
        let r = self.http.get(&self.url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let cc = r.headers()["cache-control"].to_str().unwrap().to_owned();
        let max_age: i64 = cc
            .split(',')
            .find_map(|p| p.trim().strip_prefix("max-age="))
            .unwrap()
            .parse()
            .unwrap();
        let doc: Value = r.json().await.unwrap();
        let keys = doc["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| (k["kid"].as_str().unwrap().to_owned(), k.clone()))
            .collect();
        (max_age, keys)
    }

    /// Verifies an ES256 token as of `now`; the error says why it failed.
    async fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Value, String> {
        let keys = {
            let mut cache = self.cache.lock().await;
            let stale = match &*cache {
                Some((at, max_age, _)) => now >= *at + time::Duration::seconds(*max_age),
                None => true,
            };
            if stale {
                // The reading before the request: the cache never claims to be newer than it is.
                let (max_age, keys) = self.fetch().await;
                *cache = Some((now, max_age, keys));
            }
            cache.as_ref().unwrap().2.clone()
        };
        let (input, sig) = token.rsplit_once('.').ok_or("not a JWS")?;
        let (h, p) = input.split_once('.').ok_or("not a JWS")?;
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
        let kid = header["kid"].as_str().ok_or("no kid")?;
        let jwk = keys
            .get(kid)
            .ok_or_else(|| format!("kid {kid} is not in the cached JWKS"))?;
        if header["alg"] != "ES256" || jwk["alg"] != "ES256" || jwk["crv"] != "P-256" {
            return Err(format!("unexpected algorithm {header} / {jwk}"));
        }
        let mut point = vec![4u8];
        point.extend(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap());
        point.extend(URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap());
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
            .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap())
            .map_err(|_| format!("signature of kid {kid} does not verify"))?;
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
        if claims["exp"].as_i64().unwrap() < now.unix_timestamp() {
            return Err("expired".into());
        }
        Ok(claims)
    }
}

async fn default_tenant(s: &TestServer) -> TenantId {
    s.tessera
        .tenants()
        .get(&Caller::system(), "default")
        .await
        .unwrap()
        .id
}

fn claims(s: &TestServer, n: u64) -> Value {
    let now = s.clock.now();
    json!({"iss": "test", "sub": n.to_string(), "iat": now.unix_timestamp(),
        "exp": (now + time::Duration::hours(12)).unix_timestamp()})
}

fn lead() -> Duration {
    Duration::from_secs(NEXT_KEY_LEAD.whole_seconds() as u64 + 1)
}

async fn states(s: &TestServer) -> Vec<(String, &'static str, bool)> {
    s.tessera
        .signing_keys()
        .list(&Caller::system(), "default")
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.state, k.has_private_key))
        .collect()
}

async fn published_kids(s: &TestServer) -> Vec<String> {
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

/// OIDC-05: rotations run while tokens are signed and verified concurrently through the published JWKS,
/// and not one verification fails.
async fn oidc_05_rotation_under_load_never_fails_a_verification(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let s = Arc::new(s);
    let tenant = default_tenant(&s).await;
    let rp = Arc::new(RelyingParty::new(&s, "default"));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..4u64 {
        let (s, rp, stop) = (s.clone(), rp.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut kids = std::collections::BTreeSet::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || n < 5 {
                let token = s
                    .tessera
                    .signing_keys()
                    .sign(tenant, "JWT", &claims(&s, w * 1_000_000 + n))
                    .await
                    .unwrap();
                let header: Value = serde_json::from_slice(
                    &URL_SAFE_NO_PAD
                        .decode(token.split('.').next().unwrap())
                        .unwrap(),
                )
                .unwrap();
                kids.insert(header["kid"].as_str().unwrap().to_owned());
                if let Err(e) = rp.verify(&token, s.clock.now()).await {
                    panic!("verification {n} of worker {w} failed: {e}");
                }
                n += 1;
            }
            (n, kids)
        }));
    }
    let rotations = 6;
    for _ in 0..rotations {
        tokio::time::sleep(Duration::from_millis(50)).await;
        s.clock.advance(lead());
        s.tessera
            .signing_keys()
            .rotate(&Caller::cli("keys rotate"), "default")
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut total = 0;
    let mut kids = std::collections::BTreeSet::new();
    for w in workers {
        let (n, k) = w.await.unwrap();
        total += n;
        kids.extend(k);
    }
    assert!(total >= 20, "only {total} tokens were signed and verified");
    assert!(
        kids.len() >= 3,
        "tokens were signed by {} keys over {rotations} rotations: the test did not rotate under load",
        kids.len()
    );
    let active: Vec<_> = states(&s)
        .await
        .into_iter()
        .filter(|k| k.1 == "active")
        .collect();
    assert_eq!(active.len(), 1);
}

/// OIDC-05: a retiring key leaves the JWKS only after every token it signed has expired, and only then
/// loses its private key; a token it signed verifies until then.
async fn oidc_05_a_retired_key_leaves_the_jwks_only_after_its_tokens_expired(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let tenant = default_tenant(&s).await;
    let lifetime = time::Duration::days(1); // max_token_lifetime_secs' default
    let keys = s.tessera.signing_keys();
    let before = states(&s).await;
    let old = before.iter().find(|k| k.1 == "active").unwrap().0.clone();
    let next = before.iter().find(|k| k.1 == "next").unwrap().0.clone();
    assert_eq!(published_kids(&s).await.len(), 2);
    assert!(
        published_kids(&s).await.contains(&next),
        "the next key is published before it signs"
    );

    // A token with the longest lifetime allowed, signed just before the rotation.
    s.clock.advance(lead());
    let now = s.clock.now();
    let long = keys
        .sign(
            tenant,
            "JWT",
            &json!({"sub": "x", "exp": (now + lifetime).unix_timestamp()}),
        )
        .await
        .unwrap();
    let too_long = keys
        .sign(
            tenant,
            "JWT",
            &json!({"sub": "x", "exp": (now + lifetime + time::Duration::minutes(5)).unix_timestamp()}),
        )
        .await;
    assert!(
        too_long.is_err(),
        "a token may not outlive the maximum lifetime"
    );
    let r = keys
        .rotate(&Caller::cli("keys rotate"), "default")
        .await
        .unwrap();
    assert_eq!(
        (r[0].retiring.as_str(), r[0].activated.as_str()),
        (old.as_str(), next.as_str())
    );
    // Rotating again at once is refused: the new next key has not been published long enough.
    let again = keys.rotate(&Caller::cli("keys rotate"), "default").await;
    assert!(
        matches!(&again, Err(e) if e.code() == "next_key_too_new"),
        "{again:?}"
    );

    // Just before its tokens can have expired (plus skew), the old key is still published and the
    // maintenance job leaves it be.
    s.clock
        .advance(Duration::from_secs(lifetime.whole_seconds() as u64));
    keys.maintain(None).await.unwrap();
    assert!(published_kids(&s).await.contains(&old));
    let rp = RelyingParty::new(&s, "default");
    let claims = rp
        .verify(&long, s.clock.now() - time::Duration::minutes(1))
        .await;
    assert!(claims.is_ok(), "{claims:?}");
    assert!(keys.verify(tenant, &long, "JWT").await.is_ok());

    // Once every token it signed has expired, it goes, private key and all.
    s.clock.advance(Duration::from_secs(61));
    let report = keys.maintain(None).await.unwrap();
    assert_eq!(report.retired, 1);
    assert!(!published_kids(&s).await.contains(&old));
    let after = states(&s).await;
    assert!(
        after.contains(&(old.clone(), "retired", false)),
        "{after:?}"
    );
    assert!(matches!(
        keys.verify(tenant, &long, "JWT").await,
        Err(VerifyError::Token(JwsError::UnknownKey))
    ));
    let published = published_kids(&s).await;
    assert_eq!(published.len(), 2, "active and next remain: {published:?}");
}

/// OIDC-05: the JWKS endpoint publishes public parts only, with a cache lifetime shorter than a next
/// key's publication lead; unknown tenants are 404; a new tenant has its keys from the start.
async fn oidc_05_the_jwks_is_public_cacheable_and_complete_from_a_tenants_start(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let r = s
        .http
        .get(format!("{}/t/default/.well-known/jwks.json", s.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/jwk-set+json");
    let cc = r.headers()["cache-control"].to_str().unwrap().to_owned();
    assert_eq!(cc, format!("public, max-age={JWKS_MAX_AGE_SECS}"));
    assert!((JWKS_MAX_AGE_SECS as i64) < NEXT_KEY_LEAD.whole_seconds());
    let doc: Value = r.json().await.unwrap();
    for k in doc["keys"].as_array().unwrap() {
        assert_eq!(
            (k["kty"].as_str(), k["alg"].as_str(), k["use"].as_str()),
            (Some("EC"), Some("ES256"), Some("sig"))
        );
        assert!(k.get("d").is_none(), "a private part is published: {k}");
    }
    let missing = s
        .http
        .get(format!("{}/t/nope/.well-known/jwks.json", s.public))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let created = s
        .post("/admin/v1/tenants", json!({"slug": "acme", "name": "Acme"}))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    let acme: Value = s
        .http
        .get(format!("{}/t/acme/.well-known/jwks.json", s.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(acme["keys"].as_array().unwrap().len(), 2);
    // Each tenant has its own keys: a token of one does not verify for another.
    let default = default_tenant(&s).await;
    let acme_id = s
        .tessera
        .tenants()
        .get(&Caller::system(), "acme")
        .await
        .unwrap()
        .id;
    let t = s
        .tessera
        .signing_keys()
        .sign(acme_id, "JWT", &claims(&s, 1))
        .await
        .unwrap();
    assert!(
        s.tessera
            .signing_keys()
            .verify(acme_id, &t, "JWT")
            .await
            .is_ok()
    );
    assert!(matches!(
        s.tessera.signing_keys().verify(default, &t, "JWT").await,
        Err(VerifyError::Token(JwsError::UnknownKey))
    ));
    assert!(matches!(
        s.tessera.signing_keys().verify(acme_id, &t, "at+jwt").await,
        Err(VerifyError::Token(JwsError::WrongType))
    ));
}

/// OIDC-05: two nodes rotating at once leave exactly one active key; the loser is told and changes
/// nothing. Scheduled rotation rotates a ring whose active key is old enough, and only then.
async fn oidc_05_concurrent_rotations_leave_one_active_key_and_the_schedule_rotates(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let keys = s.tessera.signing_keys();
    for _ in 0..3 {
        s.clock.advance(lead());
        // Two tasks on the multi-threaded runtime, each with its own connection: two nodes.
        let node = |t: tessera_core::Tessera| {
            tokio::spawn(async move {
                t.signing_keys()
                    .rotate(&Caller::cli("keys rotate"), "default")
                    .await
            })
        };
        let (a, b) = (node(s.tessera.clone()), node(s.tessera.clone()));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert!(
            a.is_ok() != b.is_ok(),
            "exactly one rotation wins: {a:?} / {b:?}"
        );
        let loser = a.err().or(b.err()).unwrap();
        assert!(
            ["key_rotation_conflict", "next_key_too_new"].contains(&loser.code()),
            "{loser:?}"
        );
        let st = states(&s).await;
        assert_eq!(st.iter().filter(|k| k.1 == "active").count(), 1, "{st:?}");
        assert_eq!(st.iter().filter(|k| k.1 == "next").count(), 1, "{st:?}");
    }
    let every = time::Duration::days(90);
    let report = keys.maintain(Some(every)).await.unwrap();
    assert!(report.rotated.is_empty(), "a fresh key is not rotated");
    s.clock.advance(Duration::from_secs(90 * 86_400));
    let report = keys.maintain(Some(every)).await.unwrap();
    assert_eq!(report.rotated.len(), 1);
    assert_eq!(
        report.retired, 3,
        "the keys retired over the 90 days retire now"
    );
    let report = keys.maintain(Some(every)).await.unwrap();
    assert!(report.rotated.is_empty() && report.retired == 0);
}

engine_tests!(
    oidc_05_rotation_under_load_never_fails_a_verification,
    oidc_05_a_retired_key_leaves_the_jwks_only_after_its_tokens_expired,
    oidc_05_the_jwks_is_public_cacheable_and_complete_from_a_tenants_start,
    oidc_05_concurrent_rotations_leave_one_active_key_and_the_schedule_rotates,
);
