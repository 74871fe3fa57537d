//! ADM-04: no default credentials. The first start mints one owner key, shown once, that expires; later
//! starts mint none; the database remembers the master key it was initialised with.
use std::sync::Arc;

use tessera_core::{Caller, Clock, CoreError, bootstrap};
use tessera_testkit::{Engine, TestClock, TestDb, base_env, config_from, engine_tests};

async fn adm_04_the_bootstrap_key_is_one_time_and_expires(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let mut env = base_env(&db, "unused");
    env.remove("TESSERA_BOOTSTRAP_ADMIN_KEY");
    let config = config_from(&env, db.dir.path());
    let clock = Arc::new(TestClock::new());
    clock.freeze();
    let start = clock.now();
    let opened = bootstrap::open(&config, clock.clone()).await.unwrap();
    assert!(opened.default_tenant_created);
    let (secret, expires) = opened.printed_key.expect("the first start mints a key");
    assert_eq!(expires, start + time::Duration::hours(24));
    let caller = opened
        .tessera
        .api_keys()
        .authenticate(secret.expose(), None)
        .await
        .unwrap();
    assert_eq!(caller.role, tessera_model::api_key::Role::Owner);

    let again = bootstrap::open(&config, clock.clone()).await.unwrap();
    assert!(
        again.printed_key.is_none() && !again.default_tenant_created,
        "a restart mints nothing"
    );

    clock.advance(std::time::Duration::from_secs(24 * 3600 + 1));
    assert!(matches!(
        opened
            .tessera
            .api_keys()
            .authenticate(secret.expose(), None)
            .await,
        Err(CoreError::Unauthenticated)
    ));
    let tenants = opened
        .tessera
        .tenants()
        .list(&Caller::cli("test"))
        .await
        .unwrap();
    assert_eq!(
        tenants.iter().map(|t| t.slug.as_str()).collect::<Vec<_>>(),
        ["default"]
    );
}

/// A configured `bootstrap_admin_key` is the same one-time key as the printed one: it expires after
/// `bootstrap_key_ttl_hours`, a restart neither revives nor extends it, revoking it is for good, and a node
/// whose bootstrap key is revoked still starts.
async fn adm_04_a_configured_bootstrap_key_expires_and_stays_revoked(engine: Engine) {
    let key = format!("tsk_{}", "c".repeat(43));
    let configured = |db: &TestDb| {
        let mut env = base_env(db, &key);
        env.insert("TESSERA_BOOTSTRAP_KEY_TTL_HOURS".into(), "2".into());
        env
    };

    // It expires like the printed key, and a restart does not bring it back.
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let config = config_from(&configured(&db), db.dir.path());
    let clock = Arc::new(TestClock::new());
    clock.freeze();
    let start = clock.now();
    let opened = bootstrap::open(&config, clock.clone()).await.unwrap();
    assert!(opened.printed_key.is_none() && !opened.configured_key_ignored);
    let t = &opened.tessera;
    let caller = t.api_keys().authenticate(&key, None).await.unwrap();
    let keys = t.api_keys().list(&caller).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        keys[0].expires_at,
        Some(start + time::Duration::hours(2)),
        "the configured key expires like the printed one"
    );
    clock.advance(std::time::Duration::from_secs(2 * 3600));
    assert!(matches!(
        t.api_keys().authenticate(&key, None).await,
        Err(CoreError::Unauthenticated)
    ));
    let again = bootstrap::open(&config, clock.clone()).await.unwrap();
    assert!(!again.configured_key_ignored);
    assert!(
        matches!(
            again.tessera.api_keys().authenticate(&key, None).await,
            Err(CoreError::Unauthenticated)
        ),
        "a restart does not bring an expired bootstrap key back"
    );

    // Revoked while still valid: the next start succeeds and the key stays revoked.
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let env = configured(&db);
    let config = config_from(&env, db.dir.path());
    let clock = Arc::new(TestClock::new());
    let opened = bootstrap::open(&config, clock.clone()).await.unwrap();
    let cli = Caller::cli("test");
    let id = opened.tessera.api_keys().list(&cli).await.unwrap()[0].id;
    opened.tessera.api_keys().revoke(&cli, id).await.unwrap();
    let again = bootstrap::open(&config, clock.clone())
        .await
        .expect("a revoked bootstrap key does not stop the node");
    assert!(matches!(
        again.tessera.api_keys().authenticate(&key, None).await,
        Err(CoreError::Unauthenticated)
    ));
    let keys = again.tessera.api_keys().list(&cli).await.unwrap();
    assert_eq!(keys.len(), 1, "nothing was minted again");
    assert!(keys[0].revoked_at.is_some());

    // Another configured value after bootstrap grants nothing, and the node says so.
    let mut other_env = env.clone();
    let other = format!("tsk_{}", "d".repeat(43));
    other_env.insert("TESSERA_BOOTSTRAP_ADMIN_KEY".into(), other.clone());
    let other_config = config_from(&other_env, db.dir.path());
    let again = bootstrap::open(&other_config, clock.clone()).await.unwrap();
    assert!(again.configured_key_ignored);
    assert!(matches!(
        again.tessera.api_keys().authenticate(&other, None).await,
        Err(CoreError::Unauthenticated)
    ));
}

async fn a_node_with_another_master_key_refuses_to_start(engine: Engine) {
    let Some(db) = TestDb::new(engine).await else {
        return;
    };
    let env = base_env(&db, &format!("tsk_{}", "k".repeat(43)));
    let config = config_from(&env, db.dir.path());
    bootstrap::open(&config, Arc::new(tessera_core::SystemClock))
        .await
        .unwrap();
    let mut other = config.clone();
    other.master_key = Some(tessera_crypto::SecretKey::generate().unwrap().to_text());
    let err = bootstrap::open(&other, Arc::new(tessera_core::SystemClock))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "master_key_mismatch");
}

engine_tests!(
    adm_04_the_bootstrap_key_is_one_time_and_expires,
    adm_04_a_configured_bootstrap_key_expires_and_stays_revoked,
    a_node_with_another_master_key_refuses_to_start
);
