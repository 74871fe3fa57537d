//! The suite behind `bench/run.sh`: runs every measurement as a child process (the load generator pinned
//! to core 1 and the server to core 0 in the pinned mode), alternates targets and limits within each run,
//! takes medians over runs and prints the tables.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::limits::SqliteLimit;
use crate::load::LoadReport;
use crate::procs::{self, Proc, median};
use crate::tessera::{StartupReport, Tessera, TesseraOpts};

mod oidc;
mod signin;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    Startup,
    Admin,
    Signin,
    /// The OIDC scenarios S1-S6 against the oidc-provider peer (not part of `all`: it needs Node).
    Oidc,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PinMode {
    /// Server on core 0, load generator on core 1 (`taskset`).
    Pinned,
    /// No pinning: the scheduler places everything.
    Unpinned,
}

impl PinMode {
    fn server_cpu(self) -> Option<u32> {
        match self {
            PinMode::Pinned => Some(0),
            PinMode::Unpinned => None,
        }
    }
    fn driver_cpu(self) -> Option<u32> {
        match self {
            PinMode::Pinned => Some(1),
            PinMode::Unpinned => None,
        }
    }
    fn name(self) -> &'static str {
        match self {
            PinMode::Pinned => "pinned",
            PinMode::Unpinned => "unpinned",
        }
    }
    fn describe(self) -> &'static str {
        match self {
            PinMode::Pinned => "pinned: server on core 0, load generator on core 1",
            PinMode::Unpinned => "unpinned: server and load generator share both cores",
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct SuiteArgs {
    #[arg(long, value_enum)]
    pub scenario: Scenario,
    /// The release `tessera` binary.
    #[arg(long)]
    pub tessera: PathBuf,
    /// Runs of the admin scenario (medians are taken over them).
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// Starts per pin mode in the startup scenario.
    #[arg(long, default_value_t = 5)]
    pub startup_runs: u32,
    /// Measured window of each load run.
    #[arg(long, default_value_t = 10.0)]
    pub duration_secs: f64,
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Length of each raw SQLite insert measurement.
    #[arg(long, default_value_t = 5.0)]
    pub sqlite_limit_secs: f64,
    /// A PostgreSQL URL whose role may CREATE DATABASE; the PostgreSQL rows are skipped without it.
    #[arg(long, env = "TESSERA_TEST_PG_URL")]
    pub pg_url: Option<String>,
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "pinned,unpinned"
    )]
    pub modes: Vec<PinMode>,
    /// Where to write every raw figure as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Customers signing in, each from its own loop, in the sign-in throughput runs.
    #[arg(long, default_value_t = 8)]
    pub signin_concurrency: usize,
    /// Page views started per second in the sign-in page latency runs (open loop).
    #[arg(long, default_value_t = 200.0)]
    pub page_rate: f64,
    /// Wrong-password samples per class (existing and unknown accounts) for the enumeration timing; 0
    /// skips it.
    #[arg(long, default_value_t = 5000)]
    pub enumeration_samples: usize,
    /// Where temporary data directories go (default: the system temp dir).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// The oidc-provider peer's folder (bench/peers/oidc-provider, with node_modules installed).
    #[arg(long)]
    pub peer_dir: Option<PathBuf>,
    /// The Node.js binary that runs the peer.
    #[arg(long, default_value = "node")]
    pub node: String,
    /// The OIDC scenarios to run, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "s1,s2,s3,s4,s5,s6"
    )]
    pub oidc_ops: Vec<crate::oidc::Op>,
    /// Before each measurement, wait until the whole machine uses less than this many cores...
    #[arg(long, default_value_t = 0.3)]
    pub quiet_threshold: f64,
    /// ...but at most this long (0: do not wait).
    #[arg(long, default_value_t = 20.0)]
    pub quiet_wait_secs: f64,
}

/// One measurement of one row.
#[derive(Debug, Clone, Default, Serialize)]
struct Sample {
    run: u32,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
    cpu_us_per_req: Option<f64>,
    idle_rss_kb: Option<u64>,
    peak_rss_kb: Option<u64>,
    /// For get rows: how many identities the database held (those the create run made).
    identities: Option<u64>,
    /// CPU used by other processes during the window, in cores.
    others_cores: Option<f64>,
    /// The server's resident set when the measured window opened.
    start_rss_kb: Option<u64>,
}

