//! The sign-in scenario (S7): customers are registered through the JSON flow API (their codes read from
//! the dev mailbox), then the hosted sign-in form is driven the way a browser without JavaScript drives
//! it: `GET /t/{tenant}/login` (a new flow and its binding cookie, 303), `GET` of the flow's page (the
//! form with its CSRF token), `POST` of the form (argon2id, a session cookie, 303).
//!
//! Three measurements use it: `signin-load` (closed loop: sign-ins per second), `page-load` (open loop at
//! a fixed arrival rate: latency of the two GETs that show the sign-in page) and `enumeration` (one
//! attempt at a time: response times of wrong passwords for existing accounts against unknown
//! identifiers, and a two-sample Kolmogorov-Smirnov test between them).
//!
//! Every request carries `X-Forwarded-For` with a random client address from 198.18.0.0/15 (the range
//! set aside for benchmarks), and the benchmarked Tessera trusts 127.0.0.1 as a proxy, so the per-IP
//! failure throttle sees many clients, as it would behind a load balancer.
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::load::Meter;
use crate::procs::{self, XorShift};

/// The password every benchmark customer registers with.
pub const PASSWORD: &str = "benchmark customers sign in often 2026";
/// A wrong password of the same length, for the enumeration samples.
const WRONG_PASSWORD: &str = "benchmark customers sign in rarely 26";

pub(crate) fn client(pool: usize) -> anyhow::Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("en"));
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(pool)
        .timeout(Duration::from_secs(60))
        .default_headers(headers)
        .build()?)
}

/// A random address in 198.18.0.0/15.
pub(crate) fn client_ip(rng: &mut XorShift) -> String {
    let r = rng.next_u64();
    format!(
        "198.{}.{}.{}",
        18 + (r >> 16) % 2,
        (r >> 8) % 256,
        (r % 254) + 1
    )
}

pub(crate) fn short(body: &str) -> String {
    body.chars().take(300).collect()
}

/// One customer's browser for one sign-in: the cookies it was given and the address it comes from.
pub(crate) struct Browser {
    pub(crate) cookies: Vec<(String, String)>,
    pub(crate) ip: String,
}

impl Browser {
    pub(crate) fn new(rng: &mut XorShift) -> Self {
        Self {
            cookies: Vec::new(),
            ip: client_ip(rng),
        }
    }

    pub(crate) fn take_cookies(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(header::SET_COOKIE) {
            let Some((name, value)) = v
                .to_str()
                .ok()
                .and_then(|s| s.split(';').next())
                .and_then(|p| p.split_once('='))
            else {
                continue;
            };
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    pub(crate) fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) fn has_cookie_ending(&self, suffix: &str) -> bool {
        self.cookies.iter().any(|(n, _)| n.ends_with(suffix))
    }

    pub(crate) fn get(&self, http: &reqwest::Client, url: String) -> reqwest::RequestBuilder {
        let mut r = http.get(url).header("x-forwarded-for", &self.ip);
        if !self.cookies.is_empty() {
            r = r.header(header::COOKIE, self.cookie_header());
        }
        r
    }
}

/// Where a sign-in form was found: the flow's page and its CSRF token.
pub(crate) struct Form {
    path: String,
    csrf: String,
}

/// Opens the sign-in page as a new browser would; the latencies of the two GETs.
pub(crate) async fn open_form(
    http: &reqwest::Client,
    public: &str,
    tenant: &str,
    browser: &mut Browser,
) -> Result<(Form, u32, u32), String> {
    let t0 = Instant::now();
    let r = browser
        .get(http, format!("{public}/t/{tenant}/login"))
        .send()
        .await
        .map_err(|e| format!("GET login: {e}"))?;
    let status = r.status().as_u16();
    browser.take_cookies(r.headers());
    let location = r
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let _ = r.bytes().await;
    let start_us = micros(t0);
    let Some(path) = location.filter(|_| status == 303) else {
        return Err(format!("GET login: status {status}, no redirect to a flow"));
    };
    let t1 = Instant::now();
    let r = browser
        .get(http, format!("{public}{path}"))
        .send()
        .await
        .map_err(|e| format!("GET flow: {e}"))?;
    let status = r.status().as_u16();
    let body = r.text().await.map_err(|e| format!("GET flow: body: {e}"))?;
    let show_us = micros(t1);
    if status != 200 {
        return Err(format!("GET flow: status {status}: {}", short(&body)));
    }
    let csrf = extract_csrf(&body).ok_or("GET flow: no csrf_token field in the page")?;
    Ok((Form { path, csrf }, start_us, show_us))
}

pub(crate) fn micros(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX)
}

