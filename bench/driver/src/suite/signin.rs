//! The sign-in scenario of the suite (S7): password sign-in through the hosted form against the argon2id
//! limit measured in the same run, the sign-in page's latency at a fixed arrival rate, and the
//! enumeration timing of wrong passwords for existing and unknown accounts.
use std::time::Duration;

use super::{Agg, PinMode, Sample, Suite, print_table, rate};
use crate::limits::Argon2Limit;
use crate::procs;
use crate::signin::{EnumerationReport, PageReport, SetupReport, SigninReport};
use crate::tessera::{Tessera, TesseraOpts};

/// Customers registered for the throughput runs (each signs in many times).
const SIGNIN_USERS: usize = 64;
/// The benchmarked Tessera trusts the driver on loopback as a proxy, so `X-Forwarded-For` gives every
/// simulated customer its own address (see `signin.rs`).
const TRUSTED: &[(&str, &str)] = &[("TESSERA_TRUSTED_PROXIES", "127.0.0.1/32")];

/// The rows of the sign-in table, in order: key, target, operation.
const SIGNIN_ROWS: &[(&str, &str, &str)] = &[
    (
        "sqlite/limit-argon2",
        "argon2id verify, m=19 MiB t=2 p=1 (limit)",
        "verify, around the SQLite window",
    ),
    (
        "sqlite/signin",
        "Tessera, SQLite",
        "sign-in (GET, GET, POST)",
    ),
    ("sqlite/post", "Tessera, SQLite", "sign-in POST alone"),
    (
        "sqlite/page-start",
        "Tessera, SQLite",
        "GET /login (new flow, 303)",
    ),
    (
        "sqlite/page-show",
        "Tessera, SQLite",
        "GET flow page (form)",
    ),
    (
        "sqlite/page-view",
        "Tessera, SQLite",
        "page view (both GETs)",
    ),
    (
        "pg/limit-argon2",
        "argon2id verify, m=19 MiB t=2 p=1 (limit)",
        "verify, around the PostgreSQL window",
    ),
    (
        "pg/signin",
        "Tessera, PostgreSQL",
        "sign-in (GET, GET, POST)",
    ),
    ("pg/post", "Tessera, PostgreSQL", "sign-in POST alone"),
    (
        "pg/page-start",
        "Tessera, PostgreSQL",
        "GET /login (new flow, 303)",
    ),
    (
        "pg/page-show",
        "Tessera, PostgreSQL",
        "GET flow page (form)",
    ),
    (
        "pg/page-view",
        "Tessera, PostgreSQL",
        "page view (both GETs)",
    ),
];

impl Suite {
    fn push_signin(&mut self, mode: PinMode, key: &'static str, s: Sample, raw: serde_json::Value) {
        self.raw.push(
            serde_json::json!({"mode": mode.name(), "row": key, "run": s.run, "result": raw}),
        );
        self.signin
            .entry(mode)
            .or_default()
            .entry(key)
            .or_default()
            .push(s);
    }

    fn signin_row(&self, mode: PinMode, key: &str) -> Option<Agg> {
        self.signin
            .get(&mode)
            .and_then(|m| m.get(key))
            .filter(|v| !v.is_empty())
            .map(|v| Agg::of(v))
    }

