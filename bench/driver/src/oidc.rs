//! The OIDC scenarios (S1-S6 of shared/design/benchmarks.md), against Tessera or against the
//! `oidc-provider` peer (bench/peers/oidc-provider): the same requests, only the endpoint paths differ.
//!
//! `oidc-load` first prepares what the scenario needs (a user's access token from one code flow for S4
//! and S5; one signed-in browser per task for S6), then runs N tasks in a closed loop for a warm-up and
//! a measured window, as `load` does. A scenario whose endpoint answers 404 reports `not_built`
//! instead of failing: Tessera's OIDC endpoints land one by one.
//!
//! Sign-in before the window: on Tessera through the hosted form (`GET /t/{tenant}/login`, the flow
//! page, `POST` of identifier and password), one customer per task from `--users`; on the peer through
//! its minimal interaction (the first authorize redirects to `/interaction/{uid}`, which signs a fixed
//! customer in at once and resumes the authorization). Either way a session cookie is kept, and every
//! measured authorize must answer at once with a redirect to the client carrying a code.
use base64::Engine as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use reqwest::header;
use serde::{Deserialize, Serialize};

use crate::load::Meter;
use crate::procs::{self, XorShift};
use crate::signin::{self, Browser, short};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Tessera,
    Peer,
}

/// The measured operation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// S1: client_credentials token (client_secret_basic), a JWT access token.
    S1,
    /// S2: the discovery document.
    S2,
    /// S3: the JWKS.
    S3,
    /// S4: introspection of a user's access token (client_secret_basic).
    S4,
    /// S5: userinfo with a user's access token.
    S5,
    /// S6: authorize with an existing session (303 with a code) and the code at the token endpoint.
    S6,
}

impl Op {
    pub const ALL: [Op; 6] = [Op::S1, Op::S2, Op::S3, Op::S4, Op::S5, Op::S6];

    pub fn id(self) -> &'static str {
        match self {
            Op::S1 => "S1",
            Op::S2 => "S2",
            Op::S3 => "S3",
            Op::S4 => "S4",
            Op::S5 => "S5",
            Op::S6 => "S6",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Op::S1 => "client_credentials token (JWT, ES256)",
            Op::S2 => "discovery document",
            Op::S3 => "JWKS",
            Op::S4 => "introspection of a user's access token",
            Op::S5 => "userinfo",
            Op::S6 => "code flow with a session (authorize + token)",
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct OidcArgs {
    #[arg(long, value_enum)]
    pub target: Target,
    #[arg(long, value_enum)]
    pub op: Op,
    /// The public base URL, e.g. http://127.0.0.1:8080
    #[arg(long)]
    pub base_url: String,
    /// Tessera's tenant (ignored for the peer).
    #[arg(long, default_value = "default")]
    pub tenant: String,
    #[arg(long, default_value = "bench")]
    pub client_id: String,
    #[arg(long)]
    pub client_secret: String,
    #[arg(long, default_value = "http://127.0.0.1:9/cb")]
    pub redirect_uri: String,
    /// Tessera: customers (from setup-users) signed in through the hosted form, one per task.
    #[arg(long)]
    pub users: Option<PathBuf>,
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 10.0)]
    pub duration_secs: f64,
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    #[arg(long)]
    pub server_pid: Option<u32>,
}

/// What one `oidc-load` run measured. For S6 one operation is the authorize and the token request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OidcReport {
    /// Set (and nothing measured) when an endpoint the scenario needs answered 404.
    pub not_built: Option<String>,
    pub concurrency: usize,
    pub duration_s: f64,
    pub ops: u64,
    pub errors: u64,
    pub ops_per_s: f64,
    pub p50_us: u32,
    pub p90_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
    pub server_rss_start_kb: Option<u64>,
    pub server_rss_peak_kb: Option<u64>,
    pub server_cpu_us_per_op: Option<f64>,
    pub others_cores: Option<f64>,
    pub error_samples: Vec<String>,
    /// What the prepared token looked like (S4, S5): `jwt` or `opaque`.
    pub token_form: Option<String>,
}

/// Endpoint URLs of one target.
struct Endpoints {
    token: String,
    discovery: String,
    jwks: String,
    userinfo: String,
    introspect: String,
    authorize: String,
}

impl Endpoints {
    fn of(a: &OidcArgs) -> Self {
        let b = a.base_url.trim_end_matches('/');
        match a.target {
            Target::Tessera => {
                let t = format!("{b}/t/{}", a.tenant);
                Self {
                    token: format!("{t}/oauth2/token"),
                    discovery: format!("{t}/.well-known/openid-configuration"),
                    jwks: format!("{t}/.well-known/jwks.json"),
                    userinfo: format!("{t}/oauth2/userinfo"),
                    introspect: format!("{t}/oauth2/introspect"),
                    authorize: format!("{t}/oauth2/authorize"),
                }
            }
            // oidc-provider's default routes.
            Target::Peer => Self {
                token: format!("{b}/token"),
                discovery: format!("{b}/.well-known/openid-configuration"),
                jwks: format!("{b}/jwks"),
                userinfo: format!("{b}/me"),
                introspect: format!("{b}/token/introspection"),
                authorize: format!("{b}/auth"),
            },
        }
    }
}

