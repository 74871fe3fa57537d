//! The development mailbox and the mail outbox. The mailbox hands out every code and link of every tenant,
//! which once made it a takeover path for any account (issue 7, finding 1): it exists only on a dev-mode
//! node whose base URL is a loopback address, only for loopback peers, and the outbox keeps no clear code
//! once a mail is sent or its code has expired.
use std::net::SocketAddr;

use axum::extract::connect_info::MockConnectInfo;
use serde_json::{Value, json};
use tessera_testkit::{Engine, Resp, TestServer, engine_tests};

/// A node without SMTP, in dev mode or not, with this base URL (`None`: the testkit's loopback one).
async fn no_smtp(engine: Engine, dev: bool, base: Option<&'static str>) -> Option<TestServer> {
    TestServer::start_without_mail(engine, |env| {
        env.insert("TESSERA_DEV_MODE".into(), dev.to_string());
        if let Some(b) = base {
            env.insert("TESSERA_BASE_URL".into(), b.into());
        }
    })
    .await
}

/// Starts a sign-up for `email` through the JSON API, which queues a mail with a code and a link.
async fn ask_for_code(s: &TestServer, email: &str) {
    let api = format!("{}/t/default/api/flows/registration", s.public);
    let r = Resp::from(s.http.post(&api).json(&json!({})).send().await.unwrap()).await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.json["flow"]["id"].as_str().unwrap().to_owned();
    let secret = r.json["flow_secret"].as_str().unwrap().to_owned();
    let r = Resp::from(
        s.http
            .post(format!("{api}/{id}"))
            .header(crate::flows::FLOW_SECRET, secret)
            .json(&json!({"email": email}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
}

/// What `GET /dev/mailbox.json` and `GET /dev/mailbox` answer at `admin`, without any key.
async fn mailbox_answers(admin: &str, headers: &[(&str, &str)]) -> Vec<(u16, String)> {
    let c = reqwest::Client::new();
    let mut out = Vec::new();
    for path in ["/dev/mailbox.json", "/dev/mailbox"] {
        let mut req = c.get(format!("{admin}{path}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        out.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    out
}

#[track_caller]
fn assert_no_mailbox(answers: &[(u16, String)], email: &str) {
    for (status, body) in answers {
        assert_eq!(*status, 404, "{body}");
        assert!(!body.contains(email), "{body}");
    }
}

/// The admin router of `s`, served on a fresh loopback port as if every request came from `peer`.
async fn admin_seen_from(s: &TestServer, peer: SocketAddr) -> String {
    let state = tessera_server::AppState::new(s.tessera.clone(), &s.config).unwrap();
    let router = tessera_server::admin_router(state).layer(MockConnectInfo(peer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

async fn readyz(s: &TestServer) -> Value {
    reqwest::get(format!("{}/readyz", s.admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn adm_01_no_dev_mailbox_on_a_non_loopback_base_url_even_in_dev_mode(engine: Engine) {
    for base in ["https://id.example.com/", "http://192.0.2.10:8080/"] {
        let Some(s) = no_smtp(engine, true, Some(base)).await else {
            return;
        };
        ask_for_code(&s, "victim@example.com").await;
        assert_no_mailbox(&mailbox_answers(&s.admin, &[]).await, "victim@example.com");
        let ready = readyz(&s).await;
        assert_eq!(ready["mail"], "disabled", "{ready}");
        assert!(ready["warnings"][0].as_str().unwrap().contains("smtp_url"));
        s.stop().await;
    }
}

async fn adm_01_no_dev_mailbox_in_production_mode(engine: Engine) {
    let Some(s) = no_smtp(engine, false, None).await else {
        return;
    };
    assert!(tessera_core::config::is_loopback_url(&s.config.base_url));
    ask_for_code(&s, "victim@example.com").await;
    assert_no_mailbox(&mailbox_answers(&s.admin, &[]).await, "victim@example.com");
    let ready = readyz(&s).await;
    assert_eq!(
        (ready["status"].as_str(), ready["mail"].as_str()),
        (Some("ready"), Some("disabled")),
        "a node that cannot send mail says so: {ready}"
    );
}

async fn adm_01_the_dev_mailbox_answers_loopback_peers_only(engine: Engine) {
    let Some(s) = no_smtp(engine, true, None).await else {
        return;
    };
    ask_for_code(&s, "dev@example.com").await;
    assert_eq!(readyz(&s).await["mail"], "dev_mailbox");
    for (status, body) in mailbox_answers(&s.admin, &[]).await {
        assert_eq!(status, 200, "the development machine itself reads its mail");
        assert!(body.contains("dev@example.com"), "{body}");
    }
    for peer in ["192.0.2.7:40000", "[2001:db8::7]:40000", "[fd00::2]:1"] {
        let admin = admin_seen_from(&s, peer.parse().unwrap()).await;
        assert_no_mailbox(&mailbox_answers(&admin, &[]).await, "dev@example.com");
        let spoofed = [("x-forwarded-for", "127.0.0.1"), ("x-real-ip", "127.0.0.1")];
        assert_no_mailbox(&mailbox_answers(&admin, &spoofed).await, "dev@example.com");
    }
    let mapped = admin_seen_from(&s, "[::ffff:127.0.0.1]:40000".parse().unwrap()).await;
    assert_eq!(mailbox_answers(&mapped, &[]).await[0].0, 200);
    for relayed in [
        ("x-forwarded-for", "192.0.2.7"),
        ("forwarded", "for=192.0.2.7"),
        ("x-real-ip", "192.0.2.7"),
    ] {
        assert_no_mailbox(
            &mailbox_answers(&s.admin, &[relayed]).await,
            "dev@example.com",
        );
    }
}

/// The attack as it was reproduced: with nothing but network access to the admin listener, ask for a
/// recovery code for someone else's address and read it from the mailbox. No configuration that can face
/// the network lets the code out.
async fn no_account_takeover_through_the_dev_mailbox(engine: Engine) {
    let deployments: [(bool, Option<&'static str>, Option<&str>); 3] = [
        (false, None, None),
        (true, Some("https://id.example.com/"), None),
        (true, None, Some("203.0.113.9:50000")),
    ];
    for (dev, base, peer) in deployments {
        let Some(s) = no_smtp(engine, dev, base).await else {
            return;
        };
        let r = s
            .post(
                "/admin/v1/tenants/default/identities",
                json!({"identifiers": [{"kind": "email", "value": "victim@example.com", "verified": true}]}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        let api = format!("{}/t/default/api/flows/recovery", s.public);
        let r = Resp::from(s.http.post(&api).json(&json!({})).send().await.unwrap()).await;
        let id = r.json["flow"]["id"].as_str().unwrap().to_owned();
        let secret = r.json["flow_secret"].as_str().unwrap().to_owned();
        let r = Resp::from(
            s.http
                .post(format!("{api}/{id}"))
                .header(crate::flows::FLOW_SECRET, secret)
                .json(&json!({"email": "victim@example.com"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        let admin = match peer {
            Some(p) => admin_seen_from(&s, p.parse().unwrap()).await,
            None => s.admin.clone(),
        };
        assert_no_mailbox(&mailbox_answers(&admin, &[]).await, "victim@example.com");
        s.stop().await;
    }
}

/// Every `vars` column of the outbox, and those of the rows marked sent.
async fn outbox_vars(s: &TestServer) -> (Vec<String>, Vec<String>) {
    use sqlx::Connection;
    let all = "SELECT vars FROM mail_outbox";
    let sent = "SELECT vars FROM mail_outbox WHERE sent_at IS NOT NULL";
    match s.db.engine {
        Engine::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&s.db.url).await.unwrap();
            (
                sqlx::query_scalar(all).fetch_all(&mut c).await.unwrap(),
                sqlx::query_scalar(sent).fetch_all(&mut c).await.unwrap(),
            )
        }
        Engine::Postgres => {
            let mut c = sqlx::PgConnection::connect(&s.db.url).await.unwrap();
            (
                sqlx::query_scalar(all).fetch_all(&mut c).await.unwrap(),
                sqlx::query_scalar(sent).fetch_all(&mut c).await.unwrap(),
            )
        }
    }
}

async fn log_01_outbox_rows_hold_no_code_after_sending(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    ask_for_code(&s, "sent@example.com").await;
    let code = s
        .code_for("sent@example.com")
        .await
        .expect("the mail was sent");
    let (all, sent) = outbox_vars(&s).await;
    assert_eq!(all.len(), 1);
    assert_eq!(sent, ["{}"], "a sent mail keeps no variables");
    assert!(!all.iter().any(|v| v.contains(&code)));
}

async fn log_01_an_unsent_code_is_scrubbed_once_it_expires(engine: Engine) {
    let Some(s) = no_smtp(engine, true, None).await else {
        return;
    };
    ask_for_code(&s, "late@example.com").await;
    ask_for_code(&s, "fresh@example.com").await;
    let (all, _) = outbox_vars(&s).await;
    assert!(all.iter().all(|v| v.contains("\"code\"")), "{all:?}");
    assert_eq!(s.tessera.outbox().scrub_expired().await.unwrap(), 0);
    // The first code's lifetime passes (the row is dated back rather than the clock moved forward).
    {
        use sqlx::Connection;
        let sql =
            "UPDATE mail_outbox SET expires_at = created_at WHERE to_address = 'late@example.com'";
        match s.db.engine {
            Engine::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&s.db.url).await.unwrap();
                sqlx::query(sql).execute(&mut c).await.unwrap();
            }
            Engine::Postgres => {
                let mut c = sqlx::PgConnection::connect(&s.db.url).await.unwrap();
                sqlx::query(sql).execute(&mut c).await.unwrap();
            }
        }
    }
    assert_eq!(s.tessera.outbox().scrub_expired().await.unwrap(), 1);
    let (all, _) = outbox_vars(&s).await;
    assert_eq!(all.iter().filter(|v| *v == "{}").count(), 1, "{all:?}");
    let pending = s.tessera.outbox().pending(50).await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|m| m.mail.to_address.as_str())
            .collect::<Vec<_>>(),
        ["fresh@example.com"],
        "an expired code is never sent"
    );
    let listed = s.mailbox().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["to"], "fresh@example.com");
}

engine_tests!(
    adm_01_no_dev_mailbox_on_a_non_loopback_base_url_even_in_dev_mode,
    adm_01_no_dev_mailbox_in_production_mode,
    adm_01_the_dev_mailbox_answers_loopback_peers_only,
    no_account_takeover_through_the_dev_mailbox,
    log_01_outbox_rows_hold_no_code_after_sending,
    log_01_an_unsent_code_is_scrubbed_once_it_expires,
);
