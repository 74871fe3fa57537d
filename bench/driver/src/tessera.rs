//! Starting a release `tessera serve` on loopback with a fresh data directory, and the `startup` scenario.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::procs::{self, Proc};

/// How to start one Tessera.
pub struct TesseraOpts<'a> {
    pub bin: &'a Path,
    /// Pin the server to this CPU with `taskset`.
    pub cpu: Option<u32>,
    /// `full` or `normal` (SQLite only).
    pub synchronous: Option<&'a str>,
    /// A `postgres://` URL; SQLite in the data directory when absent.
    pub database_url: Option<&'a str>,
    pub work_dir: &'a Path,
    /// Further `TESSERA_*` settings, e.g. `("TESSERA_TRUSTED_PROXIES", "127.0.0.1")`.
    pub env: &'a [(&'a str, &'a str)],
}

/// A running Tessera; stopped and its data directory removed when dropped.
pub struct Tessera {
    pub proc: Proc,
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub key: String,
    pub spawned_at: Instant,
    // Declared after `proc` so the server stops before its directory is removed.
    _dir: tempfile::TempDir,
}

impl Tessera {
    pub fn spawn(opts: &TesseraOpts<'_>) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("tessera-bench-")
            .tempdir_in(opts.work_dir)
            .with_context(|| format!("creating a temp dir in {}", opts.work_dir.display()))?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data)?;
        let public: SocketAddr = format!("127.0.0.1:{}", procs::free_port()?).parse()?;
        let admin: SocketAddr = format!("127.0.0.1:{}", procs::free_port()?).parse()?;
        let key = procs::bench_key();
        let mut cmd = procs::command(&procs::pin_prefix(opts.cpu), opts.bin);
        cmd.arg("serve").current_dir(dir.path());
        // Nothing from the caller's TESSERA_* environment may leak into the measured server.
        for (k, _) in std::env::vars() {
            if k.starts_with("TESSERA_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("TESSERA_PUBLIC_ADDR", public.to_string())
            .env("TESSERA_ADMIN_ADDR", admin.to_string())
            .env("TESSERA_DATA_DIR", &data)
            .env("TESSERA_BOOTSTRAP_ADMIN_KEY", &key)
            .env("TESSERA_LOG_LEVEL", "warn")
            // The customers the sign-in scenario registers prove their addresses with codes from the
            // development mailbox, which only a development node on a loopback base URL serves (issue 7).
            // Development mode changes cookie names and the mailbox, nothing a sign-in measures.
            .env("TESSERA_DEV_MODE", "true");
        if let Some(s) = opts.synchronous {
            cmd.env("TESSERA_SQLITE_SYNCHRONOUS", s);
        }
        if let Some(url) = opts.database_url {
            cmd.env("TESSERA_DATABASE_URL", url);
        }
        for (k, v) in opts.env {
            cmd.env(k, v);
        }
        let log = dir.path().join("tessera.log");
        let spawned_at = Instant::now();
        let proc = Proc::spawn(cmd, "tessera serve", &log)?;
        Ok(Self {
            proc,
            public,
            admin,
            key,
            spawned_at,
            _dir: dir,
        })
    }

    /// Polls `GET /readyz` on the admin listener every millisecond; the time from spawn to the first 200.
    pub fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<Duration> {
        procs::wait_for_200(
            &mut self.proc,
            self.admin,
            "/readyz",
            self.spawned_at,
            Duration::from_millis(1),
            timeout,
        )
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The admin listener.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.admin)
    }

    /// The public listener (hosted pages and the flow API).
    pub fn public_url(&self) -> String {
        format!("http://{}", self.public)
    }
}

/// One start of the `startup` scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartupRun {
    pub ready_ms: f64,
    pub idle_rss_kb: u64,
}

/// The `startup` subcommand's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartupReport {
    pub server_cpu: Option<u32>,
    pub idle_secs: f64,
    pub runs: Vec<StartupRun>,
    pub ready_ms_median: f64,
    pub ready_ms_min: f64,
    pub ready_ms_max: f64,
    pub idle_rss_kb_median: f64,
}

/// Starts Tessera `runs` times on an empty SQLite database (after waiting for a quiet machine, when asked): time to the first 200 from `/readyz`, then the
/// resident set after `idle` seconds of rest.
pub fn startup(
    bin: &Path,
    runs: u32,
    idle: Duration,
    server_cpu: Option<u32>,
    work_dir: &Path,
    (quiet_threshold, quiet_wait): (f64, Duration),
) -> anyhow::Result<StartupReport> {
    let bin: PathBuf = bin
        .canonicalize()
        .with_context(|| format!("finding {}", bin.display()))?;
    let mut out = Vec::new();
    for i in 0..runs {
        if !quiet_wait.is_zero() {
            let (busy, quiet) = procs::wait_quiet(quiet_threshold, quiet_wait);
            if !quiet {
                eprintln!(
                    "(machine still busy: {busy:.2} cores in use by other work; measuring anyway)"
                );
            }
        }
        let opts = TesseraOpts {
            bin: &bin,
            cpu: server_cpu,
            synchronous: None,
            database_url: None,
            work_dir,
            env: &[],
        };
        let mut t = Tessera::spawn(&opts)?;
        let ready = t.wait_ready(Duration::from_secs(30))?;
        std::thread::sleep(idle);
        t.proc.check_alive()?;
        let rss = procs::status_kb(t.pid(), "VmRSS").unwrap_or(0);
        t.proc.stop();
        let run = StartupRun {
            ready_ms: ready.as_secs_f64() * 1000.0,
            idle_rss_kb: rss,
        };
        eprintln!(
            "startup run {}/{runs}: ready in {:.1} ms, idle RSS {:.1} MiB",
            i + 1,
            run.ready_ms,
            rss as f64 / 1024.0
        );
        out.push(run);
    }
    let ready: Vec<f64> = out.iter().map(|r| r.ready_ms).collect();
    let rss: Vec<f64> = out.iter().map(|r| r.idle_rss_kb as f64).collect();
    Ok(StartupReport {
        server_cpu,
        idle_secs: idle.as_secs_f64(),
        ready_ms_median: procs::median(&ready),
        ready_ms_min: ready.iter().copied().fold(f64::INFINITY, f64::min),
        ready_ms_max: ready.iter().copied().fold(0.0, f64::max),
        idle_rss_kb_median: procs::median(&rss),
        runs: out,
    })
}
