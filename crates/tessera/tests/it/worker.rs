//! Background work: the mail queue claimed with a lease across nodes, retried with backoff, given up into
//! dead letters that the admin API lists and replays, measured, and stopped cleanly (issue 8, item 4).
//! The queue's statements run on both engines; the issue's own test (two real processes on one
//! PostgreSQL database, 500 mails through a relay that refuses for a while) runs the binary.
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::json;
use tessera_core::Clock;
use tessera_core::Tessera;
use tessera_model::TenantId;
use tessera_store::mail::Mail;
use tessera_testkit::{Engine, Resp, SmtpCapture, TestDb, TestServer, engine_tests};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::cli::{Served, tessera};

/// The default tenant's id.
async fn default_tenant(t: &Tessera) -> TenantId {
    let mut c = t.db().conn().await.unwrap();
    tessera_store::tenants::by_slug(&mut c, "default")
        .await
        .unwrap()
        .unwrap()
        .id
}

/// A verification mail carrying `code` and a link, as the flows queue it (its code lives 10 minutes).
fn code_mail(tenant: TenantId, to: &str, code: &str, now: OffsetDateTime) -> Mail {
    Mail {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        to_address: to.into(),
        template: "verification_code".into(),
        locale: "en".into(),
        vars: json!({
            "tenant_name": "Default", "email": to, "code": code, "expires_minutes": 10,
            "link": format!("http://localhost/t/default/flows/link?token=tok{code}"),
        }),
        created_at: now,
        expires_at: Some(now + time::Duration::minutes(10)),
        sent_at: None,
        attempts: 0,
        last_error: None,
    }
}

/// Queues `n` mails to `<prefix><i>@example.com` in one transaction; returns their ids in order.
async fn queue_mails(
    db: &tessera_store::Db,
    prefix: &str,
    n: usize,
    now: OffsetDateTime,
) -> Vec<Uuid> {
    let mut c = db.conn().await.unwrap();
    let tenant = tessera_store::tenants::by_slug(&mut c, "default")
        .await
        .unwrap()
        .unwrap()
        .id;
    drop(c);
    let mut tx = db.begin().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let m = code_mail(
            tenant,
            &format!("{prefix}{i}@example.com"),
            &format!("{:06}", 100_000 + i),
            now,
        );
        ids.push(m.id);
        tessera_store::mail::enqueue(&mut tx, &m).await.unwrap();
    }
    tx.commit().await.unwrap();
    ids
}

