//! An identity's app grants end with its account's security events (R9-3): a completed recovery
//! (REC-07), a suspension, a scheduled deletion and an erasure (SES-06), and an admin ending every
//! session (SES-07) revoke every refresh-token family of the identity, `offline_access` ones and a
//! device's included, with the access tokens they brought (an opaque one reads `active: false` at
//! introspection). A reactivation brings none of them back; a grant made afterwards works. A password
//! changed in the settings ends every grant but those of the browser that changed it (R10-1); a code
//! redeemed while a suspension commits leaves no grant behind (R10-2); an app made third-party since
//! the grant refreshes only with the customer's consent (R10-4). Through the real flows, over HTTP, on
//! SQLite and PostgreSQL.
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tessera_testkit::{Engine, Resp, TestServer, engine_tests};

use crate::flows::{PASSWORD, messages, sign_in, start, start_as, submit, submit_as};
use crate::oidc_device::{authorize_device, decide, poll, signed_in_browser, type_code};
use crate::oidc_flow::{EMAIL, customer, issuer, register};
use crate::oidc_tokens::{Client, code_for, exchange, refresh_token_for};

const IDS: &str = "/admin/v1/tenants/default/identities";
const NEW_PASSWORD: &str = "a whole new passphrase 77";

/// A first-party web app with opaque access tokens that may ask for `offline_access` (redirect
/// `https://vault.example/cb`, as `refresh_token_for` expects).
async fn vault(s: &TestServer) -> Client {
    let (id, secret) = register(
        s,
        "vault",
        json!({
            "redirect_uris": ["https://vault.example/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "email", "offline_access"],
            "access_token_format": "opaque",
        }),
    )
    .await;
    Client {
        id,
        secret: Some(secret),
    }
}

fn creds(c: &Client) -> (&str, &str) {
    (&c.id, c.secret.as_deref().unwrap_or_default())
}

async fn refresh(s: &TestServer, c: (&str, &str), token: &str) -> Resp {
    let r = s
        .http
        .post(format!("{}/oauth2/token", issuer(s)))
        .basic_auth(c.0, Some(c.1))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap();
    Resp::from(r).await
}

async fn introspect(s: &TestServer, c: (&str, &str), token: &str) -> Value {
    let r = s
        .http
        .post(format!("{}/oauth2/introspect", issuer(s)))
        .basic_auth(c.0, Some(c.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let r = Resp::from(r).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.json
}

fn ended(r: &Resp) {
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (400, Some("invalid_grant")),
        "{r:?}"
    );
}

/// The app's offline grant (its refresh and access tokens) and the device's grant are over.
async fn over(
    s: &TestServer,
    app: &Client,
    (rt, at): (&str, &str),
    device: (&(String, String), &str),
) {
    ended(&refresh(s, creds(app), rt).await);
    assert_eq!(
        introspect(s, creds(app), at).await,
        json!({"active": false})
    );
    let (tv, device_rt) = device;
    ended(&refresh(s, (&tv.0, &tv.1), device_rt).await);
}

/// The customer signed in anew with `password`: the session token.
async fn session(s: &TestServer, password: &str) -> String {
    let r = sign_in(s, EMAIL, password).await;
    r.json["session_token"].as_str().unwrap().to_owned()
}

/// An `offline_access` grant of `app` in `session`, rotated once: the live refresh token and the opaque
/// access token the rotation brought (active at introspection).
async fn offline_grant(s: &TestServer, app: &Client, session: &str) -> (String, String) {
    let first = refresh_token_for(s, app, session, &["openid", "offline_access"]).await;
    let r = refresh(s, creds(app), &first).await;
    assert_eq!(r.status, 200, "{r:?}");
    let at = r.json["access_token"].as_str().unwrap().to_owned();
    assert!(at.starts_with("tat_"), "{at}");
    assert_eq!(introspect(s, creds(app), &at).await["active"], true);
    (r.json["refresh_token"].as_str().unwrap().to_owned(), at)
}

/// An `offline_access` device grant of a new client `id`, approved in a browser signed in as the
/// customer: the client's credentials and the device's refresh token.
async fn device_grant(s: &TestServer, id: &str) -> ((String, String), String) {
    let tv = register(
        s,
        id,
        json!({"grant_types": ["device_code", "refresh_token"], "scopes": ["openid", "offline_access"],
               "name": "Living Room TV"}),
    )
    .await;
    let c = signed_in_browser(s).await;
    let (status, body) = authorize_device(s, (&tv.0, &tv.1), Some("openid offline_access")).await;
    assert_eq!(status, 200, "{body}");
    let r = type_code(s, &c, body["user_code"].as_str().unwrap()).await;
    let html = r.text().await.unwrap();
    assert_eq!(decide(s, &c, &html, "allow").await.0, 200);
    let (status, tokens) = poll(s, (&tv.0, &tv.1), body["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(
        tokens["scope"].as_str().unwrap().contains("offline_access"),
        "{tokens}"
    );
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    (tv, rt)
}

async fn rec_07_a_recovery_ends_every_app_grant_offline_and_device_ones_included(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let app = vault(&s).await;
    let (rt, at) = offline_grant(&s, &app, &session(&s, PASSWORD).await).await;
    let (tv, device_rt) = device_grant(&s, "tv").await;

    let flow = start(&s, "recovery", json!({})).await;
    submit(&s, &flow, json!({"email": EMAIL})).await;
    let code = s.code_for(EMAIL).await.unwrap();
    let r = submit(&s, &flow, json!({"code": code})).await;
    assert_eq!(r.json["flow"]["state"], "set_password", "{r:?}");
    let r = submit(&s, &flow, json!({"password": NEW_PASSWORD})).await;
    assert_eq!(r.json["done"], true, "{r:?}");

    over(&s, &app, (&rt, &at), (&tv, &device_rt)).await;
    // Only what came before ends: the app's grant from the new sign-in works.
    offline_grant(&s, &app, &session(&s, NEW_PASSWORD).await).await;
}

async fn ses_06_suspension_and_deletion_end_app_grants_and_a_reactivation_brings_none_back(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let app = vault(&s).await;
    for pause in ["suspend", "schedule-deletion"] {
        let (rt, at) = offline_grant(&s, &app, &session(&s, PASSWORD).await).await;
        let r = s.post(&format!("{IDS}/{sub}/{pause}"), json!({})).await;
        assert_eq!(r.status, 200, "{pause}: {r:?}");
        ended(&refresh(&s, creds(&app), &rt).await);
        assert_eq!(
            introspect(&s, creds(&app), &at).await,
            json!({"active": false})
        );
        let r = s.post(&format!("{IDS}/{sub}/reactivate"), json!({})).await;
        assert_eq!(r.status, 200, "{r:?}");
        ended(&refresh(&s, creds(&app), &rt).await);
        assert_eq!(
            introspect(&s, creds(&app), &at).await,
            json!({"active": false}),
            "{pause}: the reactivation brings no token back"
        );
    }
    // The erasure revokes the families too, not only refuses them while the tombstone stands.
    let (rt, at) = offline_grant(&s, &app, &session(&s, PASSWORD).await).await;
    let r = s.delete(&format!("{IDS}/{sub}")).await;
    assert_eq!(r.status, 200, "{r:?}");
    ended(&refresh(&s, creds(&app), &rt).await);
    assert_eq!(
        introspect(&s, creds(&app), &at).await,
        json!({"active": false})
    );
    let events = s
        .get("/admin/v1/tenants/default/events?type=refresh_token.revoked&limit=1000")
        .await;
    let reasons: Vec<&str> = events.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["data"]["reason"].as_str())
        .collect();
    for reason in [
        "identity.suspended",
        "identity.deletion_scheduled",
        "identity.deleted",
    ] {
        assert!(reasons.contains(&reason), "{reason}: {reasons:?}");
    }
}

async fn ses_07_an_admin_ending_every_session_ends_offline_and_device_grants_too(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let app = vault(&s).await;
    let (rt, at) = offline_grant(&s, &app, &session(&s, PASSWORD).await).await;
    let (tv, device_rt) = device_grant(&s, "tv").await;
    let r = s.delete(&format!("{IDS}/{sub}/sessions")).await;
    assert!(r.status < 300, "{r:?}");
    over(&s, &app, (&rt, &at), (&tv, &device_rt)).await;
    offline_grant(&s, &app, &session(&s, PASSWORD).await).await;
}

async fn rec_07_a_settings_password_change_ends_every_app_grant_but_those_of_the_browser_that_made_it(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let app = vault(&s).await;
    // Grants made elsewhere, say by whoever knew the old password: an app's offline one and a device's.
    let (rt, at) = offline_grant(&s, &app, &session(&s, PASSWORD).await).await;
    let (tv, device_rt) = device_grant(&s, "tv").await;
    // The customer's own browser, and an app signed in through it; an offline grant made there too,
    // which outlives every session and so ends with the password as well (R11-1).
    let here = session(&s, PASSWORD).await;
    let mine = refresh_token_for(&s, &app, &here, &["openid"]).await;
    let (mine_offline, _) = offline_grant(&s, &app, &here).await;

    let flow = start_as(&s, "settings", json!({}), Some(&here)).await;
    let change =
        json!({"method": "password", "current_password": PASSWORD, "new_password": NEW_PASSWORD});
    let r = submit_as(&s, &flow, change, Some(&here)).await;
    assert!(
        messages(&r).contains(&"success-password-changed".to_owned()),
        "{r:?}"
    );

    over(&s, &app, (&rt, &at), (&tv, &device_rt)).await;
    ended(&refresh(&s, creds(&app), &mine_offline).await);
    let r = refresh(&s, creds(&app), &mine).await;
    assert_eq!(
        r.status, 200,
        "the browser that changed the password keeps its apps: {r:?}"
    );
}

/// Whether a statement starting with `sql` waits for a lock in this test's database.
pub(crate) async fn waits(watcher: &mut sqlx::PgConnection, sql: &str) -> bool {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock' AND query LIKE $1",
    )
    .bind(format!("{sql}%"))
    .fetch_one(watcher)
    .await
    .unwrap();
    n > 0
}

/// Polls until `done` says so; panics after half a minute (the interleaving never came).
pub(crate) async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..3000 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} never happened");
}

