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

    // RSS sampler for the whole run.
    let stop_sampler = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop_sampler.clone(), peak.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(kb) = rss_now(server_pid) {
                    peak.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let tasks: Vec<_> = (0..sh.args.concurrency)
        .map(|i| tokio::spawn(task_loop(sh.clone(), i)))
        .collect();
    tokio::time::sleep_until(start.into()).await;
    let rss_start = rss_now(server_pid);
    let cpu0 = server_pid.and_then(procs::cpu_ticks);
    let busy0 = procs::machine_busy_ticks();
    let self0 = procs::cpu_ticks(std::process::id());
    let win0 = Instant::now();
    tokio::time::sleep_until(end.into()).await;
    let cpu1 = server_pid.and_then(procs::cpu_ticks);
    let busy1 = procs::machine_busy_ticks();
    let self1 = procs::cpu_ticks(std::process::id());
    let window = win0.elapsed().as_secs_f64();

    let mut lat = Vec::new();
    let mut created = Vec::new();
    for t in tasks {
        let out = t.await?;
        lat.extend(out.latencies_us);
        created.extend(out.created);
    }
    stop_sampler.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let hwm = server_pid.and_then(|p| procs::status_kb(p, "VmHWM"));
    let sampled = peak.load(Ordering::Relaxed);
    let peak_kb = match (hwm, sampled) {
        (None, 0) => None,
        (h, s) => Some(h.unwrap_or(0).max(s)),
    };

    lat.sort_unstable();
    let requests = lat.len() as u64;
    let cpu_per_req = match (cpu0, cpu1) {
        (Some(a), Some(b)) if requests > 0 => {
            Some((b.saturating_sub(a)) as f64 * 1e6 / procs::clk_tck() as f64 / requests as f64)
        }
        _ => None,
    };
    let others_cores = match (busy0, busy1, self0, self1) {
        (Some(b0), Some(b1), Some(s0), Some(s1)) => {
            let server = match (cpu0, cpu1) {
                (Some(a), Some(b)) => b.saturating_sub(a),
                _ => 0,
            };
            let others = b1
                .saturating_sub(b0)
                .saturating_sub(s1.saturating_sub(s0))
                .saturating_sub(server);
            Some(others as f64 / procs::clk_tck() as f64 / window)
        }
        _ => None,
    };
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
        duration_s: window,
        requests,
        errors: sh.errors.load(Ordering::Relaxed),
        warmup_requests: sh.warmup_requests.load(Ordering::Relaxed),
        rps: requests as f64 / window,
        p50_us: procs::quantile(&lat, 0.50),
        p90_us: procs::quantile(&lat, 0.90),
        p99_us: procs::quantile(&lat, 0.99),
        max_us: lat.last().copied().unwrap_or(0),
        server_rss_start_kb: rss_start,
        server_rss_peak_kb: peak_kb,
        server_cpu_us_per_req: cpu_per_req,
        others_cores,
        error_samples,
        ids_written,
    })
}
