//! The store, chapter by chapter: every rule below holds on SQLite and on PostgreSQL alike.
//!
//! Each test talks to `tessera_store` directly (no server, no core facade) on a fresh database, so a
//! difference between the engines shows up here first, as one failing half of a `sqlite`/`postgres`
//! pair.
use std::collections::BTreeMap;

use serde_json::json;
use tessera_model::api_key::{ApiKey, Role};
use tessera_model::event::{Checkpoint, StoredEvent};
use tessera_model::identifier::IdentifierKind;
use tessera_model::identity::{Identifier, Identity, IdentityState};
use tessera_model::organization::{Member, Organization};
use tessera_model::signing_key::KeyState;
use tessera_model::tenant::Tenant;
use tessera_model::{ApiKeyId, EventId, IdentityId, OrganizationId, TenantId};
use tessera_store::events::EventFilter;
use tessera_store::identities::IdentityFilter;
use tessera_store::policies::PolicyVersion;
use tessera_store::{
    Db, DbOptions, StoreError, api_keys, events, identities, meta, migration_versions,
    organizations, policies, signing_keys, tenants,
};
use tessera_testkit::{Engine, TestDb, engine_tests};
use time::{Duration, OffsetDateTime};

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

/// Opens the test database through the store and brings its schema up to date.
async fn open(db: &TestDb) -> Db {
    let store = Db::connect(&DbOptions::new(db.url.clone())).await.unwrap();
    let want = match db.engine {
        Engine::Sqlite => tessera_store::Engine::Sqlite,
        Engine::Postgres => tessera_store::Engine::Postgres,
    };
    assert_eq!(
        store.engine(),
        want,
        "the test database must be served by the engine under test"
    );
    store.migrate().await.unwrap();
    store
}

/// Now, cut to the microsecond: the precision both engines store.
fn now() -> OffsetDateTime {
    micros(OffsetDateTime::now_utc())
}

fn micros(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap()
}

/// A fixed instant with every microsecond digit set: 2023-11-14T22:13:20.123456Z.
fn fixed_instant() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap()
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::Conflict { .. })),
        "expected a Conflict, got {r:?}"
    );
}

fn tenant(slug: &str) -> Tenant {
    let t = now();
    Tenant {
        id: TenantId::new(),
        slug: slug.to_owned(),
        name: format!("Tenant {slug}"),
        created_at: t,
        updated_at: t,
        version: 1,
    }
}

async fn add_tenant(store: &Db, slug: &str) -> Tenant {
    let t = tenant(slug);
    let mut tx = store.begin().await.unwrap();
    tenants::insert(&mut tx, &t).await.unwrap();
    tx.commit().await.unwrap();
    t
}

fn ident(kind: IdentifierKind, value: &str, verified: bool) -> Identifier {
    Identifier {
        kind,
        value: value.to_owned(),
        verified,
    }
}

fn email(value: &str) -> Identifier {
    ident(IdentifierKind::Email, value, true)
}

fn attrs(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        other => panic!("attributes must be an object, got {other}"),
    }
}

fn identity(
    tenant: &Tenant,
    state: IdentityState,
    identifiers: Vec<Identifier>,
    attributes: serde_json::Value,
) -> Identity {
    let t = now();
    Identity {
        id: IdentityId::new(),
        tenant_id: tenant.id,
        state,
        identifiers,
        attributes: attrs(attributes),
        created_at: t,
        updated_at: t,
        version: 1,
    }
}

async fn add_identity(store: &Db, i: &Identity) {
    let mut tx = store.begin().await.unwrap();
    identities::insert(&mut tx, i).await.unwrap();
    tx.commit().await.unwrap();
}

/// An active identity known by one email address, committed.
async fn add_person(store: &Db, tenant: &Tenant, address: &str) -> Identity {
    let i = identity(
        tenant,
        IdentityState::Active,
        vec![email(address)],
        json!({}),
    );
    add_identity(store, &i).await;
    i
}

async fn get_identity(store: &Db, tenant: &Tenant, id: IdentityId) -> Option<Identity> {
    let mut c = store.conn().await.unwrap();
    identities::get(&mut c, tenant.id, id).await.unwrap()
}

/// The ids of every identity the filter selects, reading page after page.
async fn listed(store: &Db, tenant: &Tenant, filter: &IdentityFilter) -> Vec<IdentityId> {
    let mut c = store.conn().await.unwrap();
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = identities::list(&mut c, tenant.id, filter, after, 2)
            .await
            .unwrap();
        out.extend(page.items.iter().map(|i| i.id));
        match page.next_after {
            Some(n) => after = Some(IdentityId(n)),
            None => return out,
        }
    }
}

fn organization(tenant: &Tenant, name: &str, domains: &[&str]) -> Organization {
    let t = now();
    Organization {
        id: OrganizationId::new(),
        tenant_id: tenant.id,
        name: name.to_owned(),
        domains: domains.iter().map(|d| (*d).to_owned()).collect(),
        created_at: t,
        updated_at: t,
        version: 1,
    }
}

async fn add_organization(store: &Db, o: &Organization) {
    let mut tx = store.begin().await.unwrap();
    organizations::insert(&mut tx, o).await.unwrap();
    tx.commit().await.unwrap();
}

fn member(
    org: &Organization,
    who: &Identity,
    roles: &[&str],
    created_at: OffsetDateTime,
) -> Member {
    Member {
        organization_id: org.id,
        identity_id: who.id,
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        created_at,
    }
}

fn policy(tenant: &Tenant, scope: &str, version: i64) -> PolicyVersion {
    PolicyVersion {
        tenant_id: tenant.id,
        scope: scope.to_owned(),
        version,
        document: json!({"session": {"idle_minutes": 10 * version}, "note": format!("v{version}")}),
        author: format!("api_key:{version}"),
        reason: format!("change number {version}"),
        created_at: now() + Duration::seconds(version),
    }
}

async fn add_policy(store: &Db, p: &PolicyVersion) {
    let mut tx = store.begin().await.unwrap();
    policies::insert(&mut tx, p).await.unwrap();
    tx.commit().await.unwrap();
}

fn api_key(tenant: Option<&Tenant>, name: &str, created_at: OffsetDateTime) -> ApiKey {
    ApiKey {
        id: ApiKeyId::new(),
        tenant_id: tenant.map(|t| t.id),
        name: name.to_owned(),
        role: Role::Support,
        prefix: format!("tsk_{name}"),
        created_at,
        created_by: "cli:test".to_owned(),
        expires_at: None,
        revoked_at: None,
    }
}

async fn add_api_key(store: &Db, k: &ApiKey, hash: &[u8]) {
    let mut tx = store.begin().await.unwrap();
    api_keys::insert(&mut tx, k, hash).await.unwrap();
    tx.commit().await.unwrap();
}

fn event(tenant: &Tenant, kind: &str, subject: &str, occurred_at: OffsetDateTime) -> StoredEvent {
    let id = EventId::new();
    StoredEvent {
        seq: 0,
        id,
        tenant_id: tenant.id,
        kind: kind.to_owned(),
        subject: subject.to_owned(),
        actor: "system".to_owned(),
        request_id: None,
        occurred_at,
        data: format!(r#"{{"kind":"{kind}","n":1}}"#),
        sealed: None,
        sealed_for: None,
        hash: id.0.as_bytes().to_vec(),
    }
}

/// Appends events in one transaction and returns them with the sequence numbers they were given.
async fn append_all(store: &Db, evs: Vec<StoredEvent>) -> Vec<StoredEvent> {
    let mut tx = store.begin().await.unwrap();
    let mut out = Vec::new();
    for mut e in evs {
        e.seq = events::append(&mut tx, &e).await.unwrap();
        out.push(e);
    }
    tx.commit().await.unwrap();
    out
}

fn seqs(evs: &[StoredEvent]) -> Vec<i64> {
    evs.iter().map(|e| e.seq).collect()
}

fn checkpoint(tenant: &Tenant, after_seq: i64, upto_seq: i64, tag: u8) -> Checkpoint {
    Checkpoint {
        tenant_id: tenant.id,
        after_seq,
        upto_seq,
        event_count: upto_seq - after_seq,
        digest: vec![tag; 32],
        prev_digest: vec![tag.wrapping_sub(1); 32],
        mac: vec![tag ^ 0xff; 32],
        created_at: now(),
    }
}

// ---------------------------------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------------------------------

#[test]
fn both_engines_ship_the_same_migration_versions() {
    let sqlite = migration_versions(tessera_store::Engine::Sqlite);
    let postgres = migration_versions(tessera_store::Engine::Postgres);
    assert!(
        !sqlite.is_empty(),
        "at least the foundation migration ships"
    );
    assert_eq!(sqlite, postgres);
}

/// `CREATE TABLE name (` blocks of a migration: each table with its column names, in file order.
fn declared_tables(sql: &str) -> Vec<(String, Vec<String>)> {
    let mut tables = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in sql.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
            assert!(current.is_none(), "nested CREATE TABLE at {line:?}");
            let name = rest.trim_end_matches('(').trim();
            assert!(
                !name.is_empty() && !name.contains(' '),
                "unparsed table header {line:?}"
            );
            current = Some((name.to_owned(), Vec::new()));
        } else if line.starts_with(");") {
            tables.push(current.take().expect("a `);` closes a CREATE TABLE"));
        } else if let Some((_, cols)) = current.as_mut() {
            let first = line.split_whitespace().next().unwrap_or_default();
            let constraint =
                ["PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "CONSTRAINT"].contains(&first);
            if !first.is_empty() && !first.starts_with("--") && !constraint {
                cols.push(first.to_owned());
            }
        }
    }
    assert!(current.is_none(), "an unterminated CREATE TABLE");
    tables
}

