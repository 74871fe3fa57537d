//! The store's write transaction, on SQLite and on PostgreSQL alike: writes wait behind it and go in one
//! round trip with the commit, a write that must change one row and changed none commits nothing, a
//! failing write commits nothing, a dropped transaction leaves nothing and no open transaction behind,
//! and reads see the writes queued before them.
use tessera_model::event::StoredEvent;
use tessera_model::flow::{Flow, FlowChannel, FlowId, FlowKind, Ui};
use tessera_model::tenant::Tenant;
use tessera_model::{EventId, TenantId};
use tessera_store::events::EventFilter;
use tessera_store::flows::Binding;
use tessera_store::{Db, DbOptions, StoreError, events, flows, tenants};
use tessera_testkit::{Engine, TestDb, engine_tests};
use time::{Duration, OffsetDateTime};

/// A fresh database of `engine` with its schema and one tenant; `None` when the engine is not available.
/// The `TestDb` is returned to be kept alive for the test's length.
async fn fresh(engine: Engine) -> Option<(TestDb, Db, Tenant)> {
    let db = TestDb::new(engine).await?;
    let store = Db::connect(&DbOptions::new(db.url.clone())).await.unwrap();
    store.migrate().await.unwrap();
    let tenant = add_tenant(&store).await;
    Some((db, store, tenant))
}

fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap()
}

async fn add_tenant(store: &Db) -> Tenant {
    let t = Tenant {
        id: TenantId::new(),
        slug: "tx".into(),
        name: "Transactions".into(),
        created_at: now(),
        updated_at: now(),
        version: 1,
    };
    let mut tx = store.begin().await.unwrap();
    tenants::insert(&mut tx, &t).await.unwrap();
    tx.commit().await.unwrap();
    t
}

fn event(tenant: &Tenant, subject: &str) -> StoredEvent {
    let id = EventId::new();
    StoredEvent {
        seq: 0,
        id,
        tenant_id: tenant.id,
        kind: "test.queued".into(),
        subject: subject.into(),
        actor: "system".into(),
        request_id: None,
        occurred_at: now(),
        data: "{}".into(),
        sealed: None,
        sealed_for: None,
        hash: id.0.as_bytes().to_vec(),
    }
}

fn flow(tenant: &Tenant) -> Flow {
    Flow {
        id: FlowId::random(),
        tenant_id: tenant.id,
        kind: FlowKind::Login,
        channel: FlowChannel::Api,
        state: "choose_method".into(),
        issued_at: now(),
        expires_at: now() + Duration::minutes(30),
        csrf_token: "csrf".into(),
        return_to: None,
        client_id: None,
        journey: "default".into(),
        locale: None,
        identity_id: None,
        ui: Ui::default(),
        internal: serde_json::json!({}),
        version: 1,
        requested_aal: 1,
    }
}

/// The subjects of the tenant's events, read outside any transaction.
async fn subjects(store: &Db, tenant: &Tenant) -> Vec<String> {
    let mut c = store.conn().await.unwrap();
    events::query(&mut c, tenant.id, &EventFilter::default(), 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.subject)
        .collect()
}

