//! The load generator: N concurrent tasks with one shared reqwest client (keep-alive pool), for a warm-up
//! and then a measured window. Only requests that complete inside the window count.
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::procs::{self, XorShift};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// POST /admin/v1/tenants/{tenant}/identities with a unique email each time.
    Create,
    /// GET /admin/v1/tenants/{tenant}/identities/{id} of ids read from --ids-in.
    Get,
    /// GET --path (the empty-response limit server).
    Plain,
}

#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// e.g. http://127.0.0.1:8081
    #[arg(long)]
    pub base_url: String,
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// Sent as `Authorization: Bearer KEY`.
    #[arg(long, default_value = "")]
    pub key: String,
    #[arg(long, default_value = "default")]
    pub tenant: String,
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 10.0)]
    pub duration_secs: f64,
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    /// Path for `plain` mode.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// create: write the created ids here, one a line.
    #[arg(long)]
    pub ids_out: Option<PathBuf>,
    /// get: the ids to read.
    #[arg(long)]
    pub ids_in: Option<PathBuf>,
    /// Sample this process's RSS and CPU time during the window.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

/// What one load run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadReport {
    pub mode: Mode,
    pub concurrency: usize,
    pub duration_s: f64,
    pub requests: u64,
    /// Failed requests in the window and during warm-up (transport errors and unexpected statuses).
    pub errors: u64,
    pub warmup_requests: u64,
    pub rps: f64,
    pub p50_us: u32,
    pub p90_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
    pub server_rss_start_kb: Option<u64>,
    /// The highest VmRSS sampled every 20 ms during the run, or VmHWM if higher.
    pub server_rss_peak_kb: Option<u64>,
    pub server_cpu_us_per_req: Option<f64>,
    /// Cores' worth of CPU that neither the server nor this driver used during the window: other
    /// processes on this machine (for PostgreSQL, this includes the database's own backends).
    pub others_cores: Option<f64>,
    pub error_samples: Vec<String>,
    pub ids_written: Option<usize>,
}

struct Shared {
    client: reqwest::Client,
    args: LoadArgs,
    ids: Vec<String>,
    start: Instant,
    end: Instant,
    run_tag: u64,
    errors: AtomicU64,
    warmup_requests: AtomicU64,
    error_samples: std::sync::Mutex<Vec<String>>,
}

struct TaskOut {
    latencies_us: Vec<u32>,
    created: Vec<String>,
}

impl Shared {
    fn note_error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut s) = self.error_samples.lock()
            && s.len() < 5
        {
            s.push(e);
        }
    }
}

async fn one_request(
    sh: &Shared,
    task: usize,
    seq: u64,
    rng: &mut XorShift,
) -> Result<Option<String>, String> {
    let a = &sh.args;
    match a.mode {
        Mode::Create => {
            let email = format!("b{:x}-{task}-{seq}@example.com", sh.run_tag);
            let body = serde_json::json!({"identifiers": [{"kind": "email", "value": email}]});
            let url = format!("{}/admin/v1/tenants/{}/identities", a.base_url, a.tenant);
            let resp = sh
                .client
                .post(url)
                .json(&body)
                .send()
                .await
                .map_err(|e| format!("POST: {e}"))?;
            let status = resp.status();
            if status.as_u16() != 201 {
                let text = resp.text().await.unwrap_or_default();
                return Err(format!(
                    "POST: status {status}: {}",
                    text.chars().take(300).collect::<String>()
                ));
            }
            let v: serde_json::Value = resp.json().await.map_err(|e| format!("POST: body: {e}"))?;
            match v.get("id").and_then(|i| i.as_str()) {
                Some(id) => Ok(Some(id.to_owned())),
                None => Err("POST: 201 without an id".into()),
            }
        }
        Mode::Get => {
            let id = &sh.ids[(rng.next_u64() % sh.ids.len() as u64) as usize];
            let url = format!(
                "{}/admin/v1/tenants/{}/identities/{id}",
                a.base_url, a.tenant
            );
            let resp = sh
                .client
                .get(url)
                .send()
                .await
                .map_err(|e| format!("GET: {e}"))?;
            let status = resp.status();
            let body = resp.bytes().await.map_err(|e| format!("GET: body: {e}"))?;
            if status.as_u16() != 200 {
                return Err(format!(
                    "GET: status {status}: {}",
                    String::from_utf8_lossy(&body)
                        .chars()
                        .take(300)
                        .collect::<String>()
                ));
            }
            Ok(None)
        }
        Mode::Plain => {
            let resp = sh
                .client
                .get(format!("{}{}", a.base_url, a.path))
                .send()
                .await
                .map_err(|e| format!("GET: {e}"))?;
            let status = resp.status();
            let _ = resp.bytes().await.map_err(|e| format!("GET: body: {e}"))?;
            if status.as_u16() != 200 {
                return Err(format!("GET: status {status}"));
            }
            Ok(None)
        }
    }
}