#[test]
fn both_engines_declare_the_same_tables_and_columns_in_the_same_order() {
    let sqlite = declared_tables(include_str!(
        "../../../tessera-store/migrations/sqlite/0001_foundation.sql"
    ));
    let postgres = declared_tables(include_str!(
        "../../../tessera-store/migrations/postgres/0001_foundation.sql"
    ));
    // The parser really sees the schema (so an empty comparison cannot pass by accident).
    let tenants_cols: Vec<&str> =
        ["id", "slug", "name", "created_at", "updated_at", "version"].into();
    let found = sqlite
        .iter()
        .find(|(n, _)| n == "tenants")
        .map(|(_, c)| c.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(found, Some(tenants_cols));
    assert!(
        sqlite.len() >= 12,
        "expected every foundation table, parsed {sqlite:?}"
    );
    assert_eq!(
        sqlite.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        postgres.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        "table lists differ"
    );
    for ((table, s_cols), (_, p_cols)) in sqlite.iter().zip(&postgres) {
        assert_eq!(
            s_cols, p_cols,
            "columns of {table} differ between sqlite and postgres"
        );
    }
}

/// The log checkpointer's statement: on SQLite every committed page of the log ends up in the
/// database file (nothing else reads meanwhile); on PostgreSQL there is nothing to do.
async fn a_checkpoint_moves_the_whole_log_into_the_database_file(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "ckpt").await;
    let (log, moved) = store.checkpoint().await.unwrap();
    match engine {
        Engine::Sqlite => {
            assert!(log > 0, "the tenant's commit is in the log: {log}");
            assert_eq!(moved, log, "every page of the log is in the database file");
        }
        Engine::Postgres => assert_eq!((log, moved), (0, 0)),
    }
    // And the data reads back as written.
    assert_eq!(
        store_tenant_slug(&store, t.id).await.as_deref(),
        Some("ckpt")
    );
}

async fn store_tenant_slug(store: &Db, id: TenantId) -> Option<String> {
    let mut conn = store.conn().await.unwrap();
    tessera_store::tenants::by_id(&mut conn, id)
        .await
        .unwrap()
        .map(|t| t.slug)
}

async fn migrating_twice_changes_nothing(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    store.migrate().await.unwrap();
    assert!(store.migrations_current().await.unwrap());
    let mut c = store.conn().await.unwrap();
    assert_eq!(
        tenants::by_id(&mut c, t.id).await.unwrap(),
        Some(t),
        "data survives a second migrate"
    );
}

async fn migrations_are_current_only_after_migrate(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = Db::connect(&DbOptions::new(db.url.clone())).await.unwrap();
    // Before migrating, the bookkeeping table may not even exist: an error is as good as `false`.
    let before = store.migrations_current().await;
    assert!(
        matches!(before, Err(_) | Ok(false)),
        "a fresh database is not current: {before:?}"
    );
    store.migrate().await.unwrap();
    assert!(store.migrations_current().await.unwrap());
}

// ---------------------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------------------

async fn timestamps_round_trip_at_microsecond_precision(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let at = fixed_instant();
    assert_eq!(at.microsecond(), 123_456);
    // One before the Unix epoch (negative microseconds on SQLite) and one with a non-UTC offset.
    let before_epoch = OffsetDateTime::from_unix_timestamp_nanos(-14_182_939_876_544_000).unwrap();
    let offset =
        at.to_offset(time::UtcOffset::from_hms(5, 30, 0).unwrap()) + Duration::microseconds(1);
    let mut t = tenant("clock");
    t.created_at = before_epoch;
    t.updated_at = offset;
    let mut key = api_key(Some(&t), "clock", at);
    key.expires_at = Some(at + Duration::days(30));
    let ev = event(&t, "tenant.created", "tenant", at);

    let mut tx = store.begin().await.unwrap();
    tenants::insert(&mut tx, &t).await.unwrap();
    api_keys::insert(&mut tx, &key, b"clock-hash")
        .await
        .unwrap();
    let seq = events::append(&mut tx, &ev).await.unwrap();
    tx.commit().await.unwrap();

    let mut c = store.conn().await.unwrap();
    let back = tenants::by_id(&mut c, t.id).await.unwrap().unwrap();
    assert_eq!(back.created_at, before_epoch);
    assert_eq!(
        back.updated_at, offset,
        "the same instant, whatever offset it was written with"
    );
    assert_eq!(back.updated_at.microsecond(), 123_457);
    let key_back = api_keys::by_id(&mut c, key.id).await.unwrap().unwrap();
    assert_eq!(key_back.created_at, at);
    assert_eq!(key_back.expires_at, Some(at + Duration::days(30)));
    assert_eq!(key_back.revoked_at, None);
    let ev_back = events::range(&mut c, t.id, 0, i64::MAX, 10).await.unwrap();
    assert_eq!(ev_back.len(), 1);
    assert_eq!(ev_back[0].seq, seq);
    assert_eq!(ev_back[0].occurred_at, at);
}

async fn digits_below_a_microsecond_are_dropped_on_both_engines(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let mut t = tenant("nanos");
    t.created_at = fixed_instant() + Duration::nanoseconds(789);
    add_tenant_exact(&store, &t).await;
    let mut c = store.conn().await.unwrap();
    let back = tenants::by_id(&mut c, t.id).await.unwrap().unwrap();
    assert_eq!(
        back.created_at,
        fixed_instant(),
        "nanoseconds are truncated, never rounded up"
    );
}

async fn add_tenant_exact(store: &Db, t: &Tenant) {
    let mut tx = store.begin().await.unwrap();
    tenants::insert(&mut tx, t).await.unwrap();
    tx.commit().await.unwrap();
}

// ---------------------------------------------------------------------------------------------------
// Tenants
// ---------------------------------------------------------------------------------------------------

async fn a_tenant_is_found_by_slug_and_by_id_and_tenants_list_in_slug_order(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let beta = add_tenant(&store, "beta").await;
    let alpha2 = add_tenant(&store, "alpha-2").await;
    let alpha = add_tenant(&store, "alpha").await;
    let mut c = store.conn().await.unwrap();
    assert_eq!(
        tenants::by_slug(&mut c, "beta").await.unwrap(),
        Some(beta.clone())
    );
    assert_eq!(
        tenants::by_id(&mut c, alpha.id).await.unwrap(),
        Some(alpha.clone())
    );
    assert_eq!(tenants::by_slug(&mut c, "gamma").await.unwrap(), None);
    assert_eq!(tenants::by_id(&mut c, TenantId::new()).await.unwrap(), None);
    assert_eq!(
        tenants::list(&mut c).await.unwrap(),
        vec![alpha, alpha2, beta]
    );
}

async fn a_tenant_slug_is_taken_once(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let first = add_tenant(&store, "acme").await;
    let mut second = tenant("acme");
    second.name = "Impostor".to_owned();
    let mut tx = store.begin().await.unwrap();
    assert_conflict(tenants::insert(&mut tx, &second).await);
    drop(tx);
    let mut c = store.conn().await.unwrap();
    assert_eq!(tenants::list(&mut c).await.unwrap(), vec![first]);
}

async fn a_tenant_update_with_a_stale_version_changes_nothing(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;

    let mut v2 = t.clone();
    v2.name = "Acme Two".to_owned();
    v2.version = 2;
    v2.updated_at = t.updated_at + Duration::seconds(1);
    let mut tx = store.begin().await.unwrap();
    assert!(tenants::update(&mut tx, &v2, 1).await.unwrap());
    tx.commit().await.unwrap();

    // A writer that still believes in version 1 loses.
    let mut stale = t.clone();
    stale.name = "Lost Update".to_owned();
    stale.version = 2;
    let mut tx = store.begin().await.unwrap();
    assert!(!tenants::update(&mut tx, &stale, 1).await.unwrap());
    tx.commit().await.unwrap();

    let mut c = store.conn().await.unwrap();
    assert_eq!(tenants::by_id(&mut c, t.id).await.unwrap(), Some(v2));
}

// ---------------------------------------------------------------------------------------------------
// Identities
// ---------------------------------------------------------------------------------------------------