fn extract_csrf(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf_token\"")?;
    let rest = html.get(at..)?;
    let v = rest.get(rest.find("value=\"")? + 7..)?;
    Some(v.get(..v.find('"')?)?.to_owned())
}

/// What the form answered to a POST.
pub(crate) struct Posted {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) micros: u32,
}

pub(crate) async fn post_form(
    http: &reqwest::Client,
    public: &str,
    browser: &mut Browser,
    form: &Form,
    identifier: &str,
    password: &str,
) -> Result<Posted, String> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf_token", &form.csrf)
        .append_pair("identifier", identifier)
        .append_pair("password", password)
        .append_pair("method", "password")
        .finish();
    let t0 = Instant::now();
    let r = http
        .post(format!("{public}{}", form.path))
        .header("x-forwarded-for", &browser.ip)
        .header(header::COOKIE, browser.cookie_header())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST flow: {e}"))?;
    let status = r.status().as_u16();
    browser.take_cookies(r.headers());
    let body = r
        .text()
        .await
        .map_err(|e| format!("POST flow: body: {e}"))?;
    Ok(Posted {
        status,
        body,
        micros: micros(t0),
    })
}

// ---------------------------------------------------------------------------------------------------
// setup-users

#[derive(Debug, Clone, clap::Args)]
pub struct SetupArgs {
    /// The public listener, e.g. http://127.0.0.1:8080
    #[arg(long)]
    pub public: String,
    /// The admin listener (for the dev mailbox).
    #[arg(long)]
    pub admin: String,
    #[arg(long, default_value = "default")]
    pub tenant: String,
    #[arg(long)]
    pub count: usize,
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Where the registered email addresses go, one a line.
    #[arg(long)]
    pub out: PathBuf,
}

/// What `setup-users` did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetupReport {
    pub registered: usize,
    pub secs: f64,
    pub per_s: f64,
}

/// POSTs to the flow API from `ip`, with the flow's secret once there is one (every call after the start).
async fn api(
    http: &reqwest::Client,
    url: String,
    ip: &str,
    secret: Option<&str>,
    body: &Value,
    want: u16,
) -> anyhow::Result<Value> {
    let mut req = http.post(&url).header("x-forwarded-for", ip);
    if let Some(s) = secret {
        req = req.header("tessera-flow-secret", s);
    }
    let r = req.json(body).send().await?;
    let status = r.status().as_u16();
    let text = r.text().await?;
    if status != want {
        bail!("POST {url}: status {status}: {}", short(&text));
    }
    Ok(serde_json::from_str(&text)?)
}

