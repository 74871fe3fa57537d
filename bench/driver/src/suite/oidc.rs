//! The OIDC scenario of the suite (S1-S6): Tessera on SQLite (and on PostgreSQL for S6) side by side
//! with the `oidc-provider` peer in the same run, scenario by scenario (A B, then B A in the next run),
//! with the empty-response and ES256-signature limits measured in the same run.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Agg, PinMode, Sample, Suite, print_table_marking, rate};
use crate::limits::Es256Limit;
use crate::oidc::{OidcReport, Op, Target};
use crate::procs::{self, Proc};
use crate::signin::SetupReport;
use crate::tessera::{Tessera, TesseraOpts};

/// The peer's version, as pinned in bench/peers/oidc-provider/package.json.
pub const PEER: &str = "oidc-provider 9.13.3";

/// Tessera as the other scenarios start it, trusting the driver as a proxy (each simulated customer
/// signs in from its own address) and with quotas the setup's sign-ins cannot reach.
const TESSERA_ENV: &[(&str, &str)] = &[
    ("TESSERA_TRUSTED_PROXIES", "127.0.0.1/32"),
    ("TESSERA_QUOTA_FLOW_STARTS_PER_CLIENT", "1000000000"),
    ("TESSERA_QUOTA_FLOW_STARTS_GLOBAL", "1000000000"),
];

/// The client registered on Tessera (the peer's is in its server script, alike).
fn client_json() -> serde_json::Value {
    serde_json::json!({
        "client_id": "bench",
        "name": "Bench",
        "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
        "scopes": ["openid", "profile", "email", "api:read"],
        "redirect_uris": ["http://127.0.0.1:9/cb"],
        "first_party": true,
    })
}

/// Row keys: the limits, then per scenario Tessera on SQLite, the peer, and Tessera on PostgreSQL.
const ROW_KEYS: &[(&str, &str, &str)] = &[
    ("limit-server", "axum empty JSON response (limit)", "GET /"),
    (
        "limit-es256",
        "ES256 JWT signing, tessera_crypto::jws, one thread (limit)",
        "sign an access token",
    ),
    (
        "tessera/S1",
        "Tessera, SQLite",
        "S1 client_credentials token",
    ),
    ("peer/S1", PEER, "S1 client_credentials token"),
    ("tessera/S2", "Tessera, SQLite", "S2 discovery"),
    ("peer/S2", PEER, "S2 discovery"),
    ("tessera/S3", "Tessera, SQLite", "S3 JWKS"),
    ("peer/S3", PEER, "S3 JWKS"),
    ("tessera/S4", "Tessera, SQLite", "S4 introspection"),
    ("peer/S4", PEER, "S4 introspection"),
    ("tessera/S5", "Tessera, SQLite", "S5 userinfo"),
    ("peer/S5", PEER, "S5 userinfo"),
    (
        "tessera/S6",
        "Tessera, SQLite",
        "S6 code flow (authorize + token)",
    ),
    ("peer/S6", PEER, "S6 code flow (authorize + token)"),
    (
        "tessera-pg/S6",
        "Tessera, PostgreSQL",
        "S6 code flow (authorize + token)",
    ),
];

fn row_key(who: &str, op: Op) -> &'static str {
    let want = format!("{who}/{}", op.id());
    ROW_KEYS
        .iter()
        .map(|(k, _, _)| *k)
        .find(|k| *k == want)
        .unwrap_or("unknown")
}

/// One server under test in a run.
struct Server {
    /// `tessera`, `peer` or `tessera-pg`.
    who: &'static str,
    target: Target,
    base_url: String,
    admin_url: Option<String>,
    secret: String,
    pid: u32,
    idle_kb: Option<u64>,
    /// Customers registered so far (Tessera) and the file that lists them.
    users: usize,
    users_file: Option<tempfile::NamedTempFile>,
    _tessera: Option<Tessera>,
    _peer: Option<(Proc, tempfile::TempDir)>,
    /// The PostgreSQL database to drop afterwards.
    pg_db: Option<String>,
}