/// Runs `grant` against `end` in the order that used to leak (on PostgreSQL, where transactions run
/// side by side): a lock held on `table` stops `grant` just before it writes there (`statement`), after
/// it judged its grant alive; `end` then commits, or waits for `grant` (on `end_waits_on`) as it must
/// once `grant` reads under lock what `end` writes; then the lock goes. Both answers.
async fn racing(
    s: &TestServer,
    (table, statement): (&str, &str),
    grant: impl std::future::Future<Output = Resp>,
    end: impl std::future::Future<Output = Resp>,
    end_waits_on: &str,
) -> (Resp, Resp) {
    use sqlx::Connection;
    let mut holder = sqlx::PgConnection::connect(&s.db.url).await.unwrap();
    let mut watcher = sqlx::PgConnection::connect(&s.db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {table} IN EXCLUSIVE MODE"
    )))
    .execute(&mut holder)
    .await
    .unwrap();
    let ended_it = AtomicBool::new(false);
    let controller = async {
        until("the grant waiting to write", async || {
            waits(&mut watcher, statement).await
        })
        .await;
        let end = async {
            let r = end.await;
            ended_it.store(true, Ordering::SeqCst);
            r
        };
        let release = async {
            until("the end done or waiting", async || {
                ended_it.load(Ordering::SeqCst) || waits(&mut watcher, end_waits_on).await
            })
            .await;
            sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
        };
        tokio::join!(end, release).0
    };
    tokio::join!(grant, controller)
}