async fn code_for(http: &reqwest::Client, admin: &str, to: &str) -> anyhow::Result<String> {
    for _ in 0..200 {
        let mails: Vec<Value> = http
            .get(format!("{admin}/dev/mailbox.json"))
            .send()
            .await?
            .json()
            .await?;
        let code = mails
            .iter()
            .find(|m| m["to"] == to)
            .and_then(|m| m["text"].as_str())
            .and_then(|t| {
                t.split(|c: char| !c.is_ascii_digit())
                    .find(|w| w.len() == 6)
                    .map(str::to_owned)
            });
        if let Some(c) = code {
            return Ok(c);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("no code mailed to {to}")
}

/// Registers one customer: email, code from the dev mailbox, password. Each comes from its own address:
/// sign-ups are counted per client IP (RL-06).
async fn register(
    a: &SetupArgs,
    http: &reqwest::Client,
    email: &str,
    ip: &str,
) -> anyhow::Result<()> {
    let base = format!("{}/t/{}/api/flows/registration", a.public, a.tenant);
    let started = api(http, base.clone(), ip, None, &json!({}), 201).await?;
    let id = started["flow"]["id"].as_str().context("no flow id")?;
    let secret = started["flow_secret"].as_str().context("no flow secret")?;
    let secret = Some(secret);
    let url = format!("{base}/{id}");
    api(http, url.clone(), ip, secret, &json!({"email": email}), 200).await?;
    let code = code_for(http, &a.admin, email).await?;
    api(http, url.clone(), ip, secret, &json!({"code": code}), 200).await?;
    let done = api(http, url, ip, secret, &json!({"password": PASSWORD}), 200).await?;
    if !done["session_token"].is_string() {
        bail!("registration of {email} did not end signed in: {done}");
    }
    Ok(())
}

pub async fn setup_users(a: SetupArgs) -> anyhow::Result<SetupReport> {
    let http = client(a.concurrency)?;
    let tag = XorShift::seeded().next_u64() & 0xff_ffff;
    let emails: Vec<String> = (0..a.count)
        .map(|i| format!("customer-{tag:x}-{i}@example.com"))
        .collect();
    let t0 = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let a = Arc::new(a);
    let emails = Arc::new(emails);
    let workers: Vec<_> = (0..a.concurrency.max(1))
        .map(|_| {
            let (a, http, next, emails) = (a.clone(), http.clone(), next.clone(), emails.clone());
            tokio::spawn(async move {
                let mut rng = XorShift::seeded();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(email) = emails.get(i) else {
                        return anyhow::Ok(());
                    };
                    register(&a, &http, email, &client_ip(&mut rng))
                        .await
                        .with_context(|| format!("registering {email}"))?;
                }
            })
        })
        .collect();
    for w in workers {
        w.await??;
    }
    let secs = t0.elapsed().as_secs_f64();
    let mut text = emails.join("\n");
    text.push('\n');
    std::fs::write(&a.out, text).with_context(|| format!("writing {}", a.out.display()))?;
    Ok(SetupReport {
        registered: emails.len(),
        secs,
        per_s: emails.len() as f64 / secs,
    })
}

pub(crate) fn read_users(p: &PathBuf) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    let users: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if users.is_empty() {
        bail!("{} holds no users", p.display());
    }
    Ok(users)
}

// ---------------------------------------------------------------------------------------------------
// signin-load

#[derive(Debug, Clone, clap::Args)]
pub struct SigninArgs {
    #[arg(long)]
    pub public: String,
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// The customers to sign in (from setup-users).
    #[arg(long)]
    pub users: PathBuf,
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 10.0)]
    pub duration_secs: f64,
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    #[arg(long)]
    pub server_pid: Option<u32>,
}

/// What one `signin-load` run measured. A sign-in is the three requests (two GETs and the POST).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SigninReport {
    pub concurrency: usize,
    pub duration_s: f64,
    pub signins: u64,
    pub signins_per_s: f64,
    pub errors: u64,
    /// Latency of a whole sign-in, and of its POST alone.
    pub p50_us: u32,
    pub p99_us: u32,
    pub post_p50_us: u32,
    pub post_p99_us: u32,
    pub server_rss_start_kb: Option<u64>,
    pub server_rss_peak_kb: Option<u64>,
    pub server_cpu_us_per_signin: Option<f64>,
    pub others_cores: Option<f64>,
    pub error_samples: Vec<String>,
}