impl Sample {
    fn from_load(run: u32, r: &LoadReport, idle_rss_kb: Option<u64>) -> Self {
        Sample {
            run,
            rps: r.rps,
            p50_us: f64::from(r.p50_us),
            p99_us: f64::from(r.p99_us),
            errors: r.errors,
            cpu_us_per_req: r.server_cpu_us_per_req,
            idle_rss_kb,
            peak_rss_kb: r.server_rss_peak_kb,
            identities: None,
            others_cores: r.others_cores,
            start_rss_kb: r.server_rss_start_kb,
        }
    }
}

/// The rows of the admin table, in order: key, target, operation.
const ROWS: &[(&str, &str, &str)] = &[
    ("limit-server", "axum empty JSON response (limit)", "GET /"),
    (
        "sqlite-full/create",
        "Tessera, SQLite synchronous=full",
        "create identity",
    ),
    (
        "sqlite-full/get",
        "Tessera, SQLite synchronous=full",
        "get identity",
    ),
    (
        "sqlite-normal/create",
        "Tessera, SQLite synchronous=normal",
        "create identity",
    ),
    (
        "sqlite-normal/get",
        "Tessera, SQLite synchronous=normal",
        "get identity",
    ),
    ("pg/create", "Tessera, PostgreSQL", "create identity"),
    ("pg/get", "Tessera, PostgreSQL", "get identity"),
    (
        "limit-sqlite-full",
        "sqlx single-row INSERT, WAL, synchronous=FULL (limit)",
        "insert",
    ),
    (
        "limit-sqlite-normal",
        "sqlx single-row INSERT, WAL, synchronous=NORMAL (limit)",
        "insert",
    ),
];

struct Backend {
    key: &'static str,
    sync: Option<&'static str>,
    pg: bool,
}

const BACKENDS: &[Backend] = &[
    Backend {
        key: "sqlite-full",
        sync: Some("full"),
        pg: false,
    },
    Backend {
        key: "sqlite-normal",
        sync: Some("normal"),
        pg: false,
    },
    Backend {
        key: "pg",
        sync: None,
        pg: true,
    },
];