/// [`racing`] against a suspension of `sub`, reactivated afterwards; `grant`'s answer.
async fn racing_a_suspension(
    s: &TestServer,
    sub: &str,
    at: (&str, &str),
    grant: impl std::future::Future<Output = Resp>,
) -> Resp {
    let path = format!("{IDS}/{sub}/suspend");
    let suspend = s.post(&path, json!({}));
    let (granted, suspension) = racing(s, at, grant, suspend, "UPDATE identities").await;
    assert_eq!(suspension.status, 200, "{suspension:?}");
    let r = s.post(&format!("{IDS}/{sub}/reactivate"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    granted
}

/// What a grant answered while its end ran must be dead now: refused then, or its refresh token
/// `invalid_grant` and its access token inactive now.
async fn nothing_survives(s: &TestServer, app: &Client, granted: &Resp) {
    if granted.status != 200 {
        ended(granted);
        return;
    }
    let rt = granted.json["refresh_token"].as_str().unwrap();
    ended(&refresh(s, creds(app), rt).await);
    let at = granted.json["access_token"].as_str().unwrap();
    assert_eq!(
        introspect(s, creds(app), at).await,
        json!({"active": false})
    );
}

/// R10-2: a code redeemed while a suspension commits. SQLite runs its writers one at a time, so the
/// exchange's read and write cannot be split there; this test runs on PostgreSQL only.
async fn ses_06_a_code_redeemed_while_a_suspension_commits_leaves_no_grant_behind(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let app = vault(&s).await;
    let here = session(&s, PASSWORD).await;
    let code = code_for(&s, &app, &here, &["openid", "offline_access"]).await;
    let granted = racing_a_suspension(
        &s,
        &sub,
        (
            "oauth_refresh_families",
            "INSERT INTO oauth_refresh_families",
        ),
        exchange(&s, &app, &code),
    )
    .await;
    nothing_survives(&s, &app, &granted).await;
}

/// R11-4: a refresh rotated while a suspension commits (PostgreSQL only, as above).
async fn ses_06_a_refresh_rotated_while_a_suspension_commits_leaves_no_token_behind(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let app = vault(&s).await;
    let (rt, _) = offline_grant(&s, &app, &session(&s, PASSWORD).await).await;
    let granted = racing_a_suspension(
        &s,
        &sub,
        ("oauth_refresh_tokens", "UPDATE oauth_refresh_tokens"),
        refresh(&s, creds(&app), &rt),
    )
    .await;
    nothing_survives(&s, &app, &granted).await;
}

/// R12-2: a refresh rotated while the client revokes the same grant (RFC 7009), which touches the
/// family alone (PostgreSQL only, as above).
async fn oa_10_a_refresh_rotated_while_the_client_revokes_its_grant_leaves_no_token_behind(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let app = vault(&s).await;
    let (rt, _) = offline_grant(&s, &app, &session(&s, PASSWORD).await).await;
    let revoke = async {
        let r = s
            .http
            .post(format!("{}/oauth2/revoke", issuer(&s)))
            .basic_auth(&app.id, app.secret.as_deref())
            .form(&[("token", rt.as_str()), ("token_type_hint", "refresh_token")])
            .send()
            .await
            .unwrap();
        Resp::from(r).await
    };
    let (granted, revoked) = racing(
        &s,
        ("oauth_refresh_tokens", "UPDATE oauth_refresh_tokens"),
        refresh(&s, creds(&app), &rt),
        revoke,
        "UPDATE oauth_refresh_families",
    )
    .await;
    assert_eq!(revoked.status, 200, "{revoked:?}");
    nothing_survives(&s, &app, &granted).await;
}

mod oa_10_a_refresh_rotated_while_the_client_revokes_its_grant_leaves_no_token_behind {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::oa_10_a_refresh_rotated_while_the_client_revokes_its_grant_leaves_no_token_behind(
            tessera_testkit::Engine::Postgres,
        )
        .await
    }
}

mod ses_06_a_refresh_rotated_while_a_suspension_commits_leaves_no_token_behind {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::ses_06_a_refresh_rotated_while_a_suspension_commits_leaves_no_token_behind(
            tessera_testkit::Engine::Postgres,
        )
        .await
    }
}