/// Waits (at most 20 s) until `f` holds for the mail's queue state, and returns that state.
async fn wait_state(
    t: &Tessera,
    tenant: TenantId,
    id: Uuid,
    what: &str,
    f: impl Fn(&tessera_core::mail::MailState) -> bool,
) -> tessera_core::mail::MailState {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state = t.outbox().state(tenant, id).await.unwrap().unwrap();
        if f(&state) {
            return state;
        }
        assert!(Instant::now() < deadline, "waited for {what}: {state:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two Tessera instances on one database (each with its own connection pool), three claimers each, claim
/// in small batches until nothing is due: every mail is claimed exactly once.
async fn one_claim_per_mail_across_two_instances(engine: Engine) {
    let Some(s) = TestServer::start_without_mail(engine, |_| {}).await else {
        return;
    };
    let other = tessera_core::bootstrap::connect(&s.config, s.clock.clone())
        .await
        .unwrap();
    let ids = queue_mails(s.tessera.db(), "once", 150, s.clock.now()).await;
    let until = s.clock.now() + time::Duration::minutes(5);
    let mut claimers = Vec::new();
    for i in 0..6 {
        let t = if i % 2 == 0 {
            s.tessera.clone()
        } else {
            other.clone()
        };
        claimers.push(tokio::spawn(async move {
            let owner = format!("node-{i}");
            let mut got = Vec::new();
            loop {
                let batch = t.outbox().claim(&owner, until, 7).await.unwrap();
                // More than there are means some were claimed twice; stop and let the test say so.
                if batch.is_empty() || got.len() > 150 {
                    return got;
                }
                got.extend(batch.into_iter().map(|m| (m.mail.id, owner.clone())));
            }
        }));
    }
    let mut claimed = Vec::new();
    for c in claimers {
        claimed.extend(c.await.unwrap());
    }
    let distinct: BTreeSet<Uuid> = claimed.iter().map(|(id, _)| *id).collect();
    assert_eq!(claimed.len(), 150, "no mail claimed twice");
    assert_eq!(
        distinct,
        ids.iter().copied().collect(),
        "every mail claimed"
    );
    let owners: BTreeSet<&str> = claimed.iter().map(|(_, o)| o.as_str()).collect();
    assert!(owners.len() > 1, "the claimers shared the work: {owners:?}");
    let tenant = default_tenant(&s.tessera).await;
    for (id, owner) in claimed.iter().take(20) {
        let st = s
            .tessera
            .outbox()
            .state(tenant, *id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (st.attempts, st.lease_owner.as_deref()),
            (1, Some(owner.as_str()))
        );
    }
    assert!(
        s.tessera
            .outbox()
            .claim("late", until, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing is claimable while the leases live"
    );
}

/// A node that claimed a mail and died holds it only until its lease runs out; then another node claims
/// it, and the dead node's late report of success is refused.
async fn an_expired_lease_is_claimed_again(engine: Engine) {
    let Some(s) = TestServer::start_without_mail(engine, |_| {}).await else {
        return;
    };
    s.clock.freeze();
    let t = &s.tessera;
    let tenant = default_tenant(t).await;
    let id = queue_mails(t.db(), "lease", 1, s.clock.now()).await[0];
    let lease = time::Duration::seconds(60);
    let a = t
        .outbox()
        .claim("node-a", s.clock.now() + lease, 10)
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    assert!(
        t.outbox()
            .claim("node-b", s.clock.now() + lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    s.clock.advance(Duration::from_secs(59));
    assert!(
        t.outbox()
            .claim("node-b", s.clock.now() + lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "the lease still holds a second before it ends"
    );
    s.clock.advance(Duration::from_secs(1));
    let b = t
        .outbox()
        .claim("node-b", s.clock.now() + lease, 10)
        .await
        .unwrap();
    assert_eq!(b.iter().map(|m| m.mail.id).collect::<Vec<_>>(), [id]);
    assert_eq!(
        b[0].mail.attempts, 2,
        "the lost claim counted as an attempt"
    );
    assert!(
        !t.outbox().mark_sent("node-a", id).await.unwrap(),
        "node A lost its claim"
    );
    let failed = t
        .outbox()
        .mark_failed("node-a", &a[0], None, "too late")
        .await
        .unwrap();
    assert!(!failed, "nor can node A bury it");
    assert!(t.outbox().mark_sent("node-b", id).await.unwrap());
    let st = t.outbox().state(tenant, id).await.unwrap().unwrap();
    assert!(st.sent_at.is_some() && st.dead_at.is_none());
    assert_eq!(
        st.lease_owner.as_deref(),
        Some("node-b"),
        "the row names the node that sent it"
    );
    s.clock.advance(Duration::from_secs(3600));
    assert!(
        t.outbox()
            .claim("node-c", s.clock.now() + lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The server's own worker against a relay that refuses: each failure waits twice as long as the one
/// before (half of it jittered), on the server's clock; after the last attempt the mail is a dead letter,
/// counted in the metrics, listed without its code or link (LOG-01), and an operations key replays it.
async fn log_01_failed_mail_backs_off_then_is_a_dead_letter_listed_without_its_code(
    engine: Engine,
) {
    let Some(s) = TestServer::start_with(engine, |env| {
        env.insert("TESSERA_MAIL_RETRY_BASE_MS".into(), "2000".into());
        env.insert("TESSERA_MAIL_MAX_ATTEMPTS".into(), "3".into());
    })
    .await
    else {
        return;
    };
    let capture = s.smtp.as_ref().unwrap();
    capture.refuse(true);
    s.clock.freeze();
    let t = &s.tessera;
    let tenant = default_tenant(t).await;
    let id = queue_mails(t.db(), "backoff", 1, s.clock.now()).await[0];
    let released = |n: i64| {
        move |st: &tessera_core::mail::MailState| st.attempts == n && st.lease_until.is_none()
    };
    for (attempt, step_ms) in [(1i64, 2000i64), (2, 4000)] {
        let st = wait_state(t, tenant, id, "a failed attempt", released(attempt)).await;
        let wait = st.next_attempt_at - s.clock.now();
        let ms = wait.whole_microseconds() as f64 / 1000.0;
        assert!(
            (step_ms as f64 / 2.0..=step_ms as f64).contains(&ms),
            "attempt {attempt} waits {ms} ms, within [{}, {step_ms}]",
            step_ms / 2
        );
        assert!(st.dead_at.is_none());
        assert!(
            st.last_error.as_deref().unwrap_or_default().contains("421"),
            "{st:?}"
        );
        s.clock
            .advance(Duration::try_from(wait - time::Duration::milliseconds(1)).unwrap());
        tokio::time::sleep(Duration::from_millis(700)).await;
        let early = t.outbox().state(tenant, id).await.unwrap().unwrap();
        assert_eq!(early.attempts, attempt, "not tried before its time");
        s.clock.advance(Duration::from_millis(1));
    }
    let st = wait_state(t, tenant, id, "the dead letter", |st| st.dead_at.is_some()).await;
    assert_eq!(st.attempts, 3);
    assert!(capture.refused() >= 3, "{}", capture.refused());

    let metrics = reqwest::get(format!("{}/metrics", s.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tessera_queue_dead{queue=\"mail\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tessera_queue_depth{queue=\"mail\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tessera_queue_items_total{queue=\"mail\",outcome=\"dead\"}"),
        "{metrics}"
    );

    let list = s.get("/admin/v1/tenants/default/mail/dead-letters").await;
    assert_eq!(list.status, 200, "{list:?}");
    let item = &list.json["items"][0];
    assert_eq!(item["id"], id.to_string());
    assert_eq!(item["to"], "backoff0@example.com");
    assert_eq!(item["template"], "verification_code");
    assert_eq!(item["attempts"], 3);
    assert_eq!(item["replayable"], true);
    assert!(
        item["last_error"].as_str().unwrap().contains("421"),
        "{item}"
    );
    assert!(
        !list.text.contains("100000") && !list.text.contains("token="),
        "no code or link in the listing: {}",
        list.text
    );

    let readonly = s.mint_key("dash", "readonly", None).await;
    let ops = s.mint_key("ops", "operations", None).await;
    let replay = format!("/admin/v1/tenants/default/mail/dead-letters/{id}/replay");
    let r = Resp::from(
        s.admin_req_as(&readonly, reqwest::Method::POST, &replay)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(403, "forbidden");
    capture.refuse(false);
    let r = Resp::from(
        s.admin_req_as(&ops, reqwest::Method::POST, &replay)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["id"], id.to_string());
    assert_eq!(
        s.code_for("backoff0@example.com").await.as_deref(),
        Some("100000"),
        "the replayed mail arrives"
    );
    let st = t.outbox().state(tenant, id).await.unwrap().unwrap();
    assert!(st.sent_at.is_some() && st.dead_at.is_none());
    assert_eq!(st.attempts, 1, "a replay starts a fresh count");
    let list = s.get("/admin/v1/tenants/default/mail/dead-letters").await;
    assert_eq!(list.json["items"], json!([]));
    let r = Resp::from(
        s.admin_req_as(&ops, reqwest::Method::POST, &replay)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_problem(404, "not_found");
    let events = s
        .get("/admin/v1/tenants/default/events?type=mail.replayed")
        .await;
    assert_eq!(
        events.json["items"][0]["subject"],
        format!("mail:{id}"),
        "{events:?}"
    );
    assert_eq!(events.json["items"].as_array().unwrap().len(), 1);
}

/// A recipient the relay refuses for good is a dead letter after one attempt; once its code has expired
/// it can no longer be replayed, and bad cursors and unknown letters are refused clearly.
async fn a_permanent_refusal_is_a_dead_letter_at_once_and_an_expired_code_is_never_replayed(
    engine: Engine,
) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let t = &s.tessera;
    let tenant = default_tenant(t).await;
    let id = queue_mails(t.db(), "reject-", 1, s.clock.now()).await[0];
    let st = wait_state(t, tenant, id, "the dead letter", |st| st.dead_at.is_some()).await;
    assert_eq!(st.attempts, 1, "a 5xx is not retried");
    assert!(st.last_error.unwrap().contains("550"));
    let list = s
        .get("/admin/v1/tenants/default/mail/dead-letters?limit=1")
        .await;
    assert_eq!(list.json["items"][0]["replayable"], true, "{list:?}");
    assert!(list.json.get("next_cursor").is_none(), "{list:?}");
    s.clock.advance(Duration::from_secs(11 * 60));
    let list = s.get("/admin/v1/tenants/default/mail/dead-letters").await;
    assert_eq!(list.json["items"][0]["replayable"], false, "{list:?}");
    let r = s
        .post(
            &format!("/admin/v1/tenants/default/mail/dead-letters/{id}/replay"),
            json!(null),
        )
        .await;
    r.assert_problem(409, "mail_expired");
    assert!(
        t.outbox()
            .state(tenant, id)
            .await
            .unwrap()
            .unwrap()
            .dead_at
            .is_some(),
        "unchanged"
    );
    let r = s
        .post(
            &format!(
                "/admin/v1/tenants/default/mail/dead-letters/{}/replay",
                Uuid::now_v7()
            ),
            json!(null),
        )
        .await;
    r.assert_problem(404, "not_found");
    s.get("/admin/v1/tenants/default/mail/dead-letters?cursor=nope")
        .await
        .assert_problem(400, "bad_cursor");
    s.get("/admin/v1/tenants/default/mail/dead-letters?colour=red")
        .await
        .assert_problem(400, "invalid_query");
    let other = s
        .post(
            "/admin/v1/tenants",
            json!({"slug": "other", "name": "Other"}),
        )
        .await;
    assert_eq!(other.status, 201, "{other:?}");
    let scoped = s.mint_key("other-ops", "operations", Some("other")).await;
    let r = Resp::from(
        s.admin_req_as(
            &scoped,
            reqwest::Method::GET,
            "/admin/v1/tenants/default/mail/dead-letters",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    r.assert_problem(404, "not_found");
    let r = Resp::from(
        s.admin_req_as(
            &scoped,
            reqwest::Method::GET,
            "/admin/v1/tenants/other/mail/dead-letters",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (r.status, r.json["items"].clone()),
        (200, json!([])),
        "another tenant's letters stay apart"
    );
}

/// Queues mails to `to` with these codes, one transaction each (so their ids follow the order).
async fn queue_to(t: &Tessera, to: &str, codes: &[&str], now: OffsetDateTime) -> Vec<Uuid> {
    let tenant = default_tenant(t).await;
    let mut ids = Vec::new();
    for code in codes {
        let m = code_mail(tenant, to, code, now);
        let mut tx = t.db().begin().await.unwrap();
        tessera_store::mail::enqueue(&mut tx, &m).await.unwrap();
        tx.commit().await.unwrap();
        ids.push(m.id);
    }
    ids
}

/// Mail to one address goes out in the order it was queued (the newest code arrives last), while mail to
/// other addresses is not held up: a claim takes a recipient's next mail only once the one before it is
/// sent, given up or expired.
async fn mail_to_one_address_goes_out_in_queueing_order(engine: Engine) {
    let Some(s) = TestServer::start_without_mail(engine, |_| {}).await else {
        return;
    };
    let t = &s.tessera;
    let now = s.clock.now();
    let until = now + time::Duration::minutes(1);
    let same = queue_to(t, "same@example.com", &["111111", "222222", "333333"], now).await;
    let other = queue_to(t, "other@example.com", &["444444"], now).await;
    let ids = |b: Vec<tessera_core::mail::OutboxMail>| -> BTreeSet<Uuid> {
        b.into_iter().map(|m| m.mail.id).collect()
    };
    let first = ids(t.outbox().claim("n", until, 10).await.unwrap());
    assert_eq!(first, BTreeSet::from([same[0], other[0]]));
    assert!(t.outbox().claim("n", until, 10).await.unwrap().is_empty());
    assert!(t.outbox().mark_sent("n", same[0]).await.unwrap());
    let second = ids(t.outbox().claim("n", until, 10).await.unwrap());
    assert_eq!(second, BTreeSet::from([same[1]]));
    let elsewhere = t.outbox().claim("m", until, 10).await.unwrap();
    assert!(elsewhere.is_empty(), "nor does another node take the third");
    let pending = t.outbox().pending(10).await.unwrap();
    let second_mail = pending.iter().find(|m| m.mail.id == same[1]).unwrap();
    assert!(
        t.outbox()
            .mark_failed("n", second_mail, None, "550 gone")
            .await
            .unwrap()
    );
    let third = ids(t.outbox().claim("n", until, 10).await.unwrap());
    assert_eq!(
        third,
        BTreeSet::from([same[2]]),
        "a dead letter holds nothing up"
    );

    // The server's own worker, through its relay.
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let codes = ["100001", "100002", "100003", "100004", "100005"];
    queue_to(&s.tessera, "order@example.com", &codes, s.clock.now()).await;
    s.wait_for_outbox().await;
    let arrived: Vec<String> = s
        .smtp
        .as_ref()
        .unwrap()
        .mails()
        .iter()
        .map(|m| {
            codes
                .iter()
                .find(|c| m.text.contains(*c))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(arrived, codes, "in the order they were queued");
}

engine_tests!(
    mail_to_one_address_goes_out_in_queueing_order,
    one_claim_per_mail_across_two_instances,
    an_expired_lease_is_claimed_again,
    log_01_failed_mail_backs_off_then_is_a_dead_letter_listed_without_its_code,
    a_permanent_refusal_is_a_dead_letter_at_once_and_an_expired_code_is_never_replayed,
);

/// The environment of a real `tessera serve` node on `db` sending to `smtp`.
fn node(
    dir: &std::path::Path,
    db: &TestDb,
    smtp: &SmtpCapture,
    master: &str,
    key: &str,
) -> std::process::Command {
    let mut c = tessera(dir);
    let env: HashMap<&str, String> = [
        ("TESSERA_DATABASE_URL", db.url.clone()),
        ("TESSERA_MASTER_KEY", master.to_owned()),
        ("TESSERA_BOOTSTRAP_ADMIN_KEY", key.to_owned()),
        ("TESSERA_SMTP_URL", smtp.url()),
        ("TESSERA_MAIL_RETRY_BASE_MS", "1000".to_owned()),
        ("TESSERA_AUDIT_SEAL_INTERVAL_SECS", "3600".to_owned()),
        ("TESSERA_SWEEP_INTERVAL_SECS", "3600".to_owned()),
        ("TESSERA_SHUTDOWN_GRACE_SECS", "10".to_owned()),
    ]
    .into();
    c.envs(env);
    c
}

fn secrets() -> (String, String) {
    let master = tessera_crypto::SecretKey::generate().unwrap().to_text();
    let key = tessera_crypto::BearerSecret::generate("tsk_")
        .unwrap()
        .expose()
        .to_owned();
    (master, key)
}

async fn open_db(db: &TestDb) -> tessera_store::Db {
    tessera_store::Db::connect(&tessera_store::DbOptions::new(db.url.clone()))
        .await
        .unwrap()
}

/// Issue 8's test: two `tessera serve` processes on one PostgreSQL database and a real SMTP listener that
/// refuses every mail for a while; 500 mails queued. Each fails at least once, then every one arrives,
/// exactly once, and both nodes did part of the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_500_mails_exactly_once_through_a_relay_that_refuses_for_a_while() {
    let Some(db) = TestDb::new(Engine::Postgres).await else {
        return;
    };
    let capture = SmtpCapture::start().await;
    capture.refuse(true);
    let (master, key) = secrets();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut a = Served::start(node(dirs[0].path(), &db, &capture, &master, &key));
    let mut b = Served::start(node(dirs[1].path(), &db, &capture, &master, &key));
    let store = open_db(&db).await;
    let ids = queue_mails(&store, "bulk", 500, OffsetDateTime::now_utc()).await;
    let count = |sql: &'static str| {
        let url = db.url.clone();
        async move {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap();
            let _ = c.close().await;
            n
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while count("SELECT COUNT(*) FROM mail_outbox WHERE attempts >= 1").await < 500 {
        assert!(
            Instant::now() < deadline,
            "the refusing phase did not reach every mail"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        count("SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NOT NULL").await,
        0
    );
    assert!(capture.mails().is_empty());
    assert!(capture.refused() >= 500, "{}", capture.refused());
    // The relay comes back, slowly enough that the two nodes overlap.
    capture.delay(Duration::from_millis(20));
    capture.refuse(false);
    while count("SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NOT NULL").await < 500 {
        assert!(
            Instant::now() < deadline,
            "not every mail was sent: {} arrived",
            capture.mails().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mails = capture.mails();
    let mut per_recipient: HashMap<String, usize> = HashMap::new();
    for m in &mails {
        *per_recipient.entry(m.to.join(",")).or_default() += 1;
    }
    let twice: Vec<_> = per_recipient.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(mails.len(), 500);
    let expected: BTreeSet<String> = (0..500).map(|i| format!("bulk{i}@example.com")).collect();
    assert_eq!(
        per_recipient.keys().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(ids.len(), 500);
    assert_eq!(
        count("SELECT COUNT(*) FROM mail_outbox WHERE dead_at IS NOT NULL").await,
        0
    );
    assert_eq!(
        count("SELECT COUNT(DISTINCT lease_owner) FROM mail_outbox WHERE sent_at IS NOT NULL")
            .await,
        2,
        "both nodes sent part of the mail"
    );
    let mut done_by_node = Vec::new();
    for n in [&a, &b] {
        let metrics = reqwest::get(format!("{}/metrics", n.admin))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("tessera_queue_depth{queue=\"mail\"} 0"),
            "{metrics}"
        );
        let done = metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix("tessera_queue_items_total{queue=\"mail\",outcome=\"done\"} ")
            })
            .map(|v| v.parse::<u64>().unwrap());
        done_by_node.push(done.unwrap_or(0));
    }
    assert_eq!(
        done_by_node.iter().sum::<u64>(),
        500,
        "each node counts what it sent: {done_by_node:?}"
    );
    assert!(a.terminate().success(), "{}", a.logs());
    assert!(b.terminate().success(), "{}", b.logs());
    store.close().await;
}

/// SIGTERM while a mail is being sent: the node stops taking work, finishes that mail, records it sent,
/// and exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_mail_in_hand_then_exits() {
    let Some(db) = TestDb::new(Engine::Sqlite).await else {
        return;
    };
    let capture = SmtpCapture::start().await;
    capture.delay(Duration::from_millis(1500));
    let (master, key) = secrets();
    let mut n = Served::start(node(db.dir.path(), &db, &capture, &master, &key));
    let store = open_db(&db).await;
    let id = queue_mails(&store, "inhand", 1, OffsetDateTime::now_utc()).await[0];
    let mut c = store.conn().await.unwrap();
    let tenant = tessera_store::tenants::by_slug(&mut c, "default")
        .await
        .unwrap()
        .unwrap()
        .id;
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut c = store.conn().await.unwrap();
        let q = tessera_store::mail::get(&mut c, tenant, id)
            .await
            .unwrap()
            .unwrap();
        if q.lease_until.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the mail was never claimed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(capture.mails().is_empty(), "still in the relay's hands");
    let t = Instant::now();
    assert!(n.terminate().success(), "{}", n.logs());
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "the node waited for the mail"
    );
    assert_eq!(capture.mails().len(), 1);
    let mut c = store.conn().await.unwrap();
    let q = tessera_store::mail::get(&mut c, tenant, id)
        .await
        .unwrap()
        .unwrap();
    assert!(q.mail.sent_at.is_some(), "recorded before the exit: {q:?}");
    assert!(!n.logs().contains("abandoned"), "{}", n.logs());
}