/// A ratio line: label, row key, and the single-insert limit row with its name.
type RatioLine = (
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

type Table = BTreeMap<PinMode, BTreeMap<&'static str, Vec<Sample>>>;

struct Suite {
    args: SuiteArgs,
    exe: PathBuf,
    tessera: PathBuf,
    work_dir: PathBuf,
    rt: tokio::runtime::Runtime,
    admin: Table,
    /// The sign-in scenario's rows (see `signin.rs`).
    signin: Table,
    enumeration: Option<(PinMode, crate::signin::EnumerationReport)>,
    /// The OIDC scenario's rows (see `oidc.rs`), the rows that could not be measured and why, and the
    /// form of the user access token S4 and S5 used per row.
    oidc: Table,
    oidc_failed: BTreeMap<&'static str, String>,
    oidc_token_forms: BTreeMap<&'static str, String>,
    node_version: Option<String>,
    startup: BTreeMap<PinMode, StartupReport>,
    raw: Vec<serde_json::Value>,
    notes: Vec<String>,
    pg_version: Option<String>,
    sqlite_version: Option<String>,
    db_seq: u32,
    loadavg_start: String,
    /// Measurements started although the machine stayed busy for the whole quiet wait.
    noisy_starts: std::cell::Cell<u32>,
}

pub fn run(args: SuiteArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let tessera = args
        .tessera
        .canonicalize()
        .with_context(|| format!("finding {}", args.tessera.display()))?;
    let work_dir = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut s = Suite {
        args,
        exe,
        tessera,
        work_dir,
        rt,
        admin: BTreeMap::new(),
        signin: BTreeMap::new(),
        enumeration: None,
        oidc: BTreeMap::new(),
        oidc_failed: BTreeMap::new(),
        oidc_token_forms: BTreeMap::new(),
        node_version: None,
        startup: BTreeMap::new(),
        raw: Vec::new(),
        notes: Vec::new(),
        pg_version: None,
        sqlite_version: None,
        db_seq: 0,
        loadavg_start: loadavg(),
        noisy_starts: std::cell::Cell::new(0),
    };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if cores < 2 && s.args.modes.contains(&PinMode::Pinned) {
        s.notes.push(format!(
            "only {cores} core(s) available: the pinned mode was skipped"
        ));
        s.args.modes.retain(|m| *m != PinMode::Pinned);
    }
    s.args.modes.sort();
    s.args.modes.dedup();
    let started = Instant::now();
    if matches!(s.args.scenario, Scenario::Startup | Scenario::All) {
        s.run_startup()?;
    }
    if matches!(s.args.scenario, Scenario::Admin | Scenario::All) {
        s.run_admin()?;
    }
    if matches!(s.args.scenario, Scenario::Signin | Scenario::All) {
        s.run_signin()?;
    }
    if s.args.scenario == Scenario::Oidc {
        s.run_oidc()?;
    }
    s.print_report(started.elapsed());
    if let Some(out) = &s.args.out {
        s.write_json(out)?;
        println!("\nRaw figures: {}", out.display());
    }
    Ok(())
}

impl Suite {
    /// Runs this executable with `args` under `prefix` and parses its JSON stdout.
    fn run_json<T: DeserializeOwned>(
        &self,
        prefix: &[String],
        args: &[String],
    ) -> anyhow::Result<T> {
        let mut cmd = procs::command(prefix, &self.exe);
        cmd.args(args).stdin(Stdio::null()).stderr(Stdio::inherit());
        let out = cmd
            .output()
            .with_context(|| format!("running tessera-bench {}", args.join(" ")))?;
        if !out.status.success() {
            bail!("tessera-bench {} failed ({})", args.join(" "), out.status);
        }
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "parsing the output of tessera-bench {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Waits for the machine to be quiet before a measurement (see `--quiet-threshold`).
    fn quiet(&self) {
        if self.args.quiet_wait_secs <= 0.0 {
            return;
        }
        let (busy, quiet) = procs::wait_quiet(
            self.args.quiet_threshold,
            Duration::from_secs_f64(self.args.quiet_wait_secs),
        );
        if !quiet {
            self.noisy_starts.set(self.noisy_starts.get() + 1);
            eprintln!(
                "     (machine still busy: {busy:.2} cores in use by other work; measuring anyway)"
            );
        }
    }

    fn push(&mut self, mode: PinMode, key: &'static str, sample: Sample, raw: serde_json::Value) {
        self.raw.push(
            serde_json::json!({"mode": mode.name(), "row": key, "run": sample.run, "result": raw}),
        );
        self.admin
            .entry(mode)
            .or_default()
            .entry(key)
            .or_default()
            .push(sample);
    }

    fn run_startup(&mut self) -> anyhow::Result<()> {
        for mode in self.args.modes.clone() {
            eprintln!(
                "== startup, {} ({} starts)",
                mode.describe(),
                self.args.startup_runs
            );
            let mut a: Vec<String> = vec![
                "startup".into(),
                "--tessera".into(),
                self.tessera.display().to_string(),
                "--runs".into(),
                self.args.startup_runs.to_string(),
                "--work-dir".into(),
                self.work_dir.display().to_string(),
            ];
            if let Some(c) = mode.server_cpu() {
                a.extend(["--server-cpu".into(), c.to_string()]);
            }
            a.extend([
                "--quiet-threshold".into(),
                self.args.quiet_threshold.to_string(),
                "--quiet-wait-secs".into(),
                self.args.quiet_wait_secs.to_string(),
            ]);
            let r: StartupReport = self.run_json(&procs::pin_prefix(mode.driver_cpu()), &a)?;
            self.raw
                .push(serde_json::json!({"mode": mode.name(), "row": "startup", "result": r}));
            self.startup.insert(mode, r);
        }
        Ok(())
    }

    fn load_args(&self, mode: &str, base_url: &str, pid: u32) -> Vec<String> {
        vec![
            "load".into(),
            "--mode".into(),
            mode.into(),
            "--base-url".into(),
            base_url.into(),
            "--concurrency".into(),
            self.args.concurrency.to_string(),
            "--duration-secs".into(),
            self.args.duration_secs.to_string(),
            "--warmup-secs".into(),
            self.args.warmup_secs.to_string(),
            "--server-pid".into(),
            pid.to_string(),
        ]
    }

    fn run_admin(&mut self) -> anyhow::Result<()> {
        if self.args.pg_url.is_none() {
            self.notes
                .push("TESSERA_TEST_PG_URL is not set: the PostgreSQL rows were skipped".into());
        }
        for run in 1..=self.args.runs {
            for mode in self.args.modes.clone() {
                eprintln!("== admin run {run}/{}, {}", self.args.runs, mode.describe());
                self.measure_limit_server(mode, run)?;
                for b in BACKENDS {
                    if b.pg && self.args.pg_url.is_none() {
                        continue;
                    }
                    self.measure_tessera(mode, run, b)?;
                }
                for (sync, key) in [
                    ("full", "limit-sqlite-full"),
                    ("normal", "limit-sqlite-normal"),
                ] {
                    eprintln!("   {key}");
                    let a: Vec<String> = vec![
                        "limit-sqlite".into(),
                        "--synchronous".into(),
                        sync.into(),
                        "--duration-secs".into(),
                        self.args.sqlite_limit_secs.to_string(),
                        "--work-dir".into(),
                        self.work_dir.display().to_string(),
                    ];
                    self.quiet();
                    let r: SqliteLimit =
                        self.run_json(&procs::pin_prefix(mode.server_cpu()), &a)?;
                    if self.sqlite_version.is_none() {
                        self.sqlite_version = r.sqlite_version.clone();
                    }
                    let sample = Sample {
                        run,
                        rps: r.inserts_per_s,
                        p50_us: f64::from(r.p50_us),
                        p99_us: f64::from(r.p99_us),
                        ..Sample::default()
                    };
                    self.push(mode, key, sample, serde_json::to_value(&r)?);
                }
            }
        }
        Ok(())
    }

    fn measure_limit_server(&mut self, mode: PinMode, run: u32) -> anyhow::Result<()> {
        let (sample, r) = self.limit_server_sample(mode, run)?;
        self.push(mode, "limit-server", sample, serde_json::to_value(&r)?);
        Ok(())
    }

    /// The empty-response limit: the axum limit server on the server's core, loaded like Tessera.
    fn limit_server_sample(&self, mode: PinMode, run: u32) -> anyhow::Result<(Sample, LoadReport)> {
        eprintln!("   limit-server");
        let dir = tempfile::Builder::new()
            .prefix("tessera-bench-limit-")
            .tempdir_in(&self.work_dir)?;
        let addr: SocketAddr = format!("127.0.0.1:{}", procs::free_port()?).parse()?;
        let mut cmd = procs::command(&procs::pin_prefix(mode.server_cpu()), &self.exe);
        cmd.args(["limit-server", "--addr", &addr.to_string()]);
        let mut p = Proc::spawn(cmd, "limit-server", &dir.path().join("limit-server.log"))?;
        procs::wait_for_200(
            &mut p,
            addr,
            "/",
            Instant::now(),
            Duration::from_millis(5),
            Duration::from_secs(10),
        )?;
        std::thread::sleep(Duration::from_secs(2));
        let idle = procs::status_kb(p.pid(), "VmRSS");
        self.quiet();
        let r: LoadReport = self.run_json(
            &procs::pin_prefix(mode.driver_cpu()),
            &self.load_args("plain", &format!("http://{addr}"), p.pid()),
        )?;
        p.check_alive()?;
        p.stop();
        eprintln!(
            "     {:.0} req/s, p99 {:.2} ms, errors {}",
            r.rps,
            f64::from(r.p99_us) / 1000.0,
            r.errors
        );
        Ok((Sample::from_load(run, &r, idle), r))
    }

    fn measure_tessera(&mut self, mode: PinMode, run: u32, b: &Backend) -> anyhow::Result<()> {
        eprintln!("   tessera {}", b.key);
        let db = if b.pg {
            Some(self.create_pg_db()?)
        } else {
            None
        };
        let result = self.tessera_loads(mode, b, db.as_ref().map(|(_, url)| url.as_str()));
        if let Some((name, _)) = &db
            && let Err(e) = self.drop_pg_db(name)
        {
            self.notes
                .push(format!("could not drop database {name}: {e:#}"));
        }
        let (idle, create, get) = result?;
        for (op, r) in [("create", &create), ("get", &get)] {
            eprintln!(
                "     {op}: {:.0} req/s, p99 {:.2} ms, errors {}",
                r.rps,
                f64::from(r.p99_us) / 1000.0,
                r.errors
            );
        }
        let (ck, gk) = row_keys(b.key);
        self.push(
            mode,
            ck,
            Sample::from_load(run, &create, idle),
            serde_json::to_value(&create)?,
        );
        self.push(
            mode,
            gk,
            Sample {
                identities: create.ids_written.map(|n| n as u64),
                ..Sample::from_load(run, &get, idle)
            },
            serde_json::to_value(&get)?,
        );
        Ok(())
    }

    fn tessera_loads(
        &self,
        mode: PinMode,
        b: &Backend,
        db_url: Option<&str>,
    ) -> anyhow::Result<(Option<u64>, LoadReport, LoadReport)> {
        let opts = TesseraOpts {
            bin: &self.tessera,
            cpu: mode.server_cpu(),
            synchronous: b.sync,
            database_url: db_url,
            work_dir: &self.work_dir,
            // One client drives the whole load: the guard still counts every start, but its quotas
            // must not refuse the benchmark.
            env: &[
                ("TESSERA_QUOTA_FLOW_STARTS_PER_CLIENT", "1000000000"),
                ("TESSERA_QUOTA_FLOW_STARTS_GLOBAL", "1000000000"),
            ],
        };
        let mut t = Tessera::spawn(&opts)?;
        t.wait_ready(Duration::from_secs(60))?;
        std::thread::sleep(Duration::from_secs(2));
        let idle = procs::status_kb(t.pid(), "VmRSS");
        let ids = tempfile::Builder::new()
            .prefix("tessera-bench-ids-")
            .tempfile_in(&self.work_dir)?;
        let ids_path = ids.path().display().to_string();
        let driver = procs::pin_prefix(mode.driver_cpu());
        let mut a = self.load_args("create", &t.base_url(), t.pid());
        a.extend([
            "--key".into(),
            t.key.clone(),
            "--ids-out".into(),
            ids_path.clone(),
        ]);
        self.quiet();
        let create: LoadReport = self.run_json(&driver, &a)?;
        t.proc.check_alive()?;
        let mut a = self.load_args("get", &t.base_url(), t.pid());
        a.extend(["--key".into(), t.key.clone(), "--ids-in".into(), ids_path]);
        self.quiet();
        let get: LoadReport = self.run_json(&driver, &a)?;
        t.proc.check_alive()?;
        t.proc.stop();
        Ok((idle, create, get))
    }

    /// A fresh database for one Tessera run; returns its name and URL.
    fn create_pg_db(&mut self) -> anyhow::Result<(String, String)> {
        let admin_url = self.args.pg_url.clone().context("no PostgreSQL URL")?;
        self.db_seq += 1;
        let name = format!("tessera_bench_{}_{}", std::process::id(), self.db_seq);
        let mut url = url::Url::parse(&admin_url).context("parsing the PostgreSQL URL")?;
        url.set_path(&format!("/{name}"));
        let version = self.rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&admin_url).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut c)
                .await?;
            let v: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(&mut c)
                .await?;
            c.close().await?;
            anyhow::Ok(v)
        })?;
        self.pg_version.get_or_insert(version);
        Ok((name, url.to_string()))
    }

    fn drop_pg_db(&self, name: &str) -> anyhow::Result<()> {
        let admin_url = self.args.pg_url.clone().context("no PostgreSQL URL")?;
        self.rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&admin_url).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&mut c)
            .await?;
            c.close().await?;
            anyhow::Ok(())
        })
    }

    fn row(&self, mode: PinMode, key: &str) -> Option<Agg> {
        self.admin
            .get(&mode)
            .and_then(|m| m.get(key))
            .filter(|v| !v.is_empty())
            .map(|v| Agg::of(v))
    }

    fn print_report(&self, took: Duration) {
        println!();
        println!(
            "# Tessera benchmark ({})",
            scenario_name(self.args.scenario)
        );
        println!();
        println!("machine: {}", machine_line());
        println!("tessera: {}", tessera_version(&self.tessera));
        if let Some(v) = &self.sqlite_version {
            println!("SQLite (sqlx bundled, limit runs): {v}");
        }
        if let Some(v) = &self.pg_version {
            println!("PostgreSQL server: {v}");
        }
        println!("took {:.0} s", took.as_secs_f64());
        println!(
            "load average (1/5/15 min) at start: {}; at end: {}",
            self.loadavg_start,
            loadavg()
        );
        if !self.startup.is_empty() {
            println!();
            println!("## startup to ready on an empty SQLite database, then idle RSS after 2 s");
            println!();
            println!("| mode | ready ms (median) | min | max | idle RSS MiB (median) | starts |");
            println!("|---|---:|---:|---:|---:|---:|");
            for (mode, r) in &self.startup {
                println!(
                    "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
                    mode.name(),
                    r.ready_ms_median,
                    r.ready_ms_min,
                    r.ready_ms_max,
                    r.idle_rss_kb_median / 1024.0,
                    r.runs.len()
                );
            }
        }
        for mode in self.admin.keys() {
            let mode = *mode;
            println!();
            println!(
                "## admin API, {}; medians of {} runs; {} s windows after {} s warm-up; {} concurrent connections",
                mode.describe(),
                self.args.runs,
                self.args.duration_secs,
                self.args.warmup_secs,
                self.args.concurrency
            );
            println!();
            print_table(ROWS, ("req/s", "server CPU µs/req"), rate, |k| {
                self.row(mode, k)
            });
            println!();
            self.print_ratios(mode);
        }
        self.print_signin();
        self.print_oidc();
        println!();
        println!("## targets");
        println!();
        self.print_targets();
        self.print_signin_targets();
        self.print_oidc_targets();
        let mut notes = self.notes.clone();
        if self.noisy_starts.get() > 0 {
            notes.push(format!(
                "{} measurement(s) started while other work kept the machine above {} cores for {} s (see the other-load column)",
                self.noisy_starts.get(),
                self.args.quiet_threshold,
                self.args.quiet_wait_secs
            ));
        }
        if !notes.is_empty() {
            println!();
            for n in &notes {
                println!("note: {n}");
            }
        }
    }

    fn print_ratios(&self, mode: PinMode) {
        let limit = self.row(mode, "limit-server");
        let empty = limit.as_ref().map(|a| a.rps);
        let empty_cpu = limit.as_ref().and_then(|a| a.cpu_us_per_req);
        let lines: [RatioLine; 6] = [
            (
                "create on SQLite (synchronous=full)",
                "sqlite-full/create",
                Some(("limit-sqlite-full", "fsync'd (FULL)")),
            ),
            (
                "create on SQLite (synchronous=normal)",
                "sqlite-normal/create",
                Some(("limit-sqlite-normal", "synchronous=NORMAL")),
            ),
            ("get on SQLite (synchronous=full)", "sqlite-full/get", None),
            (
                "get on SQLite (synchronous=normal)",
                "sqlite-normal/get",
                None,
            ),
            ("create on PostgreSQL", "pg/create", None),
            ("get on PostgreSQL", "pg/get", None),
        ];
        for (label, key, limit) in lines {
            let Some(a) = self.row(mode, key) else {
                continue;
            };
            let mut line = format!("- {label}: {}/s", rate(a.rps));
            if let Some(e) = empty {
                line.push_str(&format!(
                    " = {:.1}% of the empty-response limit ({}/s)",
                    100.0 * a.rps / e,
                    rate(e)
                ));
            }
            if let (Some(c), Some(ec)) = (a.cpu_us_per_req, empty_cpu) {
                line.push_str(&format!(
                    "; server CPU {c:.0} µs/req = {:.0}× the empty response's {ec:.0} µs",
                    c / ec
                ));
            }
            if let Some((lk, what)) = limit
                && let Some(l) = self.row(mode, lk)
            {
                line.push_str(&format!(
                    "; {:.2}× the {what} single-insert limit ({}/s)",
                    a.rps / l.rps,
                    rate(l.rps)
                ));
            }
            if let Some(n) = a.identities {
                line.push_str(&format!(" (database holding ~{} identities)", rate(n)));
            }
            println!("{line}");
        }
    }

    fn print_targets(&self) {
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        for (mode, r) in &self.startup {
            println!(
                "- startup to ready ({}): {:.1} ms median; target < 200 ms: {}",
                mode.name(),
                r.ready_ms_median,
                verdict(r.ready_ms_median < 200.0)
            );
            let mib = r.idle_rss_kb_median / 1024.0;
            println!(
                "- idle RSS after start ({}): {mib:.1} MiB median; target < 25 MB: {}",
                mode.name(),
                verdict(mib * 1.048_576 < 25.0)
            );
        }
        for mode in self.admin.keys() {
            for key in ["sqlite-full/create", "sqlite-normal/create"] {
                if let Some(a) = self.row(*mode, key) {
                    println!(
                        "- {key} ({}): {}/s; target >= 2,000/s: {}",
                        mode.name(),
                        rate(a.rps),
                        verdict(a.rps >= 2000.0)
                    );
                }
            }
        }
        let errors: u64 = self
            .admin
            .values()
            .flat_map(|m| m.values())
            .flatten()
            .map(|s| s.errors)
            .sum();
        if !self.admin.is_empty() {
            println!(
                "- errors over every admin load run: {errors} (must be 0): {}",
                verdict(errors == 0)
            );
        }
    }

    fn write_json(&self, out: &Path) -> anyhow::Result<()> {
        let admin: BTreeMap<&str, BTreeMap<&str, &Vec<Sample>>> = self
            .admin
            .iter()
            .map(|(m, rows)| (m.name(), rows.iter().map(|(k, v)| (*k, v)).collect()))
            .collect();
        let signin: BTreeMap<&str, BTreeMap<&str, &Vec<Sample>>> = self
            .signin
            .iter()
            .map(|(m, rows)| (m.name(), rows.iter().map(|(k, v)| (*k, v)).collect()))
            .collect();
        let oidc: BTreeMap<&str, BTreeMap<&str, &Vec<Sample>>> = self
            .oidc
            .iter()
            .map(|(m, rows)| (m.name(), rows.iter().map(|(k, v)| (*k, v)).collect()))
            .collect();
        let startup: BTreeMap<&str, &StartupReport> =
            self.startup.iter().map(|(m, r)| (m.name(), r)).collect();
        let doc = serde_json::json!({
            "machine": machine_line(),
            "tessera": tessera_version(&self.tessera),
            "sqlite_version": self.sqlite_version,
            "postgres_version": self.pg_version,
            "runs": self.args.runs,
            "duration_secs": self.args.duration_secs,
            "warmup_secs": self.args.warmup_secs,
            "concurrency": self.args.concurrency,
            "startup": startup,
            "admin": admin,
            "signin": signin,
            "oidc": oidc,
            "oidc_not_measured": self.oidc_failed,
            "node_version": self.node_version,
            "enumeration": self.enumeration.as_ref().map(|(m, r)| serde_json::json!({"mode": m.name(), "result": r})),
            "raw": self.raw,
            "notes": self.notes,
            "loadavg_start": self.loadavg_start,
            "loadavg_end": loadavg(),
        });
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(out, serde_json::to_string_pretty(&doc)?)?;
        Ok(())
    }
}