async fn an_identity_reads_back_equal_with_identifiers_sorted_by_kind_then_value(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let written = identity(
        &t,
        IdentityState::Prospect,
        vec![
            ident(IdentifierKind::Username, "zed", false),
            ident(IdentifierKind::Phone, "+14155550100", false),
            ident(IdentifierKind::Email, "b@example.com", false),
            ident(IdentifierKind::Email, "a@example.com", true),
        ],
        json!({"plan": "pro", "age": 42, "vip": true, "score": 4.5, "address": {"city": "São Paulo", "zip": "01000"}, "tags": ["x", "y"]}),
    );
    add_identity(&store, &written).await;

    let mut expected = written.clone();
    expected.identifiers = vec![
        ident(IdentifierKind::Email, "a@example.com", true),
        ident(IdentifierKind::Email, "b@example.com", false),
        ident(IdentifierKind::Phone, "+14155550100", false),
        ident(IdentifierKind::Username, "zed", false),
    ];
    assert_eq!(get_identity(&store, &t, written.id).await, Some(expected));
    let mut c = store.conn().await.unwrap();
    assert_eq!(identities::count(&mut c, t.id).await.unwrap(), 1);
    // An identity is only visible inside its own tenant.
    let other = add_tenant(&store, "other").await;
    assert_eq!(get_identity(&store, &other, written.id).await, None);
}

async fn an_identifier_is_unique_in_a_tenant_and_the_losing_transaction_leaves_nothing(
    engine: Engine,
) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let holder = add_person(&store, &t, "ada@example.com").await;

    // The newcomer's username goes in first, then its email collides.
    let newcomer = identity(
        &t,
        IdentityState::Active,
        vec![
            ident(IdentifierKind::Username, "newcomer", true),
            email("ada@example.com"),
        ],
        json!({}),
    );
    let mut tx = store.begin().await.unwrap();
    assert_conflict(identities::insert(&mut tx, &newcomer).await);
    drop(tx);

    let mut c = store.conn().await.unwrap();
    assert_eq!(
        identities::get(&mut c, t.id, newcomer.id).await.unwrap(),
        None,
        "the identity row was rolled back"
    );
    assert_eq!(
        identities::by_identifier(&mut c, t.id, IdentifierKind::Username, "newcomer")
            .await
            .unwrap(),
        None,
        "the identifiers inserted before the collision were rolled back"
    );
    assert_eq!(
        identities::by_identifier(&mut c, t.id, IdentifierKind::Email, "ada@example.com")
            .await
            .unwrap(),
        Some(holder.id)
    );
    assert_eq!(identities::count(&mut c, t.id).await.unwrap(), 1);
}

async fn the_same_identifier_may_belong_to_one_identity_in_each_tenant(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let acme = add_tenant(&store, "acme").await;
    let globex = add_tenant(&store, "globex").await;
    let at_acme = add_person(&store, &acme, "ada@example.com").await;
    let at_globex = add_person(&store, &globex, "ada@example.com").await;
    let mut c = store.conn().await.unwrap();
    assert_eq!(
        identities::by_identifier(&mut c, acme.id, IdentifierKind::Email, "ada@example.com")
            .await
            .unwrap(),
        Some(at_acme.id)
    );
    assert_eq!(
        identities::by_identifier(&mut c, globex.id, IdentifierKind::Email, "ada@example.com")
            .await
            .unwrap(),
        Some(at_globex.id)
    );
}

async fn by_identifier_matches_the_exact_kind_and_normalised_value(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let i = identity(
        &t,
        IdentityState::Active,
        vec![ident(IdentifierKind::Username, "ada", true)],
        json!({}),
    );
    add_identity(&store, &i).await;
    let mut c = store.conn().await.unwrap();
    assert_eq!(
        identities::by_identifier(&mut c, t.id, IdentifierKind::Username, "ada")
            .await
            .unwrap(),
        Some(i.id)
    );
    assert_eq!(
        identities::by_identifier(&mut c, t.id, IdentifierKind::Email, "ada")
            .await
            .unwrap(),
        None,
        "another kind"
    );
    assert_eq!(
        identities::by_identifier(&mut c, t.id, IdentifierKind::Username, "Ada")
            .await
            .unwrap(),
        None,
        "values compare exactly"
    );
    assert_eq!(
        identities::by_identifier(&mut c, t.id, IdentifierKind::Username, "ad")
            .await
            .unwrap(),
        None
    );
}