/// One sign-in with the right password; the POST's latency.
async fn sign_in(
    http: &reqwest::Client,
    a: &SigninArgs,
    email: &str,
    rng: &mut XorShift,
) -> Result<u32, String> {
    let mut b = Browser::new(rng);
    let (form, _, _) = open_form(http, &a.public, &a.tenant, &mut b).await?;
    let p = post_form(http, &a.public, &mut b, &form, email, PASSWORD).await?;
    if p.status != 303 || !b.has_cookie_ending("tessera_session") {
        return Err(format!(
            "POST flow: status {} without a session: {}",
            p.status,
            short(&p.body)
        ));
    }
    Ok(p.micros)
}

pub async fn signin_load(a: SigninArgs) -> anyhow::Result<SigninReport> {
    let users = Arc::new(read_users(&a.users)?);
    let http = client(a.concurrency)?;
    let start = Instant::now() + Duration::from_secs_f64(a.warmup_secs);
    let end = start + Duration::from_secs_f64(a.duration_secs);
    let errors = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let meter = Meter::start(a.server_pid);
    let a = Arc::new(a);
    let tasks: Vec<_> = (0..a.concurrency.max(1))
        .map(|task| {
            let (a, http, users, errors, samples) = (
                a.clone(),
                http.clone(),
                users.clone(),
                errors.clone(),
                samples.clone(),
            );
            tokio::spawn(async move {
                let mut rng = XorShift::seeded();
                let mut lat = Vec::new();
                let mut post = Vec::new();
                let mut i = task;
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        break;
                    }
                    let email = &users[i % users.len()];
                    i += a.concurrency;
                    match sign_in(&http, &a, email, &mut rng).await {
                        Ok(p) => {
                            let t1 = Instant::now();
                            if t1 >= start && t1 < end {
                                lat.push(micros(t0));
                                post.push(p);
                            }
                        }
                        Err(e) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut s) = samples.lock()
                                && s.len() < 5
                            {
                                s.push(e);
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                (lat, post)
            })
        })
        .collect();
    tokio::time::sleep_until(start.into()).await;
    let window = meter.open();
    tokio::time::sleep_until(end.into()).await;
    let window = window.close();
    let (mut lat, mut post) = (Vec::new(), Vec::new());
    for t in tasks {
        let (l, p) = t.await?;
        lat.extend(l);
        post.extend(p);
    }
    lat.sort_unstable();
    post.sort_unstable();
    let n = lat.len() as u64;
    let f = meter.finish(&window, n).await;
    let error_samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(SigninReport {
        concurrency: a.concurrency,
        duration_s: window.secs,
        signins: n,
        signins_per_s: n as f64 / window.secs,
        errors: errors.load(Ordering::Relaxed),
        p50_us: procs::quantile(&lat, 0.5),
        p99_us: procs::quantile(&lat, 0.99),
        post_p50_us: procs::quantile(&post, 0.5),
        post_p99_us: procs::quantile(&post, 0.99),
        server_rss_start_kb: f.rss_start_kb,
        server_rss_peak_kb: f.rss_peak_kb,
        server_cpu_us_per_signin: f.cpu_us_per_req,
        others_cores: f.others_cores,
        error_samples,
    })
}

// ---------------------------------------------------------------------------------------------------
// page-load

#[derive(Debug, Clone, clap::Args)]
pub struct PageArgs {
    #[arg(long)]
    pub public: String,
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// Page views started per second, on a fixed schedule whatever the answers' speed (open loop).
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub duration_secs: f64,
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    #[arg(long)]
    pub server_pid: Option<u32>,
}