/// R11-2: codes redeemed while the admin ends every session and the customer changes the password,
/// round after round: each side succeeds or is refused in its protocol's words (never a 5xx, as a
/// deadlock between the two would be), and no grant outlives the end of the sessions.
async fn ses_07_ending_sessions_while_codes_are_redeemed_never_fails_and_leaves_no_grant(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let sub = customer(&s).await;
    let app = vault(&s).await;
    let mut password = PASSWORD.to_owned();
    for round in 0..8 {
        let here = session(&s, &password).await;
        let other = session(&s, &password).await;
        let codes = [
            code_for(&s, &app, &other, &["openid", "offline_access"]).await,
            code_for(&s, &app, &other, &["openid", "offline_access"]).await,
        ];
        let end = async {
            if round % 2 == 0 {
                s.delete(&format!("{IDS}/{sub}/sessions")).await
            } else {
                let next = format!("{NEW_PASSWORD} {round}");
                let flow = start_as(&s, "settings", json!({}), Some(&here)).await;
                let change = json!({"method": "password", "current_password": password, "new_password": next});
                let r = submit_as(&s, &flow, change, Some(&here)).await;
                password = next;
                r
            }
        };
        let (a, b, ended_sessions) = tokio::join!(
            exchange(&s, &app, &codes[0]),
            exchange(&s, &app, &codes[1]),
            end
        );
        assert!(
            ended_sessions.status < 300,
            "round {round}: {ended_sessions:?}"
        );
        for granted in [a, b] {
            assert!(granted.status < 500, "round {round}: {granted:?}");
            if granted.status == 200 {
                let rt = granted.json["refresh_token"].as_str().unwrap();
                ended(&refresh(&s, creds(&app), rt).await);
            } else {
                ended(&granted);
            }
        }
    }
}