/// Why an operation failed: an endpoint that does not exist yet, or anything else.
enum Fail {
    NotBuilt(String),
    Error(String),
}

impl From<String> for Fail {
    fn from(e: String) -> Self {
        Fail::Error(e)
    }
}

impl Fail {
    fn text(self) -> String {
        match self {
            Fail::NotBuilt(s) => format!("not built: {s}"),
            Fail::Error(s) => s,
        }
    }
}

/// A 404 means the endpoint is not there (yet).
fn check_404(what: &str, status: u16) -> Result<(), Fail> {
    if status == 404 {
        Err(Fail::NotBuilt(format!("{what} answered 404")))
    } else {
        Ok(())
    }
}

struct Ctx {
    http: reqwest::Client,
    args: OidcArgs,
    ep: Endpoints,
    basic: String,
    /// The user's access token (S4, S5).
    token: String,
}

async fn read(r: reqwest::Response, what: &str) -> Result<(u16, String), Fail> {
    let status = r.status().as_u16();
    let body = r.text().await.map_err(|e| format!("{what}: body: {e}"))?;
    check_404(what, status)?;
    Ok((status, body))
}

fn want(what: &str, status: u16, expected: u16, body: &str) -> Result<(), Fail> {
    if status == expected {
        Ok(())
    } else {
        Err(Fail::Error(format!(
            "{what}: status {status}: {}",
            short(body)
        )))
    }
}

/// One measured (or probing) operation of S1-S5.
async fn simple_op(c: &Ctx, op: Op) -> Result<(), Fail> {
    match op {
        Op::S1 => {
            let r = c
                .http
                .post(&c.ep.token)
                .header(header::AUTHORIZATION, &c.basic)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials&scope=api%3Aread")
                .send()
                .await
                .map_err(|e| format!("POST token: {e}"))?;
            let (status, body) = read(r, "POST token").await?;
            want("POST token", status, 200, &body)?;
            if !body.contains("\"access_token\"") {
                return Err(Fail::Error(format!(
                    "POST token: no access_token: {}",
                    short(&body)
                )));
            }
        }
        Op::S2 | Op::S3 => {
            let (url, what) = if op == Op::S2 {
                (&c.ep.discovery, "GET discovery")
            } else {
                (&c.ep.jwks, "GET jwks")
            };
            let r = c
                .http
                .get(url)
                .send()
                .await
                .map_err(|e| format!("{what}: {e}"))?;
            let (status, body) = read(r, what).await?;
            want(what, status, 200, &body)?;
        }
        Op::S4 => {
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("token", &c.token)
                .finish();
            let r = c
                .http
                .post(&c.ep.introspect)
                .header(header::AUTHORIZATION, &c.basic)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .map_err(|e| format!("POST introspect: {e}"))?;
            let (status, body) = read(r, "POST introspect").await?;
            want("POST introspect", status, 200, &body)?;
            if !body.contains("\"active\":true") {
                return Err(Fail::Error(format!(
                    "POST introspect: not active: {}",
                    short(&body)
                )));
            }
        }
        Op::S5 => {
            let r = c
                .http
                .get(&c.ep.userinfo)
                .bearer_auth(&c.token)
                .send()
                .await
                .map_err(|e| format!("GET userinfo: {e}"))?;
            let (status, body) = read(r, "GET userinfo").await?;
            want("GET userinfo", status, 200, &body)?;
            if !body.contains("\"sub\"") {
                return Err(Fail::Error(format!(
                    "GET userinfo: no sub: {}",
                    short(&body)
                )));
            }
        }
        Op::S6 => return Err(Fail::Error("S6 is not a single request".into())),
    }
    Ok(())
}