async fn an_identity_holds_any_number_of_credentials_of_a_kind_told_apart_by_handle(
    engine: Engine,
) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let ada = add_person(&store, &t, "ada@example.com").await;
    let now = OffsetDateTime::now_utc();
    let mut tx = store.begin().await.unwrap();
    for (handle, data) in [("key-1", r#"{"n":1}"#), ("key-2", r#"{"n":2}"#)] {
        tessera_store::credentials::put(&mut tx, t.id, ada.id, "passkey", handle, data, now)
            .await
            .unwrap();
    }
    // The same handle again replaces that credential's data; it does not add a third.
    tessera_store::credentials::put(&mut tx, t.id, ada.id, "passkey", "key-1", r#"{"n":3}"#, now)
        .await
        .unwrap();
    tessera_store::credentials::put(&mut tx, t.id, ada.id, "password", "", r#"{"phc":"x"}"#, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut c = store.conn().await.unwrap();
    let keys = tessera_store::credentials::of_kind(&mut c, ada.id, "passkey")
        .await
        .unwrap();
    let data: Vec<&str> = keys.iter().map(|k| k.data.as_str()).collect();
    assert_eq!(data, [r#"{"n":3}"#, r#"{"n":2}"#]);
    assert_ne!(keys[0].id, keys[1].id, "each credential has its own id");
    assert_eq!(
        tessera_store::credentials::of_identity(&mut c, ada.id)
            .await
            .unwrap()
            .len(),
        3
    );
    drop(c);
    // A compare-and-set with stale data changes nothing; one with the stored data wins.
    let mut tx = store.begin().await.unwrap();
    assert!(
        !tessera_store::credentials::replace_if(&mut tx, keys[1].id, r#"{"n":9}"#, "{}", now)
            .await
            .unwrap()
    );
    assert!(
        tessera_store::credentials::replace_if(&mut tx, keys[1].id, r#"{"n":2}"#, "{}", now)
            .await
            .unwrap()
    );
    // One credential goes by id; removing it twice, or for another identity, finds nothing.
    assert!(
        tessera_store::credentials::delete(&mut tx, ada.id, keys[0].id)
            .await
            .unwrap()
    );
    assert!(
        !tessera_store::credentials::delete(&mut tx, ada.id, keys[0].id)
            .await
            .unwrap()
    );
    assert_eq!(
        tessera_store::credentials::delete_all(&mut tx, ada.id)
            .await
            .unwrap(),
        2
    );
    tx.commit().await.unwrap();
}

async fn a_sign_in_candidate_carries_state_and_password_in_one_read(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let with_password = add_person(&store, &t, "ada@example.com").await;
    let without = add_person(&store, &t, "bob@example.com").await;
    let mut tx = store.begin().await.unwrap();
    tessera_store::credentials::put(
        &mut tx,
        t.id,
        with_password.id,
        "password",
        "",
        r#"{"phc":"$argon2id$stored"}"#,
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut c = store.conn().await.unwrap();
    let found = identities::sign_in_candidate(
        &mut c,
        t.id,
        IdentifierKind::Email,
        "ada@example.com",
        "password",
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(found.identity, with_password.id);
    assert_eq!(found.state, with_password.state);
    assert_eq!(
        found.credential.as_ref().map(|(_, data)| data.as_str()),
        Some(r#"{"phc":"$argon2id$stored"}"#)
    );
    let found = identities::sign_in_candidate(
        &mut c,
        t.id,
        IdentifierKind::Email,
        "bob@example.com",
        "password",
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(found.identity, without.id);
    assert_eq!(found.credential, None, "an account without a password");
    for (kind, value, cred) in [
        (IdentifierKind::Email, "nobody@example.com", "password"),
        (IdentifierKind::Username, "ada@example.com", "password"),
    ] {
        assert_eq!(
            identities::sign_in_candidate(&mut c, t.id, kind, value, cred)
                .await
                .unwrap(),
            None
        );
    }
    let other = add_tenant(&store, "globex").await;
    assert_eq!(
        identities::sign_in_candidate(
            &mut c,
            other.id,
            IdentifierKind::Email,
            "ada@example.com",
            "password"
        )
        .await
        .unwrap(),
        None,
        "another tenant"
    );
}

async fn released_identifiers_can_be_taken_by_another_identity(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let old = add_person(&store, &t, "ada@example.com").await;
    let mut tx = store.begin().await.unwrap();
    identities::delete_identifiers(&mut tx, t.id, old.id)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        get_identity(&store, &t, old.id)
            .await
            .map(|i| i.identifiers),
        Some(vec![])
    );
    let new = add_person(&store, &t, "ada@example.com").await;
    let mut c = store.conn().await.unwrap();
    assert_eq!(
        identities::by_identifier(&mut c, t.id, IdentifierKind::Email, "ada@example.com")
            .await
            .unwrap(),
        Some(new.id)
    );
}

async fn an_identity_update_with_a_stale_version_changes_nothing(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let mut original = identity(
        &t,
        IdentityState::Active,
        vec![email("ada@example.com")],
        json!({"plan": "free"}),
    );
    add_identity(&store, &original).await;

    let mut v2 = original.clone();
    v2.state = IdentityState::Suspended;
    v2.attributes = attrs(json!({"plan": "pro", "seats": 3}));
    v2.version = 2;
    v2.updated_at = original.updated_at + Duration::minutes(1);
    let mut tx = store.begin().await.unwrap();
    assert!(identities::update(&mut tx, &v2, 1).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(
        get_identity(&store, &t, original.id).await,
        Some(v2.clone())
    );

    original.attributes = attrs(json!({"plan": "lost"}));
    original.version = 2;
    let mut tx = store.begin().await.unwrap();
    assert!(
        !identities::update(&mut tx, &original, 1).await.unwrap(),
        "version 1 is gone"
    );
    tx.commit().await.unwrap();
    assert_eq!(get_identity(&store, &t, v2.id).await, Some(v2));
}

async fn identity_pages_visit_every_identity_once_in_id_order(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let other = add_tenant(&store, "other").await;
    let mut written = BTreeMap::new();
    for n in 0..7 {
        let i = add_person(&store, &t, &format!("user{n}@example.com")).await;
        written.insert(i.id, i);
    }
    add_person(&store, &other, "stranger@example.com").await;

    let mut c = store.conn().await.unwrap();
    let filter = IdentityFilter::default();
    let mut sizes = Vec::new();
    let mut seen: Vec<IdentityId> = Vec::new();
    let mut after = None;
    loop {
        let page = identities::list(&mut c, t.id, &filter, after, 3)
            .await
            .unwrap();
        sizes.push(page.items.len());
        for item in &page.items {
            assert_eq!(
                Some(item),
                written.get(&item.id),
                "a listed identity equals what was written, identifiers included"
            );
        }
        seen.extend(page.items.iter().map(|i| i.id));
        match page.next_after {
            Some(cursor) => {
                assert_eq!(
                    Some(cursor),
                    page.items.last().map(|i| i.id.0),
                    "the cursor is the last id of the page"
                );
                after = Some(IdentityId(cursor));
            }
            None => break,
        }
    }
    assert_eq!(sizes, vec![3, 3, 1]);
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "ids strictly increase across pages: {seen:?}"
    );
    assert_eq!(
        seen,
        written.keys().copied().collect::<Vec<_>>(),
        "every identity exactly once, no stranger"
    );

    // A page that ends exactly at the last identity carries no cursor.
    let whole = identities::list(&mut c, t.id, &filter, None, 7)
        .await
        .unwrap();
    assert_eq!(whole.items.len(), 7);
    assert_eq!(whole.next_after, None);
    let past_end = identities::list(&mut c, t.id, &filter, seen.last().copied(), 3)
        .await
        .unwrap();
    assert!(past_end.items.is_empty() && past_end.next_after.is_none());
}

async fn identity_lists_filter_by_state(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let mut by_state = BTreeMap::new();
    for (n, s) in [
        IdentityState::Prospect,
        IdentityState::Active,
        IdentityState::Suspended,
        IdentityState::Active,
    ]
    .into_iter()
    .enumerate()
    {
        let i = identity(&t, s, vec![email(&format!("u{n}@example.com"))], json!({}));
        add_identity(&store, &i).await;
        by_state
            .entry(s.as_str())
            .or_insert_with(Vec::new)
            .push(i.id);
    }
    for s in [
        IdentityState::Prospect,
        IdentityState::Active,
        IdentityState::Suspended,
    ] {
        let filter = IdentityFilter {
            state: Some(s),
            ..Default::default()
        };
        assert_eq!(
            listed(&store, &t, &filter).await,
            by_state[s.as_str()],
            "state {}",
            s.as_str()
        );
    }
    let pending = IdentityFilter {
        state: Some(IdentityState::PendingDeletion),
        ..Default::default()
    };
    assert_eq!(listed(&store, &t, &pending).await, vec![]);
}

async fn identity_lists_filter_by_identifier(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let ada = identity(
        &t,
        IdentityState::Active,
        vec![
            email("ada@example.com"),
            ident(IdentifierKind::Username, "ada", true),
        ],
        json!({}),
    );
    add_identity(&store, &ada).await;
    add_person(&store, &t, "bob@example.com").await;
    let by_email = IdentityFilter {
        identifier: Some((IdentifierKind::Email, "ada@example.com".into())),
        ..Default::default()
    };
    assert_eq!(listed(&store, &t, &by_email).await, vec![ada.id]);
    let by_username = IdentityFilter {
        identifier: Some((IdentifierKind::Username, "ada".into())),
        ..Default::default()
    };
    assert_eq!(listed(&store, &t, &by_username).await, vec![ada.id]);
    let wrong_kind = IdentityFilter {
        identifier: Some((IdentifierKind::Email, "ada".into())),
        ..Default::default()
    };
    assert_eq!(listed(&store, &t, &wrong_kind).await, vec![]);
    // The listed identity still carries all of its identifiers, not only the matching one.
    let mut c = store.conn().await.unwrap();
    let page = identities::list(&mut c, t.id, &by_username, None, 10)
        .await
        .unwrap();
    assert_eq!(page.items.first().map(|i| i.identifiers.len()), Some(2));
}

async fn identity_lists_filter_by_the_json_text_of_an_attribute(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let a = identity(
        &t,
        IdentityState::Active,
        vec![email("a@example.com")],
        json!({"plan": "pro", "age": 42, "vip": true, "score": 4.5, "city": "São Paulo", "tiny": 1e-6}),
    );
    let b = identity(
        &t,
        IdentityState::Active,
        vec![email("b@example.com")],
        json!({"plan": "free", "age": 7, "vip": false, "score": 1}),
    );
    let c = identity(
        &t,
        IdentityState::Active,
        vec![email("c@example.com")],
        json!({"plan": "pro", "nick": null}),
    );
    for i in [&a, &b, &c] {
        add_identity(&store, i).await;
    }
    let cases: [(&str, &str, Vec<IdentityId>); 13] = [
        ("plan", "\"pro\"", vec![a.id, c.id]),
        ("plan", "\"free\"", vec![b.id]),
        ("tiny", "1e-6", vec![a.id]), // the engines print such numbers differently; values still match
        ("plan", "\"Pro\"", vec![]),
        ("age", "42", vec![a.id]),
        ("age", "\"42\"", vec![]), // the string "42" is not the number 42
        ("age", "4", vec![]),
        ("vip", "true", vec![a.id]),
        ("vip", "false", vec![b.id]),
        ("score", "4.5", vec![a.id]),
        ("city", "\"São Paulo\"", vec![a.id]),
        ("nick", "null", vec![c.id]),
        ("missing", "null", vec![]),
    ];
    for (name, value, want) in cases {
        let filter = IdentityFilter {
            attribute: Some((name.into(), value.into())),
            ..Default::default()
        };
        assert_eq!(
            listed(&store, &t, &filter).await,
            want,
            "attribute {name} = {value}"
        );
    }
    // Filters combine with AND.
    let both = IdentityFilter {
        attribute: Some(("plan".into(), "\"pro\"".into())),
        identifier: Some((IdentifierKind::Email, "c@example.com".into())),
        ..Default::default()
    };
    assert_eq!(listed(&store, &t, &both).await, vec![c.id]);
}

async fn identity_lists_filter_by_organization_membership(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let a = add_person(&store, &t, "a@example.com").await;
    let b = add_person(&store, &t, "b@example.com").await;
    let outsider = add_person(&store, &t, "c@example.com").await;
    let globex = organization(&t, "Globex", &["globex.example"]);
    let empty = organization(&t, "Empty", &[]);
    add_organization(&store, &globex).await;
    add_organization(&store, &empty).await;
    let mut tx = store.begin().await.unwrap();
    organizations::add_member(&mut tx, t.id, &member(&globex, &a, &["admin"], now()))
        .await
        .unwrap();
    organizations::add_member(&mut tx, t.id, &member(&globex, &b, &[], now()))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let members = IdentityFilter {
        organization: Some(globex.id),
        ..Default::default()
    };
    let got = listed(&store, &t, &members).await;
    assert_eq!(got, vec![a.id, b.id]);
    assert!(!got.contains(&outsider.id));
    let nobody = IdentityFilter {
        organization: Some(empty.id),
        ..Default::default()
    };
    assert_eq!(listed(&store, &t, &nobody).await, vec![]);
}

async fn deleted_identities_are_listed_only_when_asked_for(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let live = add_person(&store, &t, "live@example.com").await;
    let tombstone = identity(&t, IdentityState::Deleted, vec![], json!({}));
    add_identity(&store, &tombstone).await;
    let pending = identity(
        &t,
        IdentityState::PendingDeletion,
        vec![email("pending@example.com")],
        json!({}),
    );
    add_identity(&store, &pending).await;

    assert_eq!(
        listed(&store, &t, &IdentityFilter::default()).await,
        vec![live.id, pending.id],
        "tombstones are hidden by default"
    );
    let deleted = IdentityFilter {
        state: Some(IdentityState::Deleted),
        ..Default::default()
    };
    assert_eq!(listed(&store, &t, &deleted).await, vec![tombstone.id]);
    let everything = IdentityFilter {
        include_deleted: true,
        ..Default::default()
    };
    assert_eq!(
        listed(&store, &t, &everything).await,
        vec![live.id, tombstone.id, pending.id]
    );
}

async fn an_identity_key_is_kept_until_destroyed(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let ada = add_person(&store, &t, "ada@example.com").await;
    let bob = add_person(&store, &t, "bob@example.com").await;
    let keyless = add_person(&store, &t, "keyless@example.com").await;
    let ada_key: Vec<u8> = (0u8..48).collect();
    let bob_key = vec![0u8, 255, 1, 254];
    let mut tx = store.begin().await.unwrap();
    identities::insert_key(&mut tx, t.id, ada.id, &ada_key, now())
        .await
        .unwrap();
    identities::insert_key(&mut tx, t.id, bob.id, &bob_key, now())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    {
        let mut c = store.conn().await.unwrap();
        assert_eq!(
            identities::key(&mut c, ada.id).await.unwrap(),
            Some(ada_key)
        );
        assert_eq!(identities::key(&mut c, keyless.id).await.unwrap(), None);
    }
    let mut tx = store.begin().await.unwrap();
    identities::destroy_key(&mut tx, ada.id, now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut c = store.conn().await.unwrap();
    assert_eq!(
        identities::key(&mut c, ada.id).await.unwrap(),
        None,
        "a destroyed key is gone"
    );
    assert_eq!(
        identities::key(&mut c, bob.id).await.unwrap(),
        Some(bob_key),
        "other keys are untouched"
    );
}

// ---------------------------------------------------------------------------------------------------
// Signing keys
// ---------------------------------------------------------------------------------------------------

fn signing_key(
    t: &Tenant,
    kid: &str,
    alg: &str,
    state: KeyState,
) -> signing_keys::StoredSigningKey {
    signing_keys::StoredSigningKey {
        tenant_id: t.id,
        kid: kid.to_owned(),
        alg: alg.to_owned(),
        state,
        private_key: Some(vec![0, 1, 2, 255]),
        public_jwk: format!(r#"{{"kid":"{kid}"}}"#),
        created_at: fixed_instant(),
        activated_at: (state == KeyState::Active).then(fixed_instant),
        retiring_at: None,
        retired_at: None,
    }
}

async fn put_key(store: &Db, k: &signing_keys::StoredSigningKey) -> Result<(), StoreError> {
    let mut tx = store.begin().await.unwrap();
    signing_keys::insert(&mut tx, k).await?;
    tx.commit().await.unwrap();
    Ok(())
}

async fn a_signing_key_reads_back_moves_forward_once_and_loses_its_private_part_when_retired(
    engine: Engine,
) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let next = signing_key(&t, "n1", "ES256", KeyState::Next);
    let active = signing_key(&t, "a1", "ES256", KeyState::Active);
    put_key(&store, &next).await.unwrap();
    put_key(&store, &active).await.unwrap();
    let mut c = store.conn().await.unwrap();
    let mut published = signing_keys::published(&mut c, t.id).await.unwrap();
    published.sort_by(|a, b| a.kid.cmp(&b.kid));
    assert_eq!(published, vec![active.clone(), next.clone()]);
    drop(c);

    // The active key starts retiring; a second writer expecting it still active moves nothing.
    let later = fixed_instant() + Duration::hours(1);
    let mut tx = store.begin().await.unwrap();
    assert!(
        signing_keys::advance(&mut tx, t.id, "a1", KeyState::Active, later)
            .await
            .unwrap()
    );
    assert!(
        !signing_keys::advance(&mut tx, t.id, "a1", KeyState::Active, later)
            .await
            .unwrap()
    );
    assert!(
        signing_keys::advance(&mut tx, t.id, "n1", KeyState::Next, later)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let mut c = store.conn().await.unwrap();
    let retiring = signing_keys::in_state(&mut c, t.id, "ES256", KeyState::Retiring)
        .await
        .unwrap();
    assert_eq!(retiring.len(), 1);
    assert_eq!(retiring[0].retiring_at, Some(later));
    assert_eq!(
        signing_keys::in_state(&mut c, t.id, "ES256", KeyState::Active)
            .await
            .unwrap()[0]
            .activated_at,
        Some(later)
    );
    // Retirement is due only once the cutoff reaches the time it began retiring.
    assert!(
        signing_keys::retiring_since(&mut c, t.id, later - Duration::microseconds(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        signing_keys::retiring_since(&mut c, t.id, later)
            .await
            .unwrap()
            .len(),
        1
    );
    drop(c);
    let mut tx = store.begin().await.unwrap();
    assert!(
        signing_keys::advance(&mut tx, t.id, "a1", KeyState::Retiring, later)
            .await
            .unwrap()
    );
    assert!(
        !signing_keys::advance(&mut tx, t.id, "a1", KeyState::Retired, later)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let mut c = store.conn().await.unwrap();
    let all = signing_keys::all(&mut c, t.id).await.unwrap();
    let retired = all.iter().find(|k| k.kid == "a1").unwrap();
    assert_eq!(
        (retired.state, retired.private_key.as_ref()),
        (KeyState::Retired, None)
    );
    assert_eq!(retired.retired_at, Some(later));
    let published: Vec<_> = signing_keys::published(&mut c, t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(published, ["n1"]);
}

async fn a_tenant_has_at_most_one_active_and_one_next_key_per_algorithm(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let other = add_tenant(&store, "other").await;
    put_key(&store, &signing_key(&t, "a1", "ES256", KeyState::Active))
        .await
        .unwrap();
    put_key(&store, &signing_key(&t, "n1", "ES256", KeyState::Next))
        .await
        .unwrap();
    assert_conflict(put_key(&store, &signing_key(&t, "a2", "ES256", KeyState::Active)).await);
    assert_conflict(put_key(&store, &signing_key(&t, "n2", "ES256", KeyState::Next)).await);
    assert_conflict(put_key(&store, &signing_key(&t, "a1", "ES256", KeyState::Retiring)).await);
    // Other algorithms, retiring keys and other tenants are free.
    put_key(&store, &signing_key(&t, "r1", "RS256", KeyState::Active))
        .await
        .unwrap();
    put_key(
        &store,
        &signing_key(&t, "old1", "ES256", KeyState::Retiring),
    )
    .await
    .unwrap();
    put_key(
        &store,
        &signing_key(&t, "old2", "ES256", KeyState::Retiring),
    )
    .await
    .unwrap();
    put_key(
        &store,
        &signing_key(&other, "a1", "ES256", KeyState::Active),
    )
    .await
    .unwrap();
    // Promoting the next key while an active one exists is refused by the index, not by luck.
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        signing_keys::advance(&mut tx, t.id, "n1", KeyState::Next, now()).await,
        Err(StoreError::Conflict { .. })
    ));
    drop(tx);
    let mut c = store.conn().await.unwrap();
    assert_eq!(
        signing_keys::published(&mut c, t.id).await.unwrap().len(),
        5
    );
    assert_eq!(
        signing_keys::published(&mut c, other.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

// ---------------------------------------------------------------------------------------------------
// Organizations
// ---------------------------------------------------------------------------------------------------

async fn an_organization_reads_back_with_its_domains_sorted(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let other = add_tenant(&store, "other").await;
    let globex = organization(
        &t,
        "Globex",
        &["zeta.example", "acme.example", "mid.example"],
    );
    let initech = organization(&t, "Initech", &[]);
    let elsewhere = organization(&other, "Elsewhere", &["else.example"]);
    for o in [&initech, &globex, &elsewhere] {
        add_organization(&store, o).await;
    }
    let mut expected = globex.clone();
    expected.domains = vec![
        "acme.example".into(),
        "mid.example".into(),
        "zeta.example".into(),
    ];

    let mut c = store.conn().await.unwrap();
    assert_eq!(
        organizations::get(&mut c, t.id, globex.id).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        organizations::by_name(&mut c, t.id, "Globex")
            .await
            .unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        organizations::by_name(&mut c, t.id, "Elsewhere")
            .await
            .unwrap(),
        None,
        "names are per tenant"
    );
    assert_eq!(
        organizations::get(&mut c, other.id, globex.id)
            .await
            .unwrap(),
        None,
        "ids are per tenant"
    );
    assert_eq!(
        organizations::list(&mut c, t.id).await.unwrap(),
        vec![expected, initech]
    );
}

async fn a_domain_and_a_name_belong_to_one_organization_per_tenant(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let other = add_tenant(&store, "other").await;
    let globex = organization(&t, "Globex", &["globex.example"]);
    add_organization(&store, &globex).await;

    let thief = organization(&t, "Thief", &["thief.example", "globex.example"]);
    let mut tx = store.begin().await.unwrap();
    assert_conflict(organizations::insert(&mut tx, &thief).await);
    drop(tx);
    let twin = organization(&t, "Globex", &[]);
    let mut tx = store.begin().await.unwrap();
    assert_conflict(organizations::insert(&mut tx, &twin).await);
    drop(tx);

    // The same domain and name in another tenant are fine.
    add_organization(&store, &organization(&other, "Globex", &["globex.example"])).await;
    let mut c = store.conn().await.unwrap();
    assert_eq!(
        organizations::get(&mut c, t.id, thief.id).await.unwrap(),
        None
    );
    assert_eq!(
        organizations::list(&mut c, t.id).await.unwrap(),
        vec![globex]
    );
    assert_eq!(
        organizations::list(&mut c, other.id).await.unwrap().len(),
        1
    );
}

async fn an_organization_update_replaces_its_domains_only_at_the_current_version(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let o = organization(&t, "Globex", &["old.example"]);
    add_organization(&store, &o).await;

    let mut v2 = o.clone();
    v2.name = "Globex Corp".into();
    v2.domains = vec!["new.example".into(), "b.example".into()];
    v2.version = 2;
    let mut tx = store.begin().await.unwrap();
    assert!(organizations::update(&mut tx, &v2, 1).await.unwrap());
    tx.commit().await.unwrap();

    let mut stale = o.clone();
    stale.domains = vec!["stale.example".into()];
    stale.version = 2;
    let mut tx = store.begin().await.unwrap();
    assert!(!organizations::update(&mut tx, &stale, 1).await.unwrap());
    tx.commit().await.unwrap();

    let mut expected = v2;
    expected.domains = vec!["b.example".into(), "new.example".into()];
    let mut c = store.conn().await.unwrap();
    assert_eq!(
        organizations::get(&mut c, t.id, o.id).await.unwrap(),
        Some(expected)
    );
}

async fn members_join_once_change_roles_and_leave(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let ada = add_person(&store, &t, "ada@example.com").await;
    let bob = add_person(&store, &t, "bob@example.com").await;
    let stranger = add_person(&store, &t, "stranger@example.com").await;
    let o = organization(&t, "Globex", &[]);
    add_organization(&store, &o).await;
    let first = now();
    let ada_m = member(&o, &ada, &["admin", "billing"], first);
    let bob_m = member(&o, &bob, &[], first + Duration::seconds(1));
    let mut tx = store.begin().await.unwrap();
    organizations::add_member(&mut tx, t.id, &ada_m)
        .await
        .unwrap();
    organizations::add_member(&mut tx, t.id, &bob_m)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_conflict(
        organizations::add_member(&mut tx, t.id, &member(&o, &ada, &["viewer"], now())).await,
    );
    drop(tx);
    {
        let mut c = store.conn().await.unwrap();
        assert_eq!(
            organizations::members(&mut c, o.id).await.unwrap(),
            vec![ada_m.clone(), bob_m.clone()],
            "oldest first"
        );
        assert_eq!(
            organizations::member(&mut c, o.id, ada.id).await.unwrap(),
            Some(ada_m.clone()),
            "the duplicate changed nothing"
        );
    }

    let mut tx = store.begin().await.unwrap();
    assert!(
        organizations::set_member_roles(&mut tx, o.id, ada.id, &["viewer".to_owned()])
            .await
            .unwrap()
    );
    assert!(
        !organizations::set_member_roles(&mut tx, o.id, stranger.id, &["admin".to_owned()])
            .await
            .unwrap(),
        "not a member"
    );
    tx.commit().await.unwrap();
    {
        let mut c = store.conn().await.unwrap();
        let got = organizations::member(&mut c, o.id, ada.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.roles, vec!["viewer".to_owned()]);
        assert_eq!(got.created_at, first, "changing roles keeps the join time");
        assert_eq!(
            organizations::member(&mut c, o.id, stranger.id)
                .await
                .unwrap(),
            None
        );
    }

    let mut tx = store.begin().await.unwrap();
    assert!(
        organizations::remove_member(&mut tx, o.id, ada.id)
            .await
            .unwrap()
    );
    assert!(
        !organizations::remove_member(&mut tx, o.id, ada.id)
            .await
            .unwrap(),
        "already gone"
    );
    tx.commit().await.unwrap();
    let mut c = store.conn().await.unwrap();
    assert_eq!(
        organizations::members(&mut c, o.id).await.unwrap(),
        vec![bob_m]
    );
    assert!(
        identities::get(&mut c, t.id, ada.id)
            .await
            .unwrap()
            .is_some(),
        "leaving does not delete the identity"
    );
}

async fn deleting_an_organization_removes_its_memberships_and_frees_its_domains(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let ada = add_person(&store, &t, "ada@example.com").await;
    let o = organization(&t, "Globex", &["globex.example", "globex.test"]);
    let keep = organization(&t, "Initech", &["initech.example"]);
    add_organization(&store, &o).await;
    add_organization(&store, &keep).await;
    let mut tx = store.begin().await.unwrap();
    organizations::add_member(&mut tx, t.id, &member(&o, &ada, &["admin"], now()))
        .await
        .unwrap();
    organizations::add_member(&mut tx, t.id, &member(&keep, &ada, &["viewer"], now()))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert!(organizations::delete(&mut tx, t.id, o.id).await.unwrap());
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(
        !organizations::delete(&mut tx, t.id, o.id).await.unwrap(),
        "deleting twice finds nothing"
    );
    tx.commit().await.unwrap();

    {
        let mut c = store.conn().await.unwrap();
        assert_eq!(organizations::get(&mut c, t.id, o.id).await.unwrap(), None);
        assert_eq!(organizations::members(&mut c, o.id).await.unwrap(), vec![]);
        assert_eq!(
            organizations::member(&mut c, keep.id, ada.id)
                .await
                .unwrap()
                .map(|m| m.roles),
            Some(vec!["viewer".to_owned()])
        );
        assert!(
            identities::get(&mut c, t.id, ada.id)
                .await
                .unwrap()
                .is_some(),
            "members stay identities"
        );
    }
    // Its domains are free again.
    let heir = organization(&t, "Heir", &["globex.example", "globex.test"]);
    add_organization(&store, &heir).await;
    let mut c = store.conn().await.unwrap();
    assert_eq!(
        organizations::get(&mut c, t.id, heir.id)
            .await
            .unwrap()
            .map(|o| o.domains.len()),
        Some(2)
    );
    assert_eq!(
        organizations::get(&mut c, t.id, keep.id)
            .await
            .unwrap()
            .map(|o| o.domains),
        Some(vec!["initech.example".to_owned()])
    );
}

// ---------------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------------

async fn policy_versions_form_a_history_newest_first(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let versions: Vec<PolicyVersion> = (1..=3).map(|v| policy(&t, "tenant", v)).collect();
    for p in &versions {
        add_policy(&store, p).await;
    }
    let mut c = store.conn().await.unwrap();
    let newest_first: Vec<PolicyVersion> = versions.iter().rev().cloned().collect();
    assert_eq!(
        policies::history(&mut c, t.id, "tenant").await.unwrap(),
        newest_first
    );
    assert_eq!(
        policies::latest(&mut c, t.id, "tenant").await.unwrap(),
        Some(versions[2].clone())
    );
    assert_eq!(
        policies::version(&mut c, t.id, "tenant", 2).await.unwrap(),
        Some(versions[1].clone())
    );
    assert_eq!(
        policies::version(&mut c, t.id, "tenant", 4).await.unwrap(),
        None
    );
}

async fn a_policy_version_is_never_overwritten(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let v1 = policy(&t, "tenant", 1);
    add_policy(&store, &v1).await;
    let mut rival = policy(&t, "tenant", 1);
    rival.document = json!({"rival": true});
    rival.author = "someone else".into();
    let mut tx = store.begin().await.unwrap();
    assert_conflict(policies::insert(&mut tx, &rival).await);
    drop(tx);
    let mut c = store.conn().await.unwrap();
    assert_eq!(
        policies::history(&mut c, t.id, "tenant").await.unwrap(),
        vec![v1]
    );
}

async fn policy_scopes_and_tenants_have_separate_histories(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let other = add_tenant(&store, "other").await;
    let org_scope = format!("organization:{}", OrganizationId::new());
    let tenant_v1 = policy(&t, "tenant", 1);
    let tenant_v2 = policy(&t, "tenant", 2);
    let mut org_v1 = policy(&t, &org_scope, 1);
    org_v1.document = json!({"override": "org"});
    for p in [&tenant_v1, &tenant_v2, &org_v1] {
        add_policy(&store, p).await;
    }
    // Version 1 exists in both scopes and in another tenant without conflict.
    let other_v1 = policy(&other, "tenant", 1);
    add_policy(&store, &other_v1).await;

    let mut c = store.conn().await.unwrap();
    assert_eq!(
        policies::latest(&mut c, t.id, &org_scope).await.unwrap(),
        Some(org_v1.clone())
    );
    assert_eq!(
        policies::history(&mut c, t.id, &org_scope).await.unwrap(),
        vec![org_v1]
    );
    assert_eq!(
        policies::latest(&mut c, t.id, "tenant").await.unwrap(),
        Some(tenant_v2)
    );
    assert_eq!(
        policies::version(&mut c, t.id, "tenant", 1).await.unwrap(),
        Some(tenant_v1)
    );
    assert_eq!(
        policies::history(&mut c, other.id, "tenant").await.unwrap(),
        vec![other_v1]
    );
    assert_eq!(
        policies::latest(&mut c, other.id, &org_scope)
            .await
            .unwrap(),
        None
    );
}

// ---------------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------------

async fn an_api_key_is_found_by_its_secret_hash_and_its_live_name(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let mut k = api_key(Some(&t), "support-desk", now());
    k.role = Role::Privacy;
    k.expires_at = Some(now() + Duration::days(90));
    let hash = [7u8; 32];
    add_api_key(&store, &k, &hash).await;

    let mut c = store.conn().await.unwrap();
    assert_eq!(
        api_keys::by_secret_hash(&mut c, &hash).await.unwrap(),
        Some(k.clone())
    );
    assert_eq!(
        api_keys::by_secret_hash(&mut c, &[8u8; 32]).await.unwrap(),
        None
    );
    assert_eq!(
        api_keys::by_secret_hash(&mut c, &hash[..31]).await.unwrap(),
        None,
        "a prefix of the hash is not the hash"
    );
    assert_eq!(
        api_keys::live_by_name(&mut c, "support-desk")
            .await
            .unwrap(),
        Some(k.clone())
    );
    assert_eq!(
        api_keys::live_by_name(&mut c, "support").await.unwrap(),
        None
    );
    assert_eq!(
        api_keys::by_id(&mut c, k.id).await.unwrap(),
        Some(k.clone())
    );
    assert!(api_keys::secret_matches(&mut c, k.id, &hash).await.unwrap());
    assert!(
        !api_keys::secret_matches(&mut c, k.id, &[8u8; 32])
            .await
            .unwrap()
    );
    assert_eq!(api_keys::count(&mut c).await.unwrap(), 1);
}

async fn a_key_is_revoked_once_and_stays_findable_by_hash(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let k = api_key(None, "ops", now());
    add_api_key(&store, &k, b"ops-hash").await;
    let revoked_at = now() + Duration::seconds(5);
    let mut tx = store.begin().await.unwrap();
    assert!(api_keys::revoke(&mut tx, k.id, revoked_at).await.unwrap());
    assert!(
        !api_keys::revoke(&mut tx, k.id, revoked_at + Duration::seconds(1))
            .await
            .unwrap(),
        "already revoked"
    );
    assert!(
        !api_keys::revoke(&mut tx, ApiKeyId::new(), revoked_at)
            .await
            .unwrap(),
        "no such key"
    );
    tx.commit().await.unwrap();

    let mut c = store.conn().await.unwrap();
    let mut expected = k.clone();
    expected.revoked_at = Some(revoked_at);
    assert_eq!(
        api_keys::by_id(&mut c, k.id).await.unwrap(),
        Some(expected.clone()),
        "the first revocation time stays"
    );
    assert_eq!(
        api_keys::by_secret_hash(&mut c, b"ops-hash").await.unwrap(),
        Some(expected),
        "callers see the revocation"
    );
    assert_eq!(api_keys::live_by_name(&mut c, "ops").await.unwrap(), None);
}

async fn a_key_name_is_unique_among_live_keys_only(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let first = api_key(None, "ci", now());
    add_api_key(&store, &first, b"hash-1").await;

    let twin = api_key(None, "ci", now());
    let mut tx = store.begin().await.unwrap();
    assert_conflict(api_keys::insert(&mut tx, &twin, b"hash-2").await);
    drop(tx);
    let same_secret = api_key(None, "other-name", now());
    let mut tx = store.begin().await.unwrap();
    assert_conflict(api_keys::insert(&mut tx, &same_secret, b"hash-1").await);
    drop(tx);

    let mut tx = store.begin().await.unwrap();
    assert!(api_keys::revoke(&mut tx, first.id, now()).await.unwrap());
    tx.commit().await.unwrap();
    let successor = api_key(None, "ci", now());
    add_api_key(&store, &successor, b"hash-3").await;

    let mut c = store.conn().await.unwrap();
    assert_eq!(
        api_keys::live_by_name(&mut c, "ci").await.unwrap(),
        Some(successor)
    );
    assert_eq!(
        api_keys::count(&mut c).await.unwrap(),
        2,
        "the refused keys were not stored"
    );
}

async fn api_keys_list_for_one_tenant_or_for_the_whole_deployment(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let acme = add_tenant(&store, "acme").await;
    let globex = add_tenant(&store, "globex").await;
    let start = now();
    let global = api_key(None, "operator", start);
    let for_acme = api_key(Some(&acme), "acme-support", start + Duration::seconds(1));
    let for_globex = api_key(
        Some(&globex),
        "globex-support",
        start + Duration::seconds(2),
    );
    let for_acme_too = api_key(Some(&acme), "acme-readonly", start + Duration::seconds(3));
    // Inserted out of order: the list orders by creation time.
    add_api_key(&store, &for_acme_too, b"h4").await;
    add_api_key(&store, &for_globex, b"h3").await;
    add_api_key(&store, &global, b"h1").await;
    add_api_key(&store, &for_acme, b"h2").await;

    let mut c = store.conn().await.unwrap();
    assert_eq!(
        api_keys::list(&mut c, None).await.unwrap(),
        vec![
            global,
            for_acme.clone(),
            for_globex.clone(),
            for_acme_too.clone()
        ]
    );
    assert_eq!(
        api_keys::list(&mut c, Some(acme.id)).await.unwrap(),
        vec![for_acme, for_acme_too]
    );
    assert_eq!(
        api_keys::list(&mut c, Some(globex.id)).await.unwrap(),
        vec![for_globex]
    );
    assert_eq!(
        api_keys::list(&mut c, Some(TenantId::new())).await.unwrap(),
        vec![]
    );
}

// ---------------------------------------------------------------------------------------------------
// Events and checkpoints
// ---------------------------------------------------------------------------------------------------

async fn appended_events_get_increasing_sequence_numbers_and_read_back_equal(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let ada = add_person(&store, &t, "ada@example.com").await;
    let at = now();
    let mut personal = event(&t, "identity.created", &format!("identity:{}", ada.id), at);
    personal.request_id = Some("req-1".into());
    personal.sealed = Some(vec![0, 1, 2, 254, 255]);
    personal.sealed_for = Some(ada.id);
    personal.actor = format!("api_key:{}", ApiKeyId::new());
    let written = append_all(
        &store,
        vec![
            event(&t, "tenant.created", "tenant", at),
            personal,
            event(&t, "policy.updated", "policy:tenant", at),
        ],
    )
    .await;
    let more = append_all(&store, vec![event(&t, "tenant.updated", "tenant", at)]).await;
    let all: Vec<StoredEvent> = written.into_iter().chain(more).collect();
    assert!(
        all.windows(2).all(|w| w[0].seq < w[1].seq),
        "seq increases: {:?}",
        seqs(&all)
    );

    let mut c = store.conn().await.unwrap();
    assert_eq!(
        events::query(&mut c, t.id, &EventFilter::default(), 0, 100)
            .await
            .unwrap(),
        all
    );
}

async fn event_queries_narrow_by_subject_type_time_and_position(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let other = add_tenant(&store, "other").await;
    let t0 = fixed_instant();
    let (t1, t2, t3) = (
        t0 + Duration::seconds(1),
        t0 + Duration::seconds(2),
        t0 + Duration::seconds(3),
    );
    let evs = append_all(
        &store,
        vec![
            event(&t, "identity.created", "identity:a", t0),
            event(&t, "identity.updated", "identity:a", t1),
            event(&t, "identity.created", "identity:b", t2),
            event(&other, "identity.created", "identity:a", t2),
            event(&t, "identity.suspended", "identity:a", t3),
        ],
    )
    .await;
    let mine: Vec<StoredEvent> = evs
        .iter()
        .filter(|e| e.tenant_id == t.id)
        .cloned()
        .collect();
    let q = |f: EventFilter, after: i64, limit: u32| {
        let store = store.clone();
        let tenant = t.id;
        async move {
            let mut c = store.conn().await.unwrap();
            seqs(
                &events::query(&mut c, tenant, &f, after, limit)
                    .await
                    .unwrap(),
            )
        }
    };
    let s = seqs(&mine);
    assert_eq!(
        q(EventFilter::default(), 0, 100).await,
        s,
        "only the tenant's own events"
    );
    assert_eq!(
        q(
            EventFilter {
                subject: Some("identity:a".into()),
                ..Default::default()
            },
            0,
            100
        )
        .await,
        vec![s[0], s[1], s[3]]
    );
    assert_eq!(
        q(
            EventFilter {
                kind: Some("identity.created".into()),
                ..Default::default()
            },
            0,
            100
        )
        .await,
        vec![s[0], s[2]]
    );
    assert_eq!(
        q(
            EventFilter {
                subject: Some("identity:a".into()),
                kind: Some("identity.created".into()),
                ..Default::default()
            },
            0,
            100
        )
        .await,
        vec![s[0]]
    );
    // `from` is inclusive, `until` exclusive.
    assert_eq!(
        q(
            EventFilter {
                from: Some(t1),
                until: Some(t3),
                ..Default::default()
            },
            0,
            100
        )
        .await,
        vec![s[1], s[2]]
    );
    assert_eq!(
        q(
            EventFilter {
                from: Some(t3),
                ..Default::default()
            },
            0,
            100
        )
        .await,
        vec![s[3]]
    );
    assert_eq!(
        q(
            EventFilter {
                until: Some(t0),
                ..Default::default()
            },
            0,
            100
        )
        .await,
        Vec::<i64>::new()
    );
    // One microsecond matters.
    assert_eq!(
        q(
            EventFilter {
                from: Some(t1 + Duration::microseconds(1)),
                ..Default::default()
            },
            0,
            100
        )
        .await,
        vec![s[2], s[3]]
    );
    // Position: strictly after `after`, at most `limit`.
    assert_eq!(q(EventFilter::default(), s[1], 100).await, vec![s[2], s[3]]);
    assert_eq!(q(EventFilter::default(), 0, 2).await, vec![s[0], s[1]]);
    assert_eq!(
        q(EventFilter::default(), s[3], 100).await,
        Vec::<i64>::new()
    );
}

async fn an_event_range_excludes_its_start_and_includes_its_end(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let other = add_tenant(&store, "other").await;
    let at = now();
    let evs = append_all(
        &store,
        vec![
            event(&t, "a", "tenant", at),
            event(&other, "x", "tenant", at),
            event(&t, "b", "tenant", at),
            event(&t, "c", "tenant", at),
            event(&t, "d", "tenant", at),
        ],
    )
    .await;
    let s: Vec<i64> = evs
        .iter()
        .filter(|e| e.tenant_id == t.id)
        .map(|e| e.seq)
        .collect();
    let mut c = store.conn().await.unwrap();
    assert_eq!(
        seqs(&events::range(&mut c, t.id, s[0], s[2], 100).await.unwrap()),
        vec![s[1], s[2]]
    );
    assert_eq!(
        seqs(&events::range(&mut c, t.id, 0, i64::MAX, 100).await.unwrap()),
        s,
        "to the end, own tenant only"
    );
    assert_eq!(
        seqs(&events::range(&mut c, t.id, 0, i64::MAX, 3).await.unwrap()),
        s[..3].to_vec(),
        "limit"
    );
    assert_eq!(
        seqs(
            &events::range(&mut c, t.id, s[3], i64::MAX, 100)
                .await
                .unwrap()
        ),
        Vec::<i64>::new()
    );
    assert_eq!(
        seqs(
            &events::range(&mut c, other.id, 0, i64::MAX, 100)
                .await
                .unwrap()
        ),
        vec![evs[1].seq]
    );
}

async fn last_seq_before_is_the_newest_event_strictly_older_than_the_cutoff(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let other = add_tenant(&store, "other").await;
    let t0 = fixed_instant();
    let (t1, t2) = (t0 + Duration::seconds(1), t0 + Duration::seconds(2));
    let evs = append_all(
        &store,
        vec![
            event(&t, "a", "tenant", t0),
            event(&t, "b", "tenant", t1),
            event(&t, "c", "tenant", t2),
            event(&other, "x", "tenant", t0),
        ],
    )
    .await;
    let s = seqs(&evs);
    let mut c = store.conn().await.unwrap();
    assert_eq!(
        events::last_seq_before(&mut c, t.id, 0, t2).await.unwrap(),
        Some(s[1])
    );
    assert_eq!(
        events::last_seq_before(&mut c, t.id, 0, t1).await.unwrap(),
        Some(s[0]),
        "an event at the cutoff is not before it"
    );
    assert_eq!(
        events::last_seq_before(&mut c, t.id, 0, t2 + Duration::microseconds(1))
            .await
            .unwrap(),
        Some(s[2])
    );
    assert_eq!(
        events::last_seq_before(&mut c, t.id, 0, t0).await.unwrap(),
        None
    );
    assert_eq!(
        events::last_seq_before(&mut c, t.id, s[1], t2)
            .await
            .unwrap(),
        None,
        "nothing after `after` is old enough"
    );
    assert_eq!(
        events::last_seq_before(&mut c, other.id, 0, t2)
            .await
            .unwrap(),
        Some(s[3]),
        "per tenant"
    );
}

async fn a_checkpoint_range_is_sealed_once_and_checkpoints_read_in_order(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    let t = add_tenant(&store, "acme").await;
    let other = add_tenant(&store, "other").await;
    let first = checkpoint(&t, 0, 10, 1);
    let second = checkpoint(&t, 10, 25, 2);
    let third = checkpoint(&t, 25, 26, 3);
    let mut tx = store.begin().await.unwrap();
    // Out of order on purpose.
    events::insert_checkpoint(&mut tx, &second).await.unwrap();
    events::insert_checkpoint(&mut tx, &third).await.unwrap();
    events::insert_checkpoint(&mut tx, &first).await.unwrap();
    tx.commit().await.unwrap();
    {
        let mut c = store.conn().await.unwrap();
        assert_eq!(
            events::last_checkpoint(&mut c, other.id).await.unwrap(),
            None
        );
    }

    // A racing sealer for the same start loses, even with a different end.
    let rival = checkpoint(&t, 10, 30, 9);
    let mut tx = store.begin().await.unwrap();
    assert_conflict(events::insert_checkpoint(&mut tx, &rival).await);
    drop(tx);
    // Another tenant's log has its own ranges.
    let theirs = checkpoint(&other, 0, 10, 4);
    let mut tx = store.begin().await.unwrap();
    events::insert_checkpoint(&mut tx, &theirs).await.unwrap();
    tx.commit().await.unwrap();

    let mut c = store.conn().await.unwrap();
    assert_eq!(
        events::checkpoints(&mut c, t.id).await.unwrap(),
        vec![first, second, third.clone()]
    );
    assert_eq!(
        events::last_checkpoint(&mut c, t.id).await.unwrap(),
        Some(third)
    );
    assert_eq!(
        events::checkpoints(&mut c, other.id).await.unwrap(),
        vec![theirs.clone()]
    );
    assert_eq!(
        events::last_checkpoint(&mut c, other.id).await.unwrap(),
        Some(theirs)
    );
}

// ---------------------------------------------------------------------------------------------------
// Instance meta
// ---------------------------------------------------------------------------------------------------

async fn instance_meta_keeps_the_first_value_written(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let store = open(&db).await;
    {
        let mut c = store.conn().await.unwrap();
        assert_eq!(meta::get(&mut c, "first_start").await.unwrap(), None);
    }
    let mut tx = store.begin().await.unwrap();
    assert!(
        meta::put_if_absent(&mut tx, "first_start", "node-a")
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(
        !meta::put_if_absent(&mut tx, "first_start", "node-b")
            .await
            .unwrap()
    );
    assert!(
        meta::put_if_absent(&mut tx, "other_key", "x")
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let mut c = store.conn().await.unwrap();
    assert_eq!(
        meta::get(&mut c, "first_start").await.unwrap().as_deref(),
        Some("node-a")
    );
    assert_eq!(
        meta::get(&mut c, "other_key").await.unwrap().as_deref(),
        Some("x")
    );
}

engine_tests!(
    a_checkpoint_moves_the_whole_log_into_the_database_file,
    migrating_twice_changes_nothing,
    migrations_are_current_only_after_migrate,
    timestamps_round_trip_at_microsecond_precision,
    digits_below_a_microsecond_are_dropped_on_both_engines,
    a_tenant_is_found_by_slug_and_by_id_and_tenants_list_in_slug_order,
    a_tenant_slug_is_taken_once,
    a_tenant_update_with_a_stale_version_changes_nothing,
    an_identity_reads_back_equal_with_identifiers_sorted_by_kind_then_value,
    an_identifier_is_unique_in_a_tenant_and_the_losing_transaction_leaves_nothing,
    the_same_identifier_may_belong_to_one_identity_in_each_tenant,
    by_identifier_matches_the_exact_kind_and_normalised_value,
    a_sign_in_candidate_carries_state_and_password_in_one_read,
    an_identity_holds_any_number_of_credentials_of_a_kind_told_apart_by_handle,
    released_identifiers_can_be_taken_by_another_identity,
    an_identity_update_with_a_stale_version_changes_nothing,
    identity_pages_visit_every_identity_once_in_id_order,
    identity_lists_filter_by_state,
    identity_lists_filter_by_identifier,
    identity_lists_filter_by_the_json_text_of_an_attribute,
    identity_lists_filter_by_organization_membership,
    deleted_identities_are_listed_only_when_asked_for,
    an_identity_key_is_kept_until_destroyed,
    a_signing_key_reads_back_moves_forward_once_and_loses_its_private_part_when_retired,
    a_tenant_has_at_most_one_active_and_one_next_key_per_algorithm,
    an_organization_reads_back_with_its_domains_sorted,
    a_domain_and_a_name_belong_to_one_organization_per_tenant,
    an_organization_update_replaces_its_domains_only_at_the_current_version,
    members_join_once_change_roles_and_leave,
    deleting_an_organization_removes_its_memberships_and_frees_its_domains,
    policy_versions_form_a_history_newest_first,
    a_policy_version_is_never_overwritten,
    policy_scopes_and_tenants_have_separate_histories,
    an_api_key_is_found_by_its_secret_hash_and_its_live_name,
    a_key_is_revoked_once_and_stays_findable_by_hash,
    a_key_name_is_unique_among_live_keys_only,
    api_keys_list_for_one_tenant_or_for_the_whole_deployment,
    appended_events_get_increasing_sequence_numbers_and_read_back_equal,
    event_queries_narrow_by_subject_type_time_and_position,
    an_event_range_excludes_its_start_and_includes_its_end,
    last_seq_before_is_the_newest_event_strictly_older_than_the_cutoff,
    a_checkpoint_range_is_sealed_once_and_checkpoints_read_in_order,
    instance_meta_keeps_the_first_value_written,
);