async fn add_flow(store: &Db, f: &Flow) {
    let mut tx = store.begin().await.unwrap();
    flows::insert(&mut tx, f, Binding::Secret(b"secret-hash"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn stored_state(store: &Db, f: &Flow) -> (String, i64) {
    let mut c = store.conn().await.unwrap();
    let got = flows::get(&mut c, f.tenant_id, f.id)
        .await
        .unwrap()
        .unwrap()
        .flow;
    (got.state, got.version)
}

async fn queued_writes_wait_for_the_commit_and_land_together(engine: Engine) {
    let Some((_db, store, tenant)) = fresh(engine).await else {
        return;
    };
    let f = flow(&tenant);
    let mut tx = store.begin().await.unwrap();
    flows::insert(&mut tx, &f, Binding::Secret(b"h"))
        .await
        .unwrap();
    events::append_all(&mut tx, &[event(&tenant, "started")])
        .await
        .unwrap();
    assert_eq!(tx.queued(), 2, "both writes wait behind the transaction");
    assert_eq!(subjects(&store, &tenant).await, Vec::<String>::new());
    tx.commit().await.unwrap();
    assert_eq!(subjects(&store, &tenant).await, ["started"]);
    assert_eq!(stored_state(&store, &f).await, ("choose_method".into(), 1));
}

async fn events_written_in_turn_keep_their_order(engine: Engine) {
    let Some((_db, store, tenant)) = fresh(engine).await else {
        return;
    };
    let mut tx = store.begin().await.unwrap();
    events::append_all(&mut tx, &[event(&tenant, "first")])
        .await
        .unwrap();
    events::append_all(
        &mut tx,
        &[event(&tenant, "second"), event(&tenant, "third")],
    )
    .await
    .unwrap();
    events::append_all(&mut tx, &[event(&tenant, "fourth")])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        subjects(&store, &tenant).await,
        ["first", "second", "third", "fourth"],
        "sequence numbers follow the order the events were written in"
    );
}

async fn a_queued_update_of_a_flow_someone_moved_on_commits_nothing(engine: Engine) {
    let Some((_db, store, tenant)) = fresh(engine).await else {
        return;
    };
    let f = flow(&tenant);
    add_flow(&store, &f).await;

    let mut tx = store.begin_unflushed().await.unwrap();
    events::append_all(&mut tx, &[event(&tenant, "lost race")])
        .await
        .unwrap();
    let mut moved = f.clone();
    moved.state = "done".into();
    moved.version = 3;
    flows::update(&mut tx, &moved, 2).await.unwrap();
    let r = tx.commit().await;
    assert!(
        matches!(r, Err(StoreError::Stale { table: "flows" })),
        "a version that moved on is a stale write: {r:?}"
    );
    assert_eq!(stored_state(&store, &f).await, ("choose_method".into(), 1));
    assert_eq!(
        subjects(&store, &tenant).await,
        Vec::<String>::new(),
        "the event queued with the stale update did not land"
    );

    // The same update at the right version lands, with its event.
    let mut tx = store.begin_unflushed().await.unwrap();
    events::append_all(&mut tx, &[event(&tenant, "won")])
        .await
        .unwrap();
    moved.version = 2;
    flows::update(&mut tx, &moved, 1).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(stored_state(&store, &f).await, ("done".into(), 2));
    assert_eq!(subjects(&store, &tenant).await, ["won"]);
}

async fn a_stale_update_after_a_read_in_the_transaction_commits_nothing(engine: Engine) {
    let Some((_db, store, tenant)) = fresh(engine).await else {
        return;
    };
    let f = flow(&tenant);
    add_flow(&store, &f).await;

    let mut tx = store.begin().await.unwrap();
    // A read inside the transaction opens it; the writes then go with the COMMIT (SQLite) or just
    // before it (PostgreSQL).
    assert!(
        flows::get(&mut tx, tenant.id, f.id)
            .await
            .unwrap()
            .is_some()
    );
    events::append_all(&mut tx, &[event(&tenant, "lost race")])
        .await
        .unwrap();
    let mut moved = f.clone();
    moved.version = 9;
    flows::update(&mut tx, &moved, 8).await.unwrap();
    let r = tx.commit().await;
    assert!(
        matches!(r, Err(StoreError::Stale { table: "flows" })),
        "{r:?}"
    );
    assert_eq!(subjects(&store, &tenant).await, Vec::<String>::new());
    // The writer is free and clean again: the next transaction commits.
    let mut tx = store.begin().await.unwrap();
    events::append_all(&mut tx, &[event(&tenant, "after")])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(subjects(&store, &tenant).await, ["after"]);
}

async fn a_failing_queued_write_commits_none_of_the_others(engine: Engine) {
    let Some((_db, store, tenant)) = fresh(engine).await else {
        return;
    };
    let twice = event(&tenant, "twice");
    let mut tx = store.begin().await.unwrap();
    events::append_all(&mut tx, std::slice::from_ref(&twice))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    events::append_all(&mut tx, &[event(&tenant, "before")])
        .await
        .unwrap();
    events::append_all(&mut tx, &[twice]).await.unwrap();
    let r = tx.commit().await;
    assert!(
        matches!(r, Err(StoreError::Conflict { .. })),
        "an event id is taken once: {r:?}"
    );
    assert_eq!(subjects(&store, &tenant).await, ["twice"]);
}

async fn a_dropped_transaction_leaves_nothing_and_no_transaction_open(engine: Engine) {
    let Some((_db, store, tenant)) = fresh(engine).await else {
        return;
    };
    let f = flow(&tenant);
    for opened in [false, true] {
        let mut tx = store.begin().await.unwrap();
        if opened {
            // Running a statement opens the transaction on the held connection.
            flows::get(&mut tx, tenant.id, f.id).await.unwrap();
        }
        events::append_all(&mut tx, &[event(&tenant, "dropped")])
            .await
            .unwrap();
        flows::insert(&mut tx, &f, Binding::Secret(b"h"))
            .await
            .unwrap();
        drop(tx);
    }
    assert_eq!(subjects(&store, &tenant).await, Vec::<String>::new());
    // The next transaction on the writer starts clean and commits.
    add_flow(&store, &f).await;
    assert_eq!(stored_state(&store, &f).await, ("choose_method".into(), 1));
}

async fn reads_in_a_transaction_see_the_writes_queued_before_them(engine: Engine) {
    let Some((_db, store, tenant)) = fresh(engine).await else {
        return;
    };
    let mut tx = store.begin().await.unwrap();
    events::append_all(&mut tx, &[event(&tenant, "queued")])
        .await
        .unwrap();
    // A read of the identity keys does not wait for an event: nothing queued writes a key.
    let key = tessera_store::identities::key(&mut tx, tessera_model::IdentityId::new())
        .await
        .unwrap();
    assert_eq!(key, None);
    assert_eq!(tx.queued(), 1, "the key read left the event queued");
    // A read of the events sends it first.
    let seen: Vec<String> = events::query(&mut tx, tenant.id, &EventFilter::default(), 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.subject)
        .collect();
    assert_eq!(seen, ["queued"]);
    assert_eq!(tx.queued(), 0);
    tx.rollback().await.unwrap();
    assert_eq!(subjects(&store, &tenant).await, Vec::<String>::new());
}

engine_tests!(
    queued_writes_wait_for_the_commit_and_land_together,
    events_written_in_turn_keep_their_order,
    a_queued_update_of_a_flow_someone_moved_on_commits_nothing,
    a_stale_update_after_a_read_in_the_transaction_commits_nothing,
    a_failing_queued_write_commits_none_of_the_others,
    a_dropped_transaction_leaves_nothing_and_no_transaction_open,
    reads_in_a_transaction_see_the_writes_queued_before_them,
);