    /// Cores the server may use in `mode`: what the argon2id limit is measured on.
    fn server_cores(mode: PinMode) -> usize {
        match mode {
            PinMode::Pinned => 1,
            PinMode::Unpinned => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    pub(super) fn run_signin(&mut self) -> anyhow::Result<()> {
        if self.args.pg_url.is_none() {
            self.notes.push(
                "TESSERA_TEST_PG_URL is not set: the PostgreSQL sign-in rows were skipped".into(),
            );
        }
        for run in 1..=self.args.runs {
            for mode in self.args.modes.clone() {
                eprintln!(
                    "== sign-in run {run}/{}, {}",
                    self.args.runs,
                    mode.describe()
                );
                for pg in [false, true] {
                    if pg && self.args.pg_url.is_none() {
                        continue;
                    }
                    let db = if pg { Some(self.create_pg_db()?) } else { None };
                    let r = self.signin_loads(mode, run, db.as_ref().map(|(_, u)| u.as_str()));
                    if let Some((name, _)) = &db
                        && let Err(e) = self.drop_pg_db(name)
                    {
                        self.notes
                            .push(format!("could not drop database {name}: {e:#}"));
                    }
                    r?;
                }
            }
        }
        if self.args.enumeration_samples > 0 {
            let mode = self
                .args
                .modes
                .first()
                .copied()
                .unwrap_or(PinMode::Unpinned);
            self.measure_enumeration(mode)?;
        }
        Ok(())
    }

    /// One argon2id limit measurement on the server's cores. The sign-in windows are bracketed by two of
    /// these (see [`Self::signin_loads`]): this machine's hashing speed drifts by ±15 % within seconds
    /// (a shared host's caches and memory bandwidth), so a limit taken minutes away from the window it
    /// judges says more about the drift than about Tessera.
    fn measure_argon2(&self, mode: PinMode) -> anyhow::Result<Argon2Limit> {
        let threads = Self::server_cores(mode);
        eprintln!("   limit-argon2 ({threads} thread(s))");
        self.quiet();
        let r: Argon2Limit = self.run_json(
            &procs::pin_prefix(mode.server_cpu()),
            &[
                "limit-argon2".into(),
                "--threads".into(),
                threads.to_string(),
                "--duration-secs".into(),
                self.args.sqlite_limit_secs.to_string(),
            ],
        )?;
        eprintln!("     {:.1} verifications/s", r.verifications_per_s);
        Ok(r)
    }

    /// The limit for one sign-in window: the mean of the measurements just before and just after it.
    fn push_argon2_bracket(
        &mut self,
        mode: PinMode,
        run: u32,
        key: &'static str,
        before: &Argon2Limit,
        after: &Argon2Limit,
    ) -> anyhow::Result<()> {
        let mean = |a: f64, b: f64| f64::midpoint(a, b);
        let sample = Sample {
            run,
            rps: mean(before.verifications_per_s, after.verifications_per_s),
            p50_us: mean(f64::from(before.p50_us), f64::from(after.p50_us)),
            p99_us: mean(f64::from(before.p99_us), f64::from(after.p99_us)),
            ..Sample::default()
        };
        let raw = serde_json::json!({"before": before, "after": after});
        self.push_signin(mode, key, sample, raw);
        Ok(())
    }

    /// Sign-ins per second over the limit around the same window, per run, and their median: the
    /// bracketing pairs each window with its own limit, so the ratio is taken run by run.
    fn signin_fraction(&self, mode: PinMode, backend: &str) -> Option<f64> {
        let rows = self.signin.get(&mode)?;
        let signins = rows.get(format!("{backend}/signin").as_str())?;
        let limits = rows.get(format!("{backend}/limit-argon2").as_str())?;
        let ratios: Vec<f64> = signins
            .iter()
            .filter_map(|s| {
                let l = limits.iter().find(|l| l.run == s.run)?;
                (l.rps > 0.0).then(|| s.rps / l.rps)
            })
            .collect();
        (!ratios.is_empty()).then(|| procs::median(&ratios))
    }

    /// Starts a Tessera (trusting the driver as a proxy), registers customers, waits for an idle machine.
    fn signin_server(
        &self,
        mode: PinMode,
        db_url: Option<&str>,
        users: usize,
        users_file: &std::path::Path,
    ) -> anyhow::Result<(Tessera, Option<u64>, SetupReport)> {
        let opts = TesseraOpts {
            bin: &self.tessera,
            cpu: mode.server_cpu(),
            synchronous: None,
            database_url: db_url,
            work_dir: &self.work_dir,
            env: TRUSTED,
        };
        let mut t = Tessera::spawn(&opts)?;
        t.wait_ready(Duration::from_secs(60))?;
        std::thread::sleep(Duration::from_secs(2));
        let idle = procs::status_kb(t.pid(), "VmRSS");
        let setup: SetupReport = self.run_json(
            &procs::pin_prefix(mode.driver_cpu()),
            &[
                "setup-users".into(),
                "--public".into(),
                t.public_url(),
                "--admin".into(),
                t.base_url(),
                "--count".into(),
                users.to_string(),
                "--out".into(),
                users_file.display().to_string(),
            ],
        )?;
        t.proc.check_alive()?;
        eprintln!(
            "     registered {} customers in {:.1} s ({:.1}/s)",
            setup.registered, setup.secs, setup.per_s
        );
        Ok((t, idle, setup))
    }

    fn signin_loads(
        &mut self,
        mode: PinMode,
        run: u32,
        db_url: Option<&str>,
    ) -> anyhow::Result<()> {
        let backend = if db_url.is_some() { "pg" } else { "sqlite" };
        eprintln!("   tessera {backend}");
        let users = tempfile::Builder::new()
            .prefix("tessera-bench-users-")
            .tempfile_in(&self.work_dir)?;
        let (mut t, idle, _) = self.signin_server(mode, db_url, SIGNIN_USERS, users.path())?;
        let driver = procs::pin_prefix(mode.driver_cpu());
        let window = [
            "--duration-secs".into(),
            self.args.duration_secs.to_string(),
            "--warmup-secs".into(),
            self.args.warmup_secs.to_string(),
            "--server-pid".into(),
            t.pid().to_string(),
        ];
        let mut a: Vec<String> = vec![
            "page-load".into(),
            "--public".into(),
            t.public_url(),
            "--rate".into(),
            self.args.page_rate.to_string(),
        ];
        a.extend(window.iter().cloned());
        self.quiet();
        let page: PageReport = self.run_json(&driver, &a)?;
        t.proc.check_alive()?;
        let mut a: Vec<String> = vec![
            "signin-load".into(),
            "--public".into(),
            t.public_url(),
            "--users".into(),
            users.path().display().to_string(),
            "--concurrency".into(),
            self.args.signin_concurrency.to_string(),
        ];
        a.extend(window.iter().cloned());
        // The idle server stays up while the limit runs on its core: it uses no CPU when idle.
        let before = self.measure_argon2(mode)?;
        self.quiet();
        let signin: SigninReport = self.run_json(&driver, &a)?;
        t.proc.check_alive()?;
        let after = self.measure_argon2(mode)?;
        t.proc.stop();
        eprintln!(
            "     page views: {:.0}/s, GET /login p99 {:.2} ms, GET page p99 {:.2} ms, errors {}",
            page.views_per_s,
            f64::from(page.start_p99_us) / 1000.0,
            f64::from(page.show_p99_us) / 1000.0,
            page.errors
        );
        eprintln!(
            "     sign-ins: {:.1}/s, p99 {:.1} ms, errors {}",
            signin.signins_per_s,
            f64::from(signin.p99_us) / 1000.0,
            signin.errors
        );
        let limit_key = if backend == "pg" {
            "pg/limit-argon2"
        } else {
            "sqlite/limit-argon2"
        };
        self.push_argon2_bracket(mode, run, limit_key, &before, &after)?;
        let keys: [&'static str; 5] = if backend == "pg" {
            [
                "pg/signin",
                "pg/post",
                "pg/page-start",
                "pg/page-show",
                "pg/page-view",
            ]
        } else {
            [
                "sqlite/signin",
                "sqlite/post",
                "sqlite/page-start",
                "sqlite/page-show",
                "sqlite/page-view",
            ]
        };
        let signin_raw = serde_json::to_value(&signin)?;
        let page_raw = serde_json::to_value(&page)?;
        let base = Sample {
            run,
            rps: signin.signins_per_s,
            errors: signin.errors,
            idle_rss_kb: idle,
            peak_rss_kb: signin.server_rss_peak_kb,
            others_cores: signin.others_cores,
            ..Sample::default()
        };
        self.push_signin(
            mode,
            keys[0],
            Sample {
                p50_us: f64::from(signin.p50_us),
                p99_us: f64::from(signin.p99_us),
                cpu_us_per_req: signin.server_cpu_us_per_signin,
                ..base.clone()
            },
            signin_raw.clone(),
        );
        self.push_signin(
            mode,
            keys[1],
            Sample {
                p50_us: f64::from(signin.post_p50_us),
                p99_us: f64::from(signin.post_p99_us),
                ..base
            },
            signin_raw,
        );
        let page_base = Sample {
            run,
            rps: page.views_per_s,
            errors: page.errors,
            idle_rss_kb: idle,
            peak_rss_kb: page.server_rss_peak_kb,
            others_cores: page.others_cores,
            ..Sample::default()
        };
        for (key, p50, p99, cpu) in [
            (keys[2], page.start_p50_us, page.start_p99_us, None),
            (keys[3], page.show_p50_us, page.show_p99_us, None),
            (
                keys[4],
                page.view_p50_us,
                page.view_p99_us,
                page.server_cpu_us_per_view,
            ),
        ] {
            self.push_signin(
                mode,
                key,
                Sample {
                    p50_us: f64::from(p50),
                    p99_us: f64::from(p99),
                    cpu_us_per_req: cpu,
                    ..page_base.clone()
                },
                page_raw.clone(),
            );
        }
        Ok(())
    }

    fn measure_enumeration(&mut self, mode: PinMode) -> anyhow::Result<()> {
        let samples = self.args.enumeration_samples;
        eprintln!(
            "== enumeration timing, {}, SQLite: {samples} samples per class",
            mode.describe()
        );
        let users = tempfile::Builder::new()
            .prefix("tessera-bench-users-")
            .tempfile_in(&self.work_dir)?;
        let (mut t, _, _) = self.signin_server(mode, None, samples.div_ceil(4), users.path())?;
        self.quiet();
        let r: EnumerationReport = self.run_json(
            &procs::pin_prefix(mode.driver_cpu()),
            &[
                "enumeration".into(),
                "--public".into(),
                t.public_url(),
                "--users".into(),
                users.path().display().to_string(),
                "--samples".into(),
                samples.to_string(),
            ],
        )?;
        t.proc.check_alive()?;
        t.proc.stop();
        eprintln!(
            "     mean difference {:.0} µs, KS D {:.4}, p {:.3}",
            r.mean_diff_us, r.ks_d, r.ks_p
        );
        self.raw
            .push(serde_json::json!({"mode": mode.name(), "row": "enumeration", "result": &r}));
        self.enumeration = Some((mode, r));
        Ok(())
    }

    pub(super) fn print_signin(&self) {
        for mode in self.signin.keys() {
            let mode = *mode;
            println!();
            println!(
                "## password sign-in through the hosted form, {}; medians of {} runs; {} s windows after {} s warm-up; {} customers signing in at once; page views at {}/s",
                mode.describe(),
                self.args.runs,
                self.args.duration_secs,
                self.args.warmup_secs,
                self.args.signin_concurrency,
                self.args.page_rate
            );
            println!();
            print_table(SIGNIN_ROWS, ("per s", "server CPU µs each"), rate_1, |k| {
                self.signin_row(mode, k)
            });
            println!();
            for (label, backend) in [("SQLite", "sqlite"), ("PostgreSQL", "pg")] {
                let (Some(a), Some(l), Some(f)) = (
                    self.signin_row(mode, &format!("{backend}/signin")),
                    self.signin_row(mode, &format!("{backend}/limit-argon2")),
                    self.signin_fraction(mode, backend),
                ) else {
                    continue;
                };
                let mut line = format!(
                    "- sign-in on {label}: {}/s = {:.1}% of the argon2id limit measured just before and after each window (median of the runs' ratios; median limit {}/s on {} core(s))",
                    rate_1(a.rps),
                    100.0 * f,
                    rate_1(l.rps),
                    Self::server_cores(mode)
                );
                if let Some(c) = a.cpu_us_per_req {
                    line.push_str(&format!(
                        "; server CPU {:.1} ms per sign-in against {:.1} ms per verification in the limit",
                        c / 1000.0,
                        l.p50_us / 1000.0
                    ));
                }
                println!("{line}");
            }
        }
        if let Some((mode, r)) = &self.enumeration {
            println!();
            println!(
                "## enumeration timing: POST of a wrong password, existing against unknown accounts, {}; {} samples per class, one at a time, classes interleaved at random; SQLite",
                mode.describe(),
                r.known.n
            );
            println!();
            println!("| class | samples | mean ms | sd ms | p10 ms | p50 ms | p90 ms | p99 ms |");
            println!("|---|---:|---:|---:|---:|---:|---:|---:|");
            for (name, c) in [
                ("existing account", &r.known),
                ("unknown identifier", &r.unknown),
            ] {
                println!(
                    "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                    c.n,
                    c.mean_us / 1000.0,
                    c.sd_us / 1000.0,
                    f64::from(c.p10_us) / 1000.0,
                    f64::from(c.p50_us) / 1000.0,
                    f64::from(c.p90_us) / 1000.0,
                    f64::from(c.p99_us) / 1000.0,
                );
            }
            println!();
            println!(
                "- mean difference (existing − unknown): {:.3} ms ± {:.3} ms (95%); median difference {:.3} ms",
                r.mean_diff_us / 1000.0,
                r.mean_diff_ci95_us / 1000.0,
                r.median_diff_us / 1000.0
            );
            println!(
                "- two-sample Kolmogorov-Smirnov: D = {:.4}, p = {:.4}",
                r.ks_d, r.ks_p
            );
            println!(
                "- same status for every sample: {}; body lengths (identifier removed): {:?}; errors: {}",
                r.same_status, r.body_lengths, r.errors
            );
        }
    }

    pub(super) fn print_signin_targets(&self) {
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        for mode in self.signin.keys() {
            let mode = *mode;
            for (backend, label) in [("sqlite", "SQLite"), ("pg", "PostgreSQL")] {
                let key = |k: &str| format!("{backend}/{k}");
                if let Some(f) = self.signin_fraction(mode, backend) {
                    println!(
                        "- sign-in on {label} ({}): {:.1}% of the argon2id limit; target >= 90%: {}",
                        mode.name(),
                        100.0 * f,
                        verdict(f >= 0.9)
                    );
                }
                for (k, what) in [
                    ("page-start", "GET /login"),
                    ("page-show", "GET of the sign-in page"),
                ] {
                    if let Some(a) = self.signin_row(mode, &key(k)) {
                        println!(
                            "- {what} on {label} ({}) at {}/s: p99 {:.2} ms; target < 5 ms: {}",
                            mode.name(),
                            self.args.page_rate,
                            a.p99_us / 1000.0,
                            verdict(a.p99_us < 5000.0)
                        );
                    }
                }
            }
        }
        if !self.signin.is_empty() {
            let errors: u64 = self
                .signin
                .values()
                .flat_map(|m| m.values())
                .flatten()
                .map(|s| s.errors)
                .sum();
            println!(
                "- errors over every sign-in run: {errors} (must be 0): {}",
                verdict(errors == 0)
            );
        }
        if let Some((_, r)) = &self.enumeration {
            println!(
                "- enumeration timing (RL-05: KS p > 0.01 and mean difference under 5 ms): p = {:.4}, {:.3} ms: {}",
                r.ks_p,
                r.mean_diff_us / 1000.0,
                verdict(r.ks_p > 0.01 && r.mean_diff_us.abs() < 5000.0)
            );
        }
    }
}

/// Rates below 100 with one decimal, larger ones as whole numbers with separators.
fn rate_1(x: f64) -> String {
    if x.is_finite() && x < 100.0 {
        format!("{x:.1}")
    } else {
        rate(x)
    }
}