impl Suite {
    fn push_oidc(&mut self, mode: PinMode, key: &'static str, s: Sample, raw: serde_json::Value) {
        self.raw.push(
            serde_json::json!({"mode": mode.name(), "row": key, "run": s.run, "result": raw}),
        );
        self.oidc
            .entry(mode)
            .or_default()
            .entry(key)
            .or_default()
            .push(s);
    }

    fn oidc_row(&self, mode: PinMode, key: &str) -> Option<Agg> {
        self.oidc
            .get(&mode)
            .and_then(|m| m.get(key))
            .filter(|v| !v.is_empty())
            .map(|v| Agg::of(v))
    }

    /// The peer's folder with its dependencies installed, or why it cannot run.
    fn peer_dir(&self) -> Result<PathBuf, String> {
        let dir = self.args.peer_dir.clone().ok_or("no --peer-dir given")?;
        if !dir.join("node_modules/oidc-provider").is_dir() {
            return Err(format!(
                "{} has no node_modules/oidc-provider (run npm ci there)",
                dir.display()
            ));
        }
        Ok(dir)
    }

    pub(super) fn run_oidc(&mut self) -> anyhow::Result<()> {
        let peer_dir = match self.peer_dir() {
            Ok(d) => Some(d),
            Err(e) => {
                self.notes.push(format!("the peer was not measured: {e}"));
                None
            }
        };
        self.node_version = std::process::Command::new(&self.args.node)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned());
        let ops = self.args.oidc_ops.clone();
        let pg = ops.contains(&Op::S6) && self.args.pg_url.is_some();
        if ops.contains(&Op::S6) && self.args.pg_url.is_none() {
            self.notes
                .push("TESSERA_TEST_PG_URL is not set: S6 on PostgreSQL was skipped".into());
        }
        for run in 1..=self.args.runs {
            for mode in self.args.modes.clone() {
                eprintln!("== oidc run {run}/{}, {}", self.args.runs, mode.describe());
                let (s, r) = self.limit_server_sample(mode, run)?;
                self.push_oidc(mode, "limit-server", s, serde_json::to_value(&r)?);
                self.measure_es256(mode, run)?;
                let mut servers = Vec::new();
                let result = self.oidc_run(mode, run, &ops, peer_dir.as_deref(), pg, &mut servers);
                for s in &mut servers {
                    if let Some(t) = &mut s._tessera {
                        t.proc.stop();
                    }
                    if let Some((p, _)) = &mut s._peer {
                        p.stop();
                    }
                }
                for s in servers {
                    if let Some(name) = &s.pg_db
                        && let Err(e) = self.drop_pg_db(name)
                    {
                        self.notes
                            .push(format!("could not drop database {name}: {e:#}"));
                    }
                }
                result?;
            }
        }
        Ok(())
    }

    fn measure_es256(&mut self, mode: PinMode, run: u32) -> anyhow::Result<()> {
        eprintln!("   limit-es256");
        self.quiet();
        let r: Es256Limit = self.run_json(
            &procs::pin_prefix(mode.server_cpu()),
            &[
                "limit-es256".into(),
                "--duration-secs".into(),
                self.args.sqlite_limit_secs.to_string(),
            ],
        )?;
        eprintln!("     {:.0} signatures/s", r.signatures_per_s);
        let sample = Sample {
            run,
            rps: r.signatures_per_s,
            p50_us: f64::from(r.p50_us),
            p99_us: f64::from(r.p99_us),
            // One thread doing nothing else: its CPU per signature is its wall time per signature.
            cpu_us_per_req: Some(1e6 / r.signatures_per_s),
            ..Sample::default()
        };
        self.push_oidc(mode, "limit-es256", sample, serde_json::to_value(&r)?);
        Ok(())
    }

    fn oidc_run(
        &mut self,
        mode: PinMode,
        run: u32,
        ops: &[Op],
        peer_dir: Option<&Path>,
        pg: bool,
        servers: &mut Vec<Server>,
    ) -> anyhow::Result<()> {
        servers.push(self.start_tessera(mode, None)?);
        if let Some(dir) = peer_dir {
            servers.push(self.start_peer(mode, dir)?);
        }
        if pg {
            let (name, url) = self.create_pg_db()?;
            let r = self.start_tessera(mode, Some(&url));
            match r {
                Ok(mut s) => {
                    s.pg_db = Some(name);
                    servers.push(s);
                }
                Err(e) => {
                    let _ = self.drop_pg_db(&name);
                    return Err(e);
                }
            }
        }
        for &op in ops {
            // A B in odd runs, B A in even ones, so drift over a run favours neither.
            let mut order: Vec<usize> = (0..servers.len())
                .filter(|&i| op == Op::S6 || servers[i].who != "tessera-pg")
                .collect();
            if run.is_multiple_of(2) {
                order.reverse();
            }
            for i in order {
                let needs = match op {
                    Op::S4 | Op::S5 => 1,
                    Op::S6 => self.args.concurrency,
                    _ => 0,
                };
                self.ensure_users(mode, &mut servers[i], needs)?;
                self.measure_oidc(mode, run, op, &servers[i])?;
            }
        }
        Ok(())
    }

    fn start_tessera(&mut self, mode: PinMode, db_url: Option<&str>) -> anyhow::Result<Server> {
        let who = if db_url.is_some() {
            "tessera-pg"
        } else {
            "tessera"
        };
        eprintln!("   starting {who}");
        let opts = TesseraOpts {
            bin: &self.tessera,
            cpu: mode.server_cpu(),
            synchronous: None,
            database_url: db_url,
            work_dir: &self.work_dir,
            env: TESSERA_ENV,
        };
        let mut t = Tessera::spawn(&opts)?;
        t.wait_ready(Duration::from_secs(60))?;
        std::thread::sleep(Duration::from_secs(2));
        let idle_kb = procs::status_kb(t.pid(), "VmRSS");
        let (admin, key) = (t.base_url(), t.key.clone());
        let secret = self.rt.block_on(async {
            let r = reqwest::Client::builder()
                .no_proxy()
                .build()?
                .post(format!("{admin}/admin/v1/tenants/default/clients"))
                .bearer_auth(&key)
                .json(&client_json())
                .send()
                .await?;
            let status = r.status();
            let text = r.text().await?;
            if status.as_u16() != 201 && status.as_u16() != 200 {
                bail!("registering the bench client: status {status}: {text}");
            }
            let v: serde_json::Value = serde_json::from_str(&text)?;
            v["client_secret"]
                .as_str()
                .map(str::to_owned)
                .context("the registration answer has no client_secret")
        })?;
        Ok(Server {
            who,
            target: Target::Tessera,
            base_url: t.public_url(),
            admin_url: Some(t.base_url()),
            secret,
            pid: t.pid(),
            idle_kb,
            users: 0,
            users_file: None,
            _tessera: Some(t),
            _peer: None,
            pg_db: None,
        })
    }

    fn start_peer(&mut self, mode: PinMode, dir: &Path) -> anyhow::Result<Server> {
        eprintln!("   starting the peer ({PEER})");
        let tmp = tempfile::Builder::new()
            .prefix("tessera-bench-peer-")
            .tempdir_in(&self.work_dir)?;
        let port = procs::free_port()?;
        let secret = format!("peer-{}", tessera_crypto::random_token()?);
        let mut cmd = procs::command(
            &procs::pin_prefix(mode.server_cpu()),
            Path::new(&self.args.node),
        );
        cmd.arg(dir.join("server.js"))
            .arg(port.to_string())
            .current_dir(dir)
            .env("NODE_ENV", "production")
            .env("BENCH_CLIENT_SECRET", &secret);
        let mut p = Proc::spawn(cmd, "oidc-provider peer", &tmp.path().join("peer.log"))?;
        let addr = format!("127.0.0.1:{port}").parse()?;
        procs::wait_for_200(
            &mut p,
            addr,
            "/.well-known/openid-configuration",
            Instant::now(),
            Duration::from_millis(20),
            Duration::from_secs(30),
        )?;
        std::thread::sleep(Duration::from_secs(2));
        let idle_kb = procs::status_kb(p.pid(), "VmRSS");
        Ok(Server {
            who: "peer",
            target: Target::Peer,
            base_url: format!("http://{addr}"),
            admin_url: None,
            secret,
            pid: p.pid(),
            idle_kb,
            users: 0,
            users_file: None,
            _tessera: None,
            _peer: Some((p, tmp)),
            pg_db: None,
        })
    }

    /// Registers customers on a Tessera until it has `n` (outside any measured window).
    fn ensure_users(&self, mode: PinMode, s: &mut Server, n: usize) -> anyhow::Result<()> {
        let Some(admin) = s.admin_url.clone() else {
            return Ok(());
        };
        if s.users >= n {
            return Ok(());
        }
        let file = tempfile::Builder::new()
            .prefix("tessera-bench-users-")
            .tempfile_in(&self.work_dir)?;
        let r: SetupReport = self.run_json(
            &procs::pin_prefix(mode.driver_cpu()),
            &[
                "setup-users".into(),
                "--public".into(),
                s.base_url.clone(),
                "--admin".into(),
                admin,
                "--count".into(),
                n.to_string(),
                "--out".into(),
                file.path().display().to_string(),
            ],
        )?;
        eprintln!(
            "     {}: registered {} customers in {:.1} s",
            s.who, r.registered, r.secs
        );
        s.users = n;
        s.users_file = Some(file);
        Ok(())
    }

    fn measure_oidc(&mut self, mode: PinMode, run: u32, op: Op, s: &Server) -> anyhow::Result<()> {
        let key = row_key(s.who, op);
        eprintln!("   {key}");
        let mut a: Vec<String> = vec![
            "oidc-load".into(),
            "--target".into(),
            match s.target {
                Target::Tessera => "tessera".into(),
                Target::Peer => "peer".into(),
            },
            "--op".into(),
            op.id().to_lowercase(),
            "--base-url".into(),
            s.base_url.clone(),
            "--client-secret".into(),
            s.secret.clone(),
            "--concurrency".into(),
            self.args.concurrency.to_string(),
            "--duration-secs".into(),
            self.args.duration_secs.to_string(),
            "--warmup-secs".into(),
            self.args.warmup_secs.to_string(),
            "--server-pid".into(),
            s.pid.to_string(),
        ];
        if let Some(f) = &s.users_file {
            a.extend(["--users".into(), f.path().display().to_string()]);
        }
        // The peak of this row is this row's: forget the resident set's high-water mark so far.
        procs::reset_peak_rss(s.pid);
        self.quiet();
        let r: OidcReport = match self.run_json(&procs::pin_prefix(mode.driver_cpu()), &a) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("     FAILED: {e:#}");
                self.notes
                    .push(format!("run {run} ({}), {key}: failed: {e:#}", mode.name()));
                self.oidc_failed.insert(key, "failed".into());
                return Ok(());
            }
        };
        if let Some(why) = &r.not_built {
            eprintln!("     not built yet: {why}");
            self.oidc_failed
                .entry(key)
                .or_insert_with(|| format!("not built yet ({why})"));
            self.raw.push(
                serde_json::json!({"mode": mode.name(), "row": key, "run": run, "result": r}),
            );
            return Ok(());
        }
        eprintln!(
            "     {:.0} ops/s, p99 {:.2} ms, errors {}{}",
            r.ops_per_s,
            f64::from(r.p99_us) / 1000.0,
            r.errors,
            r.error_samples
                .first()
                .map(|e| format!(" (e.g. {e})"))
                .unwrap_or_default()
        );
        let sample = Sample {
            run,
            rps: r.ops_per_s,
            p50_us: f64::from(r.p50_us),
            p99_us: f64::from(r.p99_us),
            errors: r.errors,
            cpu_us_per_req: r.server_cpu_us_per_op,
            idle_rss_kb: s.idle_kb,
            peak_rss_kb: r.server_rss_peak_kb,
            identities: None,
            others_cores: r.others_cores,
            start_rss_kb: r.server_rss_start_kb,
        };
        if let Some(form) = &r.token_form {
            self.oidc_token_forms.insert(key, form.clone());
        }
        self.push_oidc(mode, key, sample, serde_json::to_value(&r)?);
        Ok(())
    }

    pub(super) fn print_oidc(&self) {
        for mode in self.oidc.keys().copied().collect::<Vec<_>>() {
            println!();
            println!(
                "## OIDC (S1-S6) against {PEER} (Node {}), {}; medians of {} runs; {} s windows after {} s warm-up; {} concurrent connections",
                self.node_version.as_deref().unwrap_or("?"),
                mode.describe(),
                self.args.runs,
                self.args.duration_secs,
                self.args.warmup_secs,
                self.args.concurrency
            );
            println!();
            // Rows that could not be measured keep their place, marked, with the reason below the table.
            let rows: Vec<(&str, &str, &str)> = ROW_KEYS
                .iter()
                .copied()
                .filter(|(k, _, _)| {
                    self.oidc_row(mode, k).is_some() || self.oidc_failed.contains_key(k)
                })
                .collect();
            let mut unmeasured = Vec::new();
            print_table_marking(
                &rows,
                ("ops/s", "server CPU µs/op"),
                rate,
                |k| self.oidc_row(mode, k),
                |k| {
                    self.oidc_failed.get(k).map(|why| {
                        if why.starts_with("not built") {
                            "not built yet".to_owned()
                        } else {
                            "failed".to_owned()
                        }
                    })
                },
            );
            for (k, target, op) in &rows {
                if self.oidc_row(mode, k).is_none()
                    && let Some(why) = self.oidc_failed.get(k)
                {
                    unmeasured.push(format!("- {target}, {op}: {why}"));
                }
            }
            if !unmeasured.is_empty() {
                println!();
                println!("Not measured:");
                for line in unmeasured {
                    println!("{line}");
                }
            }
            println!();
            self.print_oidc_ratios(mode);
        }
    }

    fn print_oidc_ratios(&self, mode: PinMode) {
        let empty = self.oidc_row(mode, "limit-server");
        let es = self.oidc_row(mode, "limit-es256");
        for op in Op::ALL {
            let t = self.oidc_row(mode, row_key("tessera", op));
            let p = self.oidc_row(mode, row_key("peer", op));
            let Some(t) = t else { continue };
            let mut line = format!("- {} {}: Tessera {}/s", op.id(), op.describe(), rate(t.rps));
            if let Some(p) = &p {
                line.push_str(&format!(
                    " = **{:.1}×** the peer's {}/s",
                    t.rps / p.rps,
                    rate(p.rps)
                ));
                if let (Some(tc), Some(pc)) = (t.cpu_us_per_req, p.cpu_us_per_req) {
                    line.push_str(&format!(
                        "; server CPU per op {tc:.0} µs against the peer's {pc:.0} µs ({:.1}× less)",
                        pc / tc
                    ));
                }
            }
            if let Some(e) = &empty {
                line.push_str(&format!(
                    "; {:.1}% of the empty-response limit ({}/s)",
                    100.0 * t.rps / e.rps,
                    rate(e.rps)
                ));
                if let (Some(tc), Some(ec)) = (t.cpu_us_per_req, e.cpu_us_per_req) {
                    line.push_str(&format!(", {:.1}× its CPU", tc / ec));
                }
            }
            if op == Op::S1
                && let Some(e) = &es
            {
                line.push_str(&format!(
                    "; {:.1}% of the ES256 signing limit ({}/s)",
                    100.0 * t.rps / e.rps,
                    rate(e.rps)
                ));
            }
            if let Some(form) = self.oidc_token_forms.get(row_key("tessera", op)) {
                let peer_form = self
                    .oidc_token_forms
                    .get(row_key("peer", op))
                    .map(String::as_str)
                    .unwrap_or("?");
                line.push_str(&format!(
                    " (token: Tessera's {form}, the peer's {peer_form})"
                ));
            }
            println!("{line}");
        }
        if let (Some(t), Some(p)) = (
            self.oidc_row(mode, "tessera-pg/S6"),
            self.oidc_row(mode, "peer/S6"),
        ) {
            println!(
                "- S6 on PostgreSQL: Tessera {}/s = **{:.1}×** the peer's {}/s",
                rate(t.rps),
                t.rps / p.rps,
                rate(p.rps)
            );
        }
    }

    pub(super) fn print_oidc_targets(&self) {
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        for mode in self.oidc.keys().copied() {
            let m = mode.name();
            let ratio = |op: Op| -> Option<(f64, Agg)> {
                let t = self.oidc_row(mode, row_key("tessera", op))?;
                let p = self.oidc_row(mode, row_key("peer", op))?;
                Some((t.rps / p.rps, t))
            };
            for (op, want) in [
                (Op::S1, 10.0),
                (Op::S2, 10.0),
                (Op::S3, 10.0),
                (Op::S6, 5.0),
            ] {
                match ratio(op) {
                    Some((r, t)) => {
                        let mut line = format!(
                            "- {} ({m}): Tessera ÷ peer = {r:.1}×; target ≥ {want}×: {}",
                            op.id(),
                            verdict(r >= want)
                        );
                        if op == Op::S1 {
                            line.push_str(&format!(
                                "; p99 {:.2} ms, target < 10 ms: {}",
                                t.p99_us / 1000.0,
                                verdict(t.p99_us < 10_000.0)
                            ));
                        }
                        println!("{line}");
                    }
                    None => println!(
                        "- {} ({m}): not measured on both sides ({})",
                        op.id(),
                        self.oidc_failed
                            .get(row_key("tessera", op))
                            .map(String::as_str)
                            .unwrap_or("see the notes")
                    ),
                }
            }
            let rows = |ops: &[Op]| -> Vec<(Op, Agg)> {
                ops.iter()
                    .filter_map(|&op| Some((op, self.oidc_row(mode, row_key("tessera", op))?)))
                    .collect()
            };
            let all = rows(&Op::ALL);
            let mb = |kb: f64| kb * 1024.0 / 1e6;
            let idle = all
                .iter()
                .filter_map(|(_, a)| a.idle_rss_kb)
                .fold(0.0, f64::max);
            if !all.is_empty() {
                println!(
                    "- Tessera idle RSS ({m}): {:.1} MB; target < 25 MB: {}",
                    mb(idle),
                    verdict(mb(idle) < 25.0)
                );
            }
            // S4-S6 follow the setup sign-ins, whose argon2id working memory may still be resident.
            for (label, ops) in [
                ("S1-S3, before any sign-in", &[Op::S1, Op::S2, Op::S3][..]),
                (
                    "S4-S6, after the setup sign-ins",
                    &[Op::S4, Op::S5, Op::S6][..],
                ),
            ] {
                let r = rows(ops);
                let Some((op, worst)) =
                    r.iter()
                        .filter(|(_, a)| a.peak_rss_kb.is_some())
                        .max_by(|x, y| {
                            let peak = |a: &Agg| a.peak_rss_kb.unwrap_or(0.0);
                            peak(&x.1).total_cmp(&peak(&y.1))
                        })
                else {
                    continue;
                };
                let peak = worst.peak_rss_kb.unwrap_or(f64::NAN);
                println!(
                    "- Tessera peak RSS under load ({m}, {label}): {:.1} MB in {} ({:.1} MB already resident when its window opened); target < 50 MB: {}",
                    mb(peak),
                    op.id(),
                    mb(worst.start_rss_kb.unwrap_or(f64::NAN)),
                    verdict(mb(peak) < 50.0)
                );
            }
        }
        let errors: u64 = self
            .oidc
            .values()
            .flat_map(|m| m.values())
            .flatten()
            .map(|s| s.errors)
            .sum();
        if !self.oidc.is_empty() {
            println!(
                "- errors over every OIDC load run: {errors} (must be 0): {}",
                verdict(errors == 0)
            );
        }
    }
}