/// Resolves a `Location` against the target's base URL.
fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else {
        format!("{}{location}", base.trim_end_matches('/'))
    }
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.split('#').next().unwrap_or(q).as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// One authorization code flow in `browser`: authorize (following at most `hops` redirects that are not
/// to the client: the peer's interaction on the first flow), then the code at the token endpoint.
/// Returns the token response.
async fn code_flow(c: &Ctx, browser: &mut Browser, hops: u32) -> Result<serde_json::Value, Fail> {
    let verifier = tessera_crypto::random_token().map_err(|e| format!("random: {e}"))?;
    let state = tessera_crypto::random_token().map_err(|e| format!("random: {e}"))?;
    let nonce = tessera_crypto::random_token().map_err(|e| format!("random: {e}"))?;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &c.args.client_id)
        .append_pair("redirect_uri", &c.args.redirect_uri)
        .append_pair("scope", "openid profile email")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &tessera_crypto::pkce_s256(&verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    let mut url = format!("{}?{query}", c.ep.authorize);
    let mut hop = 0;
    let code = loop {
        let r = browser
            .get(&c.http, url.clone())
            .send()
            .await
            .map_err(|e| format!("GET authorize: {e}"))?;
        let status = r.status().as_u16();
        browser.take_cookies(r.headers());
        let location = r
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = r.text().await.unwrap_or_default();
        if hop == 0 {
            check_404("GET authorize", status)?;
        }
        let Some(location) = location.filter(|_| matches!(status, 302 | 303)) else {
            return Err(Fail::Error(format!(
                "GET {}: status {status} without a redirect: {}",
                url.split('?').next().unwrap_or(""),
                short(&body)
            )));
        };
        if location.starts_with(&c.args.redirect_uri) {
            if let Some(e) = query_param(&location, "error") {
                return Err(Fail::Error(format!(
                    "authorize answered error={e}: {location}"
                )));
            }
            if query_param(&location, "state").as_deref() != Some(state.as_str()) {
                return Err(Fail::Error(format!(
                    "authorize: state missing or changed: {location}"
                )));
            }
            match query_param(&location, "code") {
                Some(code) => break code,
                None => return Err(Fail::Error(format!("authorize: no code: {location}"))),
            }
        }
        hop += 1;
        if hop > hops {
            return Err(Fail::Error(format!(
                "authorize redirected to {location}, not to the client (is the customer signed in?)"
            )));
        }
        url = absolute(&c.args.base_url, &location);
    };
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", &c.args.redirect_uri)
        .append_pair("code_verifier", &verifier)
        .finish();
    let r = c
        .http
        .post(&c.ep.token)
        .header(header::AUTHORIZATION, &c.basic)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| format!("POST token (code): {e}"))?;
    let (status, body) = read(r, "POST token (code)").await?;
    want("POST token (code)", status, 200, &body)?;
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("POST token (code): {e}"))?;
    if !v["access_token"].is_string() || !v["id_token"].is_string() {
        return Err(Fail::Error(format!(
            "POST token (code): no access_token or id_token: {}",
            short(&body)
        )));
    }
    Ok(v)
}

/// A browser in which a customer is signed in (Tessera: through the hosted form; the peer signs in
/// during the first code flow, so this is just an empty browser there).
async fn signed_in_browser(
    c: &Ctx,
    email: Option<&str>,
    rng: &mut XorShift,
) -> Result<Browser, Fail> {
    let mut b = Browser::new(rng);
    if c.args.target == Target::Tessera {
        let email = email.ok_or_else(|| Fail::Error("Tessera needs --users to sign in".into()))?;
        let (form, _, _) =
            signin::open_form(&c.http, &c.args.base_url, &c.args.tenant, &mut b).await?;
        let p = signin::post_form(
            &c.http,
            &c.args.base_url,
            &mut b,
            &form,
            email,
            signin::PASSWORD,
        )
        .await?;
        if p.status != 303 {
            return Err(Fail::Error(format!(
                "sign-in POST: status {} without a session: {}",
                p.status,
                short(&p.body)
            )));
        }
    }
    // The first flow may pass through the sign-in interaction (the peer), later ones may not.
    code_flow(c, &mut b, 4).await?;
    Ok(b)
}