async fn task_loop(sh: Arc<Shared>, task: usize) -> TaskOut {
    let mut out = TaskOut {
        latencies_us: Vec::with_capacity(1 << 14),
        created: Vec::new(),
    };
    let mut rng = XorShift::new(sh.run_tag ^ ((task as u64 + 1) * 0x9E37_79B9_7F4A_7C15));
    let mut seq = 0u64;
    loop {
        let t0 = Instant::now();
        if t0 >= sh.end {
            break;
        }
        let r = one_request(&sh, task, seq, &mut rng).await;
        seq += 1;
        let t1 = Instant::now();
        let in_window = t1 >= sh.start && t1 < sh.end;
        match r {
            Ok(created) => {
                if let Some(id) = created {
                    out.created.push(id);
                }
                if in_window {
                    out.latencies_us
                        .push(u32::try_from(t1.duration_since(t0).as_micros()).unwrap_or(u32::MAX));
                } else if t1 < sh.start {
                    sh.warmup_requests.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => {
                sh.note_error(e);
                // Do not spin on a dead server.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    out
}

fn rss_now(pid: Option<u32>) -> Option<u64> {
    pid.and_then(|p| procs::status_kb(p, "VmRSS"))
}

/// Watches the server during a load run: its resident set (sampled every 20 ms for the whole run, plus
/// VmHWM), and, over the measured window, its CPU time and the CPU the rest of the machine used.
pub struct Meter {
    pid: Option<u32>,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    sampler: tokio::task::JoinHandle<()>,
}

/// Readings taken when the measured window opened.
pub struct OpenWindow {
    at: Instant,
    pid: Option<u32>,
    rss_start_kb: Option<u64>,
    server: Option<u64>,
    busy: Option<u64>,
    driver: Option<u64>,
}

/// Tick counts over a closed window.
pub struct ClosedWindow {
    pub secs: f64,
    rss_start_kb: Option<u64>,
    server: Option<u64>,
    others: Option<u64>,
}

/// What a [`Meter`] reports for a run.
pub struct MeterFigures {
    pub rss_start_kb: Option<u64>,
    pub rss_peak_kb: Option<u64>,
    pub cpu_us_per_req: Option<f64>,
    pub others_cores: Option<f64>,
}

impl Meter {
    /// Starts sampling the resident set of `pid` (if any).
    pub fn start(pid: Option<u32>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let sampler = {
            let (stop, peak) = (stop.clone(), peak.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kb) = rss_now(pid) {
                        peak.fetch_max(kb, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        Self {
            pid,
            stop,
            peak,
            sampler,
        }
    }

    /// The measured window begins now.
    pub fn open(&self) -> OpenWindow {
        OpenWindow {
            at: Instant::now(),
            pid: self.pid,
            rss_start_kb: rss_now(self.pid),
            server: self.pid.and_then(procs::cpu_ticks),
            busy: procs::machine_busy_ticks(),
            driver: procs::cpu_ticks(std::process::id()),
        }
    }

    /// Stops sampling; CPU per request over the window's `requests`.
    pub async fn finish(self, w: &ClosedWindow, requests: u64) -> MeterFigures {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.sampler.await;
        let hwm = self.pid.and_then(|p| procs::status_kb(p, "VmHWM"));
        let sampled = self.peak.load(Ordering::Relaxed);
        let tck = procs::clk_tck() as f64;
        MeterFigures {
            rss_start_kb: w.rss_start_kb,
            rss_peak_kb: match (hwm, sampled) {
                (None, 0) => None,
                (h, s) => Some(h.unwrap_or(0).max(s)),
            },
            cpu_us_per_req: w
                .server
                .filter(|_| requests > 0)
                .map(|t| t as f64 * 1e6 / tck / requests as f64),
            others_cores: w.others.map(|t| t as f64 / tck / w.secs),
        }
    }
}

impl OpenWindow {
    /// The measured window ends now.
    pub fn close(self) -> ClosedWindow {
        let server1 = self.pid.and_then(procs::cpu_ticks);
        let busy1 = procs::machine_busy_ticks();
        let driver1 = procs::cpu_ticks(std::process::id());
        let server = match (self.server, server1) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        let others = match (self.busy, busy1, self.driver, driver1) {
            (Some(b0), Some(b1), Some(d0), Some(d1)) => Some(
                b1.saturating_sub(b0)
                    .saturating_sub(d1.saturating_sub(d0))
                    .saturating_sub(server.unwrap_or(0)),
            ),
            _ => None,
        };
        ClosedWindow {
            secs: self.at.elapsed().as_secs_f64(),
            rss_start_kb: self.rss_start_kb,
            server,
            others,
        }
    }
}

pub async fn run(args: LoadArgs) -> anyhow::Result<LoadReport> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let ids = match (args.mode, &args.ids_in) {
        (Mode::Get, Some(p)) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let ids: Vec<String> = text
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            if ids.is_empty() {
                bail!("{} holds no ids", p.display());
            }
            ids
        }
        (Mode::Get, None) => bail!("--mode get needs --ids-in"),
        _ => Vec::new(),
    };
    let mut headers = reqwest::header::HeaderMap::new();
    if !args.key.is_empty() {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", args.key)
                .parse()
                .context("the key is not a header value")?,
        );
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .default_headers(headers)
        .build()?;
    let now = Instant::now();
    let start = now + Duration::from_secs_f64(args.warmup_secs);
    let end = start + Duration::from_secs_f64(args.duration_secs);
    let server_pid = args.server_pid;
    let sh = Arc::new(Shared {
        client,
        ids,
        start,
        end,
        run_tag: XorShift::seeded().next_u64() & 0xffff_ffff_ffff,
        errors: AtomicU64::new(0),
        warmup_requests: AtomicU64::new(0),
        error_samples: std::sync::Mutex::new(Vec::new()),
        args,
    });

    let meter = Meter::start(server_pid);
    let tasks: Vec<_> = (0..sh.args.concurrency)
        .map(|i| tokio::spawn(task_loop(sh.clone(), i)))
        .collect();
    tokio::time::sleep_until(start.into()).await;
    let window = meter.open();
    tokio::time::sleep_until(end.into()).await;
    let window = window.close();

    let mut lat = Vec::new();
    let mut created = Vec::new();
    for t in tasks {
        let out = t.await?;
        lat.extend(out.latencies_us);
        created.extend(out.created);
    }
    lat.sort_unstable();
    let requests = lat.len() as u64;
    let figures = meter.finish(&window, requests).await;
    let ids_written = match &sh.args.ids_out {
        Some(p) if sh.args.mode == Mode::Create => {
            let mut text = created.join("\n");
            text.push('\n');
            std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
            Some(created.len())
        }
        _ => None,
    };
    let error_samples = sh
        .error_samples
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    Ok(LoadReport {
        mode: sh.args.mode,
        concurrency: sh.args.concurrency,
        duration_s: window.secs,
        requests,
        errors: sh.errors.load(Ordering::Relaxed),
        warmup_requests: sh.warmup_requests.load(Ordering::Relaxed),
        rps: requests as f64 / window.secs,
        p50_us: procs::quantile(&lat, 0.50),
        p90_us: procs::quantile(&lat, 0.90),
        p99_us: procs::quantile(&lat, 0.99),
        max_us: lat.last().copied().unwrap_or(0),
        server_rss_start_kb: figures.rss_start_kb,
        server_rss_peak_kb: figures.rss_peak_kb,
        server_cpu_us_per_req: figures.cpu_us_per_req,
        others_cores: figures.others_cores,
        error_samples,
        ids_written,
    })
}
