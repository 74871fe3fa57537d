//! The limits each scenario is compared with: an axum server that answers an empty JSON object (same axum
//! version and features as Tessera), raw single-row SQLite inserts through sqlx in WAL mode, and argon2id
//! verifications at Tessera's default parameters through Tessera's own hashing code.
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};

use crate::procs;

/// Serves `GET /` → `200 {}` until SIGTERM or Ctrl-C.
pub async fn serve_empty(addr: SocketAddr) -> anyhow::Result<()> {
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async { axum::Json(serde_json::json!({})) }),
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    println!(
        "limit-server listening on http://{}",
        listener.local_addr()?
    );
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sync {
    Full,
    Normal,
}

/// What `limit-sqlite` measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SqliteLimit {
    pub synchronous: Sync,
    pub inserts: u64,
    pub duration_s: f64,
    pub inserts_per_s: f64,
    pub p50_us: u32,
    pub p99_us: u32,
    pub sqlite_version: Option<String>,
}

/// One connection, one autocommitted `INSERT` after another for `duration`, in a fresh database file.
pub async fn sqlite_inserts(
    sync: Sync,
    duration: Duration,
    work_dir: &Path,
) -> anyhow::Result<SqliteLimit> {
    let dir = tempfile::Builder::new()
        .prefix("tessera-bench-sqlite-")
        .tempdir_in(work_dir)?;
    let opts = SqliteConnectOptions::new()
        .filename(dir.path().join("limit.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match sync {
            Sync::Full => SqliteSynchronous::Full,
            Sync::Normal => SqliteSynchronous::Normal,
        })
        .busy_timeout(Duration::from_secs(5));
    let mut conn = SqliteConnection::connect_with(&opts).await?;
    let sqlite_version: Option<String> = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(&mut conn)
        .await
        .ok();
    sqlx::query(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, body TEXT NOT NULL, created_at INTEGER NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    let body = r#"{"identifiers":[{"kind":"email","value":"u@example.com"}],"attributes":{}}"#;
    let mut lat = Vec::with_capacity(1 << 16);
    let start = Instant::now();
    let end = start + duration;
    let mut i: u64 = 0;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        sqlx::query("INSERT INTO t (email, body, created_at) VALUES (?, ?, ?)")
            .bind(format!("u{i}@example.com"))
            .bind(body)
            .bind(i as i64)
            .execute(&mut conn)
            .await?;
        lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
        i += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    conn.close().await?;
    lat.sort_unstable();
    Ok(SqliteLimit {
        synchronous: sync,
        inserts: i,
        duration_s: elapsed,
        inserts_per_s: i as f64 / elapsed,
        p50_us: procs::quantile(&lat, 0.5),
        p99_us: procs::quantile(&lat, 0.99),
        sqlite_version,
    })
}

/// What `limit-argon2` measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Argon2Limit {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub threads: usize,
    pub verifications: u64,
    pub duration_s: f64,
    pub verifications_per_s: f64,
    pub p50_us: u32,
    pub p99_us: u32,
}

/// `threads` threads each verifying one password against its argon2id hash (Tessera's default
/// parameters, made by `tessera_crypto`, no pepper, each thread reusing one working buffer: exactly
/// what the benchmarked server runs per sign-in) for `duration`: the most password sign-ins per second
/// those cores could ever complete.
pub fn argon2_verifications(threads: usize, duration: Duration) -> anyhow::Result<Argon2Limit> {
    use tessera_crypto::password::{
        HashMemory, PasswordParams, hash_password, verify_password_with_memory,
    };
    let params = PasswordParams::default();
    let password = "an argon2id limit for the sign-in benchmark";
    let phc = hash_password(password, &params, None)?;
    let start = Instant::now();
    let end = start + duration;
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let phc = phc.clone();
            std::thread::spawn(move || -> anyhow::Result<Vec<u32>> {
                let mut lat = Vec::new();
                // Reused like the server's pool reuses it (and zeroed after each use, as there).
                let mut memory = HashMemory::new();
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        return Ok(lat);
                    }
                    let check =
                        verify_password_with_memory(password, &phc, &params, None, &mut memory)?;
                    anyhow::ensure!(check.matches, "the limit's own hash did not verify");
                    lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
            })
        })
        .collect();
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(
            w.join()
                .map_err(|_| anyhow::anyhow!("a hashing thread panicked"))??,
        );
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let n = lat.len() as u64;
    Ok(Argon2Limit {
        memory_kib: params.memory_kib,
        iterations: params.iterations,
        parallelism: params.parallelism,
        threads: threads.max(1),
        verifications: n,
        duration_s: elapsed,
        verifications_per_s: n as f64 / elapsed,
        p50_us: procs::quantile(&lat, 0.5),
        p99_us: procs::quantile(&lat, 0.99),
    })
}

/// What `limit-es256` measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Es256Limit {
    pub signatures: u64,
    pub duration_s: f64,
    pub signatures_per_s: f64,
    pub p50_us: u32,
    pub p99_us: u32,
}

/// One thread signing an access token's claims with ES256 through Tessera's own
/// `tessera_crypto::jws` (header and claims serialised, base64url, ECDSA P-256) in a loop for
/// `duration`: the most JWT access tokens per second one core could ever issue.
pub fn es256_signatures(duration: Duration) -> anyhow::Result<Es256Limit> {
    use tessera_crypto::jws::{JwsAlg, SigningKey, generate_pkcs8};
    let pkcs8 = generate_pkcs8(JwsAlg::ES256).map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = SigningKey::from_pkcs8(JwsAlg::ES256, "bench-limit-key-000000", &pkcs8)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut lat = Vec::with_capacity(1 << 18);
    let start = Instant::now();
    let end = start + duration;
    let mut i: u64 = 0;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        // Claims shaped like Tessera's client_credentials access token (RFC 9068).
        let claims = serde_json::json!({
            "iss": "http://127.0.0.1:8080/t/default",
            "sub": "bench",
            "aud": "http://127.0.0.1:8080/t/default",
            "client_id": "bench",
            "scope": "api:read",
            "iat": 1_796_600_000 + i,
            "exp": 1_796_600_600 + i,
            "jti": format!("limit-{i:032}"),
        });
        let jws = key
            .sign("at+jwt", &claims)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        std::hint::black_box(jws);
        lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
        i += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    Ok(Es256Limit {
        signatures: i,
        duration_s: elapsed,
        signatures_per_s: i as f64 / elapsed,
        p50_us: procs::quantile(&lat, 0.5),
        p99_us: procs::quantile(&lat, 0.99),
    })
}
