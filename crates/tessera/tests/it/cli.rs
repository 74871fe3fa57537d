//! The `tessera` command as an operator uses it: first start, restarts, configuration errors, graceful
//! shutdown, config as code, audit verification. These run the real binary on SQLite.
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

/// `tessera` in `dir` with a clean environment and loopback listeners on free ports.
pub(crate) fn tessera(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TESSERA_PUBLIC_ADDR", "127.0.0.1:0")
        .env("TESSERA_ADMIN_ADDR", "127.0.0.1:0")
        .env("TESSERA_LOG_LEVEL", "warn");
    c
}

/// A running `tessera serve`: what it printed up to readiness, and everything it logs (stderr is
/// drained into [`Served::logs`] so the server never blocks on a full pipe).
pub(crate) struct Served {
    child: Child,
    banner: Vec<String>,
    pub(crate) admin: String,
    logs: Arc<Mutex<String>>,
    /// The stderr reader; joined once the process has exited, so [`Served::logs`] is then complete.
    log_reader: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Spawns `serve` and waits (at most 30 s, whatever the process does) for its readiness line.
    pub(crate) fn start(mut cmd: Command) -> Served {
        let mut child = cmd
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Lines are read on their own thread, so a server that hangs without printing cannot block
        // the test: the wait below has a deadline.
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                // After readiness nobody listens; keep draining anyway.
                let _ = tx.send(line);
            }
        });
        let logs = Arc::new(Mutex::new(String::new()));
        let sink = logs.clone();
        let mut stderr = child.stderr.take().unwrap();
        let log_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    return;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut banner = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let done = line.starts_with("Serving;");
                    banner.push(line);
                    if done {
                        break;
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "tessera serve did not become ready ({e:?}); printed {banner:?}; logged:\n{}",
                        logs.lock().unwrap()
                    );
                }
            }
        }
        let admin = banner
            .iter()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("admin:")
                    .map(|r| r.trim().split('/').take(3).collect::<Vec<_>>().join("/"))
            })
            .unwrap_or_else(|| panic!("no admin address in {banner:?}"));
        Served {
            child,
            banner,
            admin,
            logs,
            log_reader: Some(log_reader),
        }
    }

    /// Everything the server wrote to stderr so far.
    pub(crate) fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Sends SIGTERM.
    fn signal_term(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn key(&self) -> Option<String> {
        self.banner
            .iter()
            .find_map(|l| l.trim().strip_prefix("tsk_").map(|k| format!("tsk_{k}")))
    }

    /// Sends SIGTERM and waits (at most 20 s) for the process to exit.
    pub(crate) fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal_term();
        self.wait_exit()
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if let Some(r) = self.log_reader.take() {
                    let _ = r.join();
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "tessera did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn blocking_client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn first_start_prints_one_key_and_a_restart_reuses_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Served::start(tessera(dir.path()));
    let key = first.key().expect("the first start prints a bootstrap key");
    assert!(
        first
            .banner
            .iter()
            .any(|l| l.contains("public:") && l.contains("127.0.0.1:")),
        "{:?}",
        first.banner
    );
    assert!(
        dir.path().join("tessera-data/tessera.db").exists(),
        "data lives in ./tessera-data by default"
    );
    let http = blocking_client();
    let r = http
        .post(format!(
            "{}/admin/v1/tenants/default/identities",
            first.admin
        ))
        .bearer_auth(&key)
        .json(&json!({"identifiers": [{"kind": "email", "value": "kept@example.com"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(first.terminate().success());

    let mut second = Served::start(tessera(dir.path()));
    assert_eq!(
        second.key(),
        None,
        "a restart prints no new key: {:?}",
        second.banner
    );
    let list: serde_json::Value = http
        .get(format!(
            "{}/admin/v1/tenants/default/identities?identifier=kept@example.com",
            second.admin
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "the data survived the restart"
    );
    assert!(second.terminate().success());
}

#[tokio::test]
async fn a_configured_bootstrap_key_is_used_and_nothing_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("tsk_{}", "Q".repeat(43));
    let key_file = dir.path().join("admin.key");
    std::fs::write(&key_file, format!("{secret}\n")).unwrap();
    let mut cmd = tessera(dir.path());
    cmd.env("TESSERA_BOOTSTRAP_ADMIN_KEY_FILE", &key_file);
    let mut served = Served::start(cmd);
    assert_eq!(served.key(), None);
    assert!(!served.banner.join("\n").contains(&secret));
    let r = blocking_client()
        .get(format!("{}/admin/v1/tenants", served.admin))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    served.terminate();
}

#[test]
fn a_bad_setting_names_the_key_the_value_and_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let out = tessera(dir.path())
        .env("TESSERA_ADMIN_ADDR", "localhost:eighty")
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("admin_addr")
            && err.contains("\"localhost:eighty\"")
            && err.contains("TESSERA_ADMIN_ADDR"),
        "{err}"
    );
    std::fs::write(dir.path().join("tessera.toml"), "log_format = \"xml\"\n").unwrap();
    let out = tessera(dir.path()).arg("serve").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("log_format") && err.contains("tessera.toml"),
        "{err}"
    );
}

/// SIGTERM while a request is half sent: the server has read the head (it answered `100 Continue`), the
/// signal is handled (the listener refuses new connections), then the rest of the body arrives and the
/// request completes. No fixed sleeps: each step waits for the one before.
#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = Served::start(tessera(dir.path()));
    let key = served.key().unwrap();
    let addr = served.admin.trim_start_matches("http://").to_owned();
    let body =
        json!({"identifiers": [{"kind": "email", "value": "inflight@example.com"}]}).to_string();
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        sock,
        "POST /admin/v1/tenants/default/identities HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    sock.flush().unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    let mut interim = String::new();
    reader.read_line(&mut interim).unwrap();
    assert!(
        interim.starts_with("HTTP/1.1 100"),
        "the server read the head and waits for the body: {interim:?}"
    );
    let mut blank = String::new();
    reader.read_line(&mut blank).unwrap();
    assert_eq!(blank, "\r\n");

    served.signal_term();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the admin listener still accepts 20 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    sock.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    reader.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "the request in flight at SIGTERM completed: {response}"
    );
    assert!(served.wait_exit().success(), "{}", served.logs());
}

#[test]
fn openapi_prints_the_admin_document() {
    let dir = tempfile::tempdir().unwrap();
    let out = tessera(dir.path()).arg("openapi").output().unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
}

const STATE: &str = r#"
[[tenants]]
slug = "acme"
name = "Acme"

[tenants.attribute_schema]
attributes = [
  { name = "given_name", type = "string", max_length = 100, customer_editable = true },
  { name = "plan", type = "enum", values = ["free", "pro"] },
]

[tenants.policy]
reason = "launch settings"
[tenants.policy.document.sessions]
idle_timeout_minutes = 60
[tenants.policy.document.registration]
required_attributes = ["given_name"]

[[tenants.organizations]]
name = "Globex"
domains = ["globex.com"]

[[api_keys]]
name = "ci-product"
role = "product"
tenant = "acme"
"#;

#[test]
fn apply_is_idempotent_and_dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("state.toml"), STATE).unwrap();
    let run = |args: &[&str]| {
        let out = tessera(dir.path()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dry = run(&["apply", "-f", "state.toml", "--dry-run"]);
    assert!(
        dry.contains("+ create tenant acme") && dry.contains("dry run"),
        "{dry}"
    );
    let first = run(&["apply", "-f", "state.toml"]);
    for line in [
        "+ create tenant acme",
        "+ create attribute schema of tenant acme",
        "+ create policy of tenant acme",
        "+ create organization Globex",
        "+ create api key ci-product",
    ] {
        assert!(first.contains(line), "missing {line:?} in {first}");
    }
    assert!(first.contains("new API key ci-product: tsk_"), "{first}");
    let second = run(&["apply", "-f", "state.toml"]);
    assert!(
        second.contains("no changes") && !second.contains("+ ") && !second.contains("~ "),
        "{second}"
    );
    std::fs::write(
        dir.path().join("state.toml"),
        STATE.replace("idle_timeout_minutes = 60", "idle_timeout_minutes = 30"),
    )
    .unwrap();
    let third = run(&["apply", "-f", "state.toml"]);
    assert!(third.contains("~ update policy of tenant acme"), "{third}");
    assert_eq!(
        third.matches("~ ").count() + third.matches("+ ").count(),
        1,
        "{third}"
    );
}

#[test]
fn apply_refuses_an_invalid_file_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[[tenants]]\nslug = \"x\"\nname = \"X\"\ncolour = 1\n",
    )
    .unwrap();
    let out = tessera(dir.path())
        .args(["apply", "-f", "bad.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("colour"));
}

#[test]
fn audit_verify_fails_on_a_tampered_log() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("state.toml"), STATE).unwrap();
    assert!(
        tessera(dir.path())
            .args(["apply", "-f", "state.toml"])
            .output()
            .unwrap()
            .status
            .success()
    );
    let ok = tessera(dir.path())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("tenant acme: intact"));
    let db = dir.path().join("tessera-data/tessera.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query("UPDATE events SET actor = 'someone-else' WHERE type = 'policy.updated'")
            .execute(&mut c)
            .await
            .unwrap();
    });
    let bad = tessera(dir.path())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains("tenant acme: TAMPERED") && out.contains("edited"),
        "{out}"
    );
}

#[test]
fn migrate_applies_the_schema_and_is_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = tessera(dir.path()).arg("migrate").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn json_logs_carry_the_request_id_on_every_request_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tessera(dir.path());
    cmd.env("TESSERA_LOG_FORMAT", "json")
        .env("TESSERA_LOG_LEVEL", "info");
    let mut served = Served::start(cmd);
    let r = reqwest::Client::new()
        .get(format!("{}/healthz", served.admin))
        .send()
        .await
        .unwrap();
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(served.terminate().success());
    let err = served.logs();
    let line = err
        .lines()
        .find(|l| l.contains(&rid))
        .unwrap_or_else(|| panic!("no log line with the request id in:\n{err}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["span"]["request_id"], rid.as_str(), "{line}");
}