mod ses_06_a_code_redeemed_while_a_suspension_commits_leaves_no_grant_behind {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::ses_06_a_code_redeemed_while_a_suspension_commits_leaves_no_grant_behind(
            tessera_testkit::Engine::Postgres,
        )
        .await
    }
}

async fn con_01_an_app_made_third_party_refreshes_only_with_the_customers_consent(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    customer(&s).await;
    let app = vault(&s).await;
    let (rt, _) = offline_grant(&s, &app, &session(&s, PASSWORD).await).await;
    // The admin makes the app third-party: its grants were never consented to (R10-4).
    let r = s
        .put(
            &format!("{}/{}", crate::oidc_flow::CLIENTS, app.id),
            json!({"name": "Vault", "first_party": false,
                   "redirect_uris": ["https://vault.example/cb"],
                   "grant_types": ["authorization_code", "refresh_token"],
                   "scopes": ["openid", "email", "offline_access"],
                   "access_token_format": "opaque"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = refresh(&s, creds(&app), &rt).await;
    ended(&r);
    assert!(
        r.json["error_description"]
            .as_str()
            .unwrap()
            .contains("consent"),
        "{r:?}"
    );
}

engine_tests!(
    rec_07_a_recovery_ends_every_app_grant_offline_and_device_ones_included,
    rec_07_a_settings_password_change_ends_every_app_grant_but_those_of_the_browser_that_made_it,
    ses_06_suspension_and_deletion_end_app_grants_and_a_reactivation_brings_none_back,
    ses_07_an_admin_ending_every_session_ends_offline_and_device_grants_too,
    ses_07_ending_sessions_while_codes_are_redeemed_never_fails_and_leaves_no_grant,
    con_01_an_app_made_third_party_refreshes_only_with_the_customers_consent,
);