/// What one `page-load` run measured. A page view is `GET /t/{tenant}/login` (which starts a flow and
/// redirects) followed by `GET` of the flow's page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageReport {
    pub rate: f64,
    pub duration_s: f64,
    pub views: u64,
    pub views_per_s: f64,
    pub errors: u64,
    /// `GET /login`, measured from the moment the schedule said to send it.
    pub start_p50_us: u32,
    pub start_p99_us: u32,
    pub start_max_us: u32,
    /// `GET` of the flow page.
    pub show_p50_us: u32,
    pub show_p99_us: u32,
    pub show_max_us: u32,
    /// Both, from the scheduled start of the first to the end of the second.
    pub view_p50_us: u32,
    pub view_p99_us: u32,
    pub server_rss_peak_kb: Option<u64>,
    /// Server CPU per page view (two requests).
    pub server_cpu_us_per_view: Option<f64>,
    pub others_cores: Option<f64>,
    pub error_samples: Vec<String>,
}

pub async fn page_load(a: PageArgs) -> anyhow::Result<PageReport> {
    if !a.rate.is_finite() || a.rate <= 0.0 {
        bail!("--rate must be positive");
    }
    let http = client(64)?;
    let begin = Instant::now();
    let start = begin + Duration::from_secs_f64(a.warmup_secs);
    let end = start + Duration::from_secs_f64(a.duration_secs);
    let period = Duration::from_secs_f64(1.0 / a.rate);
    let meter = Meter::start(a.server_pid);
    let a = Arc::new(a);
    let mut handles = Vec::new();
    let mut window = None;
    let mut rng = XorShift::seeded();
    let mut k: u32 = 0;
    loop {
        // The schedule: view k is due at begin + k × period, whether or not earlier ones have returned.
        let due = begin + period * k;
        if due >= end {
            break;
        }
        if window.is_none() && due >= start {
            tokio::time::sleep_until(start.into()).await;
            window = Some(meter.open());
        }
        tokio::time::sleep_until(due.into()).await;
        k += 1;
        let (a, http) = (a.clone(), http.clone());
        let mut b = Browser::new(&mut rng);
        handles.push(tokio::spawn(async move {
            let since_due = Instant::now().saturating_duration_since(due);
            let r = open_form(&http, &a.public, &a.tenant, &mut b).await;
            let done = Instant::now();
            let counted = due >= start && done < end + Duration::from_secs(5);
            (counted, since_due, done.duration_since(due), r)
        }));
    }
    let window = match window {
        Some(w) => {
            tokio::time::sleep_until(end.into()).await;
            w.close()
        }
        None => bail!("the measured window never opened"),
    };
    let (mut starts, mut shows, mut views) = (Vec::new(), Vec::new(), Vec::new());
    let mut errors = 0;
    let mut error_samples = Vec::new();
    for h in handles {
        let (counted, lag, total, r) = h.await?;
        match r {
            Ok((_, start_us, show_us)) => {
                if counted {
                    let lag = u32::try_from(lag.as_micros()).unwrap_or(u32::MAX);
                    starts.push(start_us.saturating_add(lag));
                    shows.push(show_us);
                    views.push(u32::try_from(total.as_micros()).unwrap_or(u32::MAX));
                }
            }
            Err(e) => {
                errors += 1;
                if error_samples.len() < 5 {
                    error_samples.push(e);
                }
            }
        }
    }
    for v in [&mut starts, &mut shows, &mut views] {
        v.sort_unstable();
    }
    let n = views.len() as u64;
    let f = meter.finish(&window, n).await;
    Ok(PageReport {
        rate: a.rate,
        duration_s: window.secs,
        views: n,
        views_per_s: n as f64 / window.secs,
        errors,
        start_p50_us: procs::quantile(&starts, 0.5),
        start_p99_us: procs::quantile(&starts, 0.99),
        start_max_us: starts.last().copied().unwrap_or(0),
        show_p50_us: procs::quantile(&shows, 0.5),
        show_p99_us: procs::quantile(&shows, 0.99),
        show_max_us: shows.last().copied().unwrap_or(0),
        view_p50_us: procs::quantile(&views, 0.5),
        view_p99_us: procs::quantile(&views, 0.99),
        server_rss_peak_kb: f.rss_peak_kb,
        server_cpu_us_per_view: f.cpu_us_per_req,
        others_cores: f.others_cores,
        error_samples,
    })
}