/// Runs one scenario against one target; see the module documentation.
pub async fn run(a: OidcArgs) -> anyhow::Result<OidcReport> {
    if a.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let users = match &a.users {
        Some(p) => signin::read_users(p)?,
        None => Vec::new(),
    };
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(
            format!(
                "{}:{}",
                form_encode(&a.client_id),
                form_encode(&a.client_secret)
            )
            .as_bytes()
        )
    );
    let c = Arc::new(Ctx {
        http: signin::client(a.concurrency)?,
        ep: Endpoints::of(&a),
        basic,
        token: String::new(),
        args: a,
    });
    let not_built = |s: String| OidcReport {
        not_built: Some(s),
        concurrency: c.args.concurrency,
        ..OidcReport::default()
    };
    let mut rng = XorShift::seeded();
    // Prepare, and probe that the endpoints exist.
    let mut browsers = Vec::new();
    let mut token = String::new();
    let mut token_form = None;
    match c.args.op {
        Op::S1 | Op::S2 | Op::S3 => match simple_op(&c, c.args.op).await {
            Ok(()) => {}
            Err(Fail::NotBuilt(s)) => return Ok(not_built(s)),
            Err(Fail::Error(e)) => bail!("{} probe failed: {e}", c.args.op.id()),
        },
        Op::S4 | Op::S5 => {
            let mut b =
                match signed_in_browser(&c, users.first().map(String::as_str), &mut rng).await {
                    Ok(b) => b,
                    Err(Fail::NotBuilt(s)) => {
                        return Ok(not_built(format!("the code flow for a token: {s}")));
                    }
                    Err(Fail::Error(e)) => bail!("signing in for a token failed: {e}"),
                };
            let v = match code_flow(&c, &mut b, 0).await {
                Ok(v) => v,
                Err(f) => bail!("the code flow for a token failed: {}", f.text()),
            };
            token = v["access_token"].as_str().unwrap_or_default().to_owned();
            token_form = Some(
                if token.matches('.').count() == 2 {
                    "jwt"
                } else {
                    "opaque"
                }
                .to_owned(),
            );
        }
        Op::S6 => {
            if c.args.target == Target::Tessera && users.len() < c.args.concurrency {
                bail!(
                    "S6 on Tessera needs {} customers in --users",
                    c.args.concurrency
                );
            }
            for i in 0..c.args.concurrency {
                match signed_in_browser(&c, users.get(i).map(String::as_str), &mut rng).await {
                    Ok(b) => browsers.push(b),
                    Err(Fail::NotBuilt(s)) => return Ok(not_built(s)),
                    Err(Fail::Error(e)) => bail!("signing customer {i} in failed: {e}"),
                }
            }
        }
    }
    let c = match Arc::try_unwrap(c) {
        Ok(mut inner) => {
            inner.token = token;
            Arc::new(inner)
        }
        Err(_) => bail!("the context is still shared"),
    };
    if matches!(c.args.op, Op::S4 | Op::S5) {
        // The endpoint itself, probed with the token.
        match simple_op(&c, c.args.op).await {
            Ok(()) => {}
            Err(Fail::NotBuilt(s)) => {
                return Ok(OidcReport {
                    not_built: Some(s),
                    concurrency: c.args.concurrency,
                    token_form,
                    ..OidcReport::default()
                });
            }
            Err(Fail::Error(e)) => bail!("{} probe failed: {e}", c.args.op.id()),
        }
    }
    if c.args.op != Op::S6 {
        // The same task loop for every scenario: S1-S5 use no browser.
        browsers = (0..c.args.concurrency)
            .map(|_| Browser::new(&mut rng))
            .collect();
    }

    let start = Instant::now() + Duration::from_secs_f64(c.args.warmup_secs);
    let end = start + Duration::from_secs_f64(c.args.duration_secs);
    let errors = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let meter = Meter::start(c.args.server_pid);
    let tasks: Vec<_> = browsers
        .into_iter()
        .map(|mut browser| {
            let (c, errors, samples) = (c.clone(), errors.clone(), samples.clone());
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(1 << 14);
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        break;
                    }
                    let r = if c.args.op == Op::S6 {
                        code_flow(&c, &mut browser, 0).await.map(|_| ())
                    } else {
                        simple_op(&c, c.args.op).await
                    };
                    let t1 = Instant::now();
                    match r {
                        Ok(()) => {
                            if t1 >= start && t1 < end {
                                lat.push(
                                    u32::try_from(t1.duration_since(t0).as_micros())
                                        .unwrap_or(u32::MAX),
                                );
                            }
                        }
                        Err(f) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut s) = samples.lock()
                                && s.len() < 5
                            {
                                s.push(f.text());
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                lat
            })
        })
        .collect();
    tokio::time::sleep_until(start.into()).await;
    let window = meter.open();
    tokio::time::sleep_until(end.into()).await;
    let window = window.close();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await?);
    }
    lat.sort_unstable();
    let n = lat.len() as u64;
    let f = meter.finish(&window, n).await;
    let error_samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(OidcReport {
        not_built: None,
        concurrency: c.args.concurrency,
        duration_s: window.secs,
        ops: n,
        errors: errors.load(Ordering::Relaxed),
        ops_per_s: n as f64 / window.secs,
        p50_us: procs::quantile(&lat, 0.5),
        p90_us: procs::quantile(&lat, 0.9),
        p99_us: procs::quantile(&lat, 0.99),
        max_us: lat.last().copied().unwrap_or(0),
        server_rss_start_kb: f.rss_start_kb,
        server_rss_peak_kb: f.rss_peak_kb,
        server_cpu_us_per_op: f.cpu_us_per_req,
        others_cores: f.others_cores,
        error_samples,
        token_form,
    })
}

/// `application/x-www-form-urlencoded` encoding of a client id or secret, as RFC 6749 section 2.3.1
/// asks before they are joined for Basic authentication.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
