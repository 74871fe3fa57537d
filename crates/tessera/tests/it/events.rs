//! The event catalogue (`docs/events.md`) is what is recorded: every event a run writes is a kind the
//! catalogue lists, with only the clear and sealed fields listed for it. Saving settings is recorded as a
//! save, never as a failure, so funnels do not count a saved profile as a drop-out.
use serde_json::{Value, json};
use tessera_model::event::types;
use tessera_testkit::{Engine, TestServer, engine_tests};

use crate::flows::{start_as, submit_as};

/// Checks each event (as the admin API lists them) against the catalogue; returns the kinds seen.
pub(crate) fn assert_events_match_the_catalogue(items: &[Value]) -> Vec<String> {
    let mut seen = Vec::new();
    for e in items {
        let name = e["type"].as_str().unwrap_or_default();
        let kind = types::by_name(name)
            .unwrap_or_else(|| panic!("{name} is not in the catalogue (docs/events.md): {e}"));
        let fields = |v: &Value| -> Vec<String> {
            v.as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        for f in fields(&e["data"]) {
            assert!(
                kind.clear.contains(&f.as_str()),
                "{name} carries `{f}` in the clear, which the catalogue does not list: {e}"
            );
        }
        for f in fields(&e["personal"]) {
            assert!(
                kind.sealed.contains(&f.as_str()),
                "{name} seals `{f}`, which the catalogue does not list: {e}"
            );
        }
        if !seen.iter().any(|s| s == name) {
            seen.push(name.to_owned());
        }
    }
    seen
}

async fn all_events(s: &TestServer) -> Vec<Value> {
    s.get("/admin/v1/tenants/default/events?limit=1000")
        .await
        .json["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn admin_work_records_only_catalogued_events(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let t = "/admin/v1/tenants/default";
    let r = s
        .post(
            &format!("{t}/identities"),
            json!({"identifiers": [{"kind": "email", "value": "cat@example.com"}], "state": "active"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.json["id"].as_str().unwrap().to_owned();
    for step in ["suspend", "reactivate", "schedule-deletion"] {
        let r = s
            .post(
                &format!("{t}/identities/{id}/{step}"),
                json!({"reason": "test"}),
            )
            .await;
        assert!(r.status < 300, "{step}: {r:?}");
    }
    let r = s
        .post(&format!("{t}/organizations"), json!({"name": "Acme"}))
        .await;
    assert!(r.status < 300, "{r:?}");
    let r = s
        .post(
            "/admin/v1/api-keys",
            json!({"name": "cat", "role": "support", "tenant": "default"}),
        )
        .await;
    assert!(r.status < 300, "{r:?}");
    let seen = assert_events_match_the_catalogue(&all_events(&s).await);
    for kind in [
        types::IDENTITY_CREATED,
        types::IDENTITY_SUSPENDED,
        types::IDENTITY_REACTIVATED,
        types::IDENTITY_DELETION_SCHEDULED,
        types::ORGANIZATION_CREATED,
        types::API_KEY_CREATED,
    ] {
        assert!(
            seen.iter().any(|s| s == kind.name),
            "{} in {seen:?}",
            kind.name
        );
    }
}

async fn saving_settings_is_a_save_not_a_failure(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let token = crate::flows::sign_up(&s, "saver@example.com", json!({})).await;
    let flow = start_as(&s, "settings", json!({}), Some(&token)).await;
    let r = submit_as(
        &s,
        &flow,
        json!({"method": "profile", "attributes.given_name": "Ada"}),
        Some(&token),
    )
    .await;
    assert!(r.status < 300, "{r:?}");
    let events = all_events(&s).await;
    assert_events_match_the_catalogue(&events);
    let settings_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["data"]["kind"] == "settings")
        .collect();
    assert!(
        settings_events.iter().any(|e| e["type"] == "flow.saved"),
        "{settings_events:?}"
    );
    assert!(
        !settings_events.iter().any(|e| e["type"] == "flow.failed"),
        "a saved profile is not a failure: {settings_events:?}"
    );
}

engine_tests!(
    admin_work_records_only_catalogued_events,
    saving_settings_is_a_save_not_a_failure,
);
