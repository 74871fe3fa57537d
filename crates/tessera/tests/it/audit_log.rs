//! The event log: written with every change, personal data sealed per identity, tamper-evident.
use serde_json::json;
use sqlx::Connection;
use tessera_testkit::{Engine, TestServer, engine_tests};

const IDS: &str = "/admin/v1/tenants/default/identities";

/// Runs raw SQL against the test database, standing in for an attacker with database access.
async fn tamper(s: &TestServer, sql: &str) {
    match s.db.engine {
        Engine::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&s.db.url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut c)
                .await
                .unwrap();
        }
        Engine::Postgres => {
            let mut c = sqlx::PgConnection::connect(&s.db.url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut c)
                .await
                .unwrap();
        }
    }
}

async fn seed_and_seal(s: &TestServer) {
    for i in 0..4 {
        let r = s
            .post(
                IDS,
                json!({"identifiers": [{"kind": "email", "value": format!("a{i}@example.com")}]}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let sealed = s.tessera.audit().seal(time::Duration::ZERO).await.unwrap();
    assert!(
        sealed >= 5,
        "tenant creation, key creation and four identities were sealed, got {sealed}"
    );
    let reports = s.tessera.audit().verify(Some("default")).await.unwrap();
    assert!(reports[0].intact(), "{:?}", reports[0]);
}

async fn problems(s: &TestServer) -> Vec<String> {
    s.tessera
        .audit()
        .verify(Some("default"))
        .await
        .unwrap()
        .remove(0)
        .problems
}

async fn every_change_writes_an_event_with_actor_and_request_id(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let r = s
        .post(
            IDS,
            json!({"identifiers": [{"kind": "email", "value": "e@example.com"}]}),
        )
        .await;
    let id = r.json["id"].as_str().unwrap().to_owned();
    s.post(
        &format!("{IDS}/{id}/suspend"),
        json!({"reason": "fraud review"}),
    )
    .await;
    let ev = s
        .get(&format!(
            "/admin/v1/tenants/default/events?subject=identity:{id}"
        ))
        .await;
    let items = ev.json["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["identity.created", "identity.suspended"]);
    assert!(items[0]["actor"].as_str().unwrap().starts_with("api_key:"));
    assert_eq!(
        items[0]["request_id"].as_str().unwrap(),
        r.header("x-request-id").unwrap()
    );
    assert_eq!(items[1]["data"]["reason"], "fraud review");
    let by_type = s
        .get("/admin/v1/tenants/default/events?type=identity.suspended")
        .await;
    assert_eq!(by_type.json["items"].as_array().unwrap().len(), 1);
    let future = s
        .get("/admin/v1/tenants/default/events?from=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(future.json["items"], json!([]));
    s.get("/admin/v1/tenants/default/events?from=yesterday")
        .await
        .assert_problem(400, "invalid_query");
}

async fn personal_data_is_sealed_and_erasure_shreds_it(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let r = s
        .post(
            IDS,
            json!({"identifiers": [{"kind": "email", "value": "secret.person@example.com"}]}),
        )
        .await;
    let id = r.json["id"].as_str().unwrap().to_owned();
    let ev = s
        .get(&format!(
            "/admin/v1/tenants/default/events?subject=identity:{id}"
        ))
        .await;
    assert_eq!(
        ev.json["items"][0]["personal"]["identifiers"][0]["value"],
        "secret.person@example.com"
    );
    assert!(
        !ev.json["items"][0]["data"]
            .to_string()
            .contains("secret.person"),
        "the clear part holds no personal data"
    );
    assert_eq!(s.delete(&format!("{IDS}/{id}")).await.status, 200);
    let after = s
        .get(&format!(
            "/admin/v1/tenants/default/events?subject=identity:{id}"
        ))
        .await;
    let created = &after.json["items"][0];
    assert_eq!(created["personal"], serde_json::Value::Null);
    assert_eq!(created["personal_erased"], true);
    s.tessera.audit().seal(time::Duration::ZERO).await.unwrap();
    assert!(
        problems(&s).await.is_empty(),
        "erasure leaves the log verifiable"
    );
}

async fn readonly_keys_cannot_read_the_event_log(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let key = s.mint_key("dash", "readonly", None).await;
    let r = s
        .admin_req_as(
            &key,
            reqwest::Method::GET,
            "/admin/v1/tenants/default/events",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

async fn audit_detects_an_edited_event(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    seed_and_seal(&s).await;
    tamper(
        &s,
        "UPDATE events SET data = '{\"forged\":true}' WHERE seq = (SELECT MAX(seq) FROM events)",
    )
    .await;
    let p = problems(&s).await;
    assert!(p.iter().any(|m| m.contains("edited")), "{p:?}");
}

async fn audit_detects_an_edit_that_recomputed_the_hash(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    seed_and_seal(&s).await;
    // Replace one event's content and hash with another's: every row is self-consistent, the chain is not.
    tamper(&s, "UPDATE events SET data = (SELECT data FROM events WHERE seq = 3), hash = (SELECT hash FROM events WHERE seq = 3), \
                id = id, type = (SELECT type FROM events WHERE seq = 3) WHERE seq = 4").await;
    assert!(!problems(&s).await.is_empty());
}

async fn audit_detects_a_removed_event(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    seed_and_seal(&s).await;
    tamper(&s, "DELETE FROM events WHERE seq = 3").await;
    let p = problems(&s).await;
    assert!(p.iter().any(|m| m.contains("removed")), "{p:?}");
}

async fn audit_detects_reordered_events(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    seed_and_seal(&s).await;
    // Swap the positions of two events by moving their sequence numbers. On PostgreSQL the column is an
    // identity column, so the attacker (who owns the database) first drops that protection.
    if s.db.engine == Engine::Postgres {
        tamper(&s, "ALTER TABLE events ALTER COLUMN seq DROP IDENTITY").await;
    }
    tamper(&s, "UPDATE events SET seq = -4 WHERE seq = 4").await;
    tamper(&s, "UPDATE events SET seq = 4 WHERE seq = 5").await;
    tamper(&s, "UPDATE events SET seq = 5 WHERE seq = -4").await;
    let p = problems(&s).await;
    assert!(p.iter().any(|m| m.contains("reordered")), "{p:?}");
}

async fn audit_detects_a_forged_checkpoint(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    seed_and_seal(&s).await;
    tamper(
        &s,
        "UPDATE audit_checkpoints SET event_count = event_count - 1",
    )
    .await;
    let p = problems(&s).await;
    assert!(
        p.iter().any(|m| m.contains("seal does not verify")),
        "{p:?}"
    );
}

async fn sealing_is_incremental_and_idempotent(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    seed_and_seal(&s).await;
    assert_eq!(
        s.tessera.audit().seal(time::Duration::ZERO).await.unwrap(),
        0,
        "nothing new to seal"
    );
    s.post(
        IDS,
        json!({"identifiers": [{"kind": "email", "value": "late@example.com"}]}),
    )
    .await;
    assert_eq!(
        s.tessera
            .audit()
            .seal(time::Duration::hours(1))
            .await
            .unwrap(),
        0,
        "events inside the margin wait"
    );
    assert_eq!(
        s.tessera.audit().seal(time::Duration::ZERO).await.unwrap(),
        1
    );
    let r = s
        .tessera
        .audit()
        .verify(Some("default"))
        .await
        .unwrap()
        .remove(0);
    assert!(
        r.intact() && r.checkpoints == 2 && r.unsealed_events == 0,
        "{r:?}"
    );
}

async fn a_failed_change_writes_no_event(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    s.post(
        IDS,
        json!({"identifiers": [{"kind": "email", "value": "dup@example.com"}]}),
    )
    .await;
    let count = || async {
        s.get("/admin/v1/tenants/default/events?type=identity.created")
            .await
            .json["items"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = count().await;
    let r = s
        .post(
            IDS,
            json!({"identifiers": [{"kind": "email", "value": "DUP@example.com"}]}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(count().await, before);
}

engine_tests!(
    every_change_writes_an_event_with_actor_and_request_id,
    personal_data_is_sealed_and_erasure_shreds_it,
    readonly_keys_cannot_read_the_event_log,
    audit_detects_an_edited_event,
    audit_detects_an_edit_that_recomputed_the_hash,
    audit_detects_a_removed_event,
    audit_detects_reordered_events,
    audit_detects_a_forged_checkpoint,
    sealing_is_incremental_and_idempotent,
    a_failed_change_writes_no_event,
);
