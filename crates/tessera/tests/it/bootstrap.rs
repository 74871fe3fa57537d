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
        opened.tessera.authenticate(secret.expose(), None).await,
        Err(CoreError::Unauthenticated)
    ));
    let tenants = opened
        .tessera
        .list_tenants(&Caller::cli("test"))
        .await
        .unwrap();
    assert_eq!(
        tenants.iter().map(|t| t.slug.as_str()).collect::<Vec<_>>(),
        ["default"]
    );
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
    a_node_with_another_master_key_refuses_to_start
);
