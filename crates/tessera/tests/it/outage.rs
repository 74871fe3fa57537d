//! LOG-04 / F4: when the database goes away, Tessera answers 503 with `Retry-After` (never a panic, never
//! a 500), stays alive, and serves again by itself when the database comes back. PostgreSQL is reached
//! through a TCP proxy inside the test that can cut every connection and refuse new ones.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tessera_testkit::{Engine, Resp, TestDb, TestServer, base_env, config_from};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A proxy that can be cut and restored.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, cut_rx) = watch::channel(0u64);
        let up2 = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut cut_rx = cut_rx.clone();
                cut_rx.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        Proxy { port, up, cut }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|v| *v += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn ready_status(s: &TestServer) -> Resp {
    Resp::from(
        s.http
            .get(format!("{}/readyz", s.admin))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_04_database_outage_answers_503_and_recovers_without_restart() {
    let Some(db) = TestDb::new(Engine::Postgres).await else {
        return;
    };
    let mut url = url::Url::parse(&db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    url.set_port(Some(proxy.port)).unwrap();
    let key = tessera_crypto::BearerSecret::generate("tsk_")
        .unwrap()
        .expose()
        .to_owned();
    let mut env = base_env(&db, &key);
    env.insert("TESSERA_DATABASE_URL".into(), url.to_string());
    let config = config_from(&env, db.dir.path());
    let s = TestServer::start_on(db, config, key).await;
    let ids = "/admin/v1/tenants/default/identities";
    assert_eq!(
        s.post(
            ids,
            json!({"identifiers": [{"kind": "email", "value": "before@example.com"}]})
        )
        .await
        .status,
        201
    );

    proxy.cut();
    let started = Instant::now();
    let r = ready_status(&s).await;
    r.assert_problem(503, "unavailable");
    assert_eq!(r.header("retry-after"), Some("5"));
    let w = s
        .post(
            ids,
            json!({"identifiers": [{"kind": "email", "value": "during@example.com"}]}),
        )
        .await;
    w.assert_problem(503, "unavailable");
    assert!(w.header("retry-after").is_some());
    s.get(ids).await.assert_problem(503, "unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "outage answers come quickly, not after long hangs"
    );
    let live = s
        .http
        .get(format!("{}/healthz", s.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200, "the process stays alive");

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if ready_status(&s).await.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready again within 10 s of the database returning"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = s
        .post(
            ids,
            json!({"identifiers": [{"kind": "email", "value": "after@example.com"}]}),
        )
        .await;
    assert_eq!(after.status, 201, "{after:?}");
    let list = s.get(&format!("{ids}?identifier=during@example.com")).await;
    assert_eq!(
        list.json["items"],
        json!([]),
        "the write refused during the outage did not happen"
    );
}