// ---------------------------------------------------------------------------------------------------
// enumeration

#[derive(Debug, Clone, clap::Args)]
pub struct EnumerationArgs {
    #[arg(long)]
    pub public: String,
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// Existing customers (from setup-users); each takes at most four wrong passwords, below the
    /// account throttle, so at least samples/4 are needed.
    #[arg(long)]
    pub users: PathBuf,
    /// Samples per class.
    #[arg(long, default_value_t = 5000)]
    pub samples: usize,
}

/// Summary of one class of samples, in microseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassStats {
    pub n: usize,
    pub mean_us: f64,
    pub sd_us: f64,
    pub p10_us: u32,
    pub p50_us: u32,
    pub p90_us: u32,
    pub p99_us: u32,
}

/// What `enumeration` measured: the POST of a wrong password, for an existing account ("known") and for
/// an identifier nobody has ("unknown"), in random order, one at a time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnumerationReport {
    pub known: ClassStats,
    pub unknown: ClassStats,
    /// known − unknown, and the half-width of its 95% confidence interval (Welch).
    pub mean_diff_us: f64,
    pub mean_diff_ci95_us: f64,
    pub median_diff_us: f64,
    /// Two-sample Kolmogorov-Smirnov statistic and its asymptotic p-value.
    pub ks_d: f64,
    pub ks_p: f64,
    /// Whether status and body length were the same for every sample of both classes.
    pub same_status: bool,
    pub body_lengths: Vec<usize>,
    pub secs: f64,
    pub errors: u64,
    pub error_samples: Vec<String>,
}

fn stats(v: &mut [u32]) -> ClassStats {
    v.sort_unstable();
    let n = v.len();
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n.max(1) as f64;
    let var = v
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / (n.max(2) - 1) as f64;
    ClassStats {
        n,
        mean_us: mean,
        sd_us: var.sqrt(),
        p10_us: procs::quantile(v, 0.1),
        p50_us: procs::quantile(v, 0.5),
        p90_us: procs::quantile(v, 0.9),
        p99_us: procs::quantile(v, 0.99),
    }
}

/// The two-sample Kolmogorov-Smirnov statistic of two sorted samples.
pub fn ks_statistic(a: &[u32], b: &[u32]) -> f64 {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] == x {
            i += 1;
        }
        while j < b.len() && b[j] == x {
            j += 1;
        }
        d = d.max((i as f64 / na - j as f64 / nb).abs());
    }
    d
}

/// The asymptotic p-value of a two-sample KS statistic `d` for sample sizes `n` and `m` (the Kolmogorov
/// distribution with Stephens' small-sample correction).
pub fn ks_p_value(d: f64, n: usize, m: usize) -> f64 {
    let en = ((n * m) as f64 / (n + m) as f64).sqrt();
    let lambda = (en + 0.12 + 0.11 / en) * d;
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=100 {
        let k = f64::from(k);
        let term = 2.0 * (-2.0 * k * k * lambda * lambda).exp();
        sum += if k as u32 % 2 == 1 { term } else { -term };
        if term < 1e-12 {
            break;
        }
    }
    sum.clamp(0.0, 1.0)
}

