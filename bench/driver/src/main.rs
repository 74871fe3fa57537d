//! `tessera-bench`: the benchmark driver behind `bench/run.sh` (see bench/README.md).
//!
//! Subcommands: `load` (HTTP load generator), `limit-server` (axum empty-response server), `limit-sqlite`
//! (raw single-row SQLite inserts), `limit-argon2` (argon2id verifications per second), `startup` (time
//! to ready and idle RSS of `tessera serve`), `limit-es256` (ES256 signatures per second), `oidc-load`
//! (the OIDC scenarios against Tessera or the oidc-provider peer), the sign-in scenario's `setup-users`, `signin-load`,
//! `page-load` and `enumeration`, and `suite` (runs them, takes medians and prints the tables).
//
// This is a benchmark tool, not server code: failing loudly on a broken invariant is what we want here,
// so the workspace's no-unwrap/expect/panic/indexing rules are relaxed for this crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![forbid(unsafe_code)]

mod limits;
mod load;
mod oidc;
mod procs;
mod signin;
mod suite;
mod tessera;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Tessera's benchmark driver.
#[derive(Debug, Parser)]
#[command(name = "tessera-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load an HTTP server with N concurrent requests for a fixed time; prints a JSON report.
    Load(load::LoadArgs),
    /// Serve `GET /` → `200 {}` with axum (the empty-response limit) until SIGTERM.
    LimitServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
    },
    /// Single-row SQLite inserts/s through sqlx in WAL mode on one connection; prints JSON.
    LimitSqlite {
        #[arg(long, value_enum)]
        synchronous: limits::Sync,
        #[arg(long, default_value_t = 5.0)]
        duration_secs: f64,
        /// Where the temporary database goes (default: the system temp dir).
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
    /// argon2id verifications per second at Tessera's default parameters on N threads; prints JSON.
    LimitArgon2 {
        /// Threads hashing at once (the cores the server may use).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long, default_value_t = 5.0)]
        duration_secs: f64,
    },
    /// ES256 JWT signatures per second through Tessera's own JWS code on one thread; prints JSON.
    LimitEs256 {
        #[arg(long, default_value_t = 5.0)]
        duration_secs: f64,
    },
    /// One OIDC scenario (S1-S6) against Tessera or the oidc-provider peer; prints JSON.
    OidcLoad(oidc::OidcArgs),
    /// Register N customers through the JSON flow API and the dev mailbox; prints JSON.
    SetupUsers(signin::SetupArgs),
    /// Sign in through the hosted form in a closed loop; prints JSON.
    SigninLoad(signin::SigninArgs),
    /// Open the sign-in page at a fixed rate (open loop); prints JSON.
    PageLoad(signin::PageArgs),
    /// Time wrong passwords for existing and unknown accounts, one at a time; prints JSON.
    Enumeration(signin::EnumerationArgs),
    /// Start `tessera serve` on an empty SQLite database N times: ms to the first 200 from /readyz, idle RSS.
    Startup {
        /// The release `tessera` binary.
        #[arg(long)]
        tessera: PathBuf,
        #[arg(long, default_value_t = 5)]
        runs: u32,
        #[arg(long, default_value_t = 2.0)]
        idle_secs: f64,
        /// Pin the server to this CPU with taskset.
        #[arg(long)]
        server_cpu: Option<u32>,
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Before each start, wait until the machine uses less than this many cores...
        #[arg(long, default_value_t = 0.3)]
        quiet_threshold: f64,
        /// ...but at most this long (0: do not wait).
        #[arg(long, default_value_t = 0.0)]
        quiet_wait_secs: f64,
    },
    /// Run a whole scenario (startup, admin, signin, oidc or all) and print the tables.
    Suite(suite::SuiteArgs),
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Load(args) => {
            let report = runtime()?.block_on(load::run(args))?;
            print_json(&report)
        }
        Command::LimitServer { addr } => runtime()?.block_on(limits::serve_empty(addr)),
        Command::LimitSqlite {
            synchronous,
            duration_secs,
            work_dir,
        } => {
            let dir = work_dir.unwrap_or_else(std::env::temp_dir);
            let r = runtime()?.block_on(limits::sqlite_inserts(
                synchronous,
                Duration::from_secs_f64(duration_secs),
                &dir,
            ))?;
            print_json(&r)
        }
        Command::LimitArgon2 {
            threads,
            duration_secs,
        } => print_json(&limits::argon2_verifications(
            threads,
            Duration::from_secs_f64(duration_secs),
        )?),
        Command::LimitEs256 { duration_secs } => print_json(&limits::es256_signatures(
            Duration::from_secs_f64(duration_secs),
        )?),
        Command::OidcLoad(a) => print_json(&runtime()?.block_on(oidc::run(a))?),
        Command::SetupUsers(a) => print_json(&runtime()?.block_on(signin::setup_users(a))?),
        Command::SigninLoad(a) => print_json(&runtime()?.block_on(signin::signin_load(a))?),
        Command::PageLoad(a) => print_json(&runtime()?.block_on(signin::page_load(a))?),
        Command::Enumeration(a) => print_json(&runtime()?.block_on(signin::enumeration(a))?),
        Command::Startup {
            tessera,
            runs,
            idle_secs,
            server_cpu,
            work_dir,
            quiet_threshold,
            quiet_wait_secs,
        } => {
            let dir = work_dir.unwrap_or_else(std::env::temp_dir);
            let r = tessera::startup(
                &tessera,
                runs,
                Duration::from_secs_f64(idle_secs),
                server_cpu,
                &dir,
                (quiet_threshold, Duration::from_secs_f64(quiet_wait_secs)),
            )?;
            print_json(&r)
        }
        Command::Suite(args) => suite::run(args),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