/// One Markdown table of medians: a row per `(key, target, operation)` that has samples.
fn print_table(
    rows: &[(&str, &str, &str)],
    heads: (&str, &str),
    rate_fmt: fn(f64) -> String,
    agg: impl Fn(&str) -> Option<Agg>,
) {
    print_table_marking(rows, heads, rate_fmt, agg, |_| None);
}

/// [`print_table`], and a row without samples for which `missing` says something is printed with that
/// text in place of its figures.
fn print_table_marking(
    rows: &[(&str, &str, &str)],
    (rate_head, cpu_head): (&str, &str),
    rate_fmt: fn(f64) -> String,
    agg: impl Fn(&str) -> Option<Agg>,
    missing: impl Fn(&str) -> Option<String>,
) {
    println!(
        "| target | operation | {rate_head} | p50 ms | p99 ms | errors | {cpu_head} | RSS idle MiB | RSS peak MiB | other load, cores |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (key, target, op) in rows {
        if let Some(a) = agg(key) {
            println!(
                "| {target} | {op} | {} | {:.2} | {:.2} | {} | {} | {} | {} | {} |",
                rate_fmt(a.rps),
                a.p50_us / 1000.0,
                a.p99_us / 1000.0,
                a.errors,
                opt(a.cpu_us_per_req, 0),
                opt(a.idle_rss_kb.map(|k| k / 1024.0), 1),
                opt(a.peak_rss_kb.map(|k| k / 1024.0), 1),
                opt(a.others_cores, 2),
            );
        } else if let Some(m) = missing(key) {
            println!("| {target} | {op} | {m} | | | | | | | |");
        }
    }
}