pub async fn enumeration(a: EnumerationArgs) -> anyhow::Result<EnumerationReport> {
    let users = read_users(&a.users)?;
    if users.len() * 4 < a.samples {
        bail!(
            "{} samples need at least {} customers (four wrong passwords each), not {}",
            a.samples,
            a.samples.div_ceil(4),
            users.len()
        );
    }
    let http = client(2)?;
    let mut rng = XorShift::seeded();
    let tag = rng.next_u64() & 0xff_ffff;
    // Interleave the classes at random so drift on the machine hits both alike.
    let mut order: Vec<bool> = (0..a.samples * 2).map(|i| i < a.samples).collect();
    for i in (1..order.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    let mut statuses = std::collections::BTreeSet::new();
    let mut lengths = std::collections::BTreeSet::new();
    let (mut errors, mut error_samples) = (0u64, Vec::new());
    let t0 = Instant::now();
    let (mut nk, mut nu) = (0usize, 0usize);
    for is_known in order {
        let identifier = if is_known {
            nk += 1;
            users[(nk - 1) / 4].clone()
        } else {
            nu += 1;
            format!("nobody-{tag:x}-{nu}@example.com")
        };
        let mut b = Browser::new(&mut rng);
        let result = async {
            let (form, _, _) = open_form(&http, &a.public, &a.tenant, &mut b).await?;
            let p = post_form(&http, &a.public, &mut b, &form, &identifier, WRONG_PASSWORD).await?;
            if p.body.contains("Too many attempts") {
                return Err("throttled: the samples would not measure the password check".into());
            }
            if p.status != 400 || !p.body.contains("did not work") {
                return Err(format!(
                    "POST flow: status {} without the invalid-credentials message: {}",
                    p.status,
                    short(&p.body)
                ));
            }
            // The page repeats the identifier typed in; compare lengths without it.
            let len = p.body.len() - p.body.matches(identifier.as_str()).count() * identifier.len();
            Ok::<_, String>((p.status, len, p.micros))
        }
        .await;
        match result {
            Ok((status, len, us)) => {
                statuses.insert(status);
                lengths.insert(len);
                if is_known {
                    known.push(us);
                } else {
                    unknown.push(us);
                }
            }
            Err(e) => {
                errors += 1;
                if error_samples.len() < 5 {
                    error_samples.push(e);
                }
                if errors > 20 {
                    bail!("too many errors: {error_samples:?}");
                }
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let ks = stats(&mut known);
    let us = stats(&mut unknown);
    let d = ks_statistic(&known, &unknown);
    Ok(EnumerationReport {
        mean_diff_us: ks.mean_us - us.mean_us,
        mean_diff_ci95_us: 1.96
            * (ks.sd_us.powi(2) / ks.n.max(1) as f64 + us.sd_us.powi(2) / us.n.max(1) as f64)
                .sqrt(),
        median_diff_us: f64::from(ks.p50_us) - f64::from(us.p50_us),
        ks_d: d,
        ks_p: ks_p_value(d, known.len(), unknown.len()),
        same_status: statuses.len() == 1,
        body_lengths: lengths.into_iter().collect(),
        known: ks,
        unknown: us,
        secs,
        errors,
        error_samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ks_of_identical_samples_is_zero_and_of_disjoint_ones_is_one() {
        let a: Vec<u32> = (0..1000).collect();
        assert_eq!(ks_statistic(&a, &a), 0.0);
        assert!((ks_p_value(0.0, 1000, 1000) - 1.0).abs() < 1e-9);
        let b: Vec<u32> = (1000..2000).collect();
        assert_eq!(ks_statistic(&a, &b), 1.0);
        assert!(ks_p_value(1.0, 1000, 1000) < 1e-12);
    }

    #[test]
    fn ks_p_value_matches_the_tabulated_critical_value() {
        // For large equal samples, D = 1.628 × sqrt(2/n) is the 1% critical value.
        let n = 5000;
        let d = 1.628 * (2.0 / n as f64).sqrt();
        let p = ks_p_value(d, n, n);
        assert!((p - 0.01).abs() < 0.001, "{p}");
    }

    #[test]
    fn csrf_is_read_from_the_hidden_field() {
        let html = r#"<form><input type="hidden" name="csrf_token" value="abc-123"></form>"#;
        assert_eq!(extract_csrf(html).as_deref(), Some("abc-123"));
        assert_eq!(extract_csrf("<form></form>"), None);
    }
}