fn row_keys(backend: &str) -> (&'static str, &'static str) {
    match backend {
        "sqlite-full" => ("sqlite-full/create", "sqlite-full/get"),
        "sqlite-normal" => ("sqlite-normal/create", "sqlite-normal/get"),
        _ => ("pg/create", "pg/get"),
    }
}

/// Medians over the runs of one row.
struct Agg {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
    cpu_us_per_req: Option<f64>,
    idle_rss_kb: Option<f64>,
    peak_rss_kb: Option<f64>,
    identities: Option<f64>,
    others_cores: Option<f64>,
    start_rss_kb: Option<f64>,
}

impl Agg {
    fn of(v: &[Sample]) -> Self {
        let m = |f: &dyn Fn(&Sample) -> Option<f64>| {
            let xs: Vec<f64> = v.iter().filter_map(f).collect();
            if xs.is_empty() {
                None
            } else {
                Some(median(&xs))
            }
        };
        Agg {
            rps: m(&|s| Some(s.rps)).unwrap_or(f64::NAN),
            p50_us: m(&|s| Some(s.p50_us)).unwrap_or(f64::NAN),
            p99_us: m(&|s| Some(s.p99_us)).unwrap_or(f64::NAN),
            errors: v.iter().map(|s| s.errors).sum(),
            cpu_us_per_req: m(&|s| s.cpu_us_per_req),
            idle_rss_kb: m(&|s| s.idle_rss_kb.map(|k| k as f64)),
            peak_rss_kb: m(&|s| s.peak_rss_kb.map(|k| k as f64)),
            identities: m(&|s| s.identities.map(|k| k as f64)),
            others_cores: m(&|s| s.others_cores),
            start_rss_kb: m(&|s| s.start_rss_kb.map(|k| k as f64)),
        }
    }
}

fn rate(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let n = x.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn opt(x: Option<f64>, decimals: usize) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "-".into(),
    }
}

fn scenario_name(s: Scenario) -> &'static str {
    match s {
        Scenario::Startup => "startup",
        Scenario::Admin => "admin",
        Scenario::Signin => "signin",
        Scenario::Oidc => "oidc",
        Scenario::All => "all",
    }
}

fn machine_line() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    let mem = mem
        .map(|kb| format!(", {:.1} GiB RAM", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cores} cores ({model}){mem}, Linux {kernel}")
}

/// The first three fields of /proc/loadavg: other work on this shared machine shows up here.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn tessera_version(bin: &Path) -> String {
    std::process::Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}
